#!/usr/bin/env python3
"""Load driver for POST /api/alerts (Alertmanager webhook intake). Used by alert_intake.sh.

Builds every webhook body before the clock starts, posts them over keep-alive connections
from several threads, prints sustained alerts/second and POST latencies, then checks the
SQLite database: every alert occurrence sent (fingerprint + startsAt) is stored exactly once,
with the right status, and the per-response counts add up. Exits 1 if anything was lost.

The mix per batch (default 1000 alerts): 70% new occurrences, 20% re-sent occurrences of
earlier batches (as Alertmanager's repeat_interval does), 10% resolutions of earlier ones;
alerts spread over 20 alertnames x 400 pods (so batches hit both new and existing incidents).
"""

import argparse
import http.client
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse

ALERTNAMES = [f"Alert{n:02d}" for n in range(20)]
PODS = 400


def alert(fp, name, pod, starts, status, ends=None):
    return {
        "status": status,
        "labels": {
            "alertname": name,
            "namespace": "shop",
            "pod": f"web-{pod}",
            "severity": random.choice(["critical", "warning", "info"]),
            "incident_type": "availability",
            "job": "web",
            "instance": f"10.0.{pod // 250}.{pod % 250}:8080",
        },
        "annotations": {"summary": f"{name} on web-{pod}", "description": "error ratio above 5% for 5m"},
        "startsAt": starts,
        "endsAt": ends or "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=rate%28errors%5B5m%5D%29",
        "fingerprint": fp,
    }


def build(batches, size, seed):
    """Returns (bodies, expected) where expected maps (fp, starts) -> final status."""
    rng = random.Random(seed)
    random.seed(seed)
    sent = []  # (fp, name, pod, starts) occurrences sent so far
    expected = {}
    bodies = []
    n = 0
    for _ in range(batches):
        alerts = []
        for _ in range(size):
            r = rng.random()
            if sent and r < 0.20:
                fp, name, pod, starts = rng.choice(sent)
                status = expected[(fp, starts)]
                ends = "2030-01-01T00:10:00Z" if status == "resolved" else None
                alerts.append(alert(fp, name, pod, starts, status, ends))
            elif sent and r < 0.30:
                fp, name, pod, starts = rng.choice(sent)
                expected[(fp, starts)] = "resolved"
                alerts.append(alert(fp, name, pod, starts, "resolved", "2030-01-01T00:10:00Z"))
            else:
                n += 1
                fp = f"{n:016x}"
                name = rng.choice(ALERTNAMES)
                pod = rng.randrange(PODS)
                starts = f"2030-01-01T00:{(n // 60) % 60:02d}:{n % 60:02d}.{n % 1000000:06d}Z"
                sent.append((fp, name, pod, starts))
                expected.setdefault((fp, starts), "firing")
                alerts.append(alert(fp, name, pod, starts, "firing"))
        body = {
            "version": "4",
            "groupKey": "{}:{}",
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "incident-mcp",
            "groupLabels": {},
            "commonLabels": {"namespace": "shop"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        }
        bodies.append(json.dumps(body).encode())
    return bodies, expected


def server_cpu(pid):
    """User + system CPU seconds of a process, from /proc (0 when unknown)."""
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


class Postgres:
    """The few reads of the zero-loss check, through psql (no driver to install): `?` takes
    the one text parameter, quoted."""

    def __init__(self, url):
        self.url = url

    def execute(self, sql, params=()):
        for p in params:
            sql = sql.replace("?", "'" + str(p).replace("'", "''") + "'", 1)
        # JSON keeps the types: BIGINT columns come back as int, TEXT as str.
        wrapped = f"SELECT COALESCE(json_agg(json_build_array(t.*)), '[]') FROM ({sql}) t"
        out = subprocess.run(["psql", "-X", "-q", "-At", "-d", self.url, "-c", wrapped],
                             check=True, capture_output=True, text=True).stdout
        return Rows([tuple(r[0].values()) for r in json.loads(out)])


class Rows:
    def __init__(self, rows):
        self.rows = rows

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8787")
    ap.add_argument("--key", required=True)
    ap.add_argument("--env", default="dev")
    ap.add_argument("--db", required=True, help="the server's SQLite file, for the zero-loss check")
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--server-pid", type=int, default=0, help="to report the server's CPU time")
    a = ap.parse_args()

    t = time.perf_counter()
    bodies, expected = build(a.batches, a.batch_size, a.seed)
    total_alerts = a.batches * a.batch_size
    mb = sum(len(b) for b in bodies) / 1e6
    print(f"built {a.batches} webhook bodies x {a.batch_size} alerts ({mb:.1f} MB) in {time.perf_counter() - t:.1f}s; "
          f"{len(expected)} distinct occurrences, {sum(1 for s in expected.values() if s == 'resolved')} resolved")

    u = urllib.parse.urlparse(a.url)
    path = f"/api/alerts?env={a.env}"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {a.key}"}
    lock = threading.Lock()
    queue = list(enumerate(bodies))
    results, latencies, failures = [], [], []

    def worker():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        while True:
            with lock:
                if not queue:
                    break
                i, body = queue.pop(0)
            t0 = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                if resp.status == 200:
                    results.append(json.loads(data))
                else:
                    failures.append((i, resp.status, data[:300]))
        conn.close()

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = cpu.ru_utime + cpu.ru_stime
    server_before = server_cpu(a.server_pid)
    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - start

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = cpu.ru_utime + cpu.ru_stime - cpu_before
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
    server_used = server_cpu(a.server_pid) - server_before if a.server_pid else float("nan")
    print(f"CPU during the run: server {server_used:.2f}s, this load driver {client_cpu:.2f}s "
          f"(of {elapsed * os.cpu_count():.2f}s available on {os.cpu_count()} CPUs)")
    print(f"posted {total_alerts} alerts in {a.batches} POSTs over {a.concurrency} connections in {elapsed:.2f}s")
    print(f"sustained: {total_alerts / elapsed:,.0f} alerts/s ({a.batches / elapsed:.1f} POSTs/s); "
          f"POST latency p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, max {latencies[-1] * 1000:.1f} ms")

    ok = True
    if failures:
        ok = False
        print(f"FAIL: {len(failures)} POSTs failed, first: {failures[0]}")
    new = sum(r["new_alerts"] for r in results)
    resolved = sum(r["newly_resolved"] for r in results)
    repeated = sum(r["repeated"] for r in results)
    received = sum(r["received"] for r in results)
    print(f"responses: received {received}, new {new}, newly resolved {resolved}, repeated {repeated}, "
          f"incidents created {sum(r['created'] for r in results)}")
    if received != total_alerts or new + resolved + repeated != received:
        ok = False
        print("FAIL: response counts do not add up")
    if new != len(expected):
        ok = False
        print(f"FAIL: {new} occurrences reported new, {len(expected)} distinct sent")

    db = Postgres(a.db) if a.db.startswith("postgres://") else sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    rows = db.execute("SELECT fingerprint, starts_at, status FROM alerts WHERE env = ?", (a.env,)).fetchall()
    stored = {}
    for fp, starts_us, status in rows:
        stored[(fp, starts_us)] = status

    def micros(ts):
        # 2030-01-01T00:MM:SS.ffffffZ -> Unix microseconds
        base = 1893456000  # 2030-01-01T00:00:00Z
        mm, rest = ts[14:16], ts[17:-1]
        ss, frac = rest.split(".")
        return (base + int(mm) * 60 + int(ss)) * 1_000_000 + int(frac)

    want = {(fp, micros(s)): st for (fp, s), st in expected.items()}
    missing = [k for k in want if k not in stored]
    extra = [k for k in stored if k not in want]
    wrong = [k for k, st in want.items() if k in stored and stored[k] != st]
    linked = db.execute(
        "SELECT COUNT(*) FROM alerts a JOIN incidents i ON i.id = a.incident_id WHERE a.env = ?", (a.env,)
    ).fetchone()[0]
    signals = db.execute("SELECT COUNT(*) FROM signals WHERE kind = 'alert'").fetchone()[0]
    incidents = db.execute("SELECT COUNT(*) FROM incidents WHERE env = ?", (a.env,)).fetchone()[0]
    print(f"store: {len(stored)} alert occurrences, {signals} alert signals, {incidents} incidents, "
          f"{linked} occurrences linked to an incident")
    if missing or extra or wrong or linked != len(stored) or signals != len(want):
        ok = False
        print(f"FAIL: missing {len(missing)}, unexpected {len(extra)}, wrong status {len(wrong)}")
    print("zero lost: every fingerprint accounted for" if ok else "LOST OR WRONG DATA")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
