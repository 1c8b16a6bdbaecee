"""Checksums, the missing-file error and pooch downloads against a local HTTP server."""

from __future__ import annotations

import functools
import hashlib
import socket
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mmlgnet.data.io.download import ChecksumError, DataError, MissingDataError, ensure_files
from mmlgnet.data.scenes.catalog_load import FileSpec


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a temporary folder: (base URL, folder)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_present_files_verified(tmp_path: Path) -> None:
    (tmp_path / "a.mat").write_bytes(b"alpha")
    spec = FileSpec("a.mat", _sha(b"alpha"), "http://example.invalid/a.mat", "a")
    assert ensure_files(tmp_path, [spec], download=False) == {"a.mat": tmp_path / "a.mat"}


def test_checksum_mismatch_names_file_and_both_hashes(tmp_path: Path) -> None:
    (tmp_path / "a.mat").write_bytes(b"corrupt")
    spec = FileSpec("a.mat", _sha(b"alpha"), "http://example.invalid/a.mat", "a")
    with pytest.raises(ChecksumError) as err:
        ensure_files(tmp_path, [spec], download=False)
    msg = str(err.value)
    assert "a.mat" in msg and _sha(b"alpha") in msg and _sha(b"corrupt") in msg
    assert "http://example.invalid/a.mat" in msg and "Delete" in msg
    assert ensure_files(tmp_path, [spec], download=False, verify=False)  # trusted anyway


def test_missing_files_reported_together(tmp_path: Path) -> None:
    specs = [
        FileSpec("a.mat", None, "http://example.invalid/a.mat", "a"),
        FileSpec("b.mat", None, None, "b", "http://example.invalid/z.zip", "dir/b.mat"),
    ]
    with pytest.raises(MissingDataError) as err:
        ensure_files(tmp_path, specs, download=False)
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, DataError)
    assert str(tmp_path / "a.mat") in msg and str(tmp_path / "b.mat") in msg
    assert "http://example.invalid/a.mat" in msg and "http://example.invalid/z.zip" in msg and "dir/b.mat" in msg
    assert "--data.download true" in msg


def test_download_from_local_server(tmp_path: Path, server: tuple[str, Path]) -> None:
    url, served = server
    (served / "a.mat").write_bytes(b"alpha")
    root = tmp_path / "data"
    paths = ensure_files(root, [FileSpec("a.mat", _sha(b"alpha"), f"{url}/a.mat", "a")], download=True)
    assert paths["a.mat"].read_bytes() == b"alpha" and paths["a.mat"].parent == root


def test_download_with_wrong_pin_raises_and_keeps_nothing(tmp_path: Path, server: tuple[str, Path]) -> None:
    url, served = server
    (served / "a.mat").write_bytes(b"tampered")
    with pytest.raises(ChecksumError, match="does not match"):
        ensure_files(tmp_path, [FileSpec("a.mat", _sha(b"alpha"), f"{url}/a.mat", "a")], download=True)
    assert not (tmp_path / "a.mat").exists()


def test_download_archive_members(tmp_path: Path, server: tuple[str, Path]) -> None:
    url, served = server
    with zipfile.ZipFile(served / "bundle.zip", "w") as zf:
        zf.writestr("Scene/HSI.mat", b"cube")
        zf.writestr("Scene/LiDAR.mat", b"dsm")
        zf.writestr("Scene/other.txt", b"x")
    zip_url = f"{url}/bundle.zip"
    specs = [FileSpec("HSI.mat", _sha(b"cube"), None, "HSI", zip_url, "Scene/HSI.mat"),
             FileSpec("LiDAR.mat", _sha(b"dsm"), None, "LiDAR", zip_url, "Scene/LiDAR.mat")]
    paths = ensure_files(tmp_path, specs, download=True)
    assert paths["HSI.mat"].read_bytes() == b"cube" and paths["LiDAR.mat"].read_bytes() == b"dsm"
    assert paths["HSI.mat"] == tmp_path / "HSI.mat"


def test_archive_member_with_wrong_hash(tmp_path: Path, server: tuple[str, Path]) -> None:
    url, served = server
    with zipfile.ZipFile(served / "bundle.zip", "w") as zf:
        zf.writestr("Scene/HSI.mat", b"changed")
    spec = FileSpec("HSI.mat", _sha(b"cube"), None, "HSI", f"{url}/bundle.zip", "Scene/HSI.mat")
    with pytest.raises(ChecksumError, match="HSI.mat"):
        ensure_files(tmp_path, [spec], download=True)


def test_offline_error_lists_where_to_put_files(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that nothing listens on: connection refused, like offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = FileSpec("a.mat", None, f"http://127.0.0.1:{port}/a.mat", "a")
    with pytest.raises(MissingDataError) as err:
        ensure_files(tmp_path, [spec], download=True)
    msg = str(err.value)
    assert "offline" in msg and str(tmp_path / "a.mat") in msg and spec.url in msg
