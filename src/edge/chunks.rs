//! The chunk-line grammar (RFC 9112 §7.1.1), checked on the raw HTTP/1 bytes.
//!
//! pingora's body parser (httparse) accepts any octet after a chunk size's `;` up to CRLF, so
//! `5;a="unterminated` or an extension hiding a bare LF would be decoded and forwarded. A
//! downstream HTTP/1 connection's stream is wrapped in [`StrictChunks`], which follows the
//! framing of each request (head → `Content-Length` bytes or chunks → next head) and fails
//! the read carrying a chunk line that breaks the grammar; `rescue` answers it with 400.
//! Requests that ask for an upgrade stop the tracking (their bytes after the head are not
//! HTTP); h2 connections are not wrapped (h2 frames its own data).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::tls::{SslDigest, TlsRef};
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The error a read fails with when a chunk line breaks the grammar.
#[derive(Debug, thiserror::Error)]
#[error("malformed chunk line")]
pub struct ChunkLineError;

/// Whether a pingora error was caused by [`ChunkLineError`].
pub fn is_chunk_line_error(e: &pingora::Error) -> bool {
    let root: &(dyn std::error::Error + 'static) = e.root_cause();
    root.downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .is_some_and(|inner| inner.is::<ChunkLineError>())
}

/// Longest header line and chunk line followed; longer heads are pingora's to refuse.
const MAX_HEAD_LINE: usize = 128 * 1024;
const MAX_LINE: usize = 4096;

#[derive(Debug)]
enum State {
    /// Reading a request head line by line up to its blank line.
    Head(HeadInfo),
    /// Inside a `Content-Length` body.
    Skip(u64),
    /// Reading a chunk-size line.
    SizeLine,
    /// Chunk data plus its CRLF (checked by pingora).
    Data(u64),
    /// Trailer lines after the last chunk; whether the current line has content.
    Trailers(bool),
    /// Not HTTP/1 framing any more (upgrade) or not ours to judge.
    Off,
}

/// What the lines of a head read so far say about its body.
#[derive(Debug, Default)]
struct HeadInfo {
    lines: usize,
    chunked: bool,
    length: Option<u64>,
    not_http: bool,
}

/// Follows the framing of a stream of HTTP/1 requests.
#[derive(Debug)]
pub struct Tracker {
    state: State,
    /// The line being read (head or chunk line); its capacity is kept across requests.
    line: Vec<u8>,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            state: State::Head(HeadInfo::default()),
            line: Vec::new(),
        }
    }
}

impl Tracker {
    /// Feeds bytes read from the client. When a chunk line breaks the grammar, the error
    /// carries how many leading bytes of `data` come before that line (fine to deliver).
    pub fn feed(&mut self, data: &[u8]) -> Result<(), usize> {
        let (mut offset, mut line_start) = (0, 0);
        while offset < data.len() {
            if matches!(self.state, State::SizeLine) && self.line.is_empty() {
                line_start = offset;
            }
            match self.step(&data[offset..]) {
                Ok(rest) => offset = data.len() - rest.len(),
                Err(ChunkLineError) => return Err(line_start),
            }
        }
        Ok(())
    }

    fn step<'a>(&mut self, data: &'a [u8]) -> Result<&'a [u8], ChunkLineError> {
        match &mut self.state {
            State::Off => Ok(&[]),
            State::Skip(left) | State::Data(left) => {
                let n = (*left).min(data.len() as u64) as usize;
                *left -= n as u64;
                if *left == 0 {
                    self.state = match self.state {
                        State::Skip(_) => State::Head(HeadInfo::default()),
                        _ => State::SizeLine,
                    };
                }
                Ok(&data[n..])
            }
            State::Head(info) => {
                let (complete, rest) = take_line(&mut self.line, data);
                if complete {
                    if let Some(next) = head_line(info, &self.line) {
                        self.state = next;
                    }
                    self.line.clear();
                } else if self.line.len() > MAX_HEAD_LINE {
                    self.state = State::Off;
                }
                Ok(rest)
            }
            State::SizeLine => {
                let (complete, rest) = take_line(&mut self.line, data);
                if complete {
                    let size = chunk_line(&self.line)?;
                    self.line.clear();
                    self.state = match size {
                        0 => State::Trailers(false),
                        n => State::Data(n.checked_add(2).ok_or(ChunkLineError)?),
                    };
                } else if self.line.len() > MAX_LINE {
                    return Err(ChunkLineError);
                }
                Ok(rest)
            }
            State::Trailers(filled) => {
                for (i, b) in data.iter().enumerate() {
                    match *b {
                        b'\n' if !*filled => {
                            self.state = State::Head(HeadInfo::default());
                            return Ok(&data[i + 1..]);
                        }
                        b'\n' => *filled = false,
                        b'\r' => {}
                        _ => *filled = true,
                    }
                }
                Ok(&[])
            }
        }
    }
}

/// Appends to `buf` up to and including a LF; returns whether the line is complete.
fn take_line<'a>(buf: &mut Vec<u8>, data: &'a [u8]) -> (bool, &'a [u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(i) => {
            buf.extend_from_slice(&data[..=i]);
            (true, &data[i + 1..])
        }
        None => {
            buf.extend_from_slice(data);
            (false, &[])
        }
    }
}

/// Takes one head line (with its LF); at the blank line ending the head, what follows it.
/// Empty lines before a request line are skipped (RFC 9112 §2.2).
fn head_line(info: &mut HeadInfo, line: &[u8]) -> Option<State> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return (info.lines > 0).then(|| framing_of(info));
    }
    info.lines += 1;
    if info.lines == 1 {
        info.not_http |= line.starts_with(b"CONNECT ");
        return None;
    }
    let colon = line.iter().position(|b| *b == b':')?;
    let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
    if name.eq_ignore_ascii_case(b"upgrade") {
        info.not_http = true;
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        let last = value.rsplit(|b| *b == b',').next().unwrap_or_default();
        info.chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
    } else if name.eq_ignore_ascii_case(b"content-length") {
        let first = value.split(|b| *b == b',').next().unwrap_or_default();
        info.length = std::str::from_utf8(first.trim_ascii())
            .ok()
            .and_then(|s| s.parse().ok());
    }
    None
}

/// What follows a request head: chunks, a length, nothing, or bytes we do not follow.
fn framing_of(info: &HeadInfo) -> State {
    if info.not_http {
        State::Off
    } else if info.chunked {
        State::SizeLine
    } else {
        match info.length {
            Some(0) | None => State::Head(HeadInfo::default()),
            Some(n) => State::Skip(n),
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks one chunk line (with its line end) and returns the chunk size:
/// `1*HEXDIG *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) CRLF`.
fn chunk_line(line: &[u8]) -> Result<u64, ChunkLineError> {
    let body = line.strip_suffix(b"\r\n").ok_or(ChunkLineError)?;
    let digits = body.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(ChunkLineError);
    }
    let hex = std::str::from_utf8(&body[..digits]).map_err(|_| ChunkLineError)?;
    let size = u64::from_str_radix(hex, 16).map_err(|_| ChunkLineError)?;
    let mut rest = &body[digits..];
    loop {
        rest = rest.trim_ascii_start();
        let Some(after) = rest.strip_prefix(b";") else {
            return if rest.is_empty() {
                Ok(size)
            } else {
                Err(ChunkLineError)
            };
        };
        rest = after.trim_ascii_start();
        let name = rest.iter().take_while(|b| is_tchar(**b)).count();
        if name == 0 {
            return Err(ChunkLineError);
        }
        rest = rest[name..].trim_ascii_start();
        if let Some(after) = rest.strip_prefix(b"=") {
            rest = ext_value(after.trim_ascii_start())?;
        }
    }
}

/// Skips a token or a quoted-string; returns what follows it.
fn ext_value(s: &[u8]) -> Result<&[u8], ChunkLineError> {
    let Some(mut rest) = s.strip_prefix(b"\"") else {
        let n = s.iter().take_while(|b| is_tchar(**b)).count();
        return if n == 0 {
            Err(ChunkLineError)
        } else {
            Ok(&s[n..])
        };
    };
    loop {
        match rest {
            [b'"', tail @ ..] => return Ok(tail),
            [b'\\', c, tail @ ..] if *c == b'\t' || *c >= 0x20 && *c != 0x7f => rest = tail,
            [c, tail @ ..] if *c == b'\t' || (*c >= 0x20 && *c != 0x7f && *c != b'\\') => {
                rest = tail
            }
            _ => return Err(ChunkLineError),
        }
    }
}

/// A downstream HTTP/1 stream whose request bytes are checked by a [`Tracker`].
#[derive(Debug)]
pub struct StrictChunks {
    inner: Stream,
    tracker: Tracker,
    /// A broken chunk line was found: the next read fails.
    broken: bool,
}

impl StrictChunks {
    /// Wraps an HTTP/1 stream (leave h2 streams as they are).
    pub fn wrap(inner: Stream) -> Stream {
        if inner.selected_alpn_proto() == Some(ALPN::H2) {
            return inner;
        }
        Box::new(StrictChunks {
            inner,
            tracker: Tracker::default(),
            broken: false,
        })
    }
}

impl AsyncRead for StrictChunks {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let broken = || std::io::Error::new(std::io::ErrorKind::InvalidData, ChunkLineError);
        if self.broken {
            return Poll::Ready(Err(broken()));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => match this.tracker.feed(&buf.filled()[before..]) {
                Ok(()) => Poll::Ready(Ok(())),
                // Nothing before the broken line in this read: fail it now.
                Err(0) => Poll::Ready(Err(broken())),
                // Deliver what precedes the broken line (the head, earlier chunks) so that
                // pingora answers from within the request; the next read fails.
                Err(safe) => {
                    buf.set_filled(before + safe);
                    this.broken = true;
                    Poll::Ready(Ok(()))
                }
            },
            other => other,
        }
    }
}

impl AsyncWrite for StrictChunks {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for StrictChunks {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for StrictChunks {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for StrictChunks {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }
    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }
    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for StrictChunks {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }
    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }
    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for StrictChunks {
    fn get_proxy_digest(&self) -> Option<Arc<pingora::protocols::raw_connect::ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
    fn set_proxy_digest(&mut self, digest: pingora::protocols::raw_connect::ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for StrictChunks {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }
    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for StrictChunks {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(bytes: &[u8]) -> Result<(), usize> {
        // Byte by byte as well as whole: the tracker must not depend on read boundaries.
        let mut one = Tracker::default();
        for b in bytes {
            one.feed(std::slice::from_ref(b))?;
        }
        Tracker::default().feed(bytes)
    }

    const HEAD: &str = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

    #[test]
    fn valid_lines_pass() {
        for body in [
            "5\r\nhello\r\n0\r\n\r\n",
            "5;a\r\nhello\r\n0\r\n\r\n",
            "5 ; a = b ; c=\"q;\\\"x\"\r\nhello\r\n0\r\nTrailer: v\r\n\r\n",
            "A\r\n0123456789\r\n0\r\n\r\n",
        ] {
            let req = format!("{HEAD}{body}{HEAD}{body}");
            assert!(feed(req.as_bytes()).is_ok(), "{body:?}");
        }
    }

    #[test]
    fn broken_lines_fail() {
        for body in [
            "5;a=\"unterminated\r\nhello\r\n0\r\n\r\n",
            "5;\r\nhello\r\n0\r\n\r\n",
            "5;a=\r\nhello\r\n0\r\n\r\n",
            "5;a\nhello\r\n0\r\n\r\n",
            "5;a=b c\r\nhello\r\n0\r\n\r\n",
            "5;a=\"x\ry\"\r\nhello\r\n0\r\n\r\n",
            "11111111111111111\r\n",
            "5x\r\nhello\r\n0\r\n\r\n",
        ] {
            let req = format!("{HEAD}{body}");
            assert!(feed(req.as_bytes()).is_err(), "{body:?}");
        }
    }

    #[test]
    fn lengths_and_upgrades_are_followed() {
        // A Content-Length body that looks like a bad chunk line is only data.
        let req = "POST / HTTP/1.1\r\nContent-Length: 8\r\n\r\n5;a=\"x\r\n";
        assert!(feed(format!("{req}{HEAD}5\r\nhello\r\n0\r\n\r\n").as_bytes()).is_ok());
        assert!(feed(format!("{req}{HEAD}5;\"\r\n").as_bytes()).is_err());
        let up = "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n5;\"\r\n";
        assert!(feed(up.as_bytes()).is_ok());
        // Chunked wins over a Content-Length; blank lines before a request are skipped.
        let both = "\r\nPOST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(feed(format!("{both}5;\"\r\n").as_bytes()).is_err());
        // The error says how much of a read precedes the broken line.
        let mut t = Tracker::default();
        assert_eq!(
            t.feed(format!("{HEAD}5;\"\r\n").as_bytes()),
            Err(HEAD.len())
        );
    }
}

/// Properties of the tracker: it follows any stream of bytes without panicking and without
/// depending on where reads split it, and it never refuses well-formed requests.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::Tracker;
    use crate::net::testing::prop_config as runner;

    /// Feeds `bytes` in pieces cut at `cuts` (positions taken modulo the length).
    fn feed_split(bytes: &[u8], cuts: &[usize]) -> Result<(), ()> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.extend([0, bytes.len()]);
        points.sort_unstable();
        points.dedup();
        let mut t = Tracker::default();
        for w in points.windows(2) {
            t.feed(&bytes[w[0]..w[1]]).map_err(|_| ())?;
        }
        Ok(())
    }

    /// One well-formed request: no body, a `Content-Length` body of any bytes, or a chunked
    /// body with extensions (tokens and quoted strings) and trailers.
    fn request() -> impl Strategy<Value = Vec<u8>> {
        let ext = prop_oneof![
            "[a-z]{1,5}".prop_map(|n| format!(";{n}")),
            ("[a-z]{1,5}", "[a-z0-9]{1,5}").prop_map(|(n, v)| format!(" ; {n}={v}")),
            ("[a-z]{1,5}", "[a-z ;=]{0,8}").prop_map(|(n, v)| format!(";{n}=\"{v}\"")),
        ];
        let chunk = (
            proptest::collection::vec(any::<u8>(), 1..40),
            proptest::option::of(ext),
        )
            .prop_map(|(data, ext)| {
                let mut c = format!("{:x}{}\r\n", data.len(), ext.unwrap_or_default()).into_bytes();
                c.extend_from_slice(&data);
                c.extend_from_slice(b"\r\n");
                c
            });
        prop_oneof![
            Just(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..60).prop_map(|body| {
                let mut r = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len())
                    .into_bytes();
                r.extend_from_slice(&body);
                r
            }),
            (proptest::collection::vec(chunk, 0..4), any::<bool>()).prop_map(
                |(chunks, trailer)| {
                    let mut r = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                    chunks.iter().for_each(|c| r.extend_from_slice(c));
                    r.extend_from_slice(b"0\r\n");
                    if trailer {
                        r.extend_from_slice(b"X-Sum: 1\r\n");
                    }
                    r.extend_from_slice(b"\r\n");
                    r
                }
            ),
        ]
    }

    proptest! {
        #![proptest_config(runner(3000))]

        #[test]
        fn any_bytes_any_splits_same_verdict(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let whole = Tracker::default().feed(&bytes);
            if let Err(offset) = whole {
                prop_assert!(offset <= bytes.len());
            }
            prop_assert_eq!(feed_split(&bytes, &cuts), whole.map_err(|_| ()));
        }

        #[test]
        fn well_formed_pipelines_pass_at_any_split(
            reqs in proptest::collection::vec(request(), 1..5),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let bytes = reqs.concat();
            prop_assert_eq!(Tracker::default().feed(&bytes), Ok(()));
            prop_assert_eq!(feed_split(&bytes, &cuts), Ok(()));
        }
    }
}
