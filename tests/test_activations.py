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
