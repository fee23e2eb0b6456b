"""Shared fixtures: a clean environment, the real functions-framework app, and
Google's APIs intercepted with ``responses`` through switch's own transport."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest
import responses

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

PROJECT = "switch-demo"
REGION = "europe-west1"
SERVICE = "site-replica"
IMAGE = "europe-west1-docker.pkg.dev/switch-demo/site/www:2026-11-19"
TOKEN = "t0ken-for-tests-0123456789"
USER, PASSWORD = "monitoring", "s3cret-password-for-test"
RUN_ROOT = f"https://{REGION}-run.googleapis.com/v1/projects/{PROJECT}/locations/{REGION}/services"
SERVICE_URL = f"{RUN_ROOT}/{SERVICE}"

BASE_ENV = {
    "SWITCH_PROJECT": PROJECT,
    "SWITCH_REGION": REGION,
    "SWITCH_SERVICE": SERVICE,
    "SWITCH_IMAGE": IMAGE,
    "SWITCH_TOKEN": TOKEN,
    "SWITCH_BASIC_USER": USER,
    "SWITCH_BASIC_PASSWORD": PASSWORD,
    "SWITCH_MIN_ACTIVE_SECONDS": "0",
    "SWITCH_PROBE_INTERVAL_SECONDS": "0",
    "SWITCH_POLL_INTERVAL_SECONDS": "0.05",
    "SWITCH_RETRY_BASE_SECONDS": "0",
}


def basic_header(user=USER, password=PASSWORD) -> dict:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


BEARER = {"Authorization": f"Bearer {TOKEN}"}


def fixture_json(name: str) -> dict:
    """A sample payload: from tests/fixtures, which mirror the shared reference samples."""
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def env(monkeypatch):
    """A clean SWITCH_* environment with working defaults; returns a setter for more."""
    for key in list(os.environ):
        if key.startswith("SWITCH_") or key == "GOOGLE_CLOUD_PROJECT":
            monkeypatch.delenv(key)
    for key, value in BASE_ENV.items():
        monkeypatch.setenv(key, value)

    def set_env(**values):
        for key, value in values.items():
            name = key if key.startswith("SWITCH_") else f"SWITCH_{key.upper()}"
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, str(value))

    return set_env


@pytest.fixture
def no_sleep(monkeypatch):
    """googleapiclient sleeps between retries; tests must not."""
    import googleapiclient.http

    monkeypatch.setattr(googleapiclient.http.time, "sleep", lambda s: None)
    monkeypatch.setattr("switch.cloudrun.time.sleep", lambda s: None)


@pytest.fixture
def google(monkeypatch, no_sleep):
    """Intercept every HTTP call with responses; Google credentials are anonymous."""
    from google.auth.credentials import AnonymousCredentials

    from switch import transport

    monkeypatch.setattr(transport, "credentials_for", lambda endpoint: AnonymousCredentials())
    transport._clients.clear()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        # Visitors reach a public replica (Cloud Run's URLs); tests that care register their own answer first.
        mock.add(responses.GET, re.compile(r"https://[a-z0-9.-]+\.run\.app/"), body="the site, served from Cloud Run")
        yield mock
    transport._clients.clear()


@pytest.fixture
def app(env):
    import functions_framework

    from switch import controllers

    controllers.reset()
    return functions_framework.create_app("switch", str(ROOT / "main.py"))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Each test starts like a cold function instance."""
    from switch import controllers
    from switch.failover import Switch

    Switch._public_seen.clear()
    Switch._domain_ready.clear()
    controllers.reset()
    yield
    Switch._public_seen.clear()
    Switch._domain_ready.clear()


def google_error(code: int, status: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "status": status}}


def run_service(*, managed=True, ready="True", generation=1, observed=1, annotations=None, message="",
                open_to_all=None) -> dict:
    """A Run v1 Service as GET returns it (from the reference sample), adjusted.

    A replica switch made carries ``run.googleapis.com/invoker-iam-disabled``
    (public at creation); ``open_to_all=False`` is one made public the old way.
    """
    service = fixture_json("run-service-ready.json")
    meta = service["metadata"]
    if managed:
        meta["labels"]["managed-by"] = "switch"
    if open_to_all if open_to_all is not None else managed:
        meta["annotations"]["run.googleapis.com/invoker-iam-disabled"] = "true"
    meta["annotations"].update(annotations or {})
    meta["generation"] = generation
    status = service["status"]
    status["observedGeneration"] = observed
    for condition in status["conditions"]:
        if condition["type"] == "Ready":
            condition["status"] = ready
            if message:
                condition["message"] = message
    if ready != "True":
        status.pop("url", None)
        status.pop("address", None)
    return service


def serving(seconds_ago: float = 3600, **more) -> dict:
    """The annotations of a replica visitors were sent to ``seconds_ago`` (plus ``more``)."""
    at = __import__("time").strftime("%Y-%m-%dT%H:%M:%SZ", __import__("time").gmtime(__import__("time").time()
                                                                                      - seconds_ago))
    return {"switch/activated-at": at, **more}


def echo_replace(mock, url: str = SERVICE_URL) -> None:
    """Answer replaceService (PUT) as Cloud Run does: the service as written, ready."""
    def answer(request):
        service = json.loads(request.body)
        service["status"] = run_service()["status"]
        return 200, {}, json.dumps(service)

    mock.add_callback(responses.PUT, url, callback=answer)


def api_calls(mock, method: str | None = None, contains: str = "") -> list:
    """Calls ``responses`` saw, optionally filtered by method and URL fragment."""
    return [c for c in mock.calls
            if (method is None or c.request.method == method) and contains in c.request.url]


def writes(mock) -> list:
    return [c for c in mock.calls if c.request.method in ("POST", "PUT", "PATCH", "DELETE")]


def notification(state: str = "open", **incident) -> dict:
    """The sample notification for ``state``, its times moved to just now (samples are dated)."""
    payload = fixture_json(f"incident-{state}.json")
    now = int(__import__("time").time())
    payload["incident"]["started_at"] = now - 600
    if state == "closed":
        payload["incident"]["ended_at"] = now - 5
    # The labels python -m switch setup puts on the policy: this is switch's own alert.
    payload["incident"]["policy_user_labels"] = {"managed-by": "switch", "switch-service": SERVICE}
    payload["incident"].update(incident)
    return payload


def pytest_sessionfinish(session):
    """Under pytest-xdist, a worker hands its reliability figures to the controller."""
    from tests import reliability

    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["reliability"] = dict(reliability.figures)


def pytest_testnodedown(node, error):
    """The controller adds up each worker's figures (pytest-xdist's hook)."""
    from tests import reliability

    for name, value in (getattr(node, "workeroutput", {}) or {}).get("reliability", {}).items():
        reliability.count(name, value)


def pytest_terminal_summary(terminalreporter):
    """The reliability suite's figures (tests/reliability.py), quoted in the README's Reliability section."""
    from tests import reliability

    line = reliability.summary()
    if line:
        terminalreporter.write_sep("-", "reliability")
        terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def world():
    """The emulator, a home site and a fault injector, shared by one test module (tests/reliability.py)."""
    from tests import reliability

    world = reliability.start_world()
    yield world
    reliability.stop_world(*world)
