"""Schema-driven fuzzing of the gateway's own OpenAPI description (`/openapi.json`) with
Schemathesis: every documented operation is called with generated data

* with the admin key (management) or a gateway key (client API): no answer may be a 5xx;
* without any credential: no `/api` operation but the login routes may answer anything but
  401 (no auth bypass), and still no 5xx.

Run by `scripts/fuzz-api`, which starts the gateway and mock-upstream and sets
`FUZZ_GATEWAY_URL`, `FUZZ_ADMIN_KEY`, `FUZZ_GATEWAY_KEY`, `FUZZ_EXAMPLES` and `FUZZ_REPORT`.
"""
import json
import os
from collections import Counter

import schemathesis
from hypothesis import HealthCheck, settings

BASE = os.environ["FUZZ_GATEWAY_URL"]
ADMIN = os.environ["FUZZ_ADMIN_KEY"]
GATEWAY_KEY = os.environ["FUZZ_GATEWAY_KEY"]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
REPORT = os.environ.get("FUZZ_REPORT")

PUBLIC = {"/api/auth/status", "/api/auth/login", "/api/auth/setup", "/api/auth/logout",
          "/health", "/ready", "/openapi.json"}
# Operations that would change what the rest of the run can do: the admin credential itself
# and endless event streams.
SKIP = {("POST", "/api/auth/password"), ("POST", "/api/security/rotate-encryption-key"),
        ("GET", "/api/live/requests"), ("GET", "/api/live/console")}

schema = schemathesis.openapi.from_url(f"{BASE}/openapi.json")
schema.config.base_url = BASE

STATS: Counter = Counter()


def _record(kind: str, case, status: int) -> None:
    STATS[(kind, case.method.upper(), case.operation.path, status // 100)] += 1


def teardown_module(_module) -> None:
    if not REPORT:
        return
    rows = [{"run": k, "method": m, "path": p, "class": f"{c}xx", "count": n}
            for (k, m, p, c), n in sorted(STATS.items())]
    with open(REPORT, "w") as f:
        json.dump(rows, f, indent=1)


def _headers(case) -> dict:
    if case.path.startswith("/api/") or case.path == "/metrics":
        return {"X-Admin-Key": ADMIN}
    return {"Authorization": f"Bearer {GATEWAY_KEY}", "x-api-key": GATEWAY_KEY}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_with_credentials(case):
    if (case.method.upper(), case.path) in SKIP:
        return
    response = case.call(headers=_headers(case), timeout=30)
    _record("authenticated", case, response.status_code)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"


@schema.parametrize()
@settings(max_examples=max(EXAMPLES // 3, 5), deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_auth_bypass(case):
    if (case.method.upper(), case.path) in SKIP:
        return
    # whatever headers the generator made up, no real credential
    headers = {k: v for k, v in (case.headers or {}).items()
               if k.lower() not in ("authorization", "x-admin-key", "x-api-key", "x-goog-api-key", "cookie")}
    case.headers = headers
    case.cookies = {}
    response = case.call(timeout=30)
    _record("anonymous", case, response.status_code)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code}"
    guarded = (case.path.startswith("/api/") or case.path == "/metrics") and case.path not in PUBLIC
    if guarded:
        assert response.status_code == 401, (
            f"auth bypass? {case.method} {case.formatted_path} answered {response.status_code} without credentials")
