"""``make bench`` and ``make bench-quick``: run the benchmarks, each bounded in time, then report.

Each benchmark runs in its own process (``python -m benchmarks.<name>``) under a time limit;
one that fails or runs out of time is reported as such and the others still run. The report
(`benchmarks.report`) is written from the JSON lines they append to ``benchmarks/results/``.
``--quick`` runs the fast ones on small samples (under two minutes; ``make test`` runs it so
that the benchmarks cannot rot) and writes its report beside the results, not over the
committed one.

    .venv/bin/python -m benchmarks.run [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Final

from benchmarks.common import RESULTS, ROOT
from benchmarks.data import DATA
from benchmarks.report import REPORT, write_report

# (module, arguments, seconds allowed); all but taxonomy and speculation read ../shared/data
FULL: Final = (
    ("taxonomy", (), 120),
    ("rules", (), 300),
    ("cost", (), 300),
    ("speculation", (), 300),
    ("sessions", (), 300),
    ("cache", (), 300),
    ("decision", (), 600),
    ("long_prompts", (), 300),
    ("batch_mates", (), 300),
    ("quantization", (), 600),
    ("proxy_overhead", (), 600),
    ("surfaces", (), 600),
    ("workers", (), 300),
    ("tracing", (), 600),
    ("failover", (), 300),
    ("tokenizers", (), 300),
    ("soak", (), 900),
    ("hostile", (), 300),
    ("knn", (), 900),
    ("rebuild", (), 300),
    ("scaling", (), 1800),
    ("encoder", (), 600),
    ("classifier", (), 1800),
    ("accuracy", (), 3600),
)
QUICK: Final = (
    ("taxonomy", (), 60),
    ("rules", ("--quick",), 60),
    ("cost", ("--quick",), 60),
    ("speculation", (), 60),
)
SELF_CONTAINED: Final = frozenset(
    {
        "taxonomy",
        "speculation",
        "proxy_overhead",
        "surfaces",
        "workers",
        "tracing",
        "failover",
        "tokenizers",
        "soak",
        "hostile",
        "batch_mates",
        "quantization",
    }
)


def run(quick: bool) -> list[str]:
    """Run each benchmark; the lines that say how each one went."""
    lines = []
    for name, arguments, limit in QUICK if quick else FULL:
        if name not in SELF_CONTAINED and not DATA.is_dir():
            lines.append(f"{name}: skipped, no datasets in {DATA}")
            print(lines[-1], flush=True)
            continue
        started = time.perf_counter()
        try:
            done = subprocess.run(  # noqa: S603 - our own modules, fixed arguments
                [sys.executable, "-m", f"benchmarks.{name}", *arguments],
                cwd=ROOT,
                timeout=limit,
                check=False,
            )
            outcome = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
        except subprocess.TimeoutExpired:
            outcome = f"stopped after {limit} s"
        lines.append(f"{name}: {outcome} in {time.perf_counter() - started:.0f} s")
        print(lines[-1], flush=True)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="the fast benchmarks, small samples")
    args = parser.parse_args()
    lines = run(args.quick)
    out = RESULTS / "quick-report" if args.quick else REPORT
    write_report(out, lines)
    print(f"report: {out / 'REPORT.md'}")
    failed = [line for line in lines if not line.split(": ", 1)[1].startswith(("ok", "skipped"))]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
