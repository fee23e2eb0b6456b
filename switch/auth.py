"""Who may call the function: HTTP Basic or a shared token, checked in constant time.

Cloud Monitoring webhooks carry no Google identity, so the function is
deployed public and guards itself (monitoring.md §5):
- ``webhook_basicauth`` channels send ``Authorization: Basic base64(user:pass)``;
- ``webhook_tokenauth`` channels can only carry a secret in the URL, so the
  token is accepted as the ``auth_token`` query parameter, and also as
  ``Authorization: Bearer`` for curl.
With neither configured every request is refused (fail closed).
"""

from __future__ import annotations

import base64
import binascii
import hmac

from .errors import ConfigError, Unauthorized

MAX_CREDENTIAL_LENGTH = 1024


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def authenticate(authorization: list[str], tokens: list[str], settings) -> str:
    """Return how the caller authenticated ("basic" or "token"), or raise Unauthorized.

    ``authorization`` is every Authorization header sent, ``tokens`` every
    ``auth_token`` query value. Doubled credentials are refused rather than
    guessed at.
    """
    if not settings.auth_configured:
        raise ConfigError("SWITCH_TOKEN", "no credentials are configured, so every request is refused; "
                          "set SWITCH_TOKEN, or SWITCH_BASIC_USER and SWITCH_BASIC_PASSWORD")
    if len(authorization) > 1 or len(tokens) > 1:
        raise Unauthorized("send one set of credentials")
    if authorization and tokens:
        raise Unauthorized("send one set of credentials")

    if tokens:
        if settings.token and len(tokens[0]) <= MAX_CREDENTIAL_LENGTH and _equal(tokens[0], settings.token):
            return "token"
        raise Unauthorized("wrong credentials")

    if not authorization:
        raise Unauthorized("credentials required")
    header = authorization[0]
    if len(header) > MAX_CREDENTIAL_LENGTH * 2:
        raise Unauthorized("wrong credentials")
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()

    if scheme == "bearer" and settings.token:
        if _equal(value, settings.token):
            return "token"
        raise Unauthorized("wrong credentials")

    if scheme == "basic" and settings.basic_user:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise Unauthorized("malformed Basic credentials") from None
        user, sep, password = decoded.partition(":")
        # Both comparisons always run, so timing does not tell which part was wrong.
        user_ok = _equal(user, settings.basic_user)
        password_ok = _equal(password, settings.basic_password)
        if sep and user_ok and password_ok:
            return "basic"
        raise Unauthorized("wrong credentials")

    raise Unauthorized("unsupported credentials")
