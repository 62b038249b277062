"""Property-based fuzz test of the HTTP API from its own OpenAPI document (schemathesis), against a
live `kgctl serve --enable-cypher --token ...` on 127.0.0.1 and a small real graph (issue 14).

Every operation gets schema-conforming (positive) and schema-violating (negative) requests, with
and without the token, and /cypher gets any JSON value as the parameter of queries that parse:
no answer is a 5xx, the server log holds no traceback, and the graph's
counts are the same afterwards. Bounded: EXAMPLES per operation and mode, derandomized (the same
requests on every run), no example database."""

from __future__ import annotations

import json
import time

import pytest

from kgrec.kg import open_backend
from tests.serve.test_server_process import TOKEN, _serve

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install -e '.[dev]')")
from hypothesis import HealthCheck, Phase, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

EXAMPLES = 30


@pytest.fixture
def fuzz_server(graph_db, tmp_path):
    yield from _serve(graph_db, tmp_path, "--enable-cypher", "--timeout", "10")


def _counts(db: str) -> dict:
    with open_backend(db, read_only=True, create=False) as b:
        return b.counts()


def test_fuzz_every_operation_from_the_openapi_document(fuzz_server, graph_db):
    import requests

    base, log_path = fuzz_server
    before = _counts(graph_db)
    import httpx

    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (
        httpx.get(f"{base}/recommend", params={"user": "u1"}, headers=auth, timeout=60).status_code == 200
    )  # index built
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", timeout=10)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/health", "/recommend", "/paths", "/similar", "/cypher"}
    session = requests.Session()
    seen: dict[str, set[int]] = {}
    started = time.monotonic()
    for op in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(mode), with_token=st.booleans())
            def call(case, with_token):
                headers = {"Authorization": f"Bearer {TOKEN}"} if with_token else {}
                res = case.call(base_url=base, session=session, headers=headers, timeout=15)
                # call() runs within this iteration, so the loop variable is the current one
                seen.setdefault(f"{op.method.upper()} {op.path}", set()).add(res.status_code)  # noqa: B023
                assert res.status_code < 500, (
                    f"{case.method} {case.formatted_path} {case.query} {case.body!r}: "
                    f"{res.status_code} {res.text[:300]}"
                )

            try:
                call()
            except Unsatisfiable:
                assert mode == schemathesis.GenerationMode.NEGATIVE, (
                    op.path
                )  # nothing to break (e.g. /health has no input)
    # random queries rarely parse, so their parameters never reach the store: any JSON value as the
    # parameter of queries that do
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
        max_leaves=6,
    )

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(value=json_values,
           query=st.sampled_from(["RETURN $p AS x", "MATCH (u:User) WHERE u.id = $p RETURN u.id AS id",
                                  "UNWIND $p AS v RETURN v", "RETURN size($p) AS n"]))
    @example(value={"a": [1, {"b": None}]}, query="RETURN $p AS x")  # issue 14: a 500 before
    def parameters(value, query):
        body = json.dumps({"query": query, "params": {"p": value}}, allow_nan=True)  # NaN/Infinity literals too
        res = session.post(f"{base}/cypher", data=body, timeout=15,
                           headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        seen.setdefault("POST /cypher (parameters)", set()).add(res.status_code)
        assert res.status_code < 500, f"{query} with {value!r}: {res.status_code} {res.text[:300]}"

    parameters()
    elapsed = time.monotonic() - started
    time.sleep(0.3)
    log = log_path.read_text()
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
    assert _counts(graph_db) == before
    # the fuzzing reached past validation into the handlers, and stayed within its time budget
    for name in ("GET /recommend", "GET /paths", "GET /similar"):
        assert {401, 422} <= seen[name] and seen[name] & {200, 404}, seen
    assert 401 in seen["POST /cypher"] and seen["POST /cypher"] & {200, 400}, seen
    assert {200, 422} <= seen["POST /cypher (parameters)"], seen
    assert elapsed < 90, f"the fuzzing took {elapsed:.0f} s"
