//! Tunnels: the wire protocol and stream format shared by both ends, and the gateway side
//! (acceptor, registry of live connectors).

pub mod acceptor;
pub mod protocol;
pub mod registry;
pub mod stream;
pub mod wire;
