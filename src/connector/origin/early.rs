//! An origin connection that lets an early answer through.
//!
//! An origin may answer before it has read the whole request body (a 413 for an upload too
//! large, a 401) and then close its connection; closing with unread bytes makes its kernel
//! reset the connection, and the next body write fails with a broken pipe. The answer is
//! already in our receive buffer, but the HTTP client gives up on the write error first
//! and reports "error writing a body" instead of the response. Here such a write error is
//! held back (the write stays pending) until the read side has reached its end, or for at
//! most [`HOLD`], so the client reads the answer first.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper_util::client::legacy::connect::{Connected, Connection};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// Longest a write error waits for the read side to catch up.
pub const HOLD: Duration = Duration::from_secs(2);

/// A TCP connection to an origin whose "peer is gone" write errors wait for the reads.
#[derive(Debug)]
pub struct EarlyAnswerIo {
    tcp: TcpStream,
    /// A write error waiting for the read side, with its deadline.
    held: Option<(io::Error, Pin<Box<Sleep>>)>,
    /// The read side reported its end (EOF or an error).
    read_done: bool,
    /// The task blocked on a held write, woken when the read side ends.
    writer: Option<Waker>,
}

impl EarlyAnswerIo {
    /// Wraps a connected origin socket.
    pub fn new(tcp: TcpStream) -> EarlyAnswerIo {
        EarlyAnswerIo {
            tcp,
            held: None,
            read_done: false,
            writer: None,
        }
    }

    /// Holds a peer-gone error (or returns any other result as it is).
    fn hold<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match r {
            Poll::Ready(Err(e)) if gone(&e) && !self.read_done => {
                self.held = Some((e, Box::pin(tokio::time::sleep(HOLD))));
                self.poll_held(cx)
            }
            other => other,
        }
    }

    /// A held error is released once reads have ended or its time is up.
    fn poll_held<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let Some((_, deadline)) = self.held.as_mut() else {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        };
        if !self.read_done && deadline.as_mut().poll(cx).is_pending() {
            self.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        match self.held.take() {
            Some((e, _)) => Poll::Ready(Err(e)),
            None => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }
}

fn gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}

impl AsyncRead for EarlyAnswerIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.tcp).poll_read(cx, buf);
        let ended = match &r {
            Poll::Ready(Ok(())) => buf.filled().len() == before,
            Poll::Ready(Err(_)) => true,
            Poll::Pending => false,
        };
        if ended {
            this.read_done = true;
            if let Some(w) = this.writer.take() {
                w.wake();
            }
        }
        r
    }
}

impl AsyncWrite for EarlyAnswerIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.held.is_some() {
            return this.poll_held(cx);
        }
        let r = Pin::new(&mut this.tcp).poll_write(cx, buf);
        this.hold(cx, r)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.held.is_some() {
            return this.poll_held(cx);
        }
        let r = Pin::new(&mut this.tcp).poll_flush(cx);
        this.hold(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

impl Connection for EarlyAnswerIo {
    fn connected(&self) -> Connected {
        self.tcp.connected()
    }
}
