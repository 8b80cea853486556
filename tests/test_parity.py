"""The parity defects of a model that already carries an adapter (issue 25, item 5), one test each: the teacher is the
base model whatever adapter the model carries (wrapped or injected), `ia2.train` never changes the caller's
weights, and prompt tuning predicts the same at any batch size."""
import numpy as np
import pytest
import torch
from peft import LoraConfig, PrefixTuningConfig, PromptTuningConfig, get_peft_model, inject_adapter_in_model

from ia2.evaluation import answer_nll, generate_responses
from ia2.models import base_weights_fingerprint, build_tiny_model, weights_fingerprint
from ia2.pipeline import evaluate, teacher_records, train
from ia2.tasks import Example, Task

TASK = Task(name="tiny_parity", template="Text:{text}\nLabel:", label_words=("0", "1"))
WORDS = ["good", "bad", "great fun", "dull", "lovely", "awful", "a joy", "never again", "fine", "poor"]


def rows(count: int) -> list[Example]:
    "Rows of varied length (so that batches pad), labels alternating."
    return [Example(f"Text:{WORDS[i % 10]}{' and so on' * (i % 4)}\nLabel:", str(i % 2), i % 2, i) for i in range(count)]


def teacher_activations(model, tokenizer, store) -> list[torch.Tensor]:
    "The teacher's activations on four training rows, each with the other three as demonstrations."
    train_rows = rows(4)
    demos = [[r for r in train_rows if r is not q] for q in train_rows]
    return [r.activations for r in teacher_records(model, tokenizer, TASK, train_rows, demos, store, progress=False)]


def injected_lora():
    "A tiny llama with a LoRA injected by peft (no PeftModel wrapper) whose B is not zero, as a trained one's."
    model, tokenizer = build_tiny_model("llama", seed=0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "o_proj"], init_lora_weights=False)
    return inject_adapter_in_model(config, model), tokenizer


@pytest.mark.parametrize("config", [PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4),
                                    PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4)],
                         ids=["prompt", "prefix"])
def test_train_on_a_prompt_learning_model_uses_the_base_model_as_teacher(config, tmp_path):
    bare, tokenizer = build_tiny_model("llama", seed=0)
    model = get_peft_model(build_tiny_model("llama", seed=0)[0], config)
    # the teacher ignores the virtual tokens: the bare model's activations, computed afresh (separate stores)
    for mine, theirs in zip(teacher_activations(model, tokenizer, tmp_path / "a"), teacher_activations(bare, tokenizer, tmp_path / "b")):
        assert torch.equal(mine, theirs)
    # and every method that needs the teacher trains (it raised ValueError: "capture=True is for the teacher ...")
    base = base_weights_fingerprint(model)
    result = train(model, tokenizer, TASK, rows(4), rows(6)[4:], method="ia2", output_dir=tmp_path / "run",
                   store=tmp_path / "store", progress=False, args={"num_train_epochs": 1})
    assert result.model is model and base_weights_fingerprint(model) == base == weights_fingerprint(bare)


def test_teacher_of_an_injected_lora_is_the_base_model(tmp_path):
    model, tokenizer = injected_lora()
    bare = build_tiny_model("llama", seed=0)[0]
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    mine, theirs = teacher_activations(model, tokenizer, tmp_path / "a"), teacher_activations(bare, tokenizer, tmp_path / "b")
    gap = max((m.float() - t.float()).abs().max().item() for m, t in zip(mine, theirs))
    assert gap == 0, f"the teacher's activations are off by {gap}: the injected LoRA was on"
    assert base_weights_fingerprint(model) == weights_fingerprint(bare)  # stored under the bare model's key
    # the adapter is back on after the teacher, with its trainable flags as they were
    ids = torch.tensor([[1, 5, 9, 3]])
    with torch.no_grad(): assert not torch.allclose(model(input_ids=ids).logits, bare(input_ids=ids).logits, atol=1e-3)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags


def test_train_on_an_injected_lora_trains_that_adapter_from_the_callers_weights(tmp_path):
    model, tokenizer = injected_lora()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    adapter = [n for n in before if "lora_" in n]
    largest_b = max(before[n].abs().max().item() for n in adapter if "lora_B" in n)
    result = train(model, tokenizer, TASK, rows(4), rows(6)[4:], method="ia2", output_dir=tmp_path / "run",
                   store=tmp_path / "store", progress=False, args={"num_train_epochs": 1}, learning_rate=1e-4)
    after = {n.removeprefix("base_model.model."): p for n, p in result.model.named_parameters()}
    assert after.keys() == before.keys()  # the injected adapter was trained, no second one added
    assert all(torch.equal(after[n], before[n]) for n in before if n not in adapter), "a base weight changed"
    trained_b = max(after[n].abs().max().item() for n in adapter if "lora_B" in n)
    assert abs(trained_b - largest_b) < 1e-2, f"the adapter was reset: largest B weight {largest_b:.3g} -> {trained_b:.3g}"
    assert any(not torch.equal(after[n], before[n]) for n in adapter)  # and it did train


def sharpened_prompt_tuning():
    "A prompt-tuning tiny llama with sharper attention than the random initialisation's, so that positions matter."
    model, tokenizer = build_tiny_model("llama", seed=0)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.mul_(5); layer.self_attn.k_proj.weight.mul_(5)
    torch.manual_seed(0)
    return get_peft_model(model, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4)).eval(), tokenizer


def test_prompt_tuning_predicts_the_same_at_any_batch_size():
    model, tokenizer = sharpened_prompt_tuning()
    evaluations = {b: evaluate(model, tokenizer, TASK, rows(32), batch_size=b, progress=False) for b in (1, 7, 32)}
    one = evaluations[1]
    for b, other in evaluations.items():
        gap = np.abs(other.predictions.confidence.to_numpy() - one.predictions.confidence.to_numpy()).max()
        assert gap <= 1e-5, f"batch size {b} moves a confidence by {gap:.2g} from batch size 1"
        assert (other.predictions.prediction == one.predictions.prediction).all()
        assert abs(other.metrics["ece"] - one.metrics["ece"]) <= 1e-5 and other.metrics["accuracy"] == one.metrics["accuracy"]


def test_prompt_tuning_generates_the_same_at_any_batch_size():
    model, tokenizer = sharpened_prompt_tuning()
    prompts = [f"Question:{' a long question about numbers' * (i % 4)} {i}?\nAnswer:" for i in range(8)]
    alone, together = (generate_responses(model, tokenizer, prompts, 6, (), batch_size=b, progress=False)[0] for b in (1, 8))
    assert alone == together


def test_prompt_tuning_answer_nll_is_the_same_at_any_batch_size():
    "The dev NLL of a multi-token task reads each answer after the virtual tokens, at any batch size."
    model, tokenizer = sharpened_prompt_tuning()
    sums = [Example(f"Question:{a} plus {b}{' and nothing else' * (a % 3)}?\nAnswer:", f"{a + b}\n#### {a + b}", None, a)
            for a, b in zip(range(8), range(3, 11))]
    nll = {b: answer_nll(model, tokenizer, sums, batch_size=b) for b in (1, 3, 8)}
    assert max(nll.values()) - min(nll.values()) <= 1e-5, nll
