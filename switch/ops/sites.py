"""Setup, teardown and status when a sites file describes several sites.

One notification channel and one reconcile job serve every site (they belong
to the deployment, ``switch-STAGE``); each site has its own uptime check and
alert policy, labelled ``switch-site: NAME`` so the function routes its
notifications to that site alone. ``--site NAME`` narrows setup, teardown and
status to one site; what the sites share is set up with it and kept by it.

A site removed from the file is never cleaned up silently: status lists what
it left (its check, policy, replica and redirect rule, found by their labels)
and teardown, for every site, removes it. A replica visitors are on and a
redirect that is on are kept, and said so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..errors import ConfigError, SwitchError
from . import engine, naming
from .chain import SetupOptions, Target, _looking, _functions, resolve, with_deployed_secrets, with_deployed_url
from .engine import Context, Outcome, Recorder, Row
from .google import Google
from .kinds import kinds
from .kinds.check import UptimeCheck
from .kinds.policy import AlertPolicy
from .kinds.redirect import RedirectRule
from .kinds.replica import ReplicaService
from .marks import MANAGED_BY, SERVICE_LABEL, SITE_LABEL

SHARED_SETUP = ("notification channel", "publisher grant")
SITE_SETUP = ("uptime check", "alert policy")
SITE_TEARDOWN = ("alert policy", "uptime check", "replica", "redirect rule")


def owner(sites, options: SetupOptions):
    """The deployment's own settings: what the sites share is named and labelled after its function."""
    return replace(sites.any, service=naming.function_id(naming.stage(options.stage), "switch"), site="")


def _shared_target(base, sites, options: SetupOptions, *, for_setup: bool) -> Target:
    first = next(iter(sites.by_name.values()))
    if for_setup:
        target = resolve(replace(base, home_url=first.home_url or "https://example.org"), options)
    else:
        target = Target(project=base.project, service=base.service, options=options, region=base.region,
                        scheduler_region=options.scheduler_region or base.region, stage=naming.stage(options.stage))
    return replace(target, host="", site="", sites=tuple(sites.names))


def _contexts(settings, target, rec) -> Context:
    return Context(settings=settings, target=target, api=Google(settings), rec=rec)


def _with_credentials(site, base):
    """A site's settings with what setup read from Secret Manager for the deployment."""
    return replace(site, token=base.token, basic_user=base.basic_user, basic_password=base.basic_password)


def setup(sites, options: SetupOptions = SetupOptions(), *, site: str | None = None, dry_run: bool = False,
          out: Callable[[str], None] = print) -> list[Outcome]:
    """The shared channel (and publisher grant), each site's uptime check and alert policy, the reconcile job."""
    base = with_deployed_secrets(owner(sites, options), options, out)
    options = with_deployed_url(base, options, out)
    chosen = [_with_credentials(s, base) for s in sites.chosen(site)]
    # Every check before any write: the shared target, then each site's (its home URL, its alert).
    shared = _shared_target(base, sites, options, for_setup=True)
    targets = [(s, resolve(s, options)) for s in chosen]
    rec = Recorder(out, dry_run)
    shared_ctx = _contexts(base, shared, rec)
    if shared.channel == "pubsub":
        topic = shared_ctx.api.get_or_none(shared_ctx.api.topics.get(topic=shared.topic), "pubsub", "get topic")
        if topic is None:
            raise ConfigError("--topic", f"the Pub/Sub topic {shared.topic} does not exist; python -m switch deploy "
                              f"creates it")
    engine.apply(kinds(*SHARED_SETUP), shared_ctx)
    for settings, target in targets:
        ctx = _contexts(settings, target, rec)
        ctx.names.update(shared_ctx.names)
        ctx.ours.update(shared_ctx.ours)
        engine.apply(kinds(*SITE_SETUP), ctx)
    if options.scheduler:
        engine.apply(kinds("scheduler job"), shared_ctx)
    rec.summary("setup" + (f" of site {site}" if site else f" of {len(targets)} sites"))
    return rec.outcomes


# -- what a removed site left -------------------------------------------------------------


def _left_by_removed(kind_class):
    """The kind, but ours means: switch's, for a site that is no longer in the file."""
    class Orphan(kind_class):
        named = False
        label = f"{kind_class.label} (site removed)"

        def ours(self, ctx, item):
            labels = item.get("userLabels") or ((item.get("metadata") or {}).get("labels")) or {}
            site = labels.get(SITE_LABEL)
            return labels.get(MANAGED_BY[0]) == MANAGED_BY[1] and bool(site) and site not in ctx.target.sites

    Orphan.__name__ = f"Orphan{kind_class.__name__}"
    return Orphan


class _OrphanReplicas(_left_by_removed(ReplicaService)):
    def find(self, ctx):
        parent = f"projects/{ctx.settings.project}/locations/{ctx.settings.region}"
        page = ctx.api.call(ctx.api.run_services.list(parent=parent), "run", "list services") or {}
        return page.get("items") or []


class _OrphanRules(RedirectRule):
    """The redirect rules of removed sites: their service and host come from what their uptime check left."""

    label = "redirect rule (site removed)"

    def find(self, ctx):
        checks = [c for c in UptimeCheck().find(ctx) if _left_by_removed(UptimeCheck)().ours(ctx, c)]
        found = []
        for check in checks:
            service = (check.get("userLabels") or {}).get(SERVICE_LABEL, "")
            host = ((check.get("monitoredResource") or {}).get("labels") or {}).get("host", "")
            found.extend(self.rules_of(ctx, service, host, zones={s.cloudflare_zone_id for s in ctx.memo["sites"]
                                                                  if s.cloudflare_zone_id}))
        return found


def teardown(sites, options: SetupOptions = SetupOptions(), *, site: str | None = None, dry_run: bool = False,
             out: Callable[[str], None] = print) -> list[Outcome]:
    """Each site's policy, check, replica and redirect rule; without --site also what removed sites left, then the
    shared channel and job."""
    base = owner(sites, options)
    shared = _shared_target(base, sites, options, for_setup=False)
    rec = Recorder(out, dry_run)
    for settings in sites.chosen(site):
        target = replace(_site_scope(settings, options), sites=shared.sites)
        engine.destroy(kinds(*_looking(SITE_TEARDOWN, target)), _contexts(settings, target, rec))
    if site is None:
        ctx = _contexts(base, shared, rec)
        ctx.memo["sites"] = list(sites.by_name.values())
        removed = [_left_by_removed(AlertPolicy)(), _left_by_removed(UptimeCheck)()]
        if shared.region:
            removed.append(_OrphanReplicas())
        engine.destroy([_OrphanRules(), *removed], ctx)
        engine.destroy(kinds(*_looking(("notification channel", "scheduler job"), shared)), ctx)
    rec.summary("teardown" + (f" of site {site}" if site else f" of {len(sites.by_name)} sites"))
    return rec.outcomes


def _site_scope(settings, options: SetupOptions) -> Target:
    return Target(project=settings.project, service=settings.service, options=options, region=settings.region,
                  scheduler_region=options.scheduler_region or settings.region, stage=naming.stage(options.stage),
                  site=settings.site)


# -- status ------------------------------------------------------------------------------


def status(sites, options: SetupOptions = SetupOptions(), *, site: str | None = None,
           extra: Callable[[object], list[Row]] | None = None) -> list[tuple[str, list[Row]]]:
    """Blocks of rows: what the sites share, then one block per site (``extra(settings)`` adds its replica and
    redirect), then what removed sites left."""
    base = owner(sites, options)
    shared = _shared_target(base, sites, options, for_setup=False)
    quiet = Recorder(lambda line: None, False)
    shared_ctx = _contexts(base, shared, quiet)
    blocks = [("shared by every site", engine.status(
        [*kinds(*_looking(("notification channel", "scheduler job"), shared)), *_functions(shared)], shared_ctx))]
    for settings in sites.chosen(site):
        target = _site_scope(settings, options)
        rows = engine.status(kinds(*SITE_SETUP), _contexts(settings, target, quiet))
        if extra is not None:
            rows.extend(extra(settings))
        blocks.append((f"site {settings.site}", rows))
    if site is None:
        shared_ctx.memo["sites"] = list(sites.by_name.values())
        left = []
        for kind in (_left_by_removed(AlertPolicy)(), _left_by_removed(UptimeCheck)(),
                     *([_OrphanReplicas()] if shared.region else [])):
            try:
                items = [i for i in kind.find(shared_ctx) if kind.ours(shared_ctx, i)]
            except SwitchError as exc:  # a part that cannot be read says so; the rest stands
                left.append(Row(kind.label, "unknown", "", exc.message))
                continue
            for item in items:
                labels = item.get("userLabels") or ((item.get("metadata") or {}).get("labels")) or {}
                left.append(Row(kind.label, "left", kind.name_of(item),
                                f"site {labels.get(SITE_LABEL)!r} is not in the sites file; python -m switch "
                                f"teardown removes it"))
        if left:
            blocks.append(("left by removed sites", left))
    return blocks


def format_blocks(blocks: list[tuple[str, list[Row]]]) -> str:
    return "\n\n".join(f"{title}\n{engine.format_table(rows)}" for title, rows in blocks)
