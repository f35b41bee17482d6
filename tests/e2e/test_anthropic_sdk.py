"""The real anthropic SDK against ``turnout serve``: translated and native targets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anthropic
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from anthropic.types import MessageParam, ToolParam

    from turnout.demo.upstream import SimulatedUpstream

HELLO: list[MessageParam] = [{"role": "user", "content": "hello there"}]
WEATHER: list[ToolParam] = [
    {
        "name": "weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
ROUTES = ["code", "native"]  # alpha's Chat Completions (translated), alpha's Messages (native)
MODELS = {"code": "alpha/a-large", "native": "native/n-model"}
PATHS = {"code": "/v1/chat/completions", "native": "/v1/messages"}


@pytest.fixture
def client(served_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=served_url, api_key="client-key", max_retries=0) as made:
        yield made


@pytest.mark.parametrize("route", ROUTES)
def test_create(client: anthropic.Anthropic, alpha: SimulatedUpstream, route: str) -> None:
    raw = client.messages.with_raw_response.create(
        model=route, max_tokens=100, system="Be brief.", messages=HELLO
    )
    message = raw.parse()
    assert message.model == MODELS[route]
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text"
    assert message.content[0].text.startswith("[simulated alpha/")
    assert raw.headers["x-turnout-model"] == message.model
    sent = alpha.received[-1]
    assert sent.path == PATHS[route]
    if route == "native":
        assert sent.headers["anthropic-version"] == raw.http_request.headers["anthropic-version"]


@pytest.mark.parametrize("route", ROUTES)
def test_stream(client: anthropic.Anthropic, alpha: SimulatedUpstream, route: str) -> None:
    with client.messages.stream(model=route, max_tokens=100, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("[simulated alpha/")
    assert final.content[0].type == "text"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"


@pytest.mark.parametrize("route", ROUTES)
def test_tool_use_round_trip(
    client: anthropic.Anthropic, alpha: SimulatedUpstream, route: str
) -> None:
    first = client.messages.create(model=route, max_tokens=100, messages=HELLO, tools=WEATHER)
    assert first.stop_reason == "tool_use"
    use = first.content[0]
    assert use.type == "tool_use"
    assert (use.name, use.input) == ("weather", {"city": "Paris"})
    answer = client.messages.create(
        model="auto",
        max_tokens=100,
        tools=WEATHER,
        messages=[
            *HELLO,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}],
            },
        ],
    )
    assert answer.model == first.model
    assert answer.content[0].type == "text"
    assert "read the tool's result" in answer.content[0].text


def test_streamed_tool_use(client: anthropic.Anthropic, alpha: SimulatedUpstream) -> None:
    with client.messages.stream(
        model="code", max_tokens=100, messages=HELLO, tools=WEATHER
    ) as stream:
        final = stream.get_final_message()
    use = final.content[0]
    assert use.type == "tool_use"
    assert use.input == {"city": "Paris"}


def test_unknown_model_raises_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="claude-nope", max_tokens=10, messages=HELLO)
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index] # JSON body
    assert caught.value.request_id


def test_bad_request_raises_bad_request(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="auto", max_tokens=0, messages=HELLO)


def test_count_tokens(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model="auto", messages=HELLO)
    assert counted.input_tokens > 0
