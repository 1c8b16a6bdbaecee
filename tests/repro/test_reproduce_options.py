"""Issue 15.4/15.5/15.9: reproduce's options are checked before any work: the results folder, SLURM's presence,
open-vocabulary class ids, --text-weights files and names; and the messages of --jobs and of an interrupt."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmlgnet.errors import ConfigError
from mmlgnet.repro import reproduce, weights
from mmlgnet.repro.plan import RunOptions, Setting, make_plan
from tests.repro.test_repro_groups import QUICK, TRENTO, available, fake_fingerprinter

REPO = Path(__file__).resolve().parents[2]
HOUSTON = Setting("houston2013", "houston2013", "standard", (REPO / "configs" / "houston2013.yaml",))


def _quick(results: Path, *more: str) -> list[str]:
    return ["--quick", "--seeds", "1", "--no-wandb", "--maps", "none", "--results", str(results), *more]


def _error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and len([ln for ln in lines if ln.startswith("error:")]) == 1, err
    return next(ln for ln in lines if ln.startswith("error:"))


# ---- 15.4: --results checked at start ----
def test_results_folder_that_cannot_be_created_is_refused_before_the_plan(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setattr(reproduce, "plan_of", lambda args: pytest.fail("the plan was made before the check"))
    assert reproduce.main(_quick(blocker / "results", "--variants", "lidar_only")) == 2
    assert _error_line(capsys.readouterr().err) == (
        f"error: --results {blocker}/results: cannot create this folder: {blocker} is a file, not a folder. Give a "
        "folder you can write to (checked before any work, so nothing was computed).")


# ---- 15.5: SLURM absent ----
def test_slurm_launcher_without_slurm_exits_2_naming_what_is_missing(tmp_path, capsys, monkeypatch):
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no sbatch/srun/squeue, whether or not this host has SLURM
    results = tmp_path / "r"
    assert reproduce.main(_quick(results, "--variants", "lidar_only", "--launcher", "slurm")) == 2
    line = _error_line(capsys.readouterr().err)
    assert line.startswith("error: --launcher slurm: sbatch, srun, squeue not found on PATH") and \
        "`make slurm-localhost`" in line
    assert not results.exists()


# ---- 15.5: open-vocabulary ids past the class count ----
def _plan(settings: list[Setting], variants: list[str]):
    opts = RunOptions(Path("results"), Path("data"), quick=True)
    return make_plan(settings, variants, 1, "none", opts, available, fake_fingerprinter,  # type: ignore[arg-type]
                     ("openvocab",))


def test_unseen_id_past_every_scene_class_count_is_refused():
    with pytest.raises(ConfigError, match=r"^--variants unseen-99: there is no class 99 to hold out "
                                          r"\(synthetic-quick has 6 classes\)\. Give unseen-<k> with k from 1"):
        _plan([QUICK], ["unseen-99"])
    with pytest.raises(ConfigError, match=r"no class 16 to hold out \(trento has 6, houston2013 has 15 classes\)"):
        _plan([TRENTO, HOUSTON], ["unseen-2", "unseen-16"])
    assert [r.variant.name for r in _plan([QUICK], ["unseen-6"]).runs] == ["unseen-6"]  # the last class: fine


def test_unseen_id_that_only_some_scenes_have_is_skipped_with_the_reason_at_the_others():
    p = _plan([TRENTO, HOUSTON], ["unseen-12"])
    assert [r.key for r in p.runs] == ["houston2013/unseen-12/seed0"]
    assert p.skipped == ["trento / unseen-12: skipped (trento has 6 classes, no class 12)"]


def test_unseen_id_out_of_range_exits_2_on_the_command_line(tmp_path, capsys):
    assert reproduce.main(_quick(tmp_path / "r", "--groups", "openvocab", "--variants", "unseen-99",
                                 "--dry-run")) == 2
    assert "error: --variants unseen-99: there is no class 99 to hold out" in _error_line(capsys.readouterr().err)


# ---- 15.5: --text-weights files and names ----
def _clip_like(path: Path, **more: torch.Tensor) -> Path:
    torch.save({"token_embedding.weight": torch.zeros(4, 2), "positional_embedding": torch.zeros(3, 2), **more}, path)
    return path


def test_repeated_text_weights_name_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        reproduce.parse_args(["--quick", "--text-weights", "remoteclip=/a.pt", "georsclip=hub", "remoteclip=/b.pt"])
    assert e.value.code == 2
    assert "--text-weights remoteclip is given 2 times (/a.pt, /b.pt): give each NAME once" in capsys.readouterr().err


@pytest.mark.parametrize("content, why", [
    (None, "no such file"),
    (b"certainly not a checkpoint" * 8, "not a readable PyTorch checkpoint"),
    ([1, 2, 3], "expected a CLIP state dict (name -> tensor)"),
    ({"fc.weight": torch.zeros(2)}, "a state dict without a CLIP text tower (no 'token_embedding.weight'"),
], ids=["missing", "garbage", "not-a-dict", "no-text-tower"])
def test_text_weights_file_is_checked_before_any_run(tmp_path, capsys, monkeypatch, content, why):
    f = tmp_path / "RemoteCLIP-ViT-B-32.pt"
    if isinstance(content, bytes):
        f.write_bytes(content)
    elif content is not None:
        torch.save(content, f)
    monkeypatch.setattr(reproduce, "plan_of", lambda args: pytest.fail("the plan was made before the check"))
    results = tmp_path / "r"
    assert reproduce.main(_quick(results, "--groups", "text", "--variants", "text-remoteclip",
                                 "--text-weights", f"remoteclip={f}")) == 2
    line = _error_line(capsys.readouterr().err)
    assert line.startswith(f"error: --text-weights remoteclip={f}: {why}") and "remoteclip=hub" in line, line
    assert not results.exists()


def test_text_weights_formats_the_runs_load_pass(tmp_path):
    """A plain state dict, an open_clip training checkpoint (DDP 'module.' keys), a legacy torch.save file, and a
    .safetensors file (open_clip loads those for a local `openai` file; hub copies of OpenAI CLIP are safetensors)."""
    from safetensors.torch import save_file

    plain = _clip_like(tmp_path / "plain.pt")
    train = tmp_path / "epoch_20.pt"
    torch.save({"epoch": 20, "state_dict": {"module.token_embedding.weight": torch.zeros(4, 2)}}, train)
    legacy = tmp_path / "legacy.pt"
    torch.save({"token_embedding.weight": torch.zeros(4, 2)}, legacy, _use_new_zipfile_serialization=False)
    safe = tmp_path / "open_clip_model.safetensors"
    save_file({"token_embedding.weight": torch.zeros(4, 2)}, str(safe))
    weights.check_files([("remoteclip", str(plain)), ("skyclip", str(train)), ("openai", str(legacy)),
                         ("georsclip", "hub")])
    assert [weights.problem(p) for p in (plain, train, legacy, safe)] == [None, None, None, None]
    save_file({"visual.proj": torch.zeros(2)}, str(safe))
    assert weights.problem(safe).startswith("a state dict without a CLIP text tower")
    safe.write_bytes(b"junk" * 10)
    assert weights.problem(safe).startswith("not a readable safetensors file")


def test_skyclip_message_offers_no_hub(tmp_path):
    with pytest.raises(ConfigError) as e:
        weights.check_files([("skyclip", str(tmp_path / "none.pt"))])
    assert "no such file" in str(e.value) and "hub" not in str(e.value)


# ---- 15.9: messages ----
def test_jobs_message_says_what_jobs_is(capsys):
    with pytest.raises(SystemExit):
        reproduce.parse_args(["--quick", "--jobs", "0"])
    err = capsys.readouterr().err.splitlines()[-1]  # the line after the usage
    assert "argument --jobs: must be at least 1 (the number of runs at once" in err and "seeds" not in err
    with pytest.raises(SystemExit):
        reproduce.parse_args(["--quick", "--seeds", "0"])
    assert "argument --seeds: must be at least 1 (seeds 0..N-1 are run), got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        reproduce.parse_args(["--quick", "--slurm-time", "0"])
    assert "argument --slurm-time: must be at least 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        reproduce.parse_args(["--quick", "--jobs", "two"])
    assert "argument --jobs: invalid int value: 'two'" in capsys.readouterr().err


@pytest.mark.parametrize("interrupt, shown", [(KeyboardInterrupt(), "Ctrl-C"),
                                              (KeyboardInterrupt("signal SIGTERM"), "signal SIGTERM")],
                         ids=["ctrl-c", "sigterm"])
def test_interrupt_message_names_the_reason(tmp_path, capsys, monkeypatch, interrupt, shown):
    def interrupted(args, command):
        raise interrupt

    monkeypatch.setattr(reproduce, "reproduce", interrupted)
    assert reproduce.main(_quick(tmp_path / "r")) == 130
    err = capsys.readouterr().err
    assert f"[reproduce] interrupted ({shown}): the current run is marked interrupted" in err and "()" not in err
