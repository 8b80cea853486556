"""Train a tiny model with IA2Trainer (objective ia2) and write its train-loss curve; run under `accelerate launch`."""
import json
import sys
import tempfile

from ia2.activations import TeacherConfig, teacher_batch
from ia2.models import build_tiny_model
from ia2.tasks import Example
from ia2.trainers import AdapterSettings, IA2Trainer, IA2Collator, add_adapter, build_items, paper_training_arguments


def main(out_path: str, per_device_batch: int):
    base, tok = build_tiny_model("llama", seed=0)
    rows = [("good", 1), ("bad", 0), ("great fun", 1), ("dull", 0), ("lovely", 1), ("awful", 0), ("fine", 1), ("poor", 0)]
    train = [Example(f"Text:{t}\nLabel:", str(l), l, i) for i, (t, l) in enumerate(rows)]
    prompts = ["\n\n".join(e.prompt + e.answer for e in train if e is not q) + "\n\n" + q.prompt for q in train]
    items = build_items(tok, train, teacher_batch(base, tok, prompts, TeacherConfig(max_new_tokens=1)))
    model = add_adapter(base, AdapterSettings(), seed=0)
    args = paper_training_arguments(tempfile.mkdtemp(), objective="ia2", learning_rate=1e-2, n_train=8, seed=0,
                                    per_device_train_batch_size=per_device_batch, max_steps=12, eval_strategy="no",
                                    save_strategy="no", load_best_model_at_end=False, logging_steps=1, use_cpu=True)
    trainer = IA2Trainer(model=model, args=args, train_dataset=items, data_collator=IA2Collator(tok.pad_token_id))
    trainer.train()
    if trainer.is_world_process_zero():
        curve = [e["loss"] for e in trainer.state.log_history if "loss" in e]
        with open(out_path, "w") as f: json.dump({"loss": curve, "processes": trainer.args.world_size}, f)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
