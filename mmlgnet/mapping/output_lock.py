"""One predict per output folder: the results folder's lock (mmlgnet.repro.lock.ResultsLock) on the maps folder.

Two predictions writing one folder would interleave: a streaming one resumes the other's tiles or restarts
them under its feet, an in-memory one overwrites half of the other's files. The writer (mmlgnet.mapping.prediction)
holds `<output folder>/.lock` (an OS file lock: released when its holder exits or is killed, never stale) from
its setup to its teardown; a second predict on the folder is refused at once (exit 2), naming the holder from
`<output folder>/.lock.owner`.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from mmlgnet.errors import UserError
from mmlgnet.repro.lock import ResultsBusyError, ResultsLock

__all__ = ["OutputBusyError", "OutputLock"]


class OutputBusyError(UserError):
    """Another predict holds the output folder."""


class OutputLock(ResultsLock):
    """Context manager (or acquire/release): hold `<out>/.lock` for one predict; refuse at once when held.

    `option`: where the folder comes from, for the messages (`--predict_writer.output_dir` or the default).
    """

    def __init__(self, out: Path, option: str) -> None:
        super().__init__(Path(out), wait_s=0.0, command=shlex.join(sys.argv))
        self.option = option

    def acquire(self) -> OutputLock:
        try:
            self.__enter__()
        except ResultsBusyError as e:
            raise OutputBusyError(str(e)) from None
        except OSError as e:
            raise UserError(f"The output folder {self.results} ({self.option}): cannot create or lock {self.path} "
                            f"({e.strerror or e}): write the maps to a folder this user can create and write "
                            f"(--predict_writer.output_dir).") from None
        return self

    def release(self) -> None:
        if self.held:
            self.__exit__(None, None, None)

    def _busy_message(self, waited: bool = False) -> str:
        return (f"The output folder {self.results} ({self.option}) is in use by another predict: {self.holder()}. "
                f"Two predictions into one folder would mix their maps ({self.path} is locked). Wait for it to "
                f"finish, or write the maps elsewhere (--predict_writer.output_dir).")
