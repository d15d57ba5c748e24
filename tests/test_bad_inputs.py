"""Every bad input gets a clear error naming the parameter (a robust rule: a finite answer near the honest rows)."""

import math
import os

import numpy as np
import pytest
import torch

from sco import _checks
from sco.aggregators import parse
from sco.arrivals import ComputeTimes, Replay, Speeds, make_arrivals
from sco.attacks import alie, far_point, gaussian, ipm, make_attack, mimic, non_finite, sign_flip, worst_case
from sco.estimators import make_algorithm
from sco.heterogeneity import make_heterogeneity
from sco.noise import make_noise
from sco.objectives import make_objective
from sco.random import Stream
from sco.simulate import Experiment, Plan, run
from sco.sweep import Store, StoreError, Sweep, parse_run_name
from sco.sweep.executors import make_executor

QUAD = {"name": "quadratic", "d": 3, "L": 1.0, "mu": 0.1, "seed": 1}
BASE = dict(objective=QUAD, noise={"name": "gaussian", "sigma": 1.0}, m=5, T=10, seeds=1,
            algorithm={"name": "mu2sgd", "eta": 0.1}, progress=False)
BYZ = dict(BASE, m=7, f=2, attack="alie", aggregator="cwmed")
ASYNC = dict(BYZ, arrivals={"name": "speeds", "lam": 0.2})


def plan(**changes):
    return Plan(Experiment.from_dict({**BASE, **changes}))


def byz(**changes):
    return Plan(Experiment.from_dict({**BYZ, **changes}))


def asyn(**changes):
    return Plan(Experiment.from_dict({**ASYNC, **changes}))


def X(h=6, d=3, batch=()):
    return torch.from_numpy(np.random.default_rng(0).normal(size=(*batch, h, d)))


CUDA = torch.cuda.is_available()

# (id, call, exception type, regex the message must match: it names the parameter)
CASES = [
    # -- the experiment, rejected before any step (Plan, validate(), --dry-run) -----------------------
    ("m=0", lambda: plan(m=0), ValueError, r"'m' parameter of Experiment must be >= 1"),
    ("m float", lambda: plan(m=2.5), TypeError, r"'m' parameter of Experiment must be an integer"),
    ("m str", lambda: plan(m="5"), TypeError, r"'m' parameter of Experiment must be an integer"),
    ("m bool", lambda: plan(m=True), TypeError, r"'m' parameter of Experiment must be an integer"),
    ("f negative", lambda: plan(f=-1), ValueError, r"'f' parameter of Experiment must be >= 0"),
    ("f = m", lambda: plan(f=5, attack="alie"), ValueError, r"'f' parameter of Experiment must be <= 4"),
    ("f >= m/2", lambda: byz(m=6, f=3), ValueError, r"'f' parameter of Experiment must be < m/2 = 3"),
    ("f >= m/2 with mean", lambda: byz(m=4, f=2, aggregator="mean"), ValueError, r"'f' parameter .* < m/2"),
    ("T=0", lambda: plan(T=0), ValueError, r"'T' parameter of Experiment must be >= 1"),
    ("T float", lambda: plan(T=1e3), TypeError, r"'T' parameter of Experiment must be an integer"),
    ("seeds 1.5", lambda: plan(seeds=1.5), TypeError, r"'seeds' parameter of Experiment must be a positive int"),
    ("seeds [1, 1]", lambda: plan(seeds=[1, 1]), ValueError, r"'seeds' parameter of Experiment must hold distinct"),
    ("seeds []", lambda: plan(seeds=[]), ValueError, r"'seeds' parameter of Experiment must hold at least one"),
    ("seeds 0", lambda: plan(seeds=0), ValueError, r"'seeds' parameter of Experiment must be >= 1"),
    ("seeds negative", lambda: plan(seeds=[-1]), ValueError, r"'seeds' parameter of Experiment must be >= 0"),
    ("seeds str", lambda: plan(seeds="3"), TypeError, r"'seeds' parameter of Experiment must be a positive int"),
    ("seeds [1.5]", lambda: plan(seeds=[1.5]), TypeError, r"'seeds' parameter of Experiment must be an integer"),
    ("seeds 2**63", lambda: plan(seeds=[2 ** 63]), ValueError, r"'seeds' parameter of Experiment must be <="),
    ("seeds None", lambda: plan(seeds=None), TypeError, r"'seeds' parameter of Experiment"),
    ("lam 0.5", lambda: byz(lam=0.5), ValueError, r"'lam' parameter of Experiment must be < 0.5"),
    ("lam negative", lambda: byz(lam=-0.1), ValueError, r"'lam' parameter of Experiment must be >= 0"),
    ("lam str", lambda: byz(lam="0.2"), TypeError, r"'lam' parameter of Experiment must be a real number"),
    ("lam nan", lambda: byz(lam=math.nan), ValueError, r"'lam' parameter of Experiment must be a finite"),
    ("lam list", lambda: byz(lam=[0.1]), TypeError, r"'lam' parameter of Experiment must be a real number"),
    ("dtype float16", lambda: plan(dtype="float16"), ValueError, r"'dtype' parameter of Experiment must be one of"),
    ("torch.float16", lambda: plan(dtype=torch.float16), ValueError, r"'dtype' parameter of Experiment must be one"),
    ("dtype int", lambda: plan(dtype=3), TypeError, r"'dtype' parameter of Experiment must be one of"),
    ("device tpu", lambda: plan(device="tpu"), ValueError, r"'device' parameter of Experiment must be 'cpu', 'cuda'"),
    ("device int", lambda: plan(device=3), TypeError, r"'device' parameter of Experiment must be 'cpu'"),
    ("device cuda:99", lambda: plan(device="cuda:99"), ValueError, r"'device' parameter of Experiment must name"),
    ("log 1.5", lambda: plan(log=1.5), TypeError, r"'log' parameter of Experiment must be 'geometric', an int"),
    ("log [2.7, 5.2]", lambda: plan(log=[2.7, 5.2]), TypeError, r"'log' parameter of Experiment must be"),
    ("log 0", lambda: plan(log=0), ValueError, r"'log' parameter of Experiment must be >= 1"),
    ("log []", lambda: plan(log=[]), ValueError, r"'log' parameter of Experiment must be"),
    ("log [0]", lambda: plan(log=[0]), ValueError, r"'log' parameter of Experiment .* in \[1, T\] \(T=10\)"),
    ("log beyond T", lambda: plan(log=[11]), ValueError, r"'log' parameter of Experiment .* \(T=10\)"),
    ("log linear", lambda: plan(log="linear"), ValueError, r"'log' parameter of Experiment must be one of"),
    ("log True", lambda: plan(log=True), TypeError, r"'log' parameter of Experiment must be"),
    ("progress str", lambda: plan(progress="yes"), TypeError, r"'progress' parameter of Experiment must be True"),
    ("weights inverse", lambda: asyn(weights="inverse"), ValueError, r"'weights' parameter of Experiment must be"),
    ("weights short", lambda: asyn(weights=[1.0, 2.0]), ValueError, r"'weights' parameter of Experiment must be"),
    ("weights negative", lambda: asyn(weights=[1.0] * 6 + [-1.0]), ValueError, r"'weights' parameter .* nonnegative"),
    ("weights strings", lambda: asyn(weights=["a"] * 7), TypeError, r"'weights' parameter of Experiment must be"),
    ("weights nan", lambda: asyn(weights=[math.nan] * 7), ValueError, r"'weights' parameter .* finite"),
    ("weights zero", lambda: asyn(weights=[0.0] * 7), ValueError, r"'weights' parameter .* positive sum"),
    ("attack with f=0", lambda: plan(attack="alie"), ValueError, r"'attack' parameter of Experiment must be None"),
    ("no attack", lambda: byz(attack=None), ValueError, r"'attack' parameter of Experiment must be given when f=2"),
    ("label flip on a quadratic", lambda: byz(attack="label_flip"),
     ValueError, r"'attack' parameter .* classification"),
    ("objective without name", lambda: plan(objective={"d": 3}), ValueError, r"'objective' parameter .* 'name' key"),
    ("objective int", lambda: plan(objective=3), TypeError, r"'objective' parameter of Experiment must be a name"),
    ("unknown objective", lambda: plan(objective="quadratik"),
     ValueError, r"Unknown objective 'quadratik'.*'quadratic'"),
    ("objective option", lambda: plan(objective={**QUAD, "dd": 3}), ValueError, r"options of quadratic .*'dd'"),
    ("async lam >= 1/2", lambda: asyn(arrivals={"name": "speeds", "lam": 0.6}), ValueError,
     r"'arrivals' parameter of Experiment must declare a Byzantine share of arrivals lam < 1/2"),
    ("krum without neighbours", lambda: byz(m=3, f=1, aggregator="krum"), ValueError,
     r"'lam' parameter of krum must leave a positive neighbour count"),
    ("bucketing too coarse", lambda: byz(aggregator="bucketing[s=4](cwmed)"),
     ValueError, r"'s' parameter of bucketing"),
    ("cc without tau", lambda: byz(aggregator="centered_clipping"),
     ValueError, r"give centered_clipping its option 'tau'"),
    ("alie z str", lambda: byz(attack={"name": "alie", "z": "x"}), TypeError, r"'z' parameter of alie must be a real"),
    ("mimic target", lambda: byz(attack={"name": "mimic", "target": 9}), ValueError, r"'target' parameter of mimic"),
    ("ipm eps nan", lambda: byz(attack={"name": "ipm", "eps": math.nan}), ValueError, r"'eps' parameter of ipm"),
    ("gaussian sigma", lambda: byz(attack={"name": "gaussian", "sigma": -1.0}),
     ValueError, r"'sigma' parameter of gauss"),
    ("worst_case radius", lambda: byz(attack={"name": "worst_case", "radius": 0.0}), ValueError,
     r"'radius' parameter of worst_case must be > 0"),
    ("async T=1e10 memory", lambda: asyn(T=10 ** 10), MemoryError, r"arrivals .* GiB .* the horizon T"),
    ("state memory", lambda: plan(objective={"name": "quadratic", "d": 10, "rotate": False}, m=10 ** 6, seeds=10 ** 4),
     MemoryError, r"state .* GiB .* Reduce the number of seeds"),
    ("run(None)", lambda: run(None), TypeError, r"'exp' parameter of run must be an Experiment, a dict"),
    ("run(3)", lambda: run(3), TypeError, r"'exp' parameter of run"),
    ("run missing toml", lambda: run("no-such-experiment.toml"), FileNotFoundError, r"no-such-experiment.toml"),
    ("Plan(dict)", lambda: Plan(BASE), TypeError, r"'exp' parameter of Plan must be an Experiment"),
    ("from_dict(list)", lambda: Experiment.from_dict([1]), TypeError, r"'d' parameter of Experiment.from_dict"),
    ("unknown key", lambda: Experiment.from_dict({"sedes": 3}),
     ValueError, r"Unknown experiment keys \['sedes'\].*'seeds'"),
    # -- one spec protocol: aggregators -----------------------------------------------------------------
    ("agg flat and parameters", lambda: parse({"name": "cwmed", "mode": "upper", "parameters": {"mode": "lower"}}),
     ValueError, r"'spec' parameter of parse must give each option once.*\['mode'\]"),
    ("agg unknown option", lambda: parse({"name": "cwmed", "mdoe": "upper"}), ValueError,
     r"options of cwmed among \['mode'\]. Got spec='mdoe'.*Did you mean 'mode'"),
    ("agg parameters not a dict", lambda: parse({"name": "cwmed", "parameters": [1]}), TypeError,
     r"'spec' parameter of parse must have a dict of options under 'parameters'"),
    ("agg no name", lambda: parse({"mode": "upper"}), ValueError, r"'spec' parameter of parse must have a 'name' key"),
    ("agg name not str", lambda: parse({"name": 3}), TypeError, r"'spec' parameter of parse must have a string 'name'"),
    ("agg f given", lambda: parse({"name": "cwtm", "f": 2}),
     ValueError, r"'spec' parameter of parse must not give 'f'"),
    ("agg keyword twice", lambda: parse({"name": "cwmed", "mode": "upper"}, mode="lower"), ValueError,
     r"'spec' parameter of parse must give each option once, in the dict or as a keyword"),
    ("agg pre_aggregators", lambda: parse({"name": "cwtm", "pre_aggregators": "NNM"}), TypeError,
     r"'pre_aggregators' parameter of parse must be a list"),
    ("agg nested 2000 deep", lambda: parse("ctma(" * 2000 + "cwmed" + ")" * 2000), ValueError,
     r"'spec' parameter of parse .*nested at most 64 deep"),
    ("agg empty", lambda: parse(""), ValueError, r"'spec' parameter of parse must follow the grammar"),
    ("agg int", lambda: parse(3), TypeError, r"'spec' parameter of parse must be a str, a dict"),
    ("agg unknown", lambda: parse("cwmde"), ValueError, r"'spec' parameter of parse must name a registered"),
    ("agg base on a rule", lambda: parse("cwmed(mean)"),
     ValueError, r"'spec' parameter of parse must not give the rule"),
    ("agg meta without base", lambda: parse("ctma"), ValueError, r"give ctma a base in parentheses"),
    ("agg base of a rule", lambda: parse({"name": "cwmed", "base": "mean"}), ValueError,
     r"give 'base' only to a meta-aggregator"),
    # -- attacks ----------------------------------------------------------------------------------------------
    ("attack conflict", lambda: make_attack({"name": "alie", "z": 1.0, "parameters": {"z": 2.0}}), ValueError,
     r"'spec' parameter of make_attack must give each option once"),
    ("attack unknown option", lambda: make_attack({"name": "alie", "zz": 1}), ValueError,
     r"options of alie among .* Got spec='zz'.*Did you mean 'z'"),
    ("attack reserved option", lambda: make_attack({"name": "alie", "n_byz": 3}), ValueError,
     r"options of alie among .* Got spec='n_byz'"),
    ("attack unknown", lambda: make_attack("alei"), ValueError, r"Unknown attack 'alei'.*Did you mean 'alie'"),
    ("attack parameters list", lambda: make_attack({"name": "alie", "parameters": [1]}), TypeError,
     r"'spec' parameter of make_attack must have a dict of options"),
    ("attack int", lambda: make_attack(3), TypeError, r"'spec' parameter of make_attack must be a name"),
    ("attack no name", lambda: make_attack({"z": 1}),
     ValueError, r"'spec' parameter of make_attack must have a 'name'"),
    ("attack worst_case without agg", lambda: make_attack("worst_case"), ValueError,
     r"'spec' parameter of make_attack must give worst_case its option 'agg'"),
    ("attack label_flip on vectors", lambda: make_attack("label_flip"), ValueError,
     r"'spec' parameter of make_attack must name a vector attack"),
    # -- algorithms, objectives, noise, heterogeneity, arrivals ------------------------------------------------
    ("algorithm without eta", lambda: make_algorithm({"name": "sgd"}), ValueError,
     r"'eta' parameter of make_algorithm must be given"),
    ("algorithm unknown", lambda: make_algorithm({"name": "adma", "eta": 0.1}),
     ValueError, r"Unknown algorithm 'adma'"),
    ("algorithm option", lambda: make_algorithm({"name": "sgd", "eta": 0.1, "beta": 0.5}), ValueError,
     r"options of sgd among \['average', 'clip', 'eta'\]"),
    ("algorithm domain", lambda: make_algorithm({"name": "sgd", "eta": 0.1, "domain": None}), ValueError,
     r"'spec' parameter of make_algorithm must not give 'domain'"),
    ("algorithm conflict", lambda: make_algorithm({"name": "sgd", "eta": 0.1, "parameters": {"eta": 0.2}}),
     ValueError, r"give each option once"),
    ("algorithm eta 0", lambda: make_algorithm({"name": "sgd", "eta": 0.0}),
     ValueError, r"'eta' parameter of projected_sgd"),
    ("algorithm eta str", lambda: make_algorithm({"name": "mu2sgd", "eta": "big"}),
     TypeError, r"'eta' parameter of anytime"),
    ("algorithm clip", lambda: make_algorithm({"name": "sgd", "eta": 0.1, "clip": -1.0}),
     ValueError, r"'clip' parameter"),
    ("algorithm beta", lambda: make_algorithm({"name": "momentum", "eta": 0.1, "beta": 1.0}), ValueError,
     r"'beta' parameter of momentum must be < 1"),
    ("objective unknown", lambda: make_objective("nope"), ValueError, r"Unknown objective 'nope'"),
    ("objective forwarded option", lambda: make_objective("logistic", foo=1), ValueError,
     r"'spec' parameter of make_objective must use options that logistic accepts. Got spec='foo'"),
    ("objective conflict", lambda: make_objective({"name": "quadratic", "d": 3}, d=4),
     ValueError, r"give each option once"),
    ("objective not a spec", lambda: make_objective(3), TypeError, r"'name' parameter of make_objective"),
    ("objective d=0", lambda: make_objective("quadratic", d=0), ValueError, r"'d' parameter"),
    ("noise unknown", lambda: make_noise("pink"), ValueError, r"Unknown noise 'pink'"),
    ("noise missing sigma", lambda: make_noise("gaussian"), ValueError, r"give gaussian its option 'sigma'"),
    ("noise option", lambda: make_noise({"name": "gaussian", "sigmaa": 1.0}), ValueError, r"Did you mean 'sigma'"),
    ("noise sigma negative", lambda: make_noise({"name": "gaussian", "sigma": -1.0}), ValueError, r"'sigma' parameter"),
    ("noise sigma str", lambda: make_noise({"name": "gaussian", "sigma": "1"}), TypeError, r"'sigma' parameter"),
    ("noise nu", lambda: make_noise({"name": "student_t", "sigma": 1.0, "nu": 2.0}), ValueError, r"'nu' parameter"),
    ("noise b", lambda: make_noise({"name": "minibatch", "b": 0}), ValueError, r"'b' parameter of minibatch"),
    ("noise int", lambda: make_noise(3), TypeError, r"'spec' parameter of make_noise"),
    ("heterogeneity zeta", lambda: make_heterogeneity({"name": "shift"}), ValueError, r"give shift its option 'zeta'"),
    ("heterogeneity kind", lambda: make_heterogeneity({"name": "partition", "kind": "random"}), ValueError,
     r"'kind' parameter of Partition"),
    ("heterogeneity unknown", lambda: make_heterogeneity("noniid"), ValueError, r"Unknown heterogeneity 'noniid'"),
    ("heterogeneity parameters", lambda: make_heterogeneity({"name": "shift", "parameters": {"zeta": -1.0}}),
     ValueError, r"'zeta' parameter of Shift must be >= 0"),
    ("arrivals unknown", lambda: make_arrivals("poisson"), ValueError, r"Unknown arrival model 'poisson'"),
    ("arrivals string speeds", lambda: Speeds(speeds=["1", "2"]), TypeError, r"'speeds' parameter of Speeds"),
    ("arrivals speeds name", lambda: Speeds(speeds="fast"), ValueError, r"'speeds' parameter of Speeds must be one of"),
    ("arrivals speeds zero", lambda: ComputeTimes(speeds=[1.0, 0.0]),
     ValueError, r"'speeds' parameter of ComputeTimes"),
    ("arrivals speeds count", lambda: asyn(arrivals={"name": "speeds", "speeds": [1.0, 2.0], "lam": 0.2}), ValueError,
     r"'speeds' parameter of Speeds .* 5 positive numbers"),
    ("arrivals lam 1", lambda: Speeds(lam=1.0), ValueError, r"'lam' parameter of Speeds must be < 1"),
    ("arrivals byzantine", lambda: Speeds(byzantine="never"), ValueError, r"'byzantine' parameter of Speeds"),
    ("arrivals dist", lambda: ComputeTimes(dist="exp"), ValueError, r"'dist' parameter of ComputeTimes"),
    ("arrivals pareto", lambda: ComputeTimes(dist="pareto", shape=1.0),
     ValueError, r"'shape' parameter of ComputeTimes"),
    ("replay floats", lambda: Replay([0.5, 1.5]), TypeError, r"'workers' parameter of Replay .* integer worker ids"),
    ("replay strings", lambda: Replay(["a", "b"]), TypeError, r"'workers' parameter of Replay"),
    ("replay ragged", lambda: Replay([[0, 1], [1]]), ValueError, r"'workers' parameter of Replay"),
    ("replay times", lambda: Replay([0, 1], times=[2.0, 1.0]),
     ValueError, r"'times' parameter of Replay must be nondecr"),
    ("replay ids", lambda: asyn(arrivals={"name": "replay", "workers": [9] * 10}), ValueError,
     r"'workers' parameter of Replay must hold ids in \[0, m\)"),
    ("arrivals option", lambda: make_arrivals({"name": "speeds", "speed": "id"}), ValueError, r"Did you mean 'speeds'"),
    # -- sweeps, names, executors ---------------------------------------------------------------------------
    ("grid 25^6", lambda: Sweep({}, {"m": list(range(1, 26)), "f": list(range(25)), "T": list(range(1, 26)),
                                     "lam": [i / 100 for i in range(25)], "log": list(range(1, 26)),
                                     "algorithm.eta": [i / 10 for i in range(1, 26)]}),
     ValueError, r"'grid' parameter of the sweep spec must expand to at most max_runs=1,000,000 runs"),
    ("max_runs", lambda: Sweep({}, {"lam": [0.1, 0.2]}, max_runs=1), ValueError, r"expand to at most max_runs=1 runs"),
    ("workers 0", lambda: make_executor(workers=0), ValueError, r"'workers' parameter of ProcessExecutor must be >= 1"),
    ("workers float", lambda: make_executor(workers=1.5), TypeError, r"'workers' parameter of ProcessExecutor"),
    ("executor name", lambda: make_executor("threads"), ValueError, r"'executor' parameter of sweep must be one of"),
    ("sweep seeds repeated", lambda: Sweep({"seeds": [1, 1]}), ValueError, r"'base.seeds' .* distinct seeds"),
    ("sweep base key", lambda: Sweep({"sedes": 3}), ValueError, r"'base' parameter of the sweep spec"),
    ("sweep axis not a list", lambda: Sweep({}, {"lam": 0.2}), TypeError, r"'grid.lam' parameter .* non-empty list"),
    ("sweep name", lambda: Sweep({}, name=""), ValueError, r"'name' parameter of the sweep spec"),
    ("run name missing parts", lambda: parse_run_name("cwmed"), ValueError, r"'name' parameter of parse_run_name"),
    ("run name not str", lambda: parse_run_name(3), TypeError, r"'name' parameter of parse_run_name must be a str"),
    ("run name bad pair", lambda: parse_run_name("cwmed lam | sgd"), ValueError, r"key=value pairs"),
    # -- attacks called directly ---------------------------------------------------------------------------
    ("honest list", lambda: alie([[1.0]], n_byz=1), TypeError, r"'honest' parameter of alie must be a floating"),
    ("honest int tensor", lambda: ipm(torch.ones(3, 2, dtype=torch.int64), n_byz=1), TypeError, r"'honest' parameter"),
    ("honest 1-D", lambda: sign_flip(torch.zeros(3), n_byz=1),
     ValueError, r"'honest' parameter of sign_flip must have"),
    ("n_byz negative", lambda: alie(X(), n_byz=-1), ValueError, r"'n_byz' parameter of alie must be >= 0"),
    ("n_byz float", lambda: ipm(X(), n_byz=1.5), TypeError, r"'n_byz' parameter of ipm must be an integer"),
    ("weights negative", lambda: alie(X(), -torch.ones(6), n_byz=1), ValueError, r"'honest_weights' parameter of alie"),
    ("weights shape", lambda: alie(X(), torch.ones(4), n_byz=1),
     ValueError, r"'honest_weights' parameter .* broadcast"),
    ("weights list", lambda: alie(X(), [1.0] * 6, n_byz=1), TypeError, r"'honest_weights' parameter of alie"),
    ("alie z str", lambda: alie(X(), n_byz=1, z="1"), TypeError, r"'z' parameter of alie must be a real number"),
    ("alie std", lambda: alie(X(), n_byz=1, std="sample"), ValueError, r"'std' parameter of honest_stats"),
    ("gaussian generator", lambda: gaussian(X(), n_byz=1, generator=None),
     TypeError, r"'generator' parameter of attack"),
    ("gaussian runs", lambda: gaussian(X(batch=(3,)), n_byz=1, generator=Stream([1, 2])), ValueError,
     r"'generator' parameter of attack must have 1 run or one per batch row \(3\)"),
    ("mimic target", lambda: mimic(X(), n_byz=1, target=6), ValueError, r"'target' parameter of mimic must be <= 5"),
    ("far_point direction", lambda: far_point(X(), n_byz=1, direction=torch.ones(2, dtype=torch.float64)), ValueError,
     r"'direction' parameter of far_point must have shape"),
    ("non_finite value", lambda: non_finite(X(), n_byz=1, value="nan"), TypeError, r"'value' parameter of non_finite"),
    ("sign_flip own rows", lambda: sign_flip(X(), n_byz=2, own=X(h=3)), ValueError, r"'own' parameter of sign_flip"),
    ("worst_case steps", lambda: worst_case(X(), n_byz=1, generator=Stream(0), agg="cwmed", steps=-1), ValueError,
     r"'steps' parameter of worst_case must be >= 0"),
    ("worst_case lam per run", lambda: worst_case(X(batch=(2,)), torch.ones(2, 6), n_byz=1, generator=Stream([0, 1]),
                                                  agg="cwmed", byz_weights=torch.tensor([[1.0], [3.0]])),
     ValueError, r"'lam' parameter of worst_case must be given when byz_weights give the runs"),
    # -- the checks themselves --------------------------------------------------------------------------------
    ("real bool", lambda: _checks.real("o", "x", True), TypeError, r"'x' parameter of o must be a real number"),
    ("real inf", lambda: _checks.real("o", "x", math.inf), ValueError, r"'x' parameter of o must be a finite"),
    ("integer float", lambda: _checks.integer("o", "k", 2.0), TypeError, r"'k' parameter of o must be an integer"),
    ("one_of", lambda: _checks.one_of("o", "mode", "x", {"a", "b"}), ValueError, r"'mode' parameter of o must be one"),
    ("tensor list", lambda: _checks.tensor("o", "x", [1.0]), TypeError, r"'x' parameter of o must be a torch.Tensor"),
    ("last_dim", lambda: _checks.last_dim("o", "x", torch.zeros(2, 3), 4), ValueError, r"'x' parameter of o must have"),
]


@pytest.mark.parametrize("call, kind, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_input_raises_naming_the_parameter(call, kind, match):
    with pytest.raises(kind, match=match):
        call()


def test_cuda_without_a_gpu_is_refused_naming_the_device():
    if CUDA:
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match=r"'device' parameter of Experiment must name a device that this machine has"):
        plan(device="cuda")


# -- the store ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from sco.sweep import run_sweep

    root = tmp_path_factory.mktemp("store")
    assert run_sweep({"name": "tiny", "base": {**BASE, "seeds": [0]}, "grid": {"lam": [0.1]}}, root, progress=False).ok
    return Store(root)


STORE_CASES = [
    ("unknown sweep", lambda s: s.runs("tiyn"), ValueError, r"Unknown sweep 'tiyn'.*Did you mean 'tiny'"),
    ("unknown metric", lambda s: s.table(metrics=["excess", "gradnorm"]), ValueError, r"Unknown metric 'gradnorm'"),
    ("export format", lambda s: s.export(s.root / "x.json"), ValueError, r"'format' parameter of Store.export"),
    ("export format name", lambda s: s.export(s.root / "x.csv", "xlsx"),
     ValueError, r"'format' parameter of Store.export"),
    ("load damaged", lambda s: s.load({**s.runs("tiny")[0], "sha256": "0" * 64}),
     StoreError, r"does not match its checksum"),
    ("load missing", lambda s: s.load({**s.runs("tiny")[0], "trace": "traces/none.npz"}), StoreError, r"is missing"),
]


@pytest.mark.parametrize("call, kind, match", [c[1:] for c in STORE_CASES], ids=[c[0] for c in STORE_CASES])
def test_a_bad_store_request_raises_naming_what(store, call, kind, match):
    with pytest.raises(kind, match=match):
        call(store)


def test_a_store_path_that_is_a_file_or_garbage_is_explained(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        Store(tmp_path / "file").sweeps()
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "sco.sqlite").write_bytes(os.urandom(4096))
    with pytest.raises(StoreError, match=r"sco.sqlite is damaged .* sco sweep repair --store"):
        Store(tmp_path / "s").sweeps()


# -- robust rules: a finite answer near the honest rows, whatever the Byzantine rows hold ---------------------

RULES = ["cwmed", "cwtm", "geometric_median", "rfa", "krum", "multi_krum", "ctma(cwmed)", "nnm(cwmed)",
         "centered_clipping[tau=1.0]", "bucketing[s=2](cwmed)"]
VALUES = {"nan": math.nan, "+inf": math.inf, "-inf": -math.inf, "1e300": 1e300}


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("value", list(VALUES))
@pytest.mark.parametrize("rule", RULES)
def test_a_robust_rule_gives_a_finite_answer_near_the_honest_rows(rule, value, weighted):
    h, f, d = 10, 2, 4
    honest = torch.from_numpy(np.random.default_rng(1).normal(size=(h, d)) + 2.0)
    x = torch.cat([honest, torch.full((f, d), VALUES[value], dtype=torch.float64)])  # (m, d)
    # weighted: Byzantine rows weigh 1 of a total 22, honest 2 each (share 1/11 < lam = 1/6)
    w = torch.cat([torch.full((h,), 2.0), torch.ones(f)]).double() if weighted else None
    mu = honest.mean(0)
    out = parse(rule)(x, w, lam=f / (h + f), center=mu, generator=Stream(3))
    radius = (honest - mu).norm(dim=-1).max()
    assert torch.isfinite(out).all(), out
    assert float((out - mu).norm()) <= 2 * float(radius), (out, mu)
