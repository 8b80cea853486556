"""The README's "IA2 on your own data" example runs as written, on a tiny model and rows written here."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    "The python block under the README's 'IA2 on your own data' heading."
    text = (ROOT / "README.md").read_text()
    section = text.split("## IA2 on your own data", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_is_short():
    lines = [l for l in readme_example().splitlines() if l.strip()]
    assert len(lines) <= 12, f"the README's own-data example has {len(lines)} lines; the promise is at most 12"


def test_readme_example_runs_on_a_tiny_model(tmp_path):
    words = ["profits rose", "sales fell", "the board met", "shares jumped", "losses widened", "a meeting is planned"]
    labels = [2, 0, 1, 2, 0, 1]
    rows = [{"sentence": f"{words[i % 6]} in quarter {i}", "label": labels[i % 6]} for i in range(60)]
    (tmp_path / "my_rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code = readme_example()
    assert code.count('"qwen2.5-coder-0.5b"') == 1  # the substitution below must hit exactly the model name
    code = code.replace('"qwen2.5-coder-0.5b"', '"tiny:llama"')
    env = {**os.environ, "IA2_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    accuracy, ece = (float(x) for x in result.stdout.split()[-2:])
    assert 0 <= accuracy <= 1 and 0 <= ece <= 1
    assert (tmp_path / "reliability.png").stat().st_size > 1000
    assert (tmp_path / "my-adapter" / "adapter_model.safetensors").exists()
