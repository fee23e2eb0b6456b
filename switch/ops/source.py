"""The function's source: a small zip of exactly what it runs, the same bytes for the same files.

Cloud Functions builds the zip on its side (``pip install -r requirements.txt``
next to ``main.py``), so it holds ``main.py``, ``requirements.txt`` and the
request path of the ``switch`` package, listed by name rather than by
exclusion: tests, the benchmark, the operator side, the emulator, keys, ``.env``
files and virtual environments can never slip in. Entries are sorted and dated
1980-01-01, so an unchanged tree gives an identical zip and an identical hash,
and a deploy with nothing new uploads nothing.

Bytecode, where the build allows: Google's Python buildpack compiles the
installed dependencies ahead but not the function's own source, so a cold
instance compiles switch's modules before its first answer (about 55 ms of
one vCPU here, several times that on a fraction of one). When the Python
running the deploy is the runtime's version, the zip carries each module's
``__pycache__/NAME.cpython-3XY.pyc`` in unchecked-hash mode (PEP 552): made
from these very sources, never checked against them at start, identical for
identical sources. From another Python version it cannot be made, and the
function compiles at its first start as before.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import marshal
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP = ("main.py", "requirements.txt")
# The operator side, the emulator and the CLI never run in the function (tests/test_architecture.py).
LEFT_OUT = ("switch/ops/", "switch/emulator/", "switch/cli.py", "switch/drill.py", "switch/__main__.py")
LIMIT = 5 * 1024 * 1024
EPOCH = (1980, 1, 1, 0, 0, 0)


def files(root: Path = ROOT) -> list[str]:
    """Paths (relative, with /) of what the zip holds."""
    names = list(TOP)
    for path in sorted((root / "switch").rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if "__pycache__" not in name and not name.startswith(LEFT_OUT):
            names.append(name)
    return names


def runtime_version(runtime: str) -> tuple[int, int] | None:
    """``python312`` -> (3, 12)."""
    digits = runtime.removeprefix("python")
    return (int(digits[0]), int(digits[1:])) if digits.isdigit() and len(digits) >= 2 else None


def compiles_for(runtime: str | None) -> bool:
    """Whether this Python can make the bytecode ``runtime`` loads."""
    return runtime is not None and runtime_version(runtime) == sys.version_info[:2]


def _pyc(name: str, source: bytes) -> tuple[str, bytes]:
    """The cache path and the unchecked-hash pyc of one module, as importlib would write them."""
    code = compile(source, name, "exec", dont_inherit=True)
    flags = 0b01  # hash-based, not checked against the source (0b11 would check it)
    data = bytearray(importlib.util.MAGIC_NUMBER)
    data += flags.to_bytes(4, "little")
    data += importlib.util.source_hash(source)
    data += marshal.dumps(code)
    return importlib.util.cache_from_source(name), bytes(data)


def build(root: Path = ROOT, runtime: str | None = None, extra: dict[str, bytes] | None = None) -> tuple[bytes, str]:
    """(zip bytes, a 16-hex hash of them); with the modules' bytecode when this Python is ``runtime``'s, and
    ``extra`` files (the sites file) at the names given."""
    buffer = io.BytesIO()
    contents = {name: (root / name).read_bytes() for name in files(root)}
    contents.update(extra or {})
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(contents, key=lambda n: (n not in TOP, n)):
            content = contents[name]
            entries = [(name, content)]
            if compiles_for(runtime) and name.endswith(".py"):
                entries.append(_pyc(name, content))
            for entry, data in entries:
                info = zipfile.ZipInfo(entry, EPOCH)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
    data = buffer.getvalue()
    if len(data) > LIMIT:
        raise ValueError(f"the function's source is {len(data)} bytes, over the {LIMIT} byte limit switch keeps to")
    return data, hashlib.sha256(data).hexdigest()[:16]
