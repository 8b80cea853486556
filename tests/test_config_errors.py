"""Bad grid files and bad data give errors that name the file, the key (or line, or row) and what is allowed: every
grid key with a wrong type and with an empty list, and the cases issue 16 found unclear."""
import json
import re

import pytest

from ia2.cli import main
from ia2.config import GRID_KEYS, GridError, load_grid
from ia2.engine import run_grid
from ia2.experiments import grid_status

from helpers import GRID, write_grid

pytestmark = pytest.mark.usefixtures("fresh_cli_logger")

WRONG = {  # a value of the wrong type for every grid key
    "name": 3, "models": [3], "tasks": [3], "n": ["four"], "learning_rates": ["fast"], "runs": [0.5], "adapters": ["lora"],
    "search_runs": ["0"], "results": ["out"], "methods": [1],
    "eval_rows": "8", "ood": "false", "batch_size": [4], "phase_metrics": "yes", "similarity_rows": "0",
    "max_new_tokens": "10", "dtype": 16, "data_dir": 1, "store": True, "allow_overlap": "yes", "training": [1], "pack": "2",
    "sampling": 3, "unlabelled": ["many"], "permutations": "24", "demo_orders": [2],
}


def test_every_grid_key_has_a_wrong_type_case():
    assert set(WRONG) == set(GRID_KEYS)  # a new key needs a case here


def grid_with(tmp_path, key, value):
    "The tiny grid of helpers.py with `key` set to `value` (added, or replacing the file's own line)."
    lines = [l for l in GRID.splitlines() if not re.match(rf"\s*{key}:", l)]
    if key == "tasks":  # the grid's inline task spans one line after 'tasks:'
        lines = [l for l in lines if "tiny_faults" not in l]
    path = write_grid(tmp_path, "\n".join(lines) + f"\n    {key}: {json.dumps(value)}\n")
    return path


@pytest.mark.parametrize("key", GRID_KEYS)
@pytest.mark.parametrize("kind", ["wrong type", "empty list"])
def test_bad_value_names_the_file_and_the_key(tmp_path, key, kind):
    path = grid_with(tmp_path, key, WRONG[key] if kind == "wrong type" else [])
    with pytest.raises(GridError) as raised:
        load_grid(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {key}"), message  # 'grid.yaml: n[0] must be an integer, got ...'
    assert "must be" in message or "empty" in message, message  # says what is allowed


def test_grid_file_errors_name_the_file(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nn: [4\n")
    with pytest.raises(GridError, match=re.escape(str(broken)) + ": not valid YAML"):
        load_grid(broken)
    for argv, error in ([["run", str(tmp_path)], f"{tmp_path} is a folder; give a grid's YAML file"],
                        [["run", str(broken)], f"{broken}: not valid YAML"],
                        [["run", str(write_grid(tmp_path / "ok")), "--max-cells", "-1"], "max_cells must be >= 1"]):
        with pytest.raises(SystemExit) as exit:
            main(argv)
        assert exit.value.code == 2 and error in capsys.readouterr().err, argv
    path = grid_with(tmp_path / "typo", "learning_rate", 0.1)
    with pytest.raises(GridError, match="did you mean 'learning_rates'"):
        load_grid(path)


def test_bad_data_fails_the_cell_with_the_file_and_the_line(tmp_path):
    path = grid_with(tmp_path, "methods", ["base", "ICL"])
    train = tmp_path / "data" / "reviews" / "train.jsonl"
    lines = train.read_text().splitlines()
    train.write_text("\n".join(lines[:2] + ['{"text": "cut', *lines[3:]]) + "\n")
    assert run_grid(load_grid(path), progress=False) == {"finished": 0, "failed": 2}
    assert f"{train}, line 3: not valid JSON" in grid_status(load_grid(path)).error.iloc[-1]


@pytest.mark.parametrize("label, error", [(2, "tiny_faults row 5: label 2 (int)"),
                                          (1.0, "label 1.0 (float)")])  # the column is then read as floats: row 0 fails first
def test_bad_label_names_the_row_and_what_is_allowed(tmp_path, label, error):
    path = grid_with(tmp_path, "methods", ["base"])
    test = tmp_path / "data" / "reviews" / "test.jsonl"
    rows = [json.loads(l) for l in test.read_text().splitlines()]
    rows[5]["label"] = label
    test.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert run_grid(load_grid(path), progress=False) == {"finished": 0, "failed": 1}
    message = grid_status(load_grid(path)).error.iloc[0]
    assert error in message and "must be an integer label id in 0..1 (one per label word ['0', '1'])" in message, message


def test_eval_rows_beyond_the_data_is_an_error_and_run_points_to_status(tmp_path, capsys):
    path = grid_with(tmp_path, "methods", ["base"])
    path.write_text(path.read_text().replace("eval_rows: 4", "eval_rows: 50"))
    assert main(["run", str(path), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "0 cells finished, 1 failed" in out and f"See the errors with: ia2 status {path}" in out
    assert "eval_rows is 50, but tiny_faults has 12 evaluation rows" in grid_status(load_grid(path)).error.iloc[0]


def test_missing_tokenizer_files_name_the_folder_and_the_fix(tmp_path):
    from ia2.models import build_tiny_model, load_model
    model, _ = build_tiny_model()
    model.save_pretrained(tmp_path / "mine")  # weights and config, no tokenizer files
    with pytest.raises(OSError) as raised:
        load_model(tmp_path / "mine")
    message = str(raised.value)
    assert message.startswith(f"no usable tokenizer in {tmp_path / 'mine'}") and "copy the model's tokenizer files" in message
