"""The pytest plugin: the README's test file runs as a user would run it; options, fixtures and the marker."""

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _entry_point():
    return next((e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "sco"), None)


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m pytest`` in ``folder`` with this checkout's sco first on the path: the plugin
    comes from the installed entry point when there is one (as in CI), else from ``-p``."""
    load = [] if _entry_point() is not None else ["-p", "sco.pytest_plugin"]
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error", "--strict-markers",
                           *load, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def readme_block(first_line: str) -> str:
    """The README's fenced python block that starts with ``first_line``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    found = [b for b in blocks if b.startswith(first_line)]
    assert len(found) == 1, f"the README has {len(found)} python blocks starting with {first_line!r}"
    return found[0]


def test_the_readme_test_file_passes_in_the_quick_suite(tmp_path):
    (tmp_path / "test_rates.py").write_text(readme_block("# test_rates.py"), encoding="utf-8")
    res = pytest_in(tmp_path, "-rs", "test_rates.py")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "sco: suite quick, seed 0, device" in out
    assert re.search(r"\b2 passed, 1 skipped\b", out), out
    assert "sco_bound(suite='full'): runs with --sco-suite full (this run: quick)" in out


USER_FILE = '''
import pytest


def test_fixtures(sco_suite, sco_seed, sco_device, sco_context):
    expected = {expected!r}
    assert (sco_suite, sco_seed, sco_device) == expected
    assert sco_context.suite == sco_suite and sco_context.device == sco_device
    assert sco_context.seeds(2, 3) == [1000 * sco_seed + i for i in range(2 if sco_suite == "quick" else 3)]
    assert sco_context.size("small", "large") == ("small" if sco_suite == "quick" else "large")


@pytest.mark.sco_bound
def test_any_suite():
    pass


@pytest.mark.sco_bound(suite="full")
def test_full_only(sco_suite):
    assert sco_suite == "full"


@pytest.mark.sco_bound(suite="quick")
def test_quick_only(sco_suite):
    assert sco_suite == "quick"
'''


def test_options_fixtures_and_marker(tmp_path):
    # the ini option sets the default suite; --sco-suite overrides it
    (tmp_path / "pytest.ini").write_text("[pytest]\nsco_suite = full\n", encoding="utf-8")
    (tmp_path / "test_user.py").write_text(USER_FILE.format(expected=("quick", 0, "cpu")), encoding="utf-8")
    res = pytest_in(tmp_path, "-rs", "--sco-suite", "quick", "--sco-device", "cpu", "test_user.py")
    assert res.returncode == 0 and re.search(r"\b3 passed, 1 skipped\b", res.stdout), res.stdout + res.stderr
    assert "sco_bound(suite='full'): runs with --sco-suite full (this run: quick)" in res.stdout
    (tmp_path / "test_user.py").write_text(USER_FILE.format(expected=("full", 3, "cpu")), encoding="utf-8")
    res = pytest_in(tmp_path, "-rs", "--sco-seed", "3", "--sco-device", "cpu", "test_user.py")
    assert res.returncode == 0 and re.search(r"\b3 passed, 1 skipped\b", res.stdout), res.stdout + res.stderr
    assert "sco: suite full, seed 3, device cpu" in res.stdout


def test_bad_uses_are_usage_errors(tmp_path):
    (tmp_path / "test_bad.py").write_text(
        "import pytest\n\n@pytest.mark.sco_bound(suite='medium')\ndef test_x():\n    pass\n", encoding="utf-8")
    res = pytest_in(tmp_path, "test_bad.py")
    assert res.returncode != 0
    assert "sco_bound(suite=...) must be one of ['quick', 'full']. Got 'medium'." in res.stdout + res.stderr
    res = pytest_in(tmp_path, "--sco-suite", "medium", "test_bad.py")
    assert res.returncode == 4 and "invalid choice: 'medium'" in res.stderr


def test_the_entry_point_is_declared_and_installed_where_sco_is():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        meta = tomllib.load(fh)
    assert meta["project"]["entry-points"]["pytest11"] == {"sco": "sco.pytest_plugin"}
    try:
        dist = importlib.metadata.distribution("sco")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("sco is not installed here (only on the path): the entry point is checked where it is")
    if not any(e.group == "pytest11" for e in dist.entry_points):
        pytest.skip("the installed sco predates the plugin: pip install -e . again to register it")
    assert _entry_point().value == "sco.pytest_plugin"
