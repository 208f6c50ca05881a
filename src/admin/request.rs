//! One admin request once routed and authenticated: path parameters, query, JSON body,
//! `If-Match`, and the catalog update every write goes through.

use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::auth::Caller;
use super::reindex::Owners;
use super::reply::ApiError;
use super::AdminState;
use crate::catalog::store::Stored;
use crate::catalog::writer::UpdateCatalog;
use crate::catalog::Catalog;

/// What a handler gets.
pub struct Ctx {
    pub state: AdminState,
    pub caller: Caller,
    /// Decoded `{…}` segments of the route, in order.
    pub params: Vec<String>,
    pub query: Option<String>,
    /// The body, already size-checked; empty when the route takes none.
    pub body: Bytes,
    /// The version of `If-Match`, if one was sent (`*` counts as none).
    pub if_match: Option<u64>,
}

impl Ctx {
    /// Path parameter `i` (the route table guarantees it exists).
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }

    /// The first value of query parameter `key`, percent-decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k)? == key).then(|| percent_decode(v))?
        })
    }

    /// The body as `T`; an empty body reads as `{}`. Unknown fields and malformed JSON are
    /// a 400 naming the field when serde knows it.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| json_error(&e))
    }

    /// The desired state as it is now (reads).
    pub fn desired(&self) -> Arc<Stored> {
        self.state.catalog.desired()
    }

    /// Applies `change` to the catalog: validated whole, persisted, published before this
    /// returns; honours `If-Match`. Returns the new version.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut Catalog) -> Result<T, ApiError>,
    ) -> Result<(u64, T), ApiError> {
        let Some(tenant) = self.caller.tenant() else {
            return self
                .state
                .catalog
                .update_catalog(self.if_match, change)
                .map_err(ApiError::from);
        };
        // The validator numbers objects in the whole catalog the change produced: keep who
        // owns what in it, to renumber its errors for the tenant.
        let mut owners = None;
        let written = self.state.catalog.update_catalog(self.if_match, |c| {
            let r = change(c);
            owners = Some(Owners::of(c));
            r
        });
        written.map_err(|e| match (ApiError::from(e), &owners) {
            (e, Some(o)) => e.redacted(o, tenant),
            (e, None) => e,
        })
    }
}

/// A serde error as a 400; `unknown field`/`missing field` name the field.
pub fn json_error(e: &serde_json::Error) -> ApiError {
    let text = e.to_string();
    let field = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .and_then(|rest| rest.split('`').next())
        .map(str::to_string);
    let message = if e.is_syntax() || e.is_eof() {
        format!("malformed JSON: {text}")
    } else {
        text
    };
    ApiError::Invalid {
        message,
        field,
        details: Vec::new(),
    }
}

/// `"12"`, `W/"12"` or `12` → `Some(12)`; `*` → `None` (any version).
pub fn parse_if_match(raw: &str) -> Result<Option<u64>, ApiError> {
    let v = raw.trim();
    if v == "*" {
        return Ok(None);
    }
    let v = v.strip_prefix("W/").unwrap_or(v);
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    // Digits only: `u64::from_str` would also take a sign, and `"+12"` is not ETag `"12"`.
    let digits = v.bytes().all(|b| b.is_ascii_digit());
    v.parse::<u64>()
        .ok()
        .filter(|_| digits)
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid(
                "If-Match",
                format!("{raw:?} is not a catalog version (expected an ETag such as \"12\")"),
            )
        })
}

/// Decodes `%XX` escapes (and `+` is left alone: this is a path or an RFC 3986 query).
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            // Two hex digits: `from_str_radix` alone would also take a sign (`%+1`).
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_forms() {
        assert_eq!(parse_if_match("\"12\""), Ok(Some(12)));
        assert_eq!(parse_if_match("W/\"7\""), Ok(Some(7)));
        assert_eq!(parse_if_match("3"), Ok(Some(3)));
        assert_eq!(parse_if_match("*"), Ok(None));
        assert!(parse_if_match("\"abc\"").is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn serde_errors_name_their_field() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            name: String,
        }
        let e = serde_json::from_str::<T>(r#"{"name":"a","nmae":1}"#).expect_err("unknown");
        assert!(matches!(json_error(&e), ApiError::Invalid { field: Some(f), .. } if f == "nmae"));
        let e = serde_json::from_str::<T>(r#"{}"#).expect_err("missing");
        assert!(matches!(json_error(&e), ApiError::Invalid { field: Some(f), .. } if f == "name"));
        let e = serde_json::from_str::<T>(r#"{"name":"#).expect_err("eof");
        assert!(
            matches!(json_error(&e), ApiError::Invalid { message, .. } if message.starts_with("malformed JSON"))
        );
    }
}
