"""Device, mode and rank helpers shared by the entry points."""

import os

import mindspore as ms

from .errors import UsageError
from .logs import quiet_mindspore_warnings


def available_target():
    """The best device this MindSpore build can use: Ascend, then GPU, then CPU (the warnings
    about missing device plugins only with --verbose, src/logs.py)."""
    for name in ("ascend", "gpu"):
        ctx = getattr(ms.device_context, name, None)
        try:
            with quiet_mindspore_warnings():
                if ctx is not None and ctx.is_available():
                    return name.capitalize() if name == "ascend" else "GPU"
        except Exception:  # a missing plugin raises on some builds
            continue
    return "CPU"


def setup_device(target="auto", device_id=None, mode="graph"):
    """Select the device and execution mode; returns the chosen target name."""
    target = available_target() if target in (None, "", "auto") else target
    if target not in ("Ascend", "GPU", "CPU"):
        raise UsageError(f"device_target={target!r} is not valid; choose auto, Ascend, GPU or CPU")
    if device_id is None:
        device_id = int(os.environ.get("DEVICE_ID", "0"))
    if target == "CPU":
        ms.set_device("CPU")
    else:
        ms.set_device(target, device_id)
    ms.set_context(mode=ms.GRAPH_MODE if mode == "graph" else ms.PYNATIVE_MODE)
    return target
