"""Drawing of class maps, error maps, split maps, false-colour HSI and confusion matrices (matplotlib, Agg)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: files only, never a window (no-op if pyplot already chose a backend)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from mmlgnet.atomic import write_bytes  # noqa: E402

BACKGROUND = (0, 0, 0)  # unlabelled pixels in ground-truth maps
CORRECT, WRONG, NOT_TESTED = (0, 160, 0), (220, 0, 0), (225, 225, 225)


def palette_array(palette: Sequence[Sequence[int]], num_classes: int) -> np.ndarray:
    """(K, 3) uint8 colours: the scene's palette, or matplotlib's tab20 when it has too few entries."""
    if len(palette) >= num_classes:
        return np.asarray(palette[:num_classes], dtype=np.uint8).reshape(num_classes, 3)
    cmap = plt.get_cmap("tab20")
    return (np.array([cmap(k % 20)[:3] for k in range(num_classes)]) * 255).astype(np.uint8)


def class_map_rgb(labels: np.ndarray, palette: Sequence[Sequence[int]], num_classes: int,
                  background: Sequence[int] = BACKGROUND) -> np.ndarray:
    """(H, W) labels 0..K (0 = unlabelled) -> (H, W, 3) uint8 image in the palette."""
    lut = np.vstack([np.asarray(background, np.uint8)[None], palette_array(palette, num_classes)])  # (K+1, 3)
    return lut[np.clip(labels, 0, num_classes)]


def error_map_rgb(pred: np.ndarray, labels: np.ndarray, test_index: np.ndarray) -> np.ndarray:
    """(H, W, 3): test pixels green where pred == label, red where not; every other pixel light grey."""
    h, w = labels.shape
    out = np.empty((h * w, 3), np.uint8)
    out[:] = NOT_TESTED
    ok = pred.reshape(-1)[test_index] == labels.reshape(-1)[test_index]
    out[test_index[ok]] = CORRECT
    out[test_index[~ok]] = WRONG
    return out.reshape(h, w, 3)


def split_map(shape: tuple[int, int], train: np.ndarray, test: np.ndarray, val: np.ndarray | None = None) -> np.ndarray:
    """(H, W) int map of the split: 0 unused, 1 train, 2 test, 3 validation."""
    out = np.zeros(shape[0] * shape[1], np.int64)
    out[test], out[train] = 2, 1
    if val is not None and len(val):
        out[val] = 3
    return out.reshape(shape)


def false_colour(hsi: np.ndarray, wavelengths_nm: np.ndarray | None = None,
                 rgb_nm: tuple[float, float, float] = (650.0, 550.0, 460.0)) -> np.ndarray:
    """(H, W, C) cube -> (H, W, 3) float image in [0, 1]: bands nearest `rgb_nm` (or spread evenly), 2–98 % stretch."""
    c = hsi.shape[2]
    if wavelengths_nm is not None and len(wavelengths_nm) == c:
        bands = [int(np.argmin(np.abs(np.asarray(wavelengths_nm) - nm))) for nm in rgb_nm]
    else:
        bands = [int(round(f * (c - 1))) for f in (0.75, 0.45, 0.15)]
    rgb = hsi[:, :, bands].astype(np.float64)
    lo, hi = np.percentile(rgb, 2, axis=(0, 1)), np.percentile(rgb, 98, axis=(0, 1))
    return np.clip((rgb - lo) / np.maximum(hi - lo, 1e-12), 0, 1)


def normalized_confusion(confusion: np.ndarray) -> np.ndarray:
    """Row-normalised confusion (rows: true class, sums to 1 where the class has test pixels)."""
    c = np.asarray(confusion, dtype=np.float64)
    return c / np.maximum(c.sum(axis=1, keepdims=True), 1)


def confusion_from_maps(pred: np.ndarray, labels: np.ndarray, index: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts over the pixels `index`: rows true class, columns predicted (both 1..K in the maps)."""
    t = labels.reshape(-1)[index] - 1
    p = pred.reshape(-1)[index] - 1
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


# ---- axes-level drawing (used by the notebook and by the file writers below) ----
def legend_handles(class_names: Sequence[str], palette: Sequence[Sequence[int]]) -> list[Patch]:
    colours = palette_array(palette, len(class_names)) / 255.0  # (K, 3) in [0, 1]
    return [Patch(facecolor=_rgb(colours[k]), edgecolor="black", linewidth=0.3, label=n)
            for k, n in enumerate(class_names)]


def _rgb(colour: np.ndarray) -> tuple[float, float, float]:
    r, g, b = (float(c) for c in colour)
    return r, g, b


def show_class_map(ax: Any, labels: np.ndarray, class_names: Sequence[str], palette: Sequence[Sequence[int]],
                   title: str = "", legend: bool = True) -> None:
    ax.imshow(class_map_rgb(labels, palette, len(class_names)), interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
    if legend:
        ax.legend(handles=legend_handles(class_names, palette), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  fontsize=8, frameon=False, title="class", title_fontsize=8)


def show_error_map(ax: Any, pred: np.ndarray, labels: np.ndarray, test_index: np.ndarray, title: str = "") -> None:
    ax.imshow(error_map_rgb(pred, labels, test_index), interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
    handles = [Patch(facecolor=_rgb(np.array(c) / 255), edgecolor="black", linewidth=0.3, label=n)
               for c, n in ((CORRECT, "correct"), (WRONG, "wrong"), (NOT_TESTED, "not a test pixel"))]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def show_confusion(ax: Any, confusion: np.ndarray, class_names: Sequence[str], title: str = "") -> Any:
    """Row-normalised confusion matrix as a heat map with the values written in the cells; returns the image."""
    norm = normalized_confusion(confusion)
    k = len(class_names)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(k), class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if norm[i, j] >= 0.005:
                    ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if norm[i, j] > 0.6 else "black")
    return im


# ---- files ----
def _figure_for(shape: tuple[int, int], legend_rows: int = 0) -> tuple[Any, Any]:
    h, w = shape
    width_in = 9.0
    img_w = width_in * 0.72  # the rest is for the legend on the right
    height_in = max(2.5, min(12.0, img_w * h / max(w, 1) + 0.8), 0.22 * legend_rows + 0.8)
    return plt.subplots(figsize=(width_in, height_in), dpi=110)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return write_bytes(path, buf.getvalue())


def save_class_map(path: str | Path, labels: np.ndarray, class_names: Sequence[str],
                   palette: Sequence[Sequence[int]], title: str) -> Path:
    fig, ax = _figure_for(labels.shape, len(class_names))
    show_class_map(ax, labels, class_names, palette, title)
    return save_figure(fig, path)


def save_error_map(path: str | Path, pred: np.ndarray, labels: np.ndarray, test_index: np.ndarray, title: str) -> Path:
    fig, ax = _figure_for(labels.shape, 3)
    show_error_map(ax, pred, labels, test_index, title)
    return save_figure(fig, path)


def save_confusion(path: str | Path, confusion: np.ndarray, class_names: Sequence[str], title: str) -> Path:
    k = len(class_names)
    size = max(4.0, 0.45 * k + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.0, size), dpi=110)
    im = show_confusion(ax, confusion, class_names, title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    return save_figure(fig, path)
