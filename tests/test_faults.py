"""Fault injection on a tiny grid (no real data): every file the runner trusts is damaged in turn, and each fault is
detected, named (its path in the warning or error), repaired, and the final records equal an uninterrupted run's.
Issue 16's five silently-wrong cases, the truncated part, record and model cache, a corrupt failure record, a
read-only results folder and a killed model conversion."""
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from ia2.cli import main
from ia2.config import GridError, load_grid
from ia2.engine import run_grid
from ia2.experiments import cell_files, grid_status
from ia2.models import cached_model_problem, prepare_builtin_model
from ia2.models import umask_mode

from helpers import GRID, records, write_grid

pytestmark = pytest.mark.usefixtures("fresh_cli_logger")




def cell(grid, method: str):
    return grid_status(grid).set_index("method").cell[method]


def forget(grid, *methods):
    "Delete cells' records (and adapters), so the next run recomputes them."
    for method in methods:
        paths = cell_files(grid, cell(grid, method))
        paths.record.unlink()
        shutil.rmtree(paths.adapters, ignore_errors=True)  # baselines have none


def store_parts(grid) -> list[Path]:
    parts = sorted(Path(grid.settings.store).glob("*/part-*.safetensors"))
    assert parts, "the ia2 cells wrote no teacher-store part"
    return parts


def warned(caplog, *texts) -> bool:
    return any(all(t in r.getMessage() for t in texts) for r in caplog.records if r.levelno >= logging.WARNING)


def test_altered_but_valid_store_part_is_detected_moved_aside_and_recomputed(clean, copy, caplog):
    part = store_parts(copy)[0]
    with safe_open(str(part), "pt") as f: tensors, metadata = {k: f.get_tensor(k) for k in f.keys()}, f.metadata()
    save_file({**tensors, "0.activations": tensors["0.activations"] * 2}, part, metadata=metadata)  # still valid safetensors
    forget(copy, "ia2", "ia2-sft")
    assert main(["status", str(copy.source), "--verify"]) == 1
    with caplog.at_level(logging.WARNING, logger="ia2"):
        assert run_grid(copy, progress=False) == {"finished": 2, "failed": 0}
    assert warned(caplog, str(part), "do not match their sha256")
    assert len(list(part.parent.glob(part.name + ".damaged-*"))) == 1  # kept for inspection, not overwritten
    assert records(copy) == clean[1]


def test_truncated_store_part_is_detected_moved_aside_and_recomputed(clean, copy, caplog):
    part = store_parts(copy)[-1]
    part.write_bytes(part.read_bytes()[:200])
    forget(copy, "ia2", "ia2-sft")
    with caplog.at_level(logging.WARNING, logger="ia2"):
        assert run_grid(copy, progress=False) == {"finished": 2, "failed": 0}
    assert warned(caplog, str(part), "not a readable safetensors file")
    assert records(copy) == clean[1]


def test_truncated_record_is_named_then_moved_aside_and_recomputed(clean, copy, caplog, capsys):
    record = cell_files(copy, cell(copy, "ICL")).record
    record.write_text(record.read_text()[:80])
    status = grid_status(copy).set_index("method")
    assert status.state["ICL"] == "pending" and "damaged record" in status.error["ICL"]
    with pytest.raises(SystemExit) as exit:  # `ia2 table` names the file instead of a bare JSON error
        main(["table", str(copy.source)])
    assert exit.value.code == 2 and str(record) in capsys.readouterr().err
    with caplog.at_level(logging.WARNING, logger="ia2"):
        assert run_grid(copy, progress=False) == {"finished": 1, "failed": 0}
    assert warned(caplog, str(record), "not valid JSON")
    assert len(list(record.parent.glob(record.name + ".damaged-*"))) == 1
    assert records(copy) == clean[1]


def test_record_without_its_checksum_is_damaged_named_and_recomputed(clean, copy, caplog):
    record = cell_files(copy, cell(copy, "ICL")).record
    content = json.loads(record.read_text()); del content["sha256"]
    record.write_text(json.dumps(content))  # valid JSON, every value right, but nothing vouches for it
    assert "no sha256 checksum" in grid_status(copy).set_index("method").error["ICL"]
    assert main(["status", str(copy.source), "--verify"]) == 1
    with caplog.at_level(logging.WARNING, logger="ia2"):
        assert run_grid(copy, progress=False) == {"finished": 1, "failed": 0}
    assert warned(caplog, str(record), "has no sha256 checksum")
    assert records(copy) == clean[1]


def test_corrupt_failure_record_does_not_block_the_grid(clean, copy):
    paths = cell_files(copy, cell(copy, "ICL"))
    paths.record.unlink()
    paths.failed.write_text('{"error": "Value')  # a failure record cut short
    status = grid_status(copy).set_index("method")
    assert status.state["ICL"] == "failed" and f"damaged failure record {paths.failed}" in status.error["ICL"]
    assert run_grid(copy, progress=False) == {"finished": 1, "failed": 0}
    assert not paths.failed.exists() and records(copy) == clean[1]


def test_altered_adapter_is_named_and_the_sequence_trains_from_scratch(clean, copy, caplog):
    ia2 = cell_files(copy, cell(copy, "ia2")).training("ia2") / "adapter" / "adapter_model.safetensors"
    with safe_open(str(ia2), "pt") as f: tensors, metadata = {k: f.get_tensor(k) for k in f.keys()}, f.metadata()
    save_file({k: v + 1 for k, v in tensors.items()}, ia2, metadata=metadata)
    forget(copy, "ia2-sft")
    assert main(["status", str(copy.source), "--verify"]) == 1
    with caplog.at_level(logging.WARNING, logger="ia2"):
        assert run_grid(copy, progress=False) == {"finished": 1, "failed": 0}  # no failure on this or any rerun
    assert warned(caplog, str(ia2), "does not match the sha256")
    sequence = records(copy)[cell_files(copy, cell(copy, "ia2-sft")).record.name]
    reference = clean[1][cell_files(copy, cell(copy, "ia2-sft")).record.name]
    assert sequence["reused"] == {} and reference["reused"]  # trained its ia2 phase again instead of reusing it
    # the same seed and data: training from scratch lands on the weights and metrics of the reused run
    assert sequence["results"] == reference["results"] and sequence["dev"] == reference["dev"]
    assert [p["end_weights"] for p in sequence["training"]["ia2-sft"]["phases"]] == \
           [p["end_weights"] for p in reference["training"]["ia2-sft"]["phases"]]


def test_verify_lists_every_damaged_file_and_a_run_repairs_them(clean, copy, capsys):
    record = cell_files(copy, cell(copy, "base")).record
    content = json.loads(record.read_text())
    content["results"][0]["accuracy"] = 1.0  # an edited number: still valid JSON, but not what was computed
    record.write_text(json.dumps(content))
    part = store_parts(copy)[0]
    part.write_bytes(part.read_bytes()[:-10])
    forget(copy, "ICL")
    failed = cell_files(copy, cell(copy, "ICL")).failed
    failed.write_text("{")
    capsys.readouterr()
    assert main(["status", str(copy.source), "--verify"]) == 1
    out = capsys.readouterr().out
    for path in (record, part, failed): assert str(path) in out
    assert "recomputes" in out
    forget(copy, "ia2", "ia2-sft")
    assert run_grid(copy, progress=False) == {"finished": 4, "failed": 0}
    assert main(["status", str(copy.source), "--verify"]) == 0
    assert records(copy) == clean[1]


@pytest.mark.parametrize("line, error", [
    ("ood: false", "ood must be true or false, got 'false'"),  # silently evaluated OOD tasks before
    ("n: [4]", "key 'n' is given twice"),  # silently took the last value before
])
def test_wrong_config_is_an_error_naming_the_file_and_the_key(tmp_path, line, error):
    text = GRID.replace("ood: false", 'ood: "false"') if line.startswith("ood") else GRID + "    n: [8]\n"
    path = write_grid(tmp_path, text)
    with pytest.raises(GridError) as raised:
        load_grid(path)
    assert str(path) in str(raised.value) and error in str(raised.value)
    path.write_text(textwrap.dedent(GRID))  # the fix the message asks for
    assert load_grid(path).settings.ood is False and load_grid(path).n == [4]


def test_read_only_results_folder_fails_before_any_model_is_loaded(clean, copy, tmp_path):
    forget(copy, "ICL")
    copy.folder.chmod(0o555)
    script = textwrap.dedent(f"""
        import os, sys
        import ia2.engine
        from ia2.config import load_grid
        def refuse(*args, **kwargs): sys.exit("a model was loaded before the results folder was checked")
        ia2.experiments.load_model = refuse
        grid = load_grid({str(copy.source)!r})
        if os.geteuid() == 0:  # root writes through any mode: check as an unprivileged user, as a shared folder's reader
            os.setgid(65534); os.setuid(65534)
        try: ia2.engine.run_grid(grid, progress=False)
        except PermissionError as error: print(error); sys.exit(3)
        """)
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    finally:
        copy.folder.chmod(0o755)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"the results folder {copy.folder} is not writable" in done.stdout
    assert run_grid(copy, progress=False) == {"finished": 1, "failed": 0}  # permissions fixed: the cell is computed
    assert records(copy) == clean[1]


def test_records_adapters_and_parts_get_the_umask_mode(clean):
    folder = clean[0]
    training = [p for p in folder.glob("results/faults/tiny-llama/adapters/**/*") if p.is_file()]  # adapter/, training.json
    files = [*folder.glob("results/faults/tiny-llama/*.json"), *training, *folder.glob("store/*/*")]
    assert len(files) > 6 and any(p.name == "adapter_model.safetensors" for p in training)
    for path in files: assert path.stat().st_mode & 0o777 == umask_mode(), path


def test_changed_model_cache_and_killed_conversion_are_repaired(tmp_path, caplog):
    """A converted smollm2-135m with altered weights is moved aside and converted again; that conversion is killed
    midway, and the next one removes its temporary folder and completes."""
    reference = prepare_builtin_model("smollm2-135m")  # the user's cache (made once, also by tests/test_models.py)
    cache = tmp_path / "cache"
    shutil.copytree(reference, cache / "models" / "smollm2-135m")
    weights = cache / "models" / "smollm2-135m" / "model.safetensors"
    with open(weights, "r+b") as f:  # change weight bytes, keep the size: still a valid file
        f.seek(weights.stat().st_size - 4096); f.write(os.urandom(1024))
    converting = subprocess.Popen([sys.executable, "-c", f"from ia2.models import prepare_builtin_model; "
                                   f"prepare_builtin_model('smollm2-135m', cache={str(cache)!r})"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not list((cache / "models").glob(".smollm2-135m.tmp-*")) and time.time() < deadline:
        assert converting.poll() is None, converting.stdout.read()
        time.sleep(0.2)
    time.sleep(1)
    converting.send_signal(signal.SIGKILL)
    output = converting.communicate()[0]
    assert str(cache / "models" / "smollm2-135m") in output and "does not match its sha256" in output  # named
    assert list((cache / "models").glob("smollm2-135m.damaged-*"))  # moved aside, not overwritten
    stale = list((cache / "models").glob(".smollm2-135m.tmp-*"))
    assert stale  # what the killed conversion left
    with caplog.at_level(logging.WARNING, logger="ia2"):
        repaired = prepare_builtin_model("smollm2-135m", cache=cache)
    assert warned(caplog, str(stale[0]), "interrupted conversion") and not stale[0].exists()
    assert json.loads((repaired / "ia2_checksums.json").read_text()) == json.loads((reference / "ia2_checksums.json").read_text())
    weights.unlink()  # a missing file is caught too, not only a changed one
    assert "model.safetensors is missing" in cached_model_problem("smollm2-135m", cache=cache)


def test_adapters_absent_from_a_clone_are_not_damage(clean, copy, capsys):
    ia2 = cell_files(copy, cell(copy, "ia2")).training("ia2") / "adapter" / "adapter_model.safetensors"
    ia2.unlink()  # a fresh clone: adapters are not committed
    capsys.readouterr()
    assert main(["status", str(copy.source), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "not on this machine" in out and "damaged" not in out
    forget(copy, "ia2-sft")
    assert run_grid(copy, progress=False) == {"finished": 1, "failed": 0}  # its sequence trains the ia2 phase again
    name = cell_files(copy, cell(copy, "ia2-sft")).record.name
    assert records(copy)[name]["reused"] == {} and records(copy)[name]["results"] == clean[1][name]["results"]
