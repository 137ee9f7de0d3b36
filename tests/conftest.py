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
