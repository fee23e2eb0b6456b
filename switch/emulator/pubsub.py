"""Pub/Sub API v1: topics (get, create) and their IAM policy.

A topic exists only when someone made it: ``PUT v1/projects/P/topics/T`` as
Google's ``topics.create`` does, or the control call
``Emulator.create_topic`` / ``POST /_emulator/topics`` for a test or the
drill. IAM follows the same read-modify-write rules as everywhere in Google:
a stale etag answers 409 ABORTED, and members are checked, including whether
Cloud Monitoring's notification service agent exists yet (it appears with the
project's first Pub/Sub channel, monitoring.md §8).

Not thread-safe by itself; the server calls it under one lock.
"""

from __future__ import annotations

import copy
import re
from typing import Callable

from .google import GoogleError, fault_response, html_not_found, invalid, json_response, read_json
from .routing import Api, route
from .run import EMPTY_POLICY_ETAG, MEMBER, ROLE, new_etag

TOPIC = "v1/projects/{project}/topics/{topic}"
TOPIC_ID = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
PATH = re.compile(r"^projects/([^/]+)/topics/([^/]+)$")
AGENT_DOMAIN = "@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
# Roles a topic's policy may grant: Pub/Sub's own, the basic roles, custom roles.
TOPIC_ROLE = re.compile(r"^(roles/pubsub\.[A-Za-z]+|roles/(owner|editor|viewer)|(projects|organizations)/[^/]+/roles/.+)$")


def topic_path(name: str) -> tuple[str, str]:
    """(project, topic id) of ``projects/P/topics/T``; ValueError when it is not one."""
    m = PATH.match(name or "")
    if not m or not TOPIC_ID.match(m.group(2)) or m.group(2).lower().startswith("goog"):
        raise ValueError(f"{name!r} is not a topic name: projects/PROJECT/topics/TOPIC, TOPIC 3-255 characters "
                         "starting with a letter and not with goog")
    return m.group(1), m.group(2)


class PubSubApi(Api):
    prefix = "v1/"

    def __init__(self, agent_exists: Callable[[str], bool] = lambda email: True):
        # name -> {"topic": what GET answers, "policy": the IAM policy or None}
        self.topics: dict[str, dict] = {}
        self.agent_exists = agent_exists
        self.routes = [
            route("GET", TOPIC, self.get),
            route("PUT", TOPIC, self.create),
            route("GET", TOPIC + ":getIamPolicy", self.get_iam_policy),
            route("POST", TOPIC + ":setIamPolicy", self.set_iam_policy),
        ]

    def not_found(self, request):
        return html_not_found(request.path)

    def fault(self, status, retry_after=None):
        return fault_response(status, retry_after)

    # -- control ---------------------------------------------------------------

    def add(self, name: str, labels: dict | None = None) -> dict:
        """Create a topic (control call); an existing one is kept as it is."""
        topic_path(name)
        if name not in self.topics:
            body = {"name": name, **({"labels": dict(labels)} if labels else {})}
            self.topics[name] = {"topic": body, "policy": None}
        return copy.deepcopy(self.topics[name]["topic"])

    def snapshot(self) -> dict:
        return {name: {**copy.deepcopy(t["topic"]), "iamPolicy": self._policy(t)} for name, t in self.topics.items()}

    # -- topics --------------------------------------------------------------------

    def _find(self, project: str, topic: str) -> dict:
        found = self.topics.get(f"projects/{project}/topics/{topic}")
        if found is None:
            raise GoogleError(404, f"Resource not found (resource={topic}).", "NOT_FOUND")  # Pub/Sub's words
        return found

    def get(self, request, project, topic):
        return json_response(copy.deepcopy(self._find(project, topic)["topic"]))

    def create(self, request, project, topic):
        name = f"projects/{project}/topics/{topic}"
        try:
            topic_path(name)
        except ValueError:
            raise invalid(f"Invalid resource name given (name={name}). Refer to "
                          "https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names for more information.") \
                from None
        if name in self.topics:
            raise GoogleError(409, f"Resource already exists in the project (resource={topic}).", "ALREADY_EXISTS")
        body = read_json(request)
        return json_response(self.add(name, body.get("labels")))

    # -- IAM -------------------------------------------------------------------------

    @staticmethod
    def _policy(stored: dict) -> dict:
        # A topic nobody granted anything on answers only the empty etag.
        return copy.deepcopy(stored["policy"]) if stored["policy"] else {"etag": EMPTY_POLICY_ETAG}

    def get_iam_policy(self, request, project, topic):
        stored = self._find(project, topic)
        requested = request.args.get("options.requestedPolicyVersion", "0")
        if requested not in ("0", "1", "3"):
            raise invalid(f"Invalid requested policy version {requested}; use 1 or 3.")
        policy = self._policy(stored)
        if policy.get("version") == 3 and requested != "3":
            raise invalid("The policy has conditional role bindings: request policy version 3 to read it.")
        return json_response(policy)

    def set_iam_policy(self, request, project, topic):
        body = read_json(request)
        policy = body.get("policy")
        if not isinstance(policy, dict):
            raise invalid("policy: Required field. The body must be {\"policy\": {...}}.")
        stored = self._find(project, topic)
        bindings = self._bindings(policy.get("bindings"), policy.get("version", 1))
        # No etag is a blind write; a different one means someone wrote since
        # the caller read, and the whole read-modify-write must be redone.
        if policy.get("etag") and policy["etag"] != self._policy(stored)["etag"]:
            raise GoogleError(
                409,
                "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.",
                "ABORTED",
            )
        conditional = any("condition" in b for b in bindings)
        stored["policy"] = {"version": 3 if conditional else 1, "etag": new_etag()}
        if bindings:
            stored["policy"]["bindings"] = bindings
        return json_response(self._policy(stored))

    def _bindings(self, bindings, version) -> list[dict]:
        """Validated bindings, members de-duplicated, same-role bindings merged."""
        if bindings is None:
            return []
        if not isinstance(bindings, list):
            raise invalid("policy.bindings: must be a list.")
        merged: dict[tuple, dict] = {}
        for i, binding in enumerate(bindings):
            role = binding.get("role") if isinstance(binding, dict) else None
            if not isinstance(role, str) or not ROLE.match(role):
                raise invalid(f"policy.bindings[{i}].role: a role such as 'roles/pubsub.publisher' is required.")
            if not TOPIC_ROLE.match(role):
                raise invalid(f"Role {role} is not supported for this resource.")
            members = binding.get("members")
            if not isinstance(members, list):
                raise invalid(f"policy.bindings[{i}].members: must be a list.")
            condition = binding.get("condition")
            if condition is not None and version != 3:
                raise invalid("Conditional role bindings need policy version 3.")
            key = (role, repr(condition))
            entry = merged.setdefault(key, {"role": role, "members": [], **({"condition": condition} if condition else {})})
            for member in members:
                if not isinstance(member, str) or not MEMBER.match(member):
                    raise invalid(
                        f"Invalid principal '{member}': use allUsers, allAuthenticatedUsers, or user:, serviceAccount:, "
                        "group: with an email, or domain: with a domain."
                    )
                email = member.split(":", 1)[-1]
                if member.startswith("serviceAccount:") and email.endswith(AGENT_DOMAIN) and not self.agent_exists(email):
                    raise invalid(f"Service account {email} does not exist.")
                if member not in entry["members"]:
                    entry["members"].append(member)
        return [b for b in merged.values() if b["members"]]
