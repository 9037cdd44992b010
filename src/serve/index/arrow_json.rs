//! One row of a record batch as JSON, for [`super::ScanIndex::row_json`]:
//! the types of the output schema (and the common ones another writer may
//! have used) mapped by hand, since arrow-json is not a dependency.
//!
//! Nulls are `null`; lists are arrays; structs are objects; timestamps are
//! RFC 3339 text in UTC with milliseconds (`2026-11-29T18:50:38.123Z`; no
//! `Z` when the column has no time zone); floats that are not finite are
//! `null`; binary is lowercase hex; a type not handled here is a string
//! naming it.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
    UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use serde_json::{Map, Value};

/// Row `row` of `batch` as an object keyed by column name.
pub(super) fn row_object(batch: &RecordBatch, row: usize) -> Value {
    let schema = batch.schema();
    let mut map = Map::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        map.insert(field.name().clone(), value(column.as_ref(), row));
    }
    Value::Object(map)
}

/// Element `i` of `array`.
pub(super) fn value(array: &dyn Array, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    // Each arm downcasts to the type its `DataType` names, which cannot fail.
    match array.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => array.as_boolean().value(i).into(),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).into(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(i).into(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(i).into(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(i).into(),
        // Through the shortest decimal text of the f32, so 0.1f32 is 0.1
        // and not 0.10000000149011612.
        DataType::Float32 => {
            let v = array.as_primitive::<Float32Type>().value(i);
            v.to_string().parse::<f64>().map_or(Value::Null, Value::from)
        }
        DataType::Float64 => array.as_primitive::<Float64Type>().value(i).into(),
        DataType::Utf8 => array.as_string::<i32>().value(i).into(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(i).into(),
        DataType::Utf8View => array.as_string_view().value(i).into(),
        DataType::Binary => hex(array.as_binary::<i32>().value(i)).into(),
        DataType::LargeBinary => hex(array.as_binary::<i64>().value(i)).into(),
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(i);
            let (y, m, d) = civil_from_days(i64::from(days));
            format!("{y:04}-{m:02}-{d:02}").into()
        }
        DataType::Timestamp(unit, tz) => {
            let ms = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(i).saturating_mul(1000),
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(i).div_euclid(1000)
                }
                TimeUnit::Nanosecond => {
                    array.as_primitive::<TimestampNanosecondType>().value(i).div_euclid(1_000_000)
                }
            };
            rfc3339_ms(ms, tz.is_some()).map_or(Value::from(ms), Value::from)
        }
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(i);
            Value::Array((0..items.len()).map(|j| value(items.as_ref(), j)).collect())
        }
        DataType::LargeList(_) => {
            let items = array.as_list::<i64>().value(i);
            Value::Array((0..items.len()).map(|j| value(items.as_ref(), j)).collect())
        }
        DataType::Struct(fields) => {
            let columns = array.as_struct().columns();
            let mut map = Map::with_capacity(fields.len());
            for (field, column) in fields.iter().zip(columns) {
                map.insert(field.name().clone(), value(column.as_ref(), i));
            }
            Value::Object(map)
        }
        other => format!("(a {other} value, not shown)").into(),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// `ms` since the Unix epoch as `YYYY-MM-DDThh:mm:ss.sssZ` (without the `Z`
/// unless `utc`); `None` outside years 0–9999, which RFC 3339 cannot write.
pub(super) fn rfc3339_ms(ms: i64, utc: bool) -> Option<String> {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return None;
    }
    let (h, min, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    let zone = if utc { "Z" } else { "" };
    Some(format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}{zone}"))
}

use crate::output::jsonl::civil_from_days;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_rfc3339() {
        assert_eq!(rfc3339_ms(0, true).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_000, true).unwrap(), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_978_238_123, true).unwrap(), "2026-11-29T18:50:38.123Z");
        assert_eq!(rfc3339_ms(-1, false).unwrap(), "1969-12-31T23:59:59.999");
        assert_eq!(rfc3339_ms(i64::MAX, true), None);
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
