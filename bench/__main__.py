"""Run the benchmarks: ``python -m bench [--only GROUP] [--quick] [--out FILE]``.

Prints a table and writes every figure, with the machine it was measured on, as JSON.
Comparisons (ratios) are always measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import ai, code, engine, ocr, plugin_host, rag, server, web
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
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", choices=sorted(GROUPS), action="append", help="run only these groups")
    parser.add_argument("--quick", action="store_true", help="fewer samples: a smoke run, not for the record")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "latest.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results: list[Result] = []
    for name in args.only or list(GROUPS):
        results.extend(run_loop(GROUPS[name](args.quick)))
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"machine": machine(), "quick": args.quick, "results": [r.to_json() for r in results]}, indent=2)
    )
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
