"""Properties of `ia2.losses` on small random tensors: batching, padding, dtypes and agreement with the reference formulas."""
import math

import pytest
import torch
import torch.nn.functional as F

from ia2.losses import ia2_loss, joint_loss, sft_loss, soft_label_loss


def _padded_batch(lengths, n_layers=3, d_model=8, seed=0):
    "Random student/teacher activations for examples of the given response lengths, right-padded with garbage."
    gen = torch.Generator().manual_seed(seed)
    pos = max(lengths)
    student = torch.randn(len(lengths), n_layers, pos, d_model, generator=gen)  # [batch, layer, pos, d_model]
    teacher = torch.randn(len(lengths), n_layers, pos, d_model, generator=gen)
    mask = torch.zeros(len(lengths), pos, dtype=torch.bool)  # [batch, pos]
    for b, n in enumerate(lengths):
        mask[b, :n] = True
        teacher[b, :, n:] = float("nan")
    return student, teacher, mask


def test_ia2_batch_is_mean_of_single_examples():
    student, teacher, mask = _padded_batch([1, 4, 2, 3])
    singles = [ia2_loss(student[b:b + 1, :, :n], teacher[b:b + 1, :, :n], mask[b:b + 1, :n])
               for b, n in enumerate([1, 4, 2, 3])]
    assert torch.allclose(ia2_loss(student, teacher, mask), torch.stack(singles).mean(), atol=1e-6)


def test_ia2_single_example_matches_reference_mse_times_layers():
    student, teacher, mask = _padded_batch([5], n_layers=4)
    assert torch.allclose(ia2_loss(student, teacher, mask), F.mse_loss(student, teacher) * 4, atol=1e-6)


def test_ia2_padding_never_counts_and_gets_no_gradient():
    student, teacher, mask = _padded_batch([2, 3])
    student.requires_grad_(True)
    loss = ia2_loss(student, teacher, mask)
    loss.backward()
    assert torch.isfinite(loss)
    assert (student.grad[0, :, 2:] == 0).all() and torch.isfinite(student.grad).all()
    changed = teacher.clone()
    changed[0, :, 2:] = 1e6
    assert torch.equal(ia2_loss(student, changed, mask), loss)


def test_ia2_bf16_teacher_is_computed_in_float32():
    student, teacher, mask = _padded_batch([3, 2])
    teacher_bf16 = teacher.bfloat16()
    loss = ia2_loss(student, teacher_bf16, mask)
    assert loss.dtype == torch.float32
    assert torch.allclose(loss, ia2_loss(student, teacher_bf16.float(), mask))
    assert ia2_loss(student.bfloat16(), teacher_bf16, mask).dtype == torch.float32


def test_ia2_accepts_integer_mask_and_rejects_bad_inputs():
    student, teacher, mask = _padded_batch([3, 2])
    assert torch.equal(ia2_loss(student, teacher, mask.long()), ia2_loss(student, teacher, mask))
    with pytest.raises(ValueError, match="no response position"):
        ia2_loss(student, teacher, torch.zeros_like(mask))
    with pytest.raises(ValueError, match="share one shape"):
        ia2_loss(student, teacher[:, :2], mask)


def test_sft_loss_is_mean_of_per_example_token_means():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 5, 11, generator=gen)  # [batch, pos, vocab]
    labels = torch.randint(0, 11, (3, 5), generator=gen)
    labels[0, 2:] = -100
    labels[2, :4] = -100
    per_example = [F.cross_entropy(logits[b], labels[b], ignore_index=-100) for b in range(3)]
    assert torch.allclose(sft_loss(logits, labels), torch.stack(per_example).mean(), atol=1e-6)
    garbage = logits.clone()
    garbage[0, 2:] = float("nan")
    assert torch.allclose(sft_loss(garbage, labels), sft_loss(logits, labels))


def test_sft_loss_matches_transformers_loss_for_one_example():
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2))
    input_ids = torch.randint(0, 32, (1, 9))
    labels = torch.full_like(input_ids, -100)
    labels[0, 5:] = input_ids[0, 5:]
    out = model(input_ids=input_ids, labels=labels)
    assert torch.allclose(sft_loss(out.logits[:, :-1], labels[:, 1:]), out.loss, atol=1e-6)


def test_sft_loss_hand_example_and_errors():
    logits = torch.zeros(2, 3, 4)
    logits[0, 0, 0] = math.log(3)
    labels = torch.tensor([[0, -100, -100], [1, 2, 3]])
    assert math.isclose(sft_loss(logits, labels).item(), 1.5 * math.log(2), rel_tol=1e-6)
    with pytest.raises(ValueError, match="no target token"):
        sft_loss(logits, torch.tensor([[0, 1, 2], [-100, -100, -100]]))


def test_soft_label_full_vocab_matches_reference_kl_div():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 4, 7, generator=gen)  # [batch, pos, vocab]
    teacher = torch.softmax(torch.randn(2, 4, 7, generator=gen), dim=-1)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    # the reference: per position F.kl_div(log_softmax(student), teacher, reduction='sum'), mean over positions
    per_example = []
    for b, n in enumerate([3, 4]):
        steps = [F.kl_div(F.log_softmax(logits[b, t], -1), teacher[b, t], reduction="sum") for t in range(n)]
        per_example.append(torch.stack(steps).mean())
    assert torch.allclose(soft_label_loss(logits, teacher, mask), torch.stack(per_example).mean(), atol=1e-6)


def test_soft_label_top_k_renormalises_teacher_only():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(1, 2, 9, generator=gen)
    teacher = torch.softmax(torch.randn(1, 2, 9, generator=gen), dim=-1)
    values, indices = teacher.topk(3, dim=-1)
    q = values / values.sum(-1, keepdim=True)
    logp = F.log_softmax(logits, -1).gather(-1, indices)
    expected = (q * (q.log() - logp)).sum(-1).mean()
    loss = soft_label_loss(logits, (values, indices), torch.ones(1, 2))
    assert torch.allclose(loss, expected, atol=1e-6)
    assert loss > 0
    # full k equals the full-vocabulary loss
    all_values, all_indices = teacher.topk(9, dim=-1)
    assert torch.allclose(soft_label_loss(logits, (all_values, all_indices), torch.ones(1, 2)),
                          soft_label_loss(logits, teacher, torch.ones(1, 2)), atol=1e-6)


def _authors_tokl_top_k(logits, top_probs, top_indices, n_steps):
    "scripts/train_unified.py lines 570-589 of aamixsh/ia2 (one example): top-k kept, the rest uniform, full-vocab KL."
    log_probs = F.log_softmax(logits, dim=-1)  # [seq_len, vocab]
    vocab_size, step_losses = log_probs.shape[-1], []
    for t in range(n_steps):
        k = top_indices[t].shape[0]
        remaining = torch.clamp(1.0 - top_probs[t].sum(), min=0.0)
        target = torch.full((vocab_size,), (remaining / max(vocab_size - k, 1)).item(), dtype=log_probs.dtype)
        target.scatter_(0, top_indices[t], top_probs[t])
        step_losses.append(F.kl_div(log_probs[t], target, reduction="sum"))
    return torch.stack(step_losses).mean()


@pytest.mark.parametrize("stored_k", [None, 5])
def test_soft_label_authors_top_k_matches_their_loop(stored_k):
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(2, 3, 11, generator=gen)  # [batch, pos, vocab]
    teacher = torch.softmax(2 * torch.randn(2, 3, 11, generator=gen), dim=-1)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    values, indices = teacher.topk(3, dim=-1)  # what their teacher stores with --tokl_top_k 3
    expected = torch.stack([_authors_tokl_top_k(logits[b], values[b], indices[b], n) for b, n in enumerate([2, 3])]).mean()
    given = teacher if stored_k is None else tuple(teacher.topk(stored_k, dim=-1))
    loss = soft_label_loss(logits, given, mask, top_k=3)
    assert torch.allclose(loss, expected, atol=1e-6)
    # the authors' form is not ours: the default renormalises the top 3 and ignores the other 8 tokens
    assert not torch.allclose(soft_label_loss(logits, (values, indices), mask), expected, atol=1e-3)


def test_soft_label_zero_when_student_matches_and_padding_is_ignored():
    logits = torch.randn(2, 3, 6, requires_grad=True)
    teacher = torch.softmax(logits.detach(), dim=-1)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    loss = soft_label_loss(logits, teacher, mask)
    assert abs(loss.item()) < 1e-6
    garbage = teacher.clone()
    garbage[0, 2] = float("nan")
    garbage[1, 1:] = 0.0
    loss = soft_label_loss(logits, garbage, mask)
    loss.backward()
    assert abs(loss.item()) < 1e-6
    assert torch.isfinite(logits.grad).all() and (logits.grad[1, 1:] == 0).all()


def test_soft_label_rejects_bad_teacher():
    logits = torch.randn(1, 2, 5)
    with pytest.raises(ValueError, match="sums to zero"):
        soft_label_loss(logits, torch.zeros(1, 2, 5), torch.ones(1, 2))
    with pytest.raises(TypeError):
        soft_label_loss(logits, {"values": torch.zeros(1, 2, 3)}, torch.ones(1, 2))


@pytest.mark.parametrize("beta", [-0.1, 1.01, float("nan")])
def test_joint_loss_rejects_beta_outside_unit_interval(beta):
    with pytest.raises(ValueError, match="beta"):
        joint_loss(torch.tensor(1.0), torch.tensor(2.0), beta)


def test_joint_loss_gradient_weights():
    ia2, ce = torch.tensor(4.0, requires_grad=True), torch.tensor(8.0, requires_grad=True)
    loss = joint_loss(ia2, ce, 0.25)
    loss.backward()
    assert loss.item() == 5.0 and ia2.grad.item() == 0.75 and ce.grad.item() == 0.25
