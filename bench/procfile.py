"""The Procfile's processes, started as a Procfile host starts them: each line through `sh -c`,
with PORT set and the virtualenv's scripts first on PATH, each in its own process group (so the
bench can stop it, and count the CPU of everything it forked)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from bench.harness import BenchError, stop_group, tail
from worker.settings import PROJECT_ROOT

PROCFILE = PROJECT_ROOT / "Procfile"


def commands(names: Sequence[str], procfile: Path = PROCFILE) -> dict[str, str]:
    """The command line of each named process type."""
    found: dict[str, str] = {}
    for line in procfile.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() in names:
            found[name.strip()] = command.strip()
    missing = set(names) - set(found)
    if missing:
        raise BenchError(f"{procfile} has no {', '.join(sorted(missing))} process")
    return found


@contextmanager
def running(
    names: Sequence[str], *, env: dict[str, str], logs: Path
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Starts the named processes; yields them by name; stops every one at the end."""
    env = dict(env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with ExitStack() as stack:
        started: dict[str, subprocess.Popen[bytes]] = {}
        for name, command in commands(names).items():
            out = stack.enter_context((logs / f"{name}.log").open("wb"))
            process = subprocess.Popen(
                ["sh", "-c", command], cwd=PROJECT_ROOT, env=env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            stack.callback(stop_group, process)
            started[name] = process
        yield started


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"the web process exited ({process.returncode}):\n{tail(log)}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise BenchError(f"nothing listened on {port} within 30 s:\n{tail(log)}")


def group_cpu_s(pgid: int) -> float:
    """User + system CPU of every live process in the group (Linux): a dramatiq worker and the
    processes it forked. A process that exited meanwhile is not counted."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            # After the parenthesised name: state, ppid, pgrp, …; utime, stime at 11, 12.
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[2]) == pgid:
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")
