#!/usr/bin/env python3
"""OmniRoute benchmark: gateway pinned to core 0, mock-upstream and the load tool on core 1.

Compares direct-to-mock with through-the-gateway in the same run and writes
bench/results/latest.json plus a Markdown table on stdout (copy it into bench/README.md).

    python3 bench/run.py            # full run (includes 1M requests for the RSS-flatness check)
    BENCH_QUICK=1 python3 bench/run.py   # skip the million-request soak
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "target" / "release"
GW_CORE, LOAD_CORE = "0", "1"
QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
COMBO_STEPS, COMBO_ACCOUNTS = 5, 10
# the management API (settings switches, health) needs an admin key; the gateways started here
# inherit it
ADMIN_KEY = "bench-admin-key-0123456789abcdef"
os.environ["OMNIROUTE_ADMIN_TOKEN"] = ADMIN_KEY


def combo_toml(mock_url):
    """Issue 4's routing scenario: 5 custom OpenAI nodes on the same mock, 10 accounts each (no
    node-level api_key, so no default connection), and a combo `five` over the 5 of them."""
    s = ""
    for i in range(1, COMBO_STEPS + 1):
        s += f'[[nodes]]\nid = "s{i}"\nformat = "openai"\nbase_url = "{mock_url}/v1"\nmodels = ["mock-small"]\n'
        for j in range(COMBO_ACCOUNTS):
            s += f'[[connections]]\nprovider = "s{i}"\nname = "s{i}-acct{j:02d}"\n' \
                 f'api_key = "sk-bench-s{i}-acct{j:02d}-0123456789"\n'
    steps = ", ".join(f'"s{i}/mock-small"' for i in range(1, COMBO_STEPS + 1))
    return s + f'[[combos]]\nname = "five"\nmodels = [{steps}]\n'


def served_by(url, body):
    """Who served one request: (provider, connection id, attempts) from the gateway's headers."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()
        h = r.headers
        return h.get("x-omniroute-provider"), h.get("x-omniroute-connection"), h.get("x-omniroute-attempts")


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, marker):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    if marker not in line:
        raise SystemExit(f"{cmd[0]} did not start: {line!r}")
    url = next(w for w in line.split() if w.startswith("http://"))
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    return p, url


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def load(url, body, concurrency, requests, warmup=300, core=LOAD_CORE):
    out = subprocess.run(
        ["taskset", "-c", core, str(TARGET / "omniroute-loadgen"), "load", "--url", url,
         "--body", json.dumps(body), "--concurrency", str(concurrency),
         "--requests", str(requests), "--warmup", str(warmup)],
        check=True, capture_output=True, text=True)
    r = json.loads(out.stdout)
    if r["errors"]:
        raise SystemExit(f"{r['errors']} errors against {url}")
    return r


def main():
    print("building release binaries...", file=sys.stderr)
    sh("cargo", "build", "--release", "-q", "-p", "omniroute", "-p", "mock-upstream", "-p", "omniroute-loadgen", cwd=ROOT)
    results = {"machine": {"nproc": os.cpu_count(), "kernel": os.uname().release}}
    tmp = Path(tempfile.mkdtemp(prefix="omniroute-bench-"))

    mock, mock_url = start(["taskset", "-c", LOAD_CORE, str(TARGET / "mock-upstream"), "--port", "0", "--no-record"],
                           "listening on")
    cfg = tmp / "bench.toml"
    nodes = f'[[nodes]]\nid = "mock"\nformat = "openai"\nbase_url = "{mock_url}/v1"\n' \
            f'api_key = "sk-bench-0123456789"\nmodels = ["mock-small"]\n'
    for fmt in ("openai", "anthropic", "gemini", "responses"):
        base = f"{mock_url}/v1beta" if fmt == "gemini" else f"{mock_url}/v1"
        nodes += f'[[nodes]]\nid = "up-{fmt}"\nformat = "{fmt}"\nbase_url = "{base}"\n' \
                 f'api_key = "sk-bench-0123456789"\nmodels = ["mock-small"]\n'
    cfg.write_text(nodes)
    # The measured gateway also carries the combo scenario (section 1 and 2 measure it in the same
    # rounds); the single-core diagnostic and the startup measurement keep the plain config.
    cfg_combo = tmp / "bench-combo.toml"
    cfg_combo.write_text(nodes + combo_toml(mock_url))
    gw_cmd = ["taskset", "-c", GW_CORE, str(TARGET / "omniroute"), "--no-open", "--data-dir", str(tmp / "data"),
              "--config", str(cfg_combo)]
    gw, gw_url = start(gw_cmd + ["--port", "0"], "listening on")
    time.sleep(0.5)
    results["rss_idle_mb"] = round(rss_mb(gw.pid), 1)

    direct = f"{mock_url}/v1/chat/completions"
    via = f"{gw_url}/v1/chat/completions"
    msg = [{"role": "user", "content": "Write a haiku about latency."}]
    body_direct = {"model": "mock-small", "messages": msg}
    body_via = {"model": "mock/mock-small", "messages": msg}
    body_five = {"model": "five", "messages": msg}
    check = served_by(via, body_five)
    if check[0] != "s1" or check[2] != "1":
        raise SystemExit(f"combo `five` not served by step 1 in one attempt: {check}")

    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2]

    # 1. added latency at concurrency 1: alternating rounds, median of each percentile.
    #    The floor: the same direct request with the load tool on the gateway's core instead, i.e.
    #    one cross-core round trip. Through the gateway a request makes two of them.
    rounds = []
    for _ in range(ROUNDS):
        d = load(direct, body_direct, 1, 4000)
        g = load(via, body_via, 1, 4000)
        x = load(direct, body_direct, 1, 4000, core=GW_CORE)
        k = load(via, body_five, 1, 4000)  # issue 4: 5-step combo, 10 accounts per step
        rounds.append((d, g, x, k))
    pct = lambda i, k: median([r[i]["latency_us"][k] for r in rounds])
    results["c1"] = {
        "direct_us": {k: pct(0, k) for k in ("p50", "p90", "p99")},
        "gateway_us": {k: pct(1, k) for k in ("p50", "p90", "p99")},
        "added_p50_us": pct(1, "p50") - pct(0, "p50"),
        "added_p99_us": pct(1, "p99") - pct(0, "p99"),
        "cross_core_round_trip_extra_us": {"p50": pct(2, "p50") - pct(0, "p50"), "p99": pct(2, "p99") - pct(0, "p99")},
    }

    # 2. throughput at concurrency 32, gateway on one core (alternating rounds, medians)
    drps, grps, cpu, krps, kcpu = [], [], [], [], []
    for _ in range(ROUNDS):
        d = load(direct, body_direct, 32, 30000)
        cpu0, t0 = cpu_seconds(gw.pid), time.time()
        g = load(via, body_via, 32, 30000)
        cpu1, t1 = cpu_seconds(gw.pid), time.time()
        k = load(via, body_five, 32, 30000)  # issue 4: 5-step combo, same round
        cpu2 = cpu_seconds(gw.pid)
        drps.append(d["rps"])
        grps.append(g["rps"])
        krps.append(k["rps"])
        cpu.append(((cpu1 - cpu0) / (t1 - t0), (cpu1 - cpu0) / g["requests"] * 1e6, g["latency_us"]))
        kcpu.append((cpu2 - cpu1) / k["requests"] * 1e6)
    c = sorted(cpu, key=lambda x: x[1])[len(cpu) // 2]
    results["c32"] = {
        "direct_rps": round(median(drps)), "gateway_rps": round(median(grps)),
        "ratio": round(median(grps) / median(drps), 3),
        "rounds": [[round(a), round(b)] for a, b in zip(drps, grps)],
        "gateway_p50_us": c[2]["p50"], "gateway_p99_us": c[2]["p99"],
        "gateway_cpu_cores": round(c[0], 2),
        "gateway_cpu_us_per_request": round(c[1], 1),
    }

    # 2b. issue 4: model `five` (5-step combo, 10 accounts per step, all succeed, so step 1's first
    #     account serves) against the single-provider pass-through, from the rounds of 1. and 2.
    #     Target: added latency (c=1) ratio <= 1.10, throughput (c=32) ratio >= 0.90.
    k_added = {q: pct(3, q) - pct(0, q) for q in ("p50", "p99")}
    results["combo"] = {
        "model": "five", "steps": COMBO_STEPS, "accounts_per_step": COMBO_ACCOUNTS,
        "account_strategy": "fill_first", "combo_strategy": "priority",
        "served_by": {"provider": check[0], "connection": check[1], "attempts": check[2]},
        "c1": {
            "gateway_us": {q: pct(3, q) for q in ("p50", "p90", "p99")},
            "added_p50_us": k_added["p50"], "added_p99_us": k_added["p99"],
            "passthrough_added_p50_us": results["c1"]["added_p50_us"],
            "passthrough_added_p99_us": results["c1"]["added_p99_us"],
            "latency_ratio_p50": round(k_added["p50"] / max(results["c1"]["added_p50_us"], 1), 3),
            "latency_ratio_p99": round(k_added["p99"] / max(results["c1"]["added_p99_us"], 1), 3),
            "rounds_p50_us": [[r[0]["latency_us"]["p50"], r[1]["latency_us"]["p50"], r[3]["latency_us"]["p50"]]
                              for r in rounds],  # direct, pass-through, combo
        },
        "c32": {
            "rps": round(median(krps)), "passthrough_rps": round(median(grps)),
            "throughput_ratio": round(median(krps) / median(grps), 3),
            "rounds": [[round(a), round(b)] for a, b in zip(grps, krps)],  # pass-through, combo
            "cpu_us_per_request": round(median(kcpu), 1),
            "passthrough_cpu_us_per_request": round(median([x[1] for x in cpu]), 1),
        },
    }

    # 3. streaming, 50 chunks: added time to first byte (alternating rounds, medians)
    sdirect = dict(body_direct, stream=True, messages=[{"role": "user", "content": "[[mock:chunks=50]] stream"}])
    svia = dict(sdirect, model="mock/mock-small")
    srounds = []
    for _ in range(ROUNDS):
        srounds.append((load(direct, sdirect, 1, 1500), load(via, svia, 1, 1500)))
    fb = lambda i, k: median([r[i]["first_byte_us"][k] for r in srounds])
    tot = lambda i: median([r[i]["latency_us"]["p50"] for r in srounds])
    results["stream50"] = {
        "direct_ttfb_us": {k: fb(0, k) for k in ("p50", "p99")},
        "gateway_ttfb_us": {k: fb(1, k) for k in ("p50", "p99")},
        "added_ttfb_p50_us": fb(1, "p50") - fb(0, "p50"),
        "added_ttfb_p99_us": fb(1, "p99") - fb(0, "p99"),
        "direct_total_p50_us": tot(0), "gateway_total_p50_us": tot(1),
    }

    # 3b. translated paths vs pass-through: added latency (c=1) and throughput (c=32)
    prompt = [{"role": "user", "content": "Write a haiku about latency."}]
    pairs = {
        "openai->anthropic": (f"{gw_url}/v1/chat/completions", {"model": "up-anthropic/mock-small", "messages": prompt},
                              f"{mock_url}/v1/messages", {"model": "mock-small", "max_tokens": 256, "messages": prompt}),
        "anthropic->gemini": (f"{gw_url}/v1/messages", {"model": "up-gemini/mock-small", "max_tokens": 256, "messages": prompt},
                              f"{mock_url}/v1beta/models/mock-small:generateContent",
                              {"contents": [{"role": "user", "parts": [{"text": prompt[0]["content"]}]}]}),
        "responses->openai": (f"{gw_url}/v1/responses", {"model": "up-openai/mock-small", "input": prompt[0]["content"]},
                              direct, body_direct),
    }
    translated = {}
    for name, (gurl, gbody, durl, dbody) in pairs.items():
        lat = []
        for _ in range(ROUNDS):
            d = load(durl, dbody, 1, 3000)
            g = load(gurl, gbody, 1, 3000)
            p = load(via, body_via, 1, 3000)  # pass-through in the same round
            lat.append((g["latency_us"]["p50"] - d["latency_us"]["p50"], p["latency_us"]["p50"] - results["c1"]["direct_us"]["p50"]))
        rps = []
        for _ in range(ROUNDS):
            rps.append((load(gurl, gbody, 32, 20000)["rps"], load(via, body_via, 32, 20000)["rps"]))
        added = median([a for a, _ in lat])
        added_pt = median([b for _, b in lat])
        t_rps, p_rps = median([a for a, _ in rps]), median([b for _, b in rps])
        translated[name] = {
            "added_p50_us": added, "passthrough_added_p50_us": added_pt,
            "latency_ratio": round(added / max(added_pt, 1), 2),
            "rps": round(t_rps), "passthrough_rps": round(p_rps), "throughput_ratio": round(t_rps / p_rps, 3),
        }
    sd = dict(body_direct, stream=True, messages=[{"role": "user", "content": "[[mock:chunks=50]] stream"}])
    sa = {"model": "up-openai/mock-small", "max_tokens": 256, "stream": True,
          "messages": [{"role": "user", "content": "[[mock:chunks=50]] stream"}]}
    st = [(load(direct, sd, 1, 1500), load(f"{gw_url}/v1/messages", sa, 1, 1500)) for _ in range(ROUNDS)]
    translated["stream50 anthropic->openai"] = {
        "added_ttfb_p50_us": median([g["first_byte_us"]["p50"] - d["first_byte_us"]["p50"] for d, g in st]),
        "passthrough_added_ttfb_p50_us": results["stream50"]["added_ttfb_p50_us"],
    }
    results["translated"] = translated

    # 3c. what the request log costs: the same pass-through request with logging on and off
    # (switched through the settings API), alternating, c=1 latency and c=32 throughput
    def set_logging(on):
        req = urllib.request.Request(f"{gw_url}/api/settings", method="PUT",
                                     data=json.dumps({"request_log": on}).encode(),
                                     headers={"Content-Type": "application/json", "X-Admin-Key": ADMIN_KEY})
        urllib.request.urlopen(req, timeout=10).read()
    log_rounds = []
    for _ in range(ROUNDS):
        row = {}
        for on in (True, False):
            set_logging(on)
            c1 = load(via, body_via, 1, 3000)
            c0 = cpu_seconds(gw.pid)
            c32 = load(via, body_via, 32, 20000)
            row[on] = (c1["latency_us"]["p50"], c32["rps"], (cpu_seconds(gw.pid) - c0) / 20300 * 1e6)
        log_rounds.append(row)
    set_logging(True)
    on_p50 = median([r[True][0] for r in log_rounds])
    off_p50 = median([r[False][0] for r in log_rounds])
    ratios = [r[True][1] / r[False][1] for r in log_rounds]
    results["request_log_cost"] = {
        "c1_p50_us_on": on_p50, "c1_p50_us_off": off_p50,
        "c1_p50_added_us": on_p50 - off_p50,
        "c32_throughput_ratio_on_vs_off": round(median(ratios), 3),
        "cpu_us_on": round(median([r[True][2] for r in log_rounds]), 1),
        "cpu_us_off": round(median([r[False][2] for r in log_rounds]), 1),
        "rounds": [{"on": r[True], "off": r[False]} for r in log_rounds],
    }
    print(f"request log: c=1 p50 {on_p50} vs {off_p50} us; c=32 throughput on/off x{median(ratios):.3f}",
          file=sys.stderr)

    # 4. RSS under concurrency 256
    peak = [0.0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(gw.pid))
            time.sleep(0.05)

    th = threading.Thread(target=sample)
    th.start()
    g = load(via, body_via, 256, 50000, warmup=0)
    stop.set()
    th.join()
    results["c256"] = {"gateway_rps": round(g["rps"]), "rss_peak_mb": round(peak[0], 1),
                       "p99_us": g["latency_us"]["p99"]}

    # 5. RSS flatness over a million requests
    if not QUICK:
        series = []
        for _ in range(10):
            load(via, body_via, 32, 100000, warmup=0)
            series.append(round(rss_mb(gw.pid), 1))
        results["million"] = {"rss_mb_after_each_100k": series, "growth_mb": round(series[-1] - series[0], 1)}
    gw.terminate()
    gw.wait(timeout=30)

    # 5b. issue 4, one sample (not rounds): the same comparison with p2c for accounts and combo
    #     steps, on a second gateway start (same core, same mock)
    cfg_p2c = tmp / "bench-p2c.toml"
    cfg_p2c.write_text(cfg_combo.read_text() + '[settings]\naccount_strategy = "p2c"\ncombo_strategy = "p2c"\n')
    gwp, gwp_url = start(["taskset", "-c", GW_CORE, str(TARGET / "omniroute"), "--no-open", "--data-dir",
                          str(tmp / "data-p2c"), "--config", str(cfg_p2c), "--port", "0"], "listening on")
    pvia = f"{gwp_url}/v1/chat/completions"
    pcheck = served_by(pvia, body_five)
    d1 = load(direct, body_direct, 1, 4000)
    g1 = load(pvia, body_via, 1, 4000)
    k1 = load(pvia, body_five, 1, 4000)
    g32 = load(pvia, body_via, 32, 30000)
    k32 = load(pvia, body_five, 32, 30000)
    gwp.terminate()
    gwp.wait(timeout=30)
    pa = {q: g1["latency_us"][q] - d1["latency_us"][q] for q in ("p50", "p99")}
    ka = {q: k1["latency_us"][q] - d1["latency_us"][q] for q in ("p50", "p99")}
    results["combo"]["p2c_single_sample"] = {
        "account_strategy": "p2c", "combo_strategy": "p2c",
        "served_by": {"provider": pcheck[0], "connection": pcheck[1], "attempts": pcheck[2]},
        "c1_added_p50_us": ka["p50"], "c1_added_p99_us": ka["p99"],
        "passthrough_c1_added_p50_us": pa["p50"], "passthrough_c1_added_p99_us": pa["p99"],
        "latency_ratio_p50": round(ka["p50"] / max(pa["p50"], 1), 3),
        "latency_ratio_p99": round(ka["p99"] / max(pa["p99"], 1), 3),
        "c32_rps": round(k32["rps"]), "passthrough_c32_rps": round(g32["rps"]),
        "throughput_ratio": round(k32["rps"] / g32["rps"], 3),
    }

    # 6. diagnostic: everything on the gateway's core (no cross-core wakeups): the gateway's own
    #    processing latency, free of this VM's inter-core wakeup cost
    mock1, mock1_url = start(["taskset", "-c", GW_CORE, str(TARGET / "mock-upstream"), "--port", "0", "--no-record"],
                             "listening on")
    cfg1 = tmp / "bench1.toml"
    cfg1.write_text(cfg.read_text().replace(mock_url, mock1_url))
    gw1, gw1_url = start(["taskset", "-c", GW_CORE, str(TARGET / "omniroute"), "--no-open", "--data-dir",
                          str(tmp / "data1"), "--config", str(cfg1), "--port", "0"], "listening on")
    one = []
    for _ in range(ROUNDS):
        one.append((load(f"{mock1_url}/v1/chat/completions", body_direct, 1, 4000, core=GW_CORE),
                    load(f"{gw1_url}/v1/chat/completions", body_via, 1, 4000, core=GW_CORE)))
    p1 = lambda i, k: median([r[i]["latency_us"][k] for r in one])
    results["c1_single_core"] = {
        "direct_us": {k: p1(0, k) for k in ("p50", "p99")},
        "gateway_us": {k: p1(1, k) for k in ("p50", "p99")},
        "added_p50_us": p1(1, "p50") - p1(0, "p50"),
        "added_p99_us": p1(1, "p99") - p1(0, "p99"),
    }
    gw1.terminate()
    gw1.wait(timeout=30)
    mock1.terminate()
    mock1.wait(timeout=10)

    # 7. process start to first served request (warm data dir, then a fresh one)
    starts = []
    for fresh in (False, False, False, True):
        port = free_port()
        data = tmp / ("fresh-%d" % port if fresh else "data")
        out = subprocess.run(
            [str(TARGET / "omniroute-loadgen"), "startup", "--url", f"http://127.0.0.1:{port}/health", "--",
             "taskset", "-c", GW_CORE, str(TARGET / "omniroute"), "--no-open", "--port", str(port),
             "--data-dir", str(data), "--config", str(cfg)],
            check=True, capture_output=True, text=True)
        starts.append((fresh, json.loads(out.stdout)["startup_ms"]))
    results["startup_ms"] = {"existing_data_dir": round(min(s for f, s in starts if not f), 1),
                             "fresh_data_dir": round(next(s for f, s in starts if f), 1)}
    mock.terminate()
    mock.wait(timeout=10)

    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    k, p = results["combo"], results["combo"]["p2c_single_sample"]
    print(f"\ncombo `five` (5 steps x 10 accounts, fill_first/priority) vs pass-through:\n"
          f"  c=1 added p50 {k['c1']['added_p50_us']} vs {k['c1']['passthrough_added_p50_us']} us "
          f"(x{k['c1']['latency_ratio_p50']}), p99 {k['c1']['added_p99_us']} vs "
          f"{k['c1']['passthrough_added_p99_us']} us (x{k['c1']['latency_ratio_p99']})\n"
          f"  c=32 {k['c32']['rps']} vs {k['c32']['passthrough_rps']} rps (x{k['c32']['throughput_ratio']}), "
          f"CPU {k['c32']['cpu_us_per_request']} vs {k['c32']['passthrough_cpu_us_per_request']} us/request\n"
          f"  p2c/p2c, one sample: c=1 added p50 {p['c1_added_p50_us']} vs {p['passthrough_c1_added_p50_us']} us "
          f"(x{p['latency_ratio_p50']}), p99 x{p['latency_ratio_p99']}; c=32 {p['c32_rps']} vs "
          f"{p['passthrough_c32_rps']} rps (x{p['throughput_ratio']})", file=sys.stderr)


if __name__ == "__main__":
    main()
