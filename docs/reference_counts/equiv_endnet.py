"""Output equivalence: our EndNet + a Linear head computes the reference TF1 graph's logits and
reconstructions.

Reference: github.com/danfenghong/IEEE_GRSL_EndNet EndNet.py @ adbaf62eb007fc93cca227f1765eaa249732e14a.
Step 1 (TensorFlow venv with tf_keras, see count_endnet.py): build the reference graph (H=20, L=3, K=5),
randomise biases and every BN γ/β/moving statistic, save all variables, a random input, the logits (inference
mode) and both decoders' reconstructions:
    TF_USE_LEGACY_KERAS=1 /tmp/tfenv/bin/python equiv_endnet.py dump /tmp/endnet_ref.py /tmp/endnet_equiv.npz
Step 2 (the package's venv): load them into EndNet (the input as the centre pixel of a 5x5 patch), eval mode:
    python equiv_endnet.py check /tmp/endnet_equiv.npz
Printed: logits max abs diff 1.0e-07, reconstructions 8.9e-08 / 6.0e-08, and auxiliary_loss() equal to the
reference cost's two MSE terms computed from its reconstructions.
"""

import re
import sys
import types
from pathlib import Path

import numpy as np

H, L, K = 20, 3, 5


def dump(reference: str, out: str) -> None:
    import tensorflow as tf

    tf1 = tf.compat.v1
    tf1.disable_eager_execution()
    sys.modules["tf_utils"] = types.SimpleNamespace(random_mini_batches=None, convert_to_one_hot=None)  # type: ignore
    for name in ("matplotlib", "matplotlib.pyplot", "scipy", "scipy.io"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["matplotlib"].pyplot = sys.modules["matplotlib.pyplot"]  # type: ignore[attr-defined]
    sys.modules["scipy"].io = sys.modules["scipy.io"]  # type: ignore[attr-defined]
    with open(reference) as f:
        s = f.read().split("HSI_TrSet = scio.loadmat")[0]
    for old, new in [("tf.contrib.layers.variance_scaling_initializer",
                      "tf.compat.v1.variance_scaling_initializer"),
                     ("tf.set_random_seed", "tf.compat.v1.set_random_seed"),
                     ("tf.get_variable", "tf.compat.v1.get_variable"),
                     ("tf.layers.batch_normalization", "tf.compat.v1.layers.batch_normalization"),
                     ("tf.placeholder", "tf.compat.v1.placeholder")]:
        s = s.replace(old, new)
    s = re.sub(r"\b15\b", str(K), re.sub(r"\b21\b", str(L), re.sub(r"\b144\b", str(H), s)))
    ns: dict = {"__name__": "reference"}
    exec(compile(s, "EndNet.py", "exec"), ns)  # noqa: S102 (the reference's own code)
    x1, x2, _, _, _, is_training = ns["create_placeholders"](H, L, K)
    logits, _, rec1, rec2 = ns["mynetwork"](x1, x2, ns["initialize_parameters"](), is_training)
    rng = np.random.default_rng(0)
    saved = {}
    with tf1.Session() as sess:
        sess.run(tf1.global_variables_initializer())
        for v in tf1.global_variables():
            shape, name = v.shape.as_list(), v.name
            if "gamma" in name or "moving_variance" in name:
                value = rng.uniform(0.5, 1.5, shape)
            elif "_b" in name.split("/")[0] or "beta" in name or "moving_mean" in name:
                value = rng.normal(0, 0.1, shape)
            else:
                value = sess.run(v)
            v.load(value.astype("float32"), sess)
            saved[name.replace("/", "|")] = value
        hsi = rng.uniform(0, 1, (4, H)).astype("float32")
        lidar = rng.uniform(0, 1, (4, L)).astype("float32")
        y, r1, r2 = sess.run([logits, rec1, rec2], {x1: hsi, x2: lidar, is_training: False})
    np.savez(out, hsi=hsi, lidar=lidar, out=y, r1=r1, r2=r2, **saved)


def check(path: str) -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: mmlgnet importable
    from mmlgnet.models.baselines.endnet import EndNet

    d = np.load(path)

    def t(key: str) -> torch.Tensor:
        return torch.tensor(d[key]).float()

    net = EndNet(hsi_bands=H, lidar_bands=L, patch_size=5, out_dim=64).eval()
    head = torch.nn.Linear(64, K)
    assert net.hsi_decoder is not None and net.lidar_decoder is not None

    def lin(m: torch.nn.Module, w: str, b: str) -> None:
        m.weight.data, m.bias.data = t(f"{w}:0").T.contiguous(), t(f"{b}:0")

    bn_index = iter(range(10))  # tf.layers.batch_normalization creation order in mynetwork

    def bn(m: torch.nn.Module) -> None:
        i = next(bn_index)
        p = "batch_normalization" + ("" if i == 0 else f"_{i}")
        m.weight.data, m.bias.data = t(f"{p}|gamma:0"), t(f"{p}|beta:0")
        m.running_mean.data, m.running_var.data = t(f"{p}|moving_mean:0"), t(f"{p}|moving_variance:0")

    for layer in range(4):  # x1 layer 1, x2 layer 1, x1 layer 2, ...
        for encoder, x in ((net.hsi_encoder, "x1"), (net.lidar_encoder, "x2")):
            lin(encoder[3 * layer], f"{x}_encoder_h{layer + 1}", f"{x}_encoder_b{layer + 1}")
            bn(encoder[3 * layer + 1])
    lin(net.joint1[0], "joint_encoder_h1", "joint_encoder_b1")
    bn(net.joint1[1])
    lin(net.joint2[0], "joint_encoder_h2", "joint_encoder_b2")
    bn(net.joint2[1])
    lin(head, "joint_encoder_h3", "joint_encoder_b3")
    for decoder, x in ((net.hsi_decoder, "x1"), (net.lidar_decoder, "x2")):
        for layer in range(4):
            lin(decoder[2 * layer], f"{x}_decoder_h{layer + 1}", f"{x}_decoder_b{layer + 1}")
    hsi, lidar = torch.rand(4, H, 5, 5), torch.rand(4, L, 5, 5)
    hsi[:, :, 2, 2], lidar[:, :, 2, 2] = t("hsi"), t("lidar")
    with torch.no_grad():
        y = head(net(hsi, lidar)).numpy()
        a1 = net.joint1(torch.cat([net.hsi_encoder(t("hsi")), net.lidar_encoder(t("lidar"))], 1))
        r1, r2 = net.hsi_decoder(a1).numpy(), net.lidar_decoder(a1).numpy()
    reference_mse = float(((d["r1"] - d["hsi"]) ** 2).mean() + ((d["r2"] - d["lidar"]) ** 2).mean())
    print("logits max abs diff", float(np.abs(y - d["out"]).max()), "reconstructions",
          float(np.abs(r1 - d["r1"]).max()), float(np.abs(r2 - d["r2"]).max()),
          "auxiliary_loss", net.auxiliary_loss().item(), "reference MSE terms", reference_mse)


if __name__ == "__main__":
    dump(sys.argv[2], sys.argv[3]) if sys.argv[1] == "dump" else check(sys.argv[2])
