//! Catalog errors as a tenant caller may see them. The catalog's validator numbers objects
//! by their place in the whole catalog (`apps[7]`); a tenant sees only its own list, where
//! that app may be `apps[1]`. Errors are renumbered to the tenant's own lists, and an error
//! that concerns (or points at) an object of another scope is dropped, so no message names,
//! counts or locates what the tenant cannot see.

use crate::catalog::Catalog;
use crate::routing::CatalogError;

/// The lists of a catalog whose entries belong to a scope, as they appear in catalog paths.
const KINDS: [&str; 5] = [
    "groups",
    "connectors",
    "apps",
    "enrollment_tokens",
    "tenants",
];

/// The owner of every object of one catalog, list by list (for `tenants`, the tenant
/// itself): enough to renumber catalog paths for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owners {
    lists: [Vec<Option<String>>; 5],
}

impl Owners {
    /// The owners in `catalog`.
    pub fn of(c: &Catalog) -> Owners {
        Owners {
            lists: [
                c.groups.iter().map(|x| x.tenant.clone()).collect(),
                c.connectors.iter().map(|x| x.tenant.clone()).collect(),
                c.apps.iter().map(|x| x.tenant.clone()).collect(),
                c.enrollment_tokens
                    .iter()
                    .map(|x| x.tenant.clone())
                    .collect(),
                c.tenants.iter().map(|x| Some(x.name.clone())).collect(),
            ],
        }
    }

    /// The place of catalog entry `kind[i]` in `tenant`'s own list of that kind, or `None`
    /// when the entry is not the tenant's.
    fn own_index(&self, kind: usize, i: usize, tenant: &str) -> Option<usize> {
        let list = &self.lists[kind];
        if list.get(i)?.as_deref() != Some(tenant) {
            return None;
        }
        Some(
            list[..i]
                .iter()
                .filter(|t| t.as_deref() == Some(tenant))
                .count(),
        )
    }

    /// `error` renumbered for `tenant`, or `None` when it is about another scope.
    pub fn reindex(&self, error: CatalogError, tenant: &str) -> Option<CatalogError> {
        let (kind, i, end) = leading_ref(&error.path)?;
        let own = self.own_index(kind, i, tenant)?;
        let path = format!("{}[{own}]{}", KINDS[kind], &error.path[end..]);
        let message = self.reindex_message(&error.message, tenant)?;
        Some(CatalogError { path, message })
    }

    /// Renumbers the catalog places a message points at (`(first defined at apps[2])`,
    /// `(apps[2])`); `None` when one of them is another scope's.
    fn reindex_message(&self, message: &str, tenant: &str) -> Option<String> {
        let mut out = String::with_capacity(message.len());
        let mut rest = message;
        while let Some(at) = next_pointer(rest) {
            let (kind, i, end) = leading_ref(&rest[at..])?;
            let own = self.own_index(kind, i, tenant)?;
            out.push_str(&rest[..at]);
            out.push_str(&format!("{}[{own}]", KINDS[kind]));
            rest = &rest[at + end..];
        }
        out.push_str(rest);
        Some(out)
    }
}

/// `kind[N]` at the start of `s`: the kind's place in [`KINDS`], `N`, and where it ends.
fn leading_ref(s: &str) -> Option<(usize, usize, usize)> {
    let open = s.find('[')?;
    let kind = KINDS.iter().position(|k| *k == &s[..open])?;
    let close = open + s[open..].find(']')?;
    let i = s[open + 1..close].parse().ok()?;
    Some((kind, i, close + 1))
}

/// Where the next pointer to a catalog entry starts in a message. The validator writes
/// them after `(` or `defined at `; other bracketed indexes (`in the chain at groups[0]`)
/// count places inside one object and stay as they are.
fn next_pointer(s: &str) -> Option<usize> {
    KINDS
        .iter()
        .flat_map(|k| {
            ["(", "defined at "].into_iter().filter_map(move |lead| {
                let needle = format!("{lead}{k}[");
                s.find(&needle).map(|p| p + lead.len())
            })
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{AppSpec, GroupSpec, TenantSpec};

    fn catalog() -> Catalog {
        let app = |name: &str, tenant: Option<&str>| AppSpec {
            tenant: tenant.map(str::to_owned),
            ..AppSpec::new(name, "x.example.com", "http://10.0.0.1", &["g"])
        };
        Catalog {
            tenants: vec![TenantSpec::named("t2"), TenantSpec::named("t1")],
            groups: vec![
                GroupSpec::new("g", None),
                GroupSpec::new("g", Some("t1")),
                GroupSpec::new("g", Some("t2")),
                GroupSpec::new("h", Some("t1")),
            ],
            apps: vec![
                app("a", None),
                app("a", Some("t1")),
                app("b", Some("t2")),
                app("c", Some("t1")),
                app("c", Some("t1")),
            ],
            ..Catalog::default()
        }
    }

    fn err(path: &str, message: &str) -> CatalogError {
        CatalogError::new(path, message)
    }

    #[test]
    fn paths_and_pointers_count_the_tenants_own_objects() {
        let o = Owners::of(&catalog());
        let dup = err(
            "apps[4].name",
            "duplicate app \"c\" (first defined at apps[3])",
        );
        assert_eq!(
            o.reindex(dup, "t1"),
            Some(err(
                "apps[2].name",
                "duplicate app \"c\" (first defined at apps[1])"
            ))
        );
        let published = err(
            "apps[4].path_prefix",
            "host \"x\" with path prefix \"/\" is already published by app \"c\" (apps[3])",
        );
        assert_eq!(
            o.reindex(published, "t1").map(|e| e.message),
            Some(
                "host \"x\" with path prefix \"/\" is already published by app \"c\" (apps[1])"
                    .into()
            )
        );
        assert_eq!(
            o.reindex(err("groups[3].name", "bad"), "t1"),
            Some(err("groups[1].name", "bad"))
        );
        assert_eq!(
            o.reindex(err("tenants[1].domains[0]", "bad"), "t1"),
            Some(err("tenants[0].domains[0]", "bad"))
        );
        // Indexes inside one object are not catalog places.
        let chain = err(
            "apps[3].groups[1]",
            "group \"g\" is already in the chain at groups[0]",
        );
        assert_eq!(
            o.reindex(chain, "t1"),
            Some(err(
                "apps[1].groups[1]",
                "group \"g\" is already in the chain at groups[0]"
            ))
        );
    }

    #[test]
    fn errors_about_other_scopes_never_reach_a_tenant() {
        let o = Owners::of(&catalog());
        for e in [
            err("apps[0].host", "operator app"),
            err("apps[2].host", "t2's app"),
            err("groups[2].name", "t2's group"),
            err("tenants[0].domains[0]", "t2's domain"),
            err("apps[3].name", "points at t2 (apps[2])"),
            err("apps[3].name", "first defined at groups[0]"),
            err("apps[99].name", "past the end"),
            err("settings.x", "no object at all"),
        ] {
            assert_eq!(o.reindex(e.clone(), "t1"), None, "{e}");
        }
    }
}
