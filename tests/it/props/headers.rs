//! Header rewriting at the edge: hop-by-hop and `Connection`-listed headers never cross,
//! client control headers are dropped, Host becomes the internal (or preserved) authority,
//! `X-Forwarded-*` are set, everything else passes in order; `Location` pointing at the
//! internal URL maps back to the external path (a round trip with the path mapping); and
//! any Host bytes are judged as the documented rule says.

use std::net::IpAddr;
use std::time::Duration;

use http::header::{HeaderMap, HeaderValue};
use pingora::http::RequestHeader;
use proptest::prelude::*;
use proptest::sample::select;
use switchyard::edge::headers::{
    downstream_response, external_authority, upstream_request, Outbound,
};
use switchyard::routing::{InternalUrl, Route};

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

const NAMES: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "host",
    "switchyard-host",
    "switchyard-error",
    "switchyard-origin-insecure",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "accept",
    "cookie",
    "x-a",
    "x-b",
    "location",
    "content-location",
    "content-length",
];

const TOKENS: &[&str] = &[
    "close",
    "keep-alive",
    "x-a",
    "X-B",
    "cookie",
    "upgrade",
    "",
    " accept ",
    "trailers",
    "Trailers",
    "gzip",
    "b@d",
];

/// A header value: a list of tokens for the list-valued headers, any visible text otherwise.
fn header() -> impl Strategy<Value = (&'static str, String)> {
    (
        select(NAMES),
        prop::collection::vec(select(TOKENS), 0..4),
        "[ -~]{0,12}",
    )
        .prop_map(|(name, tokens, text)| match name {
            "connection" | "te" => (name, tokens.join(",")),
            _ => (name, text),
        })
}

/// Path prefix segments, internal base path segments, scheme, host, port, options.
type RouteParts = (
    Option<Vec<&'static str>>,
    Option<Vec<&'static str>>,
    bool,
    &'static str,
    Option<u16>,
    [bool; 2],
);

fn route_parts() -> impl Strategy<Value = RouteParts> {
    let segs = || {
        prop::option::of(prop::collection::vec(
            select(&["a", "wiki", "v1"][..]),
            0..3,
        ))
    };
    (
        segs(),
        segs(),
        any::<bool>(),
        select(&["10.0.0.1", "app.internal", "[::1]"][..]),
        prop::option::of(prop_oneof![Just(80u16), Just(443u16), 1u16..10_000]),
        any::<[bool; 2]>(),
    )
}

fn route(parts: &RouteParts) -> Route {
    let (prefix, base, https, host, port, [preserve_host, verify]) = parts;
    let join = |s: &Vec<&str>| format!("/{}", s.join("/"));
    let authority = match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    Route {
        app: "app".into(),
        host: "ext.example.test".into(),
        path_prefix: prefix.as_ref().map(join),
        internal: InternalUrl {
            scheme: if *https {
                http::uri::Scheme::HTTPS
            } else {
                http::uri::Scheme::HTTP
            },
            authority: authority.parse().expect("generated authority"),
            base_path: base.as_ref().map(join).filter(|b| b != "/"),
        },
        groups: vec!["g".into()],
        preserve_host: *preserve_host,
        backend_timeout: Duration::from_secs(5),
        origin_tls_verify: *verify,
        min_live: 1,
        affinity: None,
    }
}

/// Lowercase names listed in every `Connection` value.
fn listed(headers: &[(&str, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| *n == "connection")
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect()
}

fn values<'a>(map: &'a HeaderMap, name: &str) -> Vec<&'a [u8]> {
    map.get_all(name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect()
}

/// What the origin must see under `name`, worked out from the client's headers.
fn reference_upstream(
    headers: &[(&str, String)],
    name: &str,
    route: &Route,
    external: &str,
    ip: Option<IpAddr>,
) -> Vec<String> {
    let given = || -> Vec<String> {
        headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    match name {
        "switchyard-host" if route.preserve_host => vec![external.to_string()],
        "switchyard-host" => vec![route.internal.authority.to_string()],
        "switchyard-origin-insecure" if !route.origin_tls_verify => vec!["1".into()],
        "x-forwarded-proto" => vec!["https".into()],
        "x-forwarded-host" => vec![external.to_string()],
        "x-forwarded-for" if ip.is_some() => {
            let ip = ip.map(|i| i.to_string()).unwrap_or_default();
            let prior = given();
            vec![if prior.is_empty() {
                ip
            } else {
                format!("{}, {ip}", prior.join(", "))
            }]
        }
        "te" => {
            let trailers = given()
                .iter()
                .flat_map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"));
            if trailers {
                vec!["trailers".into()]
            } else {
                vec![]
            }
        }
        _ if HOP_BY_HOP.contains(&name) || name == "host" || name.starts_with("switchyard-") => {
            vec![]
        }
        _ if listed(headers).iter().any(|l| l == name) => vec![],
        _ => given(),
    }
}

fn request(path: &str, headers: &[(&str, String)]) -> Option<RequestHeader> {
    let mut req = RequestHeader::build("GET", path.as_bytes(), None).ok()?;
    for (name, value) in headers {
        req.append_header(name.to_string(), value.as_str()).ok()?;
    }
    Some(req)
}

/// External paths under the route's prefix (or anywhere without one), with a query or not.
fn external_path(parts: &RouteParts) -> impl Strategy<Value = String> {
    let prefix = parts
        .0
        .as_ref()
        .map(|s| format!("/{}", s.join("/")))
        .filter(|p| p != "/")
        .unwrap_or_default();
    (
        prop::collection::vec(select(&["a", "wiki", "x", ""][..]), 0..3),
        prop::option::of("[a-z=&/]{0,6}"),
    )
        .prop_map(move |(segs, query)| {
            let mut path = prefix.clone();
            for s in segs {
                path = format!("{path}/{s}");
            }
            if path.is_empty() {
                path.push('/');
            }
            match query {
                Some(q) => format!("{path}?{q}"),
                None => path,
            }
        })
}

fn route_and_path() -> impl Strategy<Value = (RouteParts, String)> {
    route_parts().prop_flat_map(|parts| {
        let path = external_path(&parts);
        (Just(parts), path)
    })
}

proptest! {
    #![proptest_config(crate::props::runner(2000))]

    /// The request to the origin carries exactly the reference's headers under every name.
    #[test]
    fn upstream_headers_match_the_reference(
        (parts, path) in route_and_path(),
        headers in prop::collection::vec(header(), 0..10),
        external in "[a-z0-9.-]{1,16}(:[0-9]{1,4})?",
        ip in prop::option::of(any::<IpAddr>()),
    ) {
        let route = route(&parts);
        let Some(req) = request(&path, &headers) else { return Ok(()) };
        let out = Outbound { route: &route, external_authority: &external, client_ip: ip, upgrade: None };
        let upstream = upstream_request(&req, &out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(upstream.uri().scheme(), Some(&route.internal.scheme));
        prop_assert_eq!(upstream.uri().authority(), Some(&route.internal.authority));
        prop_assert_eq!(upstream.uri().path_and_query().map(|p| p.as_str().to_string()), Some(route.map_path(&path)));
        for name in NAMES {
            let got: Vec<String> = values(upstream.headers(), name).iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect();
            prop_assert_eq!(&got, &reference_upstream(&headers, name, &route, &external, ip), "header {} from {:?}", name, &headers);
        }
    }

    /// An external path goes to the origin under the base path, and a `Location` the origin
    /// sends back for that internal path (any case, explicit default port) names the external
    /// path again; a `Location` for another host or outside the base path is left alone.
    #[test]
    fn location_rewrite_inverts_the_path_mapping(
        (parts, path) in route_and_path(),
        upper in any::<bool>(),
        explicit_port in any::<bool>(),
        other in select(&["other.internal", "10.0.0.2", "app.internal.evil"][..]),
    ) {
        let route = route(&parts);
        let internal = route.map_path(&path);
        if let Some(base) = &route.internal.base_path {
            prop_assert!(internal.starts_with(base.as_str()), "{} not under {}", internal, base);
        }
        let scheme = route.internal.scheme.as_str();
        let host = route.internal.authority.host();
        let host = if upper { host.to_ascii_uppercase() } else { host.to_string() };
        let default = if scheme == "https" { 443 } else { 80 };
        let port = match route.internal.authority.port_u16() {
            Some(p) => format!(":{p}"),
            None if explicit_port => format!(":{default}"),
            None => String::new(),
        };
        let location = format!("{scheme}://{host}{port}{internal}");
        prop_assert_eq!(route.rewrite_location(&location, "ext.example.test"), Some(format!("https://ext.example.test{path}")));
        let elsewhere = format!("{scheme}://{other}{port}{internal}");
        prop_assert_eq!(route.rewrite_location(&elsewhere, "ext.example.test"), None);
    }

    /// The response to the user: hop-by-hop, listed and control headers gone, `Location`
    /// rewritten exactly when it points at the internal URL, the rest in order.
    #[test]
    fn downstream_headers_match_the_reference(
        parts in route_parts(),
        headers in prop::collection::vec(header(), 0..10),
        status in prop_oneof![Just(200u16), Just(204), Just(302), Just(304), 100u16..600],
        chunked in any::<bool>(),
    ) {
        let route = route(&parts);
        let mut resp = http::Response::builder().status(status);
        for (n, v) in &headers {
            resp = resp.header(*n, v.as_str());
        }
        let Ok(resp) = resp.body(()) else { return Ok(()) };
        let out = downstream_response(&resp, &route, "ext.example.test", None, chunked)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(out.status.as_u16(), status);
        let listed = listed(&headers);
        for name in NAMES {
            let got: Vec<String> = values(&out.headers, name).iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect();
            let dropped = HOP_BY_HOP.contains(name) || name.starts_with("switchyard-") || listed.iter().any(|l| l == name);
            let mut want: Vec<String> = if dropped { vec![] } else {
                headers.iter().filter(|(n, _)| n == name).map(|(_, v)| {
                    let rewritten = matches!(*name, "location" | "content-location")
                        .then(|| route.rewrite_location(v, "ext.example.test")).flatten();
                    rewritten.unwrap_or_else(|| v.clone())
                }).collect()
            };
            let sized = headers.iter().any(|(n, _)| *n == "content-length");
            let bodyless = status < 200 || status == 204 || status == 304;
            if *name == "transfer-encoding" && chunked && !bodyless && !sized {
                want = vec!["chunked".into()];
            }
            prop_assert_eq!(&got, &want, "header {} from {:?}", name, &headers);
        }
    }

    /// Any Host bytes: no panic; accepted exactly when the documented rule accepts it.
    #[test]
    fn host_header_follows_the_rule(hosts in prop::collection::vec(prop_oneof![
        "[a-zA-Z0-9.:_\\[\\]-]{0,20}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..20),
        (301usize..310).prop_map(|n| vec![b'a'; n]),
    ], 0..3)) {
        let Ok(mut req) = RequestHeader::build("GET", b"/", None) else { return Ok(()) };
        let mut sent = Vec::new();
        for h in &hosts {
            if let Ok(v) = HeaderValue::from_bytes(h) {
                if req.append_header("host", v).is_ok() {
                    sent.push(h.clone());
                }
            }
        }
        let want = match sent.as_slice() {
            [one] => std::str::from_utf8(one).ok().filter(|h| {
                !h.is_empty() && h.len() <= 300
                    && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
            }),
            _ => None,
        };
        prop_assert_eq!(external_authority(&req).ok(), want);
    }
}

/// Found by `upstream_headers_match_the_reference`: `trailers` on a second `TE` line was lost,
/// so a gRPC request split over two lines reached the origin without `TE: trailers`.
#[test]
fn te_trailers_on_any_line_is_kept() {
    let parts: RouteParts = (None, None, false, "10.0.0.1", None, [false, true]);
    let route = route(&parts);
    let headers = [("te", String::new()), ("te", "trailers".to_string())];
    let req = request("/", &headers).expect("request");
    let out = Outbound {
        route: &route,
        external_authority: "ext.example.test",
        client_ip: None,
        upgrade: None,
    };
    let upstream = upstream_request(&req, &out).expect("forwardable");
    assert_eq!(values(upstream.headers(), "te"), vec![&b"trailers"[..]]);
}
