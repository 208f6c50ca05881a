//! The etcd catalog layout: one key per object under a prefix, the tenant scope in the key,
//! the objects' catalog form (JSON) as the values, and a mirror of those keys that a gateway
//! keeps current from one listing and then the watch.
//!
//! ```text
//! <prefix>/catalog/meta                                  {"schema":2}, rewritten by every write
//! <prefix>/catalog/tenants/<name>                        a tenant
//! <prefix>/catalog/operator/{groups,connectors,apps}/<name>       the operator's objects
//! <prefix>/catalog/tenant/<t>/{groups,connectors,apps}/<name>     tenant t's objects
//! <prefix>/catalog/enrollment_tokens/<id>                an enrollment token (ids are global)
//! <prefix>/presence/<gateway>                            a live gateway's connectors (leased,
//!                                                        not part of the catalog)
//! ```
//!
//! Crash guarantee: a change is one etcd transaction (objects put and deleted, `meta`
//! rewritten) that commits whole or not at all, and only when `meta`'s `mod_revision` is
//! still the one the change was made against. That revision is the catalog's version (the
//! admin API's `ETag`). A writer that changes keys without rewriting `meta` (a hand edit with
//! `etcdctl`) is picked up by every gateway but is not covered by `If-Match`.

pub mod client;

use std::collections::BTreeMap;

use super::{migrate, AppSpec, Catalog, ConnectorSpec, EnrollmentSpec, GroupSpec, TenantSpec};

/// The key of the schema marker, relative to the prefix.
pub const META: &str = "catalog/meta";
/// Where every catalog key lives, relative to the prefix.
pub const CATALOG: &str = "catalog/";

/// How to reach etcd (`[store] etcd`), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdSettings {
    /// Client URLs (`http://host:port` or `https://host:port`).
    pub endpoints: Vec<String>,
    /// Key prefix, starting with `/`, without a trailing `/`.
    pub prefix: String,
    /// User name and password (read from `password_file`), when etcd has auth enabled.
    pub user: Option<(String, String)>,
    /// CA certificate (PEM) that signs the servers' certificates, for `https` endpoints.
    pub ca_pem: Option<Vec<u8>>,
}

impl EtcdSettings {
    /// The absolute key of `relative`.
    pub fn key(&self, relative: &str) -> String {
        format!("{}/{relative}", self.prefix)
    }

    /// `key` relative to the prefix (`None`: not under it).
    pub fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.prefix)?.strip_prefix('/')
    }

    /// For operators: where the catalog lives.
    pub fn describe(&self) -> String {
        format!("etcd {} prefix {}", self.endpoints.join(","), self.prefix)
    }
}

/// One stored object of the catalog.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Tenant(TenantSpec),
    Group(GroupSpec),
    Connector(ConnectorSpec),
    App(AppSpec),
    Token(EnrollmentSpec),
}

fn scoped(tenant: Option<&str>, kind: &str, name: &str) -> String {
    match tenant {
        None => format!("catalog/operator/{kind}/{name}"),
        Some(t) => format!("catalog/tenant/{t}/{kind}/{name}"),
    }
}

/// A name that can be one key segment.
fn segment_ok(s: &str) -> bool {
    !s.is_empty() && !s.contains('/') && s != "." && s != ".."
}

impl Object {
    /// Its key, relative to the prefix.
    pub fn key(&self) -> String {
        match self {
            Object::Tenant(t) => format!("catalog/tenants/{}", t.name),
            Object::Group(g) => scoped(g.tenant.as_deref(), "groups", &g.name),
            Object::Connector(c) => scoped(c.tenant.as_deref(), "connectors", &c.id),
            Object::App(a) => scoped(a.tenant.as_deref(), "apps", &a.name),
            Object::Token(e) => format!("catalog/enrollment_tokens/{}", e.id),
        }
    }

    /// Whether every name in its key is one segment (a `/` would make two objects collide).
    fn storable(&self) -> bool {
        let (tenant, name) = match self {
            Object::Tenant(t) => (None, &t.name),
            Object::Group(g) => (g.tenant.as_ref(), &g.name),
            Object::Connector(c) => (c.tenant.as_ref(), &c.id),
            Object::App(a) => (a.tenant.as_ref(), &a.name),
            Object::Token(e) => (None, &e.id),
        };
        segment_ok(name) && tenant.is_none_or(|t| segment_ok(t))
    }

    /// Its value: the object's catalog form.
    pub fn encode(&self) -> Vec<u8> {
        let r = match self {
            Object::Tenant(x) => serde_json::to_vec(x),
            Object::Group(x) => serde_json::to_vec(x),
            Object::Connector(x) => serde_json::to_vec(x),
            Object::App(x) => serde_json::to_vec(x),
            Object::Token(x) => serde_json::to_vec(x),
        };
        // Plain data with string keys always serializes.
        r.unwrap_or_default()
    }

    /// Reads the object stored at `key` (relative); the key must be the object's own.
    pub fn decode(key: &str, value: &[u8]) -> Result<Object, String> {
        let kind = key.split('/').rev().nth(1).unwrap_or_default();
        let parsed = match kind {
            "tenants" => serde_json::from_slice(value).map(Object::Tenant),
            "groups" => serde_json::from_slice(value).map(Object::Group),
            "connectors" => serde_json::from_slice(value).map(Object::Connector),
            "apps" => serde_json::from_slice(value).map(Object::App),
            "enrollment_tokens" => serde_json::from_slice(value).map(Object::Token),
            _ => return Err(format!("{key}: not a key of the catalog layout")),
        };
        let object = parsed.map_err(|e| format!("{key}: {e}"))?;
        let own = object.key();
        if own != key {
            return Err(format!("{key}: holds the object of key {own}"));
        }
        Ok(object)
    }
}

/// The catalog as keyed objects (relative key → object); an object whose names cannot be a
/// key, or two objects with one key, are refused.
pub fn objects(catalog: &Catalog) -> Result<BTreeMap<String, Object>, String> {
    let all = (catalog.tenants.iter().cloned().map(Object::Tenant))
        .chain(catalog.groups.iter().cloned().map(Object::Group))
        .chain(catalog.connectors.iter().cloned().map(Object::Connector))
        .chain(catalog.apps.iter().cloned().map(Object::App))
        .chain(catalog.enrollment_tokens.iter().cloned().map(Object::Token));
    let mut out = BTreeMap::new();
    for object in all {
        let key = object.key();
        if !object.storable() {
            return Err(format!("{key}: a name with '/' cannot be stored in etcd"));
        }
        if out.insert(key.clone(), object).is_some() {
            return Err(format!("{key}: two objects with this key"));
        }
    }
    Ok(out)
}

/// The catalog of keyed objects, each kind in key order.
pub fn assemble<'a>(objects: impl IntoIterator<Item = &'a Object>) -> Catalog {
    let mut c = Catalog::default();
    for object in objects {
        match object.clone() {
            Object::Tenant(x) => c.tenants.push(x),
            Object::Group(x) => c.groups.push(x),
            Object::Connector(x) => c.connectors.push(x),
            Object::App(x) => c.apps.push(x),
            Object::Token(x) => c.enrollment_tokens.push(x),
        }
    }
    c
}

/// The keys to put (`Some`) and delete (`None`) to turn `old` into `new`.
pub fn diff(
    old: &BTreeMap<String, Object>,
    new: &BTreeMap<String, Object>,
) -> Vec<(String, Option<Object>)> {
    let changed = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Some(v.clone())));
    let gone = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| (k.clone(), None));
    changed.chain(gone).collect()
}

/// The value of [`META`].
pub fn meta_value() -> Vec<u8> {
    format!("{{\"schema\":{}}}", migrate::SCHEMA).into_bytes()
}

/// One key's change, as the watch reports it (relative key; `None`: deleted).
#[derive(Debug, Clone)]
pub struct Change {
    pub key: String,
    pub revision: i64,
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
enum Held {
    Object(Object),
    Meta(u32),
    /// A value this version cannot read (reported, never dropped silently).
    Bad(String),
    /// Deleted (kept until the watch has passed this revision).
    Gone,
}

#[derive(Debug, Clone)]
struct Slot {
    revision: i64,
    held: Held,
}

/// The catalog keys as this gateway last saw them, with the revision of each.
#[derive(Debug, Clone, Default)]
pub struct Mirror {
    slots: BTreeMap<String, Slot>,
    /// Every change at or below this revision is reflected.
    horizon: i64,
}

impl Mirror {
    /// The mirror of one listing taken at `revision`.
    pub fn listed(revision: i64, kvs: Vec<Change>) -> Mirror {
        let mut m = Mirror {
            slots: BTreeMap::new(),
            horizon: revision,
        };
        for c in kvs {
            m.put(c);
        }
        m
    }

    fn put(&mut self, c: Change) {
        let held = match c.value {
            None => Held::Gone,
            Some(v) if c.key == META => read_meta(&v),
            Some(v) => Object::decode(&c.key, &v).map_or_else(Held::Bad, Held::Object),
        };
        self.slots.insert(
            c.key,
            Slot {
                revision: c.revision,
                held,
            },
        );
    }

    /// Applies what the watch reported; `true` when it changed anything. A change this
    /// mirror already holds (a write of this gateway, an older revision) is ignored.
    pub fn apply(&mut self, changes: Vec<Change>) -> bool {
        let mut changed = false;
        let mut top = self.horizon;
        for c in changes {
            top = top.max(c.revision);
            let newer = self
                .slots
                .get(&c.key)
                .is_none_or(|s| s.revision < c.revision);
            if c.revision > self.horizon && newer {
                self.put(c);
                changed = true;
            }
        }
        self.advance(top);
        changed
    }

    /// Records that the watch has delivered everything up to `revision`.
    pub fn advance(&mut self, revision: i64) {
        self.horizon = self.horizon.max(revision);
        let horizon = self.horizon;
        self.slots
            .retain(|_, s| !(matches!(s.held, Held::Gone) && s.revision <= horizon));
    }

    /// Records a transaction of this gateway committed at `revision`.
    pub fn committed(&mut self, revision: i64, changes: &[(String, Option<Object>)]) {
        for (key, object) in changes {
            let held = object.clone().map_or(Held::Gone, Held::Object);
            self.slots.insert(key.clone(), Slot { revision, held });
        }
        self.slots.insert(
            META.to_owned(),
            Slot {
                revision,
                held: Held::Meta(migrate::SCHEMA),
            },
        );
    }

    /// The `mod_revision` of [`META`]: the catalog's version (0 before the first write).
    pub fn version(&self) -> i64 {
        self.slots.get(META).map_or(0, |s| match s.held {
            Held::Gone => 0,
            _ => s.revision,
        })
    }

    /// Every change at or below this revision is reflected (the watch resumes after it).
    pub fn horizon(&self) -> i64 {
        self.horizon
    }

    /// The newest revision this mirror reflects.
    pub fn revision(&self) -> i64 {
        self.slots
            .values()
            .map(|s| s.revision)
            .fold(self.horizon, i64::max)
    }

    /// Whether no catalog key is stored (a prefix to seed).
    pub fn is_empty(&self) -> bool {
        !self.slots.values().any(|s| !matches!(s.held, Held::Gone))
    }

    /// The stored objects, or every key this version cannot read.
    pub fn objects(&self) -> Result<BTreeMap<String, Object>, Vec<String>> {
        let mut out = BTreeMap::new();
        let mut bad = Vec::new();
        for (key, slot) in &self.slots {
            match &slot.held {
                Held::Object(o) => {
                    out.insert(key.clone(), o.clone());
                }
                Held::Bad(e) => bad.push(e.clone()),
                Held::Meta(s) if *s != migrate::SCHEMA => bad.push(format!(
                    "{key}: schema {s} is not the one this version reads and writes ({}); \
                     was it written by a newer version?",
                    migrate::SCHEMA
                )),
                Held::Meta(_) | Held::Gone => {}
            }
        }
        if bad.is_empty() {
            Ok(out)
        } else {
            Err(bad)
        }
    }
}

fn read_meta(value: &[u8]) -> Held {
    #[derive(serde::Deserialize)]
    struct Meta {
        schema: u32,
    }
    match serde_json::from_slice::<Meta>(value) {
        Ok(m) => Held::Meta(m.schema),
        Err(e) => Held::Bad(format!("{META}: {e}")),
    }
}

#[cfg(test)]
mod tests;
