"""Cloud Scheduler API v1, the ``projects.locations.jobs`` methods switch uses.

list/get/create/patch/delete of HTTP (and Pub/Sub) jobs, validated the way
Cloud Scheduler validates them and answered with the fields it adds: state,
userUpdateTime, the next scheduleTime, default retry settings and deadline,
and the headers it sets itself (``User-Agent: Google-Cloud-Scheduler``, and
``Content-Type: application/octet-stream`` for a body without one; both
documented on HttpTarget.headers). Jobs are never run.

Not thread-safe by itself; the server calls it under one lock.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import re
import time
import uuid
import zoneinfo
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from .google import GoogleApi, GoogleError, invalid, json_response, read_json, rfc3339
from .protojson import apply_mask, duration, format_duration, one_of, page, parse_mask
from .routing import route

REGION = r"[a-z]+-[a-z]+\d+"
JOBS = "v1/projects/{project}/locations/{location}/jobs"
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,500}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
METHODS = {"POST", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"}
BODY_METHODS = {"POST", "PUT", "PATCH"}
JOB_FIELDS = ("name", "description", "schedule", "timeZone", "httpTarget", "pubsubTarget", "appEngineHttpTarget",
              "retryConfig", "attemptDeadline")
UPDATABLE = set(JOB_FIELDS) - {"name"}
TARGETS = ("httpTarget", "pubsubTarget", "appEngineHttpTarget")
# As Cloud Scheduler fills them in for an HTTP job that sets none.
DEFAULT_RETRY = {"maxRetryDuration": "0s", "minBackoffDuration": "5s", "maxBackoffDuration": "3600s",
                 "maxDoublings": 5}
DEFAULT_DEADLINE = "180s"
# Not confirmed: a job created without timeZone reads back as Etc/UTC (the documented default is UTC).
DEFAULT_TIME_ZONE = "Etc/UTC"

# One field of a unix-cron schedule: *, a number or name, a range, a step, a list.
_MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}
CRON_FIELDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 7, _DAYS))


def _cron_values(text: str, low: int, high: int, names: dict) -> set[int] | None:
    """The values one cron field allows, or None when it is malformed."""
    values: set[int] = set()
    for item in text.split(","):
        m = re.match(r"^(\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/(\d+))?$", item)
        if not m:
            return None
        span, step = m.group(1), int(m.group(2) or 1)
        if step < 1:
            return None

        def number(token: str) -> int | None:
            value = names.get(token.upper()) if not token.isdigit() else int(token)
            return value if value is not None and low <= value <= high else None

        if span == "*":
            start, end = low, high
        elif "-" in span:
            start, end = (number(t) for t in span.split("-"))
            if start is None or end is None or start > end:
                return None
        else:
            start = number(span)
            if start is None:
                return None
            end = high if m.group(2) else start
        values.update(range(start, end + 1, step))
    return values


def parse_cron(schedule: str) -> list[set[int]] | None:
    fields = schedule.split()
    if len(fields) != 5:
        return None
    parsed = [_cron_values(f, *spec) for f, spec in zip(fields, CRON_FIELDS)]
    if any(p is None for p in parsed):
        return None
    if 7 in parsed[4]:
        parsed[4] = (parsed[4] - {7}) | {0}
    return parsed


def next_run(cron: list[set[int]], zone: str, after: float) -> float | None:
    """The next minute the schedule fires after ``after``, looking at most eight days ahead."""
    tz = timezone.utc if zone.lower() in ("utc", "etc/utc") else zoneinfo.ZoneInfo(zone)
    moment = datetime.fromtimestamp(after, tz).replace(second=0, microsecond=0) + timedelta(minutes=1)
    minutes, hours, days, months, weekdays = cron
    for _ in range(8 * 24 * 60):
        if (moment.minute in minutes and moment.hour in hours and moment.month in months
                and moment.day in days and (moment.isoweekday() % 7) in weekdays):
            return moment.timestamp()
        moment += timedelta(minutes=1)
    return None


@functools.cache
def _zones() -> frozenset[str]:
    """The tz database's names (read once: scanning it takes tens of milliseconds)."""
    try:
        return frozenset(zoneinfo.available_timezones())
    except Exception:  # no tz database on this machine: accept any name
        return frozenset()


class SchedulerApi(GoogleApi):
    prefix = "v1/"

    def __init__(self):
        self.jobs: dict[str, dict] = {}  # name -> the job as GET shows it, minus scheduleTime
        self.zones = _zones()
        self.page_size = 100
        one = JOBS + "/{job}"
        self.routes = [
            route("GET", JOBS, self.list, location=REGION),
            route("POST", JOBS, self.create, location=REGION),
            route("GET", one, self.get, location=REGION),
            route("PATCH", one, self.patch, location=REGION),
            route("DELETE", one, self.delete, location=REGION),
        ]

    def render(self, job: dict) -> dict:
        shown = copy.deepcopy(job)
        cron = parse_cron(job["schedule"])
        when = next_run(cron, job["timeZone"], time.time()) if cron and job.get("state") == "ENABLED" else None
        if when is not None:
            shown["scheduleTime"] = rfc3339(when).replace(".000000Z", "Z")
        return shown

    def snapshot(self) -> list[dict]:
        return [self.render(j) for j in self.jobs.values()]

    def _find(self, project: str, location: str, job: str) -> dict:
        found = self.jobs.get(f"projects/{project}/locations/{location}/jobs/{job}")
        if found is None:
            raise GoogleError(404, "Job not found.", "NOT_FOUND")  # Google's words
        return found

    # -- validation -----------------------------------------------------------

    def _validate(self, body: dict) -> dict:
        """The job as stored; 400 for what Cloud Scheduler refuses."""
        unknown = set(body) - set(JOB_FIELDS) - {"state", "userUpdateTime", "scheduleTime", "status",
                                                  "lastAttemptTime", "satisfiesPzs"}
        if unknown:
            raise invalid(f"Invalid JSON payload received. Unknown name \"{sorted(unknown)[0]}\" at 'job': "
                          "Cannot find field.")
        job = {k: copy.deepcopy(body[k]) for k in JOB_FIELDS if body.get(k) not in (None, "")}
        description = body.get("description") or ""
        if not isinstance(description, str) or len(description) > 500:
            raise invalid("Job description must be a string of at most 500 characters.")
        schedule = body.get("schedule")
        zone = body.get("timeZone") or DEFAULT_TIME_ZONE
        if not isinstance(schedule, str) or not schedule.strip():
            raise invalid("Job schedule is required.")
        # Google's words for either problem.
        if parse_cron(schedule) is None:
            raise invalid("Schedule or time zone is invalid.")
        if not isinstance(zone, str) or (self.zones and zone not in self.zones and zone.lower() != "utc"):
            raise invalid("Schedule or time zone is invalid.")
        job["timeZone"] = zone
        target = one_of(body, TARGETS, "job")
        if target == "httpTarget":
            job["httpTarget"] = self._http_target(body["httpTarget"])
            deadline = duration(body.get("attemptDeadline", DEFAULT_DEADLINE), "job.attempt_deadline")
            if not 15 <= deadline <= 1800:
                raise invalid("The attempt deadline of an HTTP job must be between 15 seconds and 30 minutes.")
            job["attemptDeadline"] = format_duration(deadline)
        elif target == "pubsubTarget":
            topic = (body["pubsubTarget"] or {}).get("topicName", "")
            if not re.match(r"^projects/[^/]+/topics/[^/]+$", str(topic)):
                raise invalid("Pub/Sub target topicName must be projects/PROJECT_ID/topics/TOPIC_ID.")
        retry = body.get("retryConfig") or {}
        if not isinstance(retry, dict):
            raise invalid("Invalid value at 'job.retry_config': expected an object.")
        count = retry.get("retryCount", 0)
        if not isinstance(count, int) or not 0 <= count <= 5:
            raise invalid("retry_count must be between 0 and 5.")
        for key in ("maxRetryDuration", "minBackoffDuration", "maxBackoffDuration"):
            if key in retry:
                duration(retry[key], f"job.retry_config.{key}")
        job["retryConfig"] = {**DEFAULT_RETRY, **retry}
        return job

    @staticmethod
    def _http_target(target) -> dict:
        if not isinstance(target, dict):
            raise invalid("Invalid value at 'job.http_target': expected an object.")
        target = copy.deepcopy(target)
        uri = target.get("uri")
        parts = urlsplit(uri) if isinstance(uri, str) else None
        # Documented: "This string must begin with either "http://" or "https://"".
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise invalid(f"HttpTarget.uri '{uri}' must begin with http:// or https:// and name a host.")
        if len(uri) > 2083:
            raise invalid("HttpTarget.uri must be at most 2083 characters.")
        method = target.setdefault("httpMethod", "POST")
        if method not in METHODS:
            raise invalid(f"Invalid value at 'job.http_target.http_method' "
                          f"(type.googleapis.com/google.cloud.scheduler.v1.HttpMethod), \"{method}\"")
        headers = target.get("headers") or {}
        if not isinstance(headers, dict) or any(not isinstance(v, str) for v in headers.values()):
            raise invalid("Invalid value at 'job.http_target.headers': expected a map of strings.")
        if target.get("body"):
            try:
                base64.b64decode(target["body"], validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise invalid("Invalid value at 'job.http_target.body' (TYPE_BYTES), Base64 decoding failed.") \
                    from None
            if method not in BODY_METHODS:
                raise invalid(f"A request body is allowed only if the HTTP method is POST, PUT, or PATCH; "
                              f"got {method}.")
        if target.get("oidcToken") and target.get("oauthToken"):
            raise invalid("Only one of oidc_token and oauth_token may be set.")
        for kind in ("oidcToken", "oauthToken"):
            token = target.get(kind)
            if token is not None:
                email = token.get("serviceAccountEmail") if isinstance(token, dict) else None
                if not isinstance(email, str) or not EMAIL.match(email):
                    raise invalid(f"HttpTarget.{kind}.serviceAccountEmail must be a service account email.")
        # Headers Cloud Scheduler sets itself, as it reads them back.
        headers = {k: v for k, v in headers.items() if k.lower() != "user-agent"}
        headers["User-Agent"] = "Google-Cloud-Scheduler"
        if target.get("body") and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/octet-stream"
        target["headers"] = headers
        return target

    # -- methods ------------------------------------------------------------------

    def list(self, request, project, location):
        prefix = f"projects/{project}/locations/{location}/jobs/"
        jobs = [self.render(j) for n, j in self.jobs.items() if n.startswith(prefix)]
        return json_response(page(jobs, request.args, "jobs", total=False, default_size=self.page_size))

    def get(self, request, project, location, job):
        return json_response(self.render(self._find(project, location, job)))

    def create(self, request, project, location):
        body = read_json(request)
        parent = f"projects/{project}/locations/{location}"
        name = body.get("name")
        if name is None:
            name = f"{parent}/jobs/{uuid.uuid4().int % 10**20}"
        m = re.match(r"^projects/([^/]+)/locations/([^/]+)/jobs/([^/]+)$", str(name))
        if not m or not JOB_ID.match(m.group(3)):
            raise invalid(f"Job name '{name}' is invalid: it must be projects/PROJECT_ID/locations/LOCATION_ID/"
                          "jobs/JOB_ID, JOB_ID made of letters, numbers, hyphens and underscores.")
        if f"projects/{m.group(1)}/locations/{m.group(2)}" != parent:
            raise invalid(f"Job name '{name}' is not under the parent '{parent}'.")
        if name in self.jobs:
            raise GoogleError(409, f"Job {name} already exists.", "ALREADY_EXISTS")
        job = self._validate({**body, "name": name})
        job.update({"state": "ENABLED", "userUpdateTime": rfc3339(time.time()).split(".")[0] + "Z"})
        self.jobs[name] = job
        return json_response(self.render(job))

    def patch(self, request, project, location, job):
        stored = self._find(project, location, job)
        body = read_json(request)
        paths = parse_mask(request.args.get("updateMask"))
        if not paths:
            paths = [[f] for f in UPDATABLE if f in body]
        for path in paths:
            if path[0] not in UPDATABLE:
                raise invalid(f"Invalid update mask path '{'.'.join(path)}': the job's {path[0]} cannot be updated.")
        updated = apply_mask(stored, body, paths, maps=frozenset({"headers"}))
        if any(p[0] in TARGETS for p in paths):
            # A new target replaces the old one (a oneof).
            for target in TARGETS:
                if target in updated and [target] not in [p[:1] for p in paths]:
                    del updated[target]
        result = self._validate(updated)
        result.update({"state": stored["state"], "userUpdateTime": rfc3339(time.time()).split(".")[0] + "Z"})
        self.jobs[stored["name"]] = result
        return json_response(self.render(result))

    def delete(self, request, project, location, job):
        stored = self._find(project, location, job)
        del self.jobs[stored["name"]]
        return json_response({})
