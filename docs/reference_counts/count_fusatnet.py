"""Trainable-parameter count of the official FusAtNet Keras model for Trento / MUUFL / Houston 2013.

Reference: github.com/ShivamP1993/FusAtNet model.py @ 776fc9b35f3da5a9ce7e3d1a55c533e668ed2fc4.
Run (TensorFlow is not a dependency of the package; use a scratch venv):
    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu      # 2.21 / Keras 3.15 here
    git -C <FusAtNet clone> show 776fc9b:model.py > /tmp/fusatnet_model.py
    /tmp/tfenv/bin/python count_fusatnet.py /tmp/fusatnet_model.py
It executes the reference's own layer functions (hs, mask_spec, mask_spat, main2, att2, clf: everything in
model.py before '# reading training and test data'; sklearn stubbed) and wires them exactly as its training
block does, with Input shapes (11, 11, H) / (11, 11, L) and clf(..., K) in place of the hard-coded
144 / 1 / 15.
Printed: trento 37421190, muufl 37438987, houston2013 38083599 trainable.
"""

import sys
import types

import numpy as np

sys.modules["sklearn"] = types.ModuleType("sklearn")
sys.modules["sklearn.metrics"] = types.SimpleNamespace(confusion_matrix=None)  # type: ignore[assignment]
with open(sys.argv[1]) as f:
    source = f.read().split("# reading training and test data")[0]
ns: dict = {}
exec(compile(source, "model.py", "exec"), ns)  # noqa: S102 (the reference's own code)
K, Input, Multiply, Concatenate, Model = ns["K"], ns["Input"], ns["Multiply"], ns["Concatenate"], ns["Model"]
for scene, hsi, lidar, classes in [("trento", 63, 1, 6), ("muufl", 64, 2, 11), ("houston2013", 144, 1, 15)]:
    K.clear_session()
    x1 = Input(shape=(11, 11, hsi), name="inputA")
    x2 = Input(shape=(11, 11, lidar), name="inputB")
    feats_new = ns["hs"](x1)
    spec = Multiply()([feats_new, ns["mask_spec"](x1)])
    spat = Multiply()([feats_new, ns["mask_spat"](x2)])
    conc = Concatenate(axis=3)([x1, x2, spec, spat])
    at_feats = Multiply()([ns["main2"](conc), ns["att2"](conc)])
    model = Model([x1, x2], ns["clf"](at_feats, classes), name="att_clf")
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    print(scene, "H", hsi, "L", lidar, "K", classes, "trainable", trainable,
          "count_params (with BN moving statistics)", model.count_params())
