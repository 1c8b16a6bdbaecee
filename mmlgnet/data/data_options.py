"""Checks of the datamodule's options, run at construction before any file is read (errors name --data.<option>)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from mmlgnet.data.sampling.normalization import NORMALIZATIONS
from mmlgnet.data.sampling.patches import check_patch_size
from mmlgnet.data.sampling.splits import check_val_fraction, parse_protocol
from mmlgnet.data.scenes.cards import is_card
from mmlgnet.data.scenes.catalog_load import SCENE_NAMES
from mmlgnet.data.scenes.synthetic import MAX_SYNTHETIC_CLASSES
from mmlgnet.errors import ConfigError, is_int


def _check_int(option: str, value: int, minimum: int, maximum: int | None = None) -> None:
    if not is_int(value) or value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ConfigError(f"--data.{option} {value!r}: expected an integer {bounds}.")


def _check_choice(option: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"--data.{option} {value!r}: use one of {tuple(choices)}.")


def check_data_options(
    scene: str, split: str, val_fraction: float, patch_size: int, batch_size: int, eval_batch_size: int,
    num_workers: int, lidar_channels: int | None, pipeline: str, normalization: str, nodata: float | None,
    synthetic_size: tuple[int, int, int],
) -> None:
    """Raise ConfigError/SplitError naming the option for any value the datamodule cannot use."""
    synthetic_height, synthetic_width, synthetic_classes = synthetic_size
    check_patch_size(patch_size)  # odd and positive; the scene-size check waits for setup()
    parse_protocol(split)
    check_val_fraction(val_fraction)
    _check_int("batch_size", batch_size, 1)
    _check_int("eval_batch_size", eval_batch_size, 1)
    _check_int("num_workers", num_workers, 0)
    if lidar_channels is not None:
        _check_int("lidar_channels", lidar_channels, 1)
    _check_choice("pipeline", pipeline, ("device", "per_sample"))
    _check_choice("normalization", normalization, NORMALIZATIONS)
    if nodata is not None and not math.isfinite(nodata):
        raise ConfigError(f"--data.nodata {nodata}: expected a finite fill value (e.g. 1e30 or -9999). NaN and "
                          f"inf entries are refused when the files are read: fill them before loading.")
    if scene not in SCENE_NAMES and scene != "synthetic" and not is_card(scene):
        raise ConfigError(f"--data.scene {scene!r}: expected a catalogue scene ({', '.join(SCENE_NAMES)}, "
                          f"synthetic) or the path of a YAML scene card (a .yaml/.yml file).")
    if scene == "synthetic":
        _check_int("synthetic_height", synthetic_height, 1)
        _check_int("synthetic_width", synthetic_width, 1)
        _check_int("synthetic_classes", synthetic_classes, 2, MAX_SYNTHETIC_CLASSES)
