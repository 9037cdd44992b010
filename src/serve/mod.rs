//! The scan browser's back end: an in-memory [`index`] over a scan's Parquet output.

pub mod index;
