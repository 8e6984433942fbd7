"""Training stops at the first non-finite loss, and no checkpoint holds non-finite weights.

The loss is checked in ``training_step`` before the backward pass, so the step that produced it
never changes the weights; ``LastCheckpoint`` additionally refuses to write weights that are
not all finite (a finite loss can still give an infinite update), so ``last.ckpt`` keeps the
last finite state and a resume starts from it.
"""

from __future__ import annotations

import torch
from torch import Tensor


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the step."""


def check_finite_loss(loss: Tensor, step: int) -> None:
    """Raise ``NonFiniteLossError`` when ``loss`` is NaN or infinite at (1-based) ``step``."""
    if not bool(torch.isfinite(loss.detach()).all()):
        raise NonFiniteLossError(
            f"training loss is {loss.detach().float().item()} at step {step}: training stopped "
            f"before that step changed the weights; checkpoints keep the last finite state. "
            f"Lower optimizer.lr, set trainer.gradient_clip_val, or check the data."
        )


__all__ = ["NonFiniteLossError", "check_finite_loss"]
