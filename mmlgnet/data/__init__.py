"""The data layer: scene catalogue and cards, raster readers, splits, normalisation, patches and the DataModule.

Import the modules themselves (e.g. `from mmlgnet.data.scenes.catalog_load import load_scene`); this package file imports
nothing, so that `import mmlgnet.data.io.readers` stays free of Lightning (DESIGN §5).
"""
