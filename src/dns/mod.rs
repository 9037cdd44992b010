//! The DNS query engine's parts: the wire codec, the in-flight table, the
//! sockets, TCP fallback and the rate limit.

pub mod ids;
pub mod inflight;
pub mod ratelimit;
pub mod records;
pub mod socket;
pub mod tcp;
pub mod wire;
