"""Hostile input: whatever a stranger or a broken sender puts on the wire, the
function answers with a documented code, and a refused request makes no API
call and changes nothing.

Three layers:
- a fixed corpus of nasty requests (tests/corpus/*.jsonl, one case a line,
  with the credentials of tests/conftest.py), replayed as regression tests;
- hypothesis properties over methods, paths, headers and bodies, through the
  real functions-framework app (HTTP and Pub/Sub entry points) with every
  outgoing call intercepted (``google``);
- what only a real server shows: gunicorn, over a socket, with bodies that
  are chunked, oversized or shorter than they claim.

The documented answers are 200, 400, 401, 404, 405, 409, 413 and, as the only
5xx, 500 ``configuration`` and 502 ``upstream`` (and its kinds). Anything else
is counted as an unexpected 5xx in the figures, and fails.
"""

from __future__ import annotations

import base64
import io
import json
import math
import socket
import time
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from tests import reliability
from tests.conftest import BEARER, PASSWORD, ROOT, TOKEN, USER, basic_header, notification

CORPUS = Path(__file__).resolve().parent / "corpus"
ROUTES = {"/": "POST", "/failover": "POST", "/failback": "POST", "/reconcile": "POST", "/status": "GET"}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
# werkzeug's routing in functions-framework merges doubled slashes with a 308 to the same path on
# the same host, before switch runs: no credentials checked, nothing done, so it counts as refused.
MERGED_SLASHES = 308


def merged(path: str) -> set:
    return {MERGED_SLASHES} if "//" in path else set()


def not_switch(answer) -> bool:
    """An answer functions-framework gave before switch ran: its 404 for /robots.txt, /favicon.ico and
    paths its router cannot match (a newline in them), and its 308 for doubled slashes. Never JSON."""
    return answer.status_code in (404, MERGED_SLASHES) and answer.mimetype != "application/json"


DOCUMENTED_5XX = {(500, "configuration"), (502, "upstream"), (502, "replica_failed"), (502, "replica_timeout")}


@pytest.fixture
def quick(env):
    """No retries: a request that does reach an API fails fast (``google`` answers nothing)."""
    env(API_RETRIES="0")


def error_code(answer) -> str | None:
    try:
        return (answer.get_json(silent=True) or {}).get("error", {}).get("code")
    except AttributeError:
        return None


def send(client, google, method: str, path: str, headers=(), body: bytes = b"", **kw):
    """One request through the real app; returns (answer, API calls it made). Counted and checked for 5xx."""
    before = len(google.calls)
    if body:
        kw["data"] = body
    answer = client.open(path, method=method, headers=list(headers), **kw)
    calls = len(google.calls) - before
    documented = (answer.status_code, error_code(answer)) in DOCUMENTED_5XX
    reliability.answered(answer.status_code, documented)
    assert answer.status_code < 500 or documented, (method, path, answer.status_code, answer.get_data()[:300])
    allowed = reliability.DOCUMENTED | ({MERGED_SLASHES} if "//" in path.split("?")[0] else set())
    assert answer.status_code in allowed, (method, path, answer.status_code)
    return answer, calls


# -- the notification spec the properties check against ---------------------------


def epoch_ok(value) -> bool:
    """started_at/ended_at: absent, null, 0, or epoch seconds (a number or a numeric string) in range."""
    if isinstance(value, bool):
        return False
    if value is None or (isinstance(value, (int, float)) and value == 0):
        return True
    if not isinstance(value, (int, float, str)):
        return False
    try:
        number = int(float(value))
    except (ValueError, OverflowError):
        return False
    return 0 < number < 10**11


def verdict(payload) -> str:
    """What switch must do with a decoded body on POST /: "refused" (400), "test" or "act"."""
    if not isinstance(payload, dict) or not isinstance(payload.get("incident"), dict):
        return "refused"
    incident = payload["incident"]
    state, given_id = incident.get("state"), incident.get("incident_id")
    if not isinstance(state, str):
        return "refused"
    if isinstance(given_id, bool):
        return "refused"
    if isinstance(given_id, (int, float)):
        if not math.isfinite(given_id):
            return "refused"
        given_id = str(given_id)
    if not isinstance(given_id, str) or not given_id.strip() or len(given_id) > 256:
        return "refused"
    if payload.get("version") == "test":
        return "test"
    if state.strip().lower() not in ("open", "closed"):
        return "refused"
    if not (epoch_ok(incident.get("started_at")) and epoch_ok(incident.get("ended_at"))):
        return "refused"
    return "act"


def decoded(body: bytes):
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


# -- the corpus ----------------------------------------------------------------------


def corpus(name: str) -> list[dict]:
    return [json.loads(line) for line in (CORPUS / name).read_text().splitlines() if line.strip()]


def corpus_body(case: dict) -> bytes:
    body = base64.b64decode(case.get("body_b64", ""))
    for chunk, times in case.get("body_parts", []):
        body += base64.b64decode(chunk) * times
    return body


def test_every_corpus_request_is_refused_or_ignored_without_an_api_call(client, google, quick):
    wrong = []
    for case in corpus("http.jsonl"):
        answer, calls = send(client, google, case["method"], case["path"], [tuple(h) for h in case["headers"]],
                             corpus_body(case))
        if answer.status_code != case["expect"] or calls:
            wrong.append((case["name"], answer.status_code, calls, answer.get_data()[:200]))
        elif case["method"] != "HEAD" and not not_switch(answer):
            assert answer.mimetype == "application/json", case["name"]
            assert ("error" in answer.get_json()) == (case["expect"] != 200), case["name"]

    assert wrong == []


def pubsub_event(case_data: bytes, mode: str):
    if mode == "push":  # a raw Pub/Sub push body; functions-framework converts it
        return {"Content-Type": "application/json"}, case_data
    return {"ce-specversion": "1.0", "ce-id": "corpus-1", "ce-source": "//pubsub.googleapis.com/projects/p/topics/t",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished", "Content-Type": "application/json"}, case_data


@pytest.fixture
def pubsub(env):
    import functions_framework

    return functions_framework.create_app("switch_pubsub", str(ROOT / "main.py")).test_client()


def test_every_corpus_pubsub_message_is_acknowledged_without_an_api_call(pubsub, google, quick):
    wrong = []
    for case in corpus("pubsub.jsonl"):
        headers, body = pubsub_event(base64.b64decode(case["data_b64"]), case["mode"])
        before = len(google.calls)
        answer = pubsub.post("/", headers=headers, data=body)
        reliability.answered(answer.status_code)
        if answer.status_code != 200 or len(google.calls) != before:
            wrong.append((case["name"], answer.status_code, answer.get_data()[:200]))

    assert wrong == []


# -- properties: HTTP -------------------------------------------------------------------

METHODS = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND", "X-Y"])
SEGMENT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
PATHS = st.one_of(
    st.sampled_from(list(ROUTES) + ["/status/", "//", "/..", "/%00", "/failover/..", "/robots.txt"]),
    st.lists(SEGMENT, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(quote(p, safe="%.~;=") for p in parts)),
).filter(lambda path: not path.startswith("//"))  # the test client reads "//x/y" as host x; see the socket tests
HEADER_NAMES = st.sampled_from(["X-Auth-Token", "Authorization", "Cookie", "Content-Type", "Content-Encoding",
                                "X-Forwarded-For", "Transfer-Encoding", "Expect", "Proxy-Authorization", "X-Token"])
HEADER_VALUES = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=40)
LEAVES = (st.none() | st.booleans() | st.integers(min_value=-(10**400), max_value=10**400)
          | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
JSON = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                            max_size=4), max_leaves=12)
BODIES = st.one_of(st.binary(max_size=200), JSON.map(lambda v: json.dumps(v).encode()),
                   JSON.map(lambda v: json.dumps(v).encode("utf-16")))


@FUZZ
@given(method=METHODS, path=PATHS, headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=3), body=BODIES)
def test_a_stranger_gets_401_whatever_the_request_and_no_api_call(client, google, quick, method, path, headers, body):
    # A stranger may guess a header name but not the secret: the generated values never contain it.
    answer, calls = send(client, google, method, path, headers, body)

    assert answer.status_code == 401 or not_switch(answer)
    assert calls == 0


@FUZZ
@given(method=METHODS, path=PATHS, body=BODIES)
def test_with_credentials_an_unknown_route_or_method_is_404_or_405_and_no_api_call(client, google, quick,
                                                                                   method, path, body):
    normal = unquote(path).rstrip("/") or "/"  # the app routes on the decoded path ("/%2F" is "//")
    assume(ROUTES.get(normal) != method)

    answer, calls = send(client, google, method, path, [("Authorization", f"Bearer {TOKEN}")], body)

    assert answer.status_code == (405 if normal in ROUTES else 404) or not_switch(answer)
    assert calls == 0


@FUZZ
@given(body=BODIES)
def test_a_body_that_is_not_a_notification_is_400_and_no_api_call(client, google, quick, body):
    expected = verdict(decoded(body))

    answer, calls = send(client, google, "POST", "/", BEARER.items(), body)

    if expected == "refused":
        assert answer.status_code == 400 and calls == 0, answer.get_data()[:200]
    elif expected == "test":
        assert answer.status_code == 200 and calls == 0


STRICT = ("incident_id", "state", "started_at", "ended_at")
LENIENT = ("summary", "policy_name", "observed_value", "documentation", "resource", "metric", "url", "severity",
           "threshold_value", "condition_name", "scoping_project_number")
WRONG = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**300), max_value=10**300),
                  st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                  st.lists(LEAVES, max_size=3), st.dictionaries(st.text(max_size=5), LEAVES, max_size=3),
                  st.sampled_from(["", " ", "open", "closed", "OPEN", "0", "-1", "nan", "1e400", "\x00"]))


@FUZZ
@given(state=st.sampled_from(["open", "closed"]), field=st.sampled_from(STRICT + LENIENT + ("incident", "version")),
       value=WRONG)
def test_a_notification_with_a_wrong_type_is_refused_or_acted_on_never_an_error(client, google, quick, state,
                                                                                field, value):
    payload = notification(state)
    if field in ("incident", "version"):
        payload[field] = value
    else:
        payload["incident"][field] = value
    body = json.dumps(payload).encode()
    expected = verdict(decoded(body))

    answer, calls = send(client, google, "POST", "/", BEARER.items(), body)

    if expected == "refused":
        assert answer.status_code == 400 and calls == 0, (field, value, answer.get_data()[:200])
    elif expected == "test":
        assert answer.status_code == 200 and calls == 0
    else:  # a notification after all: acted on (every API call fails here, hence 502) or found stale (200)
        assert answer.status_code in (200, 502), (field, value, answer.get_data()[:200])
        assert field not in STRICT or expected == "act"


def command_acts(path: str, body: bytes) -> bool:
    value = decoded(body)
    if not isinstance(value, dict):
        return False
    if path == "/failback":
        return set(value) <= {"force"} and isinstance(value.get("force", False), bool)
    return value == {}


@FUZZ
@given(path=st.sampled_from(["/failover", "/failback", "/reconcile"]),
       body=st.one_of(BODIES, st.fixed_dictionaries({"force": WRONG}).map(lambda v: json.dumps(v).encode())))
def test_a_command_with_a_bad_body_is_400_and_no_api_call(client, google, quick, path, body):
    answer, calls = send(client, google, "POST", path, [*BEARER.items(), ("Content-Type", "application/json")], body)

    if command_acts(path, body):
        assert answer.status_code in (200, 502)
    else:
        assert answer.status_code == 400 and calls == 0, answer.get_data()[:200]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/", "/failover", "/failback", "/reconcile"]),
       size=st.integers(min_value=64 * 1024 - 2, max_value=300 * 1024), declared=st.booleans(),
       authorized=st.booleans())
def test_an_oversized_body_is_413_and_no_api_call(client, google, quick, path, size, declared, authorized):
    body = b" " * size  # blank: were it read as empty, a command would act, so the size check must come first
    headers = list(BEARER.items()) if authorized else []
    if declared:
        answer, calls = send(client, google, "POST", path, headers, body)
    else:  # no Content-Length: a chunked upload of unknown length
        answer, calls = send(client, google, "POST", path, headers + [("Transfer-Encoding", "chunked")],
                             input_stream=_Stream(body), environ_overrides={"wsgi.input_terminated": True})

    if not authorized:
        assert answer.status_code == 401
    elif size > 64 * 1024:
        assert answer.status_code == 413
    else:  # blank: not JSON, so a command is refused as 415 and a notification as 400
        assert answer.status_code in (400, 415)
    if answer.status_code != 200 and answer.status_code != 502:
        assert calls == 0


class _Stream(io.BytesIO):
    """A request body that remembers how far it was read."""

    @property
    def read_bytes(self) -> int:
        return self.tell()


@pytest.mark.parametrize("authorized,path,size", [(False, "/", 10 * 1024 * 1024), (True, "/failover", 10 * 1024 * 1024),
                                                  (True, "/", 64 * 1024 + 1)])
def test_a_refused_body_is_not_read_past_the_limit(client, google, quick, authorized, path, size):
    """functions-framework reads the whole body after any answer that is not streamed; a
    refused upload must not be read (an unauthenticated 10 MB body is 10 MB of memory)."""
    stream = _Stream(b"x" * size)
    headers = list(BEARER.items()) if authorized else []

    answer, calls = send(client, google, "POST", path, headers, input_stream=stream, content_length=size)

    assert answer.status_code == (413 if authorized else 401)
    assert stream.read_bytes <= 64 * 1024 + 1
    assert calls == 0


# -- properties: Pub/Sub --------------------------------------------------------------

MESSAGES = st.one_of(
    JSON,
    st.fixed_dictionaries({"message": JSON}),
    st.fixed_dictionaries({"message": st.fixed_dictionaries(
        {"data": st.one_of(st.binary(max_size=100), JSON.map(lambda v: json.dumps(v).encode()))
                 .map(lambda b: base64.b64encode(b).decode()),
         "messageId": st.text(max_size=10)})}),
    st.fixed_dictionaries({"message": st.fixed_dictionaries({"data": st.text(max_size=40)})}),
)


@FUZZ
@given(data=MESSAGES)
def test_a_malformed_pubsub_message_is_acknowledged_without_an_api_call(pubsub, google, quick, data):
    message = data.get("message") if isinstance(data, dict) else None
    inner = message.get("data") if isinstance(message, dict) else None
    if isinstance(inner, str):
        try:
            assume(verdict(decoded(base64.b64decode(inner, validate=True))) == "refused")
        except ValueError:
            pass
    headers, body = pubsub_event(json.dumps(data).encode(), "binary")
    before = len(google.calls)

    answer = pubsub.post("/", headers=headers, data=body)

    reliability.answered(answer.status_code)
    assert answer.status_code == 200, answer.get_data()[:300]
    assert len(google.calls) == before


def test_a_pubsub_open_that_fails_upstream_is_redelivered(pubsub, google, quick):
    """The one failure Pub/Sub should retry: the message is fine, Google is not (documented 500)."""
    data = {"message": {"data": base64.b64encode(json.dumps(notification("open")).encode()).decode(),
                        "messageId": "7"}}
    headers, body = pubsub_event(json.dumps(data).encode(), "binary")

    answer = pubsub.post("/", headers=headers, data=body)

    reliability.answered(answer.status_code, documented_5xx=True)
    assert answer.status_code == 500 and len(google.calls) > 0


# -- over a socket: gunicorn in front ------------------------------------------------


@pytest.fixture(scope="module")
def served():
    from switch.drill import Function
    from switch.emulator import Emulator

    emulator = Emulator(ready_delay=0.05, delete_delay=0).start()
    function = Function({"SWITCH_PROJECT": "switch-demo", "SWITCH_REGION": "europe-west1",
                         "SWITCH_IMAGE": "europe-west1-docker.pkg.dev/switch-demo/site/www:1",
                         "SWITCH_TOKEN": TOKEN, "SWITCH_BASIC_USER": USER, "SWITCH_BASIC_PASSWORD": PASSWORD,
                         "SWITCH_RUN_ENDPOINT": emulator.url, "SWITCH_API_RETRIES": "0"})
    function.start()
    emulator.clear_requests()  # the start-up check asked /status
    yield function, emulator
    function.stop()
    emulator.stop()


def raw_exchange(port: int, request: bytes, timeout: float = 3.0) -> tuple[bytes, float]:
    """Send bytes as they are; the first answer bytes and how long they took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(request)
            answer = sock.recv(4096)
        except (socket.timeout, ConnectionResetError, BrokenPipeError):
            answer = b""
    return answer, time.monotonic() - started


def status_of(answer: bytes) -> int | None:
    try:
        return int(answer.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


AUTH_LINE = f"Authorization: Bearer {TOKEN}\r\n".encode()


@pytest.mark.parametrize("name,request_bytes,expect", [
    ("declares 10^20 bytes, sends 2", b"POST /failover HTTP/1.1\r\nHost: f\r\n" + AUTH_LINE
     + b"Content-Length: 100000000000000000000\r\n\r\n{}", 413),
    ("declares 70000 bytes, sends 2", b"POST / HTTP/1.1\r\nHost: f\r\n" + AUTH_LINE
     + b"Content-Length: 70000\r\n\r\n{}", 413),
    ("a stranger declares 10 MB, sends 2", b"POST / HTTP/1.1\r\nHost: f\r\nContent-Length: 10000000\r\n\r\n{}", 401),
    ("wrong route, declares 1 MB", b"POST /x HTTP/1.1\r\nHost: f\r\n" + AUTH_LINE
     + b"Content-Length: 1000000\r\n\r\n{}", 404),
    ("Content-Length and Transfer-Encoding both", b"POST /failover HTTP/1.1\r\nHost: f\r\n" + AUTH_LINE
     + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400),
    ("negative Content-Length", b"POST /failover HTTP/1.1\r\nHost: f\r\n" + AUTH_LINE
     + b"Content-Length: -1\r\n\r\n{}", 400),
    ("two Content-Lengths", b"POST /failover HTTP/1.1\r\nHost: f\r\n" + AUTH_LINE
     + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400),
    ("a header of 100 KB", b"GET /status HTTP/1.1\r\nHost: f\r\nX-Big: " + b"x" * 100_000 + b"\r\n\r\n", 431),
    ("an Authorization of 100 KB", b"GET /status HTTP/1.1\r\nHost: f\r\nAuthorization: Bearer " + b"x" * 100_000
     + b"\r\n\r\n", 431),
    ("a malformed request line", b"POST\x00/ HTTP/1.1\r\nHost: f\r\n\r\n", 400),
    ("a stranger on //failover", b"POST //failover HTTP/1.1\r\nHost: f\r\nContent-Length: 0\r\n\r\n", 401),
    ("a stranger on /%2ffailover", b"POST /%2ffailover HTTP/1.1\r\nHost: f\r\nContent-Length: 0\r\n\r\n", 401),
    ("a stranger with an absolute URI", b"POST http://evil.example/failover HTTP/1.1\r\nHost: f\r\n"
     b"Content-Length: 0\r\n\r\n", 401),
    ("a stranger with a token-shaped path", b"POST /failover/" + TOKEN.encode() + b"x HTTP/1.1\r\nHost: f\r\n"
     b"Content-Length: 0\r\n\r\n", 401),
    ("a chunked body of 200 KB", b"POST /failover HTTP/1.1\r\nHost: f\r\n" + AUTH_LINE
     + b"Transfer-Encoding: chunked\r\n\r\n" + (b"2000\r\n" + b" " * 0x2000 + b"\r\n") * 25 + b"0\r\n\r\n", 413),
    ("a chunked body that never ends", b"POST /failover HTTP/1.1\r\nHost: f\r\n" + AUTH_LINE
     + b"Transfer-Encoding: chunked\r\n\r\n" + (b"2000\r\n" + b" " * 0x2000 + b"\r\n") * 9, 413),
])
def test_over_the_wire_a_hostile_request_is_answered_promptly_and_makes_no_api_call(served, name, request_bytes,
                                                                                   expect):
    function, emulator = served
    emulator.clear_requests()

    answer, took = raw_exchange(function.port, request_bytes)

    reliability.answered(status_of(answer) or 0)
    assert status_of(answer) == expect, (name, answer[:200])
    assert took < 2.0, f"{name}: the answer took {took:.1f} s"
    assert emulator.calls() == []


def test_over_the_wire_basic_scheme_is_case_insensitive(served):
    function, emulator = served
    emulator.clear_requests()
    raw = base64.b64encode(f"{USER}:{PASSWORD}".encode())

    answer, _ = raw_exchange(function.port, b"GET /status HTTP/1.1\r\nHost: f\r\nAuthorization: bAsIc " + raw
                             + b"\r\nConnection: close\r\n\r\n")

    reliability.answered(status_of(answer) or 0)
    assert status_of(answer) == 200
    assert [r.method for r in emulator.calls()] == ["GET"]


def test_the_corpus_credentials_are_the_suites():
    """The corpus files carry the test credentials literally; keep them in step with conftest."""
    text = (CORPUS / "http.jsonl").read_text()
    assert TOKEN in text and base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() in text
    assert basic_header()["Authorization"].split()[1] in text


def test_oversized_pubsub_messages_are_refused_before_parsing_and_leave_no_memory_behind(tmp_path):
    """A 10 MB message whose data is a JSON array of a million numbers costs ~100 MB to parse; it is
    refused (and acknowledged) by its size before it is decoded, and the worker does not grow."""
    import subprocess
    import sys

    import requests

    from bench.common import children, proc_kb
    from switch.drill import free_port

    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "SWITCH_PROJECT": "switch-demo", "SWITCH_REGION": "europe-west1",
           "SWITCH_IMAGE": "i", "SWITCH_TOKEN": TOKEN, "SWITCH_RUN_ENDPOINT": "http://127.0.0.1:9/"}
    server = subprocess.Popen([sys.executable, "-m", "functions_framework", "--target", "switch_pubsub",
                               "--source", str(ROOT / "main.py"), "--host", "127.0.0.1", "--port", str(port)],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    headers = {"ce-specversion": "1.0", "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
               "ce-source": "//pubsub.googleapis.com/projects/switch-demo/topics/switch-alerts"}
    data = base64.b64encode(b'{"incident": [' + b"1," * 1_000_000 + b"1]}").decode()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.post(f"http://127.0.0.1:{port}/", json={"message": {"data": "e30=", "messageId": "0"}},
                              headers={**headers, "ce-id": "warm-up"}, timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        [worker] = children(server.pid)
        before = proc_kb(worker, "VmRSS")

        answers = [requests.post(f"http://127.0.0.1:{port}/", json={"message": {"data": data, "messageId": str(i)}},
                                 headers={**headers, "ce-id": str(i)}, timeout=30).status_code for i in range(5)]

        grown_mb = (proc_kb(worker, "VmRSS") - before) / 1024
    finally:
        server.terminate()
        server.wait(10)
    reliability.count("hostile", 5)
    assert answers == [200] * 5  # acknowledged: a redelivery could never succeed
    assert grown_mb < 6, f"the worker grew by {grown_mb:.0f} MB"
