"""Issue 23 in tiny grids: the training-free baselines, SDFT through TRL, LDR mode with WILDA, and demonstration
shuffles, all under the protocol of the paper's methods (the same rows, demonstrations, records and checks)."""
import json
import textwrap
import warnings
from pathlib import Path

import pytest

from ia2.config import CellConfig, load_grid
from ia2.engine import run_grid
from ia2.experiments import grid_status

from helpers import GRID, write_grid


def _grid(folder: Path, methods: str, extra: str = "") -> Path:
    "The tiny grid of helpers.py with these methods and extra settings."
    return write_grid(folder, textwrap.dedent(GRID).replace("methods: [base, ICL, ia2, ia2-sft]", f"methods: {methods}") + extra)


def _run(grid, finished: int) -> dict:
    "Run the grid (quietly: the random tiny model warns of its ICL gap and short training); its records by cell id."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert run_grid(grid, progress=False) == {"finished": finished, "failed": 0}
    return {p.name.removesuffix(".json"): json.loads(p.read_text()) for p in sorted((grid.folder / "tiny-llama").glob("*.json"))}


def test_every_neighbour_runs_under_one_protocol(tmp_path):
    grid = load_grid(_grid(tmp_path, "[base, ICL, task-vector, icv, sft, ia2-sft, sdft, wilda]", "unlabelled: [0, 8]\npermutations: 3\n"))
    made = _run(grid, 9)
    stem = "tiny_faults_N4_{}_lora-qko-r8-a8_lr0.01_run0"
    assert set(made) == {"tiny_faults_base", *(f"tiny_faults_N4_{m}_run0" for m in ("ICL", "task-vector", "icv")),
                         *(stem.format(m) for m in ("sft", "ia2-sft", "sdft", "ia2-sft_U8", "wilda_U8"))}
    # one protocol: every cell of the run scored the same evaluation rows; every trained cell trained on the same N rows
    evals = {json.dumps(r["provenance"]["eval"]) for r in made.values()}
    assert len(evals) == 1
    trains = {json.dumps(r["provenance"]["train"]) for i, r in made.items() if i != "tiny_faults_base"}
    assert len(trains) == 1
    train_index = set(json.loads(trains.pop())["index"])
    # the training-free baselines chose a layer / a strength on the dev rows, and say so
    assert made["tiny_faults_N4_task-vector_run0"]["dev_choice"]["task-vector"]["layer"] in range(2)
    assert made["tiny_faults_N4_icv_run0"]["dev_choice"]["icv"]["strength"] > 0
    # SDFT trained through TRL into the layout of the paper's methods, its adapter checksummed
    sdft = made[stem.format("sdft")]
    phase = sdft["training"]["sdft"]["phases"][0]
    assert phase["objective"] == "sdft" and phase["steps"] >= 1 and sdft["training"]["sdft"]["trl"]["version"] == "1.16.0"
    assert (grid.folder / sdft["adapters"]["sdft"]["path"]).is_file()
    # LDR mode: the record lists its unlabelled rows, which are neither training nor dev rows, and the teacher's plan
    for method in ("ia2-sft_U8", "wilda_U8"):
        record = made[stem.format(method)]
        unlabelled = record["provenance"]["unlabelled"]["index"]
        assert len(unlabelled) == 8 and not set(unlabelled) & (train_index | set(record["provenance"]["dev"]["index"]))
        teacher = record["provenance"]["teacher"]
        assert teacher["mode"] == "ldr" and teacher["orders"] == 3 and teacher["queries"] == unlabelled
        assert all(sorted(d) == sorted(train_index) for d in teacher["demonstrations"])  # all N labelled rows, reordered
        assert len({tuple(d) for d in teacher["demonstrations"]}) == 3
        assert record["config"]["unlabelled"] == 8 and record["cell"]["unlabelled"] == 8
    assert "unlabelled" not in made[stem.format("ia2-sft")]["provenance"]  # the labelled cell is the paper's
    # IA2 in LDR mode trained on the 8 unlabelled queries (2 steps of 4), then SFT on the 4 labelled rows (1 step)
    assert [p["steps"] for p in made[stem.format("ia2-sft_U8")]["training"]["ia2-sft"]["phases"]] == [2, 1]
    # nothing is stale, and a rerun computes nothing
    assert set(grid_status(grid).state) == {"done"}
    assert run_grid(grid, progress=False) == {"finished": 0, "failed": 0}


def test_demo_orders_repeat_each_training_row_with_shuffled_demonstrations(tmp_path):
    made = _run(load_grid(_grid(tmp_path, "[sft, ia2]", "demo_orders: 2\n")), 2)
    ia2 = made["tiny_faults_N4_ia2_lora-qko-r8-a8_lr0.01_run0"]
    teacher, train = ia2["provenance"]["teacher"], ia2["provenance"]["train"]["index"]
    assert teacher["mode"] == "labelled" and teacher["orders"] == 2 and teacher["queries"] == train + train
    for query, demos in zip(teacher["queries"], teacher["demonstrations"]):
        assert sorted(demos) == sorted(set(train) - {query})  # the other N-1 rows, in a fresh order
    # every method sees each row twice per epoch: 8 rows in batches of 4
    assert ia2["training"]["ia2"]["phases"][0]["steps"] == 2
    assert made["tiny_faults_N4_sft_lora-qko-r8-a8_lr0.01_run0"]["training"]["sft"]["phases"][0]["steps"] == 2


def test_ldr_settings_that_cannot_run_fail_with_the_fix():
    with pytest.raises(ValueError, match="leave demo_orders at 1"):
        CellConfig(unlabelled=8, demo_orders=2)
    with pytest.raises(ValueError, match="set unlabelled: M"):
        CellConfig(methods=["wilda"]).check_unlabelled()
    with pytest.raises(ValueError, match="unlabelled must be >= 0"):
        CellConfig(unlabelled=-1)


def test_a_grid_with_wilda_needs_an_unlabelled_m(tmp_path):
    from ia2.config import GridError
    with pytest.raises(GridError, match=r"add an M > 0 to unlabelled"):
        load_grid(_grid(tmp_path, "[sft, wilda]"))


def test_train_api_takes_unlabelled_rows_and_demo_orders(tmp_path):
    from ia2 import train
    from ia2.models import build_tiny_model
    from ia2.tasks import Example, Task
    task = Task(name="tiny_api_reviews", template="Text:{text}\nLabel:", label_words=("0", "1"))
    rows = [Example(f"Text:review {i}\nLabel:", str(i % 2), i % 2, i) for i in range(14)]
    train_rows, dev_rows, unlabelled = rows[:4], rows[4:6], rows[6:14]
    model, tokenizer = build_tiny_model("llama", seed=0)
    store = tmp_path / "store"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="set unlabelled: M"):
            train(model, tokenizer, task, train_rows, dev_rows, method="wilda", store=store, progress=False)
        result = train(model, tokenizer, task, train_rows, dev_rows, method="wilda", unlabelled=unlabelled, permutations=2,
                       args={"num_train_epochs": 1}, store=store, progress=False, icl_gap=False)
        assert result.summary["phases"][0]["steps"] == 2  # the 8 unlabelled queries in batches of 4, not the 4 labelled rows
        model = result.model.unload()
        shuffled = train(model, tokenizer, task, train_rows, dev_rows, method="sft", demo_orders=3,
                         args={"num_train_epochs": 1}, store=store, progress=False, icl_gap=False)
        assert shuffled.summary["phases"][0]["steps"] == 3  # 4 rows x 3 orders in batches of 4
