"""Issue 15.4: every output folder is checked at start (exit 2, one line naming the option, path and reason).

Before, a folder that could not be created (parent is a file, read-only filesystem, no permission) was found
when the first file was written: after the compute (for an in-memory predict, in on_predict_epoch_end), with
a traceback and rc 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from mmlgnet import outputs
from mmlgnet.cli import main
from mmlgnet.data.datamodule import HSILidarDataModule
from mmlgnet.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml"),
        "--data.synthetic_height", "24", "--data.synthetic_width", "40", "--data.synthetic_classes", "4",
        "--data.split", "per_class:10"]


@pytest.fixture
def blocker(tmp_path: Path) -> Path:
    """A plain file where a folder's parent should be."""
    f = tmp_path / "a_file"
    f.write_text("not a folder")
    return f


# ---- the check itself ----
def test_a_creatable_folder_passes_and_nothing_is_created(tmp_path):
    outputs.check_output_dir(tmp_path / "new" / "deeper", "--x")
    outputs.check_output_dir(tmp_path, "--x")
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_is_named(blocker):
    with pytest.raises(ConfigError, match=rf"^--x {blocker}/maps: cannot create this folder: {blocker} is a file, "
                                          "not a folder\\. Give a folder you can write to"):
        outputs.check_output_dir(blocker / "maps", "--x")
    with pytest.raises(ConfigError, match=rf"{blocker} is a file, not a folder"):  # the path itself is the file
        outputs.check_output_dir(blocker, "--x")


def test_a_read_only_filesystem_is_named(tmp_path, monkeypatch):
    real = os.statvfs

    def statvfs(path):
        st = real(path)
        return SimpleNamespace(f_flag=st.f_flag | os.ST_RDONLY) if Path(path) == tmp_path else st

    monkeypatch.setattr(outputs.os, "statvfs", statvfs)  # root ignores permissions, not EROFS: simulate the mount
    with pytest.raises(ConfigError, match=rf"--results {tmp_path}/r: cannot create this folder: {tmp_path} is on a "
                                          "read-only filesystem"):
        outputs.check_output_dir(tmp_path / "r", "--results")


def test_no_permission_is_named_simulated(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs.os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(ConfigError, match=rf"cannot create this folder: no permission to create files in {tmp_path} "
                                          r"\(mode d"):
        outputs.check_output_dir(tmp_path / "r", "--results")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a mode-555 folder (the simulated test covers it)")
def test_no_permission_is_named_chmod_555(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        with pytest.raises(ConfigError, match=rf"no permission to create files in {locked}"):
            outputs.check_output_dir(locked / "maps", "--predict_writer.output_dir")
        with pytest.raises(ConfigError, match=r"cannot write into this folder: no permission"):
            outputs.check_output_dir(locked, "--predict_writer.output_dir")
    finally:
        locked.chmod(0o755)


# ---- every output option of the CLI, before any work ----
@pytest.fixture
def no_work(monkeypatch):
    """Fails the test if the scene is ever set up (the check must come first)."""
    def setup(self, stage=None):
        raise AssertionError(f"the datamodule was set up ({stage}) before the output folders were checked")

    monkeypatch.setattr(HSILidarDataModule, "setup", setup)


@pytest.mark.parametrize("sub, option, args", [
    ("predict", "--predict_writer.output_dir", ["--predict_writer.output_dir", "{bad}"]),
    ("fit", "--predict_writer.output_dir", ["--predict_after_fit", "true", "--predict_writer.output_dir", "{bad}"]),
    ("fit", "--trainer.logger.init_args.save_dir (CSVLogger)", ["--trainer.logger.init_args.save_dir", "{bad}"]),
    ("test", "--trainer.logger.init_args.save_dir (WandbLogger)",
     ["--trainer.logger", '{{"class_path": "mmlgnet.tracking.WandbLogger", "init_args": {{"save_dir": "{bad}"}}}}']),
    ("validate", "--trainer.default_root_dir", ["--trainer.default_root_dir", "{bad}"]),
    ("fit", "--trainer.default_root_dir", ["--trainer.logger", "false", "--trainer.default_root_dir", "{bad}"]),
    ("fit", "--trainer.callbacks.init_args.dirpath (ModelCheckpoint)",
     ["--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.dirpath={bad}"]),
], ids=["predict-maps", "fit-maps", "csv", "wandb", "root", "root-no-logger", "checkpoint"])
def test_every_output_option_is_checked_before_any_work(tmp_path, blocker, no_work, sub, option, args):
    bad = str(blocker / "out")
    runs = tmp_path / "runs"
    argv = [sub, *BASE, "--trainer.logger.init_args.save_dir", str(runs)] if "--trainer.logger" not in args else \
        [sub, *BASE]
    argv += [a.format(bad=bad) for a in args] + (["--allow_untrained", "true"] if sub != "fit" else [])
    with pytest.raises(ConfigError) as info:
        main(argv)
    msg = str(info.value)
    assert msg.startswith(f"{option} {bad}: cannot create this folder: {blocker} is a file, not a folder"), msg
    assert "\n" not in msg and not runs.exists()


def test_good_output_folders_pass(tmp_path):
    """The check refuses nothing that works: an ordinary predict writes its maps where asked."""
    maps = tmp_path / "new" / "maps"
    main(["predict", *BASE, "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--allow_untrained",
          "true", "--predict_writer.output_dir", str(maps)])
    assert (maps / "prediction.npy").is_file()


@pytest.mark.slow  # a fresh `python -m mmlgnet` process (the in-process tests check the same message): `make test-all` only
def test_command_line_predict_into_an_impossible_folder_exits_2_with_one_line(tmp_path, blocker):
    bad = blocker / "maps"
    out = subprocess.run([sys.executable, "-m", "mmlgnet", "predict", *BASE, "--allow_untrained", "true",
                          "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
                          "--predict_writer.output_dir", str(bad)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "PYTHONPATH": str(REPO)})
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert errors == [f"error: --predict_writer.output_dir {bad}: cannot create this folder: {blocker} is a file, "
                      "not a folder. Give a folder you can write to (checked before any work, so nothing was "
                      "computed)."]
