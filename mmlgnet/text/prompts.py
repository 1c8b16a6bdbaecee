"""Class prompts: templates filled with the class name, per-class descriptions, or both (`model.prompts`).

Descriptions (lists of sentences per class) come, first match wins, from `--model.descriptions` (a YAML file,
or the name of one shipped in mmlgnet/text/descriptions/), the scene card's `class_descriptions`, or the file
shipped for the scene (trento, muufl, houston2013, synthetic). A class without a description is an error
naming it; so is a `--model.descriptions` entry for a class the scene lacks (as for a card's class_descriptions). The shipped descriptions are OURS (written for mmlgnet, not from the papers): see their headers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from mmlgnet.errors import ConfigError

#: Prompt templates (our choice: the paper's prompts are not published). Each class embedding is
#: the normalised mean over these, as in CLIP's zero-shot prompt ensembling.
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a hyperspectral image of {}.",
    "a remote sensing image of {}.",
    "an aerial view of {}.",
    "a LiDAR and hyperspectral scene showing {}.",
    "a satellite photo of {}.",
)
PROMPT_SOURCES = ("templates", "descriptions", "both")
SHIPPED_DIR = Path(__file__).parent / "descriptions"

Descriptions = dict[str, list[str]]


def build_prompts(class_names: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES) -> list[list[str]]:
    """(K, T) prompts: every template filled with every class name (the name as written, lower-cased)."""
    if not class_names:
        raise ValueError("class_names is empty")
    if not templates or any("{}" not in t for t in templates):
        raise ConfigError(f"--model.prompt_templates: expected a non-empty list of templates that each contain '{{}}' "
                          f"(where the class name goes), got {list(templates)}")
    return [[t.format(name.lower()) for t in templates] for name in class_names]


def shipped() -> list[str]:
    """Names of the description files shipped with the package (usable as --model.descriptions NAME)."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))


def _check_mapping(raw: object, where: str) -> Descriptions:
    if isinstance(raw, Mapping) and "class_descriptions" in raw:
        raw = raw["class_descriptions"]
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{where}: expected a mapping class name -> list of sentences (optionally under a "
                          f"'class_descriptions:' key), found {type(raw).__name__}. Write e.g. "
                          "`class_descriptions: {Trees: [tall woody plants with rounded crowns seen from above.]}`.")
    out: Descriptions = {}
    for name, sentences in raw.items():
        if isinstance(sentences, str):
            sentences = [sentences]
        if (not isinstance(sentences, Sequence) or not sentences
                or not all(isinstance(s, str) and s.strip() for s in sentences)):
            raise ConfigError(f"{where}: class {name!r} needs a non-empty list of non-empty sentences, "
                              f"found {sentences!r}.")
        out[str(name)] = [s.strip() for s in sentences]
    return out


def description_file(spec: str) -> Path:
    """The file `--model.descriptions spec` names: the path itself, else the shipped set of that name."""
    path = Path(spec)
    if not path.is_file() and (SHIPPED_DIR / f"{spec}.yaml").is_file():
        path = SHIPPED_DIR / f"{spec}.yaml"
    return path


def load_descriptions(spec: str) -> Descriptions:
    """The descriptions in a YAML file, or in the shipped file named `spec` (e.g. `trento`)."""
    path = description_file(spec)
    where = f"--model.descriptions {spec}"
    if not path.is_file():
        raise ConfigError(f"{where}: no such file, and not a shipped description set (shipped: {shipped()}). "
                          "Give a YAML file mapping each class name to a list of sentences.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{where}: cannot read {path} as YAML ({type(e).__name__}: "
                          f"{' '.join(str(e).split())[:200]}).") from e
    return _check_mapping(raw, f"{where} ({path})")


def resolve_descriptions(option: str | None, card: Mapping[str, Sequence[str]] | None,
                         scene_name: str) -> tuple[Descriptions, str]:
    """(descriptions, where they came from): the option, else the card's, else the file shipped for the scene."""
    if option:
        return load_descriptions(option), f"--model.descriptions {option}"
    if card:
        return _check_mapping(dict(card), "the scene card's class_descriptions"), "the scene card's class_descriptions"
    if scene_name and (SHIPPED_DIR / f"{scene_name}.yaml").is_file():
        return load_descriptions(scene_name), f"the shipped descriptions of {scene_name!r}"
    raise ConfigError(
        f"--model.prompts descriptions/both: no class descriptions for scene {scene_name!r}. Give "
        f"--model.descriptions FILE.yaml (class name -> list of sentences; shipped sets: {shipped()}), or "
        "class_descriptions in the scene card, or use --model.prompts templates."
    )


def class_prompts(class_names: Sequence[str], mode: str = "templates",
                  templates: Sequence[str] = DEFAULT_TEMPLATES, descriptions: Descriptions | None = None,
                  source: str = "the descriptions") -> list[list[str]]:
    """K rows of prompts: the filled templates, the class's description sentences, or both (templates first).

    Rows may differ in length (descriptions); each class embedding is the normalised mean over its row.
    """
    if mode not in PROMPT_SOURCES:
        raise ConfigError(f"--model.prompts: expected one of {list(PROMPT_SOURCES)}, got {mode!r}")
    rows = build_prompts(class_names, templates) if mode != "descriptions" else [[] for _ in class_names]
    if mode == "templates":
        return rows
    if descriptions is None:
        raise ConfigError(f"--model.prompts {mode}: no class descriptions were given")
    folded = {k.casefold(): v for k, v in descriptions.items()}
    missing = [n for n in class_names if n not in descriptions and n.casefold() not in folded]
    if missing:
        raise ConfigError(
            f"{source}: no description for class(es) {missing} (described: {sorted(descriptions)}). Add a list of "
            f"sentences for each, or use --model.prompts templates."
        )
    return [row + list(descriptions.get(n) or folded[n.casefold()]) for row, n in zip(rows, class_names, strict=True)]


def prompts_for(class_names: Sequence[str], mode: str = "templates", templates: Sequence[str] | None = None,
                option: str | None = None, card: Mapping[str, Sequence[str]] | None = None,
                scene_name: str = "") -> list[list[str]]:
    """The model's prompt rows from its options: `--model.prompts`, `--model.prompt_templates`,
    `--model.descriptions` (`option`), the card's class_descriptions (`card`) and the scene's name."""
    templates = tuple(templates) if templates else DEFAULT_TEMPLATES
    if mode == "templates":
        return class_prompts(class_names, mode, templates)
    descriptions, source = resolve_descriptions(option, card, scene_name)
    if option:  # the same rule as a card's class_descriptions (mmlgnet.data.scenes.card_load)
        refuse_unknown(descriptions, class_names, f"--model.descriptions {option} ({description_file(option)})")
    return class_prompts(class_names, mode, templates, descriptions, source)


def refuse_unknown(descriptions: Descriptions, class_names: Sequence[str], where: str) -> None:
    """ConfigError naming `where`, the described classes the scene lacks and the scene's classes (names are
    matched case-insensitively, as class_prompts matches them): a typo or another scene's file."""
    known = {n.casefold() for n in class_names}
    unknown = [name for name in descriptions if name.casefold() not in known]
    if unknown:
        raise ConfigError(f"{where}: describes class(es) {unknown} that the scene does not have (its classes: "
                          f"{list(class_names)}). Fix the names, or remove those entries from the file.")
