"""The CLV fit at a shop's scale: BG/NBD and Gamma-Gamma on 100,000 simulated customers, beside
one evaluation of the bare likelihood over the same arrays, and (when a virtual environment with
pymc-marketing is given) pymc-marketing's MAP fit of the same BG/NBD on the same customers.

    python -m bench.clv [--customers 100000] [--pymc-python /tmp/pymcenv/bin/python]

The customers are drawn from the model itself with known parameters (r 0.25, alpha 4.0, a 0.8,
b 2.5, the CDNOW fit's neighbourhood; spend Gamma-Gamma p 6, q 4, gamma 15), so the fit's
recovered parameters say whether it found them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy import special

from worker.measurement.clv import Customers, fit_bgnbd, fit_gamma_gamma

TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
SPEND = {"p": 6.0, "q": 4.0, "gamma": 15.0}

# pymc-marketing's BG/NBD fitted by MAP, in its own environment, on the customers written to a
# file; prints its parameters and the fit's wall time as JSON.
PYMC_FIT = """
import json, sys, time
import pandas as pd
from pymc_marketing.clv import BetaGeoModel
data = pd.read_csv(sys.argv[1])
started = time.perf_counter()
model = BetaGeoModel(data=data)
model.fit(method="map")
seconds = time.perf_counter() - started
summary = model.fit_summary()
params = {name: float(summary[name]) for name in ("r", "alpha", "a", "b")}
print(json.dumps({"seconds": seconds, **params}))
"""


def simulate(n: int, seed: int) -> Customers:
    """Customers who buy at a Gamma-distributed rate and drop out after a purchase with a
    Beta-distributed probability, each watched for 1 to 104 weeks since their first purchase."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], n)
    dropout = rng.beta(TRUE["a"], TRUE["b"], n)
    T = rng.uniform(1, 104, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        at = 0.0
        while True:
            at += rng.exponential(1 / rate[i]) if rate[i] > 0 else np.inf
            if at > T[i]:
                break
            x[i] += 1
            t_x[i] = at
            if rng.random() < dropout[i]:
                break
    nu = rng.gamma(SPEND["q"], 1 / SPEND["gamma"], n)
    mean_value = np.where(
        x > 0, rng.gamma(SPEND["p"] * np.maximum(x, 1), 1 / nu) / np.maximum(x, 1), 0.0
    )
    return Customers(x=x, t_x=t_x, T=T, mean_value=mean_value)


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare_likelihood_ms(customers: Customers, repeat: int = 20) -> float:
    """One pass of the likelihood's special functions over the arrays: what each of the fit's
    evaluations costs at least."""
    x, t_x, T = customers.x, customers.t_x, customers.T
    started = time.perf_counter()
    for _ in range(repeat):
        total = (
            special.gammaln(0.25 + x) + special.betaln(0.8, 2.5 + x) - (0.25 + x) * np.log(4 + T)
        )
        total += np.logaddexp(total, -(0.25 + x) * np.log(4 + t_x))
        float(np.sum(total))
    return 1000 * (time.perf_counter() - started) / repeat


def pymc_fit(python: str, customers: Customers) -> dict[str, float] | str:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "customers.csv"
        rows = ["customer_id,frequency,recency,T"]
        rows += [
            f"{i},{int(x)},{t_x:.4f},{T:.4f}"
            for i, (x, t_x, T) in enumerate(
                zip(customers.x, customers.t_x, customers.T, strict=True)
            )
        ]
        path.write_text("\n".join(rows) + "\n")
        done = subprocess.run(
            [python, "-c", PYMC_FIT, str(path)], capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clv", description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pymc-python", help="a Python with pymc-marketing installed")
    args = parser.parse_args(argv)
    console = Console(width=80)
    load = os.getloadavg()[0]
    with console.status(f"Simulating {args.customers:,} customers…"):
        customers = simulate(args.customers, args.seed)
    cpu, started = cpu_now(), time.perf_counter()
    model = fit_bgnbd(customers)
    bgnbd_s, bgnbd_cpu = time.perf_counter() - started, cpu_now() - cpu
    cpu, started = cpu_now(), time.perf_counter()
    spend = fit_gamma_gamma(customers)
    gg_s, gg_cpu = time.perf_counter() - started, cpu_now() - cpu
    bare = bare_likelihood_ms(customers)
    shown = Table(title=f"CLV fit, {args.customers:,} customers (load {load:.2f} at the start)")
    for name in ("what", "Ladder (scipy)", "pymc-marketing MAP"):
        shown.add_column(name, justify="left" if name == "what" else "right")
    pymc: dict[str, float] | str = "not run (--pymc-python)"
    if args.pymc_python:
        with console.status("pymc-marketing's MAP fit…"):
            pymc = pymc_fit(args.pymc_python, customers)

    def other(key: str) -> str:
        return f"{pymc[key]:.3f}" if isinstance(pymc, dict) else "-"

    shown.add_row(
        "BG/NBD fit s",
        f"{bgnbd_s:.2f}",
        f"{pymc['seconds']:.2f}" if isinstance(pymc, dict) else str(pymc),
    )
    shown.add_row("  CPU s", f"{bgnbd_cpu:.2f}", "")
    shown.add_row("  bare likelihood pass ms", f"{bare:.1f}", "")
    for key, value in TRUE.items():
        shown.add_row(f"  {key} (true {value})", f"{getattr(model, key):.3f}", other(key))
    shown.add_row("Gamma-Gamma fit s", f"{gg_s:.2f} (CPU {gg_cpu:.2f})", "")
    for key, value in SPEND.items():
        shown.add_row(f"  {key} (true {value})", f"{getattr(spend, key):.3f}", "")
    console.print(shown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
