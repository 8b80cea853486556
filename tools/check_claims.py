"""Check that every number the prose quotes (README.md, the docs pages of nbs/*.md, results/README.md) is still what
the committed tables and records say: `python tools/check_claims.py [--claims claims.csv] [--root .]`.

The prose is not parsed. `claims.csv` (beside the README) holds one row per quoted number:

- `file`: the prose file (relative to the root), `quote`: text that must occur in it (whitespace and line breaks
  count as one space), `number`: the number as the quote writes it (a substring of `quote`);
- `source`: where the number comes from: a committed CSV (`paper_figures/x.csv`), a committed JSON file
  (`benchmarks/quickstart.json`), a glob of JSON records (`results/qwen-cpu/*/*.json`; several joined by ` + `), or
  `derive:<name>` for the few numbers no single file holds (see DERIVATIONS);
- `select`: which rows: `column=value`, `column^=prefix`, `column$=suffix` or `column!=value`, joined by `;` (CSV columns, or dotted
  paths into a record); for a JSON file, a dotted path (`1.seconds`); for `derive:`, its arguments `key=value;...`;
- `value`: a CSV column (exactly one row must match) or `agg:column` with agg in min, max, count, mean over the
  matching rows; `col1|col2` pools several columns; `column@regex` takes the regex's first group from each cell;
  for records, a dotted path (`max:seconds`); for `derive:`, the key of its result;
- `scale`: a multiplier applied first (`1/60`: seconds to minutes; empty: 1);
- `format`: a Python format spec for the number (`+.1f`, `.3f`, `d`), or `raw`: the cell's text as it is.

A unicode minus (−) counts as `-` when the recomputed number is compared with the quoted one. The script prints every
row that drifted (its quote no longer in the prose, or a recomputation that gives another number) and exits 1.
"""
import argparse
import csv
import fnmatch
import glob
import json
import re
import statistics
import sys
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["file", "quote", "number", "source", "select", "value", "scale", "format"]
AGGREGATES = {"min": min, "max": max, "count": len, "mean": statistics.fmean, "sum": sum}


def norm(text: str) -> str:
    "Whitespace runs as one space."
    return re.sub(r"\s+", " ", text).strip()


def unminus(text: str) -> str:
    return text.replace("−", "-")


def number(cell) -> float:
    "A table cell or record value as a float ('+8.2', '−3.0', 0.5)."
    if isinstance(cell, (int, float)):
        return float(cell)
    try:
        return float(unminus(str(cell)).strip())
    except ValueError:
        raise ValueError(f"{cell!r} is not a number") from None


def dotted(obj, path: str):
    "obj[a][b]... for the path 'a.b' (integers index lists)."
    for key in path.split("."):
        obj = obj[int(key)] if isinstance(obj, list) else obj[key]
    return obj


def matches(row: dict, select: str, get) -> bool:
    for cond in filter(None, (c.strip() for c in select.split(";"))):
        m = re.fullmatch(r"(.+?)(\^=|\$=|!=|=)(.*)", cond)
        if not m:
            raise ValueError(f"select condition {cond!r} is not column=value, column^=prefix, column$=suffix or "
                             "column!=value")
        key, op, want = m.groups()
        have = str(get(row, key))
        if ((op == "=" and have != want) or (op == "!=" and have == want) or (op == "^=" and not have.startswith(want))
                or (op == "$=" and not have.endswith(want))):
            return False
    return True


def cells(rows: list, value: str, get):
    "The aggregate (or the single cell) `value` names over `rows`."
    agg, _, spec = value.partition(":") if value.split(":")[0] in AGGREGATES else ("", "", value)
    spec, _, pattern = spec.partition("@")
    found = []
    for row in rows:
        for col in spec.split("|"):
            cell = get(row, col)
            if pattern:
                m = re.search(pattern, str(cell))
                if not m:
                    continue
                cell = m.group(1)
            if cell in ("–", "", None):
                continue
            found.append(cell)
    if agg == "count":
        return len(rows)
    if not agg:
        if len(rows) != 1:
            raise ValueError(f"the select matches {len(rows)} rows, not one: add conditions or an aggregate")
        if len(found) != 1:
            raise ValueError(f"column {spec!r} has no value in the matching row")
        return found[0]
    if not found:
        raise ValueError(f"no values for {value!r} in the {len(rows)} matching rows")
    return AGGREGATES[agg]([number(c) for c in found])


def csv_value(path: Path, select: str, value: str):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    get = lambda row, key: row[key] if key in row else _missing(path, key, row)
    return cells([r for r in rows if matches(r, select, get)], value, get)


def _missing(path, key, row):
    raise KeyError(f"{path.name} has no column {key!r} (columns: {', '.join(row)})")


def records_value(root: Path, pattern: str, select: str, value: str):
    files = sorted(f for one in pattern.split(" + ") for f in glob.glob(str(root / one.strip())))
    if not files:
        raise FileNotFoundError(f"no file matches {pattern}")
    rows = []
    for f in files:
        if f.endswith(".failed.json"):
            continue
        rows.append(json.loads(Path(f).read_text()))
    get = lambda row, key: dotted(row, key)
    return cells([r for r in rows if matches(r, select, get)], value, get)


# ---- numbers no single committed file holds, recomputed from the records and tables ----

def _args(select: str) -> dict:
    return dict(c.split("=", 1) for c in filter(None, (c.strip() for c in select.split(";"))))


def _records(root: Path, grid: str):
    for f in sorted(glob.glob(str(root / "results" / grid / "*" / "*.json"))):
        if not f.endswith(".failed.json"):
            yield json.loads(Path(f).read_text())


def _chosen(root: Path, grid: str, method: str):
    "Records of `method` at the learning rate runs 1-2 use (the rate chosen on run 0's dev rows)."
    recs = [r for r in _records(root, grid) if r["cell"].get("method") == method]
    lrs = {r["cell"]["learning_rate"] for r in recs if r["cell"]["run"] > 0}
    if len(lrs) != 1:
        raise ValueError(f"{grid}/{method}: runs 1-2 use learning rates {sorted(lrs)}, not one")
    return sorted((r for r in recs if r["cell"]["learning_rate"] in lrs), key=lambda r: r["cell"]["run"])


def dev_ties(root: Path, grid: str) -> dict:
    "How many learning-rate choices (run 0: task, N, method, adapter) tie on dev accuracy."
    groups = {}
    for r in _records(root, grid):
        c = r["cell"]
        if c.get("run") == 0 and r.get("dev"):
            key = (c["task"], c["n"], c["method"], json.dumps(c.get("adapter"), sort_keys=True))
            groups.setdefault(key, []).append(r["dev"][c["method"]]["accuracy"])
    ties = sum(accs.count(max(accs)) > 1 for accs in groups.values())
    return {"ties": ties, "choices": len(groups)}


def collapsed_all_tasks(root: Path, table: str) -> dict:
    """Trained runs that give one label to >= 95% of the rows on every evaluation task, from the collapse table
    (cells 'k/3 (share run 0, share run 1, share run 2)', a share 'lo–hi' where the records bound it)."""
    with open(root / table, newline="") as f:
        rows = list(csv.DictReader(f))
    methods = [c for c in rows[0] if c not in ("n", "source_eval", "base", "ICL")]
    low = high = runs = 0
    for n in sorted({r["n"] for r in rows} - {"0"}):
        for m in methods:
            shares = []
            for r in (r for r in rows if r["n"] == n):
                inside = re.search(r"\((.*)\)", r[m]).group(1)
                shares.append([[float(x) for x in re.sub(r"\[.*?\]", "", s).strip().split("–")]
                               for s in inside.split(",")])
            for run in zip(*shares):
                runs += 1
                low += all(s[0] >= 95 for s in run)
                high += all(s[-1] >= 95 for s in run)
    return {"low": low, "high": high, "runs": runs}


def paired_test(root: Path, grid: str, treated: str, control: str, metric: str) -> dict:
    "ttest_rel over runs of `treated` vs `control` (each at its chosen learning rate), H1: treated greater."
    from scipy import stats
    value = lambda r: statistics.fmean(row[metric] for row in r["results"])
    t_runs = {r["cell"]["run"]: value(r) for r in _chosen(root, grid, treated)}
    c_runs = {r["cell"]["run"]: value(r) for r in _chosen(root, grid, control)}
    runs = sorted(t_runs.keys() & c_runs.keys())
    res = stats.ttest_rel([t_runs[k] for k in runs], [c_runs[k] for k in runs], alternative="greater")
    return {"t": float(res.statistic), "p_greater": float(res.pvalue), "pairs": len(runs)}


def marker_count(root: Path, grid: str, method: str, marker: str = "####") -> dict:
    "Responses of `method` (at its chosen learning rate, all runs) that contain the answer marker."
    responses = [x for r in _chosen(root, grid, method) for p in r["predictions"] for x in p["response"]]
    return {"with": sum(marker in x for x in responses), "responses": len(responses)}


def minutes(root: Path, grid: str, glob: str = "*", device: str = "") -> dict:
    "Shortest and longest wall time (minutes) of a grid's records whose file name matches `glob` (device: a prefix)."
    secs = [r["seconds"] / 60 for r in _records(root, grid)
            if fnmatch.fnmatch(r["id"] + ".json", glob) and r["environment"]["device"].startswith(device)]
    if not secs:
        raise ValueError(f"no record of {grid} matches {glob!r} on device {device!r}")
    return {"min": min(secs), "max": max(secs), "count": len(secs)}


def span_minutes(root: Path, grid: str, device: str = "") -> dict:
    "Minutes from the first start (finished_at - seconds) to the last finish of a grid's records on `device`."
    from datetime import datetime, timedelta
    spans = [(datetime.fromisoformat(r["finished_at"]) - timedelta(seconds=r["seconds"]), datetime.fromisoformat(r["finished_at"]))
             for r in _records(root, grid) if r["environment"]["device"].startswith(device)]
    if not spans:
        raise ValueError(f"no record of {grid} on device {device!r}")
    return {"minutes": (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds() / 60, "count": len(spans)}


DERIVATIONS = {f.__name__: f for f in (dev_ties, collapsed_all_tasks, paired_test, marker_count, minutes, span_minutes)}


def recompute(row: dict, root: Path):
    source, select, value = row["source"], row["select"], row["value"]
    if source.startswith("derive:"):
        name = source.removeprefix("derive:")
        if name not in DERIVATIONS:
            raise ValueError(f"unknown derivation {name!r} (known: {', '.join(DERIVATIONS)})")
        return DERIVATIONS[name](root, **_args(select))[value]
    if any(ch in source for ch in "*?["):
        return records_value(root, source, select, value)
    path = root / source
    if not path.is_file():
        raise FileNotFoundError(f"{source} is not a committed file")
    if path.suffix == ".csv":
        return csv_value(path, select, value)
    if path.suffix == ".json":
        return dotted(json.loads(path.read_text()), select)
    raise ValueError(f"{source}: a source is a .csv, a .json, a glob of records or derive:<name>")


def render(x, row: dict) -> str:
    if row["format"] == "raw":
        return str(x)
    scale = Fraction(row["scale"]) if row["scale"].strip() else 1
    x = number(x) * float(scale)
    if row["format"].endswith("d"):
        x = round(x)
    return format(x, row["format"])


def check(claims: Path, root: Path) -> list[str]:
    "Every drift, one line each (empty: all claims hold)."
    with open(claims, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or list(rows[0]) != COLUMNS:
        return [f"{claims}: the header must be {','.join(COLUMNS)}"]
    texts, problems = {}, []
    for i, row in enumerate(rows, start=2):
        where = f"{claims.name}:{i} ({row['file']}: {row['number']!r} in {row['quote']!r})"
        if row["file"] not in texts:
            path = root / row["file"]
            texts[row["file"]] = norm(path.read_text()) if path.is_file() else None
        text = texts[row["file"]]
        if text is None:
            problems.append(f"{where}: {row['file']} does not exist")
            continue
        if norm(row["quote"]) not in text:
            problems.append(f"{where}: the quote is no longer in {row['file']}")
        if row["number"] not in row["quote"]:
            problems.append(f"{where}: the number is not part of the quote")
        try:
            got = render(recompute(row, root), row)
        except (KeyError, ValueError, TypeError, FileNotFoundError, IndexError, AttributeError) as e:
            problems.append(f"{where}: cannot recompute from {row['source']}: {e}")
            continue
        if unminus(got) != unminus(row["number"]):
            problems.append(f"{where}: {row['source']} [{row['select']}] {row['value']} gives {got}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=Path, default=None, help="the claims table (default: <root>/claims.csv)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository root the paths are relative to")
    args = parser.parse_args(argv)
    claims = args.claims or args.root / "claims.csv"
    problems = check(claims, args.root)
    for p in problems:
        print(p, file=sys.stderr)
    with open(claims, newline="") as f:
        count = sum(1 for _ in csv.DictReader(f))
    if problems:
        print(f"{len(problems)} of the {count} quoted numbers in {claims.name} drifted", file=sys.stderr)
        return 1
    print(f"all {count} quoted numbers in {claims.name} recompute from the committed tables and records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
