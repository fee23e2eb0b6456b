"""Credentials through the real app: who gets in, who does not, and that no
secret (the token, the Basic password, the Cloudflare token) ever appears in a
log line or an answer, on the refused path, the accepted path or an error path.

Decisions tested here:
- the scheme name is case-insensitive (RFC 9110 §11.1): ``basic``, ``BASIC``
  and ``bAsIc`` work; the user name, the password and the token are compared
  exactly;
- the token is accepted as ``Authorization: Bearer`` or as the ``auth_token``
  query parameter (Cloud Monitoring's token channels can only put it in the
  URL), nowhere else: not another header, a cookie, the body, ``?token=``;
- one set of credentials per request: two Authorization headers, two
  auth_token values, or one of each, are refused even when all are right.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
import responses

from tests import reliability
from tests.conftest import (PASSWORD, RUN_ROOT, SERVICE_URL, TOKEN, USER, echo_replace, google_error, notification,
                            run_service)

CF_TOKEN = "cf-secret-token-0123456789abcdef"
ZONE = "0123456789abcdef0123456789abcdef"
ENTRYPOINT = f"https://api.cloudflare.com/client/v4/zones/{ZONE}/rulesets/phases/http_request_dynamic_redirect/entrypoint"
SECRETS = (TOKEN, PASSWORD, CF_TOKEN)
NOT_FOUND = google_error(404, "NOT_FOUND", "not found")


def basic(user: str, password: str, scheme: str = "Basic") -> dict:
    return {"Authorization": f"{scheme} " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def no_secret_anywhere(capsys, *answers) -> list[dict]:
    """Every log line is JSON and none (nor any answer) carries a secret; returns the parsed lines."""
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    texts = [out, err] + [a.get_data(as_text=True) + json.dumps(dict(a.headers)) for a in answers]
    for secret in SECRETS:
        for encoded in (secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()):
            assert not any(encoded in text for text in texts), f"a secret leaked: {secret[:4]}…"
    pair = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert not any(form in text for text in texts for form in (pair, pair.rstrip("="))), "a Basic pair leaked"
    return lines


@pytest.fixture
def cloudflare(env):
    env(CLOUDFLARE_TOKEN=CF_TOKEN, CLOUDFLARE_ZONE_ID=ZONE, CLOUDFLARE_HOST="www.example.org", API_RETRIES="0")


# -- who gets in --------------------------------------------------------------------


@pytest.mark.parametrize("headers,query", [
    ({"Authorization": f"Bearer {TOKEN}"}, ""),
    ({"Authorization": f"bearer {TOKEN}"}, ""),
    ({"Authorization": f"BEARER {TOKEN}"}, ""),
    ({"Authorization": f"Bearer   {TOKEN}  "}, ""),
    (basic(USER, PASSWORD), ""),
    (basic(USER, PASSWORD, "basic"), ""),
    (basic(USER, PASSWORD, "BASIC"), ""),
    (basic(USER, PASSWORD, "bAsIc"), ""),
    ({}, f"?auth_token={TOKEN}"),
    ({}, "?auth_token=" + "".join(f"%{b:02X}" for b in TOKEN.encode())),  # every byte percent-encoded
    ({}, f"?other=1&auth_token={TOKEN}&x="),
])
def test_right_credentials_in_the_right_place_are_accepted(client, google, capsys, headers, query):
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)

    answer = client.get("/status" + query, headers=headers)

    reliability.answered(answer.status_code)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    no_secret_anywhere(capsys, answer)


@pytest.mark.parametrize("headers,query,body", [
    ({}, "", None),
    ({"X-Auth-Token": TOKEN}, "", None),
    ({"X-Goog-Auth-Token": TOKEN, "Token": TOKEN}, "", None),
    ({"Authorization": TOKEN}, "", None),
    ({"Proxy-Authorization": f"Bearer {TOKEN}"}, "", None),
    ({"Cookie": f"auth_token={TOKEN}; token={TOKEN}"}, "", None),
    ({}, "", {"auth_token": TOKEN, "token": TOKEN}),
    ({}, f"?token={TOKEN}", None),
    ({}, f"?Auth_Token={TOKEN}", None),
    ({}, f"?auth_token={TOKEN}%0A", None),
    ({}, f"?auth_token=%20{TOKEN}", None),
    ({}, f"?auth_token={quote(quote(TOKEN, safe=''), safe='').replace('-', '%252D')}", None),
    ({}, f"?auth_token={TOKEN.upper()}", None),
    ({"Authorization": f"Bearer {TOKEN.upper()}"}, "", None),
    ({"Authorization": f"Bearer {TOKEN[:-1]}"}, "", None),
    ({"Authorization": f"Bearer {TOKEN}{TOKEN}"}, "", None),
    ({"Authorization": f"Bearer {quote(TOKEN, safe='').replace('-', '%2D')}"}, "", None),
    ({"Authorization": "Bearer " + base64.b64encode(TOKEN.encode()).decode()}, "", None),
    ({"Authorization": f"Bearer\t{TOKEN}"}, "", None),
    ({"Authorization": f"Basic {TOKEN}"}, "", None),
    (basic(USER, f"{PASSWORD}:extra"), "", None),
    (basic(USER.upper(), PASSWORD), "", None),
    (basic(USER, PASSWORD.upper()), "", None),
    (basic(f"{USER}:{PASSWORD}", ""), "", None),
    (basic(USER, TOKEN), "", None),
    (basic(USER, PASSWORD + "\n"), "", None),
    ({"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode().rstrip("=")}, "", None),
    ({"Authorization": "Basic " + base64.b64encode(f"{USER}:".encode() + PASSWORD.encode("utf-16")).decode()}, "", None),
    ({"Authorization": "Basic " + base64.b64encode(b"\xff\xfe\xfd:" + PASSWORD.encode()).decode()}, "", None),
    ({"Authorization": "Bearer " + TOKEN + "x" * 100_000}, "", None),
    ({"Authorization": "Basic " + "QUFB" * 25_000}, "", None),
    ({}, "?auth_token=" + "x" * 100_000, None),
])
def test_wrong_misplaced_or_overlong_credentials_are_refused_without_a_trace(client, google, capsys, headers,
                                                                              query, body):
    answer = client.post("/" + query, headers=headers, json=body)

    reliability.answered(answer.status_code)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="switch"'
    assert len(google.calls) == 0
    lines = no_secret_anywhere(capsys, answer)
    assert [line["outcome"] for line in lines] == ["unauthorized"]


@pytest.mark.parametrize("pairs", [
    [("Authorization", f"Bearer {TOKEN}"), ("Authorization", f"Bearer {TOKEN}")],
    [("Authorization", f"Bearer {TOKEN}"), ("Authorization", basic(USER, PASSWORD)["Authorization"])],
    [("Authorization", f"Bearer {TOKEN}, Basic x")],
])
def test_doubled_credentials_are_refused_even_when_right(client, google, capsys, pairs):
    answer = client.get("/status", headers=pairs)

    reliability.answered(answer.status_code)
    assert answer.status_code == 401 and len(google.calls) == 0
    no_secret_anywhere(capsys, answer)


@pytest.mark.parametrize("query,headers", [
    (f"?auth_token={TOKEN}&auth_token={TOKEN}", {}),
    (f"?auth_token={TOKEN}", {"Authorization": f"Bearer {TOKEN}"}),
    (f"?auth_token={TOKEN}&auth_token=", {}),
])
def test_a_doubled_query_token_is_refused(client, google, capsys, query, headers):
    answer = client.get("/status" + query, headers=headers)

    reliability.answered(answer.status_code)
    assert answer.status_code == 401 and len(google.calls) == 0
    no_secret_anywhere(capsys, answer)


def test_only_the_configured_kind_is_accepted(client, google, env, capsys):
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    env(TOKEN=None)
    assert client.get("/status", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401
    assert client.get(f"/status?auth_token={TOKEN}").status_code == 401
    assert client.get("/status", headers=basic(USER, PASSWORD)).status_code == 200

    env(TOKEN=TOKEN, BASIC_USER=None, BASIC_PASSWORD=None)
    assert client.get("/status", headers=basic(USER, PASSWORD)).status_code == 401
    assert client.get("/status", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    reliability.count("hostile", 5)
    no_secret_anywhere(capsys)


# -- secrets stay out of logs and answers on every path ------------------------------


BASIC_PAIR = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.mark.parametrize("path", [f"/{TOKEN}", f"/failover/{TOKEN}", f"/{PASSWORD}", f"/x/{quote(TOKEN)}/y",
                                  "/" + "a" * 180 + TOKEN, "/" + "b" * 185 + PASSWORD, f"/{BASIC_PAIR}",
                                  f"/basic/{BASIC_PAIR.rstrip('=')}/x", f"/{quote(TOKEN, safe='')}"])
def test_a_secret_in_the_path_is_not_logged(client, google, capsys, path):
    """A webhook URL pasted wrong puts the token in the path; the log line names the path."""
    stranger = client.post(path)
    insider = client.post(path, headers={"Authorization": f"Bearer {TOKEN}"})

    assert (stranger.status_code, insider.status_code) == (401, 404)
    reliability.count("hostile", 2)
    lines = no_secret_anywhere(capsys, stranger, insider)
    assert len(lines) == 2 and all("<redacted>" in line["message"] for line in lines)
    assert "<redacted>" in insider.get_json()["error"]["message"]


def test_no_secret_when_google_refuses(client, google, capsys, cloudflare):
    google.add(responses.GET, SERVICE_URL, status=403, json=google_error(
        403, "PERMISSION_DENIED", "Permission 'run.services.get' denied on resource (or resource may not exist)."))

    answer = client.post("/failover", json={}, headers={"Authorization": f"Bearer {TOKEN}"})

    reliability.answered(answer.status_code, documented_5xx=True)
    assert answer.status_code == 502
    no_secret_anywhere(capsys, answer)


@pytest.mark.parametrize("status,code", [(401, 10000), (403, 10000), (400, 1001)])
def test_no_secret_when_cloudflare_refuses_the_token(client, google, capsys, cloudflare, status, code):
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations={"switch/incident": "0.nx4k2ab9pq7z"}))
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json={"etag": "e", "bindings": [
        {"role": "roles/run.invoker", "members": ["allUsers"]}]})
    # Cloudflare echoing the token back is not known to happen; if it ever does, it must not travel on.
    google.add(responses.GET, ENTRYPOINT, status=status, json={
        "success": False, "result": None, "messages": [],
        "errors": [{"code": code, "message": f"Authentication error for Bearer {CF_TOKEN}"}]})

    answer = client.post("/", headers=basic(USER, PASSWORD), json=notification("open"))

    reliability.answered(answer.status_code, documented_5xx=True)
    assert answer.status_code == 502
    assert google.calls[-1].request.headers["Authorization"] == f"Bearer {CF_TOKEN}"  # it was sent, to Cloudflare only
    assert all("Authorization" not in c.request.headers or "cloudflare" in c.request.url
               or CF_TOKEN not in c.request.headers["Authorization"] for c in google.calls)
    no_secret_anywhere(capsys, answer)


@pytest.mark.parametrize("variables", [
    {"TOKEN": "short"},
    {"TOKEN": None, "BASIC_USER": None, "BASIC_PASSWORD": None},
    {"BASIC_USER": f"{USER}:{PASSWORD}"},
    {"BASIC_USER": None},
    {"CLOUDFLARE_TOKEN": CF_TOKEN},
    {"CLOUDFLARE_TOKEN": CF_TOKEN, "CLOUDFLARE_ZONE_ID": CF_TOKEN, "CLOUDFLARE_HOST": "www.example.org"},
    {"CONTAINER_ENV": json.dumps({"PORT": TOKEN})},
    {"CONTAINER_ENV": "{" + TOKEN},
])
def test_no_secret_in_a_configuration_error(client, google, env, capsys, variables):
    env(**variables)

    answer = client.post("/", headers={"Authorization": f"Bearer {TOKEN}"}, json={})

    reliability.answered(answer.status_code, documented_5xx=True)
    assert answer.status_code == 500 and answer.get_json()["error"]["code"] == "configuration"
    assert len(google.calls) == 0
    no_secret_anywhere(capsys, answer)


def test_no_secret_on_the_accepted_path_from_start_to_failback(client, google, capsys, cloudflare):
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    google.add(responses.GET, SERVICE_URL, json=run_service())  # the look after the redirect, and status
    google.add(responses.POST, RUN_ROOT, json=run_service())
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json={"etag": "e"})
    google.add(responses.POST, f"{SERVICE_URL}:setIamPolicy", json={"etag": "f"})
    google.add(responses.GET, ENTRYPOINT, status=404, json={"success": False, "result": None, "messages": [],
                                                             "errors": [{"code": 10003, "message": "no entrypoint"}]})
    google.add(responses.POST, ENTRYPOINT.split("/rulesets/")[0] + "/rulesets",
               json={"success": True, "errors": [], "messages": [], "result": {"id": "r" * 32, "rules": []}})
    echo_replace(google)

    answers = [client.post("/failover", json={}, headers=basic(USER, PASSWORD)),
               client.get(f"/status?auth_token={TOKEN}")]

    assert answers[0].status_code == 200
    no_secret_anywhere(capsys, *answers)
