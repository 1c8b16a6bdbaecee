"""Which path serves a scene, decided once from the scene and the memory budget (mmlgnet.data.sampling.budget).

1. predict of a scene card over the budget (or `--data.stream always`): tiles (streamed; planned by
   mmlgnet.data.sampling.streaming.plan_stream at the first look at the scene, so that only its shape is read);
2. fit/validate/test of a card over the budget (or `--data.scene_in_memory false`): the labelled pixels' patches
   by window (windowed);
3. everything else: the scene in memory (in_memory).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from lightning.pytorch.utilities import rank_zero_info

from mmlgnet.data.sampling import labelled
from mmlgnet.data.scenes.card_load import load_card
from mmlgnet.data.scenes.cards import is_card
from mmlgnet.data.scenes.catalog_load import load_scene
from mmlgnet.data.scenes.lazy_scene import LazyScene
from mmlgnet.data.scenes.scene import Scene
from mmlgnet.data.scenes.synthetic import make_synthetic_scene
from mmlgnet.data.serving.in_memory import InMemoryServing
from mmlgnet.data.serving.interface import ServeOptions
from mmlgnet.data.serving.windowed import WindowedServing

__all__ = ["choose_serving", "open_scene"]


def _windowed_reason(dm: Any) -> str | None:
    """Why this card is read by windows (labelled patches only), logged; None: loaded in memory."""
    why = labelled.windowed_reason(dm.scene_in_memory, dm.scene_name, dm.modalities, dm.lidar_channels,
                                   dm.memory_budget_mb)
    if why is not None:
        rank_zero_info(f"Scene {dm.scene_name}: memory-bounded training data ({why}): statistics in one "
                       f"windowed pass, the labelled pixels' patches gathered by windows.")
    return why


def open_scene(dm: Any) -> tuple[Scene, LazyScene | None]:
    """The scene of datamodule `dm` (its options), and the card opened by windows when it is served so."""
    hsi = "hsi" in dm.modalities
    if dm.scene_name == "synthetic":
        return make_synthetic_scene(**dm.synthetic, lidar_bands=dm.lidar_channels or 1), None
    if is_card(dm.scene_name) and _windowed_reason(dm) is not None:
        lazy, scene = labelled.open_labelled_card(dm.scene_name, dm.lidar_channels, require_hsi=hsi)
        return scene, lazy
    if is_card(dm.scene_name):
        return load_card(dm.scene_name, lidar_channels=dm.lidar_channels, require_hsi=hsi), None
    return load_scene(dm.scene_name, dm.root, download=dm.download, lidar_channels=dm.lidar_channels,
                      require_hsi=hsi, verify=dm.verify), None


def choose_serving(dm: Any, stage: str | None) -> InMemoryServing | WindowedServing:
    """The loaded scene in memory, or its labelled patches by window (`dm._windowed`); checked and prepared."""
    options = ServeOptions(dm.scene_name, dm.modalities, dm.patch_size, dm.normalization, dm.fill_value,
                           dm.nodata_source, dm.pipeline, dm.num_workers)
    serving: InMemoryServing | WindowedServing
    if dm._windowed is not None:
        sp = dm.split
        index = np.unique(np.concatenate([sp.train, sp.val, sp.test]).astype(np.int64))
        serving = WindowedServing(dm._windowed, dm.scene, options, index, dm.scene_in_memory)
    else:
        serving = InMemoryServing(dm.scene, options)
    serving.check_stage(stage)  # before any pass over the scene
    serving.prepare(dm._training)
    return serving
