"""Reading TensorBoard event files back with TensorBoard's own reader (for the logger tests)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import (
    IMAGES,
    SCALARS,
    TENSORS,
    EventAccumulator,
)


def load_events(folder: Path) -> EventAccumulator:
    """Every scalar, image and text of the event files in ``folder`` (all kept, none sampled)."""
    files = sorted(folder.glob("events.out.tfevents.*"))
    assert files, f"no TensorBoard event file in {folder}"
    accumulator = EventAccumulator(str(folder), size_guidance={SCALARS: 0, IMAGES: 0, TENSORS: 0})
    accumulator.Reload()
    return accumulator


def scalar_tags(events: EventAccumulator) -> set[str]:
    return set(events.Tags()["scalars"])


def image_tags(events: EventAccumulator) -> set[str]:
    return set(events.Tags()["images"])


def decoded_image(events: EventAccumulator, tag: str) -> tuple[int, np.ndarray]:
    """(step, ``[H, W, 3]`` uint8) of the last image logged under ``tag``."""
    event = events.Images(tag)[-1]
    with Image.open(io.BytesIO(event.encoded_image_string)) as image:
        return event.step, np.asarray(image.convert("RGB"))
