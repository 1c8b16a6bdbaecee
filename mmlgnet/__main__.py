"""Entry point: `python -m mmlgnet fit --config configs/demo.yaml`."""

from mmlgnet.cli import main

if __name__ == "__main__":
    main()
