"""One streaming prediction under Lightning: resume decision, per-batch writes, the end (DDP-aware).

Driven by PredictionMapWriter when the datamodule streams (mmlgnet.data.sampling.streaming). When the predict dataloader is
built (the weights are restored by then), rank 0 prepares the outputs (keeps the partials only when the resume
key matches: mmlgnet.mapping.stream_key, StreamPlan.fingerprint; else starts afresh), every rank then skips the tiles
already written and writes its own tiles; at the end all ranks meet at a barrier and rank 0 finalises the files
(mmlgnet.mapping.stream_writer) and writes maps.json. No test scores are computed here (the scene's labels are not
read): run `test` for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from mmlgnet.atomic import write_json
from mmlgnet.mapping.stream_key import model_identity
from mmlgnet.mapping.stream_writer import RowReader, StreamOutputs, block_rows
from mmlgnet.training import open_vocab, runtime

__all__ = ["StreamRun", "start_stream"]



class StreamRun:
    """This rank's side of a streaming prediction: its partial outputs and the plan it serves."""

    def __init__(self, plan: Any, outputs: StreamOutputs, resumed: int) -> None:
        self.plan, self.outputs, self.resumed = plan, outputs, resumed
        self.files: dict[str, Path] | None = None  # set once finished (finish is idempotent)

    def write_batch(self, prediction: dict[str, Any], batch: dict[str, Any]) -> None:
        """Classes 1..K and confidences of a batch into the maps (0 at nodata); record the tile when complete."""
        index = prediction["index"].detach().cpu().numpy()  # (B,) flat scene indices
        void = batch["void"].detach().cpu().numpy()  # (B,) bool
        pred = np.where(void, 0, prediction["pred"].detach().cpu().numpy() + 1).astype(np.int16)
        score = np.where(void, 0.0, prediction["score"].detach().float().cpu().numpy()).astype(np.float32)
        self.outputs.write(index, pred, score)
        if bool(batch["last"]):
            self.outputs.tile_done(int(batch["tile"]))

    def finish(self, trainer: L.Trainer) -> dict[str, Path]:
        """Barrier; rank 0: check every tile is written, write the final files and maps.json."""
        if self.files is not None:
            return self.files
        self.files = {}
        self.outputs.close()
        trainer.strategy.barrier("stream_finish")
        if not trainer.is_global_zero:
            return {}
        missing = self.outputs.missing()
        if missing:
            rank_zero_warn(f"Streaming prediction: {len(missing)} of {self.outputs.tiles} tiles not written "
                           f"(limit_predict_batches?); the partial files stay in {self.outputs.out}: rerun the same "
                           f"command to complete them.")
            return {}
        scene = self.plan.stub
        # the maps' classes: the model's with --model.predict_class_names (OPENVOCAB), else the scene's
        names, palette, _ = open_vocab.map_classes(trainer.lightning_module, list(scene.class_names), scene.palette)
        files = self.outputs.finalize(scene.crs, scene.transform, names, palette)
        pred = RowReader(files["prediction.npy"])  # (H, W) int16, read by rows
        k = len(names)
        counts = np.zeros(k + 1, dtype=np.int64)
        step = block_rows(pred.shape[1])
        for r in range(0, pred.shape[0], step):
            counts += np.bincount(pred[r:r + step].reshape(-1), minlength=k + 1)[:k + 1]
        write_json(self.outputs.out / "maps.json", {
            "scene": scene.name, "shape": [scene.height, scene.width], "class_names": names,
            "streamed": {"reason": self.plan.reason, "tile": self.plan.grid.side, "tiles": len(self.plan.grid),
                         "tiles_resumed": self.resumed,
                         "weights_sha256": self.outputs.fingerprint["model"]["weights_sha256"]},
            "test_pixels": None, "OA": None, "AA": None, "kappa": None,
            "note": "streamed by tiles: the labels are not read, no test scores (run `test` for them)",
            "nodata_pixels": int(counts[0]), "crs": scene.crs,
            "transform": list(scene.transform) if scene.transform is not None else None,
            "predicted_class_counts": counts[1:].tolist(),
            "checkpoint": str(trainer.ckpt_path) if trainer.ckpt_path else None,
            "trained": _trained_state(trainer),
            "allow_untrained": bool(getattr(trainer.lightning_module, "allow_untrained", False)),
            "environment": runtime.environment(trainer.lightning_module.device),  # as test_metrics.json records it
            "files": {n: str(p) for n, p in files.items()},
        })
        self.files = files
        rank_zero_info(f"PredictionMapWriter: streamed {len(self.plan.grid)} tiles; wrote {len(files)} files to "
                       f"{self.outputs.out}")
        return files


def _trained_state(trainer: L.Trainer) -> dict[str, int] | None:
    state = getattr(trainer.lightning_module, "trained_state", None)
    return state() if callable(state) else None


def start_stream(trainer: L.Trainer, plan: Any, out: Path) -> StreamRun:
    """Rank 0 prepares `out` (resume or fresh), a barrier, then every rank opens the maps and skips done tiles.

    Called when the predict dataloader is built (StreamPlan.before_loader), i.e. after Lightning restored the
    weights: the resume key's model part (mmlgnet.mapping.stream_key) is that of the weights that will predict.
    """
    module = trainer.lightning_module
    names, _, _ = open_vocab.map_classes(module, list(plan.stub.class_names), plan.stub.palette)
    model = model_identity(module, names, str(trainer.precision))
    outputs = StreamOutputs(out, plan.grid.height, plan.grid.width, len(plan.grid), plan.fingerprint(model),
                            rank=trainer.global_rank)
    if trainer.is_global_zero:
        done, changed = outputs.prepare()
        if done:
            rank_zero_info(f"Streaming prediction: resuming in {out}, {len(done)} of {len(plan.grid)} tiles already "
                           f"written (same weights sha256 {model['weights_sha256'][:12]}, class list, scene files "
                           f"and options).")
        elif changed:
            rank_zero_info(f"Streaming prediction: the partial maps in {out} were made with another {', '.join(changed)}"
                           f": their tiles are not trusted; every tile is classified afresh.")
    trainer.strategy.barrier("stream_prepare")
    done = outputs.recorded()
    outputs.open(done)
    plan.skip = done
    run = StreamRun(plan, outputs, len(done))
    if len(done) == len(plan.grid):  # killed while finishing: nothing left to classify, Lightning skips the loop
        run.finish(trainer)
    return run
