"""Class descriptions: the shipped sets, prompts templates|descriptions|both, where descriptions come from
(option, scene card, shipped set) and the errors naming a missing class or a bad file."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import yaml
from cardkit import write_card_scene

from mmlgnet.data.scenes.catalog import SPECS
from mmlgnet.data.scenes.synthetic import MAX_SYNTHETIC_CLASSES, make_synthetic_scene
from mmlgnet.errors import ConfigError
from mmlgnet.text.embeddings import class_text_embeddings
from mmlgnet.text.prompts import (
    SHIPPED_DIR,
    build_prompts,
    class_prompts,
    load_descriptions,
    prompts_for,
    resolve_descriptions,
    shipped,
)

REPO = Path(__file__).resolve().parents[2]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml")]


@pytest.mark.parametrize("scene", ["trento", "muufl", "houston2013", "synthetic"])
def test_shipped_descriptions_cover_every_class_and_are_marked_ours(scene: str) -> None:
    names = (SPECS[scene].class_names if scene in SPECS
             else make_synthetic_scene(height=8, width=8, num_classes=MAX_SYNTHETIC_CLASSES).class_names)
    desc = load_descriptions(scene)
    assert sorted(desc) == sorted(names)
    assert all(len(sentences) >= 3 for sentences in desc.values())
    text = (SHIPPED_DIR / f"{scene}.yaml").read_text()
    assert "OURS" in text and yaml.safe_load(text)["source"] == "mmlgnet (ours)"
    assert scene in shipped()


def test_prompt_modes() -> None:
    desc = {"Trees": ["tall woody plants.", "crowns seen from above."], "Road": ["a paved strip."]}
    templates = ("a {}.", "an image of {}.")
    assert class_prompts(["Trees", "Road"], "templates", templates) == build_prompts(["Trees", "Road"], templates)
    assert class_prompts(["Trees", "Road"], "descriptions", templates, desc) == [desc["Trees"], desc["Road"]]
    both = class_prompts(["Trees", "Road"], "both", templates, desc)
    assert both == [["a trees.", "an image of trees.", *desc["Trees"]], ["a road.", "an image of road.", *desc["Road"]]]
    assert class_prompts(["trees"], "descriptions", templates, desc) == [desc["Trees"]]  # case-insensitive names
    with pytest.raises(ConfigError, match=r"no description for class\(es\) \['Water'\]"):
        class_prompts(["Trees", "Water"], "descriptions", templates, desc, "my.yaml")
    with pytest.raises(ConfigError, match="--model.prompts"):
        class_prompts(["Trees"], "sentences", templates, desc)


def test_description_files_and_their_errors(tmp_path: Path) -> None:
    good = tmp_path / "d.yaml"
    good.write_text(yaml.safe_dump({"class_descriptions": {"Trees": ["a", "b"], "Road": "one sentence"}}))
    assert load_descriptions(str(good)) == {"Trees": ["a", "b"], "Road": ["one sentence"]}
    flat = tmp_path / "flat.yaml"
    flat.write_text(yaml.safe_dump({"Trees": ["a"]}))  # a plain mapping works too
    assert load_descriptions(str(flat)) == {"Trees": ["a"]}
    with pytest.raises(ConfigError, match="no such file"):
        load_descriptions(str(tmp_path / "missing.yaml"))
    (tmp_path / "bad.yaml").write_text("Trees: [unclosed")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_descriptions(str(tmp_path / "bad.yaml"))
    (tmp_path / "empty.yaml").write_text(yaml.safe_dump({"Trees": []}))
    with pytest.raises(ConfigError, match="'Trees' needs a non-empty list"):
        load_descriptions(str(tmp_path / "empty.yaml"))
    (tmp_path / "list.yaml").write_text(yaml.safe_dump(["Trees"]))
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_descriptions(str(tmp_path / "list.yaml"))


def test_where_descriptions_come_from(tmp_path: Path) -> None:
    option = tmp_path / "o.yaml"
    option.write_text(yaml.safe_dump({"Trees": ["from the option"]}))
    card = {"Trees": ["from the card"]}
    assert resolve_descriptions(str(option), card, "trento")[0] == {"Trees": ["from the option"]}
    assert resolve_descriptions(None, card, "trento")[0] == {"Trees": ["from the card"]}
    assert resolve_descriptions(None, None, "trento")[0] == load_descriptions("trento")
    assert resolve_descriptions("muufl", None, "trento")[0] == load_descriptions("muufl")  # a shipped set by name
    with pytest.raises(ConfigError, match="no class descriptions for scene 'my_scene'"):
        resolve_descriptions(None, None, "my_scene")
    rows = prompts_for(list(SPECS["trento"].class_names), "descriptions", None, None, None, "trento")
    assert rows[0] == load_descriptions("trento")["Apple trees"]


def test_descriptions_change_the_embeddings(tmp_path: Path) -> None:
    names = list(SPECS["trento"].class_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        kw = {"model_name": "mmlgnet-tiny", "pretrained": None, "cache_dir": tmp_path}
        templ = class_text_embeddings(names, **kw)
        desc = class_text_embeddings(names, prompts=prompts_for(names, "descriptions", scene_name="trento"), **kw)
        both = class_text_embeddings(names, prompts=prompts_for(names, "both", scene_name="trento"), **kw)
    assert len(list(tmp_path.glob("*.pt"))) == 3  # three cache entries: the prompts are in the key
    assert not torch.allclose(templ, desc) and not torch.allclose(desc, both)


def test_card_descriptions_reach_the_model_through_the_cli(tmp_path: Path) -> None:
    from mmlgnet.cli import main

    desc = {"grass": ["a lawn.", "flat green ground."], "trees": ["tree crowns."], "asphalt road": ["a dark road."]}
    card, scene, _ = write_card_scene(tmp_path / "data", extra={"class_descriptions": desc})
    cli = main(["fit", *BASE, "--data.scene", str(card), "--data.split", "standard", "--model.prompts", "both",
                "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--trainer.max_epochs", "0",
                "--allow_untrained", "true"])
    names = list(scene.class_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = class_text_embeddings(names, model_name="mmlgnet-tiny", pretrained=None,
                                         prompts=class_prompts(names, "both", descriptions=desc))
    torch.testing.assert_close(cli.model.head.class_embeddings, expected)  # (re-normalised by TextHead)
    assert cli.model.hparams["class_descriptions"] == desc  # saved with the checkpoint's hyperparameters
    import json

    rec = json.loads(next((tmp_path / "runs").rglob("test_metrics.json")).read_text())
    assert rec["variant"]["prompts"] == "both" and rec["variant"]["descriptions"] is None
    del desc["trees"]
    card2, _, _ = write_card_scene(tmp_path / "data2", extra={"class_descriptions": desc})
    with pytest.raises(ConfigError, match=r"class_descriptions: no description for class\(es\) \['trees'\]"):
        main(["fit", *BASE, "--data.scene", str(card2), "--data.split", "standard", "--model.prompts", "descriptions",
              "--trainer.logger.init_args.save_dir", str(tmp_path / "runs2"), "--trainer.max_epochs", "0",
              "--allow_untrained", "true"])


def test_descriptions_with_coop_is_refused() -> None:
    from mmlgnet.training.module import MMLGNetModule

    with pytest.raises(ConfigError, match="--model.prompts descriptions with --model.prompt_learning coop"):
        MMLGNetModule(num_classes=2, class_names=["grass", "trees"], text_model="mmlgnet-tiny", text_pretrained=None,
                      prompts="descriptions", prompt_learning="coop")


def test_a_descriptions_file_describing_a_class_the_scene_lacks_is_refused(tmp_path: Path) -> None:
    """The rule of a card's class_descriptions (an unknown class is refused) holds for --model.descriptions."""
    from mmlgnet.training.module import MMLGNetModule

    path = tmp_path / "other_scene.yaml"
    path.write_text(yaml.safe_dump({"Trees": ["crowns."], "Road": ["a strip."], "Lava": ["hot rock."]}))
    with pytest.raises(ConfigError) as info:
        prompts_for(["Trees", "Road"], "descriptions", option=str(path))
    msg = str(info.value)
    assert str(path) in msg and "['Lava']" in msg and "['Trees', 'Road']" in msg
    with pytest.raises(ConfigError, match=r"describes class\(es\) \['Lava'\]"):
        MMLGNetModule(num_classes=2, class_names=["Trees", "Road"], text_model="mmlgnet-tiny", text_pretrained=None,
                      prompts="both", descriptions=str(path))
    path.write_text(yaml.safe_dump({"trees": ["crowns."], "ROAD": ["a strip."]}))  # names match case-insensitively
    assert prompts_for(["Trees", "Road"], "descriptions", option=str(path)) == [["crowns."], ["a strip."]]
    few = make_synthetic_scene(height=8, width=8, num_classes=4).class_names  # the shipped 16-class set, unasked
    assert len(prompts_for(list(few), "descriptions", scene_name="synthetic")) == 4
