"""Scheduler job: Cloud Scheduler POSTs /reconcile on a schedule, so a lost notification heals itself.

Cloud Scheduler jobs have no labels: switch's job is the exact name
``switch-reconcile-<service>`` *and* a description that starts with
``managed-by: switch``; a job of that name without it is refused. The job's
credentials read back as sent, but are compared through a fingerprint kept
in the description, like the channel's.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from .. import marks
from ..engine import Kind, Row

SCHEDULE = "*/5 * * * *"
FAST_SCHEDULE = "* * * * *"  # setup --fast: each call is one round of detection by probe
TIME_ZONE = "Etc/UTC"
PREFIX = "switch-reconcile-"


def job_name(settings, region: str) -> str:
    return f"projects/{settings.project}/locations/{region}/jobs/{PREFIX}{settings.service}"


def body(settings, target, options) -> dict:
    uri = f"{target.function_url}/reconcile"
    headers = {"Content-Type": "application/json"}
    http_target: dict[str, Any] = {"uri": uri, "httpMethod": "POST", "headers": headers,
                                   "body": base64.b64encode(b"{}").decode()}
    if options.service_account:
        # Cloud Scheduler puts the OIDC token in Authorization (for an IAM-protected
        # function), so switch's own secret travels as ?auth_token=.
        http_target["uri"] = f"{uri}?auth_token={quote(settings.token, safe='')}"
        http_target["oidcToken"] = {"serviceAccountEmail": options.service_account, "audience": target.function_url}
        secret = http_target["uri"]
    elif settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
        secret = headers["Authorization"]
    else:
        raw = base64.b64encode(f"{settings.basic_user}:{settings.basic_password}".encode()).decode()
        headers["Authorization"] = f"Basic {raw}"
        secret = headers["Authorization"]
    fast = options.fast
    return {
        "name": job_name(settings, target.scheduler_region),
        "description": (f"{marks.MARKER}; service: {settings.service}; calls /reconcile every "
                        f"{'minute' if fast else '5 minutes'}; "
                        f"secret {marks.fingerprint(target.project, target.service, secret)}"),
        "schedule": FAST_SCHEDULE if fast else SCHEDULE,
        "timeZone": TIME_ZONE,
        "httpTarget": http_target,
    }


def _key(body: dict) -> dict:
    http = body.get("httpTarget") or {}
    # Cloud Scheduler adds headers of its own (User-Agent); compare ours, by
    # case-insensitive name, and leave Authorization to the fingerprint.
    headers = {k.lower(): v for k, v in (http.get("headers") or {}).items() if k.lower() == "content-type"}
    return {
        "description": body.get("description", ""),
        "schedule": body.get("schedule"),
        "timeZone": body.get("timeZone") or "Etc/UTC",
        "httpTarget": (http.get("uri"), http.get("httpMethod"), http.get("body") or "", headers,
                       http.get("oidcToken") or None),
    }


class SchedulerJob(Kind):
    label = "scheduler job"
    named = True
    optional = True

    def _name(self, ctx) -> str:
        return job_name(ctx.settings, ctx.target.scheduler_region)

    def find(self, ctx):
        found = ctx.api.get_or_none(ctx.api.jobs.get(name=self._name(ctx)), "cloudscheduler", "get job")
        return [found] if found is not None else []

    def ours(self, ctx, item):
        return str(item.get("description", "")).startswith(marks.MARKER)

    def refusal(self, item):
        return (f"a Cloud Scheduler job {item.get('name')} exists but was not created by switch "
                f"(its description does not start with {marks.MARKER!r}); it is left untouched")

    def desired(self, ctx):
        return body(ctx.settings, ctx.target, ctx.target.options) if ctx.target.options.scheduler else None

    def display(self, ctx, body):
        return self._name(ctx).rsplit("/", 1)[-1]

    def missing_name(self, ctx):
        return self._name(ctx)

    def changes(self, ctx, desired, found):
        want, have = _key(desired), _key(found)
        return [name for name in want if want[name] != have[name]]

    def detail(self, action, body, changed):
        if action == "created":
            return f"{body.get('schedule')} → /reconcile"
        if action == "unchanged":
            return body.get("state", "").lower()
        return ", ".join(changed)

    def create(self, ctx, body):
        parent = body["name"].rsplit("/jobs/", 1)[0]
        return ctx.api.call(ctx.api.jobs.create(parent=parent, body=body), "cloudscheduler", "create job")

    def update(self, ctx, found, body, mask):
        ctx.api.call(ctx.api.jobs.patch(name=found["name"], updateMask=mask, body=body), "cloudscheduler",
                     "update job")

    def delete(self, ctx, item):
        ctx.api.call(ctx.api.jobs.delete(name=item["name"]), "cloudscheduler", "delete job")

    def status_row(self, ctx, items):
        name = self._name(ctx)
        if not items:
            return Row(self.label, "missing", name, "run: python -m switch setup (without it a close the flap "
                                                    "guard held back waits for the next notification)")
        job = items[0]
        last = job.get("lastAttemptTime")
        status = (job.get("status") or {}).get("message") or ("ok" if last else "")
        detail = f"{job.get('schedule', '?')} → {((job.get('httpTarget') or {}).get('uri') or '?').split('?')[0]}"
        if last:
            detail += f"; last run {last} {status}".rstrip()
        if not self.ours(ctx, job):
            detail += "; not created by switch"
        return Row(self.label, str(job.get("state", "?")).lower(), name, detail)

    def status_error(self, ctx, exc):
        return Row(self.label, "unknown", self._name(ctx), exc.message)
