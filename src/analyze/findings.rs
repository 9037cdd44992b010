//! The findings catalogue: every code with its severity, summary, rule and
//! detector, in one table. `mxscan findings` prints it; the README and the
//! contract's findings list are kept in step with it.

use super::address::{all_addresses, is_ip_literal, is_loopback, is_private, is_usable, is_valid_hostname};
use super::providers::Category;
use crate::policy::report::PolicyStage;
use crate::record::{AddressStatus, DomainRecord, MxEntry, Status};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Mail is lost or misrouted.
    Error,
    /// Fragile or non-conforming.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// What the catalogue is: a hash of every entry's code, severity, rule
/// and summary, so that it changes whenever the catalogue does (nobody has
/// to remember a bump). Output files carry it: their `findings` columns
/// mean what this catalogue said.
pub fn catalogue_version() -> String {
    let mut text = String::new();
    for f in CATALOGUE {
        text.push_str(&format!("{}\t{}\t{}\t{}\n", f.code, f.severity.as_str(), f.reference, f.summary));
    }
    format!("{} codes fnv1a64:{:016x}", CATALOGUE.len(), crate::fnv1a64(text.as_bytes()))
}

/// One catalogue entry.
#[derive(Debug)]
pub struct Finding {
    /// Stable code, as it appears in the `findings` column.
    pub code: &'static str,
    /// Severity.
    pub severity: Severity,
    /// When it is reported, in one line.
    pub summary: &'static str,
    /// The rule behind it.
    pub reference: &'static str,
    /// What to change, in one line (shown by `mxscan lookup` and `serve`).
    pub fix: &'static str,
    /// The detector.
    pub detect: fn(&DomainRecord) -> bool,
}

/// Every finding, in the order of the contract (scan stage, then analysis).
pub const CATALOGUE: &[Finding] = &[
    Finding {
        code: "null_mx_with_other_mx",
        severity: Severity::Error,
        summary: "a null MX (`.`) alongside other MX records",
        reference: "RFC 7505 §3",
        fix: "Decide: if the domain takes mail, delete the `0 .` record; if it takes none, delete every other MX record.",
        detect: |r| r.null_mx == Some(true) && r.mx.iter().any(|m| !is_null(m)),
    },
    Finding {
        code: "null_mx_nonzero_preference",
        severity: Severity::Warning,
        summary: "a null MX with a preference other than 0",
        reference: "RFC 7505 §3",
        fix: "Publish the null MX exactly as `MX 0 .`.",
        detect: |r| r.mx.iter().any(|m| is_null(m) && m.preference != 0),
    },
    Finding {
        code: "implicit_mx",
        severity: Severity::Warning,
        summary: "no MX, but the domain has A/AAAA: senders deliver to that host",
        reference: "RFC 5321 §5.1; RFC 7505",
        fix: "Publish an MX record for the host that should receive mail, or `MX 0 .` if the domain takes none.",
        detect: |r| r.implicit_mx == Some(true),
    },
    Finding {
        code: "no_mx",
        severity: Severity::Info,
        summary: "no MX and no A/AAAA: mail bounces slowly; a null MX would say so",
        reference: "RFC 7505 §1",
        fix: "Publish `MX 0 .` (null MX) so senders fail at once, or MX records if the domain should receive mail.",
        detect: |r| {
            r.status == Status::Ok
                && r.mx.is_empty()
                && matches!(r.implicit_status, Some(AddressStatus::NxDomain | AddressStatus::NoData))
        },
    },
    Finding {
        code: "mx_is_cname",
        severity: Severity::Error,
        summary: "an exchange is an alias (its address answer comes through a CNAME)",
        reference: "RFC 2181 §10.3; RFC 5321 §5.1",
        fix: "Point the MX at the canonical host name (the CNAME's target), not at an alias.",
        detect: |r| r.mx.iter().any(|m| m.cname.is_some()),
    },
    Finding {
        code: "mx_is_ip_literal",
        severity: Severity::Error,
        summary: "an exchange is an IP address written as a name",
        reference: "RFC 1035 §3.3.9; RFC 5321 §5.1",
        fix: "Give the exchange a host name with A/AAAA records and point the MX at that name.",
        detect: |r| r.mx.iter().any(|m| !is_null(m) && is_ip_literal(&m.exchange)),
    },
    Finding {
        code: "mx_unresolvable",
        severity: Severity::Error,
        summary: "an exchange does not exist (NXDOMAIN)",
        reference: "RFC 5321 §5.1",
        fix: "Fix the exchange's name (a typo?) or create its A/AAAA records; remove the MX if the host is gone.",
        detect: |r| r.mx.iter().any(|m| m.address_status == AddressStatus::NxDomain),
    },
    Finding {
        code: "mx_no_address",
        severity: Severity::Error,
        summary: "an exchange exists but has neither A nor AAAA",
        reference: "RFC 5321 §5.1",
        fix: "Add A and/or AAAA records for the exchange, or remove the MX record.",
        detect: |r| r.mx.iter().any(|m| m.address_status == AddressStatus::NoData),
    },
    Finding {
        code: "mx_lookup_failed",
        severity: Severity::Warning,
        summary: "an exchange's address lookups failed (SERVFAIL, REFUSED or timeout)",
        reference: "—",
        fix: "Check the exchange's authoritative servers: they must answer A and AAAA queries (look for lame delegation or broken DNSSEC).",
        detect: |r| r.mx.iter().any(|m| m.address_status.is_failure()),
    },
    Finding {
        code: "mx_localhost",
        severity: Severity::Error,
        summary: "an exchange is `localhost` or resolves only to loopback",
        reference: "pseudo-null MX seen on ~1.5M gTLD domains",
        fix: "Publish `MX 0 .` to refuse mail, instead of an exchange that points at loopback.",
        detect: |r| {
            r.mx.iter().any(|m| {
                m.exchange == "localhost"
                    || (m.address_status == AddressStatus::Ok
                        && all_addresses(&m.ipv4, &m.ipv6).all(is_loopback))
            })
        },
    },
    Finding {
        code: "mx_private_address",
        severity: Severity::Error,
        summary: "an exchange resolves to a non-public address (RFC 1918, CGNAT, link-local, documentation, ULA, unspecified)",
        reference: "RFC 6890",
        fix: "Publish only public addresses for exchanges; internal routing belongs in split-horizon DNS, not in public MX.",
        detect: |r| r.mx.iter().any(|m| all_addresses(&m.ipv4, &m.ipv6).any(is_private)),
    },
    Finding {
        code: "mx_duplicate",
        severity: Severity::Warning,
        summary: "the same exchange appears in more than one MX record",
        reference: "—",
        fix: "Keep one MX record per exchange.",
        // Quadratic, but MX sets are small and this allocates nothing.
        detect: |r| r.mx.iter().enumerate().any(|(i, m)| r.mx[..i].iter().any(|n| n.exchange == m.exchange)),
    },
    Finding {
        code: "mx_invalid_hostname",
        severity: Severity::Warning,
        summary: "an exchange is not a valid host name (LDH rule, label or name length)",
        reference: "RFC 1123 §2.1",
        fix: "Rename the exchange to a valid host name (letters, digits, hyphens; labels of 1–63 octets).",
        detect: |r| r.mx.iter().any(|m| !is_null(m) && !is_valid_hostname(&m.exchange)),
    },
    Finding {
        code: "mx_relative_name",
        severity: Severity::Warning,
        summary: "an exchange ends with <domain>.<domain> (a zone file missing a trailing dot)",
        reference: "—",
        fix: "Add the trailing dot to the exchange name in the zone file (`mx.example.com.`).",
        detect: |r| {
            let Some(domain) = r.domain.as_deref() else { return false };
            r.mx.iter().any(|m| ends_with_doubled(&m.exchange, domain))
        },
    },
    Finding {
        code: "all_mx_unusable",
        severity: Severity::Error,
        summary: "MX records exist but no exchange has a usable public address, and there is no A fallback",
        reference: "RFC 5321 §5.1",
        fix: "Give at least one exchange a public A or AAAA record, or publish `MX 0 .` if the domain takes no mail.",
        detect: |r| {
            let mut real = r.mx.iter().filter(|m| !is_null(m));
            // In an --mx-only scan nothing is known about addresses.
            r.addresses_checked
                && real.clone().next().is_some()
                && !real
                    .any(|m| m.address_status.is_failure() || all_addresses(&m.ipv4, &m.ipv6).any(is_usable))
        },
    },
    Finding {
        code: "domain_is_cname",
        severity: Severity::Info,
        summary: "the domain itself is an alias; its target's MX is reported",
        reference: "RFC 5321 §5.1",
        fix: "Nothing to fix if intended: mail follows the alias's target. Publish MX at the target, or replace the CNAME with records of its own.",
        detect: |r| r.domain_cname.is_some(),
    },
    // The analysis stage: providers and topology.
    Finding {
        code: "mixed_providers",
        severity: Severity::Warning,
        summary: "exchanges belong to two or more mailbox providers (a migration left half done: mail splits)",
        reference: "—",
        fix: "Finish the migration: point every MX at the provider that now holds the mailboxes.",
        detect: |r| {
            let mut mailbox =
                r.mx.iter()
                    .filter(|m| m.category == Some(Category::Mailbox))
                    .filter_map(|m| m.provider.as_ref());
            mailbox.next().is_some_and(|first| mailbox.any(|p| p != first))
        },
    },
    Finding {
        code: "gateway_bypass",
        severity: Severity::Warning,
        summary: "a gateway holds tier 1 but a higher tier points elsewhere: senders (and spammers) can skip the filter",
        reference: "—",
        fix: "Point every tier at the gateway (or its documented backup hosts), and accept mail only from the gateway at the provider.",
        detect: |r| {
            r.provider_category == Some(Category::Gateway)
                && r.mx.iter().any(|m| m.tier > 1 && !is_null(m) && m.category != Some(Category::Gateway))
        },
    },
    Finding {
        code: "dangling_mx",
        severity: Severity::Error,
        summary: "an exchange's registrable domain does not exist: anyone can register it and receive the mail",
        reference: "—",
        fix: "Remove the MX record, or register the exchange's domain yourself before someone else does.",
        detect: |r| r.mx.iter().any(|m| m.org_nxdomain),
    },
    Finding {
        code: "single_mx",
        severity: Severity::Info,
        summary: "only one exchange host",
        reference: "—",
        fix: "Add a second exchange on another host (and network) as a fallback.",
        detect: |r| {
            let mut hosts = r.mx.iter().filter(|m| !is_null(m)).map(|m| m.exchange.as_str());
            hosts.next().is_some_and(|first| hosts.all(|h| h == first))
        },
    },
    Finding {
        code: "single_address",
        severity: Severity::Info,
        summary: "all exchanges together resolve to one IP address",
        reference: "—",
        fix: "Spread the exchanges over more than one address.",
        detect: |r| {
            let mut addrs = r.mx.iter().flat_map(|m| all_addresses(&m.ipv4, &m.ipv6));
            r.addresses_checked && addrs.next().is_some_and(|first| addrs.all(|a| a == first))
        },
    },
    // The policy stage: codes decided by its parsers (crate::policy).
    Finding {
        code: "spf_missing",
        severity: Severity::Warning,
        summary: "a domain that receives mail (has usable MX) publishes no SPF record",
        reference: "RFC 7208 §2.1",
        fix: "Publish a TXT record `v=spf1 … -all` listing the hosts that send as the domain (`v=spf1 -all` if none).",
        detect: |r| policy_has(r, "spf_missing"),
    },
    Finding {
        code: "spf_multiple_records",
        severity: Severity::Error,
        summary: "more than one `v=spf1` record: permerror",
        reference: "RFC 7208 §4.5",
        fix: "Merge the records into one `v=spf1` TXT record.",
        detect: |r| policy_has(r, "spf_multiple_records"),
    },
    Finding {
        code: "spf_syntax_error",
        severity: Severity::Error,
        summary: "a term does not parse (the error names it and its position): permerror",
        reference: "RFC 7208 §4.6, §12",
        fix: "Correct the term the error names; validate the record before publishing it.",
        detect: |r| policy_has(r, "spf_syntax_error"),
    },
    Finding {
        code: "spf_too_many_lookups",
        severity: Severity::Error,
        summary: "more than 10 DNS-querying terms through include/redirect: permerror",
        reference: "RFC 7208 §4.6.4",
        fix: "Cut the DNS-querying terms to 10 or fewer: drop unused includes, replace `a`/`mx` with `ip4`/`ip6`, flatten nested includes.",
        detect: |r| policy_has(r, "spf_too_many_lookups"),
    },
    Finding {
        code: "spf_too_many_void_lookups",
        severity: Severity::Error,
        summary: "more than 2 lookups returned nothing: permerror",
        reference: "RFC 7208 §4.6.4",
        fix: "Remove the terms that point at names with no records.",
        detect: |r| policy_has(r, "spf_too_many_void_lookups"),
    },
    Finding {
        code: "spf_include_missing",
        severity: Severity::Error,
        summary: "an `include`/`redirect` target has no SPF record: permerror",
        reference: "RFC 7208 §5.2, §6.1",
        fix: "Remove the `include`/`redirect` whose target has no SPF record, or fix its name.",
        detect: |r| policy_has(r, "spf_include_missing"),
    },
    Finding {
        code: "spf_plus_all",
        severity: Severity::Error,
        summary: "`+all` (or bare `all`): anyone may send as the domain",
        reference: "RFC 7208 §5.1",
        fix: "End the record with `-all` (or `~all` while testing).",
        detect: |r| policy_has(r, "spf_plus_all"),
    },
    Finding {
        code: "spf_neutral_all",
        severity: Severity::Warning,
        summary: "`?all`: no assertion",
        reference: "RFC 7208 §8.2",
        fix: "End the record with `-all` (or `~all` while testing) once the sending hosts are listed.",
        detect: |r| policy_has(r, "spf_neutral_all"),
    },
    Finding {
        code: "spf_no_all",
        severity: Severity::Info,
        summary: "no top-level `all` and no `redirect` (default result neutral)",
        reference: "RFC 7208 §4.7",
        fix: "End the record with `-all` (or `~all`), or a `redirect=` to the record that should apply.",
        detect: |r| policy_has(r, "spf_no_all"),
    },
    Finding {
        code: "spf_ptr",
        severity: Severity::Warning,
        summary: "the `ptr` mechanism (SHOULD NOT be used)",
        reference: "RFC 7208 §5.5",
        fix: "Replace `ptr` with `ip4`/`ip6` or `a` terms for the sending hosts.",
        detect: |r| policy_has(r, "spf_ptr"),
    },
    Finding {
        code: "spf_temperror",
        severity: Severity::Warning,
        summary: "a DNS failure while evaluating the record's lookups",
        reference: "RFC 7208 §2.6.6",
        fix: "Check that every name the record refers to answers (no SERVFAIL or timeout at its servers).",
        detect: |r| policy_has(r, "spf_temperror"),
    },
    Finding {
        code: "dmarc_missing",
        severity: Severity::Warning,
        summary: "no DMARC record applies to the domain",
        reference: "RFC 7489 §6.6.3",
        fix: "Publish a TXT record at `_dmarc.<domain>`: start with `v=DMARC1; p=none; rua=mailto:…`, then move to `quarantine` or `reject`.",
        detect: |r| policy_has(r, "dmarc_missing"),
    },
    Finding {
        code: "dmarc_multiple_records",
        severity: Severity::Error,
        summary: "more than one `v=DMARC1` record at the name: none applies",
        reference: "RFC 7489 §6.6.3",
        fix: "Keep one `v=DMARC1` record at `_dmarc`.",
        detect: |r| policy_has(r, "dmarc_multiple_records"),
    },
    Finding {
        code: "dmarc_syntax_error",
        severity: Severity::Error,
        summary: "`v` not first, bad or missing `p`, malformed tag or URI",
        reference: "RFC 7489 §6.3–6.4",
        fix: "Start the record with `v=DMARC1;` followed by `p=none|quarantine|reject;` and well-formed tags.",
        detect: |r| policy_has(r, "dmarc_syntax_error"),
    },
    Finding {
        code: "dmarc_policy_none",
        severity: Severity::Info,
        summary: "`p=none`: monitoring only",
        reference: "RFC 7489 §6.3",
        fix: "When the reports show legitimate mail passing, move to `p=quarantine` and then `p=reject`.",
        detect: |r| policy_has(r, "dmarc_policy_none"),
    },
    Finding {
        code: "dmarc_partial_pct",
        severity: Severity::Info,
        summary: "`pct` below 100",
        reference: "RFC 7489 §6.3",
        fix: "Raise `pct` to 100 (or remove it) once the policy is safe for all mail.",
        detect: |r| policy_has(r, "dmarc_partial_pct"),
    },
    Finding {
        code: "dmarc_retired_tag",
        severity: Severity::Info,
        summary: "`pct`, `rf` or `ri`, which RFC 9989 retired",
        reference: "RFC 9989",
        fix: "Remove `pct`, `rf` and `ri`: receivers following RFC 9989 ignore them.",
        detect: |r| policy_has(r, "dmarc_retired_tag"),
    },
    Finding {
        code: "dmarc_rua_unauthorized",
        severity: Severity::Warning,
        summary: "a `rua` destination outside the organisation has no authorisation record: reports are not sent there",
        reference: "RFC 7489 §7.1",
        fix: "Ask the report receiver to publish `<domain>._report._dmarc.<their host>` TXT `v=DMARC1`, or send reports to an address in your own domain.",
        detect: |r| policy_has(r, "dmarc_rua_unauthorized"),
    },
    Finding {
        code: "dmarc_reject_without_auth",
        severity: Severity::Warning,
        summary: "`p=reject` but no SPF record and no DKIM key found: legitimate mail may be rejected",
        reference: "—",
        fix: "Publish SPF and sign with DKIM before enforcing `p=reject`, or relax the policy to `p=none` until they are in place.",
        detect: |r| policy_has(r, "dmarc_reject_without_auth"),
    },
    Finding {
        code: "mta_sts_record_invalid",
        severity: Severity::Error,
        summary: "`_mta-sts` TXT malformed (`v=STSv1` first, `id` 1–32 alphanumerics) or several records",
        reference: "RFC 8461 §3.1",
        fix: "Publish one TXT record at `_mta-sts` of the form `v=STSv1; id=20260101T000000;`.",
        detect: |r| policy_has(r, "mta_sts_record_invalid"),
    },
    Finding {
        code: "mta_sts_policy_unavailable",
        severity: Severity::Error,
        summary: "record present, but the policy cannot be fetched (HTTP status ≠ 200, redirect, TLS or certificate error, timeout, too large)",
        reference: "RFC 8461 §3.3",
        fix: "Serve the policy at `https://mta-sts.<domain>/.well-known/mta-sts.txt` with status 200, no redirect and a valid certificate for that host.",
        detect: |r| policy_has(r, "mta_sts_policy_unavailable"),
    },
    Finding {
        code: "mta_sts_policy_invalid",
        severity: Severity::Error,
        summary: "the policy does not parse (version, mode, max_age, missing `mx` outside `mode: none`)",
        reference: "RFC 8461 §3.2",
        fix: "Fix the policy file: `version: STSv1`, `mode: enforce|testing|none`, `max_age` in seconds, and one `mx:` line per exchange pattern.",
        detect: |r| policy_has(r, "mta_sts_policy_invalid"),
    },
    Finding {
        code: "mta_sts_mx_uncovered",
        severity: Severity::Error,
        summary: "an MX exchange matches no `mx` pattern: mail to it fails under `enforce`. Listed as an error; it is only a warning when no tier-1 exchange is uncovered or the mode is `testing`",
        reference: "RFC 8461 §4.1",
        fix: "Add an `mx:` line to the policy for the exchange (or `*.` pattern covering it), then change the record's `id`.",
        detect: |r| policy_has(r, "mta_sts_mx_uncovered"),
    },
    Finding {
        code: "mta_sts_pattern_unused",
        severity: Severity::Info,
        summary: "a policy `mx` pattern matches no published exchange (stale policy)",
        reference: "RFC 8461 §4.1",
        fix: "Remove the stale `mx:` pattern from the policy, then change the record's `id`.",
        detect: |r| policy_has(r, "mta_sts_pattern_unused"),
    },
    Finding {
        code: "mta_sts_cert_expiring",
        severity: Severity::Warning,
        summary: "the policy host's certificate expires within 14 days",
        reference: "RFC 8461 §3.3",
        fix: "Renew the policy host's certificate.",
        detect: |r| policy_has(r, "mta_sts_cert_expiring"),
    },
    Finding {
        code: "mta_sts_testing",
        severity: Severity::Info,
        summary: "`mode: testing`",
        reference: "RFC 8461 §5",
        fix: "Once the TLS reports show no failures, switch the policy to `mode: enforce` and change the record's `id`.",
        detect: |r| policy_has(r, "mta_sts_testing"),
    },
    Finding {
        code: "mta_sts_without_tlsrpt",
        severity: Severity::Info,
        summary: "MTA-STS without a TLS-RPT record: failures go unreported",
        reference: "RFC 8460 §3",
        fix: "Publish `_smtp._tls` TXT `v=TLSRPTv1; rua=mailto:…` to receive reports of TLS failures.",
        detect: |r| policy_has(r, "mta_sts_without_tlsrpt"),
    },
    Finding {
        code: "tlsrpt_invalid",
        severity: Severity::Warning,
        summary: "`_smtp._tls` TXT malformed, several records, or a `rua` that is not `mailto:`/`https:`",
        reference: "RFC 8460 §3",
        fix: "Publish one TXT record at `_smtp._tls` of the form `v=TLSRPTv1; rua=mailto:tls-reports@<domain>`.",
        detect: |r| policy_has(r, "tlsrpt_invalid"),
    },
    Finding {
        code: "dane_unusable_usage",
        severity: Severity::Warning,
        summary: "a TLSA usage 0 or 1 on an SMTP exchange (PKIX usages are not for SMTP)",
        reference: "RFC 7672 §3.1.3",
        fix: "Publish TLSA with usage 3 (DANE-EE) or 2 (DANE-TA), e.g. `3 1 1 <SHA-256 of the key>`.",
        detect: |r| policy_has(r, "dane_unusable_usage"),
    },
    Finding {
        code: "dane_bad_digest_length",
        severity: Severity::Error,
        summary: "TLSA data length does not fit its matching type (SHA-256: 32 octets, SHA-512: 64)",
        reference: "RFC 6698 §2.1.3",
        fix: "Recompute the digest: 32 octets (64 hex digits) for SHA-256, 64 octets for SHA-512.",
        detect: |r| policy_has(r, "dane_bad_digest_length"),
    },
    Finding {
        code: "dane_not_authenticated",
        severity: Severity::Warning,
        summary: "TLSA records present, but the answer was not DNSSEC-authenticated: senders ignore them",
        reference: "RFC 7672 §2.2",
        fix: "Sign the zone holding the TLSA records with DNSSEC (with a DS at the parent), or remove them.",
        detect: |r| policy_has(r, "dane_not_authenticated"),
    },
    Finding {
        code: "dane_mx_not_authenticated",
        severity: Severity::Warning,
        summary: "TLSA published for an exchange while the domain's MX RRset is not authenticated",
        reference: "RFC 7672 §2.2.1",
        fix: "Sign the domain's zone with DNSSEC so senders can trust the MX that leads to the TLSA.",
        detect: |r| policy_has(r, "dane_mx_not_authenticated"),
    },
    Finding {
        code: "dkim_key_invalid",
        severity: Severity::Warning,
        summary: "a probed selector's key record does not parse",
        reference: "RFC 6376 §3.6.1",
        fix: "Republish the key record as `v=DKIM1; k=rsa; p=<base64 public key>`.",
        detect: |r| policy_has(r, "dkim_key_invalid"),
    },
    Finding {
        code: "dkim_testing",
        severity: Severity::Info,
        summary: "a key with `t=y`",
        reference: "RFC 6376 §3.6.1",
        fix: "Remove `t=y` once signing works.",
        detect: |r| policy_has(r, "dkim_testing"),
    },
    Finding {
        code: "null_mx_spf_allows_senders",
        severity: Severity::Warning,
        summary: "a null-MX domain whose SPF authorises senders (it declares it takes no mail; it should send none either)",
        reference: "RFC 7505 §4.2",
        fix: "Publish `v=spf1 -all` for a domain that sends no mail.",
        detect: |r| policy_has(r, "null_mx_spf_allows_senders"),
    },
    // The policy stage's MX-topology facts (reported when it ran).
    Finding {
        code: "nolisting",
        severity: Severity::Info,
        summary: "the tier-1 exchanges have no usable address while a higher tier has one (nolisting, deliberate or broken)",
        reference: "RFC 5321 §5.1",
        fix: "If nolisting is deliberate, know that some senders never retry the higher tier; otherwise give the tier-1 exchanges working addresses.",
        detect: |r| r.policy.is_some() && is_nolisting(r),
    },
    Finding {
        code: "no_fallback_tier",
        severity: Severity::Info,
        summary: "several exchanges, all at one preference: load-sharing without a fallback order",
        reference: "RFC 5321 §5.1",
        fix: "Nothing to fix if load-sharing is meant; add a higher-preference fallback exchange if not.",
        detect: |r| {
            let mut real = r.mx.iter().filter(|m| !is_null(m));
            r.policy.is_some()
                && real.next().is_some_and(|first| {
                    let rest: Vec<&MxEntry> = real.collect();
                    rest.iter().any(|m| m.exchange != first.exchange)
                        && rest.iter().all(|m| m.preference == first.preference)
                })
        },
    },
    Finding {
        code: "single_network",
        severity: Severity::Info,
        summary: "two or more exchange addresses, all in one IPv4 /24 and one IPv6 /48: one network outage takes all mail down",
        reference: "—",
        fix: "Place an exchange (or a backup MX) in another network.",
        detect: |r| r.policy.is_some() && r.addresses_checked && is_single_network(r),
    },
];

/// Whether the policy stage's report names `code`.
fn policy_has(r: &DomainRecord, code: &str) -> bool {
    matches!(&r.policy, Some(PolicyStage::Report(report)) if report.has(code))
}

/// Tier 1 has no usable address, though its lookups gave answers, and a
/// higher tier has one: senders that try tier 1 first wait or fail, those
/// that skip it deliver (RFC 5321 §5.1 says to try them in order).
fn is_nolisting(r: &DomainRecord) -> bool {
    let usable = |m: &MxEntry| all_addresses(&m.ipv4, &m.ipv6).any(is_usable);
    let mut tier1 = r.mx.iter().filter(|m| m.tier == 1 && !is_null(m)).peekable();
    r.addresses_checked
        && tier1.peek().is_some()
        && tier1.all(|m| {
            !m.address_status.is_failure() && m.address_status != AddressStatus::Skipped && !usable(m)
        })
        && r.mx.iter().any(|m| m.tier > 1 && usable(m))
}

/// At least two distinct addresses, every IPv4 one in one /24 and every IPv6
/// one in one /48.
fn is_single_network(r: &DomainRecord) -> bool {
    let v4: Vec<u32> = r.mx.iter().flat_map(|m| m.ipv4.iter().map(|a| u32::from(*a))).collect();
    let v6: Vec<u128> = r.mx.iter().flat_map(|m| m.ipv6.iter().map(|a| u128::from(*a))).collect();
    let same =
        |xs: &[u128], prefix: u32| xs.windows(2).all(|w| w[0] >> (128 - prefix) == w[1] >> (128 - prefix));
    let v4_wide: Vec<u128> = v4.iter().map(|&a| u128::from(a) << 96).collect();
    let mut distinct: Vec<u128> = v4_wide.iter().chain(&v6).copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    distinct.len() >= 2 && same(&v4_wide, 24) && same(&v6, 48)
}

fn is_null(m: &MxEntry) -> bool {
    m.exchange == "."
}

/// `exchange` is `<domain>.<domain>` or ends with `.<domain>.<domain>`.
fn ends_with_doubled(exchange: &str, domain: &str) -> bool {
    let Some(head) = exchange.strip_suffix(domain).and_then(|h| h.strip_suffix('.')) else { return false };
    head.strip_suffix(domain).is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

/// The catalogue entry for `code`.
pub fn lookup(code: &str) -> Option<&'static Finding> {
    CATALOGUE.iter().find(|f| f.code == code)
}

/// Every finding that applies to `record`, sorted and unique.
pub fn detect(record: &DomainRecord) -> Vec<&'static str> {
    if record.status == Status::Invalid {
        return Vec::new();
    }
    let mut codes: Vec<&'static str> =
        CATALOGUE.iter().filter(|f| (f.detect)(record)).map(|f| f.code).collect();
    codes.sort_unstable();
    codes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes and severities documented in README.md's findings table
    /// and in docs/findings.md (up to "Planned") are the catalogue's.
    #[test]
    fn documented_codes_match_the_catalogue() {
        let table = |text: &str| -> Vec<(String, String)> {
            text.lines()
                .filter(|l| l.starts_with("| `"))
                .map(|l| {
                    let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                    (cells[1].trim_matches('`').to_string(), cells[2].to_string())
                })
                .collect()
        };
        let mut want: Vec<(String, String)> =
            CATALOGUE.iter().map(|f| (f.code.to_string(), f.severity.as_str().to_string())).collect();
        want.sort();
        let readme = crate::repo_file("README.md");
        let start = readme.find("### Findings").expect("README has a Findings section");
        let end = readme[start + 4..].find("\n## ").map_or(readme.len(), |i| start + 4 + i);
        let docs = crate::repo_file("docs/findings.md");
        let planned = docs.find("## Planned").unwrap_or(docs.len());
        for (doc, text) in [("README.md", &readme[start..end]), ("docs/findings.md", &docs[..planned])] {
            let mut got = table(text);
            got.sort();
            assert_eq!(got, want, "{doc} and the catalogue differ");
        }
    }
    use crate::record::MxEntry;

    fn mx(preference: u16, exchange: &str, status: AddressStatus, ipv4: &[&str]) -> MxEntry {
        MxEntry {
            tier: 1,
            ipv4: ipv4.iter().map(|s| s.parse().unwrap()).collect(),
            address_status: status,
            ..MxEntry::new(preference, exchange.into())
        }
    }

    fn record(mx: Vec<MxEntry>) -> DomainRecord {
        let mut r = DomainRecord::invalid("example.com".into(), None, String::new());
        r.domain = Some("example.com".into());
        r.status = Status::Ok;
        r.error = None;
        r.null_mx = Some(mx.iter().any(is_null));
        r.mx = mx;
        r.addresses_checked = true;
        r
    }

    #[test]
    fn catalogue_codes_are_unique_and_named_in_the_contract_style() {
        let mut codes: Vec<_> = CATALOGUE.iter().map(|f| f.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), CATALOGUE.len());
        assert!(codes.iter().all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }

    fn with_policy(mut r: DomainRecord) -> DomainRecord {
        r.policy = Some(crate::policy::report::PolicyStage::Answers(Box::default()));
        r
    }

    #[test]
    fn mx_topology_facts_need_the_policy_stage() {
        let one_pref = vec![
            mx(10, "mx1.example.com", AddressStatus::Ok, &["45.1.2.3"]),
            mx(10, "mx2.example.com", AddressStatus::Ok, &["45.1.2.4"]),
        ];
        assert!(!detect(&record(one_pref.clone())).contains(&"no_fallback_tier"));
        let got = detect(&with_policy(record(one_pref)));
        assert_eq!(got, vec!["no_fallback_tier", "single_network"]);
    }

    #[test]
    fn nolisting_and_networks() {
        let mut dead = mx(10, "mx0.example.com", AddressStatus::NoData, &[]);
        dead.tier = 1;
        let mut live = mx(20, "mx1.example.com", AddressStatus::Ok, &["45.1.2.3"]);
        live.tier = 2;
        let mut far = mx(30, "mx2.example.net", AddressStatus::Ok, &["46.1.2.3"]);
        far.tier = 3;
        let got = detect(&with_policy(record(vec![dead.clone(), live.clone(), far.clone()])));
        assert!(got.contains(&"nolisting") && !got.contains(&"single_network"), "{got:?}");
        // A failed tier-1 lookup says nothing about nolisting.
        let failed = MxEntry { address_status: AddressStatus::Timeout, ..dead.clone() };
        assert!(!detect(&with_policy(record(vec![failed, live.clone()]))).contains(&"nolisting"));
        // One address is `single_address`, not a network.
        let got = detect(&with_policy(record(vec![live.clone()])));
        assert!(!got.contains(&"single_network"), "{got:?}");
        // IPv6 in two /48s is two networks.
        let mut v6 = live.clone();
        v6.ipv6 = vec!["2001:db8:1::1".parse().unwrap(), "2001:db8:2::1".parse().unwrap()];
        assert!(!detect(&with_policy(record(vec![v6]))).contains(&"single_network"));
    }

    #[test]
    fn healthy_domain_has_no_findings() {
        let r = record(vec![
            mx(10, "mx1.example.com", AddressStatus::Ok, &["45.1.2.3"]),
            mx(20, "mx2.example.com", AddressStatus::Ok, &["45.1.2.4"]),
        ]);
        assert!(detect(&r).is_empty(), "{:?}", detect(&r));
    }

    #[test]
    fn null_mx_rules() {
        let r = record(vec![mx(0, ".", AddressStatus::Skipped, &[])]);
        assert!(detect(&r).is_empty(), "a proper null MX is fine: {:?}", detect(&r));
        let r = record(vec![
            mx(5, ".", AddressStatus::Skipped, &[]),
            mx(10, "mx.example.com", AddressStatus::Ok, &["45.1.2.3"]),
        ]);
        assert_eq!(
            detect(&r),
            vec!["null_mx_nonzero_preference", "null_mx_with_other_mx", "single_address", "single_mx"]
        );
    }

    #[test]
    fn unusable_exchanges() {
        let r = record(vec![
            mx(10, "192.0.2.1", AddressStatus::Skipped, &[]),
            mx(20, "gone.example.com", AddressStatus::NxDomain, &[]),
            mx(30, "lan.example.com", AddressStatus::Ok, &["10.0.0.5"]),
            mx(40, "localhost", AddressStatus::Ok, &["127.0.0.1"]),
        ]);
        assert_eq!(
            detect(&r),
            vec![
                "all_mx_unusable",
                "mx_is_ip_literal",
                "mx_localhost",
                "mx_private_address",
                "mx_unresolvable"
            ]
        );
        // A failed lookup leaves it open whether mail can be delivered.
        let r = record(vec![
            mx(10, "gone.example.com", AddressStatus::NxDomain, &[]),
            mx(20, "slow.example.com", AddressStatus::Timeout, &[]),
        ]);
        assert_eq!(detect(&r), vec!["mx_lookup_failed", "mx_unresolvable"]);
        // With --mx-only nothing is known about addresses.
        let mut r = record(vec![mx(10, "192.0.2.1", AddressStatus::Skipped, &[])]);
        r.addresses_checked = false;
        assert_eq!(detect(&r), vec!["mx_is_ip_literal", "single_mx"]);
    }

    #[test]
    fn names() {
        let r = record(vec![
            mx(10, "mail.example.com.example.com", AddressStatus::Ok, &["45.1.1.1"]),
            mx(20, "mail_in.example.com", AddressStatus::Ok, &["45.1.1.2"]),
            mx(30, "mail_in.example.com", AddressStatus::Ok, &["45.1.1.2"]),
        ]);
        assert_eq!(detect(&r), vec!["mx_duplicate", "mx_invalid_hostname", "mx_relative_name"]);
        // "notexample.com.example.com" is not the doubled domain on a label boundary.
        let r = record(vec![mx(10, "xexample.com.example.com", AddressStatus::Ok, &["45.1.1.1"])]);
        assert_eq!(detect(&r), vec!["single_address", "single_mx"]);
    }

    fn from(provider: &str, category: Category, tier: u8, m: MxEntry) -> MxEntry {
        MxEntry { provider: Some(provider.into()), category: Some(category), tier, ..m }
    }

    #[test]
    fn topology() {
        use Category::{Gateway, Mailbox};
        let ok = AddressStatus::Ok;
        // A gateway at tier 1 and a plain host behind it: bypass.
        let mut r = record(vec![
            from("proofpoint", Gateway, 1, mx(10, "mx1.pphosted.com", ok, &["45.0.0.1"])),
            mx(20, "backup.example.com", ok, &["45.0.0.2"]),
        ]);
        r.mx[1].tier = 2;
        r.provider = Some("proofpoint".into());
        r.provider_category = Some(Gateway);
        assert_eq!(detect(&r), vec!["gateway_bypass"]);
        // Gateways on every tier: fine.
        r.mx[1] = from("proofpoint", Gateway, 2, mx(20, "mx2.pphosted.com", ok, &["45.0.0.2"]));
        assert!(detect(&r).is_empty());
        // Two mailbox providers: a half-done migration.
        let r = record(vec![
            from("google", Mailbox, 1, mx(1, "aspmx.l.google.com", ok, &["45.0.0.1"])),
            from("microsoft", Mailbox, 1, mx(1, "x.mail.protection.outlook.com", ok, &["45.0.0.2"])),
        ]);
        assert_eq!(detect(&r), vec!["mixed_providers"]);
        // Dangling: the exchange's organisation does not exist.
        let mut r = record(vec![mx(10, "mx.gone.example", AddressStatus::NxDomain, &[])]);
        r.mx[0].org_nxdomain = true;
        assert_eq!(detect(&r), vec!["all_mx_unusable", "dangling_mx", "mx_unresolvable", "single_mx"]);
    }

    #[test]
    fn implicit_and_no_mx() {
        let mut r = record(Vec::new());
        r.implicit_status = Some(AddressStatus::Ok);
        r.implicit_mx = Some(true);
        assert_eq!(detect(&r), vec!["implicit_mx"]);
        r.implicit_mx = Some(false);
        r.implicit_status = Some(AddressStatus::NoData);
        assert_eq!(detect(&r), vec!["no_mx"]);
        r.implicit_status = Some(AddressStatus::Timeout);
        assert!(detect(&r).is_empty(), "unknown is not 'no MX'");
        r.implicit_status = None;
        assert!(detect(&r).is_empty(), "--mx-only does not know");
    }
}
