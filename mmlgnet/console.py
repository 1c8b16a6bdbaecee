"""What a CLI user sees: our user errors as one line (exit 2), Lightning's unactionable noise dropped, each warning once.

Lightning is imported lazily here (`python -m mmlgnet.data check` uses this module without loading it).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import warnings
from typing import Any, TextIO

from mmlgnet.errors import UserError

DEBUG_ENV = "MMLGNET_DEBUG"  # 1: full tracebacks and Python's usual warning format

# Lightning info lines a user cannot act on: product tips, and the notice that our own
# `configure_callbacks` replaces the default ModelCheckpoint (by design).
_QUIET_INFO = ("💡 Tip:", "The following callbacks returned in `LightningModule.configure_callbacks` will override")
_RANK_ZERO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                      "lightning_fabric.utilities.rank_zero")
# Warnings a user cannot act on: the empty validation loader of `val_fraction: 0` (no validation is the
# intended default), a Lightning-vs-torch deprecation inside Lightning itself, and ModelCheckpoint's note
# that a checkpoint tested (or resumed) in a new run folder keeps its old folder's bookkeeping.
_QUIET_WARNINGS = ("Total length of `list` across ranks is zero", "`isinstance(treespec, LeafSpec)` is deprecated",
                   "The dirpath has changed from")


class _DropPrefixes(logging.Filter):
    """Drops records whose message starts with one of `prefixes`."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def quiet_noise() -> None:
    """Drop the Lightning tips and the warnings in _QUIET_WARNINGS (open_clip's "No pretrained weights loaded", which
    repeats our own untrained-tower warning, is dropped where it is logged: mmlgnet.text.openclip_model).

    Idempotent and narrow (exact message prefixes), so it is safe in-process (tests, reproduce) too.
    """
    for name in _RANK_ZERO_LOGGERS:
        _add_filter_once(logging.getLogger(name), _QUIET_INFO)
    for text in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(text))


def drop_flops_column(trainer: Any) -> None:
    """Replace, in a Trainer's callbacks, Lightning's default model summary by the same summary without its
    FLOPs column and "Total FLOPs" line: Lightning counts FLOPs only through `example_input_array`, which our
    module has not (its batches are pixel indices), so they always read 0. Other summary callbacks are kept."""
    from lightning.pytorch.callbacks import ModelSummary, RichModelSummary

    callbacks: list[Any] = trainer.callbacks  # set by Lightning's callback connector (not typed on Trainer)
    for i, callback in enumerate(callbacks):
        if type(callback) in (ModelSummary, RichModelSummary):  # the Trainer's default (enable_model_summary)
            callbacks[i] = _summary_without_flops()(callback._max_depth, **callback._summarize_kwargs)


@functools.cache
def _summary_without_flops() -> type[Any]:
    """Lightning's ModelSummary (text table, logged as Lightning logs its own) less the FLOPs column and total."""
    from lightning.pytorch.callbacks import ModelSummary
    from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table

    class ModelSummaryWithoutFlops(ModelSummary):
        @staticmethod
        def summarize(summary_data: list[tuple[str, list[str]]], total_parameters: int, trainable_parameters: int,
                      model_size: float, total_training_modes: dict[str, int], total_flops: int,
                      **summarize_kwargs: Any) -> None:
            columns = [column for column in summary_data if column[0] != "FLOPs"]
            table = _format_summary_table(total_parameters, trainable_parameters, model_size, total_training_modes,
                                          total_flops, *columns)
            lines = [line for line in table.splitlines() if not line.rstrip().lower().endswith("total flops")]
            logging.getLogger("lightning.pytorch.callbacks.model_summary").info("\n" + "\n".join(lines))

    return ModelSummaryWithoutFlops


def _add_filter_once(logger: logging.Logger, prefixes: tuple[str, ...]) -> None:
    if not any(isinstance(f, _DropPrefixes) and f.prefixes == prefixes for f in logger.filters):
        logger.addFilter(_DropPrefixes(prefixes))


class _Once:
    """Remembers the warning texts shown so far, whether they came through `warnings` or `logging`.

    Some of our modules both `warnings.warn` (for Python callers and pytest) and `log.warning` (for log files)
    the same message; a console user should read it once.
    """

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def first_time(self, text: str) -> bool:
        key = text.strip()
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


class _LogOnce(logging.Filter):
    def __init__(self, once: _Once) -> None:
        super().__init__()
        self.once = once

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING or self.once.first_time(record.getMessage())


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        return f"{record.levelname.lower()}: {text}" if record.levelno >= logging.WARNING else text


def configure_console(stream: TextIO | None = None) -> None:
    """Console set-up of a CLI process (not of in-process `main()` calls): each warning shown once as
    `warning: <message>`, log warnings of our modules and third parties as `warning: <message>`."""
    quiet_noise()
    if debug_enabled():
        return
    stream = stream or sys.stderr
    once = _Once()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_ConsoleFormatter())
    handler.addFilter(_LogOnce(once))
    root = logging.getLogger()
    if not root.handlers:  # otherwise someone configured logging on purpose: leave it
        root.addHandler(handler)
        root.setLevel(logging.WARNING)

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        if once.first_time(str(message)):
            print(f"warning: {message}", file=file or stream)

    warnings.showwarning = show


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def find_user_error(exc: BaseException) -> UserError | None:
    """Our UserError behind `exc`: itself, or one it was raised from or while handling (jsonargparse and
    Lightning may wrap errors raised in a class's __init__, a linked property or a hook)."""
    queue: list[BaseException] = [exc]
    seen: set[int] = set()
    while queue:
        e = queue.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, UserError):
            return e
        queue += [c for c in (e.__cause__, e.__context__) if c is not None]
    return None


def error_message(e: BaseException) -> str:
    """The message alone (str() of a KeyError subclass would add quotes)."""
    args: Any = e.args
    return args[0] if len(args) == 1 and isinstance(args[0], str) else str(e)
