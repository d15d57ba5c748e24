"""The pytest plugin (entry point ``pytest11: sco``): ``--sco-suite``, ``sco_*`` fixtures, the ``sco_bound`` marker."""

from __future__ import annotations

import pytest

SUITES = ("quick", "full")
MARKER = ("sco_bound(suite=None): a check of a measured rate or value against a theoretical bound; "
          "suite='full' runs it only with --sco-suite full, suite='quick' only in the quick suite")


def pytest_addoption(parser):
    group = parser.getgroup("sco", "sco: rates and values held against bounds")
    group.addoption("--sco-suite", choices=SUITES, default=None,
                    help="quick: small sizes (the default; minutes); full: paper-sized. "
                         "Fixtures sco_suite and sco_context read it.")
    group.addoption("--sco-seed", type=int, default=None, metavar="N",
                    help="base seed of the sco_seed and sco_context fixtures "
                         "(default 0; runs use 1000*N, 1000*N+1, ...)")
    group.addoption("--sco-device", default=None, metavar="DEVICE",
                    help="device of the sco_device fixture: cpu, cuda, cuda:1, ... (default: cuda when present)")
    parser.addini("sco_suite", "the sco suite when --sco-suite is not given (quick or full)", default="quick")


def _suite(config) -> str:
    suite = config.getoption("sco_suite") or config.getini("sco_suite") or "quick"
    if suite not in SUITES:
        raise pytest.UsageError(f"The sco_suite ini option must be one of {list(SUITES)}. Got {suite!r}.")
    return suite


def _seed(config) -> int:
    seed = config.getoption("sco_seed")
    return 0 if seed is None else seed


def pytest_configure(config):
    config.addinivalue_line("markers", MARKER)
    _suite(config)  # a bad ini value is a usage error before collection


def pytest_report_header(config):
    device = config.getoption("sco_device") or "cuda when present, else cpu"
    return f"sco: suite {_suite(config)}, seed {_seed(config)}, device {device}"


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("sco_bound")
    if marker is None:
        return
    if marker.args or set(marker.kwargs) - {"suite"}:
        raise pytest.UsageError(f"{item.nodeid}: the sco_bound marker takes only suite='quick'|'full' as a keyword. "
                                f"Got args={marker.args}, kwargs={marker.kwargs}.")
    want = marker.kwargs.get("suite")
    if want is not None and want not in SUITES:
        raise pytest.UsageError(f"{item.nodeid}: sco_bound(suite=...) must be one of {list(SUITES)}. Got {want!r}.")
    suite = _suite(item.config)
    if want is not None and want != suite:
        pytest.skip(f"sco_bound(suite={want!r}): runs with --sco-suite {want} (this run: {suite})")


@pytest.fixture(scope="session")
def sco_suite(pytestconfig) -> str:
    """The sco suite of this run, "quick" or "full" (``--sco-suite``, default quick)."""
    return _suite(pytestconfig)


@pytest.fixture(scope="session")
def sco_seed(pytestconfig) -> int:
    """The base seed of this run (``--sco-seed``, default 0)."""
    return _seed(pytestconfig)


@pytest.fixture(scope="session")
def sco_device(pytestconfig) -> str:
    """The device to run on (``--sco-device``; default "cuda" when torch sees a GPU, else "cpu")."""
    import torch

    device = pytestconfig.getoption("sco_device")
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(device)
    except (RuntimeError, TypeError):
        raise pytest.UsageError(f"--sco-device must name a torch device (cpu, cuda, cuda:1, ...). Got {device!r}.") \
            from None
    return device


@pytest.fixture(scope="session")
def sco_context(sco_suite, sco_seed, sco_device):
    """A :class:`sco.verify.core.Context` for this run: ``ctx.size(quick, full)`` picks a size
    for the suite and ``ctx.seeds(quick, full)`` the run seeds (1000*seed, 1000*seed+1, ...)."""
    from .verify.core import Context

    return Context(suite=sco_suite, seed=sco_seed, device=sco_device)
