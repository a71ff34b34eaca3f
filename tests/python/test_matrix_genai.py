"""Client × upstream matrix, client side: the official `google-genai` SDK (Gemini API).

`genai.Client(api_key=..., http_options=HttpOptions(base_url=<gateway root>, api_version="v1beta"))`
sends the key as `x-goog-api-key`. A model name containing '/' goes into the URL path verbatim:
`models.generate_content(model="up-openai/mock-small")` requests
`/v1beta/models/up-openai/mock-small:generateContent` (checked in
test_slash_model_name_goes_into_the_url_path). Every test runs once per upstream format
(`upstream` fixture); only `gemini` is a same-format pass-through.
"""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors
from google.genai import types

from conftest import (
    MOCK_CALL_IDS,
    MOCK_REASONING,
    UPSTREAM_FORMATS,
    UPSTREAM_SECRET,
    combo_name,
    up_model,
)

WEATHER_DECL = types.FunctionDeclaration(
    name="get_weather",
    description="Current weather for a city",
    parameters=types.Schema(
        type=types.Type.OBJECT,
        properties={"location": types.Schema(type=types.Type.STRING)},
        required=["location"],
    ),
)
TOOLS_CONFIG = types.GenerateContentConfig(
    tools=[types.Tool(function_declarations=[WEATHER_DECL])],
    automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
)
SYSTEM = "You are a terse assistant for tests"  # 7 words
STOP = types.FinishReason.STOP


def generate(client: genai.Client, fmt: str, contents, **kw) -> types.GenerateContentResponse:
    return client.models.generate_content(model=up_model(fmt), contents=contents, **kw)


def stream(client: genai.Client, fmt: str, contents, **kw) -> list[types.GenerateContentResponse]:
    return list(client.models.generate_content_stream(model=up_model(fmt), contents=contents, **kw))


def chunk_text(chunks) -> str:
    return "".join(
        p.text
        for c in chunks
        for cand in c.candidates or []
        for p in (cand.content.parts if cand.content and cand.content.parts else [])
        if p.text and not p.thought
    )


def finish_reasons(chunks) -> list:
    return [cand.finish_reason for c in chunks for cand in c.candidates or [] if cand.finish_reason]


def request_id(resp: types.GenerateContentResponse) -> str:
    return resp.sdk_http_response.headers["x-request-id"]


def assert_gemini_error(err: errors.APIError, code: int, status: str) -> None:
    assert err.code == code
    assert err.status == status
    body = err.response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code and body["error"]["status"] == status
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert UPSTREAM_SECRET not in err.response.text


# text -------------------------------------------------------------------------------------------


def test_text_non_stream(genai_client, upstream):
    resp = generate(genai_client, upstream, "hello matrix")
    assert resp.text == "echo: hello matrix"
    assert len(resp.candidates) == 1
    cand = resp.candidates[0]
    assert cand.content.role == "model"
    assert cand.finish_reason == STOP
    assert not resp.function_calls
    assert resp.model_version == ("mock-small" if upstream == "gemini" else up_model(upstream))
    u = resp.usage_metadata
    assert u.prompt_token_count > 0 and u.candidates_token_count > 0
    assert u.total_token_count == u.prompt_token_count + u.candidates_token_count


def test_text_stream(genai_client, upstream):
    chunks = stream(genai_client, upstream, "stream the matrix [[mock:chunks=5]]")
    assert chunk_text(chunks) == "echo: stream the matrix"
    with_text = [c for c in chunks if c.text]
    assert len(with_text) == 5, "the upstream's 5 text chunks arrive as 5 chunks, not buffered"
    assert finish_reasons(chunks) == [STOP]
    assert chunks[-1].candidates[0].finish_reason == STOP


def test_multi_turn_history(genai_client, upstream):
    resp = generate(
        genai_client,
        upstream,
        [
            types.Content(role="user", parts=[types.Part(text="first question")]),
            types.Content(role="model", parts=[types.Part(text="first answer")]),
            types.Content(role="user", parts=[types.Part(text="second question")]),
        ],
        config=types.GenerateContentConfig(system_instruction=SYSTEM),
    )
    assert resp.text == "echo: second question"


def test_system_prompt_reaches_upstream(genai_client, upstream):
    """The mock counts every input word as a prompt token: the 7-word system instruction must
    add exactly 7."""
    base = generate(genai_client, upstream, "count my words")
    resp = generate(
        genai_client,
        upstream,
        "count my words",
        config=types.GenerateContentConfig(system_instruction=SYSTEM),
    )
    assert resp.text == "echo: count my words"
    delta = resp.usage_metadata.prompt_token_count - base.usage_metadata.prompt_token_count
    assert delta == 7


def test_generation_config_is_accepted(genai_client, upstream):
    resp = generate(
        genai_client,
        upstream,
        "configured",
        config=types.GenerateContentConfig(
            system_instruction=SYSTEM,
            temperature=0.5,
            top_p=0.9,
            top_k=5,
            max_output_tokens=100,
            stop_sequences=["END"],
            candidate_count=1,
            thinking_config=types.ThinkingConfig(thinking_budget=512, include_thoughts=True),
        ),
    )
    assert resp.text == "echo: configured"


# usage ------------------------------------------------------------------------------------------


def test_usage_exact_non_stream(genai_client, upstream):
    resp = generate(genai_client, upstream, "count me [[mock:usage=11,22]]")
    assert resp.text == "echo: count me"
    u = resp.usage_metadata
    assert (u.prompt_token_count, u.candidates_token_count, u.total_token_count) == (11, 22, 33)


def test_usage_exact_stream(genai_client, upstream):
    chunks = stream(genai_client, upstream, "count me [[mock:usage=11,22]]")
    assert chunk_text(chunks) == "echo: count me"
    u = chunks[-1].usage_metadata
    assert (u.prompt_token_count, u.candidates_token_count, u.total_token_count) == (11, 22, 33)


# tools ------------------------------------------------------------------------------------------


def assert_weather_call(call: types.FunctionCall, fmt: str) -> None:
    assert call.name == "get_weather"
    assert call.args == {"location": "Paris"}
    if MOCK_CALL_IDS[fmt]:
        assert call.id == MOCK_CALL_IDS[fmt], "the upstream's call id is kept"
    # a Gemini upstream gives no id and a Gemini client needs none


def test_tool_call_non_stream(genai_client, upstream):
    resp = generate(genai_client, upstream, "weather? [[mock:tools]]", config=TOOLS_CONFIG)
    # Gemini's finish reason for a function call is STOP.
    assert resp.candidates[0].finish_reason == STOP
    assert len(resp.function_calls) == 1
    assert_weather_call(resp.function_calls[0], upstream)
    assert not any(p.text for p in resp.candidates[0].content.parts)


def test_tool_call_stream(genai_client, upstream):
    chunks = stream(genai_client, upstream, "weather? [[mock:tools]]", config=TOOLS_CONFIG)
    calls = [fc for c in chunks for fc in c.function_calls or []]
    assert len(calls) == 1, "the whole call (complete args) arrives once"
    assert_weather_call(calls[0], upstream)
    assert chunk_text(chunks) == ""
    assert finish_reasons(chunks) == [STOP]


def test_tool_result_round_trip(genai_client, upstream, mock_answers_tool_results):
    first = generate(genai_client, upstream, "weather in Paris? [[mock:tools]]", config=TOOLS_CONFIG)
    call = first.function_calls[0]
    history = [
        types.Content(role="user", parts=[types.Part(text="weather in Paris?")]),
        types.Content(role="model", parts=[types.Part(function_call=call)]),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        id=call.id, name=call.name, response={"result": "sunny, 21 C"}
                    )
                )
            ],
        ),
    ]
    config = TOOLS_CONFIG.model_copy(update={"system_instruction": SYSTEM})
    resp = generate(genai_client, upstream, history, config=config)
    assert resp.sdk_http_response.headers["content-type"].startswith("application/json")
    assert resp.candidates[0].finish_reason == STOP
    assert not resp.function_calls
    if mock_answers_tool_results:
        assert resp.text == "done: sunny, 21 C"
    else:
        assert resp.text.startswith("echo:")


def test_tool_result_round_trip_without_ids(genai_client, upstream, mock_answers_tool_results):
    """Native Gemini history carries no call ids: the gateway derives them for upstreams that
    require them (OpenAI tool_call_id, Anthropic tool_use_id, Responses call_id) and pairs each
    result with its call by name in order; the upstream accepts it and the result arrives."""
    history = [
        types.Content(role="user", parts=[types.Part(text="weather in Paris?")]),
        types.Content(
            role="model",
            parts=[types.Part(function_call=types.FunctionCall(
                name="get_weather", args={"location": "Paris"}))],
        ),
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(
                name="get_weather", response={"result": "cloudy, 12 C"})],
        ),
    ]
    resp = generate(genai_client, upstream, history, config=TOOLS_CONFIG)
    assert resp.candidates[0].finish_reason == STOP
    if mock_answers_tool_results:
        assert resp.text == "done: cloudy, 12 C"
    else:
        assert resp.text.startswith("echo:")


# reasoning --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "upstream",
    [
        "openai",
        "anthropic",
        "gemini",
        "responses",
    ],
)
def test_reasoning_is_a_thought_part(genai_client, upstream):
    resp = generate(genai_client, upstream, "think [[mock:reasoning]]")
    parts = resp.candidates[0].content.parts
    assert "".join(p.text for p in parts if p.thought) == MOCK_REASONING
    assert resp.text == "echo: think", "thoughts never leak into the answer text"

    chunks = stream(genai_client, upstream, "think [[mock:reasoning]]")
    assert chunk_text(chunks) == "echo: think"
    thoughts = "".join(
        p.text for c in chunks for p in c.candidates[0].content.parts or [] if p.thought and p.text
    )
    assert thoughts == MOCK_REASONING


# errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("streamed", [False, True], ids=["non-stream", "stream"])
def test_upstream_429_is_client_error_429(genai_client, upstream, streamed):
    call = stream if streamed else generate
    with pytest.raises(errors.ClientError) as ei:
        call(genai_client, upstream, "slow down [[mock:status=429]]")
    assert_gemini_error(ei.value, 429, "RESOURCE_EXHAUSTED")
    assert ei.value.response.headers["retry-after"] == "7"


@pytest.mark.parametrize("streamed", [False, True], ids=["non-stream", "stream"])
def test_upstream_500_is_server_error(genai_client, upstream, streamed):
    call = stream if streamed else generate
    with pytest.raises(errors.ServerError) as ei:
        call(genai_client, upstream, "boom [[mock:status=500]]")
    assert_gemini_error(ei.value, 500, "INTERNAL")


@pytest.mark.parametrize("directive", ["status=401", "garbage", "error-event"])
@pytest.mark.parametrize("streamed", [False, True], ids=["non-stream", "stream"])
def test_upstream_failure_is_502(request, genai_client, upstream, directive, streamed):
    """The provider refusing *our* key, a non-JSON body, or an error event before any content:
    all are a 502 from the gateway, never a 401 or a fake answer."""
    call = stream if streamed else generate
    with pytest.raises(errors.ServerError) as ei:
        call(genai_client, upstream, f"x [[mock:{directive}]]")
    assert ei.value.code == 502
    body = ei.value.response.json()
    assert body["error"]["code"] == 502 and body["error"]["status"]
    assert UPSTREAM_SECRET not in ei.value.response.text


def test_cut_stream_raises(genai_client, upstream):
    """The upstream dies after 2 of 6 chunks: the gateway's final error chunk makes the SDK raise
    a ServerError (502 UNAVAILABLE) after the partial text."""
    received = []
    with pytest.raises(errors.ServerError) as ei:
        for chunk in genai_client.models.generate_content_stream(
            model=up_model(upstream), contents="interrupted answer [[mock:cut=2;chunks=6]]"
        ):
            received.append(chunk)
    assert ei.value.code == 502 and ei.value.status == "UNAVAILABLE"
    assert "cut off" in ei.value.message
    partial = chunk_text(received)
    assert partial and "echo: interrupted answer".startswith(partial)
    assert finish_reasons(received) == []


@pytest.mark.parametrize("streamed", [False, True], ids=["non-stream", "stream"])
def test_unknown_model_is_not_found(genai_client, streamed):
    call = genai_client.models.generate_content_stream if streamed else (
        genai_client.models.generate_content
    )
    with pytest.raises(errors.ClientError) as ei:
        result = call(model="up-nowhere/mock-small", contents="hi")
        if streamed:
            list(result)
    assert_gemini_error(ei.value, 404, "NOT_FOUND")


def test_bad_gateway_key_is_client_error_401(make_genai, upstream):
    bad = make_genai("sk-or-definitely-not-a-valid-key")
    with pytest.raises(errors.ClientError) as ei:
        generate(bad, upstream, "hi")
    assert ei.value.code == 401


def test_bad_gateway_key_error_body_is_gemini_shaped(make_genai):
    bad = make_genai("sk-or-definitely-not-a-valid-key")
    with pytest.raises(errors.ClientError) as ei:
        generate(bad, "gemini", "hi")
    assert_gemini_error(ei.value, 401, "UNAUTHENTICATED")


# model names, routing, request log --------------------------------------------------------------


def test_slash_model_name_goes_into_the_url_path(genai_client, management, upstream):
    resp = generate(genai_client, upstream, "routed [[mock:usage=5,6]]")
    assert resp.text == "echo: routed"
    row = management.wait_for_log(request_id(resp))
    assert row["path"] == f"/v1beta/models/{up_model(upstream)}:generateContent"
    assert row["client_format"] == "gemini"
    assert row["provider"] == f"up-{upstream}"
    assert row["model"] == up_model(upstream)
    assert row["status"] == 200 and row["error"] is None
    assert (row["input_tokens"], row["output_tokens"]) == (5, 6)


def test_stream_uses_sse_endpoint(genai_client, management, upstream):
    chunks = stream(genai_client, upstream, "routed stream")
    row = management.wait_for_log(request_id(chunks[0]))
    assert row["path"] == f"/v1beta/models/{up_model(upstream)}:streamGenerateContent"
    assert row["stream"] is True and row["status"] == 200


def test_combo_name_without_slash(genai_client, upstream):
    resp = genai_client.models.generate_content(model=combo_name(upstream), contents="via combo")
    assert resp.text == "echo: via combo"


def test_count_tokens(genai_client, upstream):
    def count(text: str) -> int:
        return genai_client.models.count_tokens(model=up_model(upstream), contents=text).total_tokens

    short, long = count("one two three"), count("one two three " * 20)
    assert 0 < short < long


def test_models_list_and_get(genai_client):
    models = list(genai_client.models.list())
    names = {m.name for m in models}
    assert {f"models/{up_model(f)}" for f in UPSTREAM_FORMATS} <= names
    for f in UPSTREAM_FORMATS:
        m = genai_client.models.get(model=up_model(f))
        assert m.name == f"models/{up_model(f)}"
        assert "generateContent" in m.supported_actions
        assert "streamGenerateContent" in m.supported_actions


def test_genai_default_api_version_v1(make_genai):
    client = make_genai(api_version=None)
    resp = client.models.generate_content(model=up_model("openai"), contents="default version")
    assert resp.text == "echo: default version"
