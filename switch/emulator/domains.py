"""Cloud Run v1 domain mappings (``projects.locations.domainmappings``).

A mapping is independent of its service: it can be created before the
service exists and survives the service's deletion, reporting RouteMissing
until a service of that name is there again. The certificate is provisioned
``cert_delay`` seconds after creation (on Google: 15 minutes to hours).
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from dataclasses import dataclass

from . import knative
from .google import GoogleApi, GoogleError, invalid, json_response, read_json, rfc3339
from .routing import route
from .run import REGION, RunApi, resource_version

HOSTNAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAPPINGS = "v1/projects/{project}/locations/{region}/domainmappings"
CERTIFICATE_MODES = {"AUTOMATIC", "NONE"}


@dataclass
class Mapping:
    body: dict  # as GET shows it, minus status
    cert_at: float | None  # when the certificate is provisioned; None = no certificate wanted


class DomainMappingsApi(GoogleApi):
    prefix = "v1/"

    def __init__(self, run: RunApi, cert_delay: float):
        self.run = run
        self.cert_delay = cert_delay
        self.stored: dict[tuple[str, str], dict[str, Mapping]] = {}
        self.routes = [
            route("POST", MAPPINGS, self.create, region=REGION),
            route("GET", MAPPINGS, self.list, region=REGION),
            route("GET", MAPPINGS + "/{name}", self.get, region=REGION),
            route("DELETE", MAPPINGS + "/{name}", self.delete, region=REGION),
        ]

    def render(self, project: str, region: str, mapping: Mapping, now: float) -> dict:
        body = copy.deepcopy(mapping.body)
        host = body["metadata"]["name"]
        route_name = body["spec"]["routeName"]
        since = body["metadata"]["creationTimestamp"]
        ready = {"status": "True", "lastTransitionTime": since}
        conditions = []
        if mapping.cert_at is not None:
            if now >= mapping.cert_at:
                ready = cert = {"status": "True", "lastTransitionTime": rfc3339(mapping.cert_at)}
            else:
                ready = cert = {
                    "status": "Unknown",
                    "reason": "CertificatePending",
                    "message": "Waiting for certificate provisioning. You must configure your DNS records for "
                    "certificate issuance to begin.",
                    "lastTransitionTime": since,
                }
            conditions.append({"type": "CertificateProvisioned", **cert})
        if self.run.find(project, region, route_name) is not None:
            conditions.append({"type": "DomainRoutable", "status": "True", "lastTransitionTime": since})
        else:
            ready = {"status": "False", "reason": "RouteMissing", "message": f"Route '{route_name}' does not exist.",
                     "lastTransitionTime": since}
            conditions.append({"type": "DomainRoutable", **ready})
        body["status"] = {
            "observedGeneration": 1,
            "conditions": [{"type": "Ready", **ready}, *conditions],
            "mappedRouteName": route_name,
            # A subdomain gets a CNAME to Google; the record name is relative to the zone.
            "resourceRecords": [{"name": host.split(".")[0], "type": "CNAME", "rrdata": "ghs.googlehosted.com."}],
            "url": f"https://{host}",
        }
        return body

    def _require(self, project, region, name) -> Mapping:
        mapping = self.stored.get((project, region), {}).get(name)
        if mapping is None:
            raise GoogleError(
                404, f"Resource '{name}' of kind 'DOMAIN_MAPPING' in region '{region}' in project '{project}' does not exist.", "NOT_FOUND"
            )
        return mapping

    def create(self, request, project, region):
        body = read_json(request)
        knative.check_header(body, "domains.cloudrun.com/v1", "DomainMapping")
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        host = metadata.get("name")
        if not isinstance(host, str) or not HOSTNAME.match(host):
            raise invalid(f"metadata.name: '{host}' is not a valid domain name.")
        knative.check_namespace(metadata, project, self.run.project_number)
        knative.check_labels(metadata.get("labels"), "metadata.labels", knative.SERVER_LABELS)
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        knative.check_name(spec.get("routeName"))
        mode = spec.get("certificateMode", "AUTOMATIC")
        if mode not in CERTIFICATE_MODES:
            raise invalid(f"spec.certificateMode: must be one of {sorted(CERTIFICATE_MODES)}, got '{mode}'.")
        if host in self.stored.get((project, region), {}):
            raise GoogleError(409, f"Resource '{host}' already exists.", "ALREADY_EXISTS")
        now = time.time()
        labels, annotations = knative.user_metadata(metadata, knative.SERVER_LABELS, knative.SERVER_ANNOTATIONS)
        number = self.run.project_number
        mapping = Mapping(
            body={
                "apiVersion": "domains.cloudrun.com/v1",
                "kind": "DomainMapping",
                "metadata": {
                    "name": host,
                    "namespace": number,
                    "selfLink": f"/apis/domains.cloudrun.com/v1/namespaces/{number}/domainmappings/{host}",
                    "uid": str(uuid.uuid4()),
                    "resourceVersion": resource_version(now),
                    "generation": 1,
                    "creationTimestamp": rfc3339(now),
                    "labels": {**labels, "cloud.googleapis.com/location": region},
                    "annotations": {**annotations, "serving.knative.dev/creator": f"emulator@{project}.iam.gserviceaccount.com"},
                },
                "spec": {**spec, "certificateMode": mode},
            },
            cert_at=now + self.cert_delay if mode == "AUTOMATIC" else None,
        )
        if request.args.get("dryRun") != "all":
            self.stored.setdefault((project, region), {})[host] = mapping
        return json_response(self.render(project, region, mapping, now))

    def list(self, request, project, region):
        now = time.time()
        objects = {n: self.render(project, region, m, now) for n, m in self.stored.get((project, region), {}).items()}
        link = f"/apis/domains.cloudrun.com/v1/namespaces/{self.run.project_number}/domainmappings"
        return json_response(knative.list_page("DomainMapping", link, objects, request.args))

    def get(self, request, project, region, name):
        return json_response(self.render(project, region, self._require(project, region, name), time.time()))

    def delete(self, request, project, region, name):
        mapping = self._require(project, region, name)
        if request.args.get("dryRun") != "all":
            del self.stored[(project, region)][name]
        return json_response(
            {
                "apiVersion": "v1",
                "kind": "Status",
                "status": "Success",
                "details": {"name": name, "kind": "domainmappings", "uid": mapping.body["metadata"]["uid"]},
            }
        )
