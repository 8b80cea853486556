"""Training step: one IA2 step vs one SFT step (time and peak memory) on the same collated batch and the same LoRA
adapter, each a forward through `IA2Trainer.compute_loss`, `loss.backward()` and an AdamW step.

Run it last: `add_adapter` injects LoRA layers into the model in place."""
from __future__ import annotations

import statistics
import tempfile

import torch

from common import Context, cost, log, measure, memory_method, peak_memory


def _step(model, trainer, batch, optimizer):
    "One optimisation step of `trainer`'s objective."
    optimizer.zero_grad(set_to_none=True)
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    optimizer.step()
    return loss.detach()


def bench_steps(ctx: Context, model, trainers: dict, batch: dict, optimizer) -> dict:
    fns = {name: (lambda t=t: _step(model, t, batch, optimizer)) for name, t in trainers.items()}
    times = measure(fns, ctx.device, ctx.repeats)
    peaks = {name: peak_memory(fn, ctx.device)[0] for name, fn in fns.items()}
    return {"times": times, "peak_bytes": peaks,
            "time_ia2_over_sft": round(times["ia2"]["median_s"] / times["sft"]["median_s"], 3),
            "peak_ia2_over_sft": round(peaks["ia2"] / peaks["sft"], 3)}


def run(ctx: Context) -> dict:
    """Teacher records for the batch's queries first (base model), then the adapter, then IA2 and SFT steps for
    single-token responses (G=1) and multi-token ones (G = sizes['train_G']). SFT is timed on the same batch (its
    targets are the teacher's responses; the loss path is the one `objective='sft'` takes)."""
    from ia2.activations import TeacherConfig, teacher_batch
    from ia2.trainers import AdapterSettings, IA2Collator, IA2Trainer, IA2TrainingArguments, add_adapter, build_items
    lm, s = ctx.lm, ctx.sizes
    queries = ctx.prompts.queries[:s["train_batch"]]
    prompts = ctx.prompts.icl(s["train_batch"], s["demos"])
    records = {g: teacher_batch(lm.model, lm.tokenizer, prompts,
                                TeacherConfig(max_new_tokens=g, stop_strings=(), batch_size=s["train_batch"]))
               for g in (1, s["train_G"])}
    model = add_adapter(lm.model, AdapterSettings(), seed=0)
    model.train()
    collate = IA2Collator(lm.tokenizer.pad_token_id)
    args = dict(output_dir=tempfile.mkdtemp(dir=ctx.workdir), report_to=[], use_cpu=ctx.device == "cpu",
                disable_tqdm=True, remove_unused_columns=False)
    trainers = {obj: IA2Trainer(model=model, args=IA2TrainingArguments(objective=obj, **args)) for obj in ("ia2", "sft")}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    out = {"batch": s["train_batch"], "adapter": "LoRA r=8 alpha=8 on q, k, o (AdapterSettings())",
           "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
           "memory_method": memory_method(ctx.device) + "; model weights and AdamW state exist before the step"}
    for g, recs in records.items():
        batch = {k: v.to(ctx.device) for k, v in collate(build_items(lm.tokenizer, queries, recs)).items()}
        log(f"  training step G={g}: IA2 vs SFT, batch {s['train_batch']} of {batch['input_ids'].shape[1]} tokens")
        out[f"G{g}"] = {"input_tokens": int(batch["input_ids"].shape[1]), **bench_steps(ctx, model, trainers, batch, optimizer)}
    out["trainer_step"] = bench_trainer_step(ctx, model, out)
    out["keys"] = {"train_step_over_forward_backward": out["trainer_step"]["worst_ratio"],
                   **{f"train_step_over_forward_backward_{o}": r["ratio"] for o, r in out["trainer_step"]["objectives"].items()},
                   "ia2_step_over_sft_step": out["G1"]["time_ia2_over_sft"],
                   f"ia2_step_over_sft_step_g{s['train_G']}": out[f"G{s['train_G']}"]["time_ia2_over_sft"],
                   "ia2_step_peak_memory_over_sft": out["G1"]["peak_ia2_over_sft"]}
    return out


def _bare_step(model, batch: dict, objective: str):
    """A bare forward + backward of `batch` through `model` (no Trainer, no optimizer): SFT's cross-entropy on the
    producing positions' logits, or IA2's MSE of the captured attention outputs against the teacher's."""
    from ia2.hooks import capture_attention_outputs
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids")}
    positions = batch["response_positions"]
    if objective == "ia2":
        with capture_attention_outputs(model, positions, keep_graph=True) as capture:
            model(**inputs, logits_to_keep=positions[:, :0], use_cache=False)
        loss = (capture.stack().float() - batch["teacher_acts"].float()).pow(2).mean()
    else:
        logits = model(**inputs, logits_to_keep=positions, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch["target_ids"].flatten(), ignore_index=-100)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return loss.detach()


def bench_trainer_step(ctx: Context, model, out: dict) -> dict:
    """One optimizer step of `train_method` (the Trainer with the paper's protocol: SFT, and IA2 on the teacher's
    G=1 records) against a bare forward + backward of a batch of the same size with the same adapter. The Trainer's
    step time is `train_method`'s `timing`: the time inside its optimizer steps (batch collation, forward, backward,
    update, callbacks) per step; the phase's set-up, its dev evaluations (after every step here: N = 4, one step per
    epoch) and checkpoints are reported beside it."""
    from ia2.activations import TeacherConfig, teacher_batch
    from ia2.trainers import IA2Collator, build_items, paper_training_arguments, train_method
    lm, s = ctx.lm, ctx.sizes
    n = s["train_batch"]
    queries = ctx.prompts.queries[:n + 2]  # N training rows (one optimizer step per epoch) and 2 dev rows
    with model.disable_adapter():
        records = teacher_batch(model, lm.tokenizer, ctx.prompts.icl(n + 2, s["demos"]),
                                TeacherConfig(max_new_tokens=1, stop_strings=(), batch_size=n + 2))
    items = {"icl": (build_items(lm.tokenizer, queries[:n], records[:n]), build_items(lm.tokenizer, queries[n:], records[n:])),
             "ground_truth": (build_items(lm.tokenizer, queries[:n]), build_items(lm.tokenizer, queries[n:]))}
    result = {"train_rows": n, "dev_rows": 2, "steps": s["trainer_steps"], "objectives": {}}
    for objective, targets in (("sft", "ground_truth"), ("ia2", "icl")):
        batch = {k: v.to(ctx.device) for k, v in IA2Collator(lm.tokenizer.pad_token_id)(items[targets][0]).items()}
        model.train()
        log(f"  trainer step {objective}: bare forward+backward, then train_method for {s['trainer_steps']} steps")
        bare = measure({"bare": lambda: _bare_step(model, batch, objective)}, ctx.device, ctx.repeats)["bare"]
        args = paper_training_arguments(tempfile.mkdtemp(dir=ctx.workdir), learning_rate=1e-4, n_train=n, seed=0,
                                        max_steps=s["trainer_steps"], use_cpu=ctx.device == "cpu")
        summary = train_method(model, objective, items, args, lm.tokenizer.pad_token_id, patience=10 ** 6)
        model.train()
        # the bare step again after the Trainer ran: a shared machine drifts, so the bare time is the median of both
        after = measure({"bare": lambda: _bare_step(model, batch, objective)}, ctx.device, ctx.repeats)["bare"]
        for key in ("runs_s", "cpu_runs_s"): bare[key] = bare[key] + after[key]
        bare["median_s"], bare["cpu_median_s"] = (round(statistics.median(bare["runs_s"]), 4),
                                                  round(statistics.median(bare["cpu_runs_s"]), 4))
        timing = summary["phases"][0]["timing"]
        step = timing["cpu_seconds_per_step"] if cost(bare) == bare.get("cpu_median_s") else timing["seconds_per_step"]
        result["objectives"][objective] = {
            "bare_forward_backward": bare, "timing": timing, "step_s": step,
            "ratio": round(step / cost(bare), 3),
            "dev_evaluation_s_per_step": round(timing["eval_seconds"] / timing["steps"], 4),
            "checkpoint_s_per_step": round(timing["checkpoint_seconds"] / timing["steps"], 4),
            "setup_s_per_step": round(timing.get("setup_seconds", 0.0) / timing["steps"], 4),
            "adapter_save_s": summary["timing"]["save_seconds"]}
    result["worst_ratio"] = max(r["ratio"] for r in result["objectives"].values())
    return result
