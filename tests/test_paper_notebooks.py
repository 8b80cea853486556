"""Every paper notebook (nbs/paper/*.ipynb) runs by papermill on a results folder that holds no records, as for a user
who runs it before their grid has finished a cell or names a grid of their own: it finishes, prints which grids have no
records and the command that computes them (`ia2.figures.no_records_note`), and every table it writes says so in its
caption. A new paper notebook is picked up by the glob."""
import json
import re
from pathlib import Path

import papermill
import pytest

PAPER = Path(__file__).resolve().parent.parent / "nbs" / "paper"
NOTEBOOKS = sorted(PAPER.glob("*.ipynb"))


def printed(notebook: Path) -> str:
    "What the cells of an executed notebook printed."
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return "".join("".join(o["text"]) for c in cells for o in c.get("outputs", []) if o.get("name") == "stdout")


def test_there_are_paper_notebooks():
    assert NOTEBOOKS, f"no notebooks in {PAPER}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_runs_without_records(notebook, tmp_path):
    parameters = papermill.inspect_notebook(str(notebook))
    assert {"results", "out"} <= set(parameters), f"{notebook.name}: its parameters cell needs `results` and `out`"
    results, out, executed = tmp_path / "results", tmp_path / "out", tmp_path / notebook.name
    results.mkdir()
    papermill.execute_notebook(str(notebook), str(executed), parameters={"results": str(results), "out": str(out)},
                               kernel_name="python3", cwd=str(PAPER), progress_bar=False,
                               request_save_on_cell_execute=False)  # raises PapermillExecutionError if a cell fails
    note = re.compile(rf"No records of grids? '[^']+'(, '[^']+')* under {re.escape(str(results))} yet: `ia2 run ")
    assert note.search(printed(executed)), f"{notebook.name} does not say that {results} holds no records:\n{printed(executed)}"
    unnamed = [p.name for p in sorted(out.glob("*.md")) if not note.search(p.read_text(encoding="utf-8"))]
    assert not unnamed, f"{notebook.name}: the captions of {unnamed} do not say that {results} holds no records"
