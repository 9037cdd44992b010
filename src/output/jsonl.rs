//! JSON lines with the same fields as the Parquet schema.

use std::fs::File;
use std::io::{BufWriter, Write};

use serde_json::{Value, json};

use super::{OutputError, Rename, RowSink, buffered, write_error};
use crate::record::DomainRecord;

pub(super) struct JsonlSink {
    out: BufWriter<Box<dyn Write + Send>>,
    /// A file under its partial name (a handle to sync it), renamed when
    /// finished; `None` for stdout, a FIFO or a device.
    rename: Option<(File, Rename)>,
}

impl JsonlSink {
    pub(super) fn new(out: Box<dyn Write + Send>, rename: Option<(File, Rename)>) -> Self {
        Self { out: buffered(out), rename }
    }
}

/// One row as a JSON object; `scanned_at` as RFC 3339 UTC text, which
/// DuckDB's `read_json` reads as a timestamp.
pub fn to_json(r: &DomainRecord) -> Value {
    let mx: Vec<Value> =
        r.mx.iter()
            .map(|m| {
                json!({
                    "preference": m.preference,
                    "exchange": m.exchange,
                    "tier": m.tier,
                    "ipv4": m.ipv4.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "ipv6": m.ipv6.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "cname": m.cname,
                    "address_status": m.address_status.as_str(),
                    "provider": m.provider.as_deref(),
                    "category": m.category.map(|c| c.as_str()),
                    "org_domain": m.org_domain.as_deref(),
                    "tlsa": m.tlsa.iter().map(|t| json!({
                        "usage": t.usage, "selector": t.selector, "matching": t.matching, "data": t.hex(),
                    })).collect::<Vec<_>>(),
                    "tlsa_authenticated": m.tlsa_authenticated,
                })
            })
            .collect();
    let mut row = json!({
        "domain": r.domain,
        "input": r.input,
        "rank": r.rank,
        "status": r.status.as_str(),
        "error": r.error,
        "domain_cname": r.domain_cname,
        "mx_ttl": r.mx_ttl,
        "null_mx": r.null_mx,
        "implicit_mx": r.implicit_mx,
        "mx": mx,
        "findings": r.findings,
        "queries": r.queries,
        "elapsed_ms": r.elapsed_ms,
        "resolver": r.resolver.as_deref(),
        "scanned_at": rfc3339_ms(r.scanned_at_ms),
        "provider": r.provider.as_deref(),
        "provider_category": r.provider_category.map(|c| c.as_str()),
        "providers": r.providers.iter().map(|p| &**p).collect::<Vec<&str>>(),
        "self_hosted": r.self_hosted,
    });
    let object = row.as_object_mut().expect("an object");
    for (name, value) in super::policy::json_members(r) {
        object.insert(name.to_string(), value);
    }
    row
}

/// The proleptic Gregorian date (year, month, day) of a day count from
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(super) fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        tod / 3600,
        (tod % 3600) / 60,
        tod % 60
    )
}

impl RowSink for JsonlSink {
    fn write(&mut self, row: DomainRecord) -> Result<(), OutputError> {
        serde_json::to_writer(&mut self.out, &to_json(&row)).map_err(|e| write_error(e.into()))?;
        self.out.write_all(b"\n").map_err(write_error)?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), OutputError> {
        self.out.flush().map_err(write_error)?;
        if let Some((file, rename)) = self.rename.take() {
            // Durable before it gets the name that means complete.
            file.sync_all()?;
            rename.commit()?;
        }
        Ok(())
    }

    fn abandon(mut self: Box<Self>) -> Result<(), OutputError> {
        // Every line written so far is whole; the file keeps its partial name.
        self.out.flush().map_err(write_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
