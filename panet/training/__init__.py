"""Training with Lightning: ``RestorationModule`` (``module``), the only part of ``panet/`` that
imports Lightning. It receives a built network, a loss, optimizer/scheduler partials, the
task's protocol and the inference function; scoring is ``panet.evaluation.scoring``'s.
"""

from panet.training.module import RestorationModule

__all__ = ["RestorationModule"]
