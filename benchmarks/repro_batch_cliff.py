"""Does a CPU forward+backward fall off a cliff as the batch grows? (issue 21: qwen2.5-coder-0.5b in bfloat16 took 48.9 s
at 16 x 25 tokens where 4 x 25 took 3.2 s, on 2 threads of a busy machine.)

Times one training step's forward+backward (LoRA r = alpha = 8 on q, k, o, as the paper trains; logits at the last
position only, as `IA2Trainer` asks for them) at batch B x T tokens for B in --batches, in each --dtypes; then profiles the
largest batch (torch.profiler, top ops by self CPU time) and times the workarounds: micro-batches of --chunk rows (the
gradients add up to the same), and the eager attention instead of SDPA.

    python benchmarks/repro_batch_cliff.py --model smollm2-135m --threads 2
    python benchmarks/repro_batch_cliff.py --model qwen2.5-coder-0.5b --batches 4 16 --dtypes bfloat16

Prints one JSON object (seconds are medians of --repeats after a warm-up; `cpu_s` is this process's CPU time, all
threads); --out writes it too.

Found on 2026-12-06 (2-core Intel Xeon with AVX512-BF16 and AMX, torch 2.13.0+cpu, capability AVX512, 5 other agents'
tests and notebooks running: load average 4-18), qwen2.5-coder-0.5b, bf16, 25 tokens:

| threads | rows | wall s | CPU s | note |
|---|---|---|---|---|
| 1 | 4 | 8.1 | 1.21 | wall inflated by the load; CPU is the work |
| 1 | 16 | 22.5 | 3.36 | per row 303 -> 210 ms: no cliff |
| 1 | 16 in 4 micro-batches | 46.7 | 5.30 | chunking costs |
| 1 | 16, eager attention | 29.1 | 2.92 | SDPA's bf16 CPU backward is the slow kernel |
| 2 | 4 | 26.5 | 11.0 | OpenMP threads spin at barriers for a descheduled partner |
| 2 | 16 | 30.4 | 13.7 | |
| 2, OMP_WAIT_POLICY=PASSIVE | 4 | 1.6 | 1.26 | the workaround |
| 2, OMP_WAIT_POLICY=PASSIVE | 16 | 7.8 | 3.44 | |
| 2, OMP_WAIT_POLICY=PASSIVE | 16, eager attention | 6.1 | 2.43 | |

float32, 1 thread: 2.38 s CPU at 4 rows, 6.50 s at 16 (eager 6.71 s); aten::mm dominates. So the reported 48.9 s at
16 x 25 against 3.2 s at 4 x 25 (2 threads, busy machine) is oversubscription, not a kernel: set OMP_WAIT_POLICY=PASSIVE
or one thread on a shared CPU."""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path: sys.path.insert(0, str(REPO))


def _step(model, batch: dict, chunk: int | None = None) -> None:
    "Forward + backward of `batch` (all rows at once, or `chunk` rows at a time with the gradients accumulated)."
    rows = batch["input_ids"].shape[0]
    size = chunk or rows
    last = torch.tensor([batch["input_ids"].shape[1] - 1])
    for start in range(0, rows, size):
        part = {k: v[start:start + size] for k, v in batch.items()}
        logits = model(**part, logits_to_keep=last, use_cache=False).logits  # [rows, 1, vocab]
        (logits.float().logsumexp(-1).mean() * len(part["input_ids"]) / rows).backward()
    model.zero_grad(set_to_none=True)


def _time(fn, repeats: int) -> dict:
    "Wall and process CPU seconds (the CPU time is what a busy machine does not inflate)."
    fn()  # warm-up (oneDNN primitives, allocator)
    times, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start); cpus.append(time.process_time() - cpu)
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "cpu_s": round(statistics.median(cpus), 3)}


def _top_ops(fn, rows: int = 12) -> list[dict]:
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof: fn()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:rows]
    return [{"op": e.key, "self_s": round(e.self_cpu_time_total / 1e6, 3), "calls": e.count} for e in events]


def _model(name: str, dtype: torch.dtype, attention: str):
    from ia2.models import load_model
    from ia2.trainers import AdapterSettings, add_adapter
    model, tokenizer = load_model(name, dtype=dtype)
    if attention != "sdpa": model.config._attn_implementation = attention
    return add_adapter(model, AdapterSettings(), seed=0).train(), tokenizer


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--dtypes", nargs="+", default=["bfloat16", "float32"])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 4, 8, 16])
    p.add_argument("--tokens", type=int, default=25)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--chunk", type=int, default=4, help="rows per micro-batch in the chunked workaround")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    result = {"model": a.model, "tokens": a.tokens, "threads": a.threads, "torch": torch.__version__,
              "cpu": platform.processor() or platform.machine(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
              "load_average_at_start": os.getloadavg(), "runs": {}}
    for dtype_name in a.dtypes:
        dtype = getattr(torch, dtype_name)
        model, tok = _model(a.model, dtype, "sdpa")
        torch.manual_seed(0)
        batches = {b: {"input_ids": torch.randint(100, 5000, (b, a.tokens)), "attention_mask": torch.ones(b, a.tokens, dtype=torch.long)}
                   for b in a.batches}
        run = {}
        for b, batch in batches.items():
            t = _time(lambda: _step(model, batch), a.repeats)
            run[f"batch{b}"] = {**t, "cpu_ms_per_row": round(1000 * t["cpu_s"] / b, 1)}
            if b > a.chunk:
                c = _time(lambda: _step(model, batch, a.chunk), a.repeats)
                run[f"batch{b}_chunked{a.chunk}"] = {**c, "cpu_ms_per_row": round(1000 * c["cpu_s"] / b, 1)}
            print(dtype_name, b, run, file=sys.stderr, flush=True)
        biggest = batches[max(a.batches)]
        if not a.no_profile: run["top_ops_largest_batch"] = _top_ops(lambda: _step(model, biggest))
        eager, _ = _model(a.model, dtype, "eager")
        run[f"batch{max(a.batches)}_eager_attention"] = _time(lambda: _step(eager, biggest), a.repeats)
        result["runs"][dtype_name] = run
        del model, eager
    result["load_average_at_end"] = os.getloadavg()
    print(json.dumps(result, indent=1))
    if a.out: a.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
