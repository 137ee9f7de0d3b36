"""The suite's own setup: under `scripts/run_tests.sh` (pytest-xdist, `--dist loadgroup`) every test
carries its module's group in its node id, so a module's fixtures are built once and the two C++
modules never run at the same time (tests/conftest.py)."""

import pytest


def test_modules_stay_whole_under_xdist(request):
    if not hasattr(request.config, "workerinput"):
        pytest.skip("runs under pytest-xdist only (scripts/run_tests.sh; SMARTASSIGN_TEST_WORKERS=0 runs one process)")
    if not getattr(request.config.option, "loadgroup", False):  # what an xdist worker is told
        pytest.skip("runs under --dist loadgroup only")
    assert request.node.nodeid.endswith("@test_suite_setup"), (
        f"node id {request.node.nodeid!r} has no '@<module>' group: pytest-xdist could not tag it "
        "(a pytest release it does not support? see requirements-dev.txt)"
    )
