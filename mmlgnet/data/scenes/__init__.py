"""What a scene is: the `Scene` record, the catalogue and its loader, scene cards, lazy scenes, the synthetic scene, `check`.

Import the modules themselves (e.g. `from mmlgnet.data.scenes.catalog_load import load_scene`); this package file
imports nothing.
"""
