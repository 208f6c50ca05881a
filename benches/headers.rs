//! Header translation on the request path, with a realistic browser request (13 headers:
//! cookie, user-agent, accept-*, sec-fetch-*, …) and origin response (12 headers):
//! - `headers/upstream_request/{base_path,plain}`: `edge::headers::upstream_request`, the
//!   request sent through the tunnel built from pingora's `RequestHeader` (hop-by-hop and Host
//!   removed, `X-Forwarded-*` and the control headers added), for an app whose internal URL has
//!   a base path (`/w/…` → `/wiki/…`) and for one without;
//! - `headers/downstream_response/{200,302_location}`: `edge::headers::downstream_response`,
//!   the user's response header built from the origin's (a page; a redirect whose `Location`
//!   points at the internal URL and is rewritten);
//! - `rewrite/map_path/{base_path,plain}` and `rewrite/rewrite_location/{internal,foreign}`:
//!   `Route::map_path` and `Route::rewrite_location` alone.
//!
//! Run: `cargo bench --bench headers` (quick: `-- --warm-up-time 1 --measurement-time 2`).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pingora::http::RequestHeader;
use switchyard::edge::headers::{downstream_response, upstream_request, Outbound};
use switchyard::routing::{Route, RoutingTable};

#[path = "support/catalog.rs"]
mod fixture;

const EXTERNAL: &str = "wiki.example.com";
const TARGET: &str = "/w/Main_Page?action=history&offset=20";
const INTERNAL_LOCATION: &str = "http://10.1.2.3:8080/wiki/Special:UserLogin?returnto=Main_Page";

/// What Chrome sends for a top-level navigation over HTTP/1.1.
const BROWSER_REQUEST: &[(&str, &str)] = &[
    ("Host", EXTERNAL),
    ("Connection", "keep-alive"),
    ("Cache-Control", "max-age=0"),
    ("Upgrade-Insecure-Requests", "1"),
    (
        "User-Agent",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/124.0.0.0 Safari/537.36",
    ),
    (
        "Accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,\
         image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    ),
    ("Sec-Fetch-Site", "same-origin"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-Dest", "document"),
    ("Referer", "https://wiki.example.com/w/Main_Page"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Accept-Language", "en-GB,en;q=0.9,fr;q=0.8"),
    (
        "Cookie",
        "wiki_session=9b1c2f7e4d8a6b3c0e5f1a2d7c4b8e6f; wikiUserID=4182; wikiUserName=Alice; \
         _ga=GA1.1.1234567890.1700000000; theme=dark",
    ),
];

/// A dynamic page as a typical origin answers it.
const ORIGIN_PAGE: &[(&str, &str)] = &[
    ("date", "Tue, 14 May 2024 09:21:07 GMT"),
    ("server", "Apache/2.4.59 (Debian)"),
    ("content-type", "text/html; charset=UTF-8"),
    ("content-length", "48213"),
    ("content-encoding", "gzip"),
    ("vary", "Accept-Encoding, Cookie"),
    ("cache-control", "private, must-revalidate, max-age=0"),
    ("last-modified", "Tue, 14 May 2024 08:02:51 GMT"),
    ("x-content-type-options", "nosniff"),
    (
        "set-cookie",
        "wiki_session=9b1c2f7e4d8a6b3c0e5f1a2d7c4b8e6f; path=/; HttpOnly",
    ),
    (
        "set-cookie",
        "wikiUserID=4182; expires=Thu, 13 Jun 2024 09:21:07 GMT; path=/",
    ),
    ("keep-alive", "timeout=5, max=100"),
];

fn routes() -> (Arc<Route>, Arc<Route>) {
    let mut catalog = fixture::catalog(0, 1);
    catalog.apps.push(fixture::app(
        "wiki",
        EXTERNAL,
        Some("/w"),
        "http://10.1.2.3:8080/wiki",
    ));
    catalog.apps.push(fixture::app(
        "plain",
        "plain.example.com",
        None,
        "http://10.1.2.4:8080",
    ));
    let table = RoutingTable::compile(&catalog, 1).expect("compiles");
    let route = |host: &str| table.lookup(host, TARGET).expect("routed").clone();
    (route(EXTERNAL), route("plain.example.com"))
}

fn browser_request() -> RequestHeader {
    let mut req = RequestHeader::build("GET", TARGET.as_bytes(), Some(BROWSER_REQUEST.len()))
        .expect("request line");
    for (name, value) in BROWSER_REQUEST {
        req.append_header(*name, *value).expect("valid header");
    }
    req
}

fn origin_response(status: u16, headers: &[(&str, &str)]) -> http::Response<()> {
    headers
        .iter()
        .fold(http::Response::builder().status(status), |b, (n, v)| {
            b.header(*n, *v)
        })
        .body(())
        .expect("valid response")
}

fn headers(c: &mut Criterion) {
    let (wiki, plain) = routes();
    let req = browser_request();
    let mut group = c.benchmark_group("headers");
    for (id, route) in [("base_path", &wiki), ("plain", &plain)] {
        let out = Outbound {
            route,
            external_authority: EXTERNAL,
            client_ip: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7))),
            upgrade: None,
        };
        group.bench_function(BenchmarkId::new("upstream_request", id), |b| {
            b.iter(|| upstream_request(black_box(&req), black_box(&out)).expect("forwardable"))
        });
    }

    let page = origin_response(200, ORIGIN_PAGE);
    let redirect = origin_response(
        302,
        &[
            ("date", "Tue, 14 May 2024 09:21:07 GMT"),
            ("server", "Apache/2.4.59 (Debian)"),
            ("location", INTERNAL_LOCATION),
            ("content-type", "text/html; charset=UTF-8"),
            ("content-length", "0"),
            ("cache-control", "private, must-revalidate, max-age=0"),
            ("vary", "Accept-Encoding, Cookie"),
            (
                "set-cookie",
                "wiki_session=9b1c2f7e4d8a6b3c0e5f1a2d7c4b8e6f; path=/; HttpOnly",
            ),
        ],
    );
    for (id, resp) in [("200", &page), ("302_location", &redirect)] {
        group.bench_function(BenchmarkId::new("downstream_response", id), |b| {
            b.iter(|| {
                downstream_response(black_box(resp), &wiki, black_box(EXTERNAL), None, true)
                    .expect("translatable")
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("rewrite");
    for (id, route) in [("base_path", &wiki), ("plain", &plain)] {
        group.bench_function(BenchmarkId::new("map_path", id), |b| {
            b.iter(|| route.map_path(black_box(TARGET)))
        });
    }
    let foreign = "https://login.example.net/authorize?client_id=wiki";
    for (id, location) in [("internal", INTERNAL_LOCATION), ("foreign", foreign)] {
        group.bench_function(BenchmarkId::new("rewrite_location", id), |b| {
            b.iter(|| wiki.rewrite_location(black_box(location), black_box(EXTERNAL)))
        });
    }
    group.finish();
}

criterion_group!(benches, headers);
criterion_main!(benches);
