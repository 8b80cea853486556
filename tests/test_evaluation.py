"""Evaluation: answer checkers on real rows, last-position-only logits, batched == unbatched."""
import os

import numpy as np
import pytest
import torch

from ia2.evaluation import check_answer, evaluate_single_token, parse_gsm8k, score_next_token
from ia2.models import build_tiny_model
from ia2.tasks import Example, get_task

needs_data = pytest.mark.skipif(not os.environ.get("IA2_DATA_DIR"), reason="set IA2_DATA_DIR to the benchmark data folder")


@needs_data
@pytest.mark.parametrize("task_name", ["gsm8k", "hmath_algebra", "sciq"])
def test_gold_answers_score_full_marks_on_real_rows(task_name):
    from ia2.data import load_task
    task = get_task(task_name)
    data = load_task(task, pool_from_eval_split=task_name == "sciq")
    rows = data.eval[:40]
    checks = [check_answer(task, row.answer, row.answer) for row in rows]
    assert len(rows) >= 20 and all(c["correct"] and c["parsed"] is not None and not c["fallback"] for c in checks)
    wrong = [check_answer(task, rows[i + 1].answer, rows[i].answer)["correct"] for i in range(len(rows) - 1)]
    assert sum(wrong) < len(wrong) / 4  # another row's answer is (almost always) wrong


@needs_data
def test_gsm8k_numbers_match_the_dataset_marker():
    from ia2.data import load_task
    for row in load_task("gsm8k").eval[:40]:
        value, fallback = parse_gsm8k(row.answer)
        assert not fallback and value == float(row.answer.split("####")[-1].strip().replace(",", ""))
        without_marker = row.answer.split("####")[0] + f"The answer is {row.answer.split('####')[-1].strip()}."
        assert parse_gsm8k(without_marker) == (value, True)


def test_only_last_position_logits_are_materialised():
    model, tokenizer = build_tiny_model("llama", seed=0)
    shapes = []
    handle = model.lm_head.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    long_prompt = "Text:" + " word" * 1500 + "\nLabel:"
    ids = [tokenizer("0", add_special_tokens=False)["input_ids"][0], tokenizer("1", add_special_tokens=False)["input_ids"][0]]
    try: score_next_token(model, tokenizer, [long_prompt, "Text:short\nLabel:"], ids, batch_size=2, progress=False)
    finally: handle.remove()
    assert shapes == [(2, 1, len(tokenizer))]  # O(batch x vocab), not O(batch x sequence x vocab)


def test_batched_and_unbatched_single_token_metrics_are_identical():
    model, tokenizer = build_tiny_model("qwen2", seed=1)
    model = model.float()
    rows = [("good", 1), ("a long and winding review of a film", 0), ("fine", 1), ("awful stuff", 0), ("ok", 1)]
    queries = [Example(f"Text:{t}\nLabel:", str(l), l, i) for i, (t, l) in enumerate(rows)]
    batched = evaluate_single_token(model, tokenizer, get_task("sst2"), queries, batch_size=5, progress=False)
    single = evaluate_single_token(model, tokenizer, get_task("sst2"), queries, batch_size=1, progress=False)
    assert batched.keys() == single.keys()
    for key in batched: assert np.isclose(batched[key], single[key], atol=1e-6), key


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_adapter_scores_equal_the_unmerged_peft_forward(dtype):
    """score_next_token asks for the last position by index (the fast path for a frozen LM head in bf16 on CPU);
    its scores of a LoRA-wrapped model equal those of the plain PEFT forward with `logits_to_keep=1`: bit for bit in
    bf16, and within float32 rounding in float32 (one matrix product vs a batched one sum in different orders)."""
    from ia2.activations import left_pad
    from ia2.trainers import AdapterSettings, add_adapter
    base, tokenizer = build_tiny_model("qwen2", seed=2)
    model = add_adapter(base.to(dtype), AdapterSettings(), seed=0).eval()
    with torch.no_grad():  # a trained-looking adapter: LoRA's B starts at zero
        for name, p in model.named_parameters():
            if "lora_B" in name: p.copy_(torch.randn_like(p) * 0.5)
    assert not model.get_output_embeddings().weight.requires_grad  # the frozen head that made `1` slow
    prompts = ["Text:good\nLabel:", "Text:a much longer review of a film\nLabel:", "Text:bad\nLabel:"]
    ids = [tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in ("0", "1")]
    scores = score_next_token(model, tokenizer, prompts, ids, batch_size=3, progress=False)
    order = sorted(range(3), key=lambda i: len(prompts[i]))
    batch = left_pad([tokenizer(prompts[i])["input_ids"] for i in order], tokenizer.pad_token_id)
    with torch.no_grad(): probs = model(**batch, logits_to_keep=1, use_cache=False).logits[:, -1].float().softmax(-1)
    values, indices = probs.topk(10, dim=-1)
    tolerance = 0.0 if dtype == torch.bfloat16 else 1e-6
    assert np.array_equal(scores.topk_ids[order], indices.numpy())
    assert np.abs(scores.topk_probs[order] - values.double().numpy()).max() <= tolerance
    assert np.abs(scores.label_probs[order] - probs[:, ids].double().numpy()).max() <= tolerance


def _generate_today(model, tokenizer, prompts, max_new_tokens, stop_strings, batch_size):
    "Greedy responses as `generate_responses` made them before: `model.generate` per batch, then `trim_response`."
    from ia2.activations import left_pad, trim_response
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    responses = [None] * len(prompts)
    for first in range(0, len(prompts), batch_size):
        rows = order[first:first + batch_size]
        batch = {k: v for k, v in left_pad([tokenizer(prompts[i])["input_ids"] for i in rows], tokenizer.pad_token_id).items()
                 if k != "position_ids"}
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, stop_strings=list(stop_strings) or None,
                             tokenizer=tokenizer, pad_token_id=tokenizer.pad_token_id, top_p=None, top_k=None, temperature=None)
        for row, tokens in zip(rows, out[:, batch["input_ids"].shape[1]:].tolist()):
            responses[row] = tokenizer.decode(trim_response(tokens, tokenizer, stop_strings), skip_special_tokens=True)
    return responses


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
def test_generation_is_token_identical_to_model_generate(arch):
    from ia2.evaluation import generate_responses
    model, tokenizer = build_tiny_model(arch, seed=3)
    prompts = [f"Question:{q}\nAnswer:" for q in ("1+1?", "what is two plus two, in words?", "3*3?", "a longer question "
               "about a train that leaves at noon?", "5?")]
    probe = _generate_today(model, tokenizer, prompts[:1], 6, (), 1)[0]
    stop = probe[len(probe) // 2:len(probe) // 2 + 1] or probe  # a string the model does produce: rows stop at different steps
    for stop_strings in ((), (stop,)):
        for batch_size in (2, 5):
            ours, speed = generate_responses(model, tokenizer, prompts, 10, stop_strings, batch_size, progress=False)
            assert ours == _generate_today(model, tokenizer, prompts, 10, stop_strings, batch_size), (stop_strings, batch_size)
        if stop_strings: assert len({len(tokenizer(r)["input_ids"]) for r in ours}) > 1  # some rows left their batch early
