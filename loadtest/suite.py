#!/usr/bin/env python3
"""Switchyard side by side with its peers: starts every setup on 127.0.0.1, drives it with
established load generators (h2load, oha), measures each run from /proc, and writes a report.

Run it through `loadtest/run` (installs the tools, builds release binaries). Directly:

    python3 loadtest/suite.py [--rounds 3] [--duration 10] [--setups a,b] [--scenarios x,y]

Setups (same ECDSA P-256 certificate, TLS 1.3 only, one worker thread each, upstream
keep-alive, access logs off; the origin is one nginx worker serving a fixed body):
  direct      client -> origin, plain HTTP (the physical limit)
  switchyard  client -TLS-> gateway -TLS tunnel-> connector -> origin
  nginx2      client -TLS-> nginx edge -TLS-> internal nginx -> origin
  haproxy2    client -TLS-> HAProxy edge -TLS-> internal HAProxy -> origin
  nginx1      client -TLS-> nginx -> origin (the floor for any TLS-terminating proxy)
  rathole     client -> rathole server -> rathole client -> origin, plain HTTP and plain TCP
              transport (marked "plain" in the report)

The chain under test (proxies and origin) is pinned to one core, the load generator to another.
Setups are interleaved in a new random order each round and restarted for every run, so the
peak RSS of a run is its own.
"""

import argparse
import asyncio
import base64
import datetime
import hashlib
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "bench.switchyard.test"
TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")
SETUPS = ["direct", "switchyard", "nginx2", "haproxy2", "nginx1", "rathole"]
PLAIN = {"direct", "rathole"}
# The scenario table: name -> (setups it applies to, description).
SCENARIOS = {
    "h1": "HTTPS keep-alive HTTP/1.1, 32 connections, closed loop (h2load --h1)",
    "h2": "HTTP/2, 8 connections x 32 streams, closed loop (h2load)",
    "conn": "a new connection (full TLS handshake) per request, 2,000 a second offered, "
            "open loop (h2load -r)",
    "open": "open loop at half the slowest setup's h1 peak, 16 connections, latency-corrected "
            "(oha -q --latency-correction)",
    "body1m": "1 MiB response bodies, 4 keep-alive connections (h2load --h1)",
    "idle": "9,800 idle TLS connections, one request each first: RSS per connection",
    "apps100k": "h1 with 100k apps in the routing table (Switchyard only)",
    "swaps": "h1 while the routing table is swapped every 100 ms (Switchyard only)",
    "etcd100k": "the catalog in etcd with 100k apps (Switchyard only): the gateway's start-up "
                "(list + compile) time and peak RSS, the time from one app written in "
                "etcd to the gateway routing by it (the whole catalog decoded and compiled "
                "per watch batch), then h1",
    "slow": "open loop at 200 requests/s (oha, 8 connections) alone, then beside 1,000 slow "
            "TLS clients (a third trickle request heads, a third trickle bodies, a third read "
            "1 MiB responses 1 KiB a second; each client on its own phase of the second, or all "
            "in step with --slow-sync) for 30 s: p99 and errors against the quiet run",
}
# 10k was the aim; the open-file limit here is 20,000 and HAProxy reserves two descriptors per
# connection, so it cannot hold more than ~9,900: every setup gets the same 9,800.
IDLE_CONNS = 9_800
# The slow scenario: attacking connections, the rate of the normal traffic beside them, and
# how long the attack lasts at least.
SLOW_CONNS = 1_000
SLOW_RATE = 200
SLOW_SECS = 30
# Offered rate of the new-connection scenario: below what the generator's core can open.
CONN_RATE = 2_000
# The etcd100k scenario: apps written to etcd, keys per seeding transaction (etcd is started
# with a --max-txn-ops to match), the key prefix, and how many single writes are timed.
ETCD_APPS = 100_000
ETCD_BATCH = 1_000
ETCD_PREFIX = "/switchyard"
ETCD_WRITES = 5


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open in {timeout}s")


# ---- /proc readings ------------------------------------------------------------------------


def children(pid):
    """pid and all its descendants (nginx workers are children of the master)."""
    by_parent = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            by_parent.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(by_parent.get(p, []))
    return out


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except OSError:
            pass
    return total


def status_kb(pids, key):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# ---- processes -----------------------------------------------------------------------------


class Chain:
    """The processes of one setup: `proxies` are measured as the chain, `origin` apart."""

    def __init__(self, work, cpu):
        self.work, self.cpu = work, cpu
        self.proxies, self.origin = [], []
        self.url, self.port = None, None
        self.perf = None  # where to write a perf profile of the measured run

    def spawn(self, name, argv, env=None, origin=False, cpu=None):
        out = open(os.path.join(self.work, f"{name}.log"), "wb")
        full_env = dict(os.environ, **(env or {}))
        cpu = cpu or self.cpu
        pin = ["taskset", "-c", cpu] if cpu is not None else []
        p = subprocess.Popen(pin + argv, stdout=out, stderr=subprocess.STDOUT, env=full_env,
                             cwd=self.work, start_new_session=True)
        (self.origin if origin else self.proxies).append(p)
        return p

    def pids(self, which):
        out = []
        for p in which:
            out.extend(children(p.pid))
        return out

    def stop(self):
        for p in self.proxies + self.origin:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        end = time.time() + 5
        for p in self.proxies + self.origin:
            try:
                p.wait(max(0.1, end - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def nginx_conf(work, name, server_block):
    path = os.path.join(work, f"{name}.conf")
    with open(path, "w") as f:
        f.write(f"""worker_processes 1;
daemon off;
pid {work}/{name}.pid;
error_log {work}/{name}.err warn;
worker_rlimit_nofile 19000;
events {{ worker_connections 18000; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path {work}/{name}.tmp;
  proxy_temp_path {work}/{name}.ptmp;
  sendfile on;
{server_block}
}}
""")
    return ["nginx", "-e", f"{work}/{name}.err", "-p", work, "-c", path]


def start_origin(chain, work):
    port = free_port()
    os.makedirs(os.path.join(work, "www"), exist_ok=True)
    with open(os.path.join(work, "www", "1m"), "wb") as f:
        f.write(os.urandom(1 << 20))
    argv = nginx_conf(work, "origin", f"""  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {work}/www;
    location = / {{ default_type text/plain; return 200 "hello from the origin\\n"; }}
    # Reads the whole body before answering (request buffering of a proxied location), so
    # a client trickling a body to it stays a slow body, not a request answered early.
    location = /sink {{ client_max_body_size 2m; proxy_pass http://127.0.0.1:{port}/; }}
  }}""")
    chain.spawn("origin", argv, origin=True)
    wait_port(port)
    return port


def nginx_tls(work, cert):
    return f"""    ssl_certificate {cert['cert']};
    ssl_certificate_key {cert['key']};
    ssl_protocols TLSv1.3;"""


def setup_direct(chain, work, cert, opts):
    origin = start_origin(chain, work)
    chain.port, chain.url = origin, f"http://{HOST}:{origin}"


def nginx_proxy(work, cert, port, upstream, tls_upstream=False, h2=True):
    """A TLS server block proxying to 127.0.0.1:upstream over a keep-alive pool."""
    ssl_up = f"""
      proxy_ssl_server_name on;
      proxy_ssl_name {HOST};
      proxy_ssl_session_reuse on;
      proxy_ssl_protocols TLSv1.3;""" if tls_upstream else ""
    return f"""  upstream up {{ server 127.0.0.1:{upstream}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port} ssl{" http2" if h2 else ""} backlog=4096;
    server_name {HOST};
{nginx_tls(work, cert)}
    location / {{
      proxy_pass {"https" if tls_upstream else "http"}://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;{ssl_up}
    }}
  }}"""


def setup_nginx1(chain, work, cert, opts):
    origin = start_origin(chain, work)
    port = free_port()
    chain.spawn("edge", nginx_conf(work, "edge", nginx_proxy(work, cert, port, origin)))
    wait_port(port)
    chain.port, chain.url = port, f"https://{HOST}:{port}"


def setup_nginx2(chain, work, cert, opts):
    origin = start_origin(chain, work)
    inner, port = free_port(), free_port()
    chain.spawn("inner", nginx_conf(work, "inner",
                                    nginx_proxy(work, cert, inner, origin, h2=False)))
    chain.spawn("edge", nginx_conf(work, "edge",
                                   nginx_proxy(work, cert, port, inner, tls_upstream=True)))
    wait_port(inner)
    wait_port(port)
    chain.port, chain.url = port, f"https://{HOST}:{port}"


def haproxy_conf(work, name, body):
    path = os.path.join(work, f"{name}.cfg")
    with open(path, "w") as f:
        f.write(f"""global
  nbthread 1
  maxconn 9900
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
  http-reuse always
{body}
""")
    return ["haproxy", "-db", "-f", path]


def setup_haproxy2(chain, work, cert, opts):
    origin = start_origin(chain, work)
    inner, port = free_port(), free_port()
    chain.spawn("inner", haproxy_conf(work, "inner", f"""frontend fe
  bind 127.0.0.1:{inner} ssl crt {cert['bundle']} alpn http/1.1
  default_backend be
backend be
  server origin 127.0.0.1:{origin}"""))
    chain.spawn("edge", haproxy_conf(work, "edge", f"""frontend fe
  bind 127.0.0.1:{port} ssl crt {cert['bundle']} alpn h2,http/1.1
  default_backend be
backend be
  server inner 127.0.0.1:{inner} ssl verify none sni str({HOST}) alpn http/1.1"""))
    wait_port(inner)
    wait_port(port)
    chain.port, chain.url = port, f"https://{HOST}:{port}"


def setup_rathole(chain, work, cert, opts):
    origin = start_origin(chain, work)
    ctrl, port = free_port(), free_port()
    # Both ends: the control channel on `ctrl`, plain TCP, one service.
    for side, addr_key, addr, service_key, service in (
            ("server", "bind_addr", ctrl, "bind_addr", port),
            ("client", "remote_addr", ctrl, "local_addr", origin)):
        with open(os.path.join(work, f"{side}.toml"), "w") as f:
            f.write(f'[{side}]\n{addr_key} = "127.0.0.1:{addr}"\n[{side}.transport]\n'
                    f'type = "tcp"\n[{side}.services.web]\ntoken = "bench"\n'
                    f'{service_key} = "127.0.0.1:{service}"\n')
    env = {"TOKIO_WORKER_THREADS": "1", "RUST_LOG": "warn"}
    chain.spawn("rathole-server", ["rathole", "--server", "server.toml"], env=env)
    wait_port(ctrl)
    chain.spawn("rathole-client", ["rathole", "--client", "client.toml"], env=env)
    wait_port(port)
    chain.port, chain.url = port, f"http://{HOST}:{port}"


def switchyard_config(work, cert, origin, https, tunnel, metrics, apps, extra=""):
    secret = "loadtest-secret"
    digest = hashlib.sha256(secret.encode()).hexdigest()
    lines = [f"""[listen]
https = "127.0.0.1:{https}"
tunnel = "127.0.0.1:{tunnel}"
metrics = "127.0.0.1:{metrics}"

[[certificates]]
cert = "{cert['cert']}"
key = "{cert['key']}"

[admin]
listen = ""

[runtime]
threads = 1
control_threads = 1
watch_interval_ms = 0
access_log = false
upgrade_sock = "{work}/upgrade.sock"

[[groups]]
name = "g"

[[connectors]]
id = "c1"
group = "g"
secret_hash = "sha256:{digest}"

[[apps]]
name = "bench"
host = "{HOST}"
internal_url = "http://127.0.0.1:{origin}"
groups = ["g"]
{extra}"""]
    # Filler apps: a third each exact hosts, wildcards and path prefixes, as in benches/.
    for i in range(apps):
        kind = i % 3
        if kind == 0:
            host, prefix = f"app{i}.example.com", ""
        elif kind == 1:
            host, prefix = f"*.w{i}.example.com", ""
        else:
            host, prefix = f"p{i // 30}.example.com", f'\npath_prefix = "/svc{i}"'
        lines.append(f"""[[apps]]
name = "app{i}"
host = "{host}"{prefix}
internal_url = "http://10.0.{(i // 250) % 250}.{i % 250}:8080"
groups = ["g"]
""")
    with open(os.path.join(work, "gateway.toml"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(work, "connector.toml"), "w") as f:
        f.write(f"""id = "c1"
secret = "{secret}"
gateways = ["127.0.0.1:{tunnel}"]
server_name = "{HOST}"
ca_file = "{cert['ca']}"
allow = ["127.0.0.1:{origin}"]
tunnels_per_gateway = 1
threads = 1
""")


def setup_switchyard(chain, work, cert, opts, apps=0):
    origin = start_origin(chain, work)
    https, tunnel, metrics = free_port(), free_port(), free_port()
    switchyard_config(work, cert, origin, https, tunnel, metrics, apps)
    env = {"RUST_LOG": "warn"}
    if os.environ.get("SY_LD_PRELOAD"):  # for allocator experiments
        env["LD_PRELOAD"] = os.environ["SY_LD_PRELOAD"]
    chain.spawn("gateway", [opts.bin, "gateway", "--config", "gateway.toml"], env=env)
    wait_port(tunnel, timeout=120)
    chain.spawn("connector", [opts.bin, "connector", "--config", "connector.toml"], env=env)
    chain.port, chain.url = https, f"https://{HOST}:{https}"
    chain.metrics = metrics
    chain.origin_port = origin
    wait_served(https, cert)


def wait_served(https, cert, timeout=30):
    """Ready when a request goes all the way through."""
    ctx = ssl.create_default_context(cafile=cert["ca"])
    end = time.time() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", https), timeout=2) as s:
                with ctx.wrap_socket(s, server_hostname=HOST) as t:
                    t.sendall(f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
                    if t.recv(64).startswith(b"HTTP/1.1 200"):
                        return
        except OSError:
            pass
        if time.time() > end:
            raise RuntimeError(f"switchyard did not serve in {timeout}s")
        time.sleep(0.1)


# ---- the catalog in etcd -------------------------------------------------------------------


def b64(text):
    return base64.b64encode(text.encode()).decode()


def etcd_call(port, path, body, timeout=60):
    """One call to etcd's JSON gateway (`/v3/...`, keys and values in base64)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"{}")


def start_etcd(chain, work, cpu):
    """etcd on free ports with its data in `work`, counted with the origin (not the chain)."""
    client, peer = free_port(), free_port()
    c, p = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    chain.spawn("etcd", ["etcd", "--name", "lt", "--data-dir", os.path.join(work, "etcd"),
                         "--listen-client-urls", c, "--advertise-client-urls", c,
                         "--listen-peer-urls", p, "--initial-advertise-peer-urls", p,
                         "--initial-cluster", f"lt={p}", "--max-txn-ops", str(ETCD_BATCH),
                         "--quota-backend-bytes", str(4 << 30), "--log-level", "warn"],
                origin=True, cpu=cpu)
    end = time.time() + 30
    while True:
        try:
            etcd_call(client, "/v3/kv/range", {"key": b64("/probe")}, timeout=2)
            return client
        except OSError:
            if time.time() > end:
                raise RuntimeError("etcd did not serve in 30s")
            time.sleep(0.1)


def filler_app(template, i):
    """App `i` of the 100k in its catalog form: the same mix as the file-store scenario."""
    app = dict(template, name=f"app{i}", path_prefix=None,
               internal_url=f"http://10.0.{(i // 250) % 250}.{i % 250}:8080")
    kind = i % 3
    if kind == 0:
        app["host"] = f"app{i}.example.com"
    elif kind == 1:
        app["host"] = f"*.w{i}.example.com"
    else:
        app["host"], app["path_prefix"] = f"p{i // 30}.example.com", f"/svc{i}"
    return app


def seed_etcd(chain, opts, port, n):
    """Writes `n` filler apps beside the seeded catalog, `ETCD_BATCH` keys a transaction.
    The gateway's own seed is one transaction, which etcd caps at --max-txn-ops."""
    key = f"{ETCD_PREFIX}/catalog/operator/apps/bench"
    kvs = etcd_call(port, "/v3/kv/range", {"key": b64(key)}).get("kvs") or []
    if not kvs:
        raise RuntimeError("the gateway did not seed etcd")
    template = json.loads(base64.b64decode(kvs[0]["value"]))
    t0 = time.time()
    for start in range(0, n, ETCD_BATCH):
        ops = [{"request_put": {"key": b64(f"{ETCD_PREFIX}/catalog/operator/apps/app{i}"),
                                "value": b64(json.dumps(filler_app(template, i)))}}
               for i in range(start, min(n, start + ETCD_BATCH))]
        r = etcd_call(port, "/v3/kv/txn", {"success": ops})
        if not r.get("succeeded"):
            raise RuntimeError(f"seeding transaction failed: {r}")
    log(f"  seeded {n} apps in etcd in {time.time() - t0:.1f}s")
    return template


def setup_etcd100k(chain, work, cert, opts):
    """The gateway seeds an empty etcd from its small config and stops; 100k apps are added
    in etcd; the measured gateway then starts on that catalog."""
    port = start_etcd(chain, work, opts.gen_cpu)
    origin = start_origin(chain, work)
    https, tunnel, metrics = free_port(), free_port(), free_port()
    store = f'\n[store.etcd]\nendpoints = ["http://127.0.0.1:{port}"]\nprefix = "{ETCD_PREFIX}"\n'
    switchyard_config(work, cert, origin, https, tunnel, metrics, 0, extra=store)
    env = dict(os.environ, RUST_LOG="warn")
    argv = [opts.bin, "gateway", "--config", "gateway.toml"]
    with open(os.path.join(work, "seed.log"), "wb") as out:
        seeder = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work)
        try:
            wait_port(https, timeout=60)
        finally:
            seeder.send_signal(signal.SIGTERM)
            seeder.wait(30)
    template = seed_etcd(chain, opts, port, ETCD_APPS)
    t0 = time.time()
    chain.spawn("gateway", argv, env={"RUST_LOG": "warn"})
    wait_port(https, timeout=600)
    started = time.time() - t0
    gw_pids = chain.pids(chain.proxies)
    startup_rss = status_kb(gw_pids, "VmHWM")
    chain.spawn("connector", [opts.bin, "connector", "--config", "connector.toml"],
                env={"RUST_LOG": "warn"})
    chain.port, chain.url = https, f"https://{HOST}:{https}"
    chain.metrics, chain.origin_port = metrics, origin
    wait_served(https, cert, timeout=120)
    chain.extra = {"startup_s": started, "first_200_s": time.time() - t0,
                   "startup_rss_kb": startup_rss}
    chain.extra["write_to_route_ms"] = etcd_write_to_route(chain, port, template, cert)
    log(f"  etcd100k: {chain.extra}")


def etcd_write_to_route(chain, port, template, cert):
    """Median time from one app written in etcd to the gateway routing by it: the watch, then
    the whole catalog decoded and compiled again. The app takes a path of the benchmark host
    to a port the connector may not reach, so the first answer there that is not the origin's
    is the new table's. (Polled with requests, not /metrics: with 100k apps a scrape costs
    more than the swap.)"""
    times = []
    ctx = ssl.create_default_context(cafile=cert["ca"])
    for n in range(ETCD_WRITES):
        app = dict(template, name=f"late{n}", host=HOST, path_prefix=f"/late{n}",
                   internal_url="http://127.0.0.1:9")
        key = f"{ETCD_PREFIX}/catalog/operator/apps/{app['name']}"
        t0 = time.time()
        etcd_call(port, "/v3/kv/put", {"key": b64(key), "value": b64(json.dumps(app))})
        while b"Server: nginx" in first_line(chain.port, ctx, f"/late{n}/"):
            if time.time() > t0 + 120:
                raise RuntimeError("the new app was not routed within 120s of its etcd write")
            time.sleep(0.01)
        times.append((time.time() - t0) * 1000)
    return statistics.median(times)


def first_line(https, ctx, path):
    """The start of the answer to `GET path` (status line, first headers), new connection."""
    with socket.create_connection(("127.0.0.1", https), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname=HOST) as t:
            t.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
                      .encode())
            return t.recv(256)

SETUP_FNS = {
    "direct": setup_direct,
    "switchyard": setup_switchyard,
    "nginx2": setup_nginx2,
    "haproxy2": setup_haproxy2,
    "nginx1": setup_nginx1,
    "rathole": setup_rathole,
}


# ---- load generators -----------------------------------------------------------------------


GEN_UTIL = [0.0]  # CPU share the load generator used in its last run (1.0 = its whole core)


def gen(argv, cpu, timeout):
    pin = ["taskset", "-c", cpu] if cpu is not None else []
    before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    # oha is a tokio program: one worker, as it has one core (two workers time-sliced on
    # one core add their own scheduling delays to the latencies it reports).
    env = dict(os.environ, TOKIO_WORKER_THREADS="1")
    p = subprocess.run(pin + argv, capture_output=True, text=True, timeout=timeout, env=env)
    after, t1 = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    GEN_UTIL[0] = used / max(t1 - t0, 1e-3)
    if p.returncode != 0 and not p.stdout:
        raise RuntimeError(f"{argv[0]} failed: {p.stderr.strip()[:500]}")
    return p.stdout


def h2load(chain, opts, secs, clients, streams=1, h1=True, path="/", conn_rate=None):
    argv = ["h2load", "-t", "1", f"--connect-to=127.0.0.1:{chain.port}"]
    if conn_rate:
        # Open loop: conn_rate new connections a second, one request each. h2load resumes
        # no TLS session, so each is a full handshake (oha and wrk resume theirs).
        total = conn_rate * secs
        argv += ["-c", str(total), "-n", str(total), "-r", str(conn_rate // 10),
                 "--rate-period", "100ms"]
    else:
        argv += ["-c", str(clients), "-D", str(secs)]
    if h1:
        argv.append("--h1")
    else:
        argv += ["-m", str(streams)]
    out = gen(argv + [chain.url + path], opts.gen_cpu, secs + 60)
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    rate = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s, ([\d.]+)([KMG]?B)/s", out)
    conn = re.search(r"time for connect:\s+(\S+)\s+(\S+)\s+(\S+)", out)
    lat = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if not (m and rate and lat and codes):
        raise RuntimeError(f"h2load output not understood:\n{out[-800:]}")
    succeeded, failed = int(m.group(4)), int(m.group(5))
    ok = min(int(codes.group(1)), succeeded)  # 2xx only; h2load counts 3xx as success
    unit = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[rate.group(5)[:-1]]
    return {
        "requests": ok,
        "errors": failed + succeeded - ok,
        "rps": ok / secs if not conn_rate else ok / (dur_ms(rate.group(1) + rate.group(2)) / 1000),
        "mbps": float(rate.group(4)) * unit / 1e6,
        "lat_mean_ms": dur_ms(lat.group(3)),
        "lat_max_ms": dur_ms(lat.group(2)),
        "connect_mean_ms": dur_ms(conn.group(3)) if conn else None,
    }


def dur_ms(text):
    for unit, mult in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * mult
    return float(text)


def oha(chain, opts, secs, conns, rate=None, keepalive=True):
    argv = ["oha", "--no-tui", "--output-format", "json", "-z", f"{secs}s", "-c", str(conns),
            "--insecure", "--connect-to", f"{HOST}:{chain.port}:127.0.0.1:{chain.port}"]
    if rate:
        argv += ["-q", str(rate), "--latency-correction"]
    if not keepalive:
        argv.append("--disable-keepalive")
    out = gen(argv + [chain.url + "/"], opts.gen_cpu, secs + 60)
    j = json.loads(out)
    codes = j.get("statusCodeDistribution", {})
    ok = int(codes.get("200", 0))
    errs = sum(int(v) for k, v in codes.items() if k != "200")
    # Requests still in flight when the duration ends are cut off by oha, not failed.
    errs += sum(int(v) for k, v in j.get("errorDistribution", {}).items()
                if "aborted due to deadline" not in k)
    pct = j.get("latencyPercentiles", {})
    s = j.get("summary", {})
    return {
        "requests": ok,
        "errors": errs,
        "rps": ok / secs,
        "lat_mean_ms": (s.get("average") or 0) * 1000,
        "p50_ms": (pct.get("p50") or 0) * 1000,
        "p99_ms": (pct.get("p99") or 0) * 1000,
        "p999_ms": (pct.get("p99.9") or 0) * 1000,
    }


async def hold_idle(port, n, tls, ready_path):
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    sem = asyncio.Semaphore(64)
    conns, failed = [], 0

    async def one():
        nonlocal failed
        async with sem:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(
                    "127.0.0.1", port, ssl=ctx, server_hostname=HOST if tls else None), 20)
                w.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 20)
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                if not head.startswith(b"HTTP/1.1 200") or not length:
                    raise OSError("bad response")
                await r.readexactly(int(length.group(1)))
                conns.append((r, w))
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                failed += 1

    await asyncio.gather(*(one() for _ in range(n)))
    with open(ready_path, "w") as f:
        f.write(f"{len(conns)} {failed}")
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def slow_clients(port, n, secs, ready_path, sync):
    """Holds n TLS connections for secs seconds, each misbehaving in one of three ways, and
    reopens those the server closes; writes "opened closed" to ready_path at the end.

    Independent clients act at their own moments: each starts at a random phase of the
    second, so their once-a-second bytes spread over it. With sync, all act in the same
    instant every second (a coordinated attack): the server then takes a burst of ~700 tiny
    reads at once, and requests arriving during it wait for it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sem = asyncio.Semaphore(64)
    end = time.time() + secs
    counts = {"opened": 0, "closed": 0}

    async def misbehave(kind, r, w):
        if kind == 0:  # trickle the head: one header line a second, never the end
            w.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n".encode())
            while time.time() < end:
                w.write(b"X-Slow: 1\r\n")
                await w.drain()
                await asyncio.sleep(1)
        elif kind == 1:  # trickle a body (to a path that reads it all): a byte a second of a MiB
            w.write(f"POST /sink HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 1048576\r\n\r\n"
                    .encode())
            while time.time() < end:
                w.write(b"x")
                await w.drain()
                await asyncio.sleep(1)
        else:  # read a large response slowly
            w.write(f"GET /1m HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            while time.time() < end:
                if not await r.read(1024):
                    return
                await asyncio.sleep(1)

    async def one(i):
        if not sync:
            await asyncio.sleep(random.random())
        while time.time() < end:
            try:
                async with sem:
                    r, w = await asyncio.wait_for(asyncio.open_connection(
                        "127.0.0.1", port, ssl=ctx, server_hostname=HOST), 20)
                counts["opened"] += 1
                await misbehave(i % 3, r, w)
                w.close()
            except (OSError, asyncio.TimeoutError):
                pass
            counts["closed"] += 1
            await asyncio.sleep(0.5)

    await asyncio.gather(*(one(i) for i in range(n)))
    with open(ready_path, "w") as f:
        f.write(f"{counts['opened']} {counts['closed']}")


def slow(chain, opts):
    secs = max(SLOW_SECS, opts.duration)
    quiet = oha(chain, opts, secs, 8, rate=SLOW_RATE)
    done = os.path.join(chain.work, "slow.done")
    pin = ["taskset", "-c", opts.gen_cpu] if opts.gen_cpu is not None else []
    p = subprocess.Popen(pin + [sys.executable, __file__, "--slow-client", str(chain.port),
                                str(SLOW_CONNS), str(secs + 5), done,
                                "sync" if opts.slow_sync else "spread"])
    try:
        time.sleep(5)  # let the attack ramp up before measuring
        r = measured(chain, lambda: oha(chain, opts, secs, 8, rate=SLOW_RATE))
    finally:
        p.wait(secs + 60)
    opened, closed = (int(x) for x in open(done).read().split())
    r.update(slow_rate=SLOW_RATE, slow_conns=SLOW_CONNS, slow_opened=opened, slow_closed=closed,
             slow_sync=opts.slow_sync,
             quiet_p99_ms=quiet["p99_ms"], quiet_errors=quiet["errors"],
             p99_vs_quiet=r["p99_ms"] / max(quiet["p99_ms"], 1e-3))
    return r


# ---- scenarios -----------------------------------------------------------------------------


def measured(chain, fn):
    proxies, origin = chain.pids(chain.proxies), chain.pids(chain.origin)
    perf = None
    if chain.perf:
        data = os.path.join(chain.work, "perf.data")
        perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "1999", "-g",
                                 "-o", data, "-p", ",".join(map(str, proxies))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    c0, o0, t0 = cpu_ticks(proxies), cpu_ticks(origin), time.time()
    r = fn()
    c1, o1, t1 = cpu_ticks(proxies), cpu_ticks(origin), time.time()
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait(60)
        with open(chain.perf, "w") as f:
            for sort in ("comm", "comm,dso", "comm,symbol"):
                subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                                "--sort", sort, "-g", "none", "--percent-limit", "0.3"],
                               stdout=f, stderr=subprocess.DEVNULL)
    n = max(1, r["requests"])
    r["cpu_us_per_req"] = (c1 - c0) * TICK_US / n
    r["origin_cpu_us_per_req"] = (o1 - o0) * TICK_US / n
    r["chain_cpu_util"] = (c1 - c0) * TICK_US / 1e6 / (t1 - t0)
    r["origin_cpu_util"] = (o1 - o0) * TICK_US / 1e6 / (t1 - t0)
    r["generator_cpu_util"] = GEN_UTIL[0]
    r["peak_rss_kb"] = status_kb(proxies, "VmHWM")
    return r


def run_scenario(name, chain, opts, ctx):
    d = opts.duration
    warm = lambda: h2load(chain, opts, 2, 8)  # noqa: E731
    if name in ("h1", "apps100k", "etcd100k"):
        warm()
        return measured(chain, lambda: h2load(chain, opts, d, 32))
    if name == "swaps":
        warm()
        stop = threading.Event()
        swaps = [0]

        def swapper():
            gw = chain.proxies[0].pid
            path = os.path.join(chain.work, "gateway.toml")
            base = open(path).read()
            while not stop.wait(0.1):
                # A real change every time: an app comes and goes.
                n = swaps[0]
                extra = "" if n % 2 else (f'\n[[apps]]\nname = "flip"\nhost = "flip{n}.example.com"'
                                          f'\ninternal_url = "http://10.9.9.9:80"\ngroups = ["g"]\n')
                tmp = path + ".tmp"
                with open(tmp, "w") as f:
                    f.write(base + extra)
                os.replace(tmp, path)
                os.kill(gw, signal.SIGHUP)
                swaps[0] += 1

        before = metric(chain, "switchyard_routing_table_swaps_total")
        t = threading.Thread(target=swapper)
        t.start()
        try:
            r = measured(chain, lambda: h2load(chain, opts, d, 32))
        finally:
            stop.set()
            t.join()
        time.sleep(0.3)
        r["swaps"] = metric(chain, "switchyard_routing_table_swaps_total") - before
        r["swaps_sent"] = swaps[0]
        return r
    if name == "h2":
        warm()
        return measured(chain, lambda: h2load(chain, opts, d, 8, streams=32, h1=False))
    if name == "conn":
        return measured(chain, lambda: h2load(chain, opts, d, 0, conn_rate=CONN_RATE))
    if name == "open":
        warm()
        r = measured(chain, lambda: oha(chain, opts, d, 16, rate=ctx["open_rate"]))
        r["rate"] = ctx["open_rate"]
        return r
    if name == "body1m":
        warm()
        return measured(chain, lambda: h2load(chain, opts, d, 4, path="/1m"))
    if name == "idle":
        return idle(chain, opts)
    if name == "slow":
        return slow(chain, opts)
    raise ValueError(name)


def idle(chain, opts):
    proxies = chain.pids(chain.proxies)
    time.sleep(0.5)
    base = status_kb(proxies, "VmRSS")
    ready = os.path.join(chain.work, "idle.ready")
    pin = ["taskset", "-c", opts.gen_cpu] if opts.gen_cpu is not None else []
    p = subprocess.Popen(pin + [sys.executable, __file__, "--idle-client", str(chain.port),
                                str(IDLE_CONNS), ready], stdin=subprocess.PIPE)
    try:
        end = time.time() + 180
        while not os.path.exists(ready) and time.time() < end and p.poll() is None:
            time.sleep(0.2)
        time.sleep(1.0)
        held, failed = (int(x) for x in open(ready).read().split())
        rss = status_kb(proxies, "VmRSS")
    finally:
        p.stdin.close()
        p.wait(30)
    return {
        "requests": held,
        "errors": failed,
        "rss_base_kb": base,
        "rss_held_kb": rss,
        "kb_per_conn": (rss - base) / max(1, held),
        "peak_rss_kb": status_kb(proxies, "VmHWM"),
    }


def metric(chain, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{chain.metrics}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def applies(scenario, setup):
    if scenario in ("apps100k", "swaps", "etcd100k"):
        return setup == "switchyard"
    if scenario in ("h2", "idle", "slow"):
        return setup not in PLAIN
    return True


# ---- certificates and machine --------------------------------------------------------------


def make_cert(work):
    d = os.path.join(work, "pki")
    os.makedirs(d)

    def sh(*args):
        subprocess.run(args, check=True, cwd=d, capture_output=True)

    sh("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-out", "ca.key")
    sh("openssl", "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=loadtest CA",
       "-days", "7", "-out", "ca.pem")
    sh("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-out", "key.pem")
    sh("openssl", "req", "-new", "-key", "key.pem", "-subj", f"/CN={HOST}", "-out", "leaf.csr")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write(f"subjectAltName=DNS:{HOST}\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    sh("openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-days", "7", "-extfile", "ext.cnf", "-out", "cert.pem")
    with open(os.path.join(d, "bundle.pem"), "w") as f:
        f.write(open(os.path.join(d, "cert.pem")).read() + open(os.path.join(d, "key.pem")).read())
    return {k: os.path.join(d, v) for k, v in
            (("ca", "ca.pem"), ("cert", "cert.pem"), ("key", "key.pem"), ("bundle", "bundle.pem"))}


def version(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "not found"


def machine(opts):
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_mib": mem,
        "kernel": platform.release().split("-")[0],
        "chain_cpu": opts.chain_cpu,
        "generator_cpu": opts.gen_cpu,
        "versions": {
            "switchyard": version([opts.bin, "--version"]),
            "nginx": version(["nginx", "-v"]),
            "haproxy": version(["haproxy", "-v"]),
            "rathole": version(["rathole", "--version"]),
            "h2load": version(["h2load", "--version"]),
            "oha": version(["oha", "--version"]),
            "openssl": version(["openssl", "version"]),
        },
    }


# ---- the run -------------------------------------------------------------------------------


def one_run(setup, scenario, cert, opts, ctx):
    work = tempfile.mkdtemp(prefix=f"sy-{setup}-")
    os.chmod(work, 0o755)  # nginx workers drop root and read the origin's files
    chain = Chain(work, opts.chain_cpu)
    if opts.perf:
        os.makedirs(opts.out, exist_ok=True)
        chain.perf = os.path.join(opts.out, f"perf-{setup}-{scenario}.txt")
    try:
        if scenario == "apps100k":
            setup_switchyard(chain, work, cert, opts, apps=100_000)
        elif scenario == "etcd100k":
            setup_etcd100k(chain, work, cert, opts)
        else:
            SETUP_FNS[setup](chain, work, cert, opts)
        r = run_scenario(scenario, chain, opts, ctx)
        r.update(getattr(chain, "extra", {}))
        for p in chain.proxies + chain.origin:
            if p.poll() is not None:
                r["errors"] = r.get("errors", 0) + 1
                r["died"] = p.args[-1] if isinstance(p.args, list) else str(p.args)
        return r
    finally:
        chain.stop()
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    ap.add_argument("--setups", default=",".join(SETUPS))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "switchyard"))
    ap.add_argument("--out", default=os.path.join(ROOT, "loadtest", "results"))
    ap.add_argument("--name", default=datetime.date.today().isoformat())
    ap.add_argument("--keep", action="store_true", help="keep the work folders")
    ap.add_argument("--open-rate", type=int,
                    help="requests/s of the open-loop scenario (default: half the slowest "
                         "setup's h1 median of this run)")
    ap.add_argument("--perf", action="store_true",
                    help="profile the proxies of every measured run with perf (perf-*.txt)")
    ap.add_argument("--idle-client", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--slow-sync", action="store_true",
                    help="slow scenario: every slow client acts in the same instant each second "
                         "(a coordinated attack) instead of at its own phase")
    ap.add_argument("--slow-client", nargs=5, help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.slow_client:
        port, n, secs, done, phase = opts.slow_client
        asyncio.run(slow_clients(int(port), int(n), float(secs), done, phase == "sync"))
        return
    if opts.idle_client:
        port, n, ready = opts.idle_client
        asyncio.run(hold_idle(int(port), int(n), True, ready))
        return
    cpus = sorted(os.sched_getaffinity(0))
    opts.gen_cpu = str(cpus[0]) if len(cpus) > 1 else None
    opts.chain_cpu = str(cpus[-1]) if len(cpus) > 1 else None
    setups = [s for s in opts.setups.split(",") if s]
    scenarios = [s for s in opts.scenarios.split(",") if s]
    for s in setups:
        if s not in SETUP_FNS:
            sys.exit(f"unknown setup {s!r}; known: {', '.join(SETUPS)}")
    for s in scenarios:
        if s not in SCENARIOS:
            sys.exit(f"unknown scenario {s!r}; known: {', '.join(SCENARIOS)}")
    if "open" in scenarios and "h1" not in scenarios and not opts.open_rate:
        sys.exit("scenario open needs h1 (its rate is half the slowest setup's h1 peak) "
                 "or --open-rate")
    tools = ["nginx", "h2load", "oha", "openssl", "taskset"]
    tools += ["haproxy"] * ("haproxy2" in setups) + ["rathole"] * ("rathole" in setups)
    tools += ["etcd"] * ("etcd100k" in scenarios)
    for tool in tools:
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing (loadtest/run installs it)")
    if not os.path.exists(opts.bin):
        sys.exit(f"{opts.bin} is missing: cargo build --release")

    root_work = tempfile.mkdtemp(prefix="sy-pki-")
    cert = make_cert(root_work)
    runs, ctx = [], {}
    started = time.time()
    for rnd in range(opts.rounds):
        for scenario in scenarios:
            order = [s for s in setups if applies(scenario, s)]
            random.shuffle(order)
            if scenario == "open" and opts.open_rate:
                ctx["open_rate"] = opts.open_rate
            elif scenario == "open":
                peaks = {}
                for r in runs:
                    if r["scenario"] == "h1" and "rps" in r:
                        peaks.setdefault(r["setup"], []).append(r["rps"])
                slowest = min(statistics.median(v) for v in peaks.values())
                ctx["open_rate"] = max(100, int(slowest / 2))
            for setup in order:
                log(f"round {rnd + 1}/{opts.rounds} {scenario} {setup}")
                try:
                    r = one_run(setup, scenario, cert, opts, ctx)
                except Exception as e:  # a failed run is recorded, the suite goes on
                    r = {"failed": str(e)[:500], "errors": 1}
                    log(f"  FAILED: {e}")
                r.update(round=rnd + 1, scenario=scenario, setup=setup)
                runs.append(r)
                log("  " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                     for k, v in r.items() if k not in ("round", "scenario", "setup")))
    shutil.rmtree(root_work, ignore_errors=True)
    result = {
        "name": opts.name,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(opts),
        "rounds": opts.rounds,
        "duration_s": opts.duration,
        "wall_s": round(time.time() - started),
        "scenarios": {k: SCENARIOS[k] for k in scenarios},
        "open_rate": ctx.get("open_rate"),
        "runs": runs,
    }
    os.makedirs(opts.out, exist_ok=True)
    path = os.path.join(opts.out, f"{opts.name}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import report  # noqa: E402

    md = report.write(result, opts.out)
    log(f"wrote {path} and {md}")


if __name__ == "__main__":
    main()
