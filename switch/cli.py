"""python -m switch COMMAND: a thin layer over the library.

Commands that act on the cloud read the same SWITCH_* configuration as the
function and use Application Default Credentials; with SWITCH_RUN_ENDPOINT
on a loopback address they talk to a local emulator instead.
"""

from __future__ import annotations

import argparse
import json
import sys

from .errors import ConfigError, SwitchError

DESCRIPTION = """\
switch keeps a self-hosted site online from Cloud Run when its home goes dark.

Start here:
  python -m switch drill          rehearse a whole failover and failback on this machine
  python -m switch deploy --help  deploy the function (Cloud Run functions, 2nd gen)
  python -m switch setup --help   wire uptime check, alert policy and channel to the function
"""

EXIT_CODES = """\
exit codes:
  0  done, or nothing needed doing
  1  a Google or Cloudflare call failed (status: a part could not be read)
  2  a configuration or usage error; the message names what to fix
  3  refused: a guard said no (home not healthy yet, pinned ...); visitors were not moved
"""
REFUSED = 3

SETUP_HELP = {
    "setup": """\
Create, or find and update, everything that calls switch when the site goes down:
a notification channel (webhook with Basic auth or a token, or Pub/Sub), an uptime
check of SWITCH_HOME_URL's health path (60 s, three regions), an alert policy that
notifies on open and close, and optionally a Cloud Scheduler job for /reconcile.
Everything is labelled managed-by=switch; a second run changes nothing.
Without --function-url it wires the function `python -m switch deploy` made
(switch-STAGE), and without SWITCH_TOKEN in the shell it reads the token that
deploy stored in Secret Manager.

examples:
  python -m switch setup
  python -m switch setup --function-url https://europe-west1-PROJECT.cloudfunctions.net/switch-prod
""",
    "teardown": """\
Delete what setup created (found by its labels), and nothing else: the alert
policy, the uptime check, the notification channel and the scheduler job;
then the replica (the warm standby, or one a failover left behind), unless
visitors are on it: then it is kept, teardown says so and exits 3 (send them
home first with python -m switch failback).
""",
}

DEPLOY_HELP = """\
Deploy switch as two Cloud Run functions (2nd gen) through the Cloud Functions v2
API, with the configuration in your shell's SWITCH_* variables:

  switch-STAGE          HTTP: Cloud Monitoring webhooks and curl; public (it checks
                        SWITCH_TOKEN or Basic credentials itself)
  switch-STAGE-pubsub   Pub/Sub: the Pub/Sub notification channel's topic, retried

Both run as their own service account (switch-STAGE@PROJECT.iam.gserviceaccount.com,
created when missing) with only the roles they use, and read SWITCH_TOKEN,
SWITCH_BASIC_PASSWORD and SWITCH_CLOUDFLARE_TOKEN from Secret Manager. A second
run updates in place and changes only what differs.

example:
  python -m switch deploy --dry-run
  python -m switch deploy
"""

SITE_HELP = {
    "status": "with a sites file: only this site (default: every site, one block each)",
    "failover": "with a sites file: the site to fail over (required when there are several)",
    "failback": "with a sites file: the site to fail back (required when there are several)",
    "reconcile": "with a sites file: only this site (default: every site, a few at a time)",
    "setup": "with a sites file: only this site's check and policy, and what the sites share (default: every site)",
    "teardown": "with a sites file: only this site's check, policy, replica and redirect rule (default: every "
                "site, what removed sites left, and what the sites share)",
    "deploy": "with a sites file: check that this site is among those the function serves (it serves them all)",
    "drill": "with --live and a sites file: the site whose image the throwaway replica runs",
}

COMMANDS = {
    "drill": "rehearse a failover and failback end to end (local emulator, or --live)",
    "emulator": "serve the local stand-in for the Cloud Run, Monitoring and Cloudflare APIs",
    "status": "show every part of the chain: replica, traffic, domain, alert",
    "failover": "fail over now and pin the replica (no automatic failback)",
    "failback": "fail back now: traffic home, then delete the replica",
    "reconcile": "compare desired and actual state and converge (what Cloud Scheduler runs)",
    "setup": "create or update the notification channel, uptime check and alert policy",
    "teardown": "remove what setup created (by label), nothing else",
    "deploy": "deploy both entry points as Cloud Run functions (2nd gen), with their account and secrets",
    "bench": "measure cold start, per-event cost and time to recovery",
}


def _sites(need=None):
    from . import sites
    from .config import NEEDS

    return sites.load(need=NEEDS if need is None else need)


def _site(args, need=None):
    """The settings of the site ``--site`` names (the only one when there is one)."""
    from .errors import BadRequest

    try:
        return _sites(need).pick(getattr(args, "site", None))
    except BadRequest as exc:
        raise ConfigError("--site", exc.message) from None


def _known(sites, name: str | None) -> None:
    """An unknown --site is a usage error before any call."""
    from .errors import BadRequest

    if name is not None:
        try:
            sites.pick(name)
        except BadRequest as exc:
            raise ConfigError("--site", exc.message) from None


def _controller(args):
    from .failover import Switch

    return Switch.from_settings(_site(args))


def _print_json(payload) -> None:
    print(json.dumps(payload, indent=2))


def _print_report(report, as_json: bool) -> int:
    """Print the answer; the exit code (3 when a guard refused)."""
    if as_json:
        _print_json(report.to_dict())
    else:
        where = f"{report.site}: " if report.site else ""
        print(f"{where}{report.action}: state {report.state}, {'changed' if report.changed else 'nothing changed'}"
              f"{' (' + report.reason + ')' if report.reason else ''}")
        for step in report.steps:
            mark = "*" if step.changed else " "
            print(f"  {mark} {step.step:<8} {step.ms:>6} ms  {step.detail}")
        if report.url:
            print(f"  url: {report.url}")
    return REFUSED if report.refused else 0


def _every_site(args, need=("region",)) -> bool:
    """A sites file, and no --site: the command covers every site."""
    return getattr(args, "site", None) is None and _sites(need).multi


def cmd_status(args) -> int:
    from .failover import Switch

    if args.json:
        # JSON always, also when something fails: a script reads stdout either way.
        try:
            if _every_site(args):
                from . import fleet

                answer, ok = fleet.status(_sites(("region",)).chosen(None))
                code = 0 if ok else 1
            else:
                answer, code = Switch.from_settings(_site(args, ("region",))).status(), 0
        except SwitchError as exc:
            answer = {"error": {"code": exc.code, "message": exc.message}}
            code = 2 if isinstance(exc, ConfigError) else 1
        _print_json(answer)
        return code
    from . import ops

    sites = _sites(("region",))
    if sites.multi:
        from .ops import sites as multi

        _known(sites, args.site)
        blocks = multi.status(sites, ops.options_from_args(args), site=args.site,
                              extra=lambda s: _switch_rows(Switch, s))
        print(multi.format_blocks(blocks))
        rows = [row for _, block in blocks for row in block]
    else:
        settings = _site(args, ("region",))
        switch = Switch.from_settings(settings)
        rows = ops.chain_status(settings, ops.options_from_args(args),
                                extra=lambda: ops.rows_from_switch_status(switch.status()))
        print(ops.format_table(rows))
    return 1 if any(row.state in ("error", "unknown") for row in rows) else 0


def _switch_rows(switch_class, settings) -> list:
    from . import ops

    try:
        return ops.rows_from_switch_status(switch_class.from_settings(settings).status())
    except SwitchError as exc:
        return [ops.Row("replica", "error", settings.service, exc.message)]


def cmd_failover(args) -> int:
    def progress(text: str) -> None:
        print(f"  … {text}", file=sys.stderr)

    return _print_report(_controller(args).failover(pinned=True, trigger="cli", on_progress=progress), args.json)


def cmd_failback(args) -> int:
    return _print_report(_controller(args).failback(force=args.force, automatic=False, trigger="cli"), args.json)


def cmd_reconcile(args) -> int:
    if not _every_site(args, need=None):
        return _print_report(_controller(args).reconcile(trigger="cli"), args.json)
    from . import fleet

    answer, ok = fleet.reconcile(_sites().chosen(None), trigger="cli")
    if args.json:
        _print_json(answer)
    else:
        for name, one in answer["sites"].items():
            if "error" in one:
                print(f"{name}: failed: {one['error']['message']}")
            elif "skipped" in one:
                print(f"{name}: {one['skipped']}")
            else:
                print(f"{name}: {one['action']}: state {one['state']}, "
                      f"{'changed' if one['changed'] else 'nothing changed'}"
                      f"{' (' + one['reason'] + ')' if one.get('reason') else ''}")
    return 0 if ok else 1


def cmd_drill(args) -> int:
    from .drill import run

    if args.live and args.standby:
        raise ConfigError("--standby", "rehearses on this machine's emulator only; --live makes a throwaway "
                          "replica and never switches traffic, so there is no standby to rehearse")
    if args.sites and (args.live or args.standby):
        raise ConfigError("--sites", "rehearses several sites on this machine's emulator, on demand; leave out "
                          "--live and --standby")
    if args.site and not args.live:
        raise ConfigError("--site", "picks the site of a live drill (--live) from your sites file; the local "
                          "drill makes its own sites (--sites N)")

    return run(args)


def cmd_emulator(args) -> int:
    from .emulator import main

    return main(args.rest)


def _on_sites(args, single, several):
    """Setup or teardown: of the one site, or (a sites file) of every site or the one --site names."""
    from . import ops

    sites = _sites(())
    options = ops.options_from_args(args)
    if not sites.multi:
        return single(_site(args, ()), options, dry_run=args.dry_run)
    _known(sites, args.site)
    return several(sites, options, site=args.site, dry_run=args.dry_run)


def cmd_setup(args) -> int:
    from . import ops
    from .ops import sites

    outcomes = _on_sites(args, ops.setup, sites.setup)
    return 0 if outcomes is not None else 1


def cmd_teardown(args) -> int:
    from . import ops
    from .ops import sites

    outcomes = _on_sites(args, ops.teardown, sites.teardown)
    return REFUSED if any(o.action == "kept" for o in outcomes) else 0


def cmd_deploy(args) -> int:
    from .ops.deploy import DeployOptions, deploy

    deploy(DeployOptions(stage=args.stage, topic=args.topic, runtime=args.runtime, site=args.site),
           dry_run=args.dry_run)
    return 0


def cmd_bench(args) -> int:
    from bench.run import main

    return main(args.rest)


def _site_count(text: str) -> int:
    from .drill_sites import MAX_SITES

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of sites") from None
    if not 2 <= value <= MAX_SITES:
        raise argparse.ArgumentTypeError(f"{value} is out of range; use 2 to {MAX_SITES} sites")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 600:
        raise argparse.ArgumentTypeError(f"{value:g} is out of range; use 0 to 600 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m switch", description=DESCRIPTION, epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"switch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    drill = sub.add_parser("drill", help=COMMANDS["drill"], description=(
        "Rehearse the whole chain. Locally (the default) it starts the emulator, a stand-in home site and "
        "the function (functions-framework, a separate process), takes the home site down, sends the alert, "
        "and checks every step of the failover and the failback. --live creates a throwaway replica "
        "(SWITCH_SERVICE with a -drill suffix) in the real project, checks that its URL answers, and deletes "
        "it; it never touches traffic or the real replica."))
    drill.add_argument("--live", action="store_true", help="rehearse against the real project in SWITCH_* variables")
    drill.add_argument("--ready-delay", type=_seconds, default=2.0, metavar="S",
                       help="seconds the emulated replica takes to become ready (default 2; Cloud Run takes 10-130)")
    drill.add_argument("--sites", type=_site_count, metavar="N",
                       help="rehearse N sites (2-10) served by one function: one fails over and back, the others "
                            "must stay home untouched (local only)")
    drill.add_argument("--site", metavar="NAME", help=SITE_HELP["drill"])
    drill.add_argument("--standby", action="store_true",
                       help="rehearse with a warm standby (SWITCH_STANDBY=true): reconcile creates it before the "
                            "outage, the failover only switches traffic, the failback keeps it (local only)")
    drill.set_defaults(func=cmd_drill)

    emulator = sub.add_parser("emulator", help=COMMANDS["emulator"], add_help=False,
                              description="All options go to the emulator; see python -m switch emulator --help.")
    emulator.add_argument("rest", nargs=argparse.REMAINDER)
    emulator.set_defaults(func=cmd_emulator)

    for name, func in (("status", cmd_status), ("failover", cmd_failover), ("failback", cmd_failback),
                       ("reconcile", cmd_reconcile)):
        command = sub.add_parser(name, help=COMMANDS[name], description=COMMANDS[name].capitalize() + ".",
                                 epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_argument("--json", action="store_true", help="print the answer as JSON")
        command.add_argument("--site", metavar="NAME", help=SITE_HELP[name])
        command.set_defaults(func=func)
        if name == "failback":
            command.add_argument("--force", action="store_true", help="skip the home health probe")
        if name == "status":
            from .ops import add_arguments

            add_arguments(command, "status")

    from .ops import add_arguments

    for name, func in (("setup", cmd_setup), ("teardown", cmd_teardown)):
        command = sub.add_parser(name, help=COMMANDS[name], description=SETUP_HELP[name], epilog=EXIT_CODES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        add_arguments(command, name)
        command.add_argument("--site", metavar="NAME", help=SITE_HELP[name])
        command.set_defaults(func=func)

    deploy = sub.add_parser("deploy", help=COMMANDS["deploy"], description=DEPLOY_HELP, epilog=EXIT_CODES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    deploy.add_argument("--dry-run", action="store_true",
                        help="read what exists and print the plan (bodies with secrets redacted); send no write")
    deploy.add_argument("--stage", metavar="STAGE",
                        help="names everything deployed: functions switch-STAGE and switch-STAGE-pubsub "
                             "(default: SWITCH_STAGE, else prod)")
    deploy.add_argument("--topic", metavar="TOPIC",
                        help="the Pub/Sub topic of the Pub/Sub entry point, created when missing "
                             "(default: SWITCH_PUBSUB_TOPIC, else switch-alerts)")
    deploy.add_argument("--runtime", default="python312", choices=("python312", "python313", "python314"),
                        help="the Python runtime (default: %(default)s)")
    deploy.add_argument("--site", metavar="NAME", help=SITE_HELP["deploy"])
    deploy.set_defaults(func=cmd_deploy)

    bench = sub.add_parser("bench", help=COMMANDS["bench"], add_help=False,
                           description="All options go to the benchmark; see python -m switch bench --help.")
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=cmd_bench)
    return parser


PASSTHROUGH = {"emulator": cmd_emulator, "bench": cmd_bench}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASSTHROUGH:
        # These parse their own options (argparse's REMAINDER would swallow --help).
        return PASSTHROUGH[argv[0]](argparse.Namespace(rest=argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if args.command not in ("emulator", "drill", "bench"):
        from . import logs

        logs.silence()
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"switch: configuration: {exc.message}", file=sys.stderr)
        return 2
    except SwitchError as exc:
        print(f"switch: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("switch: interrupted", file=sys.stderr)
        return 130
