//! Live connectors for the benches: one real tunnel per connector of the table (an HTTP/2
//! session over an in-memory pipe), registered with `Registry::add_tunnel` as the acceptor
//! does after a connector's hello, so the live view is the one the gateway publishes.

use std::net::SocketAddr;
use std::sync::Arc;

use switchyard::routing::RoutingTable;
use switchyard::tunnel::registry::{Registry, Tunnel};

/// Keeps the tunnels' connection tasks (and their runtime) alive.
pub struct Tunnels {
    _runtime: tokio::runtime::Runtime,
}

/// Gives the registry the table's group membership, then opens one tunnel for every
/// connector of `table` and registers it.
pub fn connect_all(registry: &Registry, table: &RoutingTable) -> Tunnels {
    registry.on_table_swap(table);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let remote = SocketAddr::from(([127, 0, 0, 1], 0));
    for entry in table.connectors() {
        let send = runtime.block_on(async {
            let (gateway_end, connector_end) = tokio::io::duplex(64 * 1024);
            // The gateway is the h2 client of the tunnel; the connector serves it.
            tokio::spawn(async move {
                if let Ok(mut conn) = h2::server::handshake(connector_end).await {
                    while let Some(Ok(_)) = conn.accept().await {}
                }
            });
            let (send, conn) = h2::client::handshake(gateway_end)
                .await
                .expect("h2 handshake over an in-memory pipe");
            tokio::spawn(conn);
            send
        });
        let tunnel = Tunnel::new(
            registry.next_tunnel_id(),
            entry.id.clone(),
            remote,
            "bench".into(),
            send,
        );
        registry.add_tunnel(Arc::new(tunnel));
    }
    Tunnels { _runtime: runtime }
}
