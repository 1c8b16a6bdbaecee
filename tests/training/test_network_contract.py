"""The network contract (mmlgnet.training.network): a user's own network file, contract errors, old checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from mmlgnet import console
from mmlgnet.cli import main
from mmlgnet.training.module import MMLGNetModule
from mmlgnet.training.network import NetworkContractError, ProjectedNetwork

REPO = Path(__file__).resolve().parents[2]
DEBUG = str(REPO / "configs" / "overlays" / "debug.yaml")
OLD_CKPT = Path(__file__).parent / "data" / "mmlgnet_before_network_contract.ckpt"

# The README's example ("Networks: MMLGNet and the established baselines"): a network the package has never seen.
USER_NET = '''
import torch
from torch import nn


class TinyNet(nn.Module):
    """Centre-pixel MLP on both modalities: (B, H, P, P), (B, L, P, P) -> (B, out_dim)."""

    def __init__(self, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int,
                 hidden: int = 16) -> None:
        super().__init__()
        self.c = patch_size // 2
        self.mlp = nn.Sequential(nn.Linear(hsi_bands + lidar_bands, hidden), nn.ReLU(),
                                 nn.Linear(hidden, out_dim))

    def forward(self, hsi: torch.Tensor, lidar: torch.Tensor) -> torch.Tensor:
        x = torch.cat([hsi[:, :, self.c, self.c], lidar[:, :, self.c, self.c]], dim=1)  # (B, H + L)
        return self.mlp(x)  # (B, out_dim)
'''

BROKEN = '''
import torch
from torch import nn


class NoOutDim(nn.Module):
    def __init__(self, hsi_bands: int, lidar_bands: int, patch_size: int) -> None:
        super().__init__()
        self.lin = nn.Linear(hsi_bands, 4)

    def forward(self, hsi, lidar):
        return self.lin(hsi[:, :, 0, 0])


class WrongWidth(nn.Module):
    def __init__(self, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int) -> None:
        super().__init__()
        self.lin = nn.Linear(hsi_bands, out_dim + 1)

    def forward(self, hsi, lidar):
        return self.lin(hsi[:, :, 0, 0])


class IntegerOutput(nn.Module):
    def __init__(self, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int) -> None:
        super().__init__()
        self.out_dim = out_dim

    def forward(self, hsi, lidar):
        return torch.zeros(hsi.shape[0], self.out_dim, dtype=torch.long)


class FailingForward(nn.Module):
    def __init__(self, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int) -> None:
        super().__init__()
        self.lin = nn.Linear(hsi_bands + 3, out_dim)

    def forward(self, hsi, lidar):
        return self.lin(hsi[:, :, 0, 0])


class NotAModule:
    def __init__(self, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int) -> None:
        pass
'''


@pytest.fixture
def user_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """mynets.py (the README's TinyNet) and broken_nets.py in tmp_path, importable as on PYTHONPATH."""
    (tmp_path / "mynets.py").write_text(USER_NET)
    (tmp_path / "broken_nets.py").write_text(BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _base(tmp_path: Path) -> list[str]:
    return ["--config", str(REPO / "configs" / "demo.yaml"), "--config", DEBUG,
            "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]


@pytest.mark.parametrize("head", ["linear", "text"])
def test_user_network_from_its_own_file_fits_tests_and_predicts(user_modules: Path, head: str) -> None:
    base = [*_base(user_modules), "--model.head", head, "--model.network.class_path", "mynets.TinyNet",
            "--model.network.init_args.hidden", "12", "--model.network_out_dim", "24"]
    main(["fit", *base, "--test_after_fit", "true"])
    ckpt = next((user_modules / "runs").rglob("last.ckpt"))
    rec = json.loads(next((user_modules / "runs").rglob("test_metrics.json")).read_text())
    assert rec["num_test_pixels"] > 0 and rec["variant"]["head"] == head
    model = MMLGNetModule.load_from_checkpoint(ckpt, map_location="cpu")
    assert isinstance(model.net, ProjectedNetwork) and type(model.net.network).__name__ == "TinyNet"
    assert model.net.network.mlp[0].out_features == 12 and model.net.network.mlp[2].out_features == 24
    assert isinstance(model.net.projection, nn.Linear if head == "text" else nn.Identity)
    main(["test", *_base(user_modules), "--model.head", head, "--ckpt_path", str(ckpt)])  # network: from the ckpt
    main(["predict", *base, "--ckpt_path", str(ckpt), "--predict_writer.output_dir", str(user_modules / "maps")])
    assert list((user_modules / "maps").rglob("*.npy")), "predict wrote no map"


@pytest.mark.parametrize(("cls", "expected"), [
    ("NoOutDim", "no parameter out_dim"),
    ("WrongWidth", r"shape \(2, 25\) for 2 pixels; expected a floating tensor of shape \(2, 24\)"),
    ("IntegerOutput", r"torch.int64 tensor .* expected a floating tensor"),
    ("FailingForward", r"forward\(hsi \(2, 4, 5, 5\), lidar \(2, 1, 5, 5\)\) failed"),
    ("NotAModule", "not a torch.nn.Module subclass"),
])
def test_contract_violation_is_one_error_naming_the_class(user_modules: Path, cls: str, expected: str) -> None:
    import broken_nets

    with pytest.raises(NetworkContractError, match=rf"broken_nets\.{cls}\b.*{expected}"):
        MMLGNetModule(num_classes=3, hsi_channels=4, lidar_channels=1, patch_size=5, head="linear",
                      network=getattr(broken_nets, cls), network_out_dim=24)


def test_contract_violation_through_the_cli_is_one_user_error(user_modules: Path) -> None:
    with pytest.raises(Exception) as info:  # `python -m mmlgnet` prints it as one `error:` line, exit 2
        main(["fit", *_base(user_modules), "--model.head", "linear",
              "--model.network.class_path", "broken_nets.WrongWidth"])
    err = console.find_user_error(info.value)
    assert isinstance(err, NetworkContractError) and "broken_nets.WrongWidth" in str(err)
    assert "\n" not in console.error_message(err)


def test_auxiliary_loss_is_added_to_the_training_loss() -> None:
    class WithAux(nn.Module):
        def __init__(self, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int) -> None:
            super().__init__()
            self.lin = nn.Linear(hsi_bands, out_dim)

        def forward(self, hsi: torch.Tensor, lidar: torch.Tensor) -> torch.Tensor:
            return self.lin(hsi[:, :, 0, 0])

        def auxiliary_loss(self) -> torch.Tensor:
            return torch.tensor(100.0)

    model = MMLGNetModule(num_classes=3, hsi_channels=4, lidar_channels=1, patch_size=3, head="linear",
                          network=WithAux, network_out_dim=8)
    model.log = lambda *a, **k: None  # type: ignore[method-assign]  # no trainer attached
    batch = {"hsi": torch.randn(6, 4, 3, 3), "lidar": torch.randn(6, 1, 3, 3), "target": torch.arange(6) % 3}
    with torch.no_grad():
        ce = torch.nn.functional.cross_entropy(model(batch), batch["target"])
        assert float(model.training_step(batch, 0)) == pytest.approx(float(ce) + 100.0, rel=1e-5)


@pytest.mark.parametrize("head", ["linear", "text"])
def test_default_network_is_mmlgnet_with_unchanged_state_dict_keys(head: str) -> None:
    model = MMLGNetModule(num_classes=3, hsi_channels=4, lidar_channels=1, head=head, text_model="mmlgnet-tiny",
                          text_pretrained=None, hsi_widths=(8,), lidar_widths=(8,), fusion_dim=16)
    keys = {k.split(".")[1] for k in model.state_dict() if k.startswith("net.")}
    assert keys == {"encoders", "fusion", "projection"}


def test_checkpoint_of_the_code_before_the_contract_still_tests(tmp_path: Path) -> None:
    """OLD_CKPT was written by `fit` of the commit before this contract (demo + debug overlays, text head)."""
    main(["test", *_base(tmp_path), "--ckpt_path", str(OLD_CKPT)])
    rec = json.loads(next((tmp_path / "runs").rglob("test_metrics.json")).read_text())
    assert rec["trained"]["global_step"] > 0 and rec["num_test_pixels"] > 0
