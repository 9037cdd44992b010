//! SPF (RFC 7208): record selection, a parser written to the ABNF, a
//! static audit of a domain's record tree, and `check_host()` itself, all
//! sans-IO.
//!
//! - [`select_record`]: the §4.5 selection among the TXT records at a name.
//! - [`Record::parse`]: the §4.6.1, §5, §6, §7.1 and §12 ABNF; every
//!   syntax error names the term and its byte offset
//!   (`ip4:1.2.3.4/33 at 12: CIDR length out of range`).
//! - [`SpfAudit`]: what a published record costs and risks without a
//!   sender: DNS-querying terms through `include` and `redirect` against
//!   the limit of 10, void lookups against 2 (§4.6.4), missing include
//!   targets, the `all` policy. Its report is the output contract's `spf`
//!   columns.
//! - [`CheckHost`]: RFC 7208 §4 `check_host()` for one sender IP, HELO
//!   name and MAIL FROM, the answer a receiver would compute.
//!
//! Both state machines are pull-based like quinn-proto: the caller asks
//! [`SpfAudit::next_query`] (or [`CheckHost::next_query`]) for the next
//! [`Query`], resolves it however it likes (mxscan's engine, a cache, a
//! test's map) and hands the [`Answer`] back; nothing here touches a
//! socket or a clock.
//!
//! # What the audit looks up
//!
//! §4.6.4 counts the `include`, `a`, `mx`, `ptr` and `exists` mechanisms
//! and the `redirect` modifier toward 10 "during SPF evaluation". The
//! audit walks the record as an evaluation that matches nothing would
//! (every term in order, `redirect` last and only when the record has no
//! `all`, §6.1), so its count is the most any sender can cost:
//!
//! - `include:` and `redirect=` targets: the TXT record is fetched, selected
//!   and parsed, and walked in turn; its terms count toward the same 10
//!   (§4.6.4, §5.2). A target with no SPF record is a permerror
//!   (`spf_include_missing`: §5.2's table maps "none" to permerror, §6.1
//!   says the same of redirect); a DNS failure a temperror (§4.4).
//! - `a`, `mx`, `exists` whose domain-spec has no macro: counted, and also
//!   queried, to count void lookups (answers with no records, or NXDOMAIN,
//!   §4.6.4): `a` asks A and AAAA and is void when both are empty (a sender
//!   of either family may be the one asking), `mx` asks MX (void when
//!   empty; more than 10 MX records are a permerror, §4.6.4), `exists`
//!   asks A (§5.7 always uses A). These names repeat across domains
//!   (`include:_spf.google.com`'s `a` targets) and the engine caches them,
//!   so the queries are cheap and the void count is real rather than
//!   guessed. The addresses of MX hosts are not asked: the §4.6.4 limit on
//!   them is about the MX record set's size, which the MX answer shows.
//! - `ptr` and every term whose domain-spec holds a macro (`%{i}`,
//!   `%{l}`, ...): counted, never queried (they need a sender), and listed
//!   in [`SpfAudit::unexpanded`].
//!
//! The walk stops at the 11th counted term: the record is then a
//! permerror whatever the sender, and no further query is issued.
//! `include` loops terminate the same way.

mod audit;
mod check;
mod macros;
mod names;
mod parse;

pub use audit::{SpfAudit, SpfFindings, SpfReport, SpfStatus};
pub use check::{CheckHost, Sender, SpfResult};
pub use macros::{Macro, MacroEnv, MacroPart, MacroString};
pub use parse::{DualCidr, Mechanism, Qualifier, Record, SyntaxError, SyntaxErrorKind, Term, TermKind};

/// The RR types the SPF machines ask for.
pub mod qtype {
    /// A (RFC 1035).
    pub const A: u16 = 1;
    /// PTR (RFC 1035); only [`super::CheckHost`] asks it.
    pub const PTR: u16 = 12;
    /// MX (RFC 1035).
    pub const MX: u16 = 15;
    /// TXT (RFC 1035): SPF records live only here (RFC 7208 §3.1; the SPF
    /// RR type 99 is never asked).
    pub const TXT: u16 = 16;
    /// AAAA (RFC 3596).
    pub const AAAA: u16 = 28;
}

/// A DNS question an SPF machine wants answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Query {
    /// The name, without the trailing dot.
    pub name: String,
    /// One of [`qtype`].
    pub qtype: u16,
}

/// The answer to a [`Query`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// NOERROR with records of the asked type (CNAMEs followed). One
    /// element per RR: TXT its character-strings joined (§3.3); A the 4
    /// address octets; AAAA the 16; MX and PTR the target name as ASCII
    /// text. The audit only looks at whether there are any (and, for MX,
    /// how many); [`CheckHost`] reads them.
    Records(Vec<Vec<u8>>),
    /// NOERROR without records of the type.
    NoData,
    /// NXDOMAIN.
    NxDomain,
    /// SERVFAIL, timeout or any other failure: a temperror (§4.4, §5).
    Failed,
}

impl Answer {
    /// A void lookup (§4.6.4): NOERROR with no answers, or NXDOMAIN.
    fn is_void(&self) -> bool {
        match self {
            Self::Records(records) => records.is_empty(),
            Self::NoData | Self::NxDomain => true,
            Self::Failed => false,
        }
    }
}

/// The outcome of §4.5 record selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// No record begins with `v=spf1`: the result is "none".
    None,
    /// Exactly one: its text (invalid UTF-8 replaced, which then fails to
    /// parse as an invalid character).
    One(String),
    /// More than one: "permerror" (§4.5), however alike they are.
    Multiple(usize),
}

/// RFC 7208 §4.5: keep the TXT records that begin with `v=spf1` (any
/// case, as the ABNF's literal strings are) followed by a space or the end
/// of the record (`v=spf10` is not SPF); one is the record, several are a
/// permerror. Each element is one RR, its strings already joined (§3.3).
pub fn select_record<T: AsRef<[u8]>>(txts: &[T]) -> Selection {
    let mut spf = txts.iter().map(AsRef::as_ref).filter(|t| is_spf(t));
    match (spf.next(), spf.count()) {
        (None, _) => Selection::None,
        (Some(one), 0) => Selection::One(String::from_utf8_lossy(one).into_owned()),
        (Some(_), more) => Selection::Multiple(more + 1),
    }
}

fn is_spf(txt: &[u8]) -> bool {
    txt.get(..6).is_some_and(|v| v.eq_ignore_ascii_case(b"v=spf1")) && matches!(txt.get(6), None | Some(b' '))
}

/// The most DNS-querying terms an evaluation may reach (§4.6.4).
pub const LOOKUP_LIMIT: u8 = 10;
/// The most void lookups an evaluation may meet (§4.6.4, RECOMMENDED default).
pub const VOID_LOOKUP_LIMIT: u8 = 2;

#[cfg(test)]
mod tests;
