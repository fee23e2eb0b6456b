"""The CLI's side of setup, teardown and status: options in, ``SetupOptions`` out."""

from __future__ import annotations

import argparse

from .chain import DEFAULT_ALERT_DURATION, FAST_PROBE_ROUNDS, SetupOptions
from .kinds.channel import TYPES as CHANNEL_TYPES


def add_arguments(parser, command: str = "setup") -> None:
    """Options for ``setup`` (all), ``teardown`` (--dry-run, --scheduler-region) or ``status``."""
    if command in ("setup", "teardown"):
        parser.add_argument("--dry-run", action="store_true",
                            help="read what exists and print what would change (request bodies with secrets "
                                 "redacted); send no write")
    if command == "setup":
        parser.add_argument("--function-url", metavar="URL",
                            help="the deployed function's https URL (required for webhook channels and --scheduler)")
        parser.add_argument("--channel", choices=sorted(CHANNEL_TYPES),
                            help="how Cloud Monitoring calls switch: basic (webhook_basicauth with "
                                 "SWITCH_BASIC_USER/PASSWORD), token (webhook_tokenauth, ?auth_token=SWITCH_TOKEN) "
                                 "or pubsub (a topic); default: basic when Basic credentials are set, else token")
        parser.add_argument("--topic", metavar="TOPIC",
                            help="Pub/Sub topic for --channel pubsub: a name or projects/P/topics/T")
        parser.add_argument("--alert-duration", type=int, default=None, metavar="SECONDS",
                            dest="alert_duration_seconds",
                            help="how long more than one region must fail before the alert opens "
                                 f"(a multiple of 60; default {DEFAULT_ALERT_DURATION}, 0 with --fast)")
        parser.add_argument("--scheduler", action=argparse.BooleanOptionalAction, default=True,
                            help="a Cloud Scheduler job that POSTs /reconcile every 5 minutes (every minute with "
                                 "--fast), so a lost or held-back notification is carried out (default: on; "
                                 "--no-scheduler leaves it out)")
        parser.add_argument("--fast", action="store_true",
                            help="wire detection for the warm standby: the reconcile job every minute and the "
                                 "alert at duration 0; then set SWITCH_STANDBY=true and "
                                 f"SWITCH_PROBE_FAILOVER_AFTER={FAST_PROBE_ROUNDS} on the function")
        parser.add_argument("--service-account", metavar="EMAIL",
                            help="the scheduler job sends an OIDC token of this account (for an IAM-protected "
                                 "function) and SWITCH_TOKEN as ?auth_token=")
        parser.add_argument("--project-number", metavar="NUMBER",
                            help="the project's number, for the Pub/Sub grant (else asked of Resource Manager)")
    parser.add_argument("--stage", metavar="STAGE",
                        help="the deploy's stage: its functions, and the secrets setup reads when SWITCH_TOKEN "
                             "is not set (default: SWITCH_STAGE, else prod)")
    parser.add_argument("--scheduler-region", metavar="REGION",
                        help="Cloud Scheduler region of the reconcile job (default: SWITCH_REGION)")


def options_from_args(args) -> SetupOptions:
    """SetupOptions from what ``add_arguments`` parsed (missing attributes take the defaults)."""
    def get(name, default=None):
        value = getattr(args, name, None)
        return default if value is None else value

    return SetupOptions(
        function_url=get("function_url"),
        channel=get("channel"),
        topic=get("topic"),
        alert_duration_seconds=get("alert_duration_seconds", 0 if get("fast") else DEFAULT_ALERT_DURATION),
        fast=bool(get("fast", False)),
        scheduler=bool(get("scheduler", False)),
        scheduler_region=get("scheduler_region"),
        service_account=get("service_account"),
        project_number=get("project_number"),
        stage=get("stage"),
    )
