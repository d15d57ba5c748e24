"""Every notebook is committed without outputs and runs top to bottom in the quick suite (SCO_QUICK=1)."""

import os
import re
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# the quick suite of all notebooks must stay under 5 minutes on 2 cores; each gets a generous cap
CELL_TIMEOUT = 240


def test_there_are_notebooks():
    names = {p.stem for p in NOTEBOOKS}
    assert {"01_mu2sgd_rates", "02_sync_byzantine", "03_async_byzantine", "04_heterogeneity",
            "05_real_data_sync", "06_real_data_async", "demo_aggregators_2d", "demo_why_momentum",
            "demo_why_weights"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {i} has outputs; strip them before committing"
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"


def _execute(nb, path):
    from jupyter_client.kernelspec import NoSuchKernel
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except NoSuchKernel:  # pragma: no cover - a broken install, not a notebook failure
        pytest.fail("No 'python3' Jupyter kernel: install the dev extra (ipykernel) into this environment.")
    except RuntimeError as e:
        # two kernels started at once can race for a TCP port ("Kernel died before replying"): retry once
        if "Kernel died before replying" not in str(e):
            raise
        nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}}).execute()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_runs_top_to_bottom_in_the_quick_suite(path, monkeypatch):
    monkeypatch.setenv("SCO_QUICK", "1")
    # the kernel imports this checkout's sco, whatever else is installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    _execute(nb, path)
    seconds = time.perf_counter() - start
    figures = 0
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            # warnings (and any other stderr text) are failures, like warnings in the test suite
            assert not (out.output_type == "stream" and out.name == "stderr"), \
                f"{path.name}: cell {i} wrote to stderr:\n{out.text}"
            assert out.output_type != "error", f"{path.name}: cell {i} raised {out.ename}: {out.evalue}"
            figures += "image/png" in out.get("data", {})
    assert figures >= 1, f"{path.name} drew no figure"
    print(f"{path.stem}: {seconds:.1f} s, {figures} figures")


def _reference_keys():
    """The keys of the README's References table: what a notebook may cite."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| \[([^\]]+)\] \|", readme[readme.index("## References"):], re.M))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_cites_only_the_readme_references_and_files_in_the_repository(path):
    # a reader has the repository and the papers: every [KEY] a notebook's text cites is a paper of
    # the README's References, and every link it makes is a web page or a file of the repository
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    text += "\n".join(line.split("#", 1)[1] for c in nb.cells if c.cell_type == "code"
                      for line in c.source.splitlines() if "#" in line)
    prose = re.sub(r"`[^`]*`|\$[^$]*\$", "", re.sub(r"```.*?```", "", text, flags=re.S))  # code and math index
    unknown = set(re.findall(r"\[([A-Za-z][\w+-]*)[,\] ]", prose)) - _reference_keys()
    assert not unknown, f"{path.name} cites {sorted(unknown)}: not in the README's References"
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not target.startswith(("http://", "https://", "#")):
            file = (path.parent / target.split("#")[0]).resolve()
            assert file.is_relative_to(ROOT) and file.exists(), f"{path.name} links to {target}, outside the repository"


def test_tick_labels_are_legible():
    from sco.plot import tick_label

    cases = {0.00457305: "0.00457", 0.0209128: "0.0209", 0.437345: "0.437", 2.0: "2", 1600.0: "1600",
             999.7: "1000", 12345.0: "12300", 1e-5: "1e-5", 2.5e7: "2.5e7", 0.0: "0", -0.0123: "-0.0123"}
    assert {v: tick_label(v) for v in cases} == cases


def test_the_dev_extra_brings_what_the_notebooks_need():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open(ROOT / "pyproject.toml", "rb") as fh:
        dev = tomllib.load(fh)["project"]["optional-dependencies"]["dev"]
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip() for d in dev}
    # nbclient + ipykernel run them (this file), nbconvert runs them from the command line, ipywidgets draws the bars
    assert {"nbformat", "nbclient", "ipykernel", "nbconvert", "ipywidgets"} <= names
