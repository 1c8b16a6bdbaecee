"""The scene cards shipped in configs/scenes: they parse, name missing files, and the Houston ROIs match the card."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import SHARED_DATA

from mmlgnet.data.io.download import DataError
from mmlgnet.data.scenes.cards import CARD_KEYS
from mmlgnet.data.scenes.check import main as check_main

SCENES = Path(__file__).resolve().parents[3] / "configs" / "scenes"
CARDS = sorted(SCENES.glob("*.yaml"))
HOUSTON = SHARED_DATA / "houston2013"
VA = "2013_IEEE_GRSS_DF_Contest_Samples_VA.txt"


def _files(raw: dict) -> list[str]:
    """Every file path a card names (hsi, lidar list, label maps)."""
    out = []
    for key in ("hsi", "lidar", "labels", "train", "test"):
        value = raw.get(key)
        for v in value if isinstance(value, list) else [value]:
            if v is not None:
                out.append(v["path"] if isinstance(v, dict) else v)
    return out


def _names(raw: dict) -> list[str]:
    """The class names a card gives: its list, or the display names its ROI-name mapping gives."""
    names = raw["class_names"]
    return list(names.values()) if isinstance(names, dict) else list(names)


def test_there_are_cards():
    assert {p.name for p in CARDS} >= {"houston2013_contest.yaml", "trento_split.yaml", "augsburg_hs_dsm.yaml"}


@pytest.mark.parametrize("card", CARDS, ids=lambda p: p.name)
def test_card_keys_and_sha256_cover_every_file(card):
    raw = yaml.safe_load(card.read_text())
    assert set(raw) <= set(CARD_KEYS), set(raw) - set(CARD_KEYS)
    names = _names(raw)
    assert len(names) == len(raw["palette"]) == len(set(names))
    assert set(raw.get("class_descriptions") or {}) <= set(names)  # keyed by the class (display) names
    if "sha256" in raw:
        assert set(raw["sha256"]) == set(_files(raw))
        assert all(len(d) == 64 and int(d, 16) >= 0 for d in raw["sha256"].values())
    else:  # only a card whose files could not be downloaded here, and it must say so and how to add them
        assert "no sha256" in card.read_text() and "sha256sum" in card.read_text()
    assert raw.get("citation")


@pytest.mark.parametrize("card", CARDS, ids=lambda p: p.name)
def test_card_parses_and_a_missing_file_is_named(card, tmp_path):
    """With the files beside the card (empty stand-ins) the card parses; drop one and loading names it."""
    from mmlgnet.data.scenes.card_load import load_card
    from mmlgnet.data.scenes.cards import parse_card

    tmp_path = tmp_path.resolve()
    raw = yaml.safe_load(card.read_text())
    copy = tmp_path / card.name
    shutil.copy(card, copy)
    files = _files(raw)
    for f in files:
        (tmp_path / f).write_bytes(b"")
    parsed = parse_card(copy)  # cards.py's own parser: no unknown key, every entry well-typed
    if isinstance(raw["class_names"], dict):
        assert parsed.display_names == raw["class_names"] and parsed.class_names is None
    else:
        assert parsed.class_names == tuple(raw["class_names"])
    for f in files:
        (tmp_path / f).unlink()
        with pytest.raises(DataError, match=re.escape(str(tmp_path / f))):
            load_card(copy, require_hsi=False)
        (tmp_path / f).write_bytes(b"")
    (tmp_path / files[0]).unlink()
    assert check_main([str(copy)]) == 2


def test_augsburg_card_on_matlab_files_of_its_layout(tmp_path, capsys):
    """The Augsburg card read end to end on .mat files of the release's layout (keys, 2-D DSM, split maps) written
    here with random values: the card's keys, class count and split wiring work; sizes are the release's."""
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    h, w = 332, 485
    shutil.copy(SCENES / "augsburg_hs_dsm.yaml", tmp_path / "card.yaml")
    savemat(tmp_path / "data_HS_LR.mat", {"data_HS_LR": rng.random((h, w, 180), dtype=np.float32)})
    savemat(tmp_path / "data_DSM.mat", {"data_DSM": rng.random((h, w)).astype(np.float32)})
    train, test = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    train[0, :7], test[1, :7] = np.arange(1, 8), np.arange(1, 8)
    savemat(tmp_path / "TrainImage.mat", {"TrainImage": train})
    savemat(tmp_path / "TestImage.mat", {"TestImage": test})
    assert check_main([str(tmp_path / "card.yaml")]) == 0
    out = capsys.readouterr().out
    assert "size: 332 x 485 pixels (H x W)" in out and "standard split (train/test maps): 7 train, 7 test pixels" in out


@pytest.mark.skipif(not (HOUSTON / VA).is_file(), reason="no shared Houston 2013 data")
def test_houston_contest_test_rois_match_the_card_and_tslabel():
    from mmlgnet.data.io.envi_roi import parse_envi_roi
    from mmlgnet.data.io.matfiles import read_mat

    raw = yaml.safe_load((SCENES / "houston2013_contest.yaml").read_text())
    assert raw["test"] == VA
    rois = parse_envi_roi(HOUSTON / VA, shape=(349, 1905))
    assert set(raw["class_names"]) == set(rois.names)  # the card maps every ROI name of the file
    from mmlgnet.data.scenes.catalog import SPECS

    assert tuple(raw["class_names"][n] for n in rois.names) == SPECS["houston2013"].class_names  # published names
    ts = read_mat(HOUSTON / "TSLabel.mat", "TSLabel")
    np.testing.assert_array_equal(rois.labels, ts)
    expected = (1053, 1064, 505, 1056, 1056, 143, 1072, 1053, 1059, 1036, 1054, 1041, 285, 247, 473)  # DATASETS.md
    assert tuple(np.bincount(rois.labels.ravel(), minlength=16)[1:]) == expected
    from mmlgnet.data.io.download import sha256sum

    assert sha256sum(HOUSTON / VA) == raw["sha256"][VA]


@pytest.mark.skipif(not (SHARED_DATA / "trento" / "TSLabel.mat").is_file(), reason="no shared Trento data")
def test_trento_card_on_the_real_lidar_and_split_files(tmp_path, capsys):
    """The shipped Trento card (its HSI line dropped: no cube in the shared data) checks the real files:
    sha256, keys, sizes, and the published 819 / 29,395 split counts."""
    raw = yaml.safe_load((SCENES / "trento_split.yaml").read_text())
    del raw["hsi"], raw["sha256"]["HSI.mat"]
    for f in _files(raw):
        (tmp_path / f).symlink_to(SHARED_DATA / "trento" / f)
    card = tmp_path / "trento.yaml"
    card.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert check_main([str(card)]) == 0
    out = capsys.readouterr().out
    assert "size: 166 x 600 pixels (H x W)" in out and "HSI bands: none (no HSI file: LiDAR-only runs only)" in out
    assert "standard split (train/test maps): 819 train, 29395 test pixels" in out
    assert "  1  Apple trees      4034      129     3905" in out
    assert "per_class:20: 6/6 classes" in out and "fraction:0.05: 6/6 classes" in out
