"""docker-compose.yml: Neo4j 5 community, loopback-only ports, auth from the environment, a healthcheck."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def _service() -> dict:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert set(doc["services"]) == {"neo4j"}
    return doc, doc["services"]["neo4j"]


def test_neo4j_5_community_image():
    _, svc = _service()
    assert re.fullmatch(r"neo4j:5(\.\d+)*-community", svc["image"]), svc["image"]


def test_ports_bound_to_loopback_only():
    _, svc = _service()
    ports = {p.rsplit(":", 1)[1]: p for p in svc["ports"]}
    assert set(ports) == {"7474", "7687"}
    for port in svc["ports"]:
        assert port.startswith("127.0.0.1:"), port


def test_auth_comes_from_the_environment_and_is_required():
    _, svc = _service()
    env = svc["environment"]
    auth = (
        env["NEO4J_AUTH"]
        if isinstance(env, dict)
        else next(e.split("=", 1)[1] for e in env if e.startswith("NEO4J_AUTH="))
    )
    assert re.fullmatch(r"neo4j/\$\{KGREC_NEO4J_PASSWORD:\?[^}]+\}", auth), auth
    assert "none" not in auth.lower()


def test_named_volume_and_healthcheck():
    doc, svc = _service()
    data = [v for v in svc["volumes"] if v.endswith(":/data")]
    assert data, svc["volumes"]
    name = data[0].split(":")[0]
    assert not name.startswith((".", "/")) and name in doc["volumes"]  # a named volume, not a bind mount
    check = svc["healthcheck"]
    assert any("7474" in part or "cypher-shell" in part for part in check["test"])
    assert {"interval", "timeout", "retries"} <= set(check)
