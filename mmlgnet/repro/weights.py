"""`reproduce --text-weights NAME=FILE`: each NAME once, each FILE checked before any run.

Without this check a missing or garbage file failed every run of its variant, one after the other, and a NAME
given twice silently took the last file. The check reads the file the way the run will (`torch.load` with
`weights_only`, memory-mapped so that a large checkpoint is not read into memory): a state dict of tensors, or
an open_clip training checkpoint holding one under `state_dict` (keys maybe prefixed `module.`), with the CLIP
text tower's keys (the class embeddings come from it). Whether the tensors fit the architecture is left to the
run (it builds the model); this only refuses what can never load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmlgnet.errors import ConfigError
from mmlgnet.repro.groups import WEIGHTS

#: a key every CLIP text tower has (top level in open_clip's CLIP, under `text.` in its CustomTextCLIP)
TEXT_KEYS = ("token_embedding.weight", "text.token_embedding.weight")


def duplicates(pairs: Sequence[tuple[str, str]]) -> str | None:
    """The message for a NAME given more than once in --text-weights; None when each is given once."""
    seen: dict[str, list[str]] = {}
    for name, source in pairs:
        seen.setdefault(name, []).append(source)
    twice = {n: s for n, s in seen.items() if len(s) > 1}
    if not twice:
        return None
    name, sources = next(iter(twice.items()))
    return (f"--text-weights {name} is given {len(sources)} times ({', '.join(sources)}): give each NAME once "
            "(which file would the runs use?)")


def _load(path: Path) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as e:
        if "mmap" not in str(e):  # a legacy (non-zip) torch.save file cannot be memory-mapped: read it
            raise
    return torch.load(path, map_location="cpu", weights_only=True)


def problem(path: Path) -> str | None:
    """Why the file at `path` is not a CLIP checkpoint the runs can load; None when it is one."""
    import torch

    if not path.exists():
        return "no such file"
    if not path.is_file():
        return "not a file"
    try:
        raw = _load(path)
    except Exception as e:  # noqa: BLE001  (whatever torch.load raises, the runs would fail alike)
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        return f"not a readable PyTorch checkpoint ({type(e).__name__}: {first})"
    sd = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        return (f"holds a {type(raw).__name__}, not a CLIP state dict (name -> tensor) nor a training checkpoint "
                "with one under 'state_dict'")
    keys = {k.removeprefix("module.") for k in sd}
    if not keys & set(TEXT_KEYS):
        return f"a state dict without a CLIP text tower (no {TEXT_KEYS[0]!r}; e.g. {sorted(keys)[:3]})"
    return None


def check_files(pairs: Sequence[tuple[str, str]]) -> None:
    """ConfigError for a FILE (not `hub`) that is missing or not a CLIP checkpoint, naming NAME=FILE."""
    for name, source in pairs:
        if source == "hub":
            continue
        why = problem(Path(source))
        if why:
            hub = f", or {name}=hub to download it" if WEIGHTS[name][1] else ""
            raise ConfigError(f"--text-weights {name}={source}: {why}. Give the {name} CLIP checkpoint file "
                              f"(an open_clip state dict saved with torch.save){hub}.")
