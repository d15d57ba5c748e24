"""Reports of claim results: a terminal table, a folder with Markdown, HTML, JSON and log-log plots."""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

import numpy as np

from ..plot import save_figure
from .core import ClaimResult

_VERDICT = {"pass": "pass", "fail": "FAIL", "inconclusive": "inconclusive", "error": "ERROR"}


def table_rows(results: list[ClaimResult]) -> list[dict]:
    """One row per check: claim, source, statistic, predicted, measured (interval), verdict."""
    rows = []
    for res in results:
        if res.error is not None:
            rows.append({"claim": res.claim.name, "source": res.claim.source, "statistic": "-",
                         "predicted": "-", "measured": res.error.splitlines()[-1][:60], "verdict": "error"})
        for c in res.checks:
            r = c.row()
            rows.append({**r, "claim": res.claim.name, "source": res.claim.source})
    return rows


def format_table(results: list[ClaimResult]) -> str:
    rows = table_rows(results)
    cols = ["claim", "statistic", "predicted", "measured", "verdict", "source"]
    width = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in cols}
    width["source"] = min(width["source"], 40)
    line = "  ".join(f"{c:<{width[c]}}" for c in cols)
    out = [line, "  ".join("-" * width[c] for c in cols)]
    for r in rows:
        cells = {**r, "verdict": _VERDICT.get(r["verdict"], r["verdict"]), "source": str(r["source"])[:40]}
        out.append("  ".join(f"{str(cells[c]):<{width[c]}}" for c in cols))
    return "\n".join(out)


def summary(results: list[ClaimResult]) -> str:
    n = len(results)
    held = sum(r.passed for r in results)
    secs = sum(r.seconds for r in results)
    return f"{held}/{n} claims held ({secs:.0f} s)."


def write_report(results: list[ClaimResult], out: Path, meta: dict) -> Path:
    """Write ``report.md``, ``report.html``, ``results.json`` and one PNG per claim into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# sco verify: {meta.get('suite', '')} suite", "", summary(results), "",
          f"Seed {meta.get('seed')}, device {meta.get('device')}, sco {meta.get('sco_version')}.", ""]
    page = [f"<h1>sco verify: {html.escape(str(meta.get('suite', '')))} suite</h1>",
            f"<p>{html.escape(summary(results))}</p>"]
    for res in results:
        c = res.claim
        md += [f"## {c.name}: {_VERDICT[res.verdict]}", "", c.sentence, "", f"Source: {c.source}.", ""]
        page += [f"<h2>{html.escape(c.name)}: {_VERDICT[res.verdict]}</h2>", f"<p>{html.escape(c.sentence)}</p>",
                 f"<p><i>Source: {html.escape(c.source)}.</i></p>"]
        if res.error is not None:
            md += ["```", res.error, "```", ""]
            page.append(f"<pre>{html.escape(res.error)}</pre>")
            continue
        md += ["| statistic | predicted | measured | verdict |", "|---|---|---|---|"]
        page.append("<table border=1 cellpadding=4><tr><th>statistic</th><th>predicted</th><th>measured</th>"
                    "<th>verdict</th><th>how</th></tr>")
        for chk in res.checks:
            r = chk.row()
            md.append(f"| {r['statistic']} | {r['predicted']} | {r['measured']} | {_VERDICT[r['verdict']]} |")
            page.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in
                                         (r["statistic"], r["predicted"], r["measured"], _VERDICT[r["verdict"]],
                                          chk.detail)) + "</tr>")
        page.append("</table>")
        md.append("")
        for chk in res.checks:
            md.append(f"- {chk.statistic}: {chk.detail}")
        md.append("")
        if res.figure is not None and res.figure.series:
            png = f"{c.name}.png"
            save_figure(res.figure, out / png, c.name)
            md += [f"![{c.name}]({png})", ""]
            page.append(f'<img src="{png}" alt="{html.escape(c.name)}">')
    (out / "report.md").write_text("\n".join(md))
    (out / "report.html").write_text("<!doctype html><meta charset=utf-8><title>sco verify</title>"
                                     "<body style='font-family:sans-serif;max-width:60em'>" + "\n".join(page))
    payload = {"meta": meta, "summary": summary(results), "claims": [r.to_dict() for r in results]}
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(payload, indent=1, default=_default))
    os.replace(tmp, out / "results.json")
    return out


def _default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, float)):
        return float(o) if math.isfinite(o) else str(o)
    if isinstance(o, np.integer):
        return int(o)
    return str(o)
