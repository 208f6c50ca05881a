//! The optional plain-HTTP listener: every request is answered with a permanent redirect to
//! the same URL over HTTPS.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::apps::{HttpServerApp, ReusedHttpStream};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;

use crate::edge::headers;
use crate::edge::rescue::{self, ForwardError};

/// Redirects to `https://{host}:{https_port}{path}` (port omitted when 443).
pub struct RedirectApp {
    pub https_port: u16,
}

impl RedirectApp {
    /// The HTTPS URL for a plain-HTTP request.
    pub fn target(&self, authority: &str, path_and_query: &str) -> String {
        let host = strip_port(authority);
        if self.https_port == 443 {
            format!("https://{host}{path_and_query}")
        } else {
            format!("https://{host}:{}{path_and_query}", self.https_port)
        }
    }
}

fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        // IPv6 literal: keep the brackets.
        return match rest.find(']') {
            Some(end) => &authority[..end + 2],
            None => authority,
        };
    }
    authority.split(':').next().unwrap_or(authority)
}

#[async_trait]
impl HttpServerApp for RedirectApp {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        _shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        match session.read_request().await {
            Ok(true) => {}
            _ => return None,
        }
        let req = session.req_header();
        let authority = match headers::external_authority(req) {
            Ok(a) => a.to_owned(),
            Err(e) => {
                rescue::respond(&mut session, &e).await;
                return None;
            }
        };
        let path = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let location = self.target(&authority, path);
        let body = Bytes::from_static(b"Moved to HTTPS\n");
        let Ok(mut resp) = ResponseHeader::build(308, Some(3)) else {
            return None;
        };
        if resp.insert_header("location", location).is_err()
            || resp
                .insert_header("content-length", body.len().to_string())
                .is_err()
            || resp.insert_header("content-type", "text/plain").is_err()
        {
            rescue::respond(
                &mut session,
                &ForwardError::BadRequest("invalid Host header"),
            )
            .await;
            return None;
        }
        session.set_keepalive(None);
        let _ = session.write_response_header(Box::new(resp)).await;
        let _ = session.write_response_body(body, true).await;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let r = RedirectApp { https_port: 443 };
        assert_eq!(
            r.target("a.example.com:80", "/x?y"),
            "https://a.example.com/x?y"
        );
        let r = RedirectApp { https_port: 8443 };
        assert_eq!(
            r.target("a.example.com", "/"),
            "https://a.example.com:8443/"
        );
        assert_eq!(r.target("[::1]:8080", "/"), "https://[::1]:8443/");
    }
}
