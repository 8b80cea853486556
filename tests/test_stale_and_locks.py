"""Issue 26, the state half: a record is valid only for what made it (settings, rows, model weights), damaged state is
named and recomputed, a stopped runner's lock is taken over after the printed timeout, cell ids keep full precision,
and a foreign JSON file in a results folder is skipped. Each case that ends in records is compared with an
uninterrupted run of the tiny grid (tests/helpers.py)."""
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ia2.cli import main, open_grid
from ia2.config import load_grid
from ia2.engine import run_grid
from ia2.experiments import LOCK_TIMEOUT_ENV, cell_files, chosen_learning_rates, grid_cells, grid_status
from ia2.models import build_tiny_model

from helpers import GRID, records, strip, write_grid

pytestmark = pytest.mark.usefixtures("fresh_cli_logger")
IA2 = shutil.which("ia2", path=str(Path(sys.executable).parent))
ROOT = Path(__file__).parents[1]
COMMITTED = ["qwen-cpu", "qwen-cpu-lora", "qwen-cpu-math", "sst2-powered", "qwen-cpu-baselines"]  # the shipped grids whose records are committed




def states(grid) -> dict:
    status = grid_status(grid)
    return dict(zip(status.method, zip(status.state, status.error)))


def warned(caplog, *texts) -> bool:
    return any(all(t in r.getMessage() for t in texts) for r in caplog.records if r.levelno >= logging.WARNING)


def test_changed_shared_setting_recomputes_exactly_the_trained_cells(clean, copy, caplog):
    path = Path(copy.source)
    path.write_text(path.read_text().replace("num_train_epochs: 1", "num_train_epochs: 2"))
    now = states(load_grid(path))
    assert now["base"][0] == now["ICL"][0] == "done"  # they train nothing: the setting does not determine them
    assert now["ia2"] == ("stale", "training.num_train_epochs changed 1 → 2")
    assert main(["status", str(path), "--verify"]) == 1
    with caplog.at_level(logging.WARNING, logger="ia2"):
        assert run_grid(load_grid(path), progress=False) == {"finished": 2, "failed": 0}
    assert warned(caplog, "ia2_lora", "stale: training.num_train_epochs changed 1 → 2")
    assert run_grid(load_grid(path), progress=False) == {"finished": 0, "failed": 0}  # valid now
    path.write_text(path.read_text().replace("num_train_epochs: 2", "num_train_epochs: 1"))  # back: recomputed again
    assert run_grid(load_grid(path), progress=False) == {"finished": 2, "failed": 0}
    assert records(copy) == clean[1]


def test_changed_evaluation_row_makes_every_cell_stale_and_restoring_it_valid(clean, copy, capsys):
    data = Path(copy.source).parent / "data" / "reviews" / "test.jsonl"
    original = data.read_text()
    rows = [json.loads(line) for line in original.splitlines()]
    rows[0]["label"] = 1 - rows[0]["label"]  # one evaluation label flipped
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    now = states(copy)
    assert {s for s, _ in now.values()} == {"stale"}
    assert all("rows.eval.tiny_faults: 1 of 4 rows changed" in e for _, e in now.values()), now
    assert main(["status", str(copy.source), "--verify"]) == 1
    assert "STALE" in "".join(capsys.readouterr())
    data.write_text(original)
    assert {s for s, _ in states(copy).values()} == {"done"} and records(copy) == clean[1]


def test_overwritten_local_model_makes_its_cells_stale_and_they_are_recomputed(tmp_path, caplog):
    model_dir = tmp_path / "mymodel"
    for seed in (0, 1):
        build_tiny_model("llama", seed=seed)[0].save_pretrained(tmp_path / f"weights{seed}")
    grid_text = GRID.replace("models: [tiny:llama]", f"models: [{model_dir}]").replace(
        "methods: [base, ICL, ia2, ia2-sft]", "methods: [base]")
    shutil.copytree(tmp_path / "weights0", model_dir)
    build_tiny_model("llama", seed=0)[1].save_pretrained(model_dir)  # and the tokenizer: a local folder is a full model
    grid = load_grid(write_grid(tmp_path / "a", grid_text))
    assert run_grid(grid, progress=False) == {"finished": 1, "failed": 0}
    shutil.copy(tmp_path / "weights1" / "model.safetensors", model_dir / "model.safetensors")  # overwritten in place
    status = grid_status(grid)
    (state, error, detail), = zip(status.state, status.error, status.detail)
    assert state == "stale" and error.startswith("weights changed folder sha256 "), (state, error, detail)
    with caplog.at_level(logging.WARNING, logger="ia2"):
        assert run_grid(grid, progress=False) == {"finished": 1, "failed": 0}
    reference = load_grid(write_grid(tmp_path / "b", grid_text))  # an uninterrupted run on the new weights
    assert run_grid(reference, progress=False) == {"finished": 1, "failed": 0}
    folder = lambda g: next(p for p in g.folder.iterdir() if p.is_dir())
    mine, theirs = ({p.name: json.loads(p.read_text()) for p in folder(g).glob("*.json")} for g in (grid, reference))
    assert [strip(r["results"]) for r in mine.values()] == [strip(r["results"]) for r in theirs.values()]
    assert [r["fingerprint"] for r in mine.values()] == [r["fingerprint"] for r in theirs.values()]


def test_truncated_training_summary_is_named_and_the_sequence_is_computed(clean, copy, caplog):
    summary = cell_files(copy, grid_status(copy).set_index("method").cell["ia2"]).training("ia2") / "training.json"
    summary.write_text(summary.read_text()[:40])
    sequence = cell_files(copy, grid_status(copy).set_index("method").cell["ia2-sft"])
    sequence.record.unlink(); shutil.rmtree(sequence.adapters)
    with caplog.at_level(logging.WARNING, logger="ia2"):
        assert run_grid(copy, progress=False) == {"finished": 1, "failed": 0}  # not blocked, on this or any rerun
    assert warned(caplog, str(summary), "is damaged")
    mine, reference = records(copy)[sequence.record.name], clean[1][sequence.record.name]
    assert mine["reused"] == {} and mine["results"] == reference["results"]  # trained from scratch, the same result


def test_stopped_lock_holder_is_shown_then_taken_over_after_the_timeout(clean, copy, caplog, capsys, monkeypatch):
    icl = cell_files(copy, grid_status(copy).set_index("method").cell["ICL"])
    icl.record.unlink()
    owner = icl.lock.with_suffix(".owner")
    monkeypatch.setenv(LOCK_TIMEOUT_ENV, "3")
    holder = subprocess.Popen([IA2, "run", str(copy.source), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, LOCK_TIMEOUT_ENV: "3"})
    try:
        deadline = time.time() + 300
        while not owner.exists() and holder.poll() is None and time.time() < deadline: time.sleep(0.01)
        holder.send_signal(signal.SIGSTOP)
        assert owner.exists(), "the runner finished or failed before it held the cell"
        assert main(["status", str(copy.source)]) == 0
        assert f"RUNNING {icl.record.stem}: held by pid {holder.pid} on " in "".join(capsys.readouterr())
        start = time.time()
        with caplog.at_level(logging.INFO, logger="ia2"):
            assert run_grid(copy, progress=False, wait_seconds=0.5) == {"finished": 1, "failed": 0}
        assert time.time() - start < 120
        assert any(f"waiting for {icl.record.stem}: held by pid {holder.pid}" in r.getMessage() and "3 s" in r.getMessage()
                   for r in caplog.records)
        assert warned(caplog, icl.record.stem, f"pid {holder.pid}", "taking the cell over")
        assert records(copy) == clean[1]
        written = icl.record.stat().st_mtime_ns
        holder.send_signal(signal.SIGCONT)  # woken up: it finds the cell taken over and stops without writing it
        holder.wait(timeout=120)
        assert icl.record.stat().st_mtime_ns == written and records(copy) == clean[1]
    finally:
        holder.kill(); holder.wait(timeout=60)


def test_committed_record_names_are_the_cell_ids_of_the_shipped_grids(monkeypatch):
    monkeypatch.chdir(ROOT)
    for name in COMMITTED:
        grid = open_grid(name)
        ids = {c.cell_id for c, _, _ in grid_cells(grid, chosen_learning_rates(grid)) if c is not None}
        names = {p.stem for p in grid.folder.glob("*/*.json") if not p.name.endswith(".failed.json")}
        assert names and names <= ids, (name, sorted(names - ids)[:5])


def test_a_stale_search_record_chooses_no_learning_rate(tmp_path):
    text = (GRID.replace("learning_rates: [1.0e-2]", "learning_rates: [1.0e-2, 1.0e-3]").replace("methods: [base, ICL, ia2, ia2-sft]", "methods: [sft]")
            .replace("runs: [0]", "runs: [0, 1]\n    search_runs: [0]"))
    grid = load_grid(write_grid(tmp_path, text))
    assert run_grid(grid, progress=False, max_cells=2) == {"finished": 2, "failed": 0}  # run 0 at both rates: the search
    assert list(chosen_learning_rates(grid).values())[0] in (1e-2, 1e-3)
    (tmp_path / "grid.yaml").write_text((tmp_path / "grid.yaml").read_text().replace("eval_rows: 4", "eval_rows: 3"))
    changed = load_grid(tmp_path / "grid.yaml")
    assert set(grid_status(changed).state) == {"stale", "waiting"}  # run 1 waits for the search to be recomputed
    assert chosen_learning_rates(changed) == {}


def test_committed_records_are_not_stale(monkeypatch):
    data = Path(os.environ.get("IA2_DATA_DIR", "/work/shared/data"))
    if not (data / "sst2").is_dir(): pytest.skip(f"the benchmark data are not at {data}: set IA2_DATA_DIR to check the rows")
    monkeypatch.setenv("IA2_DATA_DIR", str(data)); monkeypatch.chdir(ROOT)
    for name in COMMITTED:
        grid = open_grid(name)
        status = grid_status(grid)
        done = status[status.state.isin(["done", "stale"])]
        assert len(done) and (done.state == "done").all(), (name, done[done.state == "stale"].error.tolist()[:3])
        assert not done.detail.str.startswith("fingerprint not checked", na=False).any(), name


def test_long_task_name_is_shortened_in_file_names(tmp_path):
    name = "t" * 205
    grid = load_grid(write_grid(tmp_path, GRID.replace("name: tiny_faults", f"name: {name}").replace(
        "methods: [base, ICL, ia2, ia2-sft]", "methods: [base]")))
    assert run_grid(grid, progress=False) == {"finished": 1, "failed": 0}
    record, = (grid.folder / "tiny-llama").glob("*.json")
    assert len(record.name) < 100 and json.loads(record.read_text())["cell"]["task"] == name


def test_table_skips_a_foreign_json_file_with_a_warning(clean, copy, caplog):
    foreign = copy.folder / "tiny-llama" / "notes.json"
    foreign.write_text('{"comment": "mine"}')
    with caplog.at_level(logging.WARNING, logger="ia2"):
        assert main(["table", str(copy.source)]) == 0
        assert main(["status", str(copy.source), "--verify"]) == 0
    assert warned(caplog, str(foreign), "not an ia2 record")


def test_store_part_of_other_prompts_is_named_moved_aside_and_recomputed(clean, copy, caplog, tmp_path):
    from ia2.activations import TeacherConfig, collect_teacher
    part, = sorted(Path(copy.settings.store).glob("*/part-*.safetensors"))
    model, tokenizer = build_tiny_model("llama", seed=0)
    other = tmp_path / "other"  # a valid part of the same model, on other prompts: its own sha256 passes
    collect_teacher(model, tokenizer, ["Text:good\nLabel:", "Text:bad\nLabel:"], TeacherConfig(), other, "tiny", progress=False)
    shutil.copy(next(other.glob("*/part-000000.safetensors")), part)
    status = grid_status(copy).set_index("method")
    for method in ("ia2", "ia2-sft"):
        paths = cell_files(copy, status.cell[method])
        paths.record.unlink(); shutil.rmtree(paths.adapters)
    with caplog.at_level(logging.WARNING, logger="ia2"):
        assert run_grid(copy, progress=False) == {"finished": 2, "failed": 0}
    assert warned(caplog, str(part), "holds the teacher records of other prompts")
    assert len(list(part.parent.glob(part.name + ".damaged-*"))) == 1
    assert records(copy) == clean[1]
