//! The gateway's tunnel listener: TLS, the connector's hello, then an HTTP/2 client session
//! on the connection (roles reversed), kept alive by PINGs and registered as a live tunnel.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::catalog::secret;
use crate::gateway::state::GatewayState;
use crate::tunnel::protocol::{self, Hello, Welcome};
use crate::tunnel::registry::Tunnel;

/// HTTP/2 windows on the tunnel: large enough that one stream can fill a fast link.
const STREAM_WINDOW: u32 = 1 << 20;
const CONN_WINDOW: u32 = 16 << 20;

/// Accepts connectors until the task is dropped.
pub async fn serve(listener: TcpListener, tls: TlsAcceptor, state: Arc<GatewayState>) {
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
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(reason) = handle(sock, remote, tls, &state).await {
                tracing::debug!(%remote, %reason, "tunnel connection ended");
            }
        });
    }
}

async fn handle(
    sock: TcpStream,
    remote: SocketAddr,
    tls: TlsAcceptor,
    state: &GatewayState,
) -> Result<(), String> {
    let _ = sock.set_nodelay(true);
    let hello_deadline = state.hello_timeout;
    let mut stream = tokio::time::timeout(hello_deadline, tls.accept(sock))
        .await
        .map_err(|_| "TLS handshake timed out".to_string())?
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    let hello: Hello =
        match tokio::time::timeout(hello_deadline, protocol::read_frame(&mut stream)).await {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                state
                    .metrics
                    .tunnel_auth_failures
                    .with_label_values(&["malformed"])
                    .inc();
                return Err(format!("bad hello: {e}"));
            }
            Err(_) => {
                state
                    .metrics
                    .tunnel_auth_failures
                    .with_label_values(&["timeout"])
                    .inc();
                return Err("no hello in time".into());
            }
        };

    let snapshot = state.table();
    let verdict = if hello.proto != protocol::PROTOCOL_VERSION {
        Err((
            "protocol",
            format!(
                "unsupported protocol version {} (gateway speaks {})",
                hello.proto,
                protocol::PROTOCOL_VERSION
            ),
        ))
    } else {
        match snapshot.table.connector(&hello.id) {
            None => Err((
                "unknown_connector",
                format!("unknown connector \"{}\"", hello.id),
            )),
            Some(entry) if !secret::verify(&hello.secret, &entry.secret_digest) => Err((
                "bad_secret",
                format!("wrong secret for connector \"{}\"", hello.id),
            )),
            Some(entry) => Ok(entry.id.clone()),
        }
    };
    let connector = match verdict {
        Ok(id) => id,
        Err((label, reason)) => {
            state
                .metrics
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
                },
            )
            .await;
            return Err(reason);
        }
    };
    protocol::write_frame(
        &mut stream,
        &Welcome {
            ok: true,
            reason: None,
            ping_interval_ms: state.ping_interval.as_millis() as u64,
        },
    )
    .await
    .map_err(|e| format!("welcome not sent: {e}"))?;

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
        state.registry.next_tunnel_id(),
        connector.clone(),
        remote,
        hello.version.clone(),
        send,
    ));
    state
        .registry
        .add_tunnel(tunnel.clone(), &state.table().table);
    tracing::info!(%remote, connector = %connector, version = %hello.version, tunnel = tunnel.id, "tunnel up");

    let interval = state.ping_interval;
    let timeout = state.ping_timeout;
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
    state.registry.remove_tunnel(&tunnel, &state.table().table);
    state
        .metrics
        .tunnel_disconnects
        .with_label_values(&[cause.0])
        .inc();
    tracing::info!(%remote, connector = %connector, tunnel = tunnel.id, reason = %cause.1, "tunnel down");
    Ok(())
}
