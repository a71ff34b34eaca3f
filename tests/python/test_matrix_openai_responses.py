"""Client × upstream matrix, client side: the `openai` SDK's Responses API (`client.responses`).

Every test runs once per upstream format (`upstream` fixture); only `responses` is a same-format
pass-through, the other three are translated by the gateway.
"""

from __future__ import annotations

import json

import openai
import pytest

from conftest import (
    MOCK_CALL_IDS,
    MOCK_REASONING,
    UPSTREAM_SECRET,
    up_model,
)

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
        "additionalProperties": False,
    },
    "strict": True,
}
SYSTEM = "You are a terse assistant for tests"  # 7 words


def create(client: openai.OpenAI, fmt: str, text: str, **kw):
    return client.responses.create(model=up_model(fmt), input=text, **kw)


def stream_events(client: openai.OpenAI, fmt: str, text: str, **kw):
    """Run the SDK's stream helper to its end; return (events, final response)."""
    with client.responses.stream(model=up_model(fmt), input=text, **kw) as stream:
        events = list(stream)
        final = stream.get_final_response()
    return events, final


def function_calls(resp) -> list:
    return [item for item in resp.output if item.type == "function_call"]


def assert_lifecycle(events) -> None:
    types = [e.type for e in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert types.count("response.completed") == 1
    seqs = [e.sequence_number for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "sequence_number increases"


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
    assert resp.object == "response"
    assert resp.status == "completed"
    assert resp.output_text == "echo: hello matrix"
    messages = [item for item in resp.output if item.type == "message"]
    assert len(messages) == 1 and messages[0].role == "assistant"
    assert not function_calls(resp)
    assert resp.incomplete_details is None and resp.error is None
    assert resp.model == ("mock-small" if upstream == "responses" else up_model(upstream))
    u = resp.usage
    assert u.input_tokens > 0 and u.output_tokens > 0
    assert u.total_tokens == u.input_tokens + u.output_tokens


def test_text_stream(client, upstream):
    events, final = stream_events(client, upstream, "stream the matrix [[mock:chunks=5]]")
    assert_lifecycle(events)
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) == 5, "the upstream's 5 text chunks arrive as 5 deltas, not buffered"
    assert "".join(deltas) == "echo: stream the matrix"
    done = [e for e in events if e.type == "response.output_text.done"]
    assert len(done) == 1 and done[0].text == "echo: stream the matrix"
    assert final.status == "completed"
    assert final.output_text == "echo: stream the matrix"


def test_raw_stream_iteration_ends(client, upstream):
    """`create(stream=True)` without the helper: iteration simply ends after response.completed."""
    events = list(create(client, upstream, "raw stream", stream=True))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "echo: raw stream"


def test_multi_turn_history(client, upstream):
    resp = client.responses.create(
        model=up_model(upstream),
        instructions=SYSTEM,
        input=[
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": [{"type": "input_text", "text": "second question"}]},
        ],
    )
    assert resp.output_text == "echo: second question"


@pytest.mark.parametrize("how", ["instructions", "system-message", "developer-message"])
def test_system_prompt_reaches_upstream(client, upstream, how):
    """The mock counts every input word as a prompt token: the 7-word system prompt must add
    exactly 7 whichever way the Responses client sends it."""
    m = up_model(upstream)
    base = client.responses.create(model=m, input="count my words")
    if how == "instructions":
        resp = client.responses.create(model=m, instructions=SYSTEM, input="count my words")
    else:
        role = how.split("-")[0]
        resp = client.responses.create(
            model=m,
            input=[{"role": role, "content": SYSTEM}, {"role": "user", "content": "count my words"}],
        )
    assert resp.output_text == "echo: count my words"
    assert resp.usage.input_tokens - base.usage.input_tokens == 7


# usage ------------------------------------------------------------------------------------------


def test_usage_exact_non_stream(client, upstream):
    resp = create(client, upstream, "count me [[mock:usage=11,22]]")
    assert resp.output_text == "echo: count me"
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.total_tokens) == (
        11,
        22,
        33,
    )


def test_usage_exact_stream(client, upstream):
    events, final = stream_events(client, upstream, "count me [[mock:usage=11,22]]")
    completed = events[-1]
    assert completed.type == "response.completed"
    for u in (completed.response.usage, final.usage):
        assert (u.input_tokens, u.output_tokens, u.total_tokens) == (11, 22, 33)


# tools ------------------------------------------------------------------------------------------


def assert_weather_call(item, fmt: str) -> None:
    assert item.name == "get_weather"
    assert json.loads(item.arguments) == {"location": "Paris"}
    assert item.status == "completed"
    if MOCK_CALL_IDS[fmt]:
        assert item.call_id == MOCK_CALL_IDS[fmt], "the upstream's call id is kept verbatim"
    else:
        assert item.call_id and item.call_id.startswith("call_")


def test_tool_call_non_stream(client, upstream):
    resp = create(client, upstream, "weather? [[mock:tools]]", tools=[WEATHER_TOOL])
    # Responses has no finish reason: a tool-use answer is `completed` with a function_call item.
    assert resp.status == "completed"
    calls = function_calls(resp)
    assert len(calls) == 1
    assert_weather_call(calls[0], upstream)
    assert resp.output_text == ""


def test_tool_call_stream(client, upstream):
    events, final = stream_events(client, upstream, "weather? [[mock:tools]]", tools=[WEATHER_TOOL])
    assert_lifecycle(events)
    args_done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert len(args_done) == 1
    assert json.loads(args_done[0].arguments) == {"location": "Paris"}
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(deltas) == {"location": "Paris"}
    added = [
        e.item
        for e in events
        if e.type == "response.output_item.added" and e.item.type == "function_call"
    ]
    assert len(added) == 1 and added[0].name == "get_weather"
    assert final.status == "completed"
    calls = function_calls(final)
    assert len(calls) == 1
    assert_weather_call(calls[0], upstream)
    assert calls[0].parsed_arguments == {"location": "Paris"}  # the SDK's strict-tool parsing


def test_tool_result_round_trip(client, upstream, mock_answers_tool_results):
    first = create(client, upstream, "weather in Paris? [[mock:tools]]", tools=[WEATHER_TOOL])
    call = function_calls(first)[0]
    raw = client.responses.with_raw_response.create(
        model=up_model(upstream),
        instructions=SYSTEM,
        tools=[WEATHER_TOOL],
        input=[
            {"role": "user", "content": "weather in Paris?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"},
        ],
    )
    assert raw.status_code == 200
    resp = raw.parse()
    assert resp.status == "completed"
    assert not function_calls(resp)
    if mock_answers_tool_results:
        assert resp.output_text == "done: sunny, 21 C"
    else:
        assert resp.output_text.startswith("echo:")


# reasoning --------------------------------------------------------------------------------------


def reasoning_text(resp) -> str:
    out = []
    for item in resp.output:
        if item.type == "reasoning":
            out += [s.text for s in item.summary or []]
            out += [c.text for c in item.content or []]
    return "".join(out)


def test_reasoning_never_in_output_text(client, upstream):
    resp = create(client, upstream, "think [[mock:reasoning]]")
    assert resp.output_text == "echo: think"
    assert reasoning_text(resp) == MOCK_REASONING

    events, final = stream_events(client, upstream, "think [[mock:reasoning]]")
    assert_lifecycle(events)
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == (
        "echo: think"
    )
    assert final.output_text == "echo: think"
    assert reasoning_text(final) == MOCK_REASONING


# errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_upstream_429_is_rate_limit_error(client, upstream, stream):
    with pytest.raises(openai.RateLimitError) as ei:
        resp = create(client, upstream, "slow down [[mock:status=429]]", stream=stream)
        if stream:
            list(resp)
    e = assert_openai_error(ei.value, 429)
    assert e["type"] == "rate_limit_error"
    assert ei.value.response.headers["retry-after"] == "7"


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
    assert_openai_error(ei.value, 502)


def _cut_events(client, fmt):
    with client.responses.stream(
        model=up_model(fmt), input="interrupted answer [[mock:cut=2;chunks=6]]"
    ) as stream:
        events = list(stream)
        with pytest.raises(RuntimeError, match="response.completed"):
            stream.get_final_response()
    return events


def test_cut_stream_ends_failed(client, upstream):
    """The upstream dies after 2 of 6 chunks: the stream ends with a failure event, never
    `response.completed`, and the SDK has no final response to hand out."""
    events = _cut_events(client, upstream)
    types = [e.type for e in events]
    assert "response.completed" not in types
    assert types[-1] in ("response.failed", "error")
    last = events[-1]
    message = last.response.error.message if last.type == "response.failed" else last.message
    assert "cut off" in message
    partial = "".join(e.delta for e in events if e.type == "response.output_text.delta")
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
def test_cut_stream_sequence_numbers_keep_increasing(client, upstream):
    events = _cut_events(client, upstream)
    seqs = [e.sequence_number for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_unknown_model_is_not_found(client, stream):
    with pytest.raises(openai.NotFoundError) as ei:
        client.responses.create(model="up-nowhere/mock-small", input="hi", stream=stream)
    e = assert_openai_error(ei.value, 404)
    assert e["code"] == "model_not_found"


def test_bad_gateway_key_is_authentication_error(make_client, upstream):
    bad = make_client("sk-or-definitely-not-a-valid-key")
    with pytest.raises(openai.AuthenticationError) as ei:
        create(bad, upstream, "hi")
    e = assert_openai_error(ei.value, 401)
    assert e["type"] == "authentication_error"


# request log ------------------------------------------------------------------------------------


def test_request_log_row(client, management, upstream):
    raw = client.responses.with_raw_response.create(
        model=up_model(upstream), input="logged [[mock:usage=5,6]]"
    )
    row = management.wait_for_log(raw.headers["x-request-id"])
    assert row["client_format"] == "responses"
    assert row["path"] == "/v1/responses"
    assert row["provider"] == f"up-{upstream}"
    assert row["model"] == up_model(upstream)
    assert row["status"] == 200 and row["error"] is None
    assert (row["input_tokens"], row["output_tokens"]) == (5, 6)
