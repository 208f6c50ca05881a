//! Loading a catalog written before tenant scopes (store schema 1) into today's layout.
//!
//! Schema 1 had one global namespace and no domains. Its names were unique across tenants,
//! so every object keeps its name in its owner's scope. Two things change meaning:
//! - a tenant's app could name any operator group: such groups become `shared = true` and the
//!   app's reference becomes `/name`, so the app keeps its chain;
//! - tenants had no domains: each tenant gets, as domains, the hosts its apps already
//!   publish (`*.apps.example.com` gives `apps.example.com`), so its apps keep their hosts.
//!
//! The result is validated like any catalog; a schema 1 catalog whose tenants' hosts
//! overlap cannot be expressed with owned domains and is refused with the validation errors.

use super::scope::{Key, SEP};
use super::{within_domain, Catalog};

/// The store schema this version writes.
pub const SCHEMA: u32 = 2;

/// What a migration changed, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Operator groups now `shared = true`.
    pub shared: Vec<String>,
    /// `(tenant, domain)` assigned from the hosts the tenant's apps publish.
    pub domains: Vec<(String, String)>,
}

/// Rewrites a schema 1 catalog in place.
pub fn from_v1(catalog: &mut Catalog) -> Migrated {
    let mut migrated = Migrated::default();
    share_operator_groups(catalog, &mut migrated);
    assign_domains(catalog, &mut migrated);
    migrated
}

fn share_operator_groups(catalog: &mut Catalog, migrated: &mut Migrated) {
    let operator_groups: Vec<String> = catalog
        .groups
        .iter()
        .filter(|g| g.tenant.is_none())
        .map(|g| g.name.clone())
        .collect();
    let mut shared: Vec<String> = Vec::new();
    for app in catalog.apps.iter_mut().filter(|a| a.tenant.is_some()) {
        for r in app.groups.iter_mut() {
            let own = Key::new(app.tenant.as_deref(), r);
            let owned_by_tenant = catalog.groups.iter().any(|g| g.key() == own);
            if !owned_by_tenant && !r.starts_with(SEP) && operator_groups.contains(r) {
                if !shared.contains(r) {
                    shared.push(r.clone());
                }
                *r = format!("{SEP}{r}");
            }
        }
    }
    for g in catalog.groups.iter_mut() {
        if g.tenant.is_none() && shared.contains(&g.name) && !g.shared {
            g.shared = true;
            migrated.shared.push(g.name.clone());
        }
    }
}

fn assign_domains(catalog: &mut Catalog, migrated: &mut Migrated) {
    for t in 0..catalog.tenants.len() {
        let name = catalog.tenants[t].name.clone();
        let mut wanted: Vec<String> = catalog
            .apps
            .iter()
            .filter(|a| a.tenant.as_deref() == Some(name.as_str()))
            .map(|a| {
                let host = a.host.trim_end_matches('.').to_ascii_lowercase();
                host.strip_prefix("*.").map_or(host.clone(), str::to_owned)
            })
            .collect();
        // Shortest first, so that a name under an earlier domain adds nothing.
        wanted.sort_by_key(|d| (d.matches('.').count(), d.clone()));
        let domains = &mut catalog.tenants[t].domains;
        for d in wanted {
            if !d.is_empty() && !domains.iter().any(|have| within_domain(&d, have)) {
                domains.push(d.clone());
                migrated.domains.push((name.clone(), d));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{AppSpec, GroupSpec, TenantSpec};

    #[test]
    fn shared_groups_and_domains_come_from_what_was_in_use() {
        let mut t1_app = AppSpec::new("a", "Wiki.Acme.com.", "http://10.0.0.1", &["t1g", "dr"]);
        t1_app.tenant = Some("t1".into());
        let mut t1_wild = AppSpec::new("w", "*.apps.acme.com", "http://10.0.0.1", &["t1g"]);
        t1_wild.tenant = Some("t1".into());
        let mut t1_under = AppSpec::new("u", "x.apps.acme.com", "http://10.0.0.1", &["t1g"]);
        t1_under.tenant = Some("t1".into());
        let ops = AppSpec::new(
            "o",
            "ops.example.net",
            "http://10.0.0.1",
            &["dr", "private"],
        );
        let mut c = Catalog {
            tenants: vec![TenantSpec::named("t1")],
            groups: vec![
                GroupSpec::new("t1g", Some("t1")),
                GroupSpec::new("dr", None),
                GroupSpec::new("private", None),
            ],
            apps: vec![t1_app, t1_wild, t1_under, ops],
            ..Catalog::default()
        };
        let m = from_v1(&mut c);
        assert_eq!(m.shared, ["dr"]);
        assert!(c.groups[1].shared && !c.groups[2].shared);
        assert_eq!(c.apps[0].groups, ["t1g", "/dr"]);
        assert_eq!(
            c.apps[3].groups,
            ["dr", "private"],
            "operator apps unchanged"
        );
        assert_eq!(c.tenants[0].domains, ["apps.acme.com", "wiki.acme.com"]);
        assert_eq!(m.domains.len(), 2);
        // Idempotent: a second run changes nothing.
        let again = c.clone();
        assert_eq!(from_v1(&mut c), Migrated::default());
        assert_eq!(c, again);
    }

    #[test]
    fn within_is_label_aligned() {
        assert!(within_domain("example.com", "example.com"));
        assert!(within_domain("a.b.example.com", "example.com"));
        assert!(!within_domain("badexample.com", "example.com"));
        assert!(!within_domain("com", "example.com"));
    }
}
