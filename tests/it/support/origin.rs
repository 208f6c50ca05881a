//! A real HTTP/1.1 origin on 127.0.0.1:0 that says who it is and counts what it saw.
//!
//! Routes: `/headers` (request as JSON), `/echo` (streams the body back), `/bytes/N` (N bytes,
//! streamed), `/sleep/MS`, `/redirect` (Location on its own Host), `/status/N`, `/ws`
//! (WebSocket echo), `/early/N` (status N at once, body unread), `/early/N/BYTES` (status N
//! after reading BYTES of the body), `/count` (reads the whole body, answers its length and
//! records in [`BodyStats`] whether it was complete or aborted); anything else answers its
//! name.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, hyper::Error>;

pub struct Origin {
    pub name: String,
    pub addr: SocketAddr,
    pub requests: Arc<AtomicUsize>,
    pub connections: Arc<AtomicUsize>,
    pub bodies: Arc<BodyStats>,
    task: tokio::task::JoinHandle<()>,
}

impl Origin {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// What `/count` saw of request bodies.
#[derive(Default)]
pub struct BodyStats {
    /// Bodies read to their end.
    pub complete: AtomicUsize,
    /// Bodies that failed before their end (the client, or the proxy, gave up).
    pub aborted: AtomicUsize,
    /// Bytes of the last complete body.
    pub last_len: AtomicU64,
}

impl BodyStats {
    pub fn complete(&self) -> usize {
        self.complete.load(Ordering::SeqCst)
    }
    pub fn aborted(&self) -> usize {
        self.aborted.load(Ordering::SeqCst)
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An address nothing listens on (an origin that refuses connections).
pub fn refusing_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

fn full(s: impl Into<Bytes>) -> Body {
    Full::new(s.into()).map_err(|never| match never {}).boxed()
}

fn reply(status: u16, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = http::StatusCode::from_u16(status).expect("status");
    r
}

/// Answers `/early/...` and `/count`, the routes about request bodies.
async fn body_routes(path: &str, req: Request<Incoming>, stats: &BodyStats) -> Response<Body> {
    if path == "/count" {
        let mut body = req.into_body();
        let mut n = 0u64;
        loop {
            match body.frame().await {
                Some(Ok(f)) => n += f.data_ref().map_or(0, |d| d.len() as u64),
                Some(Err(_)) => {
                    stats.aborted.fetch_add(1, Ordering::SeqCst);
                    return reply(400, full("aborted"));
                }
                None => break,
            }
        }
        stats.last_len.store(n, Ordering::SeqCst);
        stats.complete.fetch_add(1, Ordering::SeqCst);
        return reply(200, full(n.to_string()));
    }
    let mut parts = path.trim_start_matches("/early/").split('/');
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(413);
    let want: usize = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut body = req.into_body();
    let mut read = 0;
    while read < want {
        match body.frame().await {
            Some(Ok(f)) => read += f.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
    // Answered with the rest of the body unread (hyper then drains or closes).
    reply(status, full(format!("early {status}")))
}

async fn handle(
    name: Arc<str>,
    req: Request<Incoming>,
    count: Arc<AtomicUsize>,
    stats: Arc<BodyStats>,
) -> Response<Body> {
    count.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_string();
    let mut resp = if path == "/count" || path.starts_with("/early/") {
        body_routes(&path, req, &stats).await
    } else if path == "/headers" {
        let headers: serde_json::Map<String, serde_json::Value> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    serde_json::Value::String(v.to_str().unwrap_or("?").into()),
                )
            })
            .collect();
        let j = serde_json::json!({
            "method": req.method().as_str(),
            "uri": req.uri().to_string(),
            "headers": headers,
        });
        reply(200, full(j.to_string()))
    } else if path == "/echo" {
        let len = req.headers().get("content-length").cloned();
        let mut r = reply(200, req.into_body().boxed());
        if let Some(l) = len {
            r.headers_mut().insert("content-length", l);
        }
        r
    } else if let Some(n) = path.strip_prefix("/bytes/") {
        let n: usize = n.parse().unwrap_or(0);
        let chunks = (0..n.div_ceil(65536)).map(move |i| {
            let len = (n - i * 65536).min(65536);
            Ok::<_, hyper::Error>(Frame::data(Bytes::from(vec![b'x'; len])))
        });
        reply(
            200,
            BodyExt::boxed(StreamBody::new(futures_util::stream::iter(chunks))),
        )
    } else if let Some(ms) = path.strip_prefix("/sleep/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        reply(200, full("slept"))
    } else if path == "/redirect" {
        let host = req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("?")
            .to_string();
        let mut r = reply(302, full(""));
        r.headers_mut().insert(
            "location",
            format!("http://{host}/landing?x=1").parse().expect("hv"),
        );
        r.headers_mut().insert(
            "content-location",
            "https://elsewhere.example/doc".parse().expect("hv"),
        );
        r
    } else if let Some(code) = path.strip_prefix("/status/") {
        reply(code.parse().unwrap_or(500), full(format!("status {code}")))
    } else if path == "/ws" {
        return websocket(req);
    } else {
        reply(200, full(name.to_string()))
    };
    resp.headers_mut()
        .insert("x-origin", name.to_string().parse().expect("hv"));
    // A hop-by-hop header that must never reach the user.
    resp.headers_mut()
        .insert("keep-alive", "timeout=5".parse().expect("hv"));
    resp
}

fn websocket(req: Request<Incoming>) -> Response<Body> {
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return reply(400, full("not a websocket request"));
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            None,
        )
        .await;
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_text() || msg.is_binary() {
                if ws.send(msg).await.is_err() {
                    break;
                }
            } else if msg.is_close() {
                break;
            }
        }
    });
    let mut r = reply(101, full(""));
    let h = r.headers_mut();
    h.insert("upgrade", "websocket".parse().expect("hv"));
    h.insert("connection", "Upgrade".parse().expect("hv"));
    h.insert("sec-websocket-accept", accept.parse().expect("hv"));
    r
}

/// Starts an origin named `name`.
pub async fn spawn(name: &str) -> Origin {
    spawn_with(name, None).await
}

/// An HTTPS origin with a certificate for `localhost` signed by `ca`.
pub async fn spawn_tls(name: &str, ca: &switchyard::tls::gen::Ca) -> Origin {
    let issued = ca.issue(&["localhost", "127.0.0.1"]).expect("origin cert");
    let cert = switchyard::tls::cert_pair_from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
        "origin",
    )
    .expect("origin pair");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(switchyard::tls::server_config(
        &cert,
        &[b"http/1.1"],
    )));
    spawn_with(name, Some(acceptor)).await
}

async fn serve<S>(io: S, name: Arc<str>, count: Arc<AtomicUsize>, stats: Arc<BodyStats>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let (name, count, stats) = (name.clone(), count.clone(), stats.clone());
        async move { Ok::<_, Infallible>(handle(name, req, count, stats).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades()
        .await;
}

async fn spawn_with(name: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
    let addr = listener.local_addr().expect("addr");
    let requests = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(BodyStats::default());
    let name_arc: Arc<str> = Arc::from(name);
    let (req_c, conn_c, stats) = (requests.clone(), connections.clone(), bodies.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            conn_c.fetch_add(1, Ordering::SeqCst);
            let (name, count, tls) = (name_arc.clone(), req_c.clone(), tls.clone());
            let stats = stats.clone();
            tokio::spawn(async move {
                match tls {
                    None => serve(sock, name, count, stats).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(sock).await {
                            serve(stream, name, count, stats).await;
                        }
                    }
                }
            });
        }
    });
    Origin {
        name: name.to_string(),
        addr,
        requests,
        connections,
        bodies,
        task,
    }
}
