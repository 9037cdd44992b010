//! The hand-off to TCP: a truncated UDP answer (TC=1) means "ask again over
//! TCP" (RFC 7766 §5); the driver owns the connections, the core keeps
//! which lookup each exchange belongs to.

use std::collections::VecDeque;
use std::net::SocketAddr;

use rustc_hash::FxHashMap;

use crate::dns::wire;

/// A query to repeat over TCP because the UDP answer was truncated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpQuery {
    /// Hand back with the result.
    pub token: u64,
    /// Resolver to connect to.
    pub dest: SocketAddr,
    /// The encoded query (without the two-octet length prefix).
    pub query: Vec<u8>,
}

/// Which lookup a TCP exchange answers.
#[derive(Debug, Clone, Copy)]
pub(super) struct TcpWaiter {
    pub(super) lookup: u32,
    /// The lookup's serial: tells it from a later occupant of its slot.
    pub(super) serial: u64,
    pub(super) resolver: u16,
    pub(super) id: u16,
}

/// TCP exchanges asked for and not yet answered.
#[derive(Debug, Default)]
pub(super) struct TcpHandoff {
    out: VecDeque<TcpQuery>,
    waiting: FxHashMap<u64, TcpWaiter>,
    next_token: u64,
}

impl TcpHandoff {
    /// Queue `(name, qtype)` for TCP to `dest` under message id `waiter.id`.
    pub(super) fn start(&mut self, waiter: TcpWaiter, dest: SocketAddr, name: &str, qtype: u16) {
        let mut query = Vec::with_capacity(64);
        wire::encode_query(&mut query, waiter.id, name, qtype);
        self.next_token += 1;
        self.waiting.insert(self.next_token, waiter);
        self.out.push_back(TcpQuery { token: self.next_token, dest, query });
    }

    /// The next exchange for the driver to run.
    pub(super) fn poll(&mut self) -> Option<TcpQuery> {
        self.out.pop_front()
    }

    /// The lookup waiting for `token`'s result.
    pub(super) fn finish(&mut self, token: u64) -> Option<TcpWaiter> {
        self.waiting.remove(&token)
    }
}
