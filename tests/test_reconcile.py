"""Traffic follows the replica, and reconcile heals lost notifications
(Google and Cloudflare intercepted with responses, through the real app)."""

from __future__ import annotations

import json
import re
import time

import pytest
import responses

from switch.traffic.cloudflare import CloudflareRouter
from tests.conftest import (notification, BEARER, PROJECT, REGION, RUN_ROOT, SERVICE, SERVICE_URL, api_calls,
                            echo_replace, google_error, run_service, serving, writes)

ZONE = "0123456789abcdef0123456789abcdef"
CF = "https://api.cloudflare.com/client/v4/"
ENTRYPOINT = f"{CF}zones/{ZONE}/rulesets/phases/http_request_dynamic_redirect/entrypoint"
RULESET = "f" * 32
RULES = f"{CF}zones/{ZONE}/rulesets/{RULESET}/rules"
REPLICA_URL = "https://site-replica-q2w3e4r5ta-ew.a.run.app"
ALERTS = f"https://monitoring.googleapis.com/v3/projects/{PROJECT}/alerts"
MAPPINGS = f"https://{REGION}-run.googleapis.com/v1/projects/{PROJECT}/locations/{REGION}/domainmappings"
NOT_FOUND = google_error(404, "NOT_FOUND", "not found")
PUBLIC = {"version": 1, "etag": "e", "bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}]}


def envelope(result, success=True, errors=()):
    return {"success": success, "errors": list(errors), "messages": [], "result": result}


ROUTER = CloudflareRouter(token="t", zone_id=ZONE, host="www.example.org", endpoint=CF, service=SERVICE)


def our_rule(target=REPLICA_URL, enabled=True):
    """Our rule as Cloudflare keeps it: what the router writes, plus id and version."""
    return {"id": "a" * 32, "version": "1", **ROUTER.rule(target, enabled)}


FOREIGN = {"id": "b" * 32, "ref": "old_blog", "version": "3", "enabled": True,
           "expression": '(http.request.uri.path eq "/blog")', "action": "redirect",
           "action_parameters": {"from_value": {"target_url": {"value": "https://blog.example.org"},
                                                "status_code": 301}}}


def ruleset(*rules):
    return envelope({"id": RULESET, "kind": "zone", "phase": "http_request_dynamic_redirect", "version": "5",
                     "rules": list(rules)})


def alerts(*states):
    return {"alerts": [{"name": f"projects/{PROJECT}/alerts/{i}", "state": state,
                        "policy": {"displayName": "site-down-failover"}} for i, state in enumerate(states)]}


@pytest.fixture
def cloudflare(env):
    env(CLOUDFLARE_TOKEN="cf-token-value", CLOUDFLARE_ZONE_ID=ZONE, CLOUDFLARE_HOST="www.example.org")


def order(mock) -> list[str]:
    """The writes, as short names, in the order they happened."""
    names = []
    for call in writes(mock):
        url = call.request.url
        if "cloudflare" in url:
            body = json.loads(call.request.body)
            rule = body["rules"][0] if "rules" in body else body
            names.append("redirect on" if rule["enabled"] else "redirect off")
        elif url.split("?")[0] == RUN_ROOT:
            names.append("create")
        elif ":setIamPolicy" in url:
            names.append("public")
        elif call.request.method == "DELETE":
            names.append("delete")
        elif call.request.method == "PUT" and "activated-at" in (call.request.body or ""):
            names.append("activated")
        else:
            names.append(f"{call.request.method} {url}")
    return names


# -- order of steps -------------------------------------------------------------


def test_redirect_is_enabled_only_after_the_replica_is_ready_and_public(client, google, cloudflare):
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    google.add(responses.POST, RUN_ROOT, json=run_service(ready="Unknown"))
    google.add(responses.GET, SERVICE_URL, json=run_service(ready="Unknown"))
    google.add(responses.GET, SERVICE_URL, json=run_service())
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json={"etag": "e"})
    google.add(responses.POST, f"{SERVICE_URL}:setIamPolicy", json=PUBLIC)
    google.add(responses.GET, ENTRYPOINT, json=ruleset(FOREIGN))
    google.add(responses.POST, RULES, json=ruleset(FOREIGN, our_rule()))
    echo_replace(google)

    answer = client.post("/", json=notification("open"), headers=BEARER)

    assert answer.status_code == 200
    assert order(google) == ["create", "redirect on", "activated"]  # public at creation
    first_cloudflare = min(i for i, c in enumerate(google.calls) if "cloudflare" in c.request.url)
    gets_before = [c for c in list(google.calls)[:first_cloudflare] if c.request.url.startswith(SERVICE_URL + "?")]
    assert len(gets_before) == 3  # the first look and both readiness polls, the last one Ready
    assert '"status": "True"' in gets_before[-1].response.text.replace('"status":"True"', '"status": "True"')
    sent = json.loads(api_calls(google, "POST", "cloudflare")[0].request.body)
    assert sent["action_parameters"]["from_value"]["status_code"] == 302
    assert REPLICA_URL in sent["action_parameters"]["from_value"]["target_url"]["expression"]
    assert FOREIGN["id"] not in json.dumps(sent)


def test_a_failed_replica_never_gets_traffic(client, google, cloudflare):
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    google.add(responses.POST, RUN_ROOT, json=run_service(ready="Unknown"))
    google.add(responses.GET, SERVICE_URL, json=run_service(ready="False", message="Image not found"))

    assert client.post("/", json=notification("open"), headers=BEARER).status_code == 502
    assert api_calls(google, None, "cloudflare") == []


def test_redirect_is_disabled_before_the_replica_is_deleted(client, google, cloudflare):
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving()))
    google.add(responses.GET, ENTRYPOINT, json=ruleset(FOREIGN, our_rule()))
    google.add(responses.PATCH, f"{RULES}/{'a' * 32}", json=ruleset(FOREIGN, our_rule(enabled=False)))
    google.add(responses.DELETE, SERVICE_URL, json={"status": "Success"})
    google.add(responses.GET, ENTRYPOINT, json=ruleset(FOREIGN, our_rule(enabled=False)))

    answer = client.post("/", json=notification("closed"), headers=BEARER)

    assert answer.status_code == 200
    assert order(google) == ["redirect off", "delete"]
    patched = json.loads(api_calls(google, "PATCH")[0].request.body)
    assert FOREIGN["id"] not in json.dumps(patched) and patched["enabled"] is False


def test_if_the_redirect_cannot_be_switched_off_the_replica_is_kept(client, google, cloudflare, no_sleep):
    google.add(responses.GET, SERVICE_URL, json=run_service())
    for _ in range(6):
        google.add(responses.GET, ENTRYPOINT, status=503, json=envelope(None, False, [{"code": 1, "message": "down"}]))

    answer = client.post("/", json=notification("closed"), headers=BEARER)

    assert answer.status_code == 502
    assert api_calls(google, "DELETE") == []


# -- the failover domain ----------------------------------------------------------


def mapping(cert="True", route="site-replica"):
    return {"apiVersion": "domains.cloudrun.com/v1", "kind": "DomainMapping",
            "metadata": {"name": "failover.example.org", "namespace": "123456789012",
                         "labels": {"managed-by": "switch"}},
            "spec": {"routeName": route, "certificateMode": "AUTOMATIC"},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "RouteMissing"},
                                      {"type": "CertificateProvisioned", "status": cert},
                                      {"type": "DomainRoutable", "status": "True"}],
                       "resourceRecords": [{"name": "failover", "type": "CNAME", "rrdata": "ghs.googlehosted.com."}]}}


def test_the_redirect_points_at_the_failover_domain_once_its_certificate_is_provisioned(client, google, cloudflare,
                                                                                        env):
    env(FAILOVER_DOMAIN="failover.example.org")
    google.add(responses.GET, SERVICE_URL, json=run_service())
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json=PUBLIC)
    google.add(responses.GET, f"{MAPPINGS}/failover.example.org", json=mapping())
    google.add(responses.GET, ENTRYPOINT, json=ruleset())
    google.add(responses.POST, RULES, json=ruleset(our_rule("https://failover.example.org")))
    echo_replace(google)

    client.post("/", json=notification("open"), headers=BEARER)

    sent = json.loads(api_calls(google, "POST", "cloudflare")[0].request.body)
    assert 'concat("https://failover.example.org", http.request.uri.path)' == \
        sent["action_parameters"]["from_value"]["target_url"]["expression"]


def test_without_a_certificate_the_run_app_url_is_used_and_the_mapping_is_created(client, google, cloudflare, env):
    env(FAILOVER_DOMAIN="failover.example.org")
    google.add(responses.GET, SERVICE_URL, json=run_service())
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json=PUBLIC)
    google.add(responses.GET, f"{MAPPINGS}/failover.example.org", status=404, json=NOT_FOUND)
    google.add(responses.POST, MAPPINGS, json=mapping(cert="Unknown"))
    google.add(responses.GET, ENTRYPOINT, json=ruleset())
    google.add(responses.POST, RULES, json=ruleset(our_rule()))
    echo_replace(google)

    body = client.post("/", json=notification("open"), headers=BEARER).get_json()

    created = json.loads(api_calls(google, "POST", "domainmappings")[0].request.body)
    assert created["spec"] == {"routeName": "site-replica", "certificateMode": "AUTOMATIC"}
    assert created["metadata"]["labels"] == {"managed-by": "switch"}
    sent = json.loads(api_calls(google, "POST", "cloudflare")[0].request.body)
    assert REPLICA_URL in sent["action_parameters"]["from_value"]["target_url"]["expression"]
    assert "not provisioned" in {s["step"]: s for s in body["steps"]}["domain"]["detail"]


def test_failback_keeps_the_domain_mapping(client, google, env):
    env(FAILOVER_DOMAIN="failover.example.org")
    google.add(responses.GET, SERVICE_URL, json=run_service())
    google.add(responses.DELETE, SERVICE_URL, json={"status": "Success"})

    client.post("/failback", json={"force": True}, headers=BEARER)

    assert api_calls(google, None, "domainmappings") == []


def test_status_shows_the_mapping_conditions_and_dns_records(client, google, env):
    env(FAILOVER_DOMAIN="failover.example.org")
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    google.add(responses.GET, f"{MAPPINGS}/failover.example.org", json=mapping())

    body = client.get("/status", headers=BEARER).get_json()

    assert body["domain"]["conditions"]["CertificateProvisioned"]["status"] == "True"
    assert body["domain"]["conditions"]["Ready"]["reason"] == "RouteMissing"
    assert body["domain"]["dns_records"] == [{"name": "failover", "type": "CNAME", "rrdata": "ghs.googlehosted.com."}]


@pytest.mark.parametrize("trouble", ["routes elsewhere", "not ours", "forbidden", "unavailable", "pending"])
def test_a_failover_domain_in_trouble_never_blocks_the_failover(client, google, cloudflare, env, trouble):
    env(FAILOVER_DOMAIN="failover.example.org", API_RETRIES="0")
    google.add(responses.GET, SERVICE_URL, json=run_service())
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json=PUBLIC)
    if trouble == "routes elsewhere":
        google.add(responses.GET, f"{MAPPINGS}/failover.example.org", json=mapping(route="someone-elses"))
    elif trouble == "not ours":  # routes to our replica's name, but someone else made it: never adopted
        foreign = mapping()
        foreign["metadata"]["labels"] = {}
        google.add(responses.GET, f"{MAPPINGS}/failover.example.org", json=foreign)
    elif trouble == "pending":
        google.add(responses.GET, f"{MAPPINGS}/failover.example.org", json=mapping(cert="Unknown"))
    else:
        status, code = (403, "PERMISSION_DENIED") if trouble == "forbidden" else (503, "UNAVAILABLE")
        google.add(responses.GET, f"{MAPPINGS}/failover.example.org", status=status,
                   json=google_error(status, code, f"domain mappings are {trouble}"))
    google.add(responses.GET, ENTRYPOINT, json=ruleset())
    google.add(responses.POST, RULES, json=ruleset(our_rule()))
    echo_replace(google)

    answer = client.post("/", json=notification("open"), headers=BEARER)

    assert answer.status_code == 200
    sent = json.loads(api_calls(google, "POST", "cloudflare")[0].request.body)
    assert REPLICA_URL in sent["action_parameters"]["from_value"]["target_url"]["expression"]
    assert "run.app URL" in {s["step"]: s for s in answer.get_json()["steps"]}["domain"]["detail"]
    assert not [c for c in writes(google) if "domainmappings" in c.request.url]


# -- reconcile --------------------------------------------------------------------


@pytest.fixture
def policy(env):
    env(ALERT_POLICY="site-down-failover", HOME_URL="https://www.example.org", PROBE_COUNT="2")


def test_reconcile_fails_over_when_an_alert_is_open_but_no_replica_exists(client, google, cloudflare, policy):
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    google.add(responses.GET, ALERTS, json=alerts("OPEN"))
    google.add(responses.GET, "https://www.example.org/healthz", status=503)  # home is dark
    echo_replace(google)
    google.add(responses.POST, RUN_ROOT, json=run_service())
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json={"etag": "e"})
    google.add(responses.POST, f"{SERVICE_URL}:setIamPolicy", json=PUBLIC)
    google.add(responses.GET, ENTRYPOINT, json=ruleset())
    google.add(responses.POST, RULES, json=ruleset(our_rule()))

    body = client.post("/reconcile", json={}, headers=BEARER).get_json()

    assert body["action"] == "failover" and "lost notification" in body["reason"]
    assert order(google) == ["create", "redirect on", "activated"]
    [listing] = api_calls(google, "GET", "/alerts")
    assert "state+%3D+%22OPEN%22" in listing.request.url or "state%20%3D%20%22OPEN%22" in listing.request.url


def test_reconcile_fails_back_when_the_closing_notification_was_lost(client, google, cloudflare, policy):
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving()))
    google.add(responses.GET, ALERTS, json=alerts())
    google.add(responses.GET, "https://www.example.org/healthz", status=200)
    google.add(responses.GET, "https://www.example.org/healthz", status=200)
    google.add(responses.GET, ENTRYPOINT, json=ruleset(our_rule()))
    google.add(responses.PATCH, f"{RULES}/{'a' * 32}", json=ruleset(our_rule(enabled=False)))
    google.add(responses.DELETE, SERVICE_URL, json={"status": "Success"})
    google.add(responses.GET, ENTRYPOINT, json=ruleset(our_rule(enabled=False)))

    body = client.post("/reconcile", json={}, headers=BEARER).get_json()

    assert body["action"] == "failback" and "lost closing notification" in body["reason"]
    assert order(google) == ["redirect off", "delete"]


def test_reconcile_keeps_the_replica_while_the_alert_is_open(client, google, cloudflare, policy):
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving()))
    google.add(responses.GET, ALERTS, json=alerts("OPEN"))
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json=PUBLIC)
    google.add(responses.GET, ENTRYPOINT, json=ruleset(our_rule()))

    body = client.post("/reconcile", json={}, headers=BEARER).get_json()

    assert body["action"] == "none" and "still open" in body["reason"]
    assert writes(google) == []
    assert api_calls(google, "GET", "example.org/healthz") == []  # no probe needed to decide


def test_reconcile_switches_off_a_redirect_with_no_replica_behind_it(client, google, cloudflare, policy):
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    google.add(responses.GET, ALERTS, json=alerts())
    google.add(responses.GET, ENTRYPOINT, json=ruleset(FOREIGN, our_rule()))
    google.add(responses.PATCH, f"{RULES}/{'a' * 32}", json=ruleset(FOREIGN, our_rule(enabled=False)))

    body = client.post("/reconcile", json={}, headers=BEARER).get_json()

    assert body["action"] == "failback" and "does not exist" in body["reason"]
    assert order(google) == ["redirect off"]


def test_reconcile_finishes_a_half_made_replica(client, google, cloudflare, policy):
    google.add(responses.GET, SERVICE_URL, json=run_service(ready="Unknown"))
    google.add(responses.GET, ALERTS, json=alerts("OPEN"))
    google.add(responses.GET, SERVICE_URL, json=run_service())
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json={"etag": "e"})
    google.add(responses.POST, f"{SERVICE_URL}:setIamPolicy", json=PUBLIC)
    google.add(responses.GET, ENTRYPOINT, json=ruleset())
    google.add(responses.POST, RULES, json=ruleset(our_rule()))
    google.add(responses.GET, "https://www.example.org/healthz", status=503)  # home is dark
    echo_replace(google)

    body = client.post("/reconcile", json={}, headers=BEARER).get_json()

    assert body["action"] == "failover" and body["reason"].startswith("finished the replica")
    assert order(google) == ["redirect on", "activated"]


def test_reconcile_does_nothing_when_all_is_in_place(client, google, cloudflare, policy):
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving()))
    google.add(responses.GET, ALERTS, json=alerts("OPEN"))
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json=PUBLIC)
    google.add(responses.GET, ENTRYPOINT, json=ruleset(our_rule()))

    body = client.post("/reconcile", json={}, headers=BEARER).get_json()

    assert body["action"] == "none" and body["changed"] is False


def test_reconcile_on_standby_with_nothing_out_of_place_does_nothing(client, google, cloudflare, policy):
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    google.add(responses.GET, ALERTS, json=alerts("CLOSED"))
    google.add(responses.GET, ENTRYPOINT, json=ruleset(FOREIGN))

    body = client.post("/reconcile", json={}, headers=BEARER).get_json()

    assert body["action"] == "none" and body["state"] == "standby"
    assert writes(google) == []


def test_a_pinned_replica_survives_reconcile(client, google, cloudflare, policy):
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving(**{"switch/pinned": "true"})))
    google.add(responses.GET, ALERTS, json=alerts())
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json=PUBLIC)
    google.add(responses.GET, ENTRYPOINT, json=ruleset(our_rule()))

    body = client.post("/reconcile", json={}, headers=BEARER).get_json()

    assert body["state"] == "active" and "pinned" in body["reason"]
    assert api_calls(google, "DELETE") == []


def test_reconcile_respects_the_flap_guard(client, google, cloudflare, policy, env):
    env(MIN_ACTIVE_SECONDS="900")
    recent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations={"switch/activated-at": recent}))
    google.add(responses.GET, ALERTS, json=alerts())
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json=PUBLIC)
    google.add(responses.GET, ENTRYPOINT, json=ruleset(our_rule()))

    body = client.post("/reconcile", json={}, headers=BEARER).get_json()

    assert body["state"] == "active" and "SWITCH_MIN_ACTIVE_SECONDS" in body["reason"]


def test_reconcile_keeps_the_replica_while_home_is_unhealthy(client, google, cloudflare, policy):
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving()))
    google.add(responses.GET, ALERTS, json=alerts())
    google.add(responses.GET, "https://www.example.org/healthz", status=200)
    google.add(responses.GET, "https://www.example.org/healthz", status=502)
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json=PUBLIC)
    google.add(responses.GET, ENTRYPOINT, json=ruleset(our_rule()))

    body = client.post("/reconcile", json={}, headers=BEARER).get_json()

    assert body["state"] == "active" and "not healthy" in body["reason"]
    assert api_calls(google, "DELETE") == []


def test_reconcile_falls_back_to_client_side_filtering_when_the_filter_is_refused(client, google, policy):
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    google.add(responses.GET, ALERTS, status=400, json=google_error(400, "INVALID_ARGUMENT", "bad filter"))
    google.add(responses.GET, ALERTS, json={"alerts": [
        {"name": "a/1", "state": "OPEN", "policy": {"displayName": "another policy"}},
        {"name": "a/2", "state": "CLOSED", "policy": {"displayName": "site-down-failover"}}]})

    body = client.post("/reconcile", json={}, headers=BEARER).get_json()

    assert body["action"] == "none" and body["state"] == "standby"
    assert writes(google) == []


ORG_POLICY = google_error(400, "FAILED_PRECONDITION", "constraints/run.managed.requireInvokerIam requires the "
                          "invoker IAM check")


def test_where_the_iam_check_must_stay_traffic_waits_until_visitors_get_past_googles_403(client, google,
                                                                                       cloudflare):
    denied = ("<html><title>403 Forbidden</title><h1>Error: Forbidden</h1><h2>Your client does not have permission "
              "to get URL <code>/</code> from this server.</h2></html>")
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    google.add(responses.GET, SERVICE_URL, json=run_service(open_to_all=False))
    google.add(responses.POST, RUN_ROOT, status=400, json=ORG_POLICY)
    google.add(responses.POST, RUN_ROOT, json=run_service(open_to_all=False))
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json={"etag": "e"})
    google.add(responses.POST, f"{SERVICE_URL}:setIamPolicy", json=PUBLIC)
    google.replace(responses.GET, re.compile(r"https://[a-z0-9.-]+\.run\.app/"), status=403, body=denied)
    google.add(responses.GET, f"{REPLICA_URL}/", status=403, body=denied)
    google.add(responses.GET, f"{REPLICA_URL}/", status=200, body="the site")
    google.add(responses.GET, ENTRYPOINT, json=ruleset())
    google.add(responses.POST, RULES, json=ruleset(our_rule()))
    echo_replace(google)

    body = client.post("/", json=notification("open"), headers=BEARER).get_json()

    steps = {s["step"]: s for s in body["steps"]}
    assert steps["reachable"]["detail"] == "the replica answers visitors (200)"
    visits = [i for i, c in enumerate(google.calls) if c.request.url.startswith(REPLICA_URL)]
    first_cloudflare = min(i for i, c in enumerate(google.calls) if "cloudflare" in c.request.url)
    assert len(visits) >= 2 and max(visits) < first_cloudflare


def test_traffic_is_switched_anyway_when_the_grant_is_slow_to_propagate(client, google, cloudflare, env):
    env(PUBLIC_TIMEOUT_SECONDS="0.2")
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    google.add(responses.GET, SERVICE_URL, json=run_service(open_to_all=False))
    google.add(responses.POST, RUN_ROOT, status=400, json=ORG_POLICY)
    google.add(responses.POST, RUN_ROOT, json=run_service(open_to_all=False))
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json={"etag": "e"})
    google.add(responses.POST, f"{SERVICE_URL}:setIamPolicy", json=PUBLIC)
    google.replace(responses.GET, re.compile(r"https://[a-z0-9.-]+\.run\.app/"), status=403,
                   body="Your client does not have permission to get URL")
    google.add(responses.GET, ENTRYPOINT, json=ruleset())
    google.add(responses.POST, RULES, json=ruleset(our_rule()))
    echo_replace(google)

    body = client.post("/", json=notification("open"), headers=BEARER).get_json()

    assert body["action"] == "failover"
    assert "switching traffic anyway" in {s["step"]: s for s in body["steps"]}["reachable"]["detail"]
    assert api_calls(google, "POST", "cloudflare")
