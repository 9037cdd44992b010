//! The policy stage's columns (`spf`, `dmarc`, `mta_sts`, `tlsrpt`, `dkim`,
//! `mx_authenticated`; `mx.tlsa` lives with the `mx` column): their Arrow
//! fields, their builders and their JSON. A struct is null when the stage
//! did not run for the row; its children then hold placeholder values that
//! no reader sees (the struct's null mask hides them).

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{
    BooleanBuilder, Float32Builder, Int32Builder, ListBuilder, StringBuilder, TimestampMillisecondBuilder,
    UInt8Builder, UInt16Builder, UInt32Builder,
};
use arrow_array::{ArrayRef, BooleanArray, ListArray, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, Fields, TimeUnit};
use serde_json::{Value, json};

use super::arrow::string_list;
use crate::policy::dkim::DkimKeyReport;
use crate::policy::report::{PolicyReport, PolicyStage};
use crate::record::DomainRecord;

fn utc_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn spf_fields() -> Fields {
    Fields::from(vec![
        Field::new("status", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, true),
        Field::new("all", DataType::Utf8, true),
        Field::new("lookups", DataType::UInt8, false),
        Field::new("void_lookups", DataType::UInt8, false),
        Field::new("includes", string_list(), false),
        Field::new("errors", string_list(), false),
    ])
}

fn dmarc_fields() -> Fields {
    Fields::from(vec![
        Field::new("status", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, true),
        Field::new("found_at", DataType::Utf8, true),
        Field::new("p", DataType::Utf8, true),
        Field::new("sp", DataType::Utf8, true),
        Field::new("np", DataType::Utf8, true),
        Field::new("pct", DataType::UInt8, true),
        Field::new("adkim", DataType::Utf8, true),
        Field::new("aspf", DataType::Utf8, true),
        Field::new("t", DataType::Boolean, true),
        Field::new("psd", DataType::Utf8, true),
        Field::new("rua", string_list(), false),
        Field::new("ruf", string_list(), false),
        Field::new("rua_unauthorized", string_list(), false),
        Field::new("errors", string_list(), false),
    ])
}

fn mta_sts_fields() -> Fields {
    Fields::from(vec![
        Field::new("status", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, true),
        Field::new("id", DataType::Utf8, true),
        Field::new("mode", DataType::Utf8, true),
        Field::new("max_age", DataType::UInt32, true),
        Field::new("mx_patterns", string_list(), false),
        Field::new("fetch_error", DataType::Utf8, true),
        Field::new("cert_not_after", utc_ms(), true),
        Field::new("cert_days_left", DataType::Int32, true),
        Field::new("mx_uncovered", string_list(), false),
        Field::new("patterns_unused", string_list(), false),
        Field::new("mx_coverage", DataType::Float32, true),
    ])
}

fn tlsrpt_fields() -> Fields {
    Fields::from(vec![
        Field::new("status", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, true),
        Field::new("rua", string_list(), false),
        Field::new("errors", string_list(), false),
    ])
}

fn dkim_fields() -> Fields {
    Fields::from(vec![
        Field::new("selector", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("key_type", DataType::Utf8, true),
        Field::new("key_bits", DataType::UInt16, true),
        Field::new("testing", DataType::Boolean, false),
    ])
}

/// The fields of an `mx.tlsa` element.
pub(super) fn tlsa_fields() -> Fields {
    Fields::from(vec![
        Field::new("usage", DataType::UInt8, false),
        Field::new("selector", DataType::UInt8, false),
        Field::new("matching", DataType::UInt8, false),
        Field::new("data", DataType::Utf8, false),
    ])
}

fn dkim_item() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(dkim_fields()), true))
}

/// The policy columns, in schema order, after the MX-stage columns.
pub(super) fn fields() -> Vec<Field> {
    vec![
        Field::new("spf", DataType::Struct(spf_fields()), true),
        Field::new("dmarc", DataType::Struct(dmarc_fields()), true),
        Field::new("mta_sts", DataType::Struct(mta_sts_fields()), true),
        Field::new("tlsrpt", DataType::Struct(tlsrpt_fields()), true),
        Field::new("dkim", DataType::List(dkim_item()), true),
        Field::new("mx_authenticated", DataType::Boolean, true),
    ]
}

/// The report of a row, when the stage ran and was analysed.
fn report(r: &DomainRecord) -> Option<&PolicyReport> {
    match &r.policy {
        Some(PolicyStage::Report(report)) => Some(report),
        _ => None,
    }
}

fn append_list<'a>(list: &mut ListBuilder<StringBuilder>, items: impl IntoIterator<Item = &'a String>) {
    for item in items {
        list.values().append_value(item);
    }
    list.append(true);
}

fn struct_array(fields: Fields, children: Vec<ArrayRef>, valid: Vec<bool>) -> Result<ArrayRef, ArrowError> {
    Ok(Arc::new(StructArray::try_new(fields, children, Some(NullBuffer::from(valid)))?))
}

/// Rows of the stage-absent columns built once ([`ABSENT`]): a batch's
/// rows at most ([`super::BATCH`]).
const ABSENT_ROWS: usize = super::BATCH;

/// The policy columns of [`ABSENT_ROWS`] rows for which the stage did not
/// run, built once by the same code as any batch's: a scan without
/// `--policy` takes a slice of them (zero-copy) instead of appending the
/// same placeholders to some forty builders row by row.
static ABSENT: LazyLock<Vec<ArrayRef>> = LazyLock::new(|| {
    build(&vec![None; ABSENT_ROWS], &vec![None; ABSENT_ROWS])
        .expect("the placeholder columns are well formed")
});

/// Builds the policy columns of a batch.
pub(super) fn columns(rows: &[DomainRecord]) -> Result<Vec<ArrayRef>, ArrowError> {
    let reports: Vec<Option<&PolicyReport>> = rows.iter().map(report).collect();
    let authenticated: Vec<Option<bool>> = rows.iter().map(|r| r.mx_authenticated).collect();
    if rows.len() <= ABSENT_ROWS
        && reports.iter().all(Option::is_none)
        && authenticated.iter().all(Option::is_none)
    {
        return Ok(ABSENT.iter().map(|column| column.slice(0, rows.len())).collect());
    }
    build(&reports, &authenticated)
}

fn build(
    reports: &[Option<&PolicyReport>],
    authenticated: &[Option<bool>],
) -> Result<Vec<ArrayRef>, ArrowError> {
    let valid: Vec<bool> = reports.iter().map(Option::is_some).collect();
    let mut out = vec![
        spf(reports, valid.clone())?,
        dmarc(reports, valid.clone())?,
        mta_sts(reports, valid.clone())?,
        tlsrpt(reports, valid.clone())?,
        dkim(reports)?,
    ];
    out.push(Arc::new(BooleanArray::from(authenticated.to_vec())));
    Ok(out)
}

fn spf(reports: &[Option<&PolicyReport>], valid: Vec<bool>) -> Result<ArrayRef, ArrowError> {
    let mut status = StringBuilder::new();
    let mut record = StringBuilder::new();
    let mut all = StringBuilder::new();
    let mut lookups = UInt8Builder::new();
    let mut void_lookups = UInt8Builder::new();
    let mut includes = ListBuilder::new(StringBuilder::new());
    let mut errors = ListBuilder::new(StringBuilder::new());
    for report in reports {
        let spf = report.map(|r| &r.spf);
        status.append_value(spf.map_or("", |s| s.status.as_str()));
        record.append_option(spf.and_then(|s| s.record.as_deref()));
        all.append_option(spf.and_then(|s| s.all).map(String::from));
        lookups.append_value(spf.map_or(0, |s| s.lookups));
        void_lookups.append_value(spf.map_or(0, |s| s.void_lookups));
        append_list(&mut includes, spf.into_iter().flat_map(|s| &s.includes));
        append_list(&mut errors, spf.into_iter().flat_map(|s| &s.errors));
    }
    let children: Vec<ArrayRef> = vec![
        Arc::new(status.finish()),
        Arc::new(record.finish()),
        Arc::new(all.finish()),
        Arc::new(lookups.finish()),
        Arc::new(void_lookups.finish()),
        Arc::new(includes.finish()),
        Arc::new(errors.finish()),
    ];
    struct_array(spf_fields(), children, valid)
}

fn dmarc(reports: &[Option<&PolicyReport>], valid: Vec<bool>) -> Result<ArrayRef, ArrowError> {
    let mut status = StringBuilder::new();
    let mut record = StringBuilder::new();
    let mut found_at = StringBuilder::new();
    let [mut p, mut sp, mut np] = [StringBuilder::new(), StringBuilder::new(), StringBuilder::new()];
    let mut pct = UInt8Builder::new();
    let [mut adkim, mut aspf] = [StringBuilder::new(), StringBuilder::new()];
    let mut t = BooleanBuilder::new();
    let mut psd = StringBuilder::new();
    let [mut rua, mut ruf, mut unauthorized, mut errors] =
        std::array::from_fn(|_| ListBuilder::new(StringBuilder::new()));
    for report in reports {
        let d = report.map(|r| &r.dmarc);
        status.append_value(d.map_or("", |d| d.status.as_str()));
        record.append_option(d.and_then(|d| d.record.as_deref()));
        found_at.append_option(d.and_then(|d| d.found_at.as_deref()));
        p.append_option(d.and_then(|d| d.p).map(|v| v.as_str()));
        sp.append_option(d.and_then(|d| d.sp).map(|v| v.as_str()));
        np.append_option(d.and_then(|d| d.np).map(|v| v.as_str()));
        pct.append_option(d.and_then(|d| d.pct));
        adkim.append_option(d.and_then(|d| d.adkim).map(|v| v.as_str()));
        aspf.append_option(d.and_then(|d| d.aspf).map(|v| v.as_str()));
        t.append_option(d.and_then(|d| d.t));
        psd.append_option(d.and_then(|d| d.psd).map(|v| v.as_str()));
        append_list(&mut rua, d.into_iter().flat_map(|d| &d.rua));
        append_list(&mut ruf, d.into_iter().flat_map(|d| &d.ruf));
        append_list(&mut unauthorized, d.into_iter().flat_map(|d| &d.rua_unauthorized));
        append_list(&mut errors, d.into_iter().flat_map(|d| &d.errors));
    }
    let children: Vec<ArrayRef> = vec![
        Arc::new(status.finish()),
        Arc::new(record.finish()),
        Arc::new(found_at.finish()),
        Arc::new(p.finish()),
        Arc::new(sp.finish()),
        Arc::new(np.finish()),
        Arc::new(pct.finish()),
        Arc::new(adkim.finish()),
        Arc::new(aspf.finish()),
        Arc::new(t.finish()),
        Arc::new(psd.finish()),
        Arc::new(rua.finish()),
        Arc::new(ruf.finish()),
        Arc::new(unauthorized.finish()),
        Arc::new(errors.finish()),
    ];
    struct_array(dmarc_fields(), children, valid)
}

fn mta_sts(reports: &[Option<&PolicyReport>], valid: Vec<bool>) -> Result<ArrayRef, ArrowError> {
    let mut status = StringBuilder::new();
    let [mut record, mut id, mut mode, mut fetch_error] = std::array::from_fn(|_| StringBuilder::new());
    let mut max_age = UInt32Builder::new();
    let [mut patterns, mut uncovered, mut unused] =
        std::array::from_fn(|_| ListBuilder::new(StringBuilder::new()));
    let mut not_after = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut days_left = Int32Builder::new();
    let mut coverage = Float32Builder::new();
    for report in reports {
        let m = report.map(|r| &r.mta_sts);
        status.append_value(m.map_or("", |m| m.status.as_str()));
        record.append_option(m.and_then(|m| m.record.as_deref()));
        id.append_option(m.and_then(|m| m.id.as_deref()));
        mode.append_option(m.and_then(|m| m.mode).map(|v| v.as_str()));
        max_age.append_option(m.and_then(|m| m.max_age));
        append_list(&mut patterns, m.into_iter().flat_map(|m| &m.mx_patterns));
        fetch_error.append_option(m.and_then(|m| m.fetch_error.as_deref()));
        not_after.append_option(m.and_then(|m| m.cert_not_after));
        days_left.append_option(m.and_then(|m| m.cert_days_left));
        append_list(&mut uncovered, m.into_iter().flat_map(|m| &m.mx_uncovered));
        append_list(&mut unused, m.into_iter().flat_map(|m| &m.patterns_unused));
        coverage.append_option(m.and_then(|m| m.mx_coverage));
    }
    let children: Vec<ArrayRef> = vec![
        Arc::new(status.finish()),
        Arc::new(record.finish()),
        Arc::new(id.finish()),
        Arc::new(mode.finish()),
        Arc::new(max_age.finish()),
        Arc::new(patterns.finish()),
        Arc::new(fetch_error.finish()),
        Arc::new(not_after.finish()),
        Arc::new(days_left.finish()),
        Arc::new(uncovered.finish()),
        Arc::new(unused.finish()),
        Arc::new(coverage.finish()),
    ];
    struct_array(mta_sts_fields(), children, valid)
}

fn tlsrpt(reports: &[Option<&PolicyReport>], valid: Vec<bool>) -> Result<ArrayRef, ArrowError> {
    let mut status = StringBuilder::new();
    let mut record = StringBuilder::new();
    let [mut rua, mut errors] = std::array::from_fn(|_| ListBuilder::new(StringBuilder::new()));
    for report in reports {
        let t = report.map(|r| &r.tlsrpt);
        status.append_value(t.map_or("", |t| t.status.as_str()));
        record.append_option(t.and_then(|t| t.record.as_deref()));
        append_list(&mut rua, t.into_iter().flat_map(|t| &t.rua));
        append_list(&mut errors, t.into_iter().flat_map(|t| &t.errors));
    }
    let children: Vec<ArrayRef> = vec![
        Arc::new(status.finish()),
        Arc::new(record.finish()),
        Arc::new(rua.finish()),
        Arc::new(errors.finish()),
    ];
    struct_array(tlsrpt_fields(), children, valid)
}

fn dkim(reports: &[Option<&PolicyReport>]) -> Result<ArrayRef, ArrowError> {
    let mut offsets = vec![0i32];
    let mut selector = StringBuilder::new();
    let mut status = StringBuilder::new();
    let mut key_type = StringBuilder::new();
    let mut key_bits = UInt16Builder::new();
    let mut testing = BooleanBuilder::new();
    let keys: Vec<&DkimKeyReport> = reports.iter().flatten().flat_map(|r| &r.dkim).collect();
    for key in &keys {
        selector.append_value(&key.selector);
        status.append_value(key.status.as_str());
        key_type.append_option(key.key_type.as_deref());
        key_bits.append_option(key.key_bits);
        testing.append_value(key.testing);
    }
    for report in reports {
        let last = *offsets.last().expect("starts with 0");
        offsets.push(last + report.map_or(0, |r| r.dkim.len() as i32));
    }
    let items = StructArray::try_new(
        dkim_fields(),
        vec![
            Arc::new(selector.finish()) as ArrayRef,
            Arc::new(status.finish()),
            Arc::new(key_type.finish()),
            Arc::new(key_bits.finish()),
            Arc::new(testing.finish()),
        ],
        None,
    )?;
    let valid = NullBuffer::from(reports.iter().map(Option::is_some).collect::<Vec<bool>>());
    Ok(Arc::new(ListArray::try_new(
        dkim_item(),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Arc::new(items),
        Some(valid),
    )?))
}

/// The policy columns of a row as JSON object members (null when the
/// stage did not run).
pub(super) fn json_members(r: &DomainRecord) -> [(&'static str, Value); 6] {
    let report = report(r);
    [
        ("spf", report.map_or(Value::Null, spf_json)),
        ("dmarc", report.map_or(Value::Null, dmarc_json)),
        ("mta_sts", report.map_or(Value::Null, mta_sts_json)),
        ("tlsrpt", report.map_or(Value::Null, tlsrpt_json)),
        ("dkim", report.map_or(Value::Null, |p| p.dkim.iter().map(dkim_json).collect())),
        ("mx_authenticated", json!(r.mx_authenticated)),
    ]
}

fn spf_json(p: &PolicyReport) -> Value {
    let s = &p.spf;
    json!({
        "status": s.status.as_str(),
        "record": s.record,
        "all": s.all.map(String::from),
        "lookups": s.lookups,
        "void_lookups": s.void_lookups,
        "includes": s.includes,
        "errors": s.errors,
    })
}

fn dmarc_json(p: &PolicyReport) -> Value {
    let d = &p.dmarc;
    json!({
        "status": d.status.as_str(),
        "record": d.record,
        "found_at": d.found_at,
        "p": d.p.map(|v| v.as_str()),
        "sp": d.sp.map(|v| v.as_str()),
        "np": d.np.map(|v| v.as_str()),
        "pct": d.pct,
        "adkim": d.adkim.map(|v| v.as_str()),
        "aspf": d.aspf.map(|v| v.as_str()),
        "t": d.t,
        "psd": d.psd.map(|v| v.as_str()),
        "rua": d.rua,
        "ruf": d.ruf,
        "rua_unauthorized": d.rua_unauthorized,
        "errors": d.errors,
    })
}

fn mta_sts_json(p: &PolicyReport) -> Value {
    let m = &p.mta_sts;
    json!({
        "status": m.status.as_str(),
        "record": m.record,
        "id": m.id,
        "mode": m.mode.map(|v| v.as_str()),
        "max_age": m.max_age,
        "mx_patterns": m.mx_patterns,
        "fetch_error": m.fetch_error,
        "cert_not_after": m.cert_not_after.map(super::jsonl::rfc3339_ms),
        "cert_days_left": m.cert_days_left,
        "mx_uncovered": m.mx_uncovered,
        "patterns_unused": m.patterns_unused,
        "mx_coverage": m.mx_coverage,
    })
}

fn tlsrpt_json(p: &PolicyReport) -> Value {
    let t = &p.tlsrpt;
    json!({ "status": t.status.as_str(), "record": t.record, "rua": t.rua, "errors": t.errors })
}

fn dkim_json(k: &DkimKeyReport) -> Value {
    json!({
        "selector": k.selector,
        "status": k.status.as_str(),
        "key_type": k.key_type,
        "key_bits": k.key_bits,
        "testing": k.testing,
    })
}
