"""Trainable-variable count of the official MDL-RS middle-fusion CNN (TF1 graph) for Trento / MUUFL /
Houston 2013.

Reference: github.com/danfenghong/IEEE_TGRS_MDL-RS MDL-RS_CNNs/Middle_fusion_CNNs.py
@ cb0e1287c6011dfa127a9d2fb10991dbb47e9ac1. Run (TensorFlow is not a dependency of the package; scratch venv):
    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu "tf_keras~=2.21.0"  # TF 2.21 here
    git -C <MDL-RS clone> show cb0e128:MDL-RS_CNNs/Middle_fusion_CNNs.py > /tmp/mdl_middle_ref.py
    /tmp/tfenv/bin/python count_mdl_middle.py /tmp/mdl_middle_ref.py
It executes the file's own initialize_parameters() and mynetwork() (everything before the data loading) under
tf.compat.v1 (tf_keras provides tf.layers), with tf.contrib.layers.variance_scaling_initializer stood in (the
initialiser does not change the count), the tfdeterminism / tf_utils / matplotlib / scipy imports dropped (the
network does not use them) and the hard-coded 144 HSI bands / 21 LiDAR bands / 15 classes replaced by each
scene's. Printed: trento 106854, muufl 107467, houston2013 119103 (reference's own 21-band LiDAR: 121983).
With a second argument DIR (written by check_mdl_middle.py) it also loads DIR/<scene>.npz weights into the
graph and writes DIR/<scene>_tf.npz logits in training mode (batch statistics) and inference mode.
"""

import os
import re
import sys
import types

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
import numpy as np
import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()
tf.contrib = types.SimpleNamespace(
    layers=types.SimpleNamespace(
        variance_scaling_initializer=lambda seed=None: tf.variance_scaling_initializer(scale=2.0, seed=seed)
    )
)

with open(sys.argv[1]) as f:
    source = f.read().split("HSI_TrSet = scio.loadmat")[0]
source = re.sub(
    r"^import (tensorflow as tf|matplotlib.pyplot as plt|scipy.io as scio|scipy.io as sio) *$",
    "",
    source,
    flags=re.MULTILINE,
)
source = re.sub(r"^from (tf_utils|tfdeterminism) .*$|^patch\(\)$", "", source, flags=re.MULTILINE)
SCENES = [
    ("trento", 63, 1, 6),
    ("muufl", 64, 2, 11),
    ("houston2013", 144, 1, 15),
    ("houston2013_AP21", 144, 21, 15),
]
for scene, c1, c2, k in SCENES:
    s = source.replace("[3,3,144,16]", f"[3,3,{c1},16]").replace("[3,3,21,16]", f"[3,3,{c2},16]")
    s = s.replace("[1,1,64,15]", f"[1,1,64,{k}]").replace('"x1_conv_b6", [15]', f'"x1_conv_b6", [{k}]')
    s = s.replace("[-1, 7, 7, 144]", f"[-1, 7, 7, {c1}]").replace("[-1, 7, 7, 21]", f"[-1, 7, 7, {c2}]")
    tf.reset_default_graph()
    ns = {"tf": tf, "np": np}
    exec(compile(s, "Middle_fusion_CNNs.py", "exec"), ns)  # noqa: S102 (the reference's own code)
    x1 = tf.placeholder(tf.float32, [None, 7 * 7 * c1])
    x2 = tf.placeholder(tf.float32, [None, 7 * 7 * c2])
    training = tf.placeholder_with_default(True, shape=())
    logits, _ = ns["mynetwork"](x1, x2, ns["initialize_parameters"](), training)
    total = sum(int(np.prod(v.shape.as_list())) for v in tf.trainable_variables())
    print(scene, "H", c1, "L", c2, "K", k, "trainable", total, flush=True)
    weights = os.path.join(sys.argv[2], f"{scene}.npz") if len(sys.argv) > 2 else ""
    if os.path.exists(weights):
        d = np.load(weights)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())  # BN moving mean 0 / variance 1, as PyTorch's at init
            for v in tf.trainable_variables():
                sess.run(v.assign(d[v.name[:-2]]))
            out = {
                f"tf_{mode}": sess.run(logits, {x1: d["x1"], x2: d["x2"], training: mode == "train"})
                for mode in ("train", "eval")
            }
        np.savez(os.path.join(sys.argv[2], f"{scene}_tf.npz"), **out)
