"""What several test files share: a tiny grid on a task defined in the grid file itself, with its data folder (no real
data), and a grid's records without what differs between two identical runs, so that runs can be compared."""
import json
import textwrap
from pathlib import Path

WORDS = ["good", "bad", "great", "awful", "fine", "poor", "superb", "dreadful", "nice", "dull"]
GRID = """
    name: faults
    models: [tiny:llama]
    tasks:
      - {name: tiny_faults, template: "Text:{text}\\nLabel:", label_words: ["0", "1"], data_folder: reviews}
    n: [4]
    methods: [base, ICL, ia2, ia2-sft]
    learning_rates: [1.0e-2]
    runs: [0]
    eval_rows: 4
    ood: false
    training: {num_train_epochs: 1}
    batch_size: 4
    data_dir: data
    store: store
"""


def write_grid(folder: Path, text: str = GRID) -> Path:
    "Write the grid file `text` and its data (data/reviews: 40 train and 12 test rows) into `folder`; the grid's path."
    (folder / "data" / "reviews").mkdir(parents=True)
    for split, count in (("train", 40), ("test", 12)):
        rows = [{"text": f"{WORDS[i % 10]} {split} {i}", "label": int(i % 2 == 0)} for i in range(count)]
        (folder / "data" / "reviews" / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (folder / "grid.yaml").write_text(textwrap.dedent(text))
    return folder / "grid.yaml"


def volatile(key: str) -> bool:
    "Wall times, versions, checksums and the run's own folders (absolute paths): nothing computed."
    return key in {"finished_at", "environment", "sha256", "profile", "data_dir", "store"} or "seconds" in key or key.endswith("per_step")


def strip(value):
    "`value` (a record, or any part of one) without its volatile keys, at every depth."
    if isinstance(value, dict): return {k: strip(v) for k, v in value.items() if not volatile(k)}
    if isinstance(value, list): return [strip(v) for v in value]
    return value


def records(grid) -> dict:
    "Every finished record of the grid's tiny-llama cells minus volatile keys, by file name."
    return {p.name: strip(json.loads(p.read_text())) for p in sorted((grid.folder / "tiny-llama").glob("*.json"))
            if not p.name.endswith(".failed.json")}
