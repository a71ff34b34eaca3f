"""Client × upstream matrix, client side: the `openai` SDK's chat.completions.

Every test runs once per upstream format (`upstream` fixture): the model `up-<fmt>/mock-small`
reaches the same mock-upstream through a node speaking OpenAI chat, Anthropic Messages, Gemini or
OpenAI Responses, so everything but `openai` is translated by the gateway.
"""

from __future__ import annotations

import json

import openai
import pytest

from conftest import (
    MOCK_CALL_IDS,
    MOCK_REASONING,
    UPSTREAM_FORMATS,
    UPSTREAM_SECRET,
    up_model,
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}
SYSTEM = "You are a terse assistant for tests"  # 7 words


def msgs(text: str, system: str | None = None, role: str = "system") -> list[dict]:
    out = [{"role": role, "content": system}] if system else []
    return out + [{"role": "user", "content": text}]


def create(client: openai.OpenAI, fmt: str, text: str, **kw):
    return client.chat.completions.create(model=up_model(fmt), messages=msgs(text), **kw)


def drain(stream) -> tuple[list, str]:
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, text


def finish_reasons(chunks) -> list[str]:
    return [ch.finish_reason for c in chunks for ch in c.choices if ch.finish_reason is not None]


def assert_openai_error(err: openai.APIStatusError, status: int) -> dict:
    assert err.status_code == status
    body = err.response.json()
    assert set(body) == {"error"}, body
    e = body["error"]
    assert isinstance(e["message"], str) and e["message"]
    assert isinstance(e["type"], str) and e["type"]
    assert UPSTREAM_SECRET not in err.response.text
    return e


# text -------------------------------------------------------------------------------------------


def test_text_non_stream(client, upstream):
    resp = create(client, upstream, "hello matrix")
    assert resp.object == "chat.completion"
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: hello matrix"
    assert not choice.message.tool_calls
    assert choice.finish_reason == "stop"
    # Translated answers name the requested model; a same-format answer passes through untouched
    # (by design, ARCHITECTURE.md) and so names the upstream's own model id.
    assert resp.model == ("mock-small" if upstream == "openai" else up_model(upstream))
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_text_stream(client, upstream):
    stream = create(client, upstream, "stream the matrix [[mock:chunks=5]]", stream=True)
    chunks, text = drain(stream)  # iteration ends: the stream terminated properly

    assert text == "echo: stream the matrix"
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) == 5, "the upstream's 5 text chunks arrive as 5 deltas, not buffered"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1, "all chunks of one completion share its id"
    assert finish_reasons(chunks) == ["stop"]
    assert all(c.usage is None for c in chunks), "no usage chunk without include_usage"


def test_stream_helper_final_completion(client, upstream):
    with client.chat.completions.stream(
        model=up_model(upstream), messages=msgs("final please")
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "echo: final please"
    assert final.choices[0].finish_reason == "stop"


def test_multi_turn_history(client, upstream):
    resp = client.chat.completions.create(
        model=up_model(upstream),
        messages=[
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second question"},
        ],
    )
    assert resp.choices[0].message.content == "echo: second question"


@pytest.mark.parametrize("role", ["system", "developer"])
def test_system_prompt_reaches_upstream(client, upstream, role):
    """The mock counts every word of input text as a prompt token: the 7-word system prompt must
    add exactly 7 (it was translated into the upstream's system slot, not dropped or duplicated)."""
    m = up_model(upstream)
    base = client.chat.completions.create(model=m, messages=msgs("count my words"))
    with_system = client.chat.completions.create(
        model=m, messages=msgs("count my words", SYSTEM, role)
    )
    assert with_system.choices[0].message.content == "echo: count my words"
    assert with_system.usage.prompt_tokens - base.usage.prompt_tokens == 7


# usage ------------------------------------------------------------------------------------------


def test_usage_exact_non_stream(client, upstream):
    resp = create(client, upstream, "count me [[mock:usage=11,22]]")
    assert resp.choices[0].message.content == "echo: count me"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (11, 22)
    assert resp.usage.total_tokens == 33


def test_usage_exact_stream(client, upstream):
    stream = create(
        client,
        upstream,
        "count me [[mock:usage=11,22]]",
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks, text = drain(stream)
    assert text == "echo: count me"
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1]
    assert chunks[-1].choices == []
    u = chunks[-1].usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (11, 22, 33)


# tools ------------------------------------------------------------------------------------------


def assert_weather_call(call, fmt: str) -> None:
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Paris"}
    if MOCK_CALL_IDS[fmt]:
        assert call.id == MOCK_CALL_IDS[fmt], "the upstream's call id is kept verbatim"
    else:
        assert call.id and call.id.startswith("call_"), "a Gemini call gets a derived id"


def test_tool_call_non_stream(client, upstream):
    resp = create(client, upstream, "weather? [[mock:tools]]", tools=[WEATHER_TOOL])
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert not choice.message.content
    assert len(choice.message.tool_calls) == 1
    assert_weather_call(choice.message.tool_calls[0], upstream)


def test_tool_call_stream(client, upstream):
    stream = create(client, upstream, "weather? [[mock:tools]]", tools=[WEATHER_TOOL], stream=True)
    chunks, text = drain(stream)
    assert text == ""
    calls: dict[int, dict] = {}
    for c in chunks:
        for ch in c.choices:
            for tc in ch.delta.tool_calls or []:
                acc = calls.setdefault(tc.index, {"id": None, "name": None, "args": ""})
                if tc.id:
                    assert acc["id"] in (None, tc.id)
                    acc["id"] = tc.id
                if tc.function and tc.function.name:
                    assert acc["name"] in (None, tc.function.name)
                    acc["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    acc["args"] += tc.function.arguments
    assert list(calls) == [0], "exactly one call"
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["args"]) == {"location": "Paris"}
    if MOCK_CALL_IDS[upstream]:
        assert calls[0]["id"] == MOCK_CALL_IDS[upstream]
    assert finish_reasons(chunks) == ["tool_calls"]


def test_tool_call_stream_helper(client, upstream):
    with client.chat.completions.stream(
        model=up_model(upstream), messages=msgs("weather? [[mock:tools]]"), tools=[WEATHER_TOOL]
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert len(choice.message.tool_calls) == 1
    assert_weather_call(choice.message.tool_calls[0], upstream)


def test_tool_result_round_trip(client, upstream, mock_answers_tool_results):
    """Ask, get the call, send call + result back: the upstream accepts the translated history and
    (newer mock builds) answers from the result text, proving it arrived."""
    first = create(client, upstream, "weather in Paris? [[mock:tools]]", tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    history = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
    ]
    raw = client.chat.completions.with_raw_response.create(
        model=up_model(upstream), messages=history, tools=[WEATHER_TOOL]
    )
    assert raw.status_code == 200
    choice = raw.parse().choices[0]
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls
    if mock_answers_tool_results:
        assert choice.message.content == "done: sunny, 21 C"
    else:
        assert choice.message.content.startswith("echo:")


# reasoning --------------------------------------------------------------------------------------


def test_reasoning_never_in_content(client, upstream):
    resp = create(client, upstream, "think [[mock:reasoning]]")
    msg = resp.choices[0].message
    assert msg.content == "echo: think"
    assert (msg.model_extra or {}).get("reasoning_content") == MOCK_REASONING

    chunks, text = drain(create(client, upstream, "think [[mock:reasoning]]", stream=True))
    assert text == "echo: think"
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks
        if c.choices
    )
    assert reasoning == MOCK_REASONING
    assert finish_reasons(chunks) == ["stop"]


# errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_upstream_429_is_rate_limit_error(client, upstream, stream):
    with pytest.raises(openai.RateLimitError) as ei:
        resp = create(client, upstream, "slow down [[mock:status=429]]", stream=stream)
        if stream:
            list(resp)
    err = ei.value
    e = assert_openai_error(err, 429)
    assert e["type"] == "rate_limit_error"
    assert err.response.headers["retry-after"] == "7"


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_upstream_500_is_internal_server_error(client, upstream, stream):
    with pytest.raises(openai.InternalServerError) as ei:
        resp = create(client, upstream, "boom [[mock:status=500]]", stream=stream)
        if stream:
            list(resp)
    assert_openai_error(ei.value, 500)


@pytest.mark.parametrize("directive", ["status=401", "garbage", "error-event"])
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_upstream_failure_is_502(request, client, upstream, directive, stream):
    """The provider refusing *our* key, a non-JSON body, or an error event before any content:
    all are a 502 from the gateway, never an AuthenticationError or a fake answer."""
    with pytest.raises(openai.InternalServerError) as ei:
        resp = create(client, upstream, f"x [[mock:{directive}]]", stream=stream)
        if stream:
            list(resp)
    assert not isinstance(ei.value, openai.AuthenticationError)
    assert_openai_error(ei.value, 502)


def test_cut_stream_raises(client, upstream):
    """The upstream dies after 2 of 6 chunks: the SDK raises instead of returning a short answer."""
    stream = create(client, upstream, "interrupted answer [[mock:cut=2;chunks=6]]", stream=True)
    received = []
    with pytest.raises(openai.APIError) as ei:
        for chunk in stream:
            received.append(chunk)
    assert not isinstance(ei.value, openai.APIStatusError), "in-band error after HTTP 200"
    assert "cut off" in ei.value.message
    partial = "".join(c.choices[0].delta.content or "" for c in received if c.choices)
    assert partial and "echo: interrupted answer".startswith(partial)
    assert finish_reasons(received) == []


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_unknown_model_is_not_found(client, stream):
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(
            model="up-nowhere/mock-small", messages=msgs("hi"), stream=stream
        )
    e = assert_openai_error(ei.value, 404)
    assert e["code"] == "model_not_found"


def test_bad_gateway_key_is_authentication_error(make_client, upstream):
    bad = make_client("sk-or-definitely-not-a-valid-key")
    with pytest.raises(openai.AuthenticationError) as ei:
        create(bad, upstream, "hi")
    e = assert_openai_error(ei.value, 401)
    assert e["type"] == "authentication_error"


# request log and models -------------------------------------------------------------------------


def test_request_log_row(client, management, upstream):
    raw = client.chat.completions.with_raw_response.create(
        model=up_model(upstream), messages=msgs("logged [[mock:usage=5,6]]")
    )
    row = management.wait_for_log(raw.headers["x-request-id"])
    assert row["client_format"] == "openai"
    assert row["provider"] == f"up-{upstream}"
    assert row["model"] == up_model(upstream)
    assert row["upstream_model"] == "mock-small"
    assert row["status"] == 200 and row["error"] is None
    assert (row["input_tokens"], row["output_tokens"]) == (5, 6)


def test_models_list_has_every_upstream(client):
    ids = {m.id for m in client.models.list()}
    assert {up_model(f) for f in UPSTREAM_FORMATS} <= ids
    for f in UPSTREAM_FORMATS:
        m = client.models.retrieve(up_model(f))
        assert m.id == up_model(f) and m.owned_by == f"up-{f}"

