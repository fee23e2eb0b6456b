"""CloudRunService: a thin wrapper over the discovery-built Run Admin API v1 client.

One service in one project and region. It speaks Google's JSON so nothing
above it has to: callers get a ``Replica`` (what exists) and plain booleans.

Google quirks handled here (facts in the reference notes, cloudrun.md):
- the regional root ``https://REGION-run.googleapis.com/`` is used for every
  call; ``namespaces.*`` on the global root fails;
- GET returns the project *number* as namespace, so we never compare it;
- a create that was retried after a lost answer comes back 409 although it
  succeeded, and a create right after a delete answers 409 while the old
  service is still being removed in the background;
- IAM is read-modify-write with an etag; a concurrent writer makes it 409.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from .errors import NotManaged, ReplicaFailed, ReplicaTimeout, UpstreamError

MANAGED_LABEL = ("managed-by", "switch")
SITE_LABEL = "switch-site"  # the same label as on the alert policy (switch.alert.SITE_LABEL)
# Our own annotation keys. Cloud Run reserves run.googleapis.com/,
# serving.knative.dev/, autoscaling.knative.dev/ and cloud.googleapis.com/;
# other keys are kept as given (not confirmed live for every key, so they are
# short and plain).
PINNED = "switch/pinned"  # a manual failover: automatic failback leaves it alone
ACTIVATED_AT = "switch/activated-at"  # when visitors were last sent to it; absent: never, or not any more
INCIDENT = "switch/incident"  # the incident it was made (or kept) for; a close of another one is not its close
CLOSE_PENDING = "switch/close-pending"  # our alert closed but the flap guard said wait: reconcile finishes it
PROBE_FAILURES = "switch/probe-failures"  # the warm standby's count of reconcile rounds home failed, in a row
# The notes of one stay of visitors on the replica; a warm standby sheds them at failback.
VISIT_NOTES = (ACTIVATED_AT, INCIDENT, CLOSE_PENDING, PINNED, PROBE_FAILURES)
# Cloud Run's recommended way to make a service public: no IAM check on invocation
# (gcloud --no-invoker-iam-check). Public the moment it is Ready, with no IAM
# write and no propagation wait; an organization policy can forbid it.
INVOKER_IAM_DISABLED = "run.googleapis.com/invoker-iam-disabled"
INVOKER_ROLE = "roles/run.invoker"
PUBLIC_MEMBER = "allUsers"


def now_rfc3339(epoch: float | None = None) -> str:
    moment = datetime.now(timezone.utc) if epoch is None else datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> float | None:
    """Epoch seconds from an RFC 3339 timestamp, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Replica:
    """What Cloud Run says about the service, in switch's terms."""

    name: str
    managed: bool
    ready: bool | None  # None while Cloud Run is still deciding
    message: str = ""
    url: str | None = None
    pinned: bool = False
    activated_at: float | None = None
    incident: str | None = None
    close_pending: str | None = None
    uid: str = ""
    generation: int = 0
    image: str = ""
    revision: str = ""  # the revision visitors of its URL get (latest ready), "" before any is ready
    probe_failures: int = 0
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def open_to_all(self) -> bool:
        """Public by its own annotation: Cloud Run checks no invoker IAM for it."""
        return ((self.raw.get("metadata") or {}).get("annotations") or {}).get(INVOKER_IAM_DISABLED) == "true"

    @property
    def serving(self) -> bool:
        """Visitors were sent to it (and no failback has taken them back since)."""
        return self.activated_at is not None

    def matches(self, settings) -> bool:
        """Its template is what SWITCH_IMAGE and the replica settings ask for now."""
        wanted = service_body(settings)["spec"]["template"]
        have = ((self.raw.get("spec") or {}).get("template")) or {}
        return _template_key(wanted) == _template_key(have)

    @classmethod
    def from_service(cls, service: dict) -> "Replica":
        meta = service.get("metadata") or {}
        labels = meta.get("labels") or {}
        annotations = meta.get("annotations") or {}
        status = service.get("status") or {}
        ready, message = _readiness(service)
        containers = (((service.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
        return cls(
            name=meta.get("name", ""),
            managed=labels.get(MANAGED_LABEL[0]) == MANAGED_LABEL[1],
            ready=ready,
            message=message,
            url=status.get("url") or None,
            pinned=annotations.get(PINNED) == "true",
            # Only the annotation counts: a replica's age is not how long visitors have been on it.
            activated_at=parse_time(annotations.get(ACTIVATED_AT)),
            incident=annotations.get(INCIDENT) or None,
            close_pending=annotations.get(CLOSE_PENDING) or None,
            uid=meta.get("uid", ""),
            generation=int(meta.get("generation") or 0),
            image=containers[0].get("image", ""),
            revision=status.get("latestReadyRevisionName") or "",
            probe_failures=_count(annotations.get(PROBE_FAILURES)),
            raw=service,
        )


def _count(value: str | None) -> int:
    try:
        return max(int(value or 0), 0)
    except ValueError:
        return 0


def _readiness(service: dict) -> tuple[bool | None, str]:
    """Ready only counts once Cloud Run has observed the latest generation."""
    meta = service.get("metadata") or {}
    status = service.get("status") or {}
    if status.get("observedGeneration") != meta.get("generation"):
        return None, "waiting for Cloud Run to observe the latest generation"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            state = condition.get("status")
            text = condition.get("message") or condition.get("reason") or ""
            if state == "True":
                return True, text
            if state == "False":
                return False, text or "the revision failed"
            return None, text or "deploying"
    return None, "no Ready condition yet"


def _template_key(template: dict) -> tuple:
    """What decides whether a revision is the one the settings ask for (server defaults left out)."""
    spec = template.get("spec") or {}
    container = (spec.get("containers") or [{}])[0]
    limits = (container.get("resources") or {}).get("limits") or {}
    ports = [p.get("containerPort") for p in container.get("ports") or []]
    env = sorted((e.get("name"), e.get("value")) for e in container.get("env") or [])
    scale = ((template.get("metadata") or {}).get("annotations") or {}).get("autoscaling.knative.dev/maxScale")
    cpu = str(limits.get("cpu", ""))
    return (container.get("image"), ports or [8080], env, str(limits.get("memory")),
            str(int(cpu[:-1]) / 1000) if cpu.endswith("m") else str(float(cpu or 0)), scale)


def service_body(settings, *, pinned: bool = False, incident: str | None = None, open_to_all: bool = True) -> dict:
    """The Knative Service switch creates: the site's image, labelled as ours, public at creation.

    No ``switch/activated-at``: a new replica has had no visitors yet. That
    is written when traffic is switched to it.
    """
    annotations = {
        "run.googleapis.com/ingress": "all",
    }
    if open_to_all:
        annotations[INVOKER_IAM_DISABLED] = "true"
    if pinned:
        annotations[PINNED] = "true"
    if incident:
        annotations[INCIDENT] = incident[:256]
    container = {
        "image": settings.image,
        "ports": [{"containerPort": settings.port, "name": "http1"}],
        "resources": {"limits": {"cpu": settings.cpu, "memory": settings.memory}},
    }
    if settings.container_env:
        container["env"] = [{"name": k, "value": v} for k, v in sorted(settings.container_env.items())]
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {
            "name": settings.service,
            "namespace": settings.project,
            # With a sites file, whose replica it is: teardown finds a removed site's replica by it.
            "labels": {MANAGED_LABEL[0]: MANAGED_LABEL[1], **({SITE_LABEL: settings.site} if settings.site else {})},
            "annotations": annotations,
        },
        "spec": {
            "template": {
                "metadata": {"annotations": {"autoscaling.knative.dev/maxScale": str(settings.max_instances)}},
                "spec": {"containerConcurrency": 80, "timeoutSeconds": 300, "containers": [container]},
            },
            "traffic": [{"percent": 100, "latestRevision": True}],
        },
    }


def _set_annotations(body: dict, annotations: dict[str, str | None]) -> None:
    current = body.setdefault("metadata", {}).setdefault("annotations", {})
    for key, value in annotations.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value


class CloudRunService:
    """One Cloud Run service, addressed as ``projects/P/locations/R/services/NAME``."""

    def __init__(self, client, project: str, region: str, name: str, *, retries: int = 4, retry_base: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self._services = client.projects().locations().services()
        self._client = client
        self.project = project
        self.region = region
        self.name = name
        self.retries = retries
        self.retry_base = retry_base
        self._sleep = sleep
        self._clock = clock
        self.last: Replica | None = None

    @classmethod
    def from_settings(cls, settings, client=None, **kw) -> "CloudRunService":
        if client is None:
            from .transport import run_client

            client = run_client(settings)
        return cls(client, settings.project, settings.region, settings.service, retries=settings.api_retries,
                   retry_base=settings.retry_base_seconds, **kw)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def resource(self) -> str:
        return f"{self.parent}/services/{self.name}"

    @property
    def url(self) -> str | None:
        """The replica's URL as last seen (``status.url``), if it has one."""
        return self.last.url if self.last else None

    # -- calls --------------------------------------------------------------

    def _execute(self, request, what: str):
        from .transport import execute

        return execute(request, label="Cloud Run", api="run", what=what, retries=self.retries,
                       base=self.retry_base, sleep=self._sleep,
                       hint="the function's service account needs roles/run.admin and "
                            "roles/iam.serviceAccountUser on the runtime service account")

    def get(self) -> Replica | None:
        """The service as it is now, or None when it does not exist."""
        try:
            service = self._execute(self._services.get(name=self.resource), "get")
        except UpstreamError as exc:
            if exc.status_code == 404:
                self.last = None
                return None
            raise
        self.last = Replica.from_service(service)
        return self.last

    def create(self, body: dict) -> Replica:
        """Create the service; a 409 means it exists (perhaps our own retried create).

        A 409 while GET says 404 means an earlier replica of this name is still
        being deleted; Cloud Run refuses the name until that finishes, so we
        wait briefly and try again.
        """
        deadline = self._clock() + 60
        delay = 1.0
        while True:
            try:
                service = self._execute(self._services.create(parent=self.parent, body=body), "create")
                self.last = Replica.from_service(service)
                return self.last
            except UpstreamError as exc:
                if exc.status_code != 409:
                    raise
            existing = self.get()
            if existing is not None:
                return existing
            if self._clock() >= deadline:
                raise UpstreamError(f"Cloud Run create: {self.name!r} is still being deleted; try again shortly",
                                    api="run", status_code=409, retryable=True)
            self._sleep(delay)
            delay = min(delay * 2, 8.0)

    def replace(self, replica: Replica, *, annotations: dict[str, str | None]) -> Replica:
        """Change our own annotations on a managed service (metadata only: no new revision).

        The write carries the ``resourceVersion`` read with the replica, so
        Cloud Run refuses it (409) if the service changed since: then it is read
        again and the change applied to what is there now. A service that is
        gone answers 404 (UpstreamError with status_code 404).
        """
        return self._rewrite(replica, lambda body: _set_annotations(body, annotations), "update")

    def rest(self, replica: Replica) -> Replica | None:
        """Shed the notes of a stay of visitors (a warm standby's failback): it is kept, not deleted.

        Only the stay that was read: if visitors were sent to it again meanwhile
        (a newer ``switch/activated-at``), nothing is shed and None is returned.
        """
        annotations = (replica.raw.get("metadata") or {}).get("annotations") or {}
        if not any(key in annotations for key in VISIT_NOTES):
            return replica
        seen = annotations.get(ACTIVATED_AT)
        newer = []

        def change(body: dict) -> None:
            if (body.get("metadata") or {}).get("annotations", {}).get(ACTIVATED_AT) != seen:
                newer.append(True)
                return
            _set_annotations(body, dict.fromkeys(VISIT_NOTES))

        rested = self._rewrite(replica, change, "update")
        return None if newer else rested

    def count_probe_failure(self, replica: Replica, failed: bool) -> Replica:
        """Add one failed round to the standby's count, or (``failed`` False) reset it."""
        def change(body: dict) -> None:
            annotations = body.setdefault("metadata", {}).setdefault("annotations", {})
            if failed:
                annotations[PROBE_FAILURES] = str(_count(annotations.get(PROBE_FAILURES)) + 1)
            else:
                annotations.pop(PROBE_FAILURES, None)

        return self._rewrite(replica, change, "update")

    def roll(self, replica: Replica, settings) -> Replica:
        """A new revision with the template the settings ask for (SWITCH_IMAGE and the rest); annotations kept."""
        template = service_body(settings)["spec"]["template"]

        def change(body: dict) -> None:
            body.setdefault("spec", {})["template"] = json.loads(json.dumps(template))

        return self._rewrite(replica, change, "update (new revision)")

    def _rewrite(self, replica: Replica, change: Callable[[dict], None], what: str, attempts: int = 6) -> Replica:
        for attempt in range(attempts):
            if not replica.managed:
                raise NotManaged(f"Cloud Run service {self.name!r} was not created by switch; it is left untouched")
            body = json.loads(json.dumps(replica.raw))
            body.pop("status", None)
            before = json.dumps(body, sort_keys=True)
            change(body)
            if attempt and json.dumps(body, sort_keys=True) == before:
                return replica  # someone else made the same change meanwhile
            try:
                service = self._execute(self._services.replaceService(name=self.resource, body=body), what)
            except UpstreamError as exc:
                if exc.status_code != 409 or attempt + 1 == attempts:
                    raise
                # Someone wrote since we read: read again and apply the change to what is there now.
                self._sleep(random.uniform(0.02, 0.1) * (attempt + 1))
                fresh = self.get()
                if fresh is None or fresh.uid != replica.uid:
                    raise UpstreamError(f"Cloud Run {what}: {self.name!r} was replaced or deleted meanwhile",
                                        api="run", status_code=404, retryable=True) from None
                replica = fresh
                continue
            self.last = Replica.from_service(service)
            return self.last
        raise AssertionError("unreachable")  # pragma: no cover

    def wait_ready(self, timeout: float, *, poll_interval: float = 1.0,
                   on_poll: Callable[[Replica, float], None] | None = None) -> Replica:
        """Poll until Ready is "True" (return it) or "False" (raise ReplicaFailed).

        Polls start fast and back off to ``poll_interval``: a replica that is
        ready quickly is seen quickly, and a slow one costs few calls.
        """
        start = self._clock()
        delay = min(0.25, poll_interval)
        while True:
            replica = self.get()
            waited = self._clock() - start
            if replica is None:
                raise UpstreamError(f"Cloud Run service {self.name!r} disappeared while waiting for it to be ready",
                                    api="run", retryable=True)
            if on_poll is not None:
                on_poll(replica, waited)
            if replica.ready is True:
                return replica
            if replica.ready is False:
                raise ReplicaFailed(f"Cloud Run replica {self.name!r} failed: {replica.message}", api="run")
            if waited + delay > timeout:
                raise ReplicaTimeout(f"Cloud Run replica {self.name!r} was not ready after {timeout:g} s "
                                     f"({replica.message}); the next notification or reconcile will go on waiting",
                                     api="run")
            self._sleep(delay)
            delay = min(delay * 1.6, poll_interval)

    def is_public(self) -> bool:
        from .iam import grants

        policy = self._execute(self._services.getIamPolicy(resource=self.resource), "getIamPolicy")
        return grants(policy or {}, INVOKER_ROLE, PUBLIC_MEMBER)

    def make_public(self) -> bool:
        """Grant allUsers roles/run.invoker, keeping every existing binding. True when it changed."""
        from .iam import add_member

        def read() -> dict:
            return self._execute(self._services.getIamPolicy(resource=self.resource), "getIamPolicy")

        def write(policy: dict) -> None:
            self._execute(self._services.setIamPolicy(resource=self.resource, body={"policy": policy}),
                          "setIamPolicy")

        try:
            return add_member(read, write, INVOKER_ROLE, PUBLIC_MEMBER, sleep=self._sleep)
        except UpstreamError as exc:
            if exc.status_code == 400 and "permitted customer" in exc.message:
                exc.message += (" (an organization policy, Domain Restricted Sharing, forbids allUsers; "
                                "allow it for this project or use a load balancer)")
            raise

    def delete(self, replica: Replica | None = None) -> bool:
        """Delete the service if switch created it. Returns False when it is already gone.

        A service without the ``managed-by: switch`` label is never deleted.
        """
        replica = replica or self.get()
        if replica is None:
            return False
        if not replica.managed:
            raise NotManaged(f"Cloud Run service {self.name!r} exists but was not created by switch "
                             f"(no label managed-by=switch); it is left untouched")
        try:
            self._execute(self._services.delete(name=self.resource), "delete")
        except UpstreamError as exc:
            if exc.status_code == 404:
                return False
            raise
        self.last = None
        return True
