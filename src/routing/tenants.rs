//! Tenant rules: every tenant named exists and is unique; only operator groups are shared;
//! tenant domains are well-formed and disjoint; and each app publishes only hosts its scope
//! owns (a tenant's app: inside its tenant's domains; an operator app: outside every
//! tenant's domains, and no operator wildcard covers one). References never reach into
//! another tenant: they resolve in their own scope (see `catalog::scope`).

use std::collections::HashMap;

use super::host::{self, ConfigHost};
use super::CatalogError;
use crate::catalog::within_domain;
use crate::catalog::Catalog;

/// Every tenant error of the catalog.
pub(super) fn validate(catalog: &Catalog) -> Vec<CatalogError> {
    let mut errors = Vec::new();
    let mut known: HashMap<&str, usize> = HashMap::new();
    for (i, t) in catalog.tenants.iter().enumerate() {
        let valid = !t.name.is_empty()
            && t.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid {
            errors.push(CatalogError::new(
                format!("tenants[{i}].name"),
                format!(
                    "{:?} is not a valid tenant name (letters, digits, '-', '_', '.')",
                    t.name
                ),
            ));
        }
        if let Some(first) = known.insert(&t.name, i) {
            errors.push(CatalogError::new(
                format!("tenants[{i}].name"),
                format!(
                    "duplicate tenant {:?} (first defined at tenants[{first}])",
                    t.name
                ),
            ));
        }
    }
    let mut check = |path: String, tenant: &Option<String>| {
        if let Some(t) = tenant {
            if !known.contains_key(t.as_str()) {
                errors.push(CatalogError::new(path, format!("unknown tenant {t:?}")));
            }
        }
    };
    for (i, g) in catalog.groups.iter().enumerate() {
        check(format!("groups[{i}].tenant"), &g.tenant);
    }
    for (i, c) in catalog.connectors.iter().enumerate() {
        check(format!("connectors[{i}].tenant"), &c.tenant);
    }
    for (i, a) in catalog.apps.iter().enumerate() {
        check(format!("apps[{i}].tenant"), &a.tenant);
    }
    for (i, e) in catalog.enrollment_tokens.iter().enumerate() {
        check(format!("enrollment_tokens[{i}].tenant"), &e.tenant);
    }

    for (i, g) in catalog.groups.iter().enumerate() {
        if g.shared && g.tenant.is_some() {
            errors.push(CatalogError::new(
                format!("groups[{i}].shared"),
                "only an operator group can be shared with tenants",
            ));
        }
    }
    let domains = domains(catalog, &mut errors);
    for (i, app) in catalog.apps.iter().enumerate() {
        if let Ok(host) = host::validate(&app.host) {
            if let Some(message) = owner_error(&host, app.tenant.as_deref(), &domains) {
                errors.push(CatalogError::new(format!("apps[{i}].host"), message));
            }
        }
    }
    errors
}

/// Every valid tenant domain with its tenant; reports malformed and overlapping ones.
fn domains<'c>(catalog: &'c Catalog, errors: &mut Vec<CatalogError>) -> Vec<(String, &'c str)> {
    let mut owned: Vec<(String, &str)> = Vec::new();
    for (i, t) in catalog.tenants.iter().enumerate() {
        for (j, raw) in t.domains.iter().enumerate() {
            let path = format!("tenants[{i}].domains[{j}]");
            let domain = match host::validate(raw) {
                Ok(ConfigHost::Exact(d)) => d,
                Ok(ConfigHost::Wildcard(_)) => {
                    let message =
                        format!("{raw:?}: a domain covers every name below it; drop \"*.\"");
                    errors.push(CatalogError::new(path, message));
                    continue;
                }
                Err(message) => {
                    errors.push(CatalogError::new(path, message));
                    continue;
                }
            };
            let clash = owned.iter().find(|(d, owner)| {
                *owner != t.name && (within_domain(&domain, d) || within_domain(d, &domain))
            });
            if let Some((d, owner)) = clash {
                let message = format!(
                    "{domain:?} overlaps domain {d:?} of tenant {owner:?} (a name belongs to at most one tenant)"
                );
                errors.push(CatalogError::new(path, message));
                continue;
            }
            owned.push((domain, &t.name));
        }
    }
    owned
}

/// Why `host` may not be published by an app of `tenant` (`None`: the operator), if it may
/// not. A tenant's message names only its own domains.
fn owner_error(
    host: &ConfigHost,
    tenant: Option<&str>,
    domains: &[(String, &str)],
) -> Option<String> {
    let (name, wildcard) = match host {
        ConfigHost::Exact(h) => (h.as_str(), false),
        ConfigHost::Wildcard(base) => (base.as_str(), true),
    };
    let shown = host.display();
    match tenant {
        Some(t) => {
            let own: Vec<&str> = domains
                .iter()
                .filter(|(_, owner)| *owner == t)
                .map(|(d, _)| d.as_str())
                .collect();
            (!own.iter().any(|d| within_domain(name, d))).then(|| {
                format!(
                    "host {shown:?} is outside this tenant's domains ({}); ask the operator to assign the domain",
                    if own.is_empty() { "none assigned".to_owned() } else { own.join(", ") }
                )
            })
        }
        None => domains.iter().find_map(|(d, owner)| {
            if within_domain(name, d) {
                Some(format!("host {shown:?} is inside domain {d:?} of tenant {owner:?}; publish it as that tenant's app"))
            } else if wildcard && within_domain(d, name) {
                Some(format!("wildcard {shown:?} would capture names of domain {d:?} of tenant {owner:?}"))
            } else {
                None
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use crate::catalog::{secret, AppSpec, Catalog, ConnectorSpec, GroupSpec, TenantSpec};
    use crate::routing::RoutingTable;

    fn tenant(name: &str, domains: &[&str]) -> TenantSpec {
        TenantSpec {
            domains: domains.iter().map(|d| d.to_string()).collect(),
            ..TenantSpec::named(name)
        }
    }

    fn app(name: &str, tenant: Option<&str>, host: &str, groups: &[&str]) -> AppSpec {
        let mut a = AppSpec::new(name, host, "http://10.0.0.1", groups);
        a.tenant = tenant.map(str::to_string);
        a
    }

    fn connector(id: &str, group: &str, tenant: Option<&str>, secret: &str) -> ConnectorSpec {
        ConnectorSpec {
            id: id.into(),
            group: group.into(),
            secret_hash: secret::hash(secret),
            tenant: tenant.map(str::to_string),
            revoked: false,
        }
    }

    /// Two tenants with the same names as each other and as the operator.
    fn catalog() -> Catalog {
        let mut shared = GroupSpec::new("shared", None);
        shared.shared = true;
        Catalog {
            tenants: vec![
                tenant("acme", &["acme.com"]),
                tenant("globex", &["globex.com", "globex.net"]),
            ],
            groups: vec![
                GroupSpec::new("dc-east", Some("acme")),
                GroupSpec::new("dc-east", Some("globex")),
                GroupSpec::new("dc-east", None),
                shared,
                GroupSpec::new("private", None),
            ],
            connectors: vec![
                connector("c1", "dc-east", Some("acme"), "a"),
                connector("c1", "dc-east", Some("globex"), "g"),
                connector("c1", "dc-east", None, "o"),
            ],
            apps: vec![
                app(
                    "wiki",
                    Some("acme"),
                    "wiki.acme.com",
                    &["dc-east", "/shared"],
                ),
                app("wiki", Some("globex"), "*.globex.com", &["dc-east"]),
                app("wiki", None, "wiki.example.org", &["dc-east", "private"]),
            ],
            enrollment_tokens: vec![],
        }
    }

    fn error_paths(c: &Catalog) -> Vec<String> {
        match RoutingTable::compile(c, 1) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.path).collect(),
        }
    }

    #[test]
    fn same_names_in_three_scopes_compile_apart() {
        let t = RoutingTable::compile(&catalog(), 1).expect("valid");
        let names: Vec<&str> = t.groups().map(|g| &*g.name).collect();
        assert_eq!(
            names,
            [
                "acme/dc-east",
                "globex/dc-east",
                "dc-east",
                "shared",
                "private"
            ]
        );
        assert_eq!(
            t.group("acme/dc-east").map(|g| g.connectors.clone()),
            Some(vec!["acme/c1".into()])
        );
        let wiki = t.lookup("wiki.acme.com", "/").expect("acme");
        assert_eq!(&*wiki.app, "acme/wiki");
        assert_eq!(
            wiki.groups,
            [Arc::from("acme/dc-east"), Arc::from("shared")]
        );
        let globex = t.lookup("x.globex.com", "/").expect("globex");
        assert_eq!(globex.groups, [Arc::from("globex/dc-east")]);
        assert_eq!(
            &*t.lookup("wiki.example.org", "/").expect("ops").app,
            "wiki"
        );
        // A hello's plain id means one of three; the qualified one exactly one.
        assert_eq!(t.connectors_named("c1").len(), 3);
        assert_eq!(
            t.connectors_named("globex/c1")[0].group.as_ref(),
            "globex/dc-east"
        );
        assert!(t.connectors_named("initech/c1").is_empty());
    }

    use std::sync::Arc;

    #[test]
    fn references_never_leave_their_scope() {
        let mut c = catalog();
        // A tenant may not reach an operator group that is not shared, nor another
        // tenant's group; an operator group cannot be named without `/` from a tenant app.
        c.apps[0].groups = vec!["/private".into(), "globex/dc-east".into(), "shared".into()];
        assert_eq!(
            error_paths(&c),
            [
                "apps[0].groups[0]",
                "apps[0].groups[1]",
                "apps[0].groups[2]"
            ]
        );
        let mut c = catalog();
        c.connectors[0].group = "/shared".into();
        c.groups[0].shared = true;
        assert_eq!(error_paths(&c), ["connectors[0].group", "groups[0].shared"]);
    }

    #[test]
    fn hosts_belong_to_the_scope_that_owns_the_domain() {
        for (host, tenant, ok) in [
            ("acme.com", Some("acme"), true),
            ("*.acme.com", Some("acme"), true),
            ("*.eu.acme.com", Some("acme"), true),
            ("Docs.ACME.com.", Some("acme"), true),
            ("x.globex.com", Some("acme"), false),
            ("*.globex.net", Some("acme"), false),
            ("notacme.com", Some("acme"), false),
            ("*.com", Some("acme"), false),
            ("other.org", Some("acme"), false),
            ("x.acme.com", None, false),
            ("*.acme.com", None, false),
            ("*.com", None, false),
            ("*.net", None, false),
            ("*.example.org", None, true),
            ("notacme.com", None, true),
        ] {
            let mut c = catalog();
            c.apps.push(app("new", tenant, host, &["dc-east"]));
            let paths = error_paths(&c);
            assert_eq!(paths.is_empty(), ok, "{host} for {tenant:?}: {paths:?}");
            if !ok {
                assert_eq!(paths, ["apps[3].host"], "{host}");
            }
        }
    }

    #[test]
    fn a_tenants_error_names_only_its_own_domains() {
        let mut c = catalog();
        c.apps
            .push(app("steal", Some("acme"), "www.globex.com", &["dc-east"]));
        let errors = RoutingTable::compile(&c, 1).expect_err("outside");
        assert_eq!(errors.len(), 1, "{errors:?}");
        let text = errors[0].to_string();
        assert!(text.contains("acme.com"), "{text}");
        assert!(
            !text.contains("globex\"") && !text.contains("tenant \""),
            "{text}"
        );
        // The same host published twice within one scope names the other app.
        let mut c = catalog();
        c.apps
            .push(app("again", Some("acme"), "wiki.acme.com", &["dc-east"]));
        let errors = RoutingTable::compile(&c, 1).expect_err("duplicate");
        assert!(errors[0].message.contains("\"wiki\""), "{errors:?}");
    }

    #[test]
    fn domains_are_disjoint_between_tenants() {
        let mut c = catalog();
        c.tenants[1].domains.push("eu.acme.com".into());
        c.tenants[1].domains.push("*.initech.com".into());
        c.tenants[1].domains.push("bad domain".into());
        c.tenants[0].domains.push("sub.acme.com".into()); // nested in its own: fine
        assert_eq!(
            error_paths(&c),
            [
                "tenants[1].domains[2]",
                "tenants[1].domains[3]",
                "tenants[1].domains[4]"
            ]
        );
    }

    #[test]
    fn unknown_tenants_are_refused() {
        let mut c = catalog();
        c.groups[4].tenant = Some("initech".into());
        c.tenants.push(TenantSpec::named("acme"));
        c.tenants.push(TenantSpec::named("a/b"));
        let paths = error_paths(&c);
        for p in ["groups[4].tenant", "tenants[2].name", "tenants[3].name"] {
            assert!(paths.contains(&p.to_string()), "{p}: {paths:?}");
        }
    }

    #[test]
    fn revoked_connectors_are_unknown_to_the_request_path() {
        let mut c = catalog();
        c.connectors[0].revoked = true;
        let t = RoutingTable::compile(&c, 1).expect("valid");
        assert!(t.connector("acme/c1").is_none());
        assert_eq!(t.connectors_named("c1").len(), 2);
    }
}
