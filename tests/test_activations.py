"""The ICL teacher's one-pass capture equals the reference's per-token recompute, on several architectures."""
import pytest
import torch

from ia2.activations import TeacherConfig, teacher_batch, teacher_reference
from ia2.models import build_tiny_model

PROMPTS = ["Text:good\nLabel:1\n\nText:fine\nLabel:", "Text:a much longer first line here\nLabel:0\n\nText:bad\nLabel:"]


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2", "gemma", "opt"])
@pytest.mark.parametrize("max_new_tokens", [1, 5])
def test_one_pass_teacher_equals_per_token_recompute(arch, max_new_tokens):
    model, tokenizer = build_tiny_model(arch, seed=0)
    model = model.float()
    config = TeacherConfig(max_new_tokens=max_new_tokens, stop_strings=(), top_k=5, activation_dtype="float32")
    for prompt, fast in zip(PROMPTS, teacher_batch(model, tokenizer, PROMPTS, config)):
        slow = teacher_reference(model, tokenizer, prompt, config)
        assert torch.equal(fast.response_ids, slow.response_ids)
        assert torch.allclose(fast.activations, slow.activations, atol=1e-5)
        assert torch.allclose(fast.probs, slow.probs, atol=1e-5)


@torch.no_grad()
def _two_pass_teacher(model, tokenizer, prompts, config):
    """The teacher as it was before capture moved into generation: `model.generate`, then one teacher-forced forward
    over prompt + response with the hooks on (kept here as the reference the one-pass capture must equal)."""
    from ia2.activations import TeacherRecord, _distribution, left_pad, response_positions, trim_response
    from ia2.hooks import capture_attention_outputs
    prompt_ids = tokenizer(list(prompts))["input_ids"]
    enc = {k: v for k, v in left_pad(prompt_ids, tokenizer.pad_token_id).items() if k != "position_ids"}
    out = model.generate(**enc, max_new_tokens=config.max_new_tokens, do_sample=False,
                         stop_strings=list(config.stop_strings) or None, tokenizer=tokenizer,
                         pad_token_id=tokenizer.pad_token_id, top_p=None, top_k=None, temperature=None)
    responses = [trim_response(t, tokenizer, config.stop_strings) for t in out[:, enc["input_ids"].shape[1]:].tolist()]
    batch = left_pad([p + r for p, r in zip(prompt_ids, responses)], tokenizer.pad_token_id)
    width, lengths = batch["input_ids"].shape[1], [len(r) for r in responses]
    positions, _ = response_positions(lengths, width)
    with capture_attention_outputs(model, positions) as capture:
        logits = model(**batch, use_cache=False).logits
    step_logits = logits.gather(1, positions.unsqueeze(-1).expand(-1, -1, logits.shape[-1]))
    topk_ids, probs = _distribution(step_logits, config.top_k)
    acts = capture.stack()
    return [TeacherRecord(torch.tensor(r), acts[i, :, :g], None if topk_ids is None else topk_ids[i, :g], probs[i, :g])
            for i, (r, g) in enumerate(zip(responses, lengths))]


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
@pytest.mark.parametrize("with_stop", [False, True])
def test_capture_during_generation_equals_the_two_pass_capture(arch, with_stop):
    model, tokenizer = build_tiny_model(arch, seed=1)
    prompts = PROMPTS + ["Question:what is seven times six?\nAnswer:"]
    config = TeacherConfig(max_new_tokens=12, stop_strings=(), top_k=7, activation_dtype="float32")
    stop_strings = ()
    if with_stop:  # a string the first row produces at its 4th token: that row stops early, the others maybe not
        first = teacher_batch(model, tokenizer, prompts[:1], config)[0].response_ids.tolist()
        stop_strings = (tokenizer.decode(first[3:4]),)
        config = TeacherConfig(max_new_tokens=12, stop_strings=stop_strings, top_k=7, activation_dtype="float32")
    one_pass, two_pass = teacher_batch(model, tokenizer, prompts, config), _two_pass_teacher(model, tokenizer, prompts, config)
    for new, old in zip(one_pass, two_pass):
        assert torch.equal(new.response_ids, old.response_ids)
        assert new.activations.shape == old.activations.shape
        assert torch.allclose(new.activations, old.activations, atol=1e-5, rtol=0)
        assert torch.equal(new.topk_ids, old.topk_ids) and torch.allclose(new.probs, old.probs, atol=1e-5, rtol=0)
    if stop_strings:  # rows end at different lengths: the rows that finish first leave the batch
        assert len({len(r.response_ids) for r in one_pass}) > 1
