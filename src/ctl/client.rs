//! The HTTP side of `ctl`: one blocking call at a time to `/api/v1`, with the bearer token,
//! optional `If-Match`, and every failure turned into a [`CtlError`] with its exit code.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, Url};
use serde_json::Value;

use super::exit;

/// Why a `ctl` command failed.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// A bad argument the command line parser could not catch (exit 2).
    #[error("{0}")]
    Usage(String),
    /// No HTTP answer: connection, TLS, time-out (exit 1).
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// A local failure, or an answer that is not what the API promises (exit 1).
    #[error("{0}")]
    Local(String),
    /// The server answered with an error status.
    #[error("{}", .0.message)]
    Api(ApiError),
}

/// An error answer of the admin API: `{"error":{"code","message","field"?,"details"?}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    /// `(field, message)` of every invalid field.
    pub details: Vec<(String, String)>,
}

impl ApiError {
    /// Parses an error body; a body that is not the API's envelope (a proxy's page, …)
    /// still yields the status and its first line.
    pub fn from_body(status: u16, body: &str) -> ApiError {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let err = parsed.as_ref().and_then(|v| v.get("error"));
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        match err {
            Some(e) => ApiError {
                status,
                code: text(e.get("code")).unwrap_or_default(),
                message: text(e.get("message")).unwrap_or_else(|| reason(status)),
                field: text(e.get("field")),
                details: e
                    .get("details")
                    .and_then(Value::as_array)
                    .map(|ds| {
                        ds.iter()
                            .map(|d| {
                                (
                                    text(d.get("field")).unwrap_or_else(|| "-".into()),
                                    text(d.get("message")).unwrap_or_default(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            None => {
                let first = body.lines().next().unwrap_or("").trim();
                let message = if first.is_empty() {
                    reason(status)
                } else {
                    format!("{}: {}", reason(status), truncate(first, 200))
                };
                ApiError {
                    status,
                    code: String::new(),
                    message,
                    field: None,
                    details: Vec::new(),
                }
            }
        }
    }
}

fn reason(status: u16) -> String {
    let text = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    match text {
        Some(t) => format!("HTTP {status} {t}"),
        None => format!("HTTP {status}"),
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The exit code for an HTTP error status (see [`exit`]).
pub fn exit_for_status(status: u16) -> i32 {
    match status {
        401 | 403 => exit::UNAUTHORIZED,
        404 => exit::NOT_FOUND,
        400 | 409 | 412 | 413 | 415 => exit::REJECTED,
        // Other refusals (405, 422, 429, …) are still the request's fault, not the network's.
        400..=499 => exit::REJECTED,
        500..=599 => exit::SERVER,
        _ => exit::UNREACHABLE,
    }
}

impl CtlError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CtlError::Usage(_) => exit::REJECTED,
            CtlError::Unreachable { .. } | CtlError::Local(_) => exit::UNREACHABLE,
            CtlError::Api(e) => exit_for_status(e.status),
        }
    }

    /// Adds `hint` to the message of an API error with this status (the server's advice is
    /// about its query parameters; the operator needs the CLI's flag).
    pub fn hint(self, status: u16, hint: &str) -> CtlError {
        match self {
            CtlError::Api(mut e) if e.status == status && e.code != "read_only" => {
                e.message = format!("{} ({hint})", e.message);
                CtlError::Api(e)
            }
            other => other,
        }
    }

    /// The lines to print on stderr: `error: <message>`, then `  <field>: <message>` per
    /// invalid field.
    pub fn report(&self) -> Vec<String> {
        let CtlError::Api(e) = self else {
            return vec![format!("error: {self}")];
        };
        let mut first = match &e.field {
            Some(f) if e.details.is_empty() && !e.message.contains(f.as_str()) => {
                format!("error: {f}: {}", e.message)
            }
            _ => format!("error: {}", e.message),
        };
        if e.status == 401 && e.code != "forbidden" {
            first.push_str(" (pass --token or set SWITCHYARD_TOKEN)");
        }
        let mut lines = vec![first];
        lines.extend(e.details.iter().map(|(f, m)| format!("  {f}: {m}")));
        lines
    }
}

/// One answer of the API.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The catalog version from `ETag: "<version>"`, unquoted.
    pub etag: Option<String>,
    /// The body exactly as received.
    pub text: String,
    /// The body parsed (`Null` when empty).
    pub json: Value,
}

/// A blocking admin API client.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
    if_match: Option<String>,
    rt: tokio::runtime::Runtime,
}

/// Where to connect and as whom.
#[derive(Debug, Clone, Default)]
pub struct Target<'a> {
    pub url: &'a str,
    pub token: Option<&'a str>,
    pub ca_file: Option<&'a Path>,
    pub if_match: Option<&'a str>,
}

/// `URL` + `/api/v1` (unless the URL already ends with it).
pub fn api_base(url: &str) -> Result<Url, CtlError> {
    let mut base = Url::parse(url).map_err(|e| CtlError::Usage(format!("--url {url:?}: {e}")))?;
    if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
        return Err(CtlError::Usage(format!(
            "--url {url:?}: expected http://HOST:PORT or https://HOST:PORT"
        )));
    }
    base.set_query(None);
    base.set_fragment(None);
    let path = base.path().trim_end_matches('/').to_string();
    if !path.ends_with("/api/v1") {
        base.set_path(&format!("{path}/api/v1"));
    }
    Ok(base)
}

impl Client {
    /// A client for `target`; reads the CA file now.
    pub fn new(target: &Target<'_>) -> Result<Client, CtlError> {
        let base = api_base(target.url)?;
        let mut tls = crate::tls::client_config(target.ca_file)
            .map_err(|e| CtlError::Local(e.to_string()))?;
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            // The admin API is usually on loopback or an internal network, where an
            // `http_proxy` meant for the internet would only get in the way.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("switchyard-ctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CtlError::Local(format!("HTTP client: {}", chain(&e))))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CtlError::Local(format!("runtime: {e}")))?;
        Ok(Client {
            http,
            base,
            token: target.token.filter(|t| !t.is_empty()).map(str::to_string),
            if_match: target.if_match.map(quote_etag),
            rt,
        })
    }

    /// The URL of `segments` (each percent-encoded) below `/api/v1`.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends one request; an error status becomes [`CtlError::Api`].
    pub fn call(&self, method: Method, url: Url, body: Option<&Value>) -> Result<Reply, CtlError> {
        let write = method != Method::GET;
        let mut req = self
            .http
            .request(method, url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let (true, Some(v)) = (write, &self.if_match) {
            req = req.header(reqwest::header::IF_MATCH, v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let unreachable = |e: reqwest::Error| CtlError::Unreachable {
            url: url.to_string(),
            reason: chain(&e),
        };
        let (status, etag, text) = self.rt.block_on(async {
            let resp = req.send().await.map_err(unreachable)?;
            let status = resp.status().as_u16();
            let etag = resp
                .headers()
                .get(reqwest::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(unquote_etag);
            let text = resp.text().await.map_err(unreachable)?;
            Ok::<_, CtlError>((status, etag, text))
        })?;
        if !(200..300).contains(&status) {
            return Err(CtlError::Api(ApiError::from_body(status, &text)));
        }
        let json = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .map_err(|e| CtlError::Local(format!("{url}: the answer is not JSON ({e})")))?
        };
        Ok(Reply {
            status,
            etag,
            text,
            json,
        })
    }
}

/// `7` → `"7"`; an already quoted or weak tag is kept.
fn quote_etag(v: &str) -> String {
    if v.starts_with('"') || v.starts_with("W/") || v == "*" {
        v.to_string()
    } else {
        format!("\"{v}\"")
    }
}

fn unquote_etag(v: &str) -> String {
    v.trim_start_matches("W/").trim_matches('"').to_string()
}

/// An error and its sources, without the repetitions reqwest and hyper produce.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    // reqwest's own line repeats the URL the caller already prints.
    if parts.len() > 1 && parts[0].starts_with("error sending request") {
        parts.remove(0);
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_exit_codes() {
        let cases = [
            (400, 2),
            (409, 2),
            (412, 2),
            (413, 2),
            (415, 2),
            (422, 2),
            (401, 3),
            (403, 3),
            (404, 4),
            (500, 5),
            (502, 5),
            (503, 5),
            (302, 1),
        ];
        for (status, code) in cases {
            assert_eq!(exit_for_status(status), code, "status {status}");
        }
    }

    #[test]
    fn errors_map_to_exit_codes() {
        assert_eq!(CtlError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CtlError::Local("x".into()).exit_code(), 1);
        let unreachable = CtlError::Unreachable {
            url: "u".into(),
            reason: "r".into(),
        };
        assert_eq!(unreachable.exit_code(), 1);
        assert_eq!(CtlError::Api(ApiError::from_body(404, "")).exit_code(), 4);
    }

    #[test]
    fn invalid_reports_every_field() {
        let body = r#"{"error":{"code":"invalid","message":"invalid app","details":[
            {"field":"groups[0]","message":"unknown group \"nope\""},
            {"field":"host","message":"empty"}]}}"#;
        let e = CtlError::Api(ApiError::from_body(400, body));
        assert_eq!(
            e.report(),
            vec![
                "error: invalid app".to_string(),
                "  groups[0]: unknown group \"nope\"".to_string(),
                "  host: empty".to_string(),
            ]
        );
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn a_single_field_is_named() {
        let body = r#"{"error":{"code":"conflict","message":"already exists","field":"name"}}"#;
        let e = CtlError::Api(ApiError::from_body(409, body));
        assert_eq!(e.report(), vec!["error: name: already exists".to_string()]);
    }

    #[test]
    fn a_foreign_error_body_keeps_the_status() {
        let e = ApiError::from_body(502, "<html>bad gateway</html>\nmore");
        assert_eq!(e.message, "HTTP 502 Bad Gateway: <html>bad gateway</html>");
        let e = ApiError::from_body(503, "");
        assert_eq!(e.message, "HTTP 503 Service Unavailable");
    }

    #[test]
    fn hints_apply_to_their_status_only() {
        let conflict = || {
            CtlError::Api(ApiError::from_body(
                409,
                r#"{"error":{"code":"conflict","message":"in use"}}"#,
            ))
        };
        assert_eq!(
            conflict().hint(409, "use --move-to").report(),
            vec!["error: in use (use --move-to)"]
        );
        assert_eq!(conflict().hint(404, "x").report(), vec!["error: in use"]);
    }

    #[test]
    fn unauthorized_hints_at_the_token() {
        let body = r#"{"error":{"code":"unauthorized","message":"missing or invalid token"}}"#;
        let e = CtlError::Api(ApiError::from_body(401, body));
        assert_eq!(
            e.report(),
            vec!["error: missing or invalid token (pass --token or set SWITCHYARD_TOKEN)"]
        );
    }

    #[test]
    fn base_url_gets_the_api_prefix_once() {
        let cases = [
            ("http://127.0.0.1:9901", "http://127.0.0.1:9901/api/v1"),
            ("http://127.0.0.1:9901/", "http://127.0.0.1:9901/api/v1"),
            ("https://gw.example/api/v1/", "https://gw.example/api/v1/"),
            (
                "https://gw.example/admin",
                "https://gw.example/admin/api/v1",
            ),
        ];
        for (input, want) in cases {
            let got = api_base(input).expect("valid");
            assert_eq!(
                got.as_str().trim_end_matches('/'),
                want.trim_end_matches('/')
            );
        }
        assert!(matches!(api_base("ftp://x"), Err(CtlError::Usage(_))));
        assert!(matches!(
            api_base("127.0.0.1:9901"),
            Err(CtlError::Usage(_))
        ));
    }

    #[test]
    fn paths_are_encoded() {
        let c = Client::new(&Target {
            url: "http://127.0.0.1:1",
            ..Target::default()
        })
        .expect("client");
        assert_eq!(
            c.url(&["groups", "a b/c"], &[("move_to", "x&y")]).as_str(),
            "http://127.0.0.1:1/api/v1/groups/a%20b%2Fc?move_to=x%26y"
        );
    }

    #[test]
    fn etags_are_quoted_for_if_match() {
        assert_eq!(quote_etag("7"), "\"7\"");
        assert_eq!(quote_etag("\"7\""), "\"7\"");
        assert_eq!(unquote_etag("\"7\""), "7");
        assert_eq!(unquote_etag("W/\"7\""), "7");
    }
}
