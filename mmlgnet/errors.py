"""The package's user errors: a message that names the file or option and the fix, shown without a traceback."""

from __future__ import annotations


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
