//! What an accepted answer means: its RCODE as a lookup result and a health
//! observation, whether it is a referral (the server does not recurse), and
//! the 0x20 case pattern an answer must echo.

use super::super::LookupStatus;
use super::super::health::Observed;
use crate::dns::inflight::SplitMix;
use crate::dns::wire::{Answer, rcode};

/// What an answer's RCODE says.
pub(super) enum Verdict {
    /// NOERROR or NXDOMAIN: the lookup is decided.
    Decided(LookupStatus),
    /// The resolver failed this question (retry elsewhere, or report it).
    Failed(LookupStatus, Option<String>),
}

/// RCODE → lookup verdict and health observation.
pub(super) fn judge(code: u16) -> (Verdict, Observed) {
    match code {
        rcode::NOERROR => (Verdict::Decided(LookupStatus::NoError), Observed::Answer),
        rcode::NXDOMAIN => (Verdict::Decided(LookupStatus::NxDomain), Observed::Answer),
        rcode::SERVFAIL => (Verdict::Failed(LookupStatus::ServFail, None), Observed::ServFail),
        rcode::REFUSED => (Verdict::Failed(LookupStatus::Refused, None), Observed::Refused),
        other => {
            let detail = format!("resolver answered RCODE {}", rcode_name(other));
            (Verdict::Failed(LookupStatus::Error, Some(detail)), Observed::ServFail)
        }
    }
}

fn rcode_name(code: u16) -> String {
    match code {
        rcode::FORMERR => "FORMERR".into(),
        rcode::NOTIMP => "NOTIMP".into(),
        rcode::BADVERS => "BADVERS".into(),
        other => other.to_string(),
    }
}

/// A referral from a server that does not recurse: the wire walker's
/// referral (NOERROR, no answer, AA clear, NS records in the authority
/// section) with RA clear. A recursive resolver never sends one (RFC 1034
/// §4.3.1: with RD set it answers or fails); an authoritative-only server
/// does for every name below a delegation, and taking that for "no MX"
/// would turn every domain into `no_mx`.
pub(super) fn is_referral(answer: &Answer) -> bool {
    answer.referral && !answer.recursion_available
}

/// Referrals from one resolver before it is judged not recursive.
pub(super) const REFERRALS_TO_JUDGE: u32 = 3;

/// Per resolver: referrals seen, and whether it ever offered recursion.
#[derive(Debug, Clone, Default)]
pub(super) struct Recursion {
    referrals: u32,
    offered_recursion: bool,
}

impl Recursion {
    /// Note an accepted answer; true when the resolver is now judged not
    /// recursive (a handful of referrals, never an answer with RA set).
    pub(super) fn note(&mut self, answer: &Answer) -> bool {
        self.offered_recursion |= answer.recursion_available;
        if is_referral(answer) {
            self.referrals += 1;
            return self.referrals == REFERRALS_TO_JUDGE && !self.offered_recursion;
        }
        false
    }
}

/// `name` with each ASCII letter's case drawn from `key` (0x20 encoding).
pub(super) fn mix_case(name: &str, key: u64) -> String {
    let mut rng = SplitMix::seeded(key);
    let mut bits = 0u64;
    name.bytes()
        .enumerate()
        .map(|(i, b)| {
            if i % 64 == 0 {
                bits = rng.next_u64();
            }
            let upper = (bits >> (i % 64)) & 1 == 1;
            (if upper { b.to_ascii_uppercase() } else { b }) as char
        })
        .collect()
}
