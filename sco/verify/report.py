"""Reports of claim results: a terminal table, a folder with Markdown, HTML, JSON, the bounds as math and plots."""

from __future__ import annotations

import html
import io
import json
import os
import sys
from pathlib import Path

from .._json import jsonable
from ..plot import save_figure
from ..rates import BOUNDS
from .core import ClaimResult

_VERDICT = {"pass": "held", "fail": "FAILED", "inconclusive": "inconclusive", "error": "ERROR"}
_COLOR = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700", "error": "#8250df"}
_COLS = ("claim", "statistic", "predicted", "measured", "verdict", "statement")


def table_rows(results: list[ClaimResult]) -> list[dict]:
    """One row per check: claim, statistic, predicted, measured (interval), verdict, and the
    statement held against (its source and whether it was verified from the paper's text)."""
    rows = []
    for res in results:
        if res.error is not None:
            rows.append({"claim": res.claim.name, "statistic": "-", "predicted": "-", "verdict": "error",
                         "measured": res.error.strip().splitlines()[-1], "statement": res.claim.source})
        for c in res.checks:
            r = c.row()
            statement = f"{r['source']}" + (" (verified)" if c.verified else "")
            if c.finding:
                statement += f" — {c.finding}"
            rows.append({**r, "claim": res.claim.name, "statement": statement})
    return rows


def summary(results: list[ClaimResult], wall: float | None = None, jobs: int = 1) -> str:
    """"N claims held, K of them against statements verified from the papers' text", the others'
    verdicts, and the time: ``wall`` seconds when given (the claims' own seconds add up to more
    when ``jobs`` processes ran them at once)."""
    held = [r for r in results if r.passed]
    verified = sum(r.against_verified for r in held)
    others = {v: sum(r.verdict == v for r in results) for v in ("fail", "inconclusive", "error")}
    tail = ", ".join(f"{n} {_VERDICT[v].lower()}" for v, n in others.items() if n)
    secs = sum(r.seconds for r in results)
    took = f"{secs:.0f} s" if wall is None else \
        f"{wall:.0f} s" + (f"; {secs:.0f} s of claims in {jobs} processes" if jobs > 1 else "")
    return (f"{len(held)} of {len(results)} claims held, {verified} of them against statements verified from the "
            f"papers' text" + (f"; {tail}" if tail else "") + f" ({took}).")


def format_table(results: list[ClaimResult], *, width: int = 160) -> str:
    """The terminal table: rich's when stdout is a terminal (wrapped, never cut), plain text otherwise."""
    rows = table_rows(results)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table
        table = Table(show_lines=False)
        for c in _COLS:
            table.add_column(c, overflow="fold", no_wrap=c in ("verdict",))
        for r in rows:
            style = {"pass": "green", "fail": "bold red", "inconclusive": "yellow", "error": "magenta"}[r["verdict"]]
            table.add_row(*[str(r[c]) if c != "verdict" else f"[{style}]{_VERDICT[r[c]]}[/]" for c in _COLS])
        buf = io.StringIO()
        Console(file=buf, width=width, force_terminal=True).print(table)
        return buf.getvalue().rstrip()
    out, last = [], None
    for r in rows:  # plain: the claim once per group, then its checks, words never cut
        if r["claim"] != last:
            out.append(f"{r['claim']}")
            last = r["claim"]
        out.append(f"  {_VERDICT[r['verdict']]:<12} {r['statistic']}: measured {r['measured']}, predicted "
                   f"{r['predicted']}  [{r['statement']}]")
    return "\n".join(out)


def _math_image(latex: str, path: Path) -> bool:
    """Render a bound's LaTeX with matplotlib's mathtext (no network at view time); False if it cannot."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib import mathtext
    tex = latex.replace(r"\|", r"\Vert ").replace(r"\le ", r"\leq ").replace(r"\ge ", r"\geq ")
    try:
        mathtext.math_to_image(f"${tex}$", str(path), dpi=110, format="png")
        return True
    except (ValueError, RuntimeError):
        return False


def _bounds_used(results):
    return list(dict.fromkeys(b for r in results for b in r.claim.bounds))


def write_report(results: list[ClaimResult], out: Path, meta: dict) -> Path:
    """Write ``report.md``, ``report.html``, ``results.json``, one PNG per claim and one per statement."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    head = summary(results, meta.get("seconds"), meta.get("jobs") or 1)
    findings = [(r.claim.name, c) for r in results for c in r.checks if c.finding]
    md = [f"# sco verify: {meta.get('suite', '')} suite", "", f"**{head}**", "",
          f"Seed {meta.get('seed')}, device {meta.get('device')}, sco {meta.get('sco_version')}.", ""]
    page = [f"<h1>sco verify: {html.escape(str(meta.get('suite', '')))} suite</h1>",
            f"<p style='font-size:1.2em'><b>{html.escape(head)}</b></p>",
            "<p>" + " ".join(f"<span style='color:{_COLOR[v]}'>{_VERDICT[v]}: "
                             f"{sum(r.verdict == v for r in results)}</span>" for v in _COLOR) + "</p>"]
    if findings:
        md += ["## Findings: statements of the papers that the measurements contradict", ""]
        page.append("<h2>Findings: statements of the papers that the measurements contradict</h2><ul>")
        for name, c in findings:
            md.append(f"- **{name}**: {c.claim} — {c.finding} ({c.source}); measured {c._measured()}, printed "
                      f"{c._predicted()}. Instance: `{json.dumps(jsonable(c.data.get('instance')))}`")
            page.append(f"<li><b>{html.escape(name)}</b>: {html.escape(c.claim)} — {html.escape(c.finding)}; "
                        f"instance in results.json</li>")
        page.append("</ul>")
        md.append("")
    for res in results:
        c = res.claim
        color = _COLOR[res.verdict]
        md += [f"## {c.name}: {_VERDICT[res.verdict]}", "", c.sentence, "",
               f"Statements: {c.source}. Covers: {', '.join(c.covers) or '-'}.", ""]
        page += [f"<h2 id='{c.name}'>{html.escape(c.name)}: <span style='color:{color}'>{_VERDICT[res.verdict]}"
                 f"</span></h2>", f"<p>{html.escape(c.sentence)}</p>",
                 f"<p><i>Statements: {html.escape(c.source)}.</i></p>"]
        if res.error is not None:
            md += ["```", res.error, "```", ""]
            page.append(f"<pre>{html.escape(res.error)}</pre>")
            continue
        md += ["| statistic | predicted | measured | verdict | statement |", "|---|---|---|---|---|"]
        page.append("<table border=1 cellpadding=4 style='border-collapse:collapse'><tr><th>check</th>"
                    "<th>statistic</th><th>predicted</th><th>measured</th><th>verdict</th><th>statement</th>"
                    "<th>how</th></tr>")
        for chk in res.checks:
            r = chk.row()
            prov = f"{chk.source}" + (" (verified)" if chk.verified else f" ({chk.provenance})" if chk.provenance
                                      else "")
            md.append(f"| {r['statistic']} | {r['predicted']} | {r['measured']} | {_VERDICT[r['verdict']]} | {prov} |")
            page.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
                chk.claim, r["statistic"], r["predicted"], r["measured"])) +
                f"<td style='color:{_COLOR[r['verdict']]}'><b>{_VERDICT[r['verdict']]}</b></td>"
                f"<td>{html.escape(prov)}</td><td>{html.escape(chk.detail)}</td></tr>")
        page.append("</table>")
        md.append("")
        md += [f"- {chk.statistic}: {chk.detail}" for chk in res.checks] + [""]
        if res.figure is not None and res.figure.series:
            png = f"{c.name}.png"
            save_figure(res.figure, out / png, c.name)
            md += [f"![{c.name}]({png})", "", res.figure.caption, ""]
            page.append(f'<figure><img src="{png}" alt="{html.escape(c.name)}">'
                        f"<figcaption>{html.escape(res.figure.caption)}</figcaption></figure>")
    md += ["## The statements", ""]
    page.append("<h2>The statements</h2><table border=1 cellpadding=4 style='border-collapse:collapse'>"
                "<tr><th>statement</th><th>source</th><th>provenance</th><th>as printed</th></tr>")
    for name in _bounds_used(results):
        b = BOUNDS[name]
        img = f"bound_{name}.png"
        shown = (f"<img src='{img}' alt='{html.escape(b.latex())}'>" if _math_image(b.latex(), out / img)
                 else f"<code>{html.escape(str(b))}</code>")
        md.append(f"- `{name}`: ${b.latex()}$ — {b.source}, {b.provenance}"
                  f"{' (verified)' if b.verified else ''}." + (f" As printed: {b.statement}" if b.statement else ""))
        page.append(f"<tr><td>{shown}</td><td>{html.escape(b.source)}</td><td>{b.provenance}"
                    f"{' (verified)' if b.verified else ''}</td><td>{html.escape(b.statement)}</td></tr>")
    page.append("</table>")
    from .coverage import table
    md += ["", "## Coverage: which claim fails when a method is wrong", "", table(), ""]
    page.append("<h2>Coverage</h2><p>Each registered method and the claims whose verdict depends on it.</p><pre>"
                + html.escape(table()) + "</pre>")
    (out / "report.md").write_text("\n".join(md))
    (out / "report.html").write_text("<!doctype html><meta charset=utf-8><title>sco verify</title>"
                                     "<body style='font-family:sans-serif;max-width:72em'>" + "\n".join(page))
    payload = {"meta": meta, "summary": head, "claims": [r.to_dict() for r in results]}
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(jsonable(payload), indent=1))
    os.replace(tmp, out / "results.json")
    return out
