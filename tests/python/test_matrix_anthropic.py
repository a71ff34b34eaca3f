"""Client × upstream matrix, client side: the official `anthropic` SDK (`/v1/messages`).

The client's base_url is the gateway root. anthropic 2.x sends `api_key` as
`Authorization: Bearer`; Claude Code and older SDKs send `x-api-key`, covered by
test_x_api_key_header_auth. Every test runs once per upstream format (`upstream` fixture); only
`anthropic` is a same-format pass-through.
"""

from __future__ import annotations

import anthropic
import pytest

from conftest import (
    GATEWAY_KEY,
    MOCK_CALL_IDS,
    MOCK_REASONING,
    UPSTREAM_FORMATS,
    UPSTREAM_SECRET,
    up_model,
)

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}
SYSTEM = "You are a terse assistant for tests"  # 7 words
MAX_TOKENS = 256


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def create(client: anthropic.Anthropic, fmt: str, text: str, **kw):
    return client.messages.create(
        model=up_model(fmt), max_tokens=MAX_TOKENS, messages=user(text), **kw
    )


def stream_final(client: anthropic.Anthropic, fmt: str, text: str, **kw):
    """Run `messages.stream()` to its end; return (events, text deltas, final message)."""
    with client.messages.stream(
        model=up_model(fmt), max_tokens=MAX_TOKENS, messages=user(text), **kw
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    deltas = [
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    ]
    return events, deltas, final


def texts(message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


def tool_uses(message) -> list:
    return [b for b in message.content if b.type == "tool_use"]


def assert_anthropic_error(err: anthropic.APIStatusError, status: int, kind: str) -> None:
    assert err.status_code == status
    body = err.response.json()
    assert body["type"] == "error", body
    assert body["error"]["type"] == kind
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert UPSTREAM_SECRET not in err.response.text


# text -------------------------------------------------------------------------------------------


def test_text_non_stream(anthropic_client, upstream):
    msg = create(anthropic_client, upstream, "hello matrix")
    assert msg.type == "message" and msg.role == "assistant"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "echo: hello matrix"
    assert msg.stop_reason == "end_turn"
    assert msg.model == ("mock-small" if upstream == "anthropic" else up_model(upstream))
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0


def test_text_stream(anthropic_client, upstream):
    events, deltas, final = stream_final(
        anthropic_client, upstream, "stream the matrix [[mock:chunks=5]]"
    )
    assert events[0].type == "message_start"
    assert events[-1].type == "message_stop"
    assert len(deltas) == 5, "the upstream's 5 text chunks arrive as 5 deltas, not buffered"
    assert "".join(deltas) == "echo: stream the matrix"
    starts = [e for e in events if e.type == "content_block_start"]
    stops = [e for e in events if e.type == "content_block_stop"]
    assert len(starts) == len(stops) == 1
    assert final.content[0].text == "echo: stream the matrix"
    assert final.stop_reason == "end_turn"


def test_text_stream_helper_text_stream(anthropic_client, upstream):
    with anthropic_client.messages.stream(
        model=up_model(upstream), max_tokens=MAX_TOKENS, messages=user("text stream please")
    ) as stream:
        text = "".join(stream.text_stream)
        assert stream.get_final_text() == "echo: text stream please"
    assert text == "echo: text stream please"


def test_raw_stream_iteration_ends(anthropic_client, upstream):
    events = list(create(anthropic_client, upstream, "raw stream", stream=True))
    assert events[0].type == "message_start"
    assert events[-1].type == "message_stop"
    stop = [e for e in events if e.type == "message_delta"]
    assert len(stop) == 1 and stop[0].delta.stop_reason == "end_turn"


def test_multi_turn_history(anthropic_client, upstream):
    msg = anthropic_client.messages.create(
        model=up_model(upstream),
        max_tokens=MAX_TOKENS,
        system=SYSTEM,
        messages=[
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": [{"type": "text", "text": "first answer"}]},
            {"role": "user", "content": [{"type": "text", "text": "second question"}]},
        ],
    )
    assert texts(msg) == "echo: second question"


@pytest.mark.parametrize("shape", ["string", "blocks"])
def test_system_prompt_reaches_upstream(anthropic_client, upstream, shape):
    """The mock counts every input word as a prompt token: the 7-word system prompt must add
    exactly 7 (as a string, or split over two text blocks with cache_control)."""
    m = up_model(upstream)
    system = (
        SYSTEM
        if shape == "string"
        else [
            {"type": "text", "text": "You are a terse"},
            {"type": "text", "text": "assistant for tests", "cache_control": {"type": "ephemeral"}},
        ]
    )
    base = anthropic_client.messages.create(
        model=m, max_tokens=MAX_TOKENS, messages=user("count my words")
    )
    msg = anthropic_client.messages.create(
        model=m, max_tokens=MAX_TOKENS, system=system, messages=user("count my words")
    )
    assert texts(msg) == "echo: count my words"
    assert msg.usage.input_tokens - base.usage.input_tokens == 7


# usage ------------------------------------------------------------------------------------------


def test_usage_exact_non_stream(anthropic_client, upstream):
    msg = create(anthropic_client, upstream, "count me [[mock:usage=11,22]]")
    assert texts(msg) == "echo: count me"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (11, 22)
    # no cache activity was reported by any upstream: never invented
    assert not msg.usage.cache_read_input_tokens
    assert not msg.usage.cache_creation_input_tokens


def test_usage_exact_stream(anthropic_client, upstream):
    _, deltas, final = stream_final(anthropic_client, upstream, "count me [[mock:usage=11,22]]")
    assert "".join(deltas) == "echo: count me"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 22)


# tools ------------------------------------------------------------------------------------------


def assert_weather_call(block, fmt: str) -> None:
    assert block.name == "get_weather"
    assert block.input == {"location": "Paris"}
    if MOCK_CALL_IDS[fmt]:
        assert block.id == MOCK_CALL_IDS[fmt], "the upstream's call id is kept verbatim"
    else:
        assert block.id


def test_tool_call_non_stream(anthropic_client, upstream):
    msg = create(anthropic_client, upstream, "weather? [[mock:tools]]", tools=[WEATHER_TOOL])
    assert msg.stop_reason == "tool_use"
    calls = tool_uses(msg)
    assert len(calls) == 1
    assert_weather_call(calls[0], upstream)
    assert texts(msg) == ""


def test_tool_call_stream(anthropic_client, upstream):
    events, deltas, final = stream_final(
        anthropic_client, upstream, "weather? [[mock:tools]]", tools=[WEATHER_TOOL]
    )
    assert deltas == []
    assert events[-1].type == "message_stop"
    json_parts = [
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert json_parts, "arguments are streamed as input_json_delta"
    assert final.stop_reason == "tool_use"
    calls = tool_uses(final)
    assert len(calls) == 1
    assert_weather_call(calls[0], upstream)


def test_tool_result_round_trip(anthropic_client, upstream, mock_answers_tool_results):
    first = create(anthropic_client, upstream, "weather in Paris? [[mock:tools]]",
                   tools=[WEATHER_TOOL])
    call = tool_uses(first)[0]
    raw = anthropic_client.messages.with_raw_response.create(
        model=up_model(upstream),
        max_tokens=MAX_TOKENS,
        system=SYSTEM,
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21 C"}
                ],
            },
        ],
    )
    assert raw.status_code == 200
    msg = raw.parse()
    assert msg.stop_reason == "end_turn"
    assert not tool_uses(msg)
    if mock_answers_tool_results:
        assert texts(msg) == "done: sunny, 21 C"
    else:
        assert texts(msg).startswith("echo:")


# reasoning --------------------------------------------------------------------------------------


def test_reasoning_is_a_thinking_block(anthropic_client, upstream):
    msg = create(anthropic_client, upstream, "think [[mock:reasoning]]")
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].thinking == MOCK_REASONING
    assert isinstance(msg.content[0].signature, str)  # "" when the upstream gave none
    assert msg.content[1].text == "echo: think"

    _, deltas, final = stream_final(anthropic_client, upstream, "think [[mock:reasoning]]")
    assert "".join(deltas) == "echo: think"
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == MOCK_REASONING


# errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_upstream_429_is_rate_limit_error(anthropic_client, upstream, stream):
    with pytest.raises(anthropic.RateLimitError) as ei:
        if stream:
            stream_final(anthropic_client, upstream, "slow down [[mock:status=429]]")
        else:
            create(anthropic_client, upstream, "slow down [[mock:status=429]]")
    assert_anthropic_error(ei.value, 429, "rate_limit_error")
    assert ei.value.response.headers["retry-after"] == "7"


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_upstream_500_is_internal_server_error(anthropic_client, upstream, stream):
    with pytest.raises(anthropic.InternalServerError) as ei:
        if stream:
            stream_final(anthropic_client, upstream, "boom [[mock:status=500]]")
        else:
            create(anthropic_client, upstream, "boom [[mock:status=500]]")
    assert_anthropic_error(ei.value, 500, "api_error")


@pytest.mark.parametrize("directive", ["status=401", "garbage", "error-event"])
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_upstream_failure_is_502(request, anthropic_client, upstream, directive, stream):
    """The provider refusing *our* key, a non-JSON body, or an error event before any content:
    all are a 502 from the gateway, never an AuthenticationError or a fake answer."""
    with pytest.raises(anthropic.InternalServerError) as ei:
        if stream:
            stream_final(anthropic_client, upstream, f"x [[mock:{directive}]]")
        else:
            create(anthropic_client, upstream, f"x [[mock:{directive}]]")
    assert_anthropic_error(ei.value, 502, "api_error")


def _cut_stream(client: anthropic.Anthropic, fmt: str):
    """Stream an answer the upstream cuts after 2 of 6 chunks; return (events, error)."""
    received = []
    with pytest.raises(anthropic.APIStatusError) as ei:
        with client.messages.stream(
            model=up_model(fmt),
            max_tokens=MAX_TOKENS,
            messages=user("interrupted answer [[mock:cut=2;chunks=6]]"),
        ) as stream:
            for event in stream:
                received.append(event)
    return received, ei.value


def test_cut_stream_raises(anthropic_client, upstream):
    """The gateway ends the stream with `event: error`; the SDK raises (an APIStatusError
    carrying the stream's HTTP 200) instead of returning a short answer."""
    received, err = _cut_stream(anthropic_client, upstream)
    assert err.body["type"] == "error" and err.body["error"]["type"] == "api_error"
    assert "cut off" in err.body["error"]["message"]
    assert UPSTREAM_SECRET not in err.body["error"]["message"]
    types = [e.type for e in received]
    assert "message_stop" not in types and "message_delta" not in types
    partial = "".join(
        e.delta.text
        for e in received
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert partial and "echo: interrupted answer".startswith(partial)


@pytest.mark.parametrize(
    "upstream",
    [
        "openai",
        "anthropic",
        "gemini",
        "responses",
    ],
)
def test_cut_stream_closes_open_blocks(anthropic_client, upstream):
    received, _ = _cut_stream(anthropic_client, upstream)
    types = [e.type for e in received]
    assert types.count("content_block_start") == types.count("content_block_stop") == 1, types


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_unknown_model_is_not_found(anthropic_client, stream):
    with pytest.raises(anthropic.NotFoundError) as ei:
        anthropic_client.messages.create(
            model="up-nowhere/mock-small", max_tokens=MAX_TOKENS, messages=user("hi"),
            stream=stream,
        )
    assert_anthropic_error(ei.value, 404, "not_found_error")


def test_bad_gateway_key_is_authentication_error(make_anthropic, upstream):
    bad = make_anthropic("sk-or-definitely-not-a-valid-key")
    with pytest.raises(anthropic.AuthenticationError) as ei:
        create(bad, upstream, "hi")
    assert ei.value.status_code == 401


def test_bad_gateway_key_error_body_is_anthropic_shaped(make_anthropic):
    bad = make_anthropic("sk-or-definitely-not-a-valid-key")
    with pytest.raises(anthropic.AuthenticationError) as ei:
        create(bad, "anthropic", "hi")
    assert_anthropic_error(ei.value, 401, "authentication_error")


def test_x_api_key_header_auth(gateway, upstream):
    """`x-api-key` (Claude Code, older SDKs) instead of the SDK's Bearer header: a good key works,
    a bad one is an AuthenticationError."""

    def make(key: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            base_url=gateway, api_key="unused", max_retries=0, timeout=30,
            default_headers={"Authorization": anthropic.Omit(), "x-api-key": key},
        )

    with make(GATEWAY_KEY) as good:
        raw = good.messages.with_raw_response.create(
            model=up_model(upstream), max_tokens=MAX_TOKENS, messages=user("x-api-key works")
        )
        assert "authorization" not in {k.lower() for k in raw.http_request.headers}
        assert texts(raw.parse()) == "echo: x-api-key works"
    with make("sk-or-definitely-not-a-valid-key") as bad:
        with pytest.raises(anthropic.AuthenticationError):
            create(bad, upstream, "hi")


# count_tokens, request log, models --------------------------------------------------------------


def test_count_tokens(anthropic_client, upstream):
    def count(text: str) -> int:
        return anthropic_client.messages.count_tokens(
            model=up_model(upstream), system=SYSTEM, messages=user(text)
        ).input_tokens

    short, long = count("one two three"), count("one two three " * 20)
    assert 0 < short < long


def test_request_log_row(anthropic_client, management, upstream):
    raw = anthropic_client.messages.with_raw_response.create(
        model=up_model(upstream), max_tokens=MAX_TOKENS, messages=user("logged [[mock:usage=5,6]]")
    )
    row = management.wait_for_log(raw.headers["x-request-id"])
    assert row["client_format"] == "anthropic"
    assert row["path"] == "/v1/messages"
    assert row["provider"] == f"up-{upstream}"
    assert row["model"] == up_model(upstream)
    assert row["status"] == 200 and row["error"] is None
    assert (row["input_tokens"], row["output_tokens"]) == (5, 6)


def test_models_list_is_anthropic_shaped(anthropic_client):
    models = list(anthropic_client.models.list())
    ids = {m.id for m in models}
    assert {up_model(f) for f in UPSTREAM_FORMATS} <= ids
    assert all(m.type == "model" and m.display_name for m in models)
    m = anthropic_client.models.retrieve(up_model("gemini"))
    assert m.id == up_model("gemini") and m.type == "model"
