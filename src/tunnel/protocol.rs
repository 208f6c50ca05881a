//! The tunnel wire protocol shared by the gateway and the connector.
//!
//! 1. The connector dials TCP + TLS to the gateway's tunnel listener.
//! 2. It sends a [`Hello`] frame (u16 big-endian length + JSON); the gateway answers with a
//!    [`Welcome`] frame. A refusal carries a reason and the gateway closes the connection.
//!    A connector without a secret yet sends an enrollment token instead ([`Hello::enroll`]):
//!    the gateway registers it in the `default` group and returns its new secret in
//!    [`Welcome::secret`]; the tunnel then goes on like any authenticated one.
//! 3. HTTP/2 runs on the same TLS stream with roles reversed: the gateway is the h2 client,
//!    the connector the h2 server. One user request is one h2 stream.
//!
//! On each stream the gateway sends the request as the origin should see it: `:scheme` and
//! `:authority` are the app's internal URL, `:path` the mapped path, and the control headers
//! below. Upgrades (WebSocket) travel as extended CONNECT (RFC 8441) with `:protocol` set to
//! the `Upgrade` token; the connector answers 200 when the origin switched protocols.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Protocol version carried in the hello.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest hello or welcome frame accepted.
pub const MAX_FRAME: usize = 4096;

/// Header carrying the Host value the origin must see (gateway → connector).
pub const HOST_HEADER: &str = "switchyard-host";
/// Header that turns origin certificate verification off for this request (value `1`).
pub const INSECURE_HEADER: &str = "switchyard-origin-insecure";
/// Header on a connector-made error response naming what failed (connector → gateway).
pub const ERROR_HEADER: &str = "switchyard-error";
/// Header on a 200 answer to an extended CONNECT: the origin's status (always 101).
pub const UPGRADED_HEADER: &str = "switchyard-upgraded";
/// Header marking a control request from the gateway: the connector handles it itself and
/// never forwards it to an origin. On `switchyard-control: reconnect` (sent when a gateway
/// restarts or upgrades) the connector answers `200` at once (empty body, end of stream),
/// then dials a replacement tunnel for that slot right away (no backoff; the usual
/// Hello/Welcome) and, once the replacement is authenticated (or after 5 s if it fails),
/// sends GOAWAY on the old tunnel: its in-flight streams finish, no new ones start, and the
/// connection then closes normally.
pub const CONTROL_HEADER: &str = "switchyard-control";

/// Values of [`ERROR_HEADER`].
pub mod error_code {
    /// The destination is not in the connector's allow-list; the origin was not contacted.
    pub const NOT_ALLOWED: &str = "destination-not-allowed";
    /// The connector could not connect to the origin (refused, DNS, unreachable).
    pub const ORIGIN_UNREACHABLE: &str = "origin-unreachable";
    /// TLS to the origin failed (certificate not trusted, handshake error).
    pub const ORIGIN_TLS: &str = "origin-tls";
    /// The origin connection broke before a response arrived.
    pub const ORIGIN_ERROR: &str = "origin-error";
    /// The request from the gateway was not a valid origin request.
    pub const BAD_REQUEST: &str = "bad-request";
}

/// First frame from the connector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub proto: u32,
    pub id: String,
    /// The connector's secret; empty (and ignored) when [`enroll`](Hello::enroll) is set.
    /// Always sent, so that a gateway without enrollment support refuses the hello with a
    /// reason instead of failing to parse it.
    #[serde(default)]
    pub secret: String,
    /// The connector's software version, for the operator.
    pub version: String,
    /// An enrollment token: register this (new) connector id and send back its secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enroll: Option<String>,
}

/// The gateway's answer to a [`Hello`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Welcome {
    pub ok: bool,
    /// Why the gateway refused (bad credentials, unknown connector, protocol version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Keep-alive ping interval the gateway uses, in milliseconds.
    #[serde(default)]
    pub ping_interval_ms: u64,
    /// The secret of a connector that just enrolled (only on an accepted enrollment): the
    /// connector stores it and authenticates with it from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Errors while exchanging the hello frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes is larger than {MAX_FRAME}")]
    TooLarge(usize),
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Writes one length-prefixed JSON frame.
pub async fn write_frame<W, T>(w: &mut W, msg: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let body = serde_json::to_vec(msg)?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(body.len()));
    }
    let mut buf = Vec::with_capacity(body.len() + 2);
    buf.extend_from_slice(&(body.len() as u16).to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one length-prefixed JSON frame, reading exactly its bytes and no more.
pub async fn read_frame<R, T>(r: &mut R) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: for<'de> Deserialize<'de>,
{
    let mut len = [0u8; 2];
    r.read_exact(&mut len).await?;
    let len = u16::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_oversize_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(8192);
        let hello = Hello {
            proto: PROTOCOL_VERSION,
            id: "east-1".into(),
            secret: "s".into(),
            version: "0.1.0".into(),
            enroll: None,
        };
        write_frame(&mut a, &hello).await.expect("write");
        let got: Hello = read_frame(&mut b).await.expect("read");
        assert_eq!(got.id, "east-1");
        assert_eq!(got.enroll, None);

        a.write_all(&u16::MAX.to_be_bytes()).await.expect("write");
        let err = read_frame::<_, Hello>(&mut b).await.expect_err("too large");
        assert!(matches!(err, FrameError::TooLarge(_)));
    }

    #[test]
    fn enrollment_fields_are_optional_both_ways() {
        // Frames of a peer that knows nothing of enrollment still parse...
        let old_hello = r#"{"proto":1,"id":"east-1","secret":"s","version":"0.1.0"}"#;
        let hello: Hello = serde_json::from_str(old_hello).expect("old hello");
        assert_eq!(hello.enroll, None);
        let old_welcome = r#"{"ok":true,"ping_interval_ms":1000}"#;
        let welcome: Welcome = serde_json::from_str(old_welcome).expect("old welcome");
        assert_eq!(welcome.secret, None);
        // ...and frames without enrollment look exactly as before.
        let text = serde_json::to_string(&hello).expect("json");
        assert!(!text.contains("enroll"), "{text}");
        let text = serde_json::to_string(&welcome).expect("json");
        assert!(!text.contains("secret"), "{text}");

        let enrolling = Hello {
            secret: String::new(),
            enroll: Some("tok".into()),
            ..hello
        };
        let text = serde_json::to_string(&enrolling).expect("json");
        assert!(text.contains(r#""secret":"""#), "{text}");
        let back: Hello = serde_json::from_str(&text).expect("parse");
        assert_eq!(back.enroll.as_deref(), Some("tok"));
    }
}
