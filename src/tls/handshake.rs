//! Edge TLS handshakes that fail: why (a bounded set of reasons), counted in
//! `switchyard_tls_handshake_failures_total{reason}` and logged at debug.
//!
//! Three places see a failure. [`SniResolver`](super::SniResolver) sees a client whose SNI no
//! certificate covers (`no_sni`, `unknown_sni`). [`HelloCheck`] runs before rustls on every
//! edge connection and reads the first TLS record without consuming it: a peer that closes
//! before a whole ClientHello record arrived is `aborted` (port scans, TCP health checks), one
//! whose first bytes are not a TLS handshake record is `protocol` (plain HTTP on the HTTPS
//! port, other protocols), one still silent when pingora's handshake deadline drops the
//! connection is `timeout`. What fails after the ClientHello (the client rejects the
//! certificate, no common parameters, the client leaves) only shows in pingora's log line;
//! the binary's log filter ([`super::quiet`]) counts those as `aborted` or `protocol`.

use async_trait::async_trait;
use pingora::listeners::PreTlsProcess;
use pingora::protocols::l4::stream::Stream as L4Stream;
use prometheus::{IntCounter, IntCounterVec};
use tokio::io::AsyncReadExt;

/// Why an edge TLS handshake failed; each is one value of the metric's `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The client sent no SNI and no default certificate is configured.
    NoSni,
    /// No certificate covers the client's SNI and no default certificate is configured.
    UnknownSni,
    /// The peer closed (or reset) the connection before the handshake finished.
    Aborted,
    /// Not TLS (the first bytes are not a ClientHello record), or a TLS-level failure (an
    /// alert from the client, no common version or cipher suite).
    Protocol,
    /// The peer sent no complete ClientHello record before the handshake deadline.
    Timeout,
}

impl FailureReason {
    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            FailureReason::NoSni => "no_sni",
            FailureReason::UnknownSni => "unknown_sni",
            FailureReason::Aborted => "aborted",
            FailureReason::Protocol => "protocol",
            FailureReason::Timeout => "timeout",
        }
    }
}

/// The failure counters, one per reason, resolved once so a handshake only increments.
#[derive(Debug, Clone)]
pub struct HandshakeFailures {
    no_sni: IntCounter,
    unknown_sni: IntCounter,
    aborted: IntCounter,
    protocol: IntCounter,
    timeout: IntCounter,
}

impl HandshakeFailures {
    /// The counters of `vec` (labelled by `reason`); every reason is created at zero so a
    /// scrape shows them all.
    pub fn new(vec: &IntCounterVec) -> HandshakeFailures {
        let get = |r: FailureReason| vec.with_label_values(&[r.label()]);
        HandshakeFailures {
            no_sni: get(FailureReason::NoSni),
            unknown_sni: get(FailureReason::UnknownSni),
            aborted: get(FailureReason::Aborted),
            protocol: get(FailureReason::Protocol),
            timeout: get(FailureReason::Timeout),
        }
    }

    /// Counts one failure.
    pub fn count(&self, reason: FailureReason) {
        match reason {
            FailureReason::NoSni => &self.no_sni,
            FailureReason::UnknownSni => &self.unknown_sni,
            FailureReason::Aborted => &self.aborted,
            FailureReason::Protocol => &self.protocol,
            FailureReason::Timeout => &self.timeout,
        }
        .inc();
    }
}

/// TLS record header: content type, version (2 bytes), length (2 bytes).
const RECORD_HEADER: usize = 5;
/// Content type of a handshake record.
const HANDSHAKE: u8 = 0x16;
/// Handshake message type of a ClientHello.
const CLIENT_HELLO: u8 = 0x01;
/// Largest plaintext record (RFC 8446 §5.1): a bound on what is read ahead of rustls.
const MAX_RECORD: usize = 1 << 14;

/// Pre-TLS step on the edge listener: reads the first TLS record, classifies what is not a
/// ClientHello, and hands the bytes back to the stream (`rewind`) so rustls reads them as if
/// nothing happened. Costs one small copy per connection, nothing per request.
#[derive(Debug)]
pub struct HelloCheck {
    failures: HandshakeFailures,
}

impl HelloCheck {
    /// A check that counts into `failures`.
    pub fn new(failures: HandshakeFailures) -> HelloCheck {
        HelloCheck { failures }
    }
}

#[async_trait]
impl PreTlsProcess for HelloCheck {
    async fn process(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        // Counts `timeout` if pingora's handshake deadline drops this future mid-read.
        let mut pending = PendingCount {
            failures: &self.failures,
            armed: true,
        };
        let outcome = read_first_record(stream).await;
        pending.armed = false;
        match outcome {
            Ok(record) => {
                stream.rewind(&record);
                Ok(())
            }
            Err(reason) => {
                self.failures.count(reason);
                let peer = pingora::protocols::GetSocketDigest::get_socket_digest(stream)
                    .and_then(|d| d.peer_addr().cloned());
                tracing::debug!(
                    reason = reason.label(),
                    ?peer,
                    "TLS handshake failed before the ClientHello"
                );
                Err(pingora::Error::explain(
                    pingora::ErrorType::HandshakeError,
                    reason.label(),
                ))
            }
        }
    }
}

/// Reads exactly the first TLS record, checking it is a handshake record with a ClientHello.
async fn read_first_record(stream: &mut L4Stream) -> Result<Vec<u8>, FailureReason> {
    let mut record = vec![0u8; RECORD_HEADER];
    // One byte first: a plain-HTTP client that sends "GET" and waits is `protocol` at once.
    read(stream, &mut record[..1]).await?;
    if record[0] != HANDSHAKE {
        return Err(FailureReason::Protocol);
    }
    read(stream, &mut record[1..]).await?;
    let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
    if record[1] != 3 || len == 0 || len > MAX_RECORD {
        return Err(FailureReason::Protocol);
    }
    record.resize(RECORD_HEADER + len, 0);
    read(stream, &mut record[RECORD_HEADER..]).await?;
    if record[RECORD_HEADER] != CLIENT_HELLO {
        return Err(FailureReason::Protocol);
    }
    Ok(record)
}

/// Fills `buf`; end of stream or a socket error means the peer gave up.
async fn read(stream: &mut L4Stream, buf: &mut [u8]) -> Result<(), FailureReason> {
    stream
        .read_exact(buf)
        .await
        .map(|_| ())
        .map_err(|_| FailureReason::Aborted)
}

/// Counts a `timeout` when dropped while still armed (the read never finished).
struct PendingCount<'a> {
    failures: &'a HandshakeFailures,
    armed: bool,
}

impl Drop for PendingCount<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.failures.count(FailureReason::Timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// A connected pair: the client socket and the server side as pingora's stream.
    async fn pair() -> (TcpStream, L4Stream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (client, L4Stream::from(server))
    }

    fn counters() -> (HelloCheck, IntCounterVec) {
        let opts = prometheus::Opts::new("failures_total", "test");
        let vec = IntCounterVec::new(opts, &["reason"]).expect("vec");
        (HelloCheck::new(HandshakeFailures::new(&vec)), vec)
    }

    #[tokio::test]
    async fn a_silent_peer_dropped_by_the_deadline_counts_as_timeout() {
        let (mut client, mut server) = pair().await;
        client.write_all(&[0x16, 0x03]).await.expect("write");
        let (check, vec) = counters();
        let cut = tokio::time::timeout(Duration::from_millis(100), check.process(&mut server));
        assert!(cut.await.is_err(), "still waiting for the record");
        let count = |r: &str| vec.with_label_values(&[r]).get();
        assert_eq!((count("timeout"), count("aborted")), (1, 0));
    }

    #[tokio::test]
    async fn a_client_hello_record_is_handed_back_untouched() {
        let (mut client, mut server) = pair().await;
        let hello = [0x16, 0x03, 0x01, 0x00, 0x03, 0x01, 0xaa, 0xbb];
        client.write_all(&hello).await.expect("write");
        client.write_all(b"next").await.expect("write");
        let (check, vec) = counters();
        check
            .process(&mut server)
            .await
            .expect("a ClientHello passes");
        let mut seen = [0u8; 12];
        server.read_exact(&mut seen).await.expect("read back");
        assert_eq!(&seen[..8], &hello);
        assert_eq!(&seen[8..], b"next");
        let total: u64 = ["no_sni", "unknown_sni", "aborted", "protocol", "timeout"]
            .iter()
            .map(|r| vec.with_label_values(&[r]).get())
            .sum();
        assert_eq!(total, 0);
    }
}
