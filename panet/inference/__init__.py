"""Running a trained network on whole images: ``Inference`` / ``restore`` (range conversion,
mode, self-ensemble) and its parts: ``chop`` (the authors' recursive quadrants), ``tiles``
(batched, cross-faded), ``ensemble`` (×8 flips/transposes), ``pieces`` (the checks the piece
runners share).
"""

from panet.inference.restoration import MODES, Inference, restore

__all__ = ["MODES", "Inference", "restore"]
