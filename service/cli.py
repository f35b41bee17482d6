"""The ``turnout`` command: ``serve``, ``route``, ``index rebuild``, ``key hash`` and ``demo``.

Without ``--config`` the shipped default config is used. This is a sync entry point: it starts
the event loop (through uvicorn or ``anyio.run``) and never runs inside one.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

import anyio
import msgspec
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.app import build_router, create_app
from service.config import load_settings, process_environ
from service.errors import ConfigError, RequestError
from service.metrics import Metrics
from service.policy.caller import key_hash
from service.policy.catalog import Catalog
from service.routing.encoder import DEFAULT_ENCODER_DIR, OnnxEmbedder
from service.routing.exemplars import load_exemplars
from service.routing.index import THRESHOLD_PERCENTILE, rebuild
from service.routing.semantic import index_settings, open_semantic

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from service.config import Settings


_ENCODER: Final = msgspec.json.Encoder()
_LINE: Final = msgspec.json.Decoder(dict[str, Any])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="turnout", description="A semantic router for LLM traffic."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the OpenAI-compatible API")
    serve.add_argument("--config", type=Path, help="YAML config (default: the shipped one)")
    serve.add_argument("--host", help="bind address (default: from the config)")
    serve.add_argument("--port", type=int, help="port (default: from the config)")

    route = commands.add_parser("route", help="print routing decisions, without calling models")
    where = route.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="YAML config (default: the shipped one)")
    where.add_argument("--index", type=Path, help="an index build alone: its routes, no models")
    source = route.add_mutually_exclusive_group(required=True)
    source.add_argument("text", nargs="?", help="one prompt")
    source.add_argument("--file", type=Path, help='JSONL of {"text": ...} or {"messages": [...]}')
    route.add_argument("--json", action="store_true", help="print each decision as a JSON line")

    key = commands.add_parser("key", help="API key helpers")
    key_commands = key.add_subparsers(dest="key_command", required=True)
    key_commands.add_parser(
        "hash", help="print the SHA-256 of the API key read from stdin, for clients[].key_sha256"
    )

    index = commands.add_parser("index", help="build the exemplar index")
    index_commands = index.add_subparsers(dest="index_command", required=True)
    rebuild = index_commands.add_parser(
        "rebuild", help="embed exemplars, build the kNN index, train and calibrate the classifier"
    )
    rebuild.add_argument("--exemplars", type=Path, required=True, help="JSONL file or folder")
    rebuild.add_argument("--out", type=Path, required=True, help="the build folder")
    rebuild.add_argument("--encoder", type=Path, default=DEFAULT_ENCODER_DIR, help="encoder build")
    rebuild.add_argument(
        "--threshold-percentile",
        type=_percentile,
        default=THRESHOLD_PERCENTILE,
        metavar="P",
        help="each route's threshold: this percentile of its correct held-out confidence; "
        f"higher sends more prompts to the default route (default {THRESHOLD_PERCENTILE})",
    )
    rebuild.add_argument(
        "--force", action="store_true", help="rebuild even when the build in --out is up to date"
    )

    demo = commands.add_parser("demo", help="serve the router over simulated local upstreams")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "serve":
            settings = load_settings(args.config, process_environ())
            serve(settings, host=args.host, port=args.port)
            return 0
        if args.command == "route":
            if args.index is not None:
                settings = index_settings(args.index)
            else:
                settings = load_settings(args.config, process_environ())
            lines = _prompts(args.text, args.file)
            return anyio.run(_route, settings, lines, args.json, sys.stdout)
        if args.command == "key":
            return _hash_key()
        if args.command == "index":
            _rebuild(
                args.exemplars,
                args.out,
                args.encoder,
                force=args.force,
                percentile=args.threshold_percentile,
            )
            return 0
        from service.demo.run import run_demo  # noqa: PLC0415 - only the demo needs its upstreams

        run_demo(host=args.host, port=args.port)
    except ConfigError as exc:
        print(f"turnout: config error: {exc.message}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


def _hash_key() -> int:
    """``turnout key hash``: the SHA-256 of the key on stdin, never echoing the key."""
    token = sys.stdin.buffer.read().strip()
    if not token:
        print("turnout: no key on stdin", file=sys.stderr)  # noqa: T201
        return 2
    print(key_hash(token))  # noqa: T201
    return 0


def _percentile(text: str) -> float:
    """A threshold percentile from the command line: a number from 0 to 50."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 50:  # a threshold above the median is hardly a threshold
        raise argparse.ArgumentTypeError(f"not a percentile from 0 to 50: {text!r}")
    return value


def _rebuild(exemplars: Path, out: Path, encoder: Path, *, force: bool, percentile: float) -> None:
    """``turnout index rebuild``: validate, build with a progress bar, print a summary."""
    found = load_exemplars(exemplars)
    embedder = OnnxEmbedder(encoder, threads=2, max_tokens=256)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("embedding", total=len(found.exemplars))
        report = rebuild(
            found,
            out,
            embedder,
            force=force,
            percentile=percentile,
            progress=lambda done: bar.advance(task, done),
        )
    if report.up_to_date:
        print(f"index {report.build_id} in {out} is up to date")  # noqa: T201
        return
    table = Table(title=f"index {report.build_id} in {out}")
    for column in ("route", "exemplars", "held out", "held-out accuracy", "threshold"):
        table.add_column(column, justify="left" if column == "route" else "right")
    for route, row in report.routes.items():
        table.add_row(
            route,
            str(row["exemplars"]),
            str(row["held_out"]),
            f"{row['held_out_accuracy']:.3f}",
            f"{row['threshold']:.3f}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"{report.exemplars} exemplars ({report.embedded} embedded, {report.reused} reused, "
        f"{found.repeats_dropped} repeats dropped) in {report.seconds:.1f} s"
    )


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve ``settings`` with uvicorn (uvloop, httptools) until interrupted."""
    server = settings.server
    uvicorn.run(
        create_app(settings),
        host=host or server.host,
        port=server.port if port is None else port,
        loop="uvloop",
        http="httptools",
        access_log=server.access_log,
        log_level="info",
    )


def _prompts(text: str | None, file: Path | None) -> list[bytes]:
    if file is None:
        return [_body({"text": text})]
    try:
        raw = file.read_bytes().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from exc
    return [_body(_line(file, number, line)) for number, line in enumerate(raw, 1) if line.strip()]


def _line(file: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        return _LINE.decode(line)
    except msgspec.MsgspecError as exc:
        raise ConfigError(f"{file}:{number}: not a JSON object: {exc}") from exc


def _body(line: dict[str, Any]) -> bytes:
    """A chat body for a prompt line: ``text`` becomes one user message."""
    if "text" in line:
        line = {
            "model": line.get("model", "auto"),
            "messages": [{"role": "user", "content": line["text"]}],
        }
    return _ENCODER.encode({"model": "auto", **line})


async def _route(settings: Settings, bodies: Iterable[bytes], as_json: bool, out: TextIO) -> int:
    catalog = Catalog(settings)
    metrics = Metrics()
    router = build_router(settings, catalog, metrics, await open_semantic(settings, metrics))
    status = 0
    for number, body in enumerate(bodies, 1):
        try:
            routed = await router.route(body)
        except RequestError as exc:
            status = 1
            out.write(_ENCODER.encode({"error": f"prompt {number}: {exc.message}"}).decode() + "\n")
            continue
        payload = routed.payload()
        if as_json:
            out.write(_ENCODER.encode(payload).decode() + "\n")
        else:
            out.write(
                f"{payload['route']}\t{payload['model']}\t{payload['tier']}\t"
                f"{payload['confidence']:.2f}\t{payload['explanation']}\n"
            )
    return status
