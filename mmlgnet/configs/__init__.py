"""The configs shipped inside the package (package data), and `--config NAME` read from them.

This folder holds the run configs (`demo.yaml`, `trento.yaml`, ...), the overlays (`overlays/debug.yaml`, ...),
the established methods' overlays (`baselines/mft.yaml`, ...) and the scene cards (`scenes/*.yaml`). It is
package data, so an installed wheel has it too; in the checkout `configs/` is a link to it.

`python -m mmlgnet fit --config NAME`: a NAME that is not an existing file but names a shipped config (as
listed by `shipped_names`, with or without `.yaml`, also with the checkout's `configs/` in front) is read from
here, so the README's commands run from any folder. An existing file of that name always wins. A path-like
NAME that is neither is a ConfigError listing the shipped names (one line, exit 2); a value that is not
path-like (an inline YAML string, which jsonargparse's `--config` also takes) is left alone. A scene card is
not a run config: it names its files relative to its own folder, so it is copied beside them and given as
`--data.scene` (the error says so, with the card's path here).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from mmlgnet.errors import ConfigError

SHIPPED = Path(__file__).resolve().parent
CARDS = "scenes"  # the folder of the scene cards (--data.scene, not --config)
OPTIONS = ("--config", "-c")  # LightningCLI's config-file option, in both spellings
_PATH_LIKE = re.compile(r"[\w.\-/]+")  # a relative file name; inline YAML has spaces, braces or colons
HELP = ("A config file (YAML or JSON), or the name of a config shipped with mmlgnet: demo.yaml, trento.yaml, "
        "overlays/debug.yaml, baselines/mft.yaml, ... (`.yaml` may be left out; an existing file of that name wins). "
        f"Given several times, later files override earlier ones. The shipped configs are in "
        f"{str(SHIPPED).replace('%', '%%')}.")  # argparse %-formats help texts


def shipped_names() -> list[str]:
    """Every shipped config by its name (path relative to this folder, `/`-separated): top level first."""
    names = [p.relative_to(SHIPPED).as_posix() for p in SHIPPED.rglob("*.yaml")]
    return sorted(names, key=lambda n: (n.count("/"), n))


def shipped_config(name: str) -> Path | None:
    """The shipped file that `name` names (`demo.yaml`, `demo`, `configs/demo.yaml`), or None."""
    if not _PATH_LIKE.fullmatch(name) or name.startswith("/"):
        return None
    parts = PurePosixPath(name).parts
    if any(p in (".", "..") for p in parts) or name.startswith("./"):
        return None  # written as a path of the user's: not a name
    if parts[:1] == ("configs",):
        parts = parts[1:]
    known = set(shipped_names())
    for candidate in ("/".join(parts), "/".join(parts) + ".yaml"):
        if candidate in known:
            return SHIPPED / candidate
    return None


def resolve_config(value: str, option: str = "--config") -> str:
    """`value` of `--config`: itself when it is an existing file or not path-like, else the shipped file it names."""
    if Path(value).expanduser().exists() or not _PATH_LIKE.fullmatch(value):
        return value
    found = shipped_config(value)
    if found is None:
        cards = [n for n in shipped_names() if n.startswith(f"{CARDS}/")]
        runs = [n for n in shipped_names() if n not in cards]
        raise ConfigError(f"{option} {value}: no such file, and no config of that name ships with mmlgnet. Give the "
                          f"path of a config file or a shipped name: {', '.join(runs)} (scene cards, for "
                          f"--data.scene: {', '.join(cards)}).")
    if found.parent.name == CARDS:
        raise ConfigError(f"{option} {value}: this is a scene card, not a run config. Copy {found} into the folder "
                          f"that holds its files (its paths are relative to its folder) and give it as --data.scene "
                          f"DIR/{found.name}, with a run config such as --config houston2013.yaml.")
    return str(found)


def resolve_config_args(args: Sequence[str]) -> list[str]:
    """`args` with every `--config X`, `--config=X`, `-c X`, `-c=X` value passed through `resolve_config`."""
    out = list(args)
    for i, token in enumerate(out):
        option, eq, value = token.partition("=")
        if option not in OPTIONS:
            continue
        if eq:
            out[i] = f"{option}={resolve_config(value, option)}"
        elif i + 1 < len(out):
            out[i + 1] = resolve_config(out[i + 1], option)
    return out


def describe_option(parser: Any) -> None:
    """Give the parser's `--config` option the help above (LightningCLI's says only "Path to a configuration file")."""
    for action in getattr(parser, "_actions", ()):
        if "--config" in action.option_strings:
            action.help = HELP
