"""The removed option names `clip_model` / `clip_pretrained`: giving one is a ConfigError naming its successor.

The options were renamed `text_model` / `text_pretrained` when the text encoder stopped being CLIP-only
(`model.text_encoder`). The old names stay in MMLGNetModule's signature only so that a command line, a config
file or an old checkpoint's hyperparameters that still use them fail with this message instead of a bare
"unexpected key" (or, worse, a silent default).
"""

from __future__ import annotations

from mmlgnet.errors import ConfigError

#: Default of a removed option: anything else (null included) means the user (or an old checkpoint) gave it.
REMOVED = "(removed: see text_model / text_pretrained)"

RENAMED = {"clip_model": "text_model", "clip_pretrained": "text_pretrained"}


def reject_removed_options(**given: object) -> None:
    """Raise ConfigError when a removed option was given (its value differs from REMOVED)."""
    used = [name for name, value in given.items() if value != REMOVED]
    if not used:
        return
    moves = ", ".join(f"--model.{old} -> --model.{RENAMED[old]}" for old in used)
    raise ConfigError(
        f"{', '.join('--model.' + u for u in used)}: this option was renamed ({moves}; the text encoder is chosen "
        "by --model.text_encoder open_clip|sentence_transformers). Found it on the command line, in a config file, "
        "or in the hyperparameters of a checkpoint written before the rename. Fix: use the new name in commands "
        "and configs (same values); re-train a model whose checkpoint still records the old name."
    )
