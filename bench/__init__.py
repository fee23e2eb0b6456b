"""switch's benchmark: cold start, per-event cost, API round trips and time to
recovery, measured on this machine against the local emulator.

Run it with ``python -m switch bench`` (or ``python -m bench.run``); see
``bench/RESULTS.md`` for the latest figures. Nothing here ships with the
function: ``baseline.py`` is the naive failover the design is compared with,
and ``trivial_main.py`` the empty function cold starts are compared with.
"""
