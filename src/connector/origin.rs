//! The origin side of the connector: allow-list admission, then pooled keep-alive HTTP
//! clients (http and https; one verifying, one for origins that opted out of verification).
//!
//! [`Origins::admit`] refuses, before anything is contacted, every destination the allow-list
//! denies outright. Names that only a network rule can admit ([`Decision::Resolve`]) are then
//! vetted where the connection is made: the clients' TCP connector resolves names with
//! `AllowResolver`, which hands the connector only the addresses the allow-list admits for
//! the destination port. The addresses checked are exactly the ones connected to, for http
//! and https alike (an https URI keeps its name for SNI and certificate checks), so a DNS
//! server that answers differently between two lookups (DNS rebinding) has no second lookup
//! to exploit. A name that resolves only outside the allow-list is refused as
//! `destination-not-allowed` without a connection attempt. Names matched by a name rule are
//! trusted by name and connected to wherever they resolve; IP literals never reach the
//! resolver (`admit` has judged them).

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::Scheme;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tower_service::Service;

use self::early::EarlyAnswerIo;
use super::body::TunnelBody;
use crate::net::allow::{AllowList, Decision};
use crate::tunnel::wire::WireError;

type PooledClient = Client<HttpsConnector<AllowConnector>, TunnelBody>;

type BoxError = Box<dyn StdError + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

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
    /// The `switchyard-error` this error is sent as.
    pub fn wire(&self) -> WireError {
        match self {
            OriginError::NotAllowed => WireError::NotAllowed,
            OriginError::Unreachable(_) => WireError::OriginUnreachable,
            OriginError::Tls(_) => WireError::OriginTls,
            OriginError::Broken(_) => WireError::OriginError,
        }
    }

    /// The value of the `switchyard-error` header for this error.
    pub fn code(&self) -> &'static str {
        self.wire().code()
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
    allow: Arc<AllowList>,
    verified: PooledClient,
    insecure: PooledClient,
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
        let allow = Arc::new(allow);
        let tcp = AllowConnector {
            allow: Arc::clone(&allow),
            connect_timeout,
        };
        Ok(Origins {
            allow,
            verified: pooled_client(verified, tcp.clone()),
            insecure: pooled_client(insecure, tcp),
        })
    }

    /// Refuses destinations the allow-list denies outright. Names that only a network rule
    /// admits pass here: their addresses are vetted when the connection is made (see the
    /// module documentation). Contacts nothing, not even DNS; the request is not changed.
    pub async fn admit(&self, req: &mut Request<TunnelBody>) -> Result<(), OriginError> {
        let uri = req.uri();
        let host = uri.host().unwrap_or_default();
        match self.allow.check(host, destination_port(uri)) {
            Decision::Allowed | Decision::Resolve => Ok(()),
            Decision::Denied => Err(OriginError::NotAllowed),
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

/// The port a request to `uri` goes to.
fn destination_port(uri: &Uri) -> u16 {
    let https = uri.scheme() == Some(&Scheme::HTTPS);
    uri.port_u16().unwrap_or(if https { 443 } else { 80 })
}

fn pooled_client(tls: ClientConfig, tcp: AllowConnector) -> PooledClient {
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_timer(TokioTimer::new())
        .build(https)
}

/// The TCP connector under TLS. A resolver only gets the name, so each connection gets its
/// own `HttpConnector` whose [`AllowResolver`] knows the destination port: an address is
/// then admitted exactly as [`AllowList::ip_allowed`] says for that port, never because
/// some other rule admits it on another port. (The `HttpConnector` is a few fields and an
/// `Arc`: cheap next to a TCP handshake, and pooled connections skip it entirely.)
#[derive(Clone)]
struct AllowConnector {
    allow: Arc<AllowList>,
    connect_timeout: Duration,
}

impl Service<Uri> for AllowConnector {
    type Response = TokioIo<EarlyAnswerIo>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let resolver = AllowResolver {
            allow: Arc::clone(&self.allow),
            port: destination_port(&dst),
            timeout: self.connect_timeout,
        };
        let mut http = HttpConnector::new_with_resolver(resolver);
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        Box::pin(async move {
            std::future::poll_fn(|cx| http.poll_ready(cx)).await?;
            let tcp = http.call(dst).await?.into_inner();
            Ok(TokioIo::new(EarlyAnswerIo::new(tcp)))
        })
    }
}

/// Resolves names for one destination port, keeping only what the allow-list admits: every
/// address of a name a name rule matches, and for other names only the addresses a network
/// rule admits on `port`. Refuses with [`Refused`] when nothing is left.
#[derive(Clone)]
struct AllowResolver {
    allow: Arc<AllowList>,
    port: u16,
    /// Bounds the DNS lookup (the connector's own timeout covers only the TCP connect).
    timeout: Duration,
}

impl Service<Name> for AllowResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = BoxFuture<io::Result<Self::Response>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.clone();
        Box::pin(async move {
            let addrs = resolver.resolve(name.as_str()).await?;
            Ok(addrs.into_iter())
        })
    }
}

impl AllowResolver {
    async fn resolve(&self, host: &str) -> io::Result<Vec<SocketAddr>> {
        let by_name = match self.allow.check(host, self.port) {
            Decision::Allowed => true,
            Decision::Resolve => false,
            Decision::Denied => return Err(Refused::NotListed(host.to_owned()).into()),
        };
        let lookup = tokio::net::lookup_host((host, 0));
        let mut addrs: Vec<SocketAddr> = match tokio::time::timeout(self.timeout, lookup).await {
            Err(_) => {
                let text = format!("DNS lookup of {host} timed out");
                return Err(io::Error::new(io::ErrorKind::TimedOut, text));
            }
            Ok(found) => found?.collect(),
        };
        if by_name || addrs.is_empty() {
            // An empty answer is the connector's "no address" error, not a refusal.
            return Ok(addrs);
        }
        addrs.retain(|a| self.allow.ip_allowed(a.ip(), self.port));
        if addrs.is_empty() {
            tracing::debug!(
                host,
                port = self.port,
                "name resolves outside the allow-list"
            );
            return Err(Refused::Outside(host.to_owned()).into());
        }
        Ok(addrs)
    }
}

/// Why [`AllowResolver`] gave no address; surfaces as [`OriginError::NotAllowed`].
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("{0} resolved only to addresses outside the allow-list")]
    Outside(String),
    /// Unreachable through [`Origins::admit`], which refuses such names first.
    #[error("{0} is not admitted by the allow-list")]
    NotListed(String),
}

impl From<Refused> for io::Error {
    fn from(refused: Refused) -> io::Error {
        io::Error::new(io::ErrorKind::PermissionDenied, refused)
    }
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
    if has_error::<Refused>(err) {
        OriginError::NotAllowed
    } else if has_error::<rustls::Error>(err) {
        OriginError::Tls(detail)
    } else if err.is_connect() {
        OriginError::Unreachable(detail)
    } else {
        OriginError::Broken(detail)
    }
}

/// Whether an `E` sits anywhere in the chain, including inside `io::Error`s (whose
/// `source()` skips the error they wrap).
fn has_error<E: StdError + 'static>(err: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<E>() {
            return true;
        }
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            if has_error::<E>(inner) {
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

mod early;

#[cfg(test)]
mod tests;
