"""What every benchmark group shares: timing, percentiles, results, the table."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Result:
    """One measured figure."""

    group: str
    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def row(self) -> list[str]:
        verdict = "" if self.ok is None else ("yes" if self.ok else "NO")
        return [
            self.group,
            self.name,
            f"{self.value:,.1f}" if self.value >= 100 else f"{self.value:.3g}",
            self.unit,
            self.target,
            verdict,
        ]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary_us(samples_s: list[float]) -> dict[str, float]:
    """p50/p90/p99/mean of samples in seconds, as microseconds."""
    us = [s * 1e6 for s in samples_s]
    return {
        "p50": percentile(us, 50),
        "p90": percentile(us, 90),
        "p99": percentile(us, 99),
        "mean": statistics.fmean(us),
        "n": float(len(us)),
    }


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process in MiB, from /proc."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tree_rss_mb(pid: int) -> float:
    """Resident set size of a process and all its descendants in MiB.

    A sandboxed plugin's pid is bubblewrap's; the interpreter is its descendant.
    """
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += rss_mb(current)
            tasks = Path(f"/proc/{current}/task")
            for task in tasks.iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def print_table(results: list[Result], write: Callable[[str], None] = print) -> None:
    """A plain-text table of the results."""
    header = ["group", "measure", "value", "unit", "target", "met"]
    rows = [header] + [r.row() for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for index, row in enumerate(rows):
        write(
            "  ".join(
                cell.ljust(width) if i < 2 or i > 3 else cell.rjust(width) if i == 2 else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            write("  ".join("-" * width for width in widths))
