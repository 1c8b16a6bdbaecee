"""A user's network decides its results through its source code: the run fingerprint covers the `.py` files of the
network's top-level package (a lone module: its file), so an edit reruns the variant and an unchanged file is
reused (mmlgnet.repro.fingerprint.network_source); a class path that does not import at planning time is an
error naming the variant and the class path."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmlgnet.errors import ConfigError
from mmlgnet.repro import reproduce
from mmlgnet.repro.compare.variants_file import read_variants_file
from mmlgnet.repro.fingerprint import SENTINEL_SEED, Fingerprinter, network_source, resolved_config
from mmlgnet.repro.plan import RunOptions, make_plan, run_args
from tests.repro.test_repro_groups import QUICK, available

NET = '''
from torch import Tensor, nn

from .blocks import centre


class PkgNet(nn.Module):
    def __init__(self, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int) -> None:
        super().__init__()
        self.lin = nn.Linear(hsi_bands + lidar_bands, out_dim)

    def forward(self, hsi: Tensor, lidar: Tensor) -> Tensor:
        return self.lin(centre(hsi, lidar))  # (B, out_dim)
'''
BLOCKS = '''
import torch


def centre(hsi, lidar):
    c = hsi.shape[-1] // 2
    return torch.cat([hsi[:, :, c, c], lidar[:, :, c, c]], dim=1)  # (B, H + L)
'''
LONE = '''
import torch
from torch import nn


class LoneNet(nn.Module):
    def __init__(self, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int) -> None:
        super().__init__()
        self.c = patch_size // 2
        self.lin = nn.Linear(hsi_bands + lidar_bands, out_dim)

    def forward(self, hsi, lidar):
        return self.lin(torch.cat([hsi[:, :, self.c, self.c], lidar[:, :, self.c, self.c]], dim=1))
'''
NAMES = ("fpnets", "fpnets.net", "fpnets.blocks", "fplone")


@pytest.fixture
def user_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """fpnets/ (a package: net.py imports blocks.py) and fplone.py (a lone module), importable."""
    code = tmp_path / "code"
    (code / "fpnets").mkdir(parents=True)
    (code / "fpnets" / "__init__.py").write_text("")
    (code / "fpnets" / "net.py").write_text(NET)
    (code / "fpnets" / "blocks.py").write_text(BLOCKS)
    (code / "fplone.py").write_text(LONE)
    monkeypatch.syspath_prepend(str(code))
    yield code
    for name in NAMES:
        sys.modules.pop(name, None)


def _variants(folder: Path, class_path: str) -> Path:
    """A --variants-file with one entry `mine`: the linear head on the network `class_path`."""
    path = folder / "my.yaml"
    path.write_text(json.dumps([{"name": "mine", "label": "Mine", "group": "mine",
                                 "overrides": ["--model.head", "linear", "--model.network.class_path", class_path]}]))
    return path


def _config(folder: Path, class_path: str) -> dict:
    """The config the plan resolves (the real CLI parser) for the variant `mine` at the quick setting."""
    variant = read_variants_file(_variants(folder, class_path))["mine"][0]
    return resolved_config(run_args(QUICK, variant, SENTINEL_SEED, RunOptions(Path("r"), Path("data"), quick=True),
                                    maps=False))


def test_editing_the_network_package_changes_the_fingerprint(user_code: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path, "fpnets.net.PkgNet")  # the real parser's resolved config
    assert cfg["model"]["network"]["class_path"] == "fpnets.net.PkgNet"
    first = Fingerprinter().of_config(cfg)
    assert set(first.payload["network_source"]["files"]) == {"fpnets/__init__.py", "fpnets/net.py",
                                                             "fpnets/blocks.py"}
    assert Fingerprinter().of_config(cfg).full == first.full  # unchanged files: the same fingerprint (reused)
    (user_code / "fpnets" / "net.py").write_text(NET.replace("out_dim)\n", "out_dim, bias=False)\n"))
    edited = Fingerprinter().of_config(cfg)
    assert edited.full != first.full
    (user_code / "fpnets" / "blocks.py").write_text(BLOCKS + "\n# a helper module it imports\n")
    assert Fingerprinter().of_config(cfg).full not in (first.full, edited.full)


def test_editing_a_lone_network_module_changes_the_fingerprint(user_code: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path, "fplone.LoneNet")
    first = Fingerprinter().of_config(cfg)
    assert list(first.payload["network_source"]["files"]) == ["fplone.py"]
    (user_code / "unrelated.py").write_text("x = 1\n")  # beside it, not imported: not part of it
    assert Fingerprinter().of_config(cfg).full == first.full
    (user_code / "fplone.py").write_text(LONE.replace("self.c = patch_size // 2", "self.c = 0"))
    assert Fingerprinter().of_config(cfg).full != first.full


def test_networks_of_the_package_and_the_default_add_nothing() -> None:
    """Built-in networks are covered by mmlgnet's version: their fingerprints are as before this change."""
    assert network_source({"model": {"network": None}}) is None
    assert network_source({"model": {"network": {"class_path": "mmlgnet.models.baselines.endnet.EndNet"}}}) is None


def test_a_class_path_that_does_not_import_at_planning_time_names_the_variant(tmp_path: Path) -> None:
    path = _variants(tmp_path, "no_such_pkg_xyz.Net")
    opts = RunOptions(tmp_path / "results", Path("data"), quick=True)
    with pytest.raises(ConfigError, match=rf"^synthetic-quick / mine \(entry 1 of {path}\): --model\.network\."
                                          r"class_path no_such_pkg_xyz\.Net: no module named 'no_such_pkg_xyz'"):
        make_plan([QUICK], None, 1, "none", opts, available, Fingerprinter(), (), extra=read_variants_file(path))
    cfg = {"model": {"network": {"class_path": "no_such_pkg_xyz.Net"}}}  # e.g. the module removed meanwhile
    with pytest.raises(ConfigError, match=r"^quick / mine: --model\.network\.class_path no_such_pkg_xyz\.Net"):
        network_source(cfg, "quick / mine")


@pytest.mark.slow
def test_reproduce_reruns_an_edited_network_and_reuses_an_unchanged_one(user_code: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", f"{user_code}:{Path(__file__).resolve().parents[2]}")  # the runs' subprocess
    argv = ["--quick", "--seeds", "1", "--epochs", "1", "--maps", "none", "--no-wandb", "--groups", "main", "--variants", "mine",
            "--variants-file", str(_variants(tmp_path, "fplone.LoneNet")), "--results", str(tmp_path / "r")]
    assert reproduce.main(argv) == 0
    assert reproduce.main(argv) == 0
    assert "synthetic-quick/mine/seed0: done already, skipped" in capsys.readouterr().out
    (user_code / "fplone.py").write_text(LONE.replace("self.c = patch_size // 2", "self.c = 0"))
    assert reproduce.main(argv) == 0
    out = capsys.readouterr().out
    assert "synthetic-quick/mine/seed0: done already, skipped" not in out
    tables = json.loads((tmp_path / "r" / "tables.json").read_text())
    assert [(r["variant"], r["status"]) for r in tables["groups"]] == [("mine", "done")]
