"""``projects.uptimeCheckConfigs``: list/get/create/patch/delete, validated like Monitoring.

Only some fields can be updated (UpdateUptimeCheckConfigRequest); a check an
alert policy still uses cannot be deleted.
"""

from __future__ import annotations

import copy
import random
import re
import string

from ..google import GoogleError, invalid, json_response, read_json
from ..protojson import (
    apply_mask,
    duration,
    format_duration,
    one_of,
    parse_mask,
    user_labels,
)
from ..validate import bool_field, list_field, object_field, text_field
from .channels import REDACTED

PERIODS = {60, 300, 600, 900}
# Checker locations behind each region; a check needs at least three.
REGION_LOCATIONS = {
    "USA": {"usa-oregon", "usa-iowa", "usa-virginia"},
    "USA_OREGON": {"usa-oregon"},
    "USA_IOWA": {"usa-iowa"},
    "USA_VIRGINIA": {"usa-virginia"},
    "EUROPE": {"europe"},
    "SOUTH_AMERICA": {"south-america"},
    "ASIA_PACIFIC": {"asia-pacific"},
}
RESOURCE_TYPES = {"uptime_url", "gce_instance", "gae_app", "aws_ec2_instance", "aws_elb_load_balancer",
                  "k8s_service", "servicedirectory_service", "cloud_run_revision"}
# UpdateUptimeCheckConfigRequest documents display_name, http_check, tcp_check,
# timeout, content_matchers and selected_regions (and user labels). `period` is
# not in that list, but config-connector recorded the real API accepting
# "period" in an update mask and changing it, so it is updatable here too.
CHECK_UPDATABLE = {"displayName", "httpCheck", "tcpCheck", "timeout", "contentMatchers", "selectedRegions",
                   "userLabels", "period"}
CHECK_FIELDS = ("displayName", "monitoredResource", "resourceGroup", "syntheticMonitor", "httpCheck", "tcpCheck",
                "period", "timeout", "contentMatchers", "checkerType", "selectedRegions", "isInternal",
                "internalCheckers", "userLabels", "disabled", "logCheckFailures")
# Plain proto3 bools: false is the default and is left out of the JSON.
CHECK_BOOLS = ("isInternal", "disabled", "logCheckFailures")
HTTP_BOOLS = ("useSsl", "validateSsl", "maskHeaders")

CHECK_REFERENCE = re.compile(r'check_id\s*=\s*\\?"([^"\\]+)\\?"')


class ChecksMixin:
    """The uptime checks of MonitoringApi (state lives there)."""

    def _check(self, project: str, cid: str) -> dict:
        found = self.checks.get(f"projects/{project}/uptimeCheckConfigs/{cid}")
        if found is None:
            # Google's wording, as config-connector recorded it.
            raise GoogleError(404, f"Config not found for check {cid} in project {project}", "NOT_FOUND")
        return found

    @staticmethod
    def _render_check(check: dict) -> dict:
        shown = copy.deepcopy(check)
        http = shown.get("httpCheck")
        if http:
            if (http.get("authInfo") or {}).get("password"):
                http["authInfo"]["password"] = REDACTED  # as recorded from the real API
            if http.get("maskHeaders") and http.get("headers"):
                http["headers"] = {k: REDACTED for k in http["headers"]}
            for key in HTTP_BOOLS:
                if http.get(key) is False:
                    del http[key]
        for key in CHECK_BOOLS:
            if shown.get(key) is False:
                del shown[key]
        return shown

    def _validate_check(self, body: dict) -> dict:
        unknown = set(body) - set(CHECK_FIELDS) - {"name"}
        if unknown:
            raise invalid(f"Invalid JSON payload received. Unknown name \"{sorted(unknown)[0]}\" at "
                          "'uptime_check_config': Cannot find field.")
        check = {k: copy.deepcopy(body[k]) for k in CHECK_FIELDS if body.get(k) is not None}
        check["displayName"] = text_field(body.get("displayName"), "uptime_check_config.display_name", 512,
                                       required=True)
        target = one_of(body, ("monitoredResource", "resourceGroup", "syntheticMonitor"), "uptime_check_config")
        if target == "monitoredResource":
            resource = object_field(body["monitoredResource"], "uptime_check_config.monitored_resource")
            if resource.get("type") not in RESOURCE_TYPES:
                raise invalid(f"Field uptime_check_config.monitored_resource.type had an invalid value of "
                              f"\"{resource.get('type')}\"; uptime checks take {', '.join(sorted(RESOURCE_TYPES))}.")
            labels = object_field(resource.get("labels"), "uptime_check_config.monitored_resource.labels")
            if resource["type"] == "uptime_url":
                for key in ("host", "project_id"):
                    if not labels.get(key):
                        raise invalid(f"uptime_url check is missing the '{key}' label.")
                host = labels["host"]
                if "/" in host:
                    # Google's words (GoogleCloudPlatform/oss-test-infra#1241).
                    raise invalid("A host name should not contain '/'. Consider moving everything following the "
                                  "first '/' to the 'path' field.; uptime_url check has malformed host")
                if ":" in host or not re.match(r"^[A-Za-z0-9.-]+$", host):
                    raise invalid(f"uptime_url check has malformed host '{host}'.")
        if target != "syntheticMonitor":
            kind = one_of(body, ("httpCheck", "tcpCheck"), "uptime_check_config")
            if kind == "httpCheck":
                check["httpCheck"] = self._validate_http(object_field(body["httpCheck"], "uptime_check_config.http_check"))
            else:
                tcp = object_field(body["tcpCheck"], "uptime_check_config.tcp_check")
                port = tcp.get("port")
                if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
                    raise invalid("Field uptime_check_config.tcp_check.port must be between 1 and 65535.")
        period = duration(body.get("period", "60s"), "uptime_check_config.period")
        if period not in PERIODS:
            raise invalid(f"Field uptime_check_config.period had an invalid value of \"{body.get('period')}\": "
                          "the period must be 60s, 300s, 600s or 900s.")
        check["period"] = format_duration(period)
        if body.get("timeout") is None:
            raise invalid("Field uptime_check_config.timeout is required.")
        timeout = duration(body["timeout"], "uptime_check_config.timeout")
        if not 1 <= timeout <= 60:
            raise invalid(f"Field uptime_check_config.timeout had an invalid value of \"{body['timeout']}\": "
                          "the timeout must be between 1 and 60 seconds.")
        check["timeout"] = format_duration(timeout)
        regions = list_field(body.get("selectedRegions"), "uptime_check_config.selected_regions")
        if regions:
            locations: set[str] = set()
            for region in regions:
                if region not in REGION_LOCATIONS:
                    raise invalid(f"Invalid value at 'uptime_check_config.selected_regions' "
                                  f"(type.googleapis.com/google.monitoring.v3.UptimeCheckRegion), \"{region}\"")
                locations |= REGION_LOCATIONS[region]
            if len(locations) < 3:
                # Wording not confirmed; the rule is the discovery document's.
                raise invalid(f"The selected regions {', '.join(regions)} include {len(locations)} checker "
                              "location(s); an uptime check needs at least 3 (USA alone counts as 3).")
        for i, matcher in enumerate(list_field(body.get("contentMatchers"), "uptime_check_config.content_matchers")):
            if not isinstance(matcher, dict) or not isinstance(matcher.get("content"), str):
                raise invalid(f"Field uptime_check_config.content_matchers[{i}].content is required.")
        check["userLabels"] = user_labels(body.get("userLabels"), "uptime_check_config.user_labels")
        for key in CHECK_BOOLS:
            bool_field(body.get(key), f"uptime_check_config.{key}")
        check.setdefault("checkerType", "STATIC_IP_CHECKERS")
        return {k: v for k, v in check.items() if v not in ({}, [], "")}

    @staticmethod
    def _validate_http(http: dict) -> dict:
        http = copy.deepcopy(http)
        method = http.get("requestMethod", "GET")
        if method not in ("METHOD_UNSPECIFIED", "GET", "POST"):
            raise invalid(f"Invalid value at 'uptime_check_config.http_check.request_method' "
                          f"(type.googleapis.com/google.monitoring.v3.UptimeCheckConfig.HttpCheck.RequestMethod), "
                          f"\"{method}\"")
        path = text_field(http.get("path"), "uptime_check_config.http_check.path") or "/"
        # Documented: "If the provided path does not begin with "/", a "/" will be prepended automatically."
        http["path"] = path if path.startswith("/") else "/" + path
        port = http.get("port")
        if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
            raise invalid("Field uptime_check_config.http_check.port must be between 1 and 65535.")
        for key in HTTP_BOOLS:
            bool_field(http.get(key), f"uptime_check_config.http_check.{key}")
        if http.get("body") and method in ("GET", "METHOD_UNSPECIFIED"):
            raise invalid("An uptime check with request_method GET must not have a body.")
        headers = object_field(http.get("headers"), "uptime_check_config.http_check.headers")
        if any(not isinstance(v, str) for v in headers.values()):
            raise invalid("Field uptime_check_config.http_check.headers takes string values.")
        return http

    @staticmethod
    def _check_id(display_name: str) -> str:
        # Inferred, not confirmed: the id is the display name made URL-safe plus a random suffix.
        slug = re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-")[:60].strip("-") or "uptime-check"
        return f"{slug}-{''.join(random.choices(string.ascii_lowercase + string.digits, k=10))}"

    def list_checks(self, request, project):
        return json_response(self._list_items(request, project, self.checks, "uptimeCheckConfigs", self._render_check))

    def get_check(self, request, project, cid):
        return json_response(self._render_check(self._check(project, cid)))

    def create_check(self, request, project):
        check = self._validate_check(read_json(request))
        check["name"] = f"projects/{project}/uptimeCheckConfigs/{self._check_id(check['displayName'])}"
        self.checks[check["name"]] = check
        return json_response(self._render_check(check))

    def patch_check(self, request, project, cid):
        stored = self._check(project, cid)
        body = read_json(request)
        paths = parse_mask(request.args.get("updateMask"))
        if paths:
            for path in paths:
                if path[0] not in CHECK_UPDATABLE:
                    # Wording not confirmed.
                    raise invalid(f"Field '{'.'.join(path)}' of an uptime check cannot be updated; updatable: "
                                  f"{', '.join(sorted(CHECK_UPDATABLE))}.")
            updated = apply_mask(stored, body, paths, maps=frozenset({"userLabels", "headers"}))
        else:
            # No mask: "the current configuration is completely replaced with the new configuration",
            # which may not move the check to another resource.
            updated = {k: v for k, v in body.items() if k != "name"}
            for key in ("monitoredResource", "resourceGroup", "syntheticMonitor", "checkerType"):
                given = updated.get(key, stored.get(key) if key == "checkerType" else None)
                if given != stored.get(key):
                    raise invalid(f"Field '{key}' of an uptime check cannot be updated.")
        check = self._validate_check({k: v for k, v in updated.items() if k != "name"})
        check["name"] = stored["name"]
        self.checks[stored["name"]] = check
        return json_response(self._render_check(check))

    def delete_check(self, request, project, cid):
        stored = self._check(project, cid)
        users = [p["name"] for p in self.policies.values() if cid in self._checks_named_by(p)]
        if users:
            # Google answers 400 here (terraform-provider-google#10176, magic-modules#9429); wording not confirmed.
            raise GoogleError(400, f"Cannot delete check {cid}. One or more alerting policies is using it: "
                                   f"{', '.join(users)}.", "FAILED_PRECONDITION")
        del self.checks[stored["name"]]
        return json_response({})

    @staticmethod
    def _checks_named_by(policy: dict) -> set[str]:
        ids = set()
        for condition in policy.get("conditions") or []:
            for kind in ("conditionThreshold", "conditionAbsent"):
                ids.update(CHECK_REFERENCE.findall((condition.get(kind) or {}).get("filter", "")))
        return ids
