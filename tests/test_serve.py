"""The HTTP API: same answers as the Python API and the CLI's --json, errors as JSON with the right
status and no stack trace, safe defaults and limits, readiness, republish under load, batching."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

import embedsearch  # noqa: E402
from embedsearch.batch import pair_similarities  # noqa: E402
from embedsearch.cli import main  # noqa: E402
from embedsearch.serve import Limits, ServeConfig, create_app  # noqa: E402
from embedsearch.serve import stores as stores_module  # noqa: E402
from embedsearch.store import write_store  # noqa: E402
from embedsearch.text.pipeline import english_words  # noqa: E402

from .conftest import TOY_WORDS, toy_vectors  # noqa: E402


def plain(result) -> dict:
    """A result as the API sends it: the dataclass through JSON."""
    return json.loads(json.dumps(dataclasses.asdict(result), ensure_ascii=False, default=str))


def cli_json(*args: str) -> dict:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def same_ranking(got: list[dict], expected: list[dict], tolerance: float = 1e-6) -> None:
    """Neighbours found by a matrix product (micro-batch, neighbour table) against ``Store.similar``'s
    matrix-vector product: the scores agree to ``tolerance``, and the words agree wherever the scores
    are further apart than that (a near-tie may come out in the other order)."""
    assert len(got) == len(expected)
    assert [n["score"] for n in got] == pytest.approx([n["score"] for n in expected], abs=tolerance)
    scores = [n["score"] for n in expected]
    for i, (a, b) in enumerate(zip(got, expected)):
        near = [j for j in range(len(scores)) if abs(scores[j] - scores[i]) <= 2 * tolerance]
        if len(near) == 1 and i < len(scores) - 1:
            assert a["word"] == b["word"], (i, a, b)
        else:
            assert a["word"] == b["word"] or abs(a["score"] - b["score"]) <= 2 * tolerance, (i, a, b)


def wait_ready(client: TestClient, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/ready").status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError(f"not ready after {timeout} s: {client.get('/ready').json()}")


@pytest.fixture()
def serve(request):
    """serve(stores, **config) -> a ready TestClient; closed at the end of the test."""
    clients: list[TestClient] = []

    def start(stores: dict[str, Path], *, ready: bool = True, raise_errors: bool = True, **options) -> TestClient:
        client = TestClient(create_app(ServeConfig(stores=stores, **options)), raise_server_exceptions=raise_errors)
        client.__enter__()
        clients.append(client)
        if ready:
            wait_ready(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture()
def lee(serve, lee_store: Path) -> TestClient:
    # Without the neighbour table, a request answered alone is bit-identical to Store.similar (the
    # table's and the micro-batches' matrix products round differently: see the tests below).
    return serve({"lee": lee_store}, neighbour_tables=False)


# --- the same answers as the Python API and the CLI ----------------------------------------------


@pytest.mark.parametrize("query", ["government", "police officers", "government - police + fire", "0.5*fire + police"])
def test_similar_equals_python_api_and_cli_json(lee, lee_store: Path, query: str):
    got = lee.get("/v1/similar", params={"q": query, "k": 7})
    assert got.status_code == 200, got.text
    with embedsearch.open_store(lee_store) as store:
        expected = plain(store.similar(query, k=7))
    assert got.json() == expected
    assert got.json() == cli_json("similar", "-s", str(lee_store), "-k", "7", query)
    # POST with a JSON body is the same operation.
    assert lee.post("/v1/similar", json={"q": query, "k": 7}).json() == expected


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_analogy_equals_python_api_and_cli_json(lee, lee_store: Path, method: str):
    got = lee.get("/v1/analogy", params={"a": "man", "b": "he", "c": "woman", "method": method, "k": 5})
    assert got.status_code == 200, got.text
    with embedsearch.open_store(lee_store) as store:
        assert got.json() == plain(store.analogy("man", "he", "woman", method=method, k=5))
    assert got.json() == cli_json("analogy", "-s", str(lee_store), "--method", method, "-k", "5", "man", "he", "woman")


def test_similarity_doesnt_match_info_examples_equal_cli_json(lee, lee_store: Path):
    s = str(lee_store)
    assert lee.get("/v1/similarity", params={"first": "police", "second": "fire"}).json() == \
        cli_json("similarity", "-s", s, "police", "fire")
    words = ["police", "fire", "government", "cricket"]
    assert lee.get("/v1/doesnt-match", params={"words": words}).json() == cli_json("doesnt-match", "-s", s, *words)
    assert lee.post("/v1/doesnt-match", json={"words": words}).json() == cli_json("doesnt-match", "-s", s, *words)
    assert lee.get("/v1/info").json() == cli_json("info", "-s", s)
    got = lee.get("/v1/examples", params={"word": "police", "limit": 3})
    assert got.status_code == 200, got.text
    assert got.json() == cli_json("examples", "-s", s, "-n", "3", "police")
    assert len(got.json()["examples"]) == 3


def test_batch_forms_equal_one_query_at_a_time(lee, lee_store: Path):
    queries = ["government", "police", "notaword", "fire - police", "australia"]
    got = lee.post("/v1/similar/batch", json={"queries": queries, "k": 5})
    assert got.status_code == 200, got.text
    results = got.json()["results"]
    with embedsearch.open_store(lee_store) as store:
        for query, result in zip(queries, results):
            if query == "notaword":
                assert result["error"]["status"] == 404 and result["error"]["type"] == "unknown_word"
                continue
            expected = plain(store.similar(query, k=5))
            same_ranking(result["neighbors"], expected["neighbors"])
            assert result["terms"] == expected["terms"]
        pairs = [["police", "fire"], ["police", "notaword"]]
        got = lee.post("/v1/similarity/batch", json={"pairs": pairs}).json()["results"]
        assert got == [plain(p) for p in pair_similarities(store, [tuple(p) for p in pairs])]
        assert got[1]["score"] is None and got[1]["oov"] == ["notaword"]
        vectors = lee.post("/v1/vectors", json={"words": ["police", "fire fighters"]}).json()["results"]
        for text, entry in zip(["police", "fire fighters"], vectors):
            _, vector, _ = store.resolve(text)
            assert entry["words"] == text.split()
            np.testing.assert_allclose(entry["vector"], vector, rtol=1e-6)
        by_vector = lee.post("/v1/similar/vector", json={"vector": store.vector("police").tolist(), "k": 3}).json()
        assert by_vector["neighbors"][0]["word"] == "police"  # nothing is left out of a vector query
        assert [n["word"] for n in by_vector["neighbors"][1:]] == [n.word for n in store.similar("police", k=2).neighbors]


def test_one_word_answers_from_the_neighbour_table_equal_the_search(serve, lee_store: Path):
    client = serve({"lee": lee_store})
    deadline = time.monotonic() + 30
    while client.get("/v1/stores").json()["stores"][0]["neighbour_table"] != "ready":
        assert time.monotonic() < deadline, "the neighbour table was not built in 30 s"
        time.sleep(0.05)
    table = client.app.state.api.stores.get("lee").table
    with embedsearch.open_store(lee_store) as store:
        words = store.vocabulary()[::37][:40]
        for word in words:
            for k in (1, 10, 50):
                got = client.get("/v1/similar", params={"q": word, "k": k}).json()
                expected = plain(store.similar(word, k=k))
                same_ranking(got["neighbors"], expected["neighbors"])
                assert {key: got[key] for key in ("query", "terms", "search")} == \
                    {key: expected[key] for key in ("query", "terms", "search")}
        # Deeper than the table, a phrase, an expression: searched, as before.
        for query, k in (("police", 51), ("police officers", 5), ("police - fire", 5)):
            assert table.answer(engine_compose(store, query), k) is None
            assert [n["word"] for n in client.get("/v1/similar", params={"q": query, "k": k}).json()["neighbors"]] == \
                [n.word for n in store.similar(query, k=k).neighbors]
        batch = client.post("/v1/similar/batch", json={"queries": words[:5] + ["police - fire"], "k": 5}).json()["results"]
        for query, result in zip(words[:5] + ["police - fire"], batch):
            same_ranking(result["neighbors"], plain(store.similar(query, k=5))["neighbors"])


def test_a_batch_does_its_work_once_for_the_list_and_answers_as_single_requests(serve, lee_store: Path, monkeypatch):
    """POST /v1/similar/batch (engine.similar_documents): the one-word queries are looked up in the
    neighbour table all at once and the others composed and searched as one matrix product; every
    item is the document (or the error) the single request gives."""
    from embedsearch.serve import engine

    client = serve({"lee": lee_store})
    deadline = time.monotonic() + 30
    while client.get("/v1/stores").json()["stores"][0]["neighbour_table"] != "ready":
        assert time.monotonic() < deadline, "the neighbour table was not built in 30 s"
        time.sleep(0.05)
    with embedsearch.open_store(lee_store) as store:
        words = store.vocabulary()[::29][:60]
    searched = ["police officers", "police - fire", "0.5*fire + police", "notaword", "king -", "police +"]
    queries = words + [words[0], words[3].upper(), words[7]] + searched
    calls = {"compose": 0, "similar_many": 0, "answer_many": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(engine, "compose", counted("compose", engine.compose))
    monkeypatch.setattr(engine, "similar_many", counted("similar_many", engine.similar_many))
    table_class = engine.NeighbourTable
    monkeypatch.setattr(table_class, "answer_many", counted("answer_many", table_class.answer_many))
    got = client.post("/v1/similar/batch", json={"queries": queries, "k": 8})
    assert got.status_code == 200, got.text
    results = got.json()["results"]
    # One table look-up for every one-word query, one search for the rest, compose only for the rest.
    assert calls == {"answer_many": 1, "similar_many": 1, "compose": len(searched)}
    assert len(results) == len(queries)
    for query, result in zip(queries, results):
        single = client.post("/v1/similar", json={"q": query, "k": 8})
        if single.status_code != 200:
            assert result == single.json(), query  # the same error: status, type, message, suggestions
        elif query in searched:  # several queries in one matrix product: last-bit rounding may differ
            assert {key: result[key] for key in ("query", "terms", "search", "rerank")} == \
                {key: single.json()[key] for key in ("query", "terms", "search", "rerank")}
            same_ranking(result["neighbors"], single.json()["neighbors"])
        else:  # both from the neighbour table: the very same document
            assert result == single.json(), query
    assert sum("error" in r for r in results) == 3
    # Deeper than the table: every query searched, still one search for the list.
    calls.update(compose=0, similar_many=0, answer_many=0)
    deep = client.post("/v1/similar/batch", json={"queries": words[:5], "k": 51}).json()["results"]
    assert calls["similar_many"] == 1 and calls["compose"] == 5
    with embedsearch.open_store(lee_store) as store:
        for word, result in zip(words[:5], deep):
            same_ranking(result["neighbors"], plain(store.similar(word, k=51))["neighbors"])


def test_the_table_resolves_each_query_once_within_its_bound(lee_store: Path, monkeypatch):
    """NeighbourTable.plain_word remembers how queries resolved (a table is one generation: its
    pipeline and vocabulary never change): a batch asked again resolves nothing anew and answers the
    same; the memory is emptied when full, and long queries are never kept."""
    from embedsearch.serve import engine

    with embedsearch.open_store(lee_store) as store:
        table = engine.NeighbourTable(store)
        table.build()
        words = store.vocabulary()[::31][:20]
        queries = words + [words[2].upper(), "notaword", "police - fire"]
        resolved = {"count": 0}
        original = engine.plain_word

        def counted(*args):
            resolved["count"] += 1
            return original(*args)

        monkeypatch.setattr(engine, "plain_word", counted)
        first = engine.similar_documents(store, table, queries, 5)
        assert resolved["count"] == len(queries)
        again = engine.similar_documents(store, table, queries, 5)
        assert resolved["count"] == len(queries)  # all remembered, the failing ones too
        assert [a if isinstance(a, dict) else str(a) for a in again] == [a if isinstance(a, dict) else str(a) for a in first]
        assert table.plain_word(words[2].upper()) == original(store, words[2].upper())
        monkeypatch.setattr(engine, "_RESOLVED_MAX", 4)
        for word in words[:9]:
            table.plain_word(word + " ")
        assert len(table._resolved) <= 4
        long_query = "x" * (engine._RESOLVED_CHARS + 1)
        table.plain_word(long_query)
        assert long_query not in table._resolved


def test_json_responses_are_the_bytes_json_would_write():
    from embedsearch.serve.app import dump_json

    document = {"query": "서울", "neighbors": [{"word": "부산", "score": 0.6483205556869507}, {"word": "x", "score": 1e-05}],
                "n": 3, "ok": True, "none": None, "terms": [{"words": ["a\"b", "\u00e9"], "weight": -0.5}]}
    assert json.loads(dump_json(document)) == document
    assert dump_json({k: v for k, v in document.items() if k != "neighbors"}) == \
        json.dumps({k: v for k, v in document.items() if k != "neighbors"}, ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(dump_json({1: 2**70})) == {"1": 2**70}  # what orjson refuses goes through json


def engine_compose(store, query):
    from embedsearch.serve.engine import compose

    return compose(store, query)


def test_restrict_ranks_only_the_given_words(lee, lee_store: Path):
    among = ["fire", "government", "cricket", "police"]
    got = lee.get("/v1/similar", params={"q": "police", "restrict": among, "k": 10})
    assert got.status_code == 200, got.text
    with embedsearch.open_store(lee_store) as store:
        expected = sorted(((w, store.similarity("police", w).score) for w in among if w != "police"), key=lambda x: -x[1])
    assert [n["word"] for n in got.json()["neighbors"]] == [w for w, _ in expected]
    assert [n["score"] for n in got.json()["neighbors"]] == pytest.approx([s for _, s in expected], abs=1e-5)


def test_concurrent_similar_requests_are_searched_together_and_answer_right(lee_store: Path):
    """Many requests at once through the ASGI app: fewer searches than queries, every answer right."""
    import httpx

    app = create_app(ServeConfig(stores={"lee": lee_store}, reload_seconds=0, neighbour_tables=False))
    api = app.state.api
    api.stores.open_all()
    with embedsearch.open_store(lee_store) as store:
        words = store.vocabulary()[50:110]
        expected = {w: plain(store.similar(w, k=5))["neighbors"] for w in words}

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await asyncio.gather(*(client.get("/v1/similar", params={"q": w, "k": 5}) for w in words))

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * len(words)
    for word, response in zip(words, responses):
        same_ranking(response.json()["neighbors"], expected[word])
    assert api.batcher.queries == len(words)
    assert api.batcher.searches < len(words) / 2  # answered together, not one search per request
    api.stores.close()


def test_map_places_the_query_and_its_neighbours(lee):
    got = lee.get("/v1/similar", params={"q": "police", "k": 6, "map": "true"}).json()
    points = got["map"]["points"]
    assert [p["word"] for p in points] == ["police"] + [n["word"] for n in got["neighbors"]]
    assert points[0]["query"] and all(not p["query"] for p in points[1:])
    assert len({(round(p["x"], 6), round(p["y"], 6)) for p in points}) == len(points)  # not collapsed
    assert sum(got["map"]["explained"]) <= 1.0 + 1e-9 and got["map"]["explained"][0] > 0


def test_vocabulary_pages_and_completes_prefixes(lee, lee_store: Path):
    with embedsearch.open_store(lee_store) as store:
        vocabulary = store.vocabulary()
    page = lee.get("/v1/vocabulary", params={"offset": 5, "limit": 4}).json()
    assert page["words"] == vocabulary[5:9] and page["total"] == len(vocabulary)
    completed = lee.get("/v1/vocabulary", params={"prefix": "Pol", "limit": 50}).json()
    expected = [w for w in vocabulary if w.startswith("pol")]
    assert completed["words"] == expected[:50] and completed["total"] == len(expected) and expected


def test_korean_queries_and_completion(serve, tmp_path: Path):
    words = ["서울", "부산", "서울역", "사과", "배"]
    vectors = np.array([[1, 0.1, 0], [1, 0.3, 0], [0.9, 0, 0.1], [0, 1, 0], [0, 1, 0.2]], dtype=np.float32)
    write_store(tmp_path / "ko", words=words, counts=[5, 4, 3, 2, 1], vectors=vectors, model={"kind": "handmade"},
                pipeline=english_words().to_dict())
    client = serve({"ko": tmp_path / "ko"})
    got = client.get("/v1/similar", params={"q": "서울", "k": 2})
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/json")
    assert [n["word"] for n in got.json()["neighbors"]] == ["서울역", "부산"]
    assert "서울역" in got.text  # UTF-8 as is, not \\u escapes
    assert client.get("/v1/vocabulary", params={"prefix": "서"}).json()["words"] == ["서울", "서울역"]


# --- errors ---------------------------------------------------------------------------------------


def error_of(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()["error"]
    assert body["status"] == status and body["type"] == kind
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def test_errors_are_json_with_the_right_status_and_the_library_message(lee, lee_store: Path):
    body = error_of(lee.get("/v1/similar", params={"q": "polise"}), 404, "unknown_word")
    with embedsearch.open_store(lee_store) as store, pytest.raises(embedsearch.UnknownWordError) as raised:
        store.similar("polise")
    assert body["message"] == str(raised.value) and body["word"] == "polise"
    assert "police" in body["suggestions"]
    error_of(lee.get("/v1/similar", params={"q": "police - police"}), 400, "query_error")
    error_of(lee.get("/v1/similar", params={"q": "police +"}), 400, "bad_request")
    error_of(lee.get("/v1/similar", params={"q": "police", "k": "0"}), 422, "invalid_parameter")
    error_of(lee.get("/v1/similar", params={"q": "police", "k": "ten"}), 422, "invalid_parameter")
    error_of(lee.get("/v1/similar", params={"q": "police", "k": "1001"}), 422, "invalid_parameter")
    error_of(lee.get("/v1/similar"), 422, "invalid_parameter")
    error_of(lee.get("/v1/similar", params={"q": "police", "path": "/etc/passwd"}), 422, "invalid_parameter")
    error_of(lee.post("/v1/similar", json={"q": 3}), 422, "invalid_parameter")
    error_of(lee.post("/v1/similar", content=b"{not json"), 400, "bad_request")
    error_of(lee.post("/v1/similar", json=["police"]), 400, "bad_request")
    error_of(lee.get("/v1/analogy", params={"a": "man", "b": "he", "c": "woman", "method": "nope"}), 422, "invalid_parameter")
    error_of(lee.get("/v1/doesnt-match", params={"words": ["police", "fire"]}), 400, "bad_request")
    error_of(lee.get("/v1/similar", params={"q": "police", "store": "other"}), 404, "unknown_store")
    error_of(lee.get("/v1/nothing"), 404, "not_found")
    error_of(lee.delete("/v1/similar"), 405, "method_not_allowed")
    error_of(lee.get("/v1/similar", params={"q": "police", "ef_search": 10}), 400, "bad_request")  # flat store
    error_of(lee.post("/v1/similar/vector", json={"vector": [1.0, 2.0]}), 400, "bad_request")


def test_limits_on_body_batch_k_and_query_length(serve, toy_store: Path):
    limits = Limits(max_k=5, max_batch=3, max_body_bytes=2000, max_query_chars=20)
    client = serve({"toy": toy_store}, limits=limits)
    error_of(client.post("/v1/similar/batch", json={"queries": ["king"] * 4}), 413, "too_large")
    error_of(client.post("/v1/similar/batch", content=json.dumps({"queries": ["king " * 500]})), 413, "too_large")
    error_of(client.get("/v1/similar", params={"q": "king", "k": 6}), 422, "invalid_parameter")
    error_of(client.get("/v1/similar", params={"q": "king + " * 5}), 422, "invalid_parameter")
    assert client.get("/v1/similar", params={"q": "king", "k": 5}).status_code == 200
    assert client.post("/v1/similar/batch", json={"queries": ["king"] * 3, "k": 2}).status_code == 200


def test_an_unexpected_failure_is_a_plain_500_without_details(serve, toy_store: Path, monkeypatch):
    from embedsearch.serve import engine

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail /home/someone/file.py")

    monkeypatch.setattr(engine, "similar_among", broken)
    client = serve({"toy": toy_store}, raise_errors=False)
    response = client.get("/v1/similar", params={"q": "king", "restrict": ["queen"]})
    body = error_of(response, 500, "internal")
    assert "secret" not in response.text and "someone" not in body["message"]
    assert client.get("/v1/similar", params={"q": "king"}).status_code == 200  # the server carries on


def test_a_slow_request_times_out_as_503(serve, toy_store: Path, monkeypatch):
    from embedsearch.serve import engine

    def slow(*args, **kwargs):
        time.sleep(0.6)
        raise AssertionError("not reached in time")

    monkeypatch.setattr(engine, "similar_to_vector", slow)
    client = serve({"toy": toy_store}, limits=Limits(timeout_seconds=0.2))
    error_of(client.post("/v1/similar/vector", json={"vector": [1, 0, 0, 0]}), 503, "timeout")


# --- safe defaults --------------------------------------------------------------------------------


def test_token_is_checked_on_every_api_request(serve, toy_store: Path):
    token = "a-long-enough-token-123"
    client = serve({"toy": toy_store}, token=token)
    error_of(client.get("/v1/similar", params={"q": "king"}), 401, "unauthorized")
    error_of(client.get("/v1/similar", params={"q": "king"}, headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    error_of(client.post("/v1/similar/batch", json={"queries": ["king"]}, headers={"Authorization": token}), 401, "unauthorized")
    ok = client.get("/v1/similar", params={"q": "king"}, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json()["neighbors"][0]["word"] == "man"
    assert client.get("/health").status_code == 200 and client.get("/").status_code == 200  # page and probes open
    assert "bearer" in client.get("/openapi.json").json()["components"]["securitySchemes"]


def test_cors_is_off_unless_an_origin_is_given(serve, toy_store: Path):
    origin = {"Origin": "https://example.org"}
    closed = serve({"toy": toy_store})
    assert "access-control-allow-origin" not in closed.get("/v1/similar", params={"q": "king"}, headers=origin).headers
    opened = serve({"toy": toy_store}, cors_origins=("https://example.org",))
    assert opened.get("/v1/similar", params={"q": "king"}, headers=origin).headers["access-control-allow-origin"] == "https://example.org"
    other = opened.get("/v1/similar", params={"q": "king"}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_serve_refuses_a_non_local_bind_without_a_token(toy_store: Path, monkeypatch):
    monkeypatch.delenv("EMBEDSEARCH_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["serve", "-s", str(toy_store), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--token" in result.output
    result = CliRunner().invoke(main, ["serve", "-s", str(toy_store), "--host", "0.0.0.0", "--token", "short"])
    assert result.exit_code == 2 and "16 characters" in result.output
    result = CliRunner().invoke(main, ["serve", "-s", str(toy_store.parent / "missing")])
    assert result.exit_code == 2 and "not a store" in result.output


def test_serve_runs_uvicorn_on_the_asyncio_loop_with_a_deep_backlog(toy_store: Path, monkeypatch):
    """uvloop, saturated, accepts ~20 connections a second (docs/serving.md): the default loop is asyncio."""
    import uvicorn

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    result = CliRunner().invoke(main, ["serve", "-s", str(toy_store)])
    assert result.exit_code == 0, result.output
    assert calls[-1]["loop"] == "asyncio" and calls[-1]["backlog"] == 2048
    # uvloop is in the serve extra, not the test one: the option is checked with and without it
    monkeypatch.setitem(sys.modules, "uvloop", types.ModuleType("uvloop"))
    result = CliRunner().invoke(main, ["serve", "-s", str(toy_store), "--loop", "uvloop", "--backlog", "4096"])
    assert result.exit_code == 0, result.output
    assert calls[-1]["loop"] == "uvloop" and calls[-1]["backlog"] == 4096
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    result = CliRunner().invoke(main, ["serve", "-s", str(toy_store), "--loop", "uvloop"])
    assert result.exit_code == 1 and "--loop uvloop needs uvloop: pip install 'embedsearch-words[serve]'" in result.output
    assert len(calls) == 2


def test_store_names_default_to_the_directory(toy_store: Path, tmp_path: Path):
    from embedsearch.cli.serve import parse_stores

    assert parse_stores((str(toy_store),)) == {"toy": toy_store.absolute()}
    assert parse_stores((f"main={toy_store}",)) == {"main": toy_store.absolute()}
    with pytest.raises(Exception, match="two stores are named"):
        parse_stores((str(toy_store), str(toy_store)))


def test_openapi_lists_every_operation_and_the_page_is_offline(lee):
    schema = lee.get("/openapi.json").json()
    for path in ["/v1/similar", "/v1/similar/batch", "/v1/similar/vector", "/v1/analogy", "/v1/similarity",
                 "/v1/similarity/batch", "/v1/doesnt-match", "/v1/vectors", "/v1/examples", "/v1/info",
                 "/v1/vocabulary", "/v1/stores", "/health", "/ready"]:
        assert path in schema["paths"], path
    similar = schema["paths"]["/v1/similar"]["get"]
    assert {p["name"] for p in similar["parameters"]} >= {"q", "k", "restrict", "rerank", "ef_search", "nprobe", "store"}
    assert schema["components"]["schemas"]["Neighbor"]["properties"]["score"] == {"type": "number"}
    assert lee.get("/docs").status_code == 200
    page = lee.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    static = Path(__file__).resolve().parents[1] / "embedsearch" / "serve" / "static"
    for asset in static.iterdir():
        text = asset.read_text(encoding="utf-8")
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, asset.name
        assert lee.get(f"/static/{asset.name}").status_code == 200
    error_of(lee.get("/static/../../query.py"), 404, "not_found")


# --- readiness, republish, the light query path ---------------------------------------------------


def test_not_ready_is_503_until_the_stores_are_open(serve, toy_store: Path, monkeypatch):
    gate = threading.Event()
    real = stores_module.open_served

    def held(*args, **kwargs):
        gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(stores_module, "open_served", held)
    client = serve({"toy": toy_store}, ready=False)
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 503
    error_of(client.get("/v1/similar", params={"q": "king"}), 503, "not_ready")
    gate.set()
    wait_ready(client)
    assert client.get("/v1/similar", params={"q": "king"}).status_code == 200


def test_a_republished_store_is_picked_up_without_a_failed_request(serve, tmp_path: Path):
    path = tmp_path / "store"

    def publish(first_neighbour_of_king: str) -> None:
        vectors = toy_vectors()
        if first_neighbour_of_king == "queen":
            vectors[1] = [1.0, 0.9, 0.0, 0.0]  # queen moves next to king
        write_store(path, words=TOY_WORDS, counts=list(range(100, 90, -1)), vectors=vectors, model={"kind": "handmade"},
                    pipeline=english_words().to_dict(), overwrite=True)

    publish("man")
    client = serve({"s": path}, reload_seconds=0.02)
    failures: list[str] = []
    seen: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            response = client.get("/v1/similar", params={"q": "king", "k": 1})
            if response.status_code != 200:
                failures.append(response.text)
            else:
                seen.add(response.json()["neighbors"][0]["word"])

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for i in range(6):
            publish("queen" if i % 2 == 0 else "man")
            time.sleep(0.15)
        publish("queen")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and client.get("/v1/similar", params={"q": "king", "k": 1}).json()["neighbors"][0]["word"] != "queen":
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert seen == {"man", "queen"}
    assert client.get("/v1/similar", params={"q": "king", "k": 1}).json()["neighbors"][0]["word"] == "queen"
    assert client.app.state.api.stores.reloads >= 1


def test_a_retired_generation_is_closed_once_no_request_holds_it(tmp_path: Path):
    """Republishes must not pile up open generations for the whole grace period (memory grew by a
    store's size per publish): one is closed at the first poll after its last request ends, and a
    request that timed out (its work may still run in a thread) keeps it until the grace is over."""
    path = tmp_path / "store"

    def publish() -> None:
        write_store(path, words=TOY_WORDS, counts=list(range(100, 90, -1)), vectors=toy_vectors(),
                    model={"kind": "handmade"}, pipeline=english_words().to_dict(), overwrite=True)

    publish()
    stores = stores_module.Stores({"s": path}, grace_seconds=3600, tables=False)
    stores.open_all()
    try:
        with stores.lease("s") as held:
            publish()
            stores.check()  # the new generation is current; the held one is retired but in use
            assert stores.get("s") is not held and stores.reloads == 1
            stores.check()
            assert [s for _, s in stores._retired] == [held]
            assert held.store.similar("king", k=1).neighbors  # still answers: nothing closed under it
        stores.check()
        assert stores._retired == []  # closed at the first poll after its request ended

        abandoned = stores.get("s")
        with pytest.raises(asyncio.TimeoutError), stores.lease("s"):
            raise asyncio.TimeoutError  # as asyncio.wait_for ends a request that took too long
        publish()
        stores.check()
        stores.check()
        assert [s for _, s in stores._retired] == [abandoned]  # kept for the grace period
        stores._retired = [(0.0, abandoned)]  # the grace period is over
        stores.check()
        assert stores._retired == []
    finally:
        stores.close()


def test_a_slow_first_open_is_not_opened_again_by_the_watcher(serve, toy_store: Path, monkeypatch):
    """The watcher polls while the stores are still opening at start; it must leave that first open
    alone (it used to open the store a second time and count a reload, which made the test below
    flaky on a busy machine, where opening takes longer than one poll)."""
    opened: list[str] = []
    real = stores_module.open_served

    def slow(name, path, **kwargs):
        opened.append(name)
        time.sleep(0.3)
        return real(name, path, **kwargs)

    monkeypatch.setattr(stores_module, "open_served", slow)
    client = serve({"toy": toy_store}, reload_seconds=0.01)
    time.sleep(0.1)  # several more polls after ready
    assert opened == ["toy"] and client.app.state.api.stores.reloads == 0


def test_a_store_that_fails_to_reopen_leaves_the_old_one_answering(serve, tmp_path: Path):
    path = tmp_path / "store"
    write_store(path, words=TOY_WORDS, counts=list(range(100, 90, -1)), vectors=toy_vectors(), model={"kind": "handmade"},
                pipeline=english_words().to_dict())
    client = serve({"s": path}, reload_seconds=0.02)
    # A damaged generation published over it (through the store's own publish, with its sizes and
    # checksums recorded, so only opening it can tell).
    from embedsearch.store.update import updating_store

    stores = client.app.state.api.stores
    with updating_store(path) as update:
        update.new_file("vectors.npy").write_bytes(b"broken")
        update.record_file("vectors.npy")
    # Wait for the server to have tried the new generation (not a fixed sleep, which on a busy
    # machine can end before the first poll and then proves nothing).
    deadline = time.monotonic() + 30
    while "s" not in stores._errors:
        assert time.monotonic() < deadline, "the server did not try the republished store in 30 s"
        time.sleep(0.02)
    assert "vectors.npy" in stores._errors["s"]
    response = client.get("/v1/similar", params={"q": "king", "k": 1})
    assert response.status_code == 200 and response.json()["neighbors"][0]["word"] == "man"
    assert stores.reloads == 0 and client.get("/ready").status_code == 200


def test_the_query_path_never_imports_training_code(lee_store: Path):
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from starlette.testclient import TestClient\n"
        "from embedsearch.serve import ServeConfig, create_app\n"
        f"app = create_app(ServeConfig(stores={{'s': Path({str(lee_store)!r})}}))\n"
        "with TestClient(app) as c:\n"
        "    import time\n"
        "    while c.get('/ready').status_code != 200: time.sleep(0.01)\n"
        "    for url in ['/v1/similar?q=police', '/v1/analogy?a=man&b=he&c=woman&method=3cosmul',\n"
        "                '/v1/similarity?first=police&second=fire', '/v1/info', '/v1/examples?word=police',\n"
        "                '/v1/vocabulary?prefix=po', '/v1/similar?q=police&map=true', '/']:\n"
        "        assert c.get(url).status_code == 200, url\n"
        "    assert c.post('/v1/similar/batch', json={'queries': ['police', 'fire']}).status_code == 200\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'gensim', 'fasttext', 'sqlite_utils', 'scipy'}"
        " or m.startswith('embedsearch.training') or m == 'embedsearch.corpus' or m == 'embedsearch.rerank.training')\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("rows,queries,k", [(1000, 1, 10), (1000, 7, 1), (4099, 33, 25), (300, 5, 80), (65, 2, 3)])
def test_batched_exact_search_is_a_full_sort(rows: int, queries: int, k: int):
    """The micro-batch's top-k equals sorting every score (best first, equal scores by row), ties
    included; a score is the float64 sum rounded to float32, as every search path returns it."""
    from embedsearch.serve.engine import flat_top_k

    rng = np.random.default_rng(rows + queries)
    vectors = rng.standard_normal((rows, 8)).astype(np.float32)
    vectors[rows // 2 : rows // 2 + 40] = vectors[3]  # a run of exact ties across blocks
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    block = np.vstack([vectors[3], rng.standard_normal((queries - 1, 8))]).astype(np.float32)[:queries]
    scores, ids = flat_top_k(vectors, block, k)
    for row in range(queries):
        every = (vectors.astype(np.float64) @ block[row].astype(np.float64)).astype(np.float32)
        expected = np.lexsort((np.arange(rows), -every))[:k]
        assert ids[row].tolist() == expected.tolist()
        np.testing.assert_array_equal(scores[row], every[expected])


def test_exact_search_candidates_keep_rows_one_rounding_below_the_last():
    """Rows a float32 GEMM scored one unit in the last place below a tie are still rescored, and
    rows clearly below are not: exactness must not rest on BLAS rounding identical rows alike."""
    from embedsearch.serve.engine import select_top_k
    from embedsearch.store.index import TIE_POOL, with_near_ties

    angles = np.linspace(1.5, 0.1, 100)  # row r scores cos(angle) with e1: higher rows score higher
    rows = np.zeros((100, 8), dtype=np.float32)
    rows[:, 1], rows[:, 2] = np.cos(angles), np.sin(angles)
    rows[10:60] = 0
    rows[10:60, 0] = 1.0  # 50 equal rows, more than SCORE_MARGIN and the tie pool
    queries = np.eye(8, dtype=np.float32)[:2]
    scores = rows @ queries.T
    scores[30:60, 0] = np.nextafter(np.float32(1.0), np.float32(0.0))  # the same row, rounded down
    ids = with_near_ties(rows, queries, *select_top_k(scores, 5 + TIE_POOL), 5)
    assert set(ids[0].tolist()) == set(range(10, 60))
    assert set(ids[1].tolist()) - {-1} == set(range(95, 100))


def test_reranked_answers_equal_python_api_and_cli_json(serve, tmp_path: Path, lee_store: Path, lee_corpus):
    import shutil

    from embedsearch.rerank.training import RerankConfig, train_reranker

    store_path = tmp_path / "reranked"
    shutil.copytree(lee_store, store_path)
    train_reranker(store_path, lee_corpus.path, RerankConfig(hidden=8, batch=32, negatives=5, epochs=1, sample=1e-3, seed=4))
    client = serve({"r": store_path})
    got = client.get("/v1/similar", params={"q": "police", "k": 5, "rerank": "true", "rerank_k": 20})
    assert got.status_code == 200, got.text
    assert got.json()["rerank"]["candidates"] == 20 and "fit" in got.json()["neighbors"][0]
    assert got.json() == cli_json("similar", "-s", str(store_path), "-k", "5", "--rerank", "--rerank-k", "20", "police")
    analogy = client.get("/v1/analogy", params={"a": "man", "b": "he", "c": "woman", "k": 3, "rerank": "true"})
    with embedsearch.open_store(store_path) as store:
        assert analogy.json() == plain(store.analogy("man", "he", "woman", k=3, rerank=True))
    assert client.get("/v1/stores").json()["stores"][0]["reranker"] is True
