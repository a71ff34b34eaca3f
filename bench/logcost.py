#!/usr/bin/env python3
"""What the request log costs, alone (section 3c of run.py with more rounds): the same
pass-through request with the log on and off (switched through the settings API), alternating;
c=1 p50 latency, c=32 throughput and gateway CPU per request. Gateway pinned to core 0, mock and
load tool on core 1.

    python3 bench/logcost.py    # 7 rounds; BENCH_ROUNDS=N to change, BENCH_NO_BUILD=1 to use the built binaries,
                                # BENCH_SOAK=1 to add a million requests with RSS after each 100k
"""
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ADMIN_KEY, GW_CORE, LOAD_CORE, ROOT, TARGET, cpu_seconds, load, rss_mb, sh, start  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))


def main():
    if os.environ.get("BENCH_NO_BUILD") != "1":
        sh("cargo", "build", "--release", "-q", "-p", "omniroute", "-p", "mock-upstream", "-p", "omniroute-loadgen", cwd=ROOT)
    tmp = Path(tempfile.mkdtemp(prefix="omniroute-logcost-"))
    mock, mock_url = start(["taskset", "-c", LOAD_CORE, str(TARGET / "mock-upstream"), "--port", "0", "--no-record"],
                           "listening on")
    cfg = tmp / "bench.toml"
    cfg.write_text(f'[[nodes]]\nid = "mock"\nformat = "openai"\nbase_url = "{mock_url}/v1"\n'
                   f'api_key = "sk-bench-0123456789"\nmodels = ["mock-small"]\n')
    gw, gw_url = start(["taskset", "-c", GW_CORE, str(TARGET / "omniroute"), "--no-open", "--data-dir",
                        str(tmp / "data"), "--config", str(cfg), "--port", "0"], "listening on")
    via = f"{gw_url}/v1/chat/completions"
    body = {"model": "mock/mock-small", "messages": [{"role": "user", "content": "Write a haiku about latency."}]}

    def set_logging(on):
        req = urllib.request.Request(f"{gw_url}/api/settings", method="PUT",
                                     data=json.dumps({"request_log": on}).encode(),
                                     headers={"Content-Type": "application/json", "X-Admin-Key": ADMIN_KEY})
        urllib.request.urlopen(req, timeout=10).read()

    def dropped():
        h = json.loads(urllib.request.urlopen(urllib.request.Request(f"{gw_url}/api/health", headers={"X-Admin-Key": ADMIN_KEY}), timeout=10).read())
        return h["request_log"]["dropped"]

    load(via, body, 32, 20000)  # warm-up (and a log of some size)
    rounds = []
    for i in range(ROUNDS):
        row = {}
        for on in ((True, False) if i % 2 == 0 else (False, True)):
            set_logging(on)
            time.sleep(0.2)
            c1 = load(via, body, 1, 3000)
            c0, d0 = cpu_seconds(gw.pid), dropped()
            c32 = load(via, body, 32, 20000)
            row[on] = {"c1_p50_us": c1["latency_us"]["p50"], "c32_rps": round(c32["rps"]),
                       "cpu_us": round((cpu_seconds(gw.pid) - c0) / 20300 * 1e6, 1),
                       "rows_dropped": dropped() - d0}
        rounds.append(row)
        print(f"round {i + 1}: on {row[True]}  off {row[False]}", file=sys.stderr)
    set_logging(True)
    soak = []
    if os.environ.get("BENCH_SOAK") == "1":
        # memory while the log grows to its row limit and then turns over: 10 x 100k requests
        d0 = dropped()
        for _ in range(10):
            load(via, body, 32, 100000, warmup=0)
            soak.append(round(rss_mb(gw.pid), 1))
        print(f"soak RSS after each 100k: {soak}; rows dropped {dropped() - d0}", file=sys.stderr)

    def med(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2]

    out = {
        "rounds": ROUNDS,
        "c1_p50_added_us": med([r[True]["c1_p50_us"] - r[False]["c1_p50_us"] for r in rounds]),
        "c32_throughput_ratio": round(med([r[True]["c32_rps"] / r[False]["c32_rps"] for r in rounds]), 3),
        "cpu_us_on": med([r[True]["cpu_us"] for r in rounds]),
        "cpu_us_off": med([r[False]["cpu_us"] for r in rounds]),
        "rows_dropped_while_on": sum(r[True]["rows_dropped"] for r in rounds),
        "rss_mb_end": round(rss_mb(gw.pid), 1),
        "soak_rss_mb_after_each_100k": soak,
        "log_rows": json.loads(urllib.request.urlopen(urllib.request.Request(f"{gw_url}/api/health", headers={"X-Admin-Key": ADMIN_KEY}), timeout=10).read()).get("request_log"),
    }
    print(json.dumps(out, indent=1))
    gw.terminate()
    gw.wait(timeout=30)
    mock.terminate()


if __name__ == "__main__":
    main()
