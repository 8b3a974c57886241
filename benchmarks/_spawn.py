"""The emulator in a subprocess for the benchmarks (`_server.py`), so its CPU is not counted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def start_server(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start `_server.py` with these arguments; returns the process and the address it reported."""
    command = [sys.executable, str(HERE / "_server.py"), *args]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait()
        raise SystemExit(f"the server process exited with {process.returncode} before reporting its address")
    info: dict[str, Any] = json.loads(line)
    return process, info


def stop_server(process: subprocess.Popen[str]) -> None:
    if process.stdin is not None:
        process.stdin.close()  # the server exits when its stdin closes
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.wait(timeout=15)
