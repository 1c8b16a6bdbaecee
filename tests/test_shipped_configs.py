"""`--config NAME`: a shipped config read from the package (mmlgnet.configs), from any folder; files win.

Every test runs in an empty temporary folder (the README's `--config demo.yaml` from anywhere), so a name can
only be found in the package. The wheel itself (package data, console script) is tested in tests/test_wheel.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mmlgnet import configs
from mmlgnet.cli import main, run
from mmlgnet.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "mmlgnet" / "configs"


@pytest.fixture(autouse=True)
def _empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_shipped_names_are_every_config_of_the_package():
    names = configs.shipped_names()
    assert set(names) == {p.relative_to(SHIPPED).as_posix() for p in SHIPPED.rglob("*.yaml")}
    assert {"demo.yaml", "trento.yaml", "overlays/debug.yaml", "baselines/mft.yaml",
            "scenes/houston2013_contest.yaml"} <= set(names)
    assert names.index("demo.yaml") < names.index("overlays/debug.yaml")  # top level first


@pytest.mark.parametrize("given, shipped", [
    ("demo.yaml", "demo.yaml"), ("demo", "demo.yaml"), ("overlays/debug.yaml", "overlays/debug.yaml"),
    ("overlays/debug", "overlays/debug.yaml"), ("baselines/mft.yaml", "baselines/mft.yaml"),
    ("configs/trento.yaml", "trento.yaml"),  # the checkout's path, as the README writes it
])
def test_a_shipped_name_is_read_from_the_package(given: str, shipped: str):
    assert configs.resolve_config_args(["fit", "--config", given]) == ["fit", "--config", str(SHIPPED / shipped)]


def test_an_existing_file_of_that_name_wins(_empty_folder: Path):
    (_empty_folder / "overlays").mkdir()
    (_empty_folder / "overlays" / "debug.yaml").write_text("trainer: {max_epochs: 2}\n")
    (_empty_folder / "demo.yaml").write_text("seed_everything: 3\n")
    args = ["fit", "--config", "demo.yaml", "-c", "overlays/debug.yaml", "--config", "trento.yaml"]
    assert configs.resolve_config_args(args) == ["fit", "--config", "demo.yaml", "-c", "overlays/debug.yaml",
                                                 "--config", str(SHIPPED / "trento.yaml")]


def test_every_spelling_of_the_option():
    args = ["-c", "demo.yaml", "fit", "--config=overlays/debug.yaml", "-c=trento", "--data.scene", "demo.yaml"]
    assert configs.resolve_config_args(args) == [
        "-c", str(SHIPPED / "demo.yaml"), "fit", f"--config={SHIPPED / 'overlays/debug.yaml'}",
        f"-c={SHIPPED / 'trento.yaml'}", "--data.scene", "demo.yaml"]  # only --config values are names


@pytest.mark.parametrize("value", ["{trainer: {max_epochs: 2}}", "trainer:\n  max_epochs: 2\n"])
def test_inline_yaml_is_left_to_jsonargparse(value: str):
    assert configs.resolve_config_args(["fit", "--config", value]) == ["fit", "--config", value]


def test_a_path_of_the_users_is_not_a_name():
    with pytest.raises(ConfigError, match=r"--config \./demo\.yaml: no such file"):
        configs.resolve_config_args(["fit", "--config", "./demo.yaml"])


def test_an_unknown_name_is_one_line_listing_the_shipped_names(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        run(["fit", "--config", "demo.yaml", "--config", "overlays/nope.yaml"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: --config overlays/nope.yaml: no such file, and no config of that name ships")
    for name in configs.shipped_names():
        assert name in err


def test_a_scene_card_name_says_how_a_card_is_used(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        run(["fit", "-c", "scenes/houston2013_contest.yaml"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "is a scene card, not a run config" in err
    assert str(SHIPPED / "scenes" / "houston2013_contest.yaml") in err and "--data.scene" in err


def test_the_cli_runs_shipped_names_from_an_empty_folder(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", "demo.yaml", "--config", "overlays/debug.yaml", "--print_config"])
    assert exit_info.value.code in (0, None)
    cfg = yaml.safe_load(capsys.readouterr().out)
    demo, debug = (yaml.safe_load((SHIPPED / n).read_text()) for n in ("demo.yaml", "overlays/debug.yaml"))
    assert cfg["data"]["scene"] == demo["data"]["scene"]  # from demo.yaml
    assert cfg["trainer"]["max_epochs"] == debug["trainer"]["max_epochs"]  # from the overlay, given after it


def test_help_says_a_config_may_be_a_shipped_name(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "or the name of a config shipped with mmlgnet: demo.yaml" in out
    assert "an existing file of that name wins" in out

