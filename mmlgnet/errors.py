"""The package's user errors: a message that names the file or option and the fix, shown without a traceback."""

from __future__ import annotations

import numbers
from typing import TypeGuard


def is_int(value: object) -> TypeGuard[int]:
    """A whole number as a user gives it: int or numpy integer, never bool (YAML/JSON `true` is an int in Python).

    The one strict-integer rule of option, card and record checks (data options, patch size, band numbers,
    palettes, reproduce's done-check).
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class UserError(ValueError):
    """Something the user can fix (a file, an option, a checkpoint, weights): the CLI prints only the message
    and exits with code 2; `MMLGNET_DEBUG=1` shows the traceback too. Every error class of ours that reports
    bad input derives from this one (DataError, SplitError, ClipWeightsError, ConfigError, ...).
    """


class ConfigError(UserError):
    """Contradictory or impossible options (command line or config file)."""


class UntrainedModelError(UserError):
    """A test/predict/fit would record the results of a model that was never trained."""


class CheckpointError(UserError):
    """A checkpoint that cannot be read, or that disagrees with the options given beside it."""
