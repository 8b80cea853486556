"""Add provenance to grid records written before records carried it (issue 13), checked against what they stored.

For each record without a `provenance` key, the cell's data is rebuilt from its task, N, run and evaluation rows with
the current data code (`ia2.pipeline.load_cell_data`: the split and the demonstrations are seeded by the run index), and
its provenance is added only if the rebuilt evaluation rows' gold labels equal the labels the record stored for every
evaluation task and the dev set has the size the record's dev metrics counted. A record that does not match is marked
`"provenance": {"missing": "<why>"}` instead. Either way the record says how its provenance was obtained.

    IA2_DATA_DIR=../shared/data python tools/migrate_records.py results/qwen-cpu
"""
import sys
from pathlib import Path

from ia2.config import CellConfig
from ia2.pipeline import icl_demonstration_ids, load_cell_data
from ia2.records import read_record, write_json_atomic
from ia2.trainers import method_id

NOTE = ("recomputed after the fact by tools/migrate_records.py from the task, N, run and evaluation rows, with the "
        "seeded split of ia2.data.split_run; checked against the gold labels and dev size the record stored")


def migrate(path: Path) -> str:
    record = read_record(path, require_checksum=False)  # records from before checksums are what it migrates
    if "provenance" in record: return "has provenance"
    cell, settings = record["cell"], record["settings"]
    config = CellConfig(model=cell["model"], task=cell["task"], n=max(cell["n"], 2), run=cell["run"],
                        methods=[method_id(cell["method"])], eval_rows=settings["eval_rows"], ood=settings["ood"])
    data = load_cell_data(config)
    stored = {p["eval_task"]: p["label"] for p in record["predictions"] if method_id(p["method"]) == config.methods[0]}
    rebuilt = {name: [r.label for r in rows] for name, (_, rows) in data.eval_sets.items()}
    problems = [f"{name}: stored gold labels differ from the rebuilt evaluation rows" for name in stored
                if stored[name] != rebuilt.get(name)]
    dev_rows = (record.get("dev") or {}).get(cell["method"], {}).get("rows")
    if dev_rows is not None and cell["n"] and dev_rows != len(data.split.dev):
        problems.append(f"the record's dev metrics count {dev_rows} rows, the rebuilt split has {len(data.split.dev)}")
    if problems:
        record["provenance"] = {"missing": "; ".join(problems)}
        outcome = "marked as lacking provenance: " + "; ".join(problems)
    else:
        provenance = data.provenance()
        if cell["n"] == 0: provenance = {"eval": provenance["eval"], "seeds": {}, "pool_note": provenance["pool_note"]}
        if config.methods[0] == "ICL": provenance["icl_demonstrations"] = icl_demonstration_ids(data)
        record["provenance"] = {**provenance, "migrated": NOTE}
        outcome = "provenance added"
    write_json_atomic(record, path)
    return outcome


if __name__ == "__main__":
    folders = [Path(a) for a in sys.argv[1:]] or [Path("results")]
    for folder in folders:
        for path in sorted(folder.rglob("*.json")):
            if path.name.endswith(".failed.json") or "adapters" in path.parts or path.name.startswith("."): continue
            print(f"{path}: {migrate(path)}")
