//! Request checks and header translation between the user's session and the tunnel stream.
//!
//! In: limits (414/431), Host, hop-by-hop removal, `X-Forwarded-*`, Host translation, control
//! headers stripped from the client. Out: hop-by-hop and control headers removed,
//! `Location`/`Content-Location` pointing at the internal URL rewritten to the external one.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Version};
use pingora::http::{RequestHeader, ResponseHeader};

use crate::config::gateway::LimitsConfig;
use crate::edge::rescue::ForwardError;
use crate::routing::Route;
use crate::tunnel::wire;

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

/// Everything needed to build the request for the tunnel stream.
pub struct Outbound<'a> {
    pub route: &'a Route,
    pub external_authority: &'a str,
    pub client_ip: Option<IpAddr>,
    /// `Some(protocol)` for an upgrade: sent as extended CONNECT.
    pub upgrade: Option<&'a str>,
}

/// Builds the request the connector will send to the origin: the route decides path, Host
/// and `X-Forwarded-*`; the tunnel's stream format is [`wire::encode`]'s.
pub fn upstream_request(
    req: &RequestHeader,
    out: &Outbound<'_>,
) -> Result<Request<()>, ForwardError> {
    let route = out.route;
    let path = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let path = if path.starts_with('/') { path } else { "/" };
    let host_for_origin = if route.preserve_host {
        out.external_authority
    } else {
        route.internal.authority.as_str()
    };
    let head = wire::StreamHead {
        method: &req.method,
        upgrade: out.upgrade,
        scheme: route.internal.scheme.clone(),
        authority: route.internal.authority.clone(),
        path: route.map_path(path),
        host: HeaderValue::from_str(host_for_origin)
            .map_err(|_| ForwardError::BadRequest("invalid Host header"))?,
        origin_insecure: !route.origin_tls_verify,
    };
    wire::encode(head, forwarded_headers(req, out))
        .map_err(|_| ForwardError::BadRequest("request target cannot be mapped"))
}

/// The client's headers as the origin gets them: hop-by-hop, Host and control fields
/// removed, `TE: trailers` kept, `X-Forwarded-*` added.
fn forwarded_headers(req: &RequestHeader, out: &Outbound<'_>) -> HeaderMap {
    let listed = wire::connection_listed(&req.headers);
    let mut headers = HeaderMap::with_capacity(req.headers.len() + 4);
    for (name, value) in req.headers.iter() {
        if wire::is_hop_by_hop(name, &listed) || name == header::HOST || wire::is_control(name) {
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
    headers
}

/// What the connector said instead of an origin response, if anything: its
/// [`WireError`](wire::WireError) as the edge's error.
pub fn connector_error<T>(resp: &Response<T>) -> Option<ForwardError> {
    wire::WireError::of(resp).map(ForwardError::from)
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
    let listed = wire::connection_listed(resp.headers());
    for (name, value) in resp.headers().iter() {
        if wire::is_hop_by_hop(name, &listed) || wire::is_control(name) {
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
