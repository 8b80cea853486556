"""Run the ia2 benchmarks and write results.json, RESULTS.md and scaling.png.

    python benchmarks/run.py --profile quick            # make bench: smollm2-135m, CPU
    python benchmarks/run.py --full --random-weights --model-dir DIR --data-dir DIR --out benchmarks/gpu
"""
from __future__ import annotations

import argparse
import copy
import json
import resource
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from profiles import PROFILES  # noqa: E402

SECTIONS = ("teacher", "store", "scaling", "evaluation", "training")  # training last: it adds an adapter in place
# the keys of issue 14, at the top of results.json: per key the worst value over the models measured (all models'
# values are under `keys_by_model`, and everything per model under `per_model`)
REQUIRED_KEYS = ("adapter_eval_over_base_eval", "adapter_eval_over_base_eval_bfloat16", "adapter_eval_over_base_eval_float32",
                 "train_step_over_forward_backward", "generation_over_forward_rate_b16", "teacher_speedup_vs_reference",
                 "teacher_time_over_generation", "store_activation_bytes_over_minimum", "store_soft_label_bytes_over_minimum")
LOWER_IS_WORSE = {"generation_over_forward_rate_b16", "teacher_speedup_vs_reference"}  # "worst" = smallest for these
QUICKSTART_FILE = "quickstart.json"  # [{"label", "seconds", "machine", "command", ...}]: written by quickstart_time.py


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    p.add_argument("--full", action="store_true", help="same as --profile full")
    p.add_argument("--device", help="cpu or cuda (default: the profile's)")
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], default="auto",
                   help="auto: ia2.models.default_dtype(device), fp32 on CPUs without native bf16, bf16 on CUDA")
    p.add_argument("--models", nargs="+", help="override the profile's models (built-in names or folders)")
    p.add_argument("--random-weights", action="store_true",
                   help="build each model from its config.json with random weights (the real tokenizer)")
    p.add_argument("--model-dir", help="folder holding <model name>/config.json and tokenizer files (or full models)")
    p.add_argument("--data-dir", help="folder holding sst2/train.jsonl (default: $IA2_DATA_DIR)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent), help="where results go (default: benchmarks/)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: the idle cores by load average)")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--budget-min", type=float, help="start no new section after this many minutes (partial results)")
    p.add_argument("--git-commit", help="record this commit where the tree has no .git (a copied working tree)")
    p.add_argument("--report-only", action="store_true", help="rewrite OUT/RESULTS.md from OUT/results.json and stop")
    p.add_argument("--merge", action="store_true",
                   help="keep the results already in OUT/results.json: other models whole, and this run's models' sections "
                        "it does not rerun (e.g. `--profile qwen --merge` after `--profile quick`: both models in one file)")
    args = p.parse_args(argv)
    if args.full: args.profile = "full"
    args.sections = [s for s in SECTIONS if s in args.sections]  # training last, whatever order they were given in
    return args


def run_model(name: str, args, profile: dict, device: str, dtype, workdir: Path, result: dict, save) -> None:
    "Every selected section on one model, into `result`; a failing section is recorded and the others still run."
    from common import Context, PromptSet, data_dir, exact_length, load_bench_model, log, sst2_examples
    import teacher, store, scaling, evaluation, training  # noqa: E401
    modules = {"teacher": teacher, "store": store, "scaling": scaling, "evaluation": evaluation, "training": training}
    log(f"model {name}: loading ({'random' if args.random_weights else 'real'} weights, {dtype}, {device})")
    start = time.perf_counter()
    lm = load_bench_model(name, device, dtype, args.random_weights, args.model_dir)
    largest = max([n for ns in profile["scaling"]["n_sweep"].values() for n in ns] +
                  [profile["teacher"]["n_single"], profile["teacher"]["n_multi"], profile["evaluation"]["gen_prompts"]])
    prompts = PromptSet(sst2_examples(data_dir(args.data_dir), 2 * largest + 64))
    result.update({"model": name, "weights": lm.weights, "source": lm.source, "dtype": str(dtype).replace("torch.", ""),
                   "layers": lm.num_layers, "d_model": lm.hidden_size, "vocab": lm.vocab_size,
                   "parameters": lm.parameters, "load_s": round(time.perf_counter() - start, 1)})
    for part in ("sections", "keys", "errors"): result.setdefault(part, {})  # --merge keeps the sections not rerun
    for section in args.sections: result["errors"].pop(section, None)
    artifacts = {}
    with exact_length(lm.model, lm.tokenizer) as suppressed:
        result["suppressed_token_ids"] = suppressed
        for section in args.sections:
            if args.budget_min and time.perf_counter() - args.started > 60 * args.budget_min:
                result["errors"][section] = f"skipped: the --budget-min {args.budget_min} minutes were spent"
                continue
            sizes = profile[section]
            ctx = Context(lm, device, dtype, sizes, sizes.get("repeats", profile["repeats"]), prompts, workdir, suppressed,
                          artifacts)
            log(f"model {name}: {section}")
            t0 = time.perf_counter()
            try:
                out = modules[section].run(ctx)
                result["keys"].update(out.pop("keys", {}))
                result["sections"][section] = out
            except Exception as err:  # record and go on: one broken section must not lose the others
                traceback.print_exc()
                result["errors"][section] = f"{type(err).__name__}: {err}"
            result.setdefault("section_seconds", {})[section] = round(time.perf_counter() - t0, 1)
            save()


def read_quickstart(out: Path) -> dict | None:
    "The timings of `make quickstart` in OUT/quickstart.json, by label (None: not timed)."
    from quickstart_time import read_timings
    return {t.get("label", t.get("command")): t for t in read_timings(out / QUICKSTART_FILE)} or None


def main(argv=None) -> int:
    args = parse_args(argv)
    wall = args.started = time.perf_counter()
    out = Path(args.out)
    if args.report_only:
        import report
        results = json.loads((out / "results.json").read_text())
        results["quickstart_seconds"] = read_quickstart(out)  # timed apart from the benchmarks, perhaps since they ran
        common.write_atomic(out / "results.json", json.dumps(results, indent=2, default=str))
        common.write_atomic(out / "RESULTS.md", report.markdown(results))
        print(report.table_text(results))
        return 0
    profile = copy.deepcopy(PROFILES[args.profile])
    device = args.device or profile["device"]
    if device == "cuda" and not torch.cuda.is_available(): sys.exit("--device cuda but torch sees no GPU")
    threads = args.threads or (common.auto_threads() if device == "cpu" else torch.get_num_threads())
    torch.set_num_threads(threads)
    stubbed = common.import_ia2()
    from ia2.models import default_dtype
    import report
    import scaling
    dtype = default_dtype(device) if args.dtype == "auto" else getattr(torch, args.dtype)
    models = args.models or profile["models"]
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/run.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    results = {"profile": args.profile, "command": command, "models": models,
               "weights": "random" if args.random_weights else "real", "dtype": str(dtype).replace("torch.", ""),
               "machine": common.machine_info(device, args.git_commit), "stubbed_modules": stubbed, "sizes": profile, "per_model": {}}
    common.log(f"profile {args.profile} on {device} ({threads} CPU threads), models {models}, dtype {dtype}")

    if args.merge and (out / "results.json").is_file():
        previous = json.loads((out / "results.json").read_text())
        kept = previous.get("per_model", {})  # other models whole; this run's models keep the sections it does not rerun
        results["per_model"].update(kept)
        results["merged_runs"] = previous.get("merged_runs", []) + [
            {"profile": previous.get("profile"), "command": previous.get("command"), "models": list(kept),
             "machine": previous.get("machine")}]

    def save():
        by_model = {m: r.get("keys", {}) for m, r in results["per_model"].items()}
        for k in REQUIRED_KEYS:
            values = [v[k] for v in by_model.values() if v.get(k) is not None]
            results[k] = (min if k in LOWER_IS_WORSE else max)(values) if values else None
        results["keys_by_model"] = {k: {m: v.get(k) for m, v in by_model.items()} for k in REQUIRED_KEYS}
        results["quickstart_seconds"] = read_quickstart(out)
        results["wall_s"] = round(time.perf_counter() - wall, 1)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        results["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)  # this process's CPU time: wall on an idle core
        common.write_atomic(out / "results.json", json.dumps(results, indent=2, default=str))
        try: common.write_atomic(out / "RESULTS.md", report.markdown(results))
        except Exception: traceback.print_exc()  # a partial result must not stop the run

    with tempfile.TemporaryDirectory(prefix="ia2-bench-") as workdir:
        for name in models:
            result = results["per_model"].setdefault(name, {})
            try: run_model(name, args, profile, device, dtype, Path(workdir), result, save)
            except Exception as err:  # e.g. the model does not load: record it, go on with the next model
                traceback.print_exc()
                result.setdefault("errors", {})["load"] = f"{type(err).__name__}: {err}"
            save()
            if device == "cuda": torch.cuda.empty_cache()
    sweeps = {n: r["sections"]["scaling"] for n, r in results["per_model"].items() if "scaling" in r["sections"]}
    results["plot"] = (scaling.plot(sweeps, out / "scaling.png") or "scaling.png") if sweeps else "no scaling results"
    save()
    common.log(f"done in {results['wall_s']} s: {out / 'results.json'}, {out / 'RESULTS.md'}")
    print(report.table_text(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
