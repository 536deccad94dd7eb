"""Run the benchmarks: ``python -m bench [--only GROUP] [--peers] [--quick] [--out FILE]``.

Prints a table and writes every figure, with the machine it was measured on, as JSON.
Comparisons (ratios) are always measured in the same run. ``--peers`` adds the peer systems
(DBOS Transact, procrastinate), installed into throwaway venvs from the package index.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import (
    ai,
    code,
    connectors,
    desktop,
    engine,
    observability,
    ocr,
    osint,
    peers,
    plugin_host,
    rag,
    server,
    web,
    web_scrape,
)
from bench.common import Result, machine, print_table
from synthral.cli.common import run_loop

GROUPS: dict[str, Callable[[bool], Awaitable[list[Result]]]] = {
    "plugins": plugin_host.run,
    "engine": engine.run,
    "server": server.run,
    "code": code.run,
    "ocr": ocr.run,
    "web": web.run,
    "ai": ai.run,
    "rag": rag.run,
    "observability": observability.run,
    "scrape": web_scrape.run,
    "desktop": desktop.run,
    "connectors": connectors.run,
    "osint": osint.run,
}
OPTIONAL: dict[str, Callable[[bool], Awaitable[list[Result]]]] = {"peers": peers.run}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", choices=sorted(GROUPS | OPTIONAL), action="append", help="run only these groups")
    parser.add_argument("--peers", action="store_true", help="also measure DBOS and procrastinate side by side")
    parser.add_argument("--quick", action="store_true", help="fewer samples: a smoke run, not for the record")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "latest.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results: list[Result] = []
    chosen = list(args.only or GROUPS) + (["peers"] if args.peers and "peers" not in (args.only or []) else [])
    for name in chosen:
        results.extend(run_loop((GROUPS | OPTIONAL)[name](args.quick)))
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"machine": machine(), "quick": args.quick, "results": [r.to_json() for r in results]}, indent=2)
    )
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
