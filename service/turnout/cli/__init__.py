"""The ``turnout`` command: serve, setup, route, index, models, key and demo.

Without ``--config`` the shipped default config is used; its index and encoder live in the data
directory (`turnout.home`), which ``turnout setup`` fills, and so does the first ``turnout serve``
of the shipped config when they are missing. This is a sync entry point: it starts the event
loop (through uvicorn or ``anyio.run``) and never runs inside one.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from turnout.caller import key_hash
from turnout.cli.models import list_catalog
from turnout.cli.route import index_settings, prompts, route
from turnout.cli.serve import default_workers, serve
from turnout.config import load_settings, process_environ
from turnout.errors import ConfigError
from turnout.home import data_home
from turnout.routing.index import check_build

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from turnout.config import Settings
    from turnout.home import Home

logger = logging.getLogger(__name__)


def _parser(home: Home) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="turnout", description="A semantic router for LLM traffic."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve_command = commands.add_parser("serve", help="serve the OpenAI-compatible API")
    serve_command.add_argument("--config", type=Path, help="YAML config (default: the shipped one)")
    serve_command.add_argument("--host", help="bind address (default: from the config)")
    serve_command.add_argument("--port", type=int, help="port (default: from the config)")
    serve_command.add_argument(
        "--workers",
        type=_workers,
        help="processes serving the port (default: the cores with state.backend redis, else 1: "
        "in-process state is each worker's own)",
    )

    setup_command = commands.add_parser(
        "setup",
        help=f"build the encoders and the default index into the data directory ({home.root})",
    )
    setup_command.add_argument(
        "--encoder",
        action="append",
        dest="encoders",
        metavar="NAME",
        help="an encoder to build besides use-m3: e5-small (tuned by index rebuilds), minilm-l6",
    )
    setup_command.add_argument("--force", action="store_true", help="rebuild even when up to date")

    route_command = commands.add_parser(
        "route", help="print routing decisions, without calling models"
    )
    where = route_command.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="YAML config (default: the shipped one)")
    where.add_argument("--index", type=Path, help="an index build alone: its routes, no models")
    source = route_command.add_mutually_exclusive_group(required=True)
    source.add_argument("text", nargs="?", help="one prompt")
    source.add_argument("--file", type=Path, help='JSONL of {"text": ...} or {"messages": [...]}')
    route_command.add_argument(
        "--json", action="store_true", help="print each decision as a JSON line"
    )

    models = commands.add_parser(
        "models", help="list the models.dev catalog's providers, or one provider's models"
    )
    models.add_argument("--provider", help="a models.dev provider id, e.g. openai, google")
    models.add_argument(
        "--catalog", type=Path, help="a models.dev SQLite file (default: the shipped snapshot)"
    )
    models.add_argument("--json", action="store_true", help="print each row as a JSON line")

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
    rebuild.add_argument(
        "--encoder",
        type=Path,
        default=home.encoder(),
        help="encoder build: a folder, or a name in the data directory (default: use-m3; "
        "e5-small is tuned on the exemplars)",
    )
    rebuild.add_argument(
        "--threshold-percentile",
        type=_percentile,
        metavar="P",
        help="each route's threshold: this percentile of its correct held-out confidence; "
        "higher sends more prompts to the default route (default 2)",
    )
    rebuild.add_argument(
        "--tune",
        action=argparse.BooleanOptionalAction,
        help="tune the encoder on the exemplars first (default: when the encoder is e5-small "
        "and torch is installed)",
    )
    screen = rebuild.add_mutually_exclusive_group()
    screen.add_argument(
        "--screen",
        type=Path,
        metavar="ENCODER",
        help="a faster encoder build (a folder or a name, as --encoder) that decides the "
        "prompts it is sure of, the build's encoder the rest (default: use-m3, unless it is "
        "--encoder)",
    )
    screen.add_argument(
        "--no-screen", action="store_true", help="every prompt goes to the build's encoder"
    )
    rebuild.add_argument(
        "--strict",
        action="store_true",
        help="refuse route names that are not route ids and texts given to two routes, instead "
        "of mapping the names and dropping the texts",
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
    environ = process_environ()
    home = data_home(environ)
    args = _parser(home).parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return _run(args, environ, home)
    except ConfigError as exc:
        print(f"turnout: config error: {exc.message}", file=sys.stderr)  # noqa: T201
        return 2


def _run(args: argparse.Namespace, environ: Mapping[str, str], home: Home) -> int:
    if args.command == "serve":
        settings = load_settings(args.config, environ)
        if args.config is None:
            _fill_home(settings, home)
        check_build(settings)
        workers = args.workers or default_workers(settings)
        serve(settings, host=args.host, port=args.port, workers=workers)
    elif args.command == "setup":
        from turnout.cli.index import setup  # noqa: PLC0415 - serving never loads the trainers

        setup(home, args.encoders or (), force=args.force)
    elif args.command == "route":
        if args.index is not None:
            settings = index_settings(args.index, environ)
        else:
            settings = load_settings(args.config, environ)
        lines = prompts(args.text, args.file)
        return anyio.run(route, settings, lines, args.json, sys.stdout)
    elif args.command == "models":
        return list_catalog(args.catalog, args.provider, as_json=args.json, out=sys.stdout)
    elif args.command == "key":
        return _hash_key()
    elif args.command == "index":
        _rebuild(args, home)
    else:
        from turnout.demo.run import run_demo  # noqa: PLC0415 - only the demo needs its upstreams

        run_demo(host=args.host, port=args.port)
    return 0


def _rebuild(args: argparse.Namespace, home: Home) -> None:
    """``turnout index rebuild``; screened by the data directory's use-m3 unless told not to."""
    from turnout.cli.index import Choices, rebuild_index  # noqa: PLC0415 - as above

    screen: Path | None = None if args.screen is None else _encoder(args.screen, home)
    if screen is None and not args.no_screen and (home.encoder() / "manifest.json").exists():
        screen = home.encoder()
    choices = Choices(force=args.force, tune=args.tune, strict=args.strict, screen=screen)
    if args.threshold_percentile is not None:
        choices = replace(choices, percentile=args.threshold_percentile)
    rebuild_index(args.exemplars, args.out, _encoder(args.encoder, home), choices)


def _encoder(given: Path, home: Home) -> Path:
    """An encoder build's folder as given, or the data directory's build of that name."""
    if given.exists() or len(given.parts) != 1:
        return given
    return home.encoder(given.name)


def _fill_home(settings: Settings, home: Home) -> None:
    """Build the shipped config's encoder and index on the first start (``turnout setup``).

    Only when one is missing: the check must not load the trainers into the serving process.
    After an upgrade, ``turnout setup`` brings them up to date (``make run`` runs it).
    """
    routing = settings.routing
    needed = [Path(path) for path in (routing.index, routing.encoder) if path is not None]
    if all((folder / "manifest.json").exists() for folder in needed):
        return
    logger.info(
        "first start: building the encoder and the default index into %s (untuned: "
        "`turnout setup` builds the tuned one, in about 3 minutes)",
        home.root,
    )
    from turnout.cli.index import setup  # noqa: PLC0415 - as above

    setup(home, tune=False)


def _hash_key() -> int:
    """``turnout key hash``: the SHA-256 of the key on stdin, never echoing the key."""
    token = sys.stdin.buffer.read().strip()
    if not token:
        print("turnout: no key on stdin", file=sys.stderr)  # noqa: T201
        return 2
    print(key_hash(token))  # noqa: T201
    return 0


def _workers(text: str) -> int:
    """A number of worker processes from the command line: 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a number of workers (1 or more): {text!r}")
    return int(text)


def _percentile(text: str) -> float:
    """A threshold percentile from the command line: a number from 0 to 50."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 50:  # a threshold above the median is hardly a threshold
        raise argparse.ArgumentTypeError(f"not a percentile from 0 to 50: {text!r}")
    return value
