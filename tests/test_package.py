"""The package: the core imports with numpy and torch alone, and the command line runs."""

import subprocess
import sys

from sco import cli


def test_core_imports_without_optional_dependencies():
    code = ("import sys, sco, sco.objectives, sco.oracle, sco.noise, sco.heterogeneity, sco.random, sco.domains; "
            "heavy = [m for m in ('cvxpy', 'matplotlib', 'ray', 'scipy', 'sklearn', 'sympy') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_sco_verify_runs_and_reports(capsys):
    assert cli.main(["verify", "--seeds", "400"]) == 0
    out = capsys.readouterr().out
    assert "claims held" in out and "FAIL" not in out
