//! Session affinity: the key that keeps a user on one connector (a cookie the gateway sets,
//! or a header the client sends), hashed for rendezvous hashing in `balance`.

use pingora::http::RequestHeader;
use rand::RngCore;

use crate::balance::hash_bytes;
use crate::edge::forward::Served;
use crate::routing::{Affinity, Route};

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The request's affinity key hash, if the app uses affinity. A cookie app without the
/// cookie gets a fresh one (set on the response through `served`).
pub fn key(route: &Route, req: &RequestHeader, served: &mut Served) -> Option<u64> {
    match route.affinity.as_ref()? {
        Affinity::Header(name) => req.headers.get(name).map(|v| hash_bytes(v.as_bytes())),
        Affinity::Cookie(name) => {
            if let Some(v) = cookie(req, name) {
                return Some(hash_bytes(v.as_bytes()));
            }
            let mut raw = [0u8; 16];
            rand::rng().fill_bytes(&mut raw);
            let token = hex::encode(raw);
            served.set_cookie = Some(format!(
                "{name}={token}; Path=/; Secure; HttpOnly; SameSite=Lax"
            ));
            Some(hash_bytes(token.as_bytes()))
        }
    }
}
