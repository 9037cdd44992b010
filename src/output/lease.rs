//! One writer per S3 prefix: a lease object, `_lease.json`.
//!
//! A local dataset directory is locked with `flock`; a bucket has no locks,
//! so two mxscans given the same prefix (a Job applied twice, an array
//! submitted twice) would overwrite each other's parts and journal. The
//! lease closes that with S3's conditional writes (RFC 9110 §13.1:
//! `If-None-Match: *` to create, `If-Match: <etag>` to renew), which Amazon
//! S3, MinIO, R2 and SeaweedFS honour:
//!
//! - taken by creating `_lease.json` only if it does not exist;
//! - renewed every [`RENEW_EVERY`] by rewriting it only if it is still the
//!   version this writer wrote;
//! - a lease found in place belongs to a writer that may be alive. If it
//!   names this host and a process that no longer exists (a `kill -9`, a
//!   requeued Slurm task on the same node), it is taken over at once.
//!   Otherwise it is watched: renewed within [`TTL`] means another writer
//!   is alive (a one-line error, before any query); unchanged for [`TTL`] of
//!   this machine's own clock (no clock comparison between hosts) means its
//!   writer is gone (a pod that was evicted), and it is taken over.
//! - Before every write the writer makes sure its lease was confirmed less
//!   than two thirds of [`TTL`] ago (waiting, within the S3 retry budget,
//!   for a renewal that is in progress). A writer whose lease was taken
//!   over stops with an error and writes nothing more.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

/// How long a lease that nobody renews stays its holder's.
pub const TTL: Duration = Duration::from_secs(30);
/// How often the holder renews it.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// The lease object's name in the prefix (`_`: Spark and Hive skip it).
pub const LEASE: &str = "_lease.json";

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
}

impl Holder {
    fn me() -> Self {
        let mut rng = crate::dns::inflight::SplitMix::from_entropy();
        Self {
            token: format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64()),
            host: host_name(),
            pid: std::process::id(),
            renewals: 0,
        }
    }

    fn body(&self) -> PutPayload {
        PutPayload::from(serde_json::to_vec(self).expect("a holder serialises"))
    }

    fn describe(&self) -> String {
        format!("host {}, pid {}", self.host, self.pid)
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
    /// Another writer took it over while this one was writing.
    #[error(
        "another mxscan ({0}) took over {LEASE} (this one could not renew it in time); it writes nothing more"
    )]
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
    confirmed: Instant,
    lost: Option<String>,
}

#[derive(Debug)]
struct Shared {
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
    state: Mutex<State>,
}

/// A lease this process holds; renewed on the given runtime until dropped
/// or [released](Self::release).
#[derive(Debug)]
pub struct Lease {
    shared: Arc<Shared>,
    renewer: tokio::task::AbortHandle,
    /// How long [`Self::ensure`] waits for a renewal in progress.
    patience: Duration,
}

impl Lease {
    /// Take the lease at `key` (see the module comment), then keep renewing
    /// it on `runtime`. `waiting` is told once if a live-looking lease must
    /// be watched first.
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
            let create = PutOptions::from(PutMode::Create);
            match store.put_opts(&key, me.body(), create).await {
                Ok(put) => return Ok(Self::start(store, key, me, put.into(), patience)),
                Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                }
                Err(
                    e @ (object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }),
                ) => return Err(LeaseError::Store("create", one_line(&e))),
                Err(e) => {
                    let hint = "(an S3 service that refuses conditional writes needs MXSCAN_S3_LEASE=off)";
                    return Err(LeaseError::Store("create", format!("{} {hint}", one_line(&e))));
                }
            }
            let Some((holder, version)) = read(&*store, &key).await? else { continue };
            let gone = holder.as_ref().is_some_and(|h| h.host == me.host && !process_alive(h.pid));
            if !gone {
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
                                _ => "unknown".into(),
                            };
                            return Err(LeaseError::Busy(who));
                        }
                        Err(object_store::Error::NotFound { .. }) => break,
                        Err(e) => return Err(LeaseError::Store("read", one_line(&e))),
                    }
                }
            }
            let update = PutOptions::from(PutMode::Update(version));
            match store.put_opts(&key, me.body(), update).await {
                Ok(put) => return Ok(Self::start(store, key, me, put.into(), patience)),
                Err(object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(LeaseError::Store("take over", one_line(&e))),
            }
        }
        Err(LeaseError::Unconfirmed("it kept changing while this writer tried to take it".into()))
    }

    fn start(
        store: Arc<dyn ObjectStore>,
        key: ObjectPath,
        me: Holder,
        version: UpdateVersion,
        patience: Duration,
    ) -> Self {
        let state = Mutex::new(State { me, version, confirmed: Instant::now(), lost: None });
        let shared = Arc::new(Shared { store, key, state });
        let renewing = Arc::clone(&shared);
        let renewer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                if !renewing.renew().await {
                    return;
                }
            }
        })
        .abort_handle();
        Self { shared, renewer, patience }
    }

    /// Make sure the lease is still this writer's before it writes: lost is
    /// an error at once; not confirmed lately waits for the renewal in
    /// progress, at most the S3 retry budget.
    pub fn ensure(&self) -> Result<(), LeaseError> {
        let started = Instant::now();
        loop {
            {
                let state = self.shared.state.lock().expect("lease lock");
                if let Some(who) = &state.lost {
                    return Err(LeaseError::Lost(who.clone()));
                }
                if state.confirmed.elapsed() < TTL / 3 * 2 {
                    return Ok(());
                }
            }
            if started.elapsed() > self.patience {
                let since = self.shared.state.lock().expect("lease lock").confirmed.elapsed();
                return Err(LeaseError::Unconfirmed(format!("not renewed for {} s", since.as_secs())));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The scan is over (complete or not): stop renewing, and delete the
    /// lease if it is still this writer's, so the next writer need not wait.
    /// Best effort and bounded: a lease left behind lapses by itself.
    pub fn release(&self) -> impl Future<Output = ()> + Send + 'static {
        self.renewer.abort();
        let shared = Arc::clone(&self.shared);
        async move {
            let token = {
                let state = shared.state.lock().expect("lease lock");
                if state.lost.is_some() {
                    return;
                }
                state.me.token.clone()
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
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
    /// One renewal; false once the lease is lost (renewing stops).
    async fn renew(&self) -> bool {
        let (body, version) = {
            let mut state = self.state.lock().expect("lease lock");
            state.me.renewals += 1;
            (state.me.body(), state.version.clone())
        };
        match self.store.put_opts(&self.key, body, PutOptions::from(PutMode::Update(version))).await {
            Ok(put) => {
                let mut state = self.state.lock().expect("lease lock");
                state.version = put.into();
                state.confirmed = Instant::now();
                true
            }
            Err(object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. }) => {
                // Our own write may have landed with its answer lost (and
                // the retry then failed): the object says whose it is.
                let found = read(&*self.store, &self.key).await;
                let mut state = self.state.lock().expect("lease lock");
                match found {
                    Ok(Some((Some(holder), version))) if holder.token == state.me.token => {
                        state.me.renewals = holder.renewals;
                        state.version = version;
                        state.confirmed = Instant::now();
                        true
                    }
                    Ok(Some((holder, _))) => {
                        state.lost = Some(holder.map_or_else(|| "unknown".into(), |h| h.describe()));
                        false
                    }
                    Ok(None) => {
                        state.lost = Some(format!("{LEASE} was deleted"));
                        false
                    }
                    Err(_) => true, // unknown yet: ensure() waits for the next renewal
                }
            }
            Err(_) => true, // the service is away: ensure() waits, within its patience
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

use super::remote::one_line;

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
        let left = Holder { token: "old".into(), host: host_name(), pid: dead, renewals: 7 };
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
        assert!(lease.shared.renew().await && lease.shared.renew().await);
        lease.ensure().unwrap();
        // Another writer rewrites it (it waited out a renewal that never came).
        let other = Holder { token: "other".into(), host: "pod-b".into(), pid: 9, renewals: 0 };
        write(&store, &other).await;
        assert!(!lease.shared.renew().await, "renewing stops once the lease is lost");
        let err = lease.ensure().unwrap_err();
        assert!(matches!(&err, LeaseError::Lost(who) if who == "host pod-b, pid 9"), "{err}");
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
        let mine = lease.shared.state.lock().unwrap().me.clone();
        write(&store, &Holder { renewals: mine.renewals + 1, ..mine }).await;
        assert!(lease.shared.renew().await);
        lease.ensure().unwrap();
        lease.release().await;
        assert!(matches!(store.get(&key()).await, Err(object_store::Error::NotFound { .. })));
    }
}
