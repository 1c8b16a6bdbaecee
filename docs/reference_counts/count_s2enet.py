"""Trainable-parameter count of the official S2ENet (PyTorch) for Trento / MUUFL / Houston 2013, and a check
that our S2ENet + a Linear head computes the same logits with the reference's weights.

Reference: github.com/likyoo/Multimodal-Remote-Sensing-Toolkit model/S2ENet.py
@ 2cfc4a2506526adcf6965e0e409be01f5b0523d7.
Run (from this folder, with the package's venv):
    git -C <MMRS clone> show 2cfc4a2:model/S2ENet.py > /tmp/ref_s2enet.py
    python count_s2enet.py /tmp/ref_s2enet.py
Printed: trento 180503, muufl 181892, houston2013 274112 trainable (K-way fc, patch 7); 3312 of them (SAEM.g,
SAEM.W_z, SEEM.g, SEEM.W_z) get no gradient; with MMRS' K + 1 outputs add 33. Logit differences 0 (train and
eval mode, patch 7 and 9, all BN/affine parameters randomised first).
"""

import importlib.util
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: mmlgnet importable
from mmlgnet.models.baselines.s2enet import S2ENet

spec = importlib.util.spec_from_file_location("ref_s2enet", sys.argv[1])
ref_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref_module)

RENAMES = [
    ("conv1_a.conv", "hsi_convs.0.0"),
    ("conv1_a.bn", "hsi_convs.0.1"),
    ("conv2_a.conv", "hsi_convs.1.0"),
    ("conv2_a.bn", "hsi_convs.1.1"),
    ("conv3_a.conv", "hsi_convs.2.0"),
    ("conv3_a.bn", "hsi_convs.2.1"),
    ("conv1_b.conv", "lidar_convs.0.0"),
    ("conv1_b.bn", "lidar_convs.0.1"),
    ("conv2_b.conv", "lidar_convs.1.0"),
    ("conv2_b.bn", "lidar_convs.1.1"),
    ("conv3_b.conv", "lidar_convs.2.0"),
    ("conv3_b.bn", "lidar_convs.2.1"),
    ("SAEM.T1", "saem.t1"),
    ("SAEM.T2", "saem.t2"),
    ("SAEM.dim_reduce.0", "saem.reduce"),
    ("SEEM.T1", "seem.t1"),
    ("SEEM.T2", "seem.t2"),
    ("SEEM.dim_reduce.0", "seem.reduce"),
    ("FusionLayer", "fusion"),
]


def trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def randomise_norms(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)


torch.manual_seed(0)
for scene, c1, c2, k in [("trento", 63, 1, 6), ("muufl", 64, 2, 11), ("houston2013", 144, 1, 15)]:
    ref = ref_module.S2ENet(c1, c2, k, 7)
    ref.zero_grad()
    ref(torch.randn(4, c1, 7, 7), torch.randn(4, c2, 7, 7)).sum().backward()
    dead = {n: p.numel() for n, p in ref.named_parameters() if p.grad is None}
    print(
        scene,
        "H",
        c1,
        "L",
        c2,
        "K",
        k,
        "trainable",
        trainable(ref),
        "no-gradient",
        sum(dead.values()),
        sorted(dead),
        "with K+1 outputs",
        trainable(ref_module.S2ENet(c1, c2, k + 1, 7)),
    )
    for patch in (7, 9):
        ref = ref_module.S2ENet(c1, c2, k, patch)
        randomise_norms(ref)
        ours = S2ENet(hsi_bands=c1, lidar_bands=c2, patch_size=patch, out_dim=32)
        state = {}
        for name, value in ref.state_dict().items():
            for old, new in RENAMES:
                if name.startswith(old + "."):
                    state[new + name[len(old) :]] = value
        ours.load_state_dict(state)  # strict: every parameter of ours comes from the reference
        head = torch.nn.Linear(32, k)
        head.load_state_dict(ref.fc.state_dict())
        x1, x2 = torch.randn(8, c1, patch, patch), torch.randn(8, c2, patch, patch)
        for train in (True, False):
            ref.train(train)
            ours.train(train)
            diff = (ref(x1, x2) - head(ours(x1, x2))).abs().max().item()
            print(f"  patch {patch} {'train' if train else 'eval'}: max |logit difference| {diff:.2e}")
