//! The request body sent to the origin: the gateway's h2 stream, read as it arrives.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use h2::RecvStream;
use http_body::{Body, Frame, SizeHint};

/// A request body streamed from an h2 [`RecvStream`]: data frames release their
/// flow-control capacity as the origin client takes them (so the gateway may send more),
/// and trailers are forwarded. Never buffers more than one frame.
#[derive(Debug)]
pub struct TunnelBody {
    /// `None` once the body is finished (or for an empty body).
    recv: Option<RecvStream>,
    data_done: bool,
    /// Bytes still expected, from the request's `content-length` (h2 enforces it).
    remaining: Option<u64>,
}

impl TunnelBody {
    /// A body with no bytes.
    pub fn empty() -> TunnelBody {
        TunnelBody {
            recv: None,
            data_done: true,
            remaining: Some(0),
        }
    }

    /// The body of an h2 request; `content_length` is its declared length, if any.
    pub fn from_stream(recv: RecvStream, content_length: Option<u64>) -> TunnelBody {
        if recv.is_end_stream() {
            return TunnelBody::empty();
        }
        TunnelBody {
            recv: Some(recv),
            data_done: false,
            remaining: content_length,
        }
    }
}

impl Body for TunnelBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let this = &mut *self;
        let Some(recv) = this.recv.as_mut() else {
            return Poll::Ready(None);
        };
        if !this.data_done {
            match ready!(recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Released now: the origin client has taken the bytes, so the gateway
                    // may send the next window while they travel on.
                    let _ = recv.flow_control().release_capacity(data.len());
                    if let Some(left) = this.remaining.as_mut() {
                        *left = left.saturating_sub(data.len() as u64);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => {
                    this.recv = None;
                    return Poll::Ready(Some(Err(e)));
                }
                None => this.data_done = true,
            }
        }
        let trailers = ready!(recv.poll_trailers(cx));
        this.recv = None;
        match trailers {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.as_ref().is_none_or(RecvStream::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
