#!/usr/bin/env bash
# Fuzz every target for SECONDS each (default 120), seeding corpora from the real-client fixtures
# in ../shared/fixtures/clients (request bodies; the SSE streams those clients accepted).
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-120}
FIX=../../shared/fixtures/clients
python3 - "$FIX" <<'PY'
import json, os, sys, glob
fix = sys.argv[1]
code = {"openai_chat": 0, "anthropic_messages": 1, "gemini": 2, "openai_responses": 3}
for d in ("request_decode", "stream_translate", "response_decode", "sse_parser"):
    os.makedirs(f"corpus/{d}", exist_ok=True)
for i, path in enumerate(sorted(glob.glob(f"{fix}/**/*.json", recursive=True))):
    name = os.path.basename(path)
    fmt = next((v for k, v in code.items() if k in name), None)
    if fmt is None:
        continue
    f = json.load(open(path))
    body = json.dumps(f["body"]).encode()
    open(f"corpus/request_decode/{i:03d}", "wb").write(bytes([fmt]) + body)
    raw = f.get("response", {}).get("body")
    if isinstance(raw, str) and raw:
        raw = raw.encode()
        for client in range(4):
            sel = fmt | (client << 2)
            open(f"corpus/stream_translate/{i:03d}-{client}", "wb").write(bytes([sel, 37]) + raw)
        open(f"corpus/sse_parser/{i:03d}", "wb").write(bytes([13]) + raw)
        if not f.get("response", {}).get("stream"):
            open(f"corpus/response_decode/{i:03d}", "wb").write(bytes([fmt]) + raw)
PY
for t in sse_parser stream_translate request_decode response_decode; do
  echo "== fuzzing $t for ${SECONDS_EACH}s"
  cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" -max_len=65536 2>&1 | tail -4
done
