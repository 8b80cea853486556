"""Evaluation: single-token scoring with last-position logits (`score_next_token`) vs full logits (peak memory and
time), and batched multi-token generation (`generate_responses`) vs batch-1 generation (tokens/s)."""
from __future__ import annotations

import torch

from common import Context, log, measure, memory_method, peak_memory, token_lengths

LAST_OVER_BACKBONE_LIMIT = 4  # target: peak(last-only) - peak(backbone) <= 4 fp32 copies of [batch, vocab]


def kv_bytes_per_token(lm) -> int:
    "Bytes the KV cache holds per token: layers × (keys + values) × kv heads × head size × element size."
    c = lm.model.config.get_text_config()
    heads = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    return lm.num_layers * 2 * heads * head_dim * lm.model.dtype.itemsize


def bench_single_token(ctx: Context) -> dict:
    from ia2.activations import left_pad
    from ia2.evaluation import score_next_token
    lm, s = ctx.lm, ctx.sizes
    model, tok, device = lm.model, lm.tokenizer, ctx.device
    prompts = ctx.prompts.long(s["eval_batch"], s["eval_prompt_tokens"], tok)
    labels = [tok(w, add_special_tokens=False)["input_ids"][0] for w in ("0", "1")]

    def batch():
        return {k: v.to(device) for k, v in left_pad([tok(p)["input_ids"] for p in prompts], tok.pad_token_id).items()}

    last = lambda: score_next_token(model, tok, prompts, labels, batch_size=len(prompts), progress=False)

    @torch.no_grad()
    def full():
        return model(**batch()).logits[:, -1]

    decoder = model.get_decoder()

    @torch.no_grad()
    def last_no_cache():  # score_next_token's forward without the KV cache it never reads
        return model(**batch(), logits_to_keep=1, use_cache=False).logits[:, -1]

    @torch.no_grad()
    def backbone():  # the model's own activations: the decoder stack without the LM head (default forward, KV cache too)
        return decoder(**batch()).last_hidden_state[:, -1]

    log(f"  eval single-token: {len(prompts)} prompts of ~{s['eval_prompt_tokens']} tokens, last vs full logits")
    times = measure({"last": last, "full": full}, device, ctx.repeats)
    # the two peaks of the bound: the smaller of two runs (RSS noise only adds); one run each for the others
    peaks = {name: min(peak_memory(fn, device)[0] for _ in range(runs))
             for name, fn, runs in (("backbone", backbone, 2), ("last", last, 2), ("full", full, 1),
                                    ("last_no_cache", last_no_cache, 1))}
    b, vocab = len(prompts), lm.vocab_size
    batch_vocab = b * vocab * 4
    extra = peaks["last"] - peaks["backbone"]
    return {"batch": b, "prompt_tokens": token_lengths(tok, prompts), "vocab": vocab, "times": times,
            "peak_bytes": peaks, "memory_method": memory_method(device),
            "full_logits_bytes": b * token_lengths(tok, prompts)["max"] * vocab * torch.finfo(lm.model.dtype).bits // 8,
            "batch_vocab_fp32_bytes": batch_vocab, "last_extra_over_backbone_bytes": extra,
            "last_extra_in_batch_vocab_units": round(extra / batch_vocab, 2),
            "last_extra_limit_units": LAST_OVER_BACKBONE_LIMIT,
            "kv_cache_bytes": b * token_lengths(tok, prompts)["max"] * kv_bytes_per_token(lm),
            "peak_full_over_last": round(peaks["full"] / peaks["last"], 2),
            "time_full_over_last": round(times["full"]["median_s"] / times["last"]["median_s"], 2)}


def bench_generation(ctx: Context) -> dict:
    from ia2.evaluation import generate_responses
    lm, s = ctx.lm, ctx.sizes
    queries = [q.prompt for q in ctx.prompts.queries[:s["gen_prompts"]]]  # evaluation prompts: the query alone
    g, b1 = s["gen_tokens"], queries[:s["gen_batch1_prompts"]]
    gen = lambda prompts, batch, tokens=g: generate_responses(lm.model, lm.tokenizer, prompts, tokens, stop_strings=(),
                                                              batch_size=batch, progress=False)
    fns = {"batched": lambda: gen(queries, s["gen_batch"]), "batch1": lambda: gen(b1, 1)}
    warm = {"batched": lambda: gen(queries, s["gen_batch"], 4), "batch1": lambda: gen(b1[:1], 1, 4)}
    counts = {}
    log(f"  eval generation: {len(queries)} prompts at batch {s['gen_batch']} vs {len(b1)} at batch 1, {g} tokens each")
    times = measure(fns, ctx.device, ctx.repeats, warmup=warm, after=lambda name, out: counts.__setitem__(name, out[1]["tokens"]))
    expected = {"batched": len(queries) * g, "batch1": len(b1) * g}
    if counts != expected: raise RuntimeError(f"generated {counts} tokens, expected {expected}")
    tps = {name: round(expected[name] / times[name]["median_s"], 1) for name in fns}
    return {"new_tokens": g, "batch": s["gen_batch"], "prompts_batched": len(queries), "prompts_batch1": len(b1),
            "prompt_tokens": token_lengths(lm.tokenizer, queries), "times": times, "tokens_per_s": tps,
            "speedup": round(tps["batched"] / tps["batch1"], 2)}


def run(ctx: Context) -> dict:
    single, multi = bench_single_token(ctx), bench_generation(ctx)
    return {"single_token": single, "generation": multi,
            "keys": {"eval_peak_memory_full_over_last": single["peak_full_over_last"],
                     "eval_last_extra_in_batch_vocab_units": single["last_extra_in_batch_vocab_units"],
                     "eval_time_full_over_last": single["time_full_over_last"],
                     "batched_generation_speedup": multi["speedup"]}}
