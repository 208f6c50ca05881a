//! Scopes: every group, connector, app and enrollment token belongs to the operator or to
//! one tenant, and its name is unique within that scope only. Two tenants may both have a
//! `dc-east`; neither sees the other's.
//!
//! - A **qualified name** addresses an object from the operator's side: `t1/dc-east` is
//!   tenant `t1`'s `dc-east`, a plain `dc-east` is the operator's own. Metrics labels, logs,
//!   admin API paths and `ctl` arguments use it.
//! - A **reference** written inside an object (a connector's `group`, an app's `groups`) is
//!   relative to that object's scope: a plain name is a group of the same scope, `/name` is
//!   an operator group marked `shared = true` (only a tenant's app may use one).

use super::{AppSpec, Catalog, ConnectorSpec, GroupSpec};

/// Separates a tenant from a name in a qualified name; never part of a name.
pub const SEP: char = '/';

/// Where one object lives: its tenant (`None`: the operator) and its name in that scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key<'a> {
    pub tenant: Option<&'a str>,
    pub name: &'a str,
}

impl<'a> Key<'a> {
    /// The object `name` of `tenant`'s scope.
    pub fn new(tenant: Option<&'a str>, name: &'a str) -> Key<'a> {
        Key { tenant, name }
    }

    /// `t1/name` for a tenant's object, `name` for the operator's.
    pub fn qualified(&self) -> String {
        qualified(self.tenant, self.name)
    }

    /// Reads a qualified name as the operator writes it: `t1/x` is tenant `t1`'s `x`, `x`
    /// (or `/x`) is the operator's. `None` for anything else (`a/b/c`, empty parts).
    pub fn parse_qualified(raw: &'a str) -> Option<Key<'a>> {
        let raw = raw.strip_prefix(SEP).map_or(raw, |rest| {
            // `/x` names the operator's `x` explicitly; `//x` is nothing.
            if rest.contains(SEP) {
                ""
            } else {
                rest
            }
        });
        match raw.split_once(SEP) {
            None if !raw.is_empty() => Some(Key::new(None, raw)),
            Some((t, n)) if !t.is_empty() && !n.is_empty() && !n.contains(SEP) => {
                Some(Key::new(Some(t), n))
            }
            _ => None,
        }
    }
}

/// `t1/name` for a tenant's object, `name` for the operator's.
pub fn qualified(tenant: Option<&str>, name: &str) -> String {
    match tenant {
        Some(t) => format!("{t}{SEP}{name}"),
        None => name.to_owned(),
    }
}

/// The group a reference written inside an object of `owner`'s scope points at: a plain
/// name is in `owner`'s scope, `/name` is the operator's.
pub fn resolve<'a>(owner: Option<&'a str>, reference: &'a str) -> Key<'a> {
    match reference.strip_prefix(SEP) {
        Some(name) => Key::new(None, name),
        None => Key::new(owner, reference),
    }
}

/// How an object of `owner`'s scope writes a reference to `target`: plain within one scope,
/// `/name` for an operator group seen from a tenant's scope.
pub fn reference(owner: Option<&str>, target: Key<'_>) -> String {
    if owner == target.tenant || target.tenant.is_some() {
        target.name.to_owned()
    } else {
        format!("{SEP}{}", target.name)
    }
}

impl GroupSpec {
    /// The group's place.
    pub fn key(&self) -> Key<'_> {
        Key::new(self.tenant.as_deref(), &self.name)
    }
}

impl ConnectorSpec {
    /// The connector's place.
    pub fn key(&self) -> Key<'_> {
        Key::new(self.tenant.as_deref(), &self.id)
    }

    /// The group the connector belongs to (always in the connector's own scope).
    pub fn group_key(&self) -> Key<'_> {
        Key::new(self.tenant.as_deref(), &self.group)
    }
}

impl AppSpec {
    /// The app's place.
    pub fn key(&self) -> Key<'_> {
        Key::new(self.tenant.as_deref(), &self.name)
    }

    /// The groups of the app's chain, resolved, in order.
    pub fn group_keys(&self) -> impl Iterator<Item = Key<'_>> {
        let owner = self.tenant.as_deref();
        self.groups.iter().map(move |r| resolve(owner, r))
    }

    /// True when the chain names `group`.
    pub fn uses(&self, group: Key<'_>) -> bool {
        self.group_keys().any(|k| k == group)
    }
}

impl Catalog {
    /// Index of the group at `key`.
    pub fn group_index(&self, key: Key<'_>) -> Option<usize> {
        self.groups.iter().position(|g| g.key() == key)
    }

    /// Index of the connector at `key`.
    pub fn connector_index(&self, key: Key<'_>) -> Option<usize> {
        self.connectors.iter().position(|c| c.key() == key)
    }

    /// Index of the app at `key`.
    pub fn app_index(&self, key: Key<'_>) -> Option<usize> {
        self.apps.iter().position(|a| a.key() == key)
    }

    /// Points every reference to the group at `from` to `to` instead (a rename or a
    /// "move everything to…"), keeping each reference's form; a chain that would name one
    /// group twice keeps its first place.
    pub fn retarget_group(&mut self, from: (Option<String>, String), to: (Option<String>, String)) {
        let from_key = Key::new(from.0.as_deref(), &from.1);
        let to_key = Key::new(to.0.as_deref(), &to.1);
        for c in self.connectors.iter_mut() {
            if c.group_key() == from_key {
                c.group = to.1.clone();
            }
        }
        for app in self.apps.iter_mut() {
            if !app.uses(from_key) {
                continue;
            }
            let owner = app.tenant.clone();
            let mut chain: Vec<String> = Vec::with_capacity(app.groups.len());
            for r in app.groups.drain(..) {
                let r = if resolve(owner.as_deref(), &r) == from_key {
                    reference(owner.as_deref(), to_key)
                } else {
                    r
                };
                let key = resolve(owner.as_deref(), &r);
                if !chain.iter().any(|c| resolve(owner.as_deref(), c) == key) {
                    chain.push(r);
                }
            }
            app.groups = chain;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_read_back() {
        for (raw, key) in [
            ("t1/dc-east", Some(Key::new(Some("t1"), "dc-east"))),
            ("dc-east", Some(Key::new(None, "dc-east"))),
            ("/dc-east", Some(Key::new(None, "dc-east"))),
            ("", None),
            ("/", None),
            ("t1/", None),
            ("/t1", Some(Key::new(None, "t1"))),
            ("a/b/c", None),
            ("//x", None),
            ("/a/b", None),
        ] {
            assert_eq!(Key::parse_qualified(raw), key, "{raw:?}");
        }
        assert_eq!(Key::new(Some("t1"), "x").qualified(), "t1/x");
        assert_eq!(Key::new(None, "x").qualified(), "x");
    }

    #[test]
    fn references_are_relative_to_their_owner() {
        assert_eq!(resolve(Some("t1"), "g"), Key::new(Some("t1"), "g"));
        assert_eq!(resolve(Some("t1"), "/g"), Key::new(None, "g"));
        assert_eq!(resolve(None, "g"), Key::new(None, "g"));
        assert_eq!(reference(Some("t1"), Key::new(None, "g")), "/g");
        assert_eq!(reference(Some("t1"), Key::new(Some("t1"), "g")), "g");
        assert_eq!(reference(None, Key::new(None, "g")), "g");
    }

    #[test]
    fn retargeting_keeps_each_scope() {
        let mut c = Catalog::default();
        let mut a = AppSpec::new("a", "a.example.com", "http://10.0.0.1", &["g", "/shared"]);
        a.tenant = Some("t1".into());
        let b = AppSpec::new("b", "b.example.net", "http://10.0.0.1", &["g", "shared"]);
        c.apps = vec![a, b];
        c.retarget_group((None, "shared".into()), (None, "dr".into()));
        assert_eq!(c.apps[0].groups, ["g", "/dr"]);
        assert_eq!(c.apps[1].groups, ["g", "dr"]);
        // t1's `g` folds into t1's `h`, which the chain already names.
        c.apps[0].groups = vec!["g".into(), "h".into()];
        c.retarget_group(
            (Some("t1".into()), "g".into()),
            (Some("t1".into()), "h".into()),
        );
        assert_eq!(c.apps[0].groups, ["h"]);
        assert_eq!(
            c.apps[1].groups,
            ["g", "dr"],
            "the operator's g is another group"
        );
    }
}
