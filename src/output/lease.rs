//! One writer per S3 prefix: a lease object, `_lease.json`.
//!
//! A local dataset directory is locked with `flock`; a bucket has no locks,
//! so two mxscans given the same prefix (a Job applied twice, an array
//! submitted twice) would overwrite each other's parts and journal. The
//! lease closes that with S3's conditional writes (RFC 9110 §13.1:
//! `If-None-Match: *` to create, `If-Match: <etag>` to renew), which Amazon
//! S3, MinIO, R2 and SeaweedFS honour:
//!
//! - taken by creating `_lease.json` only if it does not exist, then renewed
//!   once at once (so a service without `If-Match` fails before any query);
//! - renewed every [`RENEW_EVERY`] (every second after a failed attempt) by
//!   rewriting it only if it is still the version this writer wrote;
//! - a lease found in place belongs to a writer that may be alive. If it
//!   names this host, boot and pid namespace and a process that no longer
//!   exists (a `kill -9`, a requeued Slurm task on the same node), it is
//!   taken over at once. Otherwise it is watched: renewed within [`TTL`]
//!   means another writer is alive (a one-line error, before any query);
//!   unchanged for [`TTL`] of this machine's own clock (no clock comparison
//!   between hosts) means its writer is gone (an evicted pod): taken over.
//! - Before every write the writer makes sure its lease was confirmed by a
//!   renewal *sent* less than two thirds of [`TTL`] ago (waiting, within the
//!   S3 retry budget, for a renewal in progress). A writer whose lease was
//!   taken over writes nothing more. The bucket's journal is also written
//!   conditionally (`remote`), the fence for a write that outlives a lease.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::remote::one_line;

/// How long a lease that nobody renews stays its holder's.
pub const TTL: Duration = Duration::from_secs(30);
/// How often the holder renews it.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// The lease object's name in the prefix (`_`: Spark and Hive skip it).
pub const LEASE: &str = "_lease.json";
/// The hint for a service that refuses conditional writes.
const HINT: &str = "(an S3 service that refuses conditional writes needs MXSCAN_S3_LEASE=off)";

/// Who holds a lease: what `_lease.json` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Random, unique to one run of mxscan.
    pub token: String,
    /// The host name of its machine (a pod's name in Kubernetes).
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// Renewals so far: every renewal changes the object, so its ETag.
    pub renewals: u64,
    /// The kernel's boot id and the pid namespace: a pid means this process
    /// only within both (containers may share a host name, not a pid space).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_space: Option<String>,
}

impl Holder {
    fn me() -> Self {
        let mut rng = crate::dns::inflight::SplitMix::from_entropy();
        Self {
            token: format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64()),
            host: host_name(),
            pid: std::process::id(),
            renewals: 0,
            pid_space: pid_space(),
        }
    }

    fn body(&self) -> PutPayload {
        PutPayload::from(serde_json::to_vec(self).expect("a holder serialises"))
    }

    /// "host H, pid P", for messages.
    pub fn describe(&self) -> String {
        format!("host {}, pid {}", self.host, self.pid)
    }

    /// Whether `self` is a process of this machine and pid space that has
    /// ended, so that its lease may be taken at once.
    fn is_gone_from(&self, me: &Holder) -> bool {
        self.host == me.host
            && self.pid_space.is_some()
            && self.pid_space == me.pid_space
            && !process_alive(self.pid)
    }
}

/// Why the lease could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another writer holds it and renews it.
    #[error(
        "another mxscan is writing into this prefix ({0}: it renewed {LEASE} while this one waited); \
         stop it, or choose another prefix or shard"
    )]
    Busy(String),
    /// The lease is no longer this writer's.
    #[error("{LEASE} is no longer this writer's ({0}); it writes nothing more")]
    Lost(String),
    /// The S3 service did not confirm it.
    #[error("cannot confirm {LEASE}: {0}")]
    Unconfirmed(String),
    /// A request about the lease failed.
    #[error("cannot {0} {LEASE}: {1}")]
    Store(&'static str, String),
}

#[derive(Debug)]
struct State {
    me: Holder,
    version: UpdateVersion,
    /// When the last successful renewal (or the creation) was sent.
    confirmed: Instant,
    lost: Option<String>,
    /// Why the last renewal failed, if it did.
    last_error: Option<String>,
}

#[derive(Debug)]
struct Shared {
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
    state: Mutex<State>,
}

/// What one renewal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renewal {
    Renewed,
    Failed,
    Lost,
}

/// A lease this process holds; renewed in the background until dropped or
/// [released](Self::release).
#[derive(Debug)]
pub struct Lease {
    shared: Arc<Shared>,
    renewer: tokio::task::AbortHandle,
    /// How long [`Self::ensure`] waits for a renewal in progress.
    patience: Duration,
}

fn is_conflict(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. })
}

fn is_refusal(e: &object_store::Error) -> bool {
    matches!(
        e,
        object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }
            | object_store::Error::NotFound { .. }
    )
}

/// A write in `mode`. A conditional one object_store does not retry after
/// a timeout or a reset connection (it is not idempotent): tried a few
/// times more here. A conflict on a retry may be the earlier attempt's own
/// success; the caller reads the object back to tell.
pub(super) async fn put_conditional(
    store: &dyn ObjectStore,
    key: &ObjectPath,
    body: PutPayload,
    mode: PutMode,
) -> Result<UpdateVersion, object_store::Error> {
    let retried_by_store = matches!(mode, PutMode::Overwrite);
    let mut attempt = 0;
    loop {
        match store.put_opts(key, body.clone(), PutOptions::from(mode.clone())).await {
            Ok(put) => return Ok(put.into()),
            Err(e) if !retried_by_store && attempt < 3 && !is_conflict(&e) && !is_refusal(&e) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

impl Lease {
    /// Take the lease at `key` (see the module comment), then keep renewing
    /// it on the current runtime. `waiting` is told once if a live-looking
    /// lease must be watched first.
    pub async fn acquire(
        store: Arc<dyn ObjectStore>,
        key: ObjectPath,
        patience: Duration,
        waiting: impl Fn(Option<&Holder>),
    ) -> Result<Self, LeaseError> {
        let me = Holder::me();
        let mut told = false;
        // Each pass ends in a write that either succeeds or lost a race to
        // another writer (then the lease is looked at again).
        for _ in 0..8 {
            let sent = Instant::now();
            match put_conditional(&*store, &key, me.body(), PutMode::Create).await {
                Ok(version) => return Self::start(store, key, me, version, sent, patience).await,
                Err(e) if is_conflict(&e) => {}
                Err(e) if is_refusal(&e) => return Err(LeaseError::Store("create", one_line(&e))),
                Err(e) => return Err(LeaseError::Store("create", format!("{} {HINT}", one_line(&e)))),
            }
            let Some((holder, version)) = read(&*store, &key).await? else { continue };
            if holder.as_ref().is_some_and(|h| h.token == me.token) {
                // Our own create, whose answer was lost and retried.
                return Self::start(store, key, me, version, sent, patience).await;
            }
            if !holder.as_ref().is_some_and(|h| h.is_gone_from(&me)) {
                if !told {
                    waiting(holder.as_ref());
                    told = true;
                }
                // Unchanged for TTL of our own clock: its writer is gone.
                let since = Instant::now();
                while since.elapsed() < TTL {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    match store.head(&key).await {
                        Ok(meta) if meta.e_tag == version.e_tag => {}
                        Ok(_) => {
                            let who = match read(&*store, &key).await? {
                                Some((Some(h), _)) => h.describe(),
                                _ => "a writer that left no readable lease".into(),
                            };
                            return Err(LeaseError::Busy(who));
                        }
                        Err(object_store::Error::NotFound { .. }) => break,
                        Err(e) => return Err(LeaseError::Store("read", one_line(&e))),
                    }
                }
            }
            let sent = Instant::now();
            match put_conditional(&*store, &key, me.body(), PutMode::Update(version)).await {
                Ok(version) => return Self::start(store, key, me, version, sent, patience).await,
                Err(e) if is_conflict(&e) || matches!(e, object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(LeaseError::Store("take over", format!("{} {HINT}", one_line(&e)))),
            }
        }
        Err(LeaseError::Unconfirmed("it kept changing while this writer tried to take it".into()))
    }

    /// Hold the lease just written: renew it once now (a service that cannot
    /// renew fails here, before any query), then in the background.
    async fn start(
        store: Arc<dyn ObjectStore>,
        key: ObjectPath,
        me: Holder,
        version: UpdateVersion,
        sent: Instant,
        patience: Duration,
    ) -> Result<Self, LeaseError> {
        let state = Mutex::new(State { me, version, confirmed: sent, lost: None, last_error: None });
        let shared = Arc::new(Shared { store, key, state });
        shared.renew_checked().await.map_err(|e| match e {
            LeaseError::Unconfirmed(why) => LeaseError::Store("renew", format!("{why} {HINT}")),
            other => other,
        })?;
        let renewing = Arc::clone(&shared);
        let renewer = tokio::spawn(async move {
            let mut pause = RENEW_EVERY;
            loop {
                tokio::time::sleep(pause).await;
                pause = match renewing.renew().await {
                    Renewal::Renewed => RENEW_EVERY,
                    // Soon again: the lease must not lapse over one blip.
                    Renewal::Failed => Duration::from_secs(1),
                    Renewal::Lost => return,
                };
            }
        })
        .abort_handle();
        Ok(Self { shared, renewer, patience })
    }

    /// Make sure the lease is still this writer's before it writes: lost is
    /// an error at once; not confirmed lately waits for the renewal in
    /// progress, at most the S3 retry budget.
    pub fn ensure(&self) -> Result<(), LeaseError> {
        let started = Instant::now();
        loop {
            {
                let state = self.shared.lock();
                if let Some(why) = &state.lost {
                    return Err(LeaseError::Lost(why.clone()));
                }
                if state.confirmed.elapsed() < TTL / 3 * 2 {
                    return Ok(());
                }
                if started.elapsed() > self.patience {
                    let why = state.last_error.as_deref().unwrap_or("no answer");
                    let since = state.confirmed.elapsed().as_secs();
                    return Err(LeaseError::Unconfirmed(format!("not renewed for {since} s: {why}")));
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Renew now, and say whether the lease is still this writer's: for a
    /// write that must not land if another writer has taken over since the
    /// last renewal.
    pub fn renew_now(&self) -> impl Future<Output = Result<(), LeaseError>> + Send + 'static + use<> {
        let shared = Arc::clone(&self.shared);
        async move { shared.renew_checked().await }
    }

    /// The scan is over (complete or not): stop renewing, and delete the
    /// lease if it is still this writer's, so the next writer need not wait.
    /// Best effort and bounded: a lease left behind lapses by itself.
    pub fn release(&self) -> impl Future<Output = ()> + Send + 'static + use<> {
        self.renewer.abort();
        let shared = Arc::clone(&self.shared);
        async move {
            let token = {
                let state = shared.lock();
                if state.lost.is_some() {
                    return;
                }
                state.me.token.clone()
            };
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                if let Ok(Some((Some(holder), _))) = read(&*shared.store, &shared.key).await
                    && holder.token == token
                {
                    let _ = shared.store.delete(&shared.key).await;
                }
            })
            .await;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

impl Shared {
    /// The state, also after a panic elsewhere (it holds plain values).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One renewal, as an error unless renewed (with the cause kept in the
    /// state).
    async fn renew_checked(&self) -> Result<(), LeaseError> {
        match self.renew().await {
            Renewal::Renewed => Ok(()),
            Renewal::Lost => Err(LeaseError::Lost(self.lock().lost.clone().unwrap_or_default())),
            Renewal::Failed => {
                Err(LeaseError::Unconfirmed(self.lock().last_error.clone().unwrap_or_default()))
            }
        }
    }

    /// One renewal.
    async fn renew(&self) -> Renewal {
        let (body, version) = {
            let mut state = self.lock();
            if state.lost.is_some() {
                return Renewal::Lost;
            }
            state.me.renewals += 1;
            (state.me.body(), state.version.clone())
        };
        let sent = Instant::now();
        match put_conditional(&*self.store, &self.key, body, PutMode::Update(version)).await {
            Ok(version) => {
                let mut state = self.lock();
                state.version = version;
                state.confirmed = sent;
                state.last_error = None;
                Renewal::Renewed
            }
            Err(e) if is_conflict(&e) || matches!(e, object_store::Error::NotFound { .. }) => {
                // Our own write may have landed with its answer lost (and
                // the retry then failed): the object says whose it is.
                let found = read(&*self.store, &self.key).await;
                let mut state = self.lock();
                match found {
                    Ok(Some((Some(holder), version))) if holder.token == state.me.token => {
                        state.me.renewals = holder.renewals;
                        state.version = version;
                        state.confirmed = sent;
                        Renewal::Renewed
                    }
                    Ok(Some((holder, _))) => {
                        let who = holder.map_or_else(|| "unreadable".into(), |h| h.describe());
                        state.lost = Some(format!("another mxscan took it over: {who}"));
                        Renewal::Lost
                    }
                    Ok(None) => {
                        state.lost = Some("it was deleted".into());
                        Renewal::Lost
                    }
                    Err(e) => {
                        state.last_error = Some(e.to_string());
                        Renewal::Failed
                    }
                }
            }
            Err(e) => {
                self.lock().last_error = Some(one_line(&e));
                Renewal::Failed
            }
        }
    }
}

/// The lease object's holder (None if unreadable) and version; None if
/// there is no lease object.
async fn read(
    store: &dyn ObjectStore,
    key: &ObjectPath,
) -> Result<Option<(Option<Holder>, UpdateVersion)>, LeaseError> {
    match store.get(key).await {
        Ok(got) => {
            let version = UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
            let bytes = got.bytes().await.map_err(|e| LeaseError::Store("read", one_line(&e)))?;
            Ok(Some((serde_json::from_slice(&bytes).ok(), version)))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(LeaseError::Store("read", one_line(&e))),
    }
}

/// This machine's host name (a pod's name in Kubernetes).
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if end > 0 {
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    "unknown".into()
}

/// The kernel's boot id and this process's pid namespace (Linux), which
/// together say where a pid means something.
fn pid_space() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{} {}", boot.trim(), ns.display()))
}

/// Whether process `pid` exists on this host (EPERM: it exists, someone
/// else's).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
    if pid <= 0 {
        return true;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn key() -> ObjectPath {
        ObjectPath::from("scan_date=2026-12-06/shard=0/_lease.json")
    }

    async fn write(store: &InMemory, holder: &Holder) {
        store.put(&key(), holder.body()).await.unwrap();
    }

    #[tokio::test]
    async fn a_lease_left_by_a_dead_process_of_this_host_is_taken_at_once() {
        let store = Arc::new(InMemory::new());
        // A process that existed and is gone: its pid is free now.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let left =
            Holder { token: "old".into(), host: host_name(), pid: dead, renewals: 7, pid_space: pid_space() };
        write(&store, &left).await;
        let started = Instant::now();
        let lease =
            Lease::acquire(store.clone(), key(), Duration::from_secs(1), |_| panic!("waited")).await.unwrap();
        assert!(started.elapsed() < TTL / 2);
        lease.ensure().unwrap();
        let now: Holder =
            serde_json::from_slice(&store.get(&key()).await.unwrap().bytes().await.unwrap()).unwrap();
        assert_eq!((now.host, now.pid), (host_name(), std::process::id()));
        assert_ne!(now.token, "old");
    }

    #[tokio::test]
    async fn a_writer_whose_lease_was_taken_over_stops_writing() {
        let store = Arc::new(InMemory::new());
        let lease =
            Lease::acquire(store.clone(), key(), Duration::from_secs(1), |_| panic!("no lease was there"))
                .await
                .unwrap();
        // Renewals keep it.
        assert_eq!(
            (lease.shared.renew().await, lease.shared.renew().await),
            (Renewal::Renewed, Renewal::Renewed)
        );
        lease.ensure().unwrap();
        // Another writer rewrites it (it waited out a renewal that never came).
        let other =
            Holder { token: "other".into(), host: "pod-b".into(), pid: 9, renewals: 0, pid_space: None };
        write(&store, &other).await;
        assert_eq!(lease.shared.renew().await, Renewal::Lost, "renewing stops once the lease is lost");
        let err = lease.ensure().unwrap_err();
        assert!(matches!(&err, LeaseError::Lost(why) if why.ends_with("host pod-b, pid 9")), "{err}");
        // Giving it up leaves the other writer's lease alone.
        lease.release().await;
        let still: Holder =
            serde_json::from_slice(&store.get(&key()).await.unwrap().bytes().await.unwrap()).unwrap();
        assert_eq!(still, other);
    }

    #[tokio::test]
    async fn a_renewal_that_landed_but_whose_answer_was_lost_is_not_a_loss() {
        let store = Arc::new(InMemory::new());
        let lease = Lease::acquire(store.clone(), key(), Duration::from_secs(1), |_| {}).await.unwrap();
        // Our own write is in the store, but the version we remember is stale
        // (as after a retried request whose first attempt succeeded).
        let mine = lease.shared.lock().me.clone();
        write(&store, &Holder { renewals: mine.renewals + 1, ..mine }).await;
        assert_eq!(lease.shared.renew().await, Renewal::Renewed);
        lease.ensure().unwrap();
        lease.release().await;
        assert!(matches!(store.get(&key()).await, Err(object_store::Error::NotFound { .. })));
    }
}
