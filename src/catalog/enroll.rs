//! Enrollment as a catalog decision: a connector presenting an enrollment token either gets
//! an entry (and, when missing, the default group) or a refusal. Pure: the caller applies the
//! change through its catalog writer, so the check and the write see the same catalog.

use super::scope::Key;
use super::{secret, Catalog, ConnectorSpec, GroupSpec};

/// The group enrolled connectors land in, for an operator to move them later.
pub const DEFAULT_GROUP: &str = "default";

/// A connector asking to enroll.
pub struct EnrollRequest<'a> {
    pub id: &'a str,
    /// The enrollment token it presented (plain text).
    pub token: &'a str,
    /// The hash of the secret it will authenticate with from now on.
    pub secret_hash: String,
    /// Unix seconds, for the token's expiry.
    pub now: u64,
}

/// What one enrollment adds to the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrollment {
    /// The id of the token used, for the log.
    pub token_id: String,
    /// The default group, when the catalog has none yet.
    pub group: Option<GroupSpec>,
    pub connector: ConnectorSpec,
}

impl Enrollment {
    /// Adds the connector (and the group) to `catalog`.
    pub fn apply(self, catalog: &mut Catalog) {
        catalog.groups.extend(self.group);
        catalog.connectors.push(self.connector);
    }
}

/// Why an enrollment was refused: a metric label and a reason for the connector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    /// `bad_enrollment` or `already_registered`.
    pub label: &'static str,
    pub reason: String,
}

fn refuse(label: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal {
        label,
        reason: reason.into(),
    }
}

/// Decides one enrollment: a live token that `token` hashes to, an id not in the catalog yet
/// in the token's scope (a revoked one included), then the connector in that scope's
/// [`DEFAULT_GROUP`] (created if missing). A tenant's token enrolls into its tenant's scope.
pub fn decide(catalog: &Catalog, request: &EnrollRequest<'_>) -> Result<Enrollment, Refusal> {
    let token = request.token;
    let matching: Vec<_> = catalog
        .enrollment_tokens
        .iter()
        .filter(|t| secret::validate_hash(&t.token_hash).is_ok_and(|d| secret::verify(token, &d)))
        .collect();
    let Some(spec) = matching.iter().find(|t| t.expires_at > request.now) else {
        let reason = if matching.is_empty() {
            "unknown enrollment token"
        } else {
            "the enrollment token has expired"
        };
        return Err(refuse("bad_enrollment", reason));
    };
    let id = request.id;
    let tenant = spec.tenant.clone();
    let scope = tenant.as_deref();
    if catalog.connector_index(Key::new(scope, id)).is_some() {
        return Err(refuse(
            "already_registered",
            format!("connector \"{id}\" is already registered; use its secret"),
        ));
    }
    // The token's own scope always has its `default` (created on demand): another tenant's
    // `default` is another group.
    let group = match catalog.group_index(Key::new(scope, DEFAULT_GROUP)) {
        Some(_) => None,
        None => Some(GroupSpec::new(DEFAULT_GROUP, scope)),
    };
    Ok(Enrollment {
        token_id: spec.id.clone(),
        group,
        connector: ConnectorSpec {
            id: id.to_owned(),
            group: DEFAULT_GROUP.to_owned(),
            secret_hash: request.secret_hash.clone(),
            tenant,
            revoked: false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{EnrollmentSpec, TenantSpec};

    /// Decides and applies one enrollment, as the gateway's catalog writer does.
    fn register(
        c: &mut Catalog,
        id: &str,
        token: &str,
        secret_hash: String,
        now: u64,
    ) -> Result<String, (&'static str, String)> {
        let request = EnrollRequest {
            id,
            token,
            secret_hash,
            now,
        };
        let change = decide(c, &request).map_err(|r| (r.label, r.reason))?;
        let token_id = change.token_id.clone();
        change.apply(c);
        Ok(token_id)
    }

    const NOW: u64 = 1_000_000;

    fn token(id: &str, token: &str, tenant: Option<&str>, expires_at: u64) -> EnrollmentSpec {
        EnrollmentSpec {
            id: id.into(),
            token_hash: secret::hash(token),
            tenant: tenant.map(str::to_owned),
            expires_at,
        }
    }

    fn catalog() -> Catalog {
        Catalog {
            tenants: vec![TenantSpec::named("acme"), TenantSpec::named("globex")],
            enrollment_tokens: vec![
                token("fleet", "t-fleet", None, NOW + 60),
                token("old", "t-old", None, NOW),
                token("acme", "t-acme", Some("acme"), NOW + 60),
                token("globex", "t-globex", Some("globex"), NOW + 60),
            ],
            ..Catalog::default()
        }
    }

    #[test]
    fn enrollment_adds_the_connector_and_the_default_group() {
        let mut c = catalog();
        let used = register(&mut c, "azure-1", "t-fleet", "sha256:h".into(), NOW).expect("ok");
        assert_eq!(used, "fleet");
        assert_eq!(c.groups.len(), 1);
        assert_eq!(
            (c.groups[0].name.as_str(), &c.groups[0].tenant),
            ("default", &None)
        );
        let added = &c.connectors[0];
        assert_eq!(
            (added.id.as_str(), added.group.as_str()),
            ("azure-1", "default")
        );
        assert_eq!(
            (added.secret_hash.as_str(), added.revoked),
            ("sha256:h", false)
        );
        // The same token enrolls the next connector into the existing group.
        register(&mut c, "azure-2", "t-fleet", "sha256:i".into(), NOW).expect("ok");
        assert_eq!((c.groups.len(), c.connectors.len()), (1, 2));
        assert_eq!(c.enrollment_tokens.len(), 4, "tokens are not used up");
    }

    #[test]
    fn each_scope_enrolls_into_its_own_default_group() {
        let mut c = catalog();
        register(&mut c, "c1", "t-acme", "sha256:h".into(), NOW).expect("acme");
        assert_eq!(c.groups[0].tenant.as_deref(), Some("acme"));
        assert_eq!(c.connectors[0].tenant.as_deref(), Some("acme"));
        // The same id and group name in two more scopes: three connectors, three defaults.
        register(&mut c, "c1", "t-globex", "sha256:i".into(), NOW).expect("globex");
        register(&mut c, "c1", "t-fleet", "sha256:j".into(), NOW).expect("operator");
        let owners: Vec<(Option<&str>, &str)> = c
            .groups
            .iter()
            .map(|g| (g.tenant.as_deref(), g.name.as_str()))
            .collect();
        assert_eq!(
            owners,
            [
                (Some("acme"), "default"),
                (Some("globex"), "default"),
                (None, "default")
            ]
        );
        assert!(c
            .connectors
            .iter()
            .all(|x| x.id == "c1" && x.group == "default"));
        // Within one scope an id is taken once.
        let err = register(&mut c, "c1", "t-acme", "sha256:k".into(), NOW).expect_err("taken");
        assert_eq!(err.0, "already_registered");
    }

    #[test]
    fn bad_tokens_and_known_ids_are_refused_without_a_change() {
        let before = {
            let mut c = catalog();
            c.connectors.push(ConnectorSpec {
                id: "taken".into(),
                group: "g".into(),
                secret_hash: "sha256:x".into(),
                tenant: None,
                revoked: true,
            });
            c
        };
        let cases = [
            (
                "new-1",
                "nope",
                "bad_enrollment",
                "unknown enrollment token",
            ),
            ("new-1", "t-old", "bad_enrollment", "expired"),
            (
                "taken",
                "t-fleet",
                "already_registered",
                "already registered; use its secret",
            ),
        ];
        for (id, tok, label, reason) in cases {
            let mut c = before.clone();
            let err = register(&mut c, id, tok, "sha256:h".into(), NOW).expect_err(tok);
            assert_eq!(err.0, label, "{tok}");
            assert!(err.1.contains(reason), "{tok}: {}", err.1);
            assert_eq!(c, before, "{tok}: catalog changed");
        }
    }
}
