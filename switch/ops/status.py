"""Status rows for the replica, its domain mapping and the redirect, from ``Switch.status()``."""

from __future__ import annotations

from .engine import Row


def rows_from_switch_status(status: dict) -> list[Row]:
    """Rows for the replica, its domain mapping and the redirect from ``Switch.status()``."""
    rows = []
    replica = status.get("replica")
    service = status.get("service", "")
    part = "warm standby" if status.get("standby") else "replica"
    if not replica:
        rows.append(Row(part, "none", service, "the next reconcile creates it" if status.get("standby") else
                        "standby: visitors go to the home site"))
    else:
        ready = replica.get("ready")
        state = "ready" if ready is True else "failed" if ready is False else "deploying"
        bits = [replica.get("url") or ""]
        if replica.get("revision"):
            bits.append(f"revision {replica['revision']}")
        if replica.get("current") is False:
            bits.append("its image or settings differ from SWITCH_IMAGE and the replica settings: "
                        + ("rolled after the failback" if replica.get("active_seconds") is not None else
                           "the next reconcile rolls it"))
        if replica.get("probe_failures"):
            bits.append(f"home failed {replica['probe_failures']} of {status.get('probe_failover_after')} "
                        f"probe rounds in a row")
        if replica.get("pinned"):
            bits.append("pinned")
        if replica.get("active_seconds") is not None:
            bits.append(f"visitors on it for {replica['active_seconds']} s")
        elif ready is True:
            bits.append("no visitors sent to it")
        if replica.get("close_pending"):
            bits.append(f"incident {replica['close_pending']} closed: reconcile fails back after the flap guard")
        if replica.get("message") and ready is not True:
            bits.append(str(replica["message"]))
        rows.append(Row(part, state, service, "; ".join(b for b in bits if b)))
    if "domain" in status:
        mapping = status.get("domain")
        if not mapping:
            rows.append(Row("domain mapping", "none", "", "created by the next failover or reconcile"))
        elif mapping.get("error"):
            rows.append(Row("domain mapping", "error", str(mapping.get("host") or ""), mapping["error"]))
        else:
            conditions = mapping.get("conditions") or {}
            cert = (conditions.get("CertificateProvisioned") or {}).get("status")
            state = "ready" if cert == "True" else "pending"
            records = ", ".join(f"{r.get('name')} {r.get('type')} {r.get('rrdata')}"
                                for r in mapping.get("dns_records") or [])
            detail = f"certificate {cert or 'unknown'}" + (f"; DNS: {records}" if records else "")
            rows.append(Row("domain mapping", state, str(mapping.get("host") or ""), detail))
    traffic = status.get("traffic") or {}
    if traffic.get("error"):
        rows.append(Row("redirect", "error", str(traffic.get("router") or ""), traffic["error"]))
    elif traffic:
        if not traffic.get("configured"):
            state = "not configured"
        else:
            state = "on" if traffic.get("enabled") else "off"
        detail = f"→ {traffic['target']}" if traffic.get("enabled") and traffic.get("target") else ""
        if traffic.get("detail"):
            detail = f"{detail}; {traffic['detail']}".lstrip("; ")
        rows.append(Row("redirect", state, str(traffic.get("router") or ""), detail))
    for warning in status.get("warnings") or []:
        rows.append(Row("warning", "!", "", warning))
    return rows
