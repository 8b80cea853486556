"""`IA2Trainer` as a TRL user writes it: their own `LoraConfig`, a plain `ia2.IA2Config`, public names only, and the
habits TRL's trainers allow (no collator, `remove_unused_columns` left alone, `peft_config=`)."""
import pytest
import torch
from peft import LoraConfig, PeftModel

import ia2

WORDS = ["good", "bad", "great", "awful", "fine", "poor", "superb", "dull"]


@pytest.fixture
def setting(tmp_path):
    task = ia2.Task("trl_mood", template="Text:{text}\nLabel:", label_words=("0", "1"))
    rows = ia2.examples(task, [{"text": w, "label": i % 2} for i, w in enumerate(WORDS)])
    model, tokenizer = ia2.load_model("tiny:llama")
    return task, rows, model, tokenizer, tmp_path


def test_trl_user_trains_ia2_with_peft_config_and_a_plain_ia2_config(setting):
    task, rows, model, tokenizer, tmp = setting
    train_rows, dev_rows = rows[:4], rows[4:6]
    train_items = ia2.prepare_items(model, tokenizer, task, train_rows, store=tmp / "store", progress=False)
    dev_items = ia2.prepare_items(model, tokenizer, task, dev_rows, demonstrations_from=train_rows, store=tmp / "store",
                                  progress=False)
    args = ia2.IA2Config(output_dir=str(tmp / "out"), use_cpu=True, report_to="none", disable_tqdm=True)  # the paper's defaults
    trainer = ia2.IA2Trainer(model, args=args, train_dataset=train_items, eval_dataset=dev_items, processing_class=tokenizer,
                             peft_config=LoraConfig(r=8, lora_alpha=8, target_modules=["q_proj", "k_proj", "o_proj"]))
    assert isinstance(trainer.model, PeftModel) and trainer.objective == "ia2"
    start = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    dev_losses = [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e]
    assert len(dev_losses) >= 2 and trainer.dev_schedule.best_step is not None
    assert trainer.dev_schedule.stopped_early or trainer.state.global_step == trainer.state.max_steps
    assert any(not torch.equal(start[n], p) for n, p in trainer.model.named_parameters() if p.requires_grad)
    trainer.save_model(str(tmp / "adapter"))
    reloaded = ia2.load_adapter(ia2.load_model("tiny:llama")[0], tmp / "adapter")
    ours = ia2.evaluate(trainer.model.eval(), tokenizer, task, rows[6:], progress=False)
    theirs = ia2.evaluate(reloaded, tokenizer, task, rows[6:], progress=False)
    assert ours.predictions.prediction.tolist() == theirs.predictions.prediction.tolist()
    assert ours.predictions.confidence.sub(theirs.predictions.confidence).abs().max() < 1e-6


def test_sft_needs_no_teacher_and_habits_get_messages_that_name_the_fix(setting):
    task, rows, model, tokenizer, tmp = setting
    sft_items = ia2.prepare_items(model, tokenizer, task, rows[:4], teacher=False)
    assert all("teacher_acts" not in item for item in sft_items)
    args = ia2.IA2Config(output_dir=str(tmp / "out"), objective="sft", max_steps=2, use_cpu=True, report_to="none",
                         disable_tqdm=True)
    ia2.IA2Trainer(model, args=args, train_dataset=sft_items, processing_class=tokenizer,
                   peft_config=LoraConfig(target_modules=["q_proj"])).train()
    for objective, missing in (("ia2", "teacher_acts"), ("joint", "teacher_acts"), ("tokl", "teacher_probs")):
        with pytest.raises(ValueError, match=rf"lack \['{missing}'\].*ia2.prepare_items\(model, tokenizer, task, rows\)"):
            ia2.IA2Trainer(ia2.load_model("tiny:llama")[0], args=ia2.IA2Config(output_dir=str(tmp), objective=objective),
                           train_dataset=sft_items, processing_class=tokenizer)
    with pytest.raises(ValueError, match="processing_class=tokenizer"):
        ia2.IA2Trainer(model, args=ia2.IA2Config(output_dir=str(tmp), objective="sft"), train_dataset=sft_items)
    with pytest.raises(ValueError, match="holds Example items.*ia2.prepare_items"):
        ia2.IA2Trainer(model, args=ia2.IA2Config(output_dir=str(tmp), objective="sft"), train_dataset=rows,
                       processing_class=tokenizer)
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\]"):
        ia2.IA2Config(output_dir=str(tmp), beta=1.5)
