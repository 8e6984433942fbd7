"""What each restoration task asks of a network: the one rule shared by ``evaluate.py`` and the
restore command (``panet.cli.restore``).

A task's network takes RGB (3 channels) or the MATLAB Y channel (1 channel, the JPEG artifact
task) and upscales (super-resolution) or not. Deblurring and deraining (MPRNet's tasks) restore
RGB at the input size, like denoising. ``check_network_fits_task`` refuses a network
that does not fit before any image is read, with a message that says what to use instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from panet.models.registry import network_channels

#: The restoration tasks, as named by ``configs/task/``.
TASKS: tuple[str, ...] = ("denoise", "demosaic", "car", "sr", "deblur", "derain")
#: Input channels of each task's networks: RGB, or the Y channel for JPEG artifact removal.
TASK_CHANNELS: Mapping[str, int] = {
    "denoise": 3,
    "demosaic": 3,
    "car": 1,
    "sr": 3,
    "deblur": 3,
    "derain": 3,
}
#: The chop thresholds in the authors' code per task (forward_chop's min_size default): colour
#: denoising 6,800 (DN_RGB), the others 6,400 (Demosaic, CAR, SR). Shave is 10 everywhere.
#: MPRNet's tasks (deblur, derain) are tested on whole images; they get the common 6,400.
AUTHORS_CHOP_MIN_SIZE: Mapping[str, int] = {
    "denoise": 6800,
    "demosaic": 6400,
    "car": 6400,
    "sr": 6400,
    "deblur": 6400,
    "derain": 6400,
}


def check_network_fits_task(net: nn.Module, task: str, *, scale: int | None = None) -> None:
    """Raise ValueError unless ``net`` can run ``task``.

    Args:
        net: a network exposing ``scale`` (and ``arch_args["n_colors"]`` when it has a fixed
            number of input channels; baselines take any).
        task: one of ``TASKS``.
        scale: the degradation's scale when known (evaluation); the network must equal it.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
    net_scale = int(getattr(net, "scale", 1))
    if task == "sr" and net_scale == 1:
        raise ValueError("task sr needs a super-resolution network (scale > 1); this one has 1")
    if task != "sr" and net_scale != 1:
        raise ValueError(f"task {task} needs a scale-1 network; this one upscales by {net_scale}")
    if scale is not None and net_scale != scale:
        raise ValueError(
            f"the network upscales by {net_scale} but the degradation's scale is {scale}; set "
            f"task=sr degradation.scale={net_scale} (or use the matching checkpoint)"
        )
    channels = network_channels(net)
    expected = TASK_CHANNELS[task]
    if channels is not None and channels != expected:
        kind = "the Y channel (1 channel)" if expected == 1 else "RGB (3 channels)"
        raise ValueError(
            f"task {task} feeds the network {kind} but it takes {channels} channel(s); use a "
            f"checkpoint with n_colors={expected}"
        )
