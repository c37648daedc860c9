#!/usr/bin/env python3
"""Writes examples/staging-events.jsonl and examples/prod-events.jsonl: an hour of deterministic
sample telemetry for the built-in `staging` and `prod` environments (the names the OpenClaw skill
manifest's examples use). Three pods of Deployment `api` in namespace `shop`. staging holds three
injected incidents: an egress spike on api-3 (network), injection attempts against the
Deployment (app-vuln) and CPU saturation on api-1 (resource); prod holds none. Re-run after
changing it; the output is committed."""
import json, random, datetime as dt

t0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone.utc)
PODS = {"api-1": "node-a", "api-2": "node-b", "api-3": "node-a"}
ATTACKS = [
    "GET /api/items?id=1%27%20UNION%20SELECT%20password%20FROM%20users-- HTTP/1.1",
    "GET /api/items?id=1%27%20OR%20%271%27=%271 HTTP/1.1",
    "GET /static/../../../../etc/passwd HTTP/1.1",
]

def ts(sec):
    return (t0 + dt.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%SZ")

def events(env, seed):
    rnd = random.Random(seed)
    out = []
    for minute in range(60):
        s = minute * 60
        for pod, node in PODS.items():
            labels = {"namespace": "shop", "deployment": "api", "pod": pod, "node": node}
            tx = rnd.gauss(1.5e6, 2.0e5)
            if env == "staging" and pod == "api-3" and 40 <= minute < 46:
                tx = rnd.gauss(1.2e8, 8.0e6)
            out.append({"ts": ts(s), "metric": "net_tx_bytes_per_second", "value": round(tx, 1), "labels": labels})
            cpu = min(0.9, max(0.05, rnd.gauss(0.35, 0.05)))
            if env == "staging" and pod == "api-1" and 20 <= minute < 26:
                cpu = min(1.0, rnd.gauss(0.985, 0.005))
            out.append({"ts": ts(s), "metric": "cpu_usage_ratio", "value": round(cpu, 4), "labels": labels})
            path = f"GET /api/items?id={rnd.randint(1, 999)} HTTP/1.1"
            log = f'10.0.8.{rnd.randint(2, 250)} - - "{path}" 200 {rnd.randint(300, 900)}'
            out.append({"ts": ts(s + 20), "log": log, "labels": labels})
        if env == "staging" and 50 <= minute < 53:
            for k in range(4):
                labels = {"namespace": "shop", "deployment": "api", "pod": "api-2", "node": "node-b"}
                log = f'198.51.100.23 - - "{ATTACKS[k % 3]}" 500 87'
                out.append({"ts": ts(s + 5 + k * 10), "log": log, "labels": labels})
    out.sort(key=lambda e: e["ts"])
    return out

for env, seed in (("staging", 11), ("prod", 13)):
    path = f"examples/{env}-events.jsonl"
    evs = events(env, seed)
    with open(path, "w") as f:
        for e in evs:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
    print(f"wrote {len(evs)} events to {path}")
