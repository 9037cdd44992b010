//! The SPF record parser, written to the ABNF of RFC 7208 §4.6.1, §5, §6
//! and §12: every term is parsed or the record is a syntax error (§4.6:
//! "If there are any syntax errors anywhere in the record, check_host()
//! returns immediately with the result "permerror""). Nothing is clamped,
//! nothing dropped.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::macros::{MacroContext, MacroString};

/// A parsed SPF record: the terms after `v=spf1`, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The terms with their byte offsets in the record text.
    pub terms: Vec<Term>,
}

/// One term and where it starts in the record (a byte offset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    /// Byte offset of the term's first character in the record.
    pub pos: usize,
    /// The term.
    pub kind: TermKind,
}

/// A directive or a modifier (§4.6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TermKind {
    /// `[ qualifier ] mechanism`.
    Directive(Qualifier, Mechanism),
    /// `redirect=domain-spec` (§6.1).
    Redirect(MacroString),
    /// `exp=domain-spec` (§6.2).
    Explanation(MacroString),
    /// `name=macro-string`: kept, and ignored by evaluation (§6).
    Unknown {
        /// The modifier's name as written.
        name: String,
        /// Its value.
        value: MacroString,
    },
}

/// The qualifier of a directive (§4.6.2); `+` when absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Qualifier {
    /// `+`: pass.
    Pass,
    /// `-`: fail.
    Fail,
    /// `~`: softfail.
    SoftFail,
    /// `?`: neutral.
    Neutral,
}

/// A mechanism (§5) with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// `all` (§5.1).
    All,
    /// `include:domain-spec` (§5.2).
    Include(MacroString),
    /// `a[:domain-spec][dual-cidr-length]` (§5.3).
    A(Option<MacroString>, DualCidr),
    /// `mx[:domain-spec][dual-cidr-length]` (§5.4).
    Mx(Option<MacroString>, DualCidr),
    /// `ptr[:domain-spec]` (§5.5).
    Ptr(Option<MacroString>),
    /// `ip4:ip4-network[/cidr]` (§5.6).
    Ip4(Ipv4Addr, Option<u8>),
    /// `ip6:ip6-network[/cidr]` (§5.6).
    Ip6(Ipv6Addr, Option<u8>),
    /// `exists:domain-spec` (§5.7).
    Exists(MacroString),
}

/// `dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]`: the
/// prefix lengths as written (absent means the full address, 32 or 128).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DualCidr {
    /// The IPv4 prefix length, 0–32.
    pub v4: Option<u8>,
    /// The IPv6 prefix length, 0–128.
    pub v6: Option<u8>,
}

/// A syntax error: the term, its byte offset in the record and the kind.
/// Displays as `ip4:1.2.3.4/33 at 12: CIDR length out of range`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// The offending term as written (long terms shortened).
    pub term: String,
    /// Byte offset of the term in the record.
    pub pos: usize,
    /// What is wrong with it.
    pub kind: SyntaxErrorKind,
}

/// What is wrong with a term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyntaxErrorKind {
    /// Not one of the eight mechanisms (§5) and not `name=` a modifier.
    UnknownMechanism,
    /// A modifier whose name is not `ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )`.
    InvalidModifierName,
    /// A qualifier in front of a modifier.
    QualifiedModifier,
    /// A mechanism or modifier that needs a domain-spec has none.
    MissingDomain,
    /// An argument on a mechanism that takes none (`all:x`, `ptr/24`).
    UnexpectedArgument,
    /// The domain-spec does not end in a top label or a macro (§7.1 domain-end).
    InvalidDomainEnd,
    /// A `%` not starting a valid macro (§7.1, §7.3).
    InvalidMacro,
    /// A character outside `macro-literal` (§7.1): controls, non-ASCII.
    InvalidCharacter,
    /// Not an `ip4-network` (dotted quad, no leading zeros).
    InvalidIp4,
    /// Not an `ip6-network` (RFC 4291 §2.2).
    InvalidIp6,
    /// A CIDR length that is not digits without leading zeros.
    InvalidCidr,
    /// A CIDR length above 32 (IPv4) or 128 (IPv6).
    CidrOutOfRange,
    /// A second `redirect=` (§6).
    DuplicateRedirect,
    /// A second `exp=` (§6).
    DuplicateExplanation,
}

impl SyntaxErrorKind {
    /// The short message.
    pub fn message(self) -> &'static str {
        match self {
            Self::UnknownMechanism => "unknown mechanism",
            Self::InvalidModifierName => "invalid modifier name",
            Self::QualifiedModifier => "qualifier on a modifier",
            Self::MissingDomain => "missing domain-spec",
            Self::UnexpectedArgument => "unexpected argument",
            Self::InvalidDomainEnd => "domain-spec must end in a top label or a macro",
            Self::InvalidMacro => "invalid macro",
            Self::InvalidCharacter => "invalid character",
            Self::InvalidIp4 => "invalid ip4 address",
            Self::InvalidIp6 => "invalid ip6 address",
            Self::InvalidCidr => "invalid CIDR length",
            Self::CidrOutOfRange => "CIDR length out of range",
            Self::DuplicateRedirect => "duplicate redirect",
            Self::DuplicateExplanation => "duplicate exp",
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.term, self.pos, self.kind.message())
    }
}

impl std::error::Error for SyntaxError {}

/// Longest term text kept in an error message.
const TERM_IN_MESSAGE: usize = 64;

impl Record {
    /// Parses a record selected by [`super::select_record`]: `v=spf1`
    /// (any case) and then the terms separated by spaces (§4.6.1:
    /// `record = version terms *SP`). The first syntax error is returned.
    pub fn parse(text: &str) -> Result<Self, SyntaxError> {
        let version = text.get(..6).filter(|v| v.eq_ignore_ascii_case("v=spf1"));
        if version.is_none() || !matches!(text.as_bytes().get(6), None | Some(b' ')) {
            return Err(SyntaxError { term: shorten(text), pos: 0, kind: SyntaxErrorKind::UnknownMechanism });
        }
        let mut terms = Vec::new();
        let (mut redirect, mut explanation) = (false, false);
        let mut pos = 6;
        for piece in text[6..].split(' ') {
            let at = pos;
            pos += piece.len() + 1;
            if piece.is_empty() {
                continue; // 1*SP between terms, *SP at the end
            }
            let error = |kind| SyntaxError { term: shorten(piece), pos: at, kind };
            let kind = parse_term(piece).map_err(error)?;
            // §6: "redirect" and "exp" MUST NOT appear more than once each.
            match kind {
                TermKind::Redirect(_) if std::mem::replace(&mut redirect, true) => {
                    return Err(error(SyntaxErrorKind::DuplicateRedirect));
                }
                TermKind::Explanation(_) if std::mem::replace(&mut explanation, true) => {
                    return Err(error(SyntaxErrorKind::DuplicateExplanation));
                }
                _ => {}
            }
            terms.push(Term { pos: at, kind });
        }
        Ok(Self { terms })
    }

    /// The directives, in order.
    pub fn directives(&self) -> impl Iterator<Item = (Qualifier, &Mechanism)> {
        self.terms.iter().filter_map(|t| match &t.kind {
            TermKind::Directive(q, m) => Some((*q, m)),
            _ => None,
        })
    }

    /// The `redirect=` target, if any.
    pub fn redirect(&self) -> Option<&MacroString> {
        self.terms.iter().find_map(|t| if let TermKind::Redirect(d) = &t.kind { Some(d) } else { None })
    }

    /// The `exp=` domain-spec, if any.
    pub fn explanation(&self) -> Option<&MacroString> {
        self.terms.iter().find_map(|t| if let TermKind::Explanation(d) = &t.kind { Some(d) } else { None })
    }

    /// Whether the record has an `all` mechanism (then `redirect` is
    /// ignored, §6.1).
    pub fn has_all(&self) -> bool {
        self.directives().any(|(_, m)| *m == Mechanism::All)
    }
}

fn shorten(term: &str) -> String {
    match term.char_indices().nth(TERM_IN_MESSAGE) {
        Some((cut, _)) => format!("{}...", &term[..cut]),
        None => term.to_string(),
    }
}

/// One term: a modifier if a name is followed by `=` (§4.6.1: "Modifiers
/// always contain an equals ('=') character immediately after the name"),
/// else a directive.
fn parse_term(term: &str) -> Result<TermKind, SyntaxErrorKind> {
    let name_end = term.find(['=', ':', '/']).unwrap_or(term.len());
    let (name, rest) = term.split_at(name_end);
    if let Some(value) = rest.strip_prefix('=') {
        return parse_modifier(name, value);
    }
    let (qualifier, name) = match name.as_bytes().first() {
        Some(b'+') => (Qualifier::Pass, &name[1..]),
        Some(b'-') => (Qualifier::Fail, &name[1..]),
        Some(b'~') => (Qualifier::SoftFail, &name[1..]),
        Some(b'?') => (Qualifier::Neutral, &name[1..]),
        _ => (Qualifier::Pass, name),
    };
    Ok(TermKind::Directive(qualifier, parse_mechanism(&name.to_ascii_lowercase(), rest)?))
}

fn parse_modifier(name: &str, value: &str) -> Result<TermKind, SyntaxErrorKind> {
    if name.starts_with(['+', '-', '~', '?']) {
        return Err(SyntaxErrorKind::QualifiedModifier);
    }
    let valid_name = name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !valid_name {
        return Err(SyntaxErrorKind::InvalidModifierName);
    }
    if name.eq_ignore_ascii_case("redirect") {
        Ok(TermKind::Redirect(domain_spec(value)?))
    } else if name.eq_ignore_ascii_case("exp") {
        Ok(TermKind::Explanation(domain_spec(value)?))
    } else {
        Ok(TermKind::Unknown {
            name: name.to_string(),
            // A macro-string, whose ABNF has `c r t` (§7.1); it holds no
            // spaces, which separate terms.
            value: MacroString::parse(value, MacroContext::Explanation)?,
        })
    }
}

/// `rest` is what follows the name: empty, `:...` or `/...`.
fn parse_mechanism(name: &str, rest: &str) -> Result<Mechanism, SyntaxErrorKind> {
    let argument = rest.strip_prefix(':');
    match name {
        "all" => none_but(rest, Mechanism::All),
        "include" => Ok(Mechanism::Include(domain_spec(required(argument)?)?)),
        "exists" => Ok(Mechanism::Exists(domain_spec(required(argument)?)?)),
        "ptr" => match argument {
            Some(domain) => Ok(Mechanism::Ptr(Some(domain_spec(domain)?))),
            None => none_but(rest, Mechanism::Ptr(None)),
        },
        "a" | "mx" => {
            let (before_cidr, cidr) = split_dual_cidr(rest)?;
            let domain = match before_cidr.strip_prefix(':') {
                Some(domain) => Some(domain_spec(domain)?),
                None if before_cidr.is_empty() => None,
                None => return Err(SyntaxErrorKind::UnexpectedArgument),
            };
            Ok(if name == "a" { Mechanism::A(domain, cidr) } else { Mechanism::Mx(domain, cidr) })
        }
        "ip4" => {
            let (addr, cidr) = split_cidr(required(argument)?);
            let cidr = cidr.map(|c| cidr_length(c, 32)).transpose()?;
            Ok(Mechanism::Ip4(parse_ip4(addr).ok_or(SyntaxErrorKind::InvalidIp4)?, cidr))
        }
        "ip6" => {
            let (addr, cidr) = split_cidr(required(argument)?);
            let cidr = cidr.map(|c| cidr_length(c, 128)).transpose()?;
            Ok(Mechanism::Ip6(addr.parse().map_err(|_| SyntaxErrorKind::InvalidIp6)?, cidr))
        }
        _ => Err(SyntaxErrorKind::UnknownMechanism),
    }
}

fn none_but(rest: &str, mechanism: Mechanism) -> Result<Mechanism, SyntaxErrorKind> {
    if rest.is_empty() { Ok(mechanism) } else { Err(SyntaxErrorKind::UnexpectedArgument) }
}

fn required(argument: Option<&str>) -> Result<&str, SyntaxErrorKind> {
    argument.filter(|a| !a.is_empty()).ok_or(SyntaxErrorKind::MissingDomain)
}

fn domain_spec(text: &str) -> Result<MacroString, SyntaxErrorKind> {
    let spec = MacroString::parse(text, MacroContext::Term)?;
    spec.check_domain_end()?;
    Ok(spec)
}

fn split_cidr(argument: &str) -> (&str, Option<&str>) {
    match argument.split_once('/') {
        Some((addr, cidr)) => (addr, Some(cidr)),
        None => (argument, None),
    }
}

/// Splits `[":" domain-spec] dual-cidr-length` from the end: a domain-spec
/// may itself hold `/` (a macro-literal), but it cannot end in `/digits`
/// (domain-end), so trailing `/digits` and `//digits` are the CIDR.
fn split_dual_cidr(rest: &str) -> Result<(&str, DualCidr), SyntaxErrorKind> {
    let mut cidr = DualCidr::default();
    let mut rest = rest;
    if let Some((before, digits)) = trailing_digits(rest)
        && let Some(before) = before.strip_suffix("//")
    {
        cidr.v6 = Some(cidr_length(digits, 128)?);
        rest = before;
    }
    if let Some((before, digits)) = trailing_digits(rest)
        && let Some(before) = before.strip_suffix('/')
    {
        cidr.v4 = Some(cidr_length(digits, 32)?);
        rest = before;
    }
    Ok((rest, cidr))
}

fn trailing_digits(text: &str) -> Option<(&str, &str)> {
    let start = text.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    (start < text.len()).then(|| text.split_at(start))
}

/// `"0" / %x31-39 0*1DIGIT` (IPv4, ≤ 32) or `"0" / %x31-39 0*2DIGIT`
/// (IPv6, ≤ 128): no leading zeros, in range, never clamped.
fn cidr_length(digits: &str, max: u8) -> Result<u8, SyntaxErrorKind> {
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return Err(SyntaxErrorKind::InvalidCidr);
    }
    match digits.parse::<u8>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(SyntaxErrorKind::CidrOutOfRange),
    }
}

/// `ip4-network = qnum "." qnum "." qnum "." qnum`, qnum 0–255 without
/// leading zeros.
fn parse_ip4(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.starts_with('0')) {
            return None;
        }
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pass => "+",
            Self::Fail => "-",
            Self::SoftFail => "~",
            Self::Neutral => "?",
        })
    }
}

impl fmt::Display for DualCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v4) = self.v4 {
            write!(f, "/{v4}")?;
        }
        if let Some(v6) = self.v6 {
            write!(f, "//{v6}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let colon = |f: &mut fmt::Formatter<'_>, d: &Option<MacroString>| match d {
            Some(d) => write!(f, ":{d}"),
            None => Ok(()),
        };
        match self {
            Self::All => f.write_str("all"),
            Self::Include(d) => write!(f, "include:{d}"),
            Self::A(d, cidr) => {
                f.write_str("a")?;
                colon(f, d)?;
                write!(f, "{cidr}")
            }
            Self::Mx(d, cidr) => {
                f.write_str("mx")?;
                colon(f, d)?;
                write!(f, "{cidr}")
            }
            Self::Ptr(d) => {
                f.write_str("ptr")?;
                colon(f, d)
            }
            Self::Ip4(addr, cidr) => {
                write!(f, "ip4:{addr}")?;
                cidr.map_or(Ok(()), |c| write!(f, "/{c}"))
            }
            Self::Ip6(addr, cidr) => {
                write!(f, "ip6:{addr}")?;
                cidr.map_or(Ok(()), |c| write!(f, "/{c}"))
            }
            Self::Exists(d) => write!(f, "exists:{d}"),
        }
    }
}

impl fmt::Display for TermKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Directive(Qualifier::Pass, m) => write!(f, "{m}"),
            Self::Directive(q, m) => write!(f, "{q}{m}"),
            Self::Redirect(d) => write!(f, "redirect={d}"),
            Self::Explanation(d) => write!(f, "exp={d}"),
            Self::Unknown { name, value } => write!(f, "{name}={value}"),
        }
    }
}

/// The canonical text: `v=spf1` and the terms, one space apart.
impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=spf1")?;
        for term in &self.terms {
            write!(f, " {}", term.kind)?;
        }
        Ok(())
    }
}
