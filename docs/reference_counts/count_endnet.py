"""Trainable-parameter count of the official EndNet (TF1 graph) for Trento / MUUFL / Houston 2013.

Reference: github.com/danfenghong/IEEE_GRSL_EndNet EndNet.py @ adbaf62eb007fc93cca227f1765eaa249732e14a.
Run (TensorFlow is not a dependency of the package; use a scratch venv; tf.compat.v1.layers needs tf_keras):
    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu tf_keras
    git -C <clone> show adbaf62:EndNet.py > /tmp/endnet_ref.py
    TF_USE_LEGACY_KERAS=1 /tmp/tfenv/bin/python count_endnet.py /tmp/endnet_ref.py
It executes the reference's create_placeholders(), initialize_parameters() and mynetwork() (everything before
the data loading) in tf.compat.v1 graph mode, with its hard-coded widths 144 (HSI bands), 21 (LiDAR attribute
profiles) and 15 (classes) replaced textually by H, L, K, and TF1-only names mapped to tf.compat.v1
(tf.contrib.layers.variance_scaling_initializer -> tf.compat.v1.variance_scaling_initializer: initial values
do not change the count), then sums tf.compat.v1.trainable_variables().
Printed: trento 88710 (decoders 22816), muufl 89101 (22850), houston2013 91968 (24193);
houston2013 with the official 21 attribute profiles: 92628.
"""

import re
import sys
import types

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
tf1.disable_eager_execution()
sys.modules["tf_utils"] = types.SimpleNamespace(random_mini_batches=None, convert_to_one_hot=None)  # type: ignore
for name in ("matplotlib", "matplotlib.pyplot", "scipy", "scipy.io"):
    sys.modules[name] = types.ModuleType(name)
sys.modules["matplotlib"].pyplot = sys.modules["matplotlib.pyplot"]  # type: ignore[attr-defined]
sys.modules["scipy"].io = sys.modules["scipy.io"]  # type: ignore[attr-defined]
with open(sys.argv[1]) as f:
    source = f.read().split("HSI_TrSet = scio.loadmat")[0]
for old, new in [("tf.contrib.layers.variance_scaling_initializer",
                  "tf.compat.v1.variance_scaling_initializer"),
                 ("tf.set_random_seed", "tf.compat.v1.set_random_seed"),
                 ("tf.get_variable", "tf.compat.v1.get_variable"),
                 ("tf.layers.batch_normalization", "tf.compat.v1.layers.batch_normalization"),
                 ("tf.placeholder", "tf.compat.v1.placeholder")]:
    source = source.replace(old, new)
for scene, hsi, lidar, classes in [("trento", 63, 1, 6), ("muufl", 64, 2, 11), ("houston2013", 144, 1, 15),
                                   ("houston2013-21AP", 144, 21, 15)]:
    s = re.sub(r"\b144\b", str(hsi), source)
    s = re.sub(r"\b21\b", str(lidar), s)
    s = re.sub(r"\b15\b", str(classes), s)
    tf1.reset_default_graph()
    ns: dict = {"__name__": "reference"}
    exec(compile(s, "EndNet.py", "exec"), ns)  # noqa: S102 (the reference's own code)
    x1, x2, _, _, _, is_training = ns["create_placeholders"](hsi, lidar, classes)
    logits, _, rec1, rec2 = ns["mynetwork"](x1, x2, ns["initialize_parameters"](), is_training)
    variables = tf1.trainable_variables()
    total = int(sum(np.prod(v.shape.as_list()) for v in variables))
    decoders = int(sum(np.prod(v.shape.as_list()) for v in variables if "decoder" in v.name))
    print(scene, "H", hsi, "L", lidar, "K", classes, "trainable", total, "decoders", decoders,
          "logits", logits.shape, "reconstructions", rec1.shape, rec2.shape)
