"""The suite's own machinery: the xdist groups that keep a module on one worker hold, and the
test processes run on tcmalloc where the machine has it (tests/conftest.py).

Modules with expensive module-scoped fixtures (test_export_families exports every family once,
about 3 minutes on 2 cores) carry `pytest.mark.xdist_group`, and setup.cfg runs the suite with
`--dist loadgroup`. pytest 9.2 silently broke that grouping with pytest-xdist 3.8
(pytest-dev/pytest-xdist#1386): every grouped module was split over both workers and built its
fixtures twice. This module is grouped too and checks, from inside a worker, that its group
reached the scheduler (the group name is appended to the node id) and that its tests ran on one
worker.
"""

import os

import pytest

pytestmark = pytest.mark.xdist_group("test_suite")

_WORKERS = []


@pytest.mark.parametrize("i", range(4))
def test_a_grouped_module_stays_on_one_worker(request, i):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:  # `-n 0`: one process, nothing to group
        assert "@" not in request.node.nodeid
        return
    assert getattr(request.config.option, "loadgroup", False), (
        "the suite runs with --dist loadgroup (setup.cfg's addopts)")
    assert request.node.nodeid.endswith("@test_suite"), (
        f"{request.node.nodeid}: the xdist_group mark did not reach the scheduler; see "
        "setup.cfg's note on the pytest version")
    _WORKERS.append(worker)
    assert set(_WORKERS) == {worker} and len(_WORKERS) == i + 1, _WORKERS


def test_tcmalloc_is_preloaded_where_the_machine_has_it():
    """conftest preloads gperftools' tcmalloc (found by ctypes) into pytest's processes and what
    they start, unless another library is preloaded (not under CI); .ci/run installs it where apt
    has it."""
    import ctypes.util

    from conftest import PRELOADED_AT_START, _preload_allocator

    lib = ctypes.util.find_library("tcmalloc_minimal")
    if lib and os.environ.get("PYTEST_XDIST_WORKER"):  # started by the controller's conftest
        assert "tcmalloc" in PRELOADED_AT_START or (
            os.environ.get("CI") != "true" and PRELOADED_AT_START), PRELOADED_AT_START
    if "tcmalloc" in PRELOADED_AT_START:
        with open("/proc/self/maps") as f:
            assert "libtcmalloc_minimal" in f.read()
    # another preloaded library is left alone; none: tcmalloc, quiet about large allocations
    assert _preload_allocator({"LD_PRELOAD": "libother.so"}) is None
    env = {}
    assert _preload_allocator(env) == lib
    if lib:
        assert env == {"LD_PRELOAD": lib, "TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD": str(1 << 40)}
    else:
        assert env == {}
