"""Teacher collection: ia2's `collect_teacher` vs the reference approach (greedy decoding without a KV cache, one full
forward per generated token, batch 1) vs the limit (generation + one bare teacher-forced forward, no hooks)."""
from __future__ import annotations

import shutil
import statistics
import tempfile
from functools import partial

import torch

from common import Context, cost, log, measure, timed_cpu, token_lengths


@torch.no_grad()
def reference_teacher(model, tokenizer, prompt: str, new_tokens: int, suppressed: list[int], top_k: int = 10):
    """The reference approach, as a baseline: greedy decoding with no KV cache, batch 1, one full forward (all
    positions' logits) per generated token; forward hooks keep every attention block's output at the last position."""
    from ia2.hooks import find_attention_blocks
    device = next(model.parameters()).device
    blocks = find_attention_blocks(model)
    kept = [None] * len(blocks)

    def keep(layer, module, args, output):
        kept[layer] = (output[0] if isinstance(output, tuple) else output)[0, -1].detach()

    handles = [block.register_forward_hook(partial(keep, i)) for i, block in enumerate(blocks)]
    ids, response, acts, dists = tokenizer(prompt)["input_ids"], [], [], []
    try:
        for _ in range(new_tokens):
            logits = model(input_ids=torch.tensor([ids + response], device=device), use_cache=False).logits[0, -1].float()
            acts.append(torch.stack(kept))  # [layer, d_model]
            dists.append(logits.softmax(-1).topk(top_k))
            logits[suppressed] = float("-inf")  # as in ours: exactly `new_tokens` tokens, no EOS
            response.append(int(logits.argmax()))
    finally:
        for handle in handles: handle.remove()
    return response, torch.stack(acts, 1).to(torch.bfloat16).cpu()


def _left_padded(tokenizer, sequences: list[list[int]], device) -> dict:
    from ia2.activations import left_pad
    return {k: v.to(device) for k, v in left_pad(sequences, tokenizer.pad_token_id).items()}


def _limit_parts(model, tokenizer, prompts: list[str], new_tokens: int, batch_size: int, device):
    """Callables for the limit: `generate` (the same greedy generate call as ours, per batch) and `forward` (one bare
    teacher-forced forward of prompt + response per batch, no hooks, keeping the logits ours keeps)."""
    prompt_ids = [tokenizer(p)["input_ids"] for p in prompts]
    batches = [prompt_ids[i:i + batch_size] for i in range(0, len(prompts), batch_size)]
    gen_inputs = [{k: v for k, v in _left_padded(tokenizer, b, device).items() if k != "position_ids"} for b in batches]

    def generate(tokens: int = new_tokens):
        return [model.generate(**enc, max_new_tokens=tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                               top_p=None, top_k=None, temperature=None) for enc in gen_inputs]

    if new_tokens == 1:
        full, keep = batches, 1  # single-token: the prompt's last position produces the response
    else:
        with torch.no_grad(): outs = generate()
        full = [[p + o[enc["input_ids"].shape[1]:].tolist() for p, o in zip(b, out)]
                for b, out, enc in zip(batches, outs, gen_inputs)]
        keep = new_tokens + 1
    fwd_inputs = [_left_padded(tokenizer, b, device) for b in full]

    @torch.no_grad()
    def forward():
        return [model(**batch, logits_to_keep=keep).logits for batch in fwd_inputs]

    return torch.no_grad()(generate), forward


def bench_teacher_g(ctx: Context, new_tokens: int, n: int) -> dict:
    "Ours, the limit and the reference for `n` ICL prompts and G = `new_tokens` on one model."
    from ia2.activations import TeacherConfig, collect_teacher
    s, lm = ctx.sizes, ctx.lm
    prompts = ctx.prompts.icl(n, s["demos"])
    # as ia2.experiments collects them: G=1 keeps the full next-token distribution, multi-token the top 10
    config = TeacherConfig(max_new_tokens=new_tokens, stop_strings=(), batch_size=s["batch_size"],
                           top_k=None if new_tokens == 1 else 10)
    stores = []

    def ours(config=config):
        root = tempfile.mkdtemp(dir=ctx.workdir, prefix=f"teacher-g{new_tokens}-")
        return root, collect_teacher(lm.model, lm.tokenizer, prompts, config, root, "benchmark", progress=False)

    def keep_last_store(name, result):
        if name != "ours" or len(result[1][0].response_ids) != new_tokens: return  # not a warm-up's
        if stores: shutil.rmtree(stores.pop())
        stores.append(result[0])
        ctx.artifacts["last_records"] = result[1]

    generate, forward = _limit_parts(lm.model, lm.tokenizer, prompts, new_tokens, s["batch_size"], ctx.device)
    fns = {"ours": ours, "bare_forward": forward,
           "tokenize": lambda: [lm.tokenizer(p)["input_ids"] for p in prompts],  # what teacher_batch does first
           "tokenize_batched": lambda: lm.tokenizer(prompts)["input_ids"]}  # one call: the fast tokenizer's batch path
    if new_tokens > 1: fns["generate"] = generate
    if s.get("teacher_batch_only"):
        from ia2.activations import teacher_batch
        fns["teacher_batch_only"] = lambda: [teacher_batch(lm.model, lm.tokenizer, prompts[i:i + config.batch_size], config)
                                             for i in range(0, n, config.batch_size)]
    # multi-token warm-up: the same calls with 2 new tokens (warms generate and the hooked forward at a fraction of the cost)
    warm = None if new_tokens == 1 else {
        "ours": lambda: ours(TeacherConfig(max_new_tokens=2, stop_strings=(), batch_size=s["batch_size"], top_k=10)),
        "generate": lambda: generate(2)}
    log(f"  teacher G={new_tokens}: ours / limit on {n} prompts")
    times = measure(fns, ctx.device, ctx.repeats, warmup=warm, after=keep_last_store)
    records = ctx.artifacts.pop("last_records", [])
    lengths = sorted({len(r.response_ids) for r in records})
    if lengths != [new_tokens]: raise RuntimeError(f"responses have {lengths} tokens, expected exactly {new_tokens}")

    # the reference is batch 1, so its time adds up over prompts: time some prompts, scale the median to n
    n_ref = min(n, s["reference_prompts"] if new_tokens > 1 else n)
    log(f"  teacher G={new_tokens}: reference on {n_ref} prompts (batch 1, no KV cache)")
    reference_teacher(lm.model, lm.tokenizer, prompts[0], min(new_tokens, 2), ctx.suppressed)  # warm-up
    ref_runs, agree = [], []
    ref_cpu = []
    for i in range(n_ref):
        seconds, cpu = timed_cpu(lambda: reference_teacher(lm.model, lm.tokenizer, prompts[i], new_tokens, ctx.suppressed),
                                 ctx.device)
        response, _ = timed_cpu.last_result
        ref_runs.append(round(seconds, 4))
        ref_cpu.append(round(cpu, 4))
        ours_ids = records[i].response_ids.tolist()
        same = next((j for j, (a, b) in enumerate(zip(response, ours_ids)) if a != b), len(response))
        agree.append(same / len(response))
    reference_s = cost({"median_s": statistics.median(ref_runs), "cpu_median_s": statistics.median(ref_cpu)}) * n
    limit_s = cost(times["bare_forward"]) + (cost(times["generate"]) if new_tokens > 1 else 0.0)
    ours_s = cost(times["ours"])
    if len(stores) != 1: raise RuntimeError(f"expected one kept store, found {stores}")
    ctx.artifacts.setdefault("stores", {})[new_tokens] = {"root": stores[0], "prompts": prompts, "config": config,
                                                          "compute_s": ours_s}
    return {"G": new_tokens, "N": n, "batch_size": s["batch_size"], "demos_per_prompt": s["demos"],
            "prompt_tokens": token_lengths(lm.tokenizer, prompts), "times": times,
            "reference_runs_per_prompt_s": ref_runs, "reference_cpu_runs_per_prompt_s": ref_cpu, "reference_prompts_timed": n_ref,
            "time_over_generation": round(ours_s / cost(times["generate"]), 3) if new_tokens > 1 else None,
            "reference_s_for_N": round(reference_s, 3), "limit_s": round(limit_s, 4), "ours_s": ours_s,
            "speedup_vs_reference": round(reference_s / ours_s, 2), "time_over_limit": round(ours_s / limit_s, 3),
            "reference_greedy_prefix_agreement": round(sum(agree) / len(agree), 3)}


def run(ctx: Context) -> dict:
    "Single-token (G=1) and multi-token (G = sizes['G']) teacher collection."
    s = ctx.sizes
    single = bench_teacher_g(ctx, 1, s["n_single"])
    multi = bench_teacher_g(ctx, s["G"], s["n_multi"])
    return {"single_token": single, "multi_token": multi,
            "keys": {"teacher_speedup_vs_reference": multi["speedup_vs_reference"],
                     "teacher_time_over_generation": multi["time_over_generation"],
                     "teacher_time_over_bare_forward": multi["time_over_limit"],
                     "teacher_speedup_vs_reference_g1": single["speedup_vs_reference"],
                     "teacher_time_over_bare_forward_g1": single["time_over_limit"]}}
