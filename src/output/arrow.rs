//! The `domains` table as Arrow: the schema of the output contract and the
//! conversion of rows into record batches.

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{
    BooleanBuilder, ListBuilder, StringBuilder, TimestampMillisecondBuilder, UInt8Builder, UInt16Builder,
    UInt32Builder,
};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use crate::record::{DomainRecord, Ipv4Text, Ipv6Text};

/// A list of strings, as every list column of the contract is typed.
pub(crate) fn string_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

fn mx_fields() -> Fields {
    Fields::from(vec![
        Field::new("preference", DataType::UInt16, false),
        Field::new("exchange", DataType::Utf8, false),
        Field::new("tier", DataType::UInt8, false),
        Field::new("ipv4", string_list(), false),
        Field::new("ipv6", string_list(), false),
        Field::new("cname", DataType::Utf8, true),
        Field::new("address_status", DataType::Utf8, false),
        Field::new("provider", DataType::Utf8, true),
        Field::new("category", DataType::Utf8, true),
        Field::new("org_domain", DataType::Utf8, true),
        Field::new("tlsa", tlsa_list(), false),
        Field::new("tlsa_authenticated", DataType::Boolean, true),
    ])
}

fn tlsa_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Struct(super::policy::tlsa_fields()), true)))
}

/// The output schema (README, "Output columns").
pub static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut columns = vec![
        Field::new("domain", DataType::Utf8, true),
        Field::new("input", DataType::Utf8, false),
        Field::new("rank", DataType::UInt32, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("domain_cname", DataType::Utf8, true),
        Field::new("mx_ttl", DataType::UInt32, true),
        Field::new("null_mx", DataType::Boolean, true),
        Field::new("implicit_mx", DataType::Boolean, true),
        Field::new(
            "mx",
            DataType::List(Arc::new(Field::new("item", DataType::Struct(mx_fields()), true))),
            false,
        ),
        Field::new("findings", string_list(), false),
        Field::new("queries", DataType::UInt16, false),
        Field::new("elapsed_ms", DataType::UInt32, false),
        Field::new("resolver", DataType::Utf8, true),
        Field::new("scanned_at", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("provider", DataType::Utf8, true),
        Field::new("provider_category", DataType::Utf8, true),
        Field::new("providers", string_list(), false),
        Field::new("self_hosted", DataType::Boolean, true),
    ];
    columns.extend(super::policy::fields());
    Arc::new(Schema::new(columns))
});

/// Rows in, one record batch out.
pub fn to_batch(rows: &[DomainRecord]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let mut domain = StringBuilder::with_capacity(n, n * 16);
    let mut input = StringBuilder::with_capacity(n, n * 16);
    let mut rank = UInt32Builder::with_capacity(n);
    let mut status = StringBuilder::with_capacity(n, n * 4);
    let mut error = StringBuilder::with_capacity(n, 0);
    let mut domain_cname = StringBuilder::with_capacity(n, 0);
    let mut mx_ttl = UInt32Builder::with_capacity(n);
    let mut null_mx = BooleanBuilder::with_capacity(n);
    let mut implicit_mx = BooleanBuilder::with_capacity(n);
    let mut findings = ListBuilder::with_capacity(StringBuilder::new(), n);
    let mut queries = UInt16Builder::with_capacity(n);
    let mut elapsed = UInt32Builder::with_capacity(n);
    let mut resolver = StringBuilder::with_capacity(n, n * 16);
    let mut scanned_at = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut provider = StringBuilder::with_capacity(n, n * 8);
    let mut provider_category = StringBuilder::with_capacity(n, n * 8);
    let mut providers = ListBuilder::with_capacity(StringBuilder::new(), n);
    let mut self_hosted = BooleanBuilder::with_capacity(n);

    // The mx column: flat child arrays plus list offsets, sized up front
    // (growing them entry by entry reallocated and copied each one).
    let entries: usize = rows.iter().map(|r| r.mx.len()).sum();
    let mut mx_offsets = Vec::with_capacity(n + 1);
    mx_offsets.push(0i32);
    let mut preference = UInt16Builder::with_capacity(entries);
    let mut exchange = StringBuilder::with_capacity(entries, entries * 24);
    let mut tier = UInt8Builder::with_capacity(entries);
    let mut ipv4 = ListBuilder::with_capacity(StringBuilder::new(), entries);
    let mut ipv6 = ListBuilder::with_capacity(StringBuilder::new(), entries);
    let mut cname = StringBuilder::with_capacity(entries, 0);
    let mut address_status = StringBuilder::with_capacity(entries, entries * 4);
    let mut mx_provider = StringBuilder::with_capacity(entries, entries * 8);
    let mut mx_category = StringBuilder::with_capacity(entries, entries * 8);
    let mut org_domain = StringBuilder::with_capacity(entries, entries * 16);
    let mut tlsa_offsets = Vec::with_capacity(entries + 1);
    tlsa_offsets.push(0i32);
    let [mut tlsa_usage, mut tlsa_selector, mut tlsa_matching] = std::array::from_fn(|_| UInt8Builder::new());
    let mut tlsa_data = StringBuilder::new();
    let mut tlsa_authenticated = BooleanBuilder::with_capacity(entries);

    for r in rows {
        domain.append_option(r.domain.as_deref());
        input.append_value(&r.input);
        rank.append_option(r.rank);
        status.append_value(r.status.as_str());
        error.append_option(r.error.as_deref());
        domain_cname.append_option(r.domain_cname.as_deref());
        mx_ttl.append_option(r.mx_ttl);
        null_mx.append_option(r.null_mx);
        implicit_mx.append_option(r.implicit_mx);
        for f in &r.findings {
            findings.values().append_value(f);
        }
        findings.append(true);
        queries.append_value(r.queries);
        elapsed.append_value(r.elapsed_ms);
        resolver.append_option(r.resolver.as_deref());
        scanned_at.append_value(r.scanned_at_ms);
        provider.append_option(r.provider.as_deref());
        provider_category.append_option(r.provider_category.map(|c| c.as_str()));
        for p in &r.providers {
            providers.values().append_value(p);
        }
        providers.append(true);
        self_hosted.append_option(r.self_hosted);

        for m in &r.mx {
            preference.append_value(m.preference);
            exchange.append_value(&m.exchange);
            tier.append_value(m.tier);
            for a in &m.ipv4 {
                ipv4.values().append_value(Ipv4Text::new(*a).as_str());
            }
            ipv4.append(true);
            for a in &m.ipv6 {
                ipv6.values().append_value(Ipv6Text::new(*a).as_str());
            }
            ipv6.append(true);
            cname.append_option(m.cname.as_deref());
            address_status.append_value(m.address_status.as_str());
            mx_provider.append_option(m.provider.as_deref());
            mx_category.append_option(m.category.map(|c| c.as_str()));
            org_domain.append_option(m.org_domain.as_deref());
            for t in &m.tlsa {
                tlsa_usage.append_value(t.usage);
                tlsa_selector.append_value(t.selector);
                tlsa_matching.append_value(t.matching);
                tlsa_data.append_value(t.hex());
            }
            let last = *tlsa_offsets.last().expect("starts with 0");
            tlsa_offsets.push(last + m.tlsa.len() as i32);
            tlsa_authenticated.append_option(m.tlsa_authenticated);
        }
        let last = *mx_offsets.last().expect("starts with 0");
        mx_offsets.push(last + r.mx.len() as i32);
    }

    let tlsa_items = StructArray::try_new(
        super::policy::tlsa_fields(),
        vec![
            Arc::new(tlsa_usage.finish()) as ArrayRef,
            Arc::new(tlsa_selector.finish()),
            Arc::new(tlsa_matching.finish()),
            Arc::new(tlsa_data.finish()),
        ],
        None,
    )?;
    let DataType::List(tlsa_item) = tlsa_list() else { unreachable!("a list type") };
    let tlsa = ListArray::try_new(
        tlsa_item,
        OffsetBuffer::new(ScalarBuffer::from(tlsa_offsets)),
        Arc::new(tlsa_items),
        None,
    )?;
    let mx_struct = StructArray::try_new(
        mx_fields(),
        vec![
            Arc::new(preference.finish()) as ArrayRef,
            Arc::new(exchange.finish()),
            Arc::new(tier.finish()),
            Arc::new(ipv4.finish()),
            Arc::new(ipv6.finish()),
            Arc::new(cname.finish()),
            Arc::new(address_status.finish()),
            Arc::new(mx_provider.finish()),
            Arc::new(mx_category.finish()),
            Arc::new(org_domain.finish()),
            Arc::new(tlsa),
            Arc::new(tlsa_authenticated.finish()),
        ],
        None,
    )?;
    let mx = ListArray::try_new(
        Arc::new(Field::new("item", DataType::Struct(mx_fields()), true)),
        OffsetBuffer::new(ScalarBuffer::from(mx_offsets)),
        Arc::new(mx_struct),
        None,
    )?;

    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(domain.finish()),
        Arc::new(input.finish()),
        Arc::new(rank.finish()),
        Arc::new(status.finish()),
        Arc::new(error.finish()),
        Arc::new(domain_cname.finish()),
        Arc::new(mx_ttl.finish()),
        Arc::new(null_mx.finish()),
        Arc::new(implicit_mx.finish()),
        Arc::new(mx),
        Arc::new(findings.finish()),
        Arc::new(queries.finish()),
        Arc::new(elapsed.finish()),
        Arc::new(resolver.finish()),
        Arc::new(scanned_at.finish()),
        Arc::new(provider.finish()),
        Arc::new(provider_category.finish()),
        Arc::new(providers.finish()),
        Arc::new(self_hosted.finish()),
    ];
    columns.extend(super::policy::columns(rows)?);
    RecordBatch::try_new(SCHEMA.clone(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The contract's spelling of a type (README, docs/output.md).
    fn contract_type(dt: &DataType) -> String {
        match dt {
            DataType::Utf8 => "utf8".into(),
            DataType::Boolean => "bool".into(),
            DataType::UInt8 => "uint8".into(),
            DataType::UInt16 => "uint16".into(),
            DataType::UInt32 => "uint32".into(),
            DataType::Int32 => "int32".into(),
            DataType::Float32 => "float32".into(),
            DataType::Struct(_) => "struct".into(),
            DataType::Timestamp(TimeUnit::Millisecond, Some(tz)) => format!("timestamp(ms, {tz})"),
            DataType::List(item) if matches!(item.data_type(), DataType::Struct(_)) => "list<struct>".into(),
            DataType::List(item) => format!("list<{}>", contract_type(item.data_type())),
            other => panic!("no contract spelling for {other}"),
        }
    }

    /// name → (type, nullable) of the schema, struct fields as `mx.field`.
    fn schema_columns() -> BTreeMap<String, (String, bool)> {
        let mut out = BTreeMap::new();
        for field in SCHEMA.fields() {
            out.insert(field.name().clone(), (contract_type(field.data_type()), field.is_nullable()));
            let children = match field.data_type() {
                DataType::Struct(children) => Some(children),
                DataType::List(item) => match item.data_type() {
                    DataType::Struct(children) => Some(children),
                    _ => None,
                },
                _ => None,
            };
            if let Some(children) = children {
                for child in children {
                    let name = format!("{}.{}", field.name(), child.name());
                    out.insert(name, (contract_type(child.data_type()), child.is_nullable()));
                }
            }
        }
        out
    }

    /// The rows of every `| column | type | meaning |` table in `text`:
    /// name → (type, nullable). A type cell `T, null…` is a nullable T.
    fn documented_columns(text: &str) -> BTreeMap<String, (String, bool)> {
        let mut out = BTreeMap::new();
        let mut in_table = false;
        for line in text.lines() {
            if line.starts_with("| column | type |") {
                in_table = true;
                continue;
            }
            if !line.starts_with('|') {
                in_table = false;
            }
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if !in_table || cells.len() < 4 || cells[1].starts_with('-') {
                continue;
            }
            let name = cells[1].trim_matches('`').to_string();
            let (ty, nullable) = match cells[2].split_once(", null") {
                Some((ty, _)) => (ty.to_string(), true),
                None => (cells[2].to_string(), false),
            };
            assert!(out.insert(name.clone(), (ty, nullable)).is_none(), "{name} documented twice");
        }
        out
    }

    /// The schema above is the one definition of the columns; README's
    /// table and docs/output.md (up to "Planned") must say the same names,
    /// types and nullability, or this fails (whichever side drifted).
    #[test]
    fn documented_columns_match_the_schema() {
        let schema = schema_columns();
        assert!(schema.len() > 25, "{schema:?}");
        let readme = crate::repo_file("README.md");
        let start = readme.find("## Output columns").expect("README has an Output columns section");
        let end = readme[start..].find("### Findings").map_or(readme.len(), |i| start + i);
        let contract = crate::repo_file("docs/output.md");
        let planned = contract.find("## Planned").unwrap_or(contract.len());
        for (doc, text) in [("README.md", &readme[start..end]), ("docs/output.md", &contract[..planned])] {
            let documented = documented_columns(text);
            for (name, want) in &schema {
                assert_eq!(documented.get(name), Some(want), "{doc}: column {name} (type, nullable)");
            }
            for name in documented.keys() {
                assert!(schema.contains_key(name), "{doc} documents {name}, which the schema lacks");
            }
        }
    }

    #[test]
    fn the_parser_sees_types_and_nulls() {
        let table = "| column | type | meaning |\n|---|---|---|\n| `a` | timestamp(ms, UTC) | x |\n\
                     | `b` | bool, null | y |\n| `c` | utf8, null if invalid | z |\n\nafter\n| `d` | bool | no |\n";
        let got = documented_columns(table);
        assert_eq!(got["a"], ("timestamp(ms, UTC)".to_string(), false));
        assert_eq!(got["b"], ("bool".to_string(), true));
        assert_eq!(got["c"], ("utf8".to_string(), true));
        assert!(!got.contains_key("d"), "rows after the table are not columns");
    }
}
