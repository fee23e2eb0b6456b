"""The operator side: what a person runs from a laptop or CI, never the function itself.

- ``engine``: plan, dry run, apply, ownership, duplicate clean-up and status
  rows, written once for every kind;
- ``kinds/``: one small module per kind of object switch creates in a project;
- ``chain``: setup, teardown and status of the monitoring chain, each a list
  of kinds handed to the engine;
- ``google``: the discovery clients these use, over ``switch.transport``.

The function never imports this package (``main.py`` loads only the request
path), so none of it costs a cold start.
"""

from __future__ import annotations

from .args import add_arguments, options_from_args
from .chain import SetupOptions, chain_status, setup, teardown
from .engine import Outcome, Row, format_table
from .status import rows_from_switch_status

__all__ = ["SetupOptions", "Outcome", "Row", "setup", "teardown", "chain_status", "rows_from_switch_status",
           "format_table", "add_arguments", "options_from_args"]
