"""Session fixtures: a real mock-upstream and a real omniroute gateway, driven by the official SDKs
(`openai` chat + responses, `anthropic`, `google-genai`).

Binaries come from $MOCK_UPSTREAM_BIN / $OMNIROUTE_BIN, else <repo>/target/debug/<name>
(build them with `cargo build -p omniroute -p mock-upstream`).

Besides the `mock` node used by test_openai_sdk.py, the gateway gets one custom node per upstream
format, all pointing at the same mock-upstream: `up-openai`, `up-anthropic`, `up-gemini` and
`up-responses`, each serving `mock-small`, so the model `up-<fmt>/mock-small` reaches the mock in
that wire format. Combos `g-<fmt>` (one step: `up-<fmt>/mock-small`) give slash-free names.
The `upstream` fixture parametrizes a test over the four formats.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import anthropic
import openai
import pytest
from google import genai
from google.genai import types as genai_types

REPO_ROOT = Path(__file__).resolve().parents[2]

GATEWAY_KEY = "sk-or-pytest-key-0123456789abcdef"
UPSTREAM_SECRET = "sk-upstream-secret-0123456789"
MODEL = "mock/mock-small"

# The four upstream wire formats a custom node can speak.
UPSTREAM_FORMATS = ("openai", "anthropic", "gemini", "responses")
# Tool-call ids the mock gives in each upstream format (Gemini has none: the gateway derives one).
MOCK_CALL_IDS = {"openai": "call_mock_1", "anthropic": "toolu_mock_1", "responses": "call_mock_1",
                 "gemini": None}
# The reasoning text the mock streams with `[[mock:reasoning]]`.
MOCK_REASONING = "Let me think about this step by step."


def up_model(fmt: str) -> str:
    """The model name that reaches the mock through the node speaking `fmt`."""
    return f"up-{fmt}/mock-small"


def combo_name(fmt: str) -> str:
    """A slash-free combo whose only step is `up_model(fmt)`."""
    return f"g-{fmt}"


STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 15.0

# Variables the binaries read that must not leak in from the developer's shell
# (HOSTNAME in particular is exported by Docker/Kubernetes and would change the bind address).
_SCRUBBED_ENV = (
    "PORT",
    "HOSTNAME",
    "DATA_DIR",
    "OMNIROUTE_CONFIG",
    "OMNIROUTE_ADMIN_TOKEN",
    "NO_OPEN",
    "SHUTDOWN_TIMEOUT",
    "REQUIRE_API_KEY",
    "STORAGE_ENCRYPTION_KEY",
)


def _binary(env_var: str, name: str) -> Path:
    override = os.environ.get(env_var)
    path = Path(override) if override else REPO_ROOT / "target" / "debug" / name
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"{name} binary not found at {path}: run `cargo build -p omniroute -p mock-upstream` "
            f"or set {env_var}",
            pytrace=False,
        )
    return path


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    stdout_path: Path
    stderr_path: Path
    url: str

    def stderr_tail(self, n: int = 40) -> str:
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


def _start(name: str, argv: list[str], env: dict[str, str], workdir: Path, pattern: str) -> Proc:
    """Start a process with stdout/stderr redirected to files and wait for its banner line."""
    out = workdir / f"{name}.stdout"
    err = workdir / f"{name}.stderr"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, env=env, cwd=workdir
        )
    regex = re.compile(pattern)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        m = regex.search(out.read_text(errors="replace"))
        if m:
            return Proc(name, popen, out, err, m.group(1))
        if popen.poll() is not None:
            break
        time.sleep(0.05)
    code = popen.poll()
    if code is None:
        popen.kill()
        popen.wait()
    proc = Proc(name, popen, out, err, "")
    raise RuntimeError(
        f"{name} did not announce its address (exit code {code}); stdout:\n"
        f"{out.read_text(errors='replace')}\nstderr tail:\n{proc.stderr_tail()}"
    )


def _stop(proc: Proc) -> None:
    if proc.popen.poll() is not None:
        return
    proc.popen.send_signal(signal.SIGTERM)
    try:
        proc.popen.wait(timeout=SHUTDOWN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.popen.kill()
        proc.popen.wait()


# The management API needs a dashboard session or an admin key: the suite's gateways get this one.
ADMIN_KEY = "pytest-admin-key-0123456789abcdef"


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.setdefault("RUST_LOG", "info")
    env["OMNIROUTE_ADMIN_TOKEN"] = ADMIN_KEY
    return env


@pytest.fixture(scope="session")
def mock_upstream(tmp_path_factory) -> str:
    """Base URL (http://127.0.0.1:PORT) of a running mock-upstream."""
    workdir = tmp_path_factory.mktemp("mock-upstream")
    proc = _start(
        "mock-upstream",
        [str(_binary("MOCK_UPSTREAM_BIN", "mock-upstream")), "--port", "0", "--host", "127.0.0.1"],
        _clean_env(),
        workdir,
        r"mock-upstream listening on (http://127\.0\.0\.1:\d+)",
    )
    try:
        yield proc.url
    finally:
        _stop(proc)


def _matrix_nodes(mock_upstream: str) -> str:
    """One custom node per upstream format (plus a slash-free combo each), all on the mock."""
    out = []
    for fmt in UPSTREAM_FORMATS:
        base = f"{mock_upstream}/v1beta" if fmt == "gemini" else f"{mock_upstream}/v1"
        out.append(
            f"""
[[nodes]]
id = "up-{fmt}"
format = "{fmt}"
base_url = "{base}"
api_key = "{UPSTREAM_SECRET}"
models = ["mock-small"]

[[combos]]
name = "{combo_name(fmt)}"
models = ["{up_model(fmt)}"]
"""
        )
    return "".join(out)


# Fallback: a two-step combo whose first step (OpenAI format, key FB_PRIMARY_KEY) the tests make
# fail through the mock's per-key rules, and whose second step speaks Anthropic (FB_BACKUP_KEY).
FB_COMBO = "fb-tiered"
FB_PRIMARY_KEY = "sk-fb-primary-0123456789"
FB_BACKUP_KEY = "sk-fb-backup-0123456789"


def _fallback_nodes(mock_upstream: str) -> str:
    return f"""
[[nodes]]
id = "fb-primary"
format = "openai"
base_url = "{mock_upstream}/v1"
api_key = "{FB_PRIMARY_KEY}"
models = ["mock-small"]

[[nodes]]
id = "fb-backup"
format = "anthropic"
base_url = "{mock_upstream}/v1"
api_key = "{FB_BACKUP_KEY}"
models = ["mock-small"]

[[combos]]
name = "{FB_COMBO}"
models = ["fb-primary/mock-small", "fb-backup/mock-small"]
"""


@pytest.fixture(scope="session")
def gateway_proc(tmp_path_factory, mock_upstream) -> Proc:
    workdir = tmp_path_factory.mktemp("omniroute")
    config = workdir / "omniroute.toml"
    config.write_text(
        f"""\
[[nodes]]
id = "mock"
format = "openai"
base_url = "{mock_upstream}/v1"
api_key = "{UPSTREAM_SECRET}"
models = ["mock-small"]

{_matrix_nodes(mock_upstream)}
{_fallback_nodes(mock_upstream)}
[[keys]]
name = "pytest"
key = "{GATEWAY_KEY}"

# the suite provokes upstream failures on purpose, many per provider: keep circuits closed
[settings]
breaker_failure_threshold = 0
"""
    )
    env = _clean_env()
    env["REQUIRE_API_KEY"] = "true"
    proc = _start(
        "omniroute",
        [
            str(_binary("OMNIROUTE_BIN", "omniroute")),
            "--host", "127.0.0.1",
            "--port", "0",
            "--no-open",
            "--data-dir", str(workdir / "data"),
            "--config", str(config),
            "--shutdown-timeout", "5",
        ],
        env,
        workdir,
        r"OmniRoute listening on (http://127\.0\.0\.1:\d+)",
    )
    try:
        yield proc
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def gateway(gateway_proc) -> str:
    """Base URL (http://127.0.0.1:PORT, without /v1) of the running gateway."""
    return gateway_proc.url


@pytest.fixture(scope="session")
def client(gateway) -> openai.OpenAI:
    c = openai.OpenAI(base_url=gateway + "/v1", api_key=GATEWAY_KEY, max_retries=0, timeout=30)
    yield c
    c.close()


@pytest.fixture(scope="session")
def make_client(gateway):
    """Factory for extra sync clients (other keys); closed at the end of the session."""
    made: list[openai.OpenAI] = []

    def make(api_key: str = GATEWAY_KEY) -> openai.OpenAI:
        c = openai.OpenAI(base_url=gateway + "/v1", api_key=api_key, max_retries=0, timeout=30)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


class Management:
    """Tiny stdlib client for the management API (/api/*), with the suite's admin key."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, method: str, path: str, body: object | None = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("X-Admin-Key", ADMIN_KEY)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def logs(self, limit: int = 200) -> list[dict]:
        return self.request("GET", f"/api/logs?limit={limit}")["logs"]

    def wait_for_log(self, request_id: str, timeout: float = 5.0) -> dict:
        """Request-log rows are written asynchronously: poll until the row shows up."""
        deadline = time.monotonic() + timeout
        while True:
            for row in self.logs():
                if row.get("request_id") == request_id:
                    return row
            if time.monotonic() >= deadline:
                raise AssertionError(f"no request-log row for {request_id!r} after {timeout}s")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def management(gateway) -> Management:
    return Management(gateway)


# Matrix: the four upstream formats, and one session client per SDK ------------------------------


@pytest.fixture(scope="session")
def mock_answers_tool_results(mock_upstream) -> bool:
    """Whether this mock-upstream build answers `done: <result text>` when the conversation ends
    with a tool result (newer builds; older ones echo the last user text). Probed once, directly
    on the mock, so tool-result tests can assert the exact answer whichever build is running."""
    body = {
        "model": "mock-small",
        "messages": [
            {"role": "user", "content": "probe"},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_probe", "type": "function",
                "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_probe", "content": "probe result"},
        ],
    }
    req = urllib.request.Request(
        mock_upstream + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        answer = json.loads(resp.read())["choices"][0]["message"]["content"]
    return answer == "done: probe result"


@pytest.fixture(params=UPSTREAM_FORMATS)
def upstream(request) -> str:
    """The upstream wire format a test runs against (openai | anthropic | gemini | responses)."""
    return request.param


@pytest.fixture(scope="session")
def make_anthropic(gateway):
    """Factory for `anthropic.Anthropic` clients on the gateway root (key sent as x-api-key)."""
    made: list[anthropic.Anthropic] = []

    def make(api_key: str = GATEWAY_KEY) -> anthropic.Anthropic:
        c = anthropic.Anthropic(base_url=gateway, api_key=api_key, max_retries=0, timeout=30)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture(scope="session")
def anthropic_client(make_anthropic) -> anthropic.Anthropic:
    return make_anthropic()


@pytest.fixture(scope="session")
def make_genai(gateway):
    """Factory for `google.genai.Client`s on the gateway (key sent as x-goog-api-key).

    google-genai 3.x defaults to api_version "v1"; the gateway serves the Gemini API under
    /v1beta only, so the version is pinned here (see test_genai_default_api_version_v1).
    vertexai=False keeps GOOGLE_GENAI_USE_VERTEXAI from the developer's shell out.
    """
    made: list[genai.Client] = []

    def make(api_key: str = GATEWAY_KEY, api_version: str | None = "v1beta") -> genai.Client:
        opts = genai_types.HttpOptions(base_url=gateway, timeout=30_000)
        if api_version is not None:
            opts.api_version = api_version
        c = genai.Client(api_key=api_key, vertexai=False, http_options=opts)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture(scope="session")
def genai_client(make_genai) -> genai.Client:
    return make_genai()
