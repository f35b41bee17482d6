"""The real openai SDK, sync and async, JSON and streaming, against ``turnout serve``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import openai
import pytest

from turnout.demo.upstream import Behaviour

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

    from turnout.demo.upstream import SimulatedUpstream

CODE: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "```python\nprint('hi')\n```"}
]
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]


@pytest.fixture
def client(served_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served_url}/v1", api_key="client-key", max_retries=0)


@pytest.fixture
def async_client(served_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{served_url}/v1", api_key="client-key", max_retries=0)


def test_sync_completion(client: openai.OpenAI, alpha: SimulatedUpstream) -> None:
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=CODE)
    completion = raw.parse()
    assert completion.model == "alpha/a-large"
    assert "simulated alpha/a-large" in (completion.choices[0].message.content or "")
    assert raw.headers["x-turnout-route"] == "code"
    assert alpha.received[0].body["model"] == "a-large"


def test_sync_stream(client: openai.OpenAI, alpha: SimulatedUpstream) -> None:
    stream = client.chat.completions.create(model="auto", messages=CODE, stream=True)
    chunks = list(stream)
    assert {chunk.model for chunk in chunks} == {"alpha/a-large"}
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert "simulated alpha/a-large" in text
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.anyio
async def test_async_completion_and_stream(
    async_client: openai.AsyncOpenAI, beta: SimulatedUpstream
) -> None:
    completion = await async_client.chat.completions.create(model="auto", messages=HELLO)
    assert completion.model == "beta/b-small"
    stream = await async_client.chat.completions.create(
        model="auto",
        messages=HELLO,
        stream=True,
    )
    models = {chunk.model async for chunk in stream}
    assert models == {"beta/b-small"}
    await async_client.close()


def test_models_list(client: openai.OpenAI) -> None:
    ids = {model.id for model in client.models.list()}
    assert {"auto", "code", "alpha/a-large", "beta/b-small"} <= ids


def test_unknown_model_is_not_found_with_code_param_and_request_id(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nope", messages=CODE)
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"
    assert caught.value.request_id
    assert caught.value.request_id.startswith("req_")


def test_invalid_body_is_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="auto", messages=[])
    assert caught.value.code == "invalid_request"
    assert caught.value.param == "messages"


def test_rate_limited_everywhere_is_rate_limit_error(
    client: openai.OpenAI, alpha: SimulatedUpstream, beta: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour("status", 429, retry_after=20))  # over max_backoff_s: no retry
    beta.queue(Behaviour("status", 429, retry_after=20))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="auto", messages=CODE)
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "20"


def test_all_failing_is_internal_server_error(
    client: openai.OpenAI, alpha: SimulatedUpstream, beta: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour("status", 500), Behaviour("status", 500))  # both passes
    beta.queue(Behaviour("status", 503), Behaviour("status", 503))
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="auto", messages=CODE)
    assert caught.value.status_code == 503
    assert caught.value.code == "all_providers_unavailable"


def test_stream_broken_mid_way_raises_api_error(
    client: openai.OpenAI, alpha: SimulatedUpstream
) -> None:
    alpha.queue(Behaviour("drop", chunks=2))
    stream = client.chat.completions.create(model="auto", messages=CODE, stream=True)
    with pytest.raises(openai.APIError, match="alpha/a-large"):
        list(stream)
