"""panet.stop: a signal only requests a stop; every inference runner and the scoring loop stop
at their next stop point (between network calls and images), and nothing stops while the
stop points are disarmed."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from torch import Tensor, nn

from panet.evaluation.protocols import Protocol
from panet.evaluation.scoring import ImageScorer, restore_and_score
from panet.inference import Inference
from panet.stop import (
    StopRequested,
    check_stop,
    request_stop,
    stop_on_signals,
    stop_points,
    stop_requested,
)


class StopsOnCall(nn.Module):
    """An identity network that requests a stop during its ``at``-th call (as SIGTERM would)."""

    pixel_range, scale, arch, arch_args = 255.0, 1, "identity", {}

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.calls = at, 0
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGTERM)
        return x * self.weight


def test_a_signal_only_requests_the_stop_and_check_stop_raises_143() -> None:
    with stop_on_signals():
        check_stop()  # nothing requested: a no-op
        os.kill(os.getpid(), signal.SIGTERM)  # the process goes on
        assert stop_requested()
        with pytest.raises(StopRequested) as stopped:
            check_stop()
        assert stopped.value.code == 128 + signal.SIGTERM
        assert isinstance(stopped.value, SystemExit)
    assert not stop_requested()  # forgotten after the block
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored


MODES = {
    "chop": Inference(mode="chop", min_size=64, shave=2),
    "chop, recursive": Inference(mode="chop", min_size=16, shave=1),
    "tiles": Inference(mode="tiles", tile=8, overlap=2, batch_size=1),
    "self-ensemble": Inference(mode="full", self_ensemble=True),
    "tiles + self-ensemble": Inference(mode="tiles", tile=8, overlap=2, self_ensemble=True),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_every_inference_mode_stops_at_the_next_network_call(mode: str) -> None:
    net = StopsOnCall(at=2)
    with stop_on_signals(), pytest.raises(StopRequested):
        MODES[mode](net, torch.rand(1, 3, 24, 24) * 255)
    assert net.calls == 2  # the call during which the signal came finished; no other began


def test_the_scoring_loop_stops_between_images() -> None:
    net = StopsOnCall(at=1)
    scorer = ImageScorer(Protocol("rgb", 0))
    image = torch.rand(1, 3, 16, 16) * 255
    batch = {"lq": image, "gt": image, "name": ["a"]}
    with stop_on_signals():
        restore_and_score(net, Inference(), scorer, "set", batch)  # the signal comes here
        with pytest.raises(StopRequested):
            restore_and_score(net, Inference(), scorer, "set", {**batch, "name": ["b"]})
    assert net.calls == 1


def test_disarmed_stop_points_let_the_work_finish() -> None:
    net = StopsOnCall(at=1)
    with stop_on_signals(armed=False):
        out = Inference(mode="tiles", tile=8, overlap=2, batch_size=1)(
            net, torch.ones(1, 3, 24, 24)
        )
        assert out.shape == (1, 3, 24, 24) and net.calls == 16 and stop_requested()
        with stop_points(True), pytest.raises(StopRequested):
            check_stop()
    with stop_on_signals():
        request_stop()
        with stop_points(False):
            check_stop()
