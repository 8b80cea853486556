"""Two `ia2 run` processes on one tiny grid and one results folder at once, without --shard, five times over: each
cell is computed exactly once, both processes exit 0, and the records equal a single process's. The grid holds a
sequence (ia2-sft) that starts from another cell's adapter, and both share one teacher store."""
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from ia2.config import load_grid
from ia2.engine import run_grid
from ia2.experiments import grid_status

from helpers import GRID, records, write_grid

IA2 = shutil.which("ia2", path=str(Path(sys.executable).parent))


def differences(a, b, path="") -> list[str]:
    "Where two records (nested dicts and lists) differ, as paths."
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in (differences(a.get(k), b.get(k), f"{path}/{k}"))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {str(a)[:80]} != {str(b)[:80]}"]


def test_two_runners_on_one_folder_compute_each_cell_once(tmp_path):
    single = load_grid(write_grid(tmp_path / "single", GRID))
    assert run_grid(single, progress=False) == {"finished": 4, "failed": 0}
    expected, cells, shared = records(single), set(grid_status(single).cell_id), 0
    for trial in range(5):
        path = write_grid(tmp_path / f"trial{trial}", GRID)
        runners = [subprocess.Popen([IA2, "run", str(path), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True) for _ in range(2)]
        outputs = [runner.communicate(timeout=900)[0] for runner in runners]
        assert [runner.returncode for runner in runners] == [0, 0], "\n".join(outputs)
        # every computation starts with a 'computing <cell>' line, written under the cell's lock
        computed = Counter(cell for output in outputs for cell in re.findall(r"^computing (\S+) \(pid", output, re.M))
        assert computed == Counter(cells), (trial, computed, outputs)  # each cell exactly once, over both processes
        finished = [int(re.search(r"(\d+) cells finished, 0 failed", output).group(1)) for output in outputs]
        assert sum(finished) == len(cells), (trial, finished)
        shared += min(finished) > 0
        shared_records = records(load_grid(path))
        assert shared_records == expected, (trial, differences(shared_records, expected)[:10])
        folder = load_grid(path).folder / "tiny-llama"
        assert not list(folder.glob("*.damaged-*")) and not list(folder.glob(".*.owner"))  # nothing set aside or left
    assert shared >= 1  # the runners really did share the work (in practice they do in every trial)
