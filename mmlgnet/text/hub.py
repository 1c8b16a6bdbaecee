"""The Hugging Face hub through huggingface_hub only: its offline switch, its endpoint and its HTTP client.

No probe of our own: `HF_HUB_OFFLINE` (huggingface_hub's offline mode) means no request at all; otherwise
huggingface_hub talks to its configured endpoint (`HF_ENDPOINT`, e.g. a mirror) through its own HTTP client
(proxies from the environment, its timeouts `HF_HUB_ETAG_TIMEOUT` / `HF_HUB_DOWNLOAD_TIMEOUT`). A file in the
Hugging Face cache is used without any request. A resolved file is identified by the commit of its snapshot
folder and the sha256 of its content (the blob's name for LFS files, else hashed: mmlgnet.text.digests).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from mmlgnet.text import digests

_SHA256 = re.compile(r"[0-9a-f]{64}")


class HubUnavailable(Exception):
    """A hub file is not in the Hugging Face cache and cannot be downloaded now (offline, unreachable, missing)."""


def offline() -> bool:
    """huggingface_hub's offline mode (HF_HUB_OFFLINE), also when the variable was set after it was imported."""
    import huggingface_hub.constants as hf_constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    is_offline = getattr(hf_constants, "is_offline_mode", None)  # huggingface_hub >= 1.0; its constant before
    return env or bool(is_offline() if is_offline is not None else hf_constants.HF_HUB_OFFLINE)


def endpoint() -> str:
    """The hub endpoint huggingface_hub uses (HF_ENDPOINT, default https://huggingface.co)."""
    import huggingface_hub.constants as hf_constants

    return str(hf_constants.ENDPOINT)


def cached(repo_id: str, filename: str) -> str | None:
    """The file's path in the Hugging Face cache (no request), or None."""
    import huggingface_hub
    from huggingface_hub.utils import EntryNotFoundError  # also where older huggingface_hub versions have it

    try:
        return str(huggingface_hub.hf_hub_download(repo_id, filename, local_files_only=True))
    except (EntryNotFoundError, OSError, ValueError):  # not cached (LocalEntryNotFoundError), bad cache entry
        return None


def download(repo_id: str, filename: str) -> str:
    """The file from the Hugging Face cache, else downloaded by huggingface_hub; HubUnavailable saying why not."""
    path = cached(repo_id, filename)
    if path is not None:
        return path
    if offline():
        raise HubUnavailable(f"offline (HF_HUB_OFFLINE is set) and {repo_id}/{filename} is not in the Hugging Face "
                             "cache")
    import huggingface_hub

    try:
        return str(huggingface_hub.hf_hub_download(repo_id, filename))
    except Exception as e:  # connection, HTTP (401/404), disk: all mean "cannot have it now"
        text = " ".join(str(e).split())
        raise HubUnavailable(f"downloading {repo_id}/{filename} from {endpoint()} failed ({type(e).__name__}: "
                             f"{text[:300]})") from e


def file_identity(path: str | Path) -> dict[str, Any]:
    """{"revision", "sha256"} of a file resolved from the Hugging Face cache: the commit of its snapshot folder
    (None outside a snapshot) and the sha256 of its content (an LFS blob is named by it, else it is hashed)."""
    parts = Path(path).parts
    at = [i for i in range(1, len(parts) - 2) if parts[i] == "snapshots" and parts[i - 1].startswith("models--")]
    revision = parts[at[-1] + 1] if at else None
    real = Path(os.path.realpath(path))
    sha = real.name if real.parent.name == "blobs" and _SHA256.fullmatch(real.name) else digests.file_sha256(real)
    return {"revision": revision, "sha256": sha}
