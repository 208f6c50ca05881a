//! The admin API: a JSON HTTP API on its own listener (optionally TLS) that reads and changes
//! the catalog.
//!
//! `request → auth (bearer token → Caller) → routes (table) → body (size, type) → handler →
//! CatalogWriter::write (validate whole, persist, publish) → reply`.
//!
//! Handlers are synchronous; writes run on the blocking pool because they wait for the
//! store's fsync. The same listener serves the operator's console ([`console`]).

mod apps;
mod auth;
mod connectors;
pub mod console;
mod enrollment;
mod groups;
pub mod openapi;
mod reindex;
mod reply;
mod request;
mod routes;
mod status;
mod tenants;

#[cfg(test)]
mod tests;

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::catalog::writer::CatalogWriter;
use crate::config::gateway::AdminToken;
use crate::live::Live;
pub use auth::Caller;
pub use reply::ApiError;
use reply::Reply;
use request::Ctx;
use routes::{BodyRule, Found};

/// What the admin API reads and writes: the live state, the catalog writer and the admin
/// tokens in service (no listener, no runtime).
#[derive(Clone)]
pub struct AdminState {
    pub live: Arc<Live>,
    pub catalog: Arc<dyn CatalogWriter>,
    pub tokens: Arc<arc_swap::ArcSwap<Vec<AdminToken>>>,
    /// Where the tunnel listener is bound (shown to operators for connector configs).
    pub tunnel_listen: Option<std::net::SocketAddr>,
}

/// How the admin listener serves.
#[derive(Clone)]
pub struct AdminOptions {
    /// TLS, when `admin.tls_cert`/`tls_key` are set.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

/// Time a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to send a request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Time a client has to send a whole request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts admin connections until the task is dropped.
pub async fn serve(listener: TcpListener, opts: AdminOptions, state: AdminState) {
    loop {
        let (sock, remote) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "admin listener: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        let state = state.clone();
        let opts = opts.clone();
        tokio::spawn(async move {
            let max = opts.max_body_bytes;
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(req, state, max).await) }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            // A client that never finishes its request head does not hold a task forever.
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let served = match &opts.tls {
                None => builder.serve_connection(TokioIo::new(sock), service).await,
                Some(tls) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(sock)).await {
                        Ok(Ok(stream)) => {
                            builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%remote, error = %e, "admin TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
            };
            if let Err(e) = served {
                tracing::debug!(%remote, error = %e, "admin connection ended with an error");
            }
        });
    }
}

/// One request, start to end; never fails (errors are answers).
pub async fn handle(
    req: Request<Incoming>,
    state: AdminState,
    max_body: usize,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if let Some(page) = console::answer(&method, &path) {
        tracing::debug!(target: "switchyard::admin", %method, %path, status = page.status().as_u16(), "console file");
        return page;
    }
    let mut who = None;
    let outcome = dispatch(req, state, max_body, &mut who).await;
    let (status, response) = match outcome {
        Ok(reply) => (reply.status, reply.into_response()),
        Err(e) => (e.status_code().0, e.into_response()),
    };
    let token = who.as_deref().unwrap_or("-");
    let status = status.as_u16();
    if method == Method::GET {
        tracing::debug!(target: "switchyard::admin", %method, %path, status, token, "admin request");
    } else {
        tracing::info!(target: "switchyard::admin", %method, %path, status, token, "admin request");
    }
    response
}

async fn dispatch(
    req: Request<Incoming>,
    state: AdminState,
    max_body: usize,
    who: &mut Option<String>,
) -> Result<Reply, ApiError> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    if path == routes::OPENAPI_PATH {
        return match parts.method {
            Method::GET => Ok(Reply {
                status: http::StatusCode::OK,
                body: Some(openapi_document().clone()),
                etag: None,
            }),
            m => Err(ApiError::MethodNotAllowed {
                method: m.to_string(),
                allowed: vec!["GET"],
            }),
        };
    }
    let (caller, name) = auth::authenticate(&parts.headers, &state.tokens.load())?;
    *who = Some(name);
    let (route, params) = match routes::find(parts.method.as_str(), path) {
        Found::Route(r, p) => (r, p),
        Found::WrongMethod(allowed) => {
            return Err(ApiError::MethodNotAllowed {
                method: parts.method.to_string(),
                allowed,
            })
        }
        Found::Nothing => return Err(ApiError::NotFound(format!("no API route {path}"))),
    };
    let read = parts.method == Method::GET;
    if caller == Caller::ReadOnly && !read {
        return Err(ApiError::Forbidden(
            "a read-only token cannot change anything".into(),
        ));
    }
    let if_match = match parts.headers.get(header::IF_MATCH) {
        None => None,
        Some(v) => request::parse_if_match(v.to_str().unwrap_or(""))?,
    };
    let body = match route.body {
        BodyRule::None => Bytes::new(),
        rule => {
            let declared = content_length(&parts.headers);
            check_type(&parts.headers, rule, declared)?;
            let bytes = read_body(body, max_body, declared).await?;
            if rule == BodyRule::Required && bytes.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::Invalid {
                    message: "a JSON body is required".into(),
                    field: None,
                    details: Vec::new(),
                });
            }
            bytes
        }
    };
    let ctx = Ctx {
        state,
        caller,
        params,
        query: parts.uri.query().map(str::to_string),
        body,
        if_match,
    };
    let handler = route.handler;
    if read {
        handler(ctx)
    } else {
        tokio::task::spawn_blocking(move || handler(ctx))
            .await
            .map_err(|e| ApiError::Internal(format!("the change did not complete: {e}")))?
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// `application/json` (parameters allowed) or any `application/…+json`. A route whose body
/// is optional accepts no type when there is no body.
fn check_type(headers: &HeaderMap, rule: BodyRule, declared: Option<u64>) -> Result<(), ApiError> {
    let Some(raw) = headers.get(header::CONTENT_TYPE) else {
        return match (rule, declared) {
            (BodyRule::Optional, Some(0)) | (BodyRule::Optional, None) => Ok(()),
            _ => Err(ApiError::UnsupportedMediaType),
        };
    };
    let media = raw
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = media == "application/json"
        || (media.starts_with("application/") && media.ends_with("+json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// Reads at most `limit` bytes. Past the limit the rest is read and dropped (up to a bound)
/// so the client reads the 413 instead of a reset connection.
async fn read_body(
    mut body: Incoming,
    limit: usize,
    declared: Option<u64>,
) -> Result<Bytes, ApiError> {
    let too_large = ApiError::PayloadTooLarge { limit };
    let drain_cap = limit.saturating_mul(4).saturating_add(1 << 20) as u64;
    if declared.is_some_and(|n| n > drain_cap) {
        return Err(too_large);
    }
    let read = async {
        let mut buf = BytesMut::new();
        let mut seen: u64 = 0;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return Err(ApiError::invalid("", "the request body could not be read"));
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen += data.len() as u64;
            if seen > drain_cap {
                return Err(too_large.clone());
            }
            if seen <= limit as u64 {
                buf.extend_from_slice(&data);
            }
        }
        if seen > limit as u64 {
            Err(too_large.clone())
        } else {
            Ok(buf.freeze())
        }
    };
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::invalid(
            "",
            "the request body did not arrive in time",
        )),
    }
}

fn openapi_document() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(openapi::document)
}
