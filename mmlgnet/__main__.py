"""Entry point: `python -m mmlgnet fit --config configs/demo.yaml` (user errors: one line, exit code 2)."""

from mmlgnet.cli import run

if __name__ == "__main__":
    run()
