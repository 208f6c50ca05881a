//! Who is calling: the bearer token checked against the configured hashes, and what its role
//! lets it see and change.

use http::HeaderMap;

use super::reply::ApiError;
use crate::catalog::scope::{Key, SEP};
use crate::catalog::secret;
use crate::config::gateway::{AdminRole, AdminToken};

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Everything.
    Admin,
    /// Reads everything, writes nothing.
    ReadOnly,
    /// Reads and writes the objects of this tenant only.
    Tenant(String),
}

impl Caller {
    /// True when an object owned by `tenant` exists for this caller. Objects of other
    /// tenants and the operator's objects do not exist for a tenant caller (404, never 403).
    pub fn sees(&self, tenant: &Option<String>) -> bool {
        match self {
            Caller::Admin | Caller::ReadOnly => true,
            Caller::Tenant(t) => tenant.as_deref() == Some(t.as_str()),
        }
    }

    /// The tenant a new object gets: a tenant caller's objects are always its own, naming
    /// another tenant is forbidden.
    pub fn owner_for(&self, requested: Option<String>) -> Result<Option<String>, ApiError> {
        match (self, requested) {
            (Caller::Tenant(t), None) => Ok(Some(t.clone())),
            (Caller::Tenant(t), Some(r)) if *t == r => Ok(Some(r)),
            (Caller::Tenant(_), Some(_)) => Err(ApiError::Forbidden(
                "a tenant token can only manage its own tenant's objects".into(),
            )),
            (_, requested) => Ok(requested),
        }
    }

    /// The tenant of a tenant caller.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Caller::Tenant(t) => Some(t),
            _ => None,
        }
    }

    /// The object a path parameter names for this caller: an admin or read-only token
    /// writes qualified names (`t1/dc-east`, `dc-east` for the operator's), a tenant token
    /// plain names of its own scope. `None` for anything else, which the handler answers
    /// exactly as it answers a name that exists nowhere.
    pub fn key<'a>(&'a self, raw: &'a str) -> Option<Key<'a>> {
        match self {
            Caller::Admin | Caller::ReadOnly => Key::parse_qualified(raw),
            Caller::Tenant(t) => {
                (!raw.is_empty() && !raw.contains(SEP)).then(|| Key::new(Some(t), raw))
            }
        }
    }

    /// How this caller names the object at `key`: qualified for an operator's token, plain
    /// for a tenant's (which only ever sees its own scope).
    pub fn name_of(&self, key: Key<'_>) -> String {
        match self {
            Caller::Tenant(_) => key.name.to_owned(),
            _ => key.qualified(),
        }
    }
}

/// Finds the token of `Authorization: Bearer <token>`; returns the caller and the token's
/// name (for the audit log). Every configured token is checked (no early exit), each in
/// constant time.
pub fn authenticate(
    headers: &HeaderMap,
    tokens: &[AdminToken],
) -> Result<(Caller, String), ApiError> {
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let mut found: Option<&AdminToken> = None;
    for t in tokens {
        let Ok(digest) = secret::validate_hash(&t.token_hash) else {
            continue;
        };
        if secret::verify(presented, &digest) && found.is_none() {
            found = Some(t);
        }
    }
    let token = found.ok_or(ApiError::Unauthorized)?;
    let caller = match (token.role, &token.tenant) {
        (AdminRole::Admin, _) => Caller::Admin,
        (AdminRole::ReadOnly, _) => Caller::ReadOnly,
        (AdminRole::Tenant, Some(t)) => Caller::Tenant(t.clone()),
        // Configuration validation refuses a tenant token without a tenant; never grant
        // more than asked if one slips through.
        (AdminRole::Tenant, None) => return Err(ApiError::Unauthorized),
    };
    Ok((caller, token.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, secret: &str, role: AdminRole, tenant: Option<&str>) -> AdminToken {
        AdminToken {
            name: name.into(),
            token_hash: secret::hash(secret),
            role,
            tenant: tenant.map(str::to_string),
        }
    }

    fn bearer(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(v).expect("header"),
        );
        h
    }

    #[test]
    fn tokens_map_to_callers() {
        let tokens = vec![
            token("a", "admin-secret", AdminRole::Admin, None),
            token("r", "ro-secret", AdminRole::ReadOnly, None),
            token("t", "t-secret", AdminRole::Tenant, Some("acme")),
        ];
        assert_eq!(
            authenticate(&bearer("Bearer admin-secret"), &tokens),
            Ok((Caller::Admin, "a".to_string()))
        );
        assert_eq!(
            authenticate(&bearer("bearer ro-secret"), &tokens).map(|a| a.0),
            Ok(Caller::ReadOnly)
        );
        assert_eq!(
            authenticate(&bearer("Bearer t-secret"), &tokens).map(|a| a.0),
            Ok(Caller::Tenant("acme".into()))
        );
        for bad in [
            "Bearer nope",
            "Basic admin-secret",
            "Bearer ",
            "admin-secret",
        ] {
            assert_eq!(
                authenticate(&bearer(bad), &tokens),
                Err(ApiError::Unauthorized),
                "{bad}"
            );
        }
        assert_eq!(
            authenticate(&HeaderMap::new(), &tokens),
            Err(ApiError::Unauthorized)
        );
    }

    #[test]
    fn tenant_callers_own_what_they_create() {
        let t = Caller::Tenant("acme".into());
        assert_eq!(t.owner_for(None), Ok(Some("acme".into())));
        assert_eq!(t.owner_for(Some("acme".into())), Ok(Some("acme".into())));
        assert!(matches!(
            t.owner_for(Some("globex".into())),
            Err(ApiError::Forbidden(_))
        ));
        assert!(!t.sees(&None));
        assert!(!t.sees(&Some("globex".into())));
        assert!(t.sees(&Some("acme".into())));
        assert_eq!(Caller::Admin.owner_for(None), Ok(None));
    }

    #[test]
    fn path_parameters_address_the_callers_scope() {
        let t = Caller::Tenant("acme".into());
        for admin in [Caller::Admin, Caller::ReadOnly] {
            assert_eq!(
                admin.key("t1/dc-east"),
                Some(Key::new(Some("t1"), "dc-east"))
            );
            assert_eq!(admin.key("dc-east"), Some(Key::new(None, "dc-east")));
            assert_eq!(admin.key("/dc-east"), Some(Key::new(None, "dc-east")));
            assert_eq!(admin.key("a/b/c"), None);
            assert_eq!(admin.key("t1/"), None);
        }
        assert_eq!(t.key("dc-east"), Some(Key::new(Some("acme"), "dc-east")));
        // Qualified forms, even of its own objects, are names no tenant object has.
        for raw in ["acme/dc-east", "globex/dc-east", "/dc-east", "a/b", ""] {
            assert_eq!(t.key(raw), None, "{raw:?}");
        }
        let k = Key::new(Some("acme"), "g");
        assert_eq!(t.name_of(k), "g");
        assert_eq!(Caller::Admin.name_of(k), "acme/g");
        assert_eq!(Caller::ReadOnly.name_of(Key::new(None, "g")), "g");
    }
}
