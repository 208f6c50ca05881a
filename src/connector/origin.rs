//! The origin side of the connector: allow-list admission, then pooled keep-alive HTTP
//! clients (http and https; one verifying, one for origins that opted out of verification).
//!
//! Names that only a network rule can admit ([`Decision::Resolve`]) are resolved here, before
//! anything is contacted:
//! - `http`: the addresses are filtered through the allow-list and the request is pinned to
//!   the first one left (its URI names the address; `Host` still names the app), so the
//!   connection goes exactly where the allow-list said yes.
//! - `https` keeps the name in its URI for SNI and certificate checks, so the client resolves
//!   it again: every address must then be admitted, and a DNS server that answers
//!   differently between the two lookups (DNS rebinding) could steer one connection
//!   elsewhere for that short window. The certificate check still has to pass there, unless
//!   the app turned verification off. Closing the window needs a filtering resolver plugged
//!   into `HttpConnector::new_with_resolver`, which needs the `tower-service` crate.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use http::uri::Scheme;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::allow::{AllowList, Decision};
use super::body::TunnelBody;
use crate::tunnel::protocol::error_code;

type PooledClient = Client<HttpsConnector<HttpConnector>, TunnelBody>;

/// How long an idle origin connection stays in the pool.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Why an origin request got no response; each maps to one `switchyard-error` code.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    /// The allow-list refuses the destination; nothing was contacted.
    #[error("destination not allowed")]
    NotAllowed,
    /// Could not connect: DNS failure, refused, timeout, unreachable.
    #[error("origin unreachable: {0}")]
    Unreachable(String),
    /// The TLS handshake with the origin failed.
    #[error("TLS to origin failed: {0}")]
    Tls(String),
    /// The connection broke before a response arrived.
    #[error("origin connection failed: {0}")]
    Broken(String),
}

impl OriginError {
    /// The value of the `switchyard-error` header for this error.
    pub fn code(&self) -> &'static str {
        match self {
            OriginError::NotAllowed => error_code::NOT_ALLOWED,
            OriginError::Unreachable(_) => error_code::ORIGIN_UNREACHABLE,
            OriginError::Tls(_) => error_code::ORIGIN_TLS,
            OriginError::Broken(_) => error_code::ORIGIN_ERROR,
        }
    }

    /// One line for the response body: what happened, without internals.
    pub fn public_text(&self) -> &'static str {
        match self {
            OriginError::NotAllowed => "destination not allowed by the connector",
            OriginError::Unreachable(_) => "origin unreachable",
            OriginError::Tls(_) => "TLS to the origin failed",
            OriginError::Broken(_) => "origin connection failed",
        }
    }
}

/// The allow-list and the pooled origin clients, shared by every stream of every tunnel.
pub struct Origins {
    allow: AllowList,
    verified: PooledClient,
    insecure: PooledClient,
    connect_timeout: Duration,
}

impl Origins {
    /// Builds both clients; `origin_ca` adds trust anchors to the webpki roots.
    pub fn new(
        allow: AllowList,
        origin_ca: Option<&Path>,
        connect_timeout: Duration,
    ) -> Result<Origins, String> {
        let verified = client_config(roots(origin_ca)?)?;
        let insecure = crate::tls::insecure_client_config();
        Ok(Origins {
            allow,
            verified: pooled_client(verified, connect_timeout),
            insecure: pooled_client(insecure, connect_timeout),
            connect_timeout,
        })
    }

    /// Decides whether the request's destination may be contacted, resolving names that
    /// only a network rule can admit (and pinning plain-http requests to a vetted address).
    /// Contacts nothing but DNS.
    pub async fn admit(&self, req: &mut Request<TunnelBody>) -> Result<(), OriginError> {
        let uri = req.uri();
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        match self.allow.check(&host, port) {
            Decision::Allowed => Ok(()),
            Decision::Denied => Err(OriginError::NotAllowed),
            Decision::Resolve => {
                let addrs = self.lookup(&host, port).await?;
                let mut allowed = addrs.iter().filter(|a| self.allow.ip_allowed(a.ip(), port));
                if https {
                    if allowed.count() == addrs.len() {
                        return Ok(());
                    }
                } else if let Some(addr) = allowed.next() {
                    return pin(req, *addr);
                }
                tracing::debug!(host, ?addrs, "name resolves outside the allow-list");
                Err(OriginError::NotAllowed)
            }
        }
    }

    async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, OriginError> {
        let lookup = tokio::net::lookup_host((host, port));
        match tokio::time::timeout(self.connect_timeout, lookup).await {
            Err(_) => Err(OriginError::Unreachable(format!(
                "DNS lookup of {host} timed out"
            ))),
            Ok(Err(e)) => Err(OriginError::Unreachable(format!(
                "DNS lookup of {host}: {e}"
            ))),
            Ok(Ok(addrs)) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                if addrs.is_empty() {
                    Err(OriginError::Unreachable(format!("{host} has no address")))
                } else {
                    Ok(addrs)
                }
            }
        }
    }

    /// Sends an admitted request (absolute URI) and waits for the response head.
    pub async fn send(
        &self,
        req: Request<TunnelBody>,
        insecure: bool,
    ) -> Result<Response<Incoming>, OriginError> {
        let client = if insecure {
            &self.insecure
        } else {
            &self.verified
        };
        client.request(req).await.map_err(|e| classify(&e))
    }
}

/// Points a plain-http request at `addr` instead of its host name.
fn pin(req: &mut Request<TunnelBody>, addr: SocketAddr) -> Result<(), OriginError> {
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let uri = Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(addr.to_string())
        .path_and_query(path)
        .build()
        .map_err(|e| OriginError::Unreachable(format!("pinning to {addr}: {e}")))?;
    *req.uri_mut() = uri;
    Ok(())
}

fn pooled_client(tls: ClientConfig, connect_timeout: Duration) -> PooledClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_timer(TokioTimer::new())
        .build(https)
}

/// webpki roots plus every certificate of `extra` (PEM).
fn roots(extra: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let Some(path) = extra else {
        return Ok(roots);
    };
    let origin = format!("origin CA file \"{}\"", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{origin}: cannot read: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{origin}: invalid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{origin}: no CA certificate found"));
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("{origin}: CA certificate rejected: {e}"))?;
    }
    Ok(roots)
}

fn client_config(roots: RootCertStore) -> Result<ClientConfig, String> {
    let provider = crate::tls::crypto_provider();
    Ok(ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(|e| format!("origin TLS config: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Maps a client error to what the gateway is told.
fn classify(err: &hyper_util::client::legacy::Error) -> OriginError {
    let detail = chain(err);
    if has_rustls_error(err) {
        OriginError::Tls(detail)
    } else if err.is_connect() {
        OriginError::Unreachable(detail)
    } else {
        OriginError::Broken(detail)
    }
}

/// Whether a `rustls::Error` sits anywhere in the chain, including inside `io::Error`s
/// (whose `source()` skips the error they wrap).
fn has_rustls_error(err: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if has_rustls_error(inner) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// The error and its sources on one line, for logs.
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        text.push_str(": ");
        text.push_str(&e.to_string());
        current = e.source();
    }
    text
}
