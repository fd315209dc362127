"""The broker as the Procfile's `worker` processes load it (`dramatiq worker.queue.workers …`):
Ladder's broker, with Dramatiq's own Prometheus middleware when WORKER_METRICS is set.

Dramatiq's exporter (a process the CLI forks, on `dramatiq_prom_host`:`dramatiq_prom_port`,
9191 by default) sums the files every worker process writes under its multiprocess folder
(`dramatiq_prom_db`). Ladder's own counters (`worker/metrics/counters.py`) join them only if
that folder is named before prometheus_client makes them, hence this module, loaded first.
Only here: the web and the clock serve their counters themselves.
"""

from __future__ import annotations

import os

from worker.settings import get_settings

if get_settings().worker_metrics:
    from dramatiq.middleware.prometheus import DB_PATH, Prometheus

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = DB_PATH

    from worker.queue.broker import broker

    broker.add_middleware(Prometheus())
else:
    from worker.queue.broker import broker

__all__ = ["broker"]
