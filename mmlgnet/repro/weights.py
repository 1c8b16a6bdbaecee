"""`reproduce --text-weights NAME=FILE`: each NAME once, each FILE checked before any run.

Without this check a missing or garbage file failed every run of its variant, one after the other, and a NAME
given twice silently took the last file. The check reads the file the way the run will (the presets' reader:
`torch.load` with `weights_only`, memory-mapped so that a large checkpoint is not read into memory; safetensors
for a `.safetensors` file): a state dict of tensors, or
an open_clip training checkpoint holding one under `state_dict` (keys maybe prefixed `module.`), with the CLIP
text tower's keys (the class embeddings come from it). Whether the tensors fit the architecture is left to the
run (it builds the model); this only refuses what can never load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mmlgnet.errors import ConfigError
from mmlgnet.repro.groups import WEIGHTS


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


def _keys(path: Path) -> set[str]:
    """The state-dict keys of a weights file, read the way the run reads it: `.safetensors` by safetensors (open_clip
    loads those for a local `openai` file), anything else by the presets' reader (torch.load, weights_only,
    memory-mapped). Raises ClipWeightsError for a file that is not a CLIP state dict."""
    from mmlgnet.text.presets import read_state_dict

    if path.suffix == ".safetensors":
        from safetensors import safe_open

        from mmlgnet.text.openclip_encoder import ClipWeightsError

        try:
            with safe_open(str(path), framework="pt") as f:
                return set(f.keys())
        except Exception as e:  # noqa: BLE001  (whatever safetensors raises, the runs would fail alike)
            raise ClipWeightsError(f"not a readable safetensors file ({type(e).__name__}: {str(e)[:200]})") from e
    return {k.removeprefix("module.") for k in read_state_dict(str(path), mmap=True)}


def problem(path: Path) -> str | None:
    """Why the file at `path` is not a CLIP checkpoint the runs can load; None when it is one."""
    from mmlgnet.text.openclip_encoder import ClipWeightsError
    from mmlgnet.text.presets import TEXT_TOWER_KEYS

    if not path.exists():
        return "no such file"
    if not path.is_file():
        return "not a file"
    try:
        keys = _keys(path)
    except ClipWeightsError as e:
        return str(e).removeprefix(f"{path}: ").split(". Expected")[0]
    if not keys:
        return "an empty state dict"
    if not keys & set(TEXT_TOWER_KEYS):
        return f"a state dict without a CLIP text tower (no {TEXT_TOWER_KEYS[0]!r}; e.g. {sorted(keys)[:3]})"
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
