"""Issue 17.5: `reproduce --variants-file` adds user-defined variants to the plan (same fingerprints, reuse,
tables); a bad file is refused naming the file and the entry, before any run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlgnet.errors import ConfigError
from mmlgnet.repro import reproduce
from mmlgnet.repro.compare.variants_file import VariantsFileError, read_variants_file
from mmlgnet.repro.plan import RunOptions, make_plan, plan_layout
from tests.repro.test_repro_groups import QUICK, available, fake_fingerprinter

MINE = [{"name": "mylinear", "label": "My linear head", "group": "mine", "overrides": ["--model.head", "linear"]},
        {"name": "myhsi", "label": "Mine, HSI only", "group": "main",
         "overrides": {"model.modalities": ["hsi"]}}]


def _file(tmp_path: Path, entries: object) -> Path:
    path = tmp_path / "my.yaml"
    path.write_text(json.dumps(entries))  # JSON is YAML
    return path


def _plan(extra, groups=("main",), variants=None, fingerprinter=fake_fingerprinter):
    opts = RunOptions(Path("results"), Path("data"), quick=True)
    return make_plan([QUICK], variants, 1, "none", opts, available, fingerprinter, groups, extra=extra)


def test_entries_become_variants_of_their_groups_new_or_built_in(tmp_path):
    extra = read_variants_file(_file(tmp_path, MINE))
    assert [v.name for v in extra["mine"]] == ["mylinear"] and [v.name for v in extra["main"]] == ["myhsi"]
    assert extra["main"][0].overrides == ("--model.modalities", '["hsi"]')  # a mapping becomes --key value
    p = _plan(extra)
    assert p.groups["main"]["synthetic-quick"][-1] == "myhsi"  # appended to the built-in group
    assert p.groups["mine"]["synthetic-quick"] == ["mylinear"]  # a new group: its own table
    assert p.aliases[("synthetic-quick", "mylinear")] == "linear"  # same overrides, same fingerprint: run once
    assert plan_layout(p)["labels"] == {"mylinear": "My linear head", "myhsi": "Mine, HSI only"}
    assert [r.variant.name for r in _plan(extra, variants=["myhsi"]).runs] == ["myhsi"]


@pytest.mark.parametrize("entries, message", [
    ([{"name": "x", "label": "X", "group": "g"}], r"entry 1 \('x'\): missing key overrides"),
    ([{"name": "x", "label": "X", "group": "g", "overrides": [], "colour": 1}], "unknown key colour"),
    ([{"name": "linear", "label": "L", "group": "g", "overrides": []}], "'linear' is a built-in variant"),
    ([{"name": "unseen-2", "label": "U", "group": "g", "overrides": []}], "'unseen-2' is a built-in variant"),
    ([{"name": "a", "label": "A", "group": "g", "overrides": []},
      {"name": "a", "label": "B", "group": "g", "overrides": []}], r"entry 2 \('a'\): name 'a' is also entry 1's"),
    ([{"name": "a/b", "label": "A", "group": "g", "overrides": []}], "not a folder-safe name"),
    ([{"name": "a", "label": "A", "group": "g", "overrides": "--model.head linear"}], "must be a list of CLI tokens"),
    ([{"name": "a", "label": "A", "group": "openvocab", "overrides": []}], "openvocab holds the unseen"),
    ({"name": "a"}, "expected a non-empty list"),
    ([], "expected a non-empty list"),
])
def test_a_bad_file_is_refused_naming_the_file_and_the_entry(tmp_path, entries, message):
    path = _file(tmp_path, entries)
    with pytest.raises(VariantsFileError, match=message) as e:
        read_variants_file(path)
    assert str(e.value).startswith(f"--variants-file {path}") and "\n" not in str(e.value)


def test_bad_file_is_a_usage_error_of_reproduce(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        reproduce.parse_args(["--quick", "--variants-file", str(tmp_path / "missing.yaml")])
    assert e.value.code == 2 and "--variants-file" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a --variants name that neither the built-ins nor the file have
        reproduce.parse_args(["--quick", "--variants-file", str(_file(tmp_path, MINE)), "--variants", "yours"])
    args = reproduce.parse_args(["--quick", "--variants-file", str(_file(tmp_path, MINE)), "--variants", "myhsi"])
    assert args.variants == ["myhsi"] and set(args.custom) == {"mine", "main"}


def test_overrides_that_do_not_parse_are_refused_at_plan_time_naming_the_entry(tmp_path):
    from mmlgnet.repro.fingerprint import Fingerprinter

    path = _file(tmp_path, [{"name": "typo", "label": "T", "group": "mine", "overrides": ["--model.haed", "linear"]}])
    with pytest.raises(ConfigError, match=rf"synthetic-quick / typo \(entry 1 of {path}\) do not parse"):
        _plan(read_variants_file(path), groups=(), fingerprinter=Fingerprinter())


@pytest.mark.slow
def test_a_user_variant_runs_is_reused_and_gets_its_row(tmp_path, capsys):
    path = _file(tmp_path, [{"name": "mine", "label": "My variant", "group": "mine",
                             "overrides": ["--model.head", "linear", "--model.dropout", "0.2"]}])
    argv = ["--quick", "--seeds", "1", "--epochs", "1", "--maps", "none", "--no-wandb", "--groups", "main",
            "--variants", "mine", "--variants-file", str(path), "--results", str(tmp_path / "r")]
    assert reproduce.main(argv) == 0
    assert reproduce.main(argv) == 0
    assert "synthetic-quick/mine/seed0: done already, skipped" in capsys.readouterr().out
    tables = json.loads((tmp_path / "r" / "tables.json").read_text())
    assert [(r["variant"], r["label"], r["status"]) for r in tables["groups"]] == [("mine", "My variant", "done")]
