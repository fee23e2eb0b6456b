"""Cloud Run Admin API v1, the ``projects.locations.services`` methods.

State is a dict of services per (project, region). Readiness is computed from
timestamps whenever a service is read, so there are no background threads: a
revision is "deploying" until its ``ready_at`` has passed.

Not thread-safe by itself; the server calls it under one lock.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import string
import time
import uuid
from dataclasses import dataclass
from html import escape

from werkzeug.wrappers import Response

from . import iampolicy, knative
from .google import (
    GoogleApi,
    GoogleError,
    html_not_found,
    invalid,
    json_response,
    read_json,
    rfc3339,
)
from .routing import route

REGION = r"[a-z]+-[a-z]+\d+"
SERVICES = "v1/projects/{project}/locations/{region}/services"
INVOKER = "roles/run.invoker"
@dataclass
class Revision:
    name: str
    image: str
    port: int
    created: float
    ready_at: float
    failing: bool

    def ready(self, now: float) -> bool:
        return now >= self.ready_at


@dataclass
class Stored:
    body: dict  # apiVersion, kind, metadata, spec: what GET shows, minus status and resourceVersion
    revisions: list[Revision]
    written_at: float
    policy: dict | None = None  # None until the first setIamPolicy


def resource_version(epoch: float) -> str:
    """Google's resourceVersion is the write time in microseconds, base64url."""
    return base64.urlsafe_b64encode(int(epoch * 1_000_000).to_bytes(8, "big")).decode().rstrip("=")


class RunApi(GoogleApi):
    prefix = "v1/"

    def __init__(self, base_url, project_number: str, failing_image: str, ready_delay: float, delete_delay: float):
        self.base_url = base_url  # callable: the emulator's root, known once it listens
        self.project_number = project_number
        self.failing_image = failing_image
        self.ready_delay = ready_delay
        self.delete_delay = delete_delay
        # As an organization policy (constraints/run.managed.requireInvokerIam) would:
        # a service may not switch the invoker IAM check off.
        self.require_invoker_iam = False
        self.stored: dict[tuple[str, str], dict[str, Stored]] = {}
        # (project, region, name) -> when Google finishes deleting it in the background
        self.deleting: dict[tuple[str, str, str], float] = {}
        one = SERVICES + "/{name}"
        self.routes = [
            route("POST", SERVICES, self.create, region=REGION),
            route("GET", SERVICES, self.list, region=REGION),
            route("GET", one, self.get, region=REGION),
            route("PUT", one, self.replace, region=REGION),
            route("DELETE", one, self.delete, region=REGION),
            route("GET", one + ":getIamPolicy", self.get_iam_policy, region=REGION),
            route("POST", one + ":setIamPolicy", self.set_iam_policy, region=REGION),
        ]

    # -- reading ---------------------------------------------------------

    def url(self, region: str, name: str) -> str:
        return f"{self.base_url()}_run/{region}/{name}"

    def find(self, project: str, region: str, name: str) -> Stored | None:
        return self.stored.get((project, region), {}).get(name)

    def render(self, stored: Stored, now: float | None = None) -> dict:
        """The Service as GET returns it at ``now``."""
        now = time.time() if now is None else now
        service = copy.deepcopy(stored.body)
        current = stored.revisions[-1]
        changed = current.ready_at if current.ready(now) and current.ready_at > stored.written_at else stored.written_at
        # Status changes are writes too: a resourceVersion read while deploying
        # is stale once the service turns Ready, so a read-modify-write that
        # spans the transition gets 409, as it does on Google.
        service["metadata"]["resourceVersion"] = resource_version(changed)
        service["status"] = self._status(stored, service, now)
        return service

    def _status(self, stored: Stored, service: dict, now: float) -> dict:
        current = stored.revisions[-1]
        serving = self._serving(stored, now)
        name = service["metadata"]["name"]
        status = {"observedGeneration": service["metadata"]["generation"]}
        if not current.ready(now):
            since = rfc3339(current.created)
            message = f"Deploying revision '{current.name}'."
            status["conditions"] = [
                {"type": t, "status": "Unknown", "reason": "Deploying", "message": message, "lastTransitionTime": since}
                for t in ("Ready", "ConfigurationsReady", "RoutesReady")
            ]
        elif current.failing:
            since = rfc3339(current.ready_at)
            message = (
                f"Revision '{current.name}' is not ready and cannot serve traffic. The user-provided container "
                f"failed to start and listen on the port defined provided by the PORT={current.port} environment "
                "variable. Logs for this revision might contain more information.\n\nFor more troubleshooting "
                "guidance, see https://cloud.google.com/run/docs/troubleshooting#container-failed-to-start"
            )
            failed = {
                "status": "False", "reason": "HealthCheckContainerError", "message": message, "lastTransitionTime": since,
            }
            routes = {"status": "True", "lastTransitionTime": since} if serving else {
                "status": "False", "reason": "RevisionFailed", "message": message, "lastTransitionTime": since}
            status["conditions"] = [
                {"type": "Ready", **failed},
                {"type": "ConfigurationsReady", **failed},
                {"type": "RoutesReady", **routes},
            ]
        else:
            since = rfc3339(current.ready_at)
            status["conditions"] = [
                {"type": t, "status": "True", "lastTransitionTime": since}
                for t in ("Ready", "ConfigurationsReady", "RoutesReady")
            ]
        status["latestCreatedRevisionName"] = current.name
        # A failed update leaves the previous revision serving: url and traffic stay.
        if serving:
            status["latestReadyRevisionName"] = serving.name
            status["traffic"] = [{"revisionName": serving.name, "percent": 100, "latestRevision": True}]
            status["url"] = self.url(service["metadata"]["labels"]["cloud.googleapis.com/location"], name)
            status["address"] = {"url": status["url"]}
        return status

    @staticmethod
    def _serving(stored: Stored, now: float) -> Revision | None:
        """The newest revision that came up healthy: the one receiving traffic."""
        return next((r for r in reversed(stored.revisions) if r.ready(now) and not r.failing), None)

    def snapshot(self, project: str, region: str) -> dict:
        now = time.time()
        return {name: self.render(s, now) for name, s in sorted(self.stored.get((project, region), {}).items())}

    def _require(self, project: str, region: str, name: str) -> Stored:
        stored = self.find(project, region, name)
        if stored is None:
            raise GoogleError(
                404, f"Resource '{name}' of kind 'SERVICE' in region '{region}' in project '{project}' does not exist.", "NOT_FOUND"
            )
        return stored

    # -- services --------------------------------------------------------

    def _check_invoker_iam(self, body: dict) -> None:
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        if self.require_invoker_iam and annotations.get("run.googleapis.com/invoker-iam-disabled") == "true":
            # Wording inferred from the constraint's documentation, not confirmed.
            raise GoogleError(400, "Violation in CreateService request: the organization policy constraint "
                                   "'constraints/run.managed.requireInvokerIam' requires the invoker IAM check; "
                                   "run.googleapis.com/invoker-iam-disabled may not be set.", "FAILED_PRECONDITION")

    def create(self, request, project, region):
        body = read_json(request)
        knative.validate_service(body, project, self.project_number)
        self._check_invoker_iam(body)
        name = body["metadata"]["name"]
        now = time.time()
        # Deletion finishes in the background: the name stays taken for a while
        # after DELETE answered and GET already says 404.
        if self.find(project, region, name) or self.deleting.get((project, region, name), 0) > now:
            raise GoogleError(409, f"Resource '{name}' already exists.", "ALREADY_EXISTS")
        spec = knative.normalized_spec(body["spec"], self.project_number)
        labels, annotations = knative.user_metadata(body["metadata"], knative.SERVER_LABELS, knative.SERVER_ANNOTATIONS)
        creator = f"emulator@{project}.iam.gserviceaccount.com"
        stored = self._new(name, spec, now, generation=1)
        stored.body["metadata"].update(labels={**labels, "cloud.googleapis.com/location": region},
                                       annotations=self._annotations(annotations, region, name, creator))
        stored.revisions.append(self._revision(name, spec, 1, [], now))
        if request.args.get("dryRun") != "all":
            self.stored.setdefault((project, region), {})[name] = stored
        return json_response(self.render(stored, now))

    def _new(self, name: str, spec: dict, now: float, *, generation: int) -> Stored:
        """A service as Cloud Run first stores it; the caller adds labels, annotations and revisions."""
        return Stored(body={
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": self.project_number,
                "selfLink": f"/apis/serving.knative.dev/v1/namespaces/{self.project_number}/services/{name}",
                "uid": str(uuid.uuid4()),
                "resourceVersion": "",  # derived from timestamps when read
                "generation": generation,
                "creationTimestamp": rfc3339(now),
            },
            "spec": spec,
        }, revisions=[], written_at=now)

    def list(self, request, project, region):
        objects = self.snapshot(project, region)
        link = f"/apis/serving.knative.dev/v1/namespaces/{self.project_number}/services"
        return json_response(knative.list_page("Service", link, objects, request.args))

    def get(self, request, project, region, name):
        return json_response(self.render(self._require(project, region, name)))

    def replace(self, request, project, region, name):
        body = read_json(request)
        knative.validate_service(body, project, self.project_number)
        self._check_invoker_iam(body)
        if body["metadata"]["name"] != name:
            raise invalid(f"metadata.name: '{body['metadata']['name']}' does not match '{name}' in the request path.")
        stored = self._require(project, region, name)
        now = time.time()
        given = body["metadata"].get("resourceVersion")
        if given and given != self.render(stored, now)["metadata"]["resourceVersion"]:
            raise GoogleError(409, f"Conflict for resource '{name}' for version '{given}'.", "ABORTED")
        updated = copy.deepcopy(stored)
        metadata = updated.body["metadata"]
        spec = knative.normalized_spec(body["spec"], self.project_number)
        # Only a spec change makes a new revision (and generation); labels and
        # annotations are metadata and leave both alone.
        if spec != updated.body["spec"]:
            metadata["generation"] += 1
            updated.revisions.append(self._revision(name, spec, metadata["generation"], updated.revisions, now))
            updated.body["spec"] = spec
        labels, annotations = knative.user_metadata(body["metadata"], knative.SERVER_LABELS, knative.SERVER_ANNOTATIONS)
        metadata["labels"] = {**labels, "cloud.googleapis.com/location": region}
        creator = metadata["annotations"]["serving.knative.dev/creator"]
        metadata["annotations"] = self._annotations(annotations, region, name, creator)
        # Distinct even for two writes within a microsecond (resourceVersion is in µs).
        updated.written_at = max(now, stored.written_at + 1e-5)
        if request.args.get("dryRun") != "all":
            self.stored[(project, region)][name] = updated
        return json_response(self.render(updated, now))

    def delete(self, request, project, region, name):
        stored = self._require(project, region, name)
        if request.args.get("dryRun") != "all":
            del self.stored[(project, region)][name]
            self.deleting[(project, region, name)] = time.time() + self.delete_delay
        return json_response(
            {
                "apiVersion": "v1",
                "kind": "Status",
                "status": "Success",
                "details": {"name": name, "kind": "services", "uid": stored.body["metadata"]["uid"]},
            }
        )

    def _annotations(self, user: dict, region: str, name: str, creator: str) -> dict:
        ingress = user.get("run.googleapis.com/ingress", "all")
        return {
            **user,
            "run.googleapis.com/ingress": ingress,
            "run.googleapis.com/ingress-status": ingress,
            "run.googleapis.com/operation-id": str(uuid.uuid4()),
            "run.googleapis.com/urls": json.dumps([self.url(region, name)]),
            "serving.knative.dev/creator": creator,
            "serving.knative.dev/lastModifier": creator,
        }

    def _revision(self, service: str, spec: dict, generation: int, existing: list[Revision], now: float) -> Revision:
        container = spec["template"]["spec"]["containers"][0]
        name = spec["template"]["metadata"].get("name")
        if name is None:
            name = f"{service}-{generation:05d}-{''.join(random.choices(string.ascii_lowercase + string.digits, k=3))}"
        elif any(r.name == name for r in existing):
            raise GoogleError(409, f"Revision named '{name}' with different configuration already exists.", "ALREADY_EXISTS")
        return Revision(
            name=name,
            image=container["image"],
            port=container["ports"][0]["containerPort"],
            created=now,
            ready_at=now + self.ready_delay,
            failing=bool(self.failing_image) and self.failing_image in container["image"],
        )

    # -- services another product runs (a 2nd gen function's) ---------------

    def put_managed(self, project: str, region: str, name: str, metadata: dict, spec: dict, now: float) -> str:
        """Create or update a service on behalf of Cloud Functions; its new revision is ready at once.

        The function's operation already took its time, and its image never
        counts as failing, whatever its name. Returns the new revision's name.
        Raises ValueError when the name is taken by a service Cloud Functions
        does not manage.
        """
        stored = self.find(project, region, name)
        if stored is not None and stored.body["metadata"]["labels"].get("goog-managed-by") != "cloudfunctions":
            raise ValueError(f"Cloud Run service {name} already exists and is not managed by Cloud Functions")
        spec = knative.normalized_spec(spec, self.project_number)
        labels = {**metadata.get("labels", {}), "cloud.googleapis.com/location": region}
        creator = f"service-{self.project_number}@gcf-admin-robot.iam.gserviceaccount.com"
        if stored is None:
            stored = self._new(name, spec, now, generation=0)
            self.stored.setdefault((project, region), {})[name] = stored
        meta = stored.body["metadata"]
        meta["generation"] += 1
        meta["labels"] = labels
        meta["annotations"] = self._annotations(metadata.get("annotations", {}), region, name, creator)
        stored.body["spec"] = spec
        revision = self._revision(name, spec, meta["generation"], stored.revisions, now)
        revision.ready_at, revision.failing = now, False
        stored.revisions.append(revision)
        stored.written_at = max(now, stored.written_at + 1e-5)
        return revision.name

    def remove_managed(self, project: str, region: str, name: str) -> None:
        """Delete a function's service with its function (name taken a while, as any deleted service)."""
        if self.stored.get((project, region), {}).pop(name, None) is not None:
            self.deleting[(project, region, name)] = time.time() + self.delete_delay

    # -- IAM -------------------------------------------------------------

    def _iam_target(self, project, region, name, permission) -> Stored:
        stored = self.find(project, region, name)
        if stored is None:
            # IAM cannot tell "you may not" from "there is nothing": both are 403.
            resource = f"projects/{project}/locations/{region}/services/{name}"
            raise GoogleError(
                403, f"Permission '{permission}' denied on resource '{resource}' (or resource may not exist).", "PERMISSION_DENIED"
            )
        return stored

    @staticmethod
    def policy_of(stored: Stored) -> dict:
        return iampolicy.render(stored.policy)

    def get_iam_policy(self, request, project, region, name):
        return json_response(self.policy_of(self._iam_target(project, region, name, "run.services.getIamPolicy")))

    def set_iam_policy(self, request, project, region, name):
        body = read_json(request)
        if not isinstance(body.get("policy"), dict):
            raise invalid("policy: Required field. The body must be {\"policy\": {...}}.")
        stored = self._iam_target(project, region, name, "run.services.setIamPolicy")
        stored.policy = iampolicy.replace(stored.policy, body, example_role=INVOKER)
        return json_response(self.policy_of(stored))

    # -- the replica itself ----------------------------------------------

    def replica(self, region: str, name: str, path: str) -> Response:
        """What a visitor of ``status.url`` gets.

        Only a service with a serving revision has a route (404 otherwise), and
        Cloud Run checks the invoker role before the container sees anything.
        """
        # The URL carries no project; the first project with that service wins.
        stored = next((s[name] for (_, r), s in self.stored.items() if r == region and name in s), None)
        serving = self._serving(stored, time.time()) if stored else None
        if serving is None:
            return html_not_found("/" + path)
        annotations = stored.body["metadata"]["annotations"]
        public = annotations.get("run.googleapis.com/invoker-iam-disabled") == "true" or any(
            b["role"] == INVOKER and "allUsers" in b["members"] for b in self.policy_of(stored).get("bindings", [])
        )
        if not public:
            return Response(
                "<html><head>\n<meta http-equiv=\"content-type\" content=\"text/html;charset=utf-8\">\n"
                "<title>403 Forbidden</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>Error: Forbidden</h1>\n"
                f"<h2>Your client does not have permission to get URL <code>/{escape(path)}</code> from this server.</h2>\n"
                "<h2></h2>\n</body></html>\n",
                status=403,
                content_type="text/html; charset=UTF-8",
            )
        return Response(
            f"<!doctype html>\n<title>{escape(name)}</title>\n<p>Cloud Run replica <b>{escape(name)}</b> "
            f"(revision {escape(serving.name)}, image {escape(serving.image)}) serving /{escape(path)}\n",
            content_type="text/html; charset=utf-8",
        )
