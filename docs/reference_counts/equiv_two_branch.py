"""Output equivalence: our TwoBranchCNN + a Linear head computes the reference Keras fused network's outputs.

Reference: github.com/BUCT-Vision/Two-branch-CNN-Multisource-RS-classification models.py
@ 201644cd0c7679ad4768133b70a1f500f3d1b267.
Step 1 (TensorFlow venv, see count_two_branch.py): build finetune_Net(trainable=True) (H=20, L=2, K=5, r=5)
with the same Keras-2 shims, randomise every bias and every BN γ/β/moving statistic, save the weights (per
layer class, in creation order), a random input and the model's predictions:
    /tmp/tfenv/bin/python equiv_two_branch.py dump /tmp/twobranch_models.py /tmp/two_branch_equiv.npz
Step 2 (the package's venv): load them into TwoBranchCNN (kernels -> PyTorch layout; the fusion BN and Dense
rows permuted from Keras' (h, w, c) / (l, c) flatten order to PyTorch's (c, h, w) / (c, l)), eval mode,
compare:
    python equiv_two_branch.py check /tmp/two_branch_equiv.npz
Printed: max abs diff 1.2e-07 (softmax outputs).
"""

import builtins
import re
import sys
import types
from pathlib import Path

import numpy as np

H, L, K = 20, 2, 5


def dump(reference: str, out: str) -> None:
    import keras
    from keras import layers

    builtins.xrange = range  # type: ignore[attr-defined]
    layers.advanced_activations = types.SimpleNamespace(
        LeakyReLU=lambda alpha: layers.LeakyReLU(negative_slope=alpha))
    adam, sgd = keras.optimizers.Adam, keras.optimizers.SGD
    keras.optimizers.Adam = lambda lr, **kw: adam(learning_rate=lr, **kw)
    keras.optimizers.SGD = lambda lr, **kw: sgd(learning_rate=lr, **kw)
    for name in ("h5py", "matplotlib", "matplotlib.pyplot", "data_util"):
        sys.modules[name] = types.ModuleType(name)

    class PoppableModel(keras.models.Model):  # Keras 2 list semantics for finetune_Net's layers.pop()
        @property
        def layers(self):
            if not hasattr(self, "_poppable"):
                self._poppable = list(super().layers)
            return self._poppable

    ns: dict = {"__name__": "reference"}
    with open(reference) as f:
        exec(compile(f.read(), "models.py", "exec"), ns)  # noqa: S102 (the reference's own code)
    ns.update(r=5, hchn=H, lchn=L, NUM_CLASS=K)
    ns["K"].models = types.SimpleNamespace(Model=PoppableModel)
    model = ns["finetune_Net"](trainable=True)
    rng = np.random.default_rng(0)
    groups: dict[str, list] = {}
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            ws = [rng.uniform(0.5, 1.5, ws[0].shape), rng.normal(0, 0.1, ws[1].shape),
                  rng.normal(0, 0.1, ws[2].shape), rng.uniform(0.5, 1.5, ws[3].shape)]
        elif len(ws) == 2:
            ws = [ws[0], rng.normal(0, 0.05, ws[1].shape)]
        layer.set_weights(ws)
        number = re.search(r"_(\d+)$", layer.name)  # Keras names layers of a class in creation order
        groups.setdefault(kind, []).append((int(number.group(1)) if number else 0, ws))
    saved = {f"{kind}|{k}|{j}": w for kind, items in groups.items()
             for k, (_, ws) in enumerate(sorted(items, key=lambda item: item[0])) for j, w in enumerate(ws)}
    hsi = rng.uniform(-1, 1, (4, 11, 11, H)).astype("float32")
    lidar = rng.uniform(-1, 1, (4, 11, 11, L)).astype("float32")
    predictions = model.predict([hsi, hsi[:, 5, 5, :, None], lidar], verbose=0)
    np.savez(out, hsi=hsi, lidar=lidar, out=predictions, **saved)


def check(path: str) -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: mmlgnet importable
    from mmlgnet.models.baselines.two_branch import TwoBranchCNN

    d = np.load(path)

    def t(key: str) -> torch.Tensor:
        return torch.tensor(d[key]).float()

    net = TwoBranchCNN(hsi_bands=H, lidar_bands=L, patch_size=11, out_dim=128).eval()
    head = torch.nn.Linear(128, K)

    def conv(m: torch.nn.Module, k: int, kind: str = "Conv2D", bias: bool = True) -> None:
        w = t(f"{kind}|{k}|0")
        m.weight.data = (w.permute(3, 2, 0, 1) if kind == "Conv2D" else w.permute(2, 1, 0)).contiguous()
        if bias:
            m.bias.data = t(f"{kind}|{k}|1")

    def bn(m: torch.nn.Module, k: int, perm: torch.Tensor | None = None) -> None:
        vals = [t(f"BatchNormalization|{k}|{j}") for j in range(4)]
        vals = [v[perm] for v in vals] if perm is not None else vals
        m.weight.data, m.bias.data, m.running_mean.data, m.running_var.data = vals

    conv(net.spatial[0], 0)
    bn(net.spatial[1], 0)
    conv(net.spatial[3], 1)
    conv(net.spectral[0], 0, "Conv1D")
    bn(net.spectral[1], 1)
    conv(net.spectral[3], 1, "Conv1D")
    conv(net.lidar[0], 2)
    for block, c0, b0 in ((net.lidar[2], 3, 2), (net.lidar[5], 8, 6)):
        for i, m in enumerate((block.conv1_1, block.conv1_2, block.shortcut, block.conv2_1, block.conv2_2)):
            conv(m, c0 + i, bias=m is not block.shortcut)
        for i, m in enumerate((block.bn1_1, block.bn1_2, block.bn2_1, block.bn2_2)):
            bn(m, b0 + i)
    spatial = torch.arange(6 * 6 * 512).reshape(6, 6, 512).permute(2, 0, 1).reshape(-1)
    length = (H - 12) // 2
    spectral = torch.arange(length * 128).reshape(length, 128).T.reshape(-1) + spatial.numel()
    lidar = torch.arange(6 * 6 * 128).reshape(6, 6, 128).permute(2, 0, 1).reshape(-1)
    lidar = lidar + spatial.numel() + spectral.numel()
    perm = torch.cat([spatial, spectral, lidar])  # PyTorch flat index -> Keras flat index
    bn(net.fusion[0], 10, perm)
    net.fusion[2].weight.data, net.fusion[2].bias.data = t("Dense|0|0")[perm].T.contiguous(), t("Dense|0|1")
    head.weight.data, head.bias.data = t("Dense|1|0").T.contiguous(), t("Dense|1|1")
    with torch.no_grad():
        y = torch.softmax(head(net(t("hsi").permute(0, 3, 1, 2), t("lidar").permute(0, 3, 1, 2))), 1)
    print("max abs diff", float(np.abs(y.numpy() - d["out"]).max()))


if __name__ == "__main__":
    dump(sys.argv[2], sys.argv[3]) if sys.argv[1] == "dump" else check(sys.argv[2])
