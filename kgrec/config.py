"""One settings object: defaults < config file < environment < explicit flags.

The config file is TOML, read from ``$KGREC_CONFIG`` or ``./kgrec.toml`` when present::

    db = "./kgrec.db"          # path (embedded LadybugDB) or bolt:// / neo4j:// URI
    seed = 42
    [neo4j]
    user = "neo4j"
    database = "neo4j"
    # password is best kept in KGREC_NEO4J_PASSWORD

Environment: KGREC_DB, KGREC_SEED, KGREC_NEO4J_USER, KGREC_NEO4J_PASSWORD, KGREC_NEO4J_DATABASE.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any, Mapping

from kgrec.errors import ConfigError

DEFAULT_DB = "./kgrec.db"
NEO4J_SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")


@dataclasses.dataclass(frozen=True)
class Settings:
    db: str = DEFAULT_DB
    seed: int = 42
    neo4j_user: str = "neo4j"
    neo4j_password: str | None = dataclasses.field(default=None, repr=False)
    neo4j_database: str | None = None

    @property
    def is_neo4j(self) -> bool:
        return self.db.startswith(NEO4J_SCHEMES)

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets masked: safe to print or log."""
        out = dataclasses.asdict(self)
        if out.get("neo4j_password"):
            out["neo4j_password"] = "***"
        return out


_ENV = {
    "KGREC_DB": "db",
    "KGREC_SEED": "seed",
    "KGREC_NEO4J_USER": "neo4j_user",
    "KGREC_NEO4J_PASSWORD": "neo4j_password",
    "KGREC_NEO4J_DATABASE": "neo4j_database",
}


def _from_file(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}", "fix the file or unset KGREC_CONFIG") from exc
    out: dict[str, Any] = {k: raw[k] for k in ("db", "seed") if k in raw}
    for key, value in (raw.get("neo4j") or {}).items():
        out[f"neo4j_{key}"] = value
    unknown = set(out) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise ConfigError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
    return out


def load_settings(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from the config file, the environment and ``overrides`` (flags; None = unset)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    cfg = env.get("KGREC_CONFIG")
    path = Path(cfg) if cfg else Path("kgrec.toml")
    if cfg or path.exists():
        if not path.exists():
            raise ConfigError(f"config file {path} (from KGREC_CONFIG) does not exist")
        values.update(_from_file(path))
    for var, key in _ENV.items():
        if env.get(var):
            values[key] = env[var]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        values["seed"] = int(values.get("seed", 42))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"seed must be an integer, got {values.get('seed')!r}") from exc
    return Settings(**values)
