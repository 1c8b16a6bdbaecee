"""Fingerprint of a run: its fully resolved config (from the real CLI parser), data files and package versions.

A finished run is reused only when its fingerprint equals the plan's. The config is resolved by the real
LightningCLI parser (`fit ... --print_config`, in-process, nothing instantiated), so every config file, every
override and every default takes part exactly as the run will see it; nothing here re-implements merging.

Left out, because they cannot change the numbers (`EXCLUDED`): where logs go (`trainer.logger`, including
W&B project/name/tags, and `trainer.default_root_dir`), progress bar and model summary, the data folder's path
`data.root` (replaced by the identity of the files in it), the text-embedding cache folder
`model.text_cache_dir` (its content is validated on load) and the full-scene maps written after the test
(`predict_after_fit`, `predict_writer`). The seeds (`seed_everything`, `data.split_seed`) are set by the runner
per seed: the fingerprint holds `"<seed>"` there, so all seeds of one row share one fingerprint (a seed fixed by
an extra override keeps its value).

A user's network (`--model.network.class_path` outside `mmlgnet`, e.g. from a --variants-file entry) decides the
numbers through its source, which the config does not hold: the fingerprint adds the sha256 of every `.py` file
of the network's top-level package (for a lone module, of that module's file), so an edit reruns the variant
(`network_source`). The package's own networks are covered by mmlgnet's version instead, as all of its code is.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import io
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import mmlgnet
from mmlgnet.data.io.download import sha256sum
from mmlgnet.errors import ConfigError, UserError

#: Config keys that cannot change a run's numbers, with the reason (documented in the README).
EXCLUDED: dict[str, str] = {
    "trainer.logger": "where logs go (CSV folder, W&B project/name/group/tags)",
    "trainer.default_root_dir": "where logs and checkpoints go",
    "trainer.enable_progress_bar": "console output only",
    "trainer.enable_model_summary": "console output only",
    "data.root": "the data folder's path: replaced by the size + sha256 of every file in it",
    "model.text_cache_dir": "where text embeddings are cached (validated on load)",
    "predict_after_fit": "full-scene maps are written after the test: they do not change the numbers",
    "predict_writer": "full-scene maps are written after the test: they do not change the numbers",
}
#: Set by the runner to the run's seed: the fingerprint holds SEED_PLACEHOLDER there.
SEED_KEYS = ("seed_everything", "data.split_seed")
SEED_PLACEHOLDER = "<seed>"
#: The seed the plan's configs are resolved with: replaced by SEED_PLACEHOLDER wherever it survives.
SENTINEL_SEED = 1_234_567_891
#: LightningCLI warns when given args while sys.argv holds other ones: in-process calls do that on purpose.
IN_PROCESS_ARGS_WARNING = r"LightningCLI's args parameter is intended"


@dataclass(frozen=True)
class Fingerprint:
    """`short` (12 hex digits, shown in tables) and `full` sha256 of `payload` (saved as fingerprint.json)."""

    short: str
    full: str
    payload: dict[str, Any] = field(compare=False, repr=False)

    @property
    def max_epochs(self) -> int | None:
        return _get(self.payload["config"], "trainer.max_epochs")

    @property
    def threads(self) -> int | None:
        """The runs' `--threads` (mmlgnet.training.runtime): part of the config, so of the fingerprint."""
        return _get(self.payload["config"], "threads")


def resolved_config(cli_args: Sequence[str], what: str = "") -> dict[str, Any]:
    """The config `python -m mmlgnet <cli_args>` would run with, as the real CLI parser resolves it.

    Raises ConfigError (with the parser's message) when the options do not parse, so a typo in an override
    is reported before anything runs.
    """
    from mmlgnet.cli import main  # Lightning: imported only when a plan is made

    out, err = io.StringIO(), io.StringIO()
    code: Any = "no exit"
    try:
        with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=IN_PROCESS_ARGS_WARNING)
            main([*cli_args, "--print_config"])
    except SystemExit as e:
        code = e.code
    except UserError as e:  # refused before parsing (e.g. a --model.network.class_path that does not import)
        raise ConfigError(f"{what or 'a run'}: {e}") from None
    if code not in (0, None):
        tail = "\n".join(err.getvalue().strip().splitlines()[-4:])
        raise ConfigError(f"The options of {what or 'a run'} do not parse (exit code {code}): {tail}\n"
                          "Fix the option named above (extra overrides go after `--`); see "
                          "`python -m mmlgnet fit --help`.")
    cfg = yaml.safe_load(out.getvalue())
    if not isinstance(cfg, dict):
        raise ConfigError(f"`fit --print_config` printed no config for {what or 'a run'}: {out.getvalue()[:200]!r}")
    return cfg


class Fingerprinter:
    """Fingerprints runs; hashes each data folder once per invocation (one instance per invocation)."""

    def __init__(self) -> None:
        self._files: dict[Path, dict[str, dict[str, Any]]] = {}

    def __call__(self, cli_args: Sequence[str], what: str = "") -> Fingerprint:
        """`cli_args` must set the seeds to SENTINEL_SEED (the plan does): they become SEED_PLACEHOLDER."""
        return self.of_config(resolved_config(cli_args, what), what)

    def of_config(self, cfg: dict[str, Any], what: str = "") -> Fingerprint:
        """`what` (the setting / variant) names the run in errors."""
        payload = {
            "config": normalise(cfg),
            "data": self.data_identity(cfg),
            "weights": text_weights(cfg),
            "versions": versions(),
            "build": numeric_build(),
        }
        source = network_source(cfg, what)
        if source is not None:  # only for a user's network: every other fingerprint stays as it was
            payload["network_source"] = source
        full = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
        return Fingerprint(full[:12], full, payload)

    def data_identity(self, cfg: dict[str, Any]) -> dict[str, Any]:
        """{"scene", "files": {relative path: {size, sha256}}} of every non-hidden file the scene may read.

        The synthetic scene has no files: its generator settings (`data.synthetic_*`) are in the config.
        A real scene's files are those under `data.root` (default data/<scene>); a scene card's, those beside it.
        """
        scene = str(_get(cfg, "data.scene"))
        if scene == "synthetic":
            return {"scene": scene, "files": "generated from the data.synthetic_* options of the config"}
        card = Path(scene)
        root = card.parent if card.suffix in (".yaml", ".yml") else Path(_get(cfg, "data.root") or Path("data") / scene)
        key = root.resolve()
        if key not in self._files:
            files = sorted(p for p in key.rglob("*") if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(key).parts))
            self._files[key] = {p.relative_to(key).as_posix(): self.file_identity(p) for p in files}
        return {"scene": scene, "files": self._files[key]}

    @staticmethod
    def file_identity(path: Path) -> dict[str, Any]:
        return {"size": path.stat().st_size, "sha256": sha256sum(path)}


def normalise(cfg: dict[str, Any]) -> dict[str, Any]:
    """The config without EXCLUDED keys and with the runner's seeds replaced by SEED_PLACEHOLDER."""
    out = copy.deepcopy(cfg)
    for key in EXCLUDED:
        parent = _get(out, key.rpartition(".")[0]) if "." in key else out
        if isinstance(parent, dict):
            parent.pop(key.rpartition(".")[2], None)
    for key in SEED_KEYS:
        if _get(out, key) == SENTINEL_SEED:
            head, _, last = key.rpartition(".")
            (_get(out, head) if head else out)[last] = SEED_PLACEHOLDER
    return out


@functools.cache
def code_digest() -> str:
    """sha256 (12 hex digits) of the package's sources: recorded beside each run, NOT part of the fingerprint.

    Any edit (a comment, the README tool) would change it, so it only serves a warning when a reused run was
    made by other code; bump mmlgnet.__version__ (part of the fingerprint) or pass --force to rerun.
    """
    root = Path(mmlgnet.__file__).parent
    digest = hashlib.sha256()
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.json")]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def versions() -> dict[str, str]:
    import lightning
    import torch

    return {"mmlgnet": mmlgnet.__version__, "torch": str(torch.__version__), "lightning": lightning.__version__,
            **text_versions()}


def text_versions() -> dict[str, str]:
    """The versions of the text-model libraries: they decide what a tag means and how a text tower computes."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for key, dist in (("open_clip", "open_clip_torch"), ("sentence_transformers", "sentence-transformers")):
        try:
            out[key] = version(dist)
        except PackageNotFoundError:
            out[key] = "not installed"
    return out


#: pip packages of the CUDA libraries whose version can change a GPU run's numbers (matched as name prefixes)
CUDA_LIBRARIES = ("nvidia-cublas", "nvidia-cudnn", "nvidia-cufft", "nvidia-curand", "nvidia-cusolver",
                  "nvidia-cusparse", "nvidia-nccl")


@functools.cache
def numeric_build() -> dict[str, Any]:
    """The builds of the numeric libraries, beyond `versions()`: their versions can change a run's numbers.

    torch's version string names its build (`+cu130`, `+cpu`; oneDNN and MKL come inside it); the CUDA toolkit it
    was built with; the cuDNN it loads; the pip-installed CUDA libraries (upgraded apart from torch); numpy and
    scipy (synthetic scenes, splits). The device itself (CPU model, GPU name) is NOT here: the runner does not
    know where a run will execute (a SLURM node, `accelerator: auto`), and identical machines should share
    results; each run records its device in test_metrics.json and run.json (`environment`).
    """
    from importlib import metadata

    import numpy
    import scipy
    import torch

    from mmlgnet.training.runtime import cudnn_version

    libs = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name.startswith(CUDA_LIBRARIES):
            libs[name] = dist.version
    return {"torch_cuda": torch.version.cuda, "cudnn": cudnn_version(), "cuda_libraries": dict(sorted(libs.items())),
            "numpy": numpy.__version__, "scipy": scipy.__version__}


def run_environment(run_dir: Path, load: Callable[[Path], Any] | None = None) -> dict[str, Any] | None:
    """The `environment` a run recorded in its test_metrics.json (threads, device, torch build), for run.json.

    None when the run wrote none (it failed before testing, or an older mmlgnet made it). `load` reads the file
    (the registry's: once per invocation); by default json.loads.
    """
    path = Path(run_dir) / "test_metrics.json"
    try:
        env = (load(path) if load is not None else json.loads(path.read_text())).get("environment")
    except (OSError, ValueError, AttributeError):
        return None
    return env if isinstance(env, dict) else None


def text_weights(cfg: dict[str, Any]) -> dict[str, Any]:
    """The text model's weights by content (mmlgnet.text.encoders.run_weights): a local checkpoint's sha256,
    a preset's recipe (activation, strictness) with its file or hub revision + sha256, a sentence-transformers
    folder's content. Empty for an open_clip tag or an untrained tower."""
    from mmlgnet.text.encoders import run_weights

    return run_weights(_get(cfg, "model"))


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split(".") if dotted else ():
        cfg = cfg.get(part) if isinstance(cfg, dict) else None
    return cfg


def network_source(cfg: dict[str, Any], what: str = "") -> dict[str, Any] | None:
    """{"class_path", "files": {path: sha256}} of a `model.network` outside mmlgnet; None for none or ours.

    Covered: every `.py` file under the folder(s) of the class's top-level package (`mypkg/**.py` for
    `mypkg.nets.MyNet`: the helper modules it imports from its own package too, an unrelated edit there
    reruns it as well), or the one file of a top-level module (`mynet.py`). Not covered: code outside that
    package (a sibling module it imports, installed libraries beyond those in `versions()`), files it reads
    that are not `.py` (weights, JSON) and compiled extensions. A class path that does not import is a
    ConfigError naming `what` (the run) and the class path.
    """
    from mmlgnet.training.network import check_class_path

    net = _get(cfg, "model.network")
    class_path = net.get("class_path") if isinstance(net, dict) else net
    if not isinstance(class_path, str) or not class_path:
        return None
    try:
        cls = check_class_path(class_path)
    except UserError as e:
        raise ConfigError(f"{what or 'a run'}: {e}") from None
    top = cls.__module__.partition(".")[0]
    if top == mmlgnet.__name__:
        return None  # the package's own code: its version is in the fingerprint
    module = sys.modules.get(top)
    folders = [Path(p) for p in getattr(module, "__path__", ())]
    if folders:
        files = {f"{top}/{p.relative_to(folder).as_posix()}": p for folder in folders for p in folder.rglob("*.py")
                 if not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(folder).parts)}
    else:
        source = inspect.getsourcefile(cls)
        if source is None:
            raise ConfigError(f"{what or 'a run'}: --model.network.class_path {class_path}: its source file cannot "
                              "be found (defined in a compiled or interactive module), so results cannot be tied "
                              "to its code; define the class in a .py file on PYTHONPATH.")
        files = {Path(source).name: Path(source)}
    return {"class_path": class_path, "files": {name: sha256sum(path) for name, path in sorted(files.items())}}
