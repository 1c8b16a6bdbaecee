"""Which text weights made the embeddings: the text-cache key and the run fingerprint identify them by content and
recipe (hub revision + sha256, a local file's sha256, a sentence-transformers folder's files), never by path,
size or mtime; the hub is reached only through huggingface_hub (its offline mode and HF_ENDPOINT)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import time
from pathlib import Path

import pytest

from mmlgnet.repro.fingerprint import Fingerprinter
from mmlgnet.text import digests, hub, presets
from mmlgnet.text.cache import cache_file, cache_identity
from mmlgnet.text.encoders import make_encoder
from mmlgnet.text.openclip_encoder import ClipWeightsError
from mmlgnet.text.weights_id import weights_identity

ROWS = [["a tree."], ["a road."]]


def _rewrite_same_size_and_mtime(path: Path, data: bytes) -> None:
    """Other bytes of the same length, the mtime set back: only the content (and the ctime) differ."""
    st = path.stat()
    assert len(data) == st.st_size and data != path.read_bytes()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size


def _fingerprint(model: dict) -> str:
    return Fingerprinter().of_config({"data": {"scene": "synthetic"}, "model": model}).full


def test_cache_key_differs_when_only_the_activation_differs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = tmp_path / "RS5M_ViT-B-32.pt"
    weights.write_bytes(b"same weights")
    key = {}
    for activation in ("quick_gelu", "gelu"):  # the same file, architecture and strictness
        monkeypatch.setitem(presets.PRESETS, "georsclip", dataclasses.replace(
            presets.PRESETS["georsclip"], activations=(("ViT-B-32", activation), ("ViT-H-14", "gelu"))))
        key[activation] = cache_file(cache_identity("ViT-B-32", f"georsclip:{weights}", ROWS, 0), "georsclip",
                                     tmp_path)
    assert key["quick_gelu"] != key["gelu"]
    identity = cache_identity("ViT-B-32", f"georsclip:{weights}", ROWS, 0)["pretrained"]
    assert identity["recipe"] == {"arch": "ViT-B-32", "activation": "gelu", "strict": False}


def test_a_local_weights_file_is_identified_by_content_not_path_size_or_mtime(tmp_path: Path) -> None:
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights v1")
    for pretrained in (str(weights), f"remoteclip:{weights}"):
        before = cache_identity("ViT-B-32", pretrained, ROWS, 0)
        fp_before = _fingerprint({"text_model": "ViT-B-32", "text_pretrained": pretrained})
        _rewrite_same_size_and_mtime(weights, b"weights v2" if b"v1" in weights.read_bytes() else b"weights v1")
        assert cache_identity("ViT-B-32", pretrained, ROWS, 0) != before
        assert _fingerprint({"text_model": "ViT-B-32", "text_pretrained": pretrained}) != fp_before
    moved = tmp_path / "elsewhere" / "copy.pt"
    moved.parent.mkdir()
    moved.write_bytes(weights.read_bytes())
    assert weights_identity(str(moved), "ViT-B-32") == weights_identity(str(weights), "ViT-B-32")  # not the path
    assert weights_identity(str(weights), "ViT-B-32")["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_remembered_digests_are_never_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """digests.json serves a digest only while the file's full stat (ctime included) is unchanged."""
    monkeypatch.setattr(digests, "RACY_S", 0.0)  # remember even a file changed a moment ago
    path = tmp_path / "w.pt"
    path.write_bytes(b"weights v1")
    assert digests.file_sha256(path) == hashlib.sha256(b"weights v1").hexdigest()
    store = digests.store_path()
    assert str(path.resolve()) in store.read_text()  # remembered
    ctime = path.stat().st_ctime_ns
    data = b"weights v2"
    for _ in range(500):  # until the filesystem's coarse clock shows the rewrite in the ctime
        _rewrite_same_size_and_mtime(path, data)
        if path.stat().st_ctime_ns != ctime:
            break
        data = b"weights v1" if data == b"weights v2" else b"weights v2"
        time.sleep(0.01)
    assert digests.file_sha256(path) == hashlib.sha256(data).hexdigest()


def _fake_hf_cache(root: Path, repo: str, filename: str, revision: str, content: bytes) -> None:
    """The Hugging Face cache layout: refs/main -> commit, snapshots/<commit>/<file> -> blobs/<sha256>."""
    folder = root / f"models--{repo.replace('/', '--')}"
    sha = hashlib.sha256(content).hexdigest()
    (folder / "blobs").mkdir(parents=True, exist_ok=True)
    (folder / "blobs" / sha).write_bytes(content)
    link = folder / "snapshots" / revision / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(folder / "blobs" / sha, link.parent))
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(revision)


def test_a_hub_preset_is_identified_by_revision_and_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    model = {"text_model": "ViT-B-32", "text_pretrained": "remoteclip"}
    absent = _fingerprint(model)
    ident = weights_identity("remoteclip", "ViT-B-32", fetch=False)
    assert ident["kind"] == "hub" and ident["revision"] is None and ident["sha256"] is None  # not cached yet
    _fake_hf_cache(tmp_path / "hf", "chendelong/RemoteCLIP", "RemoteCLIP-ViT-B-32.pt", "a" * 40, b"weights v1")
    first = _fingerprint(model)
    ident = weights_identity("remoteclip", "ViT-B-32", fetch=False)
    assert ident == {"preset": "remoteclip", "recipe": {"arch": "ViT-B-32", "activation": "quick_gelu", "strict": True},
                     "kind": "hub", "repo": "chendelong/RemoteCLIP", "file": "RemoteCLIP-ViT-B-32.pt",
                     "revision": "a" * 40, "sha256": hashlib.sha256(b"weights v1").hexdigest()}
    assert weights_identity("remoteclip", "ViT-B-32", fetch=True) == ident  # the cache key: the same file
    _fake_hf_cache(tmp_path / "hf", "chendelong/RemoteCLIP", "RemoteCLIP-ViT-B-32.pt", "b" * 40, b"weights v2")
    second = _fingerprint(model)
    assert len({absent, first, second}) == 3  # a new revision of the hub file is a new fingerprint
    key = cache_identity("ViT-B-32", "remoteclip", ROWS, 0)
    assert key["pretrained"]["revision"] == "b" * 40


def test_fingerprint_records_the_text_library_versions() -> None:
    import open_clip
    import sentence_transformers

    versions = Fingerprinter().of_config({"data": {"scene": "synthetic"}}).payload["versions"]
    assert versions["open_clip"] == open_clip.__version__
    assert versions["sentence_transformers"] == sentence_transformers.__version__


def test_a_sentence_transformers_folder_is_identified_by_content(tmp_path: Path) -> None:
    folder = tmp_path / "st"
    folder.mkdir()
    (folder / "modules.json").write_text("[]")
    (folder / "model.safetensors").write_bytes(b"weights v1")
    (folder / "README.md").write_text("documentation")
    model = {"text_encoder": "sentence_transformers", "text_model": str(folder), "text_pretrained": "pretrained"}
    key = make_encoder("sentence_transformers", str(folder), "pretrained").identity(ROWS)
    fp = _fingerprint(model)
    assert str(folder) not in str(key["pretrained"]) and key["pretrained"]["files"] == 2  # content, not the path
    (folder / "README.md").write_text("other documentation")  # cannot change the model
    assert make_encoder("sentence_transformers", str(folder), "pretrained").identity(ROWS) == key
    _rewrite_same_size_and_mtime(folder / "model.safetensors", b"weights v2")
    assert make_encoder("sentence_transformers", str(folder), "pretrained").identity(ROWS) != key
    assert _fingerprint(model) != fp


def test_the_hub_is_reached_through_huggingface_hub_and_its_endpoint(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_ENDPOINT (a mirror) is where a download goes; nothing of ours opens a socket to huggingface.co."""
    import huggingface_hub.constants as hf_constants

    with socket.socket() as s:  # a port nothing listens on: the mirror is down
        s.bind(("127.0.0.1", 0))
        mirror = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(hf_constants, "ENDPOINT", mirror)  # what HF_ENDPOINT sets when huggingface_hub is imported
    monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", mirror + "/{repo_id}/resolve/{revision}/{filename}")
    import huggingface_hub.utils._http as hf_http

    monkeypatch.setattr(hf_http.time, "sleep", lambda seconds: None)  # its retries' back-off (~23 s), skipped
    hosts: list[str] = []
    real_connect, real_getaddrinfo = socket.create_connection, socket.getaddrinfo

    def connect(address, *a, **k):
        hosts.append(str(address[0]))
        return real_connect(address, *a, **k)

    def getaddrinfo(host, *a, **k):
        hosts.append(str(host))
        return real_getaddrinfo(host, *a, **k)

    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(ClipWeightsError) as info:
        presets.weights_file(presets.PRESETS["remoteclip"], None, "ViT-B-32")
    assert not [h for h in hosts if "huggingface.co" in h]
    assert mirror in str(info.value) and "hf download" in str(info.value)
    assert hub.endpoint() == mirror and not hub.offline()
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)  # huggingface_hub's own offline switch
    assert hub.offline()
    with pytest.raises(ClipWeightsError, match="offline"):
        presets.weights_file(presets.PRESETS["remoteclip"], None, "ViT-B-32")
