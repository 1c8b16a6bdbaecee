"""Open-vocabulary evaluation through the CLI: held-out classes (fit/test) and predict with another class list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from cardkit import write_card_scene

from mmlgnet.cli import main, run

REPO = Path(__file__).resolve().parents[2]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml")]


def _gzsl_by_hand(confusion: np.ndarray, unseen: list[int]) -> dict[str, Any]:
    """Mean per-class accuracy over seen / unseen classes with test pixels, and their harmonic mean (numpy)."""
    rows = confusion.sum(axis=1)
    acc = {i: 100.0 * confusion[i, i] / rows[i] for i in range(len(rows)) if rows[i] > 0}
    s = float(np.mean([a for i, a in acc.items() if i not in unseen]))
    u = float(np.mean([a for i, a in acc.items() if i in unseen]))
    return {"seen_accuracy": s, "unseen_accuracy": u, "harmonic_mean": 2 * s * u / (s + u) if s + u else 0.0}


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> dict[str, Any]:
    """A card scene (3 classes), fitted and tested with its class 2 held out."""
    tmp = tmp_path_factory.mktemp("openvocab")
    card, scene, _ = write_card_scene(tmp / "a")
    unseen = scene.class_names[1]
    main(["fit", *BASE, "--data.scene", str(card), "--data.unseen_classes", f"[{unseen}]",
          "--trainer.logger.init_args.save_dir", str(tmp / "runs"), "--test_after_fit", "true"])
    (metrics,) = (tmp / "runs").rglob("test_metrics.json")
    return {"tmp": tmp, "card": card, "scene": scene, "unseen": unseen, "metrics": metrics,
            "ckpt": next((tmp / "runs").rglob("last.ckpt"))}


def test_fit_test_with_an_unseen_class(held_out):
    rec = json.loads(held_out["metrics"].read_text())
    names = list(held_out["scene"].class_names)
    assert rec["unseen_classes"] == [held_out["unseen"]] and rec["seen_classes"] == [names[0], names[2]]
    confusion = np.array(rec["confusion_matrix"])
    assert confusion.shape == (3, 3) and confusion[1].sum() > 0  # test scores all K classes, the unseen one too
    for key, value in _gzsl_by_hand(confusion, [1]).items():
        assert rec[key] == pytest.approx(value, abs=1e-9), key
    # the saved split: no training (or validation) pixel of the unseen class, its test pixels all there
    run_dir = held_out["metrics"].parent
    split = np.load(run_dir / "split.npz")
    labels = held_out["scene"].labels.reshape(-1)
    assert (labels[split["train"]] != 2).all() and (labels[split["val"]] != 2).all() and len(split["train"]) > 0
    assert (labels[split["test"]] == 2).sum() == confusion[1].sum()
    summary = json.loads((run_dir / "split.json").read_text())
    assert summary["unseen_classes"] == [held_out["unseen"]] and summary["empty_train_classes"] == []
    ckpt = torch.load(held_out["ckpt"], map_location="cpu", weights_only=True)
    assert ckpt["hyper_parameters"]["unseen_classes"] == [held_out["unseen"]]


def test_test_adopts_the_checkpoints_unseen_classes_and_refuses_others(held_out, tmp_path, capsys):
    base = ["test", *BASE, "--data.scene", str(held_out["card"]), "--ckpt_path", str(held_out["ckpt"]),
            "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]
    main(base)  # --data.unseen_classes not repeated: the checkpoint's held-out class is reported
    rec = json.loads(next((tmp_path / "runs").rglob("test_metrics.json")).read_text())
    first = json.loads(held_out["metrics"].read_text())
    assert rec["unseen_classes"] == [held_out["unseen"]]
    assert rec["confusion_matrix"] == first["confusion_matrix"] and rec["harmonic_mean"] == first["harmonic_mean"]
    with pytest.raises(SystemExit) as e:
        run([*base, "--data.unseen_classes", "[1]"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--data.unseen_classes" in err and held_out["unseen"] in err


@pytest.mark.parametrize("args,words", [
    (["--data.unseen_classes", "[nope]"], ["--data.unseen_classes", "'nope' is not a class"]),
    (["--data.unseen_classes", "[1, 2, 3]"], ["--data.unseen_classes", "holds out all 3 classes"]),
    (["--data.unseen_classes", "[1]", "--model.head", "linear"], ["--model.head linear", "--data.unseen_classes"]),
])
def test_bad_unseen_options_exit_2(tmp_path, capsys, args, words):
    card, _, _ = write_card_scene(tmp_path / "a")
    with pytest.raises(SystemExit) as e:
        run(["fit", *BASE, "--data.scene", str(card), "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
             *args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err


def _predict(held_out: dict[str, Any], card: Path, out: Path, *extra: str) -> dict[str, Any]:
    main(["predict", *BASE, "--data.scene", str(card), "--ckpt_path", str(held_out["ckpt"]),
          "--trainer.logger.init_args.save_dir", str(out / "runs"), "--predict_writer.output_dir", str(out), *extra])
    return {"pred": np.load(out / "prediction.npy"), **json.loads((out / "maps.json").read_text())}


def test_predict_with_another_class_list(held_out, tmp_path, capsys):
    """The class embeddings are recomputed for the given list: the trained list reversed reverses the class ids
    of the default map pixel for pixel; another scene's class list is refused unless the list is given."""
    import rasterio

    names = list(held_out["scene"].class_names)
    default = _predict(held_out, held_out["card"], tmp_path / "default")
    flipped = _predict(held_out, held_out["card"], tmp_path / "flipped",
                       "--model.predict_class_names", json.dumps(names[::-1]))
    valid = default["pred"] > 0
    assert flipped["class_names"] == names[::-1] and default["class_names"] == names
    assert np.array_equal(flipped["pred"][valid], len(names) + 1 - default["pred"][valid])
    assert flipped["OA"] is None and flipped["test_pixels"] == 0  # ids of another list: not scored on the labels
    # another scene whose labels use other class names: refused by default, mapped with an explicit list
    other, _, _ = write_card_scene(tmp_path / "b", extra={"class_names": ["x", "y", "z"]})
    with pytest.raises(SystemExit) as e:
        run(["predict", *BASE, "--data.scene", str(other), "--ckpt_path", str(held_out["ckpt"]),
             "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")])
    assert e.value.code == 2 and "class" in capsys.readouterr().err
    new = ["meadow", "roof", "road", "water"]
    mapped = _predict(held_out, other, tmp_path / "new", "--model.predict_class_names", json.dumps(new))
    assert mapped["class_names"] == new and mapped["pred"].max() <= len(new) and (mapped["pred"] > 0).any()
    with rasterio.open(tmp_path / "new" / "prediction.tif") as src:
        assert json.loads(src.tags()["class_names"]) == new
    ckpt = torch.load(held_out["ckpt"], map_location="cpu", weights_only=True)
    assert "predict_class_names" not in ckpt["hyper_parameters"]  # a predict-time option, never saved


def test_predict_class_names_outside_predict_exit_2(held_out, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        run(["test", *BASE, "--data.scene", str(held_out["card"]), "--ckpt_path", str(held_out["ckpt"]),
             "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--model.predict_class_names", "[a, b]"])
    assert e.value.code == 2 and "--model.predict_class_names applies to predict only" in capsys.readouterr().err
