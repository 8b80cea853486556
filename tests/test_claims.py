"""`make check-claims` (tools/check_claims.py): every number claims.csv lists is in its prose file and recomputes from
the committed tables and records, and a drift in either the prose, the claims table or a source table fails it."""
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import check_claims  # noqa: E402


def rows():
    with open(ROOT / "claims.csv", newline="") as f:
        return list(csv.DictReader(f))


def copy_tree(tmp_path: Path) -> Path:
    "The prose, the tables and benchmarks/ copied; the records (28 MB) linked."
    root = tmp_path / "repo"
    for rel in ["README.md", "results/README.md", "claims.csv", *(p.relative_to(ROOT) for p in (ROOT / "nbs").glob("*.md"))]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, root / rel)
    shutil.copytree(ROOT / "paper_figures", root / "paper_figures", ignore=shutil.ignore_patterns("*.png", "*.pdf"))
    shutil.copytree(ROOT / "benchmarks", root / "benchmarks", ignore=shutil.ignore_patterns("*.png", "gpu"))
    for grid in (ROOT / "results").iterdir():
        if grid.is_dir():
            (root / "results" / grid.name).symlink_to(grid)
    return root


def test_the_committed_claims_hold():
    out = subprocess.run([sys.executable, "tools/check_claims.py"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"all {len(rows())} quoted numbers" in out.stdout


def test_every_prose_file_and_source_kind_is_covered():
    claims = rows()
    assert {r["file"] for r in claims} >= {"README.md", "nbs/reproducing.md", "nbs/performance.md", "results/README.md"}
    sources = {r["source"].split(":")[0] if r["source"].startswith("derive:") else Path(r["source"]).suffix for r in claims}
    assert {".csv", ".json", "derive"} <= sources


def test_a_drifted_table_fails(tmp_path):
    "Change one number of a committed table (the headline gap the README quotes): the check names that row."
    root = copy_tree(tmp_path)
    assert check_claims.check(root / "claims.csv", root) == []
    table = root / "paper_figures" / "headline_gaps_dev.csv"
    text = table.read_text()
    assert text.count(",+8.2,") == 1
    table.write_text(text.replace(",+8.2,", ",+8.3,"))
    problems = check_claims.check(root / "claims.csv", root)
    assert problems and all("gives +8.3" in p for p in problems)
    assert any("README.md: '+8.2'" in p for p in problems)
    assert subprocess.run([sys.executable, str(ROOT / "tools/check_claims.py"), "--root", str(root)],
                          capture_output=True).returncode == 1


def test_drifted_prose_fails(tmp_path):
    "Edit the number in the prose (README) without the claims table: the quote is no longer found."
    root = copy_tree(tmp_path)
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace("by +8.2 points [+2.4, +13.9]", "by +9.2 points [+2.4, +13.9]"))
    problems = check_claims.check(root / "claims.csv", root)
    assert problems and all("the quote is no longer in README.md" in p for p in problems)


def test_a_drifted_claim_fails(tmp_path):
    "A claims row whose number (and quote) says something the table does not."
    root = copy_tree(tmp_path)
    claims = root / "claims.csv"
    claims.write_text(claims.read_text().replace('"SST-2: +4.3 [−29.7, +38.4]', '"SST-2: +4.2 [−29.7, +38.4]', 1))
    problems = check_claims.check(claims, root)
    assert problems and any("no longer in nbs/reproducing.md" in p for p in problems)


def test_a_drifted_record_fails(tmp_path):
    "A record's wall time changed: the minutes the prose quotes no longer recompute."
    root = copy_tree(tmp_path)
    grid = root / "results" / "qwen-cpu-lora"
    grid.unlink()
    shutil.copytree(ROOT / "results" / "qwen-cpu-lora", grid, ignore=shutil.ignore_patterns("adapters"))
    import json
    slowest = max(grid.glob("*/*.json"), key=lambda p: json.loads(p.read_text())["seconds"])
    record = json.loads(slowest.read_text())
    record["seconds"] = 20 * 60
    slowest.write_text(json.dumps(record))
    problems = check_claims.check(root / "claims.csv", root)
    assert problems and all("gives 20.0" in p for p in problems) and any("13.4" in p for p in problems)


@pytest.mark.parametrize("value, error", [
    ("no such column", "has no column"),
    ("accuracy (points): gap", "matches 14 rows, not one"),
])
def test_a_bad_selector_is_named(tmp_path, value, error):
    root = copy_tree(tmp_path)
    claims = root / "claims.csv"
    with open(claims, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=check_claims.COLUMNS)
        w.writeheader()
        w.writerow(dict(file="README.md", quote="+8.2", number="+8.2", source="paper_figures/headline_gaps_dev.csv",
                        select="", value=value, scale="", format="raw"))
    problems = check_claims.check(claims, root)
    assert len(problems) == 1 and error in problems[0], problems
