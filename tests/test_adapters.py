"""Every PEFT adapter kind trains with the IA2 and SFT objectives on a tiny model."""
import tempfile

import pytest

from ia2.activations import TeacherConfig, teacher_batch
from ia2.models import build_tiny_model
from ia2.tasks import Example
from ia2.trainers import AdapterSettings, add_adapter, build_items, paper_training_arguments, train_method


@pytest.mark.parametrize("kind", ["lora", "ia3", "prompt", "prefix"])
def test_adapter_kind_trains_and_dev_loss_falls(kind):
    base, tok = build_tiny_model("llama", seed=0)
    rows = [("good", 1), ("bad", 0), ("great fun", 1), ("dull", 0), ("lovely", 1), ("awful", 0)]
    examples = [Example(f"Text:{t}\nLabel:", str(l), l, i) for i, (t, l) in enumerate(rows)]
    train, dev = examples[:4], examples[4:]
    prompt = lambda q: "\n\n".join(e.prompt + e.answer for e in train if e is not q) + "\n\n" + q.prompt
    config = TeacherConfig(max_new_tokens=1)
    items = {"icl": (build_items(tok, train, teacher_batch(base, tok, [prompt(q) for q in train], config)),
                     build_items(tok, dev, teacher_batch(base, tok, [prompt(q) for q in dev], config))),
             "ground_truth": (build_items(tok, train), build_items(tok, dev))}
    model = add_adapter(base, AdapterSettings(kind=kind, num_virtual_tokens=4), seed=0)
    lr = 0.1 if kind in ("ia3", "prompt", "prefix") else 1e-2
    args = paper_training_arguments(tempfile.mkdtemp(), learning_rate=lr, n_train=4, max_steps=8, use_cpu=True)
    summary = train_method(model, "ia2→sft", items, args, tok.pad_token_id)
    for phase in summary["phases"]:
        curve = [p["dev_loss"] for p in phase["dev_curve"]]
        assert min(curve) < curve[0], (kind, phase["objective"], curve)
