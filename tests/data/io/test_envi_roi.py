"""Tests of mmlgnet.data.io.envi_roi: the real Houston 2013 test ROIs equal TSLabel, and malformed ROI files are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmlgnet.data.io.download import DataError, MissingDataError
from mmlgnet.data.io.envi_roi import parse_envi_roi, read_envi_roi
from mmlgnet.data.io.matfiles import read_mat
from tests.conftest import SHARED_DATA

HOUSTON = SHARED_DATA / "houston2013"
VA = HOUSTON / "2013_IEEE_GRSS_DF_Contest_Samples_VA.txt"
# DATASETS.md: Houston 2013 test pixels per class (TSLabel), classes 1..15 in the official order.
HOUSTON_TEST_COUNTS = [1053, 1064, 505, 1056, 1056, 143, 1072, 1053, 1059, 1036, 1054, 1041, 285, 247, 473]


@pytest.mark.skipif(not (VA.is_file() and (HOUSTON / "TSLabel.mat").is_file()), reason="no shared Houston data")
def test_real_houston_test_rois_equal_tslabel() -> None:
    rois = parse_envi_roi(VA, shape=(349, 1905))
    expected = read_mat(HOUSTON / "TSLabel.mat", "TSLabel")
    assert rois.labels.shape == expected.shape == (349, 1905)
    np.testing.assert_array_equal(rois.labels, expected.astype(np.int64))
    assert np.bincount(rois.labels.ravel(), minlength=16)[1:].tolist() == HOUSTON_TEST_COUNTS
    assert rois.names[:3] == ("grass_healthy", "grass_stressed", "grass_synthetic") and len(rois.names) == 15
    assert rois.names[-1] == "running_track" and rois.palette[0] == (0, 205, 0)


def _roi_file(path: Path, rois: list[tuple[str, list[tuple[int, int]]]], dims: str = "4 x 3",
              count: int | None = None, npts: list[int] | None = None, crlf: bool = False) -> Path:
    """An ENVI ROI ASCII export in the contest's layout: header, one blank-line-separated block per ROI."""
    head = ["; ENVI Output of ROIs (4.8) [Tue Oct 31 19:11:26 2023]",
            f"; Number of ROIs: {len(rois) if count is None else count}", f"; File Dimension: {dims}", ";"]
    for i, (name, xy) in enumerate(rois):
        n = len(xy) if npts is None else npts[i]
        head += [f"; ROI name: {name}", f"; ROI rgb value: {{{i * 10}, 255, 0}}", f"; ROI npts: {n}", ";"]
    lines = head[:-1] + [";    ID     X    Y"]
    for _, xy in rois:
        if xy:
            lines += [f"{j + 1:7d} {x:5d} {y:4d}" for j, (x, y) in enumerate(xy)] + [""]
    path.write_text(("\r\n" if crlf else "\n").join(lines).rstrip() + "\n", newline="")
    return path


def test_synthetic_rois_give_classes_in_roi_order(tmp_path: Path) -> None:
    path = _roi_file(tmp_path / "r.txt", [("Trees", [(1, 1), (4, 3)]), ("Empty", []), ("Road", [(2, 1)])],
                     crlf=True)
    rois = parse_envi_roi(path, shape=(3, 4))
    np.testing.assert_array_equal(rois.labels, [[1, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]])
    assert rois.names == ("Trees", "Empty", "Road") and rois.palette == ((0, 255, 0), (10, 255, 0), (20, 255, 0))
    labels, names = read_envi_roi(path)
    np.testing.assert_array_equal(labels, rois.labels)
    assert names == rois.names


def test_extra_columns_and_other_header_lines_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "wide.txt"
    path.write_text("; ENVI Output of ROIs (5.0)\n; Number of ROIs: 1\n; File Dimension: 3 x 2\n;\n"
                    "; ROI name: Water\n; ROI rgb value: {0, 0, 255}\n; ROI type: point\n; ROI npts: 2\n"
                    ";   ID     X     Y    Map X     Map Y     B1     B2\n"
                    "     1     3     2  271460.0  3290891.0  0.12  0.30\n     2     1     1  271462.5  3290891.0  0.1  0.2\n")
    np.testing.assert_array_equal(read_envi_roi(path)[0], [[1, 0, 0], [0, 0, 1]])


def _refused(path: Path, match: str, shape: tuple[int, int] | None = None) -> str:
    with pytest.raises(DataError, match=match) as info:
        parse_envi_roi(path, shape)
    message = str(info.value)
    assert str(path) in message and "Export the ROIs again from ENVI" in message
    return message


def test_empty_file_and_bad_header(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    _refused(tmp_path / "empty.txt", "found 'an empty file'")
    (tmp_path / "csv.txt").write_text("x,y,class\n1,2,3\n")
    _refused(tmp_path / "csv.txt", r"csv\.txt, line 1: expected an ENVI ROI ASCII export")
    (tmp_path / "nodim.txt").write_text("; ENVI Output of ROIs\n; Number of ROIs: 0\n")
    _refused(tmp_path / "nodim.txt", r"no '; File Dimension: W x H' line")
    bad_rgb = _roi_file(tmp_path / "rgb.txt", [("A", [(1, 1)])])
    bad_rgb.write_text(bad_rgb.read_text().replace("{0, 255, 0}", "red"))
    _refused(bad_rgb, r"rgb\.txt, line 6: unreadable ROI header line")
    bad_npts = _roi_file(tmp_path / "npts.txt", [("A", [(1, 1)])])
    bad_npts.write_text(bad_npts.read_text().replace("ROI npts: 1", "ROI npts: one"))
    _refused(bad_npts, r"npts\.txt, line 7: unreadable ROI header line")
    _refused(_roi_file(tmp_path / "count.txt", [("A", [(1, 1)])], count=2), "'Number of ROIs: 2' but describes 1")


def test_npts_mismatch_names_the_roi_and_line(tmp_path: Path) -> None:
    path = _roi_file(tmp_path / "n.txt", [("A", [(1, 1)]), ("B", [(2, 2), (3, 3)])], npts=[1, 3])
    _refused(path, r"n\.txt, line 15: ROI 'B' \(declared line 9\) says npts 3 but its block has 2 row\(s\)")
    path = _roi_file(tmp_path / "blocks.txt", [("A", [(1, 1)]), ("B", [(2, 2)])], npts=[1, 0])
    _refused(path, r"1 ROI\(s\) with points in the header but 2 block\(s\)")


def test_out_of_range_coordinates(tmp_path: Path) -> None:
    for xy, line in (((5, 1), 9), ((1, 4), 9), ((0, 1), 9)):
        path = _roi_file(tmp_path / "o.txt", [("A", [xy])])
        _refused(path, rf"o\.txt, line {line}: ROI 'A': pixel X={xy[0]}, Y={xy[1]} lies outside .* 4 x 3")


def test_dimension_checked_against_the_scene(tmp_path: Path) -> None:
    path = _roi_file(tmp_path / "d.txt", [("A", [(1, 1)])])
    _refused(path, r"'File Dimension: 4 x 3' \(W x H\) does not match .* \(H, W\) = \(4, 3\)", shape=(4, 3))


def test_overlapping_rois_name_both_and_the_pixel(tmp_path: Path) -> None:
    path = _roi_file(tmp_path / "ov.txt", [("Trees", [(1, 1), (2, 2)]), ("Road", [(3, 3), (2, 2)])])
    _refused(path, r"ov\.txt, line 17: pixel X=2, Y=2 belongs to ROI 'Trees' and again to ROI 'Road'")
    path = _roi_file(tmp_path / "dup.txt", [("Trees", [(1, 1), (2, 2), (1, 1)])])
    _refused(path, r"dup\.txt, line 11: pixel X=1, Y=1 belongs to ROI 'Trees' and again to ROI 'Trees'")


def test_bad_data_row_and_missing_file(tmp_path: Path) -> None:
    path = _roi_file(tmp_path / "row.txt", [("A", [(1, 1), (2, 2)])])
    path.write_text(path.read_text().replace("      2     2    2", "      2   2.5    2"))
    _refused(path, r"row\.txt, line 10: expected a data row 'ID X Y \.\.\.' of whole numbers, found '2   2\.5    2'")
    with pytest.raises(MissingDataError, match="no such file"):
        parse_envi_roi(tmp_path / "absent.txt")


def test_roi_colours_become_the_palette_of_a_card_without_one(tmp_path: Path) -> None:
    """Issue 15 item 9: the README says ROI colours give the palette; they never did. A card's palette still wins."""
    import yaml
    from cardkit import write_card_scene

    from mmlgnet.data.io.envi_roi import read_roi_colours
    from mmlgnet.data.scenes.card_load import load_card
    from mmlgnet.data.scenes.lazy_scene import open_card_lazily

    card, scene, _ = write_card_scene(tmp_path, split_maps=False)
    h, w = scene.labels.shape
    rois = [(name, [(int(c) + 1, int(r) + 1) for r, c in np.argwhere(scene.labels == k + 1)])
            for k, name in enumerate(scene.class_names)]
    _roi_file(tmp_path / "gt.txt", rois, dims=f"{w} x {h}")
    assert read_roi_colours(tmp_path / "gt.txt") == ((0, 255, 0), (10, 255, 0), (20, 255, 0))
    raw = yaml.safe_load(card.read_text())
    raw["labels"] = "gt.txt"
    card.write_text(yaml.safe_dump(raw))
    loaded = load_card(card)
    np.testing.assert_array_equal(loaded.labels, scene.labels)
    assert loaded.palette == ((0, 255, 0), (10, 255, 0), (20, 255, 0))
    assert open_card_lazily(str(card)).stub.palette == loaded.palette  # the windowed/streaming paths too
    raw["palette"] = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    card.write_text(yaml.safe_dump(raw))
    assert load_card(card).palette == ((1, 2, 3), (4, 5, 6), (7, 8, 9))
