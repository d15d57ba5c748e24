"""Shared test configuration: a private cache for solved optima, and one share of the cores per test process."""

import os

import pytest
import torch

# pytest-xdist runs one test process per core; each at torch's default thread count would put
# workers x cores threads on the cores, and on a shared machine an op then waits for a
# descheduled thread (measured: the suite's CPU time doubled, 21 -> 44 min, under outside load)
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    torch.set_num_threads(max(1, torch.get_num_threads() // _WORKERS))


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    # tests never read or write the user's ~/.cache/sco: every session solves from scratch
    old = os.environ.get("SCO_CACHE_DIR")
    os.environ["SCO_CACHE_DIR"] = str(tmp_path_factory.mktemp("sco-cache"))
    yield
    if old is None:
        os.environ.pop("SCO_CACHE_DIR", None)
    else:
        os.environ["SCO_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def verify_default(tmp_path_factory):
    """``sco verify`` on its quick default suite, run once per test session: (exit code, stdout, report folder)."""
    import contextlib
    import io

    from sco import cli
    out = tmp_path_factory.mktemp("sco-report")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli.main(["verify", "--out", str(out)])
    return code, buf.getvalue(), out
