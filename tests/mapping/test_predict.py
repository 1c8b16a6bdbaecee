"""`python -m mmlgnet predict`: every pixel classified, class map .npy + PNGs (prediction, truth, errors, confusion)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np

from mmlgnet.cli import main
from mmlgnet.mapping import maps

REPO = Path(__file__).resolve().parents[2]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml"),
        "--data.synthetic_height", "24", "--data.synthetic_width", "40", "--data.synthetic_classes", "4",
        "--data.split", "per_class:10", "--data.eval_batch_size", "128"]
PNGS = ("prediction.png", "ground_truth.png", "error_map.png", "confusion_matrix.png")


def test_predict_subcommand_writes_maps(tmp_path):
    runs = tmp_path / "runs"
    main(["fit", *BASE, "--trainer.logger.init_args.save_dir", str(runs), "--test_after_fit", "true",
          "--trainer.limit_test_batches", "null"])
    ckpt = next(runs.rglob("last.ckpt"))
    out = tmp_path / "maps"
    main(["predict", *BASE, "--trainer.logger.init_args.save_dir", str(runs), "--ckpt_path", str(ckpt),
          "--predict_writer.output_dir", str(out)])
    pred = np.load(out / "prediction.npy")
    assert pred.shape == (24, 40) and pred.dtype == np.int16
    assert pred.min() >= 1 and pred.max() <= 4  # every pixel, background included, gets a class 1..K
    conf = np.load(out / "confidence.npy")
    assert conf.shape == (24, 40) and (conf > 0).all() and (conf <= 1).all()
    for name in PNGS:
        img = mpimg.imread(out / name)
        assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50, name
    summary = json.loads((out / "maps.json").read_text())
    test = json.loads(next(runs.rglob("test_metrics.json")).read_text())
    # the map restricted to the test pixels gives the same scores as the test loop
    assert summary["confusion_matrix"] == test["confusion_matrix"]
    assert abs(summary["OA"] - test["OA"]) < 1e-6 and sum(summary["predicted_class_counts"]) == 24 * 40


def test_predict_after_fit_writes_into_log_dir(tmp_path):
    runs = tmp_path / "runs"
    main(["fit", *BASE, "--trainer.logger.init_args.save_dir", str(runs), "--predict_after_fit", "true"])
    maps_dir = next(runs.rglob("maps"))
    assert (maps_dir.parent / "checkpoints" / "last.ckpt").is_file()
    assert all((maps_dir / n).is_file() for n in PNGS)


def test_map_colours_error_map_and_confusion():
    labels = np.array([[0, 1], [2, 2]])
    rgb = maps.class_map_rgb(labels, [(255, 0, 0), (0, 0, 255)], 2)
    assert rgb.shape == (2, 2, 3) and tuple(rgb[0, 0]) == maps.BACKGROUND and tuple(rgb[0, 1]) == (255, 0, 0)
    assert tuple(rgb[1, 0]) == (0, 0, 255)
    pred = np.array([[1, 1], [2, 1]])
    test = np.array([1, 2, 3])
    err = maps.error_map_rgb(pred, labels, test)
    assert tuple(err[0, 0]) == maps.NOT_TESTED and tuple(err[0, 1]) == maps.CORRECT and tuple(err[1, 1]) == maps.WRONG
    conf = maps.confusion_from_maps(pred, labels, test, 2)
    assert conf.tolist() == [[1, 0], [1, 1]]
    assert maps.normalized_confusion(conf).tolist() == [[1.0, 0.0], [0.5, 0.5]]
    assert maps.palette_array((), 3).shape == (3, 3)  # no palette: tab20 colours
