"""`python -m mmlgnet.dashboard --entity E --project P`: the dashboard's command, kept at this name.

The workspace is built by mmlgnet.tracking.dashboard.
"""

from mmlgnet.tracking.dashboard import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
