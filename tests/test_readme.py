"""The README's commands run as written: what a user copies, CI runs."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess

from tests.conftest import ROOT


def readme_block(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    return re.compile(r"^```sh\s*\n(.*?)^```", re.M | re.S).search(text, text.index(heading)).group(1)


def free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_running_the_function_locally_works_as_the_readme_says():
    block = readme_block("### Run the function locally")
    ports = [int(p) for p in re.findall(r"--port (\d+)", block)]
    assert all(free(p) for p in ports), f"the README's ports {ports} are taken on this machine"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}

    result = subprocess.run(["bash", "-e", "-c", block], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=90)

    assert result.returncode == 0, result.stdout + result.stderr
    # The answers are indented JSON; the function's own log lines (one line each) land on stdout too.
    answers = [json.loads(part) for part in re.findall(r"^\{\n.*?^\}", result.stdout, re.M | re.S)]
    assert answers[0]["state"] == "standby"
    assert answers[1]["action"] == "failover" and answers[1]["state"] == "active"
