"""`--profile`: py-spy samples the worker process while the timed events go through."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.harness import BenchError

# py-spy's output format, by the suffix of the file asked for.
FORMATS = {".svg": "flamegraph", ".json": "speedscope", ".txt": "raw"}


@contextmanager
def py_spy(pid: int | None, output: Path) -> Iterator[None]:
    """Records `pid` until the block ends. py-spy is a dev tool: `pip install py-spy`."""
    binary = shutil.which("py-spy")
    if binary is None:
        raise BenchError("--profile needs py-spy on PATH: `pip install py-spy`")
    if pid is None:
        raise BenchError("--profile: could not find the worker's consuming process")
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [binary, "record", "--pid", str(pid), "--output", str(output)]
    command += [
        "--format",
        FORMATS.get(output.suffix, "raw"),
        "--rate",
        "200",
        "--nonblocking",
        # PY_SPY_WALL=1: every thread all the time, waiting included (where a batch waits);
        # otherwise only the thread holding the GIL (where the CPU goes).
        *(["--idle"] if os.environ.get("PY_SPY_WALL") else ["--gil"]),
    ]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            _, errors = spy.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            _, errors = spy.communicate()
        if spy.returncode not in (0, -signal.SIGINT) and not output.exists():
            raise BenchError(f"py-spy failed: {errors.decode(errors='replace')[-500:]}")
