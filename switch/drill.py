"""python -m switch drill: the whole failover, rehearsed.

Local (the default): the emulator (Cloud Run, Monitoring, Cloudflare) and a
stand-in home site run in this process; the function runs as a separate
functions-framework process configured exactly as in production except for
the API roots. The drill takes the home site down, sends the notification an
uptime alert sends, checks each step from the outside (the emulator's state
and a visitor's view through the emulated Cloudflare edge), brings home back,
sends the closing notification and checks the failback.

--standby: the same with SWITCH_STANDBY=true: reconcile creates the warm
standby before the outage, the failover only probes, wakes it and switches
traffic (no create, no IAM write), and the failback keeps it.

--live: a throwaway replica (SWITCH_SERVICE + "-drill") in the real project:
create, wait ready, make public, check its URL answers, delete. No traffic is
switched, and the real replica name is never touched.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "switch-drill"
REGION = "europe-west1"
SERVICE = "site-replica"
ZONE = "0123456789abcdef0123456789abcdef"
HOST = "www.example.org"
TOKEN = "drill-token-0123456789abcdef"
CF_TOKEN = "drill-cloudflare-token"
IMAGE = "europe-west1-docker.pkg.dev/switch-drill/site/www:latest"


class Timeline:
    """Prints what happens, with the time since the drill started."""

    SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.start = time.monotonic()
        self.failures: list[str] = []
        self.tty = hasattr(self.out, "isatty") and self.out.isatty()
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.start

    def line(self, text: str, mark: str = " ") -> None:
        with self._lock:
            if self.tty:
                self.out.write("\r\033[K")
            self.out.write(f"{self.now():7.2f} s  {mark} {text}\n")
            self.out.flush()

    def ok(self, text: str) -> None:
        self.line(text, "✓")

    def event(self, text: str) -> None:
        self.line(text, "▸")

    def check(self, condition: bool, text: str, failure: str | None = None) -> bool:
        if condition:
            self.ok(text)
        else:
            self.line(failure or f"{text}: did not happen", "✗")
            self.failures.append(failure or text)
        return condition

    @contextlib.contextmanager
    def waiting(self, describe):
        """Show progress while a blocking call runs: a spinner on a terminal, a line a second otherwise."""
        done = threading.Event()

        def spin():
            last_line = 0.0
            for frame in itertools.cycle(self.SPINNER):
                if done.wait(0.1):
                    return
                text = describe()
                with self._lock:
                    if self.tty:
                        self.out.write(f"\r\033[K{self.now():7.2f} s  {frame} {text}")
                        self.out.flush()
                    elif self.now() - last_line >= 1.0:
                        last_line = self.now()
                        self.out.write(f"{self.now():7.2f} s  … {text}\n")
                        self.out.flush()

        spinner = threading.Thread(target=spin, daemon=True)
        spinner.start()
        try:
            yield
        finally:
            done.set()
            spinner.join()
            if self.tty:
                with self._lock:
                    self.out.write("\r\033[K")
                    self.out.flush()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notification(state: str, incident_id: str, started_at: int, ended_at: int | None) -> dict:
    """The body Cloud Monitoring sends for an uptime check incident (schema 1.2)."""
    subject = "[ALERT - Critical]" if state == "open" else "[RESOLVED - Critical]"
    return {
        "version": "1.2",
        "incident": {
            "incident_id": incident_id,
            "scoping_project_id": PROJECT,
            "scoping_project_number": 123456789012,
            "url": f"https://console.cloud.google.com/monitoring/alerting/alerts/{incident_id}?project={PROJECT}",
            "started_at": started_at,
            "ended_at": ended_at,
            "state": state,
            "summary": f"An uptime check on {PROJECT} Uptime Check URL labels {{host={HOST}}} "
                       + ("is failing." if state == "open" else "returned to normal with a value of 0.000."),
            "observed_value": "4.000" if state == "open" else "0.000",
            "threshold_value": "1",
            "resource": {"type": "uptime_url", "labels": {"host": HOST, "project_id": PROJECT}},
            "resource_type_display_name": "Uptime Check URL",
            "metric": {"type": "monitoring.googleapis.com/uptime_check/check_passed", "displayName": "Check passed"},
            "policy_name": "switch: www.example.org down",
            # The labels python -m switch setup puts on the policy, so switch knows it as its own.
            "policy_user_labels": {"managed-by": "switch", "switch-service": SERVICE},
            "documentation": {"content": "switch fails over to Cloud Run.", "mime_type": "text/markdown",
                              "subject": f"{subject} switch: {HOST} down"},
            "condition_name": "Failure of uptime check_id drill",
            "severity": "Critical",
        },
    }


@dataclass
class Function:
    """The function, served by functions-framework in its own process."""

    env: dict
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> float:
        command = [sys.executable, "-m", "functions_framework", "--target", "switch",
                   "--source", str(ROOT / "main.py"), "--host", "127.0.0.1", "--port", str(self.port)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
        env.update(self.env)
        started = time.monotonic()
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.log: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the function exited at start:\n" + "".join(self.log[-20:]))
            try:
                # With credentials: a refused probe would read as a warning in the function's log.
                requests.get(f"{self.url}/status", timeout=1, headers={"Authorization": f"Bearer {TOKEN}"})
                return time.monotonic() - started
            except requests.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"the function did not answer within {timeout:g} s")

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.log.append(line)

    def call(self, method: str, path: str, body=None, timeout: float = 120.0) -> requests.Response:
        return requests.request(method, f"{self.url}{path}", json=body, timeout=timeout,
                                headers={"Authorization": f"Bearer {TOKEN}"})

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def visit(emulator, path: str) -> tuple[int, str | None]:
    """What a visitor to https://www.example.org{path} gets from the (emulated) Cloudflare edge."""
    answer = requests.get(f"{emulator.url}_edge/{HOST}{path}", allow_redirects=False, timeout=5)
    return answer.status_code, answer.headers.get("Location")


def steps_of(answer: requests.Response) -> dict:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return {s["step"]: s for s in body.get("steps", [])}


def run_local(args, out=None) -> int:
    from .emulator import Emulator, HomeSite

    standby = bool(getattr(args, "standby", False))
    t = Timeline(out)
    print("switch drill: a rehearsal of failover and failback on this machine (no cloud account needed)"
          + (", with a warm standby" if standby else ""), file=t.out)
    emulator = Emulator(ready_delay=args.ready_delay, delete_delay=1.0, cloudflare_token=CF_TOKEN).start()
    home = HomeSite().start()
    emulator.set_origin(HOST, home.url)
    function = Function({
        "SWITCH_PROJECT": PROJECT, "SWITCH_REGION": REGION, "SWITCH_SERVICE": SERVICE, "SWITCH_IMAGE": IMAGE,
        "SWITCH_TOKEN": TOKEN,
        "SWITCH_RUN_ENDPOINT": emulator.url, "SWITCH_MONITORING_ENDPOINT": emulator.url,
        "SWITCH_CLOUDFLARE_ENDPOINT": emulator.cloudflare_url, "SWITCH_CLOUDFLARE_TOKEN": CF_TOKEN,
        "SWITCH_CLOUDFLARE_ZONE_ID": ZONE, "SWITCH_CLOUDFLARE_HOST": HOST,
        "SWITCH_HOME_URL": home.url, "SWITCH_PROBE_COUNT": "3", "SWITCH_PROBE_INTERVAL_SECONDS": "0.2",
        "SWITCH_MIN_ACTIVE_SECONDS": "0", "SWITCH_POLL_INTERVAL_SECONDS": "0.5",
        "SWITCH_READY_TIMEOUT_SECONDS": str(max(30, args.ready_delay * 5)),
        **({"SWITCH_STANDBY": "true"} if standby else {}),
    })
    try:
        t.ok(f"emulator on {emulator.url} (Cloud Run, Monitoring, Cloudflare; replica ready after "
             f"{args.ready_delay:g} s)")
        t.ok(f"home site on {home.url} stands in for https://{HOST}")
        started_in = function.start()
        t.ok(f"function served by functions-framework on {function.url} (pid {function.process.pid}, "
             f"answered after {started_in:.2f} s)")
        status, _ = visit(emulator, "/")
        t.check(status == 200, f"a visitor to https://{HOST}/ reaches home ({status})")
        if standby and not _prepare_standby(t, emulator, function, args.ready_delay):
            return _verdict(t, None, None, function)
        timings = _outage(t, emulator, home, function, args.ready_delay, standby)
        if timings is None:
            return _verdict(t, None, None, function)
        failback_s = _recovery(t, emulator, home, function, standby, timings[2])
        return _verdict(t, timings[:2], failback_s, function, standby)
    finally:
        function.stop()
        home.stop()
        emulator.stop()


def _replica_state(emulator) -> str:
    service = emulator.services(PROJECT, REGION).get(SERVICE)
    if service is None:
        return "creating the replica"
    ready = next((c for c in service.get("status", {}).get("conditions", []) if c["type"] == "Ready"), {})
    if ready.get("status") == "True":
        return f"replica {SERVICE} is ready"
    return (f"replica {SERVICE}: Ready {ready.get('status', 'Unknown')} "
            f"({ready.get('reason') or ready.get('message') or 'deploying'})")


def _prepare_standby(t: Timeline, emulator, function, ready_delay: float) -> bool:
    """Before the storm: reconcile (what Cloud Scheduler calls) creates the warm standby."""
    t.event("before any outage, the reconcile job runs: POST /reconcile (SWITCH_STANDBY=true)")
    answer = function.call("POST", "/reconcile", {})
    if not t.check(answer.status_code == 200 and answer.json().get("action") == "standby",
                   f"reconcile created the warm standby ({answer.status_code})",
                   f"reconcile did not create the standby: {answer.status_code} {answer.text[:300]}"):
        return False
    deadline = time.monotonic() + ready_delay + 30
    with t.waiting(lambda: _replica_state(emulator)):
        while not _replica_state(emulator).endswith("is ready") and time.monotonic() < deadline:
            time.sleep(0.1)
    service = emulator.services(PROJECT, REGION).get(SERVICE) or {}
    annotations = service.get("metadata", {}).get("annotations", {})
    t.check(_replica_state(emulator).endswith("is ready")
            and annotations.get("run.googleapis.com/invoker-iam-disabled") == "true"
            and "switch/activated-at" not in annotations,
            "the warm standby is ready and public, with no visitors (Cloud Run scales it to zero)")
    status, _ = visit(emulator, "/")
    t.check(status == 200, f"visitors still go home ({status}): the standby carries no traffic")
    emulator.clear_requests()
    return True


def _outage(t: Timeline, emulator, home, function, ready_delay: float, standby: bool):
    """The power cut and the alert; returns (alert to traffic, alert to ready, incident) or None."""
    home.go_down()
    t.event("power cut: the home site goes dark")
    status, _ = visit(emulator, "/")
    t.check(status == 521, f"a visitor to https://{HOST}/ gets Cloudflare's error {status} (origin down)")
    started_at = int(time.time())
    incident = f"0.drill{started_at}"
    t.event(f"uptime check fails, the alert fires: POST / (incident {incident} open)")
    sent = time.monotonic()
    def describe() -> str:
        state = _replica_state(emulator)
        return state + "; switching traffic" if state.endswith("is ready") else state

    with t.waiting(describe):
        answer = function.call("POST", "/", notification("open", incident, started_at, None))
    failover_s = time.monotonic() - sent
    steps = steps_of(answer)
    if not t.check(answer.status_code == 200, f"the function answered {answer.status_code}",
                   f"the function answered {answer.status_code}: {answer.text[:300]}"):
        return None
    # From the alert leaving here to the replica being ready: the whole answer time
    # minus the steps that came after readiness.
    ready_s = failover_s - sum(steps[s]["ms"] for s in ("public", "domain", "traffic", "activated")
                               if s in steps) / 1000
    probe = steps.get("probe", {})
    t.check(bool(probe) and "not healthy" in probe.get("detail", ""),
            f"{'the function probed home too: down':<45} {probe.get('ms', 0):>6} ms  {probe.get('detail', '')}",
            "the function did not probe home before sending traffic away")
    if "ready" not in steps and ready_delay == 0 and "create" in steps:
        # Ready the moment it was created: there was nothing to wait for.
        steps["ready"] = {"ms": 0, "changed": True, "detail": "ready when created (--ready-delay 0)"}
    expected = ((("warm", "the standby woken with one request"),) if standby else
                (("create", "replica created"), ("ready", "replica ready")))
    for name, text in expected + (("traffic", "traffic switched: Cloudflare redirect enabled"),
                                  ("activated", "the replica notes that visitors are on it")):
        t.check(name in steps and (steps[name]["changed"] or name == "warm"),
                f"{text:<45} {steps.get(name, {}).get('ms', 0):>6} ms  {steps.get(name, {}).get('detail', '')}",
                f"{text}: the function reports no such step")
    if standby:
        t.check("create" not in steps and not emulator.calls("POST", ":setIamPolicy"),
                f"no create and no IAM write: {failover_s:.2f} s from the alert to visitors on the standby")
    replica_url = answer.json().get("url")
    service = emulator.services(PROJECT, REGION).get(SERVICE) or {}
    labels = service.get("metadata", {}).get("labels", {})
    annotations = service.get("metadata", {}).get("annotations", {})
    t.check(annotations.get("run.googleapis.com/invoker-iam-disabled") == "true" and "public" not in steps,
            "the replica was public at creation: no IAM write, no wait for IAM to propagate",
            "the replica was made public by an IAM grant, not at creation")
    t.check(labels.get("managed-by") == "switch", "the replica carries the label managed-by=switch")
    status, location = visit(emulator, "/about?from=drill")
    t.check(status == 302 and bool(location) and location.startswith(replica_url or "-")
            and location.endswith("/about?from=drill"),
            f"a visitor to https://{HOST}/about?from=drill gets 302 → {location}")
    if location:
        page = requests.get(location, timeout=5)
        t.check(page.status_code == 200, f"the replica serves the page ({page.status_code})")
    status, location = visit(emulator, "/healthz")
    t.check(status == 521 and location is None,
            f"/healthz is not redirected: it still reaches the dark home ({status}), so the uptime check "
            "keeps telling the truth")
    return failover_s, ready_s, (incident, started_at)


def _recovery(t: Timeline, emulator, home, function, standby: bool, incident) -> float:
    """Power back and the closing alert; returns how long the failback took."""
    from .traffic.cloudflare import rule_ref

    incident, started_at = incident
    home.come_back()
    t.event("power is back: the home site answers again")
    t.event(f"uptime check passes, the alert closes: POST / (incident {incident} closed)")
    sent = time.monotonic()
    with t.waiting(lambda: "probing home, then failing back"):
        answer = function.call("POST", "/", notification("closed", incident, started_at, int(time.time())))
    failback_s = time.monotonic() - sent
    steps = steps_of(answer)
    t.check(answer.status_code == 200 and answer.json().get("action") == "failback",
            f"the function failed back ({answer.status_code})",
            f"the function did not fail back: {answer.status_code} {answer.text[:300]}")
    last = ("rest", "the warm standby stays, idle") if standby else ("delete", "replica deleted")
    for name, text in (("probe", "home probed healthy"), ("traffic", "traffic home: redirect disabled"), last):
        t.check(name in steps and (steps[name]["changed"] or name == "probe"),
                f"{text:<45} {steps.get(name, {}).get('ms', 0):>6} ms  {steps.get(name, {}).get('detail', '')}",
                f"{text}: the function reports no such step")
    service = emulator.services(PROJECT, REGION).get(SERVICE)
    if standby:
        t.check(service is not None and "switch/activated-at" not in service["metadata"]["annotations"],
                "the warm standby is still there, with no visitors, for the next outage")
    else:
        t.check(service is None, "no replica is left behind")
    rules = [r for r in emulator.redirect_rules(ZONE) if r.get("ref") == rule_ref(SERVICE, HOST)]
    t.check(all(not r.get("enabled") for r in rules), "the redirect rule is off")
    status, location = visit(emulator, "/")
    t.check(status == 200 and location is None, f"a visitor to https://{HOST}/ reaches home again ({status})")
    return failback_s


def _verdict(t: Timeline, failover, failback_s, function, standby: bool = False) -> int:
    print(file=t.out)
    if t.failures:
        print(f"verdict: FAIL — {len(t.failures)} step(s) did not happen: {'; '.join(t.failures)}", file=t.out)
        if function is not None and getattr(function, "log", None):
            print("last lines from the function:", file=t.out)
            for line in function.log[-15:]:
                print("  " + line.rstrip(), file=t.out)
        return 1
    failover_s, ready_s = failover
    if standby:
        print(f"verdict: PASS — alert to traffic switched {failover_s:.2f} s (warm standby), "
              f"failback {failback_s:.2f} s, the standby kept for the next outage", file=t.out)
    else:
        print(f"verdict: PASS — alert to replica ready {ready_s:.2f} s, alert to traffic switched "
              f"{failover_s:.2f} s, failback {failback_s:.2f} s, nothing left behind", file=t.out)
    return 0


def run_live(args, out=None) -> int:
    """A throwaway replica in the real project, for the site (or each site of the sites file); traffic is never
    touched."""
    from . import sites
    from .errors import BadRequest, ConfigError

    t = Timeline(out)
    found = sites.load()
    try:
        chosen = found.chosen(getattr(args, "site", None))
    except BadRequest as exc:
        raise ConfigError("--site", exc.message) from None
    times = [_live_one(t, settings) for settings in chosen]
    print(file=t.out)
    if t.failures:
        print(f"verdict: FAIL — {'; '.join(t.failures)}", file=t.out)
        return 1
    shown = ", ".join(f"{s.site + ' ' if s.site else ''}{seconds:.1f} s" for s, seconds in zip(chosen, times))
    print(f"verdict: PASS — alert to working replica {shown} in {chosen[0].region}", file=t.out)
    return 0


def _live_one(t: Timeline, settings) -> float:
    from dataclasses import replace

    from .cloudrun import CloudRunService
    from .failover import Switch
    from .traffic import NoopRouter

    name = (settings.service[:57] + "-drill").replace("--", "-")
    # Never the standby's rules: the throwaway replica is deleted at the end, whatever the settings say.
    settings = replace(settings, service=name, failover_domain=None, home_url=None, standby=False,
                       probe_failover_after=0)
    print(f"switch drill --live: a throwaway replica {name!r} in project {settings.project} "
          f"({settings.region}); no traffic is switched", file=t.out)
    switch = Switch(settings, CloudRunService.from_settings(settings), NoopRouter())
    latest = {"text": "creating the replica"}
    sent = time.monotonic()
    elapsed = 0.0
    try:
        with t.waiting(lambda: latest["text"]):
            report = switch.failover(trigger="drill", on_progress=lambda text: latest.update(text=text))
        elapsed = time.monotonic() - sent
        for step in report.steps:
            t.ok(f"{step.step:<8} {step.ms:>7} ms  {step.detail}")
        answer = None
        for _ in range(30):  # IAM changes take a little while to reach Cloud Run's front end
            answer = requests.get(report.url, timeout=10)
            if answer.status_code < 400:
                break
            time.sleep(2)
        t.check(answer is not None and answer.status_code < 400,
                f"the replica's URL {report.url} answers {answer.status_code if answer else 'nothing'}")
    finally:
        back = switch.failback(force=True, automatic=False, trigger="drill")
        t.check(any(s.step == "delete" and s.changed for s in back.steps), f"throwaway replica {name!r} deleted")
    return elapsed


def run(args) -> int:
    if getattr(args, "sites", None):
        from .drill_sites import run_sites

        return run_sites(args)
    return run_live(args) if args.live else run_local(args)
