"""The house keeps its shape: imports run one way, files stay readable, the function starts lean.

The request path is ranked from the entry point down to the plumbing; a module
may import only modules ranked below it (lazy imports inside functions count
too). The operator side (``switch.ops``, the CLI, the drill), the emulator and
the benchmark sit beside it: they may use the request path, never the other
way round.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SWITCH = ROOT / "switch"
# The request path, lowest first: what main.py can reach on the worst day.
RANKS = {
    "switch.errors": 0, "switch.logs": 0,
    "switch.config": 1,
    "switch.transport": 2, "switch.probe": 2, "switch.iam": 2, "switch.alert": 2, "switch.auth": 2,
    "switch.traffic.base": 2,
    "switch.cloudrun": 3, "switch.incidents": 3, "switch.traffic.cloudflare": 3, "switch.domains": 3.5,
    "switch.sites": 3.6,
    "switch.traffic": 4,
    "switch.failover.report": 4.1, "switch.failover.core": 4.2, "switch.failover.status": 4.3,
    "switch.failover.deactivate": 4.4, "switch.failover.activate": 4.5, "switch.failover.standby": 4.55,
    "switch.failover.reconcile": 4.6,
    "switch.failover": 5,
    "switch.controllers": 6, "switch.fleet": 6.5,
    "switch.events": 7,
    "switch.app": 8,
}
# Beside the request path, never imported by it.
OPERATOR = ("switch.ops", "switch.cli", "switch.drill", "switch.__main__", "switch.emulator", "bench")
MAX_LINES = 500


def module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, resolved to its full name."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # `from . import config` imports the module switch.config.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in ("switch", "bench", "main")}


def known(module: str) -> str | None:
    """The ranked or operator-side module ``module`` names (itself, or the package it is in)."""
    while module:
        if module in RANKS or module.startswith(OPERATOR):
            return module
        module = module.rpartition(".")[0]
    return None


def request_path_files():
    return [p for p in SWITCH.rglob("*.py") if module_name(p) in RANKS]


@pytest.mark.parametrize("path", request_path_files(), ids=lambda p: module_name(p))
def test_the_request_path_imports_only_modules_below_it(path):
    name = module_name(path)
    upward = []
    for imported in imports_of(path):
        target = known(imported)
        if target is None or target == name:
            continue
        if target.startswith(OPERATOR):
            upward.append(f"{imported} (operator side)")
        elif RANKS[target] >= RANKS[name] and not target.startswith(name + "."):
            upward.append(f"{imported} (rank {RANKS[target]} ≥ {RANKS[name]})")
    assert not upward, f"{name} imports {upward}"


def test_every_module_in_switch_is_ranked_or_on_the_operator_side():
    # A new module must say where it stands: add it to RANKS or put it beside the request path.
    unplaced = [module_name(p) for p in SWITCH.rglob("*.py")
                if known(module_name(p)) is None and module_name(p) != "switch"]
    assert unplaced == []


def test_the_emulator_imports_nothing_of_switch_outside_itself():
    for path in (SWITCH / "emulator").rglob("*.py"):
        outside = [m for m in imports_of(path) if m.startswith("switch") and not m.startswith("switch.emulator")]
        assert outside == [], f"{module_name(path)} imports {outside}"


def test_no_file_in_switch_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in SWITCH.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_starting_the_function_loads_no_operator_side_emulator_or_benchmark_code():
    code = ("import sys; sys.path.insert(0, '.'); import main; "
            "print('\\n'.join(sorted(m for m in sys.modules if m.startswith(('switch', 'bench', 'googleapiclient')))))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.split()
    assert "switch.app" in loaded
    assert [m for m in loaded if m.startswith(OPERATOR) or m.startswith("googleapiclient")] == []


FIRST_REQUEST = """
import json, os, sys
sys.path.insert(0, '.')
from switch.emulator import Emulator
emulator = Emulator(ready_delay=0).start()
os.environ.update(SWITCH_PROJECT="switch-demo", SWITCH_REGION="europe-west1", SWITCH_IMAGE="example/site:1",
                  SWITCH_TOKEN="t0ken-for-tests-0123456789", SWITCH_RUN_ENDPOINT=emulator.url)
before = set(sys.modules)
import functions_framework
client = functions_framework.create_app("switch", "main.py").test_client()
answer = client.get("/status", headers={"Authorization": "Bearer t0ken-for-tests-0123456789"})
assert answer.status_code == 200, answer.get_data(as_text=True)
loaded = {m: type(sys.modules[m]).__name__ for m in sys.modules if m not in before}
emulator.stop()
print(json.dumps(loaded))
"""


def test_the_first_request_to_google_loads_neither_pyparsing_nor_cryptography_nor_asyncio():
    # Each costs tens of milliseconds of a cold start and none is on switch's path (switch/transport.py).
    answer = subprocess.run([sys.executable, "-c", FIRST_REQUEST], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert answer.returncode == 0, answer.stderr[-2000:]
    loaded = json.loads(answer.stdout.splitlines()[-1])

    assert "googleapiclient.discovery" in loaded  # the Run v1 client is the discovery-built one
    heavy = [m for m in loaded if m.split(".")[0] in ("pyparsing", "cryptography", "asyncio")]
    assert heavy == []
    assert loaded["httplib2"] == "_Deferred" and loaded["google.oauth2.service_account"] == "_Deferred"


DEFERRED_USE = """
import sys
sys.path.insert(0, '.')
from switch import transport
transport._defer_unused_imports()
import googleapiclient.discovery as discovery
import httplib2
from google.oauth2 import service_account
assert type(sys.modules["httplib2"]).__name__ == "_Deferred"
http = httplib2.Http()  # the first attribute read loads the real module
assert type(sys.modules["httplib2"]).__name__ == "module" and "pyparsing" in sys.modules
assert sys.modules["httplib2"].RETRIES == 1  # what googleapiclient set on the stand-in reached the real module
assert discovery.service_account.Credentials is sys.modules["google.oauth2.service_account"].Credentials
print("ok")
"""


def test_a_deferred_module_is_the_real_one_as_soon_as_anything_uses_it():
    answer = subprocess.run([sys.executable, "-c", DEFERRED_USE], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert answer.returncode == 0 and answer.stdout.strip() == "ok", answer.stderr[-2000:]
