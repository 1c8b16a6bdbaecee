"""`python -m mmlgnet.reproduce`: the runner's command, kept at this name; the runner is mmlgnet.repro.reproduce."""

from mmlgnet.repro.reproduce import main

__all__ = ["main"]

if __name__ == "__main__":
    import mmlgnet.cli  # noqa: F401  (Lightning sets up its loggers at import: first, as in `python -m mmlgnet`)
    from mmlgnet.console import configure_console

    configure_console()  # then as `python -m mmlgnet`: each warning once, Lightning's unactionable noise dropped
    raise SystemExit(main())
