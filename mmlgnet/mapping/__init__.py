"""Full-scene maps: the prediction writer (in memory or streamed by tiles), PNG drawings and georeferenced GeoTIFFs.

Import the modules themselves (e.g. `from mmlgnet.mapping.prediction import PredictionMapWriter`); this package
file imports nothing.
"""
