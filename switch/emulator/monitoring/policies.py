"""``projects.alertPolicies``: list/get/create/patch/delete, validated like Monitoring.

Conditions are named by the server and keep their names when sent back; a
policy may only name channels that exist.
"""

from __future__ import annotations

import copy
import time

from ..google import GoogleError, invalid, json_response, read_json, rfc3339
from ..protojson import apply_mask, duration, one_of, parse_mask, user_labels
from ..store import numeric_id
from ..validate import bool_field, list_field, object_field, text_field
from .channels import CHANNEL_NAME

POLICY_FIELDS = ("displayName", "documentation", "userLabels", "conditions", "combiner", "enabled",
                 "notificationChannels", "alertStrategy", "severity")
CONDITION_KINDS = ("conditionThreshold", "conditionAbsent", "conditionMatchedLog",
                   "conditionMonitoringQueryLanguage", "conditionPrometheusQueryLanguage", "conditionSql")
COMBINERS = {"COMBINE_UNSPECIFIED", "AND", "OR", "AND_WITH_MATCHING_RESOURCE"}
SEVERITIES = {"SEVERITY_UNSPECIFIED", "CRITICAL", "ERROR", "WARNING"}
COMPARISONS = {"COMPARISON_GT", "COMPARISON_LT"}  # "Only COMPARISON_LT and COMPARISON_GT are supported currently."
ALIGNERS = {"ALIGN_NONE", "ALIGN_DELTA", "ALIGN_RATE", "ALIGN_INTERPOLATE", "ALIGN_NEXT_OLDER", "ALIGN_MIN",
            "ALIGN_MAX", "ALIGN_MEAN", "ALIGN_COUNT", "ALIGN_SUM", "ALIGN_STDDEV", "ALIGN_COUNT_TRUE",
            "ALIGN_COUNT_FALSE", "ALIGN_FRACTION_TRUE", "ALIGN_PERCENTILE_99", "ALIGN_PERCENTILE_95",
            "ALIGN_PERCENTILE_50", "ALIGN_PERCENTILE_05", "ALIGN_PERCENT_CHANGE"}
REDUCERS = {"REDUCE_NONE", "REDUCE_MEAN", "REDUCE_MIN", "REDUCE_MAX", "REDUCE_SUM", "REDUCE_STDDEV",
            "REDUCE_COUNT", "REDUCE_COUNT_TRUE", "REDUCE_COUNT_FALSE", "REDUCE_FRACTION_TRUE",
            "REDUCE_PERCENTILE_99", "REDUCE_PERCENTILE_95", "REDUCE_PERCENTILE_50", "REDUCE_PERCENTILE_05"}
PROMPTS = {"OPENED", "CLOSED"}
# Not confirmed: policies read back with a 7-day autoClose when none was given
# (the console's default); clients must cope with fields they did not send.
DEFAULT_AUTO_CLOSE = "604800s"


class PoliciesMixin:
    """The alert policies of MonitoringApi (state lives there)."""

    def _policy(self, project: str, pid: str) -> dict:
        name = f"projects/{project}/alertPolicies/{pid}"
        found = self.policies.get(name)
        if found is None:
            # Wording not confirmed.
            raise GoogleError(404, f"Could not find alert policy '{name}'.", "NOT_FOUND")
        return found

    def _validate_policy(self, body: dict, project: str) -> dict:
        unknown = set(body) - set(POLICY_FIELDS) - {"name", "creationRecord", "mutationRecord", "validity"}
        if unknown:
            raise invalid(f"Invalid JSON payload received. Unknown name \"{sorted(unknown)[0]}\" at "
                          "'alert_policy': Cannot find field.")
        policy = {k: copy.deepcopy(body[k]) for k in POLICY_FIELDS if body.get(k) is not None}
        policy["displayName"] = text_field(body.get("displayName"), "alert_policy.display_name", 512, required=True)
        conditions = list_field(body.get("conditions"), "alert_policy.conditions")
        if not 1 <= len(conditions) <= 6:
            raise invalid(f"An alerting policy must have between 1 and 6 conditions; got {len(conditions)}.")
        for i, condition in enumerate(conditions):
            self._validate_condition(object_field(condition, f"alert_policy.conditions[{i}]"),
                                     f"alert_policy.conditions[{i}]")
        combiner = body.get("combiner", "COMBINE_UNSPECIFIED")
        if combiner not in COMBINERS:
            raise invalid(f"Invalid value at 'alert_policy.combiner' "
                          f"(type.googleapis.com/google.monitoring.v3.AlertPolicy.ConditionCombinerType), \"{combiner}\"")
        if len(conditions) > 1 and combiner == "COMBINE_UNSPECIFIED":
            raise invalid("An alerting policy with more than one condition must have a combiner: AND, OR or "
                          "AND_WITH_MATCHING_RESOURCE.")
        if body.get("severity", "SEVERITY_UNSPECIFIED") not in SEVERITIES:
            raise invalid(f"Invalid value at 'alert_policy.severity' "
                          f"(type.googleapis.com/google.monitoring.v3.AlertPolicy.Severity), \"{body['severity']}\"")
        bool_field(body.get("enabled"), "alert_policy.enabled")
        policy["enabled"] = body.get("enabled", True)  # a BoolValue: written unset means enabled
        for channel in list_field(body.get("notificationChannels"), "alert_policy.notification_channels"):
            if not isinstance(channel, str) or not CHANNEL_NAME.match(channel):
                # Google's words (crossplane-contrib/provider-upjet-gcp#498).
                raise invalid(f"Name must begin with 'projects/{{project_id}}/notificationChannels/{{channel_id}}', "
                              f"got: {channel}")
            if channel not in self.channels:
                # Google refuses a channel that does not exist; status and wording not confirmed.
                raise invalid(f"Notification channel '{channel}' does not exist.")
        documentation = object_field(body.get("documentation"), "alert_policy.documentation")
        if documentation:
            content = text_field(documentation.get("content"), "alert_policy.documentation.content")
            if len(content) > 8192 or len(content.encode()) > 10240:
                raise invalid("Field alert_policy.documentation.content may not exceed 8,192 characters or 10,240 "
                              "bytes.")
            if documentation.get("mimeType", "text/markdown") != "text/markdown":
                raise invalid(f"Field alert_policy.documentation.mime_type had an invalid value of "
                              f"\"{documentation['mimeType']}\": only text/markdown is supported.")
            if len(list_field(documentation.get("links"), "alert_policy.documentation.links")) > 3:
                raise invalid("Field alert_policy.documentation.links can contain up to 3 entries.")
        strategy = object_field(body.get("alertStrategy"), "alert_policy.alert_strategy")
        for prompt in list_field(strategy.get("notificationPrompts"), "alert_policy.alert_strategy.notification_prompts"):
            if prompt not in PROMPTS:
                raise invalid(f"Invalid value at 'alert_policy.alert_strategy.notification_prompts' "
                              f"(type.googleapis.com/google.monitoring.v3.AlertPolicy.AlertStrategy."
                              f"NotificationPrompt), \"{prompt}\"")
        if "autoClose" in strategy:
            duration(strategy["autoClose"], "alert_policy.alert_strategy.auto_close")
        if any("conditionThreshold" in c or "conditionAbsent" in c for c in conditions):
            policy["alertStrategy"] = {"autoClose": DEFAULT_AUTO_CLOSE, **strategy}
        policy["userLabels"] = user_labels(body.get("userLabels"), "alert_policy.user_labels")
        return {k: v for k, v in policy.items() if v not in ({}, [], "")}

    @staticmethod
    def _validate_condition(condition: dict, where: str) -> None:
        kind = one_of(condition, CONDITION_KINDS, where)
        spec = object_field(condition[kind], f"{where}.{kind}")
        if kind not in ("conditionThreshold", "conditionAbsent"):
            return  # accepted as given: switch uses threshold conditions only
        snake = "condition_threshold" if kind == "conditionThreshold" else "condition_absent"
        at = f"{where}.{snake}"
        metric_filter = text_field(spec.get("filter"), f"{at}.filter")
        if not metric_filter:
            raise invalid(f"Field {at}.filter is required.")
        if "metric.type" not in metric_filter:
            # Inferred: a condition's filter must select a metric type.
            raise invalid(f"Field {at}.filter had an invalid value of \"{metric_filter}\": the filter must "
                          "specify a metric type, such as metric.type=\"...\".")
        if spec.get("duration") is None:
            raise invalid(f"Field {at}.duration is required.")
        seconds = duration(spec["duration"], f"{at}.duration")
        if seconds < 0 or seconds % 60:
            raise invalid(f"Field {at}.duration had an invalid value of \"{spec['duration']}\": only multiples of "
                          "a minute (0s, 60s, 120s, ...) are supported.")
        for i, aggregation in enumerate(list_field(spec.get("aggregations"), f"{at}.aggregations")):
            aggregation = object_field(aggregation, f"{at}.aggregations[{i}]")
            if aggregation.get("alignmentPeriod") is not None:
                period = duration(aggregation["alignmentPeriod"], f"{at}.aggregations[{i}].alignment_period")
                if period < 60:
                    raise invalid(f"Field {at}.aggregations[{i}].alignment_period had an invalid value of "
                                  f"\"{aggregation['alignmentPeriod']}\": it must be at least 60 seconds.")
            if aggregation.get("perSeriesAligner", "ALIGN_NONE") not in ALIGNERS:
                raise invalid(f"Invalid value at '{at}.aggregations[{i}].per_series_aligner', "
                              f"\"{aggregation['perSeriesAligner']}\"")
            if aggregation.get("crossSeriesReducer", "REDUCE_NONE") not in REDUCERS:
                raise invalid(f"Invalid value at '{at}.aggregations[{i}].cross_series_reducer', "
                              f"\"{aggregation['crossSeriesReducer']}\"")
        if kind == "conditionThreshold":
            if spec.get("comparison") not in COMPARISONS:
                raise invalid(f"Field {at}.comparison had an invalid value of \"{spec.get('comparison')}\": only "
                              "COMPARISON_GT and COMPARISON_LT are supported.")
            threshold = spec.get("thresholdValue")
            if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
                raise invalid(f"Invalid value at '{at}.threshold_value' (TYPE_DOUBLE), \"{threshold}\"")
            if spec.get("evaluationMissingData") and seconds < 60:
                raise invalid(f"Field {at}.evaluation_missing_data needs a duration of at least 60 seconds.")
        trigger = object_field(spec.get("trigger"), f"{at}.trigger")
        if "count" in trigger and "percent" in trigger:
            raise invalid(f"{at}.trigger: only one of count, percent may be set.")

    def _name_conditions(self, policy: dict, previous: dict | None) -> None:
        """Give each condition its name: kept when the caller sent back one of this policy's, else new."""
        known = {c.get("name") for c in (previous or {}).get("conditions") or []}
        for i, condition in enumerate(policy["conditions"]):
            given = condition.get("name")
            if given and given not in known:
                # Inferred: a condition name from elsewhere is refused rather than adopted.
                raise invalid(f"Field alert_policy.conditions[{i}].name '{given}' is not a condition of "
                              f"{policy['name']}; leave it out to create a new condition.")
            if not given:
                condition["name"] = f"{policy['name']}/conditions/{numeric_id()}"

    def list_policies(self, request, project):
        return json_response(self._list_items(request, project, self.policies, "alertPolicies", copy.deepcopy))

    def get_policy(self, request, project, pid):
        return json_response(copy.deepcopy(self._policy(project, pid)))

    def create_policy(self, request, project):
        body = read_json(request)
        for condition in body.get("conditions") or []:
            if isinstance(condition, dict):
                condition.pop("name", None)  # the server names conditions of a new policy
        policy = self._validate_policy(body, project)
        now, actor = rfc3339(time.time()), self._actor(project)
        policy["name"] = f"projects/{project}/alertPolicies/{numeric_id()}"
        self._name_conditions(policy, None)
        policy["creationRecord"] = {"mutateTime": now, "mutatedBy": actor}
        policy["mutationRecord"] = {"mutateTime": now, "mutatedBy": actor}
        self.policies[policy["name"]] = policy
        return json_response(copy.deepcopy(policy))

    def patch_policy(self, request, project, pid):
        stored = self._policy(project, pid)
        body = read_json(request)
        paths = parse_mask(request.args.get("updateMask"))
        if paths:
            for path in paths:
                if path[0] not in POLICY_FIELDS:
                    raise invalid(f"Invalid update mask path '{'.'.join(path)}' for an alert policy.")
            updated = apply_mask(stored, body, paths, maps=frozenset({"userLabels"}))
        else:
            # No mask: the body replaces the policy, keeping its id (and the
            # ids of conditions sent back with their names).
            updated = {k: v for k, v in body.items() if k in POLICY_FIELDS}
        policy = self._validate_policy(updated, project)
        policy["name"] = stored["name"]
        self._name_conditions(policy, stored)
        policy["creationRecord"] = stored["creationRecord"]
        policy["mutationRecord"] = {"mutateTime": rfc3339(time.time()), "mutatedBy": self._actor(project)}
        self.policies[stored["name"]] = policy
        if policy["conditions"] != stored["conditions"]:
            self._cancel_alerts(stored["name"])
        return json_response(copy.deepcopy(policy))

    def delete_policy(self, request, project, pid):
        stored = self._policy(project, pid)
        self._cancel_alerts(stored["name"])
        del self.policies[stored["name"]]
        return json_response({})
