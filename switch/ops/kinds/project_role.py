"""Project role: one role of the project granted to the functions' account, and no more.

The function creates, makes public and deletes the replica (``roles/run.admin``),
runs it as the replica's runtime account (``roles/iam.serviceAccountUser``),
reads open alerts (``roles/monitoring.viewer``) and its secrets
(``roles/secretmanager.secretAccessor``). Never Owner, Editor or an IAM admin
role. The project's policy is read, the member added, and written back with
the etag: every other binding stays.
"""

from __future__ import annotations

import time

from ...errors import UpstreamError
from .iam import IamGrant

ROLES = ("roles/run.admin", "roles/iam.serviceAccountUser", "roles/monitoring.viewer",
         "roles/secretmanager.secretAccessor")
# A service account created a moment ago is not yet known to every IAM server:
# a policy naming it may be refused as "does not exist" for a few seconds
# (eventual consistency; Terraform's google provider retries the same way).
NEW_ACCOUNT_WAIT = 60.0


class ProjectRole(IamGrant):
    label = "project role"

    def __init__(self, role: str = ROLES[0]):
        self.role = role

    def member(self, ctx):
        return f"serviceAccount:{ctx.target.account_email}"

    def resource(self, ctx):
        return f"projects/{ctx.target.project}"

    def read(self, ctx):
        return ctx.api.call(ctx.api.projects.getIamPolicy(
            resource=ctx.target.project, body={"options": {"requestedPolicyVersion": 3}}),
            "cloudresourcemanager", "get project IAM policy")

    def write(self, ctx, policy):
        ctx.api.call(ctx.api.projects.setIamPolicy(resource=ctx.target.project, body={"policy": policy}),
                     "cloudresourcemanager", "set project IAM policy")

    def create(self, ctx, body, *, sleep=time.sleep, clock=time.monotonic):
        deadline, delay = clock() + NEW_ACCOUNT_WAIT, 1.0
        while True:
            try:
                return super().create(ctx, body)
            except UpstreamError as exc:
                if exc.status_code != 400 or "does not exist" not in exc.message or clock() + delay > deadline:
                    raise
            sleep(delay)
            delay = min(delay * 2, 10.0)
