"""Shared test configuration: a private cache for solved optima."""

import os

import pytest


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
