#!/usr/bin/env bash
# A short local load run through the quickstart: builds the release binary, starts the
# quickstart on free loopback ports, drives hello.localhost with h2load (HTTP/2 and
# HTTP/1.1 over TLS, keep-alive), prints requests/s and latency, and stops everything.
#
#   loadtest/quick.sh [seconds] [clients] [streams-per-client]
#
# Needs h2load (Debian package nghttp2-client). Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
clients=${2:-16}
streams=${3:-8}
command -v h2load >/dev/null || { echo "h2load missing: apt-get install nghttp2-client" >&2; exit 2; }

cargo build --release --quiet
bin=target/release/switchyard
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
https=$(free_port)
metrics=$(free_port)
RUST_LOG=warn "$bin" quickstart --https "127.0.0.1:$https" --metrics "127.0.0.1:$metrics" \
  --dir "$work" >"$work/out.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'Ctrl-C' "$work/out.log" 2>/dev/null && break; sleep 0.1; done

url="https://hello.localhost:$https/"
echo "== HTTP/2: $clients connections x $streams streams, ${secs}s"
h2load -D "$secs" -c "$clients" -m "$streams" --connect-to="127.0.0.1:$https" "$url" | \
  grep -E 'requests:|finished in|time for request|req/s'
echo "== HTTP/1.1: $clients keep-alive connections, ${secs}s"
h2load --h1 -D "$secs" -c "$clients" --connect-to="127.0.0.1:$https" "$url" | \
  grep -E 'requests:|finished in|time for request|req/s'
echo "== gateway + connectors RSS (KiB): $(ps -o rss= -p "$pid")"
