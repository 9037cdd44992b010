//! A dataset in S3 (`-o s3://bucket/prefix/`): the same files as a local
//! dataset directory, with a local spool in between.
//!
//! Parts are written and sealed in the spool exactly as in a local dataset
//! (footer, journal line, rename), then uploaded; only after an upload has
//! completed is the bucket's `_journal.jsonl` rewritten to name the part
//! (S3 has no append; the journal is small), and then the spool's copy is
//! deleted. `_stats.json` and then `_SUCCESS` are the last objects written.
//! A reader of the bucket therefore sees whole parts only (an upload is
//! visible only when it completes), and the journal never names a part the
//! bucket lacks.
//!
//! `--resume` reconciles: the bucket's journal says what is done; parts
//! sealed in the spool but not yet uploaded (killed between seal and
//! upload) are uploaded then; everything else in the spool is dropped and
//! its lines scanned again. A lost spool (a new pod) loses at most the part
//! being written.
//!
//! One writer per prefix: a lease (`_lease.json`, [`super::lease`]) is
//! taken before anything in the bucket is changed, renewed while the scan
//! runs and confirmed before every write; parts are created only where no
//! object is (unless the lease is confirmed: then an object there is a dead
//! writer's leftover).
//!
//! Credentials, region and endpoint come from the standard AWS environment
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` for another S3 server, …).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload, UpdateVersion};
use tokio::io::AsyncWriteExt;

use super::OutputError;
use super::dataset::{self, Dataset, JOURNAL, Manifest, PartEntry, STATS, SUCCESS, Uploader};
use super::lease::{self, Lease};
use crate::input::LineSet;

/// A dataset's prefix in a bucket, and the bucket's journal as uploaded.
pub struct Remote {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// `None` only while being dropped.
    runtime: Option<tokio::runtime::Runtime>,
    journal: Mutex<(Manifest, Vec<PartEntry>)>,
    /// The version of the bucket's journal this writer wrote last (or read):
    /// the journal is rewritten only if it is still that one.
    journal_version: Mutex<Option<UpdateVersion>>,
    /// Taken in `reconcile`, before the bucket is changed.
    lease: Mutex<Option<Lease>>,
    /// `MXSCAN_S3_LEASE=off`: for an S3 service that refuses conditional
    /// writes, write without a lease.
    without_lease: bool,
    /// How long S3 requests are retried (`MXSCAN_S3_RETRY_SECS`).
    patience: std::time::Duration,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish_non_exhaustive()
    }
}

fn fail(url: &str, reason: impl std::fmt::Display) -> OutputError {
    OutputError::Dataset { path: url.to_string(), reason: reason.to_string() }
}

impl Remote {
    /// Connect to `url` (`s3://bucket/prefix/`) with the AWS environment,
    /// reconcile the bucket with the spool directory `spool`, and open the
    /// spool as the dataset the scan writes into. Checked before any query
    /// is sent: a wrong bucket, missing credentials or a refused write is a
    /// one-line error.
    pub fn open(
        url: &str,
        spool: &Path,
        manifest: Manifest,
        resume: bool,
    ) -> Result<(Arc<Self>, Dataset), OutputError> {
        // Its own runtime with its own thread: the writer that uploads may
        // itself run inside the scan's runtime, where blocking on another
        // runtime's future in place is not allowed.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mxscan-s3")
            .enable_all()
            .build()
            .map_err(|e| fail(url, format!("cannot start the S3 client: {e}")))?;
        let rest = url.strip_prefix("s3://").ok_or_else(|| fail(url, "not an s3:// URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(fail(url, "no bucket in the URL (s3://BUCKET/PREFIX/)"));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        // A plain-HTTP endpoint (a local S3 server) is what the user asked
        // for when they named one; object_store refuses it unless told.
        if std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .is_ok_and(|e| e.starts_with("http://"))
        {
            builder = builder.with_allow_http(true);
        }
        // A blip of the S3 service must not end a scan of many hours:
        // retry with backoff for 3 minutes (MXSCAN_S3_RETRY_SECS) before the
        // scan stops, and --resume picks up what the spool holds.
        let retry_secs =
            std::env::var("MXSCAN_S3_RETRY_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(180);
        let patience = std::time::Duration::from_secs(retry_secs);
        builder = builder.with_retry(object_store::RetryConfig {
            retry_timeout: patience,
            ..object_store::RetryConfig::default()
        });
        let store: Arc<dyn ObjectStore> =
            Arc::new(builder.build().map_err(|e| fail(url, format!("S3 configuration: {}", one_line(&e))))?);
        let remote = Self {
            url: url.to_string(),
            store,
            prefix: ObjectPath::from(prefix.trim_matches('/')),
            runtime: Some(runtime),
            journal_version: Mutex::new(None),
            journal: Mutex::new((manifest.clone(), Vec::new())),
            lease: Mutex::new(None),
            without_lease: std::env::var("MXSCAN_S3_LEASE").is_ok_and(|v| v == "off"),
            patience,
        };
        let dataset = remote.reconcile(spool, manifest, resume)?;
        Ok((Arc::new(remote), dataset))
    }

    fn key(&self, name: &str) -> ObjectPath {
        self.prefix.clone().join(name)
    }

    fn err(&self, what: &str, e: object_store::Error) -> OutputError {
        fail(&self.url, format!("cannot {what}: {}", one_line(&e)))
    }

    /// Run `f` on the S3 runtime's thread and wait for it.
    fn block<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let runtime = self.runtime.as_ref().expect("the S3 runtime lives as long as the Remote");
        runtime.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv().expect("the S3 runtime runs every task it is given to the end")
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, OutputError> {
        Ok(self.get_versioned(name)?.map(|(bytes, _)| bytes))
    }

    /// An object and its version, `None` if there is none.
    fn get_versioned(&self, name: &str) -> Result<Option<(Vec<u8>, UpdateVersion)>, OutputError> {
        let (store, key) = (Arc::clone(&self.store), self.key(name));
        self.block(async move {
            match store.get(&key).await {
                Ok(got) => {
                    let version =
                        UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
                    got.bytes().await.map(|b| Some((b.to_vec(), version)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| self.err(&format!("read {name}"), e))
    }

    /// Writes only while the lease is this writer's.
    fn ensure_lease(&self) -> Result<(), OutputError> {
        self.confirm_lease(false)
    }

    /// The lease is this writer's: as last renewed (`fresh` false), or by a
    /// renewal made now, for a write that must not land if another writer
    /// took over since the last one.
    fn confirm_lease(&self, fresh: bool) -> Result<(), OutputError> {
        let renewal = match &*self.lease.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(lease) if fresh => lease.renew_now(),
            Some(lease) => return lease.ensure().map_err(|e| fail(&self.url, e)),
            None if self.without_lease => return Ok(()),
            None => return Err(fail(&self.url, "writes before the lease was taken")),
        };
        self.block(renewal).map_err(|e| fail(&self.url, e))
    }

    /// `mode` where the lease is kept; a plain write with
    /// `MXSCAN_S3_LEASE=off` (a service without conditional writes).
    fn put_mode(&self, mode: PutMode) -> PutMode {
        if self.without_lease { PutMode::Overwrite } else { mode }
    }

    fn put(&self, name: &str, body: Vec<u8>) -> Result<(), OutputError> {
        self.ensure_lease()?;
        let (store, key) = (Arc::clone(&self.store), self.key(name));
        self.block(async move { store.put(&key, PutPayload::from(body)).await })
            .map(|_| ())
            .map_err(|e| self.err(&format!("write {name}"), e))
    }

    fn delete(&self, name: &str) -> Result<(), OutputError> {
        self.ensure_lease()?;
        let (store, key) = (Arc::clone(&self.store), self.key(name));
        match self.block(async move { store.delete(&key).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(&format!("delete {name}"), e)),
        }
    }

    /// Upload a sealed part from the spool (multipart when large; visible
    /// only once complete). A part small enough for one request is created
    /// only where no object is: one already there is either a dead writer's
    /// leftover (overwritten once a renewal made then confirms the lease)
    /// or the part of a writer that took the lease over (then that renewal
    /// fails).
    fn upload(&self, file: &Path, name: &str) -> Result<(), OutputError> {
        self.ensure_lease()?;
        let body = std::fs::read(file)
            .map_err(|e| fail(&self.url, format!("cannot read {}: {e}", file.display())))?;
        let (store, key) = (Arc::clone(&self.store), self.key(name));
        let failed =
            |e: object_store::Error| fail(&self.url, format!("cannot upload {name}: {}", one_line(&e)));
        if body.len() < MULTIPART_ABOVE {
            let payload = PutPayload::from(body);
            let (again, retry_key, retry_store) = (payload.clone(), key.clone(), Arc::clone(&store));
            let mode = self.put_mode(PutMode::Create);
            let created =
                self.block(async move { lease::put_conditional(&*store, &key, payload, mode).await });
            return match created {
                Ok(_) => Ok(()),
                Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                    // Overwrite only what a renewal made just now proves ours.
                    self.confirm_lease(true)?;
                    self.block(async move { retry_store.put(&retry_key, again).await })
                        .map(|_| ())
                        .map_err(failed)
                }
                Err(e) => Err(failed(e)),
            };
        }
        self.block(async move {
            let mut out = object_store::buffered::BufWriter::with_capacity(store, key, MULTIPART_ABOVE);
            out.write_all(&body).await?;
            out.shutdown().await
        })
        .map_err(|e| fail(&self.url, format!("cannot upload {name}: {}", one_line(&e))))
    }

    /// Rewrite the bucket's journal, only if it is still the version this
    /// writer wrote last: the fence against a writer whose lease lapsed
    /// while one of its writes was on its way.
    fn put_journal(&self, journal: &(Manifest, Vec<PartEntry>)) -> Result<(), OutputError> {
        let body = dataset::journal_text(&journal.0, &journal.1);
        self.ensure_lease()?;
        let mode = self.put_mode(match self.journal_version.lock().expect("journal version lock").clone() {
            Some(version) => PutMode::Update(version),
            None => PutMode::Create,
        });
        let (store, key, payload) =
            (Arc::clone(&self.store), self.key(JOURNAL), PutPayload::from(body.clone()));
        let written = self.block(async move { lease::put_conditional(&*store, &key, payload, mode).await });
        let version = match written {
            Ok(version) => version,
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. }
                | object_store::Error::NotFound { .. },
            ) => match self.get_versioned(JOURNAL)? {
                // Our own write, whose answer was lost and retried.
                Some((text, version)) if text == body => version,
                _ => {
                    return Err(fail(
                        &self.url,
                        format!("{JOURNAL} was changed by another writer; this one writes nothing more"),
                    ));
                }
            },
            Err(e) => return Err(self.err(&format!("write {JOURNAL}"), e)),
        };
        *self.journal_version.lock().expect("journal version lock") = Some(version);
        Ok(())
    }

    /// See the module comment.
    fn reconcile(&self, spool: &Path, manifest: Manifest, resume: bool) -> Result<Dataset, OutputError> {
        let earlier = || {
            fail(
                &self.url,
                format!(
                    "holds an earlier scan ({JOURNAL}); add --resume to continue it, or choose another prefix"
                ),
            )
        };
        if !resume && self.get(JOURNAL)?.is_some() {
            return Err(earlier());
        }
        self.take_lease()?;
        // Read (again) under the lease: a writer that was still alive while
        // this one waited may have moved the journal on.
        let mut journal = (manifest.clone(), Vec::new());
        if let Some((text, version)) = self.get_versioned(JOURNAL)? {
            if !resume {
                return Err(earlier());
            }
            let (old, entries) = dataset::parse_journal(&String::from_utf8_lossy(&text))
                .map_err(|e| fail(&self.url, format!("{JOURNAL}: {e}")))?;
            if let Some(why) = old.mismatch(&manifest) {
                return Err(fail(&self.url, why));
            }
            journal = (old, entries);
            *self.journal_version.lock().expect("journal version lock") = Some(version);
        }
        // A run is starting: until it completes, the dataset is not complete.
        self.delete(SUCCESS)?;
        self.delete(STATS)?;

        let mut done = dataset::lines_of(&journal.1);
        // Parts sealed in the spool that the bucket's journal lacks: upload
        // them now, unless the bucket moved on without them.
        // Only a resumed scan takes anything from the spool: a new one (the
        // prefix emptied to start over) must not adopt an old run's parts.
        let local = if resume {
            dataset::spool_parts(spool, &journal.0).map_err(|e| fail(&spool.display().to_string(), e))?
        } else {
            Vec::new()
        };
        for (entry, file) in local {
            let lines = LineSet::from_ranges(entry.lines.clone());
            if journal.1.iter().any(|e| e.part == entry.part) || done.overlaps(&lines) {
                continue;
            }
            self.upload(&file, &entry.part)?;
            done.extend(&lines);
            journal.1.push(entry);
        }
        // Once, after the uploads (killed before it, the spool still holds
        // them and the next resume uploads them again), and even when
        // nothing is done: a refused write fails here, before any query.
        self.put_journal(&journal)?;
        let dataset = Dataset::open_spool(spool, journal.0.clone(), journal.1.clone())?;
        *self.journal.lock().expect("journal lock") = journal;
        Ok(dataset)
    }

    /// Take the prefix's lease (waiting for a lapsed one), before anything
    /// in the bucket changes.
    fn take_lease(&self) -> Result<(), OutputError> {
        if self.without_lease {
            return Ok(());
        }
        let (store, key, patience, url) =
            (Arc::clone(&self.store), self.key(lease::LEASE), self.patience, self.url.clone());
        let taken = self.block(async move {
            Lease::acquire(store, key, patience, move |holder| {
                let who = holder.map_or_else(|| "an unreadable holder".to_string(), lease::Holder::describe);
                eprintln!(
                    "mxscan: {url}: {} is held ({who}); watching it: renewed means its writer is alive, \
                     {} s unchanged means it is gone",
                    lease::LEASE,
                    lease::TTL.as_secs()
                );
            })
            .await
        });
        let lease = taken.map_err(|e| fail(&self.url, e))?;
        *self.lease.lock().expect("lease lock") = Some(lease);
        Ok(())
    }

    /// The scan is complete: `_stats.json`, then `_SUCCESS` (last, so a
    /// reader that sees it sees everything); then the lease is given up.
    pub fn complete(&self, stats: &str, spool: &Path) -> Result<(), OutputError> {
        self.put(STATS, stats.as_bytes().to_vec())?;
        self.put(SUCCESS, Vec::new())?;
        self.release_lease();
        dataset::clear_spool(spool).map_err(|e| fail(&spool.display().to_string(), e))
    }

    /// Stop renewing and delete the lease (best effort, bounded), so that
    /// the next writer of this prefix starts at once.
    fn release_lease(&self) {
        let lease = self.lease.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(lease) = lease {
            // Bounded inside `release`.
            self.block(lease.release());
        }
    }
}

impl Uploader for Remote {
    /// A part was sealed in the spool as `file`: upload it, then name it in
    /// the bucket's journal, then drop the spool's copy.
    fn sealed(&self, file: &Path, entry: &PartEntry) -> Result<(), OutputError> {
        self.upload(file, &entry.part)?;
        let mut journal = self.journal.lock().expect("journal lock");
        journal.1.push(entry.clone());
        self.put_journal(&journal)?;
        drop(journal);
        // The part is safe in the bucket; the spool only keeps what is not.
        let _ = std::fs::remove_file(file);
        Ok(())
    }
}

impl Drop for Remote {
    /// A scan that stopped early (an error, Ctrl-C) gives its lease up too;
    /// then the runtime goes without waiting for its blocking threads (a
    /// name lookup of an unreachable endpoint may still be running).
    fn drop(&mut self) {
        self.release_lease();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Parts up to this size are one request (and created conditionally);
/// larger ones are uploaded in pieces of this size.
const MULTIPART_ABOVE: usize = 16 << 20;

/// object_store's errors nest their causes on several lines; the CLI's
/// errors are one line.
pub(super) fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The default spool for `url`: a directory below the system's temporary
/// one, named after the URL, so that a resumed run on the same machine
/// finds what an interrupted one sealed but did not upload.
pub fn default_spool(url: &str) -> PathBuf {
    let name: String = url
        .trim_start_matches("s3://")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.=".contains(c) { c } else { '_' })
        .collect();
    std::env::temp_dir().join("mxscan-spool").join(name)
}
