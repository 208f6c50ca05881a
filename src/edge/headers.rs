//! Request checks and header translation between the user's session and the tunnel stream.
//!
//! In: limits (414/431), Host, hop-by-hop removal, `X-Forwarded-*`, Host translation, control
//! headers stripped from the client. Out: hop-by-hop and control headers removed,
//! `Location`/`Content-Location` pointing at the internal URL rewritten to the external one.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, Version};
use pingora::http::{RequestHeader, ResponseHeader};

use crate::config::gateway::LimitsConfig;
use crate::edge::rescue::ForwardError;
use crate::routing::Route;
use crate::tunnel::protocol;

/// Headers that describe one connection and never cross a proxy (RFC 9110 §7.6.1).
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

fn is_control(name: &HeaderName) -> bool {
    name.as_str().starts_with("switchyard-")
}

/// Applies the configured limits; runs before anything is routed or forwarded.
pub fn check_limits(req: &RequestHeader, limits: &LimitsConfig) -> Result<(), ForwardError> {
    let target = req
        .uri
        .path_and_query()
        .map(|p| p.as_str().len())
        .unwrap_or(0);
    if target > limits.max_uri_bytes {
        return Err(ForwardError::UriTooLong);
    }
    if req.headers.len() > limits.max_header_count {
        return Err(ForwardError::HeadersTooLarge);
    }
    let bytes: usize = req
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if bytes > limits.max_header_bytes {
        return Err(ForwardError::HeadersTooLarge);
    }
    Ok(())
}

/// The external authority the client asked for (`Host`, or `:authority` on HTTP/2).
pub fn external_authority(req: &RequestHeader) -> Result<&str, ForwardError> {
    let host = match req.uri.authority() {
        Some(a) => a.as_str(),
        None => {
            let mut values = req.headers.get_all(header::HOST).iter();
            let first = values
                .next()
                .ok_or(ForwardError::BadRequest("missing Host header"))?;
            if values.next().is_some() {
                return Err(ForwardError::BadRequest("several Host headers"));
            }
            first
                .to_str()
                .map_err(|_| ForwardError::BadRequest("Host header is not text"))?
        }
    };
    if host.is_empty()
        || host.len() > 300
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
    {
        return Err(ForwardError::BadRequest("invalid Host header"));
    }
    Ok(host)
}

/// The `Upgrade` protocol of an HTTP/1.1 upgrade request (WebSocket), if any.
pub fn upgrade_protocol(req: &RequestHeader) -> Option<&str> {
    if req.version != Version::HTTP_11 {
        return None;
    }
    let connection_says_upgrade = req
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if !connection_says_upgrade {
        return None;
    }
    req.headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect()
}

/// Everything needed to build the request for the tunnel stream.
pub struct Outbound<'a> {
    pub route: &'a Route,
    pub external_authority: &'a str,
    pub client_ip: Option<IpAddr>,
    /// `Some(protocol)` for an upgrade: sent as extended CONNECT.
    pub upgrade: Option<&'a str>,
}

/// Builds the request the connector will send to the origin.
pub fn upstream_request(
    req: &RequestHeader,
    out: &Outbound<'_>,
) -> Result<Request<()>, ForwardError> {
    let route = out.route;
    let path = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let path = if path.starts_with('/') { path } else { "/" };
    let uri = http::Uri::builder()
        .scheme(route.internal.scheme.clone())
        .authority(route.internal.authority.clone())
        .path_and_query(route.map_path(path))
        .build()
        .map_err(|_| ForwardError::BadRequest("request target cannot be mapped"))?;

    let mut builder = Request::builder().uri(uri).version(Version::HTTP_2);
    builder = match out.upgrade {
        Some(proto) => builder
            .method(Method::CONNECT)
            .extension(h2::ext::Protocol::from(proto)),
        None => builder.method(req.method.clone()),
    };
    let mut request = builder
        .body(())
        .map_err(|_| ForwardError::BadRequest("request cannot be forwarded"))?;

    let listed = connection_listed(&req.headers);
    let headers = request.headers_mut();
    headers.reserve(req.headers.len() + 4);
    for (name, value) in req.headers.iter() {
        if HOP_BY_HOP.contains(&name.as_str())
            || name == header::HOST
            || is_control(name)
            || listed.contains(name)
        {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    // `TE: trailers` is the one TE value HTTP/2 allows, and gRPC needs it. Several TE lines
    // are one list (RFC 9110 §5.3), so every line is searched.
    if req
        .headers
        .get_all(header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
    {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }

    let host_for_origin = if route.preserve_host {
        out.external_authority
    } else {
        route.internal.authority.as_str()
    };
    let host_value = HeaderValue::from_str(host_for_origin)
        .map_err(|_| ForwardError::BadRequest("invalid Host header"))?;
    headers.insert(HeaderName::from_static(protocol::HOST_HEADER), host_value);
    if !route.origin_tls_verify {
        headers.insert(
            HeaderName::from_static(protocol::INSECURE_HEADER),
            HeaderValue::from_static("1"),
        );
    }

    if let Some(ip) = out.client_ip {
        let xff = HeaderName::from_static("x-forwarded-for");
        let prior: Vec<&str> = req
            .headers
            .get_all(&xff)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let value = if prior.is_empty() {
            ip.to_string()
        } else {
            format!("{}, {ip}", prior.join(", "))
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(xff, v);
        }
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("https"),
    );
    if let Ok(v) = HeaderValue::from_str(out.external_authority) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), v);
    }
    Ok(request)
}

/// What the connector said instead of an origin response, if anything.
pub fn connector_error<T>(resp: &Response<T>) -> Option<ForwardError> {
    let code = resp.headers().get(protocol::ERROR_HEADER)?;
    // The header marks a connector-made answer whatever its value: a code that is not text
    // is an unknown code, never an origin response to pass on.
    Some(match code.to_str().unwrap_or("") {
        protocol::error_code::NOT_ALLOWED => ForwardError::NotAllowed,
        protocol::error_code::ORIGIN_TLS => ForwardError::OriginTls,
        protocol::error_code::ORIGIN_UNREACHABLE => ForwardError::OriginUnreachable,
        protocol::error_code::BAD_REQUEST => ForwardError::BadRequest("rejected by the connector"),
        _ => ForwardError::OriginError,
    })
}

/// Builds the user's response header from the origin's.
pub fn downstream_response<T>(
    resp: &Response<T>,
    route: &Route,
    external_authority: &str,
    status_override: Option<u16>,
    chunked_if_unsized: bool,
) -> Result<ResponseHeader, ForwardError> {
    let status = status_override.unwrap_or(resp.status().as_u16());
    let mut out = ResponseHeader::build(status, Some(resp.headers().len() + 2))
        .map_err(|_| ForwardError::OriginError)?;
    let listed = connection_listed(resp.headers());
    for (name, value) in resp.headers().iter() {
        if HOP_BY_HOP.contains(&name.as_str()) || is_control(name) || listed.contains(name) {
            continue;
        }
        let value = if name == header::LOCATION || name == header::CONTENT_LOCATION {
            value
                .to_str()
                .ok()
                .and_then(|v| route.rewrite_location(v, external_authority))
                .and_then(|v| HeaderValue::from_str(&v).ok())
                .unwrap_or_else(|| value.clone())
        } else {
            value.clone()
        };
        out.append_header(name.clone(), value)
            .map_err(|_| ForwardError::OriginError)?;
    }
    let bodyless = status < 200 || status == 204 || status == 304;
    if chunked_if_unsized && !bodyless && !resp.headers().contains_key(header::CONTENT_LENGTH) {
        out.insert_header(header::TRANSFER_ENCODING, "chunked")
            .map_err(|_| ForwardError::OriginError)?;
    }
    Ok(out)
}
