//! `-o s3://…`: the bucket and its spool, when the `s3` feature is built;
//! a clear refusal when it is not.

use std::path::Path;

use anyhow::Result;
use mxscan::output::dataset::{Dataset, DatasetSink, Manifest};

#[cfg(feature = "s3")]
pub(crate) struct RemoteOutput {
    remote: std::sync::Arc<mxscan::output::remote::Remote>,
    spool: std::path::PathBuf,
}

#[cfg(feature = "s3")]
pub(crate) fn open_remote(
    url: &str,
    spool: Option<&Path>,
    manifest: Manifest,
    resume: bool,
) -> Result<(Dataset, RemoteOutput)> {
    use mxscan::output::remote::{Remote, default_spool};
    let spool = spool.map_or_else(|| default_spool(url), Path::to_path_buf);
    let (remote, dataset) = Remote::open(url, &spool, manifest, resume)?;
    Ok((dataset, RemoteOutput { remote, spool }))
}

#[cfg(feature = "s3")]
impl RemoteOutput {
    pub(crate) fn attach(&self, sink: &mut DatasetSink) {
        sink.set_uploader(self.remote.clone());
    }

    pub(crate) fn complete(&self, stats: &str) -> Result<()> {
        Ok(self.remote.complete(stats, &self.spool)?)
    }
}

#[cfg(not(feature = "s3"))]
pub(crate) enum RemoteOutput {}

#[cfg(not(feature = "s3"))]
pub(crate) fn open_remote(
    url: &str,
    _: Option<&Path>,
    _: Manifest,
    _: bool,
) -> Result<(Dataset, RemoteOutput)> {
    anyhow::bail!("{url}: this mxscan was built without S3 support (cargo feature `s3`)")
}

#[cfg(not(feature = "s3"))]
impl RemoteOutput {
    pub(crate) fn attach(&self, _: &mut DatasetSink) {
        match *self {}
    }

    pub(crate) fn complete(&self, _: &str) -> Result<()> {
        match *self {}
    }
}
