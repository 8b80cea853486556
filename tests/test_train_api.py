"""Every keyword of `ia2.train` has an effect, and what `train` and `evaluate` refuse or warn about is said in words
that name the fix (issue 25: one config, no silent success)."""
import logging
from pathlib import Path

import pandas as pd
import pytest
import torch

import ia2

WORDS = ["good", "bad", "great", "awful", "fine", "poor", "superb", "dull", "nice", "grim", "lovely", "vile"]
FAST = {"num_train_epochs": 2}


@pytest.fixture(scope="module")
def task_rows():
    task = ia2.Task("api_mood", template="Text:{text}\nLabel:", label_words=("0", "1"))
    rows = ia2.examples(task, [{"text": w, "label": i % 2} for i, w in enumerate(WORDS)])
    return task, rows


def run(task_rows, tmp_path, method="ia2", **kwargs):
    task, rows = task_rows
    model, tokenizer = ia2.load_model("tiny:llama")
    kwargs = {"args": FAST, "store": tmp_path / "store", "progress": False, "icl_gap": False, **kwargs}
    return ia2.train(model, tokenizer, task, rows[:4], rows[4:6], method, **kwargs)


def trained_weights(result):
    return torch.cat([p.detach().flatten() for p in result.model.parameters() if p.requires_grad])


def test_method_picks_the_phases(task_rows, tmp_path):
    assert [p["objective"] for p in run(task_rows, tmp_path, "ia2-sft").summary["phases"]] == ["ia2", "sft"]
    assert [p["objective"] for p in run(task_rows, tmp_path, "sft").summary["phases"]] == ["sft"]


def test_adapter_picks_the_peft_kind(task_rows, tmp_path):
    result = run(task_rows, tmp_path, adapter={"kind": "ia3"})
    assert result.model.peft_config["default"].peft_type.value == "IA3"


def test_args_set_protocol_epochs_and_beta(task_rows, tmp_path):
    paper = run(task_rows, tmp_path, args={"num_train_epochs": 1, "protocol": "paper"})
    phase = paper.summary["phases"][0]
    assert phase["protocol"] == "paper" and phase["steps"] == 1 and phase["kept_step"] == 1
    low, high = (run(task_rows, tmp_path, "joint", args=ia2.IA2Config(output_dir="unused", num_train_epochs=2, beta=b, seed=0))
                 for b in (0.0, 1.0))
    assert low.summary["training_arguments"]["beta"] == 0.0 and high.summary["training_arguments"]["beta"] == 1.0
    assert low.summary["phases"][0]["dev_curve"] != high.summary["phases"][0]["dev_curve"]  # β weighs the two losses


def test_learning_rate_and_run_change_the_adapter(task_rows, tmp_path):
    base = run(task_rows, tmp_path, learning_rate=1e-2)
    assert base.summary["training_arguments"]["learning_rate"] == 1e-2
    assert not torch.equal(trained_weights(base), trained_weights(run(task_rows, tmp_path, learning_rate=1e-4)))
    assert torch.equal(trained_weights(base), trained_weights(run(task_rows, tmp_path, learning_rate=1e-2)))
    assert not torch.equal(trained_weights(base), trained_weights(run(task_rows, tmp_path, learning_rate=1e-2, run=1)))
    assert base.summary["training_arguments"]["seed"] == 0


def test_output_dir_none_writes_nothing_and_a_folder_gets_the_adapter(task_rows, tmp_path, monkeypatch):
    work = tmp_path / "cwd"; work.mkdir(); monkeypatch.chdir(work)
    result = run(task_rows, tmp_path)
    assert result.output_dir is None and list(work.iterdir()) == []
    saved = run(task_rows, tmp_path, output_dir=tmp_path / "mine")
    assert saved.output_dir == tmp_path / "mine" and (tmp_path / "mine" / "adapter" / "adapter_model.safetensors").exists()


def test_store_holds_the_teacher_activations(task_rows, tmp_path):
    run(task_rows, tmp_path, store=tmp_path / "elsewhere")
    assert list((tmp_path / "elsewhere").rglob("part-*.safetensors"))


def test_icl_gap_is_measured_and_warned_about(task_rows, tmp_path, caplog):
    assert run(task_rows, tmp_path).icl_gap is None
    with caplog.at_level(logging.WARNING, logger="ia2"):
        gap = run(task_rows, tmp_path, icl_gap=True).icl_gap
    assert {"dev_zero_shot_accuracy", "dev_icl_accuracy", "icl_gain"} <= set(gap)
    said = "does not beat zero-shot" in caplog.text
    assert said == (not gap["icl_gain"])  # the random tiny model: whichever it is, the warning matches it


def test_progress_shows_bars_only_when_asked(task_rows, tmp_path, capsys):
    run(task_rows, tmp_path, progress=False)
    assert capsys.readouterr().err == ""
    run(task_rows, tmp_path, progress=True)
    assert "train IA2" in capsys.readouterr().err


@pytest.mark.parametrize("keyword, says", [
    ("dtype", "ia2.load_model(name, dtype='bfloat16')"), ("eval_rows", "ia2.evaluate"), ("ood", "ia2.evaluate"),
    ("similarity_rows", "grid"), ("batch_size", "per_device_train_batch_size"), ("data_dir", "ia2.examples"),
    ("max_epochs", "num_train_epochs"), ("beta", "it is an IA2Config field"), ("lerning_rate", "did you mean 'learning_rate'")])
def test_unknown_keywords_fail_with_the_right_place(task_rows, tmp_path, keyword, says):
    with pytest.raises(TypeError, match="unexpected keyword") as error:
        run(task_rows, tmp_path, **{keyword: 1})
    assert says in str(error.value)
    with pytest.raises(TypeError, match="did you mean 'beta'"):
        run(task_rows, tmp_path, args={"betta": 0.3})


def test_one_label_dev_set_is_refused_and_one_dev_row_warned(task_rows, tmp_path, caplog):
    task, rows = task_rows
    model, tokenizer = ia2.load_model("tiny:llama")
    positives = [r for r in rows if r.label == 1]
    with pytest.raises(ValueError, match=r"all 2 dev rows have the label '1'.*stratify=True"):
        ia2.train(model, tokenizer, task, rows[:4], positives[-2:], "sft", args=FAST, progress=False)
    with caplog.at_level(logging.WARNING, logger="ia2"):
        ia2.train(model, tokenizer, task, rows[:4], rows[4:5], "sft", args=FAST, progress=False)
    assert "one dev row" in caplog.text
    split = ia2.split_run(rows, n=4, run=0, stratify=True)
    assert len({r.label for r in split.dev}) == 2


def test_label_words_are_checked_before_training(tmp_path):
    task = ia2.Task("api_clash", template="Text:{text}\nLabel:", label_words=("1", "10"))
    rows = ia2.examples(task, [{"text": w, "label": i % 2} for i, w in enumerate(WORDS)])
    model, tokenizer = ia2.load_model("tiny:llama")
    with pytest.raises(ValueError, match="share first tokens"):
        ia2.train(model, tokenizer, task, rows[:4], rows[4:6], "sft", args=FAST, progress=False, output_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()  # refused before anything was trained or written


def test_collapsed_evaluation_is_flagged_and_warned(task_rows, caplog):
    task, rows = task_rows
    model, tokenizer = ia2.load_model("tiny:llama")
    zero = tokenizer("0", add_special_tokens=False)["input_ids"][0]
    def always_zero(module, inputs, output):
        output[..., zero] += 1e4
        return output
    model.lm_head.register_forward_hook(always_zero)
    with caplog.at_level(logging.WARNING, logger="ia2"):
        result = ia2.evaluate(model, tokenizer, task, rows, progress=False)
    assert result.collapsed and result.majority_share == 1.0
    assert "collapsed: 100% of the 12 rows of api_mood get the label '0'" in caplog.text
    assert "about that label's share of the rows" in caplog.text
    mixed = ia2.Evaluation(task, {}, pd.DataFrame({"prediction": [0, 1] * 6}))
    assert not mixed.collapsed and mixed.majority_share == 0.5


def test_a_phase_that_reaches_its_epoch_limit_says_so(task_rows, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ia2"):
        result = run(task_rows, tmp_path, args={"num_train_epochs": 1, "patience": 5})
    phase = result.summary["phases"][0]
    assert phase["reached_epoch_limit"] and not phase["stopped_early"]
    assert "ran to its epoch limit (1 steps) without early stopping" in caplog.text


def test_args_may_set_what_train_defaults(task_rows, tmp_path):
    result = run(task_rows, tmp_path, args={**FAST, "disable_tqdm": True, "use_cpu": True, "report_to": []})
    assert result.summary["training_arguments"]["disable_tqdm"] is True
