"""`reproduce --help` and the README say what sets a run's CPU threads since issue 15.6: the run option
`--threads N` (default 1, in its config and fingerprint), not a slot's cores or OMP_NUM_THREADS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mmlgnet.repro.reproduce import parse_args

README = Path(__file__).resolve().parents[2] / "README.md"


def _help(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare words


def _option_help(text: str, usage: str) -> str:
    """The help of the option shown as `usage` (e.g. "--jobs N"): up to its "(default: ...)" note."""
    start = text.index(f" {usage} ", text.index("options:"))
    return text[start:text.index("(default:", start)]


def test_reproduce_help_names_threads_not_omp(capsys: pytest.CaptureFixture[str]) -> None:
    """On HEAD --jobs said the slot's cores come with OMP_NUM_THREADS and --slurm-cpus-per-run had no help."""
    text = _help(capsys)
    assert "OMP_NUM_THREADS" not in text
    for option in ("--jobs N", "--slurm-cpus-per-run C"):
        entry = _option_help(text, option)
        assert "only" in entry and "speed" in entry, entry
        assert "-- --threads N" in entry and "fingerprint" in entry, entry


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## ", text, flags=re.M)
    return {p.splitlines()[0].strip(): p for p in parts[1:]}


def test_readme_says_threads_set_a_runs_threads_outside_the_guarantees_section() -> None:
    """On HEAD "Many runs" said a --jobs slot gets its cores "with `OMP_NUM_THREADS` set" and nothing of --threads."""
    sections = _sections(README.read_text())
    many = " ".join(sections["Many runs, many GPUs, a cluster"].split())
    assert "with `OMP_NUM_THREADS` set" not in many
    assert "bound only" in many and "-- --threads 4" in many and "fingerprint" in many
    assert "`--slurm-cpus-per-run C`" in many  # the SLURM cores: speed only, too
    for title, body in sections.items():  # nowhere else is OMP_NUM_THREADS the way to set a run's threads
        if title != "Results you can trust":
            for sentence in re.split(r"(?<=[.;])\s", " ".join(body.split())):
                if "OMP_NUM_THREADS" in sentence:
                    assert ("--threads" in sentence and "not" in sentence) or "whatever" in sentence, sentence
