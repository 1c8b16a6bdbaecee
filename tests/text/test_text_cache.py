"""The text-embedding cache is validated on load, repaired once with one warning, and a bad folder is a UserError."""

from __future__ import annotations

import logging
import os
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import open_clip
import pytest
import torch

from mmlgnet.errors import UserError
from mmlgnet.text import cache as text_cache
from mmlgnet.text.cache import TextCacheError, TextCacheWarning, cache_identity, checksum, read_valid
from mmlgnet.text.embeddings import DEFAULT_TEMPLATES, build_prompts, cache_path, class_text_embeddings

NAMES = ["Apple trees", "Buildings", "Ground"]
TINY = "mmlgnet-tiny"
PROMPTS = build_prompts(NAMES, DEFAULT_TEMPLATES)
IDENTITY = cache_identity(TINY, None, PROMPTS, seed=0)


def embed(cache_dir: Path | None) -> tuple[torch.Tensor, list[warnings.WarningMessage]]:
    """The tiny untrained model's embeddings and the TextCacheWarnings raised on the way."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emb = class_text_embeddings(NAMES, model_name=TINY, pretrained=None, cache_dir=cache_dir)
    return emb, [w for w in caught if issubclass(w.category, TextCacheWarning)]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.Tensor, Path]:
    """One valid cache file computed for the module, and the embeddings it holds."""
    folder = tmp_path_factory.mktemp("pristine")
    emb, caught = embed(folder)
    assert not caught
    return emb, cache_path(TINY, None, PROMPTS, folder)


@pytest.fixture
def cached(pristine: tuple[torch.Tensor, Path], tmp_path: Path) -> tuple[torch.Tensor, Path]:
    """A copy of the valid cache file under tmp_path (where the cache of tmp_path is looked up)."""
    emb, source = pristine
    path = tmp_path / source.name
    shutil.copyfile(source, path)
    return emb, path


def _resave(path: Path, emb: torch.Tensor, **changes: object) -> None:
    """Rewrite the cache with `emb` and a checksum that matches it (so only the other checks can object)."""
    record = torch.load(path, weights_only=True)
    record.update(embeddings=emb, dim=int(emb.shape[-1]) if emb.ndim == 2 else 0, checksum=checksum(emb, IDENTITY))
    record.update(changes)
    torch.save(record, path)


def _flip_payload_bytes(path: Path, emb: torch.Tensor) -> None:
    """Flip 2 bytes inside the float data of the zip archive: torch.load still succeeds."""
    data = bytearray(path.read_bytes())
    at = data.find(emb.numpy().tobytes())
    assert at > 0 and data.count(emb.numpy().tobytes()) == 1
    for j in (0, 1):  # the high bytes of elements (0, 0) and (0, 1): sign and 7 exponent bits (little-endian)
        data[at + 4 * j + 3] |= 0x02  # exponent bit 2 set: ×16 when it was clear
    path.write_bytes(bytes(data))
    loaded = torch.load(path, weights_only=True)["embeddings"]
    assert abs(float(loaded[0].norm()) - 1) > 0.1  # the corruption is real and loadable


def _flip_lowest_bit(path: Path, emb: torch.Tensor) -> None:
    """Change one mantissa bit: still unit norm within 1e-4, only the checksum can tell."""
    data = bytearray(path.read_bytes())
    data[data.find(emb.numpy().tobytes()) + 4] ^= 0x01
    path.write_bytes(bytes(data))
    loaded = torch.load(path, weights_only=True)["embeddings"]
    assert not torch.equal(loaded, emb) and float((loaded.norm(dim=-1) - 1).abs().max()) < 1e-6


CORRUPTIONS: dict[str, tuple[Callable[[Path, torch.Tensor], None], str]] = {
    "flipped_payload_bytes": (_flip_payload_bytes, "norm|not finite"),
    "flipped_lowest_bit": (_flip_lowest_bit, "checksum mismatch"),
    "truncated": (lambda p, e: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "unreadable"),
    "garbage": (lambda p, e: p.write_bytes(os.urandom(3000)), "unreadable"),
    "empty": (lambda p, e: p.write_bytes(b""), "unreadable"),
    "wrong_rows": (lambda p, e: _resave(p, e[:2].clone()), r"shape \(2, 64\).*expected \(3, 64\)"),
    "wrong_width": (lambda p, e: _resave(p, torch.nn.functional.normalize(e[:, :32], dim=-1)), r"expected \(3, 64\)"),
    "stored_dim_disagrees": (lambda p, e: _resave(p, e, dim=32), "stored dim 32"),
    "not_unit_norm": (lambda p, e: _resave(p, e * 1.01), "class 0 has norm 1.01"),
    "not_finite": (lambda p, e: _resave(p, torch.where(torch.arange(64) == 5, float("nan"), e)), "3 of 192 values"),
    "float64": (lambda p, e: _resave(p, e.double()), "float32"),
    "wrong_checksum": (lambda p, e: _resave(p, e, checksum="0" * 64), "checksum mismatch"),
    "other_prompts": (lambda p, e: _resave(p, e, prompts=[["x"]] * 3), "prompts differ"),
    "old_format": (lambda p, e: torch.save({"embeddings": e, "prompts": PROMPTS}, p), "not a checksummed"),
    "not_a_dict": (lambda p, e: torch.save(e, p), "not a checksummed"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_invalid_cache_is_detected(name: str, cached: tuple[torch.Tensor, Path]) -> None:
    emb, path = cached
    corrupt, reason = CORRUPTIONS[name]
    corrupt(path, emb)
    bad, problem = read_valid(path, IDENTITY, 64)
    assert bad is None and re.search(reason, problem), problem
    assert "\n" not in problem


#: The cases the issue lists, each taken through the whole repair (each recomputes: ~1 s).
REPAIRED = ["flipped_payload_bytes", "flipped_lowest_bit", "truncated", "garbage", "wrong_rows", "not_unit_norm",
            "wrong_checksum", "old_format"]


@pytest.mark.parametrize("name", REPAIRED)
def test_invalid_cache_is_warned_once_and_repaired(
    name: str, cached: tuple[torch.Tensor, Path], caplog: pytest.LogCaptureFixture
) -> None:
    emb, path = cached
    corrupt, reason = CORRUPTIONS[name]
    corrupt(path, emb)
    caplog.set_level(logging.WARNING)
    again, caught = embed(path.parent)
    assert len(caught) == 1, [str(w.message) for w in caught]  # one warning ...
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # ... and not a second by logging
    message = str(caught[0].message)
    assert str(path) in message and "\n" not in message and "recomputing" in message
    assert re.search(reason, message), message
    torch.testing.assert_close(again, emb, rtol=0, atol=0)  # recomputed, not the corrupt values
    repaired, problem = read_valid(path, IDENTITY, 64)  # rewritten, valid
    assert repaired is not None and problem == ""
    torch.testing.assert_close(repaired, emb, rtol=0, atol=0)
    assert not list(path.parent.glob("*.tmp"))
    assert embed(path.parent)[1] == []  # repaired for good: no warning the next time


def test_valid_cache_records_checksum_and_is_a_silent_hit(
    cached: tuple[torch.Tensor, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    emb, path = cached
    record = torch.load(path, weights_only=True)
    assert record["checksum"] == checksum(emb, IDENTITY) and record["dim"] == 64
    assert read_valid(path, IDENTITY, None)[1] == ""  # without a known model width: the stored dim decides
    monkeypatch.setattr(open_clip, "create_model", lambda *a, **k: pytest.fail("built the model on a cache hit"))
    hit, caught = embed(path.parent)
    assert caught == [] and torch.equal(hit, emb)


def test_read_only_cache_folder_still_serves_hits(
    cached: tuple[torch.Tensor, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    emb, path = cached
    monkeypatch.setattr(text_cache.os, "access", lambda *a, **k: False)  # the folder is not writable
    assert torch.equal(embed(path.parent)[0], emb)  # a hit needs no write access
    with pytest.raises(TextCacheError, match="not writable"), pytest.warns(UserWarning, match="UNTRAINED"):
        class_text_embeddings(["Other"], model_name=TINY, pretrained=None, cache_dir=path.parent)


def _no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(open_clip, "create_model", lambda *a, **k: pytest.fail("model built before the cache check"))


@pytest.mark.parametrize("where", ["file", "under_a_file"])
def test_mmlgnet_cache_pointing_at_a_file(where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "cache.txt"
    blocker.write_text("not a folder")
    root = blocker if where == "file" else blocker / "deeper"
    monkeypatch.setenv("MMLGNET_CACHE", str(root))
    _no_model(monkeypatch)
    with pytest.raises(TextCacheError) as info:
        embed(None)
    msg = str(info.value)
    assert isinstance(info.value, UserError) and not isinstance(info.value, NotADirectoryError)
    assert f"MMLGNET_CACHE={root}" in msg and f"{blocker} is a file, not a folder" in msg
    assert "point MMLGNET_CACHE at a writable folder" in msg


def test_unwritable_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        root = locked / "cache"  # cannot be created
    elif Path("/sys").is_dir():
        root = Path("/sys/mmlgnet-test-cache")  # not creatable even by root
    else:
        pytest.skip("running as root without /sys: no folder is unwritable")
    _no_model(monkeypatch)
    with pytest.raises(TextCacheError, match=r"--model.text_cache_dir=.*cannot be created.*Fix: give"):
        embed(root / "text")
    monkeypatch.setenv("MMLGNET_CACHE", str(root))
    with pytest.raises(TextCacheError, match=f"MMLGNET_CACHE={root}: cannot use {root / 'text'}"):
        embed(None)
