"""Fault injection on what comes in and what goes out (issue 26, items 4-6): rows longer than the model's context,
invalid UTF-8, YAML merge keys, a full disk or an unwritable folder while writing, Ctrl-C during `ia2 run`, and misuse
of the Python API. Each fault ends in a clear error or warning naming what, where and the fix, never a traceback
or a silently wrong result; where records result, they equal an uninterrupted run's."""
import errno
import logging
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import ia2
from ia2.cli import main
from ia2.config import GridError, load_grid
from ia2.engine import run_grid
from ia2.experiments import cell_files, grid_status
from ia2.io import NoSpaceError, write_text_atomic
from ia2.models import build_tiny_model, prepare_builtin_model
from ia2.records import write_json_atomic
from ia2.tasks import Task

from helpers import records, write_grid

pytestmark = pytest.mark.usefixtures("fresh_cli_logger")
MOOD = Task("mood_io", template="Text:{text}\nLabel:", label_words=("0", "1"))


def full_disk(free: int):
    "A `shutil.disk_usage` that reports `free` bytes free on every file system."
    return lambda path: shutil._ntuple_diskusage(10**12, 10**12 - free, free)


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_model("llama", seed=0)



@pytest.fixture
def fresh(tmp_path):
    "The same grid, nothing computed yet."
    return load_grid(write_grid(tmp_path))


# ---------------------------------------------------------------- rows in


def test_a_grid_record_says_which_prompts_were_cut_to_the_context(tmp_path):
    import json
    grid = load_grid(write_grid(tmp_path))
    test = tmp_path / "data" / "reviews" / "test.jsonl"
    rows = [json.loads(line) for line in test.read_text().splitlines()]
    rows[0]["text"] = "word " * 2_500  # the first evaluation row is longer than the tiny model's 2048 positions
    test.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert run_grid(grid, progress=False, max_cells=1) == {"finished": 1, "failed": 0}  # the base cell
    record = json.loads(cell_files(grid, [c for c in grid_status(grid).cell if c is not None][0]).record.read_text())
    assert record["id"].endswith("_base") and len(record["context_cuts"]) == 1
    assert "1 of 4 prompts are longer than the model's 2048 positions" in record["context_cuts"][0]


def test_rows_longer_than_the_context_are_cut_from_the_left_with_a_warning(tiny, caplog):
    model, tokenizer = tiny
    rows = ia2.examples(MOOD, [{"text": "good", "label": 1}, {"text": "word " * 2_500, "label": 0}, {"text": "bad", "label": 0}])
    with caplog.at_level(logging.WARNING, logger="ia2"):
        result = ia2.evaluate(model, tokenizer, MOOD, rows, progress=False)
    longest = len(tokenizer(rows[1].prompt)["input_ids"])
    warning = [r.getMessage() for r in caplog.records if "positions" in r.getMessage()]
    assert warning == [f"model · mood_io: 1 of 3 prompts are longer than the model's 2048 positions (the longest has {longest} "
                       "tokens); each is cut from the left to its last 2048 tokens, keeping the query and dropping the earliest text"]
    # the cut row is scored as its last 2048 tokens: the same scores as the cut prompt given directly
    cut = ia2.Example(tokenizer.decode(tokenizer(rows[1].prompt)["input_ids"][-2048:]), "0", 0, 1)
    alone = ia2.evaluate(model, tokenizer, MOOD, [cut], progress=False)
    assert result.predictions.confidence[1] == pytest.approx(alone.predictions.confidence[0], abs=1e-5)


def test_a_teacher_prompt_past_the_context_is_refused_before_training(tiny):
    model, tokenizer = tiny
    rows = ia2.examples(MOOD, [{"text": ("long " * 600) + str(i), "label": i % 2} for i in range(6)])
    with pytest.raises(ValueError, match=r"6 of 6 ICL prompts of mood_io .* longer than the model's 2048 positions .*Lower N"):
        ia2.train(model, tokenizer, MOOD, rows[:4], rows[4:], "ia2", icl_gap=False, progress=False)


def test_a_training_row_past_the_context_is_refused_before_training(tiny):
    model, tokenizer = tiny
    rows = ia2.examples(MOOD, [{"text": f"short {i}", "label": i % 2} for i in range(6)])
    rows[2] = ia2.examples(MOOD, [{"text": "word " * 2_500, "label": 0}])[0]
    with pytest.raises(ValueError, match=r"1 of 6 training and dev rows of mood_io are longer than the model's 2048 positions .*first: row 2"):
        ia2.train(model, tokenizer, MOOD, rows[:4], rows[4:], "sft", icl_gap=False, progress=False)


def test_invalid_utf8_in_csv_and_json_names_the_file_and_line(tmp_path):
    (tmp_path / "rows.csv").write_bytes(b"text,label\nfine,1\nna\xefve,0\n")
    with pytest.raises(ValueError, match=r"rows\.csv, line 3: not UTF-8 text \(byte 0xef at column 3\); save the file as UTF-8"):
        ia2.examples(MOOD, tmp_path / "rows.csv")
    (tmp_path / "rows.json").write_bytes(b'[\n{"text": "ok", "label": 1},\n{"text": "\xff", "label": 0}\n]')
    with pytest.raises(ValueError, match=r"rows\.json, line 3: not UTF-8 text"):
        ia2.read_rows(tmp_path / "rows.json")


def test_yaml_merge_keys_work_and_duplicate_keys_are_still_refused(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(textwrap.dedent("""
        name: merged
        adapters:
          - &small {r: 4, alpha: 4, targets: qk}
          - <<: *small
            r: 16
        """))
    grid = load_grid(path)
    assert [(a.r, a.alpha, a.targets) for a in grid.adapters] == [(4, 4, "qk"), (16, 4, "qk")]
    path.write_text("name: merged\nadapters:\n  - &small {r: 4}\n  - <<: *small\n    r: 8\n    r: 16\n")
    with pytest.raises(GridError, match=r"grid\.yaml: not valid YAML: .*key 'r' is given twice"):
        load_grid(path)


# ---------------------------------------------------------------- disk and I/O

def test_a_full_disk_during_a_write_names_the_folder_without_a_chained_traceback(tmp_path, monkeypatch):
    def no_space(self, data): raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Path, "write_bytes", no_space)
    with pytest.raises(NoSpaceError) as caught:
        write_json_atomic({"id": "cell"}, tmp_path / "results" / "cell.json")
    error = caught.value
    assert error.errno == errno.ENOSPC and error.__cause__ is None and error.__suppress_context__
    assert str(error).startswith(f"no space left in {tmp_path / 'results'} while writing cell.json (it needs ")
    assert list((tmp_path / "results").iterdir()) == []  # no temporary file left behind


def test_a_write_that_cannot_fit_is_refused_before_it_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", full_disk(100))
    with pytest.raises(NoSpaceError, match=r"has 100 B free but needs about 1\.0 KiB"):
        write_text_atomic("x" * 1024, tmp_path / "record.json")
    assert not (tmp_path / "record.json").exists()


def test_the_runner_stops_before_training_cells_it_cannot_save(clean, fresh, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "disk_usage", full_disk(int(1.5 * 2**20)))  # room for a baseline's record, not for an adapter
    trained = []
    monkeypatch.setattr("ia2.pipeline.train_method", lambda *a, **k: trained.append(a) or pytest.fail("trained"))
    with pytest.raises(SystemExit) as stop:
        main(["run", str(fresh.source), "--quiet"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and not trained
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"ia2 run: error: the results folder {fresh.folder} and the activation store ")
    assert "(on one disk) have 1.5 MiB free but need about " in err
    status = grid_status(fresh).set_index("method").state
    assert status.to_dict() == {"base": "done", "ICL": "done", "ia2": "pending", "ia2-sft": "pending"}  # not failed
    assert not cell_files(fresh, grid_status(fresh).set_index("method").cell["ia2"]).adapters.exists()
    monkeypatch.undo()  # space freed: the same command finishes the grid
    assert run_grid(fresh, progress=False) == {"finished": 2, "failed": 0}
    assert records(fresh) == clean[1]


def test_a_disk_that_fills_while_a_cell_trains_stops_the_runner_and_releases_the_cell(fresh, monkeypatch):
    adapter = fresh.folder / "tiny-llama" / "adapters" / "x" / "adapter_model.safetensors"
    def fills(*args, **kwargs): raise OSError(errno.ENOSPC, "No space left on device", str(adapter))
    monkeypatch.setattr("ia2.experiments.run_cell", fills)
    with pytest.raises(NoSpaceError) as caught:
        run_grid(fresh, progress=False)
    assert str(caught.value).startswith(f"no space left in {adapter.parent} while writing adapter_model.safetensors")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    states = grid_status(fresh).state.tolist()
    assert states == ["pending"] * 4  # stopped at the first cell: no failure record, no lock held
    assert not list(fresh.folder.rglob("*.failed.json"))


def test_the_model_cache_is_checked_before_a_conversion_writes(tmp_path, monkeypatch):
    prepare_builtin_model("smollm2-135m")  # the GGUF is installed (made once, also by tests/test_models.py)
    monkeypatch.setattr(shutil, "disk_usage", full_disk(10 * 2**20))
    with pytest.raises(NoSpaceError, match=r"the model cache \(converting smollm2-135m\) .* has 10\.0 MiB free but needs about \d+\.\d MiB"):
        prepare_builtin_model("smollm2-135m", cache=tmp_path)
    assert not (tmp_path / "models" / "smollm2-135m").exists()


def test_quickstart_on_a_read_only_out_folder_fails_up_front_in_one_line(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    script = textwrap.dedent(f"""
        import os, sys
        import ia2.cli
        def refuse(*args, **kwargs): sys.exit("the baselines' inputs were checked before --out")
        ia2.cli.check_ready = refuse
        ia2.cli.build_parser()  # its imports (the config schema, torch) before the interpreter's files become unreadable
        if os.geteuid() == 0:  # root writes through any mode: check as an unprivileged user
            os.setgid(65534); os.setuid(65534)
        sys.exit(ia2.cli.main(["quickstart", "--model", "tiny:llama", "--out", {str(out / "runs")!r}]))
        """)
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    finally:
        out.chmod(0o755)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (f"ia2 quickstart: error: the output folder {out / 'runs'} is not writable (Permission denied); "
                           "fix its permissions or pass --out a folder you can write\n")


# ---------------------------------------------------------------- Ctrl-C

def test_ctrl_c_during_run_stops_in_one_line_and_the_same_command_resumes(clean, fresh):
    command = [sys.executable, "-u", "-c", "import sys; from ia2.cli import main; sys.exit(main())", "run", str(fresh.source), "--quiet"]
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=fresh.folder.parent.parent)
    computing, deadline = 0, time.time() + 300
    try:
        for line in runner.stdout:  # interrupted while its second cell computes: the first is finished
            computing += line.startswith("computing ")
            if computing == 2 or time.time() > deadline: break
        time.sleep(0.5)
        runner.send_signal(signal.SIGINT)
        _, err = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None: runner.kill()
    assert computing == 2
    assert runner.returncode == 130, err
    assert "Traceback" not in err and err.strip().count("\n") == 0
    assert err.strip().startswith("ia2 run: interrupted. Records of the cells finished so far are kept")
    assert err.strip().endswith(f"Rerun the same command to resume: ia2 run {fresh.source} --quiet")
    states = grid_status(fresh).state.tolist()
    assert states.count("done") >= 1 and "running" not in states and "failed" not in states  # the lock went with the process
    assert run_grid(fresh, progress=False)["failed"] == 0
    assert records(fresh) == clean[1]


# ---------------------------------------------------------------- the Python API

def test_api_misuse_names_the_argument_and_the_fix(tiny):
    model, tokenizer = tiny
    rows = ia2.examples(MOOD, [{"text": "good", "label": 1}, {"text": "bad", "label": 0}])
    cases = [
        (lambda: ia2.evaluate(model, None, MOOD, rows), TypeError, "tokenizer must be the model's tokenizer, got NoneType; both come from ia2.load_model"),
        (lambda: ia2.evaluate(model, tokenizer, MOOD, {"text": ["good"], "label": [1]}), TypeError, "rows must be a list of ia2.Example, got a dict"),
        (lambda: ia2.evaluate(model, tokenizer, MOOD, "rows.jsonl"), TypeError, "read the file's rows with ia2.examples(task, 'rows.jsonl')"),
        (lambda: ia2.evaluate(model, tokenizer, MOOD, rows, lr=1e-3), TypeError, "'lr': the learning rate is a training setting"),
        (lambda: ia2.evaluate(model, tokenizer, MOOD, rows, batch_size="8"), TypeError, "batch_size must be a positive integer, got '8'"),
        (lambda: ia2.train(model, tokenizer, MOOD, rows, rows, lr=1e-3), TypeError, "'lr' (did you mean 'learning_rate'?)"),
        (lambda: ia2.examples(MOOD, {"text": ["good"], "label": [1]}), TypeError, "a dict of columns: pass pandas.DataFrame(rows)"),
        (lambda: ia2.examples(MOOD, rows, unknown_label="error"), TypeError, "(did you mean 'unknown_labels'?)"),
        (lambda: ia2.load_split("sst2", "train", datadir="x"), TypeError, "'datadir' (did you mean 'data_dir'?)"),
        (lambda: ia2.split_run(rows * 4, "4", 0), TypeError, "n must be an integer, got '4' (str)"),
        (lambda: ia2.run_cell(model, tokenizer, {"task": "sst2", "n": 4}), TypeError, "config must be an ia2.CellConfig, got dict"),
        (lambda: ia2.get_task(["sst2"]), TypeError, "task must be a registered task's name (e.g. 'sst2') or an ia2.Task, got list"),
    ]
    for call, kind, message in cases:
        with pytest.raises(kind) as caught: call()
        assert message in str(caught.value), (message, str(caught.value))
