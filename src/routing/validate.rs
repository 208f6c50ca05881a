//! Catalog validation: every rule checked, every error collected with its path.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Scheme, Uri};

use super::host;
use super::{CatalogError, ConnectorEntry, GroupEntry, InternalUrl, Route};
use crate::catalog::scope::{resolve, Key};
use crate::catalog::{secret, AppSpec, Catalog, DEFAULT_BACKEND_TIMEOUT_SECS};

/// The validated pieces of a catalog, ready to be indexed.
#[derive(Debug, Default)]
pub(super) struct Parts {
    pub(super) routes: Vec<Arc<Route>>,
    pub(super) groups: Vec<GroupEntry>,
    pub(super) connectors: Vec<ConnectorEntry>,
}

/// Checks the whole catalog; returns its compiled parts or every error found.
pub(super) fn validate(catalog: &Catalog) -> Result<Parts, Vec<CatalogError>> {
    let mut errors = Vec::new();
    let (group_ids, mut groups) = check_groups(catalog, &mut errors);
    let connectors = check_connectors(catalog, &group_ids, &mut groups, &mut errors);
    let mut apps = AppCheck {
        catalog,
        groups: &groups,
        group_ids: &group_ids,
        names: HashMap::new(),
        published: HashMap::new(),
        errors: &mut errors,
    };
    let routes: Vec<Arc<Route>> = (0..catalog.apps.len())
        .filter_map(|i| apps.route(i))
        .collect();
    if errors.is_empty() {
        Ok(Parts {
            routes,
            groups,
            connectors,
        })
    } else {
        Err(errors)
    }
}

/// Group entries (connectors added later) and each name's index among them.
fn check_groups<'c>(
    catalog: &'c Catalog,
    errors: &mut Vec<CatalogError>,
) -> (HashMap<Key<'c>, usize>, Vec<GroupEntry>) {
    // Every group name, even a malformed one, counts as defined so that a bad name is
    // reported once rather than again at each reference.
    let mut group_ids: HashMap<Key<'c>, usize> = HashMap::new();
    let mut groups = Vec::with_capacity(catalog.groups.len());
    for (i, spec) in catalog.groups.iter().enumerate() {
        let path = format!("groups[{i}].name");
        if let Err(message) = check_name(&spec.name) {
            errors.push(CatalogError::new(&path, message));
        }
        match group_ids.entry(spec.key()) {
            Entry::Occupied(first) => errors.push(CatalogError::new(
                path,
                format!(
                    "duplicate group {:?} (first defined at groups[{}])",
                    spec.name,
                    first.get()
                ),
            )),
            Entry::Vacant(slot) => {
                slot.insert(groups.len());
                groups.push(GroupEntry {
                    name: Arc::from(spec.key().qualified()),
                    balance: spec.balance,
                    shared: spec.shared && spec.tenant.is_none(),
                    connectors: Vec::new(),
                });
            }
        }
    }
    (group_ids, groups)
}

/// Connector entries; each valid, unrevoked connector is also added to its group.
fn check_connectors(
    catalog: &Catalog,
    group_ids: &HashMap<Key<'_>, usize>,
    groups: &mut [GroupEntry],
    errors: &mut Vec<CatalogError>,
) -> Vec<ConnectorEntry> {
    let mut connector_ids: HashMap<Key<'_>, usize> = HashMap::new();
    let mut connectors = Vec::with_capacity(catalog.connectors.len());
    for (i, spec) in catalog.connectors.iter().enumerate() {
        let mut ok = true;
        if let Err(message) = check_name(&spec.id) {
            errors.push(CatalogError::new(format!("connectors[{i}].id"), message));
            ok = false;
        }
        if let Some(&first) = connector_ids.get(&spec.key()) {
            errors.push(CatalogError::new(
                format!("connectors[{i}].id"),
                format!(
                    "duplicate connector {:?} (first defined at connectors[{first}])",
                    spec.id
                ),
            ));
            ok = false;
        } else {
            connector_ids.insert(spec.key(), i);
        }
        // A connector's group is always of its own scope (`/name` is not a group name).
        let group = group_ids.get(&spec.group_key()).copied();
        if group.is_none() {
            errors.push(CatalogError::new(
                format!("connectors[{i}].group"),
                format!("unknown group {:?}", spec.group),
            ));
        }
        let digest = secret::validate_hash(&spec.secret_hash).map_err(|message| {
            errors.push(CatalogError::new(
                format!("connectors[{i}].secret_hash"),
                message,
            ))
        });
        // A revoked connector stays in the catalog (so it can be shown and deleted) but is
        // unknown to the request path: its hello is refused and its tunnels close.
        if let (true, Some(g), Ok(secret_digest), false) = (ok, group, digest, spec.revoked) {
            let entry: &mut GroupEntry = &mut groups[g];
            let id: Arc<str> = Arc::from(spec.key().qualified());
            entry.connectors.push(id.clone());
            connectors.push(ConnectorEntry {
                id,
                group: entry.name.clone(),
                secret_digest,
            });
        }
    }
    for group in groups.iter_mut() {
        group.connectors.sort();
    }
    connectors
}

/// Checks apps one by one, remembering names and published addresses to find duplicates.
struct AppCheck<'c, 'e> {
    catalog: &'c Catalog,
    groups: &'c [GroupEntry],
    group_ids: &'c HashMap<Key<'c>, usize>,
    names: HashMap<Key<'c>, usize>,
    /// `(scope, host, prefix)`: two scopes never publish the same host (tenant domains are
    /// disjoint and checked apart), so a duplicate only ever names an app of the same scope.
    published: HashMap<(Option<&'c str>, String, Option<String>), usize>,
    errors: &'e mut Vec<CatalogError>,
}

impl<'c> AppCheck<'c, '_> {
    fn error(&mut self, i: usize, field: &str, message: impl Into<String>) {
        self.errors
            .push(CatalogError::new(format!("apps[{i}].{field}"), message));
    }

    /// The route of `apps[i]`, or `None` after reporting every problem it has.
    fn route(&mut self, i: usize) -> Option<Arc<Route>> {
        let app = &self.catalog.apps[i];
        self.check_app_name(app, i);
        let host = host::validate(&app.host).map_err(|m| self.error(i, "host", m));
        let prefix = app
            .path_prefix
            .as_deref()
            .map(normalize_prefix)
            .transpose()
            .map_err(|m| self.error(i, "path_prefix", m));
        if let (Ok(host), Ok(prefix)) = (&host, &prefix) {
            self.check_published(i, app.tenant.as_deref(), host.display(), prefix.clone());
        }
        let internal =
            parse_internal(&app.internal_url).map_err(|m| self.error(i, "internal_url", m));
        let chain = group_chain(app, self.groups, self.group_ids, i, self.errors);
        let timeout = backend_timeout(app.backend_timeout_secs)
            .map_err(|m| self.error(i, "backend_timeout_secs", m));
        let affinity = affinity(app.affinity.as_ref()).map_err(|m| self.error(i, "affinity", m));
        let min_live = match app.min_live_connectors {
            None => Ok(1),
            Some(0) => {
                self.error(i, "min_live_connectors", "must be at least 1");
                Err(())
            }
            Some(n) => Ok(n as usize),
        };
        Some(Arc::new(Route {
            app: Arc::from(app.key().qualified()),
            host: host.ok()?.display(),
            path_prefix: prefix.ok()?,
            internal: internal.ok()?,
            groups: chain?,
            preserve_host: app.preserve_host,
            backend_timeout: timeout.ok()?,
            origin_tls_verify: app.origin_tls_verify,
            min_live: min_live.ok()?,
            affinity: affinity.ok()?,
        }))
    }

    fn check_app_name(&mut self, app: &'c AppSpec, i: usize) {
        if app.name.trim().is_empty() {
            self.error(i, "name", "must not be empty");
        } else if let Some(&first) = self.names.get(&app.key()) {
            let message = format!(
                "duplicate app {:?} (first defined at apps[{first}])",
                app.name
            );
            self.error(i, "name", message);
        } else {
            self.names.insert(app.key(), i);
        }
    }

    /// One app per host and path prefix (`/` is the same as no prefix).
    fn check_published(
        &mut self,
        i: usize,
        scope: Option<&'c str>,
        host: String,
        prefix: Option<String>,
    ) {
        let key_prefix = prefix.filter(|p| p != "/");
        let field = if key_prefix.is_some() {
            "path_prefix"
        } else {
            "host"
        };
        let key = (scope, host, key_prefix);
        if let Some(&first) = self.published.get(&key) {
            let message = format!(
                "host {:?} with path prefix {:?} is already published by app {:?} (apps[{first}])",
                key.1,
                key.2.as_deref().unwrap_or("/"),
                self.catalog.apps.get(first).map_or("", |a| a.name.as_str()),
            );
            self.error(i, field, message);
        } else {
            self.published.insert(key, i);
        }
    }
}

/// The app's group chain, or `None` after reporting what is wrong with it.
fn group_chain(
    app: &AppSpec,
    groups: &[GroupEntry],
    group_ids: &HashMap<Key<'_>, usize>,
    i: usize,
    errors: &mut Vec<CatalogError>,
) -> Option<Vec<Arc<str>>> {
    if app.groups.is_empty() {
        errors.push(CatalogError::new(
            format!("apps[{i}].groups"),
            "must name at least one connector group",
        ));
        return None;
    }
    let before = errors.len();
    let mut chain: Vec<Arc<str>> = Vec::with_capacity(app.groups.len());
    let owner = app.tenant.as_deref();
    for (j, name) in app.groups.iter().enumerate() {
        let path = format!("apps[{i}].groups[{j}]");
        let key = resolve(owner, name);
        // From a tenant's app, `/name` reaches only an operator group marked `shared`; any
        // other reads exactly like a group that does not exist.
        let reachable = group_ids
            .get(&key)
            .and_then(|&g| groups.get(g))
            .filter(|g| owner.is_none() || key.tenant.is_some() || g.shared);
        if let Some(first) = app.group_keys().take(j).position(|g| g == key) {
            errors.push(CatalogError::new(
                path,
                format!("group {name:?} is already in the chain at groups[{first}]"),
            ));
        } else if let Some(g) = reachable {
            chain.push(g.name.clone());
        } else {
            errors.push(CatalogError::new(path, format!("unknown group {name:?}")));
        }
    }
    (errors.len() == before).then_some(chain)
}

/// Group names and connector ids: non-empty, ASCII letters, digits, `-`, `_`, `.`.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_string());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "{name:?} may only contain ASCII letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// `/api/` → `/api`, `/` → `/`; rejects what can never match a request path.
fn normalize_prefix(raw: &str) -> Result<String, String> {
    if !raw.starts_with('/') {
        return Err(format!("{raw:?} must start with '/'"));
    }
    if raw.contains(['?', '#']) {
        return Err(format!("{raw:?} must not contain '?' or '#'"));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{raw:?} must not contain whitespace"));
    }
    if !raw.is_ascii() {
        return Err(format!(
            "{raw:?} must be ASCII (percent-encode other characters)"
        ));
    }
    let trimmed = raw.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
}

/// An absolute `http://` or `https://` URL with a host and no user info, query or fragment.
fn parse_internal(raw: &str) -> Result<InternalUrl, String> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{raw:?} must not contain whitespace"));
    }
    if raw.contains('#') {
        return Err(format!("{raw:?} must not have a fragment"));
    }
    if raw.contains('?') {
        return Err(format!("{raw:?} must not have a query"));
    }
    let uri: Uri = raw
        .parse()
        .map_err(|e| format!("{raw:?} is not a valid URL: {e}"))?;
    let scheme = match uri.scheme() {
        Some(s) if *s == Scheme::HTTP || *s == Scheme::HTTPS => s.clone(),
        Some(s) => return Err(format!("{raw:?} has scheme {s:?}; use http or https")),
        None => {
            return Err(format!(
                "{raw:?} must be an absolute URL (http://… or https://…)"
            ))
        }
    };
    let authority = match uri.authority() {
        Some(a) if a.as_str().contains('@') => {
            return Err(format!("{raw:?} must not contain user info"))
        }
        Some(a) if !a.host().is_empty() => a.clone(),
        _ => return Err(format!("{raw:?} has no host")),
    };
    // `host()` is a prefix of the authority once user info is ruled out; what follows is
    // the port, which `Authority` accepts even when it does not fit in a u16.
    let port = authority
        .as_str()
        .get(authority.host().len()..)
        .unwrap_or("");
    if let Some(digits) = port.strip_prefix(':') {
        if !matches!(digits.parse::<u16>(), Ok(p) if p != 0) {
            return Err(format!("{raw:?} has an invalid port"));
        }
    }
    let path = uri.path().trim_end_matches('/');
    Ok(InternalUrl {
        scheme,
        authority,
        base_path: (!path.is_empty()).then(|| path.to_string()),
    })
}

/// Seconds from the catalog (default 85) as a duration; any finite positive value is fine.
fn backend_timeout(secs: Option<f64>) -> Result<Duration, String> {
    let secs = secs.unwrap_or(DEFAULT_BACKEND_TIMEOUT_SECS);
    if !secs.is_finite() {
        return Err(format!("{secs} is not a finite number of seconds"));
    }
    if secs <= 0.0 {
        return Err(format!("{secs} must be greater than 0"));
    }
    // No ceiling: values beyond what a Duration holds mean "wait forever".
    let duration = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
    Ok(duration.max(Duration::from_nanos(1)))
}

/// Checks an affinity spec: exactly one source, with a valid cookie or header name.
fn affinity(
    spec: Option<&crate::catalog::AffinitySpec>,
) -> Result<Option<super::Affinity>, String> {
    let Some(spec) = spec else {
        return Ok(None);
    };
    match (&spec.cookie, &spec.header) {
        (Some(cookie), None) => {
            let token = !cookie.is_empty()
                && cookie
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if token {
                Ok(Some(super::Affinity::Cookie(cookie.clone())))
            } else {
                Err(format!("cookie name {cookie:?} is not a valid cookie name"))
            }
        }
        (None, Some(header)) => http::HeaderName::from_bytes(header.as_bytes())
            .map(|h| Some(super::Affinity::Header(h)))
            .map_err(|_| format!("header name {header:?} is not a valid header name")),
        _ => Err("set exactly one of `cookie` and `header`".to_string()),
    }
}
