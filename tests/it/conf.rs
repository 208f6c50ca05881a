//! The shipped examples in `conf/` stay valid.

use std::path::Path;

use switchyard::config::connector::ConnectorConfig;
use switchyard::config::gateway::GatewayConfig;
use switchyard::routing::RoutingTable;

#[test]
fn shipped_examples_parse_and_compile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let files: Vec<_> = std::fs::read_dir(&root)
        .expect("conf/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    assert!(files.len() >= 2, "found the examples: {files:?}");
    let gw = GatewayConfig::from_file(&root.join("gateway.toml")).expect("gateway.toml parses");
    let table = RoutingTable::compile(&gw.catalog(), 1).expect("catalog compiles");
    assert_eq!(table.app_count(), 2);
    assert!(table.lookup("wiki.example.com", "/").is_some());
    assert!(table.lookup("x.apps.example.com", "/api/v").is_some());
    ConnectorConfig::from_file(&root.join("connector.toml")).expect("connector.toml is valid");
}
