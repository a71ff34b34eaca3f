"""OmniRoute driven end to end with the official `openai` Python SDK.

Every request goes SDK -> omniroute (REQUIRE_API_KEY=true) -> mock-upstream, whose answer is
`echo: <last user text>` and which is scripted with `[[mock:...]]` markers in the user text.
"""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from conftest import GATEWAY_KEY, MODEL, UPSTREAM_SECRET

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


def user(text: str) -> list[dict]:
    return [
        {"role": "system", "content": "You are a test."},
        {"role": "user", "content": text},
    ]


def chat(client: openai.OpenAI, text: str, **kw) -> ChatCompletion:
    return client.chat.completions.create(model=MODEL, messages=user(text), **kw)


def collect(stream) -> tuple[list[ChatCompletionChunk], str]:
    """Drain a sync stream; return the chunks and the concatenated content deltas."""
    chunks = list(stream)
    text = "".join(
        c.choices[0].delta.content or "" for c in chunks if c.choices
    )
    return chunks, text


def finish_reasons(chunks: list[ChatCompletionChunk]) -> list[str]:
    return [ch.finish_reason for c in chunks for ch in c.choices if ch.finish_reason is not None]


# 1. non-stream chat ---------------------------------------------------------------------------


def test_non_stream_chat(client):
    resp = chat(client, "hello gateway")

    assert isinstance(resp, ChatCompletion)
    assert resp.object == "chat.completion"
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: hello gateway"
    assert choice.finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    # The parsed object round-trips through the SDK's pydantic model.
    assert ChatCompletion.model_validate(resp.model_dump()) == resp


def test_non_stream_raw_json_validates_against_sdk_schema(client):
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=user("schema"))
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    body = json.loads(raw.text)
    validated = ChatCompletion.model_validate(body)  # raises on a schema mismatch
    assert validated.choices[0].message.content == "echo: schema"


def test_usage_counts_are_passed_through(client):
    resp = chat(client, "count me [[mock:usage=11,22]]")
    assert resp.choices[0].message.content == "echo: count me"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (11, 22)
    assert resp.usage.total_tokens == 33


# 2. streaming chat ----------------------------------------------------------------------------


def test_stream_matches_non_stream(client):
    text = "stream me please"
    expected = chat(client, text).choices[0].message.content

    stream = client.chat.completions.create(model=MODEL, messages=user(text), stream=True)
    assert isinstance(stream, openai.Stream)
    chunks, streamed = collect(stream)

    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1, "all chunks of one completion share its id"
    assert streamed == expected == "echo: stream me please"
    assert finish_reasons(chunks) == ["stop"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    # Without include_usage no chunk carries usage.
    assert all(c.usage is None for c in chunks)


def test_stream_include_usage(client):
    stream = client.chat.completions.create(
        model=MODEL,
        messages=user("usage please"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks, streamed = collect(stream)

    assert streamed == "echo: usage please"
    assert finish_reasons(chunks) == ["stop"]
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1
    usage_chunk = usage_chunks[0]
    assert usage_chunk is chunks[-1], "the usage chunk is the last one"
    assert usage_chunk.choices == []
    assert usage_chunk.usage.prompt_tokens > 0
    assert usage_chunk.usage.completion_tokens > 0
    assert usage_chunk.usage.total_tokens == (
        usage_chunk.usage.prompt_tokens + usage_chunk.usage.completion_tokens
    )


# 3. long stream -------------------------------------------------------------------------------


def test_long_stream_50_chunks_in_order(client):
    text = "the quick brown fox jumps over the lazy dog [[mock:chunks=50]]"
    expected = chat(client, text).choices[0].message.content
    assert expected.startswith("echo: the quick brown fox")

    stream = client.chat.completions.create(model=MODEL, messages=user(text), stream=True)
    chunks, streamed = collect(stream)
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]

    assert len(deltas) == 50
    assert "".join(deltas) == streamed == expected
    # In order: every delta starts exactly where the previous ones ended.
    pos = 0
    for d in deltas:
        assert expected[pos : pos + len(d)] == d
        pos += len(d)
    assert pos == len(expected)
    assert finish_reasons(chunks) == ["stop"]


def test_long_stream_with_usage_records_tokens(client, management):
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=user("paced [[mock:chunks=20;delay=5;usage=7,9]]"),
        stream=True,
        stream_options={"include_usage": True},
    )
    rid = raw.headers["x-request-id"]
    chunks, _ = collect(raw.parse())
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (7, 9)

    row = management.wait_for_log(rid)
    assert row["status"] == 200
    assert row["stream"] is True
    assert row["model"] == MODEL
    assert (row["input_tokens"], row["output_tokens"]) == (7, 9)


def test_stream_multibyte_text_survives_chunking(client):
    text = "unicode héllo 🌍 日本語 ünïcødé [[mock:chunks=9]]"
    expected = chat(client, text).choices[0].message.content
    assert expected.startswith("echo: unicode héllo 🌍 日本語 ünïcødé")
    _, streamed = collect(chat(client, text, stream=True))
    assert streamed == expected


def test_reasoning_content_passes_through(client):
    """DeepSeek-style `reasoning_content` is not part of the SDK's types: it arrives as an extra."""
    resp = chat(client, "think [[mock:reasoning]]")
    msg = resp.choices[0].message
    assert msg.content == "echo: think"
    assert (msg.model_extra or {}).get("reasoning_content")

    chunks, streamed = collect(chat(client, "think [[mock:reasoning]]", stream=True))
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks
        if c.choices
    )
    assert streamed == "echo: think"
    assert reasoning == msg.model_extra["reasoning_content"]
    assert finish_reasons(chunks) == ["stop"]


def test_client_closing_stream_early_is_logged_and_harmless(client, management):
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=user("long one [[mock:chunks=40;delay=50]]"), stream=True
    )
    rid = raw.headers["x-request-id"]
    stream = raw.parse()
    for i, _ in enumerate(stream):
        if i == 2:
            break
    stream.close()

    row = management.wait_for_log(rid)
    assert row["stream"] is True
    assert row["status"] == 499
    # The gateway (and the SDK's connection pool) keep working.
    assert chat(client, "after close").choices[0].message.content == "echo: after close"


# 4. tool calls --------------------------------------------------------------------------------


def test_tool_call_non_stream(client):
    resp = chat(client, "weather? [[mock:tools]]", tools=[WEATHER_TOOL])

    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    call = calls[0]
    assert call.id == "call_mock_1"
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Paris"}


def test_tool_call_stream_reassembles(client):
    stream = client.chat.completions.create(
        model=MODEL, messages=user("weather? [[mock:tools]]"), tools=[WEATHER_TOOL], stream=True
    )
    chunks, text = collect(stream)

    assert text == "", "a tool-call answer carries no text"
    calls: dict[int, dict] = {}
    fragments = 0
    for c in chunks:
        for ch in c.choices:
            for tc in ch.delta.tool_calls or []:
                fragments += 1
                acc = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
                if tc.id:
                    assert acc["id"] in (None, tc.id)
                    acc["id"] = tc.id
                if tc.function and tc.function.name:
                    assert acc["name"] in (None, tc.function.name)
                    acc["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    acc["arguments"] += tc.function.arguments

    assert fragments >= 3, "the mock streams the arguments in 3 fragments"
    assert list(calls) == [0]
    call = calls[0]
    assert call["id"] == "call_mock_1"
    assert call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"location": "Paris"}
    assert finish_reasons(chunks) == ["tool_calls"]


def test_tool_call_stream_via_sdk_stream_helper(client):
    """The SDK's high-level `.stream()` helper accumulates the same single tool call."""
    with client.chat.completions.stream(
        model=MODEL, messages=user("weather? [[mock:tools]]"), tools=[WEATHER_TOOL]
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()

    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name) == ("call_mock_1", "get_weather")
    assert json.loads(call.function.arguments) == {"location": "Paris"}


# 5. errors as typed SDK exceptions --------------------------------------------------------------


def assert_no_secret(err: openai.APIStatusError) -> None:
    assert UPSTREAM_SECRET not in str(err)
    assert UPSTREAM_SECRET not in err.response.text
    assert UPSTREAM_SECRET not in json.dumps(err.body)


def assert_openai_error_shape(err: openai.APIStatusError) -> dict:
    body = err.response.json()
    assert set(body) == {"error"}
    e = body["error"]
    assert isinstance(e["message"], str) and e["message"]
    assert isinstance(e["type"], str) and e["type"]
    assert "code" in e and "param" in e
    assert err.body == e, "the SDK exposes the inner error object as .body"
    assert err.code == e["code"] and err.type == e["type"]
    assert err.request_id == err.response.headers["x-request-id"]
    return e


def test_wrong_key_is_authentication_error(make_client):
    bad = make_client("sk-or-definitely-not-a-valid-key")
    with pytest.raises(openai.AuthenticationError) as ei:
        chat(bad, "hi")
    err = ei.value
    assert err.status_code == 401
    e = assert_openai_error_shape(err)
    assert e["type"] == "authentication_error"
    assert e["code"] == "invalid_api_key"
    assert_no_secret(err)


def test_missing_key_is_authentication_error(client):
    with pytest.raises(openai.AuthenticationError) as ei:
        chat(client, "hi", extra_headers={"Authorization": openai.Omit()})
    err = ei.value
    assert err.status_code == 401
    assert "authorization" not in {k.lower() for k in err.response.request.headers}
    e = assert_openai_error_shape(err)
    assert e["type"] == "authentication_error"
    assert_no_secret(err)


@pytest.mark.parametrize("model", ["nope/mock-small", "mystery-model"])
def test_unknown_model_is_not_found(client, model):
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model=model, messages=user("hi"))
    err = ei.value
    assert err.status_code == 404
    e = assert_openai_error_shape(err)
    assert e["code"] == "model_not_found"
    assert model in e["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_upstream_429_is_rate_limit_error_with_retry_after(client, stream):
    with pytest.raises(openai.RateLimitError) as ei:
        resp = chat(client, "slow down [[mock:status=429]]", stream=stream)
        if stream:  # an error before the first byte must be an HTTP error, not a stream
            list(resp)
    err = ei.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "7"
    e = assert_openai_error_shape(err)
    assert e["type"] == "rate_limit_error"
    assert_no_secret(err)


def test_upstream_retry_after_value_is_forwarded(client):
    with pytest.raises(openai.RateLimitError) as ei:
        chat(client, "slow [[mock:status=429;retry-after=3]]")
    assert ei.value.response.headers["retry-after"] == "3"


def test_upstream_500_is_internal_server_error(client):
    with pytest.raises(openai.InternalServerError) as ei:
        chat(client, "boom [[mock:status=500]]")
    err = ei.value
    assert err.status_code == 500
    assert_openai_error_shape(err)
    assert_no_secret(err)


@pytest.mark.parametrize(
    "directive, code",
    [("status=401", "upstream_auth_failed"), ("garbage", "upstream_invalid_response")],
)
def test_upstream_auth_failure_and_garbage_are_502(client, directive, code):
    """The upstream's own 401 must not look like the *caller's* key being wrong."""
    with pytest.raises(openai.InternalServerError) as ei:
        chat(client, f"x [[mock:{directive}]]")
    err = ei.value
    assert not isinstance(err, openai.AuthenticationError)
    assert err.status_code == 502
    e = assert_openai_error_shape(err)
    assert e["code"] == code
    assert_no_secret(err)


def test_malformed_request_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as ei:
        # `messages` must be an array: sent raw through extra_body to bypass SDK typing.
        client.chat.completions.create(
            model=MODEL, messages=[], extra_body={"messages": "not-a-list"}
        )
    err = ei.value
    assert err.status_code == 400
    e = assert_openai_error_shape(err)
    assert e["type"] == "invalid_request_error"
    assert_no_secret(err)


# 6. models ------------------------------------------------------------------------------------


def test_models_list_includes_mock_model(client):
    models = client.models.list()
    ids = [m.id for m in models]
    assert MODEL in ids
    m = next(m for m in models if m.id == MODEL)
    assert m.object == "model"
    assert m.owned_by


def test_models_retrieve(client):
    m = client.models.retrieve(MODEL)
    assert m.id == MODEL
    assert m.owned_by == "mock"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("mock/not-a-listed-model")


# 7. request ids -------------------------------------------------------------------------------


def test_raw_response_has_request_id(client, management):
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=user("rid"))
    rid = raw.headers.get("x-request-id")
    assert rid, "every response carries x-request-id"
    assert raw.parse().choices[0].message.content == "echo: rid"
    row = management.wait_for_log(rid)
    assert row["status"] == 200
    assert row["stream"] is False
    assert row["model"] == MODEL
    assert row["provider"] == "mock"


def test_custom_request_id_is_echoed_and_logged(client, management):
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=user("custom rid"), extra_headers={"X-Request-Id": "py-req-1"}
    )
    assert raw.headers["x-request-id"] == "py-req-1"
    resp = raw.parse()
    assert resp.choices[0].message.content == "echo: custom rid"
    # `_request_id` is the SDK's view of the same header.
    assert resp._request_id == "py-req-1"

    row = management.wait_for_log("py-req-1")
    assert row["status"] == 200
    assert row["model"] == MODEL
    assert row["provider"] == "mock"
    assert row["stream"] is False
    assert row["input_tokens"] == resp.usage.prompt_tokens
    assert row["output_tokens"] == resp.usage.completion_tokens


def test_new_gateway_key_from_management_api_works(management, make_client):
    created = management.request("POST", "/api/keys", {"name": "pytest-created"})
    assert created["key"] and created["key"] != GATEWAY_KEY
    resp = chat(make_client(created["key"]), "new key")
    assert resp.choices[0].message.content == "echo: new key"


# 8. broken streams ----------------------------------------------------------------------------


def test_cut_stream_raises_api_error(client, management):
    """The upstream dies after 2 of 6 chunks: the SDK must raise, not return a short answer."""
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=user("interrupted answer [[mock:cut=2;chunks=6]]"), stream=True
    )
    assert raw.status_code == 200  # the stream had started: the error arrives in-band
    rid = raw.headers["x-request-id"]
    stream = raw.parse()

    received: list[ChatCompletionChunk] = []
    with pytest.raises(openai.APIError) as ei:
        for chunk in stream:
            received.append(chunk)
    err = ei.value
    assert not isinstance(err, openai.APIStatusError)  # in-band SSE error, HTTP status was 200
    assert err.code == "upstream_stream_cut"
    assert "cut off" in err.message
    assert UPSTREAM_SECRET not in err.message

    partial = "".join(c.choices[0].delta.content or "" for c in received if c.choices)
    full = chat(client, "interrupted answer [[mock:chunks=6]]").choices[0].message.content
    assert partial and full.startswith(partial) and partial != full
    assert finish_reasons(received) == [], "a cut stream never reports a finish_reason"

    row = management.wait_for_log(rid)
    assert row["stream"] is True
    assert row["status"] >= 500
    assert row["error"]


def test_cut_before_first_chunk_is_502(client):
    """Nothing reached the client yet: the gateway holds the response until the upstream's first
    data event, so a stream cut before it is an HTTP 502, not an in-band error."""
    with pytest.raises(openai.InternalServerError) as ei:
        list(chat(client, "x [[mock:cut=0;chunks=3]]", stream=True))
    err = ei.value
    assert err.status_code == 502
    e = assert_openai_error_shape(err)
    assert "cut off" in e["message"]
    assert_no_secret(err)


def test_upstream_error_event_before_first_chunk_is_502(client):
    """An HTTP 200 stream whose first event is an error becomes an HTTP 502 with that message."""
    with pytest.raises(openai.InternalServerError) as ei:
        list(chat(client, "x [[mock:error-event]]", stream=True))
    err = ei.value
    assert err.status_code == 502
    e = assert_openai_error_shape(err)
    assert "mock upstream error" in e["message"]
    assert_no_secret(err)


# 9. async client, concurrent streams ------------------------------------------------------------


def test_async_concurrent_streams(gateway):
    n = 16

    async def one(aclient: openai.AsyncOpenAI, i: int) -> tuple[str, list[str]]:
        stream = await aclient.chat.completions.create(
            model=MODEL,
            messages=user(f"concurrent request number {i:02d} [[mock:chunks=8;delay=15]]"),
            stream=True,
        )
        parts, reasons = [], []
        async for chunk in stream:
            for ch in chunk.choices:
                parts.append(ch.delta.content or "")
                if ch.finish_reason:
                    reasons.append(ch.finish_reason)
        return "".join(parts), reasons

    async def main():
        async with openai.AsyncOpenAI(
            base_url=gateway + "/v1", api_key=GATEWAY_KEY, max_retries=0, timeout=60
        ) as aclient:
            return await asyncio.gather(*(one(aclient, i) for i in range(n)))

    results = asyncio.run(main())
    assert len(results) == n
    for i, (text, reasons) in enumerate(results):
        assert text == f"echo: concurrent request number {i:02d}"
        assert reasons == ["stop"]


def test_async_non_stream_and_typed_error(gateway):
    async def main():
        async with openai.AsyncOpenAI(
            base_url=gateway + "/v1", api_key=GATEWAY_KEY, max_retries=0, timeout=30
        ) as aclient:
            ok = await aclient.chat.completions.create(model=MODEL, messages=user("async hi"))
            with pytest.raises(openai.RateLimitError) as ei:
                await aclient.chat.completions.create(
                    model=MODEL, messages=user("x [[mock:status=429]]")
                )
            return ok, ei.value

    ok, err = asyncio.run(main())
    assert ok.choices[0].message.content == "echo: async hi"
    assert err.response.headers["retry-after"] == "7"
