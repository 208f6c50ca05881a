//! The key layout and the mirror, without etcd: keys carry the tenant scope, objects
//! round-trip, a diff names exactly the changed keys, and the mirror ignores what it holds.

use super::*;
use crate::catalog::{AppSpec, GroupSpec, TenantSpec};

fn catalog() -> Catalog {
    let mut c = Catalog::default();
    c.tenants.push(TenantSpec::named("t1"));
    c.tenants.push(TenantSpec::named("t2"));
    c.groups.push(GroupSpec::new("dc-east", None));
    c.groups.push(GroupSpec::new("dc-east", Some("t1")));
    c.groups.push(GroupSpec::new("dc-east", Some("t2")));
    let mut app = AppSpec::new("wiki", "wiki.t1.test", "http://10.0.0.1", &["dc-east"]);
    app.tenant = Some("t1".into());
    c.apps.push(app);
    c
}

#[test]
fn keys_carry_the_scope_and_objects_round_trip() {
    let objects = objects(&catalog()).expect("storable");
    let keys: Vec<&str> = objects.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "catalog/operator/groups/dc-east",
            "catalog/tenant/t1/apps/wiki",
            "catalog/tenant/t1/groups/dc-east",
            "catalog/tenant/t2/groups/dc-east",
            "catalog/tenants/t1",
            "catalog/tenants/t2",
        ]
    );
    for (key, object) in &objects {
        assert_eq!(
            &Object::decode(key, &object.encode()).expect("decodes"),
            object
        );
    }
    let back = assemble(objects.values());
    assert_eq!(back.groups.len(), 3);
    assert_eq!(back.apps, catalog().apps);
}

#[test]
fn a_value_under_the_wrong_key_or_a_slash_in_a_name_is_refused() {
    let g = Object::Group(GroupSpec::new("a", None));
    let err = Object::decode("catalog/operator/groups/b", &g.encode()).expect_err("wrong key");
    assert!(
        err.contains("holds the object of key catalog/operator/groups/a"),
        "{err}"
    );
    let mut c = Catalog::default();
    c.groups.push(GroupSpec::new("x/y", None));
    assert!(objects(&c).expect_err("slash").contains("'/'"));
}

#[test]
fn a_diff_names_the_changed_keys_only() {
    let old = objects(&catalog()).expect("old");
    let mut c = catalog();
    c.groups.retain(|g| g.tenant.as_deref() != Some("t2"));
    c.apps[0].internal_url = "http://10.0.0.2".into();
    c.groups.push(GroupSpec::new("dr", None));
    let new = objects(&c).expect("new");
    let mut d: Vec<(String, bool)> = diff(&old, &new)
        .into_iter()
        .map(|(k, o)| (k, o.is_some()))
        .collect();
    d.sort();
    let expected = [
        ("catalog/operator/groups/dr", true),
        ("catalog/tenant/t1/apps/wiki", true),
        ("catalog/tenant/t2/groups/dc-east", false),
    ];
    let expected: Vec<(String, bool)> = expected.iter().map(|(k, p)| (k.to_string(), *p)).collect();
    assert_eq!(d, expected);
}

fn put(key: &str, revision: i64, object: &Object) -> Change {
    Change {
        key: key.into(),
        revision,
        value: Some(object.encode()),
    }
}

#[test]
fn the_mirror_ignores_what_it_already_holds_and_keeps_deletes() {
    let g = Object::Group(GroupSpec::new("g", None));
    let key = g.key();
    let meta = Change {
        key: META.into(),
        revision: 5,
        value: Some(meta_value()),
    };
    let mut m = Mirror::listed(5, vec![meta, put(&key, 4, &g)]);
    assert_eq!(m.version(), 5);
    // This gateway deleted the group at 7; the watch then replays 6 (another key) and 7.
    m.committed(7, &[(key.clone(), None)]);
    assert!(m.objects().expect("objects").is_empty());
    let other = Object::Group(GroupSpec::new("h", None));
    assert!(m.apply(vec![put(&other.key(), 6, &other)]));
    assert!(!m.apply(vec![Change {
        key: key.clone(),
        revision: 7,
        value: None
    }]));
    // An old put of the deleted key (before the delete) does not bring it back.
    assert!(!m.apply(vec![put(&key, 6, &g)]));
    assert_eq!(m.version(), 7);
    assert_eq!(m.objects().expect("objects").len(), 1);
}

#[test]
fn an_unreadable_value_or_a_newer_schema_is_reported() {
    let mut m = Mirror::listed(
        3,
        vec![
            Change {
                key: META.into(),
                revision: 2,
                value: Some(b"{\"schema\":9}".to_vec()),
            },
            Change {
                key: "catalog/operator/apps/x".into(),
                revision: 3,
                value: Some(b"not json".to_vec()),
            },
        ],
    );
    let errors = m.objects().expect_err("bad");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("newer version")));
    assert!(m.apply(vec![Change {
        key: "catalog/operator/apps/x".into(),
        revision: 4,
        value: None
    }]));
}
