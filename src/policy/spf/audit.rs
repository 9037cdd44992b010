//! The static audit of a domain's SPF record tree (see the module docs of
//! [`super`] for which terms are looked up and why).

use std::collections::VecDeque;

use super::parse::{Mechanism, Qualifier, Record, TermKind};
use super::{Answer, LOOKUP_LIMIT, Query, Selection, VOID_LOOKUP_LIMIT, qtype, select_record};

/// The audit's verdict on the domain's SPF (the `spf_status` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpfStatus {
    /// No SPF record at the domain (§4.5).
    None,
    /// A record whose tree has no error.
    Ok,
    /// An error in the published records: any sender's check ends in
    /// permerror once evaluation reaches it.
    PermError,
    /// A DNS failure on the way (no permerror found).
    TempError,
}

impl SpfStatus {
    /// The contract's spelling: `none`, `ok`, `permerror`, `temperror`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Ok => "ok",
            Self::PermError => "permerror",
            Self::TempError => "temperror",
        }
    }
}

/// The output contract's SPF fields. `all` and `includes` are read from
/// the selected record when it parses (a record with a syntax error has
/// only `record` and `errors`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpfReport {
    /// `none`, `ok`, `permerror` or `temperror`.
    pub status: SpfStatus,
    /// The selected record's text.
    pub record: Option<String>,
    /// The qualifier of the record's first `all` (`+ - ~ ?`).
    pub all: Option<char>,
    /// DNS-querying terms through includes and redirects (§4.6.4),
    /// counted until the walk stops at [`LOOKUP_LIMIT`] + 1.
    pub lookups: u8,
    /// Void lookups among the terms queried.
    pub void_lookups: u8,
    /// The record's own `include:` and `redirect=` targets as written, in
    /// order.
    pub includes: Vec<String>,
    /// What is wrong, one message each; errors below the top record start
    /// with the name of the record they are in.
    pub errors: Vec<String>,
}

impl SpfReport {
    /// A report with this status and nothing else (no record read).
    pub fn empty(status: SpfStatus) -> Self {
        Self {
            status,
            record: None,
            all: None,
            lookups: 0,
            void_lookups: 0,
            includes: Vec::new(),
            errors: Vec::new(),
        }
    }
}

/// Which SPF findings apply (the findings catalogue's `spf_*` codes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpfFindings {
    /// More than one SPF record at the domain or at a target (§4.5).
    pub multiple_records: bool,
    /// A syntax error in the domain's record or in a record it reaches.
    pub syntax_error: bool,
    /// More than 10 DNS-querying terms (§4.6.4).
    pub too_many_lookups: bool,
    /// More than 2 void lookups (§4.6.4).
    pub too_many_void_lookups: bool,
    /// An include or redirect target without an SPF record (§5.2, §6.1).
    pub include_missing: bool,
    /// `+all` or a bare `all`: every host on the Internet may send.
    pub plus_all: bool,
    /// `?all`: nothing is asserted about unlisted hosts.
    pub neutral_all: bool,
    /// No `all` and no `redirect`: unlisted hosts get the default neutral (§4.7).
    pub no_all: bool,
    /// A `ptr` mechanism in the record (§5.5 "do not use").
    pub ptr: bool,
    /// A DNS failure on the way.
    pub temperror: bool,
}

impl SpfFindings {
    /// The finding codes that apply, in catalogue order.
    pub fn codes(&self) -> Vec<&'static str> {
        [
            (self.multiple_records, "spf_multiple_records"),
            (self.syntax_error, "spf_syntax_error"),
            (self.too_many_lookups, "spf_too_many_lookups"),
            (self.too_many_void_lookups, "spf_too_many_void_lookups"),
            (self.include_missing, "spf_include_missing"),
            (self.plus_all, "spf_plus_all"),
            (self.neutral_all, "spf_neutral_all"),
            (self.no_all, "spf_no_all"),
            (self.ptr, "spf_ptr"),
            (self.temperror, "spf_temperror"),
        ]
        .into_iter()
        .filter_map(|(on, code)| on.then_some(code))
        .collect()
    }

    fn permerror(&self) -> bool {
        self.multiple_records
            || self.syntax_error
            || self.too_many_lookups
            || self.too_many_void_lookups
            || self.include_missing
    }
}

/// A record being walked: its domain, its terms and the next one.
#[derive(Debug)]
struct Frame {
    domain: String,
    record: Record,
    next: usize,
    /// The `redirect=` target is taken after the last term (§6.1).
    redirect_done: bool,
}

/// Why a query was asked.
#[derive(Debug)]
enum Purpose {
    /// The record of an include (`redirect: false`) or redirect target;
    /// the walk waits for it.
    Target { redirect: bool },
    /// A void-lookup probe for the term `term` (shown in messages); `a`
    /// asks two types and is void when both are.
    Void { check: usize },
}

#[derive(Debug)]
struct VoidCheck {
    term: String,
    unanswered: u8,
    has_data: bool,
}

/// The static audit of one domain's SPF: a pull-based state machine.
///
/// ```
/// use mxscan::policy::spf::{Answer, SpfAudit, SpfStatus};
/// let txt = Answer::Records(vec![b"v=spf1 include:_spf.example.net -all".to_vec()]);
/// let mut audit = SpfAudit::new("example.com", txt);
/// while let Some(query) = audit.next_query() {
///     // Resolve `query` (here: every name answers with `v=spf1 -all`).
///     audit.answer(&query, Answer::Records(vec![b"v=spf1 -all".to_vec()]));
/// }
/// assert!(audit.is_done());
/// let report = audit.report();
/// assert_eq!(report.status, SpfStatus::Ok);
/// assert_eq!((report.lookups, report.all), (1, Some('-')));
/// ```
#[derive(Debug)]
pub struct SpfAudit {
    report: SpfReport,
    findings: SpfFindings,
    authorizes: bool,
    unexpanded: Vec<String>,
    lookups: u32,
    stack: Vec<Frame>,
    /// The include/redirect record the walk is waiting for.
    blocked: bool,
    to_ask: VecDeque<Query>,
    asked: Vec<(Query, Purpose)>,
    void_checks: Vec<VoidCheck>,
}

impl SpfAudit {
    /// Starts the audit of `domain` from its TXT answer.
    pub fn new(domain: &str, txt_at_domain: Answer) -> Self {
        let mut audit = Self {
            report: SpfReport::empty(SpfStatus::None),
            findings: SpfFindings::default(),
            authorizes: false,
            unexpanded: Vec::new(),
            lookups: 0,
            stack: Vec::new(),
            blocked: false,
            to_ask: VecDeque::new(),
            asked: Vec::new(),
            void_checks: Vec::new(),
        };
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let txts = match txt_at_domain {
            Answer::Records(txts) => txts,
            Answer::NoData | Answer::NxDomain => return audit,
            Answer::Failed => {
                audit.temperror(format!("{domain}: TXT lookup failed"));
                return audit;
            }
        };
        let text = match select_record(&txts) {
            Selection::None => return audit,
            Selection::Multiple(n) => {
                audit.findings.multiple_records = true;
                audit.report.errors.push(format!("{n} SPF records"));
                return audit;
            }
            Selection::One(text) => text,
        };
        audit.report.record = Some(text.clone());
        match Record::parse(&text) {
            Ok(record) => {
                audit.describe_top(&record);
                audit.stack.push(Frame { domain, record, next: 0, redirect_done: false });
                audit.walk();
            }
            Err(e) => {
                audit.findings.syntax_error = true;
                audit.report.errors.push(e.to_string());
            }
        }
        audit
    }

    /// The next question to resolve, if any; `None` does not mean done:
    /// answers may still be owed (see [`Self::is_done`]).
    pub fn next_query(&mut self) -> Option<Query> {
        self.to_ask.pop_front()
    }

    /// Hands in the answer to a query [`Self::next_query`] gave. Answers to
    /// questions not asked (or already answered) are ignored.
    pub fn answer(&mut self, query: &Query, answer: Answer) {
        let Some(at) = self.asked.iter().position(|(q, _)| q == query) else { return };
        let (query, purpose) = self.asked.swap_remove(at);
        match purpose {
            Purpose::Target { redirect } => {
                // Only one record is awaited at a time, and no probe asks TXT.
                self.blocked = false;
                self.enter(&query.name, redirect, answer);
                self.walk();
            }
            Purpose::Void { check } => {
                self.void_answer(check, &query, &answer);
                // An answer shared by several terms (`a` twice) settles all.
                while let Some(at) = self.asked.iter().position(|(q, _)| *q == query) {
                    if let (_, Purpose::Void { check }) = self.asked.swap_remove(at) {
                        self.void_answer(check, &query, &answer);
                    }
                }
            }
        }
    }

    /// Whether the walk is over and every query it asked is answered.
    pub fn is_done(&self) -> bool {
        self.stack.is_empty() && !self.blocked && self.to_ask.is_empty() && self.asked.is_empty()
    }

    /// The report so far (final once [`Self::is_done`]).
    pub fn report(&self) -> SpfReport {
        let mut report = self.report.clone();
        report.lookups = u8::try_from(self.lookups).unwrap_or(u8::MAX);
        report.status = if report.record.is_none() && !self.findings.permerror() && !self.findings.temperror {
            SpfStatus::None
        } else if self.findings.permerror() {
            SpfStatus::PermError
        } else if self.findings.temperror {
            SpfStatus::TempError
        } else {
            SpfStatus::Ok
        };
        report
    }

    /// The findings that apply.
    pub fn findings(&self) -> SpfFindings {
        self.findings
    }

    /// Whether the record lets any host send: a `+` directive before its
    /// first `all` (an `include` counts: its target may pass), or a
    /// `redirect` in force. `v=spf1 -all`, `~all`, `?all` and a record
    /// without terms authorise nobody (for `null_mx_spf_allows_senders`).
    pub fn authorizes_senders(&self) -> bool {
        self.authorizes
    }

    /// Terms counted but not queried because their domain-spec holds a
    /// macro or they need the sender's address (`ptr`), as
    /// `domain: term`.
    pub fn unexpanded(&self) -> &[String] {
        &self.unexpanded
    }

    /// The fields read from the top record alone.
    fn describe_top(&mut self, record: &Record) {
        let mut before_all = true;
        for term in &record.terms {
            match &term.kind {
                TermKind::Directive(q, m) => {
                    if before_all && *q == Qualifier::Pass {
                        self.authorizes = true;
                    }
                    match m {
                        Mechanism::All if before_all => {
                            before_all = false;
                            self.report.all = Some(qualifier_char(*q));
                        }
                        Mechanism::Include(d) => self.report.includes.push(d.to_string()),
                        Mechanism::Ptr(_) => self.findings.ptr = true,
                        _ => {}
                    }
                }
                TermKind::Redirect(d) => self.report.includes.push(d.to_string()),
                _ => {}
            }
        }
        let redirect_in_force = record.redirect().is_some() && !record.has_all();
        self.authorizes |= redirect_in_force;
        self.findings.plus_all = self.report.all == Some('+');
        self.findings.neutral_all = self.report.all == Some('?');
        self.findings.no_all = self.report.all.is_none() && record.redirect().is_none();
    }

    /// Walks terms until the walk needs a record it has not got, or ends.
    fn walk(&mut self) {
        while !self.blocked {
            let Some(frame) = self.stack.last_mut() else { return };
            let Some(term) = frame.record.terms.get(frame.next) else {
                // §6.1: redirect is taken when no mechanism matched, and
                // ignored when the record has an `all`.
                let redirect = frame.record.redirect().filter(|_| !frame.record.has_all()).cloned();
                let domain = frame.domain.clone();
                if frame.redirect_done || redirect.is_none() {
                    self.stack.pop();
                    continue;
                }
                frame.redirect_done = true;
                if let Some(target) = redirect {
                    self.target(&domain, &format!("redirect={target}"), target.constant(), true);
                }
                continue;
            };
            let kind = term.kind.clone();
            frame.next += 1;
            let domain = frame.domain.clone();
            let TermKind::Directive(_, mechanism) = &kind else { continue };
            let shown = mechanism.to_string();
            let own = |spec: &Option<super::MacroString>| match spec {
                Some(spec) => spec.constant(),
                None => Some(domain.clone()),
            };
            match mechanism {
                Mechanism::All | Mechanism::Ip4(..) | Mechanism::Ip6(..) => {}
                Mechanism::Include(spec) => {
                    let target = spec.constant();
                    self.target(&domain, &shown, target, false);
                }
                Mechanism::A(spec, _) => {
                    let target = own(spec);
                    if self.count(&domain, &shown, target.is_some()) {
                        self.probe(&shown, target, &[qtype::A, qtype::AAAA]);
                    }
                }
                Mechanism::Mx(spec, _) => {
                    let target = own(spec);
                    if self.count(&domain, &shown, target.is_some()) {
                        self.probe(&shown, target, &[qtype::MX]);
                    }
                }
                Mechanism::Exists(spec) => {
                    let target = spec.constant();
                    if self.count(&domain, &shown, target.is_some()) {
                        self.probe(&shown, target, &[qtype::A]);
                    }
                }
                Mechanism::Ptr(_) => {
                    self.count(&domain, &shown, false);
                }
            }
        }
    }

    /// Counts a DNS-querying term; false (and the walk stopped) past the
    /// limit. A term that cannot be expanded is noted.
    fn count(&mut self, domain: &str, shown: &str, expandable: bool) -> bool {
        self.lookups += 1;
        if self.lookups > u32::from(LOOKUP_LIMIT) {
            self.findings.too_many_lookups = true;
            self.report.errors.push(format!("more than {LOOKUP_LIMIT} DNS lookups (at {domain}: {shown})"));
            // Permerror whatever the sender: stop walking and asking. The
            // queries of earlier records were all handed out before this
            // record's was answered, so the void count stays deterministic.
            self.stack.clear();
            for query in self.to_ask.drain(..) {
                self.asked.retain(|(q, _)| *q != query);
            }
            return false;
        }
        if !expandable {
            self.unexpanded.push(format!("{domain}: {shown}"));
        }
        true
    }

    /// An include or redirect term: counted, then its record fetched.
    fn target(&mut self, domain: &str, shown: &str, target: Option<String>, redirect: bool) {
        if !self.count(domain, shown, target.is_some()) {
            return;
        }
        if let Some(target) = target {
            self.ask(normalize(&target), qtype::TXT, Purpose::Target { redirect });
            self.blocked = true;
        }
    }

    fn probe(&mut self, shown: &str, target: Option<String>, qtypes: &[u16]) {
        let Some(target) = target else { return };
        let check = self.void_checks.len();
        self.void_checks.push(VoidCheck {
            term: shown.to_string(),
            unanswered: u8::try_from(qtypes.len()).unwrap_or(u8::MAX),
            has_data: false,
        });
        for &qtype in qtypes {
            self.ask(normalize(&target), qtype, Purpose::Void { check });
        }
    }

    fn ask(&mut self, name: String, qtype: u16, purpose: Purpose) {
        let query = Query { name, qtype };
        // One question in flight per name and type; its answer serves all.
        if !self.asked.iter().any(|(q, _)| *q == query) {
            self.to_ask.push_back(query.clone());
        }
        self.asked.push((query, purpose));
    }

    fn void_answer(&mut self, check: usize, query: &Query, answer: &Answer) {
        let Some(void) = self.void_checks.get_mut(check) else { return };
        void.unanswered = void.unanswered.saturating_sub(1);
        match answer {
            Answer::Failed => {
                let message = format!("{}: {} lookup failed", void.term, qtype_name(query.qtype));
                self.temperror(message);
                return;
            }
            Answer::Records(records) if query.qtype == qtype::MX && records.len() > 10 => {
                // §4.6.4: an `mx` evaluation MUST NOT query more than 10
                // address records: permerror.
                let message = format!("{}: {} MX records, more than 10", void.term, records.len());
                self.findings.too_many_lookups = true;
                self.report.errors.push(message);
            }
            _ => {}
        }
        let Some(void) = self.void_checks.get_mut(check) else { return };
        void.has_data |= !answer.is_void();
        if void.unanswered == 0 && !void.has_data {
            self.report.void_lookups = self.report.void_lookups.saturating_add(1);
            if self.report.void_lookups == VOID_LOOKUP_LIMIT + 1 {
                self.findings.too_many_void_lookups = true;
                self.report
                    .errors
                    .push(format!("more than {VOID_LOOKUP_LIMIT} void lookups (at {})", void.term));
            }
        }
    }

    /// The record of an include or redirect target arrived.
    fn enter(&mut self, target: &str, redirect: bool, answer: Answer) {
        let what = if redirect { "redirect" } else { "include" };
        let txts = match answer {
            Answer::Records(txts) => txts,
            Answer::NoData | Answer::NxDomain => Vec::new(),
            Answer::Failed => {
                self.temperror(format!("{target}: TXT lookup failed"));
                return;
            }
        };
        match select_record(&txts) {
            Selection::None => {
                // §5.2: a "none" result for the target is a permerror.
                self.findings.include_missing = true;
                self.report.errors.push(format!("{target}: no SPF record ({what} target)"));
            }
            Selection::Multiple(n) => {
                self.findings.multiple_records = true;
                self.report.errors.push(format!("{target}: {n} SPF records"));
            }
            Selection::One(text) => match Record::parse(&text) {
                Ok(record) => {
                    if redirect {
                        // The redirect replaces the record it ends (§6.1).
                        self.stack.pop();
                    }
                    self.stack.push(Frame {
                        domain: target.to_string(),
                        record,
                        next: 0,
                        redirect_done: false,
                    });
                }
                Err(e) => {
                    self.findings.syntax_error = true;
                    self.report.errors.push(format!("{target}: {e}"));
                }
            },
        }
    }

    fn temperror(&mut self, message: String) {
        self.findings.temperror = true;
        self.report.errors.push(message);
    }
}

fn qualifier_char(q: Qualifier) -> char {
    match q {
        Qualifier::Pass => '+',
        Qualifier::Fail => '-',
        Qualifier::SoftFail => '~',
        Qualifier::Neutral => '?',
    }
}

fn qtype_name(qtype: u16) -> &'static str {
    match qtype {
        qtype::A => "A",
        qtype::AAAA => "AAAA",
        qtype::MX => "MX",
        qtype::TXT => "TXT",
        qtype::PTR => "PTR",
        _ => "DNS",
    }
}

/// A target name as asked: lowercase, no trailing dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}
