"""The ``kgctl`` group: global options, error handling, and the registration of every command module."""

from __future__ import annotations

import sys

import click

from kgrec import __version__
from kgrec.config import Settings, load_settings
from kgrec.errors import KgrecError


class Context:
    """What every command gets: the settings and a way to open the graph store."""

    def __init__(self, db: str | None, debug: bool):
        self.debug = debug
        self._db_flag = db
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings({"db": self._db_flag})
        return self._settings

    def open(self, *, read_only: bool = False, create: bool = False):
        from kgrec.kg import open_backend

        return open_backend(self.settings, read_only=read_only, create=create)


class KgctlGroup(click.Group):
    """Turns KgrecError into one clear line and a non-zero exit (traceback only with --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KgrecError as exc:
            obj = ctx.find_object(Context)
            if obj is not None and obj.debug:
                raise
            click.echo(f"error: {exc.one_line()}", err=True)
            sys.exit(exc.exit_code)
        except OSError as exc:  # a file kgctl writes itself (quarantine, report, checkpoint): one line too
            obj = ctx.find_object(Context)
            if obj is not None and obj.debug:
                raise
            click.echo(f"error: {os_error_line(exc)}", err=True)
            sys.exit(1)


def os_error_line(exc: OSError) -> str:
    """One line for an OSError, naming the file and, for ENOSPC/EDQUOT, saying that the disk is full."""
    import errno
    import os

    where = exc.filename or ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        folder = os.path.dirname(os.path.abspath(where)) if where else os.getcwd()
        return (f"the disk is full: no space left to write {where or 'a file'} (in {folder}); "
                "free disk space and run it again")
    return f"{exc.strerror or type(exc).__name__}: {where}" if where else f"{exc.strerror or exc}"


@click.group(cls=KgctlGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--db",
    envvar="KGREC_DB",
    default=None,
    metavar="PATH|URI",
    help="Graph store: a file path selects the embedded LadybugDB (default ./kgrec.db); "
    "bolt://host:7687 or neo4j://host selects Neo4j (credentials from KGREC_NEO4J_USER/_PASSWORD).",
)
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(__version__, prog_name="kgctl")
@click.pass_context
def cli(ctx: click.Context, db: str | None, debug: bool) -> None:
    """kgctl: build a product knowledge graph, train KGBM4Rec on it, and recommend.

    \b
    Typical flow:
      kgctl init
      kgctl ingest recbole --dataset ml-100k
      kgctl stats
      kgctl cypher "MATCH (u:User)-[r:INTERACTED]->(p:Product) RETURN p.title, count(*) AS n ORDER BY n DESC LIMIT 5"
    """
    ctx.obj = Context(db, debug)


def _register() -> None:
    from kgrec.cli import db_commands, embed_commands, ingest_commands, serve_commands, train_commands

    for module in (db_commands, ingest_commands, embed_commands, train_commands, serve_commands):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="kgctl")


if __name__ == "__main__":
    main()
