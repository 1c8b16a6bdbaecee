"""--data.memory_budget_mb: its default, the cost factors a scene's memory is estimated with, and the messages.

Shared by the training side (mmlgnet.data.sampling.labelled: load the card or read its labelled patches by window)
and the predict side (mmlgnet.data.sampling.streaming: load the scene or stream it by tiles). Sizes are shown with enough
digits to be read (a small scene takes a fraction of a MiB: "~0 MiB > 0" said nothing a user could act on).
"""

from __future__ import annotations

import psutil

__all__ = ["FIT_IN_MEMORY_COST", "PREDICT_IN_MEMORY_COST", "default_budget_mb", "in_memory_mb", "mib", "over_budget",
           "under_budget"]

# The cost factors: peak RSS of a path that holds the whole scene in memory, beyond the process, over the served
# cubes' float32 bytes (benchmarks/memory.py, benchmarks/RESULTS.md). One fact, measured per path:
#: fit / validate / test (mmlgnet.data.sampling.labelled.windowed_reason: in memory or labelled patches by window)
FIT_IN_MEMORY_COST = 2.0
#: predict (mmlgnet.data.sampling.streaming.plan_stream: in memory or by tiles): measured 2.16x at 1.15 GiB after
#: the issue-8 memory work (was 3.2x); 2.5 keeps a margin for the map writer and the runtime.
PREDICT_IN_MEMORY_COST = 2.5


def default_budget_mb() -> float:
    """A quarter of this machine's RAM: the default --data.memory_budget_mb."""
    return psutil.virtual_memory().total / 4 / 2**20


def in_memory_mb(cost: float, values: int) -> float:
    """The estimated MiB of a scene of `values` float32 values held in memory at `cost` (a factor above)."""
    return cost * values * 4 / 2**20


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
