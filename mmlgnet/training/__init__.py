"""Training: the LightningModule, the InfoNCE loss, the scores, open-vocabulary use, checkpoint checks, run threads.

Import the modules themselves (e.g. `from mmlgnet.training.module import MMLGNetModule`); this package file
imports nothing.
"""
