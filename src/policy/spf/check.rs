//! RFC 7208 §4 `check_host()`, sans-IO: one evaluation for one sender,
//! asking one question at a time (evaluation is sequential: each term's
//! answer decides whether the next term is reached).

use std::net::IpAddr;

use super::macros::{MacroContext, MacroEnv, MacroString};
use super::names::{
    addresses, in_v4, in_v6, is_at_or_under, is_valid_domain, mechanism_uses_p, names, normalize,
    reverse_name,
};
use super::parse::{DualCidr, Mechanism, Qualifier, Record, TermKind};
use super::{Answer, LOOKUP_LIMIT, Query, Selection, VOID_LOOKUP_LIMIT, qtype, select_record};

/// The SMTP session facts `check_host()` needs (§4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    /// The client's address.
    pub ip: IpAddr,
    /// The HELO/EHLO name.
    pub helo: String,
    /// The MAIL FROM address; empty for a null reverse path (then the
    /// HELO identity is checked, §2.4).
    pub mail_from: String,
}

/// A `check_host()` result (§2.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpfResult {
    /// No SPF record, or no valid domain to check.
    None,
    /// Nothing asserted about the client.
    Neutral,
    /// The client is authorised.
    Pass,
    /// The client is not authorised; the explanation is the expanded
    /// `exp=` text when there is one (§6.2), else `None` (the receiver's
    /// default).
    Fail {
        /// The `exp=` explanation.
        explanation: Option<String>,
    },
    /// Probably not authorised.
    SoftFail,
    /// A transient DNS error.
    TempError,
    /// The published records are in error.
    PermError,
}

impl SpfResult {
    /// The RFC's name: `none`, `neutral`, `pass`, `fail`, `softfail`,
    /// `temperror`, `permerror`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Neutral => "neutral",
            Self::Pass => "pass",
            Self::Fail { .. } => "fail",
            Self::SoftFail => "softfail",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
        }
    }

    fn of(qualifier: Qualifier) -> Self {
        match qualifier {
            Qualifier::Pass => Self::Pass,
            Qualifier::Fail => Self::Fail { explanation: None },
            Qualifier::SoftFail => Self::SoftFail,
            Qualifier::Neutral => Self::Neutral,
        }
    }
}

/// How a record was reached: the top record (or one it redirected to) or
/// an `include` with its qualifier (§5.2).
#[derive(Clone, Copy, Debug)]
enum FrameKind {
    Top,
    Include(Qualifier),
}

#[derive(Debug)]
struct Frame {
    kind: FrameKind,
    domain: String,
    record: Record,
    next: usize,
    redirect_taken: bool,
}

/// What a PTR walk (§5.5) is for.
#[derive(Clone, Debug)]
enum PtrFor {
    /// The `ptr` mechanism: validated names at or under `target` match.
    Mechanism { qualifier: Qualifier, target: String },
    /// The `%{p}` macro of the next term or of the explanation (§7.3).
    Macro,
}

/// The question the evaluation waits for, and what its answer is for.
#[derive(Debug)]
enum Waiting {
    /// The record of `domain`, to be evaluated as `kind`; `redirect`
    /// replaces the current frame (§6.1).
    Record { domain: String, kind: FrameKind, redirect: bool },
    /// The addresses of an `a` target (§5.3).
    A { qualifier: Qualifier, cidr: DualCidr },
    /// The MX names of an `mx` target (§5.4).
    MxNames { qualifier: Qualifier, cidr: DualCidr },
    /// The addresses of MX host `names[at]`.
    MxAddresses { qualifier: Qualifier, cidr: DualCidr, names: Vec<String>, at: usize },
    /// `exists` (§5.7).
    Exists { qualifier: Qualifier },
    /// The PTR names of the client's address.
    PtrNames { purpose: PtrFor },
    /// The addresses of PTR name `names[at]`.
    PtrAddresses { purpose: PtrFor, names: Vec<String>, at: usize, validated: Vec<String> },
    /// The `exp=` text of the record that failed (§6.2), in `domain`.
    Explanation { domain: String },
}

/// A mechanism's outcome.
enum Outcome {
    Match(Qualifier),
    NoMatch,
    Error(SpfResult),
}

/// `check_host(<ip>, <domain>, <sender>)` (§4) as a pull-based state
/// machine.
///
/// ```
/// use mxscan::policy::spf::{Answer, CheckHost, Sender, SpfResult};
/// let sender = Sender { ip: "192.0.2.1".parse().unwrap(), helo: "mx.example.com".into(), mail_from: "a@example.com".into() };
/// let mut check = CheckHost::new(sender, "receiver.example.net", 0);
/// while let Some(query) = check.next_query() {
///     let answer = Answer::Records(vec![b"v=spf1 ip4:192.0.2.0/24 -all".to_vec()]);
///     check.answer(&query, answer);
/// }
/// assert_eq!(check.result(), Some(&SpfResult::Pass));
/// ```
#[derive(Debug)]
pub struct CheckHost {
    sender: Sender,
    /// `<sender>` with a local part (§4.3).
    sender_address: String,
    receiver: String,
    timestamp: u64,
    stack: Vec<Frame>,
    /// The question asked or to ask, and whether it was handed out.
    query: Option<(Query, bool)>,
    waiting: Option<Waiting>,
    lookups: u8,
    void_lookups: u8,
    /// `%{p}`, looked up once per check, where first needed (§7.3).
    validated: Option<String>,
    /// An explanation text and its `<domain>`, waiting for `%{p}`.
    explanation: Option<(MacroString, String)>,
    result: Option<SpfResult>,
}

impl CheckHost {
    /// Starts `check_host()` for the MAIL FROM identity (or, for a null
    /// reverse path, HELO). `receiver` and `timestamp` are the `%{r}` and
    /// `%{t}` of explanations (§7.2); nothing here reads a clock.
    pub fn new(mut sender: Sender, receiver: &str, timestamp: u64) -> Self {
        // §5: an IPv4-mapped IPv6 client is an IPv4 client (A records, ip4).
        if let IpAddr::V6(v6) = sender.ip
            && let Some(v4) = v6.to_ipv4_mapped()
        {
            sender.ip = IpAddr::V4(v4);
        }
        // §4.3: no local part means "postmaster"; an empty MAIL FROM
        // means the HELO identity (§2.4).
        let sender_address = match sender.mail_from.rsplit_once('@') {
            Some(("", domain)) => format!("postmaster@{domain}"),
            Some(_) => sender.mail_from.clone(),
            None if sender.mail_from.is_empty() => format!("postmaster@{}", sender.helo),
            None => format!("postmaster@{}", sender.mail_from),
        };
        let domain = sender_address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default().to_string();
        let mut check = Self {
            sender,
            sender_address,
            receiver: receiver.to_string(),
            timestamp,
            stack: Vec::new(),
            query: None,
            waiting: None,
            lookups: 0,
            void_lookups: 0,
            validated: None,
            explanation: None,
            result: None,
        };
        // §4.3: a malformed or single-label domain is "none" at once.
        if is_valid_domain(&domain) {
            let waiting = Waiting::Record {
                domain: domain.to_ascii_lowercase(),
                kind: FrameKind::Top,
                redirect: false,
            };
            check.ask(&domain, qtype::TXT, waiting);
        } else {
            check.result = Some(SpfResult::None);
        }
        check
    }

    /// The question to resolve next: one at a time; `None` while the
    /// previous one is unanswered or once the result is known.
    pub fn next_query(&mut self) -> Option<Query> {
        match &mut self.query {
            Some((query, handed_out)) if !*handed_out => {
                *handed_out = true;
                Some(query.clone())
            }
            _ => None,
        }
    }

    /// Hands in the answer to the question [`Self::next_query`] gave;
    /// any other answer is ignored.
    pub fn answer(&mut self, query: &Query, answer: Answer) {
        if self.query.as_ref().is_none_or(|(q, handed_out)| q != query || !handed_out) {
            return;
        }
        self.query = None;
        let Some(waiting) = self.waiting.take() else { return };
        self.on_answer(waiting, answer);
        self.run();
    }

    /// The result, once known.
    pub fn result(&self) -> Option<&SpfResult> {
        self.result.as_ref()
    }

    /// DNS-querying terms evaluated so far (§4.6.4).
    pub fn lookups(&self) -> u8 {
        self.lookups
    }

    fn ask(&mut self, name: &str, qtype: u16, waiting: Waiting) {
        self.query = Some((Query { name: name.trim_end_matches('.').to_ascii_lowercase(), qtype }, false));
        self.waiting = Some(waiting);
    }

    fn address_qtype(&self) -> u16 {
        if self.sender.ip.is_ipv4() { qtype::A } else { qtype::AAAA }
    }

    fn expand(&self, spec: &MacroString, domain: &str) -> String {
        let env = MacroEnv {
            sender: &self.sender_address,
            domain,
            ip: self.sender.ip,
            helo: &self.sender.helo,
            validated: self.validated.as_deref().unwrap_or("unknown"),
            receiver: &self.receiver,
            timestamp: self.timestamp,
        };
        spec.expand(&env)
    }

    /// A target name from a domain-spec: expanded and cut to 253 octets
    /// from the left (§7.3).
    fn target(&self, spec: &MacroString, domain: &str) -> String {
        let mut name = self.expand(spec, domain);
        while name.trim_end_matches('.').len() > 253 {
            match name.split_once('.') {
                Some((_, rest)) => name = rest.to_string(),
                None => break,
            }
        }
        name
    }

    /// Counts a DNS-querying term: false when it is one too many.
    fn count(&mut self) -> bool {
        self.lookups = self.lookups.saturating_add(1);
        self.lookups <= LOOKUP_LIMIT
    }

    /// Counts a void answer (§4.6.4): false when it is one too many.
    fn void(&mut self, answer: &Answer) -> bool {
        if answer.is_void() {
            self.void_lookups = self.void_lookups.saturating_add(1);
        }
        self.void_lookups <= VOID_LOOKUP_LIMIT
    }

    /// Evaluates terms until a question is needed or the result is known.
    fn run(&mut self) {
        while self.result.is_none() && self.query.is_none() {
            let Some(frame) = self.stack.last_mut() else { return };
            let domain = frame.domain.clone();
            let Some(term) = frame.record.terms.get(frame.next) else {
                // §4.7 and §6.1: no mechanism matched; redirect, unless the
                // record has an `all`, else neutral.
                let redirect =
                    frame.record.redirect().filter(|_| !frame.redirect_taken && !frame.record.has_all());
                let Some(spec) = redirect.cloned() else {
                    self.frame_result(SpfResult::Neutral);
                    continue;
                };
                if spec.uses('p') && self.validated.is_none() {
                    self.start_ptr(PtrFor::Macro);
                    continue;
                }
                frame.redirect_taken = true;
                let kind = frame.kind;
                if !self.count() {
                    self.frame_result(SpfResult::PermError);
                    continue;
                }
                let target = self.target(&spec, &domain);
                if is_valid_domain(&target) {
                    let waiting = Waiting::Record { domain: normalize(&target), kind, redirect: true };
                    self.ask(&target, qtype::TXT, waiting);
                } else {
                    // A target that names no domain has no record: as §6.1's "none".
                    self.frame_result(SpfResult::PermError);
                }
                continue;
            };
            let TermKind::Directive(qualifier, mechanism) = &term.kind else {
                frame.next += 1;
                continue;
            };
            let (qualifier, mechanism) = (*qualifier, mechanism.clone());
            if mechanism_uses_p(&mechanism) && self.validated.is_none() {
                self.start_ptr(PtrFor::Macro);
                continue;
            }
            frame.next += 1;
            if let Some(outcome) = self.mechanism(qualifier, &mechanism, &domain) {
                self.outcome(outcome);
            }
        }
    }

    /// Evaluates one mechanism: its outcome, or `None` when a question was asked.
    fn mechanism(&mut self, qualifier: Qualifier, mechanism: &Mechanism, domain: &str) -> Option<Outcome> {
        let queries = !matches!(mechanism, Mechanism::All | Mechanism::Ip4(..) | Mechanism::Ip6(..));
        if queries && !self.count() {
            return Some(Outcome::Error(SpfResult::PermError));
        }
        let own = |spec: &Option<MacroString>| match spec {
            Some(spec) => self.target(spec, domain),
            None => domain.to_string(),
        };
        let (name, qtype, waiting) = match mechanism {
            Mechanism::All => return Some(Outcome::Match(qualifier)),
            Mechanism::Ip4(network, prefix) => {
                let hit =
                    matches!(self.sender.ip, IpAddr::V4(ip) if in_v4(ip, *network, prefix.unwrap_or(32)));
                return Some(if hit { Outcome::Match(qualifier) } else { Outcome::NoMatch });
            }
            Mechanism::Ip6(network, prefix) => {
                let hit =
                    matches!(self.sender.ip, IpAddr::V6(ip) if in_v6(ip, *network, prefix.unwrap_or(128)));
                return Some(if hit { Outcome::Match(qualifier) } else { Outcome::NoMatch });
            }
            Mechanism::Include(spec) => {
                let target = self.target(spec, domain);
                let waiting = Waiting::Record {
                    domain: normalize(&target),
                    kind: FrameKind::Include(qualifier),
                    redirect: false,
                };
                (target, qtype::TXT, waiting)
            }
            Mechanism::A(spec, cidr) => {
                (own(spec), self.address_qtype(), Waiting::A { qualifier, cidr: *cidr })
            }
            Mechanism::Mx(spec, cidr) => (own(spec), qtype::MX, Waiting::MxNames { qualifier, cidr: *cidr }),
            Mechanism::Exists(spec) => (self.target(spec, domain), qtype::A, Waiting::Exists { qualifier }),
            Mechanism::Ptr(spec) => {
                let target = own(spec).trim_end_matches('.').to_ascii_lowercase();
                self.start_ptr(PtrFor::Mechanism { qualifier, target });
                return None;
            }
        };
        if !is_valid_domain(&name) {
            // An expansion that names no domain cannot exist in the DNS:
            // an include target without a record (§5.2: permerror), a
            // non-matching `a`/`mx`/`exists`.
            return Some(match waiting {
                Waiting::Record { .. } => Outcome::Error(SpfResult::PermError),
                _ => Outcome::NoMatch,
            });
        }
        self.ask(&name, qtype, waiting);
        None
    }

    /// §5.5: the PTR names of the client's address.
    fn start_ptr(&mut self, purpose: PtrFor) {
        let name = reverse_name(self.sender.ip);
        self.ask(&name, qtype::PTR, Waiting::PtrNames { purpose });
    }

    fn on_answer(&mut self, waiting: Waiting, answer: Answer) {
        match waiting {
            Waiting::Record { domain, kind, redirect } => self.on_record(domain, kind, redirect, answer),
            Waiting::A { qualifier, cidr } => {
                if matches!(answer, Answer::Failed) {
                    return self.outcome(Outcome::Error(SpfResult::TempError));
                }
                if !self.void(&answer) {
                    return self.outcome(Outcome::Error(SpfResult::PermError));
                }
                let hit = addresses(&answer).any(|a| self.in_cidr(a, cidr));
                self.outcome(if hit { Outcome::Match(qualifier) } else { Outcome::NoMatch });
            }
            Waiting::MxNames { qualifier, cidr } => {
                if matches!(answer, Answer::Failed) {
                    return self.outcome(Outcome::Error(SpfResult::TempError));
                }
                if !self.void(&answer) {
                    return self.outcome(Outcome::Error(SpfResult::PermError));
                }
                let names = names(&answer);
                // §4.6.4: no more than 10 address lookups per `mx`.
                if names.len() > 10 {
                    return self.outcome(Outcome::Error(SpfResult::PermError));
                }
                self.next_mx(qualifier, cidr, names, 0);
            }
            Waiting::MxAddresses { qualifier, cidr, names, at } => {
                if matches!(answer, Answer::Failed) {
                    return self.outcome(Outcome::Error(SpfResult::TempError));
                }
                if addresses(&answer).any(|a| self.in_cidr(a, cidr)) {
                    return self.outcome(Outcome::Match(qualifier));
                }
                self.next_mx(qualifier, cidr, names, at + 1);
            }
            Waiting::Exists { qualifier } => {
                if matches!(answer, Answer::Failed) {
                    return self.outcome(Outcome::Error(SpfResult::TempError));
                }
                if !self.void(&answer) {
                    return self.outcome(Outcome::Error(SpfResult::PermError));
                }
                let hit = !answer.is_void();
                self.outcome(if hit { Outcome::Match(qualifier) } else { Outcome::NoMatch });
            }
            Waiting::PtrNames { purpose } => {
                if let PtrFor::Mechanism { .. } = purpose
                    && !self.void(&answer)
                {
                    return self.outcome(Outcome::Error(SpfResult::PermError));
                }
                // §4.6.4: records past the first 10 are ignored; for the
                // mechanism only names at or under the target can matter.
                let mut names: Vec<String> = names(&answer).into_iter().take(10).collect();
                if let PtrFor::Mechanism { target, .. } = &purpose {
                    names.retain(|n| is_at_or_under(n, target));
                }
                self.next_ptr(purpose, names, 0, Vec::new());
            }
            Waiting::PtrAddresses { purpose, names, at, mut validated } => {
                // §5.5: a name whose lookup fails is skipped.
                if addresses(&answer).any(|a| a == self.sender.ip)
                    && let Some(name) = names.get(at)
                {
                    validated.push(name.clone());
                }
                self.next_ptr(purpose, names, at + 1, validated);
            }
            Waiting::Explanation { domain } => self.on_explanation(&domain, answer),
        }
    }

    fn next_mx(&mut self, qualifier: Qualifier, cidr: DualCidr, names: Vec<String>, at: usize) {
        match names.get(at) {
            Some(name) => {
                let name = name.clone();
                let qtype = self.address_qtype();
                self.ask(&name, qtype, Waiting::MxAddresses { qualifier, cidr, names, at });
            }
            None => self.outcome(Outcome::NoMatch),
        }
    }

    fn next_ptr(&mut self, purpose: PtrFor, names: Vec<String>, at: usize, validated: Vec<String>) {
        if let Some(name) = names.get(at) {
            let name = name.clone();
            let qtype = self.address_qtype();
            self.ask(&name, qtype, Waiting::PtrAddresses { purpose, names, at, validated });
            return;
        }
        match purpose {
            PtrFor::Mechanism { qualifier, .. } => {
                self.outcome(if validated.is_empty() { Outcome::NoMatch } else { Outcome::Match(qualifier) });
            }
            PtrFor::Macro => {
                // §7.3: the domain itself, else a subdomain of it, else any.
                let domain = self.current_domain();
                let pick = validated
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(&domain))
                    .or_else(|| validated.iter().find(|n| is_at_or_under(n, &domain)))
                    .or(validated.first());
                self.validated = Some(pick.cloned().unwrap_or_else(|| "unknown".to_string()));
                if let Some((text, domain)) = self.explanation.take() {
                    self.finish_explanation(&text, &domain);
                }
            }
        }
    }

    fn current_domain(&self) -> String {
        self.stack
            .last()
            .map(|f| f.domain.clone())
            .or_else(|| self.explanation.as_ref().map(|e| e.1.clone()))
            .unwrap_or_default()
    }

    fn in_cidr(&self, address: IpAddr, cidr: DualCidr) -> bool {
        match (self.sender.ip, address) {
            (IpAddr::V4(ip), IpAddr::V4(net)) => in_v4(ip, net, cidr.v4.unwrap_or(32)),
            (IpAddr::V6(ip), IpAddr::V6(net)) => in_v6(ip, net, cidr.v6.unwrap_or(128)),
            _ => false,
        }
    }

    /// The record of a domain arrived (§4.4, §4.5).
    fn on_record(&mut self, domain: String, kind: FrameKind, redirect: bool, answer: Answer) {
        let txts = match answer {
            Answer::Records(txts) => txts,
            Answer::NoData | Answer::NxDomain => Vec::new(),
            Answer::Failed => return self.enter_failed(kind, redirect, SpfResult::TempError),
        };
        let record = match select_record(&txts) {
            Selection::One(text) => Record::parse(&text),
            // §4.5: "none"; for an include or redirect target a permerror
            // (§5.2, §6.1), which `enter_failed` maps.
            Selection::None => return self.enter_failed(kind, redirect, SpfResult::None),
            Selection::Multiple(_) => return self.enter_failed(kind, redirect, SpfResult::PermError),
        };
        let Ok(record) = record else {
            return self.enter_failed(kind, redirect, SpfResult::PermError);
        };
        if redirect {
            self.stack.pop();
        }
        self.stack.push(Frame { kind, domain, record, next: 0, redirect_taken: false });
    }

    /// A record that could not be evaluated: at the top its result is the
    /// domain's; for a redirect "none" becomes permerror (§6.1), and an
    /// include maps it through §5.2's table in [`Self::frame_result`].
    fn enter_failed(&mut self, kind: FrameKind, redirect: bool, result: SpfResult) {
        let result = if redirect && result == SpfResult::None { SpfResult::PermError } else { result };
        match kind {
            FrameKind::Top if !redirect => self.result = Some(result),
            FrameKind::Top => self.frame_result(result),
            FrameKind::Include(_) if redirect => self.frame_result(result),
            FrameKind::Include(qualifier) => self.include_result(qualifier, result),
        }
    }

    /// A mechanism's outcome in the current record.
    fn outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Match(qualifier) => self.frame_result(SpfResult::of(qualifier)),
            Outcome::NoMatch => {}
            Outcome::Error(result) => self.frame_result(result),
        }
    }

    /// The current record's result: it ends the check (with an
    /// explanation for fail, §6.2) or goes to the including record.
    fn frame_result(&mut self, result: SpfResult) {
        let Some(frame) = self.stack.pop() else {
            self.result = Some(result);
            return;
        };
        match frame.kind {
            FrameKind::Include(qualifier) => self.include_result(qualifier, result),
            FrameKind::Top => match (result, frame.record.explanation()) {
                (SpfResult::Fail { .. }, Some(spec)) => {
                    // §6.2: from the record that failed (after redirects,
                    // never from an included one).
                    let target = self.target(spec, &frame.domain);
                    if is_valid_domain(&target) {
                        self.ask(&target, qtype::TXT, Waiting::Explanation { domain: frame.domain.clone() });
                    } else {
                        self.result = Some(SpfResult::Fail { explanation: None });
                    }
                }
                (result, _) => self.result = Some(result),
            },
        }
    }

    /// §5.2's table: what an included record's result does to the
    /// include mechanism in the record that included it.
    fn include_result(&mut self, qualifier: Qualifier, result: SpfResult) {
        let outcome = match result {
            SpfResult::Pass => Outcome::Match(qualifier),
            SpfResult::Fail { .. } | SpfResult::SoftFail | SpfResult::Neutral => Outcome::NoMatch,
            SpfResult::TempError => Outcome::Error(SpfResult::TempError),
            SpfResult::PermError | SpfResult::None => Outcome::Error(SpfResult::PermError),
        };
        self.outcome(outcome);
    }

    fn on_explanation(&mut self, domain: &str, answer: Answer) {
        // §6.2: no record, several, a DNS error or a syntax error in the
        // text: no explanation (the receiver's default); the result stays
        // fail. The text is restricted to US-ASCII.
        let text = match answer {
            Answer::Records(txts) if txts.len() == 1 => String::from_utf8(txts[0].clone()).ok(),
            _ => None,
        };
        let parsed = text
            .filter(|t| t.is_ascii())
            .and_then(|t| MacroString::parse(&t, MacroContext::Explanation).ok());
        let Some(parsed) = parsed else {
            self.result = Some(SpfResult::Fail { explanation: None });
            return;
        };
        if parsed.uses('p') && self.validated.is_none() {
            self.explanation = Some((parsed, domain.to_string()));
            self.start_ptr(PtrFor::Macro);
            return;
        }
        self.finish_explanation(&parsed, domain);
    }

    fn finish_explanation(&mut self, text: &MacroString, domain: &str) {
        let explanation = self.expand(text, domain);
        self.result = Some(SpfResult::Fail { explanation: Some(explanation) });
    }
}
