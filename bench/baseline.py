"""THE BASELINE — not product code. Never imported by the function.

The failover written plainly, the way the original blog post did it, so the
benchmark can show in ratios what switch's design buys. Everything here is
deliberately the straightforward way:

- a NEW discovery-built client per event, on a new ``httplib2.Http()`` (no
  connection is reused from one event to the next; httplib2 only reuses a
  connection within the one event);
- ``list`` every service in the region to see whether the replica exists
  (one call here, but its answer grows with the project, and it carries every
  service's full spec);
- create, then poll ``get`` every ``poll_interval`` until Ready (the first
  poll right after create; 1 s, switch's own cap, so the comparison isolates
  the design rather than a setting);
- IAM get + set (no etag retry), then the Cloudflare redirect through
  module-level ``requests`` calls (a new connection per call).

It is given the same static discovery document switch uses. The original
fetched the document over the network on every build, which only made it
slower; the baseline is not penalised for that.
"""

from __future__ import annotations

import time

import httplib2
import requests
from google.auth.credentials import AnonymousCredentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient import discovery

REF = "switch_failover"
PHASE = "http_request_dynamic_redirect"


def _client(settings):
    http = AuthorizedHttp(AnonymousCredentials(), http=httplib2.Http(timeout=30))
    return discovery.build("run", "v1", http=http, client_options={"api_endpoint": settings.run_endpoint},
                           static_discovery=True, cache_discovery=False)


def _body(settings) -> dict:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": settings.service, "namespace": settings.project, "labels": {"managed-by": "switch"}},
        "spec": {"template": {"spec": {"containers": [{"image": settings.image}]}}},
    }


def _ready(service: dict) -> str | None:
    for condition in (service.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status")
    return None


def _redirect(settings, url: str) -> None:
    """Enable a Single Redirect to ``url`` (read the entry point, then add or patch the rule)."""
    api = settings.cloudflare_endpoint
    headers = {"Authorization": f"Bearer {settings.cloudflare_token}"}
    entry = f"{api}zones/{settings.cloudflare_zone_id}/rulesets/phases/{PHASE}/entrypoint"
    rule = {
        "ref": REF, "description": "failover", "enabled": True, "action": "redirect",
        "expression": f'http.host eq "{settings.cloudflare_host}"',
        "action_parameters": {"from_value": {"status_code": 302, "preserve_query_string": True,
                                             "target_url": {"expression": f'concat("{url}", http.request.uri.path)'}}},
    }
    found = requests.get(entry, headers=headers, timeout=30)
    if found.status_code == 404:
        requests.put(entry, json={"rules": [rule]}, headers=headers, timeout=30).raise_for_status()
        return
    found.raise_for_status()
    ruleset = found.json()["result"]
    ours = [r for r in ruleset.get("rules") or [] if r.get("ref") == REF]
    rules = f"{api}zones/{settings.cloudflare_zone_id}/rulesets/{ruleset['id']}/rules"
    if ours:
        requests.patch(f"{rules}/{ours[0]['id']}", json=rule, headers=headers, timeout=30).raise_for_status()
    else:
        requests.post(rules, json=rule, headers=headers, timeout=30).raise_for_status()


def failover_baseline(settings, *, poll_interval: float = 1.0, timeout: float = 300.0) -> dict:
    """One open notification, handled the blog post's way. ``settings``: anything with
    project, region, service, image, run_endpoint and the cloudflare_* attributes."""
    started = time.monotonic()
    services = _client(settings).projects().locations().services()
    parent = f"projects/{settings.project}/locations/{settings.region}"
    name = f"{parent}/services/{settings.service}"

    listed = services.list(parent=parent).execute()
    if any(s["metadata"]["name"] == settings.service for s in listed.get("items") or []):
        return {"action": "none", "seconds": time.monotonic() - started}

    services.create(parent=parent, body=_body(settings)).execute()
    created = time.monotonic()
    polls = 0
    while True:
        service = services.get(name=name).execute()
        polls += 1
        state = _ready(service)
        if state == "True":
            ready_wait = time.monotonic() - created
            break
        if state == "False":
            raise RuntimeError(f"the replica failed: {service['status']}")
        if time.monotonic() - started > timeout:
            raise TimeoutError("the replica was not ready in time")
        time.sleep(poll_interval)

    policy = services.getIamPolicy(resource=name).execute()
    policy.setdefault("bindings", []).append({"role": "roles/run.invoker", "members": ["allUsers"]})
    services.setIamPolicy(resource=name, body={"policy": policy}).execute()

    if settings.cloudflare_token:
        _redirect(settings, service["status"]["url"])
    return {"action": "failover", "polls": polls, "ready_wait_s": ready_wait, "seconds": time.monotonic() - started}
