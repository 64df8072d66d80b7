"""Ingest and batch export on a Dask cluster: the same corpus and the same neighbours as a local run.

One ``LocalCluster`` (two worker processes, one thread each) serves the whole module; the tests
skip when Dask distributed is not installed (``pip install 'embedsearch[cluster]'``).
"""
from __future__ import annotations

import json
import os
import platform
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import embedsearch
from embedsearch.batch import neighbors_of, write_neighbors
from embedsearch.cli import main
from embedsearch import cluster as cluster_module
from embedsearch.cluster import ClusterOptions
from embedsearch.errors import ConfigError, SourceError
from embedsearch.progress import Progress
from embedsearch.text.pipeline import parse_steps

distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed: pip install '.[cluster]'")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0",
                                       worker_dashboard_address=None)
    with distributed.Client(cluster) as connected:
        yield connected
    cluster.close()


def corpus_files(path: Path) -> dict[str, bytes]:
    """Every file of a corpus; corpus.json without the timing, the one thing two runs may differ in."""
    found = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        data = file.read_bytes()
        if file.name == "corpus.json":
            meta = json.loads(data)
            meta["stats"].pop("seconds")
            data = json.dumps(meta, sort_keys=True).encode()
        found[str(file.relative_to(path))] = data
    return found


def big_texts(folder: Path, lee_text: Path, monkeypatch: pytest.MonkeyPatch, files: int = 3,
              copies: int = 6) -> list[Path]:
    """Files of ~2 MB of real English each (the Lee corpus, each copy numbered), 11 chunks a file;
    one chunk a task, so that a 2-worker cluster has 12 chunks in flight: when the first results
    arrive, the second file is being read and the third is still to come."""
    monkeypatch.setattr(cluster_module, "_GROUP_BYTES", 1)
    lines = lee_text.read_text(encoding="utf-8").splitlines()
    paths = []
    for number in range(files):
        path = folder / f"part{number}.txt"
        with open(path, "w", encoding="utf-8") as out:
            for copy in range(copies):
                for line in lines:
                    out.write(f"{line} file{number}copy{copy}\n")
        paths.append(path)
    return paths


@pytest.mark.parametrize("inputs", ["auto", "bytes", "shared"])
def test_english_corpus_is_byte_identical_to_a_local_run(tmp_path: Path, lee_text: Path, client, inputs: str):
    local = embedsearch.ingest([lee_text], tmp_path / "local", workers=2)
    remote = embedsearch.ingest([lee_text], tmp_path / "cluster", cluster=ClusterOptions(client, inputs))
    assert local.stats.workers == remote.stats.workers == 2
    assert remote.stats.tokens > 50_000
    assert corpus_files(tmp_path / "cluster") == corpus_files(tmp_path / "local")


@pytest.mark.parametrize("spec", ["nfkc,sentences,lowercase,word,phrases:passes=2;min_count=5;threshold=10",
                                  "nfkc,sentences,lowercase,subword:model=bpe;vocab_size=400;seed=7"])
def test_fitted_pipeline_learns_the_same_model_on_a_cluster(tmp_path: Path, lee_text: Path, client, spec: str):
    local = embedsearch.ingest([lee_text], tmp_path / "local", pipeline=parse_steps(spec), workers=2)
    remote = embedsearch.ingest([lee_text], tmp_path / "cluster", pipeline=parse_steps(spec), cluster=client)
    assert local.pipeline.artifact_names and local.pipeline.to_dict() == remote.pipeline.to_dict()
    assert corpus_files(tmp_path / "cluster") == corpus_files(tmp_path / "local")


def test_export_neighbors_is_identical_to_a_local_run(lee_store: Path, client, tmp_path: Path):
    with embedsearch.open_store(lee_store) as store:
        local = list(neighbors_of(store, k=5, batch_size=256))
        remote = list(neighbors_of(store, k=5, batch_size=256, cluster=client))
        assert len(local) == len(store) > 1000
        assert remote == local
        words = [row.word for row in local[::7]] + ["qqqunknownqqq", "the"]
        local_words = list(neighbors_of(store, words, k=3, min_score=0.2, batch_size=64))
        remote_words = list(neighbors_of(store, words, k=3, min_score=0.2, batch_size=64, cluster=client))
        assert remote_words == local_words
        assert not remote_words[-2].known and remote_words[-1].known


def test_cli_ingest_and_export_with_cluster_address(tmp_path: Path, lee_text: Path, lee_store: Path, client,
                                                    monkeypatch: pytest.MonkeyPatch):
    runner = CliRunner()
    address = client.scheduler.address
    local = runner.invoke(main, ["--quiet", "ingest", str(lee_text), "-o", str(tmp_path / "local"), "--workers", "2"])
    assert local.exit_code == 0, local.output
    monkeypatch.setenv("EMBEDSEARCH_CLUSTER", address)  # the environment variable alone selects the cluster
    remote = runner.invoke(main, ["--quiet", "ingest", str(lee_text), "-o", str(tmp_path / "cluster")])
    assert remote.exit_code == 0, remote.output
    assert "with 2 worker(s)" in remote.output
    assert corpus_files(tmp_path / "cluster") == corpus_files(tmp_path / "local")
    both = runner.invoke(main, ["ingest", str(lee_text), "-o", str(tmp_path / "x"), "--workers", "2"])
    assert both.exit_code == 2 and "--cluster" in both.output
    monkeypatch.delenv("EMBEDSEARCH_CLUSTER")
    for name, extra in (("local.tsv", []), ("cluster.tsv", ["--cluster", address])):
        result = runner.invoke(main, ["--quiet", "export", "neighbors", str(lee_store), "-k", "4", "-o",
                                      str(tmp_path / name), *extra])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "cluster.tsv").read_bytes() == (tmp_path / "local.tsv").read_bytes()
    assert len((tmp_path / "local.tsv").read_bytes().splitlines()) > 4000
    # each call connected with a Client of its own and closed it: only the fixture's is left (a
    # client left open would try to reconnect once the cluster is gone, and log it in later tests)
    deadline = time.monotonic() + 10
    while scheduler_clients(client) != {client.id} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert scheduler_clients(client) == {client.id}


def scheduler_clients(client) -> set[str]:
    return set(client.run_on_scheduler(lambda dask_scheduler: [c for c in dask_scheduler.clients if c != "fire-and-forget"]))


def test_a_killed_worker_has_its_chunks_redone(tmp_path: Path, lee_text: Path, client, monkeypatch: pytest.MonkeyPatch):
    sources = big_texts(tmp_path, lee_text, monkeypatch)
    local = embedsearch.ingest(sources, tmp_path / "local", workers=2)
    pids = client.run(os.getpid)
    killed: list[int] = []

    def kill_one(event: Progress) -> None:
        if event.stage == "ingest" and not killed and event.done > 0:
            assert event.done < 0.75 * sum(p.stat().st_size for p in sources) / 1e6  # most of the input still to come
            pid = next(iter(pids.values()))
            os.kill(pid, signal.SIGKILL)  # mid-ingest: most chunks are still to come
            killed.append(pid)

    remote = embedsearch.ingest(sources, tmp_path / "cluster", cluster=client, progress=kill_one)
    assert killed
    assert corpus_files(tmp_path / "cluster") == corpus_files(tmp_path / "local")
    assert remote.stats.vocabulary == local.stats.vocabulary  # the dead worker's reported words are not lost
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next tests
    assert killed[0] not in client.run(os.getpid).values()


@pytest.mark.parametrize("inputs", ["auto", "shared"])
def test_input_a_worker_cannot_read_fails_naming_file_and_worker(tmp_path: Path, lee_text: Path, client, inputs: str,
                                                                monkeypatch: pytest.MonkeyPatch):
    sources = big_texts(tmp_path, lee_text, monkeypatch)
    source = sources[1]  # open in the client when the first results arrive, most of it still to come
    output = tmp_path / "cluster"

    def remove_source(event: Progress) -> None:  # workers read shared inputs by path: from now on, nothing there
        if event.stage == "ingest" and source.exists():
            source.unlink()

    with pytest.raises(SourceError) as caught:
        embedsearch.ingest(sources, output, cluster=ClusterOptions(client, inputs), progress=remove_source)
    message = str(caught.value)
    assert str(source) in message and ("no such file" in message.lower() or "cannot read" in message)
    assert "on Dask worker tcp://" in message
    assert not output.exists() and not [p for p in tmp_path.iterdir() if "cluster" in p.name]  # no partial corpus


def test_bad_cluster_options_are_clear_errors(tmp_path: Path, lee_text: Path):
    with pytest.raises(ConfigError, match="inputs must be one of"):
        ClusterOptions("tcp://127.0.0.1:1", "nfs")
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        embedsearch.ingest([lee_text], tmp_path / "out", cluster="tcp://127.0.0.1:9")


# Workers on this machine see every file the client sees; to give one worker a different view, its
# _file_identity (how workers open and stat an input) is replaced in that worker process only.
HIDE = """
import embedsearch.cluster as m
real = getattr(m, "_real_file_identity", m._file_identity)
m._real_file_identity = real
def hidden(path, real=real):
    if path.endswith(NAME):
        raise FileNotFoundError(2, "No such file or directory", path)
    return real(path)
m._file_identity = hidden
"""
RESTORE = """
import embedsearch.cluster as m
m._file_identity = getattr(m, "_real_file_identity", m._file_identity)
"""


@pytest.fixture
def hide_on_one_worker(client):
    """hide(name): one worker cannot open files whose path ends with name; returns that worker's address."""
    def hide(name: str) -> str:
        worker = sorted(client.scheduler_info()["workers"])[0]
        client.run(exec, HIDE.replace("NAME", repr(name)), {}, workers=[worker])
        return worker

    yield hide
    client.run(exec, RESTORE, {})


def count_client_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths of the chunks the client reads itself to ship them (inputs not read by the workers)."""
    read: list[str] = []
    real = cluster_module.ChunkExecutor._read

    def counting(path: str, start: int, length: int) -> bytes:
        read.append(path)
        return real(path, start, length)

    monkeypatch.setattr(cluster_module.ChunkExecutor, "_read", staticmethod(counting))
    return read


def test_auto_inputs_travel_as_paths_when_every_worker_sees_the_file(tmp_path: Path, lee_text: Path, client,
                                                                     monkeypatch: pytest.MonkeyPatch):
    sources = big_texts(tmp_path, lee_text, monkeypatch, files=2, copies=2)
    local = embedsearch.ingest(sources, tmp_path / "local", workers=2)
    read = count_client_reads(monkeypatch)
    embedsearch.ingest(sources, tmp_path / "auto", cluster=client)  # auto: the default
    assert read == []  # the workers read every range themselves: no byte went through the client
    assert corpus_files(tmp_path / "auto") == corpus_files(tmp_path / "local")
    embedsearch.ingest(sources, tmp_path / "bytes", cluster=ClusterOptions(client, "bytes"))
    assert sorted(set(read)) == sorted(str(p) for p in sources) and len(read) > 4  # every chunk shipped
    assert corpus_files(tmp_path / "bytes") == corpus_files(tmp_path / "local")
    assert local.stats.tokens > 100_000


def test_auto_ships_a_file_one_worker_cannot_see_and_shared_refuses_it(tmp_path: Path, lee_text: Path, client,
                                                                      hide_on_one_worker,
                                                                      monkeypatch: pytest.MonkeyPatch):
    sources = big_texts(tmp_path, lee_text, monkeypatch, files=2, copies=2)
    local = embedsearch.ingest(sources, tmp_path / "local", workers=2)
    worker = hide_on_one_worker(sources[1].name)
    read = count_client_reads(monkeypatch)
    embedsearch.ingest(sources, tmp_path / "auto", cluster=client)
    assert set(read) == {str(sources[1])}  # the hidden file is shipped, the other read by the workers
    assert corpus_files(tmp_path / "auto") == corpus_files(tmp_path / "local")
    assert local.stats.files == 2
    with pytest.raises(SourceError) as caught:
        embedsearch.ingest(sources, tmp_path / "shared", cluster=ClusterOptions(client, "shared"))
    message = str(caught.value)
    assert f"Dask worker {worker} cannot read {sources[1]}" in message and "No such file" in message
    assert "same path on every worker" in message
    assert not (tmp_path / "shared").exists() and not [p for p in tmp_path.iterdir() if "shared" in p.name]


def test_a_file_changed_during_the_ingest_fails_naming_it(tmp_path: Path, lee_text: Path, client,
                                                         monkeypatch: pytest.MonkeyPatch):
    sources = big_texts(tmp_path, lee_text, monkeypatch)
    source = sources[2]  # still to be read by the workers when the first results arrive
    changed: list[bool] = []

    def append(event: Progress) -> None:
        if event.stage == "ingest" and not changed:
            with open(source, "a", encoding="utf-8") as out:
                out.write("a line added while the ingest runs\n")
            changed.append(True)

    with pytest.raises(SourceError) as caught:
        embedsearch.ingest(sources, tmp_path / "cluster", cluster=client, progress=append)
    message = str(caught.value)
    assert changed and f"{source} is not the file the client read" in message and "on Dask worker tcp://" in message
    assert not (tmp_path / "cluster").exists()


def _probe_widen() -> None:
    """On a worker: record each heap.widen() the ingest makes, and its answer."""
    from embedsearch import heap

    real = getattr(heap, "_real_widen", heap.widen)
    heap._real_widen = real
    heap.probed = []

    def widen() -> bool:
        widened = real()
        heap.probed.append((widened, heap._depth))
        return widened

    heap.widen = widen


def _heap_depth() -> tuple[int, int]:
    from embedsearch import cluster, heap

    return heap._depth, len(cluster._widened)


def _probe_results() -> tuple[list, int, int]:
    from embedsearch import cluster, heap

    heap.widen = heap._real_widen
    return heap.probed, heap._depth, len(cluster._widened)


def test_workers_widen_the_heap_for_a_pass_and_put_it_back(tmp_path: Path, lee_text: Path, client):
    """Dask starts its workers with MALLOC_TRIM_THRESHOLD_ set (heap.py says what that costs):
    each worker widens glibc's thresholds once for its pass and has narrowed them when it ends."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    assert set(client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == {"65536"}
    # a pass an earlier test left unfinished on a worker (a killed worker, a failed ingest) may
    # still hold its widening: count from where each worker is
    before = client.run(_heap_depth)
    client.run(_probe_widen)
    try:
        embedsearch.ingest([lee_text], tmp_path / "cluster", cluster=client)
    finally:
        results = client.run(_probe_results)
    worked = [(worker, probed) for worker, (probed, _, _) in results.items() if probed]
    assert worked and all(probed == [(True, before[worker][0] + 1)] for worker, probed in worked)
    assert all((depth, widened) == before[worker] for worker, (_, depth, widened) in results.items())
