"""Activation store: bytes on disk of a `collect_teacher` run vs the N·G·L·H·2 bytes of its bf16 activations, and
the time to load a stored run vs recomputing it (reuses the stores the teacher section wrote)."""
from __future__ import annotations

from pathlib import Path

from common import Context, dir_bytes, log, measure


def bench_store(ctx: Context, new_tokens: int, store: dict) -> dict:
    from ia2.activations import collect_teacher, store_key
    lm, config, prompts = ctx.lm, store["config"], store["prompts"]
    folder = Path(store["root"]) / store_key("benchmark", prompts, config)
    on_disk = dir_bytes(folder)
    n = len(prompts)
    minimum = n * new_tokens * lm.num_layers * lm.hidden_size * 2  # bf16 activations, nothing else
    load = lambda: collect_teacher(lm.model, lm.tokenizer, prompts, config, store["root"], "benchmark", progress=False)
    log(f"  store G={new_tokens}: {on_disk:,} bytes on disk; timing loads")
    times = measure({"load": load}, ctx.device, ctx.repeats)
    records = load()
    dtypes = sorted({str(r.activations.dtype) for r in records})
    nbytes = lambda t: 0 if t is None else t.numel() * t.element_size()
    parts = {"activations": sum(nbytes(r.activations) for r in records), "probs": sum(nbytes(r.probs) for r in records),
             "topk_ids": sum(nbytes(r.topk_ids) for r in records),
             "response_ids": sum(nbytes(r.response_ids) for r in records)}
    parts["headers_and_manifest"] = on_disk - sum(parts.values())
    load_s = times["load"]["median_s"]
    # two ratios: activations (with the response ids, headers and manifest, all but the soft labels) over
    # N·G·L·H·2, and the soft labels over float32 probabilities plus int32 ids (what they need at the least)
    soft = parts["probs"] + parts["topk_ids"]
    soft_minimum = sum(r.probs.numel() * 4 + (0 if r.topk_ids is None else r.topk_ids.numel() * 4) for r in records)
    activation_ratio = round((on_disk - soft) / minimum, 4)
    return {"G": new_tokens, "N": n, "layers": lm.num_layers, "d_model": lm.hidden_size,
            "activation_dtype": config.activation_dtype, "stored_activation_dtypes": dtypes, "top_k": config.top_k,
            "bytes_by_part": parts, "activation_bytes_over_minimum": round(parts["activations"] / minimum, 4),
            "files": sorted(p.name for p in folder.iterdir()), "bytes_on_disk": on_disk, "minimum_bytes": minimum,
            "bytes_over_minimum": round(on_disk / minimum, 4), "load_times": times, "load_s": load_s,
            "store_activation_bytes_over_minimum": activation_ratio, "soft_label_bytes": soft,
            "soft_label_minimum_bytes": soft_minimum, "soft_label_bytes_over_minimum": round(soft / soft_minimum, 4),
            "recompute_s": store["compute_s"], "load_speedup_vs_recompute": round(store["compute_s"] / load_s, 1)}


def run(ctx: Context) -> dict:
    "Both teacher stores (G=1 and the multi-token G); the key is the larger bytes-over-minimum ratio."
    stores = ctx.artifacts.get("stores")
    if not stores: raise RuntimeError("the store benchmark needs the teacher section's stores; run the teacher section first")
    out = {f"G{g}": bench_store(ctx, g, store) for g, store in sorted(stores.items())}
    worst = max(out.values(), key=lambda r: r["bytes_over_minimum"])
    multi = out[f"G{max(stores)}"]
    out["keys"] = {"store_activation_bytes_over_minimum": max(r["store_activation_bytes_over_minimum"] for r in out.values()),
                   "store_soft_label_bytes_over_minimum": max(r["soft_label_bytes_over_minimum"] for r in out.values()),
                   "store_bytes_over_minimum": worst["bytes_over_minimum"],
                   **{f"store_bytes_over_minimum_g{g}": out[f"G{g}"]["bytes_over_minimum"] for g in stores},
                   "store_load_speedup_vs_recompute": multi["load_speedup_vs_recompute"]}
    return out
