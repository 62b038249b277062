"""One settings object: defaults < config file < environment < explicit flags.

The config file is TOML, read from ``$KGREC_CONFIG`` or ``./kgrec.toml`` when present::

    db = "./kgrec.db"          # path (embedded LadybugDB) or bolt:// / neo4j:// URI
    seed = 42
    [neo4j]
    user = "neo4j"
    database = "neo4j"
    connect_timeout = 5.0      # seconds before an unreachable server is reported
    # password is best kept in KGREC_NEO4J_PASSWORD
    [ladybug]
    buffer_pool_mb = 256       # embedded database's page cache in MiB; 0 or unset = LadybugDB's default

Environment: KGREC_DB, KGREC_SEED, KGREC_NEO4J_USER, KGREC_NEO4J_PASSWORD, KGREC_NEO4J_DATABASE,
KGREC_NEO4J_CONNECT_TIMEOUT, KGREC_LADYBUG_BUFFER_POOL_MB. LadybugDB's default buffer pool is a large
share of the machine's memory; cap it when a graph is far larger than memory. A password may also come inside the URI (``bolt://user:pw@host``);
it is taken out of the URI before anything is printed, and ``repr``/``redacted`` mask it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kgrec.errors import ConfigError

DEFAULT_DB = "./kgrec.db"
NEO4J_SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^@/?#]*)@")


def split_uri_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``bolt://user:pw@host:7687`` -> (``bolt://host:7687``, user, pw); (uri, None, None) without user info."""
    from urllib.parse import unquote

    m = _USERINFO.match(uri)
    if not m:
        return uri, None, None
    user, sep, password = m.group("userinfo").partition(":")
    clean = m.group("scheme") + uri[m.end() :]
    return clean, unquote(user) or None, unquote(password) if sep else None


def redact_uri(uri: str) -> str:
    """The URI without user name and password: safe to print."""
    return split_uri_credentials(uri)[0]


@dataclasses.dataclass(frozen=True)
class Settings:
    db: str = DEFAULT_DB
    seed: int = 42
    neo4j_user: str = "neo4j"
    neo4j_password: str | None = dataclasses.field(default=None, repr=False)
    neo4j_database: str | None = None
    neo4j_connect_timeout: float = 5.0
    ladybug_buffer_pool_mb: int | None = None  # None or 0: LadybugDB's default

    @property
    def is_neo4j(self) -> bool:
        return self.db.startswith(NEO4J_SCHEMES)

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets masked (password, user info in the URI): safe to print or log."""
        out = dataclasses.asdict(self)
        if out.get("neo4j_password"):
            out["neo4j_password"] = "***"
        clean, user, password = split_uri_credentials(self.db)
        if user is not None or password is not None:
            out["db"] = clean.replace("://", "://***@", 1)
        return out

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in self.redacted().items()) + ")"


_ENV = {
    "KGREC_DB": "db",
    "KGREC_SEED": "seed",
    "KGREC_NEO4J_USER": "neo4j_user",
    "KGREC_NEO4J_PASSWORD": "neo4j_password",
    "KGREC_NEO4J_DATABASE": "neo4j_database",
    "KGREC_NEO4J_CONNECT_TIMEOUT": "neo4j_connect_timeout",
    "KGREC_LADYBUG_BUFFER_POOL_MB": "ladybug_buffer_pool_mb",
}


def _from_file(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}", "fix the file or unset KGREC_CONFIG") from exc
    # top-level keys name settings directly; a [table] prefixes its keys: [neo4j] user -> neo4j_user
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            out.update({f"{key}_{sub}": v for sub, v in value.items()})
        else:
            out[key] = value
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
    unknown = set(values) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    try:
        values["seed"] = int(values.get("seed", 42))
    except (TypeError, ValueError):
        raise ConfigError(f"seed must be an integer, got {values.get('seed')!r}", "e.g. KGREC_SEED=42") from None
    try:
        timeout = float(values.get("neo4j_connect_timeout", 5.0))
    except (TypeError, ValueError):
        timeout = -1.0
    if not timeout > 0:
        raise ConfigError(
            f"neo4j connect_timeout must be a positive number of seconds, got {values.get('neo4j_connect_timeout')!r}"
        )
    values["neo4j_connect_timeout"] = timeout
    if values.get("ladybug_buffer_pool_mb") is not None:
        values["ladybug_buffer_pool_mb"] = _buffer_pool_mb(values["ladybug_buffer_pool_mb"])
    db = values.get("db", DEFAULT_DB)
    if not isinstance(db, str) or not db or ("://" in db and not db.startswith(NEO4J_SCHEMES)):
        shown = redact_uri(db) if isinstance(db, str) else db
        raise ConfigError(
            f"db must be a file path or a Neo4j URI, got {shown!r}",
            f"URI schemes: {', '.join(s[:-3] for s in NEO4J_SCHEMES)}",
        )
    return Settings(**values)


def _buffer_pool_mb(value: Any) -> int:
    """``[ladybug] buffer_pool_mb`` / KGREC_LADYBUG_BUFFER_POOL_MB: a whole number of MiB, 0 = default."""
    mb: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        mb = value
    elif isinstance(value, str) and value.strip().isdigit():
        mb = int(value.strip())
    if mb is None or mb < 0:
        raise ConfigError(
            f"ladybug buffer_pool_mb must be a whole number of MiB (0 = LadybugDB's default), got {value!r}",
            "e.g. KGREC_LADYBUG_BUFFER_POOL_MB=256 or [ladybug] buffer_pool_mb = 256",
        )
    return mb
