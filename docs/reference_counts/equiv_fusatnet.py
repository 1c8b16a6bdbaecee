"""Output equivalence: our FusAtNet + a Linear head computes the reference Keras model's softmax outputs.

Reference: github.com/ShivamP1993/FusAtNet model.py @ 776fc9b35f3da5a9ce7e3d1a55c533e668ed2fc4.
Step 1 (TensorFlow venv, see count_fusatnet.py): build the reference model (H=20, L=2, K=5, 11x11) from its
own layer functions, randomise every conv bias and every BN γ/β/moving statistic, save all weights, a random
input and the model's predictions:
    /tmp/tfenv/bin/python equiv_fusatnet.py dump /tmp/fusatnet_model.py /tmp/fusatnet_equiv.npz
Step 2 (the package's venv): load those weights into FusAtNet (conv kernels HWIO -> OIHW; the 1x1 classifier
conv -> the Linear head), run eval mode and compare:
    python equiv_fusatnet.py check /tmp/fusatnet_equiv.npz
Printed: max abs diff 7.5e-08 (softmax outputs).
"""

import sys
import types
from pathlib import Path

import numpy as np

H, L, K = 20, 2, 5


def dump(reference: str, out: str) -> None:
    sys.modules["sklearn"] = types.ModuleType("sklearn")
    sys.modules["sklearn.metrics"] = types.SimpleNamespace(confusion_matrix=None)  # type: ignore[assignment]
    with open(reference) as f:
        source = f.read().split("# reading training and test data")[0]
    ns: dict = {}
    exec(compile(source, "model.py", "exec"), ns)  # noqa: S102 (the reference's own code)
    x1, x2 = ns["Input"](shape=(11, 11, H)), ns["Input"](shape=(11, 11, L))
    feats = ns["hs"](x1)
    spec = ns["Multiply"]()([feats, ns["mask_spec"](x1)])
    spat = ns["Multiply"]()([feats, ns["mask_spat"](x2)])
    conc = ns["Concatenate"](axis=3)([x1, x2, spec, spat])
    model = ns["Model"]([x1, x2], ns["clf"](ns["Multiply"]()([ns["main2"](conc), ns["att2"](conc)]), K))
    rng = np.random.default_rng(0)
    saved = {}
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        if type(layer).__name__ == "BatchNormalization":  # keyed by the conv that feeds it
            ws = [rng.uniform(0.5, 1.5, ws[0].shape), rng.normal(0, 0.1, ws[1].shape),
                  rng.normal(0, 0.1, ws[2].shape), rng.uniform(0.5, 1.5, ws[3].shape)]
            key = "bn|" + layer.input._keras_history.operation.name
        else:
            ws = [ws[0], rng.normal(0, 0.05, ws[1].shape)]
            key = "conv|" + layer.name
        layer.set_weights(ws)
        saved.update({f"{key}|{i}": w for i, w in enumerate(ws)})
    hsi = rng.uniform(0, 1, (3, 11, 11, H)).astype("float32")
    lidar = rng.uniform(0, 1, (3, 11, 11, L)).astype("float32")
    np.savez(out, hsi=hsi, lidar=lidar, out=model.predict([hsi, lidar], verbose=0), **saved)


def check(path: str) -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: mmlgnet importable
    from mmlgnet.models.baselines.fusatnet import FusAtNet

    d = np.load(path)

    def t(key: str) -> torch.Tensor:
        return torch.tensor(d[key]).float()

    net = FusAtNet(hsi_bands=H, lidar_bands=L, patch_size=11, out_dim=1024).eval()
    head = torch.nn.Linear(1024, K)

    def put(unit: torch.nn.Module, name: str) -> None:
        conv, bn = unit[0], unit[2]
        conv.weight.data = t(f"conv|{name}|0").permute(3, 2, 0, 1).contiguous()
        conv.bias.data = t(f"conv|{name}|1")
        bn.weight.data, bn.bias.data, bn.running_mean.data, bn.running_var.data = (
            t(f"bn|{name}|{i}") for i in range(4))

    for i in range(6):
        put(net.hsi_features.layers[i], f"conv3{i + 1}")
        put(net.modality_features.layers[i], f"convm3{i + 1}")
        put(getattr(net.spectral_mask, f"c{i + 1}"), f"convc{i + 1}")
        put(getattr(net.spatial_mask, f"t{i + 1}"), f"convt{i + 1}")
        put(getattr(net.modality_mask, f"t{i + 1}"), f"convatt{i + 1}")
    for i in range(5):
        put(net.classifier[i], f"convcl{i + 1}")
    head.weight.data, head.bias.data = t("conv|convcl6|0")[0, 0].T.contiguous(), t("conv|convcl6|1")
    with torch.no_grad():
        y = torch.softmax(head(net(t("hsi").permute(0, 3, 1, 2), t("lidar").permute(0, 3, 1, 2))), 1)
    print("max abs diff", float(np.abs(y.numpy() - d["out"]).max()))


if __name__ == "__main__":
    dump(sys.argv[2], sys.argv[3]) if sys.argv[1] == "dump" else check(sys.argv[2])
