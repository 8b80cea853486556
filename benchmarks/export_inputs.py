"""Copy what a machine without the model weights needs for `run.py --random-weights`: each built-in model's config
and tokenizer files (no weights) and the first rows of SST-2's train split.

    python benchmarks/export_inputs.py                # into benchmarks/.cache/ (git-ignored), about 15 MB
    python benchmarks/run.py --full --random-weights --model-dir benchmarks/.cache/models --data-dir benchmarks/.cache/data
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
         "chat_template.jinja")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dest", default=str(Path(__file__).resolve().parent / ".cache"))
    p.add_argument("--models", nargs="+", default=["smollm2-135m", "qwen2.5-coder-0.5b"])
    p.add_argument("--data-dir", default=os.environ.get("IA2_DATA_DIR"), help="folder holding sst2/train.jsonl")
    p.add_argument("--rows", type=int, default=1000, help="SST-2 rows to copy")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ia2.models import prepare_builtin_model
    dest = Path(args.dest)
    for name in args.models:
        source, target = prepare_builtin_model(name), dest / "models" / name
        target.mkdir(parents=True, exist_ok=True)
        for f in FILES:
            if (source / f).is_file(): shutil.copy2(source / f, target / f)
        print(f"{target}: {sorted(x.name for x in target.iterdir())}")
    if not args.data_dir: sys.exit("pass --data-dir or set IA2_DATA_DIR")
    data = dest / "data" / "sst2"
    data.mkdir(parents=True, exist_ok=True)
    with open(Path(args.data_dir) / "sst2" / "train.jsonl") as src, open(data / "train.jsonl", "w") as out:
        for _, line in zip(range(args.rows), src): out.write(line)
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    print(f"{data / 'train.jsonl'}: {args.rows} rows; {dest}: {size / 2**20:.1f} MiB in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
