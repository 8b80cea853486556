"""Tasks and data on the real benchmark rows: selection, formatting, splits, demonstrations and bad input."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from ia2 import data as ia2_data
from ia2.data import (DATA_DIR_ENV, build_icl_prompt, eval_demonstrations, load_split, load_task,
                      resolve_data_dir, split_run, training_demonstrations)
from ia2.tasks import REMAP_WORDS, TASKS, Example, check_label_tokenization, format_example, get_task

needs_data = pytest.mark.skipif(not os.environ.get(DATA_DIR_ENV), reason=f"set {DATA_DIR_ENV} to the benchmark data")

# the local copy lacks SciQ's train split and GSM-Symbolic altogether
FALLBACK = {"sciq", "sciq_remap"}
LOCAL_TASKS = [name for name in TASKS if name != "gsm8ks"]
EXPECTED_SIZES = {  # (pool, eval) with the local copy
    "sst2": (2000, 500), "finsen": (1467, 500), "poems": (0, 288), "strategytf": (1790, 500),
    "agnews": (2000, 500), "bbcnews": (0, 500), "sciq_remap": (500, 500), "qasc_remap": (0, 500),
    "gsm8k": (2000, 500), "hmath_algebra": (1744, 500), "sciq": (500, 500)}


def _load(name):
    return load_task(name, pool_from_eval_split=name in FALLBACK)


def _raw_rows(task, split):
    path = Path(os.environ[DATA_DIR_ENV]) / task.data_folder / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _permuted(positions):
    "`positions` reordered as `datasets.Dataset.shuffle(seed=42)` reorders a dataset of that length."
    return [positions[i] for i in np.random.default_rng(42).permutation(len(positions))]


def _expected_indices(task):
    "Row positions of the pool and evaluation set, recomputed from the raw file with numpy and the json module."
    rows = _raw_rows(task, task.eval_split)
    kept = lambda positions: [i for i in positions if task.label_map is None or rows[i][task.label_column] in task.label_map]
    if task.filter_before_shuffle:
        ordered = _permuted(kept(range(len(rows))))
    else:
        ordered = kept(_permuted(list(range(len(rows)))))
    if task.pool_split == task.eval_split:
        pool, evaluation = ordered[:-500], ordered[-500:]
        if task.reshuffle_after_split:
            pool, evaluation = _permuted(pool), _permuted(evaluation)
        return pool[:2000], evaluation
    if task.eval_only:
        return [], ordered[:500]
    if task.name in FALLBACK:
        return ordered[500:2500], ordered[:500]
    return _permuted(list(range(len(_raw_rows(task, task.pool_split)))))[:2000], ordered[:500]


@needs_data
@pytest.mark.parametrize("name", LOCAL_TASKS)
def test_task_loading(name):
    task, loaded = get_task(name), _load(name)
    assert (len(loaded.pool), len(loaded.eval)) == EXPECTED_SIZES[name]
    # the rows are those of the authors' seed-42 selection, recomputed independently
    pool_indices, eval_indices = _expected_indices(task)
    assert [e.index for e in loaded.pool] == pool_indices
    assert [e.index for e in loaded.eval] == eval_indices
    # each example is its raw row, formatted
    for examples, split in ((loaded.pool, task.pool_split), (loaded.eval, task.eval_split)):
        if examples:
            rows = _raw_rows(task, split if name not in FALLBACK else task.eval_split)
            assert all(format_example(task, rows[e.index], e.index) == e for e in examples[:20])
    # pool and evaluation rows never overlap (same split: by position; any split: by prompt)
    if task.pool_split == task.eval_split or name in FALLBACK:
        assert not {e.index for e in loaded.pool} & {e.index for e in loaded.eval}
    assert len({e.index for e in loaded.pool}) == len(loaded.pool)
    assert len({e.index for e in loaded.eval}) == len(loaded.eval)
    # labels: every label word occurs, and label ids index the label words
    if task.multi_token:
        assert all(e.label is None and e.answer for e in loaded.eval)
    else:
        assert {e.answer for e in loaded.eval} == set(task.label_words)
        assert all(task.label_words[e.label] == e.answer for e in loaded.pool + loaded.eval)
        assert all(e.prompt.endswith(task.answer_cue) for e in loaded.eval)
    assert _load(name) == loaded  # deterministic


@needs_data
def test_known_rows():
    sst2 = load_task("sst2")
    assert sst2.eval[0] == Example("Text:it gets onto the screen just about as much of the novella as one could "
                                   "reasonably expect , and is engrossing and moving in its own right . \nLabel:",
                                   "1", 1, 726)
    assert load_task("finsen").eval[0].prompt.startswith("Text:Finnish department store chain Stockmann Oyj Abp")
    assert load_task("strategytf").eval[0].prompt == ("Question:Would Dante have hypothetically placed Nostradamus "
                                                      "in 3rd Circle of Hell?\nAnswer:")
    bbc = load_task("bbcnews").eval[0]
    assert bbc.answer == "2" and bbc.prompt.endswith(" to run its central bank.  stanley fischer  vice chairman of "
                                                     "banking giant citigroup  has agreed to take the bank of israel "
                                                     "job subject to\nLabel:")
    sciq = load_task("sciq_remap", pool_from_eval_split=True).eval[0]
    assert sciq.prompt == ("Question:A habitat’s features are determined mainly by abiotic factors such as?\n"
                           "Choices:\n[apple]oxygen and rainfall\n[Friday]length\n[banana]temperature and rainfall\n"
                           "[Saturday]mixing and rainfall\n\nAnswer:") and sciq.answer == "banana"
    qasc = load_task("qasc_remap").eval[0]
    assert qasc.index == 356 and qasc.answer == "Monday" and "\n[Monday]procreation\n\nAnswer:" in qasc.prompt
    gsm8k = load_task("gsm8k").eval[0]
    assert gsm8k.prompt.startswith("Question:Darrell and Allen's ages") and gsm8k.answer.endswith("#### 109")
    assert load_task("hmath_algebra").eval[0].answer.count("\\boxed{") >= 1
    assert load_task("sciq", pool_from_eval_split=True).eval[0].answer.endswith("\n#### temperature and rainfall")


@needs_data
def test_notes_record_departures_from_the_paper():
    assert load_task("sst2").pool_note == ""
    assert "8,815 of the hub's 120,000" in load_task("agnews").pool_note
    assert "pool_from_eval_split=True" in load_task("sciq", pool_from_eval_split=True).pool_note


@needs_data
def test_run_splits():
    pool = load_task("sst2").pool
    for n in (2, 8, 128):
        for run in range(5):
            split = split_run(pool, n, run)
            assert (len(split.train), len(split.dev)) == (n, min(48, n // 2))
            parts = [{e.index for e in p} for p in (split.train, split.dev, split.rest)]
            assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
            assert sum(map(len, parts)) == len(pool)
            assert split_run(pool, n, run) == split
    assert split_run(pool, 8, 0).train != split_run(pool, 8, 1).train
    # the authors' draw: RandomState(run).shuffle of the pool positions
    positions = list(range(len(pool)))
    np.random.RandomState(3).shuffle(positions)
    assert [e.index for e in split_run(pool, 16, 3).train] == [pool[i].index for i in positions[:16]]


@needs_data
def test_demonstrations():
    pool = load_task("agnews").pool
    split = split_run(pool, 8, 2)
    lists = training_demonstrations(split.train, 2)
    assert all(len(d) == 7 and set(d) == set(split.train) - {x} for d, x in zip(lists, split.train))
    assert lists == training_demonstrations(split.train, 2) and lists != training_demonstrations(split.train, 3)
    queries = load_task("bbcnews").eval[:5]
    demos = eval_demonstrations(queries, split.rest, 7, 2)
    rng = np.random.RandomState(2)
    assert demos == [[split.rest[i] for i in rng.choice(list(range(len(split.rest))), 7, replace=False)]
                     for _ in queries]
    prompt = build_icl_prompt(demos[0], queries[0])
    assert prompt.count("\nLabel:") == 8 and prompt.endswith("\n\n" + queries[0].prompt)
    assert prompt.startswith(demos[0][0].prompt + demos[0][0].answer + "\n\nText:")


def test_icl_prompt_format():
    a, b, q = (Example(f"Q:{i}\nAnswer:", str(i), None, i) for i in range(3))
    assert build_icl_prompt([a, b], q) == "Q:0\nAnswer:0\n\nQ:1\nAnswer:1\n\nQ:2\nAnswer:"
    assert build_icl_prompt([], q) == q.prompt


def test_twelve_tasks():
    from ia2.tasks import PAPER_TASKS
    paper = {name: TASKS[name] for name in PAPER_TASKS}  # other tests register tasks of their own
    assert len(paper) == 12 and TASKS["qasc_remap"].label_words == REMAP_WORDS
    assert {n: t.max_new_tokens for n, t in paper.items() if t.multi_token} == {
        "gsm8k": 200, "gsm8ks": 200, "hmath_algebra": 400, "sciq": 200}
    assert TASKS["sst2"].ood_tasks == ("finsen", "poems") and TASKS["gsm8k"].ood_tasks == ("gsm8ks",)
    assert TASKS["gsm8ks"].eval_only and TASKS["gsm8ks"].data_folder == "gsm_symbolic"


def test_hub_is_the_default(monkeypatch):
    calls = []

    def fake_load_dataset(*args, **kwargs):
        calls.append((args, kwargs))
        from datasets import Dataset
        return Dataset.from_dict({"question": ["1+1?"], "answer": ["2\n#### 2"]})

    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(ia2_data, "load_dataset", fake_load_dataset)
    assert resolve_data_dir() is None
    assert len(load_split("gsm8ks", "test")) == 1
    assert calls == [((), {"path": "apple/GSM-Symbolic", "name": "main", "revision": None, "split": "test"})]


def test_smollm2_tokenizes_every_label_set():
    from ia2.models import load_tokenizer
    tokenizer = load_tokenizer("smollm2-135m")
    for task in TASKS.values():
        if not task.multi_token:
            ids = check_label_tokenization(task, tokenizer)
            assert list(ids) == list(task.label_words) and len(set(ids.values())) == len(ids)


# ---- bad input -------------------------------------------------------------------------------------------------

def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task 'sst-2' \\(did you mean 'sst2'\\?\\); choose one of sst2, finsen"):
        get_task("sst-2")
    with pytest.raises(ValueError, match="unknown task"):
        load_task("sst-2")


@needs_data
def test_n_larger_than_the_pool():
    pool = load_task("hmath_algebra").pool  # 1744 rows
    with pytest.raises(ValueError, match=r"N=1720 needs 1768 pool examples .* choose N <= 1696"):
        split_run(pool, 1720, 0)
    with pytest.raises(ValueError, match="evaluation-only task has no pool"):
        split_run(load_task("poems").pool, 2, 0)
    with pytest.raises(ValueError, match="choose 0 <= k <= 5"):
        eval_demonstrations(pool[:3], pool[:5], 6, 0)


@needs_data
def test_missing_split_files():
    with pytest.raises(FileNotFoundError, match=r"sciq/train.jsonl.*pool_from_eval_split=True"):
        load_task("sciq")
    with pytest.raises(FileNotFoundError, match="add gsm_symbolic/test.jsonl"):
        load_task("gsm8ks")
    with pytest.raises(FileNotFoundError, match=r"'/no/such/dir' \(from data_dir=\) does not exist"):
        load_task("sst2", data_dir="/no/such/dir")


def test_missing_columns_and_values(tmp_path):
    (tmp_path / "sst2").mkdir()
    rows = [{"idx": 0, "sentence": "fine", "label": 1}, {"idx": 1, "text": "no sentence", "label": 0}]
    (tmp_path / "sst2" / "validation.jsonl").write_text("\n".join(map(json.dumps, rows)))
    (tmp_path / "sst2" / "train.jsonl").write_text(json.dumps(rows[0]))
    with pytest.raises(ValueError, match=r"row 1 has no value for \['sentence'\]"):
        load_task("sst2", data_dir=tmp_path, eval_size=2)
    (tmp_path / "sst2" / "train.jsonl").write_text(json.dumps({"idx": 0, "text": "x", "label": 0}))
    with pytest.raises(ValueError, match=r"train.jsonl lacks the columns \['sentence'\]"):
        load_task("sst2", data_dir=tmp_path)
    (tmp_path / "financial_phrasebank").mkdir()
    finsen_rows = [{"sentence": f"s{i}", "label": 2} for i in range(3)] + [{"sentence": "s3", "label": None}]
    (tmp_path / "financial_phrasebank" / "train.jsonl").write_text("\n".join(map(json.dumps, finsen_rows)))
    with pytest.raises(ValueError, match="row 3 has no value for 'label'"):
        load_task("finsen", data_dir=tmp_path, eval_size=1)
    (tmp_path / "financial_phrasebank" / "train.jsonl").write_text("\n".join(map(json.dumps, finsen_rows[:3])))
    with pytest.raises(ValueError, match="has 3 usable 'train' rows: too few to keep 500 for evaluation"):
        load_task("finsen", data_dir=tmp_path)
