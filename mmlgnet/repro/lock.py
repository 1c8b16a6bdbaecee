"""One runner per results folder: a `filelock` lock on `<results>/.lock` plus a note of who holds it.

The lock is an OS file lock (flock), so it is released when its holder exits or is killed: a lock can never
be left stale. `<results>/.lock.owner` (JSON: pid, host, command, start time) only serves the message of a
runner that finds the folder busy; it is written after the lock is taken and removed on release.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from filelock import FileLock, Timeout

from mmlgnet.atomic import write_json
from mmlgnet.errors import UserError


class ResultsBusyError(UserError):
    """Another runner holds the results folder."""


class ResultsLock:
    """Context manager: hold `<results>/.lock` for a whole invocation.

    wait_s = 0 refuses at once when another runner holds the folder; wait_s > 0 waits up to that many seconds
    (saying for whom), then refuses. The refusal (ResultsBusyError, exit code 2) names the holder.
    """

    def __init__(self, results: Path, wait_s: float = 0.0, command: str = "") -> None:
        self.results, self.wait_s, self.command = Path(results), float(wait_s), command
        self.path = self.results / ".lock"
        self.owner_path = self.results / ".lock.owner"
        self._lock = FileLock(self.path, thread_local=False)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def __enter__(self) -> ResultsLock:
        self.results.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            if self.wait_s <= 0:
                raise ResultsBusyError(self._busy_message()) from None
            print(f"[reproduce] {self.results} is in use by {self.holder()}; waiting up to {self.wait_s:g} s "
                  "(--wait-lock)", file=sys.stderr, flush=True)
            try:
                self._lock.acquire(timeout=self.wait_s)
            except Timeout:
                raise ResultsBusyError(self._busy_message(waited=True)) from None
        write_json(self.owner_path, {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                                     "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.owner_path.unlink(missing_ok=True)
        self._lock.release()

    def holder(self) -> str:
        """`pid N on HOST since TIME (command)` from the owner note, or why it is unknown."""
        try:
            info: dict[str, Any] = json.loads(self.owner_path.read_text())
        except (OSError, ValueError):
            return f"another process (no readable {self.owner_path} yet)"
        return (f"pid {info.get('pid')} on {info.get('host')} since {info.get('started')} "
                f"(`{info.get('command') or '?'}`)")

    def _busy_message(self, waited: bool = False) -> str:
        when = f"after waiting {self.wait_s:g} s" if waited else "now"
        return (f"The results folder {self.results} is in use {when} by another reproduce runner: {self.holder()}. "
                f"Two runners on one folder would overwrite each other's runs ({self.path} is locked). Wait for it "
                "to finish, pass --wait-lock SECONDS to wait for it, or use another --results folder.")
