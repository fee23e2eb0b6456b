"""The requests-backed transport keeps googleapiclient's contract."""

import socket

import pytest
import requests
import responses

from switch.transport import RequestsHttp

URL = "https://europe-west1-run.googleapis.com/v1/projects/p/locations/r/services/s"


def http():
    return RequestsHttp(requests.Session, timeout=7)


@responses.activate
def test_response_has_int_status_lowercase_headers_reason_and_bytes():
    responses.add(responses.GET, URL, status=409, json={"error": {}}, headers={"X-Thing": "1"})

    response, content = http().request(URL)

    assert response.status == 409 and response["status"] == "409"
    assert response.reason == "Conflict"
    assert response["x-thing"] == "1"
    assert isinstance(content, bytes)


@responses.activate
def test_redirects_are_not_followed():
    responses.add(responses.GET, URL, status=302, headers={"Location": "https://elsewhere.example.org/"})

    response, _ = http().request(URL)

    assert response.status == 302 and len(responses.calls) == 1


@responses.activate
def test_method_body_headers_and_timeout_are_passed_through(monkeypatch):
    seen = {}
    original = requests.Session.request

    def spy(self, method, url, **kw):
        seen.update(kw, method=method)
        return original(self, method, url, **kw)

    monkeypatch.setattr(requests.Session, "request", spy)
    responses.add(responses.POST, URL, json={})

    http().request(URL, method="POST", body='{"a": 1}', headers={"content-type": "application/json"})

    assert seen["method"] == "POST" and seen["data"] == '{"a": 1}' and seen["timeout"] == 7
    assert seen["allow_redirects"] is False
    assert responses.calls[0].request.headers["content-type"] == "application/json"


@responses.activate
def test_a_timeout_becomes_socket_timeout_which_googleapiclient_retries():
    responses.add(responses.GET, URL, body=requests.exceptions.ReadTimeout("slow"))

    with pytest.raises(socket.timeout):
        http().request(URL)


@responses.activate
def test_a_connection_error_becomes_the_builtin_connection_error():
    responses.add(responses.GET, URL, body=requests.exceptions.ConnectionError("reset"))

    with pytest.raises(ConnectionError):
        http().request(URL)


def test_each_thread_gets_its_own_session():
    import threading

    adapter = http()
    sessions = []
    threads = [threading.Thread(target=lambda: sessions.append(adapter.session)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len({id(s) for s in sessions}) == 3
    assert adapter.session is adapter.session


def test_a_loopback_endpoint_gets_anonymous_credentials():
    from google.auth.credentials import AnonymousCredentials

    from switch.transport import credentials_for

    assert isinstance(credentials_for("http://127.0.0.1:8090/"), AnonymousCredentials)


def test_googleapiclient_retries_connection_errors_through_the_adapter(google):
    from switch.transport import build_client

    google.add(responses.GET, URL, body=requests.exceptions.ConnectionError("reset"))
    google.add(responses.GET, URL, json={"metadata": {"name": "s"}})
    client = build_client("run", "v1", "https://europe-west1-run.googleapis.com/", 5)

    service = client.projects().locations().services().get(
        name="projects/p/locations/r/services/s").execute(num_retries=2)

    assert service["metadata"]["name"] == "s"
    assert len(google.calls) == 2


# -- the function's own token, on Google Cloud --------------------------------------------------

from switch import transport  # noqa: E402

TOKEN_URL = transport.METADATA_TOKEN_URL


def on_cloud_run(monkeypatch):
    monkeypatch.setenv("K_SERVICE", "switch-prod")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)


def test_on_cloud_run_the_token_comes_from_the_metadata_server_not_google_auth(monkeypatch):
    on_cloud_run(monkeypatch)

    credentials = transport.credentials_for("https://europe-west1-run.googleapis.com/")

    assert isinstance(credentials, transport.MetadataCredentials)


def test_a_key_file_wins_over_the_metadata_server(monkeypatch):
    on_cloud_run(monkeypatch)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/secrets/key.json")

    assert not transport.on_google_cloud()


@responses.activate
def test_the_token_is_fetched_once_sent_on_every_call_and_kept_until_a_minute_before_it_expires(monkeypatch):
    now = [1000.0]
    credentials = transport.MetadataCredentials(clock=lambda: now[0])
    token = responses.add(responses.GET, TOKEN_URL, json={"access_token": "ya29.one", "expires_in": 3599,
                                                          "token_type": "Bearer"})
    api = responses.add(responses.GET, URL, json={"metadata": {"name": "s"}})
    session = transport.TokenSession(credentials)

    session.get(URL)
    session.get(URL)
    now[0] += 3599 - 60 - 1
    session.get(URL)

    assert token.call_count == 1 and api.call_count == 3
    assert responses.calls[0].request.headers["Metadata-Flavor"] == "Google"
    assert all(c.request.headers["Authorization"] == "Bearer ya29.one" for c in responses.calls[1:])
    now[0] += 2  # within a minute of expiry: a new one
    session.get(URL)
    assert token.call_count == 2


@responses.activate
def test_a_401_fetches_a_new_token_and_tries_once_more():
    responses.add(responses.GET, TOKEN_URL, json={"access_token": "ya29.old", "expires_in": 3599})
    responses.add(responses.GET, TOKEN_URL, json={"access_token": "ya29.new", "expires_in": 3599})
    responses.add(responses.GET, URL, status=401, json={"error": {"code": 401}})
    responses.add(responses.GET, URL, json={"metadata": {"name": "s"}})

    answer = transport.TokenSession(transport.MetadataCredentials()).get(URL)

    assert answer.status_code == 200
    assert [c.request.headers.get("Authorization") for c in responses.calls if c.request.url == URL] == [
        "Bearer ya29.old", "Bearer ya29.new"]


def test_a_metadata_server_that_fails_is_retried_like_a_dropped_connection(google, monkeypatch):
    on_cloud_run(monkeypatch)
    monkeypatch.setattr(transport, "credentials_for", lambda endpoint: transport.MetadataCredentials())
    google.add(responses.GET, TOKEN_URL, status=503)
    google.add(responses.GET, TOKEN_URL, json={"access_token": "ya29.ok", "expires_in": 3599})
    google.add(responses.GET, URL, json={"metadata": {"name": "s"}})
    client = transport.build_client("run", "v1", "https://europe-west1-run.googleapis.com/", 5)

    service = transport.execute(client.projects().locations().services().get(name="projects/p/locations/r/services/s"),
                                label="Cloud Run", api="run", what="get", retries=2, sleep=lambda s: None)

    assert service["metadata"]["name"] == "s"
    assert google.calls[-1].request.headers["Authorization"] == "Bearer ya29.ok"
