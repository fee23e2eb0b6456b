"""Cloudflare's edge, as far as Single Redirects go: what a visitor gets.

Rules are evaluated in order and the first enabled rule whose expression
matches answers with its redirect. Only a small part of the Rules language is
understood; anything else is an error, never a guess, because a rule the
emulator silently mis-evaluates would make a drill pass that production fails.

Supported: ``(``/``)``, ``and``, ``or``, ``not``; ``http.host`` and
``http.request.uri.path`` compared with ``eq``/``ne``/``==``/``!=`` to a string;
``starts_with(http.request.uri.path, "...")``. Dynamic targets:
``concat("LITERAL", http.request.uri.path)``.
"""

from __future__ import annotations

import re
from html import escape

from werkzeug.wrappers import Response

FIELDS = {"http.host": "host", "http.request.uri.path": "path"}
_STRING = r'"(?:[^"\\]|\\.)*"'
_TOKEN = re.compile(rf"\s*({_STRING}|==|!=|[(),]|[A-Za-z_][A-Za-z0-9_.]*)")
_CONCAT = re.compile(rf"^\s*concat\(\s*({_STRING})\s*,\s*http\.request\.uri\.path\s*\)\s*$")


class Unsupported(Exception):
    """An expression outside the subset the emulator evaluates."""


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if not m:
            raise Unsupported(f"unexpected text at {text[pos:].strip()!r}")
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


class _Parser:
    """Recursive descent; each parse_* returns a predicate over (host, path)."""

    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise Unsupported(f"expected {expected or 'more'} but found {token!r}")
        self.pos += 1
        return token

    def parse(self):
        predicate = self.parse_or()
        if self.peek() is not None:
            raise Unsupported(f"unexpected {self.peek()!r}")
        return predicate

    def parse_or(self):
        terms = [self.parse_and()]
        while self.peek() == "or":
            self.take()
            terms.append(self.parse_and())
        return terms[0] if len(terms) == 1 else lambda host, path: any(t(host, path) for t in terms)

    def parse_and(self):
        terms = [self.parse_not()]
        while self.peek() == "and":
            self.take()
            terms.append(self.parse_not())
        return terms[0] if len(terms) == 1 else lambda host, path: all(t(host, path) for t in terms)

    def parse_not(self):
        if self.peek() == "not":
            self.take()
            inner = self.parse_not()
            return lambda host, path: not inner(host, path)
        return self.parse_primary()

    def parse_primary(self):
        token = self.take()
        if token == "(":
            inner = self.parse_or()
            self.take(")")
            return inner
        if token == "starts_with":
            self.take("(")
            if self.take() != "http.request.uri.path":
                raise Unsupported("starts_with is only understood on http.request.uri.path")
            self.take(",")
            prefix = self.string()
            self.take(")")
            return lambda host, path: path.startswith(prefix)
        if token in FIELDS:
            op = self.take()
            if op not in ("eq", "ne", "==", "!="):
                raise Unsupported(f"operator {op!r} is not understood")
            value, field, equal = self.string(), FIELDS[token], op in ("eq", "==")
            return lambda host, path: ({"host": host, "path": path}[field] == value) == equal
        raise Unsupported(f"{token!r} is not understood")

    def string(self) -> str:
        token = self.take()
        if not token.startswith('"'):
            raise Unsupported(f"expected a string but found {token!r}")
        return _unquote(token)


def matcher(expression: str):
    """A predicate ``(host, path) -> bool``, or Unsupported."""
    return _Parser(expression).parse()


def location(from_value: dict, path: str, query: str) -> str:
    target = from_value["target_url"]
    if "value" in target:
        url = target["value"]
    else:
        m = _CONCAT.match(target["expression"])
        if not m:
            raise Unsupported(f"target_url expression {target['expression']!r} is not understood")
        url = _unquote(m.group(1)) + path
    if from_value.get("preserve_query_string") and query:
        url += ("&" if "?" in url else "?") + query
    return url


def visit(rulesets: list[dict], host: str, path: str, query: str, origin=None) -> Response:
    """The answer a visitor of ``https://{host}{path}?{query}`` gets from the edge.

    Zones here carry no hostnames, so every zone's rules are consulted, in the
    order the zones were first written; the rules' expressions pick the host.
    """
    for ruleset in rulesets:
        for rule in ruleset.get("rules", []):
            if not rule.get("enabled", True):
                continue
            try:
                if not matcher(rule["expression"])(host, path):
                    continue
                from_value = rule["action_parameters"]["from_value"]
                target = location(from_value, path, query)
            except Unsupported as e:
                return Response(
                    f"The edge emulator does not understand rule {rule.get('ref')!r} "
                    f"({rule['expression']!r}): {e}\n",
                    status=500,
                    content_type="text/plain; charset=utf-8",
                )
            status = from_value.get("status_code", 301)
            return Response(f"Redirecting to {target}\n", status=status, headers={"Location": target}, content_type="text/plain")
    if origin is not None:
        return origin(host, path, query)
    return Response(
        f"<!doctype html>\n<p>origin: {escape(host)}{escape(path)} (no redirect rule matched)\n",
        content_type="text/html; charset=utf-8",
    )


def proxy(origin_url: str, path: str, query: str) -> Response:
    """Forward to the home origin as Cloudflare's proxy does; 521 when it does not answer."""
    import requests

    url = origin_url.rstrip("/") + path + (f"?{query}" if query else "")
    try:
        answer = requests.get(url, timeout=3, allow_redirects=False)
    except requests.exceptions.RequestException:
        # Cloudflare's own page when the origin refuses the connection.
        return Response("<!doctype html>\n<title>Web server is down | Error code 521</title>\n"
                        "<p>Error 521: the web server is not returning a connection.\n",
                        status=521, content_type="text/html; charset=utf-8")
    headers = {k: v for k, v in answer.headers.items() if k.lower() in ("location", "content-type")}
    return Response(answer.content, status=answer.status_code, headers=headers)
