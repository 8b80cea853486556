"""Add the training rows' gold labels (`provenance.train.label`) to grid records written before records carried them.

A record's provenance names its N training rows by source index and content hash. This rebuilds the cell's split
with the current data code (`ia2.pipeline.load_cell_data`: the split is seeded by the run index) and adds the labels
only if the rebuilt training rows have exactly the stored indices and hashes; otherwise it changes nothing and says
why. The labels give each run's class balance (`ia2.stats.training_balance`), which the collapse tables print. Labels
of multi-token tasks are None, so their records are left as they are. The record's checksum is recomputed.

    IA2_DATA_DIR=../shared/data python tools/add_train_labels.py results/qwen-cpu results/qwen-cpu-lora
"""
import sys
from pathlib import Path

from ia2.config import CellConfig
from ia2.pipeline import load_cell_data
from ia2.records import read_record, write_json_atomic
from ia2.tasks import get_task
from ia2.trainers import method_id

NOTE = ("added after the fact by tools/add_train_labels.py from the rebuilt split; its training rows' indices and "
        "hashes were checked against the stored ones")


def add_labels(path: Path) -> str:
    record = read_record(path)
    train = record.get("provenance", {}).get("train")
    if train is None: return "no training rows in its provenance (N = 0, or no provenance)"
    if "label" in train: return "has training labels"
    cell = record["cell"]
    if get_task(cell["task"]).multi_token: return "multi-token task: no labels"
    settings = record.get("config") or record["settings"]
    config = CellConfig(model=cell["model"], task=cell["task"], n=cell["n"], run=cell["run"],
                        methods=[method_id(cell["method"])], eval_rows=settings["eval_rows"], ood=settings["ood"])
    rebuilt = load_cell_data(config).provenance()["train"]
    if (rebuilt["index"], rebuilt["sha256"]) != (train["index"], train["sha256"]):
        return f"unchanged: the rebuilt training rows {rebuilt['index']} differ from the stored {train['index']}"
    record["provenance"]["train"] = {**train, "label": rebuilt["label"], "label_note": NOTE}
    write_json_atomic(record, path)
    return f"training labels added: {rebuilt['label']}"


if __name__ == "__main__":
    for folder in [Path(a) for a in sys.argv[1:]] or [Path("results")]:
        for path in sorted(folder.rglob("*.json")):
            if path.name.endswith(".failed.json") or "adapters" in path.parts or path.name.startswith("."): continue
            print(f"{path}: {add_labels(path)}")
