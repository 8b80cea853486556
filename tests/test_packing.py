"""Packed training and evaluation (ia2.packing) equal training and evaluating each cell alone, in float32 on tiny models."""
import json
import tempfile

import numpy as np
import pandas as pd
import pytest
import torch

from ia2.activations import TeacherConfig, teacher_batch
from ia2.evaluation import evaluate_method, generate_responses
from ia2.models import build_tiny_model
from ia2.packing import (PackCell, adapter_parameters, evaluate_packed, generate_packed, pack_size, route_rows,
                         train_pack)
from ia2.tasks import Example, Task
from ia2.trainers import IA2Trainer, AdapterSettings, add_adapter, build_items, paper_training_arguments, train_method

WORDS = [("good", 1), ("bad", 0), ("great fun", 1), ("dull", 0), ("fine", 1), ("poor", 0), ("nice", 1), ("grim", 0),
         ("lovely", 1), ("awful", 0), ("superb", 1), ("meh", 0), ("bright", 1), ("sour", 0)]
ROWS = [Example(f"Text:{t}\nLabel:", str(l), l, i) for i, (t, l) in enumerate(WORDS)]
TASK = Task("tiny_pack", "Text:{text}\nLabel:", label_words=("0", "1"))


def _items(base, tok, n: int) -> dict:
    "Ground-truth and ICL-teacher items for N training rows (rows[:n]) and 3 dev rows."
    train, dev = ROWS[:n], ROWS[-3:]
    prompt = lambda q: "\n\n".join(e.prompt + e.answer for e in train if e is not q) + "\n\n" + q.prompt
    config = TeacherConfig(max_new_tokens=1)
    return {"icl": (build_items(tok, train, teacher_batch(base, tok, [prompt(q) for q in train], config)),
                    build_items(tok, dev, teacher_batch(base, tok, [prompt(q) for q in dev], config))),
            "ground_truth": (build_items(tok, train), build_items(tok, dev))}


def _args(lr, n, seed, max_steps):
    return paper_training_arguments(tempfile.mkdtemp(), learning_rate=lr, n_train=n, seed=seed, max_steps=max_steps, use_cpu=True)


# (method, learning rate, N, seed) per cell: sft, ia2 and ia2-sft at different learning rates, N and seeds in one pack
CELLS = {"lora": [("sft", 3e-2, 4, 0), ("ia2", 1e-2, 6, 1), ("ia2-sft", 3e-3, 4, 2), ("sft", 1e-3, 8, 3)],
         "ia3": [("sft", 0.3, 4, 0), ("ia2", 0.1, 6, 1), ("ia2-sft", 0.2, 4, 2)]}


def _alone(kind, spec, items, monkeypatch):
    "Train one cell with train_method; its summary, its adapter weights and the loss of every optimizer step."
    method, lr, n, seed = spec
    base, tok = build_tiny_model("llama", seed=0)
    model = add_adapter(base, AdapterSettings(kind=kind), seed=seed)
    losses, step = [], IA2Trainer.training_step

    def recording(self, *args, **kwargs):
        loss = step(self, *args, **kwargs)
        losses.append(loss.item())
        return loss
    monkeypatch.setattr(IA2Trainer, "training_step", recording)
    summary = train_method(model, method, items, _args(lr, n, seed, 10), tok.pad_token_id, patience=2)
    monkeypatch.undo()
    weights = {k: p.detach().clone() for k, p in model.named_parameters() if "default" in k.split(".")}
    return summary, weights, losses


@pytest.mark.parametrize("kind", ["lora", "ia3"])
def test_packed_training_equals_each_cell_alone(kind, monkeypatch):
    base, tok = build_tiny_model("llama", seed=0)
    specs = CELLS[kind]
    items = {n: _items(base, tok, n) for n in {s[2] for s in specs}}
    cells = [PackCell(m, items[n], _args(lr, n, seed, 10), patience=2) for m, lr, n, seed in specs]
    model, names, packed = train_pack(base, cells, tok.pad_token_id, AdapterSettings(kind=kind), pack_id="p0", progress=False)
    assert names[0] == "default" and len(set(names)) == len(specs)
    stopped = 0
    for spec, cell, name, summary in zip(specs, cells, names, packed):
        alone, weights, losses = _alone(kind, spec, items[spec[2]], monkeypatch)
        assert summary["packing"] == {**summary["packing"], "packed": True, "k": len(specs), "pack_id": "p0"}
        on_disk = json.loads(open(f"{cell.args.output_dir}/training.json").read())
        assert on_disk["phases"] == json.loads(json.dumps(summary["phases"]))  # written at once, same content
        assert set(summary) == set(alone) | {"packing"} and summary["method"] == alone["method"]
        without_folder = lambda d: {k: v for k, v in d.items() if k != "output_dir"}
        assert without_folder(summary["training_arguments"]) == without_folder(alone["training_arguments"])
        assert np.allclose(np.concatenate(summary["packing"]["train_losses"]), losses, rtol=1e-5, atol=0), spec
        assert len(summary["phases"]) == len(alone["phases"])
        # the same initialisation, bit for bit; later fingerprints differ in the last float bits (a wider batch)
        assert summary["phases"][0]["start_weights"] == alone["phases"][0]["start_weights"]
        for p, a in zip(summary["phases"], alone["phases"]):
            for key in ("objective", "protocol", "steps", "best_step", "kept_step", "stopped_early"):
                assert p[key] == a[key], (spec, key, p[key], a[key])
            assert [c["step"] for c in p["dev_curve"]] == [c["step"] for c in a["dev_curve"]]
            assert np.allclose([c["dev_loss"] for c in p["dev_curve"]], [c["dev_loss"] for c in a["dev_curve"]], rtol=1e-5, atol=0)
            stopped += a["stopped_early"]
        kept = adapter_parameters(model, name)
        assert kept.keys() == weights.keys()
        # Adam moves each weight by about lr per step whatever the gradient's size, so float noise in a gradient near zero
        # (summation order: a wider batch, or oneDNN's kernel choice for a buffer's alignment) moves it by a fraction of lr
        for key in kept: torch.testing.assert_close(kept[key], weights[key], rtol=1e-4, atol=1e-3 * spec[1])
    assert stopped  # early stopping happened somewhere: the comparison covers it


def _trained_adapters(kind, seeds=(0, 1, 2)):
    "A pack model holding len(seeds) adapters moved off their initialisation (random steps), in float32."
    base, tok = build_tiny_model("llama", seed=0)
    from ia2.packing import add_packed_adapters
    model, names = add_packed_adapters(base, AdapterSettings(kind=kind), list(seeds))
    torch.manual_seed(0)
    with torch.no_grad():
        for name in names:
            for p in adapter_parameters(model, name).values(): p.add_(torch.randn_like(p) * (0.5 if kind == "lora" else 0.3))
    model.eval()
    return model, names, tok


@pytest.mark.parametrize("kind", ["lora", "ia3"])
def test_packed_scoring_equals_each_adapter_alone(kind):
    model, names, tok = _trained_adapters(kind)
    eval_sets = {"tiny_pack": (TASK, ROWS)}
    packed = evaluate_packed(model, names, tok, names, eval_sets, batch_size=4)
    for name, (rows, predictions) in zip(names, packed):
        with route_rows(model, [(name, None)]):
            alone_rows, alone_predictions = evaluate_method(model, tok, name, eval_sets, None, 4, False)
        for key in ("accuracy", "ece", "n"):
            assert rows[0][key] == pytest.approx(alone_rows[0][key], abs=1e-6), (name, key)
        assert set(rows[0]) == set(alone_rows[0])
        p, a = predictions[0], alone_predictions[0]
        for key in ("label", "prediction", "top1_label", "correct"): assert p[key] == a[key], (name, key)
        assert np.allclose(p["confidence"], a["confidence"], atol=1e-6)
    # adapters differ, so the routing matters: the first two adapters do not give the same confidences
    assert packed[0][1][0]["confidence"] != packed[1][1][0]["confidence"]


@pytest.mark.parametrize("kind", ["lora", "ia3"])
def test_packed_generation_equals_each_adapter_alone(kind):
    model, names, tok = _trained_adapters(kind)
    prompts = [r.prompt for r in ROWS[:5]]
    packed = generate_packed(model, names, tok, prompts, max_new_tokens=6, batch_size=2)
    for name, (responses, speed) in zip(names, packed):
        with route_rows(model, [(name, None)]):
            alone, _ = generate_responses(model, tok, prompts, 6, batch_size=2, progress=False)
        assert responses == alone and speed["tokens"] > 0, name


def test_routing_checks_rows_and_names():
    model, names, tok = _trained_adapters("lora", seeds=(0, 1))
    batch = tok(["Text:good\nLabel:"] * 3, return_tensors="pt")
    with pytest.raises(RuntimeError, match="routing covers 4 rows but the batch has 3"):
        with route_rows(model, [(names[0], 2), (names[1], 2)]): model(**batch)
    with pytest.raises(ValueError, match="no adapter named 'nope'"):
        with route_rows(model, [("nope", 3)]): pass
    model(**batch)  # the routing is gone after the block, also after an exception
    assert all("forward" not in vars(m) for m in model.modules())


# ---------------------------------------------------------------- run_pack equals run_cell, cell by cell

def _frames_equal(packed, alone):
    "Same rows and columns; metrics within 1e-6 (timings aside)."
    assert list(packed.columns) == list(alone.columns)
    assert packed[["method", "eval_task"]].values.tolist() == alone[["method", "eval_task"]].values.tolist()
    for column in packed.columns:
        if column in ("eval_seconds", "tokens_per_second"): continue
        if not pd.api.types.is_numeric_dtype(alone[column]):
            assert packed[column].tolist() == alone[column].tolist(), column
            continue
        assert np.allclose(packed[column].astype(float), alone[column].astype(float), atol=1e-6, equal_nan=True), column


def test_run_pack_equals_run_cell_on_each_cell(tmp_path):
    from helpers import write_grid
    from ia2.config import CellConfig
    from ia2.pipeline import run_cell
    from ia2.packing import run_pack
    from ia2.tasks import register_task
    write_grid(tmp_path)
    register_task(Task("tiny_pack_cells", "Text:{text}\nLabel:", label_words=("0", "1"), data_folder="reviews"), replace=True)
    common = dict(model="tiny:llama", task="tiny_pack_cells", eval_rows=6, ood=False, training={"num_train_epochs": 3, "patience": 2}, batch_size=4,
                  data_dir=str(tmp_path / "data"), store=str(tmp_path / "store"))
    configs = [CellConfig(n=4, run=0, learning_rate=1e-2, methods=["base", "ICL", "sft", "ia2-sft"], similarity_rows=2, **common),
               CellConfig(n=4, run=0, learning_rate=3e-2, methods=["base", "ICL", "sft", "ia2-sft"], similarity_rows=2, **common),
               CellConfig(n=6, run=1, learning_rate=1e-2, methods=["base", "ia2"], **common)]
    base, tok = build_tiny_model("llama", seed=0)
    packed = run_pack(base, tok, configs, [tmp_path / "packed" / str(i) for i in range(3)], progress=False, pack=4)
    for i, (config, (frame, details)) in enumerate(zip(configs, packed)):
        model, tok = build_tiny_model("llama", seed=0)
        alone_frame, alone = run_cell(model, tok, config, output_dir=tmp_path / "alone" / str(i), progress=False)
        _frames_equal(frame, alone_frame)
        assert set(details) == set(alone) and set(details["profile"]) == set(alone["profile"])
        assert details["provenance"] == alone["provenance"] and details["icl_gap"] == alone["icl_gap"]
        for method in config.trained:
            p, a = details["training"][method], alone["training"][method]
            assert p["packing"]["packed"] and p["packing"]["k"] == (4 if i < 2 else 1)  # 5 trained methods in packs of 4: 4 + 1
            assert [(x["steps"], x["best_step"], x["stopped_early"]) for x in p["phases"]] == \
                   [(x["steps"], x["best_step"], x["stopped_early"]) for x in a["phases"]]
            assert details["dev"][method] == pytest.approx(alone["dev"][method], abs=1e-6)
        for key in details["activation_similarity"]:
            assert np.allclose(details["activation_similarity"][key], alone["activation_similarity"][key], atol=1e-6)
        assert len(details["predictions"]) == len(alone["predictions"])
        for p, a in zip(details["predictions"], alone["predictions"]):
            assert set(p) == set(a) and p["method"] == a["method"] and p["eval_task"] == a["eval_task"]
            for key in set(p) - {"confidence"}: assert p[key] == a[key], key
            assert np.allclose(p["confidence"], a["confidence"], atol=1e-6)


def test_pack_size_arithmetic():
    from ia2.packing import cell_bytes, memory_budget
    # LoRA r=8 on q, k, o of a 24-layer d=896 model: 24 * 3 * 2 * 8 * 896 params; 4 rows x 80 tokens in bf16
    params = 24 * 3 * 2 * 8 * 896
    per_cell = cell_bytes(params, rows=4, seq_len=80, hidden=896, layers=24, activation_bytes=2)
    assert per_cell == 16 * params + 4 * 80 * 896 * 24 * 24 * 2
    assert pack_size(100, per_cell, budget=10 * per_cell + per_cell // 2) == 10  # floor
    assert pack_size(3, per_cell, budget=10 * per_cell) == 3  # never more than the cells
    assert pack_size(5, per_cell, budget=per_cell // 2) == 1  # at least one: a lone cell trains as before
    assert pack_size(5, per_cell, budget=0, override=16) == 5 and pack_size(50, per_cell, override=16) == 16
    assert 0 < memory_budget("cpu") and pack_size(2, 1) == 2
    with pytest.raises(ValueError, match="at least one cell"): pack_size(4, per_cell, override=0)
    with pytest.raises(ValueError, match="cells must be >= 1"): pack_size(0, per_cell)


def test_prompt_tuning_falls_back_to_one_cell_at_a_time_and_says_so(tmp_path):
    from helpers import write_grid
    from ia2.config import CellConfig
    from ia2.packing import run_pack
    from ia2.tasks import register_task
    write_grid(tmp_path)
    register_task(Task("tiny_pack_cells", "Text:{text}\nLabel:", label_words=("0", "1"), data_folder="reviews"), replace=True)
    config = CellConfig(model="tiny:llama", task="tiny_pack_cells", n=4, methods=["sft"], eval_rows=4, ood=False, training={"num_train_epochs": 1},
                        adapter=AdapterSettings(kind="prompt", num_virtual_tokens=4), data_dir=str(tmp_path / "data"),
                        store=str(tmp_path / "store"))
    base, tok = build_tiny_model("llama", seed=0)
    [(frame, details)] = run_pack(base, tok, [config], [tmp_path / "cell"], progress=False)
    packing = details["training"]["sft"]["packing"]
    assert packing["packed"] is False and "prompt tuning prepends virtual tokens" in packing["reason"]
    assert json.loads((tmp_path / "cell" / "sft" / "training.json").read_text())["packing"] == packing
    assert frame.method.tolist() == ["sft"]
    with pytest.raises(ValueError, match="a pack shares one model and adapter"):
        run_pack(base, tok, [config, config.replace(adapter=AdapterSettings())], [tmp_path / "a", tmp_path / "b"], progress=False)
