"""turnout and the LiteLLM proxy in front of the same upstream, in the same run.

LiteLLM is installed from PyPI into its own virtualenv under ``.peers/litellm`` (git-ignored)
by ``scripts/peers``; this module serves it with one model pointing at the loopback simulated
upstream, serves turnout with the benchmark config of `benchmarks.proxy_overhead`, and measures
both the same way as that benchmark (added latency over direct requests at concurrency 1 and 32,
JSON and streaming, requests per second), one after the other in the same run. A peer that is
not installed or does not start is reported with the reason instead of numbers.

``make bench-peers`` runs this and `benchmarks.routing_peers` (aurelio's ``semantic-router``
on the same exemplars and encoder).

    .venv/bin/python -m benchmarks.peers [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any, Final

from benchmarks.common import ROOT, emit, free_port, machine, serve
from benchmarks.proxy_overhead import CONFIG, Plan, measure

LITELLM: Final = ROOT / ".peers" / "litellm" / "bin" / "litellm"
LITELLM_CONFIG: Final = """
model_list:
  - model_name: auto
    litellm_params:
      model: openai/sim
      api_base: http://127.0.0.1:{port}/v1
      api_key: sk-simulated
litellm_settings:
  drop_params: true
  telemetry: false
general_settings:
  # a loopback benchmark: no master key, as with turnout's own run without client keys
  dangerously_permit_weak_or_unset_master_key: true
"""


def litellm_version() -> str:
    """The installed LiteLLM's version, from its distribution's folder name."""
    found = sorted(LITELLM.parents[1].glob("lib/python*/site-packages/litellm-*.dist-info"))
    return found[-1].name.removeprefix("litellm-").removesuffix(".dist-info") if found else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args()
    rounds, duration = (4, 1.0) if args.quick else (60, 6.0)
    upstream = free_port()
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as folder,
        serve(
            ["-m", "benchmarks.fake_upstream", "--port", str(upstream)],
            f"http://127.0.0.1:{upstream}/",
        ),
    ):
        ours = Path(folder) / "turnout.yaml"
        ours.write_text(CONFIG.format(port=upstream))
        router = free_port()
        with serve(
            ["-m", "turnout", "serve", "--config", str(ours), "--port", str(router)],
            f"http://127.0.0.1:{router}/healthz",
            env={},
        ):
            measured = asyncio.run(measure(upstream, router, Plan(rounds, duration)))
            rows += [{"proxy": "turnout", **row} for row in measured]
        if not LITELLM.exists():
            rows.append(
                {"proxy": "litellm", "skipped": f"not installed: run scripts/peers ({LITELLM})"}
            )
        else:
            theirs = Path(folder) / "litellm.yaml"
            theirs.write_text(LITELLM_CONFIG.format(port=upstream))
            peer = free_port()
            environ = {"PATH": "/usr/bin:/bin", "LITELLM_TELEMETRY": "False"}
            try:
                with serve(
                    ["--config", str(theirs), "--port", str(peer), "--num_workers", "1"],
                    f"http://127.0.0.1:{peer}/health/liveliness",
                    env=environ,
                    executable=str(LITELLM),
                    startup_s=120,
                ):
                    measured = asyncio.run(measure(upstream, peer, Plan(rounds, duration)))
                    version = litellm_version()
                    rows += [{"proxy": "litellm", "version": version, **row} for row in measured]
            except RuntimeError as exc:
                rows.append({"proxy": "litellm", "skipped": f"did not start: {exc}"})
    meta = machine()
    emit("peers", [{**row, "machine": meta} for row in rows])
    for row in rows:
        if "skipped" in row:
            print(f"{row['proxy']}: {row['skipped']}")
            continue
        print(
            f"{row['proxy']:8} {row['mode']:6} c={row['concurrency']:<3} added p50 "
            f"{row['added_p50_ms']:.3f} ms, p99 {row['added_p99_ms']:.3f} ms, "
            f"{row['routed_rps']:.0f} req/s, errors {row['errors']}"
        )


if __name__ == "__main__":
    main()
