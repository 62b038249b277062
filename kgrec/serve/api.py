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
import dataclasses
import hmac
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

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
from kgrec.serve.cypher_http import CypherRunner, param_problem, plain
from kgrec.serve.logs import SECRET_PARAMS
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


@dataclasses.dataclass
class ServeOptions:
    """What `kgctl serve` passes to each worker process (through the environment)."""

    model_path: str | None = None
    force: bool = False
    enable_cypher: bool = False
    timeout_s: float = 10.0
    cache_size: int = 10_000
    weights: dict[str, float] | None = None  # FusionWeights keys

    ENV = "KGREC_SERVE_OPTIONS"

    def export(self, settings, token: str | None) -> None:
        os.environ[self.ENV] = json.dumps(dataclasses.asdict(self))
        os.environ["KGREC_DB"] = settings.db
        if token:
            os.environ["KGREC_API_TOKEN"] = token

    @classmethod
    def from_env(cls) -> ServeOptions:
        return cls(**json.loads(os.environ.get(cls.ENV, "{}")))


def app_from_env() -> FastAPI:
    """The app of one worker of `kgctl serve --workers N` (uvicorn factory)."""
    from kgrec.config import load_settings
    from kgrec.serve.recommend import open_recommender

    options = ServeOptions.from_env()
    from kgrec.serve.weights import FusionWeights

    rec = open_recommender(load_settings(), options.model_path, force=options.force, cache_size=options.cache_size,
                           weights=FusionWeights.from_dict(options.weights), background_rebuild=True)
    token = os.environ.get("KGREC_API_TOKEN") or None
    return create_app(rec, token=token, enable_cypher=options.enable_cypher, timeout_s=options.timeout_s)


def _json(content: Any) -> Response:
    """Encode plain JSON data (dicts, lists, str, float, int, None) directly: FastAPI's default
    path walks every value through ``jsonable_encoder`` first, which on a /recommend answer costs
    more than computing it."""
    return Response(
        json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8"),
        media_type="application/json",
    )


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


def create_app(
    recommender: FusedRecommender, *, token: str | None = None, enable_cypher: bool = False, timeout_s: float = 10.0
) -> FastAPI:
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
            raise HTTPException(
                401,
                "the token is accepted only in the 'Authorization: Bearer' header, never in the URL",
                headers={"WWW-Authenticate": "Bearer"},
            )
        given = creds.credentials if creds is not None else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    async def call(fn, *args, timeout: float | None = None, **kwargs):
        """Run blocking graph work in a thread, bounded in time; map errors to HTTP answers."""
        limit = timeout_s if timeout is None else timeout
        try:
            return await asyncio.wait_for(run_in_threadpool(fn, *args, **kwargs), limit)
        except TimeoutError:
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
            try:
                return recommender.reader.read(lambda b, g: {"db": b.describe(), "generation": g}), None
            except (DatabaseUnavailable, DatabaseLocked) as exc:
                # the recommender answers from its last good graph index in this case: say so
                if recommender.index_summary is None or not recommender.reader.is_open:
                    raise
                return {}, exc.message

        try:
            info, unreadable = await call(work)
        except HTTPException as exc:
            return JSONResponse({"status": "unavailable", "detail": exc.detail}, status_code=503)
        index = recommender.index_summary or {}
        served = {
            "model": recommender.model_name,
            "model_snapshot": recommender.model_snapshot,
            **info,
            "snapshot": index.get("snapshot"),
            "revision": index.get("revision"),
            "index": recommender.index_summary,
            "weights": recommender.weights.as_dict(),
        }
        if unreadable is not None:
            return {"status": "degraded", "detail": f"answering from the last good graph index: {unreadable}", **served}
        stale = getattr(recommender.reader, "stale", None)
        if stale is not None:  # answering from the last good snapshot: say so, still 200
            return {"status": "degraded", "detail": stale.reason, "stale": stale.to_dict(), **served}
        return {"status": "ok", **served}

    def valid_id(value: str, what: str) -> str:
        try:
            return check_id(value, what)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.get("/recommend", dependencies=[Depends(authorised)],
             summary="Top-k products for a user, with sources and explanations")
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
                raise HTTPException(
                    400,
                    f"refused over HTTP: {', '.join(refused)} (files, procedures and other databases are off limits)",
                )
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
