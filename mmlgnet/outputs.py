"""Output folders checked before any work: a folder that cannot be created or written is a ConfigError at start.

Without this check a bad output folder (its parent is a file, a read-only filesystem, no permission) is found
only when the first file is written, i.e. after the compute (for an in-memory predict: at the very end), and it
ends in a traceback. `check_output_dir` looks without creating anything: the folder itself when it exists,
otherwise its nearest existing ancestor, which must be a folder we may create entries in. `cli_output_dirs`
lists the output folders of one `python -m mmlgnet` command from its parsed config (before any class is
instantiated: a logger may create its folder in its constructor).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mmlgnet.errors import ConfigError

#: init_args of loggers and callbacks that name a folder they write into
_FOLDER_ARGS = ("save_dir", "dirpath", "root_dir")


def _unwritable(folder: Path) -> str | None:
    """Why entries cannot be created in the existing folder `folder`; None when they can."""
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        return f"{folder} is on a read-only filesystem"
    if not os.access(folder, os.W_OK | os.X_OK):
        try:
            st = folder.stat()
            detail = f" (mode {stat.filemode(st.st_mode)}, owner uid {st.st_uid}; you are uid {os.geteuid()})"
        except OSError:
            detail = ""
        return f"no permission to create files in {folder}{detail}"
    return None


def problem(path: str | os.PathLike[str]) -> str | None:
    """Why the folder `path` cannot be created or written; None when it can. Creates nothing."""
    target = Path(os.path.abspath(path))
    nearest = next(p for p in (target, *target.parents) if os.path.lexists(p))
    if not nearest.is_dir():
        kind = "a broken symbolic link" if nearest.is_symlink() and not nearest.exists() else "a file, not a folder"
        return f"{nearest} is {kind}"
    return _unwritable(nearest)


def check_output_dir(path: str | os.PathLike[str], option: str) -> None:
    """ConfigError naming `option`, `path` and the reason when the folder cannot be created or written."""
    why = problem(path)
    if why is not None:
        verb = "write into" if os.path.isdir(path) else "create"
        raise ConfigError(f"{option} {path}: cannot {verb} this folder: {why}. Give a folder you can write to "
                          "(checked before any work, so nothing was computed).")


def _get(node: Any, key: str) -> Any:
    """node[key] of a dict or jsonargparse Namespace (both have .get); None for anything else."""
    return node.get(key) if isinstance(node, Mapping) or callable(getattr(node, "get", None)) else None


def _entries(value: Any) -> list[Any]:
    if value is None or isinstance(value, bool):
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def cli_output_dirs(cfg: Any, subcommand: str) -> Iterator[tuple[str, str]]:
    """(option, folder) of every output location of a `python -m mmlgnet <subcommand>` config (a jsonargparse
    Namespace or a dict): the map writer's folder when maps will be written, each logger's and checkpoint
    callback's folder, and `trainer.default_root_dir` (the current folder when not given) when it is used:
    given explicitly or without a logger folder (Lightning's default logger writes there)."""
    trainer = _get(cfg, "trainer") or {}
    writer = _get(cfg, "predict_writer") or {}
    maps = subcommand == "predict" or (subcommand == "fit" and bool(_get(cfg, "predict_after_fit")))
    if maps and _get(writer, "enabled") is not False and _get(writer, "output_dir"):
        yield "--predict_writer.output_dir", str(_get(writer, "output_dir"))
    logger_dirs = 0
    for kind in ("logger", "callbacks"):
        for entry in _entries(_get(trainer, kind)):
            args = _get(entry, "init_args") or {}
            name = str(_get(entry, "class_path") or "").rpartition(".")[2]
            for key in _FOLDER_ARGS:
                if _get(args, key):
                    logger_dirs += kind == "logger"
                    yield f"--trainer.{kind}.init_args.{key} ({name})", str(_get(args, key))
    root = _get(trainer, "default_root_dir")
    if root or not logger_dirs:
        yield "--trainer.default_root_dir", str(root or os.getcwd())


def check_cli_outputs(cfg: Any, subcommand: str) -> None:
    """`check_output_dir` for every output location of a CLI command (see `cli_output_dirs`)."""
    for option, folder in cli_output_dirs(cfg, subcommand):
        check_output_dir(folder, option)
