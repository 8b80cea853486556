"""Minimal reproduction (torch only) of why a PEFT-wrapped model with `logits_to_keep=1` evaluated ~10x slower than
the base model in bf16 on a CPU. A 3-D strided input times a 2-D weight goes through `torch.matmul`; it folds the
input into one matrix product only when it can view it as 2-D without a copy *or* when the weight requires grad
(`should_fold` in aten/src/ATen/native/LinearAlgebra.cpp). `hidden_states[:, -1:, :]` of a [batch, seq, d] tensor
cannot be viewed so, and under PEFT the LM head is frozen, so matmul broadcasts the [vocab, d] weight to
[batch, d, vocab] and calls bmm, which in bfloat16 on a CPU materialises that broadcast (`aten::copy_`).
Float32 takes a batched kernel that reads the broadcast weight in place, so it does not show.

    python benchmarks/repro_frozen_head_bf16.py        # torch 2.13.0+cpu, 1 thread: 17.3 s vs 0.10 s vs 0.12 s
"""
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
w = torch.randn(151936, 896, dtype=torch.bfloat16)  # qwen2.5-0.5b's LM head, frozen (requires_grad=False)
h = torch.randn(8, 22, 896, dtype=torch.bfloat16)[:, -1:, :]  # what `logits_to_keep=1` hands the head: a strided view


def seconds(fn) -> float:
    fn()
    start = time.perf_counter()
    fn()
    return round(time.perf_counter() - start, 3)


with torch.no_grad():
    print("frozen weight, strided [8, 1, d] input   ", seconds(lambda: F.linear(h, w)))
    print("frozen weight, contiguous input          ", seconds(lambda: F.linear(h.contiguous(), w)))
    w.requires_grad_(True)
    print("weight requiring grad, strided input     ", seconds(lambda: F.linear(h, w)))
    with torch.profiler.profile() as prof:
        w.requires_grad_(False)
        F.linear(h, w)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=3))
