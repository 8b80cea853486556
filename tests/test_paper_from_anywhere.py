"""A paper notebook run by papermill from outside the repository (`papermill nbs/paper/table1_single_token.ipynb
out.ipynb -p out DIR` in another folder) finds the committed records through `ia2.shipped.paper_path` and writes the
same Table 1 as `make paper-quick`, not the paper's numbers alone."""
from pathlib import Path

import papermill

ROOT = Path(__file__).resolve().parent.parent


def test_table1_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # papermill's cwd is the caller's; the default results="../../results" means nothing here
    papermill.execute_notebook(str(ROOT / "nbs" / "paper" / "table1_single_token.ipynb"), "out.ipynb",
                               parameters={"out": str(tmp_path / "figures")}, kernel_name="python3", progress_bar=False)
    written = (tmp_path / "figures" / "table1_single_token_dev.md").read_text(encoding="utf-8")
    assert "No records" not in written
    assert written == (ROOT / "paper_figures" / "table1_single_token_dev.md").read_text(encoding="utf-8")
