"""Pixels to batches: splits, unseen classes, band statistics and normalisation, patches, labelled neighbourhoods,
tiles, streaming plans, batch samplers and the memory budget (mmlgnet.data.sampling.budget).

Import the modules themselves (e.g. `from mmlgnet.data.sampling.splits import make_split`); this package file
imports nothing.
"""
