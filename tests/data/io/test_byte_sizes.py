"""Every reader refuses a file whose bytes are not exactly what its header declares (mmlgnet.data.io.byte_sizes).

GDAL reads a short ENVI binary with the missing pixels as zeros and `interleave = xyz` as bsq; np.load accepts a
.npy with extra bytes. Each case must be a one-line DataError naming the file, the expected and actual sizes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from mmlgnet.data.io.download import DataError
from mmlgnet.data.io.matfiles import read_mat, write_mat
from mmlgnet.data.io.readers import read_raster
from mmlgnet.data.io.windows import open_raster
from mmlgnet.data.scenes.card_load import load_card
from mmlgnet.data.scenes.lazy_scene import open_card_lazily
from tests.cardkit import CRS, TRANSFORM, write_card_scene

H, W, C = 6, 7, 4
SIZE = H * W * C * 2  # uint16 ENVI binary


def _envi(path: Path, cube: np.ndarray | None = None) -> Path:
    """An (H, W, C) uint16 cube written by GDAL as ENVI `path` (.img) + its .hdr."""
    cube = np.arange(1, H * W * C + 1, dtype=np.uint16).reshape(H, W, C) if cube is None else cube
    h, w, c = cube.shape
    with rasterio.open(path, "w", driver="ENVI", height=h, width=w, count=c, dtype=cube.dtype.name, crs=CRS,
                       transform=TRANSFORM) as ds:
        ds.write(cube.transpose(2, 0, 1))
    return path


def _edit(path: Path, change: Callable[[str], str]) -> None:
    text = path.read_text()
    new = change(text)
    assert new != text
    path.write_text(new)


def _refused(path: Path, *needles: str) -> None:
    """read_raster and open_raster (the in-memory and the windowed reader) both refuse `path`, one line."""
    for reader in (read_raster, open_raster):
        with pytest.raises(DataError) as info:
            reader(path)
        msg = str(info.value)
        assert "\n" not in msg and str(path) in msg, msg
        for needle in needles:
            assert needle in msg, msg


def test_envi_cut_to_half_is_refused_naming_the_sizes(tmp_path: Path) -> None:
    img = _envi(tmp_path / "scene.img")
    img.write_bytes(img.read_bytes()[:SIZE // 2])
    _refused(img, f"declares {SIZE} bytes", f"has {SIZE // 2} bytes", "truncated", "header offset")
    _refused(tmp_path / "scene.hdr", f"declares {SIZE} bytes", str(img))  # given by its header


@pytest.mark.parametrize("key,more", [("lines", H + 3), ("samples", W + 2), ("bands", C + 1)])
def test_envi_header_declaring_more_than_the_binary_holds(tmp_path: Path, key: str, more: int) -> None:
    img = _envi(tmp_path / "scene.img")
    old = {"lines": H, "samples": W, "bands": C}[key]
    _edit(tmp_path / "scene.hdr", lambda t: t.replace(f"{key}   = {old}\n", f"{key} = {more}\n", 1)
          .replace(f"{key} = {old}\n", f"{key} = {more}\n", 1))
    _refused(img, f"declares {SIZE // old * more} bytes", f"has {SIZE} bytes")


def test_envi_binary_longer_than_declared(tmp_path: Path) -> None:
    img = _envi(tmp_path / "scene.img")
    img.write_bytes(img.read_bytes() + b"\0" * 10)
    _refused(img, f"declares {SIZE} bytes", f"has {SIZE + 10} bytes", "longer than declared")


def test_envi_header_offset_counts_and_a_right_one_reads(tmp_path: Path) -> None:
    cube = np.arange(1, H * W * C + 1, dtype=np.uint16).reshape(H, W, C)
    img = _envi(tmp_path / "scene.img", cube)
    _edit(tmp_path / "scene.hdr", lambda t: t.replace("header offset = 0", "header offset = 16"))
    _refused(img, f"declares {SIZE + 16} bytes", f"has {SIZE} bytes")
    img.write_bytes(b"x" * 16 + img.read_bytes())  # now the binary holds the declared offset
    np.testing.assert_array_equal(read_raster(img).array, cube)
    with open_raster(img) as src:
        np.testing.assert_array_equal(src.read(slice(None), slice(None)), cube)


def test_unknown_interleave_is_refused_and_case_is_ignored(tmp_path: Path) -> None:
    cube = np.arange(1, H * W * C + 1, dtype=np.uint16).reshape(H, W, C)
    img = _envi(tmp_path / "scene.img", cube)
    _edit(tmp_path / "scene.hdr", lambda t: t.replace("interleave = bsq", "interleave = xyz"))
    for reader in (read_raster, open_raster):
        with pytest.raises(DataError, match=r"interleave = xyz.*bsq, bil, bip") as info:
            reader(img)
        assert str(tmp_path / "scene.hdr") in str(info.value) and "\n" not in str(info.value)
    _edit(tmp_path / "scene.hdr", lambda t: t.replace("interleave = xyz", "interleave = BSQ"))
    np.testing.assert_array_equal(read_raster(img).array, cube)


def _envi_card(tmp_path: Path) -> tuple[Path, Path]:
    """A card whose HSI is an ENVI cube (the GeoTIFF scene of cardkit, HSI rewritten as ENVI)."""
    card, scene, _ = write_card_scene(tmp_path / "s")
    assert scene.hsi is not None
    img = _envi(card.parent / "hsi.img", scene.hsi.astype(np.float32))
    raw = yaml.safe_load(card.read_text())
    card.write_text(yaml.safe_dump({**raw, "hsi": "hsi.img", "nodata": -9999.0}, sort_keys=False))
    return card, img


def test_truncated_envi_is_refused_by_the_fit_and_streaming_loaders(tmp_path: Path) -> None:
    card, img = _envi_card(tmp_path)
    size = img.stat().st_size
    assert load_card(card).hsi is not None  # the whole ENVI cube reads
    img.write_bytes(img.read_bytes()[:size // 2])
    with pytest.raises(DataError, match=f"declares {size} bytes but the file has {size // 2} bytes"):
        load_card(card)  # what fit/test/predict read in memory
    with pytest.raises(DataError, match=f"declares {size} bytes but the file has {size // 2} bytes"):
        open_card_lazily(str(card))  # the windowed (streaming) path, at open time


def test_check_command_refuses_a_truncated_envi(tmp_path: Path) -> None:
    card, img = _envi_card(tmp_path)
    size = img.stat().st_size
    img.write_bytes(img.read_bytes()[:size // 2])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MMLGNET_DEBUG": ""}
    p = subprocess.run([sys.executable, "-m", "mmlgnet.data", "check", str(card)], capture_output=True, text=True,
                       env=env, timeout=600)  # hang guard (imports are slow under load)
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.startswith("error: ") and p.stderr.count("\n") == 1, p.stderr
    assert "hsi.img" in p.stderr and f"declares {size} bytes but the file has {size // 2} bytes" in p.stderr
    assert "Traceback" not in p.stderr and "ok" not in p.stdout.split()


@pytest.mark.parametrize("cut", ["half", "longer"])
def test_npy_of_the_wrong_size_is_one_line_naming_the_sizes(tmp_path: Path, cut: str) -> None:
    path = tmp_path / "cube.npy"
    np.save(path, np.ones((H, W, C), dtype=np.float32))
    good = path.read_bytes()
    path.write_bytes(good[:len(good) // 2] if cut == "half" else good + b"\0" * 4)
    actual = path.stat().st_size
    _refused(path, f"declares {len(good)} bytes", f"has {actual} bytes")


@pytest.mark.parametrize("version", ["5", "7.3"])
@pytest.mark.parametrize("cut", ["half", "longer"])
def test_mat_of_the_wrong_size_is_one_line_naming_the_sizes(tmp_path: Path, version: str, cut: str) -> None:
    cube = np.arange(H * W * C, dtype=np.float32).reshape(H, W, C)
    path = write_mat(tmp_path / "cube.mat", {"HSI": cube}, version)  # type: ignore[arg-type]
    good = path.read_bytes()
    assert len(good) // 2 > 128  # the cut is past the 128-byte MATLAB header
    path.write_bytes(good[:len(good) // 2] if cut == "half" else good + b"\0" * 8)
    actual = path.stat().st_size
    for read in (lambda: read_mat(path, "HSI"), lambda: read_raster(path, key="HSI"),
                 lambda: open_raster(path, key="HSI")):
        with pytest.raises(DataError) as info:
            read()
        msg = str(info.value)
        assert "\n" not in msg and str(path) in msg, msg
        assert f"declares {len(good)} bytes" in msg and f"has {actual} bytes" in msg, msg
