"""Cross-module training tests: multi-process training through accelerate."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).with_name("accelerate_train_script.py")


def _curve(tmp_path, launcher, per_device_batch):
    out = tmp_path / f"curve_{per_device_batch}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*launcher, str(SCRIPT), str(out), str(per_device_batch)], check=True, env=env, timeout=600)
    return json.loads(out.read_text())


def test_accelerate_two_processes_matches_single_process_shape(tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    single = _curve(tmp_path, [sys.executable], 4)
    # accelerate's `--cpu` launcher starts a single process (several CPU processes need an MPI hostfile); its
    # torch.distributed launcher (`--multi_gpu`) starts two, which train on the CPU with gloo since use_cpu=True
    double = _curve(tmp_path, [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                               "--mixed_precision", "no", "--dynamo_backend", "no"], 2)
    assert single["processes"] == 1 and double["processes"] == 2
    assert len(single["loss"]) == len(double["loss"]) == 12
    for curve in (single["loss"], double["loss"]):
        assert np.mean(curve[-3:]) < 0.5 * np.mean(curve[:3])  # both learn
    # same effective batch (4) and data: the two curves fall alike
    assert abs(np.log(np.mean(single["loss"][-3:]) / np.mean(double["loss"][-3:]))) < np.log(3)
