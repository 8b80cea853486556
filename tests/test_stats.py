"""The statistics of `ia2.stats` on the committed qwen-cpu records: Table 8's tests, the collapse diagnostic and the
bootstrap, checked against independent computations."""
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ia2.records import read_records, records_frame
from ia2.figures import selected_cells
from ia2.stats import bootstrap_gap, collapse_frame, paired_t_mde, paired_tests, run_rows
from ia2.trainers import method_id

RECORDS = Path(__file__).resolve().parent.parent / "results" / "qwen-cpu"

@pytest.fixture(scope="module")
def grid():
    records = read_records(RECORDS)
    assert len(records) == 47, f"expected the 47 committed qwen-cpu records under {RECORDS}"
    return records, records_frame(records)

def test_table8_is_a_one_sample_test_of_the_differences(grid):
    _, frame = grid
    tests = paired_tests(frame, "ia2-sft", "sft", adapter="lora-qko-r8").set_index(["n", "test"])
    kept = selected_cells(frame, "dev").assign(method=lambda f: f.method.map(method_id))
    for n in (4, 16):
        wide = kept[kept.n == n].pivot_table(index=["eval_task", "run"], columns="method", values=["accuracy", "ece"])
        for name, metric, alternative in [("single-token accuracy", "accuracy", "greater"), ("single-token ECE", "ece", "less")]:
            diff = wide[metric]["ia2-sft"] - wide[metric]["sft"]
            expected = stats.ttest_1samp(diff, 0.0, alternative=alternative)
            row = tests.loc[(n, name)]
            assert row.pairs == 9 and np.isclose(row.t, expected.statistic) and np.isclose(row.p, expected.pvalue)
        assert tests.loc[(n, "multi-token accuracy")].pairs == 0  # the GSM8K grid is another grid

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
    flipped = bootstrap_gap(list(control.values()), list(treated.values()), "accuracy", reps=400, seed=3)
    assert np.isclose(flipped["gap"], -a["gap"]) and np.isclose(flipped["low"], -a["high"])

def test_mde_has_the_stated_power_with_three_pairs():
    sd, pairs = 0.1, 3
    mde = paired_t_mde(sd, pairs)
    d = np.random.default_rng(0).normal(mde, sd, size=(40_000, pairs))
    t = d.mean(1) / (d.std(1, ddof=1) / np.sqrt(pairs))
    assert abs((t > stats.t.ppf(0.95, pairs - 1)).mean() - 0.8) < 0.01
