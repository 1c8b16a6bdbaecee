"""Bytes to arrays: every file format (GDAL rasters, ENVI, .mat, .npy), ENVI ROI text, windowed sources, verified downloads.

Knows files, not scenes. Import the modules themselves (e.g. `from mmlgnet.data.io.readers import read_raster`).
"""
