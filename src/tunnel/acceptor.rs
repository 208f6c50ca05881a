//! The gateway's tunnel listener: TLS, the connector's hello, then an HTTP/2 client session
//! on the connection (roles reversed), kept alive by PINGs and registered as a live tunnel.
//!
//! A hello carries either a secret (checked against the routing table) or an enrollment
//! token: then the catalog writer applies the enrollment decision of [`enroll::decide`]
//! (group [`DEFAULT_GROUP`], created if missing) and the new secret goes back in the
//! welcome. The token is checked against the catalog being changed, inside the writer's
//! change, so a token deleted meanwhile or two enrollments of one id never both succeed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::catalog::enroll::{self, EnrollRequest, DEFAULT_GROUP};
use crate::catalog::secret;
use crate::catalog::writer::{CatalogWriter, UpdateCatalog, UpdateError};
use crate::metrics::Metrics;
use crate::routing::ConnectorEntry;
use crate::tunnel::protocol::{self, Hello, Welcome};
use crate::tunnel::registry::Registry;
use crate::tunnel::registry::Tunnel;

/// HTTP/2 windows on the tunnel: large enough that one stream can fill a fast link.
const STREAM_WINDOW: u32 = 1 << 20;
const CONN_WINDOW: u32 = 16 << 20;

/// Why a hello was refused: the `reason` label of `tunnel_auth_failures_total`, and the
/// reason sent to the connector.
type Refusal = (&'static str, String);

/// A connector the hello authenticated (or enrolled).
struct Admitted {
    id: Arc<str>,
    /// The new secret of a connector that just enrolled, for the welcome.
    secret: Option<String>,
}

/// Tunnel timings: the next tunnel (hello) and its pings take the values in service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelTimings {
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub hello_timeout: Duration,
}

/// What the acceptor reads of the gateway's live state (the live module provides it).
pub trait TunnelHost: Send + Sync {
    /// Where tunnels are registered.
    fn registry(&self) -> &Registry;
    /// The gateway's metrics.
    fn metrics(&self) -> &Metrics;
    /// The timings in service (taken once per tunnel).
    fn timings(&self) -> TunnelTimings;
    /// The connectors of the routing table in service that a hello's `id` may mean (see
    /// `RoutingTable::connectors_named`).
    fn connectors_named(&self, id: &str) -> Vec<ConnectorEntry>;
    /// The edge's runtime, once it runs.
    fn edge_runtime(&self) -> Option<tokio::runtime::Handle>;
}

/// What the tunnel listener needs: the live state, and the catalog writer for enrollment.
#[derive(Clone)]
pub struct TunnelContext {
    pub live: Arc<dyn TunnelHost>,
    pub catalog: Arc<dyn CatalogWriter>,
}

/// Accepts connectors until the task is dropped.
pub async fn serve(listener: TcpListener, tls: TlsAcceptor, ctx: TunnelContext) {
    // The edge starts on its own thread at the same time; its runtime is where tunnels
    // belong. Accepting waits a little for it (connections queue meanwhile).
    for _ in 0..200 {
        if ctx.live.edge_runtime().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    loop {
        let (sock, remote) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "tunnel accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let tls = tls.clone();
        let ctx = ctx.clone();
        let Some(edge) = ctx.live.edge_runtime() else {
            tokio::spawn(async move {
                if let Err(reason) = handle(sock, remote, tls, &ctx).await {
                    tracing::debug!(%remote, %reason, "tunnel connection ended");
                }
            });
            continue;
        };
        // Moved to the edge runtime whole: its socket is registered with that runtime's
        // reactor, so reads and writes wake nothing on this one.
        let sock = match sock.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%remote, error = %e, "tunnel socket not handed over");
                continue;
            }
        };
        edge.spawn(async move {
            let result = match TcpStream::from_std(sock) {
                Ok(sock) => handle(sock, remote, tls, &ctx).await,
                Err(e) => Err(format!("socket not adopted: {e}")),
            };
            if let Err(reason) = result {
                tracing::debug!(%remote, %reason, "tunnel connection ended");
            }
        });
    }
}

async fn handle(
    sock: TcpStream,
    remote: SocketAddr,
    tls: TlsAcceptor,
    ctx: &TunnelContext,
) -> Result<(), String> {
    let _ = sock.set_nodelay(true);
    // Taken once per tunnel: a reload applies to the next tunnel.
    let timings = ctx.live.timings();
    let hello_deadline = timings.hello_timeout;
    let mut stream = tokio::time::timeout(hello_deadline, tls.accept(sock))
        .await
        .map_err(|_| "TLS handshake timed out".to_string())?
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    let hello: Hello =
        match tokio::time::timeout(hello_deadline, protocol::read_frame(&mut stream)).await {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                ctx.live
                    .metrics()
                    .tunnel_auth_failures
                    .with_label_values(&["malformed"])
                    .inc();
                return Err(format!("bad hello: {e}"));
            }
            Err(_) => {
                ctx.live
                    .metrics()
                    .tunnel_auth_failures
                    .with_label_values(&["timeout"])
                    .inc();
                return Err("no hello in time".into());
            }
        };

    let connector = match admit(&hello, ctx).await {
        Ok(admitted) => admitted,
        Err((label, reason)) => {
            ctx.live
                .metrics()
                .tunnel_auth_failures
                .with_label_values(&[label])
                .inc();
            tracing::warn!(%remote, connector = %hello.id, %reason, "connector refused");
            let _ = protocol::write_frame(
                &mut stream,
                &Welcome {
                    ok: false,
                    reason: Some(reason.clone()),
                    ping_interval_ms: 0,
                    secret: None,
                },
            )
            .await;
            return Err(reason);
        }
    };
    let enrolled = connector.secret.is_some();
    let welcome = Welcome {
        ok: true,
        reason: None,
        ping_interval_ms: timings.ping_interval.as_millis() as u64,
        secret: connector.secret,
    };
    if let Err(e) = protocol::write_frame(&mut stream, &welcome).await {
        if enrolled {
            // It stays registered, but never got its secret: its next enrollment is refused.
            tracing::warn!(
                %remote, connector = %connector.id, error = %e,
                "enrolled connector did not receive its secret; delete it to let it enroll again"
            );
        }
        return Err(format!("welcome not sent: {e}"));
    }
    let admitted = (connector.id, hello.version);
    serve_tunnel(stream, remote, ctx, admitted, timings).await
}

/// Runs an admitted tunnel: the HTTP/2 session, registered while it answers PINGs, until
/// it closes, misses a ping or its connector leaves the catalog.
async fn serve_tunnel(
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    remote: SocketAddr,
    ctx: &TunnelContext,
    (connector, version): (Arc<str>, String),
    timings: TunnelTimings,
) -> Result<(), String> {
    let (send, mut conn) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW)
        .max_concurrent_reset_streams(1024)
        .handshake::<_, bytes::Bytes>(stream)
        .await
        .map_err(|e| format!("h2 handshake failed: {e}"))?;
    let Some(mut ping) = conn.ping_pong() else {
        return Err("h2 ping unavailable".into());
    };

    let tunnel = Arc::new(Tunnel::new(
        ctx.live.registry().next_tunnel_id(),
        Arc::clone(&connector),
        remote,
        version.clone(),
        send,
    ));
    ctx.live.registry().add_tunnel(tunnel.clone());
    tracing::info!(%remote, connector = %connector, version = %version, tunnel = tunnel.id, "tunnel up");

    let (interval, timeout) = (timings.ping_interval, timings.ping_timeout);
    let keepalive = async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            match tokio::time::timeout(timeout, ping.ping(h2::Ping::opaque())).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return format!("ping failed: {e}"),
                Err(_) => return format!("no ping answer within {timeout:?}"),
            }
        }
    };
    let cause = tokio::select! {
        r = &mut conn => match r {
            Ok(()) => ("closed", "connection closed".to_string()),
            Err(e) => ("error", format!("connection error: {e}")),
        },
        why = keepalive => ("ping_timeout", why),
        _ = tunnel.kill.notified() => ("revoked", "connector removed from the catalog".to_string()),
    };
    ctx.live.registry().remove_tunnel(&tunnel);
    ctx.live
        .metrics()
        .tunnel_disconnects
        .with_label_values(&[cause.0])
        .inc();
    tracing::info!(%remote, connector = %connector, tunnel = tunnel.id, reason = %cause.1, "tunnel down");
    Ok(())
}

/// Checks a hello: its protocol version, then its secret, or its enrollment token.
async fn admit(hello: &Hello, ctx: &TunnelContext) -> Result<Admitted, Refusal> {
    if hello.proto != protocol::PROTOCOL_VERSION {
        return Err((
            "protocol",
            format!(
                "unsupported protocol version {} (gateway speaks {})",
                hello.proto,
                protocol::PROTOCOL_VERSION
            ),
        ));
    }
    if let Some(token) = &hello.enroll {
        return enroll(ctx, &hello.id, token).await;
    }
    // One reason for an unknown id and a wrong secret: the connector (maybe another
    // tenant's) learns nothing about which ids exist; the metric label tells the operator.
    let refused = format!("unknown connector \"{}\" or wrong secret", hello.id);
    let candidates = ctx.live.connectors_named(&hello.id);
    if candidates.is_empty() {
        return Err(("unknown_connector", refused));
    }
    // Every candidate is checked (constant time each): which scope matched stays unseen.
    let mut admitted = None;
    for entry in candidates {
        if secret::verify(&hello.secret, &entry.secret_digest) && admitted.is_none() {
            admitted = Some(entry.id);
        }
    }
    match admitted {
        Some(id) => Ok(Admitted { id, secret: None }),
        None => Err(("bad_secret", refused)),
    }
}

/// Registers connector `id` with a fresh secret through the catalog store (validated,
/// persisted and published before the welcome is sent).
async fn enroll(ctx: &TunnelContext, id: &str, token: &str) -> Result<Admitted, Refusal> {
    let new_secret = secret::generate();
    let secret_hash = secret::hash(&new_secret);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (writer, owned_id, token) = (ctx.catalog.clone(), id.to_owned(), token.to_owned());
    // The store writes and fsyncs a file: keep that off the runtime's worker threads.
    let updated = tokio::task::spawn_blocking(move || {
        writer.update_catalog(None, |catalog| {
            let request = EnrollRequest {
                id: &owned_id,
                token: &token,
                secret_hash,
                now,
            };
            let change = enroll::decide(catalog, &request).map_err(|r| (r.label, r.reason))?;
            let done = (change.token_id.clone(), change.connector.key().qualified());
            change.apply(catalog);
            Ok(done)
        })
    })
    .await
    .map_err(|e| unavailable(id, e.to_string()))?;
    let (version, (token_id, qualified)) = match updated {
        Ok(done) => done,
        Err(UpdateError::ReadOnly) => {
            return Err((
                "enrollment_unavailable",
                "enrollment needs a catalog store on the gateway".to_owned(),
            ))
        }
        Err(UpdateError::Rejected(refusal)) => return Err(refusal),
        Err(UpdateError::Invalid(errors)) => {
            // Messages only: a catalog path (`connectors[17].id`) would tell a tenant's
            // connector how many objects the whole gateway holds.
            let errors: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
            return Err((
                "bad_enrollment",
                format!(
                    "enrolling connector \"{id}\" would make the catalog invalid: {}",
                    errors.join("; ")
                ),
            ));
        }
        Err(UpdateError::Store(e)) => return Err(unavailable(id, e.to_string())),
        Err(UpdateError::Unavailable(e)) => return Err(unavailable(id, e)),
        Err(UpdateError::Quota(e)) => return Err(("quota_exceeded", e.to_string())),
        Err(UpdateError::Conflict { current }) => {
            // Unreachable: no expected version is given.
            return Err(unavailable(
                id,
                format!("catalog version conflict ({current})"),
            ));
        }
    };
    tracing::info!(
        connector = %qualified, group = DEFAULT_GROUP, token = %token_id, version,
        "connector enrolled"
    );
    // The change is published before update_catalog returns; only a concurrent removal
    // could take the connector away again.
    match ctx.live.connectors_named(&qualified).pop() {
        Some(entry) => Ok(Admitted {
            id: entry.id,
            secret: Some(new_secret),
        }),
        None => Err((
            "unknown_connector",
            format!("connector \"{id}\" was removed right after it enrolled"),
        )),
    }
}

/// A gateway-side failure: the details stay in the gateway's log.
fn unavailable(id: &str, detail: String) -> Refusal {
    tracing::error!(connector = %id, error = %detail, "enrollment not stored");
    (
        "enrollment_unavailable",
        "the gateway could not store the enrollment; try again later".to_owned(),
    )
}
