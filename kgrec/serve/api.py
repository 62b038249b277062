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

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
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
    ReadOnlyViolation,
)
from kgrec.kg.backend import _STRING_OR_COMMENT
from kgrec.serve.recommend import MAX_ID_LENGTH, FusedRecommender

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
    return Query(..., min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, description=description)


def create_app(
    recommender: FusedRecommender, *, token: str | None = None, enable_cypher: bool = False, timeout_s: float = 10.0
) -> FastAPI:
    app = FastAPI(
        title="kgrec",
        version=__version__,
        description="Fused knowledge-graph recommendation with explanations. Ids are the graph's own User/Product ids.",
    )
    bearer = HTTPBearer(auto_error=False)

    def authorised(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if token is None:
            return
        given = creds.credentials if creds is not None else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    async def call(fn, *args, **kwargs):
        """Run blocking graph work in a thread, bounded in time; map errors to HTTP answers."""
        try:
            return await asyncio.wait_for(run_in_threadpool(fn, *args, **kwargs), timeout_s)
        except TimeoutError:
            raise HTTPException(503, f"the graph store did not answer within {timeout_s:g} s") from None
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
        index = recommender.index_summary or {}
        return {"status": "ok", "model": recommender.model_name, "model_snapshot": recommender.model_snapshot, **info,
                "snapshot": index.get("snapshot"), "revision": index.get("revision"), "index": recommender.index_summary,
                "weights": recommender.weights.as_dict()}

    @app.get(
        "/recommend", dependencies=[Depends(authorised)],
        summary="Top-k products for a user, with sources and explanations",
    )
    async def recommend(user: str = _id("User id"), k: int = Query(10, ge=1, le=MAX_K), explain: bool = True):
        rec = await call(recommender.recommend, user, k, explain=explain)
        return _json(rec.to_dict())

    @app.get("/paths", dependencies=[Depends(authorised)], summary="User-product paths in the knowledge graph")
    async def paths(
        user: str = _id("User id"),
        product: str = _id("Product id"),
        max_hops: int = Query(4, ge=1, le=4),
        limit: int = Query(20, ge=1, le=200),
    ):
        from kgrec.serve.graph_page import vis_data

        result = await call(recommender.paths, user, product, max_hops, limit)
        result["vis"] = vis_data(result["graph"])
        return result

    @app.get("/similar", dependencies=[Depends(authorised)], summary="Nearest products by stored text/image embeddings")
    async def similar(
        product: str = _id("Product id"),
        k: int = Query(10, ge=1, le=MAX_K),
        modality: str | None = Query(None, pattern="^(text|image)$"),
    ):
        return {"product": product, "items": await call(recommender.similar, product, k, modality)}

    if enable_cypher:

        @app.post(
            "/cypher", dependencies=[Depends(authorised)], summary="Read-only Cypher (enabled with --enable-cypher)"
        )
        async def cypher(body: CypherRequest):
            refused = refused_http_clauses(body.query)
            if refused:
                raise HTTPException(
                    400,
                    f"refused over HTTP: {', '.join(refused)} (files, procedures and other databases are off limits)",
                )

            def work():
                return recommender.reader.read(lambda b, g: b.execute(body.query, body.params, write=False).to_pylist())

            return {"rows": await call(work)}

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    return app
