"""DBOS Transact: a chain of no-op steps in one workflow, end to end per run (run inside DBOS's own venv).

Usage: python dbos_chain.py SYSTEM_DATABASE_URL STEPS RUNS; prints one JSON line:
{"version": ..., "seconds_per_step": [one figure per run]}.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version

from dbos import DBOS, DBOSConfig

url, steps, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
config: DBOSConfig = {"name": "synthral-bench-peer", "system_database_url": url}
DBOS(config=config)


@DBOS.step()
def noop(index: int) -> int:
    return index


@DBOS.workflow()
def chain(count: int) -> int:
    for index in range(count):
        noop(index)
    return count


DBOS.launch()
chain(steps)  # warm: registration, connections, statement caches
figures = []
for _ in range(runs):
    started = time.perf_counter()
    chain(steps)  # returns when the workflow's outcome is recorded
    figures.append((time.perf_counter() - started) / steps)
DBOS.destroy()
print(json.dumps({"version": version("dbos"), "seconds_per_step": figures}))
