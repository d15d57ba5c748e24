"""The package: the core imports with numpy and torch alone, and ``sco verify`` runs and reports."""

import json
import re
import subprocess
import sys
from pathlib import Path

from sco import cli

ROOT = Path(__file__).resolve().parents[1]


def test_readme_has_the_two_fresh_machine_commands_and_ci_runs_the_test_command():
    commands = re.findall(r"^    (pip install .+?)(?:\s+#.*)?$", (ROOT / "README.md").read_text(), flags=re.M)
    assert commands[:2] == ['pip install . && sco verify', 'pip install -e ".[dev]" && python -m pytest']
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert commands[1] in ci_lines, "the CI must run the README's test command verbatim"


def test_core_imports_without_optional_dependencies():
    code = ("import sys, sco, sco.objectives, sco.oracle, sco.noise, sco.heterogeneity, sco.random, sco.domains, "
            "sco.estimators, sco.arrivals, sco.trace, sco.aggregators, sco.attacks; "
            "heavy = [m for m in ('cvxpy', 'matplotlib', 'ray', 'scipy', 'sklearn', 'sympy') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_sco_verify_default_suite_passes_and_writes_a_report(tmp_path, capsys):
    assert cli.main(["verify", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "claims held" in out and "FAIL" not in out
    data = json.loads((tmp_path / "results.json").read_text())
    assert all(c["verdict"] == "pass" for c in data["claims"])
    from sco.verify import CLAIMS
    assert {c["name"] for c in data["claims"]} == set(CLAIMS)
    for name in CLAIMS:
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    assert "<img" in (tmp_path / "report.html").read_text()


def test_sco_verify_exits_nonzero_on_a_failed_claim(tmp_path, monkeypatch, capsys):
    from test_claims import false_theory
    false_theory("sgd_estimator_error", "sigma**2/t")(monkeypatch)
    assert cli.main(["verify", "--claim", "sgd_estimator_error", "--out", str(tmp_path)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_sco_verify_rejects_unknown_claims_and_too_few_seeds(tmp_path, capsys):
    assert cli.main(["verify", "--claim", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown claim(s) ['nope']" in capsys.readouterr().err
    assert cli.main(["verify", "--seeds", "1", "--out", str(tmp_path)]) == 2


def test_sco_verify_reads_runs_from_a_store(tmp_path, monkeypatch, capsys):
    store = str(tmp_path / "store")
    args = ["verify", "--claim", "honest_average_scaling", "--store", store, "--out", str(tmp_path / "a")]
    assert cli.main(args) == 0
    first = json.loads((tmp_path / "a" / "results.json").read_text())

    import sco.simulate

    def no_run(self):
        raise AssertionError("a stored run was recomputed")
    monkeypatch.setattr(sco.simulate.Plan, "run", no_run)
    args[-1] = str(tmp_path / "b")
    assert cli.main(args) == 0
    second = json.loads((tmp_path / "b" / "results.json").read_text())
    assert first["claims"][0]["checks"][0]["empirical"] == second["claims"][0]["checks"][0]["empirical"]
