"""The training scene's data state (normalisation statistics, class list) saved in a checkpoint, and its checks
when the model is applied to another scene.

`HSILidarDataModule.state_dict()` (saved by Lightning in every checkpoint) holds the normalisation statistics of
each modality and the class list; `load_state_dict()` (a checkpoint given by --ckpt_path) makes the scene given be
normalised with the TRAINING scene's statistics, after checking that its band/channel counts, class names and
normalisation match (CheckpointError otherwise). Nodata entries are still found with this scene's own nodata value
and become the training band mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmlgnet.data.sampling.normalization import NormStats
from mmlgnet.errors import CheckpointError

STATE_VERSION = 1
_UNITS = {"hsi": "HSI bands", "lidar": "LiDAR channels"}


def data_state(scene: str, normalization: str, nodata: float | None, class_names: list[str],
               stats: Mapping[str, NormStats]) -> dict[str, Any]:
    """The datamodule's state_dict: plain data (torch.load(weights_only=True) reads it back)."""
    return {"version": STATE_VERSION, "scene": scene, "normalization": normalization, "nodata": nodata,
            "class_names": list(class_names), "stats": {k: v.to_state() for k, v in stats.items()}}


class TrainingData:
    """The training scene's state read from a checkpoint: checks another scene against it and gives its stats."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or not isinstance(state.get("stats"), Mapping):
            raise CheckpointError(f"the checkpoint's datamodule state is not one written by mmlgnet (found "
                                  f"{type(state).__name__}); re-run fit to write a new checkpoint.")
        self.scene = str(state.get("scene", "?"))
        self.normalization = str(state.get("normalization", "standard"))
        self.nodata = state.get("nodata")
        self.class_names = [str(n) for n in state.get("class_names") or []]
        self.stats = {str(k): NormStats.from_state(dict(v)) for k, v in state["stats"].items()}

    def check_classes(self, scene: str, class_names: list[str]) -> None:
        """Refuse a scene whose class list differs from the training scene's (names and order).

        Run before the split is drawn (HSILidarDataModule.setup): a class the checkpoint lacks would otherwise
        be refused by the split's check as a class without training pixels, a message about the wrong fix.
        """
        if self.class_names and list(class_names) != self.class_names:
            extra = [n for n in class_names if n not in self.class_names]
            missing = [n for n in self.class_names if n not in class_names]
            diff = "; ".join(part for part in (f"not in the checkpoint: {extra}" if extra else "",
                                               f"missing from the scene: {missing}" if missing else "") if part)
            raise CheckpointError(
                f"the model was trained on {self.scene!r}, the scene given is {scene!r}: the class lists differ "
                f"(label k must name the same class{'; ' + diff if diff else ', here the order differs'}):\n"
                f"  trained {self.class_names}\n  given   {list(class_names)}\nFix: give the scene the training "
                f"scene's class_names in the same order (relabel its ground truth), or train a model on this scene.")

    def check(self, scene: str, normalization: str, class_names: list[str], bands: Mapping[str, int]) -> None:
        """Refuse a scene the trained model cannot read: other band/channel counts, classes or normalisation.

        `bands`: modality -> number of bands/channels of the scene given. Class lists are compared by name
        and order (label k must mean the same class); no mapping is attempted.
        """
        where = f"the model was trained on {self.scene!r}, the scene given is {scene!r}"
        for name, count in bands.items():
            if name not in self.stats:
                raise CheckpointError(f"{where}: the checkpoint has no {name} statistics (trained without {name}); "
                                      f"drop {name!r} from --model.modalities to match how it was trained.")
            trained = self.stats[name].bands
            if trained != count:
                fix = (f"pass --data.lidar_channels {trained} if the scene has more LiDAR rasters (the first "
                       f"{trained} are used), or give the scene the {trained} LiDAR rasters it was trained with"
                       if name == "lidar" else
                       f"give a cube with the same {trained} sensor bands in the same order (e.g. a band subset "
                       f"in the scene card), or train a model on this scene")
                raise CheckpointError(f"{where}: the model reads {trained} {_UNITS[name]}, {scene!r} has {count}. "
                                      f"Fix: {fix}.")
        self.check_classes(scene, class_names)
        if normalization != self.normalization:
            raise CheckpointError(
                f"{where}: it was normalised with --data.normalization {self.normalization}, given "
                f"{normalization}. Fix: drop --data.normalization or pass {self.normalization}.")
