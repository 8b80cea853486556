"""The statistics of `ia2.stats` on the committed records: Table 8's tests (one pair per run, and the paper's per-task
pairing), the collapse diagnostic, both intervals of a gap, their coverage on simulated runs, and GSM8K's strict grading,
checked against independent computations."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ia2.records import read_records, records_frame
from ia2.stats import (add_strict_accuracy, bootstrap_gap, collapse_frame, headline_gaps, paired_t_mde, paired_tests, run_rows,
                       selected_cells, t_interval, training_balance)
from ia2.trainers import method_id

RESULTS = Path(__file__).resolve().parent.parent / "results"
RECORDS = RESULTS / "qwen-cpu"

@pytest.fixture(scope="module")
def grid():
    records = read_records(RECORDS)
    assert len(records) == 47, f"expected the 47 committed qwen-cpu records under {RECORDS}"
    return records, records_frame(records)

@pytest.fixture(scope="module")
def math_grid():
    records = read_records(RESULTS / "qwen-cpu-math")
    assert records, f"expected the committed qwen-cpu-math records under {RESULTS / 'qwen-cpu-math'}"
    return records, add_strict_accuracy(records, records_frame(records))

def test_table8_pairs_runs_and_keeps_the_papers_pairing(grid):
    _, frame = grid
    tests = paired_tests(frame, "ia2-sft", "sft", adapter="lora-qko-r8").set_index(["n", "test", "pairing"])
    kept = selected_cells(frame, "dev").assign(method=lambda f: f.method.map(method_id))
    for n in (4, 16):
        wide = kept[kept.n == n].pivot_table(index=["eval_task", "run"], columns="method", values=["accuracy", "ece"])
        for name, metric, alternative in [("single-token accuracy", "accuracy", "greater"), ("single-token ECE", "ece", "less")]:
            diff = wide[metric]["ia2-sft"] - wide[metric]["sft"]  # one value per (evaluation task, run)
            paper = tests.loc[(n, name, "task")]
            expected = stats.ttest_1samp(diff, 0.0, alternative=alternative)
            assert paper.pairs == 9 and np.isclose(paper.t, expected.statistic) and np.isclose(paper.p, expected.pvalue)
            per_run = diff.groupby(level="run").mean()  # one pair per run: the mean over its three evaluation tasks
            row = tests.loc[(n, name, "run")]
            assert row.pairs == 3 and np.isclose(row.t, stats.ttest_1samp(per_run, 0.0).statistic)
            assert np.isclose(row.p, stats.ttest_1samp(per_run, 0.0, alternative=alternative).pvalue)
            assert np.isclose(row.p_two_sided, stats.ttest_1samp(per_run, 0.0).pvalue)
            assert np.allclose([row.low, row.high], stats.t.interval(0.95, 2, per_run.mean(), stats.sem(per_run)))
        assert tests.loc[(n, "multi-token accuracy", "run")].pairs == 0  # the GSM8K grid is another grid

def test_collapse_counts(grid):
    records, frame = grid
    flagged = frame.merge(collapse_frame(records), on=["cell_id", "eval_task"], how="left")
    trained = selected_cells(flagged, "dev").query("learning_rate.notna()")
    on_all = trained.groupby(["n", "method", "run"]).collapsed.agg(lambda s: s.eq(True).all())
    assert (on_all.sum(), len(on_all)) == (8, 24)
    ia2_sft_run0 = trained[(trained.method.map(method_id) == "ia2-sft") & (trained.run == 0)]
    assert len(ia2_sft_run0) == 6 and (ia2_sft_run0.majority_low == 1.0).all()  # constant at both N, on every task

def test_collapse_matches_a_direct_count_where_exact(grid):
    "Where top-1 and label-set accuracy agree, a binary row's prediction is its label if right, else the other one."
    records, _ = grid
    flags = collapse_frame(records).set_index(["cell_id", "eval_task"])
    checked = 0
    for record in records:
        for p in record["predictions"]:
            row = flags.loc[(record["id"], p["eval_task"])]
            if not row.exact: continue
            label, correct = np.array(p["label"]), np.array(p["correct"], bool)
            predicted = np.where(correct, label, 1 - label)
            assert row.majority_low == np.bincount(predicted, minlength=2).max() / len(label)
            checked += 1
    assert checked > 120

def test_bootstrap_is_deterministic_and_pairs_runs(grid):
    records, frame = grid
    treated = run_rows(records, frame, 4, "sst2", "sst2", "ia2-sft")
    control = run_rows(records, frame, 4, "sst2", "sst2", "sft")
    assert list(treated) == list(control) == [0, 1, 2] and len(treated[0]["row_ids"]) == 200  # migrated records carry row ids
    a = bootstrap_gap(list(treated.values()), list(control.values()), "accuracy", reps=400, seed=3)
    b = bootstrap_gap(list(treated.values()), list(control.values()), "accuracy", reps=400, seed=3)
    assert a == b and np.isclose(a["gap"], 0.043333333) and a["low"] < 0 < a["high"]
    direct = [np.mean(treated[r]["correct"]) - np.mean(control[r]["correct"]) for r in range(3)]
    assert np.allclose(a["run_gaps"], direct)
    flipped = bootstrap_gap(list(control.values()), list(treated.values()), "accuracy", reps=400, seed=3)
    assert np.isclose(flipped["gap"], -a["gap"]) and np.isclose(flipped["low"], -a["high"])

def simulated_runs(rng, runs, rows, gap, run_sd, base=0.6):
    "Runs with a known mean gap: each run's treated accuracy is its control's plus `gap` plus its own N(0, run_sd) effect."
    treated, control = [], []
    for _ in range(runs):
        p_c = np.clip(base + rng.normal(0, run_sd), 0.05, 0.9)
        p_t = p_c + gap + rng.normal(0, run_sd)
        treated.append({"label": [0] * rows, "correct": (rng.random(rows) < p_t).astype(int)})
        control.append({"label": [0] * rows, "correct": (rng.random(rows) < p_c).astype(int)})
    return treated, control

@pytest.mark.parametrize("runs,rows,run_sd,bootstrap_at_least", [
    (3, 200, 0.12, 0.80),  # runs differ more than rows do, 3 runs: the bootstrap is short, not badly
    (10, 200, 0.12, 0.91),  # the same with 10 runs: near nominal
    (3, 100, 0.03, 0.93),  # rows dominate: the bootstrap is at or above nominal
])
def test_intervals_cover_a_known_gap(runs, rows, run_sd, bootstrap_at_least):
    "Coverage of the 95% intervals over 800 seeded synthetic designs (Monte Carlo sd of a 95% coverage: 0.008)."
    rng, gap, designs, hits = np.random.default_rng(runs * 1000 + rows), 0.05, 800, np.zeros(2)
    for s in range(designs):
        boot = bootstrap_gap(*simulated_runs(rng, runs, rows, gap, run_sd), "accuracy", reps=300, seed=s)
        t = t_interval(boot["run_gaps"])
        hits += [t["low"] <= gap <= t["high"], boot["low"] <= gap <= boot["high"]]
    t_cover, boot_cover = hits / designs
    assert 0.93 <= t_cover <= 0.97, f"t-interval coverage {t_cover:.3f} with {runs} runs"
    assert boot_cover >= bootstrap_at_least, f"bootstrap coverage {boot_cover:.3f} with {runs} runs"

def test_mde_has_the_stated_power_with_three_pairs():
    sd, pairs = 0.1, 3
    mde = paired_t_mde(sd, pairs)
    d = np.random.default_rng(0).normal(mde, sd, size=(40_000, pairs))
    t = d.mean(1) / (d.std(1, ddof=1) / np.sqrt(pairs))
    assert abs((t > stats.t.ppf(0.95, pairs - 1)).mean() - 0.8) < 0.01

def test_gsm8k_strict_grading_counts_answers_after_the_marker(math_grid):
    records, frame = math_grid
    for record in records:  # strict = right and the response says '####', counted directly from the stored responses
        p = next(p for p in record["predictions"] if method_id(p["method"]) == method_id(record["cell"]["method"]))
        direct = np.mean([c and "####" in r for r, c in zip(p["response"], p["correct"])])
        row = frame[(frame.cell_id == record["id"]) & (frame.eval_task == p["eval_task"])]
        assert np.isclose(row.strict_accuracy.item(), direct) and row.strict_accuracy.item() <= row.accuracy.item()
    ia2 = [r for r in records if method_id(r["cell"]["method"]) == "ia2"]
    assert ia2 and not any("####" in s for r in ia2 for p in r["predictions"] for s in p["response"])  # IA2 never writes it
    gaps = headline_gaps(records, frame, [("ia2-sft", "ICL")], reps=200).set_index("metric")
    assert set(gaps.index) == {"accuracy", "strict_accuracy"} and gaps.gap["strict_accuracy"] < gaps.gap["accuracy"]

def test_stats_sits_below_figures():
    "Importing ia2.stats must not import ia2.figures (the layering: records < stats < figures)."
    code = "import sys, ia2.stats; assert 'ia2.figures' not in sys.modules, 'ia2.stats imported ia2.figures'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)

def test_every_trained_single_token_run_records_its_training_balance(grid):
    "Training labels in provenance (tools/add_train_labels.py for older records): N of them, and the IA2 runs' balance."
    records, _ = grid
    records = records + read_records(RESULTS / "qwen-cpu-lora")
    trained = [r for r in records if r["cell"]["n"] > 0 and method_id(r["cell"]["method"]) not in ("ICL", "base")]
    assert trained and all(len(r["provenance"]["train"]["label"]) == r["cell"]["n"] for r in trained)
    balance = {(r["cell"]["n"], r["cell"]["run"]): training_balance(r) for r in trained if r["cell"]["task"] == "sst2"}
    assert balance[(4, 0)] == "2:2" and balance[(4, 1)] == balance[(4, 2)] == "1:3"  # runs 1-2: 3 positive rows to 1 negative
    flags = collapse_frame(records)
    assert flags.train_balance.notna().sum() > 0 and set(flags.train_balance.dropna()) <= {"2:2", "1:3", "7:9", "8:8"}
