//! What `diff` compares of one row: the domain, its status, the MX
//! exchanges, the primary provider, the findings and the policy stage's
//! headline values. Read from Parquet batches (only the leaves needed are
//! decoded) and, for the spill to disk, written and read back as compact
//! length-prefixed frames.

use std::borrow::Cow;
use std::io::{self, Read, Write};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ListArray, RecordBatch, StringArray, StructArray};
use arrow_schema::ArrowError;

use crate::report::columns::{ints, list, mismatch, strings, text};

/// The policy values compared, as `column.field` (the contract's names).
/// `dane` and `dkim` are derived: whether any exchange has TLSA records
/// (`tlsa` or `none`), and the DKIM selectors with a key record as
/// `selector:status`, space-separated (`none` without one).
pub const POLICY_FIELDS: [&str; 9] = [
    "spf.status",
    "spf.all",
    "dmarc.status",
    "dmarc.p",
    "mta_sts.status",
    "mta_sts.mode",
    "tlsrpt.status",
    "dane",
    "dkim",
];

/// The Parquet leaves `diff` reads besides [`POLICY_FIELDS`], with list
/// levels left out of the path.
const LEAVES: [&str; 10] = [
    "domain",
    "input",
    "rank",
    "status",
    "findings",
    "provider",
    "mx.exchange",
    "mx.tlsa.usage",
    "dkim.selector",
    "dkim.status",
];

/// Whether `diff` reads the leaf `name` (list levels left out).
pub(super) fn reads(name: &str) -> bool {
    LEAVES.contains(&name) || POLICY_FIELDS.contains(&name)
}

/// One row, as far as `diff` cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// The normalised domain; for an invalid line, its raw input.
    pub key: Box<str>,
    /// The list rank.
    pub rank: Option<u32>,
    /// The contract's status (one of a few words: not allocated per row).
    pub status: Cow<'static, str>,
    /// The distinct exchanges, sorted (`.` for a null MX).
    pub exchanges: Vec<Box<str>>,
    /// The primary provider.
    pub provider: Option<Box<str>>,
    /// The finding codes, sorted and distinct.
    pub findings: Vec<Box<str>>,
    /// The [`POLICY_FIELDS`]; `None` when the policy stage did not run for
    /// this row.
    pub policy: Option<Box<[Option<Box<str>>; POLICY_FIELDS.len()]>>,
}

impl Snapshot {
    /// Whether the status decides the MX set (`ok`, or `nxdomain`: no name,
    /// no MX, RFC 8020). Otherwise exchanges, provider, findings and policy
    /// are unknown, and `diff` compares only the status.
    pub fn knows_mx(&self) -> bool {
        matches!(&*self.status, "ok" | "nxdomain")
    }

    /// Whether mail has somewhere to go: a real exchange (not a null MX).
    pub fn has_mx(&self) -> bool {
        self.exchanges.iter().any(|e| &**e != ".")
    }
}

/// The contract's statuses as static strings; another writer's odd value
/// is kept as it is.
fn intern_status(s: &str) -> Cow<'static, str> {
    const KNOWN: [&str; 8] = ["ok", "nxdomain", "servfail", "refused", "timeout", "invalid", "error", "null"];
    KNOWN.iter().find(|k| **k == s).map_or_else(|| Cow::Owned(s.to_string()), |k| Cow::Borrowed(*k))
}

fn row_range(list: &ListArray, i: usize) -> std::ops::Range<usize> {
    list.value_offsets()[i] as usize..list.value_offsets()[i + 1] as usize
}

fn sorted_distinct(mut v: Vec<Box<str>>) -> Vec<Box<str>> {
    v.sort_unstable();
    v.dedup();
    v
}

fn child<'a>(
    s: Option<&'a StructArray>,
    parent: &str,
    name: &str,
) -> Result<Option<&'a StringArray>, ArrowError> {
    strings(&format!("{parent}.{name}"), s.and_then(|s| s.column_by_name(name)))
}

fn struct_col<'a>(batch: &'a RecordBatch, name: &str) -> Result<Option<&'a StructArray>, ArrowError> {
    batch
        .column_by_name(name)
        .map(|a| a.as_struct_opt().ok_or_else(|| mismatch(name, a, "struct")))
        .transpose()
}

fn list_struct<'a>(l: Option<&'a ListArray>, name: &str) -> Result<Option<&'a StructArray>, ArrowError> {
    l.map(|l| l.values().as_struct_opt().ok_or_else(|| mismatch(name, l.values(), "struct"))).transpose()
}

/// A struct's string field at row `i`, null when the struct is.
fn field<'a>(s: Option<&StructArray>, f: Option<&'a StringArray>, i: usize) -> Option<&'a str> {
    s.filter(|s| s.is_valid(i)).and_then(|_| text(f, i))
}

/// Every row of `batch` (of the output schema) as a [`Snapshot`].
pub(super) fn from_batch(batch: &RecordBatch) -> Result<Vec<Snapshot>, ArrowError> {
    let col = |name: &str| batch.column_by_name(name);
    let status = strings("status", col("status"))?
        .ok_or_else(|| ArrowError::SchemaError("no status column: not an mxscan output".into()))?;
    let domain = strings("domain", col("domain"))?;
    let input = strings("input", col("input"))?;
    let rank = ints("rank", col("rank"))?;
    let provider = strings("provider", col("provider"))?;
    let findings = list("findings", col("findings"))?;
    let codes = findings.map(|l| strings("findings.item", Some(l.values()))).transpose()?.flatten();
    let mx = list("mx", col("mx"))?;
    let mx_item = list_struct(mx, "mx.item")?;
    let exchange = child(mx_item, "mx", "exchange")?;
    let tlsa = list("mx.tlsa", mx_item.and_then(|s| s.column_by_name("tlsa")))?;

    // The policy stage's columns exist only when it ran (`--policy`).
    let spf = struct_col(batch, "spf")?;
    let dmarc = struct_col(batch, "dmarc")?;
    let sts = struct_col(batch, "mta_sts")?;
    let tlsrpt = struct_col(batch, "tlsrpt")?;
    let dkim = list("dkim", col("dkim"))?;
    let dkim_item = list_struct(dkim, "dkim.item")?;
    // A row has policy values when the stage ran for it: one of its
    // structs is there (a scan without `--policy` leaves them all null).
    let policy_ran = |i: usize| [spf, dmarc, sts, tlsrpt].iter().any(|s| s.is_some_and(|s| s.is_valid(i)));
    let fields = [
        (spf, child(spf, "spf", "status")?),
        (spf, child(spf, "spf", "all")?),
        (dmarc, child(dmarc, "dmarc", "status")?),
        (dmarc, child(dmarc, "dmarc", "p")?),
        (sts, child(sts, "mta_sts", "status")?),
        (sts, child(sts, "mta_sts", "mode")?),
        (tlsrpt, child(tlsrpt, "tlsrpt", "status")?),
    ];
    let dkim_selector = child(dkim_item, "dkim", "selector")?;
    let dkim_status = child(dkim_item, "dkim", "status")?;

    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let key = text(domain, i).or_else(|| text(input, i)).unwrap_or_default();
        let mut exchanges = Vec::new();
        let mut dane = false;
        if let Some(l) = mx.filter(|l| l.is_valid(i)) {
            for j in row_range(l, i) {
                if let Some(name) = text(exchange, j) {
                    exchanges.push(name.into());
                }
                dane |= tlsa.is_some_and(|t| t.is_valid(j) && !row_range(t, j).is_empty());
            }
        }
        let mut codes_here = Vec::new();
        if let Some(l) = findings.filter(|l| l.is_valid(i)) {
            codes_here.extend(row_range(l, i).filter_map(|j| text(codes, j)).map(Box::from));
        }
        let policy = policy_ran(i).then(|| {
            let mut values: [Option<Box<str>>; POLICY_FIELDS.len()] = Default::default();
            for (slot, (parent, f)) in values.iter_mut().zip(&fields) {
                *slot = field(*parent, *f, i).map(Box::from);
            }
            values[7] = Some(if dane { "tlsa" } else { "none" }.into());
            // Each probed selector with a key record, as `selector:status`.
            let mut found: Vec<String> = Vec::new();
            if let Some(l) = dkim.filter(|l| l.is_valid(i)) {
                found.extend(row_range(l, i).filter_map(|j| {
                    text(dkim_selector, j).map(|sel| format!("{sel}:{}", text(dkim_status, j).unwrap_or("?")))
                }));
            }
            found.sort_unstable();
            found.dedup();
            values[8] = Some(if found.is_empty() { "none".into() } else { found.join(" ").into() });
            Box::new(values)
        });
        out.push(Snapshot {
            key: key.into(),
            rank: rank.as_ref().and_then(|r| r.get(i)).and_then(|r| u32::try_from(r).ok()),
            status: intern_status(text(Some(status), i).unwrap_or("null")),
            exchanges: sorted_distinct(exchanges),
            provider: text(provider, i).map(Box::from),
            findings: sorted_distinct(codes_here),
            policy,
        });
    }
    Ok(out)
}

// The spill format: a frame is a u32 length, then the fields in order;
// a string is a u32 length and its bytes, an absent one u32::MAX.

const ABSENT: u32 = u32::MAX;

fn put_str(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
        None => buf.extend_from_slice(&ABSENT.to_le_bytes()),
    }
}

fn put_list(buf: &mut Vec<u8>, items: &[Box<str>]) {
    buf.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for item in items {
        put_str(buf, Some(item));
    }
}

/// Append `snap` to `out` as one frame.
pub(super) fn write_frame(out: &mut impl Write, snap: &Snapshot, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    buf.extend_from_slice(&[0; 4]);
    put_str(buf, Some(&snap.key));
    buf.extend_from_slice(&snap.rank.map_or(ABSENT, |r| r).to_le_bytes());
    put_str(buf, Some(&snap.status));
    put_list(buf, &snap.exchanges);
    put_str(buf, snap.provider.as_deref());
    put_list(buf, &snap.findings);
    match &snap.policy {
        None => buf.push(0),
        Some(values) => {
            buf.push(1);
            for v in values.iter() {
                put_str(buf, v.as_deref());
            }
        }
    }
    let len = (buf.len() - 4) as u32;
    buf[..4].copy_from_slice(&len.to_le_bytes());
    out.write_all(buf)
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u32(&mut self) -> io::Result<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>().ok_or_else(corrupt)?;
        self.0 = rest;
        Ok(u32::from_le_bytes(*head))
    }

    fn str(&mut self) -> io::Result<Option<Box<str>>> {
        let len = self.u32()?;
        if len == ABSENT {
            return Ok(None);
        }
        let (s, rest) = self.0.split_at_checked(len as usize).ok_or_else(corrupt)?;
        self.0 = rest;
        std::str::from_utf8(s).map(|s| Some(s.into())).map_err(|_| corrupt())
    }

    fn list(&mut self) -> io::Result<Vec<Box<str>>> {
        let n = self.u32()?;
        (0..n).map(|_| self.str()?.ok_or_else(corrupt)).collect()
    }
}

fn corrupt() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "damaged spill frame")
}

/// Read the next frame, `None` at the end of `input`.
pub(super) fn read_frame(input: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Option<Snapshot>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    buf.resize(u32::from_le_bytes(len) as usize, 0);
    input.read_exact(buf)?;
    let mut c = Cursor(buf);
    let key = c.str()?.ok_or_else(corrupt)?;
    let rank = Some(c.u32()?).filter(|&r| r != ABSENT);
    let status = intern_status(&c.str()?.ok_or_else(corrupt)?);
    let exchanges = c.list()?;
    let provider = c.str()?;
    let findings = c.list()?;
    let (&flag, rest) = c.0.split_first().ok_or_else(corrupt)?;
    c.0 = rest;
    let policy = if flag == 1 {
        let mut values: [Option<Box<str>>; POLICY_FIELDS.len()] = Default::default();
        for v in &mut values {
            *v = c.str()?;
        }
        Some(Box::new(values))
    } else {
        None
    };
    Ok(Some(Snapshot { key, rank, status, exchanges, provider, findings, policy }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(policy: bool) -> Snapshot {
        Snapshot {
            key: "example.com".into(),
            rank: Some(7),
            status: "ok".into(),
            exchanges: vec!["mx1.example.net".into(), "mx2.example.net".into()],
            provider: None,
            findings: vec!["MX_CNAME".into()],
            policy: policy.then(|| {
                let mut v: [Option<Box<str>>; POLICY_FIELDS.len()] = Default::default();
                v[0] = Some("valid".into());
                v[3] = Some("reject".into());
                Box::new(v)
            }),
        }
    }

    #[test]
    fn frames_round_trip() {
        let mut file = Vec::new();
        let mut buf = Vec::new();
        let snaps = [sample(true), sample(false), Snapshot { key: "x".into(), ..Default::default() }];
        for s in &snaps {
            write_frame(&mut file, s, &mut buf).unwrap();
        }
        let mut input = &file[..];
        for s in &snaps {
            assert_eq!(read_frame(&mut input, &mut buf).unwrap().as_ref(), Some(s));
        }
        assert_eq!(read_frame(&mut input, &mut buf).unwrap(), None);
    }

    #[test]
    fn a_cut_frame_is_an_error_not_a_panic() {
        let mut file = Vec::new();
        let mut buf = Vec::new();
        write_frame(&mut file, &sample(true), &mut buf).unwrap();
        for cut in 1..file.len() {
            let mut damaged = file[..cut].to_vec();
            // Keep the length honest so the cursor, not read_exact, meets the cut.
            if cut > 4 {
                let len = (cut - 4) as u32;
                damaged[..4].copy_from_slice(&len.to_le_bytes());
                assert!(read_frame(&mut &damaged[..], &mut buf).is_err(), "cut at {cut}");
            }
        }
    }
}
