"""Cells per hour, packed (`ia2.packing.train_pack`, K cells per forward) against one cell at a time
(`ia2.trainers.train_method`), on the same cells: N training rows, 2 dev rows, a fixed number of optimizer steps
(no early stopping, so every K trains the same steps), the paper's dev schedule (dev loss every 2 steps).

    python benchmarks/packing.py --model smollm2-135m --dtype float32 --n 4 --ks 1 4 16 --steps 6
    python benchmarks/packing.py --model qwen2.5-coder-0.5b --dtype bfloat16 --n 16 --device cuda

Prints one JSON object with `single_cells_per_hour`, `packed_cells_per_hour_k{K}` and
`packed_cells_per_hour_over_single_k{K}` (the keys of benchmarks/results.json); --out writes it too. Training only: the
teacher, the baselines and the evaluation are the same work packed or not (packed evaluation has its own functions)."""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path: sys.path.insert(0, str(REPO))

WORDS = [("a good film", 1), ("a bad film", 0), ("great fun to watch", 1), ("dull and slow", 0), ("fine acting", 1),
         ("poor script", 0), ("nice twist at the end", 1), ("grim and boring", 0), ("lovely score", 1), ("awful pacing", 0),
         ("superb cast", 1), ("meh", 0), ("bright and warm", 1), ("sour aftertaste", 0), ("moving story", 1),
         ("a mess", 0), ("charming", 1), ("tedious", 0)]


def _items(model, tok, n: int, method: str) -> dict:
    "Items of N training rows and 2 dev rows (with the ICL teacher's records when the method needs them)."
    from ia2.activations import TeacherConfig, teacher_batch
    from ia2.tasks import Example
    from ia2.trainers import build_items
    rows = [Example(f"Review: {t}\nSentiment:", " positive" if l else " negative", l, i) for i, (t, l) in enumerate(WORDS)]
    train, dev = rows[:n], rows[n:n + 2]
    items = {"ground_truth": (build_items(tok, train), build_items(tok, dev))}
    if method != "sft":
        prompt = lambda q: "\n\n".join(e.prompt + e.answer for e in train if e is not q) + "\n\n" + q.prompt
        config = TeacherConfig(max_new_tokens=1)
        items["icl"] = (build_items(tok, train, teacher_batch(model, tok, [prompt(q) for q in train], config)),
                        build_items(tok, dev, teacher_batch(model, tok, [prompt(q) for q in dev], config)))
    return items


def _commit() -> str | None:
    "The git commit the measured code is at (results.json and PACKING.md, which this script writes, are not code)."
    import subprocess
    try: return subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True,
                               text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError): return None


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--n", type=int, default=4, help="N training rows per cell (batch min(4, N))")
    p.add_argument("--ks", nargs="+", type=int, default=[1, 4, 16])
    p.add_argument("--steps", type=int, default=6, help="optimizer steps per cell")
    p.add_argument("--method", default="ia2", choices=["ia2", "sft"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path)
    p.add_argument("--merge", type=Path, help="keep the run in this results.json (benchmarks/results.json): packing_runs and the top-level packed keys")
    a = p.parse_args(argv)
    from ia2.models import load_model
    from ia2.packing import PackCell, train_pack
    from ia2.trainers import AdapterSettings, add_adapter, paper_training_arguments, train_method
    torch.set_num_threads(a.threads)
    model, tok = load_model(a.model, dtype=getattr(torch, a.dtype), device=a.device)
    items = _items(model, tok, a.n, a.method)
    cpu = a.device == "cpu"

    def args(seed):
        return paper_training_arguments(tempfile.mkdtemp(), learning_rate=1e-3, n_train=a.n, seed=seed, max_steps=a.steps,
                                        use_cpu=cpu, bf16=False)

    result = {"model": a.model, "dtype": a.dtype, "n": a.n, "steps": a.steps, "method": a.method, "threads": a.threads,
              "device": a.device if cpu else torch.cuda.get_device_name(), "cpu": platform.processor() or platform.machine(),
              "torch": torch.__version__, "load_average_at_start": os.getloadavg(), "commit": _commit()}
    warm = add_adapter(model, AdapterSettings(), seed=0)  # a first step pays oneDNN's and the allocator's set-up: not timed
    train_method(warm, a.method, items, paper_training_arguments(tempfile.mkdtemp(), learning_rate=1e-3, n_train=a.n,
                 max_steps=1, use_cpu=cpu), tok.pad_token_id)
    model = warm.unload()
    # wall seconds, and this process's CPU seconds (which a busy machine does not inflate)
    start, cpu = time.perf_counter(), time.process_time()
    peft_model = add_adapter(model, AdapterSettings(), seed=0)
    train_method(peft_model, a.method, items, args(0), tok.pad_token_id, patience=10**6)
    single, single_cpu = time.perf_counter() - start, time.process_time() - cpu
    model = peft_model.unload()
    result["single_seconds_per_cell"], result["single_cpu_seconds_per_cell"] = round(single, 2), round(single_cpu, 2)
    result["single_cells_per_hour"] = round(3600 / single, 1)
    for k in a.ks:
        start, cpu = time.perf_counter(), time.process_time()
        cells = [PackCell(a.method, items, args(seed), patience=10**6) for seed in range(k)]
        peft_model, _, _ = train_pack(model, cells, tok.pad_token_id, progress=False)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        model = peft_model.unload()
        result[f"packed_seconds_k{k}"], result[f"packed_cpu_seconds_k{k}"] = round(seconds, 2), round(cpu, 2)
        result[f"packed_cells_per_hour_k{k}"] = round(3600 * k / seconds, 1)
        result[f"packed_cells_per_hour_over_single_k{k}"] = round(single * k / seconds, 2)
        result[f"packed_cells_per_cpu_hour_over_single_k{k}"] = round(single_cpu * k / cpu, 2)
        print(k, round(seconds, 2), round(cpu, 2), file=sys.stderr, flush=True)
    result.update(cpu_allows(model, tok, items, a.method, a.ks))
    for k in a.ks:
        result[f"packed_over_allowed_k{k}"] = round(result[f"packed_cells_per_cpu_hour_over_single_k{k}"] / result[f"cpu_allows_k{k}"], 2)
    result["load_average_at_end"] = os.getloadavg()
    print(json.dumps(result, indent=1))
    if a.out: a.out.write_text(json.dumps(result, indent=1) + "\n")
    if a.merge: merge(a.merge, result, a.ks)
    return result


def cpu_allows(model, tok, items, method: str, ks: list[int], repeats: int = 5) -> dict:
    """What the hardware allows a pack: the CPU seconds of one bare forward + backward (LoRA on, base frozen) over one
    cell's batch, against K copies of it in one batch. K x t(batch) / t(K x batch) is the most that packing K cells can
    gain on the model's own work, before any per-step overhead; `packed_over_allowed_k{K}` is how close packing comes.
    The two are timed in turn, `repeats` times each (medians), so that a change in the machine's load hits both."""
    from ia2.trainers import AdapterSettings, IA2Collator, add_adapter
    peft_model = add_adapter(model, AdapterSettings(), seed=0)
    targets = "ground_truth" if method == "sft" else "icl"
    rows = items[targets][0][:4]  # one optimizer step's batch: min(4, N) rows
    collate = IA2Collator(tok.pad_token_id)

    def step_cpu(batch) -> float:
        start = time.process_time()
        out = peft_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
        out.logits[:, -1].float().logsumexp(-1).sum().backward()
        peft_model.zero_grad(set_to_none=True)
        return time.process_time() - start

    single = collate(rows)
    step_cpu(single)  # set-up costs, not timed
    out = {}
    for k in ks:
        if k == 1: out["cpu_allows_k1"] = 1.0; continue  # one cell's batch against itself
        packed = collate(rows * k)
        step_cpu(packed)
        ones, packs = [], []
        for _ in range(repeats): ones.append(step_cpu(single)); packs.append(step_cpu(packed))
        one, pack = statistics.median(ones), statistics.median(packs)
        out[f"bare_step_cpu_seconds_one_cell_vs_k{k}"], out[f"bare_step_cpu_seconds_k{k}"] = round(one, 3), round(pack, 3)
        out[f"cpu_allows_k{k}"] = round(k * one / pack, 2)
    peft_model.unload()
    return out


def merge(path: Path, result: dict, ks: list[int]):
    "Keep `result` in results.json's `packing_runs` (one per model, dtype and N) and set the top-level packed keys to the worst run's."
    results = json.loads(path.read_text()) if path.is_file() else {}
    runs = [r for r in results.get("packing_runs", []) if (r["model"], r["dtype"], r["n"]) != (result["model"], result["dtype"], result["n"])]
    runs = sorted(runs + [result], key=lambda r: (r["model"], r["dtype"], r["n"]))
    results["packing_runs"] = runs
    for k in sorted({k for r in runs for k in [int(key.rsplit("_k", 1)[1]) for key in r if key.startswith("packed_cells_per_hour_over_single_k")]}):
        for key in (f"packed_cells_per_hour_over_single_k{k}", f"packed_cells_per_cpu_hour_over_single_k{k}", f"cpu_allows_k{k}",
                    f"packed_over_allowed_k{k}"):
            values = [r[key] for r in runs if key in r]
            if values: results[key] = min(values)  # the worst run: what every model, dtype and N reaches
    tmp = path.with_suffix(".tmp"); tmp.write_text(json.dumps(results, indent=1) + "\n"); os.replace(tmp, path)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import report  # the same table RESULTS.md shows, on its own for the docs' Performance page
    table = path.with_name("PACKING.md")
    table.write_text("# Packed cells\n\nGenerated by `python benchmarks/packing.py --merge " + path.name + "` (one run per model, "
                     "dtype and N); do not edit by hand.\n\n" + "\n".join(report.packing_lines(results)) + "\n")


if __name__ == "__main__":
    main()
