//! Tenant rules: every tenant named exists, names are unique, and no object reaches into
//! another tenant (an app may use its tenant's groups or the operator's shared groups; a
//! connector belongs to a group of its own tenant).

use std::collections::HashMap;

use super::CatalogError;
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

    let group_tenant: HashMap<&str, &Option<String>> = catalog
        .groups
        .iter()
        .map(|g| (g.name.as_str(), &g.tenant))
        .collect();
    for (i, c) in catalog.connectors.iter().enumerate() {
        if let Some(gt) = group_tenant.get(c.group.as_str()) {
            if **gt != c.tenant {
                errors.push(CatalogError::new(
                    format!("connectors[{i}].group"),
                    format!("group {:?} belongs to another tenant", c.group),
                ));
            }
        }
    }
    for (i, a) in catalog.apps.iter().enumerate() {
        for (j, g) in a.groups.iter().enumerate() {
            if let Some(Some(gt)) = group_tenant.get(g.as_str()) {
                if a.tenant.as_ref() != Some(gt) {
                    errors.push(CatalogError::new(
                        format!("apps[{i}].groups[{j}]"),
                        format!("group {g:?} belongs to another tenant"),
                    ));
                }
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use crate::catalog::{secret, AppSpec, Catalog, ConnectorSpec, GroupSpec, TenantSpec};
    use crate::routing::RoutingTable;

    fn catalog() -> Catalog {
        let group = |name: &str, tenant: Option<&str>| GroupSpec {
            name: name.into(),
            balance: Default::default(),
            tenant: tenant.map(str::to_string),
        };
        let mut app = AppSpec::new("a", "a.example.com", "http://10.0.0.1", &["acme-g"]);
        app.tenant = Some("acme".into());
        Catalog {
            tenants: vec![
                TenantSpec {
                    name: "acme".into(),
                },
                TenantSpec {
                    name: "globex".into(),
                },
            ],
            groups: vec![
                group("acme-g", Some("acme")),
                group("shared", None),
                group("globex-g", Some("globex")),
            ],
            connectors: vec![ConnectorSpec {
                id: "c".into(),
                group: "acme-g".into(),
                secret_hash: secret::hash("s"),
                tenant: Some("acme".into()),
                revoked: false,
            }],
            apps: vec![app],
            enrollment_tokens: vec![],
        }
    }

    #[test]
    fn tenants_stay_apart() {
        let ok = catalog();
        assert!(RoutingTable::compile(&ok, 1).is_ok());

        let mut shared = catalog();
        shared.apps[0].groups.push("shared".into());
        assert!(
            RoutingTable::compile(&shared, 1).is_ok(),
            "operator groups are shared"
        );

        let mut bad = catalog();
        bad.apps[0].groups.push("globex-g".into());
        bad.connectors[0].group = "globex-g".into();
        bad.groups[1].tenant = Some("initech".into());
        let errors = RoutingTable::compile(&bad, 1).expect_err("invalid");
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"apps[0].groups[1]"), "{paths:?}");
        assert!(paths.contains(&"connectors[0].group"), "{paths:?}");
        assert!(paths.contains(&"groups[1].tenant"), "{paths:?}");
    }

    #[test]
    fn revoked_connectors_are_unknown_to_the_request_path() {
        let mut c = catalog();
        c.connectors[0].revoked = true;
        let t = RoutingTable::compile(&c, 1).expect("valid");
        assert!(t.connector("c").is_none());
    }
}
