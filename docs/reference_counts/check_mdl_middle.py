"""Check that our MDLMiddleFusion + a Linear head computes the reference TF graph's logits with the same
weights.

Run (from this folder, with the package's venv; needs the scratch TF venv of count_mdl_middle.py):
    python check_mdl_middle.py /tmp/mdl_middle_ref.py [/tmp/tfenv/bin/python]
Writes our randomised weights (TF layouts: conv HWIO, inputs NHWC flattened as the reference's placeholders)
to a temporary folder, runs count_mdl_middle.py there under TensorFlow, and prints max |logit difference| in
training mode (batch statistics) and inference mode. Printed here: ≤ 1.6e-6 for all three scenes (float rounding).
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

here = Path(__file__).resolve().parent
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: mmlgnet importable
from mmlgnet.models.baselines.mdl_middle import MDLMiddleFusion  # noqa: E402 (after the sys.path line above)

SCENES = [("trento", 63, 1, 6), ("muufl", 64, 2, 11), ("houston2013", 144, 1, 15)]
tf_python = sys.argv[2] if len(sys.argv) > 2 else "/tmp/tfenv/bin/python"
torch.manual_seed(0)
with tempfile.TemporaryDirectory() as tmp:
    for scene, c1, c2, k in SCENES:
        net = MDLMiddleFusion(hsi_bands=c1, lidar_bands=c2, patch_size=7, out_dim=64)
        head = torch.nn.Linear(64, k)
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)
                if isinstance(m, torch.nn.Conv2d):
                    m.bias.uniform_(-0.1, 0.1)
        x1, x2 = torch.rand(16, c1, 7, 7), torch.rand(16, c2, 7, 7)
        out = {}
        with torch.no_grad():
            for mode in ("eval", "train"):  # eval first: a training pass moves the BN running statistics
                net.train(mode == "train")
                out["torch_" + mode] = head(net(x1, x2)).numpy()
        hb, lb, jt = net.hsi_branch, net.lidar_branch, net.joint
        convs = {
            "x1_conv_w1": hb[0],
            "x2_conv_w1": lb[0],
            "x1_conv_w2": hb[3],
            "x2_conv_w2": lb[3],
            "x1_conv_w3": hb[7],
            "x2_conv_w3": lb[7],
            "x1_conv_w31": hb[10],
            "x2_conv_w31": lb[10],
            "x1_conv_w4": jt[0],
            "x1_conv_w5": jt[3],
        }
        for name, conv in convs.items():
            out[name] = conv.weight.detach().permute(2, 3, 1, 0).numpy()  # OIHW -> HWIO
            out[name.replace("_w", "_b")] = conv.bias.detach().numpy()
        out["x1_conv_w6"] = head.weight.detach().t().reshape(1, 1, 64, k).numpy()
        out["x1_conv_b6"] = head.bias.detach().numpy()
        # TF creates the BN layers in this order (batch_normalization, batch_normalization_1, ...).
        for i, bn in enumerate([hb[1], lb[1], hb[4], lb[4], hb[8], lb[8], hb[11], lb[11], jt[1], jt[4]]):
            prefix = "batch_normalization" + (f"_{i}" if i else "")
            out[prefix + "/gamma"] = bn.weight.detach().numpy()
            out[prefix + "/beta"] = bn.bias.detach().numpy()
        out["x1"] = x1.permute(0, 2, 3, 1).reshape(16, -1).numpy()
        out["x2"] = x2.permute(0, 2, 3, 1).reshape(16, -1).numpy()
        np.savez(Path(tmp) / f"{scene}.npz", **out)
    subprocess.run(
        [tf_python, str(here / "count_mdl_middle.py"), sys.argv[1], tmp],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    for scene, *_ in SCENES:
        ours, ref = np.load(Path(tmp) / f"{scene}.npz"), np.load(Path(tmp) / f"{scene}_tf.npz")
        for mode in ("train", "eval"):
            diff = np.abs(ours["torch_" + mode] - ref["tf_" + mode]).max()
            print(f"{scene} patch 7 {mode}: max |logit difference| {diff:.2e}")
