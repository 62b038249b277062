"""kgctl recommend / paths / serve: fused recommendation, explanation paths, the HTTP API."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kgrec.errors import KgrecError


def _model_option(f):
    f = click.option("--force", is_flag=True, hidden=True,
                     help="No longer needed: a checkpoint stays usable for serving across ingests of its graph.")(f)
    return click.option(
        "--model",
        "model_path",
        envvar="KGREC_MODEL",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Checkpoint folder written by `kgctl train` (env KGREC_MODEL). Without it, the graph sources alone rank.",
    )(f)


def _weight_option(f):
    return click.option(
        "--weight", "weights", multiple=True, metavar="SOURCE=W",
        help="Fusion weight of one source (repeatable), e.g. --weight co_interaction=0.8; 0 turns a source off. "
             "Sources: model, co_interaction, shared_attribute, knowledge_graph, embedding, popular.",
    )(f)


def parse_weights(pairs: tuple[str, ...]):
    from kgrec.serve.weights import FusionWeights

    try:
        return FusionWeights.parse(pairs)
    except ValueError as exc:
        raise KgrecError(str(exc)) from None


def build_recommender(
    obj, model_path: Path | None, force: bool, cache_size: int = 0, weights=None, background_rebuild: bool = False
):
    """A FusedRecommender on a read-only graph reader, with the checkpoint loaded when given."""
    from kgrec.serve.recommend import open_recommender

    return open_recommender(obj.settings, model_path, force=force, cache_size=cache_size, weights=weights,
                            background_rebuild=background_rebuild)


def _value_error(exc: ValueError) -> KgrecError:
    return KgrecError(str(exc))


@click.command()
@click.argument("user")
@click.option("-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="Number of products.")
@_model_option
@click.option(
    "--json", "as_json", is_flag=True, help='Print {"user": ID, "items": [{"id", "score", "sources", "why"}]}.'
)
@click.option("--no-explain", is_flag=True, help="Skip the explanation paths (faster).")
@click.option("--timings", is_flag=True, help="Also report milliseconds per stage.")
@_weight_option
@click.pass_obj
def recommend(
    obj,
    user: str,
    k: int,
    model_path: Path | None,
    force: bool,
    as_json: bool,
    no_explain: bool,
    timings: bool,
    weights: tuple[str, ...],
) -> None:
    """Recommend K products to USER: Cypher candidates (co-interaction, shared attributes,
    knowledge-graph entities, embedding neighbours, popular), scored by the trained model, with
    each source's contribution and the paths that explain them.

    \b
    Example:
      kgctl recommend 196 -k 10 --model checkpoints/kgbm4rec --json
    """
    rec = build_recommender(obj, model_path, force, weights=parse_weights(weights))
    try:
        result = rec.recommend(user, k, explain=not no_explain)
    except ValueError as exc:
        raise _value_error(exc) from None
    finally:
        rec.reader.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(timings=timings)))
        return
    note = " (no history: popular and content-based)" if result.cold_start else ""
    click.echo(
        f"user {result.user}: top {len(result.items)}{note}, model: {result.model or 'none (graph sources only)'}"
    )
    for rank, item in enumerate(result.items, 1):
        parts = ", ".join(f"{p['source']} {p['contribution']:.3f}" for p in item.sources)
        click.echo(f"{rank:>3}. {item.title or item.id}  [id {item.id}]  score {item.score:.3f} = {parts}")
        for line in item.why:
            click.echo(f"       - {line}")
    if timings:
        click.echo("timings (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in result.timings_ms.items()))


@click.command()
@click.argument("user")
@click.argument("product")
@click.option(
    "--max-hops", type=click.IntRange(1, 4), default=4, show_default=True,
    help="Longest path, in meaningful hops (LINKED_TO not counted).",
)
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True, help="Most paths to show.")
@click.option(
    "--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write an interactive graph page here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the paths and the graph as JSON.")
@click.pass_obj
def paths(obj, user: str, product: str, max_hops: int, limit: int, html_out: Path | None, as_json: bool) -> None:
    """Show the knowledge-graph paths from USER to PRODUCT, shortest first; --html writes them as
    an interactive graph page (vis-network) that opens offline."""
    rec = build_recommender(obj, None, False)
    try:
        result = rec.paths(user, product, max_hops=max_hops, limit=limit)
    except ValueError as exc:
        raise _value_error(exc) from None
    finally:
        rec.reader.close()
    if html_out is not None:
        from kgrec.serve.graph_page import render_paths_page

        html_out.parent.mkdir(parents=True, exist_ok=True)
        html_out.write_text(render_paths_page(result), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result))
        return
    title = result["product"]["title"] or product
    click.echo(f"{len(result['paths'])} path(s) from user {user} to {title!r} (at most {max_hops} hops)")
    for p in result["paths"]:
        click.echo(f"  {p['hops']}  {p['pattern']:<17} {p['text']}")
    if html_out is not None:
        click.echo(f"graph page: {html_out}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--token", envvar="KGREC_API_TOKEN", default=None,
              help="Require 'Authorization: Bearer TOKEN' (env KGREC_API_TOKEN); never taken from the URL, "
              "never logged "
              "(access logs redact token/password/key query parameters).")
@_model_option
@click.option("--enable-cypher", is_flag=True, help="Expose POST /cypher for read-only Cypher (off by default).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1, 600), default=10.0, show_default=True,
              help="Seconds before a request that waits on the graph store gets 503; "
              "a /cypher query is stopped by the store then.")
@click.option("--cache", "cache_size", type=click.IntRange(0, 10_000_000), default=10_000, show_default=True,
              help="Recommendation answers kept per graph version (LRU; any commit to the graph starts afresh); "
              "0 turns it off.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes, each with its own read-only view of the graph (use up to the number of cores).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True)
@_weight_option
@click.pass_obj
def serve(obj, host: str, port: int, token: str | None, model_path: Path | None, force: bool, enable_cypher: bool,
          timeout_s: float, cache_size: int, workers: int, log_level: str, weights: tuple[str, ...]) -> None:
    """Serve /recommend, /paths, /similar and /health over HTTP (docs at /docs, a page at /).

    The embedded database is opened read-only and reopened when `kgctl ingest` commits, so the
    server keeps answering during ingestion.
    """
    import uvicorn

    from kgrec.serve.api import ServeOptions, create_app
    from kgrec.serve.logs import log_config

    fusion = parse_weights(weights)
    options = ServeOptions(
        model_path=str(model_path) if model_path else None, force=force, enable_cypher=enable_cypher,
        timeout_s=timeout_s, cache_size=cache_size, weights=fusion.as_dict(),
    )
    auth = "bearer token required" if token else "no token"
    if workers > 1:
        # each worker process builds its own app from the environment (the token travels there,
        # never on a command line or in a log)
        options.export(obj.settings, token)
        probe = build_recommender(obj, model_path, force)
        try:
            probe.reader.describe()  # fail now, clearly, if the store or the checkpoint is missing
        finally:
            probe.reader.close()
        click.echo(f"kgrec API on http://{host}:{port} ({auth}; {workers} workers; docs at /docs)", err=True)
        uvicorn.run(
            "kgrec.serve.api:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            log_config=log_config(),
        )
        return
    rec = build_recommender(obj, model_path, force, cache_size, weights=fusion, background_rebuild=True)
    rec.reader.describe()  # fail now, with a clear message, if the store is missing
    app = create_app(rec, token=token or None, enable_cypher=enable_cypher, timeout_s=timeout_s)
    click.echo(f"kgrec API on http://{host}:{port} ({auth}; docs at /docs)", err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=log_config())
    finally:
        rec.reader.close()


COMMANDS = [recommend, paths, serve]
