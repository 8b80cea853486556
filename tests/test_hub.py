"""The hub path: the exact `datasets.load_dataset` call for every split of all 12 tasks, and the offline hint.

The hub cannot be reached from CI, so `load_dataset` is replaced by a recorder. The expected calls are written out
here, not derived from `ia2.tasks`, so a change to a task's hub id, config, revision or splits fails this test until
it is checked against the hub again (see "Where the rows come from on the hub" in nbs/00_tasks.ipynb).
"""
import pytest
from datasets import Dataset

import ia2.data
from ia2.data import load_split
from ia2.tasks import TASKS, get_task

PARQUET = "refs/convert/parquet"
# task -> {split: the keyword arguments of load_dataset}
EXPECTED = {
    "sst2": {s: dict(path="stanfordnlp/sst2", name=None, revision=None, split=s) for s in ("train", "validation")},
    # loading scripts on `main`: the parquet conversion, config chosen by folder
    "finsen": {"train": dict(path="takala/financial_phrasebank", data_dir="sentences_50agree", revision=PARQUET,
                             split="train")},
    "strategytf": {"test": dict(path="wics/strategy-qa", data_dir="strategyQA", revision=PARQUET, split="test")},
    "poems": {"train": dict(path="google-research-datasets/poem_sentiment", name=None, revision=None, split="train")},
    "agnews": {s: dict(path="fancyzhx/ag_news", name=None, revision=None, split=s) for s in ("train", "test")},
    "bbcnews": {"test": dict(path="SetFit/bbc-news", name=None, revision=None, split="test")},
    "sciq_remap": {s: dict(path="allenai/sciq", name=None, revision=None, split=s) for s in ("train", "validation")},
    "qasc_remap": {"validation": dict(path="allenai/qasc", name=None, revision=None, split="validation")},
    "gsm8k": {s: dict(path="openai/gsm8k", name="main", revision=None, split=s) for s in ("train", "test")},
    "gsm8ks": {"test": dict(path="apple/GSM-Symbolic", name="main", revision=None, split="test")},
    "hmath_algebra": {s: dict(path="EleutherAI/hendrycks_math", name="algebra", revision=None, split=s)
                      for s in ("train", "test")},
    "sciq": {s: dict(path="allenai/sciq", name=None, revision=None, split=s) for s in ("train", "validation")},
}
# rows of each task's pool split on the hub (nbs/00_tasks.ipynb, checked against the dataset cards)
POOL_ROWS = {"sst2": 67_349, "finsen": 4_846, "strategytf": 2_290, "agnews": 120_000, "sciq_remap": 11_679,
             "gsm8k": 7_473, "hmath_algebra": 1_744, "sciq": 11_679}


@pytest.fixture
def hub(monkeypatch):
    "Replace `load_dataset` in `ia2.data` by a recorder that returns an empty split with the dataset's columns."
    monkeypatch.delenv(ia2.data.DATA_DIR_ENV, raising=False)  # no data_dir and no $IA2_DATA_DIR: the hub path
    calls = []

    def load_dataset(*args, **kwargs):
        calls.append((args, kwargs))
        columns = {c for t in TASKS.values() if t.hub_id == kwargs.get("path") for c in t.columns}
        return Dataset.from_dict({c: [] for c in sorted(columns)})

    monkeypatch.setattr(ia2.data, "load_dataset", load_dataset)
    return calls


def test_the_twelve_paper_tasks_are_all_covered():
    paper_tasks = {name for name, task in TASKS.items() if task.hub_id is not None}
    assert len(EXPECTED) == 12 and paper_tasks >= set(EXPECTED), sorted(set(EXPECTED) - paper_tasks)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_split_calls_load_dataset_with_exact_arguments(hub, name):
    task = get_task(name)
    splits = {s for s in (task.pool_split, task.eval_split) if s is not None}
    assert splits == set(EXPECTED[name]), f"{name} reads splits {sorted(splits)}"
    for split in sorted(splits):
        hub.clear()
        load_split(name, split)
        assert hub == [((), EXPECTED[name][split])], f"{name} '{split}': load_dataset called with {hub}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_task_points_at_a_loading_script_dataset(name):
    # the two datasets that are still loading scripts on `main` must be read from their parquet conversion
    task = get_task(name)
    if task.hub_id in ("takala/financial_phrasebank", "wics/strategy-qa"):
        assert task.hub_revision == PARQUET and task.hub_config is not None


def test_pool_rows_match_the_hub():
    assert {n: get_task(n).hub_pool_rows for n in POOL_ROWS} == POOL_ROWS


def test_a_failed_download_says_how_to_work_offline(monkeypatch):
    monkeypatch.delenv(ia2.data.DATA_DIR_ENV, raising=False)

    def unreachable(**kwargs):
        raise ConnectionError("Couldn't reach 'stanfordnlp/sst2' on the Hub (ConnectError)")

    monkeypatch.setattr(ia2.data, "load_dataset", unreachable)
    with pytest.raises(ConnectionError) as error:
        load_split("sst2", "validation")
    message = str(error.value)
    assert "IA2_DATA_DIR" in message and "sst2/validation.jsonl" in message and "Couldn't reach" in message
    assert isinstance(error.value.__cause__, ConnectionError)
