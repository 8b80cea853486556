"""Scaling: how `collect_teacher` time grows with the number of prompts N (fixed demonstrations per prompt) and with
the response length G; plotted into scaling.png."""
from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

from common import Context, log, measure


def _collect_time(ctx: Context, n: int, g: int, repeats: int, warm: bool) -> float:
    "Median seconds of `collect_teacher` into a fresh store for `n` prompts and G=`g` (warmed up first when `warm`)."
    from ia2.activations import TeacherConfig, collect_teacher
    lm, s = ctx.lm, ctx.sizes
    prompts = ctx.prompts.icl(n, s["demos"])
    config = TeacherConfig(max_new_tokens=g, stop_strings=(), batch_size=s["batch_size"])

    def collect():
        root = tempfile.mkdtemp(dir=ctx.workdir, prefix="scaling-")
        collect_teacher(lm.model, lm.tokenizer, prompts, config, root, "benchmark", progress=False)
        return root

    warmup = None if warm else {"collect": lambda: None}  # one warm-up per sweep: the model is warm after it
    return measure({"collect": collect}, ctx.device, repeats, warmup=warmup,
                   after=lambda name, root: root and shutil.rmtree(root))["collect"]["median_s"]


def _slope(points: list[dict], x: str) -> float | None:
    "Least-squares exponent a of seconds ~ x^a (log-log), over points with x >= 2."
    pts = [(math.log(p[x]), math.log(p["seconds"])) for p in points if p[x] >= 2 and p["seconds"] > 0]
    if len(pts) < 2: return None
    mx, my = sum(a for a, _ in pts) / len(pts), sum(b for _, b in pts) / len(pts)
    den = sum((a - mx) ** 2 for a, _ in pts)
    return round(sum((a - mx) * (b - my) for a, b in pts) / den, 3) if den else None


def run(ctx: Context) -> dict:
    "Sweeps of N (sizes['n_sweep']: G -> the N values) and of G (sizes['g_sweep'] at N = sizes['g_sweep_N'])."
    s, r = ctx.sizes, ctx.sizes["scaling_repeats"]
    by_n = {}
    for g, ns in s["n_sweep"].items():
        points = []
        for n in ns:
            log(f"  scaling: N={n}, G={g}")
            points.append({"N": n, "G": g, "seconds": _collect_time(ctx, n, g, r, warm=not points)})
        by_n[g] = points
    by_g = []
    for g in s["g_sweep"]:
        log(f"  scaling: N={s['g_sweep_N']}, G={g}")
        by_g.append({"N": s["g_sweep_N"], "G": g, "seconds": _collect_time(ctx, s["g_sweep_N"], g, r, warm=not by_g)})
    return {"demos_per_prompt": s["demos"], "batch_size": s["batch_size"], "repeats": r,
            "by_N": {f"G{g}": pts for g, pts in by_n.items()}, "by_G": by_g,
            "exponent_N": {f"G{g}": _slope(pts, "N") for g, pts in by_n.items()}, "exponent_G": _slope(by_g, "G")}


def plot(per_model: dict, path: Path) -> str | None:
    "Plot every model's sweeps into `path` (PNG); returns why not when matplotlib is missing."
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot"
    fig, (ax_n, ax_g) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, res in per_model.items():
        for key, pts in res["by_N"].items():
            ax_n.plot([p["N"] for p in pts], [p["seconds"] for p in pts], "o-", label=f"{name}, {key}")
        ax_g.plot([p["G"] for p in res["by_G"]], [p["seconds"] for p in res["by_G"]], "o-",
                  label=f"{name}, N={res['by_G'][0]['N']}")
    for ax, x in ((ax_n, "N (prompts)"), (ax_g, "G (response tokens)")):
        ax.set_xscale("log", base=2); ax.set_yscale("log"); ax.set_xlabel(x); ax.set_ylabel("collect_teacher seconds")
        ax.grid(True, which="both", alpha=0.3); ax.legend(fontsize=8)
    ax_n.set_title("teacher time vs N"); ax_g.set_title("teacher time vs G")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return None
