"""IAM API v1, ``projects.serviceAccounts``: create, get, list, patch, delete and their IAM policy.

An account is ``projects/P/serviceAccounts/ID@P.iam.gserviceaccount.com``;
Google also finds it as ``projects/-/serviceAccounts/EMAIL`` or by its
uniqueId, and so does the emulator. The Compute Engine default account
(``NUMBER-compute@developer.gserviceaccount.com``) exists in every project
without being created, as it does once the Compute API is on.

Other emulated APIs ask ``exists(email)`` (is a function's runtime account
real?) and ``refusal(member, project)`` (may a policy name this member?).

Inferred, not confirmed against Google: the exact wording of the 400 for a
bad accountId; what a patch without ``updateMask`` answers. Deleting an
account leaves the bindings that name it as they are (Google rewrites them to
``deleted:serviceAccount:...?uid=``). Not thread-safe by itself; the server
calls it under one lock.
"""

from __future__ import annotations

import copy
import random
import re

from . import iampolicy
from .google import GoogleApi, GoogleError, invalid, json_response, read_json
from .protojson import camel, page
from .routing import route

ACCOUNTS = "v1/projects/{project}/serviceAccounts"
ACCOUNT_ID = re.compile(r"^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$")
# IAM answers this etag on every account; it is base64 of "01021920".
ACCOUNT_ETAG = "MDEwMjE5MjA="
PATCHABLE = {"displayName", "description"}


def project_domain(email: str) -> str | None:
    """The project ID of a user-managed account's email, or None for Google-managed ones.

    Service agents share the domain's shape (``service-NUMBER@gcf-admin-robot.iam.gserviceaccount.com``)
    but belong to Google, and exist whether or not the emulator made them.
    """
    m = re.match(r"^([^@]+)@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$", email)
    if not m or re.match(r"^service-\d+$", m.group(1)):
        return None
    return m.group(2)


class ServiceAccountsApi(GoogleApi):
    prefix = "v1/"

    def __init__(self, project_number: str):
        self.project_number = project_number
        self.accounts: dict[str, dict] = {}  # email -> the account as GET shows it
        self.policies: dict[str, dict] = {}  # email -> its IAM policy (who may act as it)
        one = ACCOUNTS + "/{account}"
        self.routes = [
            route("POST", ACCOUNTS, self.create),
            route("GET", ACCOUNTS, self.list),
            route("GET", one, self.get),
            route("PATCH", one, self.patch),
            route("DELETE", one, self.delete),
            route("POST", one + ":getIamPolicy", self.get_iam_policy),
            route("POST", one + ":setIamPolicy", self.set_iam_policy),
        ]

    # -- what other APIs ask --------------------------------------------------------

    @property
    def compute_default(self) -> str:
        return f"{self.project_number}-compute@developer.gserviceaccount.com"

    def exists(self, email: str) -> bool:
        return email in self.accounts or email == self.compute_default

    def refusal(self, member: str, project: str | None = None) -> str | None:
        """Why a policy of ``project`` may not name ``member``: one of its own accounts that does not exist.

        Accounts of other projects are not looked up (the emulator has no other projects to look in).
        """
        kind, _, email = member.partition(":")
        domain = project_domain(email) if kind == "serviceAccount" else None
        if domain and domain == (project or domain) and not self.exists(email):
            return f"Service account {email} does not exist."
        return None

    def add(self, project: str, account_id: str, display_name: str = "", description: str = "") -> dict:
        """Create an account (control call); an existing one is kept."""
        email = f"{account_id}@{project}.iam.gserviceaccount.com"
        if email not in self.accounts:
            unique = str(random.randrange(10**20, 10**21))
            account = {
                "name": f"projects/{project}/serviceAccounts/{email}",
                "projectId": project,
                "uniqueId": unique,
                "email": email,
                "displayName": display_name,
                "etag": ACCOUNT_ETAG,
                "description": description,
                "oauth2ClientId": unique,
            }
            self.accounts[email] = {k: v for k, v in account.items() if v != ""}
        return copy.deepcopy(self.accounts[email])

    def snapshot(self) -> dict:
        return {email: {**copy.deepcopy(a), "iamPolicy": iampolicy.render(self.policies.get(email))}
                for email, a in sorted(self.accounts.items())}

    # -- reading ------------------------------------------------------------------

    def _default_account(self, project: str) -> dict:
        unique = str(10**20 + int(self.project_number))
        return {
            "name": f"projects/{project}/serviceAccounts/{self.compute_default}",
            "projectId": project,
            "uniqueId": unique,
            "email": self.compute_default,
            "displayName": "Compute Engine default service account",
            "etag": ACCOUNT_ETAG,
            "oauth2ClientId": unique,
        }

    def _find(self, project: str, account: str) -> dict:
        """The account named by email or uniqueId, under its project or ``-``."""
        if account == self.compute_default:
            return self._default_account(project if project != "-" else self.project_number)
        found = self.accounts.get(account) or next(
            (a for a in self.accounts.values() if a["uniqueId"] == account), None)
        if found is None or project not in ("-", found["projectId"]):
            raise GoogleError(404, "Unknown service account", "NOT_FOUND")  # IAM's words, nothing more
        return found

    # -- methods --------------------------------------------------------------------

    def create(self, request, project):
        body = read_json(request)
        unknown = set(body) - {"accountId", "serviceAccount"}
        if unknown:
            raise invalid(f"Invalid JSON payload received. Unknown name \"{sorted(unknown)[0]}\": Cannot find field.")
        account_id = body.get("accountId")
        if not isinstance(account_id, str) or not account_id:
            raise invalid("Invalid value for field 'accountId': ''. Account ID must be between 6 and 30 characters.")
        if not 6 <= len(account_id) <= 30:
            raise invalid(f"Invalid value for field 'accountId': '{account_id}'. "
                          "Account ID must be between 6 and 30 characters.")
        if not ACCOUNT_ID.match(account_id):
            raise invalid(f"Invalid value for field 'accountId': '{account_id}'. Account ID must start with a "
                          "lower case letter, followed by one or more lower case alphanumerical characters that can "
                          "be separated by hyphens.")
        fields = body.get("serviceAccount") or {}
        if not isinstance(fields, dict):
            raise invalid("Invalid value at 'service_account': expected an object.")
        display, description = self._texts(fields)
        if f"{account_id}@{project}.iam.gserviceaccount.com" in self.accounts:
            raise GoogleError(409, f"Service account {account_id} already exists within project projects/{project}.",
                              "ALREADY_EXISTS")
        return json_response(self.add(project, account_id, display, description))

    @staticmethod
    def _texts(fields: dict) -> tuple[str, str]:
        display, description = fields.get("displayName", ""), fields.get("description", "")
        if not isinstance(display, str) or len(display) > 100:
            raise invalid("Invalid value for field 'displayName': it must be at most 100 characters.")
        if not isinstance(description, str) or len(description) > 256:
            raise invalid("Invalid value for field 'description': it must be at most 256 characters.")
        return display, description

    def list(self, request, project):
        accounts = [self._default_account(project)] if project != "-" else []
        accounts += [copy.deepcopy(a) for a in self.accounts.values() if project in ("-", a["projectId"])]
        accounts.sort(key=lambda a: a["email"])
        return json_response(page(accounts, request.args, "accounts", total=False))

    def get(self, request, project, account):
        return json_response(copy.deepcopy(self._find(project, account)))

    def patch(self, request, project, account):
        # IAM's patch carries its mask in the body, beside the account: {serviceAccount, updateMask}.
        body = read_json(request)
        fields = body.get("serviceAccount")
        if not isinstance(fields, dict):
            raise invalid("Invalid value at 'service_account': expected an object.")
        mask = [camel(p.strip()) for p in str(body.get("updateMask") or "").split(",") if p.strip()]
        if not mask:
            raise invalid("update_mask: Required field. Name the fields to change, e.g. \"displayName,description\".")
        wrong = [p for p in mask if p not in PATCHABLE]
        if wrong:
            raise invalid(f"Invalid update mask path '{wrong[0]}': only displayName and description can be patched.")
        found = self._find(project, account)
        if found["email"] == self.compute_default:
            raise invalid("The Compute Engine default service account cannot be patched in the emulator.")
        display, description = self._texts(fields)
        for key in mask:
            value = display if key == "displayName" else description
            if value:
                found[key] = value
            else:
                found.pop(key, None)
        return json_response(copy.deepcopy(found))

    def delete(self, request, project, account):
        found = self._find(project, account)
        if found["email"] == self.compute_default:
            raise invalid("The emulator keeps the Compute Engine default service account.")
        del self.accounts[found["email"]]
        self.policies.pop(found["email"], None)
        return json_response({})

    # -- IAM on the account (who may act as it) -----------------------------------

    def get_iam_policy(self, request, project, account):
        found = self._find(project, account)
        return json_response(iampolicy.render(self.policies.get(found["email"]), versioned=False))

    def set_iam_policy(self, request, project, account):
        body = read_json(request)
        found = self._find(project, account)
        email = found["email"]
        self.policies[email] = iampolicy.replace(self.policies.get(email), body,
                                                 example_role="roles/iam.serviceAccountUser",
                                                 member_allowed=lambda m: self.refusal(m, project),
                                                 versioned=False)
        return json_response(iampolicy.render(self.policies[email], versioned=False))
