"""The failover domain: a Cloud Run domain mapping (Run v1, still "Beta" in the discovery document).

Mapped once to the replica's name and kept across failbacks, so its
certificate is issued long before an outage; until it is, the run.app URL
is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .cloudrun import MANAGED_LABEL, CloudRunService
from .errors import NotManaged, UpstreamError


@dataclass(frozen=True)
class DomainMapping:
    """A Cloud Run domain mapping (Run v1, still "Beta" in the discovery document)."""

    host: str
    route: str
    managed: bool
    conditions: dict = field(default_factory=dict)  # type -> {"status", "reason", "message"}
    records: list = field(default_factory=list)  # DNS records Google asks for

    @classmethod
    def from_json(cls, mapping: dict) -> "DomainMapping":
        meta = mapping.get("metadata") or {}
        status = mapping.get("status") or {}
        conditions = {
            c.get("type"): {"status": c.get("status"), "reason": c.get("reason"), "message": c.get("message")}
            for c in status.get("conditions") or [] if c.get("type")
        }
        return cls(host=meta.get("name", ""), route=(mapping.get("spec") or {}).get("routeName", ""),
                   managed=(meta.get("labels") or {}).get(MANAGED_LABEL[0]) == MANAGED_LABEL[1],
                   conditions=conditions, records=list(status.get("resourceRecords") or []))

    def condition(self, kind: str) -> str | None:
        return (self.conditions.get(kind) or {}).get("status")

    @property
    def certificate_ready(self) -> bool:
        # Ready stays False while the service does not exist (RouteMissing), which is
        # the normal state on standby. What decides whether visitors can be sent to
        # the domain is the certificate; that it keeps serving once the route appears
        # is not confirmed live, so the run.app URL is used until it is provisioned.
        return self.condition("CertificateProvisioned") == "True"


def domain_mapping_body(host: str, service: str, project: str) -> dict:
    return {
        "apiVersion": "domains.cloudrun.com/v1",
        "kind": "DomainMapping",
        "metadata": {"name": host, "namespace": project, "labels": {MANAGED_LABEL[0]: MANAGED_LABEL[1]}},
        "spec": {"routeName": service, "certificateMode": "AUTOMATIC"},
    }


class DomainMappings:
    """The failover domain: mapped once to the replica's name and kept across failbacks,
    so its certificate is issued long before an outage."""

    def __init__(self, run: CloudRunService):
        self.run = run
        self._mappings = run._client.projects().locations().domainmappings()

    def get(self, host: str) -> DomainMapping | None:
        try:
            found = self.run._execute(self._mappings.get(name=f"{self.run.parent}/domainmappings/{host}"),
                                      "get domain mapping")
        except UpstreamError as exc:
            if exc.status_code == 404:
                return None
            raise
        return DomainMapping.from_json(found)

    def ensure(self, host: str) -> tuple[DomainMapping, bool]:
        """The mapping of ``host`` to the replica's name, created if missing. (mapping, created)"""
        found = self.get(host)
        if found is None:
            body = domain_mapping_body(host, self.run.name, self.run.project)
            try:
                created = self.run._execute(self._mappings.create(parent=self.run.parent, body=body),
                                            "create domain mapping")
                return DomainMapping.from_json(created), True
            except UpstreamError as exc:
                if exc.status_code != 409:
                    raise
                found = self.get(host)
                if found is None:
                    raise
        if found.route != self.run.name:
            raise NotManaged(f"the domain mapping for {host} routes to {found.route!r}, not to the replica "
                             f"{self.run.name!r}; switch leaves it untouched")
        return found, False
