"""What things cost (issue 21, item 4): seconds per stage per cell from the committed records' stage profiles, and the
projected cost of each paper table and of the whole `paper` grid on 2 CPU cores and on one H100, unpacked and packed.

Reads only committed files (results/*/<model>/*.json, benchmarks/gpu/..., benchmarks/results.json, the grid YAML
files) and runs no model, so its output is the same byte for byte on any machine:

    python benchmarks/costs.py            # writes benchmarks/COSTS.md and the `costs` entry of benchmarks/costs.json

The cost model is small and explicit; every number it uses is printed beside its source, and every assumption is
listed in COSTS.md (`ASSUMPTIONS` below, plus the rates read from the files)."""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path: sys.path.insert(0, str(REPO))  # run from a checkout without installing ia2

from ia2.io import write_text_atomic  # noqa: E402
from ia2.methods import METHODS, PAPER_MAX_EPOCHS, method_id, needs_teacher  # noqa: E402

COMMAND = "python benchmarks/costs.py"
MODEL = "qwen2.5-coder-0.5b"  # the model of every committed record and of the `paper` grid
PACK_SIZES = (4, 16)
PACK_KEY = "packed_cells_per_hour_over_single_k{k}"  # issue 21's keys in a benchmark results.json
CPU_CONCURRENT_CELLS = 2  # 2 cores, one torch thread per cell, two cells side by side: how the CPU records were made
TRAIN_BATCH = 4  # per_device_train_batch_size = min(4, N) (CellConfig.training_config)
MAX_DEV = 48  # dev rows = min(48, N // 2) (ia2.data.split_run)
EVAL_EVERY = 2  # IA2Config.eval_steps: dev loss every 2 steps, and at every epoch end (DevSchedule)
HOUR = 3600.0


# ------------------------------------------------------------------------------------------------ reading records

@dataclass
class Phase:
    "One training phase of a record."
    objective: str
    steps: int
    reused: bool  # trained by another cell (ia2-sft's IA2 phase, taken from the ia2 cell)
    step_seconds: float | None = None  # optimizer steps only (DevSchedule's clock); None in records without timing
    evaluations: int | None = None  # dev-loss evaluations
    eval_seconds: float | None = None  # their total time


@dataclass
class Record:
    "What the costs need from one committed record."
    grid: str
    device: str
    dtype: str
    pack_size: int  # cells computed together (1: one at a time); a packed record's seconds are shared by its pack
    task: str
    n: int
    method: str
    run: int
    seconds: float
    eval_rows: int  # rows scored or generated in the evaluation stage, over the training task and its OOD tasks
    max_epochs: int
    eval_seconds: float = 0.0  # the result rows' eval_seconds, summed (the evaluation stage, in records without a profile)
    profile: dict[str, float] = field(default_factory=dict)  # stage -> seconds ({} in records written before profiles)
    phases: list[Phase] = field(default_factory=list)

    @property
    def on_cpu(self) -> bool:  # the CPU rates: cells computed one at a time (a packed record's seconds are its pack's)
        return self.device.startswith("cpu") and self.pack_size == 1

    @property
    def dev_rows(self) -> int: return dev_rows(self.n)

    def stages(self) -> dict[str, float]:
        "Seconds per stage: the profile, or (older records) the evaluation seconds of the result rows; plus the total."
        stages = dict(self.profile) if self.profile else ({f"eval:{self.method}": self.eval_seconds} if self.eval_seconds else {})
        return {**stages, "total": self.seconds}


def read_record(path: Path) -> Record:
    "The fields of a record file the costs use."
    raw = json.loads(path.read_text())
    cell, settings = raw["cell"], raw.get("config") or raw.get("settings") or {}
    max_epochs = settings.get("max_epochs") or (settings.get("training") or {}).get("num_train_epochs") or PAPER_MAX_EPOCHS
    phases = []
    for summary in (raw.get("training") or {}).values():
        for p in summary["phases"]:
            t = p.get("timing") or {}
            phases.append(Phase(p["objective"], int(p["steps"]), bool(p.get("reused", False)), t.get("step_seconds"),
                                t.get("evaluations"), t.get("eval_seconds")))
    results = raw.get("results") or []
    return Record(grid=raw["grid"], device=raw["environment"]["device"], dtype=str(raw["dtype"]).replace("torch.", ""),
                  pack_size=int((raw.get("pack") or {}).get("size", 1)),
                  task=cell["task"], n=int(cell["n"]), method=method_id(cell["method"]), run=int(cell["run"]),
                  seconds=float(raw["seconds"]), eval_rows=sum(int(r.get("eval_rows") or r.get("n") or 0) for r in results),
                  max_epochs=int(max_epochs), eval_seconds=round(sum(float(r.get("eval_seconds") or 0) for r in results), 3),
                  profile={k: float(v) for k, v in (raw.get("profile") or {}).items()}, phases=phases)


def read_records(results: Path) -> list[Record]:
    "Every finished record under results/<grid>/<model>/ (failure records left out), in path order."
    paths = sorted(p for p in results.glob("*/*/*.json") if not p.name.endswith(".failed.json"))
    if not paths: raise FileNotFoundError(f"no records under {results}/<grid>/<model>/*.json; pass --results")
    return [read_record(p) for p in paths]


# ------------------------------------------------------------------------------------------------ small helpers

def dev_rows(n: int) -> int: return min(MAX_DEV, n // 2)


def steps_per_epoch(n: int) -> int: return math.ceil(n / min(TRAIN_BATCH, n))


def max_steps(n: int, epochs: int = PAPER_MAX_EPOCHS) -> int: return epochs * steps_per_epoch(n)


def evaluations(steps: int, n: int) -> int:
    "Dev-loss evaluations in `steps` steps: every EVAL_EVERY steps and at each epoch end, once per step."
    spe = steps_per_epoch(n)
    return sum(1 for s in range(1, steps + 1) if s % EVAL_EVERY == 0 or s % spe == 0)


def median(values) -> float: return float(statistics.median(values))


def fmt(x: float | None, digits: int = 3) -> str:
    "A number with `digits` significant figures (no exponent for the sizes here); — for None."
    if x is None: return "—"
    if x == 0: return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"


def spread(values) -> str:
    "median (min–max); whole numbers (steps) as integers."
    values = sorted(values)
    show = (lambda x: f"{x:g}") if all(isinstance(v, int) for v in values) else fmt
    return show(median(values)) if values[0] == values[-1] else f"{show(median(values))} ({show(values[0])}–{show(values[-1])})"


# ------------------------------------------------------------------------------------------------ what was measured

def stage_table(records: list[Record]) -> list[dict]:
    "Seconds per stage per cell, grouped by (grid, device, dtype, task, N, method): cells, median, min, max."
    groups: dict[tuple, dict[str, list[float]]] = {}
    for r in records:
        stages = groups.setdefault((r.grid, r.device, r.dtype, r.task, r.n, r.method), {})
        for stage, seconds in r.stages().items(): stages.setdefault(stage, []).append(seconds)
    rows = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], k[3], k[4], k[5])):
        for stage in sorted(groups[key], key=lambda s: (s == "total", s)):
            v = groups[key][stage]
            rows.append(dict(zip(("grid", "device", "dtype", "task", "n", "method"), key), stage=stage, cells=len(v),
                             median=round(median(v), 3), min=min(v), max=max(v)))
    return rows


def step_table(records: list[Record]) -> list[dict]:
    "Per-step training seconds of every timed phase trained by its own cell, grouped like `stage_table` plus the objective."
    groups: dict[tuple, list[Phase]] = {}
    for r in records:
        for i, p in enumerate(r.phases):
            if p.reused or p.step_seconds is None or not p.steps: continue
            groups.setdefault((r.grid, r.device, r.dtype, r.task, r.n, r.method, i, p.objective), []).append(p)
    rows = []
    for key in sorted(groups):
        ps = groups[key]
        rows.append(dict(zip(("grid", "device", "dtype", "task", "n", "method", "phase", "objective"), key), cells=len(ps),
                         steps=[p.steps for p in ps], step_s=[p.step_seconds / p.steps for p in ps],
                         dev_eval_s=[p.eval_seconds / p.evaluations for p in ps if p.evaluations]))
    return rows


# ------------------------------------------------------------------------------------------------ unit rates

@dataclass
class Rates:
    "Unit costs of one device, each with the sentence saying where it comes from."
    name: str
    row_s: float  # one evaluated row without demonstrations (single-token: a forward)
    step_s: dict[str, float]  # objective -> one optimizer step
    dev_row_s: float  # one dev row in one dev-loss evaluation
    teacher_row_s: float  # one teacher row (single-token)
    data_s: float  # loading a cell's data
    concurrent: int  # cells that run side by side on the device
    prompt_tokens: float | None = None  # tokens up to which a row costs the same (GPU); None: cost grows with every example (CPU)
    teacher_tokens: float | None = None
    tokens_per_example: float | None = None
    generated_tokens_s: float | None = None  # multi-token generation rate (GPU)
    sources: list[str] = field(default_factory=list)

    def prompt_factor(self, examples: int, teacher: bool = False) -> float:
        "How much a row with `examples` examples in its prompt (N-1 demonstrations + the query) costs over one without."
        if self.prompt_tokens is None: return float(examples)
        limit = self.teacher_tokens if teacher else self.prompt_tokens
        return max(1.0, examples * self.tokens_per_example / limit)


OBJECTIVE_STAND_INS = {"tokl": "sft", "sft_icl": "sft", "joint": "ia2"}  # unmeasured objective -> the measured one charged for it


def cpu_rates(records: list[Record]) -> Rates:
    "CPU unit costs from the CPU records with stage profiles of single-token tasks."
    from ia2.tasks import get_task
    cpu = [r for r in records if r.on_cpu and r.dtype == "float32" and r.profile and not get_task(r.task).multi_token]  # the note: float32 rates
    if not cpu: raise ValueError("no CPU record with a stage profile of a single-token task; the CPU rates need one")
    trained = [r for r in cpu if r.method in METHODS]
    row_s = median(r.profile[f"eval:{r.method}"] / r.eval_rows for r in trained)
    steps = [(p.objective, p.step_seconds / p.steps) for r in trained for p in r.phases if not p.reused and p.step_seconds and p.steps]
    step_s = {o: median(s for obj, s in steps if obj == o) for o in sorted({o for o, _ in steps})}
    dev_row_s = median(p.eval_seconds / p.evaluations / r.dev_rows for r in trained for p in r.phases
                       if not p.reused and p.evaluations and r.dev_rows)
    teacher = [r.profile["teacher"] for r in trained if "teacher" in r.profile]
    grids = sorted({r.grid for r in cpu})
    desc = {(r.device, r.dtype) for r in cpu}
    return Rates(
        "2 CPU cores", row_s=row_s, step_s=step_s, dev_row_s=dev_row_s, teacher_row_s=row_s,
        data_s=median(r.profile["data"] for r in cpu), concurrent=CPU_CONCURRENT_CELLS,
        sources=[f"CPU records of {', '.join(grids)} ({len(cpu)} cells; {'; '.join(f'{d}, {t}' for d, t in sorted(desc))}), "
                 f"tasks {', '.join(sorted({r.task for r in cpu}))} at N = {', '.join(str(n) for n in sorted({r.n for r in cpu}))}",
                 f"evaluation row: median over {len(trained)} trained cells of eval:<method> / evaluation rows = {fmt(row_s)} s",
                 "optimizer step: median over phases trained by their own cell of step_seconds / steps = "
                 + ", ".join(f"{o} {fmt(s)} s" for o, s in step_s.items()),
                 f"dev row per dev-loss evaluation: median of eval_seconds / evaluations / dev rows = {fmt(dev_row_s)} s",
                 f"teacher row: as an evaluation row with the same prompt, {fmt(row_s)} s per example in it (one forward; the "
                 f"profiles' teacher stage, median {fmt(median(teacher))} s at N = 4, mostly reads the activation store, "
                 "which cells sharing (task, N, run) share)",
                 f"data: median of the data stage = {fmt(median(r.profile['data'] for r in cpu))} s"])


def _section(results: dict, model: str, *path):
    "A benchmark results.json's per-model section at `path`."
    node = results["per_model"][model]["sections"]
    for key in path: node = node[key]
    return node


def gpu_rates(gpu: dict, gpu_training: dict, cpu: Rates, model: str = MODEL) -> Rates:
    "H100 unit costs from the GPU benchmark (benchmarks/gpu/results.json; training step from its 20-repeat rerun)."
    ev = _section(gpu, model, "evaluation", "single_token")
    row_s = ev["times"]["last"]["median_s"] / ev["batch"]
    te = _section(gpu, model, "teacher", "single_token")
    teacher_row_s = te["times"]["ours"]["median_s"] / te["N"]
    tokens_per_example = te["prompt_tokens"]["mean"] / (te["demos_per_prompt"] + 1)
    tr = _section(gpu_training, model, "training", "G1")
    step_s = {o: tr["times"][o]["median_s"] for o in ("ia2", "sft")}
    gen = _section(gpu, model, "evaluation", "generation")
    machine = gpu["machine"]
    return Rates(
        "one H100", row_s=row_s, step_s=step_s, dev_row_s=row_s, teacher_row_s=teacher_row_s, data_s=cpu.data_s,
        concurrent=1, prompt_tokens=ev["prompt_tokens"]["mean"], teacher_tokens=te["prompt_tokens"]["mean"],
        tokens_per_example=tokens_per_example, generated_tokens_s=gen["tokens_per_s"]["batched"],
        sources=[f"benchmarks/gpu/results.json ({machine.get('gpu', machine.get('device', 'GPU'))}, {gpu['dtype']}, "
                 f"{gpu['weights']} weights, {model})",
                 f"evaluation row: score_next_token at batch {ev['batch']} on {fmt(ev['prompt_tokens']['mean'])}-token prompts, "
                 f"{fmt(ev['times']['last']['median_s'])} s per batch = {fmt(row_s)} s per row (also charged per dev row "
                 "in a dev-loss evaluation)",
                 f"teacher row: collect_teacher, G = 1, {te['N']} prompts of {fmt(te['prompt_tokens']['mean'])} tokens "
                 f"({te['demos_per_prompt']} demonstrations), {fmt(te['times']['ours']['median_s'])} s = {fmt(teacher_row_s)} s per row; "
                 f"{fmt(tokens_per_example)} tokens per example",
                 "optimizer step: benchmarks/gpu/training-20-repeats/results.json, batch 4, G = 1: "
                 + ", ".join(f"{o} {fmt(s)} s" for o, s in step_s.items()),
                 f"generation: generate_responses at batch {gen['batch']}: {fmt(gen['tokens_per_s']['batched'])} tokens/s",
                 f"data: the CPU records' median, {fmt(cpu.data_s)} s (loading rows is CPU work)"])


# ------------------------------------------------------------------------------------------------ training steps

STEP_RULES = {  # how a phase's observed steps carry over to an N no record has
    "observed": "the median steps observed at the nearest observed N, capped by the epoch limit at N",
    "proportional": "the median fraction of the epoch limit observed at the nearest observed N, times the limit at N",
}


@dataclass
class StepModel:
    "Optimizer steps of a phase at any N, from the phases the records trained."
    observed: dict[tuple, list[tuple[int, int]]]  # (multi_token, method, phase index, N) -> [(steps, epoch-limit steps)]
    rule: str = "observed"  # a key of STEP_RULES

    def __post_init__(self):
        if self.rule not in STEP_RULES: raise ValueError(f"unknown step rule {self.rule!r}; choose one of {list(STEP_RULES)}")

    def steps(self, multi: bool, method: str, phase: int, n: int, epochs: int = PAPER_MAX_EPOCHS) -> tuple[int, str]:
        "(steps, which observed phase and N they come from) for a phase at N; unmeasured methods take their stand-in's."
        objective = METHODS[method][phase]
        candidates = [(method, phase)] + ([(objective, 0)] if len(METHODS[method]) > 1 else []) \
            + ([(OBJECTIVE_STAND_INS[method], 0)] if method in OBJECTIVE_STAND_INS else [])
        for m, i in candidates:
            ns = sorted({k[3] for k in self.observed if k[:3] == (multi, m, i)})
            if ns:
                near = min(ns, key=lambda x: (abs(math.log2(x) - math.log2(n)), -x))  # nearest in log2 N, ties to the larger
                seen, limit = self.observed[(multi, m, i, near)], max_steps(n, epochs)
                if self.rule == "observed": steps = min(limit, round(median(s for s, _ in seen)))
                else: steps = round(median(s / lim for s, lim in seen) * limit)
                return max(1, steps), f"{m}[{i}]@N={near}"
        raise ValueError(f"no observed training phase for {method} ({'multi' if multi else 'single'}-token); "
                         "commit a record of it or of its stand-in")


def observed_steps(records: list[Record]) -> dict[tuple, list[tuple[int, int]]]:
    "(multi_token, method, phase index, N) -> (steps, epoch-limit steps) of each phase trained by its own cell."
    from ia2.tasks import get_task
    out: dict[tuple, list[tuple[int, int]]] = {}
    for r in records:
        if r.method not in METHODS: continue
        for i, p in enumerate(r.phases):
            if not p.reused: out.setdefault((get_task(r.task).multi_token, r.method, i, r.n), []).append((p.steps, max_steps(r.n, r.max_epochs)))
    return out


# ------------------------------------------------------------------------------------------------ one cell's cost

@dataclass(frozen=True)
class CellKey:
    "What a cell's cost depends on."
    task: str
    n: int
    method: str
    eval_rows: int  # per evaluation task
    ood: bool  # also evaluated on the task's OOD tasks
    similarity_rows: int
    reuses_first_phase: bool  # a sequential method whose first phase is another cell of the grid
    run: int = 0  # not a cost: lets a table keep some runs
    max_epochs: int = PAPER_MAX_EPOCHS  # the grid's epoch limit (training.num_train_epochs)


STAGES = ("data", "evaluation", "ICL gap", "teacher", "similarity", "optimizer steps", "dev-loss evaluations", "dev metrics")
TRAINING_STAGES = ("optimizer steps", "dev-loss evaluations", "recorded training")  # what benchmarks/packing.py packs


def _rows(key: CellKey) -> int:
    "Evaluation rows of a cell: eval_rows on the training task and on each OOD task."
    from ia2.tasks import get_task
    return key.eval_rows * (1 + (len(get_task(key.task).ood_tasks) if key.ood else 0))


def step_seconds(rates: Rates, objective: str) -> float:
    "One optimizer step of `objective` on a device: measured, or its stand-in's."
    for name in (objective, OBJECTIVE_STAND_INS.get(objective)):
        if name in rates.step_s: return rates.step_s[name]
    raise ValueError(f"{rates.name}: no measured step time for objective {objective!r} or its stand-in; "
                     f"measured: {sorted(rates.step_s)}")


def _training(key: CellKey, rates: Rates, step_model: StepModel, multi: bool) -> tuple[float, float]:
    "(optimizer-step seconds, dev-loss evaluation seconds) over the phases the cell trains itself."
    steps_s = dev_s = 0.0
    for i, objective in enumerate(METHODS[key.method]):
        if i == 0 and key.reuses_first_phase: continue
        steps, _ = step_model.steps(multi, key.method, i, key.n, key.max_epochs)
        steps_s += steps * step_seconds(rates, objective)
        dev_s += evaluations(steps, key.n) * dev_rows(key.n) * rates.dev_row_s
    return steps_s, dev_s


def cell_stages(key: CellKey, rates: Rates, step_model: StepModel,
                computes_teacher: bool = True,  # False: the training teacher records of its (task, N, run) are stored already
                computes_similarity: bool = True,  # False: the same for the similarity's held-out teacher records
                ) -> dict[str, float]:
    "Projected seconds per stage of one single-token cell on a device (the stages of `ia2.pipeline.run_cell`)."
    rows, n, dev = _rows(key), key.n, dev_rows(key.n)
    if key.method in ("base", "ICL"):
        factor = rates.prompt_factor(n) if key.method == "ICL" else 1.0
        return {"data": rates.data_s, "evaluation": rows * rates.row_s * factor}
    steps_s, dev_s = _training(key, rates, step_model, multi=False)
    teacher = rates.teacher_row_s * _teacher_factor(rates, n)  # one teacher row with its N - 1 demonstrations
    return {"data": rates.data_s, "evaluation": rows * rates.row_s,
            "ICL gap": dev * rates.row_s * (1 + rates.prompt_factor(n)),  # the dev rows without and with demonstrations
            "teacher": (n + dev) * teacher if needs_teacher([key.method]) and computes_teacher else 0.0,
            # its teacher (stored like the training one), then a forward of the base model and one of the adapter
            "similarity": key.similarity_rows * ((teacher if computes_similarity else 0.0) + 2 * rates.row_s),
            "optimizer steps": steps_s, "dev-loss evaluations": dev_s, "dev metrics": dev * rates.row_s}


def cell_seconds(key: CellKey, rates: Rates, step_model: StepModel, computes_teacher: bool = True,
                 computes_similarity: bool = True) -> float:
    "Projected seconds of one single-token cell on a device."
    return sum(cell_stages(key, rates, step_model, computes_teacher, computes_similarity).values())


def _teacher_factor(rates: Rates, n: int) -> float:
    "Teacher rows carry N-1 demonstrations: the CPU rate is per example, the GPU rate per row up to its prompt length."
    return float(n) if rates.prompt_tokens is None else rates.prompt_factor(n, teacher=True)


def gpu_multi_token_stages(key: CellKey, rates: Rates, step_model: StepModel, computes_teacher: bool = True) -> dict[str, float]:
    "Projected H100 seconds per stage of a multi-token cell: every generated row at the benchmark's batched rate, plus training."
    from ia2.tasks import get_task
    task, rows, n, dev = get_task(key.task), _rows(key), key.n, dev_rows(key.n)
    per_row = task.max_new_tokens / rates.generated_tokens_s
    if key.method in ("base", "ICL"): return {"data": rates.data_s, "evaluation": rows * per_row}
    steps_s, dev_s = _training(key, rates, step_model, multi=True)
    return {"data": rates.data_s, "evaluation": rows * per_row, "ICL gap": 2 * dev * per_row,
            "teacher": (n + dev) * task.teacher_max_new_tokens / rates.generated_tokens_s
                       if needs_teacher([key.method]) and computes_teacher else 0.0,
            "similarity": 0.0, "optimizer steps": steps_s, "dev-loss evaluations": dev_s, "dev metrics": dev * per_row}


# ------------------------------------------------------------------------------------------------ grids and tables

MODELLED_TRAINING = {"num_train_epochs", "protocol"}  # grid `training` keys the projection follows (protocol costs nothing)


def grid_keys(grid) -> list[CellKey]:
    "One CellKey per cell of a grid, in the runner's enumeration (`ia2.experiments.grid_cells`)."
    from ia2.experiments import grid_cells
    unknown = sorted(set(grid.settings.training) - MODELLED_TRAINING)
    if unknown: raise ValueError(f"grid {grid.name}: training keys {unknown} change the cost in ways costs.py does not model "
                                 f"(it models {sorted(MODELLED_TRAINING)}); extend cell_stages first")
    epochs = int(grid.settings.training.get("num_train_epochs", PAPER_MAX_EPOCHS))
    keys = []
    for _cell, group, run in grid_cells(grid):  # _cell is None for a run waiting for its chosen learning rate
        _model, task, n, method, _adapter = group
        twin = METHODS.get(method, ())
        keys.append(CellKey(task, n, method, grid.eval_rows, grid.ood, grid.similarity_rows if method != "base" else 0,
                            len(twin) > 1 and twin[0] in grid.methods, run, epochs))
    return keys


@dataclass
class Table:
    "A paper table or figure: the grid it reads and the part of it it needs."
    name: str
    grid: str  # a shipped grid's name
    needs: str  # which cells, in words
    methods: tuple[str, ...] | None = None  # None: every method of the grid
    n: tuple[int, ...] | None = None  # None: every N (the base model, N = 0, is kept whenever `base` is kept)
    runs: tuple[int, ...] | None = None  # None: every run


TABLES = [
    Table("Table 1 (single-token, in distribution and OOD)", "paper",
          "N = 4 and the base model; every method, task, learning rate and run", n=(4,)),
    Table("Table 8 (paired tests: IA2 → SFT vs SFT and ICL, every N)", "paper",
          "ICL, SFT, IA2 (whose adapter IA2 → SFT starts from) and IA2 → SFT at every N, task, learning rate and run "
          "(the single-token pairs; the multi-token ones come from Table 5's grid)",
          methods=("ICL", "sft", "ia2", "ia2-sft")),
    Table("Figure 4 (adapter subspace overlap)", "paper",
          "run 0 of SFT, IA2 and IA2 → SFT at every N, task and learning rate (the rate is chosen on run 0's dev rows)",
          methods=("sft", "ia2", "ia2-sft"), runs=(0,)),
    Table("Accuracy/ECE vs N, Figure 2, reliability diagrams", "paper", "every cell of the grid"),
    Table("Table 7 (LoRA targets and rank)", "lora-ablation",
          "SST-2, N = 8; SFT, IA2, IA2 → SFT; 4 adapters; 3 learning rates on run 0, runs 1–2 at the chosen one"),
    Table("Table 5 (multi-token)", "qwen-cpu-math",
          "GSM8K, N = 2; base, ICL, SFT, IA2, IA2 → SFT; the only multi-token grid shipped (the paper's Table 5 spans more "
          "tasks and N, with no grid here)"),
]


def table_keys(table: Table, grids: dict) -> list[CellKey]:
    "The cells a table needs."
    keys = grid_keys(grids[table.grid])
    return [k for k in keys if (table.methods is None or k.method in table.methods)
            and (table.n is None or k.n in table.n or k.method == "base") and (table.runs is None or k.run in table.runs)]


def load_grids(names) -> dict:
    "Shipped grids by name (ia2/resources/grids/<name>.yaml)."
    from ia2.config import load_grid
    return {name: load_grid(REPO / "ia2" / "resources" / "grids" / f"{name}.yaml") for name in names}


def measured_cpu_seconds(records: list[Record]) -> dict[tuple, list[dict[str, float]]]:
    "(task, N, method) -> per CPU record, its training seconds (the train:<method> stage) and the rest (multi-token cells are charged from these)."
    out: dict[tuple, list[dict[str, float]]] = {}
    for r in records:
        if r.on_cpu:
            training = sum(v for stage, v in r.profile.items() if stage.startswith("train:"))
            out.setdefault((r.task, r.n, r.method), []).append({"recorded training": training, "recorded other stages": r.seconds - training})
    return out


@dataclass
class Projection:
    "Cell-seconds of a list of cells per device, in all, per stage and per N."
    total: dict[str, float] = field(default_factory=lambda: {"cpu": 0.0, "h100": 0.0})
    by_stage: dict[str, dict[str, float]] = field(default_factory=lambda: {"cpu": {}, "h100": {}})
    by_n: dict[int, dict[str, float]] = field(default_factory=dict)
    cells_by_n: dict[int, int] = field(default_factory=dict)

    def add(self, device: str, n: int, stages: dict[str, float]):
        seconds = sum(stages.values())
        self.total[device] += seconds
        for stage, s in stages.items(): self.by_stage[device][stage] = self.by_stage[device].get(stage, 0.0) + s
        self.by_n.setdefault(n, {"cpu": 0.0, "h100": 0.0})[device] += seconds


def project(keys: list[CellKey], cpu: Rates, gpu: Rates, step_model: StepModel, measured_cpu: dict) -> Projection:
    "Cell-seconds of a list of cells on each device."
    from ia2.tasks import get_task
    out, stored = Projection(), set()
    for k in keys:
        out.cells_by_n[k.n] = out.cells_by_n.get(k.n, 0) + 1
        # the first cell of a (task, N, run) that needs teacher records computes them; the others read the store
        teacher, similarity = ("teacher", k.task, k.n, k.run), ("similarity", k.task, k.n, k.run)
        computes = k.method in METHODS and needs_teacher([k.method]) and teacher not in stored
        computes_similarity = k.method in METHODS and k.similarity_rows > 0 and similarity not in stored
        stored |= {t for t, new in ((teacher, computes), (similarity, computes_similarity)) if new}
        if get_task(k.task).multi_token:
            seconds = measured_cpu.get((k.task, k.n, k.method))
            if seconds is None: raise ValueError(f"no CPU record of a multi-token cell {k.task} N={k.n} {k.method} to charge it from")
            out.add("cpu", k.n, {part: median(cell[part] for cell in seconds) for part in seconds[0]})
            out.add("h100", k.n, gpu_multi_token_stages(k, gpu, step_model, computes))
        else:
            out.add("cpu", k.n, cell_stages(k, cpu, step_model, computes, computes_similarity))
            out.add("h100", k.n, cell_stages(k, gpu, step_model, computes, computes_similarity))
    return out


# ------------------------------------------------------------------------------------------------ packing factors

def packed_factor(results: dict | None, k: int, device: str, model: str = MODEL) -> tuple[float | None, str]:
    "A measured packing speed-up (cells per hour packed over single) at K on `device` ('cpu' or 'cuda'), and its key; None when absent."
    if results is None: return None, "file absent"
    machine = (results.get("machine") or {}).get("device")
    if machine is not None and machine != device: return None, f"its machine is {machine}, not {device}"
    key = PACK_KEY.format(k=k)
    if device == "cpu":  # benchmarks/packing.py's runs: this model in float32 (the CPU records' dtype), its CPU-hour ratio, worst N
        cpu_key = f"packed_cells_per_cpu_hour_over_single_k{k}"
        runs = [r for r in results.get("packing_runs") or [] if r.get("model") == model and r.get("dtype") == "float32" and cpu_key in r]
        if runs: return float(min(r[cpu_key] for r in runs)), f"packing_runs[{model}, float32].{cpu_key} (worst N)"
    by_model = (results.get("keys_by_model") or {}).get(key)
    if isinstance(by_model, dict) and isinstance(by_model.get(model), (int, float)): return float(by_model[model]), f"keys_by_model.{key}.{model}"
    if isinstance(results.get(key), (int, float)): return float(results[key]), key
    return None, f"{key} absent"


def packed_seconds(by_stage: dict[str, float], factor: float | None) -> float | None:
    "Seconds with the training stages sped up by a measured packing factor (the factor measures training only); None without one."
    if factor is None: return None
    return sum(s / factor if stage in TRAINING_STAGES else s for stage, s in by_stage.items())


def packed_text(hours: float | None) -> str: return "not measured" if hours is None else fmt(hours)


# ------------------------------------------------------------------------------------------------ the report

ASSUMPTIONS = [
    "A cell's stages are those of `ia2.pipeline.run_cell`: data; for base and ICL one evaluation; for a trained method "
    "the ICL gap (the dev rows without and with N − 1 demonstrations), the teacher (methods training on the ICL teacher: "
    "ia2, tokl, sft_icl, joint, ia2-sft), the activation similarity (when the grid sets similarity_rows: the teacher on "
    "those held-out queries plus two forwards over them), each phase's optimizer steps and dev-loss evaluations, the "
    "evaluation and the dev metrics. Model loading (once per process) and writing records are left out.",
    "Evaluation rows per cell = eval_rows × (1 + the task's OOD tasks) (`ood: true`, the default); dev rows = min(48, N // 2).",
    "A row's cost grows with the examples in its prompt (N − 1 demonstrations + the query; ICL evaluation, ICL gap, "
    "teacher): on the CPU in proportion to them (one evaluation row without demonstrations is one example); on the H100 a "
    "row costs the benchmark's per-row time up to the benchmark's prompt length and grows in proportion beyond it. "
    "Every task is charged SST-2's tokens per example (the benchmark's prompts); FinSen, AG News, SciQ and StrategyQA "
    "examples are longer, so ICL and teacher costs are low for them.",
    "Training steps: a phase's steps at N are the median steps observed at the nearest observed N (in log2 N; ties go "
    "to the larger N), capped by the epoch limit at N (50 epochs × ⌈N / min(4, N)⌉ steps). Early stopping at large N is "
    "thus extrapolated from N = 4 and 16 (the records hold no larger N); the alternative rule, steps growing with the "
    "limit, is given beside it. Unmeasured methods take a measured one's steps and step time: tokl and sft_icl as sft, "
    "joint as ia2.",
    "Dev-loss evaluations: every 2 steps and at each epoch end (IA2Config.eval_steps = 2, DevSchedule), each over the dev rows.",
    "IA2 → SFT reuses the IA2 cell's adapter when the grid holds the ia2 method (as `ia2 run` does), so it pays only its "
    "SFT phase; tables that need IA2 → SFT include the IA2 cells.",
    "The teacher's records are computed once per (task, N, run): `collect_teacher` keys its store by the model and the "
    "prompts, which every cell of a (task, N, run) shares (the split and demonstrations are seeded by the run), so the first "
    "cell that needs them pays the forwards and the others read the store, charged nothing (on the H100 reading took "
    "1/44 of computing, benchmarks/gpu). The same holds for the similarity's held-out teacher records.",
    "2 CPU cores: two cells side by side, one torch thread each, as the CPU records were made, so hours = cell-seconds / 2. "
    "The CPU rates come from float32 records (qwen-cpu-lora) made on a CPU with native bf16 beside other jobs; a slower "
    "or busier CPU scales them. The `paper` grid's dtype is auto, which picks bf16 on such a CPU; that speed-up is not applied.",
    "One H100: one cell at a time (no processes side by side), bf16, the benchmark's times (random weights, same shapes "
    "and work). The benchmark times the model's work only: Trainer and Python overhead per step are not in it, which the "
    "measured qwen-cpu cells below show.",
    "Multi-token cells (Table 5): on the CPU each cell costs the median training stage plus the median of the other stages "
    "of its committed CPU records (the grid is the committed one); on the H100 every generated row costs the task's max_new_tokens at the benchmark's batched "
    "generation rate (an upper bound: answers that stop early cost less), plus training at the benchmark's step time.",
    "Packed: the training stages (optimizer steps and dev-loss evaluations) divided by the measured packing speed-up at K "
    "(`packed_cells_per_hour_over_single_k{K}`, which benchmarks/packing.py measures on training alone), the other stages "
    "unchanged (packed evaluation is not in that measurement). Where no such measurement is committed the column says "
    "'not measured'; no factor is assumed.",
]


def _hours_or_none(seconds: float | None, rates: Rates) -> float | None:
    return None if seconds is None else round(seconds / rates.concurrent / HOUR, 3)


def charged_steps(grid, step_model: StepModel) -> list[dict]:
    "The optimizer steps charged to each phase a trained method of `grid` trains itself, per N, and where they come from."
    keys = {(k.method, k.reuses_first_phase, k.max_epochs) for k in grid_keys(grid) if k.method in METHODS}
    rows = []
    for method, reuses, epochs in sorted(keys):
        for i, objective in enumerate(METHODS[method]):
            if i == 0 and reuses: continue
            charged = {n: step_model.steps(False, method, i, n, epochs) for n in grid.n}
            rows.append({"method": method, "phase": i, "objective": objective, "steps": {str(n): c[0] for n, c in charged.items()},
                         "from": sorted({c[1] for c in charged.values()})})
    return rows


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def build(results: Path, gpu_path: Path, gpu_training_path: Path, bench_path: Path) -> tuple[str, dict]:
    "COSTS.md's text and the `costs` JSON entry, from committed files only."
    records = read_records(results)
    gpu = json.loads(gpu_path.read_text())
    gpu_training = json.loads(gpu_training_path.read_text())
    bench = json.loads(bench_path.read_text()) if bench_path.exists() else None
    cpu, steps_seen = cpu_rates(records), observed_steps(records)
    step_model = StepModel(steps_seen)
    h100 = gpu_rates(gpu, gpu_training, cpu)
    measured = measured_cpu_seconds(records)
    grids = load_grids(sorted({t.grid for t in TABLES} | {"qwen-cpu", "qwen-cpu-lora"}))
    factors = {"cpu": {k: packed_factor(bench, k, "cpu") for k in PACK_SIZES},
               "h100": {k: packed_factor(gpu, k, "cuda") for k in PACK_SIZES}}
    rates = {"cpu": cpu, "h100": h100}

    def hours(seconds: dict[str, float]) -> dict[str, float]:
        return {d: seconds[d] / rates[d].concurrent / HOUR for d in seconds}

    projections = []
    for table in TABLES + [Table("The whole `paper` grid", "paper", "every cell")]:
        keys = table_keys(table, grids)
        whole = project(keys, cpu, h100, step_model, measured)
        h = hours(whole.total)
        projections.append({"table": table.name, "grid": table.grid, "needs": table.needs, "cells": len(keys),
                            **{f"{d}_hours": round(h[d], 3) for d in h},
                            **{f"{d}_packed_k{k}_hours": _hours_or_none(packed_seconds(whole.by_stage[d], factors[d][k][0]), rates[d])
                               for d in h for k in PACK_SIZES}})

    # checks against what the committed grids took
    checks = []
    lora = [r for r in records if r.grid == "qwen-cpu-lora"]
    if lora:
        h = hours(project(grid_keys(grids["qwen-cpu-lora"]), cpu, h100, step_model, measured).total)
        checks.append({"grid": "qwen-cpu-lora", "device": "cpu", "cells": len(lora), "projected_hours": round(h["cpu"], 3),
                       "measured_hours": round(sum(r.seconds for r in lora) / CPU_CONCURRENT_CELLS / HOUR, 3),
                       "note": "the CPU rates come from these records, so this checks the composition, not the rates; "
                               "the projection charges medians, and the records' times are right-skewed (a busy machine), "
                               "so their sum exceeds cells × median"})
    on_gpu = [r for r in records if r.grid == "qwen-cpu" and not r.on_cpu]
    if on_gpu:
        g = grids["qwen-cpu"]
        keys = [CellKey(r.task, r.n, r.method, g.eval_rows, g.ood, g.similarity_rows if r.method != "base" else 0,
                        len(METHODS.get(r.method, ())) > 1 and any(p.reused for p in r.phases), r.run) for r in on_gpu]
        checks.append({"grid": "qwen-cpu", "device": "h100", "cells": len(on_gpu),
                       "projected_hours": round(project(keys, cpu, h100, step_model, measured).total["h100"] / HOUR, 3),
                       "measured_hours": round(sum(r.seconds for r in on_gpu) / HOUR, 3),
                       "note": "measured: the records' seconds summed, float32, 6 processes side by side on one H100, "
                               "which took about 5 minutes of wall time in all (results/README.md); projected: bf16 "
                               "benchmark times, one cell at a time"})

    paper_grid = {  # where the whole paper grid's hours go (`whole` is its projection, the last of the loop)
        "by_stage": [{"stage": stage, **{f"{d}_hours": round(whole.by_stage[d].get(stage, 0.0) / rates[d].concurrent / HOUR, 3)
                                         for d in rates}} for stage in STAGES],
        "by_n": [{"n": n, "cells": whole.cells_by_n[n], **{f"{d}_hours": round(h, 3) for d, h in hours(whole.by_n[n]).items()}}
                 for n in sorted(whole.by_n)]}
    paper_grid["steps"] = charged_steps(grids["paper"], step_model)
    proportional = project(grid_keys(grids["paper"]), cpu, h100, StepModel(steps_seen, "proportional"), measured)
    paper_grid["proportional_steps_hours"] = {d: round(h, 3) for d, h in hours(proportional.total).items()}
    stages, steps = stage_table(records), step_table(records)
    entry = {"command": COMMAND, "projections": projections, "paper_grid": paper_grid, "checks": checks,
             "rates": {d: {"row_s": r.row_s, "step_s": r.step_s, "dev_row_s": r.dev_row_s, "teacher_row_s": r.teacher_row_s,
                           "data_s": r.data_s, "concurrent_cells": r.concurrent, "sources": r.sources} for d, r in rates.items()},
             "packed_factors": {d: {f"k{k}": {"factor": f, "source": s} for k, (f, s) in v.items()} for d, v in factors.items()},
             "observed_steps": {f"{'multi' if k[0] else 'single'}|{k[1]}|{k[2]}|N={k[3]}": [list(x) for x in v]
                                for k, v in sorted(steps_seen.items())},
             "stages": stages, "assumptions": ASSUMPTIONS}
    return render(entry, steps, factors), json.loads(json.dumps(entry, sort_keys=True))


def render(entry: dict, steps: list[dict], factors: dict) -> str:
    "COSTS.md from the `costs` entry."
    out = ["# What things cost", "",
           f"Generated by `{COMMAND}` from committed files only (records under `results/`, `benchmarks/gpu/`, "
           "`benchmarks/results.json`, the grids in `ia2/resources/grids/`); do not edit by hand. The same numbers are "
           "the `costs` entry of `benchmarks/costs.json`.", "",
           "## Projected cost of each paper table and of the `paper` grid", "",
           "Hours of wall time. 2 CPU cores: two cells side by side; one H100: one cell at a time. Packed: K adapters per "
           "pack, training sped up by the measured packing speed-up at K (issue 21), the other stages as unpacked.", ""]
    header = ["table", "grid", "cells", "2 CPU cores", *[f"CPU packed K={k}" for k in PACK_SIZES], "one H100",
              *[f"H100 packed K={k}" for k in PACK_SIZES]]
    rows = []
    for p in entry["projections"]:
        rows.append([p["table"], f"`{p['grid']}`", f"{p['cells']:,}", fmt(p["cpu_hours"]),
                     *[packed_text(p[f"cpu_packed_k{k}_hours"]) for k in PACK_SIZES], fmt(p["h100_hours"]),
                     *[packed_text(p[f"h100_packed_k{k}_hours"]) for k in PACK_SIZES]])
    out += md_table(header, rows) + [""]
    whole = entry["projections"][-1]
    out += [f"The whole `paper` grid ({whole['cells']:,} cells): {fmt(whole['cpu_hours'])} hours on 2 CPU cores "
            f"({fmt(whole['cpu_hours'] / 24)} days), {fmt(whole['h100_hours'])} hours on one H100.", ""]
    out += ["What each needs:", ""] + [f"- **{p['table']}**: {p['needs']}." for p in entry["projections"]] + [""]
    if "paper_grid" in entry:
        pg = entry["paper_grid"]
        out += ["Where the `paper` grid's hours go, per stage (unpacked):", ""]
        cpu_all, gpu_all = (sum(r[f"{d}_hours"] for r in pg["by_stage"]) for d in ("cpu", "h100"))
        out += md_table(["stage", "2 CPU cores, hours", "share", "one H100, hours", "share"],
                        [[r["stage"], fmt(r["cpu_hours"]), f"{100 * r['cpu_hours'] / cpu_all:.1f}%", fmt(r["h100_hours"]),
                          f"{100 * r['h100_hours'] / gpu_all:.1f}%"] for r in pg["by_stage"]]) + [""]
        out += ["The ICL gap needs only the base model and the dev rows of its (task, N, run), yet every trained cell "
                "computes it again (`ia2.pipeline.run_cell`); computing it once per (task, N, run), as the teacher's records "
                "are, would save nearly all of its hours. Dev-loss evaluations and optimizer steps are per adapter: "
                "packing is what can share them.", ""]
        out += ["And per N (N = 0 is the base model):", ""]
        out += md_table(["N", "cells", "2 CPU cores, hours", "one H100, hours"],
                        [[str(r["n"]), f"{r['cells']:,}", fmt(r["cpu_hours"]), fmt(r["h100_hours"])] for r in pg["by_n"]]) + [""]
    out += ["Packing speed-ups read: " + "; ".join(
        f"{'2 CPU cores' if d == 'cpu' else 'H100'} K={k}: {fmt(f) if f is not None else 'not measured'} "
        f"({'benchmarks/results.json' if d == 'cpu' else 'benchmarks/gpu/results.json'}: {s})"
        for d, v in factors.items() for k, (f, s) in v.items()) + ".", ""]

    out += ["## Checks against committed grids", "",
            "The same model applied to grids whose records are committed, beside the hours those records took.", ""]
    out += md_table(["grid", "device", "cells", "projected hours", "measured hours", "note"],
                    [[f"`{c['grid']}`", c["device"], str(c["cells"]), fmt(c["projected_hours"]), fmt(c["measured_hours"]), c["note"]]
                     for c in entry["checks"]]) + [""]

    out += ["## Unit costs used", ""]
    for d, r in entry["rates"].items():
        out += [f"**{'2 CPU cores' if d == 'cpu' else 'One H100'}**", ""] + [f"- {s}" for s in r["sources"]] + [""]
    out += ["Observed optimizer steps per method, phase and N (phases trained by their own cell, all records), and as a "
            "fraction of the epoch limit (the grid's epochs × ⌈N / min(4, N)⌉ steps):", ""]
    out += md_table(["tasks", "method", "phase", "N", "phases", "steps", "limit", "fraction of the limit"],
                    [[*k.split("|")[:3], k.split("|")[3][2:], str(len(v)), spread([s for s, _ in v]), spread([lim for _, lim in v]),
                      spread([s / lim for s, lim in v])] for k, v in entry["observed_steps"].items()]) + [""]

    if "paper_grid" in entry:
        ns = list(entry["paper_grid"]["steps"][0]["steps"]) if entry["paper_grid"]["steps"] else []
        out += [f"Optimizer steps charged per phase in the `paper` grid (the phases each cell trains itself): "
                f"{STEP_RULES['observed']}; `m[i]@N=n` names the observed phase and N used.", ""]
        out += md_table(["method", "phase", *[f"N={n}" for n in ns], "from"],
                        [[r["method"], f"{r['phase']} ({r['objective']})", *[f"{r['steps'][n]:,}" for n in ns], ", ".join(r["from"])]
                         for r in entry["paper_grid"]["steps"]]) + [""]
        alt = entry["paper_grid"]["proportional_steps_hours"]
        seen: dict[str, dict[int, list[int]]] = {}
        for k, v in entry["observed_steps"].items():
            kind, method, phase, n = k.split("|")
            if kind == "single": seen.setdefault(f"{method}[{phase}]", {})[int(n[2:])] = [steps for steps, _ in v]
        moves = "; ".join(f"{m} " + ", ".join(f"{spread(v)} at N = {n}" for n, v in sorted(by_n.items()))
                          for m, by_n in seen.items() if len(by_n) > 1)
        top = max(n for by_n in seen.values() for n in by_n)
        out += [f"The records hold no single-token N above {top}, so how early stopping behaves at large N is the "
                f"projection's largest unknown. Median observed steps: {moves}. Had steps instead grown with the limit "
                f"({STEP_RULES['proportional']}), the whole `paper` grid would take {fmt(alt['cpu'])} hours on 2 CPU cores "
                f"and {fmt(alt['h100'])} hours on one H100.", ""]
    out += ["## Assumptions", ""] + [f"{i}. {a}" for i, a in enumerate(entry["assumptions"], 1)] + [""]

    out += ["## Seconds per stage per cell, as recorded", "",
            "Median (min–max) over the cells of each group. Records written before stage profiles (most of `qwen-cpu`) "
            "give only their evaluation seconds (the result rows' `eval_seconds`) and total.", ""]
    groups: dict[tuple, list[dict]] = {}
    for s in entry["stages"]: groups.setdefault(tuple(s[k] for k in ("grid", "device", "dtype", "task", "n", "method")), []).append(s)
    rows = []
    for key, ss in groups.items():
        cells = max(s["cells"] for s in ss)
        stage_text = "; ".join(f"{s['stage']} {fmt(s['median']) if s['min'] == s['max'] else spread_from(s)}" for s in ss)
        rows.append([f"`{key[0]}`", key[1], key[2], key[3], str(key[4]), key[5], str(cells), stage_text])
    out += md_table(["grid", "device", "dtype", "task", "N", "method", "cells", "seconds per stage"], rows) + [""]

    out += ["## Per-step training seconds, as recorded", "",
            "Phases with a timing that their own cell trained (not IA2 → SFT's reused IA2 phase): optimizer-step seconds "
            "(`step_seconds / steps`, without dev evaluations) and seconds per dev-loss evaluation.", ""]
    out += md_table(["grid", "device", "dtype", "task", "N", "method", "phase", "cells", "steps", "s per step", "s per dev evaluation"],
                    [[f"`{s['grid']}`", s["device"], s["dtype"], s["task"], str(s["n"]), s["method"], f"{s['phase']} ({s['objective']})",
                      str(s["cells"]), spread(s["steps"]), spread(s["step_s"]), spread(s["dev_eval_s"]) if s["dev_eval_s"] else "—"]
                     for s in steps]) + [""]
    return "\n".join(out)


def spread_from(s: dict) -> str: return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def merge_json(path: Path, entry: dict):
    "Put `entry` under the key `costs` of the JSON file at `path`, keeping its other keys."
    data = json.loads(path.read_text()) if path.exists() else {}
    data["costs"] = entry
    write_text_atomic(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "results", help="folder of grid records")
    parser.add_argument("--gpu", type=Path, default=REPO / "benchmarks" / "gpu" / "results.json", help="H100 benchmark")
    parser.add_argument("--gpu-training", type=Path, default=REPO / "benchmarks" / "gpu" / "training-20-repeats" / "results.json",
                        help="H100 training-step benchmark (20 repeats)")
    parser.add_argument("--bench", type=Path, default=REPO / "benchmarks" / "results.json", help="CPU benchmark (packing keys)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks", help="where COSTS.md and costs.json go")
    args = parser.parse_args(argv)
    text, entry = build(args.results, args.gpu, args.gpu_training, args.bench)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(text, args.out / "COSTS.md")
    merge_json(args.out / "costs.json", entry)
    print(f"wrote {args.out / 'COSTS.md'} and the costs entry of {args.out / 'costs.json'}")


if __name__ == "__main__":
    main()
