"""The function's source: a small zip of exactly what it runs, the same bytes for the same files.

Cloud Functions builds the zip on its side (``pip install -r requirements.txt``
next to ``main.py``), so it holds ``main.py``, ``requirements.txt`` and the
request path of the ``switch`` package, listed by name rather than by
exclusion: tests, the benchmark, the operator side, the emulator, keys, ``.env``
files and virtual environments can never slip in. Entries are sorted and dated
1980-01-01, so an unchanged tree gives an identical zip and an identical hash,
and a deploy with nothing new uploads nothing.
"""

from __future__ import annotations

import hashlib
import io
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


def build(root: Path = ROOT) -> tuple[bytes, str]:
    """(zip bytes, a 16-hex hash of them)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in files(root):
            info = zipfile.ZipInfo(name, EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (root / name).read_bytes())
    data = buffer.getvalue()
    if len(data) > LIMIT:
        raise ValueError(f"the function's source is {len(data)} bytes, over the {LIMIT} byte limit switch keeps to")
    return data, hashlib.sha256(data).hexdigest()[:16]
