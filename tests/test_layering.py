"""No module of `ia2` imports one above it: the package is a stack of layers, each importing only lower ones.

The order below is the data path of the method (task, data, model, hooks, teacher, losses, trainer, evaluation,
config, records, pipeline, runner, statistics, tables, command line). A new module must be placed in it, and an
import that points up the stack (which is what makes an import cycle possible) fails this test with its line.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ia2"

LAYERS = [  # lowest first; a module may import only modules listed before it
    "methods", "io", "answers", "hooks", "losses", "metrics", "shipped",
    "tasks", "data", "models", "activations", "trainers", "evaluation", "analysis",
    "baselines", "sdft", "config", "ready", "records", "pipeline", "packing", "experiments", "engine", "stats", "figures", "cli",
    "__init__",
]


def ia2_imports(path: Path) -> list[tuple[int, str]]:
    "(line, module) of every import of an ia2 module in `path`, at any depth (lazy imports in functions count too)."
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1: names = [node.module] if node.module else [a.name for a in node.names]
            elif node.module and (node.module == "ia2" or node.module.startswith("ia2.")):
                names = [node.module.split(".")[1]] if "." in node.module else [a.name for a in node.names]
            else: continue
            found += [(node.lineno, n.split(".")[0]) for n in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[1] if "." in a.name else "__init__") for a in node.names
                      if a.name == "ia2" or a.name.startswith("ia2.")]
    return found


def modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "_modidx")


def test_every_module_has_a_layer():
    assert set(modules()) - set(LAYERS) == set(), "place these modules in tests/test_layering.py's LAYERS"


def test_no_import_points_up():
    rank = {name: i for i, name in enumerate(LAYERS)}
    problems = []
    for name in modules():
        for line, target in ia2_imports(PACKAGE / f"{name}.py"):
            if target == "__init__" and name == "__init__": continue
            if target not in rank: problems.append(f"ia2/{name}.py:{line} imports unknown module {target!r}")
            elif name != "__init__" and rank[target] >= rank[name]:
                problems.append(f"ia2/{name}.py:{line} imports ia2.{target}, which is not below it")
    assert not problems, "\n".join(problems)


def test_the_checker_sees_upward_imports(tmp_path):
    "The test itself can fail: an upward relative import and a package import are both found."
    source = tmp_path / "x.py"
    source.write_text("from .pipeline import train\nimport ia2\ndef f():\n    from ia2.cli import main\n")
    assert ia2_imports(source) == [(1, "pipeline"), (2, "__init__"), (4, "cli")]
