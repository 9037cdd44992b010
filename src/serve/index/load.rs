//! Loading: each file row group by row group, into the compact arrays.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, ListArray, PrimitiveArray, RecordBatch, StringArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::errors::ParquetError;
use rustc_hash::FxHashMap;

use super::{BATCH_ROWS, COLUMNS, FileRows, IndexError, MX_FIELDS, ScanIndex};
use crate::analyze::findings::CATALOGUE;

/// Integer columns as another writer may have typed them.
enum Ints<'a> {
    U8(&'a PrimitiveArray<UInt8Type>),
    U16(&'a PrimitiveArray<UInt16Type>),
    U32(&'a PrimitiveArray<UInt32Type>),
    U64(&'a PrimitiveArray<UInt64Type>),
    I8(&'a PrimitiveArray<Int8Type>),
    I16(&'a PrimitiveArray<Int16Type>),
    I32(&'a PrimitiveArray<Int32Type>),
    I64(&'a PrimitiveArray<Int64Type>),
}

impl Ints<'_> {
    /// The value, if present and not negative.
    fn get(&self, i: usize) -> Option<u64> {
        fn at<A: Array, T>(a: &A, i: usize, v: impl Fn(usize) -> T) -> Option<T> {
            a.is_valid(i).then(|| v(i))
        }
        match self {
            Self::U8(a) => at(*a, i, |i| u64::from(a.value(i))),
            Self::U16(a) => at(*a, i, |i| u64::from(a.value(i))),
            Self::U32(a) => at(*a, i, |i| u64::from(a.value(i))),
            Self::U64(a) => at(*a, i, |i| a.value(i)),
            Self::I8(a) => at(*a, i, |i| a.value(i)).and_then(|v| u64::try_from(v).ok()),
            Self::I16(a) => at(*a, i, |i| a.value(i)).and_then(|v| u64::try_from(v).ok()),
            Self::I32(a) => at(*a, i, |i| a.value(i)).and_then(|v| u64::try_from(v).ok()),
            Self::I64(a) => at(*a, i, |i| a.value(i)).and_then(|v| u64::try_from(v).ok()),
        }
    }
}

fn mismatch(name: &str, array: &dyn Array, want: &str) -> String {
    format!("column {name} is {}, expected {want}", array.data_type())
}

fn strings<'a>(name: &str, array: Option<&'a ArrayRef>) -> Result<Option<&'a StringArray>, String> {
    array.map(|a| a.as_string_opt::<i32>().ok_or_else(|| mismatch(name, a.as_ref(), "utf8"))).transpose()
}

fn list<'a>(name: &str, array: Option<&'a ArrayRef>) -> Result<Option<&'a ListArray>, String> {
    array.map(|a| a.as_list_opt::<i32>().ok_or_else(|| mismatch(name, a.as_ref(), "list"))).transpose()
}

fn ints<'a>(name: &str, array: Option<&'a ArrayRef>) -> Result<Option<Ints<'a>>, String> {
    let Some(a) = array else { return Ok(None) };
    let ints = if let Some(a) = a.as_primitive_opt::<UInt8Type>() {
        Ints::U8(a)
    } else if let Some(a) = a.as_primitive_opt::<UInt16Type>() {
        Ints::U16(a)
    } else if let Some(a) = a.as_primitive_opt::<UInt32Type>() {
        Ints::U32(a)
    } else if let Some(a) = a.as_primitive_opt::<UInt64Type>() {
        Ints::U64(a)
    } else if let Some(a) = a.as_primitive_opt::<Int8Type>() {
        Ints::I8(a)
    } else if let Some(a) = a.as_primitive_opt::<Int16Type>() {
        Ints::I16(a)
    } else if let Some(a) = a.as_primitive_opt::<Int32Type>() {
        Ints::I32(a)
    } else if let Some(a) = a.as_primitive_opt::<Int64Type>() {
        Ints::I64(a)
    } else {
        return Err(mismatch(name, a.as_ref(), "an integer"));
    };
    Ok(Some(ints))
}

fn text_at(a: Option<&StringArray>, i: usize) -> Option<&str> {
    a.filter(|a| a.is_valid(i)).map(|a| a.value(i))
}

/// The `start..end` of list `i`'s items (empty for a null list).
fn items(l: &ListArray, i: usize) -> std::ops::Range<usize> {
    if l.is_null(i) {
        return 0..0;
    }
    l.value_offsets()[i] as usize..l.value_offsets()[i + 1] as usize
}

/// An interned string's id in `table`, added if new (below `max` ids).
fn intern<T: Copy + TryFrom<usize>>(
    ids: &mut FxHashMap<Box<str>, T>,
    table: &mut Vec<Box<str>>,
    rows: &mut Vec<usize>,
    name: &str,
) -> Option<T> {
    if let Some(&id) = ids.get(name) {
        return Some(id);
    }
    let id = T::try_from(table.len()).ok()?;
    ids.insert(name.into(), id);
    table.push(name.into());
    rows.push(0);
    Some(id)
}

/// The index while its files are read.
pub(super) struct Loader {
    index: ScanIndex,
    status_ids: FxHashMap<Box<str>, u8>,
    provider_ids: FxHashMap<Box<str>, u16>,
    category_ids: FxHashMap<Box<str>, u8>,
    finding_bits: FxHashMap<&'static str, u8>,
}

impl Loader {
    pub(super) fn new() -> Self {
        let index = ScanIndex {
            sources: Vec::new(),
            files: Vec::new(),
            text: String::new(),
            ends: Vec::new(),
            valid: Vec::new(),
            mixed_case: Vec::new(),
            rank: Vec::new(),
            status: Vec::new(),
            provider: Vec::new(),
            category: Vec::new(),
            findings: Vec::new(),
            mx_count: Vec::new(),
            tiers: Vec::new(),
            by_rank: Vec::new(),
            ranked: 0,
            by_domain: Vec::new(),
            statuses: Vec::new(),
            providers: vec!["".into()],
            categories: vec!["".into()],
            provider_order: Vec::new(),
            status_rows: Vec::new(),
            provider_rows: vec![0],
            category_rows: vec![0],
            finding_rows: vec![0; CATALOGUE.len()],
            tier_rows: [0; 5],
            unknown_findings: 0,
            exchanges: FxHashMap::default(),
        };
        Self {
            index,
            status_ids: FxHashMap::default(),
            provider_ids: FxHashMap::default(),
            category_ids: FxHashMap::default(),
            finding_bits: CATALOGUE.iter().enumerate().map(|(i, f)| (f.code, i as u8)).collect(),
        }
    }

    /// Read one file, row group by row group, in order.
    pub(super) fn load_file(&mut self, path: &Path) -> Result<(), IndexError> {
        let parquet = |cause| IndexError::Parquet { path: path.to_path_buf(), cause };
        let schema_err = |reason: String| IndexError::Schema { path: path.to_path_buf(), reason };
        let file = File::open(path).map_err(|cause| IndexError::Io { path: path.to_path_buf(), cause })?;
        // Types from the Parquet schema itself, not an embedded Arrow schema,
        // as the report reads them: files rewritten by other tools decode
        // the same way.
        let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
        let meta = ArrowReaderMetadata::load(&file, options).map_err(parquet)?;
        let schema = meta.parquet_schema();
        let (mut leaves, mut domain, mut input) = (Vec::new(), None, None);
        for (i, column) in schema.columns().iter().enumerate() {
            let parts = column.path().parts();
            match parts[0].as_str() {
                "domain" => domain = Some(i),
                "input" => input = Some(i),
                // The exchange and tier of each entry, not those of anything
                // nested deeper (the TLSA list).
                "mx" if parts.len() <= 4 && parts.last().is_some_and(|f| MX_FIELDS.contains(&f.as_str())) => {
                    leaves.push(i)
                }
                "mx" => {}
                root if COLUMNS.contains(&root) => leaves.push(i),
                _ => {}
            }
        }
        let Some(domain) = domain else {
            return Err(schema_err("no domain column: not an mxscan output".into()));
        };
        leaves.push(domain);
        if !schema.columns().iter().any(|c| c.path().parts()[0] == "status") {
            return Err(schema_err("no status column: not an mxscan output".into()));
        }

        let first = self.index.rows();
        let too_large = |what| IndexError::TooLarge { path: path.to_path_buf(), what };
        let first = u32::try_from(first).map_err(|_| too_large("more than 2^32 rows"))?;
        let mut groups = Vec::with_capacity(meta.metadata().num_row_groups());
        let mut in_file = 0u64;
        for group in 0..meta.metadata().num_row_groups() {
            let group_meta = meta.metadata().row_group(group);
            groups.push(u32::try_from(in_file).map_err(|_| too_large("more than 2^32 rows"))?);
            let expected = u64::try_from(group_meta.num_rows()).unwrap_or(0);
            in_file += expected;
            if expected == 0 {
                continue;
            }
            // `input` only matters where `domain` is null (invalid rows);
            // a group whose statistics say it has none skips the column.
            let nulls = group_meta.column(domain).statistics().and_then(|s| s.null_count_opt());
            let mut projected = leaves.clone();
            if nulls != Some(0) {
                projected.extend(input);
            }
            let mask = ProjectionMask::leaves(schema, projected);
            let handle =
                file.try_clone().map_err(|cause| IndexError::Io { path: path.to_path_buf(), cause })?;
            let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, meta.clone())
                .with_row_groups(vec![group])
                .with_projection(mask)
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(parquet)?;
            let mut read = 0u64;
            for batch in reader {
                let batch = batch.map_err(|e| parquet(ParquetError::ArrowError(e.to_string())))?;
                read += batch.num_rows() as u64;
                self.add_batch(&batch).map_err(|e| match e {
                    AddError::Schema(reason) => schema_err(reason),
                    AddError::TooLarge(what) => too_large(what),
                })?;
            }
            if read != expected {
                return Err(schema_err(format!(
                    "row group {group} has {read} rows, its footer says {expected}"
                )));
            }
        }
        self.index.files.push(FileRows { first, groups });
        Ok(())
    }

    fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), AddError> {
        let col = |name: &str| batch.column_by_name(name);
        let domain =
            strings("domain", col("domain"))?.ok_or_else(|| AddError::Schema("no domain column".into()))?;
        let input = strings("input", col("input"))?;
        let status =
            strings("status", col("status"))?.ok_or_else(|| AddError::Schema("no status column".into()))?;
        let rank = ints("rank", col("rank"))?;
        let provider = strings("provider", col("provider"))?;
        let category = strings("provider_category", col("provider_category"))?;
        let findings = list("findings", col("findings"))?;
        let codes = findings.map(|l| strings("findings.item", Some(l.values()))).transpose()?.flatten();
        let mx = list("mx", col("mx"))?;
        let mx_struct = mx
            .map(|l| {
                l.values().as_struct_opt().ok_or_else(|| mismatch("mx.item", l.values().as_ref(), "struct"))
            })
            .transpose()?;
        let exchange = strings("mx.exchange", mx_struct.and_then(|s| s.column_by_name("exchange")))?;
        let tier = ints("mx.tier", mx_struct.and_then(|s| s.column_by_name("tier")))?;

        let ix = &mut self.index;
        let mut seen: Vec<&str> = Vec::new();
        for i in 0..batch.num_rows() {
            let row = ix.ends.len();
            if row == u32::MAX as usize {
                return Err(AddError::TooLarge("more than 2^32 rows"));
            }
            if row.is_multiple_of(64) {
                ix.valid.push(0);
            }
            let text = match text_at(Some(domain), i) {
                Some(d) => {
                    ix.valid[row / 64] |= 1 << (row % 64);
                    d
                }
                None => text_at(input, i).unwrap_or(""),
            };
            if text.bytes().any(|b| b.is_ascii_uppercase())
                || (!text.is_ascii() && text.to_lowercase() != text)
            {
                ix.mixed_case.push(row as u32);
            }
            ix.text.push_str(text);
            let end =
                u32::try_from(ix.text.len()).map_err(|_| AddError::TooLarge("more than 4 GiB of domains"))?;
            ix.ends.push(end);

            let r = rank.as_ref().and_then(|r| r.get(i)).map_or(0, |r| u32::try_from(r).unwrap_or(u32::MAX));
            ix.rank.push(r);

            let st = text_at(Some(status), i).unwrap_or("null");
            let id = intern(&mut self.status_ids, &mut ix.statuses, &mut ix.status_rows, st)
                .ok_or(AddError::TooLarge("more than 256 statuses"))?;
            ix.status_rows[usize::from(id)] += 1;
            ix.status.push(id);

            let id = match text_at(provider, i) {
                Some(p) => intern(&mut self.provider_ids, &mut ix.providers, &mut ix.provider_rows, p)
                    .filter(|&id| id != u16::MAX)
                    .ok_or(AddError::TooLarge("more than 65,534 providers"))?,
                None => 0,
            };
            ix.provider_rows[usize::from(id)] += 1;
            ix.provider.push(id);

            let id = match text_at(category, i) {
                Some(c) => intern(&mut self.category_ids, &mut ix.categories, &mut ix.category_rows, c)
                    .ok_or(AddError::TooLarge("more than 255 categories"))?,
                None => 0,
            };
            ix.category_rows[usize::from(id)] += 1;
            ix.category.push(id);

            let mut bits = 0u128;
            if let (Some(l), Some(codes)) = (findings, codes) {
                for j in items(l, i) {
                    match text_at(Some(codes), j).map(|c| self.finding_bits.get(c)) {
                        Some(Some(&bit)) => bits |= 1 << bit,
                        Some(None) => ix.unknown_findings += 1,
                        None => {}
                    }
                }
            }
            let mut rest = bits;
            while rest != 0 {
                ix.finding_rows[rest.trailing_zeros() as usize] += 1;
                rest &= rest - 1;
            }
            ix.findings.push(bits);

            // Distinct tier values as a bitset (a tier past 255 counts as 255).
            let (mut count, mut tier_bits) = (0usize, [0u64; 4]);
            seen.clear();
            if let Some(l) = mx {
                let entries = items(l, i);
                count = entries.len();
                for j in entries {
                    if let Some(t) = tier.as_ref().and_then(|t| t.get(j)) {
                        let t = t.min(255) as usize;
                        tier_bits[t / 64] |= 1 << (t % 64);
                    }
                    if let Some(name) = text_at(exchange, j)
                        && !seen.contains(&name)
                    {
                        seen.push(name);
                    }
                }
            }
            let distinct = tier_bits.iter().map(|w| w.count_ones()).sum::<u32>().min(255) as u8;
            ix.mx_count.push(count.min(255) as u8);
            ix.tiers.push(distinct);
            ix.tier_rows[usize::from(distinct.min(4))] += 1;
            for &name in &seen {
                *ix.exchanges.entry(super::exchange_key(name)).or_insert(0) += 1;
            }
        }
        Ok(())
    }

    /// Sort orders and table orders; arrays trimmed to their length.
    pub(super) fn finish(self) -> ScanIndex {
        let mut ix = self.index;
        let (by_rank, by_domain) = std::thread::scope(|s| {
            let rank = &ix.rank;
            let by_rank = s.spawn(move || {
                let mut order: Vec<u32> = (0..rank.len() as u32).collect();
                // Stable: equal ranks (and all the unranked) keep file order.
                order.sort_by_key(|&r| (rank[r as usize] == 0, rank[r as usize]));
                order
            });
            let by_domain = domain_order(&ix.text, &ix.ends);
            (by_rank.join().expect("the rank sort does not panic"), by_domain)
        });
        ix.ranked = ix.rank.iter().filter(|&&r| r != 0).count();
        ix.by_rank = by_rank;
        ix.by_domain = by_domain;
        let mut names: Vec<usize> = (1..ix.providers.len()).collect();
        names.sort_by(|&a, &b| ix.providers[a].cmp(&ix.providers[b]));
        ix.provider_order = vec![0; ix.providers.len()];
        for (position, &id) in names.iter().enumerate() {
            ix.provider_order[id] = position as u16;
        }
        ix.provider_order[0] = names.len() as u16;
        ix.text.shrink_to_fit();
        ix.ends.shrink_to_fit();
        ix.valid.shrink_to_fit();
        ix.mixed_case.shrink_to_fit();
        ix.rank.shrink_to_fit();
        ix.status.shrink_to_fit();
        ix.provider.shrink_to_fit();
        ix.category.shrink_to_fit();
        ix.findings.shrink_to_fit();
        ix.mx_count.shrink_to_fit();
        ix.tiers.shrink_to_fit();
        ix
    }
}

/// Rows sorted by their text, then position. The sort compares an 8-byte
/// prefix first and the texts only on a tie: most comparisons touch no
/// string.
fn domain_order(text: &str, ends: &[u32]) -> Vec<u32> {
    let slice = |r: u32| {
        let r = r as usize;
        let start = if r == 0 { 0 } else { ends[r - 1] as usize };
        &text.as_bytes()[start..ends[r] as usize]
    };
    let mut keyed: Vec<(u64, u32)> = (0..ends.len() as u32)
        .map(|r| {
            let mut prefix = [0u8; 8];
            let bytes = slice(r);
            let n = bytes.len().min(8);
            prefix[..n].copy_from_slice(&bytes[..n]);
            (u64::from_be_bytes(prefix), r)
        })
        .collect();
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| slice(a.1).cmp(slice(b.1))).then(a.1.cmp(&b.1)));
    keyed.into_iter().map(|(_, r)| r).collect()
}

/// Why a batch cannot be added.
enum AddError {
    Schema(String),
    TooLarge(&'static str),
}

impl From<String> for AddError {
    fn from(reason: String) -> Self {
        AddError::Schema(reason)
    }
}
