"""The networks of Fig. 2 and the knowledge-assignment strategies, built from one registry."""

from . import cross_stitch, smartassign, task_param  # noqa: F401  (each registers its networks)
from .registry import (
    NETWORK_REVISION,
    NETWORKS,
    PRESETS,
    RestorationNet,
    build_network,
    network_config,
    resolved_model_config,
    stored_model_config,
)

__all__ = [
    "NETWORK_REVISION",
    "NETWORKS",
    "PRESETS",
    "RestorationNet",
    "build_network",
    "network_config",
    "resolved_model_config",
    "stored_model_config",
]
