"""Shared test setup: CPU + GRAPH_MODE once per session, and compiled cells reused across tests."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import src  # noqa: E402,F401  (sets the oneDNN ISA cap before mindspore is imported)
import mindspore as ms  # noqa: E402
import pytest  # noqa: E402

ms.set_device("CPU")
ms.set_context(mode=ms.GRAPH_MODE)


@pytest.fixture(scope="session")
def root_dir():
    return ROOT


# Modules that must not run at the same time under pytest-xdist (`-n 2 --dist loadgroup`): both build
# or run the C++ program in ascend310_infer/out and share the fetched Lite wheel.
SERIAL_GROUPS = {"test_ascend310_infer": "cpp", "test_infer310_pipeline": "cpp"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the marker into the node id's "@group"
def pytest_collection_modifyitems(config, items):
    """Under xdist: keep each module on one worker (its module fixtures are built once) and the C++
    modules together. Modules keep their file order (docs/tests.md: the measured times)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        item.add_marker(pytest.mark.xdist_group(SERIAL_GROUPS.get(module, module)))
