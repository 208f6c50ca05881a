//! The route table: every operation of the API as (method, path pattern, body rule,
//! handler). The server dispatches from it and a unit test checks it against the OpenAPI
//! document, so neither can drift from the other.

use super::reply::{ApiError, Reply};
use super::request::{percent_decode, Ctx};
use super::{apps, connectors, enrollment, groups, status, tenants};

/// Prefix of every route.
pub const BASE: &str = "/api/v1";

/// A handler: synchronous, because a write waits for the store's fsync (it runs on the
/// blocking pool).
pub type Handler = fn(Ctx) -> Result<Reply, ApiError>;

/// Whether a route reads a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRule {
    /// No body is read.
    None,
    /// A JSON body; an empty one reads as `{}`.
    Optional,
    /// A JSON body is required.
    Required,
}

/// One operation.
pub struct Route {
    pub method: &'static str,
    /// Path below the host, with `{name}` for a parameter segment.
    pub path: &'static str,
    pub body: BodyRule,
    pub handler: Handler,
}

const fn route(
    method: &'static str,
    path: &'static str,
    body: BodyRule,
    handler: Handler,
) -> Route {
    Route {
        method,
        path,
        body,
        handler,
    }
}

use BodyRule::{None as NoBody, Optional, Required};

/// Every operation of the API except `GET /api/v1/openapi.json` (served before
/// authentication, see [`OPENAPI_PATH`]).
pub static ROUTES: &[Route] = &[
    route("GET", "/api/v1/status", NoBody, status::get),
    route("GET", "/api/v1/tenants", NoBody, tenants::list),
    route("POST", "/api/v1/tenants", Required, tenants::create),
    route("GET", "/api/v1/tenants/{name}", NoBody, tenants::get),
    route("PATCH", "/api/v1/tenants/{name}", Required, tenants::patch),
    route("DELETE", "/api/v1/tenants/{name}", NoBody, tenants::delete),
    route("GET", "/api/v1/groups", NoBody, groups::list),
    route("POST", "/api/v1/groups", Required, groups::create),
    route("GET", "/api/v1/groups/{name}", NoBody, groups::get),
    route("PATCH", "/api/v1/groups/{name}", Required, groups::patch),
    route("DELETE", "/api/v1/groups/{name}", NoBody, groups::delete),
    route("GET", "/api/v1/connectors", NoBody, connectors::list),
    route("POST", "/api/v1/connectors", Required, connectors::create),
    route("GET", "/api/v1/connectors/{id}", NoBody, connectors::get),
    route(
        "DELETE",
        "/api/v1/connectors/{id}",
        NoBody,
        connectors::delete,
    ),
    route(
        "POST",
        "/api/v1/connectors/{id}/move",
        Required,
        connectors::move_to,
    ),
    route(
        "POST",
        "/api/v1/connectors/{id}/revoke",
        Optional,
        connectors::revoke,
    ),
    route("GET", "/api/v1/apps", NoBody, apps::list),
    route("POST", "/api/v1/apps", Required, apps::create),
    route("GET", "/api/v1/apps/{name}", NoBody, apps::get),
    route("PUT", "/api/v1/apps/{name}", Required, apps::put),
    route("PATCH", "/api/v1/apps/{name}", Required, apps::patch),
    route("DELETE", "/api/v1/apps/{name}", NoBody, apps::delete),
    route("GET", "/api/v1/enrollment-tokens", NoBody, enrollment::list),
    route(
        "POST",
        "/api/v1/enrollment-tokens",
        Optional,
        enrollment::create,
    ),
    route(
        "DELETE",
        "/api/v1/enrollment-tokens/{id}",
        NoBody,
        enrollment::delete,
    ),
];

/// The OpenAPI document: public, outside the table.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// What the table says about a method and path.
pub enum Found {
    /// The route and its decoded parameters.
    Route(&'static Route, Vec<String>),
    /// The path exists, not with this method.
    WrongMethod(Vec<&'static str>),
    /// No such path.
    Nothing,
}

/// Looks `method path` up in [`ROUTES`].
pub fn find(method: &str, path: &str) -> Found {
    if !path.starts_with(BASE) {
        return Found::Nothing;
    }
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let mut allowed = Vec::new();
    for r in ROUTES {
        let Some(params) = matches(r.path, path) else {
            continue;
        };
        if r.method == method {
            return Found::Route(r, params);
        }
        if !allowed.contains(&r.method) {
            allowed.push(r.method);
        }
    }
    if allowed.is_empty() {
        Found::Nothing
    } else {
        Found::WrongMethod(allowed)
    }
}

/// The decoded `{…}` segments when `path` fits `pattern`.
fn matches(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    let mut params = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                let value = percent_decode(g)?;
                if value.is_empty() {
                    return None;
                }
                params.push(value);
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_with_parameters() {
        match find("GET", "/api/v1/apps/wiki%20east") {
            Found::Route(r, p) => {
                assert_eq!(r.path, "/api/v1/apps/{name}");
                assert_eq!(p, vec!["wiki east".to_string()]);
            }
            _ => panic!("routed"),
        }
        match find("POST", "/api/v1/connectors/c1/revoke") {
            Found::Route(r, p) => {
                assert_eq!(r.path, "/api/v1/connectors/{id}/revoke");
                assert_eq!(p, vec!["c1".to_string()]);
            }
            _ => panic!("routed"),
        }
        assert!(matches!(find("GET", "/api/v1/groups/"), Found::Route(..)));
        match find("PUT", "/api/v1/groups") {
            Found::WrongMethod(m) => assert_eq!(m, vec!["GET", "POST"]),
            _ => panic!("405"),
        }
        assert!(matches!(find("GET", "/api/v1/nope"), Found::Nothing));
        assert!(matches!(find("GET", "/api/v1/apps//x"), Found::Nothing));
        assert!(matches!(find("GET", "/api/v1/apps/a/b"), Found::Nothing));
        // A qualified name travels as one segment, its `/` percent-encoded.
        match find("DELETE", "/api/v1/groups/t1%2Fdc-east") {
            Found::Route(r, p) => {
                assert_eq!(r.path, "/api/v1/groups/{name}");
                assert_eq!(p, vec!["t1/dc-east".to_string()]);
            }
            _ => panic!("routed"),
        }
        match find("POST", "/api/v1/connectors/t1%2fc1/move") {
            Found::Route(r, p) => {
                assert_eq!(r.path, "/api/v1/connectors/{id}/move");
                assert_eq!(p, vec!["t1/c1".to_string()]);
            }
            _ => panic!("routed"),
        }
    }

    #[test]
    fn every_route_is_unique_and_under_the_base() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(a.path.starts_with(BASE), "{}", a.path);
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }
}
