"""kgctl init / stats / cypher: the graph store itself."""

from __future__ import annotations

import json
import sys

import click

from kgrec.cli.output import render
from kgrec.errors import KgrecError


def _format_option(f):
    f = click.option("--csv", "fmt", flag_value="csv", help="Print results as CSV.")(f)
    f = click.option("--json", "fmt", flag_value="json", help="Print results as JSON.")(f)
    return click.option("--table", "fmt", flag_value="table", default=True, help="Print a table (default).")(f)


@click.command()
@click.pass_obj
def init(obj) -> None:
    """Create the database and its schema (idempotent: a re-run changes nothing). A database made
    by an older kgrec is upgraded in place to this schema version, keeping its data."""
    with obj.open(create=True) as backend:
        before = backend.schema_version()
        changed = backend.init_schema()
        version = backend.schema_version()
        where = backend.describe()
    if not changed:
        click.echo(f"already initialised: {where} (schema version {version})")
    elif before is None:
        click.echo(f"created: {where} (schema version {version})")
    else:
        click.echo(f"upgraded: {where} (schema version {before} -> {version}, data kept)")


@click.command()
@click.option("--json", "as_json", is_flag=True, help='Print {"nodes": {label: n}, "relationships": {type: n}}.')
@click.pass_obj
def stats(obj, as_json: bool) -> None:
    """Count nodes by label and relationships by type."""
    with obj.open(read_only=True) as backend:
        backend.ensure_schema()
        counts = backend.counts()
    if as_json:
        click.echo(json.dumps(counts))
        return
    width = max(len(k) for part in counts.values() for k in part)
    for part in ("nodes", "relationships"):
        click.echo(f"{part}:")
        for key, n in counts[part].items():
            click.echo(f"  {key.ljust(width)}  {n:>12,}")


def parse_params(pairs: tuple[str, ...]) -> dict:
    """``name=value`` pairs; values are JSON when they parse (numbers, lists, true), else strings."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected name=value, got {pair!r}", param_hint="--param")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


@click.command()
@click.argument("query", required=False)
@click.option(
    "--param", "-p", "params", multiple=True, metavar="NAME=VALUE", help="Query parameter ($NAME); repeatable."
)
@click.option("--write", is_flag=True, help="Allow write clauses (CREATE, MERGE, SET, DELETE ...).")
@_format_option
@click.pass_obj
def cypher(obj, query: str | None, params: tuple[str, ...], write: bool, fmt: str) -> None:
    """Run a Cypher QUERY, or start an interactive shell when QUERY is left out.

    Read-only unless --write. In the shell, end a statement with ';' and leave with :quit.

    \b
    Example:
      kgctl cypher "MATCH (u:User {id: \\$uid})-[:INTERACTED]->(p) RETURN p.title LIMIT 5" -p uid=1
    """
    values = parse_params(params)
    with obj.open(read_only=not write) as backend:
        if query is not None:
            click.echo(render(backend.execute(query, values, write=write), fmt))
            return
        _shell(backend, values, write, fmt)


def _shell(backend, values: dict, write: bool, fmt: str) -> None:
    interactive = sys.stdin.isatty()
    if interactive:
        mode = "read-write" if write else "read-only"
        click.echo(f"kgctl cypher on {backend.describe()} ({mode}). End statements with ';', :quit to leave.")
    buffer: list[str] = []
    while True:
        try:
            line = input("cypher> " if not buffer else "   ...> ") if interactive else sys.stdin.readline()
        except EOFError:
            break
        if not interactive and line == "":
            break
        line = line.rstrip("\n")
        if not buffer and line.strip() in (":quit", ":exit", ":q"):
            break
        buffer.append(line)
        text = "\n".join(buffer).strip()
        if not text.endswith(";"):
            continue
        buffer = []
        statement = text.rstrip(";").strip()
        if not statement:
            continue
        try:
            click.echo(render(backend.execute(statement, values, write=write), fmt))
        except KgrecError as exc:
            click.echo(f"error: {exc.one_line()}", err=True)


COMMANDS = [init, stats, cypher]
