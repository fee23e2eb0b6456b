"""One naming scheme for what a deploy creates, used by deploy, setup, status, the README and Drone.

A *stage* (``--stage``, or ``SWITCH_STAGE``; default ``prod``) names one
deployment of switch in a project:

- functions ``switch-STAGE`` (HTTP) and ``switch-STAGE-pubsub`` (Pub/Sub),
- the service account ``switch-STAGE@PROJECT.iam.gserviceaccount.com``,
- secrets ``switch-STAGE-token``, ``switch-STAGE-basic-password``,
  ``switch-STAGE-cloudflare-token``.

``npx serverless deploy --stage STAGE`` hands its stage to the same scheme.
"""

from __future__ import annotations

import os
import re

from ..errors import ConfigError

DEFAULT_STAGE = "prod"
# Short enough that switch-STAGE is a valid service account ID (6-30 characters).
STAGE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
ENTRY_POINTS = ("switch", "switch_pubsub")


def stage(value: str | None = None) -> str:
    """The stage given, else SWITCH_STAGE, else prod; ConfigError when it cannot name things."""
    chosen = value or os.environ.get("SWITCH_STAGE", "").strip() or DEFAULT_STAGE
    if not STAGE.match(chosen) or chosen.endswith("-"):
        raise ConfigError("--stage", f"{chosen!r} is not a stage; use up to 20 lowercase letters, digits and '-', "
                          "a letter first (for example prod or dev)")
    return chosen


def function_id(stage_name: str, entry: str) -> str:
    return f"switch-{stage_name}" if entry == "switch" else f"switch-{stage_name}-pubsub"


def account_id(stage_name: str) -> str:
    return f"switch-{stage_name}"
