"""The network contract: any torch.nn.Module as MMLGNet's vision backbone (`--model.network`).

A network is given as `class_path` / `init_args` (YAML or command line); the package calls it with the
data-decided keyword arguments

    network(hsi_bands=C_hsi, lidar_bands=C_lidar, patch_size=P, out_dim=F, **init_args)

and `forward(hsi, lidar)` takes float tensors (B, C_hsi, P, P), (B, C_lidar, P, P) and returns features
(B, F). F is the network's class attribute `reference_out_dim` when it has one (the width of the published
method's classifier input), else `--model.network_out_dim`. On top sit the package's parts, unchanged:
`head: linear` is Linear(F, K) + cross-entropy; `head: text` projects the features to the text width D with a
Linear (MMLGNet's projection) and scores them against the class-prompt embeddings (InfoNCE). Optional: a
method `auxiliary_loss() -> Tensor` (a 0-dim loss of the latest forward, e.g. EndNet's reconstruction
error), added to the training loss of every step.

A class path that does not import as a torch.nn.Module class (module missing, attribute missing, not a
Module) is refused before LightningCLI parses (`check_network_option`, called by mmlgnet.cli.main): one line
`--model.network.class_path X: <what failed> (<fix>)`, exit 2, for the command line and config files alike.

With no `--model.network` the package builds MMLGNet itself from the `--model.hsi_encoder` ... options
(mmlgnet.models.mmlgnet.MMLGNet: encoders + fusion + projection), exactly as before the contract existed.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from mmlgnet.errors import ConfigError

CONTRACT_KWARGS: tuple[str, ...] = ("hsi_bands", "lidar_bands", "patch_size", "out_dim")


class NetworkFactory(Protocol):
    """What `--model.network` gives: a network class with its init_args bound (jsonargparse builds the partial
    from class_path / init_args and leaves these four keyword arguments to the package)."""

    def __call__(self, *, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int) -> nn.Module: ...


class NetworkContractError(ConfigError):
    """A `--model.network` class that does not keep the network contract (README, "Networks")."""


def network_name(factory: Any) -> str:
    """'module.Class' of a class or of a (jsonargparse / functools) partial of one, for messages."""
    target = _network_class(factory)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


def _network_class(factory: Any) -> Any:
    """The class behind `factory`: a class, a functools.partial of one, or jsonargparse's
    partial(instantiator, cls, **init_args)."""
    while isinstance(factory, functools.partial):
        factory = next((a for a in factory.args if inspect.isclass(a)), factory.func)
    return factory


def feature_width(factory: Any, network_out_dim: int) -> int:
    """F: the network's `reference_out_dim` class attribute if it has one, else `--model.network_out_dim`."""
    ref = getattr(_network_class(factory), "reference_out_dim", None)
    return int(ref) if isinstance(ref, int) and not isinstance(ref, bool) and ref > 0 else int(network_out_dim)


def _expected() -> str:
    return ("a torch.nn.Module whose constructor takes the keyword arguments hsi_bands, lidar_bands, patch_size, "
            "out_dim (plus its init_args) and whose forward(hsi, lidar) returns float features (B, out_dim)")


def build_network(factory: NetworkFactory, *, hsi_bands: int, lidar_bands: int, patch_size: int,
                  out_dim: int) -> nn.Module:
    """Construct the user's network with the contract's keyword arguments and check it with a dry forward on a
    tiny zero batch (eval mode, no gradient, no random numbers drawn): any break of the contract is one
    NetworkContractError naming the class and what was expected."""
    name = network_name(factory)
    cls = _network_class(factory)
    if inspect.isclass(cls) and not issubclass(cls, nn.Module):
        raise NetworkContractError(f"--model.network.class_path {name}: not a torch.nn.Module subclass; expected "
                                   f"{_expected()}")
    try:
        params: Mapping[str, inspect.Parameter] = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin): the call below decides
        params = {}
    if params and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        missing = [k for k in CONTRACT_KWARGS if k not in params]
        if missing:
            raise NetworkContractError(f"--model.network.class_path {name}: its constructor has no parameter "
                                       f"{', '.join(missing)}; expected {_expected()}")
    kwargs = {"hsi_bands": int(hsi_bands), "lidar_bands": int(lidar_bands), "patch_size": int(patch_size),
              "out_dim": int(out_dim)}
    try:
        net = factory(**kwargs)
    except (TypeError, ValueError) as e:
        raise NetworkContractError(f"--model.network.class_path {name}: constructing it with {kwargs} failed "
                                   f"({type(e).__name__}: {e}); expected {_expected()}") from e
    if not isinstance(net, nn.Module):
        raise NetworkContractError(f"--model.network.class_path {name}: construction returned "
                                   f"{type(net).__name__}, not a torch.nn.Module; expected {_expected()}")
    check_forward(net, name, hsi_bands, lidar_bands, patch_size, out_dim)
    return net


def check_forward(net: nn.Module, name: str, hsi_bands: int, lidar_bands: int, patch_size: int,
                  out_dim: int) -> None:
    """Dry forward of 2 zero pixels: the output must be a floating tensor (2, out_dim)."""
    hsi = torch.zeros(2, hsi_bands, patch_size, patch_size)  # (B=2, C_hsi, P, P)
    lidar = torch.zeros(2, lidar_bands, patch_size, patch_size)  # (B=2, C_lidar, P, P)
    was_training = net.training
    net.eval()  # no BatchNorm statistics updated, no dropout drawn
    try:
        with torch.no_grad():
            out = net(hsi, lidar)
    except Exception as e:  # any failure of the user's forward is a contract break at setup
        raise NetworkContractError(
            f"--model.network.class_path {name}: forward(hsi {tuple(hsi.shape)}, lidar {tuple(lidar.shape)}) "
            f"failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); expected {_expected()}"
        ) from e
    finally:
        net.train(was_training)
    if not isinstance(out, Tensor) or out.shape != (2, out_dim) or not out.is_floating_point():
        got = (f"{out.dtype} tensor of shape {tuple(out.shape)}" if isinstance(out, Tensor)
               else type(out).__name__)
        raise NetworkContractError(f"--model.network.class_path {name}: forward returned {got} for 2 pixels; "
                                   f"expected a floating tensor of shape (2, {out_dim}) (B, out_dim)")


class ProjectedNetwork(nn.Module):
    """A contract network followed by the package's projection: Linear(F, D) for the text head, identity for
    the linear head (the published classifier is then exactly the head's Linear(F, K))."""

    def __init__(self, network: nn.Module, projection: nn.Module) -> None:
        super().__init__()
        self.network = network
        self.projection = projection

    def forward(self, hsi: Tensor | None = None, lidar: Tensor | None = None) -> Tensor:
        """(B, C_hsi, P, P), (B, C_lidar, P, P) → (B, D) (text) or (B, F) (linear)."""
        return self.projection(self.network(hsi, lidar))

    def auxiliary_loss(self) -> Tensor | None:
        """The network's `auxiliary_loss()` of the latest forward, or None when it has none."""
        aux = getattr(self.network, "auxiliary_loss", None)
        return aux() if callable(aux) else None


def vision_side(factory: NetworkFactory, *, head: str, hsi_bands: int, lidar_bands: int, patch_size: int,
                text_dim: int, network_out_dim: int) -> ProjectedNetwork:
    """The user's network (checked) + the projection of `head`; the network is constructed first."""
    width = feature_width(factory, network_out_dim)
    net = build_network(factory, hsi_bands=hsi_bands, lidar_bands=lidar_bands, patch_size=patch_size,
                        out_dim=width)
    projection: nn.Module = nn.Linear(width, text_dim) if head == "text" else nn.Identity()
    return ProjectedNetwork(net, projection)


def auxiliary_loss(net: nn.Module) -> Tensor | None:
    """The auxiliary loss of a ProjectedNetwork's network (None for MMLGNet and networks without one)."""
    return net.auxiliary_loss() if isinstance(net, ProjectedNetwork) else None


class NetworkImportError(NetworkContractError):
    """A `--model.network.class_path` that names no importable torch.nn.Module class."""


#: The subcommands of `python -m mmlgnet` (a top-level `--config` file holds their options under these keys).
_SUBCOMMANDS = ("fit", "validate", "test", "predict")


def check_class_path(class_path: str, given_in: str = "") -> type[nn.Module]:
    """The class `class_path` ('package.module.Class') names, imported; NetworkImportError otherwise.

    One line: `--model.network.class_path <path>: <what failed> (<fix>)`. `given_in` (e.g. "set in
    configs/x.yaml") is added to the fix, so a class path from a config file names that file.
    """
    import importlib

    def fail(what: str, fix: str) -> NetworkImportError:
        return NetworkImportError(f"--model.network.class_path {class_path}: {what} "
                                  f"({f'{given_in}; ' if given_in else ''}{fix})")

    module_name, _, attr = class_path.rpartition(".")
    if not module_name or not attr or not all(p.isidentifier() for p in class_path.split(".")):
        raise fail("not a dotted path module.Class", "give the module's import path and the class name, e.g. "
                   "mypkg.mynet.MyNet")
    top = module_name.partition(".")[0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = e.name or ""
        if missing == top:
            raise fail(f"no module named {missing!r}", f"is {top} on PYTHONPATH? Run from the folder that holds "
                       f"{top}, or `export PYTHONPATH=/path/to/that/folder`; check the spelling") from None
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            parent = sys.modules.get(missing.rpartition(".")[0])
            at = getattr(parent, "__file__", None) or list(getattr(parent, "__path__", []))
            raise fail(f"no module named {missing!r}", f"{missing.rpartition('.')[0]} was found at {at}: check "
                       "the module path's spelling") from None
        raise fail(f"importing {module_name} failed: it imports {missing or str(e)!r}, which is not installed",
                   f"install {missing or 'it'} or fix that import") from None
    except Exception as e:  # a SyntaxError or any failure while the user's module runs
        first = str(e).splitlines()[0] if str(e) else ""
        raise fail(f"importing {module_name} failed ({type(e).__name__}: {first})",
                   "fix that module; MMLGNET_DEBUG=1 shows the traceback") from None
    target = getattr(module, attr, None)
    if target is None:
        found = sorted(n for n, v in vars(module).items()
                       if inspect.isclass(v) and issubclass(v, nn.Module) and v.__module__ == module.__name__)
        raise fail(f"module {module_name} has no attribute {attr}",
                   f"its torch.nn.Module classes: {', '.join(found)}" if found
                   else f"it defines no torch.nn.Module class; check the class name and module {module_name}")
    if not inspect.isclass(target) or not issubclass(target, nn.Module):
        kind = "a class" if inspect.isclass(target) else f"a {type(target).__name__}"
        raise fail(f"{kind}, not a torch.nn.Module subclass", "the network contract needs a torch.nn.Module "
                   "class whose constructor takes hsi_bands, lidar_bands, patch_size, out_dim")
    return target


def given_class_path(args: Sequence[str]) -> tuple[str, str] | None:
    """The `model.network` class path the command line `args` of `python -m mmlgnet` set last, with where it was
    given ("" for the command line, else "set in <file>"); None when none is set (or the last one is null).

    Read: `--model.network.class_path X`, `--model.network X` (a class path, or a YAML/JSON mapping or file
    with `class_path`), `--model FILE` (a model config) and `--config` / `-c FILE` at either level (also a YAML
    string), with `--opt=value` forms; later ones win, as in jsonargparse. A config file's `model:` may itself be
    a file name (read relative to that config's folder, then the working folder).
    """
    found: tuple[str, str] | None = None
    sub = next((a for a in args if a in _SUBCOMMANDS), None)
    tokens = list(args)
    i = 0
    while i < len(tokens):
        key, eq, value = tokens[i].partition("=")
        if not eq:
            value = tokens[i + 1] if i + 1 < len(tokens) else ""
        step = 1 if eq else 2
        if key in ("--config", "-c"):
            data, where = _load(value, Path.cwd())
            if isinstance(data, Mapping) and sub in data and isinstance(data[sub], Mapping):
                data = data[sub]  # a top-level config: the subcommand's options under its name
            found = _from_model(data.get("model") if isinstance(data, Mapping) else None, where, found)
        elif key == "--model":
            data, where = _load(value, Path.cwd())
            found = _from_model(data, where, found)
        elif key == "--model.network":
            found = _from_network(_load(value, Path.cwd())[0], "", found)
        elif key == "--model.network.class_path":
            found = (value, "")
        else:
            step = 1
        i += step
    return found if found and found[0] else None


def _load(value: str, base: Path) -> tuple[Any, str]:
    """A config value as jsonargparse reads it: an existing file's YAML (where = "set in <file>"), else the text
    as YAML (a mapping given inline), else the plain string."""
    import yaml

    path = Path(value) if Path(value).is_absolute() else base / value
    try:
        if value and path.is_file():
            return yaml.safe_load(path.read_text()), f"set in {value if base == Path.cwd() else path}"
        return yaml.safe_load(value), ""
    except (OSError, yaml.YAMLError):
        return value, ""


def _from_model(model: Any, where: str, found: tuple[str, str] | None) -> tuple[str, str] | None:
    """`model:` of a config: a mapping holding `network`, or the name of a model config file."""
    if isinstance(model, str):
        base = Path(where.removeprefix("set in ")).parent if where else Path.cwd()
        model, where = _load(model, base) if (base / model).is_file() else _load(model, Path.cwd())
    if isinstance(model, Mapping) and "network" in model:
        return _from_network(model["network"], where, found)
    return found


def _from_network(network: Any, where: str, found: tuple[str, str] | None) -> tuple[str, str] | None:
    if network is None:
        return ("", where)  # `network: null`: back to the default MMLGNet
    if isinstance(network, str):
        return (network, where)
    if isinstance(network, Mapping) and isinstance(network.get("class_path"), str):
        return (network["class_path"], where)
    return found  # only init_args: the class path stays


def check_network_option(args: Sequence[str]) -> None:
    """Before LightningCLI parses `args`: the class path of `--model.network` (command line or config file) must
    import as a torch.nn.Module class, else one NetworkImportError line (jsonargparse would print a
    multi-line union dump instead)."""
    given = given_class_path(args)
    if given is not None and "." in given[0]:  # a bare name is jsonargparse's to resolve (an imported subclass)
        check_class_path(*given)


def check_saved_network(hyper_parameters: Mapping[str, Any], ckpt_path: object) -> None:
    """The network class path a checkpoint's hyperparameters name (test/predict --ckpt_path) must import too:
    one NetworkImportError line naming the checkpoint (jsonargparse would dump the union error while it reads
    them)."""
    network = hyper_parameters.get("network")
    class_path = network.get("class_path") if isinstance(network, Mapping) else None
    if isinstance(class_path, str) and "." in class_path:
        check_class_path(class_path, f"saved in --ckpt_path {ckpt_path}")
