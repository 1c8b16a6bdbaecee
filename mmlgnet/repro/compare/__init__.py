"""The method comparison of `python -m mmlgnet.reproduce`: established methods, user variants, costs, published numbers."""
