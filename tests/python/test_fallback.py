"""Fallback seen through the official SDKs: the first step of the `fb-tiered` combo fails the way
real providers fail (the mock's per-key rules), the gateway moves to the second step — another
provider in another wire format — and every SDK gets a normal answer; a client error is returned
as is, without fallback."""

from __future__ import annotations

import json
import urllib.request

import anthropic
import openai
import pytest
from google.genai import types

from conftest import FB_BACKUP_KEY, FB_COMBO, FB_PRIMARY_KEY


def _mock(mock_upstream: str, method: str, path: str, body: object | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(mock_upstream + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


@pytest.fixture
def fail_primary(mock_upstream, management):
    """Make the primary step fail once with `script`; returns the per-key call counter."""
    management.request("POST", "/api/resilience/reset")
    _mock(mock_upstream, "DELETE", "/__mock/rules")
    _mock(mock_upstream, "DELETE", "/__mock/stats")

    def arm(script: str) -> None:
        _mock(mock_upstream, "POST", "/__mock/rules",
              {"script": script, "key": FB_PRIMARY_KEY, "model": "mock-small", "times": 1})

    def calls(key: str) -> int:
        return _mock(mock_upstream, "GET", "/__mock/stats")["by_key"].get(key, 0)

    arm.calls = calls
    yield arm
    _mock(mock_upstream, "DELETE", "/__mock/rules")
    management.request("POST", "/api/resilience/reset")


FAILURES = ["status=503", "status=429;retry-after=2", "quota", "status=500", "error-200"]


@pytest.mark.parametrize("script", FAILURES)
def test_openai_chat_falls_back(client, fail_primary, script):
    fail_primary(script)
    raw = client.chat.completions.with_raw_response.create(
        model=FB_COMBO, messages=[{"role": "user", "content": "hello fallback"}])
    assert raw.headers["x-omniroute-provider"] == "fb-backup"
    assert raw.headers["x-omniroute-attempts"] == "2"
    r = raw.parse()
    assert r.choices[0].message.content == "echo: hello fallback"
    assert r.model == FB_COMBO
    assert fail_primary.calls(FB_PRIMARY_KEY) == 1
    assert fail_primary.calls(FB_BACKUP_KEY) == 1


@pytest.mark.parametrize("script", ["status=503", "error-event", "empty"])
def test_openai_chat_stream_falls_back_before_content(client, fail_primary, script):
    fail_primary(script)
    stream = client.chat.completions.create(
        model=FB_COMBO, stream=True, messages=[{"role": "user", "content": "stream it"}])
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "echo: stream it"
    assert fail_primary.calls(FB_BACKUP_KEY) == 1


def test_anthropic_sdk_falls_back(anthropic_client, fail_primary):
    fail_primary("status=529")
    msg = anthropic_client.messages.create(
        model=FB_COMBO, max_tokens=64, messages=[{"role": "user", "content": "hi claude"}])
    assert msg.content[0].text == "echo: hi claude"
    assert msg.stop_reason == "end_turn"
    with anthropic_client.messages.stream(
            model=FB_COMBO, max_tokens=64,
            messages=[{"role": "user", "content": "streamed"}]) as s:
        assert s.get_final_text() == "echo: streamed"


def test_responses_sdk_falls_back(client, fail_primary):
    fail_primary("status=502")
    r = client.responses.create(model=FB_COMBO, input="responses fallback")
    assert r.output_text == "echo: responses fallback"
    assert r.status == "completed"


def test_genai_sdk_falls_back(genai_client, fail_primary):
    fail_primary("status=503")
    r = genai_client.models.generate_content(model=FB_COMBO, contents="gemini fallback")
    assert r.text == "echo: gemini fallback"
    fail_primary("status=503")
    chunks = genai_client.models.generate_content_stream(
        model=FB_COMBO, contents="gemini stream",
        config=types.GenerateContentConfig(max_output_tokens=64))
    assert "".join(c.text or "" for c in chunks) == "echo: gemini stream"


def test_client_errors_do_not_fall_back(client, anthropic_client, fail_primary):
    fail_primary("context")
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model=FB_COMBO, messages=[{"role": "user", "content": "far too long"}])
    assert "context" in str(e.value).lower()
    assert fail_primary.calls(FB_BACKUP_KEY) == 0
    fail_primary("context")
    with pytest.raises(anthropic.BadRequestError):
        anthropic_client.messages.create(
            model=FB_COMBO, max_tokens=64, messages=[{"role": "user", "content": "too long"}])
    assert fail_primary.calls(FB_BACKUP_KEY) == 0
