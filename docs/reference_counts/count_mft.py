"""Trainable-parameter count of the official MFT (PyTorch notebook) for Trento / MUUFL / Houston 2013, and a
check that our MFT + a Linear head computes the same logits with the reference's weights.

Reference: github.com/AnkurDeria/MFT Model/MFT.ipynb @ de214e512ff1a8f6aefdf27fc2cb60c75e0f559a, the cell that
starts "#MFT WITH CHANNEL TOKENIZATION" (class MFT, built as MFT(FM=16, NC, NCLidar, Classes, HSIOnly=False)).
Run (from this folder, with the package's venv):
    git -C <MFT clone> show de214e5:Model/MFT.ipynb > /tmp/MFT.ipynb
    python count_mft.py /tmp/MFT.ipynb
The cell's code up to its demo lines ("batchsize = 64") is executed as it is; only einops.rearrange (used for
'b h w -> b w h') is replaced by a transpose and the global `patchsize` is set. Printed: trento 272358,
muufl 258219, houston2013 321903 trainable, all receiving gradients; logit differences ~1e-6 (float rounding).
"""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: mmlgnet importable
from mmlgnet.models.baselines.mft import MFT


def rearrange(x, pattern):
    assert pattern == "b h w -> b w h", pattern
    return x.transpose(1, 2)


with open(sys.argv[1]) as f:
    cells = ["".join(c["source"]) for c in json.load(f)["cells"] if c["cell_type"] == "code"]
source = next(c for c in cells if c.startswith("#MFT WITH CHANNEL TOKENIZATION")).split("batchsize = 64")[0]
ns = {"torch": torch, "nn": torch.nn, "rearrange": rearrange, "patchsize": 11}
exec(compile(source, "MFT.ipynb", "exec"), ns)  # noqa: S102 (the reference's own code)

SINGLE = {
    "token_wA": "hsi_tokenizer.weight_a",
    "token_wV": "hsi_tokenizer.weight_v",
    "token_wA_L": "lidar_tokenizer.weight_a",
    "token_wV_L": "lidar_tokenizer.weight_v",
    "position_embeddings": "position_embeddings",
}
RENAMES = [
    ("conv5", "hsi_conv3d"),
    ("conv6", "hsi_conv2d"),
    ("lidarConv", "lidar_conv"),
    ("ca.encoder_norm", "encoder_norm"),
    ("ca.layer", "blocks"),
]


def our_name(name):
    if name in SINGLE:
        return SINGLE[name]
    for old, new in RENAMES:
        if name.startswith(old + "."):
            return (new + name[len(old) :]).replace(".attn.", ".attention.")
    return None  # out3: the head


torch.manual_seed(0)
for scene, c1, c2, k in [("trento", 63, 1, 6), ("muufl", 64, 2, 11), ("houston2013", 144, 1, 15)]:
    for patch in (11, 7):
        ns["patchsize"] = patch
        ref = ns["MFT"](16, c1, c2, k, False)
        with torch.no_grad():
            for m in ref.modules():
                if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d, torch.nn.LayerNorm)):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)
        x1, x2 = torch.randn(8, c1, patch, patch), torch.randn(8, c2, patch, patch)
        if patch == 11:
            ref.zero_grad()
            ref(x1.flatten(2), x2.flatten(2)).sum().backward()
            dead = [n for n, p in ref.named_parameters() if p.grad is None]
            total = sum(p.numel() for p in ref.parameters() if p.requires_grad)
            print(scene, "H", c1, "L", c2, "K", k, "trainable", total, "no-gradient", dead)
        ours = MFT(hsi_bands=c1, lidar_bands=c2, patch_size=patch, out_dim=64)
        ours.load_state_dict({our_name(n): v for n, v in ref.state_dict().items() if our_name(n)})  # strict
        head = torch.nn.Linear(64, k)
        head.load_state_dict(ref.out3.state_dict())
        ref.eval()
        ours.eval()  # no dropout; BN on running statistics
        diff = (ref(x1.flatten(2), x2.flatten(2)) - head(ours(x1, x2))).abs().max().item()
        print(f"  patch {patch} eval: max |logit difference| {diff:.2e}")
