//! Talking to etcd for the catalog: connect, list the catalog keys at one revision (in
//! pages), commit a change in one compare-on-`meta` transaction, seed an empty prefix once,
//! and watch the keys from a revision. Every call is bounded in time: an unreachable etcd is
//! an error after [`REQUEST_TIMEOUT`], never a wait without end.

use std::future::Future;
use std::time::Duration;

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, TlsOptions,
    Txn, TxnOp, WatchOptions, WatchStream,
};

use super::{meta_value, Change, EtcdSettings, Object, CATALOG, META};

/// The longest any one call to etcd may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Keys per page of a listing.
const PAGE: i64 = 2000;
/// Largest answer accepted (a page of large objects).
const MAX_MESSAGE: usize = 64 << 20;

/// Why a call to etcd failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EtcdError {
    /// etcd could not be reached or did not answer in time.
    #[error("etcd is unreachable: {0}")]
    Unavailable(String),
    /// etcd answered with a refusal (too large, too many operations, auth, …).
    #[error("etcd refused: {0}")]
    Refused(String),
    /// The revision asked for was compacted away.
    #[error("etcd revision {0} was compacted")]
    Compacted(i64),
}

impl From<etcd_client::Error> for EtcdError {
    fn from(e: etcd_client::Error) -> EtcdError {
        use etcd_client::Error as E;
        match &e {
            E::GRpcStatus(s) if s.message().contains("compacted") => EtcdError::Compacted(0),
            E::GRpcStatus(s)
                if matches!(
                    s.code(),
                    tonic::Code::Unavailable
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Cancelled
                        | tonic::Code::Unknown
                ) =>
            {
                EtcdError::Unavailable(s.message().to_owned())
            }
            E::GRpcStatus(s) => EtcdError::Refused(s.message().to_owned()),
            _ => EtcdError::Unavailable(e.to_string()),
        }
    }
}

/// Runs one etcd call with [`REQUEST_TIMEOUT`].
pub async fn bounded<T>(
    call: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
        Ok(r) => r.map_err(EtcdError::from),
        Err(_) => Err(EtcdError::Unavailable(format!(
            "no answer within {} s",
            REQUEST_TIMEOUT.as_secs()
        ))),
    }
}

/// A client for `settings` (connections are made on first use; with a user, it signs in).
pub async fn connect(settings: &EtcdSettings) -> Result<Client, EtcdError> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(REQUEST_TIMEOUT)
        .with_timeout(REQUEST_TIMEOUT)
        .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2))
        .with_keep_alive_while_idle(true);
    if let Some((user, password)) = &settings.user {
        options = options.with_user(user.clone(), password.clone());
    }
    if let Some(ca) = &settings.ca_pem {
        options = options.with_tls(TlsOptions::new().ca_certificate(Certificate::from_pem(ca)));
    }
    bounded(Client::connect(settings.endpoints.clone(), Some(options))).await
}

/// Every catalog key at one revision: that revision and the keys (relative).
pub async fn list(client: &Client, s: &EtcdSettings) -> Result<(i64, Vec<Change>), EtcdError> {
    let mut kv = client.kv_client().max_decoding_message_size(MAX_MESSAGE);
    let start = s.key(CATALOG);
    let end = prefix_end(&start);
    let mut from = start.clone().into_bytes();
    let mut revision = 0;
    let mut out = Vec::new();
    loop {
        let opts = GetOptions::new()
            .with_range(end.clone())
            .with_limit(PAGE)
            .with_revision(revision);
        let page = bounded(kv.get(from.clone(), Some(opts))).await?;
        if revision == 0 {
            revision = page.header().map_or(0, |h| h.revision());
        }
        for kv in page.kvs() {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            if let Some(rel) = s.relative(&key) {
                out.push(Change {
                    key: rel.to_owned(),
                    revision: kv.mod_revision(),
                    value: Some(kv.value().to_vec()),
                });
            }
        }
        match (page.more(), page.kvs().last()) {
            (true, Some(last)) => {
                from = last.key().to_vec();
                from.push(0);
            }
            _ => return Ok((revision, out)),
        }
    }
}

/// What a commit found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Committed at this revision.
    Done(i64),
    /// `meta` was no longer at the version the change was made against.
    Stale,
}

/// Puts and deletes `changes` and rewrites `meta`, in one transaction that holds only while
/// `meta`'s `mod_revision` is `version` (0: absent).
pub async fn commit(
    client: &Client,
    s: &EtcdSettings,
    version: i64,
    changes: &[(String, Option<Object>)],
) -> Result<Commit, EtcdError> {
    let mut ops: Vec<TxnOp> = changes
        .iter()
        .map(|(key, object)| match object {
            Some(o) => TxnOp::put(s.key(key), o.encode(), None),
            None => TxnOp::delete(s.key(key), None),
        })
        .collect();
    ops.push(TxnOp::put(s.key(META), meta_value(), None));
    let txn = Txn::new()
        .when([Compare::mod_revision(
            s.key(META),
            CompareOp::Equal,
            version,
        )])
        .and_then(ops);
    let mut kv = client.kv_client();
    let r = bounded(kv.txn(txn))
        .await
        .map_err(|e| too_many(e, changes.len() + 1))?;
    if !r.succeeded() {
        return Ok(Commit::Stale);
    }
    Ok(Commit::Done(r.header().map_or(0, |h| h.revision())))
}

/// Writes `objects` and `meta` when no `meta` exists yet: `false` when another writer
/// seeded the prefix first.
pub async fn seed(
    client: &Client,
    s: &EtcdSettings,
    objects: &[(String, Option<Object>)],
) -> Result<bool, EtcdError> {
    let mut ops: Vec<TxnOp> = objects
        .iter()
        .filter_map(|(key, o)| o.as_ref().map(|o| TxnOp::put(s.key(key), o.encode(), None)))
        .collect();
    ops.push(TxnOp::put(s.key(META), meta_value(), None));
    let txn = Txn::new()
        .when([Compare::create_revision(s.key(META), CompareOp::Equal, 0)])
        .and_then(ops);
    let mut kv = client.kv_client();
    let r = bounded(kv.txn(txn))
        .await
        .map_err(|e| too_many(e, objects.len() + 1))?;
    Ok(r.succeeded())
}

/// Says which limit a transaction of `keys` keys ran into.
fn too_many(e: EtcdError, keys: usize) -> EtcdError {
    match e {
        EtcdError::Refused(m) if m.contains("too many operations") => EtcdError::Refused(format!(
            "{m}: this change writes {keys} keys in one transaction, more than etcd's \
             --max-txn-ops allows (default 128); raise it on every etcd member"
        )),
        other => other,
    }
}

/// Watches every catalog key from `revision`; returns once etcd confirmed the watch, or the
/// revision etcd compacted up to when `revision` is gone.
pub async fn watch(
    client: &Client,
    s: &EtcdSettings,
    revision: i64,
) -> Result<WatchStream, EtcdError> {
    let mut w = client.watch_client().max_decoding_message_size(MAX_MESSAGE);
    let opts = WatchOptions::new()
        .with_prefix()
        .with_start_revision(revision);
    let mut stream = bounded(w.watch(s.key(CATALOG), Some(opts))).await?;
    let first = bounded(stream.message()).await?;
    match first {
        Some(r) if r.canceled() && r.compact_revision() > 0 => {
            Err(EtcdError::Compacted(r.compact_revision()))
        }
        Some(r) if r.created() && !r.canceled() => Ok(stream),
        Some(r) => Err(EtcdError::Refused(format!(
            "watch not created: {}",
            r.cancel_reason()
        ))),
        None => Err(EtcdError::Unavailable("the watch closed at once".into())),
    }
}

/// The changes of one watch answer (relative keys), or the compacted revision when etcd
/// cancelled the watch.
pub fn changes(s: &EtcdSettings, r: &etcd_client::WatchResponse) -> Result<Vec<Change>, EtcdError> {
    if r.canceled() {
        return Err(match r.compact_revision() {
            0 => EtcdError::Unavailable(format!("watch cancelled: {}", r.cancel_reason())),
            c => EtcdError::Compacted(c),
        });
    }
    Ok(r.events()
        .iter()
        .filter_map(|e| {
            let kv = e.kv()?;
            let key = std::str::from_utf8(kv.key()).ok()?;
            Some(Change {
                key: s.relative(key)?.to_owned(),
                revision: kv.mod_revision(),
                value: match e.event_type() {
                    EventType::Put => Some(kv.value().to_vec()),
                    EventType::Delete => None,
                },
            })
        })
        .collect())
}

/// The end of the range of keys starting with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}
