"""DESIGN §5: the core (models, losses, text, scenes and what they import) is plain PyTorch/NumPy, no Lightning."""

import subprocess
import sys

DATA = {"scenes", "scene", "synthetic", "matfiles", "rasters", "readers", "envi_roi", "cards", "card_load", "georef",
        "normalization", "patches", "splits"}


def test_core_modules_do_not_import_lightning():
    core = ("models", "losses", "text.embeddings", "text.cache", "scenes", "scene", "synthetic", "matfiles", "rasters", "readers",
            "envi_roi", "cards", "card_load", "georef", "normalization", "patches", "splits", "atomic", "errors")
    code = ("import sys; " + "; ".join(f"import mmlgnet.{'data.' + m if m in DATA else m}" for m in core) + "; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')))")
    # timeout: a hang guard sized for a loaded 2-core machine (~9 CPU-s of imports took 54 s of 120 there)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
