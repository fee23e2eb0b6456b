"""Cloud Functions API v2, ``projects.locations.functions`` (2nd gen, "Cloud Run functions").

create, get, list, patch, delete, ``functions:generateUploadUrl``, the
function's own IAM policy, ``runtimes.list`` and ``operations.get/list``.
Bodies are checked by ``functionspec.py``; what they name must exist in the
other emulated APIs, checked when the call arrives: the runtime and trigger
service accounts (IAM), the Pub/Sub topic, the uploaded source.

Create, patch and delete answer a long-running operation (``operations.py``)
that ends ``deploy_delay`` seconds later. Meanwhile the function reads
``state: DEPLOYING`` (or ``DELETING``) showing the new configuration. When a
deploy ends it is built and "run":

- the build fails (operation ``error`` code 3, "Build failed: ...; Error ID:
  ...") when the zip is not one, lacks ``main.py`` or ``requirements.txt`` at
  its root, or ``main.py`` does not ``def`` the entry point (a missing
  requirements.txt is deploy.md's rule for switch: Google's Python buildpack
  would add functions-framework itself);
- the service stage fails when a secret version is missing or not ENABLED, or
  the runtime account holds no Secret Accessor role on the secret or the
  project (Cloud Run checks both when it makes the revision);
- on success the function is ACTIVE with ``url``, ``serviceConfig.service``,
  ``uri`` and ``revision``, and its Cloud Run service exists in the Run
  emulator (labelled ``goog-managed-by: cloudfunctions`` only: the
  function's own labels are not copied to it, firebase-tools#7850, so it never
  reads as switch's replica), so Run v1 ``services:setIamPolicy`` works on it:
  that is how ``allUsers`` gets ``roles/run.invoker`` on a 2nd gen function.

A failed update leaves the previous version as it was (ACTIVE, old
configuration); a failed first create leaves the function FAILED.
``{emulator}/_fn/{region}/{function}`` is where the function "lives": it
answers a line of text when the invoker role allows the caller (it runs no code).

Inferred, not confirmed against Google: most error wordings (noted where they
are Google's), the defaults an answer fills in (``LOG_EXECUTION_ID``, memory
``256M``, the CPU for it), the copy of the source into the
``gcf-v2-sources-...`` bucket that GET then shows, the 409 while another
operation runs, and that the references above are checked synchronously.
Not thread-safe by itself; the server calls it under one lock.
"""

from __future__ import annotations

import copy
import secrets as token
import time
import uuid
from dataclasses import dataclass, field
from html import escape

from werkzeug.wrappers import Response

from . import functionspec as spec_rules
from . import iampolicy
from .google import GoogleApi, GoogleError, html_not_found, invalid, json_response, read_json, rfc3339
from .operations import Operations, status
from .protojson import apply_mask, page, parse_mask
from .routing import route
from .store import list_filter
from .run import INVOKER
from .secretmanager import ACCESSOR_ROLES
from .uploads import Uploads, build_failure

REGION = r"[a-z]+-[a-z]+\d+"
LOCATION = "v2/projects/{project}/locations/{location}"
FUNCTIONS = LOCATION + "/functions"
FUNCTION_TYPE = "type.googleapis.com/google.cloud.functions.v2.Function"
METADATA_TYPE = "type.googleapis.com/google.cloud.functions.v2.OperationMetadata"
UPDATABLE = {"buildConfig", "serviceConfig", "eventTrigger", "labels", "description", "kmsKeyName"}
MAPS = frozenset({"labels", "environmentVariables"})
INGRESS = {"ALLOW_INTERNAL_ONLY": "internal", "ALLOW_INTERNAL_AND_GCLB": "internal-and-cloud-load-balancing"}
FUNCTION_ROLE = ("roles/cloudfunctions.", "roles/owner", "roles/editor", "roles/viewer", "projects/", "organizations/")


@dataclass
class Fn:
    project: str
    location: str
    fid: str
    created: float
    spec: dict  # the user's configuration shown when no operation runs (no server defaults)
    state: str = "DEPLOYING"  # ACTIVE or FAILED once the first operation ends
    outputs: dict = field(default_factory=dict)  # of the last deploy that succeeded
    updated: float = 0.0
    pending: dict | None = None  # the configuration an operation is deploying
    operation: str | None = None
    verb: str = "create"
    messages: list = field(default_factory=list)
    source: bytes | None = None  # the zip of the last deploy that succeeded
    version: int = 0
    policy: dict | None = None

    @property
    def name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/functions/{self.fid}"

    @property
    def service(self) -> str:
        # Cloud Run names are lowercase with hyphens; Google derives the service's so.
        return self.fid.lower().replace("_", "-")


def _escape(part: str) -> str:
    return part.replace("-", "--")


def _pruned(body: dict) -> dict:
    """proto3 JSON leaves out empty maps and lists and zero scalars: gcloud sends ``environmentVariables: {}``
    and a client may send ``minInstanceCount: 0``; GET shows neither. (An empty *message*, such as
    ``automaticUpdatePolicy: {}``, is set and shows.)"""
    for section in (body, body.get("buildConfig", {}), body.get("serviceConfig", {}), body.get("eventTrigger") or {}):
        for key in list(section):
            value = section[key]
            empty_map = value in ({}, []) and key in ("labels", "environmentVariables", "secretEnvironmentVariables",
                                                     "secretVolumes", "eventFilters")
            if empty_map or (value in (0, "", False) and not isinstance(value, (dict, list))):
                del section[key]
    return body


class FunctionsApi(GoogleApi):
    prefix = "v2/"

    def __init__(self, base_url, project_number: str, operations: Operations, uploads: Uploads, run, accounts,
                 secrets, pubsub, projects):
        self.base_url = base_url  # callable: the emulator's root, known once it listens
        self.project_number = project_number
        self.operations, self.uploads, self.run = operations, uploads, run
        self.accounts, self.secrets, self.pubsub, self.projects = accounts, secrets, pubsub, projects
        self.functions: dict[str, Fn] = {}
        one = FUNCTIONS + "/{function}"
        self.routes = [
            route("GET", FUNCTIONS, self.list, location=REGION + "|-"),
            route("POST", FUNCTIONS, self.create, location=REGION),
            route("POST", FUNCTIONS + ":generateUploadUrl", self.generate_upload_url, location=REGION),
            route("GET", one, self.get, location=REGION),
            route("PATCH", one, self.patch, location=REGION),
            route("DELETE", one, self.delete, location=REGION),
            route("GET", one + ":getIamPolicy", self.get_iam_policy, location=REGION),
            route("POST", one + ":setIamPolicy", self.set_iam_policy, location=REGION),
            route("GET", LOCATION + "/runtimes", self.runtimes, location=REGION),
            *operations.routes(LOCATION + "/operations", location=REGION),
        ]

    # -- reading ------------------------------------------------------------------

    def _find(self, project: str, location: str, fid: str) -> Fn:
        found = self.functions.get(f"projects/{project}/locations/{location}/functions/{fid}")
        if found is None:
            name = f"projects/{project}/locations/{location}/functions/{fid}"
            raise GoogleError(404, f"Resource '{name}' was not found", "NOT_FOUND")
        return found

    def busy(self, fn: Fn) -> bool:
        return fn.operation is not None and not self.operations.done(fn.operation)

    def render(self, fn: Fn) -> dict:
        busy = self.busy(fn)
        shown = fn.pending if busy and fn.pending is not None else fn.spec
        body = {"name": fn.name, **self.effective(fn, shown)}
        out = fn.outputs
        if out:
            # Google builds from its own copy of the upload and shows that copy as the source.
            copied = {k: v for k, v in out["provenance"]["resolvedStorageSource"].items() if k != "generation"}
            body["buildConfig"].update({"build": out["build"], "sourceProvenance": copy.deepcopy(out["provenance"]),
                                        "source": {"storageSource": copied}})
            body["serviceConfig"].update({"service": out["service"], "uri": out["uri"], "revision": out["revision"]})
            if body.get("eventTrigger") and out.get("trigger"):
                body["eventTrigger"]["trigger"] = out["trigger"]
            body["url"] = out["url"]
        body["state"] = ("DELETING" if fn.verb == "delete" else "DEPLOYING") if busy else fn.state
        body["updateTime"] = rfc3339(fn.updated or fn.created)
        body["environment"] = "GEN_2"
        body["createTime"] = rfc3339(fn.created)
        if fn.messages and not busy:
            body["stateMessages"] = copy.deepcopy(fn.messages)
        return _pruned(body)

    def effective(self, fn: Fn, spec: dict) -> dict:
        return spec_rules.with_defaults(spec, fn.fid, fn.project, fn.location, self.project_number)

    def snapshot(self) -> dict:
        return {name: self.render(fn) for name, fn in sorted(self.functions.items())}

    # -- checks that need the other APIs ------------------------------------------------

    def _check_references(self, fn: Fn, spec: dict) -> None:
        storage = spec["buildConfig"].get("source", {}).get("storageSource")
        if storage and self._source(fn, storage) is None:
            raise invalid(f"Failed to retrieve function source code: gs://{storage['bucket']}/{storage['object']} "
                          "does not exist. Upload it to the URL generateUploadUrl answered first.")
        service = spec.get("serviceConfig", {})
        trigger = spec.get("eventTrigger") or {}
        for email in (service.get("serviceAccountEmail"), trigger.get("serviceAccountEmail")):
            if email and not self.accounts.exists(email):
                raise invalid(f"Invalid function service account requested: {email}. The account does not exist.")
        build_account = spec["buildConfig"].get("serviceAccount", "")
        if build_account and not self.accounts.exists(build_account.rsplit("/", 1)[-1]):
            raise invalid(f"Invalid build service account requested: {build_account}. The account does not exist.")
        topic = trigger.get("pubsubTopic")
        if topic and topic not in self.pubsub.topics:
            raise invalid(f"Pub/Sub topic {topic} was not found: create it before the function that it triggers.")

    def _source(self, fn: Fn, storage: dict) -> bytes | None:
        """The zip a storageSource names: an upload, or the function's own copy of its last deploy."""
        own = (f"gcf-v2-sources-{self.project_number}-{fn.location}", f"{fn.fid}/function-source.zip")
        if (storage.get("bucket"), storage.get("object")) == own:
            return fn.source
        found = self.uploads.find(storage.get("bucket", ""), storage.get("object", ""))
        return found.data if found else None

    # -- deploying ---------------------------------------------------------------------

    def _deploy(self, fn: Fn, spec: dict, verb: str, request_body: dict) -> dict:
        fn.pending, fn.verb = spec, verb
        build_id = str(uuid.uuid4())
        build = f"projects/{self.project_number}/locations/{fn.location}/builds/{build_id}"
        outcome: dict = {}

        def finish(done_at: float):
            return self._finish(fn, spec, build, outcome, done_at)

        stages = self._stages(fn, spec, build_id, build)

        def progress(fraction: float) -> dict:
            return {"stages": self._stage_states(stages, fraction, outcome.get("failed"), outcome.get("message"))}

        metadata = {
            "@type": METADATA_TYPE,
            "createTime": rfc3339(time.time()),
            "target": fn.name,
            "verb": verb,
            "cancelRequested": False,
            "apiVersion": "v2",
            "requestResource": {"@type": FUNCTION_TYPE, **copy.deepcopy(request_body)},
            "operationType": "CREATE_FUNCTION" if verb == "create" else "UPDATE_FUNCTION",
            "buildName": build,
        }
        op = self.operations.start(f"projects/{fn.project}/locations/{fn.location}", metadata, finish, progress)
        fn.operation = op.name
        return self.operations.render(op)

    def _stages(self, fn: Fn, spec: dict, build_id: str, build: str) -> list[dict]:
        n, p, loc = self.project_number, fn.project, fn.location
        stages = [
            {"name": "BUILD", "resource": build,
             "resourceUri": f"https://console.cloud.google.com/cloud-build/builds;region={loc}/{build_id}?project={n}"},
            {"name": "SERVICE", "resource": f"projects/{p}/locations/{loc}/services/{fn.service}",
             "resourceUri": f"https://console.cloud.google.com/run/detail/{loc}/{fn.service}?project={p}"},
        ]
        if spec.get("eventTrigger"):
            trigger = self._trigger_id(fn)
            stages.append({"name": "TRIGGER", "resource": f"projects/{p}/locations/{loc}/triggers/{trigger}",
                           "resourceUri": f"https://console.cloud.google.com/eventarc/triggers/{loc}/{trigger}"
                                          f"?project={p}"})
        return stages

    def _trigger_id(self, fn: Fn) -> str:
        return f"{fn.service}-{int(fn.created) % 1000000:06d}"

    @staticmethod
    def _stage_states(stages: list[dict], fraction: float, failed: str | None, message: str | None) -> list[dict]:
        names = [s["name"] for s in stages]
        current = names.index(failed) if failed in names else min(int(fraction * len(stages)), len(stages))
        shown = []
        for i, stage in enumerate(stages):
            stage = dict(stage)
            if i < current or (fraction >= 1 and not failed):
                stage["state"] = "COMPLETE"
            elif i == current:
                stage["state"] = "COMPLETE" if failed else "IN_PROGRESS"
                if failed:
                    stage["stateMessages"] = [{"severity": "ERROR", "type": f"{failed.title()}Failed",
                                               "message": message}]
            else:
                stage["state"] = "NOT_STARTED"
            shown.append(stage)
        return shown

    def _finish(self, fn: Fn, spec: dict, build: str, outcome: dict, done_at: float):
        """The deploy ends: build, then the Cloud Run service; returns the operation's (response, error)."""
        fn.pending, fn.operation = None, None
        effective = self.effective(fn, spec)
        runtime = effective["buildConfig"]["runtime"] if "runtime" in effective["buildConfig"] else ""
        data = self._source(fn, effective["buildConfig"]["source"]["storageSource"]) or b""
        why = build_failure(data, runtime, effective["buildConfig"]["entryPoint"])
        if why is not None:
            message = f"Build failed: {why}; Error ID: {token.token_hex(4)}"
            return self._failed(fn, spec, outcome, "BUILD", message)
        why = self._secret_problem(fn, effective["serviceConfig"])
        if why is None:
            try:
                revision = self.run.put_managed(fn.project, fn.location, fn.service, *self._knative(fn, effective),
                                                done_at)
            except ValueError as e:
                why = str(e)
        if why is not None:
            return self._failed(fn, spec, outcome, "SERVICE",
                                f"Could not create or update Cloud Run service {fn.service}, {why}")
        fn.version += 1
        fn.spec, fn.state, fn.updated, fn.messages = spec, "ACTIVE", done_at, []
        fn.source = data
        generation = str(int(done_at * 1_000_000))
        fn.outputs = {
            "build": build,
            "provenance": {"resolvedStorageSource": {
                "bucket": f"gcf-v2-sources-{self.project_number}-{fn.location}",
                "object": f"{fn.fid}/function-source.zip",
                "generation": generation,
            }},
            "service": f"projects/{fn.project}/locations/{fn.location}/services/{fn.service}",
            "uri": self.run.url(fn.location, fn.service),
            "revision": revision,
            "url": f"{self.base_url()}_fn/{fn.location}/{fn.fid}",
        }
        if spec.get("eventTrigger"):
            fn.outputs["trigger"] = f"projects/{fn.project}/locations/{fn.location}/triggers/{self._trigger_id(fn)}"
        return {"@type": FUNCTION_TYPE, **self.render(fn)}, None

    def _failed(self, fn: Fn, spec: dict, outcome: dict, stage: str, message: str):
        outcome.update(failed=stage, message=message)
        if not fn.outputs:  # nothing ever deployed: the function is what was asked, FAILED
            fn.spec, fn.state, fn.updated = spec, "FAILED", time.time()
            fn.messages = [{"severity": "ERROR", "type": f"{stage.title()}Failed", "message": message}]
        return None, status(3, message)

    def _secret_problem(self, fn: Fn, service: dict) -> str | None:
        member = f"serviceAccount:{service['serviceAccountEmail']}"
        wanted = [(s["secret"], s["version"]) for s in service.get("secretEnvironmentVariables", [])]
        wanted += [(v["secret"], (v.get("versions") or [{}])[0].get("version", "latest"))
                   for v in service.get("secretVolumes", [])]
        for secret, version in wanted:
            name = f"projects/{self.project_number}/secrets/{secret}/versions/{version}"
            state = self.secrets.version_state(secret, version)
            if state is None:
                return f"Secret {name} was not found"
            if state != "ENABLED":
                return f"Secret {name} is in {state} state"
            if not (self.secrets.grants(secret, member, ACCESSOR_ROLES)
                    or self.projects.has_role(fn.project, member, ACCESSOR_ROLES)):
                # Cloud Run's words.
                return (f"Permission denied on secret: {name} for Revision service account "
                        f"{service['serviceAccountEmail']}. The service account used must be granted the "
                        "'Secret Manager Secret Accessor' role (roles/secretmanager.secretAccessor) at the secret, "
                        "project or higher level.")
        return None

    def _knative(self, fn: Fn, effective: dict) -> tuple[dict, dict]:
        """The function's Cloud Run service: (metadata, spec)."""
        build, service = effective["buildConfig"], effective["serviceConfig"]
        image = (f"{fn.location}-docker.pkg.dev/{fn.project}/gcf-artifacts/"
                 f"{_escape(fn.project)}__{_escape(fn.location)}__{_escape(fn.fid)}:version_{fn.version + 1}")
        env = [{"name": k, "value": v} for k, v in service["environmentVariables"].items()]
        env += [{"name": s["key"], "valueFrom": {"secretKeyRef": {"name": s["secret"], "key": s["version"]}}}
                for s in service.get("secretEnvironmentVariables", [])]
        scale = {"autoscaling.knative.dev/maxScale": str(service["maxInstanceCount"])}
        if service.get("minInstanceCount"):
            scale["autoscaling.knative.dev/minScale"] = str(service["minInstanceCount"])
        spec = {"template": {"metadata": {"annotations": scale}, "spec": {
            "containerConcurrency": service["maxInstanceRequestConcurrency"],
            "timeoutSeconds": service["timeoutSeconds"],
            "serviceAccountName": service["serviceAccountEmail"],
            "containers": [{"image": image, "env": env, "resources": {
                "limits": {"cpu": service["availableCpu"], "memory": service["availableMemory"]}}}],
        }}}
        metadata = {
            # Only Google's own labels: a function's labels stay on the function (firebase-tools#7850), so a
            # function labelled managed-by: switch never makes its service look like switch's replica.
            "labels": {"goog-managed-by": "cloudfunctions", "goog-cloudfunctions-runtime": build.get("runtime", "")},
            "annotations": {"run.googleapis.com/ingress": INGRESS.get(service["ingressSettings"], "all"),
                            "cloudfunctions.googleapis.com/function-id": fn.fid,
                            "run.googleapis.com/build-function-target": build["entryPoint"]},
        }
        return metadata, spec

    # -- methods ---------------------------------------------------------------------

    def list(self, request, project, location):
        # gcloud lists with filter=environment="GEN_2"; equality clauses are all the emulator reads.
        matches = list_filter(request.args.get("filter", ""))
        found = [self.render(fn) for name, fn in sorted(self.functions.items())
                 if fn.project == project and location in ("-", fn.location)]
        found = [f for f in found if matches(f)]
        return json_response(page(found, request.args, "functions", total=False))

    def get(self, request, project, location, function):
        return json_response(self.render(self._find(project, location, function)))

    def create(self, request, project, location):
        fid = request.args.get("functionId", "")
        spec_rules.check_function_id(fid)
        body = read_json(request)
        name = f"projects/{project}/locations/{location}/functions/{fid}"
        if body.get("name") not in (None, "", name):
            raise invalid(f"Function name '{body['name']}' does not match '{name}' (parent and functionId).")
        spec = spec_rules.validate(body, creating=True)
        if name in self.functions:
            raise GoogleError(409, f"Resource '{name}' already exists", "ALREADY_EXISTS")
        fn = Fn(project, location, fid, time.time(), spec)
        self._check_references(fn, spec)
        self.functions[name] = fn
        return json_response(self._deploy(fn, spec, "create", body))

    def patch(self, request, project, location, function):
        fn = self._find(project, location, function)
        body = read_json(request)
        if self.busy(fn):
            raise GoogleError(409, f"An operation on function {fn.name} is already in progress. "
                                   "Please try again after it completes.", "ABORTED")
        if body.get("name") not in (None, "", fn.name):
            raise invalid(f"Function name '{body['name']}' does not match '{fn.name}'.")
        spec_rules.validate(body, creating=False)  # the body alone: unknown fields, types
        paths = parse_mask(request.args.get("updateMask"))
        if not paths:  # no mask: every field the body sets replaces the stored one
            paths = [[f] for f in UPDATABLE if body.get(f) not in (None, {}, [])]
        for path in paths:
            if path[0] not in UPDATABLE:
                raise invalid(f"Invalid update mask path '{'.'.join(path)}': {path[0]} cannot be updated.")
        merged = apply_mask(fn.spec, body, paths, maps=MAPS)
        if bool(merged.get("eventTrigger")) != bool(fn.spec.get("eventTrigger")):
            raise invalid("A function's trigger type cannot change between HTTP and event-driven; delete it and "
                          "create it again.")
        spec = spec_rules.validate(merged, creating=False)
        self._check_references(fn, spec)
        return json_response(self._deploy(fn, spec, "update", body))

    def delete(self, request, project, location, function):
        fn = self._find(project, location, function)
        if self.busy(fn):
            raise GoogleError(409, f"An operation on function {fn.name} is already in progress. "
                                   "Please try again after it completes.", "ABORTED")
        fn.verb = "delete"

        def finish(done_at: float):
            self.functions.pop(fn.name, None)
            self.run.remove_managed(fn.project, fn.location, fn.service)
            return {"@type": "type.googleapis.com/google.protobuf.Empty"}, None

        metadata = {"@type": METADATA_TYPE, "createTime": rfc3339(time.time()), "target": fn.name,
                    "verb": "delete", "cancelRequested": False, "apiVersion": "v2",
                    "operationType": "DELETE_FUNCTION"}
        op = self.operations.start(f"projects/{project}/locations/{location}", metadata, finish)
        fn.operation = op.name
        return json_response(self.operations.render(op))

    def generate_upload_url(self, request, project, location):
        body = read_json(request)
        unknown = sorted(set(body) - {"environment", "kmsKeyName"})
        if unknown:
            raise invalid(f"Invalid JSON payload received. Unknown name \"{unknown[0]}\": Cannot find field.")
        if body.get("environment") not in (None, "ENVIRONMENT_UNSPECIFIED", "GEN_1", "GEN_2"):
            raise invalid(f"Invalid value at 'environment' (type.googleapis.com/google.cloud.functions.v2.Environment)"
                          f", \"{body['environment']}\"")
        return json_response(self.uploads.new(self.base_url(), location))

    def runtimes(self, request, project, location):
        found = [{"name": n, "displayName": d, "stage": "GA", "environment": "GEN_2"}
                 for n, d in spec_rules.RUNTIMES.items()]
        found.append({"name": "python39", "displayName": "Python 3.9", "stage": "DECOMMISSIONED",
                      "environment": "GEN_2", "decommissionDate": {"year": 2026, "month": 4, "day": 5}})
        return json_response({"runtimes": found})

    # -- the function's own IAM (roles/cloudfunctions.*; invoking a 2nd gen function is Run's) --------

    def get_iam_policy(self, request, project, location, function):
        fn = self._find(project, location, function)
        iampolicy.check_requested_version(request.args, fn.policy)
        return json_response(iampolicy.render(fn.policy))

    def set_iam_policy(self, request, project, location, function):
        body = read_json(request)
        fn = self._find(project, location, function)
        fn.policy = iampolicy.replace(fn.policy, body,
                                      example_role="roles/cloudfunctions.invoker",
                                      role_allowed=lambda role: role.startswith(FUNCTION_ROLE),
                                      member_allowed=lambda member: self.accounts.refusal(member, project))
        return json_response(iampolicy.render(fn.policy))

    # -- where the function lives -------------------------------------------------------

    def visit(self, region: str, fid: str, path: str) -> Response:
        """What a caller of the function's ``url`` gets: Cloud Run's invoker check, then a line of text."""
        fn = next((f for f in self.functions.values() if f.location == region and f.fid == fid and f.outputs), None)
        stored = self.run.find(fn.project, fn.location, fn.service) if fn else None
        if stored is None:
            return html_not_found("/" + path)
        public = any(b["role"] == INVOKER and "allUsers" in b["members"]
                     for b in self.run.policy_of(stored).get("bindings", []))
        if not public:
            return Response("<html><head><title>403 Forbidden</title></head><body><h1>Error: Forbidden</h1>"
                            f"<h2>Your client does not have permission to get URL <code>/{escape(path)}</code> from "
                            "this server.</h2></body></html>\n", status=403, content_type="text/html; charset=UTF-8")
        build = fn.spec.get("buildConfig", {})
        return Response(f"function {fid} (revision {fn.outputs['revision']}, {build.get('runtime', '')}, entry point "
                        f"{build.get('entryPoint', fid)}): the emulator runs no code; /{path}\n",
                        content_type="text/plain; charset=utf-8")
