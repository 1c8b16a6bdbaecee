"""Parameter count of the official Two-Branch CNN (fused network) for Trento / MUUFL / Houston 2013.

Reference: github.com/BUCT-Vision/Two-branch-CNN-Multisource-RS-classification models.py
@ 201644cd0c7679ad4768133b70a1f500f3d1b267 (Keras 2.1-era code).
Run (TensorFlow is not a dependency of the package; use a scratch venv):
    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu      # 2.21 / Keras 3.15 here
    git -C <clone> show 201644c:models.py > /tmp/twobranch_models.py
    /tmp/tfenv/bin/python count_two_branch.py /tmp/twobranch_models.py
It executes models.py unchanged except for shims for Keras-2-only names
(keras.layers.advanced_activations.LeakyReLU(alpha) -> keras.layers.LeakyReLU(negative_slope),
xrange -> range, optimizers' lr= -> learning_rate=,
Model.layers as a mutable list so that finetune_Net's `layers.pop()` drops Dropout + Dense as Keras 2 did),
with data_util's globals r=5 (11x11), hchn=H, lchn=L, NUM_CLASS=K, and builds finetune_Net(trainable=...),
the fused network main.py trains with --train finetune.
Printed, trainable=True: trento 4743302, muufl 4763467, houston2013 5613327; trainable=False
(Keras 3 freezes the branch layers; Keras 2.1 did not): 3412102, 3429387, 4095503.
"""

import builtins
import sys
import types

import keras
import numpy as np
from keras import layers

builtins.xrange = range  # type: ignore[attr-defined]
layers.advanced_activations = types.SimpleNamespace(
    LeakyReLU=lambda alpha: layers.LeakyReLU(negative_slope=alpha))
_adam, _sgd = keras.optimizers.Adam, keras.optimizers.SGD
keras.optimizers.Adam = lambda lr, **kw: _adam(learning_rate=lr, **kw)
keras.optimizers.SGD = lambda lr, **kw: _sgd(learning_rate=lr, **kw)
for name in ("h5py", "matplotlib", "matplotlib.pyplot", "data_util"):
    sys.modules[name] = types.ModuleType(name)
with open(sys.argv[1]) as f:
    source = f.read()


class PoppableModel(keras.models.Model):
    """Keras 2's Model.layers was the model's own list: finetune_Net pops Dropout and Dense(K) off the branch
    models and takes `layers[-1].output` (the branch's flattened features); keep that list semantics."""

    @property
    def layers(self):
        if not hasattr(self, "_poppable"):
            self._poppable = list(super().layers)
        return self._poppable


for scene, hsi, lidar, classes in [("trento", 63, 1, 6), ("muufl", 64, 2, 11), ("houston2013", 144, 1, 15)]:
    for trainable in (True, False):
        keras.backend.clear_session()
        ns: dict = {"__name__": "reference"}
        exec(compile(source, "models.py", "exec"), ns)  # noqa: S102 (the reference's own code)
        ns.update(r=5, hchn=hsi, lchn=lidar, NUM_CLASS=classes)
        ns["K"].models = types.SimpleNamespace(Model=PoppableModel)
        model = ns["finetune_Net"](trainable=trainable)
        count = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        print(scene, "H", hsi, "L", lidar, "K", classes, "trainable" if trainable else "branches frozen",
              count, "last layers", [type(layer).__name__ for layer in model.layers][-6:])
