"""The real openai SDK's Responses API against ``turnout serve``: translated and native targets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import openai
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from openai.types.responses import FunctionToolParam

    from turnout.demo.upstream import SimulatedUpstream

WEATHER: list[FunctionToolParam] = [
    {
        "type": "function",
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": False,
    }
]
ROUTES = ["code", "native"]  # alpha's Chat Completions (translated), alpha's Responses (native)
MODELS = {"code": "alpha/a-large", "native": "native/n-model"}


@pytest.fixture
def client(served_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{served_url}/v1", api_key="client-key", max_retries=0) as made:
        yield made


@pytest.mark.parametrize("route", ROUTES)
def test_create_and_follow_up_with_previous_response_id(
    client: openai.OpenAI, alpha: SimulatedUpstream, route: str
) -> None:
    first = client.responses.create(
        model=route, input="write a haiku about python", instructions="Be brief."
    )
    assert first.status == "completed"
    assert first.model == MODELS[route]
    assert first.output_text.startswith("[simulated alpha/")
    follow = client.responses.create(model="auto", input="shorter", previous_response_id=first.id)
    assert follow.model == first.model
    assert follow.previous_response_id == first.id
    upstream_input = alpha.received[-1].body.get("messages") or alpha.received[-1].body["input"]
    assert len(upstream_input) >= 3  # the earlier turn, its answer, and the new one
    assert client.responses.retrieve(follow.id).output_text == follow.output_text
    client.responses.delete(follow.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(follow.id)


@pytest.mark.parametrize("route", ROUTES)
def test_stream(client: openai.OpenAI, alpha: SimulatedUpstream, route: str) -> None:
    with client.responses.stream(model=route, input="hello there") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text
    assert final.output_text.startswith("[simulated alpha/")
    assert client.responses.retrieve(final.id).id == final.id


@pytest.mark.parametrize("route", ROUTES)
def test_function_tool_round_trip(
    client: openai.OpenAI, alpha: SimulatedUpstream, route: str
) -> None:
    first = client.responses.create(model=route, input="weather in Paris?", tools=WEATHER)
    calls = [item for item in first.output if item.type == "function_call"]
    assert [(call.name, call.arguments) for call in calls] == [("weather", '{"city": "Paris"}')]
    answer = client.responses.create(
        model="auto",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}],
        tools=WEATHER,
    )
    assert answer.model == first.model
    assert "read the tool's result" in answer.output_text


def test_errors_arrive_as_the_sdks_classes(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="gpt-nope", input="x")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as built_in:
        client.responses.create(model="auto", input="x", tools=[{"type": "web_search"}])
    assert built_in.value.param == "tools[0].type"
    with pytest.raises(openai.NotFoundError) as unknown:
        client.responses.create(model="auto", input="x", previous_response_id="resp_unknown")
    assert unknown.value.param == "previous_response_id"
