"""``python -m switch emulator``: serve the emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import threading

from .server import Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m switch emulator",
        description="Serve local stand-ins for Cloud Run Admin v1, Cloud Monitoring v3, Cloud Scheduler v1, Pub/Sub "
        "v1 topics, Resource Manager v1 (projects, project IAM), Cloud Functions v2 (with source upload and "
        "long-running operations), Secret Manager v1, IAM v1 service accounts and Cloudflare v4 redirect rules on "
        "one loopback port, so switch can run and be deployed end to end without Google or Cloudflare. Point every "
        "SWITCH_*_ENDPOINT at it (gcloud too: set each CLOUDSDK_API_ENDPOINT_OVERRIDES_* to it, and gcloud's "
        "HTTP proxy for Run's regional endpoint). Control it over HTTP under /_emulator/ (requests, faults, "
        "config, alerts, topics, serviceAccounts, state).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8090,
                        help="port to listen on, 0 for any free one (default: %(default)s)")
    parser.add_argument("--ready-delay", type=float, default=2.0, metavar="SECONDS",
                        help="how long a new revision takes to become Ready (default: %(default)s)")
    parser.add_argument("--delete-delay", type=float, default=1.0, metavar="SECONDS",
                        help="how long a deleted service's name stays taken, create answering 409 "
                        "(default: %(default)s)")
    parser.add_argument("--cert-delay", type=float, default=1.0, metavar="SECONDS",
                        help="how long a domain mapping waits for its certificate (default: %(default)s)")
    parser.add_argument("--deploy-delay", type=float, default=1.0, metavar="SECONDS",
                        help="how long a long-running operation (a function's deploy or delete) takes "
                        "(default: %(default)s)")
    parser.add_argument("--failing-image", default="fail", metavar="TEXT",
                        help="images containing TEXT never become Ready (default: %(default)s)")
    parser.add_argument("--project-number", default="123456789012",
                        help="the number Run answers carry in namespace and selfLink (default: %(default)s)")
    parser.add_argument("--cloudflare-token", metavar="TOKEN",
                        help="the only Cloudflare bearer token accepted (default: any non-empty token)")
    parser.add_argument("--fault-status", type=int, metavar="STATUS",
                        help="answer API calls with this error status (e.g. 429, 500, 503)")
    parser.add_argument("--fault-count", type=int, metavar="N",
                        help="... for the next N calls (default: 1, or unlimited with --fault-rate)")
    parser.add_argument("--fault-rate", type=float, metavar="FRACTION", help="... for this fraction of calls (0-1]")
    parser.add_argument("--latency-ms", type=float, default=0, metavar="MS", help="delay added to every API call")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed
        return int(e.code or 0)
    if (args.fault_count is not None or args.fault_rate is not None) and args.fault_status is None:
        print("--fault-count and --fault-rate need --fault-status")
        return 2

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    emulator = Emulator(
        host=args.host,
        port=args.port,
        ready_delay=args.ready_delay,
        delete_delay=args.delete_delay,
        failing_image=args.failing_image,
        project_number=args.project_number,
        cloudflare_token=args.cloudflare_token,
        cert_delay=args.cert_delay,
        deploy_delay=args.deploy_delay,
    )
    if args.fault_status is not None:
        try:
            emulator.inject(status=args.fault_status, count=args.fault_count, rate=args.fault_rate)
        except ValueError as e:
            print(f"bad fault: {e}")
            return 2
    emulator.set_latency(args.latency_ms)
    try:
        emulator.start()
    except OSError as e:
        print(f"cannot listen on {args.host}:{args.port}: {e}")
        return 1
    print(
        f"switch emulator listening on {emulator.url} (Ctrl-C to stop); set "
        f"SWITCH_RUN_ENDPOINT={emulator.url} SWITCH_MONITORING_ENDPOINT={emulator.url} "
        f"SWITCH_SCHEDULER_ENDPOINT={emulator.url} SWITCH_PUBSUB_ENDPOINT={emulator.url} "
        f"SWITCH_RESOURCEMANAGER_ENDPOINT={emulator.url} SWITCH_FUNCTIONS_ENDPOINT={emulator.url} "
        f"SWITCH_SECRETMANAGER_ENDPOINT={emulator.url} SWITCH_IAM_ENDPOINT={emulator.url} "
        f"SWITCH_CLOUDFLARE_ENDPOINT={emulator.cloudflare_url}",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0
