//! Host names: the lookup form of a request's Host header, and validation of configured hosts.

/// Longest request host (without port) that can match anything.
pub(super) const MAX_HOST_LEN: usize = 255;

/// Longest configured host, per DNS.
const MAX_CONFIG_HOST_LEN: usize = 253;

/// Longest DNS label.
const MAX_LABEL_LEN: usize = 63;

/// A request host without its port, checked, in its original case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RequestHost<'a> {
    /// The host without port and trailing dot; still to be lowercased when `upper`.
    pub(super) name: &'a str,
    /// How many dots it holds (labels minus one).
    pub(super) dots: usize,
    /// It holds ASCII uppercase letters.
    pub(super) upper: bool,
    /// A bracketed IPv6 literal, which no wildcard can match.
    pub(super) literal: bool,
}

/// Byte classes, as bit flags so that a host is checked without a branch per byte.
const VALID: u8 = 1;
const UPPER: u8 = 2;
const DOT: u8 = 4;

/// The class of every byte a host may hold; 0 for everything else.
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => VALID,
            b'A'..=b'Z' => VALID | UPPER,
            b'.' => VALID | DOT,
            _ => 0,
        };
        b += 1;
    }
    table
};

/// Splits off the port and checks a request host; `None` when it cannot match any app
/// (empty, empty label, stray byte, bad port, longer than [`MAX_HOST_LEN`]).
#[inline]
pub(super) fn parse(raw: &str) -> Option<RequestHost<'_>> {
    let bytes = raw.as_bytes();
    if bytes.first() == Some(&b'[') {
        return parse_literal(raw);
    }
    let end = bytes.iter().position(|&b| b == b':').unwrap_or(bytes.len());
    let (name, port) = raw.split_at(end);
    // One trailing dot: the fully qualified form of the same host.
    let name = name.strip_suffix('.').unwrap_or(name);
    if !port_ok(port) || name.is_empty() || name.len() > MAX_HOST_LEN {
        return None;
    }
    let mut all = VALID;
    let mut any = 0;
    let mut dots = 0;
    // A dot right after the start or after another dot closes an empty label.
    let mut prev = DOT;
    let mut empty = 0;
    for &b in name.as_bytes() {
        let class = CLASS[usize::from(b)];
        all &= class;
        any |= class;
        let dot = class & DOT;
        empty |= prev & dot;
        prev = dot;
        dots += usize::from(dot >> 2);
    }
    // `prev` is set when the name still ends in a dot ("a..").
    (all == VALID && empty | prev == 0).then_some(RequestHost {
        name,
        dots,
        upper: any & UPPER != 0,
        literal: false,
    })
}

/// `[v6]` or `[v6]:port`.
fn parse_literal(raw: &str) -> Option<RequestHost<'_>> {
    let end = raw.find(']')? + 1;
    let (name, port) = raw.split_at(end);
    let inner = &name[1..end - 1];
    let ok = !inner.is_empty()
        && inner
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'%'));
    (ok && port_ok(port) && name.len() <= MAX_HOST_LEN).then_some(RequestHost {
        name,
        dots: 0,
        upper: name.bytes().any(|b| b.is_ascii_uppercase()),
        literal: true,
    })
}

/// `host` in lowercase, copied into `buf`; `None` if it does not fit.
#[inline]
pub(super) fn lowercase<'a, const N: usize>(host: &str, buf: &'a mut [u8; N]) -> Option<&'a str> {
    let out = buf.get_mut(..host.len())?;
    out.copy_from_slice(host.as_bytes());
    out.make_ascii_lowercase();
    std::str::from_utf8(out).ok()
}

/// True for "" or ":" followed by digits only (an empty port is allowed by RFC 3986).
fn port_ok(port: &str) -> bool {
    match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// A configured host, validated: lowercased, trailing dot removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ConfigHost {
    /// `wiki.example.com`.
    Exact(String),
    /// `*.apps.example.com`, holding `apps.example.com`.
    Wildcard(String),
}

impl ConfigHost {
    /// The host as `Route::host` shows it.
    pub(super) fn display(&self) -> String {
        match self {
            ConfigHost::Exact(h) => h.clone(),
            ConfigHost::Wildcard(s) => format!("*.{s}"),
        }
    }
}

/// Checks a configured host; the error says what is wrong.
pub(super) fn validate(raw: &str) -> Result<ConfigHost, String> {
    if raw.is_empty() {
        return Err("must not be empty".to_string());
    }
    if raw.contains(':') {
        return Err(format!("{raw:?} must not carry a port or be an IP literal"));
    }
    let trimmed = raw.strip_suffix('.').unwrap_or(raw);
    let (wild, rest) = match trimmed.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    if rest == "*" {
        return Err(format!("{raw:?} must name a domain, not only \"*\""));
    }
    if rest.contains('*') {
        return Err(format!(
            "{raw:?} may only use \"*\" as a whole first label (\"*.example.com\")"
        ));
    }
    if trimmed.len() > MAX_CONFIG_HOST_LEN {
        return Err(format!(
            "{raw:?} is longer than {MAX_CONFIG_HOST_LEN} characters"
        ));
    }
    for label in rest.split('.') {
        if label.is_empty() {
            return Err(format!("{raw:?} has an empty label"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!(
                "{raw:?} has a label longer than {MAX_LABEL_LEN} characters"
            ));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!(
                "{raw:?} may only contain ASCII letters, digits, '-' and '.' (and a leading \"*.\")"
            ));
        }
    }
    let rest = rest.to_ascii_lowercase();
    Ok(if wild {
        ConfigHost::Wildcard(rest)
    } else {
        ConfigHost::Exact(rest)
    })
}
