"""Our mutation suite: each planted bug makes some claim of sco verify's default suite fail.

The full score (every mutant against the whole default suite) is ``python -m sco.verify.mutants``;
here each mutant runs only the claims listed as catching it.
"""

import pytest

from sco.verify import CLAIMS, Context
from sco.verify.mutants import MUTANTS, run_mutant


def test_the_suite_plants_at_least_25_bugs_across_the_library():
    assert len(MUTANTS) >= 25
    assert {m.area for m in MUTANTS.values()} >= {"aggregators", "attacks", "estimators", "server rules", "simulator",
                                                  "arrivals", "noise", "heterogeneity", "statistics", "theory"}
    assert all(set(m.catches) <= set(CLAIMS) and m.catches for m in MUTANTS.values())


@pytest.mark.parametrize("name", list(MUTANTS))
def test_a_planted_bug_fails_the_default_suite(name):
    mt = MUTANTS[name]
    verdicts = run_mutant(mt, mt.catches, Context(), until_caught=True)  # CI time: stop at the first catch
    assert any(v != "pass" for v in verdicts.values()), (name, verdicts)


def test_a_mutant_is_undone_after_its_run():
    mt = MUTANTS["alie_sign_flipped"]
    assert run_mutant(mt, ["attack_calibration"], Context())["attack_calibration"] == "fail"
    assert CLAIMS["attack_calibration"].run(Context()).verdict == "pass"
