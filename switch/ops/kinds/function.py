"""Function: one entry point of switch, deployed as a Cloud Run function (2nd gen) through Cloud Functions v2.

``switch`` answers HTTP (Cloud Monitoring webhooks, curl); ``switch_pubsub``
takes the Pub/Sub channel's messages through an Eventarc trigger that
retries (``RETRY_POLICY_RETRY``: without it a failed delivery is dropped).
Both run as switch's own account and read their secrets from Secret Manager.

The source is uploaded only when it changed: the function carries the hash of
the zip it runs (label ``switch-source``), so a second deploy of the same tree
changes nothing, and a changed file is a PATCH of the same function, never a
delete and a create. Every create and update is a long-running operation,
polled until done; one that fails leaves the previous version serving.
"""

from __future__ import annotations

from .. import marks
from ..engine import Kind, Row

SOURCE_LABEL = "switch-source"
PUBSUB_EVENT = "google.cloud.pubsub.topic.v1.messagePublished"
# Fields of serviceConfig switch decides; the rest (uri, service, revision ...) are Google's.
SERVICE_FIELDS = ("timeoutSeconds", "availableMemory", "availableCpu", "maxInstanceCount", "minInstanceCount",
                  "maxInstanceRequestConcurrency", "ingressSettings", "serviceAccountEmail", "environmentVariables",
                  "secretEnvironmentVariables", "allTrafficOnLatestRevision")
TRIGGER_FIELDS = ("eventType", "pubsubTopic", "retryPolicy", "serviceAccountEmail", "triggerRegion")
# What Google means when a field is left out of an answer (proto3 JSON drops zeros and defaults).
SERVICE_DEFAULTS = {"minInstanceCount": 0, "maxInstanceRequestConcurrency": 1, "ingressSettings": "ALLOW_ALL",
                    "allTrafficOnLatestRevision": True}
# Variables Cloud Functions adds to every 2nd gen function itself.
GOOGLE_VARIABLES = frozenset({"LOG_EXECUTION_ID"})


def body(target, entry: str, source_hash: str) -> dict:
    """The Function switch wants for ``entry`` (``switch`` or ``switch_pubsub``); the source comes at upload."""
    http = entry == "switch"
    service = {
        "timeoutSeconds": target.timeout_seconds,
        "availableMemory": target.memory,
        "availableCpu": target.cpu,
        "minInstanceCount": 0,
        "maxInstanceCount": target.max_instances,
        "maxInstanceRequestConcurrency": target.concurrency,
        # Cloud Monitoring's webhooks come from the internet; switch guards itself (token or Basic).
        "ingressSettings": "ALLOW_ALL",
        "serviceAccountEmail": target.account_email,
        "environmentVariables": dict(target.environment),
        "secretEnvironmentVariables": [{"key": variable, "projectId": target.project, "secret": secret,
                                        "version": "latest"} for variable, secret in sorted(target.secrets.items())],
        "allTrafficOnLatestRevision": True,
    }
    if not service["secretEnvironmentVariables"]:
        del service["secretEnvironmentVariables"]
    function = {
        "name": target.function_name(entry),
        "description": ("switch: Cloud Monitoring webhooks and curl (failover, failback, reconcile, status)" if http
                        else "switch: Cloud Monitoring notifications from Pub/Sub"),
        "labels": target.labels(**{SOURCE_LABEL: source_hash}),
        "buildConfig": {"runtime": target.runtime, "entryPoint": entry,
                        "source": {"storageSource": {"bucket": "", "object": ""}}},
        "serviceConfig": service,
    }
    if not http:
        function["eventTrigger"] = {
            "eventType": PUBSUB_EVENT,
            "pubsubTopic": target.topic,
            "retryPolicy": "RETRY_POLICY_RETRY",
            # The identity Eventarc invokes the function as; it holds run.invoker on the function's service.
            "serviceAccountEmail": target.account_email,
            "triggerRegion": target.region,
        }
    return function


def _key(function: dict) -> dict:
    build = function.get("buildConfig") or {}
    service = function.get("serviceConfig") or {}
    trigger = function.get("eventTrigger") or {}
    secrets = sorted((s.get("key"), s.get("secret"), s.get("version")) for s in
                     service.get("secretEnvironmentVariables") or [])
    return {
        "labels": marks.our_labels(function.get("labels"), extra=(SOURCE_LABEL,)),
        "buildConfig": (build.get("runtime"), build.get("entryPoint"),
                        (function.get("labels") or {}).get(SOURCE_LABEL)),
        "serviceConfig": tuple((k, _service_value(service, k, secrets)) for k in SERVICE_FIELDS),
        "eventTrigger": tuple(trigger.get(k) for k in TRIGGER_FIELDS),
    }


def _service_value(service: dict, key: str, secrets: list):
    if key == "secretEnvironmentVariables":
        return secrets
    if key == "environmentVariables":
        return {k: v for k, v in (service.get(key) or {}).items() if k not in GOOGLE_VARIABLES}
    return service.get(key, SERVICE_DEFAULTS.get(key))


def service_of(function: dict | None, fallback: str) -> str:
    """The Cloud Run service behind a function (``serviceConfig.service``), its short name."""
    service = ((function or {}).get("serviceConfig") or {}).get("service") or ""
    return service.rsplit("/", 1)[-1] or fallback


class Function(Kind):
    label = "function"
    named = True
    missing_hint = "run: python -m switch deploy"

    def __init__(self, entry: str = "switch"):
        self.entry = entry

    def _name(self, ctx) -> str:
        return ctx.target.function_name(self.entry)

    def desired(self, ctx):
        return body(ctx.target, self.entry, ctx.target.source_hash)

    def display(self, ctx, body):
        return self._name(ctx).rsplit("/", 1)[-1]

    def missing_name(self, ctx):
        return self._name(ctx)

    def find(self, ctx):
        found = ctx.api.get_or_none(ctx.api.functions.functions().get(name=self._name(ctx)), "cloudfunctions",
                                    "get function")
        ctx.memo[f"function:{self.entry}"] = found
        return [found] if found else []

    def ours(self, ctx, item):
        return (item.get("labels") or {}).get(marks.MANAGED_BY[0]) == marks.MANAGED_BY[1]

    def refusal(self, item):
        return (f"a function {item.get('name')} exists but was not deployed by switch (no label managed-by=switch); "
                f"it is left untouched. Deploy with another --stage, or remove that function yourself")

    def adopt(self, ctx, desired, found):
        desired["labels"] = {**(found.get("labels") or {}), **desired["labels"]}
        return desired

    def changes(self, ctx, desired, found):
        want, have = _key(desired), _key(found)
        return [k for k in want if k in desired and want[k] != have[k]]

    def detail(self, action, body, changed):
        if action == "created":
            trigger = body.get("eventTrigger", {}).get("pubsubTopic")
            return f"{body['buildConfig']['runtime']}, " + (f"Pub/Sub {trigger}" if trigger else "HTTP")
        return ", ".join(changed)

    # -- acting ------------------------------------------------------------------

    def _with_source(self, ctx, function: dict) -> dict:
        """``function`` with its buildConfig.source pointing at the uploaded zip (uploaded once per run)."""
        if "source" not in ctx.memo:
            ctx.memo["source"] = _upload(ctx)
        function = dict(function)
        function["buildConfig"] = {**function["buildConfig"], "source": {"storageSource": ctx.memo["source"]}}
        return function

    def _deployed(self, ctx, operation: dict, verb: str) -> dict:
        name = self.display(ctx, {})
        ctx.api.wait(operation, f"{verb} {name}",
                     progress=lambda seconds: ctx.rec.out(f"  … {verb} {name}: {seconds:.0f} s (building and "
                                                          f"starting the function usually takes 1 to 3 minutes)"))
        function = ctx.api.call(ctx.api.functions.functions().get(name=self._name(ctx)), "cloudfunctions",
                                "get function")
        ctx.memo[f"function:{self.entry}"] = function
        return function

    def create(self, ctx, body):
        function = self._with_source(ctx, body)
        operation = ctx.api.call(ctx.api.functions.functions().create(
            parent=ctx.target.location, functionId=self.display(ctx, {}), body=function), "cloudfunctions",
            "create function")
        return self._deployed(ctx, operation, "deploying")

    def update(self, ctx, found, body, mask):
        if "buildConfig" in body:
            body = self._with_source(ctx, body)
        operation = ctx.api.call(ctx.api.functions.functions().patch(name=found["name"], updateMask=mask, body=body),
                                 "cloudfunctions", "update function")
        self._deployed(ctx, operation, "updating")

    def delete(self, ctx, item):
        operation = ctx.api.call(ctx.api.functions.functions().delete(name=item["name"]), "cloudfunctions",
                                 "delete function")
        ctx.api.wait(operation, f"deleting {item['name'].rsplit('/', 1)[-1]}")

    def status_row(self, ctx, items):
        if not items:
            return Row(self.label, "missing", self._name(ctx), self.missing_hint)
        function = items[0]
        build = function.get("buildConfig") or {}
        bits = [function.get("url") or (function.get("serviceConfig") or {}).get("uri") or "",
                f"{build.get('runtime', '?')} {build.get('entryPoint', '?')}"]
        topic = (function.get("eventTrigger") or {}).get("pubsubTopic")
        if topic:
            bits.append(f"Pub/Sub {topic}")
        if not self.ours(ctx, function):
            bits.append("not deployed by switch")
        return Row(self.label, str(function.get("state", "?")).lower(), self._name(ctx),
                   "; ".join(b for b in bits if b))


def _upload(ctx) -> dict:
    """generateUploadUrl, then PUT the zip to the signed URL it answers; the storageSource to build from."""
    import requests

    from ...errors import UpstreamError

    answer = ctx.api.call(ctx.api.functions.functions().generateUploadUrl(parent=ctx.target.location, body={}),
                          "cloudfunctions", "generate upload URL")
    url, source = answer.get("uploadUrl"), answer.get("storageSource")
    if not url or not source:
        raise UpstreamError("Cloud Functions generate upload URL: the answer has no uploadUrl or storageSource",
                            api="cloudfunctions")
    # A signed Cloud Storage URL: no Google credentials go with it.
    for attempt in range(3):
        try:
            response = requests.put(url, data=ctx.target.source, timeout=ctx.settings.http_timeout_seconds * 4,
                                    headers={"Content-Type": "application/zip"})
        except requests.RequestException as exc:
            if attempt == 2:
                raise UpstreamError(f"uploading the function's source failed: {type(exc).__name__}",
                                    api="cloudfunctions", retryable=True) from None
            continue
        if response.status_code < 300:
            return source
        if response.status_code < 500 or attempt == 2:
            raise UpstreamError(f"uploading the function's source failed: HTTP {response.status_code} "
                                f"{response.text[:200]}", api="cloudfunctions", status_code=response.status_code)
    raise AssertionError("unreachable")  # pragma: no cover
