"""SmartAssign (CVPR 2023) in MindSpore: joint deraining and desnowing with smart knowledge assignment."""

import os as _os


def _limit_onednn_isa():
    """MindSpore >= 2.9 runs CPU convolutions ~90x slower with oneDNN's AVX-512 kernels.

    Capping oneDNN at AVX2 restores 2.8.0 speed; it must happen before ``import mindspore``,
    which is why it lives here, in the package every entry point imports first. A value the
    user set is kept.
    """
    if "ONEDNN_MAX_CPU_ISA" in _os.environ:
        return
    try:
        from importlib.metadata import version

        major, minor = (int(p) for p in version("mindspore").split(".")[:2])
    except Exception:  # not installed or odd version string: nothing to do
        return
    if (major, minor) >= (2, 9):
        _os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX2"


_limit_onednn_isa()
