"""``turnout route``: print routing decisions for prompts, without calling any model."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final, TextIO

import msgspec

from turnout.app import build_router
from turnout.catalog import Catalog
from turnout.config import parse_settings
from turnout.errors import ConfigError, RequestError
from turnout.metrics import Metrics
from turnout.routing.semantic import open_semantic

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

    from turnout.config import Settings

_ENCODER: Final = msgspec.json.Encoder()
_LINE: Final = msgspec.json.Decoder(dict[str, Any])


def index_settings(folder: Path, environ: Mapping[str, str]) -> Settings:
    """Settings for routing with an index alone (``--index``): its routes, no models.

    Every route targets a placeholder model that no request can reach, and an unsure prompt
    keeps its best route, since an index does not say which route is the default.

    Raises:
        ConfigError: the folder holds no readable index manifest.
    """
    try:
        routes = list(json.loads((folder / "manifest.json").read_text())["routes"])
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"--index: no index build in {folder}: {exc}") from exc
    config = {
        "routing": {"index": str(folder.resolve()), "unsure": "best_route"},
        "providers": [
            {
                "name": "none",
                "base_url": "http://127.0.0.1:9/v1",
                "api_key_env": "TURNOUT_NO_PROVIDER",
                "models": [
                    {
                        "id": "none",
                        "input_per_mtok": 0,
                        "output_per_mtok": 0,
                        "context_window": 1 << 30,
                    }
                ],
            }
        ],
        "routes": [{"name": route, "targets": ["none/none"]} for route in routes],
        "default_route": routes[0],
    }
    return parse_settings(_ENCODER.encode(config), environ, source="--index")


def prompts(text: str | None, file: Path | None) -> list[bytes]:
    """Chat bodies for one prompt, or for each line of a JSONL file.

    Raises:
        ConfigError: the file cannot be read, or a line is not a JSON object.
    """
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


async def route(settings: Settings, bodies: Iterable[bytes], as_json: bool, out: TextIO) -> int:
    """Decide each body in order and write one line per decision; 1 if any was refused."""
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
