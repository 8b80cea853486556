"""benchmarks/quickstart_time.py's records, as run.py reads them into results.json and report.py writes them to RESULTS.md."""
import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import quickstart_time  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402

TIMING = {"label": "qwen (AVX2 emulated)", "seconds": 840.0, "command": "make quickstart", "returncode": 0, "commit": "abc1234",
          "machine": {"cpu": "Some CPU", "cores": 2, "flags": ["avx2", "avx512_bf16"], "native_bf16": True},
          "emulated": {"dtype": "float32", **quickstart_time.AVX2_ONLY}, "load_average_before": [0.1, 0.1, 0.1],
          "load_average_after": [1.9, 1.5, 1.0], "date": "2026-11-30", "dtype": "torch.float32",
          "config": {"model": "qwen2.5-coder-0.5b", "task": "sst2", "n": 8, "eval_rows": 100, "ood": False},
          "ia2_quickstart_seconds": 700, "profile": {"eval:ICL": 300.5, "train:ia2-sft": 120.0}}


def test_timings_are_kept_by_label(tmp_path):
    path = tmp_path / "quickstart.json"
    assert quickstart_time.read_timings(path) == []
    path.write_text(json.dumps({"seconds": 3187, "command": "make quickstart"}))  # the single timing of older files
    assert quickstart_time.read_timings(path) == [{"seconds": 3187, "command": "make quickstart"}]
    path.write_text(json.dumps([TIMING, {**TIMING, "label": "bf16", "seconds": 500.0}]))
    assert set(run.read_quickstart(tmp_path)) == {"qwen (AVX2 emulated)", "bf16"}
    assert run.read_quickstart(tmp_path / "nowhere") is None


def test_report_names_machine_emulation_and_verdict():
    lines = report.quickstart_lines({"quickstart_seconds": {TIMING["label"]: TIMING}})
    row = next(line for line in lines if line.startswith("| qwen"))
    assert "14.0" in row and "| met |" in row and "emulated AVX2-only" in row and "ATEN_CPU_CAPABILITY=avx2" in row
    assert "100 rows" in row and "+ OOD" not in row and "abc1234" in row
    slow = report.quickstart_lines({"quickstart_seconds": {"slow": {**TIMING, "label": "slow", "seconds": 1200.0}}})
    assert any("**missed**" in line for line in slow)
    failed = report.quickstart_lines({"quickstart_seconds": {"x": {**TIMING, "returncode": 2}}})
    assert any("**failed**" in line for line in failed)
    assert "Not timed yet" in report.quickstart_lines({"quickstart_seconds": None})[0]
    assert any("eval:ICL 300" in line for line in lines)  # where the time went
