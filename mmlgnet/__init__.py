"""MMLGNet: HSI + LiDAR land-cover classification aligned with frozen CLIP text embeddings."""

__version__ = "0.1.0"
