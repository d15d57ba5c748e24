"""Speed of the aggregators: against the mean, weighted against unweighted, against ByzFL, batched against a loop, exponents in m.

Run: python benchmarks/aggregators.py [--quick] [--rounds 5] [--threads 2] [--json PATH]
Every figure is a ratio of cases timed in the same rounds (interleaved, median over rounds);
the issue's targets are printed with PASS/MISS and every figure goes to a JSON file
(default benchmarks/results/aggregators.json). ByzFL is optional:
``pip install --no-deps byzfl==0.0.11`` (its own dependencies pull torchvision).
"""

from __future__ import annotations

import _harness  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

import statistics  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _harness import Targets, environment, exponent, interleaved, paired_ratio, print_environment, timing_parser, write_json  # noqa: E402
from sco.aggregators import parse  # noqa: E402
from sco.compat.byzfl import original as load_byzfl  # noqa: E402
from sco.random import Stream  # noqa: E402

SHAPES = [(100, 100_000), (17, 1_000_000), (1000, 1_000)]
QUICK_SHAPES = [(100, 10_000), (17, 100_000), (200, 1_000)]


def rules(B, f: int, s: int):
    """(label, our spec, ByzFL callable factory or None) with matched semantics and parameters.

    ``f`` Byzantine rows (our ``lam = f/m``), ``s`` ByzFL's bucket size (given to both).
    ByzFL objects are made fresh per call where they keep state (CenteredClipping's center).
    """
    def nnm_avg():
        nn, avg = B.NNM(f), B.Average()
        return lambda x: avg(nn(x))

    def bucket_med():
        bk, med = B.Bucketing(s), B.Median()
        return lambda x: med(bk(x))

    def fresh_cc():
        return lambda x: B.CenteredClipping(tau=100.0, L=1)(x)  # center 0 at every call, as ours

    have = B is not None
    return [
        ("cwmed", "cwmed", have and (lambda: B.Median())),  # both interpolate at even m
        ("cwtm", "cwtm", have and (lambda: B.TrMean(f))),
        ("geometric_median", "geometric_median", None),  # Weiszfeld to tol: no ByzFL equivalent
        ("rfa", "rfa", have and (lambda: B.GeometricMedian(nu=0.1, T=3))),  # T=3, nu=0.1, z0=0
        ("krum[byzfl]", "krum[neighbors=byzfl]", have and (lambda: B.Krum(f))),  # m-f-1 neighbours
        ("multi_krum[byzfl]", "multi_krum[neighbors=byzfl]", have and (lambda: B.MultiKrum(f))),  # q=m-f
        ("centered_clipping", "centered_clipping[tau=100.0]", have and fresh_cc),
        ("nnm(mean)", "nnm(mean)", have and nnm_avg),
        ("ctma(cwmed)", "ctma(cwmed)", None),
        (f"bucketing[s={s}](cwmed)", f"bucketing[s={s}](cwmed)", have and bucket_med),
    ]


def agree(theirs, exact: torch.Tensor) -> float:
    """Largest deviation of ByzFL's output from our rule in float64, relative to the output's size."""
    theirs = torch.as_tensor(theirs, dtype=torch.float64).reshape(exact.shape)
    return float((theirs - exact).abs().max()) / (float(exact.abs().max()) or 1.0)


WEIGHTED = ("cwmed", "cwtm", "ctma(cwmed)", "geometric_median")


def per_shape(m, d, B, rounds, budget, gen):
    f = (m - 1) // 4  # keeps ByzFL's bucket size s = m // (2f) within our bucketing's lam_b < 1/2
    s = m // (2 * f)
    lam = f / m
    g = np.random.default_rng(0)
    x = torch.from_numpy(g.normal(size=(m, d)).astype(np.float32) + 1.0)
    w = torch.from_numpy(g.uniform(0.5, 2.0, size=m))
    center = torch.zeros(d)
    table = rules(B, f, s)
    cases = {"mean": lambda: x.mean(-2)}
    info = {}
    for label, spec, factory in table:
        agg = parse(spec)
        kw = dict(lam=lam, center=center, generator=gen)
        cases[label] = (lambda agg=agg, kw=kw: agg(x, None, **kw))
        if label in WEIGHTED:
            cases[label + " weighted"] = (lambda agg=agg, kw=kw: agg(x, w, **kw))
        if factory:
            obj = factory()
            cases[label + " ByzFL"] = (lambda obj=obj: obj(x))
            if not label.startswith("bucketing"):  # random buckets: outputs not comparable
                exact = agg(x.double(), None, lam=lam, center=center.double(), generator=gen)
                info[label] = {"byzfl_rel_dev": agree(factory()(x), exact),
                               "ours_rel_dev": agree(agg(x, None, **kw), exact)}
    times, cpu = interleaved(cases, rounds, budget)
    return {"m": m, "d": d, "f": f, "s": s, "lam": lam, "times_s": times, "cpu_s": cpu, "agreement": info}


def batched_vs_loop(B_runs, m, d, rounds, budget, table):
    g = np.random.default_rng(2)
    x = torch.from_numpy(g.normal(size=(B_runs, m, d)).astype(np.float32))
    lam = ((m - 1) // 4) / m
    center = torch.zeros(B_runs, d)
    cases = {}
    for label, spec, _ in table:
        agg = parse(spec)
        gens = [Stream(r) for r in range(B_runs)]
        batch_gen = Stream(list(range(B_runs)))
        cases[label + " batched"] = (lambda agg=agg, gg=batch_gen: agg(x, None, lam=lam, center=center, generator=gg))
        cases[label + " loop"] = (lambda agg=agg, gens=gens: [agg(x[r], None, lam=lam, center=center[r], generator=gens[r])
                                                            for r in range(B_runs)])
    times, cpu = interleaved(cases, rounds, budget)
    return times, cpu


def m_scaling(ms, d, rounds, budget):
    labels = ["cwmed", "ctma(cwmed)", "geometric_median", "krum", "nnm(mean)", "cwtm", "multi_krum"]
    cases = {}
    for m in ms:
        x = torch.from_numpy(np.random.default_rng(1).normal(size=(m, d)).astype(np.float32))
        for label in labels:
            agg = parse(label)
            cases[(label, m)] = (lambda agg=agg, x=x: agg(x, None, lam=0.25))
    times, cpu = interleaved(cases, rounds, budget)
    return {label: {**exponent(ms, [times[(label, m)] for m in ms]),
                    "cpu_slope": exponent(ms, [cpu[(label, m)] for m in ms])["slope"]} for label in labels}


def main(argv=None):
    ap = timing_parser(__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["shapes", "batch", "scaling"], action="append",
                    help="run only these parts (repeatable)")
    ap.add_argument("--json", default=None, help="where to write the figures (default benchmarks/results/aggregators.json)")
    args = ap.parse_args(argv)
    env = environment(args.threads)
    print_environment(env)
    rounds = 3 if args.quick else args.rounds
    parts = set(args.only or ["shapes", "batch", "scaling"])
    try:
        B = load_byzfl()
    except ImportError as e:  # a broken install
        B, why = None, f"ByzFL not importable ({e})"
    else:
        why = "ByzFL not installed: pip install --no-deps byzfl==0.0.11"
    import importlib.metadata as md
    env["byzfl"] = md.version("byzfl") if B is not None else None
    print(why if B is None else f"ByzFL {env['byzfl']} found (opened without its framework)")
    targets, out = Targets(), {"env": env, "args": vars(args)}
    gen = Stream(0)

    if "shapes" in parts:
        out["shapes"] = []
        for m, d in (QUICK_SHAPES if args.quick else SHAPES):
            res = per_shape(m, d, B, rounds, args.budget, gen)
            out["shapes"].append(res)
            t, c = res["times_s"], res["cpu_s"]
            print(f"\n(m, d) = ({m}, {d}), f = {res['f']} (lam = {res['lam']:.4f}), bucket size s = {res['s']}; "
                  f"float32, median of {rounds} interleaved rounds; mean {statistics.median(t['mean']) * 1e3:.3f} ms")
            print(f"  {'rule':24s} {'ours ms':>9s} {'x mean':>7s} {'weighted/unw':>12s} {'ByzFL ms':>9s} "
                  f"{'ByzFL/ours':>10s}  ByzFL vs ours in float64   (ratios of CPU time in brackets)")
            for label, _, factory in rules(B, res["f"], res["s"]):
                ours = t[label]
                row = f"  {label:24s} {statistics.median(ours) * 1e3:9.2f} {paired_ratio(ours, t['mean']):7.1f} "
                if label + " weighted" in t:
                    r = paired_ratio(t[label + " weighted"], ours)
                    rc = paired_ratio(c[label + " weighted"], c[label])
                    row += f"{r:6.2f} ({rc:4.2f}) "
                    targets.add("1", f"{label} weighted/unweighted ({m}, {d})", r, "<=", 2.0, cpu=rc)
                else:
                    row += f"{'':14s} "
                if label + " ByzFL" in t:
                    r = paired_ratio(t[label + " ByzFL"], ours)
                    rc = paired_ratio(c[label + " ByzFL"], c[label])
                    row += f"{statistics.median(t[label + ' ByzFL']) * 1e3:9.1f} {r:5.1f} ({rc:4.1f})"
                    dev = res["agreement"].get(label)
                    row += f"  {dev['byzfl_rel_dev']:.1e}" if dev else "  (random buckets)"
                    targets.add("2", f"ByzFL/{label} ({m}, {d})", r, ">=", 3.0, cpu=rc)
                print(row)
            if (m, d) == (100, 100_000):
                for label in ("cwmed", "cwtm"):
                    targets.add("4", f"{label} / mean ({m}, {d})", paired_ratio(t[label], t["mean"]), "<=", 10.0,
                                cpu=paired_ratio(c[label], c["mean"]))

    if "batch" in parts:
        R, m, d = (4, 50, 1_000) if args.quick else (16, 100, 10_000)
        table = [r for r in rules(None, (m - 1) // 4, 2) if r[0] != "mean"]
        times, cpu = batched_vs_loop(R, m, d, rounds, args.budget, table)
        out["batched"] = {"R": R, "m": m, "d": d, "times_s": times, "cpu_s": cpu}
        print(f"\none batched call over R={R} runs vs a loop over the runs, (m, d) = ({m}, {d})")
        for label, *_ in table:
            r = paired_ratio(times[label + " loop"], times[label + " batched"])
            rc = paired_ratio(cpu[label + " loop"], cpu[label + " batched"])
            print(f"  {label:24s} batched {statistics.median(times[label + ' batched']) * 1e3:8.2f} ms  "
                  f"loop {statistics.median(times[label + ' loop']) * 1e3:8.2f} ms  loop/batched {r:5.2f} ({rc:4.2f})")
            targets.add("3", f"loop/batched {label} (R={R}, {m}, {d})", r, ">=", 1.2, cpu=rc)

    if "scaling" in parts:
        d = 2_000 if args.quick else 10_000
        ms = [200, 283, 400, 566, 800]
        expo = m_scaling(ms, d, rounds, args.budget)
        out["m_exponents"] = {"d": d, "lam": 0.25, "fits": expo}
        print(f"\ncost exponent in m (d = {d}, m in {ms}, lam = 1/4): least-squares slope of log time "
              f"on log m over every round")
        for label, e in expo.items():
            print(f"  {label:24s} {e['slope']:5.2f} +- {e['stderr']:.2f} (CPU time {e['cpu_slope']:.2f})   "
                  f"({', '.join(f'{t * 1e3:.2f}' for t in e['median_s'])} ms)")
            bound = {"cwmed": 1.2, "ctma(cwmed)": 1.2, "geometric_median": 1.2, "krum": 2.1, "nnm(mean)": 2.1}.get(label)
            if bound is not None:
                targets.add("4", f"m-exponent {label} (d={d})", e["slope"], "<=", bound, cpu=e["cpu_slope"])

    targets.print("issue 14 targets 1-4")
    out["targets"] = targets.rows
    write_json(args.json, "aggregators" + ("-quick" if args.quick else ""), out)


if __name__ == "__main__":
    main()
