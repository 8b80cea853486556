"""Evaluation: single-token scoring with last-position logits (`score_next_token`) vs full logits (peak memory and
time), and batched multi-token generation (`generate_responses`) vs batch-1 generation (tokens/s)."""
from __future__ import annotations

import statistics

import torch

from common import Context, cost, log, measure, memory_method, peak_memory, timed_cpu, token_lengths

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
    tps = {name: round(expected[name] / cost(times[name]), 1) for name in fns}
    return {"new_tokens": g, "batch": s["gen_batch"], "prompts_batched": len(queries), "prompts_batch1": len(b1),
            "prompt_tokens": token_lengths(lm.tokenizer, queries), "times": times, "tokens_per_s": tps,
            "speedup": round(tps["batched"] / tps["batch1"], 2)}


def run(ctx: Context) -> dict:
    single, multi = bench_single_token(ctx), bench_generation(ctx)
    versus, adapter = bench_generation_vs_forward(ctx), bench_adapter_eval(ctx)
    return {"single_token": single, "generation": multi, "generation_vs_forward": versus, "adapter_eval": adapter,
            "keys": {"eval_peak_memory_full_over_last": single["peak_full_over_last"],
                     "eval_last_extra_in_batch_vocab_units": single["last_extra_in_batch_vocab_units"],
                     "eval_time_full_over_last": single["time_full_over_last"],
                     "batched_generation_speedup": multi["speedup"],
                     "generation_over_forward_rate_b16": versus["ratios"]["greedy_generate"],
                     "adapter_eval_over_base_eval": max(adapter["bfloat16"]["ratio"], adapter["float32"]["ratio"]),
                     "adapter_eval_over_base_eval_bfloat16": adapter["bfloat16"]["ratio"],
                     "adapter_eval_over_base_eval_float32": adapter["float32"]["ratio"]}}


ADAPTER_EVAL_REPEATS = 15  # at least: the adapter's cost is a few percent, a shared machine's noise tens of percent


def paired_ratio(times: dict, name: str, base: str = "base") -> float:
    """The median over rounds of `name`'s cost over `base`'s in the same round (`measure` interleaves them): a shared
    machine's load drifts between rounds, and a ratio of two medians taken over different rounds carries that drift."""
    per_round = lambda t: [cost({"median_s": w, "cpu_median_s": c}) for w, c in zip(t["runs_s"], t["cpu_runs_s"])]
    return round(statistics.median(a / b for a, b in zip(per_round(times[name]), per_round(times[base]))), 3)


LAYER_REPEATS = 300  # calls of about a millisecond each: their minimum is the time without a neighbour's load


def adapter_layer_times(wrapped, batch_rows: int, tokens: int, device) -> dict:
    """Each adapted projection of the first decoder layer on one activation batch of the evaluation's shape: its base
    layer alone, the LoRA layer as PEFT runs it (float32 adapter weights) and in the model's dtype (as `evaluate_method`
    runs it); the minimum over `LAYER_REPEATS` interleaved calls, and what the adapter adds to one forward (every
    adapted layer, as many as the first one's)."""
    import copy

    from peft.tuners.lora import LoraLayer

    from ia2.models import adapters_in_model_dtype
    layers = [(name.rsplit(".", 1)[-1], m) for name, m in wrapped.named_modules() if isinstance(m, LoraLayer)]
    first = dict(reversed(layers))  # projection name -> its module in the first decoder layer
    with adapters_in_model_dtype(wrapped): cast = {name: copy.deepcopy(m) for name, m in first.items()}
    dtype = wrapped.get_base_model().dtype
    best, out = {}, {}
    with torch.no_grad():
        for name, lora in first.items():
            x = torch.randn(batch_rows, tokens, lora.get_base_layer().in_features, dtype=dtype, device=device)
            fns = {"base": lambda: lora.get_base_layer()(x), "peft_dtype": lambda: lora(x), "model_dtype": lambda: cast[name](x)}
            for fn in fns.values(): fn()
            best[name] = {k: float("inf") for k in fns}
            for _ in range(LAYER_REPEATS):
                for k, fn in fns.items():
                    wall, cpu = timed_cpu(fn, device)
                    best[name][k] = min(best[name][k], cost({"median_s": wall, "cpu_median_s": cpu}))
            out[name] = {k: round(v * 1e3, 4) for k, v in best[name].items()}
    per_layer = len(layers) / len(first)
    extra = {k: sum(b[k] - b["base"] for b in best.values()) * per_layer for k in ("peft_dtype", "model_dtype")}
    return {"shape": [batch_rows, tokens], "adapted_layers": len(layers), "repeats": LAYER_REPEATS, "min_ms": out,
            "extra_ms_per_forward": {k: round(v * 1e3, 2) for k, v in extra.items()}}


def bench_adapter_eval(ctx: Context) -> dict:
    """`evaluate_method` on the same SST-2 rows (single-token scoring, as the runner evaluates a trained adapter): the
    base model vs the same weights under a LoRA adapter (r=8 on q, k, o, B made non-zero as after training), in
    bfloat16 and float32 (copies of the model, so the run's model stays unwrapped). In bfloat16 also the adapter as
    PEFT runs it, in float32 (`evaluate_method` without `ia2.models.adapters_in_model_dtype`: the path before); and,
    once, the PEFT forward with `logits_to_keep=1` that `score_next_token` used before."""
    import copy
    from contextlib import nullcontext
    from unittest.mock import patch

    from ia2.activations import left_pad
    from ia2.evaluation import evaluate_method
    from ia2.tasks import get_task
    from ia2.trainers import AdapterSettings, add_adapter
    lm, s = ctx.lm, ctx.sizes
    tok = lm.tokenizer
    queries = ctx.prompts.queries[:s["adapter_eval_rows"]]
    prompts = [q.prompt for q in queries]
    batch, repeats = s["adapter_eval_batch"], max(ctx.repeats, ADAPTER_EVAL_REPEATS)
    eval_sets = {"sst2": (get_task("sst2"), queries)}
    out = {"rows": len(prompts), "batch": batch, "prompt_tokens": token_lengths(tok, prompts), "repeats": repeats,
           "path": "ia2.evaluation.evaluate_method", "ratio_statistic": "median over rounds of the per-round ratio"}
    for dtype in (torch.bfloat16, torch.float32):
        name = str(dtype).replace("torch.", "")
        base = copy.deepcopy(lm.model).to(dtype)
        wrapped = add_adapter(copy.deepcopy(lm.model).to(dtype), AdapterSettings(), seed=0).eval()
        with torch.no_grad():
            for param_name, p in wrapped.named_parameters():
                if "lora_B" in param_name: p.normal_(0, 0.02, generator=torch.Generator().manual_seed(0))
        evaluate = lambda m: evaluate_method(m, tok, "bench", eval_sets, batch_size=batch, progress=False)

        def peft_dtype():  # the adapter in the dtype PEFT keeps it in (float32): no cast for evaluation
            with patch("ia2.evaluation.adapters_in_model_dtype", nullcontext):
                return evaluate(wrapped)

        fns = {"base": lambda: evaluate(base), "adapter": lambda: evaluate(wrapped)}
        if dtype != torch.float32: fns["adapter_peft_dtype"] = peft_dtype  # in float32 the two are one path
        log(f"  adapter eval {name}: {len(prompts)} rows at batch {batch}, base vs LoRA, {repeats} rounds")
        times = measure(fns, ctx.device, repeats)
        first = {k: v.to(ctx.device) for k, v in left_pad([tok(p)["input_ids"] for p in prompts[:batch]], tok.pad_token_id).items()}
        with torch.no_grad():  # the old path, once per dtype (it is the slow one in bf16): one batch
            wrapped(**first, logits_to_keep=1, use_cache=False)
            old_wall, old_cpu = timed_cpu(lambda: wrapped(**first, logits_to_keep=1, use_cache=False), ctx.device)
            new_wall, new_cpu = timed_cpu(lambda: wrapped(**first, logits_to_keep=torch.tensor([first["input_ids"].shape[1] - 1]),
                                                          use_cache=False), ctx.device)
        out[name] = {"times": times, "ratio": paired_ratio(times, "adapter"),
                     "ratio_of_medians": round(cost(times["adapter"]) / cost(times["base"]), 3),
                     "one_batch_logits_to_keep_1": {"wall_s": round(old_wall, 4), "cpu_s": round(old_cpu, 4)},
                     "one_batch_last_index": {"wall_s": round(new_wall, 4), "cpu_s": round(new_cpu, 4)}}
        if "adapter_peft_dtype" in times: out[name]["ratio_peft_dtype"] = paired_ratio(times, "adapter_peft_dtype")
        layer = adapter_layer_times(wrapped, *first["input_ids"].shape, ctx.device)
        forwards = -(-len(prompts) // batch)
        fastest_base = min(cost({"median_s": w, "cpu_median_s": c})
                           for w, c in zip(times["base"]["runs_s"], times["base"]["cpu_runs_s"]))
        layer["extra_over_fastest_base_eval"] = {k: round(v * forwards / 1e3 / fastest_base, 3)
                                                 for k, v in layer["extra_ms_per_forward"].items()}
        out[name]["layers"] = layer
        del base, wrapped
    return out


def bench_generation_vs_forward(ctx: Context) -> dict:
    """Batch-16 greedy generation (`ia2.activations.greedy_generate`, and `model.generate` with its dynamic and its
    static cache) in new tokens/s, against a bare forward over the same batch and total length in tokens/s."""
    from ia2.activations import greedy_generate, left_pad
    lm, s = ctx.lm, ctx.sizes
    tok, model, device = lm.tokenizer, lm.model, ctx.device
    n, g = s["gen_batch"], s["gen_tokens"]
    ids = sorted((tok(q.prompt)["input_ids"] for q in ctx.prompts.queries[:n]), key=len)
    enc = {k: v.to(device) for k, v in left_pad(ids, tok.pad_token_id).items() if k != "position_ids"}

    def hf(cache: str | None = None, tokens: int = g):
        extra = {"cache_implementation": cache} if cache else {}
        with torch.no_grad():
            return model.generate(**enc, max_new_tokens=tokens, do_sample=False, pad_token_id=tok.pad_token_id,
                                  top_p=None, top_k=None, temperature=None, **extra)

    ours = lambda tokens=g: greedy_generate(model, tok, ids, tokens, stop_strings=())
    full = {k: v.to(device) for k, v in left_pad([i + [ids[0][-1]] * g for i in ids], tok.pad_token_id).items()}
    last = torch.tensor([full["input_ids"].shape[1] - 1], device=device)

    @torch.no_grad()
    def forward():
        return model(**full, logits_to_keep=last, use_cache=False).logits

    fns = {"greedy_generate": ours, "generate_dynamic": hf, "generate_static": lambda: hf("static"), "forward": forward}
    warm = {"greedy_generate": lambda: ours(4), "generate_dynamic": lambda: hf(None, 4), "generate_static": lambda: hf("static", 4)}
    log(f"  generation vs forward: {n} prompts × {g} new tokens, vs one forward over {int(full['attention_mask'].sum())} tokens")
    times = measure(fns, device, ctx.repeats, warmup=warm)
    made = [len(r) for r in ours().responses]
    if made != [g] * n: raise RuntimeError(f"greedy_generate made {sorted(set(made))} tokens per row, expected {g}")
    forward_rate = int(full["attention_mask"].sum()) / cost(times["forward"])
    rates = {name: round(n * g / cost(times[name]), 1) for name in fns if name != "forward"}
    same = hf()[:, enc["input_ids"].shape[1]:].tolist() == ours().responses
    ceiling = matmul_ceiling(lm, n, int(full["attention_mask"].sum()), ctx)
    return {"batch": n, "new_tokens": g, "prompt_tokens": token_lengths(tok, [tok.decode(i) for i in ids]),
            "forward_tokens": int(full["attention_mask"].sum()), "times": times, "new_tokens_per_s": rates,
            "forward_tokens_per_s": round(forward_rate, 1), "token_identical_to_generate": same,
            "ratios": {name: round(rate / forward_rate, 3) for name, rate in rates.items()}, "matmul_ceiling": ceiling}


def matmul_ceiling(lm, decode_rows: int, forward_rows: int, ctx: Context) -> dict:
    """The rate of one of the model's own matrix products (the MLP's up-projection) with `decode_rows` rows (a decode
    step) and with `forward_rows` rows (the forward): their ratio bounds what any decoding loop can reach against
    the forward, since both are almost all matrix products."""
    c = lm.model.config.get_text_config()
    weight = torch.randn(c.intermediate_size, c.hidden_size, dtype=lm.model.dtype, device=ctx.device)
    times = {}
    for rows in (decode_rows, forward_rows):
        x = torch.randn(rows, c.hidden_size, dtype=lm.model.dtype, device=ctx.device)
        times[rows] = measure({"mm": lambda: torch.nn.functional.linear(x, weight)}, ctx.device, 20)["mm"]
    flops = {rows: 2 * rows * c.hidden_size * c.intermediate_size / cost(t) / 1e9 for rows, t in times.items()}
    return {"shape": [c.hidden_size, c.intermediate_size], "gflops": {str(k): round(v, 1) for k, v in flops.items()},
            "decode_over_forward": round(flops[decode_rows] / flops[forward_rows], 3)}
