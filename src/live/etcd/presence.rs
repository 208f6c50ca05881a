//! Presence: each gateway publishes which connectors hold tunnels to it, in one key under an
//! etcd lease (`<prefix>/presence/<gateway>`, gone a few seconds after the gateway dies or
//! loses etcd), and reads every gateway's key, so `/status` shows the live gateways and
//! where each connector is connected.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{GetOptions, LeaseKeepAliveStream, LeaseKeeper, PutOptions};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Shared;
use crate::catalog::etcd::client::{bounded, EtcdError};

/// Seconds a gateway's presence outlives its last keep-alive.
const TTL_SECS: i64 = 6;
/// How often the key is refreshed when its connectors change, and the peers read.
const EVERY: Duration = Duration::from_millis(500);
/// How often the lease is kept alive.
const KEEP_ALIVE: Duration = Duration::from_secs(2);

/// What one gateway publishes: its name and the tunnels each connector holds to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub gateway: String,
    /// Qualified connector id → tunnels to this gateway (live connectors only).
    pub connectors: BTreeMap<String, usize>,
}

/// The lease this gateway's key lives under.
struct Lease {
    id: i64,
    keeper: LeaseKeeper,
    answers: LeaseKeepAliveStream,
    renewed: Instant,
}

/// Publishes this gateway's presence and reads everyone's, for as long as the gateway runs.
pub(super) async fn run(shared: Arc<Shared>, name: String) {
    let key = shared.settings.key(&format!("presence/{name}"));
    let mut lease: Option<Lease> = None;
    let mut published: Option<Presence> = None;
    loop {
        let mine = Presence {
            gateway: name.clone(),
            connectors: shared
                .live
                .registry
                .snapshot()
                .into_iter()
                .filter(|(_, tunnels, _, _)| *tunnels > 0)
                .map(|(id, tunnels, _, _)| (id.to_string(), tunnels))
                .collect(),
        };
        if let Err(e) = announce(&shared, &key, &mut lease, &mut published, mine).await {
            tracing::debug!(error = %e, "gateway presence not published; retrying");
            lease = None;
            published = None;
        }
        match peers(&shared).await {
            Ok(p) => shared.peers.store(Arc::new(p)),
            Err(e) => tracing::debug!(error = %e, "gateway presence not read"),
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Grants a lease when there is none, puts `mine` when it changed, keeps the lease alive.
async fn announce(
    shared: &Shared,
    key: &str,
    lease: &mut Option<Lease>,
    published: &mut Option<Presence>,
    mine: Presence,
) -> Result<(), EtcdError> {
    let mut client = shared.client.clone();
    if lease.is_none() {
        let id = bounded(client.lease_grant(TTL_SECS, None)).await?.id();
        let (keeper, answers) = bounded(client.lease_keep_alive(id)).await?;
        *lease = Some(Lease {
            id,
            keeper,
            answers,
            renewed: Instant::now(),
        });
        *published = None;
    }
    let Some(l) = lease.as_mut() else {
        return Ok(());
    };
    if published.as_ref() != Some(&mine) {
        let value = serde_json::to_vec(&mine).unwrap_or_default();
        let opts = PutOptions::new().with_lease(l.id);
        bounded(client.put(key, value, Some(opts))).await?;
        *published = Some(mine);
    }
    if l.renewed.elapsed() >= KEEP_ALIVE {
        bounded(l.keeper.keep_alive()).await?;
        match bounded(l.answers.message()).await? {
            Some(r) if r.ttl() > 0 => l.renewed = Instant::now(),
            _ => return Err(EtcdError::Unavailable("the presence lease expired".into())),
        }
    }
    Ok(())
}

/// Every gateway's presence, by name.
async fn peers(shared: &Shared) -> Result<Vec<Presence>, EtcdError> {
    let mut kv = shared.client.kv_client();
    let prefix = shared.settings.key("presence/");
    let r = bounded(kv.get(prefix, Some(GetOptions::new().with_prefix()))).await?;
    let mut out: Vec<Presence> = r
        .kvs()
        .iter()
        .filter_map(|kv| serde_json::from_slice(kv.value()).ok())
        .collect();
    out.sort_by(|a, b| a.gateway.cmp(&b.gateway));
    Ok(out)
}
