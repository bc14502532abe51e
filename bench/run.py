#!/usr/bin/env python3
"""Runs Parlor's benchmark scenarios and prints markdown tables for RESULTS.md.

    make bench                      # everything (about 25 minutes on 2 cores)
    bench/run.py --only S1,S4       # some scenarios
    bench/run.py --layers memory    # one layer

Scenarios, each against the in-memory layer (one server) and Redis (two servers sharing one
SQLite file and a private redis-server), plus the bare broadcast server as the ceiling. The
distributed layers (`pg-redis`, `pg-nginx`) put the servers on a
private PostgreSQL (initdb into a temp dir, a fresh database per run) and Redis: `pg-redis`
is two servers the load generator reaches directly, `pg-nginx` three behind nginx running
deploy/nginx.conf (its workers' CPU is counted with the servers'); they run S1 and S3 only:
  S1 fan-out     20 rooms x 50 clients, 5 senders per room at 2 msg/s, 20 s
  S2 big room    1 room x 500 clients, 1 sender at 20 msg/s, 20 s
  S3 saturation  S1 with the rate stepped up until p99 > 100 ms or a delivery is lost
  S4 idle        20,000 idle WebSockets: server RSS per socket
  store          messages/s through the chat service's store path
  T  transports  S1's load with every client on one transport: WebSocket, SSE, long polling,
                 short polling (1 s); deliveries/s, p99 and bytes per delivered message
  P  presence    S1 twice in one run: listeners anonymous, then every client with its own
                 identity (present in its room) sending `typing` every 3 s; the message
                 figures should not move by more than 10 %
  F  first paint  the server-rendered home and room pages under wrk (requests/s, CPU per
                 request), and cold loads in Chromium: bytes on the wire, ms to hydrated
  soak           (only with --only soak) 10 minutes of S1 with listeners reconnecting every
                 ~30 s; the server's RSS and open descriptors each minute must stay flat

Needs `make build` (target/release/parlor) and the bench binary (built here). The load
generator runs on the same machine as the servers, so figures are for the pair.
"""

import argparse
import datetime
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARLOR = os.path.join(ROOT, "target", "release", "parlor")
BENCH = os.path.join(ROOT, "target", "release", "bench")

S1 = dict(rooms=20, clients_per_room=50, senders_per_room=5, rate=2.0, duration=20.0)
SOAK_SECONDS = 600.0
ARRIVALS = "uniform"
S2 = dict(rooms=1, clients_per_room=500, senders_per_room=1, rate=20.0, duration=20.0)
# 20,000 sockets would need 20,000 file descriptors in the server plus its own files, and
# this machine's hard limit per process is 20,000 (`ulimit -Hn`): S4 opens 19,800, from two
# load generators (each needs its own descriptor per socket too).
S4_GENERATORS = 2
S4 = dict(rooms=11, clients_per_room=900, senders_per_room=0, rate=1.0, duration=12.0)
SATURATION_RATES = [2, 4, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 160, 192, 256]
SATURATION_SECONDS = 10.0
P99_LIMIT_MS = 50.0
P99_CEILING_MS = 100.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 in {timeout} s")


class Postgres:
    """A throwaway PostgreSQL (as the `postgres` user when run as root, which PostgreSQL
    refuses), with a fresh database per run; fsync and every durability default on."""

    def __init__(self, workdir):
        bins = sorted(d for d in os.listdir("/usr/lib/postgresql") if os.path.isdir(
            os.path.join("/usr/lib/postgresql", d, "bin")))
        if not bins:
            sys.exit("PostgreSQL is missing: run scripts/install-tools.sh --test")
        self.bin = os.path.join("/usr/lib/postgresql", bins[-1], "bin")
        self.dir = tempfile.mkdtemp(prefix="parlor-bench-pg-", dir=workdir)
        self.port = free_port()
        as_root = os.getuid() == 0
        if as_root:
            shutil.chown(workdir, "postgres")
            shutil.chown(self.dir, "postgres")
        self.prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        subprocess.run(self.prefix + [os.path.join(self.bin, "initdb"), "-D", f"{self.dir}/data",
                                      "-U", "parlor", "--auth=trust", "-E", "UTF8"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(self.prefix + [os.path.join(self.bin, "pg_ctl"), "-D", f"{self.dir}/data",
                                      "-l", f"{self.dir}/log", "-w", "-o",
                                      f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                                      "-c max_connections=300", "start"],
                       check=True, stdout=subprocess.DEVNULL)
        self.url = f"postgres://parlor@127.0.0.1:{self.port}"

    def fresh_database(self):
        name = f"bench_{time.time_ns()}"
        subprocess.run(["psql", f"{self.url}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
        return f"{self.url}/{name}"

    def stop(self):
        subprocess.run(self.prefix + [os.path.join(self.bin, "pg_ctl"), "-D", f"{self.dir}/data",
                                      "-m", "fast", "stop"], stdout=subprocess.DEVNULL)


POSTGRES = None
# Layers on PostgreSQL: measured in S1 and S3 only (issue 16); S2, S4 and P stay on SQLite.
DISTRIBUTED = ("pg-redis", "pg-nginx")


def start_nginx(workdir, upstreams):
    """nginx running deploy/nginx.conf (only its ports changed) from a temporary prefix, in the
    foreground; returns (process, port)."""
    with open(os.path.join(ROOT, "deploy", "nginx.conf")) as f:
        config = f.read()
    for default, port in zip(["127.0.0.1:3001", "127.0.0.1:3002", "127.0.0.1:3003"], upstreams):
        assert default in config, f"deploy/nginx.conf names {default}"
        config = config.replace(default, f"127.0.0.1:{port}")
    port = free_port()
    config = config.replace("listen 127.0.0.1:8080", f"listen 127.0.0.1:{port}")
    prefix = tempfile.mkdtemp(prefix="parlor-bench-nginx-", dir=workdir)
    os.makedirs(os.path.join(prefix, "logs"))
    # Run as root, nginx's workers drop to `nobody`: they must write their temp files.
    os.chmod(prefix, 0o777)
    os.chmod(os.path.join(prefix, "logs"), 0o777)
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(config)
    proc = subprocess.Popen(["nginx", "-p", f"{prefix}/", "-c", os.path.join(prefix, "nginx.conf"),
                             "-e", "logs/error.log", "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class Servers:
    """The server processes of one scenario: Parlor (memory, Redis, or PostgreSQL + Redis
    directly or behind nginx) or the bare server."""

    def __init__(self, kind, workdir):
        self.kind = kind
        self.procs = []
        self.urls = []
        database = os.path.join(workdir, f"bench-{time.time_ns()}.db")
        if kind.startswith("pg-"):
            database = POSTGRES.fresh_database()
        # Server logs (warnings only) go to a file, never into the report.
        self.log = open(os.path.join(workdir, "servers.log"), "a")
        env = dict(os.environ)
        if kind == "bare":
            port = free_port()
            self.procs.append(subprocess.Popen(
                [BENCH, "bare", "--addr", f"127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            self.urls.append(f"http://127.0.0.1:{port}")
        else:
            count = {"memory": 1, "redis": 2, "pg-redis": 2, "pg-nginx": 3}[kind]
            extra = ["--trust-proxy"] if kind == "pg-nginx" else []
            if kind != "memory":
                redis_port = free_port()
                self.procs.append(subprocess.Popen(
                    ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no"],
                    stdout=subprocess.DEVNULL))
                time.sleep(0.3)
                extra += ["--redis", f"redis://127.0.0.1:{redis_port}"]
            for _ in range(count):
                port = free_port()
                self.procs.append(subprocess.Popen(
                    [PARLOR, "serve", "--addr", f"127.0.0.1:{port}", "--database", database,
                     "--log", "warn", "--allow-guests", "--message-rate", "0", "--auth-per-minute", "0",
                     # One load generator is one address making thousands of guests, rooms
                     # and sockets: the per-address limits would stop it by design.
                     "--signups-per-ip-per-hour", "0", "--max-connections-per-ip", "0",
                     "--max-streams-per-ip", "0", "--room-quota", "0/0",
                     "--mailbox-capacity", "1024", *extra],
                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self.log))
                self.urls.append(f"http://127.0.0.1:{port}")
        for url in self.urls:
            wait_http(f"{url}/healthz")
        # Only the HTTP servers count for RSS/CPU (not redis-server or PostgreSQL) — and
        # nginx's workers, which do the proxying's share of the work.
        self.pids = [p.pid for p in self.procs[-len(self.urls):]]
        if kind == "pg-nginx":
            ports = [int(url.rsplit(":", 1)[1]) for url in self.urls]
            nginx, port = start_nginx(workdir, ports)
            self.procs.append(nginx)
            self.urls = [f"http://127.0.0.1:{port}"]
            wait_http(f"{self.urls[0]}/healthz")
            self.pids += children(nginx.pid)

    def stop(self):
        for proc in reversed(self.procs):
            proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def load(servers, label, params, extra=()):
    args = [BENCH, "load", "--label", label]
    for url in servers.urls:
        args += ["--url", url]
    for pid in servers.pids:
        args += ["--server-pid", str(pid)]
    for key, value in params.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    args += ["--arrivals", ARRIVALS]
    if servers.kind == "bare":
        args.append("--bare")
    args += list(extra)
    out = subprocess.run(args, capture_output=True, text=True)
    sys.stderr.write(out.stdout)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise RuntimeError(f"bench load failed: {label}")
    for line in out.stdout.splitlines():
        if line.startswith("JSON "):
            return json.loads(line[5:])
    raise RuntimeError(f"no JSON line from bench load: {label}")


def fresh(kind, workdir, fn):
    servers = Servers(kind, workdir)
    try:
        return fn(servers)
    finally:
        servers.stop()


def passes(result, kind):
    # The bare server numbers messages from one counter without ordering its broadcasts,
    # so its reordering is expected (and part of why it is cheap); Parlor's is a failure.
    ordered = kind == "bare" or result["out_of_order"] == 0
    return result["lost"] == 0 and ordered and \
        result["latency_ms"]["p99"] <= P99_LIMIT_MS and result["connect_failures"] == 0


def saturation(kind, workdir):
    """Steps S1's rate up until a step loses a delivery or its p99 passes P99_CEILING_MS;
    returns (best step with p99 <= P99_LIMIT_MS, best with p99 <= P99_CEILING_MS, all steps)."""
    best, best_ceiling, steps = None, None, []
    for rate in SATURATION_RATES:
        params = dict(S1, rate=float(rate), duration=SATURATION_SECONDS)
        result = fresh(kind, workdir, lambda s: load(s, f"S3 {kind} rate {rate}", params))
        steps.append(result)
        ordered = kind == "bare" or result["out_of_order"] == 0
        sound = result["lost"] == 0 and ordered and result["connect_failures"] == 0
        if not sound or result["latency_ms"]["p99"] > P99_CEILING_MS:
            break
        best_ceiling = result
        if passes(result, kind):
            best = result
    return best, best_ceiling, steps


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def idle_sockets(servers, kind):
    """S4: idle WebSockets from several generators; server RSS growth per socket."""
    before = sum(rss_kib(pid) for pid in servers.pids)
    generators = []
    for g in range(S4_GENERATORS):
        args = [BENCH, "load", "--label", f"S4 {kind} {g}", "--connect-rate", "2000",
                "--source-ips", "4", "--drain", "1"]
        for url in servers.urls:
            args += ["--url", url]
        for key, value in S4.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        if servers.kind == "bare":
            args.append("--bare")
        generators.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    # Every generator connects at 2,000/s: all sockets are open well before the hold ends.
    time.sleep(S4["rooms"] * S4["clients_per_room"] / 2000 + 4)
    connected = sum(rss_kib(pid) for pid in servers.pids)
    sockets = failed = 0
    for generator in generators:
        out, err = generator.communicate()
        sys.stderr.write(out)
        result = next((json.loads(l[5:]) for l in out.splitlines() if l.startswith("JSON ")), None)
        if result is None:
            sys.stderr.write(err)
            raise RuntimeError("an S4 generator failed")
        sockets += result["connections"]
        failed += result["connect_failures"]
    per_socket = (connected - before) / sockets if sockets else 0
    return (f"| {kind} | {sockets} | {failed} | {before / 1024:.0f} → {connected / 1024:.0f} | "
            f"{per_socket:.2f} |")


def store_bench():
    out = subprocess.run(
        ["cargo", "bench", "-q", "-p", "server", "--bench", "store"],
        cwd=ROOT, capture_output=True, text=True,
        env=dict(os.environ, LEPTOS_OUTPUT_NAME="parlor"))
    sys.stderr.write(out.stdout)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise RuntimeError("store bench failed")
    for line in out.stdout.splitlines():
        if line.startswith("JSON "):
            return json.loads(line[5:])
    raise RuntimeError("no JSON from the store bench")


def first_paint():
    """bench/scripts/firstpaint.sh: its tables as they are (wrk on the SSR pages, cold loads)."""
    out = subprocess.run([os.path.join(ROOT, "bench", "scripts", "firstpaint.sh")], cwd=ROOT,
                         capture_output=True, text=True, env=dict(os.environ, PORT=str(free_port())))
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise RuntimeError("first-paint bench failed")
    return out.stdout.strip()


def soak(workdir):
    """S1 for SOAK_SECONDS with listeners reconnecting every ~30 s; the server's memory and
    descriptors sampled each minute must stay within 10 % of their median after warm-up."""
    params = dict(S1, duration=SOAK_SECONDS, churn=30.0, sample_every=60.0)
    r = fresh("memory", workdir, lambda s: load(s, "soak memory", params))
    lines = [f"### Soak ({SOAK_SECONDS // 60:.0f} min of S1, listeners reconnecting every ~30 s, in-memory layer)", "",
             row("soak memory", r), "", "| minute | server RSS MiB | open fds |", "|---|---|---|"]
    rss = []
    fds = []
    for sample in r.get("samples", []):
        rss.append(sum(sample["rss_kib"]) / 1024)
        fds.append(sum(sample["fds"]))
        lines.append(f"| {sample['at_s'] / 60:.0f} | {rss[-1]:.1f} | {fds[-1]} |")

    def flat(values):
        steady = values[1:] or values
        median = sorted(steady)[len(steady) // 2]
        return median > 0 and all(abs(v - median) <= 0.1 * median for v in steady)

    lines += ["", f"RSS flat within ±10 % after the first minute: {'yes' if flat(rss) else 'NO'}; "
              f"fds flat: {'yes' if flat(fds) else 'NO'}; lost {r['lost']}, "
              f"reconnections {r['requests'] - r['connections']}.", ""]
    return lines


def row(name, r):
    lat = r["latency_ms"]
    cpu = " + ".join(f"{s['cpu_percent']:.0f}" for s in r["server"]) or "-"
    rss = " + ".join(f"{(s['rss_end_kib'] or 0) / 1024:.0f}" for s in r["server"]) or "-"
    per_1000 = r.get("server_cpu_ms_per_1000_deliveries")
    per_1000 = f"{per_1000:.1f}" if per_1000 is not None else "-"
    return (f"| {name} | {r['connections']} | {r['messages_sent']} | "
            f"{r['deliveries_received']}/{r['deliveries_expected']} | {r['lost']} | "
            f"{r['deliveries_per_s']:.0f} | {lat['p50']} / {lat['p90']} / {lat['p99']} / {lat['max']} | "
            f"{r['errors']} | {cpu} | {per_1000} | {rss} |")


HEADER = ("| run | conns | sent | delivered/expected | lost | deliveries/s | latency ms p50/p90/p99/max "
          "| errors | server CPU % | CPU ms / 1k deliveries | server RSS MiB |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


def main():
    global PARLOR
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="S1,S2,S3,S4,store,T,P,F")
    parser.add_argument("--layers", default="memory,redis,pg-redis,pg-nginx")
    parser.add_argument("--repeat", type=int, default=3,
                        help="P: how many quiet/typing pairs per layer (p99 is noisy run to run)")
    parser.add_argument("--no-bare", action="store_true", help="skip the ceiling server")
    parser.add_argument("--parlor", default=PARLOR,
                        help="the parlor binary to measure (an older build, for an A/B)")
    parser.add_argument("--arrivals", default="uniform", choices=["uniform", "poisson"],
                        help="how senders' send times are drawn (bench load --arrivals)")
    args = parser.parse_args()
    global ARRIVALS
    ARRIVALS = args.arrivals
    only = set(args.only.split(","))
    layers = args.layers.split(",")
    kinds = layers + ([] if args.no_bare else ["bare"])

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    PARLOR = os.path.abspath(args.parlor)
    if not os.path.exists(PARLOR):
        sys.exit(f"{PARLOR} is missing: run `make build` first")
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "bench"], cwd=ROOT, check=True)
    workdir = tempfile.mkdtemp(prefix="parlor-bench-")
    global POSTGRES
    if any(kind.startswith("pg-") for kind in kinds):
        POSTGRES = Postgres(workdir)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    lines = [f"## {datetime.date.today()} — commit {commit}{' (+ uncommitted changes)' if dirty else ''}",
             "", f"Command: `bench/run.py {' '.join(sys.argv[1:])}`".rstrip(), ""]
    if PARLOR != os.path.join(ROOT, "target", "release", "parlor"):
        lines[0] += f" (the bench tooling; Parlor measured is {PARLOR})"
    try:
        results = {}
        if only & {"S1", "S2"}:
            lines += ["### S1 fan-out and S2 big room", "", HEADER]
            for kind in kinds:
                if "S1" in only:
                    r = fresh(kind, workdir, lambda s: load(s, f"S1 {kind}", S1))
                    lines.append(row(f"S1 {kind}", r))
                if "S2" in only and kind not in ("bare", *DISTRIBUTED):
                    r = fresh(kind, workdir, lambda s: load(s, f"S2 {kind}", S2))
                    lines.append(row(f"S2 {kind}", r))
            lines.append("")
        if "S3" in only:
            lines += ["### S3 saturation (S1 with a rising rate; a step passes with no loss, "
                      f"no reordering and p99 <= {P99_LIMIT_MS:.0f} ms)", "", HEADER]
            ceilings = {}
            for kind in kinds:
                best, best_ceiling, steps = saturation(kind, workdir)
                for step in steps:
                    mark = "" if passes(step, kind) else " ✗"
                    lines.append(row(f"S3 {kind} {step['rate_per_sender']:g}/s{mark}", step))
                results[kind] = best
                ceilings[kind] = best_ceiling
            lines.append("")
            lines.append(f"| layer | highest deliveries/s with p99 <= {P99_LIMIT_MS:.0f} ms | ratio to bare "
                         f"| highest with p99 <= {P99_CEILING_MS:.0f} ms | ratio to bare |")
            lines.append("|---|---|---|---|---|")
            bare = results.get("bare")
            bare_ceiling = ceilings.get("bare")
            for kind in kinds:
                best = results.get(kind)
                value = best["deliveries_per_s"] if best else 0
                ratio = f"{value / bare['deliveries_per_s']:.2f}" if bare and best else "-"
                ceiling = ceilings.get(kind)
                c_value = ceiling["deliveries_per_s"] if ceiling else 0
                c_ratio = (f"{c_value / bare_ceiling['deliveries_per_s']:.2f}"
                           if bare_ceiling and ceiling else "-")
                lines.append(f"| {kind} | {value:.0f} | {ratio} | {c_value:.0f} | {c_ratio} |")
            lines.append("")
        if "S4" in only:
            lines += ["### S4 idle sockets "
                      f"({S4_GENERATORS} load generators x {S4['rooms'] * S4['clients_per_room']})", "",
                      "| server | sockets | failed | server RSS before → connected (MiB) | KiB per socket |",
                      "|---|---|---|---|---|"]
            for kind in (k for k in kinds if k not in DISTRIBUTED):
                lines.append(fresh(kind, workdir, lambda s: idle_sockets(s, kind)))
            lines.append("")
        if "T" in only:
            lines += ["### Transports (S1's load, in-memory layer; senders POST unless on WebSocket)", "",
                      "| transport | conns | delivered/expected | deliveries/s | latency ms p50/p99/max "
                      "| requests | bytes per delivery | server CPU % |",
                      "|---|---|---|---|---|---|---|---|"]
            for transport in ["ws", "sse", "longpoll", "poll"]:
                r = fresh("memory", workdir, lambda s: load(s, f"T {transport}", S1,
                                                              ["--transport", transport]))
                lat = r["latency_ms"]
                cpu = " + ".join(f"{x['cpu_percent']:.0f}" for x in r["server"])
                lines.append(f"| {transport} | {r['connections']} | {r['deliveries_received']}/{r['deliveries_expected']} | "
                             f"{r['deliveries_per_s']:.0f} | {lat['p50']} / {lat['p99']} / {lat['max']} | "
                             f"{r['requests']} | {r['bytes_per_delivery']} | {cpu} |")
            lines.append("")
        if "P" in only:
            lines += ["### P presence and typing (S1; every client present and typing every 3 s)", "",
                      f"{args.repeat} pair(s) per layer, the order of each pair alternating so drift "
                      "does not favour one side; the summary compares medians.", "", HEADER]
            for kind in (k for k in layers if k not in DISTRIBUTED):
                quiet_runs, typing_runs = [], []
                for i in range(args.repeat):
                    order = ["quiet", "typing"] if i % 2 == 0 else ["typing", "quiet"]
                    for which in order:
                        if which == "quiet":
                            r = fresh(kind, workdir, lambda s: load(s, f"P {kind} quiet", S1))
                            lines.append(row(f"S1 {kind}, anonymous listeners", r))
                            quiet_runs.append(r)
                        else:
                            r = fresh(kind, workdir, lambda s: load(s, f"P {kind} typing", S1,
                                                                    ["--typing-every-ms", "3000"]))
                            lines.append(row(f"S1 {kind}, everyone present + typing/3 s", r))
                            typing_runs.append(r)
                results[f"P {kind}"] = (quiet_runs, typing_runs)
            lines.append("")
            lines.append("| layer | median deliveries/s quiet → typing | change | median p99 ms quiet → typing "
                         "(range) | change |")
            lines.append("|---|---|---|---|---|")
            for kind in (k for k in layers if k not in DISTRIBUTED):
                quiet_runs, typing_runs = results[f"P {kind}"]
                dq = statistics.median([r["deliveries_per_s"] for r in quiet_runs])
                dt = statistics.median([r["deliveries_per_s"] for r in typing_runs])
                pq_all = [r["latency_ms"]["p99"] for r in quiet_runs]
                pt_all = [r["latency_ms"]["p99"] for r in typing_runs]
                pq, pt = statistics.median(pq_all), statistics.median(pt_all)
                d = dt / dq - 1 if dq else 0
                p = pt / pq - 1 if pq else 0
                lines.append(f"| {kind} | {dq:.0f} → {dt:.0f} | {d * 100:+.1f} % | {pq:.2f} "
                             f"({min(pq_all)}–{max(pq_all)}) → {pt:.2f} ({min(pt_all)}–{max(pt_all)}) "
                             f"| {p * 100:+.1f} % |")
            lines.append("")
        if "soak" in only:
            lines += soak(workdir)
        if "F" in only:
            lines += ["### First paint (server-rendered pages, cold loads in Chromium)", "",
                      first_paint(), ""]
        if "store" in only:
            r = store_bench()
            lines += ["### Store", "", "| senders | messages | seconds | messages/s |", "|---|---|---|---|",
                      f"| {r['senders']} | {r['messages']} | {r['seconds']} | {r['messages_per_s']:.0f} |", ""]
    finally:
        if POSTGRES:
            POSTGRES.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        # Whatever was measured is printed, even if a later scenario failed.
        print("\n".join(lines))


if __name__ == "__main__":
    main()
