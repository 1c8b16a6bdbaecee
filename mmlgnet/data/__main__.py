"""`python -m mmlgnet.data check CARD_OR_SCENE [--root DIR]`: the data layer's command line (today: `check`)."""

from __future__ import annotations

import sys

COMMANDS = ("check",)


def main(argv: list[str] | None = None) -> int:
    """Dispatch `check ...` to mmlgnet.data.scenes.check; anything else is a usage error (exit 2)."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m mmlgnet.data {{{','.join(COMMANDS)}}} ...\n"
              f"error: expected a command ({', '.join(COMMANDS)}), got {argv[0] if argv else 'nothing'}",
              file=sys.stderr)
        return 2
    from mmlgnet.data.scenes.check import main as check_main

    return check_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
