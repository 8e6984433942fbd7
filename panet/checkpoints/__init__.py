"""Network weights on disk, always read with ``weights_only=True`` and loaded strictly.

``files`` (safe reading, state-dict extraction), ``strict`` (the one exact-fit check),
``layout`` (architecture arguments read off a state dict, for error hints), ``official`` (the
authors' layouts, one mapping per family, and ``load_official``), ``network_file`` (our own
format: ``save_network`` / ``load_network``), ``for_evaluation`` (any checkpoint this project
meets: Lightning, ours, official).
"""

from panet.checkpoints.files import CheckpointError, extract_state_dict, read_checkpoint
from panet.checkpoints.for_evaluation import load_for_evaluation
from panet.checkpoints.layout import infer_arch_args
from panet.checkpoints.network_file import FORMAT_NAME, load_network, save_network
from panet.checkpoints.official import OFFICIAL_ARCHITECTURES, load_official, official_to_ours
from panet.checkpoints.strict import check_state_dict, load_exactly

__all__ = [
    "FORMAT_NAME",
    "OFFICIAL_ARCHITECTURES",
    "CheckpointError",
    "check_state_dict",
    "extract_state_dict",
    "infer_arch_args",
    "load_exactly",
    "load_for_evaluation",
    "load_network",
    "load_official",
    "official_to_ours",
    "read_checkpoint",
    "save_network",
]
