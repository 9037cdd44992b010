//! The diff's Parquet output: one row per changed domain. Written to a
//! `.partial` file that is renamed into place when complete, so a file
//! under the final name is always whole.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder, StructBuilder, UInt32Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::DiffError;
use super::changes::Change;
use crate::output::arrow::string_list;

const BATCH: usize = 8192;

fn policy_fields() -> Fields {
    Fields::from(vec![
        Field::new("field", DataType::Utf8, false),
        Field::new("old", DataType::Utf8, true),
        Field::new("new", DataType::Utf8, true),
    ])
}

/// The diff's schema (docs/diff.md).
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("domain", DataType::Utf8, false),
        Field::new("changes", string_list(), false),
        Field::new("rank_old", DataType::UInt32, true),
        Field::new("rank_new", DataType::UInt32, true),
        Field::new("status_old", DataType::Utf8, true),
        Field::new("status_new", DataType::Utf8, true),
        Field::new("exchanges_added", string_list(), false),
        Field::new("exchanges_removed", string_list(), false),
        Field::new("provider_old", DataType::Utf8, true),
        Field::new("provider_new", DataType::Utf8, true),
        Field::new("findings_appeared", string_list(), false),
        Field::new("findings_resolved", string_list(), false),
        Field::new(
            "policy_changes",
            DataType::List(Arc::new(Field::new("item", DataType::Struct(policy_fields()), true))),
            false,
        ),
    ]))
}

/// Writes changed domains, a batch at a time.
pub struct ChangeWriter {
    writer: ArrowWriter<File>,
    pending: Vec<Change>,
    partial: PathBuf,
    target: PathBuf,
    rows: u64,
}

fn strings<'a>(items: impl Iterator<Item = &'a Box<str>>, b: &mut ListBuilder<StringBuilder>) {
    for item in items {
        b.values().append_value(item);
    }
    b.append(true);
}

impl ChangeWriter {
    /// Create `target`'s partial file now, so an unwritable output fails
    /// before any scan is read.
    pub fn create(target: &Path, metadata: Vec<(String, String)>) -> Result<Self, DiffError> {
        let partial = crate::output::partial_path(target);
        let io = |cause| DiffError::Io { path: partial.display().to_string(), cause };
        let file = File::create(&partial).map_err(io)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("3 is a zstd level")))
            .set_created_by(format!("mxscan {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(
                metadata.into_iter().map(|(k, v)| parquet::file::metadata::KeyValue::new(k, v)).collect(),
            ))
            .build();
        let writer = ArrowWriter::try_new(file, schema(), Some(props))
            .map_err(|cause| DiffError::Write { path: partial.display().to_string(), cause })?;
        Ok(Self {
            writer,
            pending: Vec::with_capacity(BATCH),
            partial,
            target: target.to_path_buf(),
            rows: 0,
        })
    }

    /// Queue one row.
    pub fn push(&mut self, change: Change) -> Result<(), DiffError> {
        self.pending.push(change);
        if self.pending.len() >= BATCH { self.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> Result<(), DiffError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = to_batch(&self.pending);
        self.rows += self.pending.len() as u64;
        self.pending.clear();
        self.writer
            .write(&batch)
            .map_err(|cause| DiffError::Write { path: self.partial.display().to_string(), cause })
    }

    /// Write what is queued, close the file and rename it into place;
    /// the rows written.
    pub fn finish(mut self) -> Result<u64, DiffError> {
        self.flush()?;
        let path = self.partial.display().to_string();
        self.writer.close().map_err(|cause| DiffError::Write { path: path.clone(), cause })?;
        std::fs::rename(&self.partial, &self.target).map_err(|cause| DiffError::Io { path, cause })?;
        Ok(self.rows)
    }
}

fn to_batch(rows: &[Change]) -> RecordBatch {
    let n = rows.len();
    let mut domain = StringBuilder::with_capacity(n, n * 16);
    let mut kinds = ListBuilder::new(StringBuilder::new());
    let (mut rank_old, mut rank_new) = (UInt32Builder::with_capacity(n), UInt32Builder::with_capacity(n));
    let (mut status_old, mut status_new) = (StringBuilder::new(), StringBuilder::new());
    let (mut added, mut removed) =
        (ListBuilder::new(StringBuilder::new()), ListBuilder::new(StringBuilder::new()));
    let (mut provider_old, mut provider_new) = (StringBuilder::new(), StringBuilder::new());
    let (mut appeared, mut resolved) =
        (ListBuilder::new(StringBuilder::new()), ListBuilder::new(StringBuilder::new()));
    let fields = policy_fields();
    let item = StructBuilder::from_fields(fields.clone(), 0);
    let mut policy =
        ListBuilder::new(item).with_field(Arc::new(Field::new("item", DataType::Struct(fields), true)));
    for r in rows {
        domain.append_value(&r.domain);
        for k in &r.kinds {
            kinds.values().append_value(k.as_str());
        }
        kinds.append(true);
        rank_old.append_option(r.rank_old);
        rank_new.append_option(r.rank_new);
        status_old.append_option(r.status_old.as_deref());
        status_new.append_option(r.status_new.as_deref());
        strings(r.exchanges_added.iter(), &mut added);
        strings(r.exchanges_removed.iter(), &mut removed);
        provider_old.append_option(r.provider_old.as_deref());
        provider_new.append_option(r.provider_new.as_deref());
        strings(r.findings_appeared.iter(), &mut appeared);
        strings(r.findings_resolved.iter(), &mut resolved);
        let items = policy.values();
        for p in &r.policy {
            items.field_builder::<StringBuilder>(0).expect("field").append_value(p.field);
            items.field_builder::<StringBuilder>(1).expect("old").append_option(p.old.as_deref());
            items.field_builder::<StringBuilder>(2).expect("new").append_option(p.new.as_deref());
            items.append(true);
        }
        policy.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(domain.finish()),
        Arc::new(kinds.finish()),
        Arc::new(rank_old.finish()),
        Arc::new(rank_new.finish()),
        Arc::new(status_old.finish()),
        Arc::new(status_new.finish()),
        Arc::new(added.finish()),
        Arc::new(removed.finish()),
        Arc::new(provider_old.finish()),
        Arc::new(provider_new.finish()),
        Arc::new(appeared.finish()),
        Arc::new(resolved.finish()),
        Arc::new(policy.finish()),
    ];
    RecordBatch::try_new(schema(), columns).expect("the builders follow the schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::changes::{ChangeKind, PolicyChange};

    #[test]
    fn every_column_is_documented() {
        let doc = crate::repo_file("docs/diff.md");
        for field in schema().fields() {
            assert!(doc.contains(&format!("`{}`", field.name())), "docs/diff.md lacks {}", field.name());
        }
    }

    #[test]
    fn rows_build_a_batch_of_the_schema() {
        let rows = vec![
            Change {
                domain: "a.example".into(),
                kinds: vec![ChangeKind::Provider, ChangeKind::Policy],
                provider_old: Some("google".into()),
                provider_new: Some("microsoft".into()),
                policy: vec![PolicyChange { field: "dmarc.p", old: None, new: Some("reject".into()) }],
                ..Change::default()
            },
            Change { domain: "b.example".into(), kinds: vec![ChangeKind::Vanished], ..Change::default() },
        ];
        let batch = to_batch(&rows);
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), schema());
    }
}
