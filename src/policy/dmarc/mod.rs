//! DMARC policy records (RFC 7489 §6.3–6.4, and RFC 9989, which obsoleted
//! it in May 2026): selecting the record among a name's TXT records,
//! parsing it into the `dmarc` column, and the findings it carries.
//! [`discovery`] says where to look (the RFC 9989 tree walk, with the RFC
//! 7489 organisational-domain fallback beside it); [`external`] checks
//! report destinations outside the organisation (RFC 7489 §7.1).
//!
//! The RFC 9989 text used here is draft-ietf-dmarc-dmarcbis-41 (the
//! version sent to the RFC Editor, April 2025), the last text available to
//! us; where the two RFCs differ both syntaxes are read (the research note,
//! §4.7): `pct`, `rf`, `ri` are kept and reported as retired; `t`, `np`,
//! `psd` are parsed.
//!
//! Case: the ABNF's quoted strings are case-insensitive (RFC 5234 §2.3),
//! so tag names and keyword values (`p=Reject`) are matched without case
//! and stored lowercase; only the version value `DMARC1` is case-sensitive
//! (`%x44 %x4d …` in RFC 7489 §6.4, `%s"DMARC1"` in RFC 9989).

pub mod discovery;
pub mod external;

use super::tags::{self, Piece, Selection, TxtRecord, is_fws, keywords, split_tags};

keywords! {
    /// Status of the `dmarc` column.
    DmarcStatus {
        /// No record applies (none published, or RFC 9989 discovery found none).
        None = "none",
        /// A record applies and parses without error.
        Ok = "ok",
        /// A record applies but has errors, or several records left none.
        Invalid = "invalid",
        /// A DNS failure on the way: unknown.
        TempError = "temperror",
    }
}

keywords! {
    /// `p`, `sp`, `np` (RFC 7489 §6.3 `dmarc-request`).
    Policy {
        /// Monitoring only.
        None = "none",
        /// Treat failing mail as suspicious.
        Quarantine = "quarantine",
        /// Reject failing mail.
        Reject = "reject",
    }
}

keywords! {
    /// `adkim`, `aspf` (RFC 7489 §6.3).
    Alignment {
        /// Relaxed: organisational domains equal.
        Relaxed = "r",
        /// Strict: names equal.
        Strict = "s",
    }
}

keywords! {
    /// RFC 9989 `psd`.
    Psd {
        /// The domain is a public suffix domain.
        Yes = "y",
        /// Not a PSD; the organisational domain of itself and below.
        No = "n",
        /// Unknown (the default): the tree walk decides.
        Unknown = "u",
    }
}

/// The prefix of the error that records several `v=DMARC1` records at one
/// name (followed by ` at <name>`): the `dmarc_multiple_records` finding.
pub const SEVERAL_RECORDS: &str = "several v=DMARC1 records";

/// Tags that RFC 9989 retired (`dmarc_retired_tag`).
const RETIRED: [&str; 3] = ["pct", "rf", "ri"];

/// The `dmarc` column of a domain (output contract, "policy stage").
#[derive(Debug, Clone, PartialEq)]
pub struct DmarcReport {
    /// `none`, `ok`, `invalid`, `temperror`.
    pub status: DmarcStatus,
    /// The record that applies.
    pub record: Option<String>,
    /// Owner name where it was found (`_dmarc.<domain>` or a parent).
    pub found_at: Option<String>,
    /// `p`, when valid.
    pub p: Option<Policy>,
    /// `sp`, when valid.
    pub sp: Option<Policy>,
    /// `np` (RFC 9989), when valid.
    pub np: Option<Policy>,
    /// `pct` as published (retired by RFC 9989), when valid (0–100).
    pub pct: Option<u8>,
    /// `adkim`, when valid.
    pub adkim: Option<Alignment>,
    /// `aspf`, when valid.
    pub aspf: Option<Alignment>,
    /// RFC 9989 `t` (testing), when valid.
    pub t: Option<bool>,
    /// RFC 9989 `psd`, when valid.
    pub psd: Option<Psd>,
    /// The valid `rua` URIs, as published (size suffix included).
    pub rua: Vec<String>,
    /// The valid `ruf` URIs, as published.
    pub ruf: Vec<String>,
    /// `rua` URIs outside the organisation without an authorisation
    /// record (filled by [`external::rua_unauthorized`]).
    pub rua_unauthorized: Vec<String>,
    /// What is wrong: short messages, each naming the tag.
    pub errors: Vec<String>,
}

impl DmarcReport {
    /// A report with the given status and nothing else.
    pub fn empty(status: DmarcStatus) -> Self {
        Self {
            status,
            record: None,
            found_at: None,
            p: None,
            sp: None,
            np: None,
            pct: None,
            adkim: None,
            aspf: None,
            t: None,
            psd: None,
            rua: Vec::new(),
            ruf: Vec::new(),
            rua_unauthorized: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The domain the record was published for (`found_at` without
    /// `_dmarc.`): the "domain name from which the policy was retrieved"
    /// of RFC 7489 §7.1.
    pub fn policy_domain(&self) -> Option<&str> {
        self.found_at.as_deref().and_then(|n| n.strip_prefix("_dmarc."))
    }

    /// The policy a receiver acts on: `p` when valid; otherwise `none`
    /// when the record has a valid `rua` (RFC 7489 §6.6.3 step 6, RFC 9989
    /// "DMARC Policy Discovery") or no `p` at all (RFC 9989 `p`: "treated
    /// as if it included p=none"); otherwise no DMARC processing.
    pub fn effective_policy(&self) -> Option<Policy> {
        let record = self.record.as_deref()?;
        if self.p.is_some() {
            return self.p;
        }
        let has_p = split_tags(record)
            .iter()
            .any(|piece| matches!(piece, Piece::Tag { name, .. } if name.eq_ignore_ascii_case("p")));
        (!self.rua.is_empty() || !has_p).then_some(Policy::None)
    }

    /// The finding codes this report raises (catalogue "Mail policy").
    /// `dmarc_reject_without_auth` needs SPF and DKIM and is not decided
    /// here.
    pub fn findings(&self) -> Vec<&'static str> {
        let mut codes = Vec::new();
        if self.status == DmarcStatus::None {
            codes.push("dmarc_missing");
        }
        if self.errors.iter().any(|e| e.starts_with(SEVERAL_RECORDS)) {
            codes.push("dmarc_multiple_records");
        }
        if self.errors.iter().any(|e| !e.starts_with(SEVERAL_RECORDS)) {
            codes.push("dmarc_syntax_error");
        }
        if self.effective_policy() == Some(Policy::None) {
            codes.push("dmarc_policy_none");
        }
        if self.pct.is_some_and(|pct| pct < 100) {
            codes.push("dmarc_partial_pct");
        }
        if self.record.as_deref().is_some_and(has_retired_tag) {
            codes.push("dmarc_retired_tag");
        }
        if !self.rua_unauthorized.is_empty() {
            codes.push("dmarc_rua_unauthorized");
        }
        codes
    }
}

fn has_retired_tag(record: &str) -> bool {
    split_tags(record).iter().any(|piece| match piece {
        Piece::Tag { name, .. } => RETIRED.iter().any(|r| name.eq_ignore_ascii_case(r)),
        _ => false,
    })
}

/// Whether a TXT record is a DMARC record: it starts with the `v` tag
/// whose value is `DMARC1` (RFC 7489 §6.6.3 step 2, §6.4 `dmarc-version =
/// "v" *WSP "=" *WSP %x44 %x4d %x41 %x52 %x43 %x31`), followed by the end
/// or a separator. White space before `v` is allowed: DMARC follows the
/// DKIM tag-list syntax (RFC 7489 §6.3), whose `tag-spec` starts with
/// `[FWS]` (RFC 6376 §3.2).
pub fn is_dmarc_record(record: &[u8]) -> bool {
    let start = record.iter().position(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    let Some(rest) = start.map(|i| &record[i..]) else { return false };
    let Some(rest) = rest.strip_prefix(b"v").or_else(|| rest.strip_prefix(b"V")) else { return false };
    let rest = skip_wsp(rest);
    let Some(rest) = rest.strip_prefix(b"=") else { return false };
    let Some(rest) = skip_wsp(rest).strip_prefix(b"DMARC1") else { return false };
    matches!(skip_wsp(rest).first(), None | Some(b';'))
}

fn skip_wsp(bytes: &[u8]) -> &[u8] {
    let n = bytes.iter().take_while(|&&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')).count();
    &bytes[n..]
}

/// The DMARC record among one name's TXT records (RFC 7489 §6.6.3 steps
/// 2 and 5): several mean none applies (`dmarc_multiple_records`).
pub fn select(txt: &[TxtRecord]) -> Selection {
    tags::select(txt, is_dmarc_record)
}

/// Parses a DMARC record (RFC 7489 §6.3–6.4, RFC 9989). Unknown tags are
/// ignored (§6.3); a duplicated tag keeps its first value and is an error
/// (the tag-list rule of RFC 6376 §3.2); every other fault is an error
/// naming the tag, and its column stays null. `status` is `ok` or
/// `invalid`; `found_at` is left for the caller.
pub fn parse(record: &str) -> DmarcReport {
    let mut report = DmarcReport::empty(DmarcStatus::Ok);
    report.record = Some(record.to_string());
    let mut seen: Vec<String> = Vec::new();
    let mut saw_p = false;
    for (i, piece) in split_tags(record).into_iter().enumerate() {
        let (name, value) = match piece {
            Piece::Tag { name, value } => (name.to_ascii_lowercase(), value),
            Piece::Empty => {
                report.errors.push("empty tag between ';'".into());
                continue;
            }
            Piece::Malformed(_) => {
                report.errors.push(if i == 0 { "v: must be the first tag" } else { "malformed tag" }.into());
                continue;
            }
        };
        if seen.contains(&name) {
            report.errors.push(format!("{name}: duplicated (first kept)"));
            continue;
        }
        seen.push(name.clone());
        if (i == 0) != (name == "v") {
            report.errors.push("v: must be the first tag".into());
            if name == "v" {
                continue;
            }
        }
        saw_p |= name == "p";
        if let Err(what) = apply_tag(&mut report, &name, value) {
            report.errors.push(format!("{name}: {what}"));
        }
    }
    if !saw_p {
        // Required by RFC 7489 §6.3; RFC 9989 reads a missing `p` as `none`
        // (see `effective_policy`).
        report.errors.push("p: missing".into());
    }
    if !report.errors.is_empty() {
        report.status = DmarcStatus::Invalid;
    }
    report
}

/// Reads one known tag into the report; unknown tags are ignored.
fn apply_tag(report: &mut DmarcReport, name: &str, value: &str) -> Result<(), &'static str> {
    let lower = value.to_ascii_lowercase();
    match name {
        "v" if value != "DMARC1" => return Err("must be DMARC1"),
        "p" | "sp" | "np" => {
            let policy = Policy::parse(&lower).ok_or("not none, quarantine or reject")?;
            *match name {
                "p" => &mut report.p,
                "sp" => &mut report.sp,
                _ => &mut report.np,
            } = Some(policy);
        }
        "adkim" | "aspf" => {
            let mode = Alignment::parse(&lower).ok_or("not r or s")?;
            *if name == "adkim" { &mut report.adkim } else { &mut report.aspf } = Some(mode);
        }
        "pct" => {
            // `1*3DIGIT`, 0–100 (RFC 7489 §6.3, §6.4).
            let digits = value.len() <= 3 && !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
            let pct = value.parse::<u8>().ok().filter(|&p| digits && p <= 100);
            report.pct = Some(pct.ok_or("not an integer 0-100")?);
        }
        "t" => report.t = Some(yes_no(&lower).ok_or("not y or n")?),
        "psd" => report.psd = Some(Psd::parse(&lower).ok_or("not y, n or u")?),
        "fo" if !is_fo(&lower) => return Err("not a ':'-list of 0, 1, d, s"),
        "rua" => report.rua = uri_list(value)?,
        "ruf" => report.ruf = uri_list(value)?,
        _ => {} // unknown tags MUST be ignored (RFC 7489 §6.3); rf and ri
                // are retired by RFC 9989 and not checked.
    }
    Ok(())
}

fn yes_no(value: &str) -> Option<bool> {
    match value {
        "y" => Some(true),
        "n" => Some(false),
        _ => None,
    }
}

/// RFC 7489 §6.4 `dmarc-fo`: `("0" / "1" / "d" / "s") *(*WSP ":" *WSP …)`.
fn is_fo(value: &str) -> bool {
    value.split(':').all(|option| matches!(option.trim_matches(is_fws), "0" | "1" | "d" | "s"))
}

/// RFC 7489 §6.4 `dmarc-uri *(*WSP "," *WSP dmarc-uri)` with `dmarc-uri =
/// URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]` (RFC 9989 keeps the size
/// as obsolete syntax). Any bad element fails the whole list: the tag's
/// value is then a syntax error as a whole.
fn uri_list(value: &str) -> Result<Vec<String>, &'static str> {
    let mut uris = Vec::new();
    for raw in value.split(',') {
        let published = raw.trim_matches(is_fws);
        if published.is_empty() {
            return Err("empty URI in the list");
        }
        let uri = match published.split_once('!') {
            Some((uri, size)) if is_report_size(size) => uri,
            Some(_) => return Err("bad size suffix"),
            None => published,
        };
        tags::report_uri(uri).map_err(|_| "bad URI")?;
        uris.push(published.to_string());
    }
    Ok(uris)
}

fn is_report_size(size: &str) -> bool {
    let digits = size.strip_suffix(['k', 'm', 'g', 't', 'K', 'M', 'G', 'T']).unwrap_or(size);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
