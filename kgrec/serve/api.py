"""The HTTP API (FastAPI): /recommend, /paths, /similar, /health, OpenAPI docs at /docs, and a
small page at / to look up a user, see recommendations and browse their paths as a graph.

- Input validation: ids are 1-256 printable characters, k is 1..100, max_hops 1..4; anything
  else is answered 422. Unknown users/products are answered 404.
- Optional bearer token: every data endpoint then needs ``Authorization: Bearer TOKEN`` (compared
  in constant time). The token is never logged or echoed.
- The graph store is read through ``GraphReader`` (read-only, reopened when ``kgctl ingest``
  commits, consistent per request). A store that is gone or does not answer within
  ``timeout_s`` gives 503 with a JSON body that says so.
- Arbitrary Cypher (``POST /cypher``) exists only when ``enable_cypher`` is set, and is read-only.
  It runs on its own read-only connection, one query at a time, and the store stops it at
  ``timeout_s`` (503 with the reason); the other endpoints keep answering meanwhile. Parameters
  are text, numbers, booleans, null or lists of one of these; anything else is answered 422.
- The token is read from the ``Authorization`` header only, never from the URL; access logs
  redact ``token``, ``password``, ``key`` and similar query parameters (``RedactQueryFilter``).
- Authentication comes before body validation: no token, no 422.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import decimal
import hmac
import json
import logging
import math
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from kgrec import __version__
from kgrec.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    CypherError,
    DatabaseLocked,
    DatabaseNotFound,
    DatabaseUnavailable,
    KgrecError,
    NotFound,
    QueryTimeout,
    ReadOnlyViolation,
)
from kgrec.ids import MAX_ID_LENGTH, check_id
from kgrec.kg.backend import _STRING_OR_COMMENT
from kgrec.kg.reader import GraphReader
from kgrec.serve.recommend import FusedRecommender

log = logging.getLogger("kgrec.serve")
STATIC = Path(__file__).resolve().parent / "static"
MAX_K = 100
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # printable: no control characters

_UNAVAILABLE = (DatabaseUnavailable, DatabaseNotFound, DatabaseLocked, ConnectionFailed, AuthenticationFailed)


# Over HTTP, read-only is not enough: these clauses read or write files on the server, attach
# other databases or run procedures, so /cypher refuses them outright.
_FILE_OR_PROCEDURE = re.compile(r"\b(LOAD|EXPORT|IMPORT|COPY|CALL|ATTACH|INSTALL|USE|PERIODIC)\b", re.IGNORECASE)


def refused_http_clauses(query: str) -> list[str]:
    bare = _STRING_OR_COMMENT.sub(" ", query)
    return sorted({m.group(1).upper() for m in _FILE_OR_PROCEDURE.finditer(bare)})


# ---------------------------------------------------------------- secrets in URLs
SECRET_PARAMS = re.compile(r"(token|password|passwd|pwd|secret|key|auth|credential|signature|session)", re.IGNORECASE)
REDACTED = "REDACTED"


def redact_url(url: str) -> str:
    """``url`` with the values of query parameters that look like secrets replaced by REDACTED."""
    path, sep, query = url.partition("?")
    if not sep:
        return url
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(SECRET_PARAMS.search(k) for k, _ in pairs) and "%" not in query:
        return url
    return path + "?" + urlencode([(k, REDACTED if SECRET_PARAMS.search(k) else v) for k, v in pairs], safe="/:")


class RedactQueryFilter(logging.Filter):
    """Access-log filter: uvicorn logs ``(client, method, path?query, http, status)``; secrets in
    the query string are replaced before the line is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_url(args[2]), *args[3:])
        return True


def log_config(base: dict | None = None) -> dict:
    """uvicorn's logging configuration with ``RedactQueryFilter`` on every handler."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(base or LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query"] = {"()": f"{__name__}.RedactQueryFilter"}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", [])
        if "redact_query" not in handler["filters"]:
            handler["filters"].append("redact_query")
    return config


# ---------------------------------------------------------------- /cypher values
_PARAM_SCALARS = (str, bool, int, float)


def param_problem(name: str, value: Any) -> str | None:
    """Why a /cypher parameter cannot be sent to the store (None when it can): the stores take
    text, numbers, booleans and null, and non-empty lists of one of these kinds; JSON objects,
    nested or mixed lists, non-finite or 64-bit-overflowing numbers are refused by name."""
    def scalar(v: Any, where: str) -> str | None:
        if isinstance(v, bool) or isinstance(v, str):
            return None
        if isinstance(v, int):
            return None if -(2**63) <= v < 2**63 else f"{where}: the integer {v} does not fit in 64 bits"
        if isinstance(v, float):
            return None if math.isfinite(v) else f"{where}: {v} is not a finite number"
        return f"{where}: a JSON {_json_kind(v)} is not supported"

    if value is None:
        return None
    if isinstance(value, list):
        if not value:
            return f"${name}: an empty list has no element type; leave the parameter out or give a value"
        kinds = {_json_kind(v) for v in value}
        if len(kinds) != 1 or kinds & {"object", "array", "null"}:
            return f"${name}: a list must hold values of one kind (text, number or boolean), not {', '.join(sorted(kinds))}"
        for i, v in enumerate(value):
            problem = scalar(v, f"${name}[{i}]")
            if problem:
                return problem
        return None
    return scalar(value, f"${name}")


def _json_kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "text"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def plain(value: Any) -> Any:
    """A store value as plain JSON: non-finite floats as the strings NaN/Infinity/-Infinity,
    dates as ISO text, durations in seconds, bytes as base64, anything else unknown as text."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return plain(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


@dataclasses.dataclass
class ServeOptions:
    """What `kgctl serve` passes to each worker process (through the environment)."""

    model_path: str | None = None
    force: bool = False
    enable_cypher: bool = False
    timeout_s: float = 10.0
    cache_size: int = 10_000

    ENV = "KGREC_SERVE_OPTIONS"

    def export(self, settings, token: str | None) -> None:
        os.environ[self.ENV] = json.dumps(dataclasses.asdict(self))
        os.environ["KGREC_DB"] = settings.db
        if token:
            os.environ["KGREC_API_TOKEN"] = token

    @classmethod
    def from_env(cls) -> "ServeOptions":
        return cls(**json.loads(os.environ.get(cls.ENV, "{}")))


def app_from_env() -> FastAPI:
    """The app of one worker of `kgctl serve --workers N` (uvicorn factory)."""
    from kgrec.config import load_settings
    from kgrec.serve.recommend import open_recommender

    options = ServeOptions.from_env()
    rec = open_recommender(load_settings(), options.model_path, force=options.force, cache_size=options.cache_size)
    token = os.environ.get("KGREC_API_TOKEN") or None
    return create_app(rec, token=token, enable_cypher=options.enable_cypher, timeout_s=options.timeout_s)


def _json(content: Any) -> Response:
    """Encode plain JSON data (dicts, lists, str, float, int, None) directly: FastAPI's default
    path walks every value through ``jsonable_encoder`` first, which on a /recommend answer costs
    more than computing it."""
    return Response(json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8"), media_type="application/json")


class CypherRequest(BaseModel):
    query: str = Field(..., max_length=10_000)
    params: dict[str, Any] = Field(default_factory=dict)


def _id(description: str):
    return Query(..., min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN,
                 description=f"{description}: 1-{MAX_ID_LENGTH} printable characters (the rule ingest applies too)")


_CYPHER_BODY = {
    "required": True,
    "content": {"application/json": {"schema": CypherRequest.model_json_schema()}},
}


def _validation_errors(exc: ValidationError) -> list[dict]:
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]


class CypherRunner:
    """Runs /cypher queries on a read-only connection of their own, one at a time, each stopped
    by the store at ``timeout_s``: a heavy query never holds the reader that /recommend, /paths
    and /health use. A query that waits longer than ``timeout_s`` for its turn is refused."""

    def __init__(self, settings, timeout_s: float):
        self.reader = GraphReader(settings)  # opens on the first query
        self.timeout_s = timeout_s
        self._turn = threading.Lock()

    def run(self, query: str, params: dict) -> list[dict]:
        if not self._turn.acquire(timeout=self.timeout_s):
            raise DatabaseUnavailable(f"another /cypher query is still running (each may run {self.timeout_s:g} s)")
        try:
            return self.reader.read(lambda b, g: b.execute(query, params, write=False, timeout_s=self.timeout_s).to_pylist())
        finally:
            self._turn.release()

    def close(self) -> None:
        self.reader.close()


def create_app(recommender: FusedRecommender, *, token: str | None = None, enable_cypher: bool = False, timeout_s: float = 10.0) -> FastAPI:
    app = FastAPI(
        title="kgrec",
        version=__version__,
        description="Fused knowledge-graph recommendation with explanations. Ids are the graph's own User/Product ids.",
    )
    bearer = HTTPBearer(auto_error=False)

    def authorised(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if token is None:
            return
        if creds is None and any(SECRET_PARAMS.search(k) for k in request.query_params):
            raise HTTPException(401, "the token is accepted only in the 'Authorization: Bearer' header, never in the URL",
                                headers={"WWW-Authenticate": "Bearer"})
        given = creds.credentials if creds is not None else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    async def call(fn, *args, timeout: float | None = None, **kwargs):
        """Run blocking graph work in a thread, bounded in time; map errors to HTTP answers."""
        limit = timeout_s if timeout is None else timeout
        try:
            return await asyncio.wait_for(run_in_threadpool(fn, *args, **kwargs), limit)
        except asyncio.TimeoutError:
            raise HTTPException(503, f"the graph store did not answer within {timeout_s:g} s") from None
        except QueryTimeout as exc:
            raise HTTPException(503, exc.message) from None
        except NotFound as exc:
            raise HTTPException(404, exc.message) from None
        except _UNAVAILABLE as exc:
            log.warning("graph store unavailable: %s", exc.message)
            raise HTTPException(503, f"graph store unavailable: {exc.message}") from None
        except (ReadOnlyViolation, CypherError) as exc:
            raise HTTPException(400, exc.message) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        except KgrecError as exc:
            raise HTTPException(500, exc.message) from None

    @app.get("/health", summary="Liveness and the graph store's state")
    async def health():
        def work():
            return recommender.reader.read(lambda b, g: {"db": b.describe(), "generation": g})

        try:
            info = await call(work)
        except HTTPException as exc:
            return JSONResponse({"status": "unavailable", "detail": exc.detail}, status_code=503)
        stale = getattr(recommender.reader, "stale", None)
        if stale is not None:  # answering from the last good snapshot: say so, still 200
            return {"status": "degraded", "detail": stale.reason, "stale": stale.to_dict(), "model": recommender.model_name,
                    **info, "index": recommender.index_summary}
        return {"status": "ok", "model": recommender.model_name, **info, "index": recommender.index_summary}

    def valid_id(value: str, what: str) -> str:
        try:
            return check_id(value, what)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.get("/recommend", dependencies=[Depends(authorised)], summary="Top-k products for a user, with sources and explanations")
    async def recommend(user: str = _id("User id"), k: int = Query(10, ge=1, le=MAX_K), explain: bool = True):
        rec = await call(recommender.recommend, valid_id(user, "user"), k, explain=explain)
        return _json(rec.to_dict())

    @app.get("/paths", dependencies=[Depends(authorised)], summary="User-product paths in the knowledge graph")
    async def paths(
        user: str = _id("User id"),
        product: str = _id("Product id"),
        max_hops: int = Query(4, ge=1, le=4),
        limit: int = Query(20, ge=1, le=200),
    ):
        from kgrec.serve.graph_page import vis_data

        result = await call(recommender.paths, valid_id(user, "user"), valid_id(product, "product"), max_hops, limit)
        result["vis"] = vis_data(result["graph"])
        return result

    @app.get("/similar", dependencies=[Depends(authorised)], summary="Nearest products by stored text/image embeddings")
    async def similar(
        product: str = _id("Product id"),
        k: int = Query(10, ge=1, le=MAX_K),
        modality: str | None = Query(None, pattern="^(text|image)$"),
    ):
        return {"product": product, "items": await call(recommender.similar, valid_id(product, "product"), k, modality)}

    if enable_cypher:
        cypher_runner = CypherRunner(recommender.reader.settings, timeout_s)
        app.state.cypher_runner = cypher_runner

        @app.post("/cypher", dependencies=[Depends(authorised)], openapi_extra={"requestBody": _CYPHER_BODY},
                  summary="Read-only Cypher (enabled with --enable-cypher)")
        async def cypher(request: Request):
            # the body is read here, after the token check: no token, no 422
            try:
                body = CypherRequest.model_validate_json(await request.body())
            except ValidationError as exc:
                raise HTTPException(422, _validation_errors(exc)) from None
            refused = refused_http_clauses(body.query)
            if refused:
                raise HTTPException(400, f"refused over HTTP: {', '.join(refused)} (files, procedures and other databases are off limits)")
            for name, value in body.params.items():
                problem = param_problem(name, value)
                if problem:
                    raise HTTPException(422, f"unsupported parameter {problem}")
            rows = await call(cypher_runner.run, body.query, body.params, timeout=timeout_s + 2.0)
            return _json({"rows": plain(rows)})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    return app
