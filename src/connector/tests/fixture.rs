//! Fixtures for the agent tests: a fake gateway (TLS listener, Hello/Welcome, h2 client) that
//! reports every Hello it reads and every GOAWAY the connector sends, and an http origin
//! that records each request and holds `/gated` until released.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use h2::client::SendRequest;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use crate::tunnel::protocol::{read_frame, write_frame, Hello, Welcome, CONTROL_HEADER};

/// What the fake gateway hands the test for each accepted tunnel.
pub(super) struct Accepted {
    /// The connection's number, in the order the gateway accepted them (from 0).
    pub(super) n: usize,
    pub(super) hello: Hello,
    pub(super) send: SendRequest<Bytes>,
    /// Resolves when the tunnel's h2 connection ends (GOAWAY + close, or a drop).
    pub(super) closed: tokio::task::JoinHandle<()>,
}

/// What the fake gateway saw on connection `n`, in the order it saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// The connector's Hello was read (before the Welcome is written).
    Hello(usize),
    /// A GOAWAY frame from the connector was read.
    GoAway(usize),
}

pub(super) struct FakeGateway {
    pub(super) addr: SocketAddr,
    pub(super) ca_file: PathBuf,
    pub(super) tunnels: mpsc::UnboundedReceiver<Accepted>,
    pub(super) seen: mpsc::UnboundedReceiver<Seen>,
    /// While true, every Hello is refused.
    pub(super) refuse: Arc<AtomicBool>,
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

/// The enrollment token the fake gateway accepts (it hands out the secret "good").
pub(super) const ENROLL_TOKEN: &str = "enroll-me";

/// Accepts tunnels; the secret "good" and the token [`ENROLL_TOKEN`] are welcomed (unless
/// `refuse` is set), anything else refused.
pub(super) async fn fake_gateway(tag: &str) -> FakeGateway {
    let ca = crate::tls::gen::Ca::new("test CA").expect("CA");
    let leaf = ca.issue(&["localhost"]).expect("leaf");
    let cert =
        crate::tls::cert_pair_from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes(), "gw")
            .expect("cert pair");
    let acceptor = TlsAcceptor::from(Arc::new(crate::tls::server_config(&cert, &[])));
    let ca_file = std::env::temp_dir().join(format!(
        "switchyard-connector-{tag}-{}-ca.pem",
        std::process::id()
    ));
    std::fs::write(&ca_file, ca.cert_pem()).expect("write CA");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, tunnels) = mpsc::unbounded_channel();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let refuse = Arc::new(AtomicBool::new(false));
    let refusing = Arc::clone(&refuse);
    tokio::spawn(async move {
        let mut accepted = 0;
        while let Ok((tcp, _)) = listener.accept().await {
            let n = accepted;
            accepted += 1;
            let (acceptor, tx, seen) = (acceptor.clone(), tx.clone(), seen_tx.clone());
            let refusing = Arc::clone(&refusing);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(hello) = read_frame::<_, Hello>(&mut tls).await else {
                    return;
                };
                let _ = seen.send(Seen::Hello(n));
                let enrolls = hello.enroll.as_deref() == Some(ENROLL_TOKEN);
                let ok = (hello.secret == "good" || enrolls) && !refusing.load(Ordering::SeqCst);
                let welcome = Welcome {
                    ok,
                    reason: (!ok).then(|| "bad credentials".to_owned()),
                    ping_interval_ms: 200,
                    secret: (ok && enrolls).then(|| "good".to_owned()),
                };
                if write_frame(&mut tls, &welcome).await.is_err() || !ok {
                    return;
                }
                let io = GoAwaySniffer::new(tls, n, seen);
                let Ok((send, conn)) = h2::client::handshake(io).await else {
                    return;
                };
                let closed = tokio::spawn(async move {
                    let _ = conn.await;
                });
                let _ = tx.send(Accepted {
                    n,
                    hello,
                    send,
                    closed,
                });
            });
        }
    });
    FakeGateway {
        addr,
        ca_file,
        tunnels,
        seen,
        refuse,
    }
}

/// Passes the connection through, reporting each GOAWAY frame header in the bytes the
/// connector sends (after the Welcome they are nothing but h2 frames).
struct GoAwaySniffer<T> {
    io: T,
    n: usize,
    seen: mpsc::UnboundedSender<Seen>,
    /// The frame header being read, and how much of it has arrived.
    header: [u8; 9],
    have: usize,
    /// Payload bytes of the current frame still to pass over.
    skip: usize,
}

/// h2 frame type of GOAWAY.
const GOAWAY: u8 = 0x7;

impl<T> GoAwaySniffer<T> {
    fn new(io: T, n: usize, seen: mpsc::UnboundedSender<Seen>) -> GoAwaySniffer<T> {
        GoAwaySniffer {
            io,
            n,
            seen,
            header: [0; 9],
            have: 0,
            skip: 0,
        }
    }

    fn scan(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let passed = self.skip.min(bytes.len());
                self.skip -= passed;
                bytes = &bytes[passed..];
                continue;
            }
            let take = (9 - self.have).min(bytes.len());
            self.header[self.have..self.have + take].copy_from_slice(&bytes[..take]);
            self.have += take;
            bytes = &bytes[take..];
            if self.have == 9 {
                let [a, b, c, kind, ..] = self.header;
                self.skip = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                self.have = 0;
                if kind == GOAWAY {
                    let _ = self.seen.send(Seen::GoAway(self.n));
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GoAwaySniffer<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        this.scan(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GoAwaySniffer<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// An http origin on 127.0.0.1: records every request's path, answers `/gated` with
/// "gated done" once released, anything else with "ok" at once.
pub(super) struct Origin {
    pub(super) addr: SocketAddr,
    paths: Arc<Mutex<Vec<String>>>,
    gate: watch::Sender<bool>,
}

impl Origin {
    /// Paths requested so far, in order.
    pub(super) fn paths(&self) -> Vec<String> {
        self.paths
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Lets every held `/gated` request (and later ones) answer.
    pub(super) fn release(&self) {
        self.gate.send_replace(true);
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

pub(super) async fn spawn_origin() -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
    let addr = listener.local_addr().expect("origin addr");
    let paths = Arc::new(Mutex::new(Vec::new()));
    let (gate, released) = watch::channel(false);
    let recorded = Arc::clone(&paths);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (recorded, released) = (Arc::clone(&recorded), released.clone());
            let service = service_fn(move |req: Request<Incoming>| {
                let (recorded, mut released) = (Arc::clone(&recorded), released.clone());
                async move {
                    let path = req.uri().path().to_owned();
                    let control = req.headers().contains_key(CONTROL_HEADER);
                    recorded
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .push(if control {
                            format!("{path} (control)")
                        } else {
                            path.clone()
                        });
                    let text: &'static str = if path == "/gated" {
                        let _ = released.wait_for(|open| *open).await;
                        "gated done"
                    } else {
                        "ok"
                    };
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                        text.as_bytes(),
                    ))))
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service),
            );
        }
    });
    Origin { addr, paths, gate }
}

/// A GET through a tunnel, with `switchyard-control: <control>` if given; the whole answer.
pub(super) async fn get(
    send: SendRequest<Bytes>,
    uri: String,
    control: Option<&'static str>,
) -> Result<(StatusCode, HeaderMap, Vec<u8>), h2::Error> {
    let mut req = Request::get(uri);
    if let Some(control) = control {
        req = req.header(CONTROL_HEADER, control);
    }
    let req = req.body(()).expect("request");
    let mut send = send.ready().await?;
    let (resp, _) = send.send_request(req, true)?;
    let (parts, mut body) = resp.await?.into_parts();
    let mut out = Vec::new();
    while let Some(data) = body.data().await {
        let data = data?;
        let _ = body.flow_control().release_capacity(data.len());
        out.extend_from_slice(&data);
    }
    Ok((parts.status, parts.headers, out))
}
