//! A filtered view as Parquet: the columns of the CSV export, typed.

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder, UInt8Builder, UInt32Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use super::{Query, ScanIndex, codes};

/// Rows per batch written.
const BATCH: usize = 8192;

impl ScanIndex {
    /// Every row matching `q` (offset and limit ignored) in its order, as a
    /// Parquet file with the CSV export's columns: `domain`, `rank` (uint32,
    /// null without one), `status`, `provider`, `provider_category` (null
    /// without one), `mx_count`, `tiers` (uint8), `findings` (list<utf8>).
    /// Returns the rows written.
    pub fn export_parquet<W: Write + Send>(&self, q: &Query, out: W) -> Result<u64, ParquetError> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("domain", DataType::Utf8, false),
            Field::new("rank", DataType::UInt32, true),
            Field::new("status", DataType::Utf8, false),
            Field::new("provider", DataType::Utf8, true),
            Field::new("provider_category", DataType::Utf8, true),
            Field::new("mx_count", DataType::UInt8, false),
            Field::new("tiers", DataType::UInt8, false),
            Field::new("findings", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false),
        ]));
        let props =
            WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?)).build();
        let mut writer = ArrowWriter::try_new(out, Arc::clone(&schema), Some(props))?;
        let (_, rows) = self.select(q, 0, usize::MAX);
        for chunk in rows.chunks(BATCH) {
            let mut domain = StringBuilder::new();
            let mut rank = UInt32Builder::new();
            let mut status = StringBuilder::new();
            let mut provider = StringBuilder::new();
            let mut category = StringBuilder::new();
            let mut mx_count = UInt8Builder::new();
            let mut tiers = UInt8Builder::new();
            let mut findings = ListBuilder::new(StringBuilder::new());
            for &row in chunk {
                let i = row as usize;
                domain.append_value(self.text(i));
                rank.append_option((self.rank[i] != 0).then_some(self.rank[i]));
                status.append_value(&self.statuses[usize::from(self.status[i])]);
                provider.append_option(self.provider_of(i));
                category.append_option(self.category_of(i));
                mx_count.append_value(self.mx_count[i]);
                tiers.append_value(self.tiers[i]);
                for code in codes(self.findings[i]) {
                    findings.values().append_value(code);
                }
                findings.append(true);
            }
            let columns: Vec<ArrayRef> = vec![
                Arc::new(domain.finish()),
                Arc::new(rank.finish()),
                Arc::new(status.finish()),
                Arc::new(provider.finish()),
                Arc::new(category.finish()),
                Arc::new(mx_count.finish()),
                Arc::new(tiers.finish()),
                Arc::new(findings.finish()),
            ];
            writer.write(&RecordBatch::try_new(Arc::clone(&schema), columns)?)?;
        }
        writer.close()?;
        Ok(rows.len() as u64)
    }
}
