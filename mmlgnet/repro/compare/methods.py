"""The established HSI+LiDAR methods the `baselines` / `baselines-text` groups run, as plain data.

Each method is a network of `mmlgnet.models.baselines` with its reference recipe in
`configs/baselines/<name>.yaml` (patch size, optimiser, weight decay, schedule, augmentation, epochs,
normalisation; each value marked "(reference)" or "(ours)"). `min_patch` is the smallest patch the network
accepts: a `--common-patch` below it leaves the method out of the plan with the reason, instead of a failed run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str  # variant name, results/<setting>/<name>/, configs/baselines/<name>.yaml
    label: str  # table label
    paper: str  # citation for the table's notes
    reference_patch: int  # the reference implementation's patch size (its overlay's data.patch_size)
    min_patch: int = 1


METHODS: tuple[Method, ...] = (
    Method("fusatnet", "FusAtNet", "Mohla et al., CVPRW 2020", 11, min_patch=11),
    Method("two_branch", "Two-Branch CNN", "Xu et al., TGRS 2018", 11),
    Method("s2enet", "S²ENet", "Fang et al., GRSL 2022", 7),
    Method("endnet", "EndNet", "Hong et al., GRSL 2020", 1),
    Method("mdl_middle", "MDL-RS middle fusion", "Hong et al., TGRS 2021", 7),
    Method("mft", "MFT", "Roy et al., TGRS 2023", 11),
)
BY_NAME = {m.name: m for m in METHODS}


def method_of(variant: str) -> Method | None:
    """The method a variant name runs (`mft`, `mft-text`), or None for any other variant."""
    return BY_NAME.get(variant.removesuffix("-text"))


def too_small(variant: str, patch: int) -> str:
    """Why `variant` cannot run at patch size `patch` ("" when it can)."""
    m = method_of(variant)
    if m is None or patch >= m.min_patch:
        return ""
    return (f"{m.label} needs patches of at least {m.min_patch}×{m.min_patch} (--common-patch {patch} is smaller); "
            "no row")
