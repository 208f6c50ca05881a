#!/usr/bin/env python3
"""Turns a suite result (`loadtest/results/<name>.json`) into `<name>.md` and SVG charts.

    python3 loadtest/report.py loadtest/results/<name>.json

The suite calls it at the end of a run; calling it again rewrites the report from the JSON.
"""

import json
import os
import statistics
import sys
from html import escape

ORDER = ["direct", "switchyard", "nginx2", "haproxy2", "nginx1", "rathole"]
LABEL = {
    "direct": "direct (plain)",
    "switchyard": "Switchyard",
    "nginx2": "nginx 2 hops",
    "haproxy2": "HAProxy 2 hops",
    "nginx1": "nginx 1 hop",
    "rathole": "rathole (plain)",
}
COLOR = {
    "direct": "#9e9e9e",
    "switchyard": "#d95f02",
    "nginx2": "#1b9e77",
    "haproxy2": "#7570b3",
    "nginx1": "#66a61e",
    "rathole": "#e6ab02",
}
SCEN_LABEL = {
    "h1": "HTTP/1.1 keep-alive",
    "h2": "HTTP/2 many streams",
    "conn": "new connection per request",
    "open": "open loop, half load",
    "body1m": "1 MiB bodies",
    "idle": "9,800 idle TLS connections",
    "apps100k": "h1, 100k apps",
    "swaps": "h1, table swap every 100 ms",
    "etcd100k": "100k apps in etcd",
    "slow": "1,000 slow clients beside normal traffic",
}


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def summarize(result):
    """(scenario, setup) -> metric -> (median, min, max); errors are summed."""
    cells = {}
    for r in result["runs"]:
        cells.setdefault((r["scenario"], r["setup"]), []).append(r)
    out = {}
    for key, runs in cells.items():
        ok = [r for r in runs if "failed" not in r]
        m = {"runs": len(runs), "failed": len(runs) - len(ok),
             "errors": sum(r.get("errors", 0) for r in runs)}
        for k in ("rps", "mbps", "lat_mean_ms", "p50_ms", "p99_ms", "p999_ms", "cpu_us_per_req",
                  "origin_cpu_us_per_req", "chain_cpu_util", "peak_rss_kb", "kb_per_conn",
                  "swaps", "origin_cpu_util", "generator_cpu_util", "quiet_p99_ms",
                  "p99_vs_quiet", "startup_s", "first_200_s", "startup_rss_kb",
                  "write_to_route_ms"):
            s = stats([r.get(k) for r in ok])
            if s:
                m[k] = s
        out[key] = m
    return out


def fmt(s, digits=0, scale=1.0):
    if not s:
        return "–"
    med, lo, hi = (v * scale for v in s)
    if lo == hi:
        return f"{med:,.{digits}f}"
    return f"{med:,.{digits}f} ({lo:,.{digits}f}–{hi:,.{digits}f})"


def busy(m):
    """Share of its core the chain (proxies + origin) and the generator kept busy."""
    chain = (m.get("chain_cpu_util") or (0, 0, 0))[0] + (m.get("origin_cpu_util") or (0,))[0]
    g = m.get("generator_cpu_util")
    return f"{chain:.0%} / {g[0]:.0%}" if g else f"{chain:.0%} / –"


def med(summary, scen, setup, key):
    s = summary.get((scen, setup), {}).get(key)
    return s[0] if s else None


# ---- SVG -----------------------------------------------------------------------------------


def bar_chart(title, groups, unit, path, lower_is_better=False):
    """Horizontal bars; each group (a scenario) is scaled to its own largest value.
    groups: [(group label, [(setup, (median, min, max))])]"""
    row, gap, left, width = 18, 26, 150, 420
    height = 40 + sum(gap + row * len(rows) for _, rows in groups) + 20
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 170}" '
           f'height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="15" font-weight="bold">{escape(title)}</text>',
           f'<text x="10" y="36" fill="#555">{escape(unit)}; '
           f'{"lower" if lower_is_better else "higher"} is better; whiskers: min–max over '
           'rounds</text>']
    y = 40
    for label, rows in groups:
        y += gap
        svg.append(f'<text x="10" y="{y - 6}" font-weight="bold">{escape(label)}</text>')
        top = max((s[2] for _, s in rows), default=1) or 1
        for setup, (m, lo, hi) in rows:
            w = width * m / top
            svg.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">'
                       f'{escape(LABEL.get(setup, setup))}</text>')
            svg.append(f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 4}" '
                       f'fill="{COLOR.get(setup, "#444")}"/>')
            x0, x1 = left + width * lo / top, left + width * hi / top
            svg.append(f'<line x1="{x0:.1f}" x2="{x1:.1f}" y1="{y + row / 2}" '
                       f'y2="{y + row / 2}" stroke="black"/>')
            svg.append(f'<text x="{max(w, x1 - left) + left + 6:.1f}" y="{y + 13}">'
                       f'{m:,.{0 if top >= 100 else 1}f}</text>')
            y += row
    svg.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(svg))


def latency_chart(title, rows, path):
    """Grouped bars of p50 / p99 / p99.9 per setup on a log scale (ms)."""
    import math

    pcts = [("p50_ms", "p50", "#a6cee3"), ("p99_ms", "p99", "#1f78b4"),
            ("p999_ms", "p99.9", "#08306b")]
    left, width, row = 150, 420, 14
    values = [s[0] for _, m in rows for k, _, _ in pcts if (s := m.get(k)) and s[0] > 0]
    if not values:
        return
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    span = math.log10(hi) - math.log10(lo) or 1

    def x(v):
        return left + width * (math.log10(max(v, lo)) - math.log10(lo)) / span

    height = 60 + len(rows) * (row * 3 + 14) + 30
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 120}" '
           f'height="{height}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="15" font-weight="bold">{escape(title)}</text>',
           '<text x="10" y="36" fill="#555">milliseconds, log scale; lower is better</text>']
    y = 50
    for setup, m in rows:
        svg.append(f'<text x="{left - 6}" y="{y + row * 2}" text-anchor="end">'
                   f'{escape(LABEL.get(setup, setup))}</text>')
        for k, name, color in pcts:
            s = m.get(k)
            if s:
                svg.append(f'<rect x="{left}" y="{y}" width="{x(s[0]) - left:.1f}" '
                           f'height="{row - 2}" fill="{color}"/>')
                svg.append(f'<text x="{x(s[0]) + 4:.1f}" y="{y + row - 3}" font-size="10">'
                           f'{name} {s[0]:.2f}</text>')
            y += row
        y += 14
    decade = lo
    while decade <= hi:
        svg.append(f'<line x1="{x(decade):.1f}" x2="{x(decade):.1f}" y1="44" y2="{y}" '
                   'stroke="#ccc"/>')
        svg.append(f'<text x="{x(decade):.1f}" y="{y + 14}" text-anchor="middle" '
                   f'font-size="10">{decade:g}</text>')
        decade *= 10
    svg.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(svg))


# ---- markdown ------------------------------------------------------------------------------


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def write(result, out_dir):
    name = result["name"]
    summary = summarize(result)
    scenarios = list(result["scenarios"])
    setups = [s for s in ORDER if any(k[1] == s for k in summary)]
    lines = [f"# Switchyard load test — {name}", ""]
    mach = result["machine"]
    lines += [
        f"Run {result['date']}: {result['rounds']} rounds, {result['duration_s']} s per "
        f"measured run, {result['wall_s'] // 60} min in all.",
        "",
        f"Machine: {mach['cpu']}, {mach['cores']} cores, {mach['memory_mib']:,} MiB, Linux "
        f"{mach['kernel']}. The chain under test (proxies and origin) runs on CPU "
        f"{mach['chain_cpu']}, the load generator on CPU {mach['generator_cpu']}.",
        "",
        "Versions: " + "; ".join(f"{k}: {v}" for k, v in mach["versions"].items()) + ".",
        "",
        "Setups (same ECDSA P-256 certificate, TLS 1.3 only, one worker thread each, upstream "
        "keep-alive, access logs off; the origin is one nginx worker returning a 22-byte body, "
        "or a 1 MiB file):",
        "",
        "- **direct (plain)**: client → origin over plain HTTP: the physical limit.",
        "- **Switchyard**: client → gateway (TLS) → HTTP/2 tunnel (TLS) → connector → origin.",
        "- **nginx 2 hops**: client → nginx edge (TLS) → internal nginx (TLS, pooled) → origin.",
        "- **HAProxy 2 hops**: client → HAProxy edge (TLS) → internal HAProxy (TLS, pooled) → "
        "origin.",
        "- **nginx 1 hop**: client → nginx (TLS) → origin: the floor for a TLS-terminating "
        "proxy.",
        "- **rathole (plain)**: client → rathole server → rathole client → origin, plain HTTP "
        "over a plain TCP transport: no TLS anywhere.",
        "",
        "Each cell: median over rounds, (min–max) when they differ. CPU-µs/request is the CPU "
        "time of every proxy process of the chain (user + system, from /proc) divided by the "
        "requests served; the origin's share is listed apart. Peak RSS is the sum of the "
        "proxies' VmHWM during the run. 'Core busy' tells which side bounded a closed-loop "
        "run: a chain near 100 % is the chain's limit; a chain well below it with a busy "
        "generator means the generator's core was the limit, and CPU-µs/request is then the "
        "figure to compare.",
        "",
    ]
    rates = sorted({r["rate"] for r in result["runs"] if r.get("rate")})
    rate_text = (f"{rates[0]:,}" if len(rates) == 1 else f"{rates[0]:,}–{rates[-1]:,}"
                 ) if rates else None
    if rate_text:
        lines += [f"Open-loop rate: {rate_text} requests/s (each round: half the slowest "
                  "setup's median HTTP/1.1 peak so far; every setup of a round gets the same "
                  "rate), latency-corrected.", ""]

    for scen in scenarios:
        rows = [(s, summary[(scen, s)]) for s in setups if (scen, s) in summary]
        if not rows:
            continue
        lines += [f"## {SCEN_LABEL.get(scen, scen)}", "", result["scenarios"][scen], ""]
        if scen == "idle":
            lines += ["| setup | KiB per idle connection | peak RSS MiB | failed conns |",
                      "|---|---:|---:|---:|"]
            for s, m in rows:
                lines.append(f"| {LABEL[s]} | {fmt(m.get('kb_per_conn'), 1)} | "
                             f"{fmt(m.get('peak_rss_kb'), 1, 1 / 1024)} | {m['errors']} |")
        else:
            lat_cols = scen in ("open", "slow")
            head = "| setup | req/s | CPU-µs/req (proxies) | origin CPU-µs/req |"
            head += " p50 ms | p99 ms | p99.9 ms |" if lat_cols else " mean latency ms |"
            if scen == "conn":
                head += " handshakes/s per core (1 s ÷ CPU-µs) |"
            if scen == "body1m":
                head += " MB/s |"
            if scen == "swaps":
                head += " swaps |"
            if scen == "slow":
                head += " quiet p99 ms | p99 ÷ quiet |"
            head += " core busy: chain / generator | peak RSS MiB | errors |"
            lines += [head, "|---" + "|---:" * (head.count("|") - 2) + "|"]
            for s, m in rows:
                cells = [LABEL[s], fmt(m.get("rps")), fmt(m.get("cpu_us_per_req"), 1),
                         fmt(m.get("origin_cpu_us_per_req"), 1)]
                if lat_cols:
                    cells += [fmt(m.get("p50_ms"), 2), fmt(m.get("p99_ms"), 2),
                              fmt(m.get("p999_ms"), 2)]
                else:
                    cells.append(fmt(m.get("lat_mean_ms"), 2))
                if scen == "conn":
                    c = m.get("cpu_us_per_req")
                    cells.append(f"{1e6 / c[0]:,.0f}" if c and c[0] > 0 else "–")
                if scen == "body1m":
                    cells.append(fmt(m.get("mbps")))
                if scen == "swaps":
                    cells.append(fmt(m.get("swaps")))
                if scen == "slow":
                    cells += [fmt(m.get("quiet_p99_ms"), 2), fmt(m.get("p99_vs_quiet"), 2)]
                cells.append(busy(m))
                cells += [fmt(m.get("peak_rss_kb"), 1, 1 / 1024),
                          str(m["errors"]) + (f" ({m['failed']} runs failed)" if m["failed"]
                                              else "")]
                lines.append("| " + " | ".join(cells) + " |")
        if scen == "etcd100k":
            for s, m in rows:
                lines += ["", f"{LABEL[s]}: start-up on the catalog in etcd (list + compile, "
                          f"to the HTTPS port listening) {fmt(m.get('startup_s'), 2)} s, first "
                          f"200 through the connector {fmt(m.get('first_200_s'), 2)} s, peak "
                          f"RSS at start {fmt(m.get('startup_rss_kb'), 1, 1 / 1024)} MiB; one "
                          "app written in etcd to the gateway routing by it "
                          f"{fmt(m.get('write_to_route_ms'), 1)} ms (median of 5)."]
        lines.append("")

    # Ratios: Switchyard against each peer.
    sy = "switchyard"
    peers = [s for s in setups if s != sy]
    if (("h1", sy) in summary) and peers:
        lines += ["## Switchyard against each peer", "",
                  "Ratios of medians; for req/s above 1 is better for Switchyard, for CPU-µs "
                  "and memory below 1 is better.", "",
                  "| measure | " + " | ".join(LABEL[p] for p in peers) + " |",
                  "|---" + "|---:" * len(peers) + "|"]
        for scen, key, what in (("h1", "rps", "HTTP/1.1 req/s"),
                                ("h1", "cpu_us_per_req", "HTTP/1.1 CPU-µs/req"),
                                ("h2", "rps", "HTTP/2 req/s"),
                                ("h2", "cpu_us_per_req", "HTTP/2 CPU-µs/req"),
                                ("conn", "rps", "new connections/s"),
                                ("conn", "cpu_us_per_req", "CPU-µs per new connection"),
                                ("open", "p99_ms", "p99 at half load"),
                                ("body1m", "rps", "1 MiB bodies/s"),
                                ("idle", "kb_per_conn", "KiB per idle connection")):
            if scen not in scenarios:
                continue
            a = med(summary, scen, sy, key)
            lines.append(f"| {what} | " +
                         " | ".join(ratio(a, med(summary, scen, p, key)) for p in peers) + " |")
        lines.append("")
        lines += targets(summary)

    # Charts.
    charts = []
    groups = []
    for scen in ("h1", "h2", "conn", "body1m", "apps100k", "swaps"):
        rows = [(s, summary[(scen, s)]["rps"]) for s in setups
                if (scen, s) in summary and "rps" in summary[(scen, s)]]
        if rows:
            groups.append((SCEN_LABEL[scen], rows))
    if groups:
        bar_chart("Requests per second", groups, "requests/s (new connections/s for 'new "
                  "connection per request')", os.path.join(out_dir, f"{name}-rps.svg"))
        charts.append(("Requests per second", f"{name}-rps.svg"))
    groups = []
    for scen in ("h1", "h2", "conn", "body1m"):
        rows = [(s, summary[(scen, s)]["cpu_us_per_req"]) for s in setups
                if (scen, s) in summary and "cpu_us_per_req" in summary[(scen, s)]]
        if rows:
            groups.append((SCEN_LABEL[scen], rows))
    if groups:
        bar_chart("CPU time per request, all proxy processes of the chain", groups,
                  "CPU-µs per request (origin excluded)",
                  os.path.join(out_dir, f"{name}-cpu.svg"), lower_is_better=True)
        charts.append(("CPU-µs per request", f"{name}-cpu.svg"))
    rows = [(s, summary[("open", s)]) for s in setups if ("open", s) in summary]
    if rows:
        latency_chart(f"Latency at {rate_text or '?'} req/s, open loop", rows,
                      os.path.join(out_dir, f"{name}-latency.svg"))
        charts.append(("Latency percentiles", f"{name}-latency.svg"))
    if charts:
        lines += ["## Charts", ""] + [f"![{t}]({f})" for t, f in charts] + [""]

    path = os.path.join(out_dir, f"{name}.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def targets(summary):
    sy = "switchyard"

    def get(scen, setup, key):
        return med(summary, scen, setup, key)

    rows = []

    def add(what, value, ok):
        rows.append(f"| {what} | {value} | {'yes' if ok else 'no' if ok is not None else '–'} |")

    a, b = get("h1", sy, "cpu_us_per_req"), get("h1", "nginx2", "cpu_us_per_req")
    add("CPU-µs/req (h1) ≤ nginx 2 hops", f"{a or 0:.1f} vs {b or 0:.1f}",
        None if a is None or b is None else a <= b)
    a, b = get("h2", sy, "cpu_us_per_req"), get("h2", "nginx2", "cpu_us_per_req")
    add("CPU-µs/req (h2) ≤ nginx 2 hops", f"{a or 0:.1f} vs {b or 0:.1f}",
        None if a is None or b is None else a <= b)
    a, b = get("h1", sy, "rps"), get("h1", "nginx2", "rps")
    add("req/s (h1) ≥ nginx 2 hops", f"{a or 0:,.0f} vs {b or 0:,.0f}",
        None if a is None or b is None else a >= b)
    c = get("h1", "rathole", "rps")
    add("req/s (h1) ≥ 2× rathole", f"{a or 0:,.0f} vs 2 × {c or 0:,.0f}",
        None if a is None or c is None else a >= 2 * c)
    a, b = get("conn", sy, "cpu_us_per_req"), get("conn", "nginx1", "cpu_us_per_req")
    add("handshake capacity ≥ 1.5× nginx 1 hop (1 s / CPU-µs per new connection)",
        f"{1e6 / a if a else 0:,.0f}/s vs {1e6 / b if b else 0:,.0f}/s",
        None if not a or not b else (1e6 / a) >= 1.5 * (1e6 / b))
    a, b = get("conn", sy, "rps"), get("conn", "nginx1", "rps")
    add("new connections/s measured (generator-bound when both equal)",
        f"{a or 0:,.0f} vs {b or 0:,.0f}", None if a is None or b is None else a >= 1.5 * b)
    a, b = get("open", sy, "p99_ms"), get("open", "direct", "p99_ms")
    e = summary.get(("open", sy), {}).get("errors")
    add("p99 added over direct at half load ≤ 1 ms, zero errors",
        f"{(a or 0) - (b or 0):.2f} ms, {e} errors",
        None if a is None or b is None else (a - b) <= 1.0 and e == 0)
    e = summary.get(("swaps", sy), {}).get("errors")
    add("zero errors during swaps", f"{e} errors", None if e is None else e == 0)
    return ["## Targets", "", "| target | measured | met |", "|---|---|---|"] + rows + [
        "", "Route lookup under 100 ns at 100k apps: see `cargo bench --bench routing`.", ""]


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        res = json.load(f)
    print(write(res, os.path.dirname(os.path.abspath(sys.argv[1]))))
