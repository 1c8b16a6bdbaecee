"""`reproduce --variants-file my.yaml`: user-defined variants (e.g. a network by class_path) added to the plan.

The file is a YAML list (or a mapping with a `variants:` list) of entries with four keys:

    - name: mynet                 # results/<setting>/mynet/; letters, digits, `_`, `-`, `.`
      label: MyNet (linear head)  # the table row's label
      group: baselines            # a built-in group (its table gains the row) or a new one (its own table)
      overrides:                  # CLI overrides on top of the setting's configs: a list of tokens ...
        [--model.network.class_path, mypkg.MyNet, --model.head, linear]
      # ... or a mapping {model.network.class_path: mypkg.MyNet, model.head: linear}
      needs_hsi: true             # optional (default true): false runs it where only LiDAR is present

A user variant is an ordinary Variant: the same fingerprint (the resolved config; for a network of your own, also
the sha256 of its source files: mmlgnet.repro.fingerprint.network_source), reuse, locks, `--jobs` and SLURM.
Structural mistakes are refused here, naming the file and the entry; overrides that do not parse, or a network
class path that does not import, are refused when the plan resolves them, before any run, naming the entry too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from mmlgnet.errors import ConfigError
from mmlgnet.repro.groups import UNSEEN, VARIANTS, Variant

KEYS = ("name", "label", "group", "overrides")
OPTIONAL = ("needs_hsi",)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class VariantsFileError(ConfigError):
    """A --variants-file that cannot be used as it is."""


def read_variants_file(path: Path) -> dict[str, list[Variant]]:
    """group -> its user-defined variants, in file order; VariantsFileError naming `path` and the entry."""
    where = f"--variants-file {path}"
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise VariantsFileError(f"{where}: cannot read it ({e.strerror or e}); give an existing YAML file.") from None
    except yaml.YAMLError as e:
        raise VariantsFileError(f"{where}: not valid YAML ({str(e).splitlines()[0]}); fix the file.") from None
    if isinstance(data, Mapping) and set(data) == {"variants"}:
        data = data["variants"]
    if not isinstance(data, list) or not data:
        raise VariantsFileError(f"{where}: expected a non-empty list of entries with keys {', '.join(KEYS)} "
                                f"(or `variants:` holding that list), got {type(data).__name__}.")
    out: dict[str, list[Variant]] = {}
    seen: dict[str, int] = {}
    for i, entry in enumerate(data, 1):
        v, group = _entry(entry, f"{where}, entry {i}", f"entry {i} of {path}")
        if v.name in seen:
            raise VariantsFileError(f"{where}, entry {i} ({v.name!r}): name {v.name!r} is also entry {seen[v.name]}'s; "
                                    "give every entry its own name.")
        seen[v.name] = i
        out.setdefault(group, []).append(v)
    return out


def _entry(entry: object, where: str, origin: str) -> tuple[Variant, str]:
    if not isinstance(entry, Mapping):
        raise VariantsFileError(f"{where}: expected a mapping with keys {', '.join(KEYS)}, got {entry!r}.")
    name = entry.get("name")
    where = f"{where} ({name!r})" if isinstance(name, str) else where
    missing = [k for k in KEYS if k not in entry]
    unknown = sorted(set(map(str, entry)) - set(KEYS) - set(OPTIONAL))
    if missing or unknown:
        what = "; ".join([*([f"missing key {', '.join(missing)}"] if missing else []),
                          *([f"unknown key {', '.join(unknown)}"] if unknown else [])])
        raise VariantsFileError(f"{where}: {what}. Every entry has {', '.join(KEYS)} (and optionally "
                                f"{', '.join(OPTIONAL)}).")
    for key in ("name", "label", "group"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise VariantsFileError(f"{where}: `{key}` must be a non-empty string, got {entry[key]!r}.")
    for key in ("name", "group"):
        if not NAME.fullmatch(entry[key]):
            raise VariantsFileError(f"{where}: `{key}` {entry[key]!r} is not a folder-safe name; use letters, "
                                    "digits, `_`, `-` and `.`, starting with a letter or digit.")
    if name in VARIANTS or UNSEEN.fullmatch(str(name)):
        raise VariantsFileError(f"{where}: name {name!r} is a built-in variant; give yours another name.")
    if entry["group"] == "openvocab":
        raise VariantsFileError(f"{where}: group openvocab holds the unseen-<k> variants only; pick another group.")
    needs_hsi = entry.get("needs_hsi", True)
    if not isinstance(needs_hsi, bool):
        raise VariantsFileError(f"{where}: `needs_hsi` must be true or false, got {needs_hsi!r}.")
    label = entry["label"].strip()
    return Variant(str(name), _overrides(entry["overrides"], where), needs_hsi, label=label, origin=origin), \
        entry["group"]


def _overrides(value: object, where: str) -> tuple[str, ...]:
    """A list of CLI tokens as is; a mapping {option: value} as `--option value` (non-strings as JSON)."""
    if isinstance(value, Mapping):
        out: list[str] = []
        for key, item in value.items():
            if not isinstance(key, str) or not key.strip("-"):
                raise VariantsFileError(f"{where}: overrides key {key!r} is not an option name.")
            out += [f"--{key.lstrip('-')}", item if isinstance(item, str) else json.dumps(item)]
        return tuple(out)
    if isinstance(value, Sequence) and not isinstance(value, str) and all(isinstance(t, str) for t in value):
        return tuple(value)
    raise VariantsFileError(f"{where}: `overrides` must be a list of CLI tokens ([--model.head, linear]) or a "
                            f"mapping ({{model.head: linear}}), got {value!r}.")
