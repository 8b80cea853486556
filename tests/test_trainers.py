"""Cross-module training tests: multi-process training through accelerate."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).with_name("accelerate_train_script.py")


def _curve(tmp_path, launcher, per_device_batch):
    out = tmp_path / f"curve_{per_device_batch}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*launcher, str(SCRIPT), str(out), str(per_device_batch)], check=True, env=env, timeout=600)
    return json.loads(out.read_text())


def test_accelerate_two_processes_matches_single_process_shape(tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    single = _curve(tmp_path, [sys.executable], 4)
    # accelerate's `--cpu` launcher starts a single process (several CPU processes need an MPI hostfile); its
    # torch.distributed launcher (`--multi_gpu`) starts two, which train on the CPU with gloo since use_cpu=True
    double = _curve(tmp_path, [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                               "--mixed_precision", "no", "--dynamo_backend", "no"], 2)
    assert single["processes"] == 1 and double["processes"] == 2
    assert len(single["loss"]) == len(double["loss"]) == 12
    for curve in (single["loss"], double["loss"]):
        assert np.mean(curve[-3:]) < 0.5 * np.mean(curve[:3])  # both learn
    # same effective batch (4) and data: the two curves fall alike
    assert abs(np.log(np.mean(single["loss"][-3:]) / np.mean(double["loss"][-3:]))) < np.log(3)


# ---------------------------------------------------------------- the protocol setting (issue 13, item 3)

import tempfile  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from ia2.models import build_tiny_model  # noqa: E402
from ia2.tasks import Example  # noqa: E402
from ia2.trainers import (PROTOCOLS, AdapterSettings, IA2Collator, IA2Trainer, IA2TrainingArguments, add_adapter,  # noqa: E402
                          build_items, paper_training_arguments, train_method)

_ROWS = [("good", 1), ("bad", 0), ("great fun", 1), ("dull", 0), ("fine", 1), ("poor", 0), ("nice", 1), ("grim", 0),
         ("lovely", 1), ("awful", 0)]


def _sft_run(protocol, n_train=4, max_steps=40, patience=2, learning_rate=3e-2):
    "SFT on a tiny llama with N train rows and 2 dev rows, at a learning rate high enough to overshoot and stop early."
    base, tok = build_tiny_model("llama", seed=0)
    rows = [Example(f"Text:{t}\nLabel:", str(l), l, i) for i, (t, l) in enumerate(_ROWS)]
    items = {"ground_truth": (build_items(tok, rows[:n_train]), build_items(tok, rows[-2:]))}
    model = add_adapter(base, AdapterSettings(), seed=0)
    args = paper_training_arguments(tempfile.mkdtemp(), learning_rate=learning_rate, n_train=n_train, seed=0,
                                    protocol=protocol, max_steps=max_steps, use_cpu=True)
    summary = train_method(model, "sft", items, args, tok.pad_token_id, patience=patience)
    return model, summary["phases"][0], items["ground_truth"][1], tok


def _dev_loss(model, dev, tok) -> float:
    "The SFT dev loss of `model` as it is now."
    args = IA2TrainingArguments(output_dir=tempfile.mkdtemp(), objective="sft", report_to=[], use_cpu=True,
                                remove_unused_columns=False, per_device_eval_batch_size=8, disable_tqdm=True)
    return IA2Trainer(model=model, args=args, eval_dataset=dev, data_collator=IA2Collator(tok.pad_token_id)).evaluate()["eval_loss"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_protocol_keeps_best_or_stop_time_weights_and_n4_evaluates_every_step(protocol):
    model, phase, dev, tok = _sft_run(protocol)
    curve = {c["step"]: c["dev_loss"] for c in phase["dev_curve"]}
    assert phase["protocol"] == protocol and phase["stopped_early"] and phase["best_step"] < phase["steps"]
    assert sorted(curve) == list(range(1, phase["steps"] + 1))  # N=4: an epoch is one step, evaluated after each
    assert phase["best_dev_loss"] == min(curve.values()) == curve[phase["best_step"]]
    kept = phase["best_step"] if protocol == "best" else phase["steps"]
    assert phase["kept_step"] == kept
    assert _dev_loss(model, dev, tok) == pytest.approx(curve[kept], abs=1e-6)  # the weights handed on are those of `kept`
    # ... and they are exactly the weights of the same run stopped at that step
    _, same, _, _ = _sft_run("paper", max_steps=kept, patience=100)
    assert same["steps"] == kept and same["end_weights"] == phase["end_weights"]
    timing = phase["timing"]
    assert timing["steps"] == phase["steps"] and timing["evaluations"] == len(curve) and timing["checkpoint_seconds"] == 0
    assert 0 < timing["train_seconds"] < timing["seconds"] and timing["eval_seconds"] > 0
    assert 0 < timing["step_seconds"] <= timing["train_seconds"] and timing["setup_seconds"] >= 0
    assert timing["seconds_per_step"] == pytest.approx(timing["step_seconds"] / timing["steps"], abs=1e-3)


def test_paper_schedule_with_two_steps_per_epoch_evaluates_every_second_step():
    _, phase, _, _ = _sft_run("paper", n_train=8, max_steps=7, patience=100, learning_rate=1e-3)
    # N=8, batch 4: epochs end at even steps, which the every-2-steps rule already covers; the cut at step 7 adds one
    assert [c["step"] for c in phase["dev_curve"]] == [2, 4, 6, 7]


def test_protocol_is_checked():
    with pytest.raises(ValueError, match="unknown protocol 'last'"):
        paper_training_arguments(tempfile.mkdtemp(), learning_rate=1e-3, n_train=4, protocol="last", use_cpu=True)
