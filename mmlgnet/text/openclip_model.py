"""open_clip models before any weights: our tiny configs registered, the weights error, the seeded untrained tower.

The lowest open_clip module of the text side: the encoder (mmlgnet.text.openclip_encoder) and the presets
(mmlgnet.text.presets, which build an untrained tower and load the preset's weights into it) both import it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import open_clip
import torch

from mmlgnet.errors import UserError

#: Tiny open_clip model configs shipped with the package (tests, offline smoke runs).
CLIP_CONFIG_DIR = Path(__file__).parent / "clip_configs"
open_clip.add_model_config(CLIP_CONFIG_DIR)

SEED = 0  # the fixed seed of an untrained (pretrained=None) text tower


class ClipWeightsError(UserError):
    """The CLIP weights asked for cannot be obtained (offline, not cached, missing file, unknown tag)."""


# open_clip's root-logger line on a randomly initialised model: it repeats our own, louder untrained-tower warning
# (mmlgnet.text.embeddings). Dropped here, where the model is built, and only while it is (the one owner of it).
RANDOM_INIT_LINE = "No pretrained weights loaded"


def _drop_open_clip_random_init(record: logging.LogRecord) -> bool:
    """A root-logger filter: drop open_clip's RANDOM_INIT_LINE (a second untrained warning)."""
    return not str(record.msg).startswith(RANDOM_INIT_LINE)


def untrained_model(model_name: str, device: str = "cpu", quick_gelu: bool = False) -> torch.nn.Module:
    """The open_clip model randomly initialised under the fixed seed (the global RNG is left alone)."""
    root = logging.getLogger()
    root.addFilter(_drop_open_clip_random_init)  # the caller warns about an untrained tower, louder
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            return open_clip.create_model(model_name, pretrained=None, pretrained_text=False, device=device,
                                          force_quick_gelu=quick_gelu)
    finally:
        root.removeFilter(_drop_open_clip_random_init)
