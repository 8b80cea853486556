"""The committed grid records: readable, with provenance, and no dev or evaluation row among the training rows."""
from pathlib import Path

import pytest

from ia2.records import provenance_problems, read_record

RESULTS = Path(__file__).resolve().parents[1] / "results"
RECORDS = sorted(p for p in RESULTS.rglob("*.json") if "adapters" not in p.parts and not p.name.endswith(".failed.json")
                 and not p.name.startswith("."))


def test_there_are_committed_records():
    assert len(RECORDS) >= 47


@pytest.mark.parametrize("path", RECORDS, ids=[p.name for p in RECORDS])
def test_committed_record_has_provenance_and_disjoint_rows(path):
    record = read_record(path)
    assert provenance_problems(record) == [], path
    assert record["provenance"]["seeds"] or record["cell"]["method"] == "base"
