"""benchmarks/costs.py: it regenerates the committed COSTS.md and costs.json from the committed records byte for byte,
and its projection arithmetic holds on a tiny synthetic record set worked by hand."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load_costs():
    spec = importlib.util.spec_from_file_location("costs", REPO / "benchmarks" / "costs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["costs"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


costs = _load_costs()


def test_regenerates_committed_costs(tmp_path):
    "The script on the committed records writes exactly the committed COSTS.md and `costs` entry."
    costs.main(["--out", str(tmp_path)])
    assert (tmp_path / "COSTS.md").read_text() == (REPO / "benchmarks" / "COSTS.md").read_text(), \
        "benchmarks/COSTS.md is stale: rerun `python benchmarks/costs.py` and commit it"
    committed = json.loads((REPO / "benchmarks" / "costs.json").read_text())
    assert json.loads((tmp_path / "costs.json").read_text())["costs"] == committed["costs"]
    text = (tmp_path / "COSTS.md").read_text()
    assert costs.COMMAND in text and "## Assumptions" in text and "The whole `paper` grid" in text


def test_measured_factor_reaches_the_packed_columns(tmp_path):
    "With a CPU packing speed-up committed, the packed CPU hours are the projection with its training stages divided by it."
    bench = tmp_path / "results.json"
    bench.write_text(json.dumps({"machine": {"device": "cpu"}, "packed_cells_per_hour_over_single_k16": 2.0}))
    gpu = REPO / "benchmarks" / "gpu"
    text, entry = costs.build(REPO / "results", gpu / "results.json", gpu / "training-20-repeats" / "results.json", bench)
    whole = entry["projections"][-1]
    training = sum(r["cpu_hours"] for r in entry["paper_grid"]["by_stage"] if r["stage"] in costs.TRAINING_STAGES)
    assert whole["cpu_packed_k16_hours"] == pytest.approx(whole["cpu_hours"] - training / 2, abs=2e-3)
    assert whole["cpu_packed_k4_hours"] is None and whole["h100_packed_k16_hours"] is None
    row = next(line for line in text.splitlines() if line.startswith("| The whole `paper` grid |"))
    assert row.split(" | ")[4:6] == ["not measured", costs.fmt(whole["cpu_packed_k16_hours"])]


def test_merge_keeps_other_keys(tmp_path):
    path = tmp_path / "costs.json"
    path.write_text(json.dumps({"other": 1, "costs": {"old": True}}))
    costs.merge_json(path, {"new": 2})
    assert json.loads(path.read_text()) == {"other": 1, "costs": {"new": 2}}


# --------------------------------------------------------------------------- a tiny synthetic record set

def _record(method, n, eval_seconds, rows_per_task, profile, phases, device="cpu (x86_64, 1 threads)"):
    return {"grid": "syn", "dtype": "torch.float32", "environment": {"device": device}, "seconds": sum(profile.values()),
            "cell": {"task": "sst2", "n": n, "method": method, "model": "m", "run": 0, "learning_rate": 1e-3, "adapter": None},
            "config": {"max_epochs": 50},
            "results": [{"eval_task": "sst2", "eval_rows": rows_per_task, "eval_seconds": eval_seconds / 2},
                        {"eval_task": "finsen", "eval_rows": rows_per_task, "eval_seconds": eval_seconds / 2}],
            "profile": profile,
            "training": {method: {"phases": [{"objective": o, "steps": s, "timing": {"step_seconds": ss, "evaluations": ev,
                                                                                      "eval_seconds": es}}
                                             for o, s, ss, ev, es in phases]}}}


@pytest.fixture
def synthetic(tmp_path):
    "Two CPU cells at N = 4 (dev rows 2), 20 evaluation rows each."
    folder = tmp_path / "results" / "syn" / "m"
    folder.mkdir(parents=True)
    sft = _record("sft", 4, 20.0, 10, {"data": 1.0, "icl_gap": 2.0, "train:sft": 38.0, "eval:sft": 20.0},
                  [("sft", 10, 30.0, 4, 8.0)])  # 1.0 s per row; 3.0 s per step; 8 / 4 / 2 = 1.0 s per dev row
    ia2 = _record("ia2", 4, 40.0, 10, {"data": 3.0, "teacher": 12.0, "train:ia2": 32.0, "eval:ia2": 40.0},
                  [("ia2", 20, 20.0, 4, 12.0)])  # 2.0 s per row; 1.0 s per step; 1.5 s per dev row; 12 / (6 × 4) = 0.5
    (folder / "a.json").write_text(json.dumps(sft))
    (folder / "b.json").write_text(json.dumps(ia2))
    (folder / "c.failed.json").write_text("{}")  # failures are not records
    return costs.read_records(tmp_path / "results")


def test_reads_records_and_tables(synthetic):
    assert [r.method for r in synthetic] == ["sft", "ia2"] and all(r.eval_rows == 20 for r in synthetic)
    stages = {(s["method"], s["stage"]): s for s in costs.stage_table(synthetic)}
    assert stages[("ia2", "teacher")]["median"] == 12.0 and stages[("sft", "total")]["median"] == 61.0
    steps = {s["method"]: s for s in costs.step_table(synthetic)}
    assert steps["sft"]["step_s"] == [3.0] and steps["ia2"]["dev_eval_s"] == [3.0]


def test_cpu_rates_by_hand(synthetic):
    r = costs.cpu_rates(synthetic)
    assert r.row_s == 1.5  # median of 20/20 and 40/20
    assert r.step_s == {"ia2": 1.0, "sft": 3.0}
    assert r.dev_row_s == 1.25  # median of 1.0 and 1.5
    assert r.teacher_row_s == 1.5 and r.data_s == 2.0 and r.concurrent == 2  # a teacher row costs as an evaluation row
    assert r.prompt_factor(8) == 8.0  # on the CPU a row costs in proportion to the examples in its prompt


def test_projection_arithmetic(synthetic):
    seen = costs.observed_steps(synthetic)
    assert seen[(False, "sft", 0, 4)] == [(10, 50)]  # 10 of the 50 steps 50 epochs allow at N = 4
    fractions = costs.StepModel(seen)
    assert fractions.steps(False, "sft", 0, 4) == (10, "sft[0]@N=4")
    assert fractions.steps(False, "sft", 0, 16) == (10, "sft[0]@N=4")  # the observed steps carry over ...
    assert fractions.steps(False, "ia2", 0, 2, epochs=5) == (5, "ia2[0]@N=4")  # ... capped by the epoch limit
    assert costs.StepModel(seen, "proportional").steps(False, "sft", 0, 16)[0] == 40  # 0.2 × 50 epochs × 4 steps
    assert fractions.steps(False, "tokl", 0, 4)[0] == 10  # tokl takes sft's steps
    with pytest.raises(ValueError, match="unknown step rule"):
        costs.StepModel(seen, "linear")
    rates = costs.cpu_rates(synthetic)
    key = costs.CellKey("sst2", 4, "sft", eval_rows=10, ood=False, similarity_rows=0, reuses_first_phase=False)
    # data 2 + icl_gap 2 dev × 1.5 × (1 + 4) + 10 steps × 3 + 10 evaluations × 2 dev × 1.25 + eval 10 × 1.5 + dev 2 × 1.5
    assert costs.cell_seconds(key, rates, fractions) == pytest.approx(2 + 15 + 30 + 25 + 15 + 3)
    icl = costs.CellKey("sst2", 8, "ICL", eval_rows=10, ood=True, similarity_rows=0, reuses_first_phase=False)
    assert costs.cell_seconds(icl, rates, fractions) == pytest.approx(2 + 30 * 1.5 * 8)  # SST-2 + 2 OOD tasks, 8 examples
    ia2 = costs.CellKey("sst2", 4, "ia2", eval_rows=10, ood=False, similarity_rows=0, reuses_first_phase=False)
    # + teacher (4 + 2) rows × 1.5 × 4 examples; 20 steps × 1.0 + 20 evaluations × 2 × 1.25
    assert costs.cell_seconds(ia2, rates, fractions) == pytest.approx(2 + 15 + 36 + 20 + 50 + 15 + 3)
    assert costs.cell_seconds(ia2, rates, fractions, computes_teacher=False) == pytest.approx(2 + 15 + 20 + 50 + 15 + 3)
    with pytest.raises(ValueError, match="no observed training phase"):
        fractions.steps(True, "sft", 0, 4)
    with pytest.raises(ValueError, match="no measured step time for objective 'joint'"):
        costs.step_seconds(costs.Rates("x", 1.0, {"sft": 1.0}, 1.0, 1.0, 0.0, 1), "joint")


def test_teacher_computed_once_per_task_n_run(synthetic):
    "Cells sharing (task, N, run) share the stored teacher records: only the first that needs them pays."
    rates, fractions = costs.cpu_rates(synthetic), costs.StepModel(costs.observed_steps(synthetic))
    key = dict(task="sst2", n=4, eval_rows=10, ood=False, similarity_rows=2, reuses_first_phase=False)
    sft, ia2 = costs.CellKey(method="sft", **key), costs.CellKey(method="ia2", **key)
    ia2_run1 = costs.CellKey(method="ia2", **{**key, "run": 1})
    full = {k.method: costs.cell_seconds(k, rates, fractions) for k in (sft, ia2)}
    teacher, similarity_teacher = 6 * 1.5 * 4, 2 * 1.5 * 4  # (N + dev) rows and 2 held-out rows, 4 examples each
    projection = costs.project([sft, ia2, ia2, ia2_run1], rates, rates, fractions, {})
    expected = full["sft"] + (full["ia2"] - similarity_teacher) + (full["ia2"] - similarity_teacher - teacher) + full["ia2"]
    assert projection.total["cpu"] == pytest.approx(expected)
    assert projection.cells_by_n == {4: 4} and projection.by_stage["cpu"]["teacher"] == pytest.approx(2 * teacher)


def test_gpu_prompt_factor():
    rates = costs.Rates("gpu", row_s=0.01, step_s={"sft": 0.1}, dev_row_s=0.01, teacher_row_s=0.02, data_s=0.5, concurrent=1,
                        prompt_tokens=100, teacher_tokens=50, tokens_per_example=10)
    assert rates.prompt_factor(4) == 1.0 and rates.prompt_factor(20) == 2.0  # flat up to 100 tokens, then in proportion
    assert rates.prompt_factor(10, teacher=True) == 2.0


def test_evaluations_schedule():
    assert costs.evaluations(10, 4) == 10  # one step per epoch: every epoch end
    assert costs.evaluations(10, 16) == 5  # 4 steps per epoch: every 2 steps covers the epoch ends
    assert costs.evaluations(9, 12) == 6  # 3 steps per epoch: steps 2, 4, 6, 8 and 3, 6, 9
    assert costs.max_steps(2) == 50 and costs.max_steps(256) == 50 * 64 and costs.dev_rows(256) == 48


def test_packed_factors_and_not_measured():
    assert costs.packed_factor(None, 4, "cpu") == (None, "file absent")
    assert costs.packed_factor({}, 16, "cpu") == (None, "packed_cells_per_hour_over_single_k16 absent")
    one = {"packed_cells_per_hour_over_single_k4": 2.5}
    assert costs.packed_factor(one, 4, "cpu") == (2.5, "packed_cells_per_hour_over_single_k4")
    assert costs.packed_factor({**one, "machine": {"device": "cuda"}}, 4, "cpu")[0] is None  # another device's factor
    by_model = {**one, "keys_by_model": {"packed_cells_per_hour_over_single_k4": {costs.MODEL: 4.0}}}
    assert costs.packed_factor(by_model, 4, "cpu")[0] == 4.0  # the model's own factor wins
    # only training is sped up: the packing benchmark measures training alone
    stages = {"evaluation": 10.0, "optimizer steps": 8.0, "dev-loss evaluations": 4.0, "recorded training": 4.0}
    assert costs.packed_seconds(stages, 4.0) == 10.0 + 2.0 + 1.0 + 1.0 and costs.packed_seconds(stages, None) is None
    assert costs.packed_text(None) == "not measured" and costs.packed_text(2.5) == "2.50"
    entry = {"projections": [{"table": "T", "grid": "g", "needs": "all", "cells": 3, "cpu_hours": 10.0, "h100_hours": 1.0,
                              "cpu_packed_k4_hours": None, "cpu_packed_k16_hours": 5.0, "h100_packed_k4_hours": None,
                              "h100_packed_k16_hours": None}],
             "checks": [], "rates": {}, "observed_steps": {}, "stages": [], "assumptions": ["a"]}
    factors = {"cpu": {4: (None, "absent"), 16: (2.0, "k16")}, "h100": {4: (None, "absent"), 16: (None, "absent")}}
    row = next(line for line in costs.render(entry, [], factors).splitlines() if line.startswith("| T |"))
    assert row == "| T | `g` | 3 | 10.0 | not measured | 5.00 | 1.00 | not measured | not measured |"


def test_no_records_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no records under"):
        costs.read_records(tmp_path)
