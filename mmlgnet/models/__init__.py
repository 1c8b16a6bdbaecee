"""Networks, pure PyTorch: MMLGNet's patch encoders, fusion and heads (mmlgnet.models.mmlgnet), synchronised BatchNorm.

No Lightning and no data code here (tests/test_layout.py checks it): a network takes tensors and gives tensors.
Import the modules themselves (e.g. `from mmlgnet.models.mmlgnet import MMLGNet`); this package file imports nothing.
"""
