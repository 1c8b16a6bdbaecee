"""`python -m mmlgnet.tables RESULTS [--readme README.md]`: the tables' command, kept at this name.

The tables are built by mmlgnet.repro.tables; this command (the README's quick table) is mmlgnet.repro.readme.
"""

from mmlgnet.repro.readme import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
