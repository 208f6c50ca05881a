//! Tenant quotas: how many apps, groups, connectors and enrollment tokens one tenant's scope
//! may hold. Defaults come from the gateway's configuration (`[tenant_quotas]`), overrides
//! from the tenant's catalog entry.
//!
//! A quota limits growth: a change that leaves a tenant above its quota is refused only when
//! it adds to what that tenant already had, so lowering a quota never breaks a catalog and a
//! tenant over quota can still edit, move and delete.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Catalog;

/// The four kinds of objects a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Apps,
    Groups,
    Connectors,
    EnrollmentTokens,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 4] = [
        Kind::Apps,
        Kind::Groups,
        Kind::Connectors,
        Kind::EnrollmentTokens,
    ];

    /// The key in configuration files and the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Apps => "apps",
            Kind::Groups => "groups",
            Kind::Connectors => "connectors",
            Kind::EnrollmentTokens => "enrollment_tokens",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Objects per tenant, kind by kind (indexed by [`Kind`]).
type Counts<'c> = HashMap<&'c str, [usize; 4]>;

/// What every tenant holds, in one pass over `catalog`; expired enrollment tokens (kept
/// until deleted, for the record) do not count.
fn counts(catalog: &Catalog, now: u64) -> Counts<'_> {
    let apps = catalog.apps.iter().map(|x| (&x.tenant, Kind::Apps));
    let groups = catalog.groups.iter().map(|x| (&x.tenant, Kind::Groups));
    let connectors = catalog
        .connectors
        .iter()
        .map(|x| (&x.tenant, Kind::Connectors));
    let tokens = catalog
        .enrollment_tokens
        .iter()
        .filter(|x| x.expires_at > now)
        .map(|x| (&x.tenant, Kind::EnrollmentTokens));
    let mut counts: Counts<'_> = HashMap::new();
    for (tenant, kind) in apps.chain(groups).chain(connectors).chain(tokens) {
        if let Some(t) = tenant {
            counts.entry(t.as_str()).or_default()[kind.index()] += 1;
        }
    }
    counts
}

/// The default quota of every tenant (`[tenant_quotas]` in the gateway's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub apps: u32,
    pub groups: u32,
    pub connectors: u32,
    pub enrollment_tokens: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            apps: 100,
            groups: 20,
            connectors: 50,
            enrollment_tokens: 20,
        }
    }
}

impl Limits {
    fn get(&self, kind: Kind) -> u32 {
        match kind {
            Kind::Apps => self.apps,
            Kind::Groups => self.groups,
            Kind::Connectors => self.connectors,
            Kind::EnrollmentTokens => self.enrollment_tokens,
        }
    }
}

/// One tenant's overrides; an unset kind takes the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectors: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_tokens: Option<u32>,
}

impl Quotas {
    /// True when nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Quotas::default()
    }

    /// The quota in force: each override, else the default.
    pub fn effective(&self, defaults: &Limits) -> Limits {
        Limits {
            apps: self.apps.unwrap_or(defaults.apps),
            groups: self.groups.unwrap_or(defaults.groups),
            connectors: self.connectors.unwrap_or(defaults.connectors),
            enrollment_tokens: self.enrollment_tokens.unwrap_or(defaults.enrollment_tokens),
        }
    }
}

/// A change refused because it takes a tenant over its quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the tenant's quota of {limit} {} is reached", kind.as_str().replace('_', " "))]
pub struct Exceeded {
    pub tenant: String,
    pub kind: Kind,
    pub limit: u32,
}

/// The usage of `tenant` in `catalog` at unix time `now`, kind by kind.
pub fn usage(catalog: &Catalog, tenant: &str, now: u64) -> [(Kind, usize); 4] {
    let held = counts(catalog, now)
        .get(tenant)
        .copied()
        .unwrap_or_default();
    Kind::ALL.map(|k| (k, held[k.index()]))
}

/// Refuses `after` when it holds more objects of some kind for some tenant than `before`
/// did and more than that tenant's quota allows (`now`: unix seconds, for token expiry).
pub fn check(
    before: &Catalog,
    after: &Catalog,
    defaults: &Limits,
    now: u64,
) -> Result<(), Exceeded> {
    let (was, is) = (counts(before, now), counts(after, now));
    for tenant in &after.tenants {
        let limits = tenant.quotas.effective(defaults);
        let name = tenant.name.as_str();
        let (had, has) = (
            was.get(name).copied().unwrap_or_default(),
            is.get(name).copied().unwrap_or_default(),
        );
        for kind in Kind::ALL {
            let (count, limit) = (has[kind.index()], limits.get(kind));
            if count > limit as usize && count > had[kind.index()] {
                return Err(Exceeded {
                    tenant: tenant.name.clone(),
                    kind,
                    limit,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{GroupSpec, TenantSpec};

    fn with_groups(n: usize, tenant: &str) -> Catalog {
        let mut c = Catalog {
            tenants: vec![TenantSpec::named(tenant)],
            ..Catalog::default()
        };
        for i in 0..n {
            c.groups
                .push(GroupSpec::new(&format!("g{i}"), Some(tenant)));
        }
        c
    }

    #[test]
    fn growth_past_the_quota_is_refused() {
        let limits = Limits {
            groups: 2,
            ..Limits::default()
        };
        assert_eq!(
            check(&with_groups(1, "t"), &with_groups(2, "t"), &limits, 0),
            Ok(())
        );
        let refused = check(&with_groups(2, "t"), &with_groups(3, "t"), &limits, 0);
        assert_eq!(
            refused,
            Err(Exceeded {
                tenant: "t".into(),
                kind: Kind::Groups,
                limit: 2
            })
        );
        assert_eq!(
            refused.map_err(|e| e.to_string()),
            Err("the tenant's quota of 2 groups is reached".into())
        );
        // Already over (the quota was lowered): edits and deletions still pass.
        assert_eq!(
            check(&with_groups(5, "t"), &with_groups(5, "t"), &limits, 0),
            Ok(())
        );
        assert_eq!(
            check(&with_groups(5, "t"), &with_groups(4, "t"), &limits, 0),
            Ok(())
        );
    }

    #[test]
    fn overrides_beat_defaults() {
        let mut after = with_groups(3, "t");
        after.tenants[0].quotas.groups = Some(3);
        let limits = Limits {
            groups: 1,
            ..Limits::default()
        };
        assert_eq!(check(&with_groups(2, "t"), &after, &limits, 0), Ok(()));
        // Operator objects count for no tenant.
        let mut ops = with_groups(0, "t");
        ops.groups.push(GroupSpec::new("mine", None));
        assert_eq!(check(&with_groups(0, "t"), &ops, &limits, 0), Ok(()));
    }
}
