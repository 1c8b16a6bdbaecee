"""--data.memory_budget_mb: its default and the messages that compare a scene's memory with it.

Shared by the training side (mmlgnet.data.labelled: load the card or read its labelled patches by window) and
the predict side (mmlgnet.data.streaming: load the scene or stream it by tiles). Sizes are shown with enough
digits to be read (a small scene takes a fraction of a MiB: "~0 MiB > 0" said nothing a user could act on).
"""

from __future__ import annotations

import psutil

__all__ = ["default_budget_mb", "mib", "over_budget", "under_budget"]


def default_budget_mb() -> float:
    """A quarter of this machine's RAM: the default --data.memory_budget_mb."""
    return psutil.virtual_memory().total / 4 / 2**20


def mib(value: float) -> str:
    """A size in MiB, readable at any scale: `6,026`, `12.5`, `0.0234` (3 significant digits below 10)."""
    if value == 0:
        return "0"
    if abs(value) >= 10:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _budget(budget_mb: float, given: bool) -> str:
    text = f"--data.memory_budget_mb {mib(budget_mb)}"
    if not given:
        return f"{text} (the default: a quarter of this machine's RAM)"
    if budget_mb <= 0:
        return f"{text} (no memory for the scene: it is never loaded whole)"
    return text


def over_budget(need_mb: float, budget_mb: float, given: bool, factor: float, values: int) -> str:
    """Why a scene is not loaded whole: its estimated memory, how it was estimated, the budget."""
    return (f"in memory it would take ~{mib(need_mb)} MiB ({factor:g} x {values:,} float32 values) > "
            f"{_budget(budget_mb, given)}")


def under_budget(need_mb: float, budget_mb: float, given: bool) -> str:
    """Why a scene is loaded whole."""
    return f"~{mib(need_mb)} MiB <= {_budget(budget_mb, given)}"
