"""Settings: defaults < config file < environment < flags, validation, and secrets kept out of output."""

from __future__ import annotations

import pytest

from kgrec.config import DEFAULT_DB, Settings, load_settings
from kgrec.errors import ConfigError

SECRET = "hunter2-xyz"


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "kgrec.toml"
    path.write_text(
        'db = "bolt://file-host:7687"\nseed = 7\n[neo4j]\nuser = "file-user"\ndatabase = "filedb"\nconnect_timeout = '
        '3.5\n'
    )
    return path


def test_defaults_without_file_env_or_flags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./kgrec.toml here
    s = load_settings(env={})
    assert s == Settings()
    assert s.db == DEFAULT_DB and s.seed == 42 and s.neo4j_user == "neo4j" and s.neo4j_password is None
    assert not s.is_neo4j


def test_file_then_env_then_flags(cfg):
    s = load_settings(env={"KGREC_CONFIG": str(cfg)})
    assert (s.db, s.seed, s.neo4j_user, s.neo4j_database, s.neo4j_connect_timeout) == (
        "bolt://file-host:7687", 7, "file-user", "filedb", 3.5
    )
    assert s.is_neo4j
    env = {"KGREC_CONFIG": str(cfg), "KGREC_SEED": "8", "KGREC_NEO4J_USER": "env-user", "KGREC_DB": "neo4j://env-host"}
    s = load_settings(env=env)
    assert (s.db, s.seed, s.neo4j_user, s.neo4j_database) == ("neo4j://env-host", 8, "env-user", "filedb")
    s = load_settings({"db": "./flag.db", "seed": 9, "neo4j_user": None}, env=env)
    assert (s.db, s.seed, s.neo4j_user) == ("./flag.db", 9, "env-user")  # None means the flag was not given
    assert not s.is_neo4j


def test_kgrec_toml_in_the_working_directory_is_read(tmp_path, monkeypatch):
    (tmp_path / "kgrec.toml").write_text("seed = 5\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).seed == 5


@pytest.mark.parametrize("seed", ["forty-two", "4.5", ""])
def test_bad_seed_is_a_config_error(seed):
    if seed == "":
        assert load_settings({"seed": None}, env={"KGREC_SEED": seed}).seed == 42  # empty env = unset
        return
    with pytest.raises(ConfigError, match="seed must be an integer"):
        load_settings(env={"KGREC_SEED": seed})


def test_bad_seed_in_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('seed = "abc"\n')
    with pytest.raises(ConfigError, match="seed"):
        load_settings(env={"KGREC_CONFIG": str(path)})


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_bad_connect_timeout(value):
    with pytest.raises(ConfigError, match="connect_timeout"):
        load_settings(env={"KGREC_NEO4J_CONNECT_TIMEOUT": value})


def test_unknown_settings_are_refused(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('sed = 1\n[neo4j]\nuser = "x"\npasword = "typo"\n')
    with pytest.raises(ConfigError, match="neo4j_pasword, sed"):
        load_settings(env={"KGREC_CONFIG": str(path)})
    with pytest.raises(ConfigError, match="unknown settings: colour"):
        load_settings({"colour": "blue"}, env={})


def test_missing_or_broken_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"KGREC_CONFIG": str(tmp_path / "nope.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("db = \n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(env={"KGREC_CONFIG": str(broken)})


def test_unsupported_uri_scheme():
    with pytest.raises(ConfigError, match="file path or a Neo4j URI"):
        load_settings({"db": "postgres://u:p@h/db"}, env={})


def test_secrets_are_redacted_in_repr_and_redacted():
    s = load_settings({"db": f"bolt://alice:{SECRET}@h:7687"}, env={"KGREC_NEO4J_PASSWORD": SECRET})
    assert s.neo4j_password == SECRET  # kept for the driver
    for shown in (repr(s), str(s), str(s.redacted()), f"{s!r}"):
        assert SECRET not in shown
        assert "alice" not in shown
    red = s.redacted()
    assert red["neo4j_password"] == "***"
    assert red["db"] == "bolt://***@h:7687"
    plain = load_settings({"db": "bolt://h:7687"}, env={})
    assert plain.redacted()["db"] == "bolt://h:7687" and plain.redacted()["neo4j_password"] is None


def test_password_from_config_file_is_redacted(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'[neo4j]\npassword = "{SECRET}"\n')
    s = load_settings(env={"KGREC_CONFIG": str(path)})
    assert s.neo4j_password == SECRET and SECRET not in repr(s)


def test_ladybug_buffer_pool_from_file_env_and_flags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).ladybug_buffer_pool_mb is None  # LadybugDB's default
    path = tmp_path / "c.toml"
    path.write_text('db = "./x.db"\n[ladybug]\nbuffer_pool_mb = 128\n')
    assert load_settings(env={"KGREC_CONFIG": str(path)}).ladybug_buffer_pool_mb == 128
    env = {"KGREC_CONFIG": str(path), "KGREC_LADYBUG_BUFFER_POOL_MB": "64"}
    assert load_settings(env=env).ladybug_buffer_pool_mb == 64  # environment beats the file
    assert load_settings({"ladybug_buffer_pool_mb": 32}, env=env).ladybug_buffer_pool_mb == 32  # flags beat both
    assert load_settings(env={"KGREC_LADYBUG_BUFFER_POOL_MB": "0"}).ladybug_buffer_pool_mb == 0  # 0 = default


@pytest.mark.parametrize("value", ["lots", "-5", "1.5", "64MB"])
def test_bad_buffer_pool_in_env_is_a_config_error(value):
    with pytest.raises(ConfigError, match=r"ladybug buffer_pool_mb must be a whole number of MiB.*KGREC_LADYBUG"):
        load_settings(env={"KGREC_LADYBUG_BUFFER_POOL_MB": value})


@pytest.mark.parametrize("value", ["-1", "1.5", "true", '"big"'])
def test_bad_buffer_pool_in_file_is_a_config_error(tmp_path, value):
    path = tmp_path / "c.toml"
    path.write_text(f"[ladybug]\nbuffer_pool_mb = {value}\n")
    with pytest.raises(ConfigError, match="ladybug buffer_pool_mb") as err:
        load_settings(env={"KGREC_CONFIG": str(path)})
    assert "\n" not in err.value.one_line()
