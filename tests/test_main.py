"""``python -m sco`` is the ``sco`` command; ``sco --version`` prints the package version."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import sco
from sco import cli

ROOT = Path(__file__).resolve().parents[1]


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"sco {sco.__version__}"


def test_python_dash_m_sco_runs_the_cli():
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "PYTHONPATH": path}
    res = subprocess.run([sys.executable, "-m", "sco", "--version"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == f"sco {sco.__version__}", res.stderr
    res = subprocess.run([sys.executable, "-m", "sco", "verify", "--help"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert res.returncode == 0 and res.stdout.startswith("usage: sco verify") and "--suite" in res.stdout
    res = subprocess.run([sys.executable, "-m", "sco"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 2 and "the following arguments are required: command" in res.stderr
