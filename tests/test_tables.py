"""Every Markdown table in paper_figures/ renders: its header, delimiter and body rows have the same number of cells."""
import re
from pathlib import Path

import pytest

FIGURES = Path(__file__).resolve().parent.parent / "paper_figures"
MARKDOWN = sorted(FIGURES.glob("*.md"))

def table_cells(line: str) -> int:
    "Cells of one Markdown table row: split on pipes that are not escaped (`\\|` is a literal pipe)."
    return len(re.split(r"(?<!\\)\|", line.strip().strip("|")))

def test_there_are_tables():
    assert len(MARKDOWN) >= 10, f"expected the paper's tables in {FIGURES}; run `make paper-quick`"

@pytest.mark.parametrize("path", MARKDOWN, ids=[p.name for p in MARKDOWN])
def test_rows_match_header(path):
    rows = [line for line in path.read_text().splitlines() if line.startswith("|")]
    assert len(rows) >= 3, f"{path.name}: no Markdown table (header, delimiter and at least one row)"
    header = table_cells(rows[0])
    assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", rows[1].strip()), f"{path.name}: the second table line is no delimiter row"
    bad = [(i, table_cells(r)) for i, r in enumerate(rows) if table_cells(r) != header]
    assert not bad, f"{path.name}: the header has {header} cells but rows (index, cells) {bad[:5]} do not; escape '|' in names and cells"

def test_cell_counter():
    assert table_cells("| a | b \\| c |") == 2 and table_cells("|:--|--:|") == 2
