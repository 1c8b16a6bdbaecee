"""mmlgnet.data.scenes.card_checks: one owner for a card's checks, whether the card is read whole or lazily."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import yaml
from cardkit import write_card_scene

from mmlgnet.data.io.download import DataError
from mmlgnet.data.scenes.card_load import load_card
from mmlgnet.data.scenes.lazy_scene import open_card_lazily

PACKAGE = Path(__file__).resolve().parents[3] / "mmlgnet"


def _roi_card(folder: Path, names: list[str]) -> Path:
    """A card whose ground truth is an ENVI ROI text file of 3 ROIs (classes 1..3) and whose class_names are `names`."""
    card, scene, _ = write_card_scene(folder, split_maps=False)
    h, w = scene.labels.shape
    lines = ["; ENVI Output of ROIs (5.0) [Thu Jan 01 00:00:00 2026]", f"; Number of ROIs: {len(scene.class_names)}",
             f"; File Dimension: {w} x {h}", ";"]
    pixels = [np.argwhere(scene.labels == k + 1) for k in range(len(scene.class_names))]
    for k, name in enumerate(scene.class_names):
        lines += [f"; ROI name: {name}", f"; ROI rgb value: {{{10 * k}, 255, 0}}", f"; ROI npts: {len(pixels[k])}"]
    lines.append(";   ID     X     Y")
    for rc in pixels:
        lines += [f"{i + 1} {c + 1} {r + 1}" for i, (r, c) in enumerate(rc)] + [""]
    (folder / "gt.txt").write_text("\n".join(lines) + "\n")
    raw = yaml.safe_load(card.read_text())
    raw.update(labels="gt.txt", class_names=names)
    card.write_text(yaml.safe_dump(raw))
    return card


@pytest.mark.parametrize("names", [["grass", "trees"], ["Grass", "Trees", "Road"]])
def test_a_lazily_opened_card_gets_the_class_checks_of_a_read_one(tmp_path: Path, names: list[str]) -> None:
    """Before: lazy_scene's own _class_names took the card's names unchecked (no ROI agreement, no label range:
    card_checks.class_names), so a streamed predict mapped a card that fit/test refused."""
    card = _roi_card(tmp_path, names)
    match = r"key 'class_names': the card lists .* but the ROI names in the 'labels' file are"
    with pytest.raises(DataError, match=match):
        load_card(card)
    with pytest.raises(DataError, match=match):
        open_card_lazily(str(card))


def test_a_lazily_opened_card_takes_its_class_names_from_the_roi_file(tmp_path: Path) -> None:
    card = _roi_card(tmp_path, ["x"])
    raw = yaml.safe_load(card.read_text())
    del raw["class_names"]
    card.write_text(yaml.safe_dump(raw))
    assert open_card_lazily(str(card)).stub.class_names == load_card(card).class_names


def test_no_module_imports_a_private_name_of_another() -> None:
    """One owner per fact: a helper shared by modules is public in one of them (was: lazy_scene and
    sampling.labelled imported _Grid, _named, _class_names of card_load and _Card of cards; sampling.scan and
    sampling.labelled imported normalization's _SAMPLE and _row_blocks, now SAMPLE_PIXELS, sample_stride, row_blocks)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mmlgnet"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")
                           and a.asname is None]  # `x as _x` renames a public name: not a private import
                if private:
                    found.append(f"{path.relative_to(PACKAGE)}: {node.module} {private}")
    assert found == []
