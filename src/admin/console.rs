//! The operator's console: static HTML, CSS and JS modules embedded in the binary and served
//! by the admin listener under `/ui/` (no token needed for the page itself; every API call it
//! makes carries the operator's bearer token). Every answer carries a strict
//! `Content-Security-Policy` and the other browser hardening headers.

use bytes::Bytes;
use http::{header, HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;

/// Where the console lives.
pub const PREFIX: &str = "/ui/";

/// The policy of every console answer: only this origin's own files, no inline script or
/// style, no framing, no form posts, no `<base>`.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// One embedded file: name below [`PREFIX`], content type, bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

static ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("console/index.html"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("console/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/app.js"),
    },
    Asset {
        name: "api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/api.js"),
    },
    Asset {
        name: "views.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/views.js"),
    },
];

/// The console's answer for `method path`, or `None` when the path is not the console's
/// (`/`, `/ui` and everything under `/ui/`).
pub fn answer(method: &Method, path: &str) -> Option<Response<Full<Bytes>>> {
    let rest = match path {
        "/" | "/ui" => return Some(redirect()),
        p => p.strip_prefix(PREFIX)?,
    };
    if method != Method::GET && method != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Some(r);
    }
    let name = if rest.is_empty() { "index.html" } else { rest };
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return Some(plain(StatusCode::NOT_FOUND, "no such console file\n"));
    };
    let mut r = Response::new(Full::new(Bytes::from_static(asset.body)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    harden(&mut r);
    Some(r)
}

/// `/` and `/ui` lead to the console.
fn redirect() -> Response<Full<Bytes>> {
    let mut r = plain(StatusCode::FOUND, "");
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(PREFIX));
    r
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    harden(&mut r);
    r
}

/// The headers every console answer carries. `no-cache` (revalidate every time): the files
/// have fixed names, so a new binary's console must never mix with an old cached module.
fn harden(r: &mut Response<Full<Bytes>>) {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_served_with_their_type_and_every_hardening_header() {
        for (path, ty) in [
            ("/ui/", "text/html; charset=utf-8"),
            ("/ui/index.html", "text/html; charset=utf-8"),
            ("/ui/app.js", "text/javascript; charset=utf-8"),
            ("/ui/api.js", "text/javascript; charset=utf-8"),
            ("/ui/views.js", "text/javascript; charset=utf-8"),
            ("/ui/app.css", "text/css; charset=utf-8"),
            ("/ui/nope.js", "text/plain; charset=utf-8"),
        ] {
            let r = answer(&Method::GET, path).expect("console path");
            let h = r.headers();
            assert_eq!(h[header::CONTENT_TYPE], ty, "{path}");
            assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
            assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
            assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        }
        assert_eq!(
            answer(&Method::GET, "/ui/nope.js").map(|r| r.status()),
            Some(StatusCode::NOT_FOUND)
        );
        assert_eq!(
            answer(&Method::POST, "/ui/").map(|r| r.status()),
            Some(StatusCode::METHOD_NOT_ALLOWED)
        );
        for p in ["/", "/ui"] {
            let r = answer(&Method::GET, p).expect("redirect");
            assert_eq!(r.status(), StatusCode::FOUND);
            assert_eq!(r.headers()[header::LOCATION], "/ui/");
        }
        assert!(answer(&Method::GET, "/api/v1/status").is_none());
        assert!(answer(&Method::GET, "/uix").is_none());
    }

    #[test]
    fn no_file_has_inline_script_or_style() {
        let html = std::str::from_utf8(ASSETS[0].body).expect("utf-8");
        assert!(!html.contains("<style"), "inline style element");
        assert!(!html.contains(" style="), "inline style attribute");
        // An event handler attribute: ` on` + letters + `=`.
        let handler = html.split(" on").skip(1).any(|rest| {
            let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            letters > 0 && rest[letters..].starts_with('=')
        });
        assert!(!handler, "inline event handler");
        for script in html.split("<script").skip(1) {
            assert!(script.contains("src="), "inline script");
        }
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let js = std::str::from_utf8(a.body).expect("utf-8");
            for banned in ["innerHTML", "eval(", "new Function", "document.write"] {
                assert!(!js.contains(banned), "{} uses {banned}", a.name);
            }
        }
    }
}
