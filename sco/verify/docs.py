"""The generated parts of the docs: every statement of the registry (docs/theory.md) and the coverage table (there and in the README).

``python -m sco.verify.docs`` rewrites them in place (between the ``<!-- BEGIN ... -->`` and
``<!-- END ... -->`` markers); a test fails when a file and the registry disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "theory.md"
#: The generated files and the sections each holds.
FILES = {DOC: ("STATEMENTS", "COVERAGE"), ROOT / "README.md": ("COVERAGE",)}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def statements() -> str:
    """One section per statement: as printed, source, provenance, kind, assumptions, note, claims."""
    from ..rates import BOUNDS
    from . import CLAIMS
    out = []
    for name, b in BOUNDS.items():
        users = [c.name for c in CLAIMS.values() if name in c.bounds]
        out += [f"#### `{name}`", "",
                f"- **{b.source}** — {b.provenance}{' (verified against the text)' if b.verified else ''}; "
                f"{'O-shape' if b.kind == 'shape' else 'explicit constants'} ({b.kind}).",
                f"- Checked: `{b.quantity} {b.relation if b.kind != 'shape' else '= ' + b.order + '('} "
                f"{' + '.join(str(t) for t in b.terms)}{')' if b.kind == 'shape' else ''}`"]
        if b.statement:
            out.append(f"- As printed: {b.statement}")
        if b.assumptions:
            out.append(f"- Assumptions: {b.assumptions}.")
        if b.proof:
            out.append(f"- Proof: `{b.proof}` (`python -m proofs_check {b.proof.split('.')[-1]}`).")
        out.append(f"- Note: {b.note}")
        out.append(f"- Claims of `sco verify`: {', '.join(f'`{u}`' for u in users) or 'none (a library statement)'}.")
        out.append("")
    return "\n".join(out).rstrip()


def coverage() -> str:
    from .coverage import table
    return table()


SECTIONS = {"STATEMENTS": statements, "COVERAGE": coverage}


def render(text: str, sections=tuple(SECTIONS), name: str = "docs/theory.md") -> str:
    """``text`` with each of ``sections`` replaced by its current content."""
    for key in sections:
        pattern = re.compile(rf"(<!-- BEGIN {key} -->\n).*?(<!-- END {key} -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"{name} has no '<!-- BEGIN {key} -->' ... '<!-- END {key} -->' section.")
        text = pattern.sub(lambda m, fn=SECTIONS[key]: m.group(1) + fn() + "\n" + m.group(2), text)
    return text


def main() -> int:
    for path, sections in FILES.items():
        text = path.read_text()
        new = render(text, sections, path.name)
        if new != text:
            path.write_text(new)
            print(f"updated {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
