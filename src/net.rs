//! Network addresses: binding with port 0 for tests and the quickstart, waiting until a
//! listener answers, and the connector's allow-list of internal destinations ([`allow`]).

pub mod allow;
#[cfg(test)]
pub mod testing;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// A port held for a listener that someone else (pingora) binds. With port 0 a free port is
/// picked; the socket is bound with `SO_REUSEPORT` but never listens, so no other process
/// can take the port and no connection lands on it. Drop it once the real listener is up.
pub struct PortHold {
    pub addr: SocketAddr,
    _socket: Option<Socket>,
}

impl PortHold {
    /// Holds `addr`; only port 0 needs holding. A fixed port is checked with a trial bind
    /// (skipped with `inherited`, when a graceful upgrade takes the socket over), so an
    /// address in use fails at once with a clear error instead of inside pingora.
    pub fn new(addr: SocketAddr, inherited: bool) -> std::io::Result<PortHold> {
        if addr.port() != 0 {
            if !inherited {
                drop(std::net::TcpListener::bind(addr)?);
            }
            return Ok(PortHold {
                addr,
                _socket: None,
            });
        }
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        let bound = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("bound address is not an inet address"))?;
        Ok(PortHold {
            addr: bound,
            _socket: Some(socket),
        })
    }

    /// True when the held port needs `SO_REUSEPORT` on the real listener.
    pub fn needs_reuseport(&self) -> bool {
        self._socket.is_some()
    }
}

/// Binds a listener with `SO_REUSEPORT`, so that during a graceful upgrade the new process
/// can bind the tunnel and metrics listeners while the old one still holds them (pingora
/// hands over only the edge listeners). The HTTPS edge is bound without it, so two gateways
/// started by mistake on one config still fail loudly.
pub fn bind_shared(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// True when the kernel lists a socket in LISTEN state on `addr`'s port and address family,
/// read from `/proc/net/tcp{,6}`: probing with a connection would make the listener log a
/// failed handshake.
fn listed_as_listening(addr: SocketAddr) -> Option<bool> {
    let file = if addr.is_ipv4() {
        "/proc/net/tcp"
    } else {
        "/proc/net/tcp6"
    };
    let table = std::fs::read_to_string(file).ok()?;
    let port = format!(":{:04X}", addr.port());
    Some(table.lines().skip(1).any(|line| {
        let mut cols = line.split_whitespace();
        let local = cols.nth(1).unwrap_or("");
        let state = cols.nth(1).unwrap_or("");
        state == "0A" && local.ends_with(&port)
    }))
}

/// Waits until something listens on `addr`.
pub fn wait_listening(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let target = match addr.ip() {
        ip if ip.is_unspecified() => {
            if addr.is_ipv4() {
                SocketAddr::from(([127, 0, 0, 1], addr.port()))
            } else {
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
            }
        }
        _ => addr,
    };
    while Instant::now() < deadline {
        let up = match listed_as_listening(addr) {
            Some(listed) => listed,
            None => TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok(),
        };
        if up {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_port_is_not_listening_but_can_be_bound_again_with_reuseport() {
        let hold = PortHold::new("127.0.0.1:0".parse().expect("addr"), false).expect("hold");
        assert_ne!(hold.addr.port(), 0);
        assert!(!wait_listening(hold.addr, Duration::from_millis(50)));
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        s.set_reuse_port(true).expect("reuseport");
        s.bind(&hold.addr.into()).expect("second bind");
        s.listen(8).expect("listen");
        assert!(wait_listening(hold.addr, Duration::from_secs(2)));
    }
}
