"""Cloud Resource Manager API v1: ``projects.get`` and the project's IAM policy.

``projects.get``: every well-formed project ID exists and is ACTIVE, with the
emulator's one project number; the number itself is also accepted as an ID.

``projects.getIamPolicy`` / ``setIamPolicy`` (``POST v1/projects/P:getIamPolicy``,
the options and the policy in the body, unlike Run's GET with a query): a
project's policy is never empty, so each project starts with what a real one
holds: its owner, the Compute Engine default account as Editor (as older
projects grant it), and the service agents of the products switch uses. The
same read-modify-write rules as everywhere (``iampolicy.py``): a stale etag
is 409 ABORTED, and a ``serviceAccount:`` of the project's own
``iam.gserviceaccount.com`` domain must exist in the IAM emulator.
``updateMask`` defaults to ``bindings,etag``; ``auditConfigs`` change only
when the mask names them.

Inferred, not confirmed: the exact set of service agents a new project has.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Callable

from . import iampolicy
from .google import GoogleApi, GoogleError, invalid, json_response, read_json, rfc3339
from .routing import route

PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
OWNER = "user:owner@example.com"
MASKABLE = {"bindings", "etag", "auditConfigs", "version"}


class ResourceManagerApi(GoogleApi):
    prefix = "v1/"

    def __init__(self, project_number: str, member_refusal: Callable[..., str | None] = lambda member, project: None):
        self.project_number = project_number
        self.member_refusal = member_refusal
        self.created = rfc3339(time.time())
        self.policies: dict[str, dict] = {}  # project ID -> its policy, made on first use
        self.routes = [
            route("GET", "v1/projects/{project}", self.get),
            route("POST", "v1/projects/{project}:getIamPolicy", self.get_iam_policy),
            route("POST", "v1/projects/{project}:setIamPolicy", self.set_iam_policy),
        ]

    def _check(self, project: str) -> None:
        if not (PROJECT_ID.match(project) or project == self.project_number):
            # Resource Manager does not say whether a project exists to a caller who may not see it.
            raise GoogleError(403, "The caller does not have permission", "PERMISSION_DENIED")

    def get(self, request, project):
        self._check(project)
        return json_response({
            "projectNumber": self.project_number,
            "projectId": project,
            "lifecycleState": "ACTIVE",
            "name": project,
            "createTime": self.created,
        })

    # -- IAM ------------------------------------------------------------------------

    def policy(self, project: str) -> dict:
        """The project's stored policy (made on first use); callers must not modify it."""
        if project not in self.policies:
            n = self.project_number
            bindings = {
                "roles/cloudbuild.builds.builder": [f"serviceAccount:{n}@cloudbuild.gserviceaccount.com"],
                "roles/cloudfunctions.serviceAgent": [
                    f"serviceAccount:service-{n}@gcf-admin-robot.iam.gserviceaccount.com"],
                "roles/editor": [f"serviceAccount:{n}-compute@developer.gserviceaccount.com",
                                 f"serviceAccount:{n}@cloudservices.gserviceaccount.com"],
                "roles/owner": [OWNER],
                "roles/pubsub.serviceAgent": [f"serviceAccount:service-{n}@gcp-sa-pubsub.iam.gserviceaccount.com"],
                "roles/run.serviceAgent": [
                    f"serviceAccount:service-{n}@serverless-robot-prod.iam.gserviceaccount.com"],
            }
            self.policies[project] = {
                "version": 1,
                "etag": iampolicy.new_etag(),
                "bindings": [{"role": r, "members": m} for r, m in bindings.items()],
            }
        return self.policies[project]

    def has_role(self, project: str, member: str, roles: set[str]) -> bool:
        return any(b["role"] in roles and member in b["members"] for b in self.policy(project).get("bindings", []))

    def snapshot(self) -> dict:
        return copy.deepcopy(self.policies)

    def get_iam_policy(self, request, project):
        self._check(project)
        body = read_json(request)
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise invalid("Invalid value at 'options': expected an object.")
        version = options.get("requestedPolicyVersion", 0)
        iampolicy.check_requested_version({"options.requestedPolicyVersion": str(version)}, self.policy(project))
        return json_response(copy.deepcopy(self.policy(project)))

    def set_iam_policy(self, request, project):
        self._check(project)
        body = read_json(request)
        if not isinstance(body.get("policy"), dict):
            raise invalid("policy: Required field. The body must be {\"policy\": {...}}.")
        mask = [p.strip() for p in str(body.get("updateMask") or "bindings,etag").split(",") if p.strip()]
        wrong = [p for p in mask if p not in MASKABLE]
        if wrong:
            raise invalid(f"Invalid update mask path '{wrong[0]}': a policy's fields are bindings, etag, "
                          "auditConfigs and version.")
        stored = self.policy(project)
        given = body["policy"]
        if "bindings" not in mask:
            # The etag is still checked: the mask narrows what changes, not the concurrency rule.
            given = {**given, "bindings": stored.get("bindings", []), "version": stored.get("version", 1)}
        new = iampolicy.replace(stored, {"policy": given}, example_role="roles/viewer",
                                member_allowed=lambda member: self.member_refusal(member, project))
        audit = given.get("auditConfigs") if "auditConfigs" in mask else stored.get("auditConfigs")
        if audit:
            new["auditConfigs"] = copy.deepcopy(audit)
        # A project policy always has bindings; they come back sorted by role, as Google sorts them.
        new["bindings"] = sorted(new.get("bindings", []), key=lambda b: b["role"])
        self.policies[project] = new
        return json_response(copy.deepcopy(new))
