//! Request framing checks that pingora's HTTP/1 parser leaves to us (RFC 9112 §6.1, §6.3,
//! RFC 9110 §8.6), run on the parsed head before anything is routed or forwarded.
//!
//! pingora already refuses (→ 400): a final coding other than `chunked`, `Transfer-Encoding`
//! on HTTP/1.0, an invalid or conflicting `Content-Length`, obs-fold, a malformed chunk size
//! and bare LF after a chunk (the body parser's errors are mapped in `rescue`); chunk
//! extensions are checked on the raw bytes (`chunks`). With both
//! `Transfer-Encoding` and `Content-Length` it drops the length and closes the connection
//! afterwards (§6.3 allows this), so only the chunked framing is forwarded. What is left:
//!
//! - `chunked` named more than once (`chunked, chunked`, or on two lines) → 400: a proxy that
//!   decodes once while the next hop decodes twice disagrees on where the body ends.
//! - any coding besides `chunked` (`gzip, chunked`) → 501: the tunnel carries the decoded
//!   body, and forwarding it without the coding it still has would hand the app wrong bytes.
//! - a `Content-Length` list of identical values (`5, 5`) is accepted as one value, as the
//!   parser already framed the body by it, and forwarded as a single `Content-Length: 5`.

use http::header::{HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use pingora::http::RequestHeader;

use crate::edge::rescue::ForwardError;

/// Checks and normalizes the framing headers of a parsed request head.
pub fn check(req: &mut RequestHeader) -> Result<(), ForwardError> {
    check_transfer_encoding(req)?;
    normalize_content_length(req)
}

fn check_transfer_encoding(req: &RequestHeader) -> Result<(), ForwardError> {
    let mut chunked = 0usize;
    let mut others = 0usize;
    for value in req.headers.get_all(TRANSFER_ENCODING) {
        let text = value
            .to_str()
            .map_err(|_| ForwardError::BadRequest("Transfer-Encoding is not text"))?;
        for coding in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if coding.eq_ignore_ascii_case("chunked") {
                chunked += 1;
            } else {
                others += 1;
            }
        }
    }
    if chunked > 1 {
        return Err(ForwardError::BadRequest(
            "Transfer-Encoding names chunked more than once",
        ));
    }
    if others > 0 {
        return Err(ForwardError::UnsupportedTransferCoding);
    }
    Ok(())
}

/// Collapses identical `Content-Length` values into one header; anything else is refused.
fn normalize_content_length(req: &mut RequestHeader) -> Result<(), ForwardError> {
    let mut values = req.headers.get_all(CONTENT_LENGTH).iter();
    let Some(first) = values.next() else {
        return Ok(());
    };
    let single = values.next().is_none() && !first.as_bytes().contains(&b',');
    if single {
        return Ok(());
    }
    let mut length: Option<u64> = None;
    for value in req.headers.get_all(CONTENT_LENGTH) {
        let text = value
            .to_str()
            .map_err(|_| ForwardError::BadRequest("invalid Content-Length"))?;
        for part in text.split(',').map(str::trim) {
            let n = parse_digits(part).ok_or(ForwardError::BadRequest("invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(ForwardError::BadRequest(
                    "conflicting Content-Length values",
                ));
            }
            length = Some(n);
        }
    }
    let Some(n) = length else {
        return Err(ForwardError::BadRequest("invalid Content-Length"));
    };
    req.remove_header(&CONTENT_LENGTH);
    req.insert_header(CONTENT_LENGTH, HeaderValue::from(n))
        .map_err(|_| ForwardError::BadRequest("invalid Content-Length"))
}

/// `1*DIGIT` only: no sign, no spaces inside, no overflow.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("POST", b"/", None).expect("head");
        for (k, v) in headers {
            req.append_header(k.to_string(), *v).expect("header");
        }
        req
    }

    fn lengths(req: &RequestHeader) -> Vec<String> {
        req.headers
            .get_all(CONTENT_LENGTH)
            .iter()
            .map(|v| v.to_str().unwrap_or("?").to_owned())
            .collect()
    }

    #[test]
    fn transfer_codings() {
        for (te, status) in [
            (&["chunked"][..], None),
            (&["Chunked"][..], None),
            (&["chunked, chunked"][..], Some(400)),
            (&["chunked", "chunked"][..], Some(400)),
            (&["gzip, chunked"][..], Some(501)),
            (&["identity", "chunked"][..], Some(501)),
        ] {
            let mut req = head(
                &te.iter()
                    .map(|v| ("transfer-encoding", *v))
                    .collect::<Vec<_>>(),
            );
            let got = check(&mut req).err().map(|e| e.status());
            assert_eq!(got, status, "{te:?}");
        }
    }

    #[test]
    fn identical_lengths_collapse_to_one() {
        let mut req = head(&[("content-length", "5, 5")]);
        check(&mut req).expect("accepted");
        assert_eq!(lengths(&req), ["5"]);
        let mut req = head(&[("content-length", "7"), ("content-length", "7")]);
        check(&mut req).expect("accepted");
        assert_eq!(lengths(&req), ["7"]);
        let mut req = head(&[("content-length", "12")]);
        check(&mut req).expect("accepted");
        assert_eq!(lengths(&req), ["12"]);
    }

    #[test]
    fn differing_or_invalid_lengths_are_refused() {
        for v in ["5, 6", "5,", "+5, 5", "5, 0x5", "99999999999999999999, 1"] {
            let mut req = head(&[("content-length", v)]);
            assert_eq!(check(&mut req).err().map(|e| e.status()), Some(400), "{v}");
        }
    }
}
