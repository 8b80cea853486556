"""The grid runner end to end through the `ia2` command, on a task defined inline in the grid file (no real data):
SIGKILL mid-cell then restart, accelerate sharding, prompt and prefix adapters, TensorBoard logging."""
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ia2.config import load_grid
from ia2.engine import run_grid
from ia2.experiments import grid_status

from helpers import records, write_grid

IA2 = shutil.which("ia2", path=str(Path(sys.executable).parent))
GRID = """
    name: resume
    models: [tiny:llama]
    tasks:
      - {{name: tiny_reviews, template: "Text:{{text}}\\nLabel:", label_words: ["0", "1"], data_folder: reviews}}
    n: [4]
    methods: [base, ICL, sft, ia2, ia2-sft]
    learning_rates: [1.0e-2]
    runs: [0]
    eval_rows: 8
    ood: false
    training: {{num_train_epochs: {epochs}}}
    batch_size: 4
    similarity_rows: 4
    data_dir: data
    store: store
"""


def _grid(folder: Path, epochs: int = 12, **replace) -> Path:
    text = textwrap.dedent(GRID.format(epochs=epochs))
    for old, new in replace.items(): text = text.replace(old, new)
    return write_grid(folder, text)


def _run(grid: Path, **kwargs):
    return subprocess.Popen([IA2, "run", str(grid), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def test_sigkill_mid_cell_then_restart_gives_the_same_records(tmp_path):
    clean = _grid(tmp_path / "clean")
    assert _run(clean).wait(timeout=900) == 0

    killed = _grid(tmp_path / "killed")
    folder = killed.parent / "results" / "resume" / "tiny-llama"
    process = _run(killed)
    victim, deadline = None, time.time() + 900
    while victim is None and time.time() < deadline and process.poll() is None:
        # a trained cell whose owner file exists is being computed: kill the runner a moment into it
        for owner in sorted(folder.glob(".*_sft_*.owner")) if folder.exists() else []:
            time.sleep(0.3)
            victim = owner.name[1:].removesuffix(".owner")
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait(timeout=60)
    assert victim is not None, "the runner finished before it could be killed mid-cell"
    assert not (folder / f"{victim}.json").exists()  # killed mid-cell: no record, no partial record
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*.tmp"))

    restart = _run(killed)
    assert restart.wait(timeout=900) == 0, restart.stderr.read()
    done, expected = records(load_grid(killed)), records(load_grid(clean))
    assert len(expected) == 5 and sorted(done) == sorted(expected)  # base, ICL, sft, ia2, ia2-sft
    for name in expected:
        assert done[name] == expected[name], name


def test_accelerate_launch_shards_a_grid_over_processes(tmp_path):
    """`accelerate launch ... ia2 run --shard auto`: each process takes its rank's shard; together they finish the grid."""
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    grid = _grid(tmp_path / "shared", epochs=2, **{"methods: [base, ICL, sft, ia2, ia2-sft]": "methods: [ICL, sft]",
                                                   "n: [4]": "n: [4, 6]"})
    subprocess.run([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                    "--mixed_precision", "no", "--dynamo_backend", "no", "--no_python",
                    IA2, "run", str(grid), "--shard", "auto", "--quiet"], check=True, timeout=900)
    status = subprocess.run([IA2, "status", str(grid)], capture_output=True, text=True, check=True).stdout
    records = sorted(p.name for p in (grid.parent / "results" / "resume" / "tiny-llama").glob("*.json"))
    assert len(records) == 4, (records, status)  # 2 N x (ICL, sft): every cell once
    assert "FAILED" not in status


@pytest.mark.parametrize("kind", ["prompt", "prefix"])
def test_prompt_and_prefix_adapters_run_through_the_grid(tmp_path, kind):
    """Prompt and prefix tuning leave the base model untouched: the runner drops them instead of unloading."""
    grid = load_grid(_grid(tmp_path, epochs=1, **{"methods: [base, ICL, sft, ia2, ia2-sft]": "methods: [sft, ia2, ia2-sft]",
                                                  "runs: [0]": f"runs: [0]\nadapters: [{{kind: {kind}, num_virtual_tokens: 2}}]"}))
    assert run_grid(grid, progress=False) == {"finished": 3, "failed": 0}
    assert (grid_status(grid).state == "done").all()


def test_report_to_tensorboard_writes_event_files(tmp_path):
    grid = load_grid(_grid(tmp_path, epochs=2, **{"methods: [base, ICL, sft, ia2, ia2-sft]": "methods: [ia2-sft]",
                                                  "training: {num_train_epochs: 2}": "training: {num_train_epochs: 2, report_to: tensorboard, logging_steps: 1}"}))
    assert run_grid(grid, progress=False) == {"finished": 1, "failed": 0}
    events = list(Path(grid.folder).rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events), "no TensorBoard event files under the grid's folder"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    tags = set().union(*(EventAccumulator(str(e.parent)).Reload().Tags()["scalars"] for e in events))
    assert any("loss" in t for t in tags), tags


def test_balanced_sampling_draws_the_training_rows_label_by_label(tmp_path):
    from ia2.data import split_run
    from ia2.tasks import Example
    pool = [Example(f"q{i}", "x", int(i % 2 == 0), i) for i in range(40)]
    assert any(sorted(e.label for e in split_run(pool, 4, r).train) != [0, 0, 1, 1] for r in range(3))  # the paper's draw
    grid = load_grid(_grid(tmp_path, epochs=1, **{"methods: [base, ICL, sft, ia2, ia2-sft]": "methods: [sft]",
                                                  "runs: [0]": "runs: [0, 1, 2]\nsampling: balanced"}))
    assert run_grid(grid, progress=False) == {"finished": 3, "failed": 0}
    made = records(grid)
    assert len(made) == 3
    for record in made.values():
        assert sorted(record["provenance"]["train"]["label"]) == [0, 0, 1, 1], record["provenance"]["train"]
        assert record["provenance"]["sampling"] == record["config"]["sampling"] == "balanced"
