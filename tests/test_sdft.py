"""`sdft` through TRL (the ia2[trl] extra, part of ia2[dev]): TRL's SDFTTrainer trains an adapter whose teacher is the
base model reading the ICL prompt, with the paper's options; a missing or different TRL fails with the fix."""
import sys
import warnings

import pytest
import torch

import trl  # the ia2[trl] extra: installed by ia2[dev], so this file never skips

from ia2.data import build_icl_prompt, training_demonstrations
from ia2.models import build_tiny_model
from ia2.sdft import TEACHER_PROMPT_TEMPLATE, TRL_VERSION, _trl, sdft_config, sdft_rows, train_sdft
from ia2.tasks import Example

ROWS = [("good", 1), ("bad", 0), ("great fun", 1), ("dull", 0), ("lovely", 1), ("awful", 0)]


def _rows():
    examples = [Example(f"Text:{t}\nLabel:", str(l), l, i) for i, (t, l) in enumerate(ROWS)]
    return examples[:4], examples[4:]


def test_the_installed_trl_is_the_pinned_one():
    assert trl.__version__ == TRL_VERSION


def test_a_missing_trl_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "trl", None)  # import trl now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'ia2\[trl\]'"):
        _trl()


def test_teacher_reads_the_icl_prompt_and_the_adapter_trains(tmp_path):
    torch.set_num_threads(1)
    train, dev = _rows()
    demos = training_demonstrations(train, run=1)
    rows = sdft_rows(train, demos)
    assert [TEACHER_PROMPT_TEMPLATE.format(**r) for r in rows] == [build_icl_prompt(d, q) for d, q in zip(demos, train)]
    model, tokenizer = build_tiny_model("llama", seed=0)
    config = sdft_config(tmp_path, learning_rate=1e-2, n_train=4, seed=1, max_steps=3, use_cpu=True)
    assert (config.teacher_model_kind, config.distillation_mode, config.distillation_alpha, config.num_generations) == ("base", "full_logits", 0.0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_sdft(model, tokenizer, train, demos, config, dev, demos[:2])
    assert result.steps == 3 and result.best_step is not None
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    assert losses and all(loss >= 0 for loss in losses)
    moved = [p for n, p in result.model.named_parameters() if "lora_B" in n and p.abs().sum() > 0]
    assert moved, "SDFT left the LoRA B matrices at zero: nothing was trained"
