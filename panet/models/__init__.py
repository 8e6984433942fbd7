"""Restoration networks: shared building blocks and one file per architecture family.

``blocks`` (convolutions, residual blocks, mean shift, upsampler), ``positions`` (where
attention sits), ``panet`` (PANet), ``edsr`` (EDSR, PA-EDSR), ``csnln`` (CSNLN), ``mprnet``
(MPRNet), ``baselines`` (identity and MATLAB-bicubic rows), ``registry`` (``build_network``
by name).
"""

from panet.models.baselines import Bicubic, Identity
from panet.models.csnln import CSNLN
from panet.models.edsr import EDSR, PAEDSR
from panet.models.mprnet import MPRNet
from panet.models.panet import PANet
from panet.models.registry import ARCHITECTURES, build_network

__all__ = [
    "ARCHITECTURES",
    "CSNLN",
    "EDSR",
    "PAEDSR",
    "Bicubic",
    "Identity",
    "MPRNet",
    "PANet",
    "build_network",
]
