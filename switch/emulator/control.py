"""``/_emulator/...``: control of an emulator running in another process (never faulted, never recorded).

GET/DELETE ``requests``, POST/DELETE ``faults``, POST ``config``, POST
``alerts``, ``topics`` and ``serviceAccounts``, GET ``state``. A mixin of
``Emulator``, which holds what these change.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from werkzeug.wrappers import Request, Response


class ControlMixin:
    def _control(self, request: Request, what: str) -> Response:
        try:
            body = json.loads(request.get_data() or b"{}") if request.method == "POST" else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            key = (request.method, what.rstrip("/"))
            if key == ("GET", "requests"):
                return _json({"requests": [asdict(r) for r in self.requests]})
            if key == ("DELETE", "requests"):
                self.clear_requests()
                return _json({})
            if key == ("POST", "faults"):
                self.inject(**body)
                return _json({"faults": self.state()["faults"]})
            if key == ("DELETE", "faults"):
                self.clear_faults()
                return _json({"faults": []})
            if key == ("POST", "config"):
                return _json({"config": self._configure(body)})
            if key == ("POST", "alerts"):
                return self._alert(body)
            if key == ("POST", "topics"):
                return _json(self.create_topic(body.get("name")))
            if key == ("POST", "serviceAccounts"):
                return self._service_account(body)
            if key == ("GET", "state"):
                return _json(self.state())
        except (TypeError, ValueError) as e:
            return _json({"error": str(e)}, 400)
        return _json({"error": f"no control endpoint {request.method} /_emulator/{what}"}, 404)

    def _configure(self, body: dict) -> dict:
        setters = {
            "ready_delay": self.set_ready_delay,
            "delete_delay": self.set_delete_delay,
            "cert_delay": self.set_cert_delay,
            "deploy_delay": self.set_deploy_delay,
            "latency_ms": self.set_latency,
        }
        unknown = set(body) - set(setters)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(setters)}")
        for name, value in body.items():
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
            setters[name](value)
        with self._lock:
            return self._config()

    def _service_account(self, body: dict) -> Response:
        project, account_id = body.get("project"), body.get("accountId")
        if not isinstance(project, str) or not isinstance(account_id, str):
            raise ValueError('expected {"project": "PROJECT_ID", "accountId": "ID", "displayName": "..."}')
        return _json(self.create_service_account(project, account_id, body.get("displayName", "")))

    def _alert(self, body: dict) -> Response:
        policy, state = body.get("policy"), body.get("state", "OPEN")
        if not isinstance(policy, str) or state not in ("OPEN", "CLOSED"):
            raise ValueError('expected {"policy": "display name", "state": "OPEN" or "CLOSED"}')
        if state == "OPEN":
            return _json({"name": self.open_alert(policy, body.get("project"), body.get("host"))})
        name = self.close_alert(policy)
        if name is None:
            return _json({"error": f"no open alert for policy {policy!r}"}, 404)
        return _json({"name": name})


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body, indent=2) + "\n", status=status, content_type="application/json")
