"""The identity of a text model's weights: what decides the class embeddings, by content, never by path or mtime.

Used twice: in the text-embedding cache key (mmlgnet.text.cache: a different file, hub revision or recipe is a
miss, never a stale hit) and in the run fingerprint (mmlgnet.repro.fingerprint through
mmlgnet.text.encoders.run_weights: a finished run is reused only with the same weights). Forms of `weights_identity`:

- untrained (`text_pretrained` null): {"untrained_seed"};
- an open_clip tag (`openai`, ...): {"tag"} (the open_clip version, recorded beside it, pins what a tag means);
- a local checkpoint file: {"kind": "file", "size", "sha256"} (mmlgnet.text.digests);
- a preset (mmlgnet.text.presets): {"preset", "recipe": {arch, activation, strict}} plus its weights: a local
  file as above, or the hub file {"kind": "hub", "repo", "file", "revision", "sha256"}: the commit of the
  Hugging Face snapshot it was resolved from and its content's sha256. With `fetch` (the cache key) a hub file
  is resolved as the run will resolve it (the cache, else a download; offline and not cached: the run's own
  ClipWeightsError); without (the fingerprint, made before any run) only the local Hugging Face cache is looked
  at, and a file not there yet is recorded with revision and sha256 null.

A sentence-transformers model folder is identified by `folder_identity` (every file's content).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mmlgnet.text import digests, hub, presets


def file_identity(path: str | Path) -> dict[str, Any]:
    """{"kind": "file", "size", "sha256"} of a local weights file; {"kind": "file", "missing"} when absent."""
    p = Path(path)
    if not p.is_file():
        return {"kind": "file", "missing": str(p)}
    return {"kind": "file", "size": p.stat().st_size, "sha256": digests.file_sha256(p)}


def folder_identity(folder: str | Path) -> dict[str, Any]:
    """{"kind": "folder", "sha256", "files"} of a model folder (sentence-transformers): by every file's content."""
    return {"kind": "folder", **digests.folder_sha256(folder)}


def hub_identity(preset: presets.Preset, arch: str, fetch: bool) -> dict[str, Any]:
    """The hub file of a preset: {"kind": "hub", "repo", "file", "revision", "sha256"} (see the module docstring)."""
    file = preset.filename.format(arch=arch)
    if preset.hub_repo is None:  # skyclip: a local file only; the run refuses it
        return {"kind": "none", "note": f"{preset.name} has no hub copy: a local file is required"}
    path = presets.weights_file(preset, None, arch) if fetch else hub.cached(preset.hub_repo, file)
    resolved = hub.file_identity(path) if path else {"revision": None, "sha256": None}
    return {"kind": "hub", "repo": preset.hub_repo, "file": file, **resolved}


def weights_identity(pretrained: str | None, arch: str, seed: int = 0, fetch: bool = True) -> dict[str, Any]:
    """What of `--model.text_pretrained` (with the architecture `arch`) decides the open_clip weights."""
    if pretrained is None:
        return {"untrained_seed": seed}
    parsed = presets.parse(pretrained)
    if parsed is not None:
        preset, path = parsed
        weights = file_identity(path) if path is not None else hub_identity(preset, arch, fetch)
        return {"preset": preset.name, "recipe": presets.recipe(preset, arch).key(), **weights}
    if os.path.isfile(pretrained):
        return file_identity(pretrained)
    return {"tag": pretrained}
