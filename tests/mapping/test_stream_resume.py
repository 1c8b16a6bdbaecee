"""Streaming resume trusts only tiles of the same model, class list, scene and options; one predict per folder.

A kill is simulated deterministically: `tile_done` raises after N tiles (the partial maps and the progress
record stay, as after `kill -9`), then the folder is predicted into again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from cardkit import write_card_scene

import mmlgnet.mapping.stream_writer as stream_writer
from mmlgnet.cli import main
from mmlgnet.errors import UserError

REPO = Path(__file__).resolve().parents[2]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml")]
STREAM = ["--data.stream", "always", "--data.stream_tile", "8"]  # 24x32: 3 x 4 = 12 tiles
NEW_NAMES = "[water, roof, road, meadow]"


class Killed(Exception):
    """Stands for kill -9 in the middle of a streaming prediction."""


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A card scene, checkpoint A fitted on it, checkpoint B: A's weights perturbed (same scene, statistics, hparams)."""
    tmp = tmp_path_factory.mktemp("resume")
    card, _, _ = write_card_scene(tmp / "scene")
    main(["fit", *BASE, "--data.scene", str(card), "--trainer.logger.init_args.save_dir", str(tmp / "runs")])
    a = next((tmp / "runs").rglob("last.ckpt"))
    ckpt: dict[str, Any] = torch.load(a, map_location="cpu", weights_only=False)
    g = torch.Generator().manual_seed(1)
    for k, v in ckpt["state_dict"].items():
        if k.startswith("net.") and v.is_floating_point():
            ckpt["state_dict"][k] = v + 0.5 * v.std().nan_to_num() * torch.randn(v.shape, generator=g)
    b = tmp / "b.ckpt"
    torch.save(ckpt, b)
    return card, a, b


def _predict(card: Path, ckpt: Path, out: Path, *extra: str) -> Any:
    return main(["predict", *BASE, "--data.scene", str(card), "--ckpt_path", str(ckpt), *STREAM,
                 "--trainer.logger.init_args.save_dir", str(out.parent / "runs"),
                 "--predict_writer.output_dir", str(out), *extra])


@pytest.fixture
def killed_after(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Set state["tiles"] = N: the next streaming prediction dies right after recording its N-th tile.

    At that moment it also tries to take its own output folder's lock (state["busy"]: the refusal's message).
    """
    state: dict[str, Any] = {"tiles": None, "busy": None}
    done = stream_writer.StreamOutputs.tile_done

    def tile_done(self: Any, tile: int) -> None:
        done(self, tile)
        if state["tiles"] is not None and len(self._done) >= state["tiles"]:
            state["tiles"] = None
            from mmlgnet.mapping.output_lock import OutputLock

            try:
                OutputLock(self.out, "test").acquire().release()
            except UserError as e:
                state["busy"] = str(e)
            raise Killed

    monkeypatch.setattr(stream_writer.StreamOutputs, "tile_done", tile_done)
    yield state


def _maps(out: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    return np.load(out / "prediction.npy"), np.load(out / "confidence.npy"), json.loads((out / "maps.json").read_text())


def _kill(card: Path, ckpt: Path, out: Path, killed_after: dict[str, Any], tiles: int, *extra: str) -> None:
    killed_after["tiles"] = tiles
    with pytest.raises(Killed):
        _predict(card, ckpt, out, *extra)
    records = list(out.glob("stream_progress.rank*.json"))
    assert len(records) == 1 and len(json.loads(records[0].read_text())["done"]) == tiles
    assert not (out / "prediction.npy").exists()


def test_resume_with_another_checkpoint_restarts(scene: tuple[Path, Path, Path], tmp_path: Path,
                                                 killed_after: dict[str, Any]) -> None:
    card, a, b = scene
    _predict(card, b, tmp_path / "fresh_b")
    want_pred, want_conf, fresh = _maps(tmp_path / "fresh_b")
    out = tmp_path / "out"
    _kill(card, a, out, killed_after, 5)
    _predict(card, b, out)  # the lock was released when the run died
    pred, conf, summary = _maps(out)
    np.testing.assert_array_equal(conf, want_conf)  # B's map, not 5 tiles of A's: same batches, bit for bit
    np.testing.assert_array_equal(pred, want_pred)
    assert summary["streamed"]["tiles_resumed"] == 0
    assert summary["streamed"]["weights_sha256"] == fresh["streamed"]["weights_sha256"]
    assert killed_after["busy"] is not None and f"pid {os.getpid()}" in killed_after["busy"]  # held while running


def test_resume_with_the_same_weights_elsewhere_resumes(scene: tuple[Path, Path, Path], tmp_path: Path,
                                                       killed_after: dict[str, Any]) -> None:
    """The key is the weights' content, not the checkpoint file: a copy of A resumes A's tiles."""
    card, a, _ = scene
    out = tmp_path / "out"
    _kill(card, a, out, killed_after, 4)
    copy = tmp_path / "copy_of_a.ckpt"
    copy.write_bytes(a.read_bytes())
    cli = _predict(card, copy, out)
    assert _maps(out)[2]["streamed"]["tiles_resumed"] == 4 and sum(cli.trainer.num_predict_batches) == 12 - 4


@pytest.mark.parametrize("first, then", [([], ["--model.predict_class_names", NEW_NAMES]),
                                         (["--model.predict_class_names", NEW_NAMES], [])])
def test_resume_with_another_class_list_restarts(scene: tuple[Path, Path, Path], tmp_path: Path,
                                                 killed_after: dict[str, Any], first: list[str],
                                                 then: list[str]) -> None:
    card, a, _ = scene
    _predict(card, a, tmp_path / "fresh", *then)
    want_pred, want_conf, fresh = _maps(tmp_path / "fresh")
    out = tmp_path / "out"
    _kill(card, a, out, killed_after, 5, *first)
    _predict(card, a, out, *then)
    pred, conf, summary = _maps(out)
    assert summary["class_names"] == fresh["class_names"]
    assert int(pred.max()) <= len(summary["class_names"])  # every class id is one maps.json lists
    np.testing.assert_array_equal(pred, want_pred)  # the second list's map, not a mix of the two
    np.testing.assert_array_equal(conf, want_conf)
    assert summary["streamed"]["tiles_resumed"] == 0


def test_a_second_predict_on_a_locked_output_folder_is_refused(scene: tuple[Path, Path, Path],
                                                               tmp_path: Path) -> None:
    from mmlgnet.mapping.output_lock import OutputBusyError, OutputLock

    card, a, _ = scene
    out = tmp_path / "out"
    holder = OutputLock(out, "--predict_writer.output_dir").acquire()  # what a running predict holds
    try:
        with pytest.raises(OutputBusyError) as refused:
            _predict(card, a, out)
    finally:
        holder.release()
    message = str(refused.value)
    assert isinstance(refused.value, UserError)  # the CLI prints one line and exits 2
    assert str(out) in message and f"pid {os.getpid()}" in message and "in use by another predict" in message
    assert not list(out.glob("*.partial")) and not list(out.glob("stream_progress*"))  # nothing written
    _predict(card, a, out)  # released: the folder is usable again
    assert _maps(out)[2]["streamed"]["tiles"] == 12
