"""The operator side's engine: plan, dry run, apply, ownership, duplicates, status rows.

A resource kind (``Kind``) says what it wants and how to talk to its API; the
engine does the rest the same way for every kind, the way a Terraform
provider's resources share one plan/apply (DESIGN.md, "Models worth copying"):

- **find** what exists (a list filtered by our labels, or one exact name),
- **own** only what carries our mark: an item that is not ours is never
  modified or deleted. Where a kind has an exact name (``named``), someone
  else's item at that name is refused (``NotManaged``) by apply and skipped by
  destroy; where items are found by labels, other items are simply not ours;
- **compare** the fields the kind owns and update only those, in place with an
  update mask, or **replace** (create the new one, delete the old one last,
  once nothing points at it) when a field that cannot be updated differs;
- **clean up duplicates** a retried create left behind (ours, same kind),
  keeping one;
- **dry run**: reads only, never a write; bodies printed with secrets
  redacted;
- **say it**: one output line per object, a summary, and status rows.

Kinds run in the order given; a kind may read what an earlier one produced
from ``Context.names`` (the alert policy needs the channel's and the check's
names). Items to retire are deleted at the end, the latest kind first, so a
policy lets go of an old check before the check goes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import NotManaged, SwitchError, UpstreamError

REDACTED = "<redacted>"
PENDING = "(new {label})"
# Body keys that hold a secret wherever they appear (channel labels, headers, secret payloads).
SECRET_KEYS = frozenset({"password", "auth_token", "service_key", "authorization", "data"})

WOULD = {"created": "would create", "updated": "would update", "deleted": "would delete",
         "granted": "would grant", "replaced": "would replace"}
SUMMARY_ORDER = ("created", "updated", "replaced", "deleted", "granted", "unchanged", "kept", "skipped", "would create",
                 "would update", "would replace", "would delete", "would grant")


def redact(body: Any) -> Any:
    """A copy fit to print: passwords, Authorization headers, secret payloads and auth_token values hidden."""
    if isinstance(body, dict):
        return {k: (REDACTED if k.lower() in SECRET_KEYS else redact(v)) for k, v in body.items()}
    if isinstance(body, list):
        return [redact(v) for v in body]
    if isinstance(body, str):
        return re.sub(r"(auth_token=)[^&\s\"]+", r"\1" + REDACTED, body)
    return body


@dataclass(frozen=True)
class Outcome:
    """What the engine did (or would do) to one object."""

    action: str  # created | updated | unchanged | deleted | granted | skipped | would create | ...
    kind: str
    display: str
    name: str = ""
    detail: str = ""

    def line(self) -> str:
        shown = f"{self.display} ({self.detail})" if self.detail else self.display
        return f"{self.action:<12}  {self.kind:<20}  {shown}  {self.name}".rstrip()


@dataclass(frozen=True)
class Row:
    """One line of ``python -m switch status``."""

    part: str
    state: str
    name: str = ""
    detail: str = ""


class Recorder:
    """Collects outcomes and prints each one as it happens."""

    def __init__(self, out: Callable[[str], None], dry_run: bool):
        self.out = out
        self.dry_run = dry_run
        self.outcomes: list[Outcome] = []

    def record(self, action: str, kind: str, display: str, name: str = "", detail: str = "",
               body: dict | None = None, mask: str | None = None) -> Outcome:
        if self.dry_run:
            action = WOULD.get(action, action)
        outcome = Outcome(action, kind, display, name, detail)
        self.outcomes.append(outcome)
        self.out(outcome.line())
        if self.dry_run and body is not None:
            heading = f"  updateMask={mask}\n" if mask else ""
            text = json.dumps(redact(body), indent=2, sort_keys=True)
            self.out(heading + "\n".join("  " + line for line in text.splitlines()))
        return outcome

    def summary(self, verb: str) -> str:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.action] = counts.get(outcome.action, 0) + 1
        if not counts:
            text = f"{verb}: nothing of switch's found; nothing to do"
        elif set(counts) <= {"unchanged", "skipped"}:
            text = f"{verb}: nothing to change ({counts.get('unchanged', 0)} unchanged)"
        else:
            text = f"{verb}: " + ", ".join(f"{counts[a]} {a}" for a in SUMMARY_ORDER if a in counts)
        if self.dry_run:
            text += "; dry run: nothing was sent"
        self.out(text)
        return text


@dataclass
class Context:
    """What every kind may read while the engine runs one command."""

    settings: Any
    target: Any  # the command's validated inputs (for setup: the monitoring chain's target)
    api: Any  # switch.ops.google.Google: the discovery clients and one way to call them
    rec: Recorder
    names: dict[str, str] = field(default_factory=dict)  # kind label -> name of the item kept or created
    ours: dict[str, set[str]] = field(default_factory=dict)  # kind label -> names of every item of ours seen
    memo: dict[str, Any] = field(default_factory=dict)  # look-ups made once per run (a project number ...)

    @property
    def dry_run(self) -> bool:
        return self.rec.dry_run

    def note(self, text: str) -> None:
        self.rec.out(f"note: {text}")


class Kind:
    """One kind of object switch creates. Subclasses fill in what differs; defaults suit most.

    Required: ``label``, ``find``, ``ours``, ``desired``, ``create``,
    ``update`` and ``delete``. Everything else has a default that fits a kind whose items
    carry our labels and can be updated in place with an update mask.
    """

    label = ""
    # True: the kind has one exact name and another's item there is a collision.
    named = False
    # True: failing to look (API disabled, no access) is a skipped row, not an error.
    optional = False
    # Verb shown for a create ("granted" for an IAM binding).
    created = "created"
    # The dry run prints the body of a create or update.
    show_body = True
    # Status when none exists.
    missing_hint = "run: python -m switch setup"

    # -- finding ------------------------------------------------------------

    def find(self, ctx: Context) -> list[dict]:
        """Every existing item that might be ours (filtered with ``ours``)."""
        raise NotImplementedError

    def ours(self, ctx: Context, item: dict) -> bool:
        raise NotImplementedError

    def name_of(self, item: dict) -> str:
        return item.get("name", "")

    # -- wanting ------------------------------------------------------------

    def desired(self, ctx: Context) -> dict | None:
        """The body this kind wants, or None when the command does not need it."""
        raise NotImplementedError

    def display(self, ctx: Context, body: dict) -> str:
        """How an item (desired or found) is named in output lines."""
        return body.get("displayName", "")

    def missing_name(self, ctx: Context) -> str:
        """The name shown for an item that could not be looked up (a ``named`` kind knows it)."""
        return ""

    def refusal(self, item: dict) -> str:
        """Why a ``named`` kind will not touch someone else's item at its name."""
        return (f"a {self.label} {self.name_of(item)} exists but was not created by switch; "
                f"it is left untouched")

    def fixed(self, body: dict) -> tuple:
        """Fields that cannot be updated in place: a difference means a new item."""
        return ()

    def replaced_because(self, found: dict, desired: dict) -> str:
        return "replaced"

    def adopt(self, ctx: Context, desired: dict, found: dict) -> dict:
        """``desired`` with what others added to ``found`` kept (labels, channels ...)."""
        return desired

    def changes(self, ctx: Context, desired: dict, found: dict) -> list[str]:
        """Top-level fields of ``desired`` that differ from ``found`` (only fields we own)."""
        return [k for k in desired if desired[k] != found.get(k)]

    def detail(self, action: str, body: dict, changed: list[str]) -> str:
        return ", ".join(changed)

    # -- acting -------------------------------------------------------------

    def create(self, ctx: Context, body: dict) -> dict:
        raise NotImplementedError

    def update(self, ctx: Context, found: dict, body: dict, mask: str) -> None:
        raise NotImplementedError

    def before_update(self, ctx: Context, found: dict) -> None:
        """A warning worth printing before an update (say, what Google does to open alerts)."""

    def delete(self, ctx: Context, item: dict) -> None:
        raise NotImplementedError

    def in_use(self, ctx: Context, item: dict) -> str | None:
        """Why teardown must keep this item of ours for now (the replica visitors are on), or None."""
        return None

    def after_create(self, ctx: Context, created: dict) -> None:
        """Work that follows a create (a first secret version, say)."""

    # -- status -------------------------------------------------------------

    def describe(self, ctx: Context, item: dict) -> str:
        return ""

    def state(self, item: dict) -> str:
        return "disabled" if item.get("enabled") is False or item.get("disabled") is True else "ok"

    def status_row(self, ctx: Context, items: list[dict]) -> Row:
        if not items:
            return Row(self.label, "missing", "", self.missing_hint)
        item = items[0]
        detail = self.describe(ctx, item)
        if len(items) > 1:
            detail += f" (+{len(items) - 1} duplicate; setup removes it)"
        return Row(self.label, self.state(item), self.name_of(item), detail)

    def status_error(self, ctx: Context, exc: SwitchError) -> Row:
        return Row(self.label, "error", "", exc.message)


def _sorted_ours(kind: Kind, ctx: Context, items: list[dict]) -> list[dict]:
    return sorted((i for i in items if kind.ours(ctx, i)), key=kind.name_of)


def _refuse_foreign(kind: Kind, ctx: Context, items: list[dict]) -> None:
    for item in items:
        if not kind.ours(ctx, item):
            raise NotManaged(kind.refusal(item))


def apply(kinds: list[Kind], ctx: Context) -> list[Outcome]:
    """Create, or find and update, every kind in order; retire old and duplicate items last."""
    retire: list[tuple[Kind, list[tuple[dict, str]]]] = []
    for kind in kinds:
        desired = kind.desired(ctx)
        if desired is not None:
            retire.append((kind, _converge(kind, ctx, desired)))
    # Dependents first: the policy has let go of an old check by now, so the check can go.
    for kind, items in reversed(retire):
        for item, why in items:
            _delete(kind, ctx, item, why)
    return ctx.rec.outcomes


def _converge(kind: Kind, ctx: Context, desired: dict) -> list[tuple[dict, str]]:
    """Converge one kind; returns the items to retire once every kind has converged."""
    existing = kind.find(ctx)
    if kind.named:
        _refuse_foreign(kind, ctx, existing)
    ours = _sorted_ours(kind, ctx, existing)
    ctx.ours[kind.label] = {kind.name_of(i) for i in ours}
    fixed = kind.fixed(desired)
    found = next((i for i in ours if kind.fixed(i) == fixed), ours[0] if ours else None)
    stale = [(i, f"duplicate of {kind.name_of(found)}") for i in ours if i is not found]
    if found is not None and kind.fixed(found) != fixed:
        stale.append((found, kind.replaced_because(found, desired)))
        found = None
    if found is None:
        found = _create(kind, ctx, desired)
        if found is None:
            return stale
    _update(kind, ctx, desired, found)
    return stale


def _create(kind: Kind, ctx: Context, desired: dict) -> dict | None:
    """Create the item; None when done, or the item met at our fixed name (to update like a found one)."""
    rec, display = ctx.rec, kind.display(ctx, desired)
    detail = kind.detail("created", desired, [])
    if ctx.dry_run:
        name = kind.name_of(desired)
        ctx.names[kind.label] = name or PENDING.format(label=kind.label)
        rec.record(kind.created, kind.label, display, name, detail, body=desired if kind.show_body else None)
        return None
    try:
        created = kind.create(ctx, desired)
    except UpstreamError as exc:
        # A create retried after its answer was lost, or a second run alongside,
        # meets the item already at our fixed name (409): carry on from it.
        if exc.status_code != 409 or not kind.named:
            raise
        again = kind.find(ctx)
        _refuse_foreign(kind, ctx, again)
        if not again:
            raise
        found = again[0]
        if kind.changes(ctx, kind.adopt(ctx, dict(desired), found), found):
            return found
        created = found
    else:
        kind.after_create(ctx, created)
    name = kind.name_of(created)
    ctx.names[kind.label] = name
    ctx.ours.setdefault(kind.label, set()).add(name)
    rec.record(kind.created, kind.label, display, name, detail)
    return None


def _update(kind: Kind, ctx: Context, desired: dict, found: dict) -> None:
    rec, display, name = ctx.rec, kind.display(ctx, desired), kind.name_of(found)
    ctx.names[kind.label] = name
    desired = kind.adopt(ctx, dict(desired), found)
    changed = kind.changes(ctx, desired, found)
    if not changed:
        rec.record("unchanged", kind.label, display, name, kind.detail("unchanged", found, []))
        return
    body = {key: desired[key] for key in changed}
    mask = ",".join(changed)
    kind.before_update(ctx, found)
    if not ctx.dry_run:
        kind.update(ctx, found, body, mask)
    rec.record("updated", kind.label, display, name, kind.detail("updated", desired, changed),
               body=body if kind.show_body else None, mask=mask)


def _delete(kind: Kind, ctx: Context, item: dict, detail: str = "") -> None:
    if not ctx.dry_run:
        try:
            kind.delete(ctx, item)
        except UpstreamError as exc:
            if exc.status_code != 404:  # already gone is what we wanted
                raise
    ctx.rec.record("deleted", kind.label, kind.display(ctx, item), kind.name_of(item), detail)


def destroy(kinds: list[Kind], ctx: Context) -> list[Outcome]:
    """Delete every item of ours of each kind, in the order given; nothing else is touched."""
    for kind in kinds:
        try:
            existing = kind.find(ctx)
        except UpstreamError as exc:
            if not kind.optional:
                raise
            # Never used (API disabled, no such location) or not allowed to look:
            # the rest is gone already, so say so and finish.
            ctx.rec.record("skipped", kind.label, kind.display(ctx, {}), kind.missing_name(ctx),
                           f"could not look: {exc.message}")
            continue
        for item in sorted(existing, key=kind.name_of):
            busy = kind.in_use(ctx, item) if kind.ours(ctx, item) else None
            if busy:
                ctx.rec.record("kept", kind.label, kind.display(ctx, item), kind.name_of(item), busy)
            elif kind.ours(ctx, item):
                _delete(kind, ctx, item)
            elif kind.named:
                ctx.rec.record("skipped", kind.label, kind.display(ctx, item), kind.name_of(item),
                               "not created by switch")
    return ctx.rec.outcomes


def status(kinds: list[Kind], ctx: Context) -> list[Row]:
    """One row per kind; a kind that cannot be read says why instead of failing the rest."""
    rows = []
    for kind in kinds:
        try:
            existing = kind.find(ctx)
        except SwitchError as exc:
            rows.append(kind.status_error(ctx, exc))
            continue
        rows.append(kind.status_row(ctx, _sorted_ours(kind, ctx, existing) if not kind.named else existing))
    return rows


def format_table(rows: list[Row]) -> str:
    """An aligned table: PART, STATE, NAME, DETAIL."""
    table = [("PART", "STATE", "NAME", "DETAIL")] + [(r.part, r.state, r.name, r.detail) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(3)]
    return "\n".join(
        f"{line[0]:<{widths[0]}}  {line[1]:<{widths[1]}}  {line[2]:<{widths[2]}}  {line[3]}".rstrip()
        for line in table
    )
