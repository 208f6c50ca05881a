//! Path and `Location` rewriting between an app's external URL and its internal URL.

use super::index::prefix_matches;
use super::{InternalUrl, Route};

impl Route {
    /// Maps the external path-and-query to the internal one.
    ///
    /// If the internal URL has a base path, the app's path prefix is replaced by it (external
    /// `/w/x?q` with prefix `/w` and internal base `/wiki` → `/wiki/x?q`; `/w` → `/wiki`;
    /// prefix `/` or none → base path + path). Without a base path the path is unchanged, as
    /// is a path that does not start with `/` (`*`).
    pub fn map_path(&self, path_and_query: &str) -> String {
        let Some(base) = self.internal.base_path.as_deref() else {
            return path_and_query.to_string();
        };
        let (path, query) = split_query(path_and_query);
        let rest = match self.real_prefix() {
            Some(prefix) if prefix_matches(path, prefix) => &path[prefix.len()..],
            // The route matched without its prefix only if the caller looked it up elsewhere;
            // keep the whole path under the base rather than guess.
            _ if path.is_empty() || path.starts_with('/') => path,
            _ => return path_and_query.to_string(),
        };
        let mut out = String::with_capacity(base.len() + rest.len() + query.len());
        out.push_str(base);
        out.push_str(rest);
        out.push_str(query);
        out
    }

    /// Rewrites a `Location`/`Content-Location` value that points at the internal URL to
    /// `https://{external_authority}{path}`, the path mapped back (the inverse of
    /// [`Route::map_path`]).
    ///
    /// The value points at the internal URL when it is absolute, its scheme equals the
    /// internal one, its host equals the internal host (ignoring case) and its port equals the
    /// internal port (an absent port counts as 80 for http, 443 for https), and, if the
    /// internal URL has a base path, its path lies under that base path. Otherwise (relative
    /// values, other hosts, paths outside the base) the answer is `None` and the caller leaves
    /// the value alone.
    pub fn rewrite_location(&self, location: &str, external_authority: &str) -> Option<String> {
        let (scheme, rest) = location.split_once("://")?;
        if !scheme.eq_ignore_ascii_case(self.internal.scheme.as_str()) {
            return None;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if !self.internal.is_authority(authority) {
            return None;
        }
        let split = tail.find(['?', '#']).unwrap_or(tail.len());
        let (path, suffix) = tail.split_at(split);
        let path = self.unmap_path(path)?;
        Some(format!("https://{external_authority}{path}{suffix}"))
    }

    /// The path prefix unless it is `/`, which means "no prefix".
    fn real_prefix(&self) -> Option<&str> {
        self.path_prefix.as_deref().filter(|p| *p != "/")
    }

    /// The external path for an internal one, or `None` when it lies outside the base path.
    fn unmap_path(&self, path: &str) -> Option<String> {
        let mut out = match self.internal.base_path.as_deref() {
            None => path.to_string(),
            Some(base) if prefix_matches(path, base) => {
                format!(
                    "{}{}",
                    self.real_prefix().unwrap_or(""),
                    &path[base.len()..]
                )
            }
            Some(_) => return None,
        };
        if out.is_empty() {
            out.push('/');
        }
        Some(out)
    }
}

impl InternalUrl {
    /// True when `authority` (from an absolute URL with the same scheme) addresses this origin.
    fn is_authority(&self, authority: &str) -> bool {
        if authority.contains('@') {
            return false;
        }
        let (host, port) = if authority.starts_with('[') {
            match authority.find(']') {
                Some(i) => authority.split_at(i + 1),
                None => return false,
            }
        } else {
            authority.split_at(authority.find(':').unwrap_or(authority.len()))
        };
        let default = self.default_port();
        let port = match port.strip_prefix(':') {
            None if port.is_empty() => default,
            Some("") => default,
            Some(digits) => match digits.parse::<u16>() {
                Ok(p) => p,
                Err(_) => return false,
            },
            None => return false,
        };
        host.eq_ignore_ascii_case(self.authority.host())
            && port == self.authority.port_u16().unwrap_or(default)
    }

    fn default_port(&self) -> u16 {
        if self.scheme == http::uri::Scheme::HTTPS {
            443
        } else {
            80
        }
    }
}

/// Splits `/a?b` into `/a` and `?b`.
fn split_query(path_and_query: &str) -> (&str, &str) {
    path_and_query.split_at(path_and_query.find('?').unwrap_or(path_and_query.len()))
}
