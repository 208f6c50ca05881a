//! Tunnels: the wire protocol, and the gateway side (acceptor, registry of live connectors).

pub mod acceptor;
pub mod protocol;
pub mod registry;
