"""Content digests (sha256) of weights files and model folders, remembered between runs without trusting stale ones.

A text model's weights are identified by what is in the file, never by its path, size or mtime: a file rewritten
with other bytes of the same size and its mtime set back (`os.utime`, `cp -p`, `rsync -t`) is another model.
Hashing a 1.7 GB checkpoint on every run is slow, so a digest is remembered in `digests.json` beside the text
cache, keyed by the file's resolved path with its size, mtime, ctime, inode and device. The ctime cannot be set
from user space and changes on every write (and on utime), so a rewrite always misses the remembered entry.
Like git's "racy" index entries, a digest is remembered only when the file's last change (mtime and ctime) is
more than RACY_S seconds older than the hashing: a file changed again within the timestamp granularity of its
filesystem could otherwise keep the same stat. The store is best effort: unreadable or unwritable, it is ignored
and every digest is computed from the content.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from mmlgnet.atomic import write_json

#: A digest is remembered only for files whose last change is older than this (timestamp granularity margin).
RACY_S = 2.0
_CHUNK = 1 << 22
#: Files of a model folder that cannot change its embeddings (documentation), left out of the folder digest.
_DOC_SUFFIXES = (".md",)


def default_cache_dir() -> Path:
    """`$MMLGNET_CACHE/text` when MMLGNET_CACHE is set, else ~/.cache/mmlgnet/text."""
    root = os.environ.get("MMLGNET_CACHE")
    return Path(root) / "text" if root else Path.home() / ".cache" / "mmlgnet" / "text"


def store_path() -> Path:
    """`digests.json` in the mmlgnet cache root ($MMLGNET_CACHE, else ~/.cache/mmlgnet)."""
    return default_cache_dir().parent / "digests.json"


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _load_store(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of the file's content (remembered per path + full stat; see the module docstring)."""
    real = Path(path).resolve()
    st = real.stat()
    key, stat = str(real), _stat_key(st)
    store_file = store_path()
    entry = _load_store(store_file).get(key)
    if isinstance(entry, dict) and entry.get("stat") == stat and isinstance(entry.get("sha256"), str):
        return str(entry["sha256"])
    started = time.time_ns()
    sha = _hash(real)
    settled = max(st.st_mtime_ns, st.st_ctime_ns) < started - int(RACY_S * 1e9)
    if settled and real.stat().st_ctime_ns == st.st_ctime_ns:  # unchanged while it was read
        store = _load_store(store_file)
        store[key] = {"stat": stat, "sha256": sha}
        try:
            write_json(store_file, store)
        except OSError:  # the store is an optimisation: an unwritable cache folder only costs time
            pass
    return sha


def folder_files(folder: str | Path) -> list[Path]:
    """The files of a model folder that decide the model: every non-hidden file except documentation."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts)
                  and p.suffix.lower() not in _DOC_SUFFIXES)


def folder_sha256(folder: str | Path) -> dict[str, Any]:
    """{"sha256", "files"} of a model folder: sha256 over each file's relative path and content sha256."""
    root = Path(folder)
    digest = hashlib.sha256()
    files = folder_files(root)
    for p in files:
        digest.update(f"{p.relative_to(root).as_posix()}\0{file_sha256(p)}\0".encode())
    return {"sha256": digest.hexdigest(), "files": len(files)}
