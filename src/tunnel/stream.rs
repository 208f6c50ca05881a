//! One request stream on a tunnel, for both ends: opening it (ready within a bound, then
//! `send_request`), sending a body within the flow-control window, and receiving a body while
//! releasing the window as the bytes are used. The edge (plain and upgraded requests) and the
//! connector drive their streams only through these, so flow control is written once.

use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};
use h2::{Reason, RecvStream, SendStream};
use http::{HeaderMap, Request};

/// Why a stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The tunnel had no room for another stream within the bound.
    #[error("tunnel not ready in {0:?}")]
    NotReady(Duration),
    /// The tunnel failed (GOAWAY received, connection gone): pick another one.
    #[error("tunnel failed: {0}")]
    Tunnel(#[from] h2::Error),
}

/// Opens a stream for `request` once the tunnel can take one (waiting at most `bound`);
/// `end_of_stream` when the request has no body at all.
pub async fn open(
    tunnel: &SendRequest<Bytes>,
    request: Request<()>,
    end_of_stream: bool,
    bound: Duration,
) -> Result<(ResponseFuture, SendStream<Bytes>), OpenError> {
    let mut send = match tokio::time::timeout(bound, tunnel.clone().ready()).await {
        Ok(ready) => ready?,
        Err(_) => return Err(OpenError::NotReady(bound)),
    };
    Ok(send.send_request(request, end_of_stream)?)
}

/// The stream was reset by the peer or the tunnel closed: nothing more can be sent.
#[derive(Debug, thiserror::Error)]
#[error("tunnel stream closed")]
pub struct StreamGone;

/// A body on its way out: one chunk at a time, each part sent as the window allows.
pub struct BodySender {
    stream: SendStream<Bytes>,
    pending: Option<Bytes>,
}

impl BodySender {
    /// Sends on `stream`.
    pub fn new(stream: SendStream<Bytes>) -> BodySender {
        BodySender {
            stream,
            pending: None,
        }
    }

    /// Whether every pushed byte has been handed to h2.
    pub fn is_flushed(&self) -> bool {
        self.pending.is_none()
    }

    /// Queues `data` to be sent by [`flush_step`](Self::flush_step); call only when flushed.
    pub fn push(&mut self, data: Bytes) {
        if !data.is_empty() {
            self.stream.reserve_capacity(data.len());
            self.pending = Some(data);
        }
    }

    /// Sends as much of the queued chunk as the window allows, waiting for window if there
    /// is none. Cancel-safe: the chunk stays queued across the await, so it can sit in a
    /// `select!` branch.
    pub async fn flush_step(&mut self) -> Result<(), StreamGone> {
        let Some(want) = self.pending.as_ref().map(Bytes::len) else {
            return Ok(());
        };
        self.stream.reserve_capacity(want);
        let stream = &mut self.stream;
        let granted = poll_fn(|cx| {
            if let Poll::Ready(reason) = stream.poll_reset(cx) {
                tracing::debug!(?reason, "peer reset the stream");
                return Poll::Ready(Err(StreamGone));
            }
            match stream.poll_capacity(cx) {
                Poll::Ready(Some(Ok(n))) => Poll::Ready(Ok(n)),
                Poll::Ready(Some(Err(_)) | None) => Poll::Ready(Err(StreamGone)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await?;
        let Some(mut data) = self.pending.take() else {
            return Ok(());
        };
        let chunk = data.split_to(granted.min(data.len()));
        if !data.is_empty() {
            self.pending = Some(data);
        }
        if chunk.is_empty() {
            return Ok(());
        }
        self.stream.send_data(chunk, false).map_err(|_| StreamGone)
    }

    /// Sends `data` whole, waiting for window as needed.
    pub async fn send_all(&mut self, data: Bytes) -> Result<(), StreamGone> {
        self.push(data);
        while !self.is_flushed() {
            self.flush_step().await?;
        }
        Ok(())
    }

    /// Ends the body (after everything pushed has been flushed).
    pub fn finish(&mut self) -> Result<(), StreamGone> {
        self.stream
            .send_data(Bytes::new(), true)
            .map_err(|_| StreamGone)
    }

    /// Sends a small body whole and ends the stream: h2 queues what the window cannot take
    /// yet, so only for bodies bounded by the caller.
    pub fn finish_with(&mut self, data: Bytes) -> Result<(), h2::Error> {
        self.stream.reserve_capacity(data.len());
        self.stream.send_data(data, true)
    }

    /// Ends the body with trailers.
    pub fn finish_with_trailers(&mut self, trailers: HeaderMap) -> Result<(), StreamGone> {
        self.stream.send_trailers(trailers).map_err(|_| StreamGone)
    }

    /// Abandons the stream with `reason`.
    pub fn reset(&mut self, reason: Reason) {
        self.pending = None;
        self.stream.send_reset(reason);
    }

    /// Resolves when the peer resets the stream (cancel-safe).
    pub async fn reset_by_peer(&mut self) -> Result<Reason, h2::Error> {
        poll_fn(|cx| self.stream.poll_reset(cx)).await
    }
}

/// A body on its way in. Each chunk's window is released when the next one is asked for,
/// that is once the caller has passed the previous chunk on: the peer never gets ahead of
/// the slowest reader by more than one window.
pub struct BodyReceiver {
    stream: RecvStream,
    unreleased: usize,
}

impl BodyReceiver {
    /// Receives from `stream`.
    pub fn new(stream: RecvStream) -> BodyReceiver {
        BodyReceiver {
            stream,
            unreleased: 0,
        }
    }

    fn release(&mut self) {
        if self.unreleased > 0 {
            // Fails only when the stream is gone, which the next read reports.
            let _ = self.stream.flow_control().release_capacity(self.unreleased);
            self.unreleased = 0;
        }
    }

    /// The next chunk, `None` at the end of the body. Cancel-safe.
    pub async fn data(&mut self) -> Option<Result<Bytes, h2::Error>> {
        self.release();
        let chunk = self.stream.data().await;
        if let Some(Ok(data)) = &chunk {
            self.unreleased = data.len();
        }
        chunk
    }

    /// The trailers, after the last chunk.
    pub async fn trailers(&mut self) -> Result<Option<HeaderMap>, h2::Error> {
        self.release();
        self.stream.trailers().await
    }

    /// Reads the rest of the body and throws it away, releasing its window.
    pub async fn drain(&mut self) -> Result<(), h2::Error> {
        while let Some(chunk) = self.data().await {
            chunk?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
