"""The training-free baselines (`ia2.baselines`) as grid methods: a tiny grid with base, ICL, task-vector and icv runs
through the runner, and their records share the ICL cell's split and evaluation rows and keep the choice made on dev."""
import math

import pytest

from ia2.baselines import ICV_STRENGTHS, choose_on_dev
from ia2.config import load_grid
from ia2.engine import run_grid
from ia2.experiments import grid_cells

from helpers import GRID, records, write_grid


@pytest.fixture(scope="module")
def tiny_grid(tmp_path_factory):
    text = GRID.replace("name: faults", "name: baselines").replace("methods: [base, ICL, ia2, ia2-sft]",
                                                                    "methods: [base, ICL, task-vector, icv]")
    grid = load_grid(write_grid(tmp_path_factory.mktemp("baselines"), text))
    assert run_grid(grid, progress=False) == {"finished": 4, "failed": 0}
    return grid


def test_the_grid_has_one_cell_per_baseline_n_and_run(tiny_grid):
    methods = [cell.method for cell, _, _ in grid_cells(tiny_grid)]
    assert methods == ["base", "ICL", "task-vector", "icv"]


def test_records_share_the_protocol_and_keep_the_dev_choice(tiny_grid):
    found = {r["cell"]["method"]: r for r in records(tiny_grid).values()}
    assert set(found) == {"base", "ICL", "task-vector", "icv"}
    icl = found["ICL"]
    for method, key, candidates in (("task-vector", "layer", [0, 1]), ("icv", "strength", list(ICV_STRENGTHS))):
        record = found[method]
        # the same training, dev and evaluation rows as ICL (the same run), and the same metric fields
        assert record["provenance"]["train"] == icl["provenance"]["train"]
        assert record["provenance"]["dev"] == icl["provenance"]["dev"] and record["provenance"]["eval"] == icl["provenance"]["eval"]
        assert {k for k in record["results"][0]} == {k for k in icl["results"][0]}
        assert record["results"][0]["eval_rows"] == 4 and 0.0 <= record["results"][0]["accuracy"] <= 1.0
        choice = record["dev_choice"][method]
        assert [d[key] for d in choice["dev"]] == candidates  # every candidate scored on the dev rows
        assert all(d["rows"] == len(record["provenance"]["dev"]["index"]) for d in choice["dev"])
        assert choice[key] == choose_on_dev({d[key]: d for d in choice["dev"]})
        assert "dev_choice" not in icl


def test_a_vector_changes_the_predictions(tiny_grid):
    found = {r["cell"]["method"]: r for r in records(tiny_grid).values()}
    confidence = {m: found[m]["predictions"][0]["confidence"] for m in found}
    for method in ("task-vector", "icv"):
        assert any(not math.isclose(a, b, abs_tol=1e-6) for a, b in zip(confidence[method], confidence["base"])), method


def test_multi_token_tasks_generate_with_the_vector_and_choose_on_dev_accuracy():
    import warnings
    from ia2.baselines import evaluate_training_free
    from ia2.models import build_tiny_model
    from ia2.tasks import Example, Task
    model, tokenizer = build_tiny_model("llama", seed=0)
    task = Task("tiny_echo", template="Q:{q}\nA:", answer_checker=lambda r, g: r.strip() == g.strip(), max_new_tokens=4)
    rows = [Example(f"Q:word {i}\nA:", f" w{i}", None, i) for i in range(10)]
    for method, key in (("task-vector", "layer"), ("icv", "strength")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got, predictions, choice = evaluate_training_free(model, tokenizer, method, task, rows[:4], rows[4:6],
                                                              {"tiny_echo": (task, rows[6:])}, batch_size=4, progress=False)
        assert got[0]["eval_rows"] == 4 and len(predictions[0]["response"]) == 4 and all(predictions[0]["response"])
        assert all(set(d) == {key, "accuracy"} for d in choice["dev"])  # no NLL through a patched forward
        assert choice[key] == choose_on_dev({d[key]: d for d in choice["dev"]})
