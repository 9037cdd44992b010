//! A domain's policy columns, assembled from what the policy stage received
//! ([`PolicyAnswers`]) and the row's MX data. Runs on the writer thread with
//! the rest of the analysis, off the DNS path.

use super::dane::{self, ExchangeTlsa};
use super::dkim::{self, DkimKeyReport, DkimStatus};
use super::dmarc::{DmarcReport, DmarcStatus, Policy};
use super::mta_sts::{Fetch, MtaStsReport, MtaStsStatus};
use super::spf::{SpfReport, SpfStatus};
use super::tlsrpt::{self, TlsRptReport};
use crate::record::MxEntry;
use crate::resolve::LookupStatus;
use crate::resolve::policy::{PolicyAnswers, PolicyFetch, txt_answer};

/// The policy stage's columns of one row, and its finding codes.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyReport {
    /// `spf`.
    pub spf: SpfReport,
    /// `dmarc`.
    pub dmarc: DmarcReport,
    /// `mta_sts`.
    pub mta_sts: MtaStsReport,
    /// `tlsrpt`.
    pub tlsrpt: TlsRptReport,
    /// `dkim`: one element per probed selector that has a key record.
    pub dkim: Vec<DkimKeyReport>,
    /// The policy stage's finding codes (sorted, unique), decided by the
    /// parsers; the catalogue's policy entries read them.
    pub findings: Vec<&'static str>,
}

impl PolicyReport {
    /// Whether `code` applies.
    pub fn has(&self, code: &str) -> bool {
        self.findings.contains(&code)
    }
}

/// What the policy stage knows of a row: the answers as the resolver stage
/// hands them over, then the report the analysis makes of them.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyStage {
    /// Received, not yet analysed.
    Answers(Box<PolicyAnswers>),
    /// Analysed: the columns.
    Report(Box<PolicyReport>),
}

/// Build the report, filling each exchange's `tlsa` and
/// `tlsa_authenticated` on the way. `mx_authenticated` is the AD bit of
/// the MX answer; `scanned_at_ms` dates the certificate's days left.
pub fn build(
    answers: &PolicyAnswers,
    mx: &mut [MxEntry],
    mx_authenticated: Option<bool>,
    scanned_at_ms: i64,
) -> PolicyReport {
    let mut findings: Vec<&'static str> = Vec::new();

    // DANE (RFC 7672): the TLSA of each distinct exchange, on every MX entry naming it.
    for entry in mx.iter_mut() {
        let Some((_, outcome)) = answers.tlsa.iter().find(|(e, _)| *e == entry.exchange) else { continue };
        let Some(outcome) = outcome else { continue };
        if outcome.status == LookupStatus::NoError {
            entry.tlsa = outcome.answer.tlsa.clone();
        }
        let ad = txt_answer(outcome).map(|_| outcome.answer.authenticated);
        entry.tlsa_authenticated = dane::tlsa_authenticated(&entry.tlsa, ad);
    }
    let exchanges: Vec<ExchangeTlsa<'_>> = answers
        .tlsa
        .iter()
        .filter_map(|(name, _)| mx.iter().find(|m| m.exchange == *name))
        .map(|m| ExchangeTlsa { tlsa: &m.tlsa, authenticated: m.tlsa_authenticated })
        .collect();
    findings.extend(dane::findings(&exchanges, mx_authenticated));

    let dmarc = answers.dmarc.clone().unwrap_or_else(|| DmarcReport::empty(DmarcStatus::TempError));
    findings.extend(dmarc.findings());

    let mut mta_sts = match &answers.mta_sts {
        Some(outcome) => MtaStsReport::from_txt(txt_answer(outcome)),
        None => MtaStsReport::empty(MtaStsStatus::TempError),
    };
    match &answers.policy {
        PolicyFetch::Done(result) => {
            let fetch = match &result.body {
                Ok(body) => {
                    Fetch::Body { body: body.as_bytes(), cert_not_after_ms: result.cert_not_after_ms }
                }
                Err(error) => Fetch::Failed { error, cert_not_after_ms: result.cert_not_after_ms },
            };
            mta_sts = mta_sts.with_fetch(fetch, scanned_at_ms);
        }
        PolicyFetch::NoAddress(why) => {
            mta_sts =
                mta_sts.with_fetch(Fetch::Failed { error: why, cert_not_after_ms: None }, scanned_at_ms);
        }
        PolicyFetch::None | PolicyFetch::Resolving { .. } | PolicyFetch::Requested => {}
    }
    let tiers: Vec<(String, u8)> =
        mx.iter().filter(|m| !m.is_null()).map(|m| (m.exchange.clone(), m.tier)).collect();
    mta_sts = mta_sts.with_mx(&tiers);
    findings.extend(mta_sts.findings());

    let tlsrpt = match &answers.tlsrpt {
        Some(outcome) => TlsRptReport::from_txt(txt_answer(outcome)),
        None => TlsRptReport::from_txt(None),
    };
    findings.extend(tlsrpt.findings());
    if tlsrpt::mta_sts_without_tlsrpt(&mta_sts, &tlsrpt) {
        findings.push("mta_sts_without_tlsrpt");
    }

    let dkim: Vec<DkimKeyReport> = answers
        .dkim
        .iter()
        .filter_map(|(selector, outcome)| {
            let records = outcome.as_deref().and_then(txt_answer)?;
            dkim::check_selector(selector, records)
        })
        .collect();
    for key in &dkim {
        findings.extend(key.findings());
    }

    let spf = match &answers.spf {
        Some(summary) => {
            findings.extend(summary.codes.iter().copied());
            summary.report.clone()
        }
        None => SpfReport::empty(SpfStatus::TempError),
    };
    // RFC 7208 §2.1: a domain that receives mail should say who sends it.
    let receives_mail =
        mx.iter().any(|m| !m.is_null() && m.address_status == crate::record::AddressStatus::Ok);
    if spf.status == SpfStatus::None && receives_mail {
        findings.push("spf_missing");
    }
    // RFC 7505 §4.2: a domain that takes no mail should send none either.
    let null_mx = !mx.is_empty() && mx.iter().all(MxEntry::is_null);
    if null_mx && answers.spf.as_ref().is_some_and(|s| s.authorizes_senders) {
        findings.push("null_mx_spf_allows_senders");
    }
    // p=reject with nothing that could pass: no SPF record, no DKIM key found.
    let usable_key = dkim.iter().any(|k| k.status == DkimStatus::Ok);
    if dmarc.effective_policy() == Some(Policy::Reject) && spf.status == SpfStatus::None && !usable_key {
        findings.push("dmarc_reject_without_auth");
    }

    findings.sort_unstable();
    findings.dedup();
    PolicyReport { spf, dmarc, mta_sts, tlsrpt, dkim, findings }
}
