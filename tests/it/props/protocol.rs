//! The tunnel's hello/welcome frames and the `switchyard-error` header: arbitrary bytes never
//! panic, oversize frames are refused, a frame reads exactly its own bytes, encoding round
//! trips, and every error code decodes to the failure it names.

use proptest::prelude::*;
use switchyard::edge::headers::connector_error;
use switchyard::edge::rescue::ForwardError;
use switchyard::tunnel::protocol::{
    error_code, read_frame, write_frame, FrameError, Hello, Welcome, ERROR_HEADER, MAX_FRAME,
};

/// Runs one future to completion on a fresh current-thread runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Reads one frame from `bytes`; returns the outcome and how many bytes were left unread.
fn read_one<T: for<'de> serde::Deserialize<'de>>(bytes: &[u8]) -> (Result<T, FrameError>, usize) {
    let mut reader = bytes;
    let got = block_on(read_frame::<_, T>(&mut reader));
    (got, reader.len())
}

/// What a reader must do with `bytes`, worked out by hand: `Ok(body)` when a whole frame of
/// at most [`MAX_FRAME`] bytes is there, else the kind of error.
fn reference_frame(bytes: &[u8]) -> Result<&[u8], &'static str> {
    let [a, b, rest @ ..] = bytes else {
        return Err("io");
    };
    let len = usize::from(u16::from_be_bytes([*a, *b]));
    if len > MAX_FRAME {
        return Err("too large");
    }
    rest.get(..len).ok_or("io")
}

fn kind(e: &FrameError) -> &'static str {
    match e {
        FrameError::Io(_) => "io",
        FrameError::TooLarge(_) => "too large",
        FrameError::Malformed(_) => "malformed",
    }
}

fn hello() -> impl Strategy<Value = Hello> {
    (
        any::<u32>(),
        ".{0,40}",
        // Secrets near the frame limit, so that both sides of it are tried.
        prop_oneof![
            ".{0,40}".boxed(),
            (4000usize..4200).prop_map(|n| "s".repeat(n)).boxed()
        ],
        ".{0,20}",
        prop::option::of(".{0,40}"),
    )
        .prop_map(|(proto, id, secret, version, enroll)| Hello {
            proto,
            id,
            secret,
            version,
            enroll,
        })
}

/// A frame: a valid hello's encoding, then a few bytes overwritten, inserted or cut.
fn mutated_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        hello(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..4),
    )
        .prop_map(|(h, edits)| {
            let mut bytes = Vec::new();
            let _ = block_on(write_frame(&mut bytes, &h));
            for (at, byte, op) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => bytes.truncate(i),
                }
            }
            bytes
        })
}

fn frame_bytes() -> impl Strategy<Value = Vec<u8>> {
    let any_frame =
        (any::<u16>(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(len, body)| {
            let mut bytes = len.to_be_bytes().to_vec();
            bytes.extend(body);
            bytes
        });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        any_frame,
        mutated_frame(),
    ]
}

proptest! {
    #![proptest_config(crate::props::runner(3000))]

    /// Any bytes: no panic; the outcome is the reference's, and a read consumes the length
    /// prefix and its body, never a byte of what follows.
    #[test]
    fn reading_any_bytes_follows_the_framing(bytes in frame_bytes()) {
        let want = reference_frame(&bytes);
        let (hello, left) = read_one::<Hello>(&bytes);
        let (welcome, _) = read_one::<Welcome>(&bytes);
        for got in [hello.as_ref().map(|_| ()), welcome.as_ref().map(|_| ())] {
            match (&want, got) {
                (Ok(body), Ok(())) => {
                    // Well-formed JSON, checked without building values: `Value` refuses numbers
                    // such as 1e999 that the grammar allows and an ignored field may hold.
                    prop_assert!(serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok(), "accepted a body that is not JSON");
                }
                (Ok(_), Err(e)) => prop_assert_eq!(kind(e), "malformed"),
                (Err(k), Err(e)) => prop_assert_eq!(kind(e), *k),
                (Err(k), Ok(())) => prop_assert!(false, "accepted a frame the reference refuses ({})", k),
            }
        }
        if let Ok(body) = want {
            if hello.is_ok() {
                prop_assert_eq!(left, bytes.len() - 2 - body.len());
            }
        }
    }

    /// Every hello that fits round trips field by field; one that does not is refused with
    /// nothing written.
    #[test]
    fn hello_round_trips_or_is_refused_whole(h in hello(), trailer in prop::collection::vec(any::<u8>(), 0..8)) {
        let mut bytes = Vec::new();
        let wrote = block_on(write_frame(&mut bytes, &h));
        let encoded = serde_json::to_vec(&h).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if encoded.len() > MAX_FRAME {
            prop_assert!(matches!(wrote, Err(FrameError::TooLarge(n)) if n == encoded.len()));
            prop_assert!(bytes.is_empty(), "a refused frame wrote {} bytes", bytes.len());
            return Ok(());
        }
        prop_assert!(wrote.is_ok(), "{:?}", wrote);
        prop_assert_eq!(bytes.len(), encoded.len() + 2);
        bytes.extend(&trailer);
        let (back, left) = read_one::<Hello>(&bytes);
        let back = back.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(left, trailer.len());
        prop_assert_eq!(
            (back.proto, back.id, back.secret, back.version, back.enroll),
            (h.proto, h.id, h.secret, h.version, h.enroll)
        );
    }

    /// Welcome frames round trip too, optional fields included.
    #[test]
    fn welcome_round_trips(ok in any::<bool>(), reason in prop::option::of(".{0,60}"), ping in any::<u64>(), secret in prop::option::of("[ -~]{0,60}")) {
        let w = Welcome { ok, reason, ping_interval_ms: ping, secret };
        let mut bytes = Vec::new();
        block_on(write_frame(&mut bytes, &w)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (back, left) = read_one::<Welcome>(&bytes);
        let back = back.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(left, 0);
        prop_assert_eq!((back.ok, back.reason, back.ping_interval_ms, back.secret), (w.ok, w.reason, w.ping_interval_ms, w.secret));
    }

    /// Any `switchyard-error` value decodes without panic to the failure its code names, an
    /// unknown or non-text code to a generic origin error, and no header to no error.
    #[test]
    fn error_header_decodes_by_code(
        value in prop::option::of(prop_oneof![
            select_code(),
            prop::collection::vec(any::<u8>(), 0..24),
        ]),
    ) {
        let mut resp = http::Response::new(());
        let header = value.as_ref().and_then(|v| http::HeaderValue::from_bytes(v).ok());
        if let Some(h) = &header {
            resp.headers_mut().insert(ERROR_HEADER, h.clone());
        }
        let got = connector_error(&resp).map(|e| format!("{e:?}"));
        let want = header.map(|h| {
            let e = match h.to_str() {
                Ok(error_code::NOT_ALLOWED) => ForwardError::NotAllowed,
                Ok(error_code::ORIGIN_TLS) => ForwardError::OriginTls,
                Ok(error_code::ORIGIN_UNREACHABLE) => ForwardError::OriginUnreachable,
                Ok(error_code::BAD_REQUEST) => ForwardError::BadRequest("rejected by the connector"),
                _ => ForwardError::OriginError,
            };
            format!("{e:?}")
        });
        prop_assert_eq!(got, want);
    }
}

/// Found by `error_header_decodes_by_code`: a code byte outside visible ASCII made the
/// connector's error answer pass for the origin's response.
#[test]
fn a_non_text_error_code_is_still_a_connector_error() {
    let mut resp = http::Response::new(());
    let value = http::HeaderValue::from_bytes(&[0x80]).expect("obs-text is a valid value");
    resp.headers_mut().insert(ERROR_HEADER, value);
    let got = connector_error(&resp).map(|e| format!("{e:?}"));
    assert_eq!(got, Some(format!("{:?}", ForwardError::OriginError)));
}

fn select_code() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        error_code::NOT_ALLOWED,
        error_code::ORIGIN_TLS,
        error_code::ORIGIN_UNREACHABLE,
        error_code::ORIGIN_ERROR,
        error_code::BAD_REQUEST,
        "Origin-TLS",
        "origin-tls ",
    ])
    .prop_map(|s| s.as_bytes().to_vec())
}
