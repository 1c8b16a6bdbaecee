"""A scene card maps ENVI ROI names to display names (`class_names:` as a mapping, checked one to one), and the
display names hold on every path: read whole, opened lazily, read by windows past the memory budget.

Before (issue 18 item 5): `class_names` had to be a list equal to the ROI names, so the Houston contest card
carried `grass_healthy`, ... instead of the published names; a mapping was refused as "expected a non-empty list".
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from cardkit import write_card_scene
from conftest import SHARED_DATA

from mmlgnet.data.datamodule import HSILidarDataModule
from mmlgnet.data.io.download import DataError
from mmlgnet.data.sampling.labelled import open_labelled_card
from mmlgnet.data.scenes.card_load import load_card
from mmlgnet.data.scenes.catalog import SPECS
from mmlgnet.data.scenes.check import main as check_main
from mmlgnet.data.scenes.lazy_scene import open_card_lazily

ROI = ["grass_healthy", "tree", "road"]
SHOWN = {"grass_healthy": "Healthy grass", "tree": "Trees", "road": "Road"}
HOUSTON = SHARED_DATA / "houston2013"
VA = HOUSTON / "2013_IEEE_GRSS_DF_Contest_Samples_VA.txt"
SHIPPED = Path(__file__).resolve().parents[3] / "mmlgnet" / "configs" / "scenes" / "houston2013_contest.yaml"


def write_roi_text(path: Path, labels: np.ndarray, names: list[str]) -> Path:
    """An ENVI ROI ASCII export of the (H, W) label map `labels`: ROI k holds the pixels of label k (1-based X, Y)."""
    h, w = labels.shape
    pixels = [np.argwhere(labels == k + 1) for k in range(len(names))]  # (n_k, 2) row, col
    lines = ["; ENVI Output of ROIs (5.0) [Thu Jan 01 00:00:00 2026]", f"; Number of ROIs: {len(names)}",
             f"; File Dimension: {w} x {h}", ";"]
    for k, name in enumerate(names):
        lines += [f"; ROI name: {name}", f"; ROI rgb value: {{{10 * k}, 255, 0}}", f"; ROI npts: {len(pixels[k])}"]
    lines.append(";   ID     X     Y")
    for rc in pixels:
        lines += [f"{i + 1} {c + 1} {r + 1}" for i, (r, c) in enumerate(rc)] + [""]
    path.write_text("\n".join(lines) + "\n")
    return path


def roi_card(folder: Path, class_names: object, names: tuple[list[str], list[str]] = (ROI, ROI),
             **extra: object) -> Path:
    """The cardkit scene with its train/test maps as ENVI ROI text files (ROI names `names`) and `class_names`."""
    card, _, _ = write_card_scene(folder)
    raw = yaml.safe_load(card.read_text())
    split = load_card(card)  # the GeoTIFF train/test maps, written again as ROI text
    for key, roi in zip(("train", "test"), names, strict=True):
        labels = split.train_map if key == "train" else split.test_map
        assert labels is not None
        write_roi_text(folder / f"{key}.txt", labels, roi)
        raw[key] = f"{key}.txt"
    raw.update(class_names=class_names, **extra)
    card.write_text(yaml.safe_dump(raw, sort_keys=False))
    return card


def test_display_names_hold_read_whole_lazily_and_by_windows(tmp_path: Path) -> None:
    descriptions = {"Healthy grass": ["a lawn"], "Trees": ["tree crowns"], "Road": ["asphalt"]}
    card = roi_card(tmp_path, dict(reversed(SHOWN.items())), class_descriptions=descriptions)  # order: the ROIs'
    want = ("Healthy grass", "Trees", "Road")
    whole = load_card(card)
    assert whole.class_names == want
    assert whole.class_descriptions == {k: tuple(v) for k, v in descriptions.items()}
    assert whole.palette == ((0, 255, 0), (10, 255, 0), (20, 255, 0))  # the ROI colours, in ROI order
    assert open_card_lazily(str(card)).stub.class_names == want  # streamed predict: maps and legends
    lazy, scene = open_labelled_card(str(card), None, require_hsi=True)
    lazy.close()
    assert scene.class_names == want and np.array_equal(scene.labels, whole.labels)
    dm = HSILidarDataModule(scene=str(card), split="standard", patch_size=5, scene_in_memory="auto",
                            memory_budget_mb=0.01, stream="never")  # over the budget: labelled patches by window
    dm.setup("fit")
    assert dm._windowed is not None and dm.scene.hsi is not None and dm.scene.hsi.strides == (0, 0, 0)
    assert dm.class_names == list(want)  # what the CLI links into the model: prompts, metrics, maps
    assert dm.class_descriptions == descriptions


def _error(card: Path, load: bool = True) -> str:
    """The DataError of reading `card` whole (load) or lazily; it starts with the card file and a key."""
    with pytest.raises(DataError) as e:
        load_card(card) if load else open_card_lazily(str(card))
    text = str(e.value)
    assert text.startswith(f"Scene card {card.resolve()}, key ")
    return text


@pytest.mark.parametrize("lazily", [False, True], ids=["whole", "lazily"])
def test_every_roi_name_is_mapped_exactly_once(tmp_path: Path, lazily: bool) -> None:
    unmapped = roi_card(tmp_path / "a", {"grass_healthy": "Healthy grass", "tre": "Trees"})
    text = _error(unmapped, not lazily)
    assert "key 'class_names': the ROI name(s) ['tree', 'road'] of the 'train' and 'test' file(s) are not mapped" in text
    assert "['tre'] is not ROI name(s)" in text and "misspelt? 'tre' -> 'tree'" in text
    assert "Map every ROI name exactly once, spelt as in the files: ['grass_healthy', 'tree', 'road']" in text
    differ = roi_card(tmp_path / "b", SHOWN, names=(ROI, ["grass_healthy", "road", "tree"]))
    text = _error(differ, not lazily)
    assert "the ROI files name different ROIs or the same in another order" in text and "same order" in text


def test_one_display_name_per_roi_and_each_roi_name_once(tmp_path: Path) -> None:
    shared = roi_card(tmp_path / "a", {**SHOWN, "road": "Trees"})
    text = _error(shared)
    assert "key 'class_names': ROI names ['tree', 'road'] all map to 'Trees'" in text and "its own display" in text
    twice = roi_card(tmp_path / "b", SHOWN)
    lines = twice.read_text().replace("  road: Road\n", "  road: Road\n  tree: Woods\n")
    twice.write_text(lines)
    text = _error(twice)
    assert re.search(r"key 'class_names': 'tree' is given twice \(lines \d+ and \d+\)", text), text
    repeated_key = roi_card(tmp_path / "c", SHOWN)
    repeated_key.write_text(repeated_key.read_text() + "name: again\n")
    assert re.search(r"key 'name': given twice \(lines \d+ and \d+\)\. Give each key once", _error(repeated_key))


def test_a_mapping_needs_roi_text_labels_and_descriptions_use_display_names(tmp_path: Path) -> None:
    card, _, _ = write_card_scene(tmp_path / "a", extra={"class_names": SHOWN})  # GeoTIFF split maps: no ROI names
    text = _error(card)
    assert "key 'class_names': a mapping ROI name -> display name, but no label file" in text
    assert "Give class_names as a list in label order" in text
    by_roi = roi_card(tmp_path / "b", SHOWN, class_descriptions={"tree": ["tree crowns"]})
    for load in (True, False):
        text = _error(by_roi, load)
        assert "key 'class_descriptions': unknown class(es) ['tree']" in text
        assert "Key them by the display names class_names maps the ROI names to: tree -> Trees" in text


def test_a_list_that_differs_from_the_roi_names_points_to_the_mapping(tmp_path: Path) -> None:
    card = roi_card(tmp_path, list(SHOWN.values()))
    text = _error(card)
    assert "but the ROI names in the 'train' file are ['grass_healthy', 'tree', 'road']" in text
    assert "map the ROI names to yours (`class_names: {ROI name: your name, ...}`)" in text


@pytest.mark.skipif(not VA.is_file(), reason="no shared Houston 2013 test ROIs")
def test_the_shipped_houston_mapping_on_the_real_test_rois(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped card's mapping over the real contest test ROIs (and TRLabel.mat as the train map where it is
    here; else the ROIs are the whole ground truth): the published names, the published per-class counts."""
    spec = SPECS["houston2013"]
    shipped = yaml.safe_load(SHIPPED.read_text())
    raw = {"name": "houston_va", "lidar": "dsm.npy", "class_names": shipped["class_names"],
           "class_descriptions": shipped["class_descriptions"], "palette": shipped["palette"]}
    np.save(tmp_path / "dsm.npy", np.zeros((spec.height, spec.width), dtype=np.float32))  # (349, 1905) stand-in
    (tmp_path / VA.name).symlink_to(VA)
    train_mat = HOUSTON / "TRLabel.mat"
    if train_mat.is_file():
        (tmp_path / "TRLabel.mat").symlink_to(train_mat)
        raw.update(train={"path": "TRLabel.mat", "key": "TRLabel"}, test=VA.name)
    else:
        raw.update(labels=VA.name)
    card = tmp_path / "houston.yaml"
    card.write_text(yaml.safe_dump(raw, sort_keys=False))
    scene = load_card(card, require_hsi=False)
    assert scene.class_names == spec.class_names  # the published names, spelt as the catalogue's
    assert set(scene.class_descriptions) == set(spec.class_names)
    assert spec.standard_split is not None
    train_counts, test_counts = spec.standard_split
    assert int(sum(test_counts)) == 12_197  # DATASETS.md: the Houston test split
    assert check_main([str(card)]) == 0
    out = capsys.readouterr().out
    assert "grass_healthy" not in out
    if scene.test_map is not None:
        assert tuple(np.bincount(scene.test_map.ravel(), minlength=16)[1:]) == test_counts
        assert tuple(np.bincount(scene.train_map.ravel(), minlength=16)[1:]) == train_counts  # type: ignore[union-attr]
        assert "standard split (train/test maps): 2832 train, 12197 test pixels" in out
        assert re.search(r"\n +1 +Healthy grass +1251 +198 +1053\n", out), out
        assert re.search(r"\n +15 +Running Track +660 +187 +473\n", out), out
    else:
        assert tuple(np.bincount(scene.labels.ravel(), minlength=16)[1:]) == test_counts
        assert re.search(r"\n +1 +Healthy grass +1053\b", out) and re.search(r"\n +15 +Running Track +473\b", out)
