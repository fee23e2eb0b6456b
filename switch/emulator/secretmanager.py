"""Secret Manager API v1: secrets, their versions (add, get, list, access, disable, enable, destroy) and IAM.

``POST v1/projects/P/secrets?secretId=S`` with a ``replication`` (required),
``:addVersion`` with a base64 payload (checked against ``dataCrc32c`` when
the caller sends one), ``versions/{N|latest}:access`` answering the payload
and its CRC32C. Names in answers carry the project *number*, as Secret
Manager writes them, whichever form the path used; the emulator has one
project number, so secrets live in one namespace keyed by secret ID.

Other APIs ask ``version_state(secret, version)`` (Cloud Functions, before it
hands a secret to Cloud Run) and ``grants(secret, member, roles)``.

Inferred, not confirmed: the wording of the 400s (bad secret ID, missing
replication, checksum mismatch); the 404 wordings follow what Secret Manager
answers as far as they are known. Not thread-safe by itself; the server calls
it under one lock.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import re
import time
from typing import Callable

from . import iampolicy
from .google import GoogleApi, GoogleError, invalid, json_response, read_json, rfc3339
from .protojson import apply_mask, page, parse_mask, user_labels
from .routing import route

SECRETS = "v1/projects/{project}/secrets"
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
SECRET_FIELDS = {"name", "replication", "createTime", "labels", "topics", "expireTime", "ttl", "etag", "rotation",
                 "versionAliases", "annotations", "versionDestroyTtl", "customerManagedEncryption", "tags",
                 "secretType", "policyMember"}
PATCHABLE = {"labels", "annotations", "topics", "expireTime", "ttl", "rotation", "versionAliases",
             "versionDestroyTtl"}
MAX_PAYLOAD = 64 * 1024
ACCESSOR_ROLES = {"roles/secretmanager.secretAccessor", "roles/secretmanager.admin", "roles/owner"}


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum Secret Manager uses; pure Python, payloads are at most 64 KiB."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _etag(epoch: float) -> str:
    # Secret Manager's etags are the write time in microseconds, quoted inside the string.
    return f'"{int(epoch * 1_000_000)}"'


class SecretManagerApi(GoogleApi):
    prefix = "v1/"

    def __init__(self, project_number: str, member_refusal: Callable[..., str | None] = lambda member, project: None):
        self.project_number = project_number
        self.member_refusal = member_refusal
        # secret ID -> {"secret": what GET shows, "versions": [version dicts with "_data"], "policy": ...}
        self.secrets: dict[str, dict] = {}
        one = SECRETS + "/{secret}"
        version = one + "/versions/{version}"
        self.routes = [
            route("POST", SECRETS, self.create),
            route("GET", SECRETS, self.list),
            route("GET", one, self.get),
            route("PATCH", one, self.patch),
            route("DELETE", one, self.delete),
            route("POST", one + ":addVersion", self.add_version),
            route("GET", one + "/versions", self.list_versions),
            route("GET", version, self.get_version),
            route("GET", version + ":access", self.access),
            route("POST", version + ":disable", functools.partial(self.set_version_state, state="DISABLED")),
            route("POST", version + ":enable", functools.partial(self.set_version_state, state="ENABLED")),
            route("POST", version + ":destroy", functools.partial(self.set_version_state, state="DESTROYED")),
            route("GET", one + ":getIamPolicy", self.get_iam_policy),
            route("POST", one + ":setIamPolicy", self.set_iam_policy),
        ]

    # -- what other APIs ask ---------------------------------------------------------

    def version_state(self, secret: str, version: str) -> str | None:
        """ENABLED, DISABLED or DESTROYED for a version (``latest``: the newest), None when there is none."""
        stored = self.secrets.get(secret)
        if stored is None or not stored["versions"]:
            return None
        if version == "latest":
            return stored["versions"][-1]["state"]
        found = next((v for v in stored["versions"] if v["name"].rsplit("/", 1)[1] == version), None)
        return found["state"] if found else None

    def grants(self, secret: str, member: str, roles: set[str]) -> bool:
        stored = self.secrets.get(secret) or {}
        policy = stored.get("policy") or {}
        return any(b["role"] in roles and member in b["members"] for b in policy.get("bindings", []))

    def snapshot(self) -> dict:
        return {
            s["secret"]["name"]: {
                **copy.deepcopy(s["secret"]),
                "versions": [self._render_version(v) for v in s["versions"]],
                "iamPolicy": iampolicy.render(s["policy"], versioned=False),
            }
            for s in self.secrets.values()
        }

    # -- reading -----------------------------------------------------------------------

    def _name(self, secret: str) -> str:
        return f"projects/{self.project_number}/secrets/{secret}"

    def _find(self, secret: str) -> dict:
        found = self.secrets.get(secret)
        if found is None:
            raise GoogleError(404, f"Secret [{self._name(secret)}] not found.", "NOT_FOUND")
        return found

    def _version(self, secret: str, version: str) -> dict:
        stored = self._find(secret)
        if version == "latest":
            if not stored["versions"]:
                raise GoogleError(404, f"Secret [{self._name(secret)}] not found or has no versions.", "NOT_FOUND")
            return stored["versions"][-1]
        if not version.isdigit() or version == "0":
            raise invalid(f"Invalid secret version '{version}': use a version number or 'latest'.")
        found = next((v for v in stored["versions"] if v["name"].endswith(f"/versions/{version}")), None)
        if found is None:
            raise GoogleError(404, f"Secret Version [{self._name(secret)}/versions/{version}] not found.", "NOT_FOUND")
        return found

    @staticmethod
    def _render_version(version: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in version.items() if not k.startswith("_")}

    # -- secrets ---------------------------------------------------------------------------

    def create(self, request, project):
        secret_id = request.args.get("secretId", "")
        if not SECRET_ID.match(secret_id):
            raise invalid(f"Secret ID [{secret_id}] is invalid: it must be 1 to 255 characters of letters, "
                          "numbers, hyphens and underscores.")
        body = read_json(request)
        self._check_fields(body)
        replication = body.get("replication")
        if not isinstance(replication, dict) or not (("automatic" in replication) ^ ("userManaged" in replication)):
            raise invalid("Secret.replication: exactly one of automatic or userManaged is required.")
        if "userManaged" in replication and not (replication["userManaged"] or {}).get("replicas"):
            raise invalid("Secret.replication.user_managed.replicas: at least one replica is required.")
        if secret_id in self.secrets:
            raise GoogleError(409, f"Secret [{self._name(secret_id)}] already exists.", "ALREADY_EXISTS")
        now = time.time()
        secret = {"name": self._name(secret_id), "replication": copy.deepcopy(replication), "createTime": rfc3339(now)}
        if body.get("labels"):
            secret["labels"] = user_labels(body["labels"], "secret.labels")
        for key in ("annotations", "topics", "versionAliases", "expireTime", "ttl", "rotation"):
            if body.get(key):
                secret[key] = copy.deepcopy(body[key])
        secret["etag"] = _etag(now)
        self.secrets[secret_id] = {"secret": secret, "versions": [], "policy": None}
        return json_response(copy.deepcopy(secret))

    @staticmethod
    def _check_fields(body: dict) -> None:
        unknown = set(body) - SECRET_FIELDS
        if unknown:
            raise invalid(f"Invalid JSON payload received. Unknown name \"{sorted(unknown)[0]}\" at 'secret': "
                          "Cannot find field.")

    def list(self, request, project):
        secrets = [copy.deepcopy(s["secret"]) for _, s in sorted(self.secrets.items())]
        return json_response(page(secrets, request.args, "secrets"))

    def get(self, request, project, secret):
        return json_response(copy.deepcopy(self._find(secret)["secret"]))

    def patch(self, request, project, secret):
        stored = self._find(secret)
        body = read_json(request)
        self._check_fields(body)
        paths = parse_mask(request.args.get("updateMask"))
        if not paths:
            raise invalid("update_mask: Required field. Name the fields to change, e.g. updateMask=labels.")
        for path in paths:
            if path[0] not in PATCHABLE:
                raise invalid(f"Invalid update mask path '{'.'.join(path)}': the secret's {path[0]} cannot be updated.")
        if body.get("etag") and body["etag"] != stored["secret"]["etag"]:
            raise GoogleError(409, "The etag provided in the request does not match the current etag of the secret.",
                              "ABORTED")
        updated = apply_mask(stored["secret"], body, paths, maps=frozenset({"labels", "annotations", "versionAliases"}))
        if "labels" in updated:
            user_labels(updated["labels"], "secret.labels")
            if not updated["labels"]:
                del updated["labels"]
        updated["etag"] = _etag(time.time())
        stored["secret"] = updated
        return json_response(copy.deepcopy(updated))

    def delete(self, request, project, secret):
        stored = self._find(secret)
        given = request.args.get("etag")
        if given and given != stored["secret"]["etag"]:
            raise GoogleError(409, "The etag provided in the request does not match the current etag of the secret.",
                              "ABORTED")
        del self.secrets[secret]
        return json_response({})

    # -- versions -------------------------------------------------------------------------

    def add_version(self, request, project, secret):
        stored = self._find(secret)
        body = read_json(request)
        payload = body.get("payload")
        if not isinstance(payload, dict) or not payload.get("data"):
            raise invalid("Secret Version payload must not be empty: payload.data is required.")
        try:
            data = base64.b64decode(payload["data"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise invalid("Invalid value at 'payload.data' (TYPE_BYTES), Base64 decoding failed.") from None
        if len(data) > MAX_PAYLOAD:
            raise invalid(f"Secret payload is {len(data)} bytes; at most {MAX_PAYLOAD} are allowed.")
        given = payload.get("dataCrc32c")
        if given is not None:
            try:
                matches = int(given) == crc32c(data)
            except (TypeError, ValueError):
                raise invalid(f"Invalid value at 'payload.data_crc32c' (TYPE_INT64), \"{given}\"") from None
            if not matches:
                raise invalid("Checksum mismatch: payload.data_crc32c does not match the CRC32C of payload.data.")
        now = time.time()
        number = len(stored["versions"]) + 1
        version = {
            "name": f"{self._name(secret)}/versions/{number}",
            "createTime": rfc3339(now),
            "state": "ENABLED",
            "replicationStatus": {"automatic": {}} if "automatic" in stored["secret"]["replication"]
            else {"userManaged": {"replicas": [{"location": r.get("location")} for r in
                                               stored["secret"]["replication"]["userManaged"]["replicas"]]}},
            "etag": _etag(now),
            "clientSpecifiedPayloadChecksum": given is not None,
            "_data": data,
        }
        stored["versions"].append(version)
        return json_response(self._render_version(version))

    def list_versions(self, request, project, secret):
        stored = self._find(secret)
        # Newest first, as Secret Manager lists them.
        versions = [self._render_version(v) for v in reversed(stored["versions"])]
        return json_response(page(versions, request.args, "versions"))

    def get_version(self, request, project, secret, version):
        return json_response(self._render_version(self._version(secret, version)))

    def access(self, request, project, secret, version):
        found = self._version(secret, version)
        if found["state"] != "ENABLED":
            raise GoogleError(400, f"{found['name']} is in {found['state']} state.", "FAILED_PRECONDITION")
        data = found["_data"]
        return json_response({
            "name": found["name"],
            "payload": {"data": base64.b64encode(data).decode(), "dataCrc32c": str(crc32c(data))},
        })

    def set_version_state(self, request, project, secret, version, state):
        found = self._version(secret, version)
        if found["state"] == "DESTROYED":
            raise GoogleError(400, f"{found['name']} is in DESTROYED state.", "FAILED_PRECONDITION")
        found["state"] = state
        found["etag"] = _etag(time.time())
        if state == "DESTROYED":
            found["destroyTime"] = rfc3339(time.time())
            found["_data"] = b""
        return json_response(self._render_version(found))

    # -- IAM ---------------------------------------------------------------------------------

    def get_iam_policy(self, request, project, secret):
        stored = self._find(secret)
        iampolicy.check_requested_version(request.args, stored["policy"])
        return json_response(iampolicy.render(stored["policy"], versioned=False))

    def set_iam_policy(self, request, project, secret):
        body = read_json(request)
        stored = self._find(secret)
        stored["policy"] = iampolicy.replace(stored["policy"], body,
                                             example_role="roles/secretmanager.secretAccessor",
                                             member_allowed=lambda member: self.member_refusal(member, project),
                                             versioned=False)
        return json_response(iampolicy.render(stored["policy"], versioned=False))
