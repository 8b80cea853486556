"""Shared helpers of the benchmarks: importing ia2 without optional packages, timing, peak memory, machine facts,
models (real or random weights), SST-2 prompts and atomic writes."""
from __future__ import annotations

import ctypes
import gc
import importlib.machinery
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path: sys.path.insert(0, str(REPO))  # the GPU machine runs the tree without installing ia2

# ---------------------------------------------------------------- importing ia2

_OPTIONAL = ("datasets", "pandas")  # imported by ia2.data / ia2.tasks at module level, never used by the benchmarked code


class _Missing:
    "Placeholder for any name of a package that is not installed: using it raises."
    def __init__(self, *args, **kwargs):
        raise ModuleNotFoundError(f"{type(self).__module__} is not installed (benchmark stub)")


def _stub(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # find_spec works; no version, no file: "not installed"

    def __getattr__(attr):
        if attr.startswith("__"): raise AttributeError(attr)
        return type(attr, (_Missing,), {"__module__": name})
    module.__getattr__ = __getattr__
    return module


def import_ia2() -> list[str]:
    """Import the ia2 modules the benchmarks use; returns the optional packages replaced by stubs.

    ia2.evaluation imports ia2.data, which imports `datasets` (and ia2.tasks imports `pandas`) at module level. The
    GPU image lacks `datasets`, so a missing optional package becomes a stub whose every name raises when used; the
    benchmarked functions never touch them. transformers, its Trainer, peft and accelerate are imported first so
    that their "is X available" checks see the real environment."""
    import accelerate  # noqa: F401
    import peft  # noqa: F401
    import transformers
    import transformers.trainer  # noqa: F401
    transformers.logging.set_verbosity_error()
    stubbed = []
    for name in _OPTIONAL:
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = _stub(name)
            stubbed.append(name)
    import ia2.activations, ia2.data, ia2.evaluation, ia2.hooks, ia2.models, ia2.tasks, ia2.trainers  # noqa: E401,F401
    return stubbed

# ---------------------------------------------------------------- timing


def sync(device) -> None:
    "Wait for queued GPU work, so wall-clock times cover it."
    if torch.device(device).type == "cuda": torch.cuda.synchronize()


def timed(fn, device) -> tuple[float, object]:
    "Seconds `fn()` takes (GPU work included) and its result."
    return timed_cpu(fn, device)[0], timed_cpu.last_result


def timed_cpu(fn, device) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds of `fn()` (its result in `timed_cpu.last_result`). With one torch
    thread on a CPU, CPU seconds are what the call costs even when other jobs share the cores (wall time then also
    counts the time slices given to them)."""
    sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    timed_cpu.last_result = fn()
    sync(device)
    return time.perf_counter() - start, time.process_time() - cpu


def measure(fns: dict, device, repeats: int, warmup: dict | None = None, after=None) -> dict[str, dict]:
    """Warm each callable up once (with `warmup[name]` when given), then time `repeats` rounds that call every
    callable in turn (interleaved, so drift of a shared machine hits all alike); median and all runs per name, in
    wall seconds and in CPU seconds of this process (see `cost`). `after(name, result)` runs untimed after each call."""
    for name, fn in fns.items():
        result = (warmup or {}).get(name, fn)()
        if after: after(name, result)
    runs, cpu = {name: [] for name in fns}, {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            seconds, cpu_seconds = timed_cpu(fn, device)
            runs[name].append(round(seconds, 4))
            cpu[name].append(round(cpu_seconds, 4))
            if after: after(name, timed_cpu.last_result)
    return {name: {"median_s": round(statistics.median(r), 4), "runs_s": r,
                   "cpu_median_s": round(statistics.median(cpu[name]), 4), "cpu_runs_s": cpu[name]} for name, r in runs.items()}


def cost(entry: dict) -> float:
    """The seconds a ratio is computed from: CPU seconds when torch runs one thread on the CPU (robust to other jobs
    on a shared machine), else wall seconds (several threads, or a GPU)."""
    if torch.get_num_threads() == 1 and entry.get("cpu_median_s") and not torch.cuda.is_available():
        return entry["cpu_median_s"]
    return entry["median_s"]

# ---------------------------------------------------------------- peak memory

_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def _mallopt(threshold: int, trim: bool = False) -> None:
    "Fix glibc's mmap threshold; `trim` also hands free heap pages back (malloc_trim), so reusing them shows in RSS."
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, threshold)
        if trim: libc.malloc_trim(0)
    except (OSError, AttributeError): pass


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"): return int(line.split()[1])
    raise KeyError(key)


CPU_MEMORY_METHOD = ("peak resident set size (VmHWM, reset through /proc/self/clear_refs) minus the RSS before the "
                     "call; free heap pages are handed back first (malloc_trim) and glibc's mmap threshold is fixed at "
                     "64 KiB during the call, so tensors allocated in the call show up in RSS")
CUDA_MEMORY_METHOD = "torch.cuda.max_memory_allocated() after reset_peak_memory_stats(), minus memory_allocated() before"


def peak_memory(fn, device) -> tuple[int, object]:
    "Peak bytes allocated while `fn()` runs, above what was allocated before it (see the *_MEMORY_METHOD texts)."
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        result = fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base, result
    _mallopt(64 << 10, trim=True)
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        base = _status_kib("VmRSS")
        result = fn()
        return (_status_kib("VmHWM") - base) << 10, result
    finally:
        _mallopt(32 << 20)  # a fixed threshold near glibc's dynamic maximum for the timed runs


def memory_method(device) -> str:
    return CUDA_MEMORY_METHOD if torch.device(device).type == "cuda" else CPU_MEMORY_METHOD

# ---------------------------------------------------------------- machine


def _git(*args) -> str | None:
    try: return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError): return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"): return line.split(":", 1)[1].strip()
    except OSError: pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try: return round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20, 1)
    except (OSError, IndexError, ValueError): return None


def machine_info(device, commit: str | None = None) -> dict:
    "Where and with what the benchmark ran (`commit`: the git commit, where the tree has no .git)."
    import peft
    import transformers
    commit = _git("rev-parse", "HEAD") or commit
    info = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "host": platform.node(), "cpu": _cpu_model(),
            "cpu_cores": len(os.sched_getaffinity(0)), "ram_gib": _ram_gib(), "load_average_at_start": os.getloadavg(),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "peft": peft.__version__, "device": str(device),
            "git_commit": commit, "git_dirty": bool(_git("status", "--porcelain")) if _git("rev-parse", "HEAD") else None}
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return info


def auto_threads() -> int:
    "Torch threads for the CPU: the cores not busy with other work (1-min load average), at least one."
    cores = len(os.sched_getaffinity(0))
    return max(1, min(cores, round(cores - os.getloadavg()[0])))

# ---------------------------------------------------------------- models


@dataclass
class LoadedModel:
    "A benchmark model, its tokenizer and how it was made."
    name: str
    model: torch.nn.Module
    tokenizer: object
    weights: str  # 'real' or 'random'
    source: str  # where config (and weights) came from
    num_layers: int
    hidden_size: int
    vocab_size: int
    parameters: int


def load_bench_model(name: str, device, dtype, random_weights: bool = False, model_dir: str | Path | None = None,
                     seed: int = 0) -> LoadedModel:
    """The model `name`: real weights through `ia2.models.load_model`, or (`random_weights`) the same architecture
    from its `config.json` with random initialisation and the real tokenizer. `model_dir/name` holds the files when
    given, else ia2's model cache."""
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig
    from ia2.hooks import find_attention_blocks
    from ia2.models import BUILTIN_MODELS, cache_dir, load_model, load_tokenizer
    folder = Path(model_dir) / name if model_dir else None
    if folder is None and name not in BUILTIN_MODELS: folder = Path(name)
    if random_weights:
        folder = folder or cache_dir() / "models" / name
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder}/config.json not found; --random-weights needs the model's config.json "
                                    "and tokenizer files (see benchmarks/export_inputs.py)")
        config = AutoConfig.from_pretrained(folder)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            with torch.device(device):
                model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        if (folder / "generation_config.json").is_file(): model.generation_config = GenerationConfig.from_pretrained(folder)
        model = model.to(device).eval()
        find_attention_blocks(model)
        tokenizer, source = load_tokenizer(folder), str(folder)
    else:
        model, tokenizer = load_model(folder or name, dtype=dtype, device=device)
        source = str(folder or cache_dir() / "models" / name)
    config = model.config.get_text_config()
    return LoadedModel(name, model, tokenizer, "random" if random_weights else "real", source,
                       len(find_attention_blocks(model)), config.hidden_size, config.vocab_size,
                       sum(p.numel() for p in model.parameters()))


@contextmanager
def exact_length(model, tokenizer):
    """Make greedy generation produce exactly `max_new_tokens`: EOS ids are suppressed through the model's
    generation config (generate, `teacher_batch` and `generate_responses` all read it). Yields the suppressed ids."""
    config = model.generation_config
    eos = config.eos_token_id
    ids = sorted({*([eos] if isinstance(eos, int) else list(eos or [])), tokenizer.eos_token_id} - {None})
    old = config.suppress_tokens
    config.suppress_tokens = ids
    try: yield ids
    finally: config.suppress_tokens = old

# ---------------------------------------------------------------- prompts


def data_dir(arg: str | None) -> Path:
    "The data directory: --data-dir, else $IA2_DATA_DIR."
    raw = arg or os.environ.get("IA2_DATA_DIR")
    if not raw: raise FileNotFoundError("no data: pass --data-dir or set IA2_DATA_DIR to a folder holding sst2/train.jsonl")
    path = Path(raw).expanduser()
    if not (path / "sst2" / "train.jsonl").is_file(): raise FileNotFoundError(f"{path}/sst2/train.jsonl not found")
    return path


def sst2_examples(root: Path, count: int) -> list:
    "The first `count` rows of SST-2's train split as ia2 `Example`s (read straight from the jsonl)."
    from ia2.tasks import format_example, get_task
    task, rows = get_task("sst2"), []
    with open(root / "sst2" / "train.jsonl") as f:
        for index, line in enumerate(f):
            if len(rows) == count: break
            rows.append(format_example(task, json.loads(line), index))
    if len(rows) < count: raise ValueError(f"{root}/sst2/train.jsonl has {len(rows)} rows, {count} needed")
    return rows


@dataclass
class PromptSet:
    "Benchmark inputs: SST-2 queries and, per query, k demonstrations from a disjoint pool."
    examples: list
    queries: list = field(init=False)
    pool: list = field(init=False)

    def __post_init__(self):
        half = len(self.examples) // 2
        self.queries, self.pool = self.examples[:half], self.examples[half:]

    def icl(self, n: int, demos: int, offset: int = 0) -> list[str]:
        "`n` ICL prompts (demonstrations + query, as `ia2.data.build_icl_prompt` writes them)."
        from ia2.data import build_icl_prompt
        if n > len(self.queries): raise ValueError(f"{n} prompts asked, {len(self.queries)} queries loaded")
        return [build_icl_prompt([self.pool[(offset + i * demos + j) % len(self.pool)] for j in range(demos)],
                                 self.queries[i]) for i in range(n)]

    def long(self, n: int, tokens: int, tokenizer) -> list[str]:
        "`n` ICL prompts of about `tokens` tokens each (demonstrations added until the length is reached)."
        from ia2.data import build_icl_prompt
        prompts = []
        for i in range(n):
            demos = []
            while True:
                prompt = build_icl_prompt(demos, self.queries[i])
                if len(tokenizer(prompt)["input_ids"]) >= tokens: break
                demos.append(self.pool[(i * 7 + len(demos)) % len(self.pool)])
            ids = tokenizer(prompt)["input_ids"]
            prompts.append(tokenizer.decode(ids[len(ids) - tokens:], skip_special_tokens=True))  # keep the query end
        return prompts


def token_lengths(tokenizer, prompts: list[str]) -> dict:
    lengths = [len(tokenizer(p)["input_ids"]) for p in prompts]
    return {"min": min(lengths), "mean": round(sum(lengths) / len(lengths), 1), "max": max(lengths)}

# ---------------------------------------------------------------- files


def write_atomic(path: Path, text: str) -> None:
    "Write `text` to `path` through a temporary file and os.replace."
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f: f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def log(*parts) -> None:
    print(time.strftime("[%H:%M:%S]"), *parts, flush=True)


@dataclass
class Context:
    "What every benchmark section gets: the model, where it runs, the profile's sizes, inputs and a scratch folder."
    lm: LoadedModel
    device: str
    dtype: torch.dtype
    sizes: dict  # this section's sizes from the profile
    repeats: int
    prompts: PromptSet
    workdir: Path
    suppressed: list  # EOS ids suppressed so generation makes exactly G tokens
    artifacts: dict  # handed from one section to the next (e.g. the teacher's stores)
