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


def test_sco_verify_default_suite_passes_and_writes_a_report(verify_default, capsys):
    """The quick default suite, run once per session (the verify_default fixture of conftest.py)."""
    code, out, path = verify_default
    assert code == 0, out
    assert "claims held" in out and "FAILED" not in out
    data = json.loads((path / "results.json").read_text())
    assert all(c["verdict"] == "pass" for c in data["claims"])
    from sco.verify import CLAIMS
    assert {c["name"] for c in data["claims"]} == set(CLAIMS)
    assert re.search(r"\d+ of \d+ claims held, \d+ of them against statements verified from the papers' text",
                     data["summary"])
    for name, c in CLAIMS.items():
        if any(r["name"] == name and r["checks"] for r in data["claims"]) and (path / f"{name}.png").exists():
            assert (path / f"{name}.png").stat().st_size > 10_000
    page = (path / "report.html").read_text()
    assert "<img" in page and "Coverage" in page and "The statements" in page
    assert "(verified)" in page  # provenance is shown per check


def test_sco_verify_exits_nonzero_on_a_failed_claim(tmp_path, capsys):
    from sco.verify.mutants import MUTANTS
    with MUTANTS["alie_sign_flipped"].plant():
        assert cli.main(["verify", "--claim", "attack_calibration", "--out", str(tmp_path)]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_sco_verify_rejects_bad_arguments_before_running(tmp_path, capsys, monkeypatch):
    import sco.verify.core as core

    def never(self, ctx=None):
        raise AssertionError("a claim ran")
    monkeypatch.setattr(core.Claim, "run", never)
    assert cli.main(["verify", "--claim", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown claim(s) ['nope']" in capsys.readouterr().err
    assert cli.main(["verify", "--seeds", "1", "--out", str(tmp_path)]) == 2
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["verify", "--out", str(blocker)]) == 2
    assert "--out must be a folder" in capsys.readouterr().err
    assert cli.main(["verify", "--device", "tpu", "--out", str(tmp_path)]) == 2
    assert "--device must be cpu or cuda" in capsys.readouterr().err
    assert cli.main(["verify", "--kappa", "lam", "--out", str(tmp_path)]) == 2
    assert cli.main(["verify", "--aggregator", "nomodule:fn", "--out", str(tmp_path)]) == 2
    assert "cannot be loaded" in capsys.readouterr().err


def test_sco_verify_lists_the_claims_with_what_they_cover(capsys):
    assert cli.main(["verify", "--list"]) == 0
    out = capsys.readouterr().out
    from sco.verify import CLAIMS
    assert all(name in out for name in CLAIMS) and "covers: " in out and "dl24b_thm42 (transcribed)" in out


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
