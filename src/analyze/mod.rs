//! Analysis of a domain's MX set: address classes and the findings
//! catalogue.

pub mod address;
pub mod findings;
