"""RabbitMQ for the test session: a virtual host of each pytest-xdist worker's own.

`RABBITMQ_URL` wins when set (a server `rabbitmqctl` on this machine manages); else the
server on 127.0.0.1:5672 (guest/guest) if one answers; else a private `rabbitmq-server`
started on free ports in a temporary folder, stopped at the end. A missing server is an error
that says what to install, never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pika
import pika.exceptions

from tests.support.services import free_port

LOCAL_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
CTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")
MISSING = (
    "no RabbitMQ: set RABBITMQ_URL, run one on 127.0.0.1:5672, or install rabbitmq-server "
    "(`make rabbitmq`, or `sudo apt-get install rabbitmq-server`)"
)


def answers(url: str, timeout_s: float = 2.0) -> bool:
    """True when an AMQP connection to `url` opens (its credentials accepted)."""
    parameters = pika.URLParameters(url)
    parameters.socket_timeout = parameters.stack_timeout = timeout_s
    parameters.connection_attempts = 1
    try:
        pika.BlockingConnection(parameters).close()
    except pika.exceptions.AMQPError:
        return False
    return True


def ctl(*args: str, node: str | None = None) -> str:
    """`rabbitmqctl` with `args`, its output; raises on failure. The system's server: the one on
    PATH (its wrapper runs as the server's user, with its cookie); a private `node`: the script
    beside the server, as this user (whose cookie the private server read)."""
    command = [shutil.which("rabbitmqctl") or "rabbitmqctl"]
    if node is not None:
        command = [str(CTL), "-n", node]
    done = subprocess.run([*command, "-q", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr or done.stdout}")
    return done.stdout


# The node name of each private server this session started, by its host and port: what
# `rabbitmqctl` must be told to reach it (the system's server needs none).
_private_nodes: dict[str, str] = {}


def unacknowledged(url: str, *queues: str) -> int:
    """Messages of `queues` on `url`'s virtual host that consumers took and have not
    acknowledged (a worker's prefetched and running ones), which AMQP itself does not say."""
    parts = urlsplit(url)
    vhost = unquote(parts.path.removeprefix("/")) or "/"
    node = _private_nodes.get(parts.netloc.rpartition("@")[2])
    listed = ctl("list_queues", "-p", vhost, "--no-table-headers", "name",
                 "messages_unacknowledged", node=node)  # fmt: skip
    counts = dict(line.split() for line in listed.splitlines() if line.strip())
    return sum(int(counts.get(queue, 0)) for queue in queues)


def on_vhost(url: str, vhost: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))


@contextmanager
def vhost_for_worker(url: str, *, node: str | None = None) -> Iterator[str]:
    """`url` on a new virtual host of this pytest-xdist worker's own (its user given every
    permission on it), deleted at the end: workers sharing a server purge only their queues."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    vhost = f"ladder-test-{worker}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    user = urlsplit(url).username or "guest"
    ctl("add_vhost", vhost, node=node)
    try:
        ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*", node=node)
        yield on_vhost(url, vhost)
    finally:
        ctl("delete_vhost", vhost, node=node)


@contextmanager
def private_rabbitmq() -> Iterator[tuple[str, str]]:
    """A rabbitmq-server of this session's own: (its URL, its node name for rabbitmqctl)."""
    if not SERVER.exists():
        raise RuntimeError(MISSING)
    folder = Path(tempfile.mkdtemp(prefix="ladder-rabbitmq-"))
    port = free_port()
    node = f"ladder{port}@localhost"
    (folder / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n"
    )
    (folder / "enabled_plugins").write_text("[].\n")
    env = {
        **os.environ,
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
        "RABBITMQ_LOG_BASE": str(folder / "log"),
        "RABBITMQ_PID_FILE": str(folder / "pid"),
    }
    process = subprocess.Popen(
        [str(SERVER)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"amqp://guest:guest@127.0.0.1:{port}/%2F"
    try:
        deadline = time.monotonic() + 60
        while not answers(url, timeout_s=1.0):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rabbitmq-server did not start; its logs: {folder / 'log'}")
            time.sleep(0.2)
        _private_nodes[f"127.0.0.1:{port}"] = node
        yield url, node
    finally:
        _private_nodes.pop(f"127.0.0.1:{port}", None)
        try:
            ctl("stop", node=node)
        except (RuntimeError, subprocess.TimeoutExpired):
            process.kill()
        process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def rabbitmq_for_session() -> Iterator[str]:
    """This worker's RabbitMQ URL: see the module's docstring."""
    given = os.environ.get("RABBITMQ_URL")
    if given:
        with vhost_for_worker(given) as url:
            yield url
        return
    if answers(LOCAL_URL):
        with vhost_for_worker(LOCAL_URL) as url:
            yield url
        return
    with private_rabbitmq() as (server, node), vhost_for_worker(server, node=node) as url:
        yield url
