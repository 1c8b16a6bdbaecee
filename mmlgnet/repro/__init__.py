"""The pieces of `python -m mmlgnet.reproduce`: plan, fingerprints, results lock, registry, executors, checks."""
