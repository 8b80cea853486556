"""Training step: one IA2 step vs one SFT step (time and peak memory) on the same collated batch and the same LoRA
adapter, each a forward through `IA2Trainer.compute_loss`, `loss.backward()` and an AdamW step.

Run it last: `add_adapter` injects LoRA layers into the model in place."""
from __future__ import annotations

import tempfile

import torch

from common import Context, log, measure, memory_method, peak_memory


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
    out["keys"] = {"ia2_step_over_sft_step": out["G1"]["time_ia2_over_sft"],
                   f"ia2_step_over_sft_step_g{s['train_G']}": out[f"G{s['train_G']}"]["time_ia2_over_sft"],
                   "ia2_step_peak_memory_over_sft": out["G1"]["peak_ia2_over_sft"]}
    return out
