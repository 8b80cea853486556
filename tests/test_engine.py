"""The Ray engine on a three-node cluster on this machine (`ray.cluster_utils.Cluster`: a head that runs no tasks and
two one-CPU workers, 80 MB object stores): a tiny grid gives the records of a single-process run; a worker node
killed while it computes a pack loses nothing and leaves no cell twice; adapters can go to a storage folder; and
`ia2 run --engine ray` without Ray installed fails with one line naming the extra."""
import json
import sys
import textwrap
import threading
import time

import psutil
import pytest
import ray  # the ia2[ray] extra (part of ia2[dev])
import torch
from ray.cluster_utils import Cluster

from ia2.cli import main
from ia2.config import load_grid
from ia2.engine import RayEngine
from ia2.engine import run_grid
from ia2.experiments import grid_status

from helpers import records, write_grid


MB = 1024**2
GRID = """
    name: {name}
    models: [tiny:llama]
    tasks:
      - {{name: tiny_engine_test, template: "Text:{{text}}\\nLabel:", label_words: ["0", "1"], data_folder: reviews}}
    n: [4]
    methods: [{methods}]
    learning_rates: [1.0e-2]
    runs: [0, 1]
    eval_rows: 4
    ood: false
    training: {{num_train_epochs: {epochs}}}
    batch_size: 4
    data_dir: data
    store: store
    pack: 2
"""


def _grid(folder, name="engine", methods="base, sft, ia2, ia2-sft", epochs=1):
    return load_grid(write_grid(folder, textwrap.dedent(GRID.format(name=name, methods=methods, epochs=epochs))))


def _comparable(grid) -> dict:
    """The grid's records minus volatile keys and the notes on how they ran: the node, and the pack (which cells were
    ready together depends on timing)."""
    def unpacked(value):  # a trained method's `packing` note (its pack, K and adapter name) depends on timing too, and
        # packing K adapters changes the last bits of the weights (so their fingerprints), not what the contract compares
        if isinstance(value, dict): return {k: unpacked(v) for k, v in value.items() if k not in ("packing", "start_weights", "end_weights")}
        return [unpacked(v) for v in value] if isinstance(value, list) else value
    return {name: unpacked({k: v for k, v in record.items() if k not in ("node", "pack")}) for name, record in records(grid).items()}


def close(a, b, where="record"):
    "`a` equals `b` with every float within 1e-5 relative (1e-6 absolute): the exactness contract of packed cells."
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), (where, a.keys() ^ b.keys())
        for k in a: close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)): close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float): assert abs(a - b) <= 1e-6 + 1e-5 * abs(b), (where, a, b)
    else: assert a == b, (where, a, b)


def _started(start, tries: int = 5):
    "`start()`, tried again when Ray gives up on a node after its fixed 30 s (a busy machine can take longer)."
    for attempt in range(tries):
        try: return start()
        except Exception as error:
            if "timed out during startup" not in str(error) or attempt == tries - 1: raise


def _add_worker(cluster):
    return _started(lambda: cluster.add_node(num_cpus=1, object_store_memory=80 * MB))


def _titles(node) -> list[str]:
    "The process titles of a node's Ray workers (a worker computing a pack is titled ray::_pack_task)."
    titles = []
    for process in psutil.Process(node.all_processes["raylet"][0].process.pid).children(recursive=True):
        try: titles.append(" ".join(process.cmdline()))
        except psutil.Error: pass  # it ended meanwhile
    return titles


@pytest.fixture(scope="module")
def cluster():
    cluster = _started(lambda: Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "object_store_memory": 80 * MB, "include_dashboard": False}))
    for _ in range(2): _add_worker(cluster)
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture
def one_thread():
    "Ray gives a one-CPU task one thread; the local reference run uses one too, so that the floats agree exactly."
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_ray_cluster_gives_the_records_of_a_local_run(cluster, tmp_path, one_thread):
    on_ray, local = _grid(tmp_path / "ray"), _grid(tmp_path / "local")
    counts = run_grid(on_ray, progress=False, engine=RayEngine(cpus_per_pack=1))
    assert counts == {"finished": 7, "failed": 0}  # base (once per task), and sft, ia2, ia2-sft in 2 runs
    assert run_grid(local, progress=False) == {"finished": 7, "failed": 0}
    done, expected = _comparable(on_ray), _comparable(local)
    assert len(expected) == 7 and sorted(done) == sorted(expected)
    for name in expected: close(done[name], expected[name], name)
    nodes = {r["node"] for r in (json.loads(p.read_text()) for p in (on_ray.folder / "tiny-llama").glob("*.json"))}
    assert nodes <= {n.node_id for n in cluster.worker_nodes}  # computed on the workers, never on the head
    sequence = [json.loads(p.read_text()) for p in (on_ray.folder / "tiny-llama").glob("*_ia2-sft_*.json")]
    assert sequence and all(r["reused"] for r in sequence)  # the first phase's adapter travelled to the worker
    assert run_grid(on_ray, progress=False, engine=RayEngine()) == {"finished": 0, "failed": 0}  # nothing left


def test_a_killed_worker_node_loses_nothing_and_computes_no_cell_twice(cluster, tmp_path, one_thread):
    grid = _grid(tmp_path / "killed", name="killed", methods="sft, ia2", epochs=12)
    engine, result = RayEngine(cpus_per_pack=1, max_retries=3), {}
    driver = threading.Thread(target=lambda: result.update(counts=run_grid(grid, progress=False, engine=engine, pack=1)))
    driver.start()
    victim, deadline = None, time.time() + 300
    while victim is None and time.time() < deadline and driver.is_alive():
        for node in list(cluster.worker_nodes):  # a node whose raylet has a worker computing a pack (titled ray::_pack_task)
            if any("_pack_task" in title for title in _titles(node)):
                victim = node.node_id
                cluster.remove_node(node, allow_graceful=False)
                _add_worker(cluster)  # a replacement joins, as on a real cluster
                break
        time.sleep(0.05)
    driver.join(timeout=400)
    assert victim is not None, "no pack was seen running on a worker node"
    assert not driver.is_alive() and result["counts"] == {"finished": 4, "failed": 0}
    status = grid_status(grid)
    assert (status.state == "done").all() and len(status) == 4
    folder = grid.folder / "tiny-llama"
    assert not list(folder.glob("*.failed.json")) and not list(folder.rglob("*.tmp")) and not list(folder.glob("*.damaged-*"))
    saved = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    assert len(saved) == 4 and len({r["id"] for r in saved}) == 4  # each cell once
    assert all(r["node"] != victim for r in saved)  # the killed node's pack was computed again elsewhere


def test_adapters_go_to_storage_instead_of_the_driver(cluster, tmp_path):
    grid, storage = _grid(tmp_path / "stored", name="stored", methods="sft"), tmp_path / "bucket"
    assert run_grid(grid, progress=False, engine=RayEngine(storage=str(storage))) == {"finished": 2, "failed": 0}
    for record in (json.loads(p.read_text()) for p in (grid.folder / "tiny-llama").glob("*.json")):
        assert record["storage"] == str(storage / "stored")
        for adapter in record["adapters"].values():
            assert (storage / "stored" / adapter["path"]).is_file() and not (grid.folder / adapter["path"]).exists()


def test_ray_engine_without_ray_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys, fresh_cli_logger):
    grid = write_grid(tmp_path, textwrap.dedent(GRID.format(name="noray", methods="sft", epochs=1)))
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError, as when it is not installed
    with pytest.raises(SystemExit) as exit:
        main(["run", str(grid), "--engine", "ray", "--quiet"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'ia2[ray]'" in err and "Traceback" not in err, err
    assert not (tmp_path / "results").exists()  # it failed before computing anything


def test_validate_and_run_name_the_grid_file_and_the_bad_model_before_anything_runs(tmp_path, capsys, fresh_cli_logger):
    text = textwrap.dedent(GRID.format(name="typo", methods="sft", epochs=1))
    grid = write_grid(tmp_path, text.replace("tiny:llama", "tiny:lama"))
    for command in ("validate", "run"):
        with pytest.raises(SystemExit) as exit:
            main([command, str(grid), "--quiet"] if command == "run" else [command, str(grid)])
        err = capsys.readouterr().err
        assert exit.value.code == 2 and err.count("\n") == 1, err
        assert f"{grid}: models: unknown tiny architecture in 'tiny:lama' (did you mean 'tiny:llama'?)" in err, err
    assert not (tmp_path / "results").exists()
    grid.write_text(text)
    assert main(["validate", str(grid)]) == 0 and "1 model(s) and 1 task(s) resolve" in capsys.readouterr().out


def test_the_ray_driver_writes_nothing_for_a_lost_lock_and_stops_on_a_full_disk(tmp_path, monkeypatch):
    """The driver's side of a returned pack, without a cluster: a cell whose lock was taken over while the driver was
    stopped is not written (the new holder writes it), and a full disk while writing stops the run with the file named."""
    import errno
    import ia2.engine as engine
    from ia2.experiments import grid_cells
    from ia2.io import NoSpaceError
    grid = load_grid(write_grid(tmp_path))
    cells = [c for c, _, _ in grid_cells(grid) if c is not None][:2]

    class Lock:
        def __init__(self, lost): self._lost = lost
        def lost(self): return self._lost

    class FakeRay:
        class exceptions: RayError = RuntimeError
        @staticmethod
        def get(ref): return "node0", [({"id": c.cell_id, "cell": c.to_dict()}, None) for c in cells]

    written = []
    monkeypatch.setattr(engine, "write_outcome", lambda grid, cell, record=None, **kw: written.append(cell.cell_id) or "finished")
    outcomes = RayEngine()._write(FakeRay, grid, {cells[0]: Lock(True), cells[1]: Lock(False)}, "ref")
    assert written == [cells[1].cell_id] and outcomes == ["finished"]

    def full(grid, cell, record=None, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(grid.folder / "x.json"))
    monkeypatch.setattr(engine, "write_outcome", full)
    with pytest.raises(NoSpaceError, match="x.json"):
        RayEngine()._write(FakeRay, grid, {c: Lock(False) for c in cells}, "ref")
