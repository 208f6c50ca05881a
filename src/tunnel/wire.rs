//! What travels on one tunnel stream, for both ends: the request as the origin should see it
//! (encoded by the gateway, decoded by the connector), the typed `switchyard-error` of a
//! connector-made answer, the `switchyard-upgraded` mark, and the one hop-by-hop list.
//!
//! The header names themselves are in [`protocol`](super::protocol).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, Scheme};
use http::{Method, Request, Response, Uri, Version};

use super::protocol::{error_code, ERROR_HEADER, HOST_HEADER, INSECURE_HEADER, UPGRADED_HEADER};

/// Fields that describe one connection and never cross a proxy, in either direction
/// (RFC 9110 §7.6.1, plus `proxy-connection` and `keep-alive` of older peers). The names a
/// `Connection` header lists are removed as well ([`strip_hop_by_hop`]).
pub const HOP_BY_HOP: &[&str] = &[
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

/// The field names a `Connection` header lists (each one hop-by-hop).
pub fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect()
}

/// Whether `name` is hop-by-hop, given the names `Connection` listed.
pub fn is_hop_by_hop(name: &HeaderName, listed: &[HeaderName]) -> bool {
    HOP_BY_HOP.contains(&name.as_str()) || listed.contains(name)
}

/// Removes every hop-by-hop field, including the ones `Connection` lists.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in connection_listed(headers) {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// Whether a header is one of the tunnel's own (never taken from or given to a user).
pub fn is_control(name: &HeaderName) -> bool {
    name.as_str().starts_with("switchyard-")
}

/// What failed when the connector answers instead of the origin (`switchyard-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The destination is not in the connector's allow-list; nothing was contacted.
    #[error("destination not allowed")]
    NotAllowed,
    /// The connector could not connect to the origin.
    #[error("origin unreachable")]
    OriginUnreachable,
    /// TLS to the origin failed.
    #[error("TLS to the origin failed")]
    OriginTls,
    /// The origin connection broke before a response arrived (also any unknown code).
    #[error("origin failed")]
    OriginError,
    /// The stream was not a valid origin request.
    #[error("bad request to the connector")]
    BadRequest,
}

impl WireError {
    /// The value sent in `switchyard-error`.
    pub fn code(self) -> &'static str {
        match self {
            WireError::NotAllowed => error_code::NOT_ALLOWED,
            WireError::OriginUnreachable => error_code::ORIGIN_UNREACHABLE,
            WireError::OriginTls => error_code::ORIGIN_TLS,
            WireError::OriginError => error_code::ORIGIN_ERROR,
            WireError::BadRequest => error_code::BAD_REQUEST,
        }
    }

    /// Reads a `switchyard-error` value; a code this side does not know is an origin error.
    pub fn from_code(code: &[u8]) -> WireError {
        [
            WireError::NotAllowed,
            WireError::OriginUnreachable,
            WireError::OriginTls,
            WireError::BadRequest,
        ]
        .into_iter()
        .find(|e| e.code().as_bytes() == code)
        .unwrap_or(WireError::OriginError)
    }

    /// The error a connector-made answer carries, if it is one.
    pub fn of<T>(resp: &Response<T>) -> Option<WireError> {
        let code = resp.headers().get(ERROR_HEADER)?;
        Some(WireError::from_code(code.as_bytes()))
    }

    /// Marks a connector-made answer's headers with this error.
    pub fn mark(self, headers: &mut HeaderMap) {
        headers.insert(
            HeaderName::from_static(ERROR_HEADER),
            HeaderValue::from_static(self.code()),
        );
    }
}

/// Marks the connector's answer to an extended CONNECT whose origin switched protocols.
pub fn mark_upgraded(headers: &mut HeaderMap) {
    headers.insert(
        HeaderName::from_static(UPGRADED_HEADER),
        HeaderValue::from_static("101"),
    );
}

/// Whether an answer to an extended CONNECT says the origin switched protocols.
pub fn is_upgraded<T>(resp: &Response<T>) -> bool {
    resp.status() == http::StatusCode::OK && resp.headers().contains_key(UPGRADED_HEADER)
}

/// The head of a stream request, as the gateway means it.
pub struct StreamHead<'a> {
    /// The user's method (ignored for an upgrade, which is an extended CONNECT).
    pub method: &'a Method,
    /// `Some(protocol)` for an upgrade (WebSocket): sent as extended CONNECT (RFC 8441).
    pub upgrade: Option<&'a str>,
    /// The app's internal URL: `:scheme` and `:authority`.
    pub scheme: Scheme,
    pub authority: Authority,
    /// The mapped path and query.
    pub path: String,
    /// The `Host` the origin must see.
    pub host: HeaderValue,
    /// Skip origin certificate verification for this request.
    pub origin_insecure: bool,
}

/// Gateway side: the stream request for `head`, carrying `headers` (which the caller has
/// already cleared of hop-by-hop and control fields).
pub fn encode(head: StreamHead<'_>, headers: HeaderMap) -> Result<Request<()>, http::Error> {
    let uri = Uri::builder()
        .scheme(head.scheme)
        .authority(head.authority)
        .path_and_query(head.path)
        .build()?;
    let mut builder = Request::builder().uri(uri).version(Version::HTTP_2);
    builder = match head.upgrade {
        Some(proto) => builder
            .method(Method::CONNECT)
            .extension(h2::ext::Protocol::from(proto)),
        None => builder.method(head.method.clone()),
    };
    let mut request = builder.body(())?;
    *request.headers_mut() = headers;
    let fields = request.headers_mut();
    fields.insert(HeaderName::from_static(HOST_HEADER), head.host);
    if head.origin_insecure {
        fields.insert(
            HeaderName::from_static(INSECURE_HEADER),
            HeaderValue::from_static("1"),
        );
    }
    Ok(request)
}

/// Connector side: a stream request taken apart.
#[derive(Debug)]
pub struct Decoded {
    pub method: Method,
    /// The `Upgrade` token of an extended CONNECT (the origin request becomes a `GET` with
    /// `Connection: upgrade`).
    pub upgrade: Option<HeaderValue>,
    pub scheme: Scheme,
    pub authority: Authority,
    /// For logs and dialing.
    pub host: String,
    pub port: u16,
    /// The origin URI (absolute).
    pub uri: Uri,
    /// Headers for the origin: hop-by-hop and control fields removed, `Host` set.
    pub headers: HeaderMap,
    pub origin_insecure: bool,
}

/// Connector side: reads the gateway's stream request; the error names what was wrong.
pub fn decode(mut parts: http::request::Parts) -> Result<Decoded, &'static str> {
    let scheme = match parts.uri.scheme_str() {
        Some("http") => Scheme::HTTP,
        Some("https") => Scheme::HTTPS,
        _ => return Err("scheme must be http or https"),
    };
    let authority = parts.uri.authority().ok_or("missing :authority")?.clone();
    if authority.host().is_empty() {
        return Err("empty host");
    }
    let default_port = if scheme == Scheme::HTTPS { 443 } else { 80 };
    let protocol = parts.extensions.remove::<h2::ext::Protocol>();
    let upgrade = match (&parts.method, protocol) {
        (&Method::CONNECT, Some(p)) => {
            Some(HeaderValue::from_str(p.as_str()).map_err(|_| "invalid :protocol")?)
        }
        (&Method::CONNECT, None) => return Err("plain CONNECT is not supported"),
        _ => None,
    };
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let uri = Uri::builder()
        .scheme(scheme.clone())
        .authority(authority.clone())
        .path_and_query(path)
        .build()
        .map_err(|_| "invalid :path")?;
    let mut headers = std::mem::take(&mut parts.headers);
    let origin_insecure = headers
        .remove(INSECURE_HEADER)
        .is_some_and(|v| v.as_bytes() == b"1");
    let host = match headers.remove(HOST_HEADER) {
        Some(host) => host,
        None => HeaderValue::from_str(authority.as_str()).map_err(|_| "invalid :authority")?,
    };
    strip_hop_by_hop(&mut headers);
    headers.insert(header::HOST, host);
    Ok(Decoded {
        method: parts.method,
        upgrade,
        host: authority.host().to_owned(),
        port: authority.port_u16().unwrap_or(default_port),
        scheme,
        authority,
        uri,
        headers,
        origin_insecure,
    })
}

#[cfg(test)]
mod tests;
