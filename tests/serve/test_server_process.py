"""`kgctl serve` as a real process on 127.0.0.1: secrets never reach logs or errors, and the web
page works in headless Chromium (skipped, with the reason, when chromium/chromedriver or selenium
are missing: CI installs the Debian packages chromium and chromium-driver)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from kgrec.serve.process import serving

TOKEN = "tok-8d1f-never-log-me"
NEO4J_SECRET = "neo-pw-never-log-me"


def env() -> dict:
    return {**os.environ, "PYTHONPATH": os.getcwd(), "KGREC_NEO4J_PASSWORD": NEO4J_SECRET}


@pytest.fixture
def live_server(graph_db, tmp_path):
    yield from _serve(graph_db, tmp_path)


@pytest.fixture
def live_server_two_workers(graph_db, tmp_path):
    yield from _serve(graph_db, tmp_path, "--workers", "2")


def _serve(graph_db, tmp_path, *extra):
    with serving(graph_db, "--token", TOKEN, *extra, extra_env={"KGREC_NEO4J_PASSWORD": NEO4J_SECRET},
                 log_path=tmp_path / "server.log") as server:
        yield server.url, server.log_path


def test_token_and_password_never_in_logs_or_answers(live_server):
    base, log_path = live_server
    answers = [
        httpx.get(f"{base}/recommend", params={"user": "u1"}),
        httpx.get(f"{base}/recommend", params={"user": "u1"}, headers={"Authorization": "Bearer wrong"}),
        httpx.get(f"{base}/recommend", params={"user": "u1"}, headers={"Authorization": f"Bearer {TOKEN}"}),
        httpx.get(f"{base}/recommend", params={"user": "ghost"}, headers={"Authorization": f"Bearer {TOKEN}"}),
        httpx.get(
            f"{base}/paths", params={"user": "u1", "product": "x" * 300}, headers={"Authorization": f"Bearer {TOKEN}"}
        ),
    ]
    assert [a.status_code for a in answers] == [401, 401, 200, 404, 422]
    time.sleep(0.3)
    log = log_path.read_text()
    assert "GET /recommend" in log  # the access log is on, and still holds no secret
    for text in [log] + [a.text for a in answers]:
        assert TOKEN not in text and NEO4J_SECRET not in text


def test_two_worker_processes_serve_with_the_token(live_server_two_workers):
    base, log_path = live_server_two_workers
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{base}/recommend", params={"user": "u1"}).status_code == 401
    answers = [httpx.get(f"{base}/recommend", params={"user": "u1", "k": 3}, headers=auth) for _ in range(6)]
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["items"][0]["id"] for a in answers} == {"p3"}
    time.sleep(0.3)
    assert TOKEN not in log_path.read_text()


def test_neo4j_credentials_never_in_error_messages():
    uri = "bolt://neo4j:pw-in-uri-never-log@127.0.0.1:9"  # loopback port with no server: refused at once
    for args in (["serve", "--port", "1"], ["recommend", "u1"]):
        res = subprocess.run(
            [sys.executable, "-m", "kgrec.cli.main", "--db", uri, *args], capture_output=True, text=True, env=env(),
            timeout=60,
        )
        out = res.stdout + res.stderr
        assert res.returncode != 0 and "cannot reach Neo4j" in out, out
        assert "pw-in-uri-never-log" not in out and NEO4J_SECRET not in out


def _chrome(profile_dir):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.skip("headless browser test needs Debian packages chromium and chromium-driver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = binary
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", "--window-size=1300,900",
    ):
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile_dir}")
    return webdriver.Chrome(service=Service(driver_path), options=opts)


def test_web_page_in_headless_chromium(live_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, _ = live_server
    opts_dir = tmp_path / "chrome-profile"
    opts_dir.mkdir()
    browser = _chrome(opts_dir)
    try:
        browser.get(base + "/")
        wait = WebDriverWait(browser, 30)
        browser.find_element(By.ID, "user").send_keys("u1")
        browser.find_element(By.ID, "token").send_keys("wrong")
        browser.find_element(By.ID, "go").click()
        wait.until(lambda b: "401" in b.find_element(By.ID, "error").text)
        token = browser.find_element(By.ID, "token")
        token.clear()
        token.send_keys(TOKEN)
        browser.find_element(By.ID, "go").click()
        items = wait.until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, "li.item")))
        assert items[0].get_attribute("data-id") == "p3"
        assert "Blade Runner" in items[0].text and "Ridley Scott" in items[0].text
        items[0].click()
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "tr.path"))
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#graph canvas"))
        assert int(browser.find_element(By.ID, "graph").get_attribute("data-nodes")) >= 4
        node_count = browser.execute_script("return window.kgrecNetwork.body.data.nodes.length")
        assert node_count >= 4
        browser.save_screenshot(str(tmp_path / "page.png"))
        browser.find_element(By.ID, "user").clear()
        browser.find_element(By.ID, "user").send_keys("ghost")
        browser.find_element(By.ID, "go").click()
        wait.until(lambda b: "404" in b.find_element(By.ID, "error").text)
    finally:
        browser.quit()


def test_a_server_that_exits_is_reported_with_its_output(tmp_path):
    from kgrec.serve.process import ServerDidNotStart

    missing = str(tmp_path / "no-such.db")
    with (
        pytest.raises(ServerDidNotStart, match="kgctl serve exited with code 1: .*no-such.db"),
        serving(missing, start_timeout_s=60),
    ):
        pass
