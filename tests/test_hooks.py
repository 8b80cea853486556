"""ia2.hooks on tiny random models of every architecture: what is captured, where, and that no hook is left behind."""
import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from ia2.hooks import capture_attention_outputs, find_attention_blocks
from ia2.models import TINY_ARCHITECTURES, build_tiny_model

# Written out by hand per architecture, independently of ia2.hooks' structural search:
# (the decoder layers, the attention module in a layer, its output projection, the module whose output is the MLP's)
LAYOUT = {
    'gpt2': ('transformer.h', 'attn', 'c_proj', 'mlp'),
    'gpt_neox': ('gpt_neox.layers', 'attention', 'dense', 'mlp'),
    'opt': ('model.decoder.layers', 'self_attn', 'out_proj', 'fc2'),
    'falcon': ('transformer.h', 'self_attention', 'dense', 'mlp'),
    'gemma3_text': ('model.layers', 'self_attn', 'o_proj', None),  # post-attention norm sits before the residual add
}
LLAMA_LIKE = ('model.layers', 'self_attn', 'o_proj', 'mlp')
TEXTS = ['The capital of France is Paris', 'Two plus two equals']


def layout(arch):
    return LAYOUT.get(arch, LLAMA_LIKE)


def no_hooks_left(model):
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def padded(tokenizer, side):
    tokenizer.padding_side = side
    try: batch = tokenizer(TEXTS, return_tensors='pt', padding=True)
    finally: tokenizer.padding_side = 'right'
    batch['position_ids'] = (batch['attention_mask'].cumsum(-1) - 1).clamp(min=0)
    return batch


def real_positions(batch, side):
    "Every real (non-pad) position of each row, as [batch, shortest length], counted from the row's first real token."
    lengths = batch['attention_mask'].sum(1, keepdim=True)  # [batch, 1]
    start = torch.zeros_like(lengths) if side == 'right' else batch['attention_mask'].shape[1] - lengths
    return start + torch.arange(int(lengths.min()))[None]


@pytest.fixture(scope='module', params=TINY_ARCHITECTURES)
def tiny(request):
    model, tokenizer = build_tiny_model(request.param)
    return request.param, model, tokenizer


def test_blocks_are_the_attention_modules(tiny):
    arch, model, _ = tiny
    layers, attention, _, _ = layout(arch)
    expected = [model.get_submodule(f'{layers}.{i}.{attention}') for i in range(model.config.num_hidden_layers)]
    assert find_attention_blocks(model) == expected


def test_capture_is_the_output_projection_before_the_residual_add(tiny):
    arch, model, tokenizer = tiny
    layers, attention, projection, mlp = layout(arch)
    batch = padded(tokenizer, 'right')
    positions = real_positions(batch, 'right')
    seen = {}

    def keep(name):  # clone: some layers add into these tensors in place after the hook ran (Falcon)
        def hook(module, args, kwargs, output):
            out = output[0] if isinstance(output, tuple) else output
            seen[name] = (args[0] if args else kwargs['hidden_states']).clone(), out.clone()
        return hook

    handles = []
    try:
        for i in range(model.config.num_hidden_layers):
            layer = model.get_submodule(f'{layers}.{i}')
            handles.append(layer.register_forward_hook(keep(f'layer{i}'), with_kwargs=True))
            handles.append(layer.get_submodule(f'{attention}.{projection}').register_forward_hook(keep(f'proj{i}'), with_kwargs=True))
            if mlp: handles.append(layer.get_submodule(mlp).register_forward_hook(keep(f'mlp{i}'), with_kwargs=True))
        with torch.no_grad(), capture_attention_outputs(model, positions) as capture:
            model(**batch)
    finally:
        for handle in handles: handle.remove()
    acts = capture.stack()  # [batch, layer, pos, d_model]
    rows = torch.arange(len(TEXTS))[:, None]
    for i in range(model.config.num_hidden_layers):
        assert torch.equal(acts[:, i], seen[f'proj{i}'][1][rows, positions]), (arch, i)
        if mlp:  # layer output = layer input + attention output + MLP output (sequential or parallel residual)
            layer_in, layer_out = seen[f'layer{i}']
            mlp_out = seen[f'mlp{i}'][1].reshape(layer_in.shape)  # OPT runs its MLP on [batch*seq, d_model]
            residual_sum = layer_in + seen[f'proj{i}'][1] + mlp_out
            torch.testing.assert_close(layer_out[rows, positions], residual_sum[rows, positions], atol=1e-5, rtol=1e-5)
    assert no_hooks_left(model)


def test_left_and_right_padding_capture_the_same_values(tiny):
    arch, model, tokenizer = tiny
    captured = {}
    for side in ('right', 'left'):
        batch = padded(tokenizer, side)
        with torch.no_grad(), capture_attention_outputs(model, real_positions(batch, side)) as capture:
            model(**batch)
        captured[side] = capture.stack()
    shape = captured['right'].shape  # [batch, layer, pos, d_model]
    assert (shape[0], shape[1], shape[3]) == (2, model.config.num_hidden_layers, model.config.hidden_size)
    torch.testing.assert_close(captured['left'], captured['right'], atol=1e-5, rtol=0)


def test_hooks_are_removed_after_exit_and_after_an_exception(tiny):
    arch, model, tokenizer = tiny
    batch = padded(tokenizer, 'right')
    with torch.no_grad(), capture_attention_outputs(model, real_positions(batch, 'right')):
        model(**batch)
    assert no_hooks_left(model)
    with pytest.raises(IndexError, match='past the end'):  # raised inside the hooks, during the forward pass
        with torch.no_grad(), capture_attention_outputs(model, torch.full((2, 1), 500)):
            model(**batch)
    assert no_hooks_left(model)
    with pytest.raises(KeyError):
        with capture_attention_outputs(model, real_positions(batch, 'right')):
            raise KeyError('user code failed')
    assert no_hooks_left(model)


def test_teacher_is_detached_and_student_keeps_the_graph():
    model, tokenizer = build_tiny_model('qwen3')
    batch = padded(tokenizer, 'right')
    positions = real_positions(batch, 'right')
    with capture_attention_outputs(model, positions) as teacher:
        model(**batch)
    teacher_acts = teacher.stack()  # [batch, layer, pos, d_model]
    assert not teacher_acts.requires_grad
    with capture_attention_outputs(model, positions, keep_graph=True) as student:
        model(**batch)
    student_acts = student.stack()
    assert student_acts.requires_grad
    torch.testing.assert_close(student_acts.detach(), teacher_acts)
    (student_acts - teacher_acts - 1).pow(2).mean().backward()
    assert model.model.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('arch', ['llama', 'gpt2', 'phi3'])
def test_lora_wrapped_model(arch):
    base, tokenizer = build_tiny_model(arch)
    targets = {'llama': ['q_proj', 'k_proj', 'o_proj'], 'gpt2': ['c_attn', 'c_proj'], 'phi3': ['qkv_proj', 'o_proj']}[arch]
    batch = padded(tokenizer, 'right')
    positions = real_positions(batch, 'right')
    with torch.no_grad(), capture_attention_outputs(base, positions) as before:
        base(**batch)
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=8, target_modules=targets))
    blocks = find_attention_blocks(model)
    assert len(blocks) == 2 and blocks == find_attention_blocks(model.get_base_model())
    with capture_attention_outputs(model, positions, keep_graph=True) as student:
        model(**batch)
    torch.testing.assert_close(student.stack().detach(), before.stack())  # lora_B starts at zero
    student.stack().pow(2).mean().backward()
    lora_b = [p for n, p in model.named_parameters() if 'lora_B' in n]
    assert lora_b and any(p.grad is not None and p.grad.abs().sum() > 0 for p in lora_b)
    with torch.no_grad(), model.disable_adapter(), capture_attention_outputs(model, positions) as teacher:
        model(**batch)
    torch.testing.assert_close(teacher.stack(), before.stack())
    assert no_hooks_left(model)


def test_model_without_attention_is_refused():
    model, _ = build_tiny_model('llama')
    for layer in model.model.layers: layer.self_attn = nn.Identity()
    with pytest.raises(ValueError, match='no self-attention blocks'):
        find_attention_blocks(model)
    with pytest.raises(ValueError, match='hidden_size'):
        find_attention_blocks(nn.Linear(3, 3))
