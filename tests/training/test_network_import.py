"""An unimportable or wrong `--model.network.class_path` is ONE line `error: --model.network.class_path X: ...`
and exit 2 (mmlgnet.training.network.check_network_option, called by the CLI before jsonargparse parses, which
would print a multi-line union dump), given on the command line or in a config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlgnet.cli import run
from mmlgnet.training.network import NetworkImportError, check_class_path, given_class_path

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / "configs" / "demo.yaml")

MODULES = {
    "netsmod.py": "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n    pass\n\n\n"
                  "class Plain:\n    pass\n\n\ndef make_net():\n    return Net()\n",
    "needs_missing.py": "import not_installed_anywhere_xyz\n",
    "syntax_error.py": "def broken(:\n",
}


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in MODULES.items():
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _one_error_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """`python -m mmlgnet <args>` as the console runs it: exit 2 and exactly one stderr line."""
    with pytest.raises(SystemExit) as info:
        run(args)
    assert info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(("class_path", "what", "fix"), [
    ("no_such_pkg_xyz.Net", "no module named 'no_such_pkg_xyz'", "is no_such_pkg_xyz on PYTHONPATH?"),
    ("netsmod.Nope", "module netsmod has no attribute Nope", "its torch.nn.Module classes: Net"),
    ("netsmod.Plain", "a class, not a torch.nn.Module subclass", "the network contract needs"),
    ("netsmod.make_net", "a function, not a torch.nn.Module subclass", "the network contract needs"),
    ("needs_missing.Net", "importing needs_missing failed: it imports 'not_installed_anywhere_xyz', which is not "
     "installed", "install not_installed_anywhere_xyz"),
    ("syntax_error.Net", "importing syntax_error failed (SyntaxError", "fix that module"),
    ("mmlgnet.no_such_module.Net", "no module named 'mmlgnet.no_such_module'", "mmlgnet was found at"),
])
def test_bad_class_path_on_the_command_line_is_one_line(user_dir: Path, capsys: pytest.CaptureFixture[str],
                                                         class_path: str, what: str, fix: str) -> None:
    line = _one_error_line(["fit", "--config", DEMO, "--model.network.class_path", class_path], capsys)
    assert line.startswith(f"error: --model.network.class_path {class_path}: {what}")
    assert f"({fix}" in line


@pytest.mark.parametrize("form", ["--model.network", "--model.network.class_path=", "--model.network="])
def test_other_command_line_forms(user_dir: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    args = [form, "netsmod.Nope"] if not form.endswith("=") else [form + "netsmod.Nope"]
    line = _one_error_line(["fit", "--config", DEMO, *args], capsys)
    assert line.startswith("error: --model.network.class_path netsmod.Nope: module netsmod has no attribute Nope")


def test_bad_class_path_in_a_config_file_names_the_file(user_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = user_dir / "mine.yaml"
    cfg.write_text("model:\n  network:\n    class_path: no_such_pkg_xyz.Net\n    init_args: {}\n")
    line = _one_error_line(["fit", "--config", DEMO, "--config", str(cfg)], capsys)
    assert line.startswith("error: --model.network.class_path no_such_pkg_xyz.Net: no module named 'no_such_pkg_xyz' "
                           f"(set in {cfg}; is no_such_pkg_xyz on PYTHONPATH?")


def test_a_good_class_path_passes_the_check(user_dir: Path) -> None:
    import netsmod

    assert check_class_path("netsmod.Net") is netsmod.Net
    assert check_class_path("mmlgnet.models.baselines.endnet.EndNet").__name__ == "EndNet"


def test_not_a_dotted_path() -> None:
    with pytest.raises(NetworkImportError, match=r"^--model.network.class_path a\.\.b: not a dotted path"):
        check_class_path("a..b")


def test_where_the_class_path_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last setting wins, as in jsonargparse: command line, --config (either level, file or inline YAML),
    --model FILE, a config's `model:` naming a file beside it, `network: null`, init_args alone."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "model.yaml").write_text("network:\n  class_path: a.FromModelFile\n")
    (tmp_path / "sub" / "outer.yaml").write_text("model: model.yaml\n")  # relative to outer.yaml's folder
    (tmp_path / "top.yaml").write_text("fit:\n  model:\n    network: a.TopLevel\n")
    (tmp_path / "args.yaml").write_text("model:\n  network:\n    init_args: {width: 3}\n")
    (tmp_path / "null.yaml").write_text("model:\n  network: null\n")
    assert given_class_path(["fit", "--model.head", "linear"]) is None
    assert given_class_path(["fit", "--model.network.class_path", "a.B"]) == ("a.B", "")
    assert given_class_path(["fit", "--config", "sub/outer.yaml"]) == ("a.FromModelFile", "set in sub/model.yaml")
    assert given_class_path(["--config", "top.yaml", "fit"]) == ("a.TopLevel", "set in top.yaml")
    assert given_class_path(["fit", "--model", "sub/model.yaml"]) == ("a.FromModelFile", "set in sub/model.yaml")
    assert given_class_path(["fit", "--config", "{model: {network: {class_path: a.Inline}}}"]) == ("a.Inline", "")
    assert given_class_path(["fit", "--model.network", '{"class_path": "a.Json"}']) == ("a.Json", "")
    assert given_class_path(["fit", "--model.network.class_path", "a.B", "--config", "args.yaml"]) == ("a.B", "")
    assert given_class_path(["fit", "--config", "top.yaml", "--model.network.class_path", "a.C"]) == ("a.C", "")
    assert given_class_path(["fit", "--model.network.class_path", "a.B", "--config", "null.yaml"]) is None


def test_a_checkpoint_whose_network_does_not_import_is_one_line(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """test/predict --ckpt_path: the network class path saved in the checkpoint's hyperparameters (e.g. a file
    no longer on PYTHONPATH) is checked before LightningCLI parses them (it would dump the union error)."""
    import torch

    ckpt = tmp_path / "moved.ckpt"
    torch.save({"global_step": 3, "epoch": 1, "state_dict": {},
                "hyper_parameters": {"head": "linear",
                                     "network": {"class_path": "no_such_pkg_xyz.TinyNet", "init_args": {}}}}, ckpt)
    line = _one_error_line(["test", "--config", DEMO, "--model.head", "linear", "--ckpt_path", str(ckpt)], capsys)
    assert line.startswith("error: --model.network.class_path no_such_pkg_xyz.TinyNet: no module named "
                           f"'no_such_pkg_xyz' (saved in --ckpt_path {ckpt}; is no_such_pkg_xyz on PYTHONPATH?")
