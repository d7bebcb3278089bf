//! Building the snapshot from the store and following the change feed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use bytes::Bytes;
use rustls::crypto::CryptoProvider;
use stsd_store::{ChangeKind, DomainId, MasterKey, Store};
use time::OffsetDateTime;

use crate::build::Rows;
use crate::copy::CopyTarget;
use crate::error::ServingError;
use crate::fetch_log::FetchLog;
use crate::snapshot::{Acknowledged, Snapshot};

/// How this node names itself in heartbeats.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Stable for the process: host name and a random part.
    pub id: String,
    /// The roles it runs, comma-separated.
    pub roles: String,
    /// stsd's version.
    pub version: String,
    /// When the process started.
    pub started_at: OffsetDateTime,
}

/// Whether the snapshot is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotStatus {
    /// The change-feed position served.
    pub seq: i64,
    /// True while the store cannot be read: the node serves its last snapshot.
    pub stale: bool,
    /// Unix seconds of the last successful sync with the store; for a snapshot loaded from the
    /// local copy, when the copy was written (its data was current then).
    pub last_sync: i64,
    /// True while the snapshot served is the one loaded from the local copy: the node has not
    /// reached the store since it started.
    pub from_copy: bool,
    /// Unix seconds when the local copy was written: the one loaded, or the newest this node
    /// wrote. `None` when there is none.
    pub copy_written_at: Option<i64>,
}

struct Shared {
    current: ArcSwap<Snapshot>,
    master: Arc<MasterKey>,
    provider: Arc<CryptoProvider>,
    stale: AtomicBool,
    last_sync: AtomicI64,
    fetches: FetchLog,
    /// The lowest snapshot position of the other live edge nodes: [`OTHERS_UNKNOWN`] until the
    /// first successful read, [`NO_OTHERS`] when there are none.
    others_acked: AtomicI64,
    /// Where the follower writes the local copy, if anywhere.
    copy: ArcSwapOption<CopyTarget>,
    /// Woken when the copy should be written (the snapshot changed, or the first sync).
    copy_due: tokio::sync::Notify,
    /// Unix seconds the local copy was written ([`NO_COPY`]: none known).
    copy_written_at: AtomicI64,
    /// Set when loaded from the copy, cleared by the first successful sync.
    from_copy: AtomicBool,
    /// Whether a sync with the store has succeeded since the handle was made.
    synced_once: AtomicBool,
    /// Held while the feed is applied: two appliers (the follower and a caller's
    /// `catch_up`) must not both build from the same base, or the slower would swap an
    /// older snapshot over the newer one.
    applying: tokio::sync::Mutex<()>,
}

const NO_COPY: i64 = 0;

/// How often the follower writes the local copy at most, unless told otherwise.
pub const DEFAULT_COPY_INTERVAL: Duration = Duration::from_secs(5);

const OTHERS_UNKNOWN: i64 = i64::MIN;
const NO_OTHERS: i64 = i64::MAX;

/// The live snapshot of one node. Cheap to clone; lookups take no lock.
#[derive(Clone)]
pub struct SnapshotHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SnapshotHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotHandle")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// Feed entries read per round.
const BATCH: i64 = 1000;

impl SnapshotHandle {
    /// Builds the first snapshot from the store. Fails when the store cannot be read: a node
    /// that has never seen the store has nothing to serve.
    pub async fn load(
        store: &Store,
        master: Arc<MasterKey>,
    ) -> Result<SnapshotHandle, ServingError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let snapshot = full_load(store, &master, &provider).await?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        Ok(SnapshotHandle::new(snapshot, master, provider, now, None))
    }

    /// Builds the first snapshot from the local copy at `path` (see [`Self::with_copy`]), for a
    /// node that cannot reach the store. The snapshot is marked stale and positioned at the
    /// copy's feed position, so the follower catches up from there when the store returns.
    /// Fails, and serves nothing, when the copy is missing, truncated, corrupt, of another
    /// format version or sealed under another master key.
    ///
    /// Blocks while reading the file and opening the keys.
    pub fn from_copy(
        path: impl AsRef<Path>,
        master: Arc<MasterKey>,
    ) -> Result<SnapshotHandle, ServingError> {
        let path = path.as_ref();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let loaded = crate::copy::read(path, &master)?;
        let snapshot = crate::build::build(loaded.rows, &master, &provider);
        tracing::info!(
            path = %path.display(),
            hosts = snapshot.hosts.len(),
            labels = snapshot.labels.len(),
            seq = snapshot.seq,
            written_at = loaded.written_at,
            "snapshot loaded from the local copy"
        );
        Ok(SnapshotHandle::new(
            snapshot,
            master,
            provider,
            loaded.written_at,
            Some(loaded.written_at),
        ))
    }

    pub(crate) fn new(
        snapshot: Snapshot,
        master: Arc<MasterKey>,
        provider: Arc<CryptoProvider>,
        last_sync: i64,
        copy_written_at: Option<i64>,
    ) -> SnapshotHandle {
        let from_copy = copy_written_at.is_some();
        SnapshotHandle {
            shared: Arc::new(Shared {
                current: ArcSwap::from_pointee(snapshot),
                master,
                provider,
                stale: AtomicBool::new(from_copy),
                last_sync: AtomicI64::new(last_sync),
                fetches: FetchLog::default(),
                others_acked: AtomicI64::new(OTHERS_UNKNOWN),
                copy: ArcSwapOption::empty(),
                copy_due: tokio::sync::Notify::new(),
                copy_written_at: AtomicI64::new(copy_written_at.unwrap_or(NO_COPY)),
                from_copy: AtomicBool::new(from_copy),
                synced_once: AtomicBool::new(false),
                applying: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Has the follower keep the local copy at `path`, written at most every
    /// [`DEFAULT_COPY_INTERVAL`].
    #[must_use]
    pub fn with_copy(self, path: impl Into<PathBuf>) -> SnapshotHandle {
        self.with_copy_every(path, DEFAULT_COPY_INTERVAL)
    }

    /// Has the follower keep the local copy at `path`: written after the first sync with the
    /// store and after changes, at most once every `min_interval` (changes meanwhile wait and
    /// share the next write), from a blocking task so serving never waits on the disk.
    #[must_use]
    pub fn with_copy_every(
        self,
        path: impl Into<PathBuf>,
        min_interval: Duration,
    ) -> SnapshotHandle {
        self.shared.copy.store(Some(Arc::new(CopyTarget {
            path: path.into(),
            min_interval,
        })));
        self
    }

    /// Writes the snapshot in service to `path` now, atomically, mode 0600, private keys
    /// sealed under the master key; returns when it was written (unix seconds). Blocks on the
    /// disk. The follower calls this itself for the path of [`Self::with_copy`].
    pub fn write_copy(&self, path: &Path) -> Result<i64, ServingError> {
        let written_at = OffsetDateTime::now_utc().unix_timestamp();
        crate::copy::write(path, &self.current(), &self.shared.master, written_at)?;
        Ok(written_at)
    }

    /// Unix seconds when the local copy was written (the one loaded, or the newest this node
    /// wrote), for readiness reports; `None` when there is none.
    pub fn copy_written_at(&self) -> Option<i64> {
        match self.shared.copy_written_at.load(Ordering::Relaxed) {
            NO_COPY => None,
            at => Some(at),
        }
    }

    /// The snapshot in service now.
    pub fn current(&self) -> Arc<Snapshot> {
        self.shared.current.load_full()
    }

    /// A cheap guard on the current snapshot for the hot path (no reference count traffic).
    pub(crate) fn guard(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.shared.current.load()
    }

    /// How far every live edge has applied the feed: this node's own position (it serves
    /// what it has applied) and the others' from their heartbeats.
    pub fn acknowledged(&self) -> Acknowledged {
        match self.shared.others_acked.load(Ordering::Relaxed) {
            OTHERS_UNKNOWN => Acknowledged::Unknown,
            others => Acknowledged::Seq(self.guard().seq.min(others)),
        }
    }

    /// Reads the other edge nodes' positions from their heartbeats (those seen within
    /// `window`). On a store error the last known value stays.
    pub async fn refresh_acknowledged(&self, store: &Store, own_id: &str, window: Duration) {
        let since = OffsetDateTime::now_utc() - window;
        match store.edge_acknowledged_seq(own_id, since).await {
            Ok(seq) => self
                .shared
                .others_acked
                .store(seq.unwrap_or(NO_OTHERS), Ordering::Relaxed),
            Err(e) => tracing::debug!(error = %e, "cannot read the other edges' positions"),
        }
    }

    /// Counts a policy fetch from `ip` (aggregated in memory, written by the follower).
    pub(crate) fn record_fetch(&self, domain: &DomainId, ip: std::net::IpAddr) {
        self.shared.fetches.record(domain, ip);
    }

    /// Writes the counted policy fetches to the store now.
    pub async fn flush_fetches(&self, store: &Store) {
        self.shared.fetches.flush(store).await;
    }

    /// Whether the snapshot is current, and how far it got.
    pub fn status(&self) -> SnapshotStatus {
        SnapshotStatus {
            seq: self.shared.current.load().seq,
            stale: self.shared.stale.load(Ordering::Relaxed),
            last_sync: self.shared.last_sync.load(Ordering::Relaxed),
            from_copy: self.shared.from_copy.load(Ordering::Relaxed),
            copy_written_at: self.copy_written_at(),
        }
    }

    /// Reads the feed once and applies what it finds. On a store error the current snapshot
    /// stays in service and the node is marked stale.
    pub async fn catch_up(&self, store: &Store) -> Result<(), ServingError> {
        let result = self.apply_pending(store).await;
        match &result {
            Ok(()) => {
                if self.shared.stale.swap(false, Ordering::Relaxed) {
                    tracing::info!("store reachable again; snapshot is current");
                }
                self.shared.last_sync.store(
                    OffsetDateTime::now_utc().unix_timestamp(),
                    Ordering::Relaxed,
                );
                self.shared.from_copy.store(false, Ordering::Relaxed);
                // The first sync writes a copy even without changes: a node loaded from the
                // store has none yet, one loaded from the copy now knows it is current.
                if !self.shared.synced_once.swap(true, Ordering::Relaxed) {
                    self.shared.copy_due.notify_one();
                }
            }
            Err(e) => {
                if !self.shared.stale.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "cannot read the store; serving the last snapshot");
                }
            }
        }
        result
    }

    async fn apply_pending(&self, store: &Store) -> Result<(), ServingError> {
        let _applying = self.shared.applying.lock().await;
        loop {
            let base = self.current();
            let changes = store.changes_since(base.seq, BATCH).await?;
            let Some(last) = changes.last() else {
                return Ok(());
            };
            let last_seq = last.seq;
            let mut domains: HashSet<DomainId> = HashSet::new();
            let mut challenges = false;
            let mut service = false;
            for c in &changes {
                if c.kind == ChangeKind::Challenge {
                    challenges = true;
                } else if c.kind == ChangeKind::Certificate && c.domain_id.is_none() {
                    service = true;
                } else if let Some(d) = &c.domain_id {
                    domains.insert(d.clone());
                }
            }
            // Read everything first; only a complete update is swapped in.
            let mut rows = Vec::with_capacity(domains.len());
            for id in &domains {
                rows.push((id.clone(), store.all_tenants().served_domain(id).await?));
            }
            let fresh_challenges = if challenges {
                Some((
                    store.live_challenges().await?,
                    store.live_tls_alpn_challenges().await?,
                ))
            } else {
                None
            };
            let fresh_service = if service {
                Some(store.service_certificates().await?)
            } else {
                None
            };
            let mut next = Snapshot::clone(&base);
            if let Some(rows) = fresh_service {
                next.set_service(rows, &self.shared.master, &self.shared.provider);
            }
            for (id, row) in rows {
                match row {
                    Some(row) => next.put_domain(&row, &self.shared.master, &self.shared.provider),
                    None => next.remove_domain(&id),
                }
            }
            if let Some((http, alpn)) = fresh_challenges {
                next.challenges = http
                    .into_iter()
                    .map(|(t, k)| (t, Bytes::from(k.into_bytes())))
                    .collect();
                next.tls_alpn =
                    crate::alpn::challenge_keys(alpn, &base.tls_alpn, &self.shared.provider);
            }
            next.seq = last_seq;
            self.shared.current.store(Arc::new(next));
            self.shared.copy_due.notify_one();
            if i64::try_from(changes.len()).unwrap_or(0) < BATCH {
                return Ok(());
            }
        }
    }

    /// Follows the change feed until the returned task is aborted: wakes on notifications
    /// (or every `poll`), applies changes, and sends a heartbeat with the served position
    /// after applying changes and every `heartbeat`, so the publisher and the certs worker
    /// know what this node serves.
    pub fn spawn_follower(
        &self,
        store: Store,
        node: NodeInfo,
        poll: Duration,
        heartbeat: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let handle = self.clone();
        tokio::spawn(async move {
            // Ends with the follower: aborting the follower drops this.
            let _copies = AbortOnDrop(tokio::spawn(handle.clone().write_copies()));
            let mut subscription = store.subscribe(poll);
            let mut beat = tokio::time::interval(heartbeat);
            beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Set when a change was just applied and the beat is due at once: the beat then
            // reports that position without reading the feed again.
            let mut caught_up = false;
            loop {
                tokio::select! {
                    () = subscription.changed() => {
                        if handle.catch_up(&store).await.is_ok() {
                            // Report the new position now, not at the next beat: the certs
                            // worker waits for every edge to serve a fresh ACME challenge, the
                            // publisher for a new policy.
                            caught_up = true;
                            beat.reset_immediately();
                        }
                    }
                    _ = beat.tick() => {
                        // Catch up first so the heartbeat never claims more than is served
                        // (the snapshot's position only grows, so a position just applied is
                        // still served).
                        let current = std::mem::take(&mut caught_up)
                            || handle.catch_up(&store).await.is_ok();
                        if current {
                            let seq = handle.current().seq;
                            if let Err(e) = store
                                .heartbeat(&node.id, &node.roles, &node.version, seq, node.started_at)
                                .await
                            {
                                tracing::warn!(error = %e, "heartbeat failed");
                            }
                            handle.flush_fetches(&store).await;
                            handle.refresh_acknowledged(&store, &node.id, heartbeat * 3).await;
                        }
                    }
                }
            }
        })
    }
}

impl SnapshotHandle {
    /// Writes the local copy whenever asked ([`Shared::copy_due`]), at most once every
    /// `min_interval`: a request that comes sooner waits, and requests meanwhile share the
    /// write. A failed write is logged and tried again at the next request.
    async fn write_copies(self) {
        let mut last_write: Option<tokio::time::Instant> = None;
        // The position of the last copy written, to skip a write that would change nothing.
        let mut written_seq = None;
        loop {
            self.shared.copy_due.notified().await;
            let Some(target) = self.shared.copy.load_full() else {
                continue;
            };
            if let Some(at) = last_write {
                tokio::time::sleep_until(at + target.min_interval).await;
            }
            let snapshot = self.current();
            if written_seq == Some(snapshot.seq) {
                continue;
            }
            last_write = Some(tokio::time::Instant::now());
            let seq = snapshot.seq;
            let master = self.shared.master.clone();
            let path = target.path.clone();
            let written = tokio::task::spawn_blocking(move || {
                let at = OffsetDateTime::now_utc().unix_timestamp();
                crate::copy::write(&path, &snapshot, &master, at).map(|()| at)
            })
            .await;
            match written {
                Ok(Ok(at)) => {
                    written_seq = Some(seq);
                    self.shared.copy_written_at.store(at, Ordering::Relaxed);
                    tracing::debug!(path = %target.path.display(), seq, "snapshot copy written");
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot write the snapshot copy; trying again at the next change");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the snapshot copy writer failed; trying again at the next change");
                }
            }
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn full_load(
    store: &Store,
    master: &MasterKey,
    provider: &CryptoProvider,
) -> Result<Snapshot, ServingError> {
    // The position is read first: anything committed while loading is replayed later, and
    // replaying a registration is idempotent.
    let seq = store.latest_change_seq().await?;
    let rows = Rows {
        seq,
        domains: store.all_tenants().served_domains().await?,
        challenges: store.live_challenges().await?,
        tls_alpn: store.live_tls_alpn_challenges().await?,
        service: store.service_certificates().await?,
    };
    let snapshot = crate::build::build(rows, master, provider);
    tracing::info!(
        hosts = snapshot.hosts.len(),
        labels = snapshot.labels.len(),
        seq,
        "snapshot loaded"
    );
    Ok(snapshot)
}
