"""IA2Trainer is a transformers.Trainer: a user's own plain TrainingArguments work, with the objective given to the trainer."""
import pytest
import torch
from transformers import TrainingArguments

from ia2 import IA2Trainer
from ia2.activations import TeacherConfig, teacher_batch
from ia2.models import build_tiny_model
from ia2.tasks import Example
from ia2.trainers import AdapterSettings, IA2Collator, add_adapter, build_items


def test_ia2_trainer_with_plain_training_arguments(tmp_path):
    base, tok = build_tiny_model("llama", seed=0)
    rows = [Example(f"Text:{t}\nLabel:", str(l), l, i) for i, (t, l) in enumerate([("good", 1), ("bad", 0), ("fine", 1), ("dull", 0)])]
    prompts = ["\n\n".join(e.prompt + e.answer for e in rows if e is not q) + "\n\n" + q.prompt for q in rows]
    items = build_items(tok, rows, teacher_batch(base, tok, prompts, TeacherConfig(max_new_tokens=1)))
    model = add_adapter(base, AdapterSettings(), seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=2, learning_rate=1e-2,
                             report_to=[], remove_unused_columns=False, use_cpu=True, disable_tqdm=True)
    trainer = IA2Trainer(model=model, args=args, train_dataset=items, data_collator=IA2Collator(tok.pad_token_id),
                         objective="ia2")
    result = trainer.train()
    assert trainer.objective == "ia2" and result.training_loss > 0
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="unknown objective"):
        IA2Trainer(model=model, args=args, train_dataset=items, data_collator=IA2Collator(tok.pad_token_id), objective="kl")
