//! What the TXT-record parsers share: turning record bytes into text, the
//! `tag=value` list of RFC 6376 §3.2 (which DMARC follows, RFC 7489 §6.3),
//! the `name=value` fields of RFC 8461 §3.1 and RFC 8460 §3, selecting
//! the one record of a kind among a name's TXT records, and report URIs.
//!
//! **Bytes, not text.** A TXT record is octets; every ABNF here allows
//! only printable US-ASCII. Selection compares octets. The parsers then
//! read the record through `text`, which replaces each invalid UTF-8
//! sequence with U+FFFD: that character is outside every value syntax, so
//! a tag holding one fails its check (or is ignored if the tag is unknown),
//! and the `record` column stays valid UTF-8 while showing where the bad
//! octets were. Nothing here slices a `str` except at ASCII delimiters.

use std::borrow::Cow;

/// One TXT resource record's character-strings, joined without anything
/// between them (RFC 7208 §3.3, RFC 7489 §6.6.3, RFC 8461 §3.1).
pub type TxtRecord = Vec<u8>;

/// A record as text: invalid UTF-8 becomes U+FFFD (see the module doc).
pub(crate) fn text(record: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(record)
}

/// FWS as it can appear inside one TXT record (RFC 6376 §3.2): WSP and
/// line breaks.
pub(crate) fn is_fws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The outcome of picking the one record of a kind among the TXT records
/// at a name (RFC 7489 §6.6.3, RFC 8461 §3.1, RFC 8460 §3: records of
/// other kinds are discarded; if not exactly one remains, none applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// No record of the kind.
    None,
    /// Exactly one: its text (see the module doc for non-UTF-8 octets).
    One(String),
    /// Several (how many): none of them applies.
    Several(usize),
}

/// Selects among `txt` the records for which `is_kind` holds.
pub(crate) fn select(txt: &[TxtRecord], is_kind: impl Fn(&[u8]) -> bool) -> Selection {
    let mut kind = txt.iter().filter(|r| is_kind(r));
    match (kind.next(), kind.next()) {
        (None, _) => Selection::None,
        (Some(one), None) => Selection::One(text(one).into_owned()),
        (Some(_), Some(_)) => Selection::Several(2 + kind.count()),
    }
}

/// Whether `record` starts with exactly `version` (octets, case-sensitive),
/// followed by the end, WSP or `;`: the selection rule of RFC 8461 §3.1 and
/// RFC 8460 §3 ("records that do not begin with `v=STSv1;` are discarded";
/// the ABNF allows WSP before that `;`).
pub(crate) fn starts_with_version(record: &[u8], version: &[u8]) -> bool {
    record.starts_with(version) && matches!(record.get(version.len()), None | Some(b';' | b' ' | b'\t'))
}

/// One piece of a `;`-separated list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// `name=value`, both trimmed of FWS; the name is `ALPHA *(ALPHA /
    /// DIGIT / "_")` (RFC 6376 §3.2 `tag-name`).
    Tag { name: &'a str, value: &'a str },
    /// Nothing but white space (a trailing `;` leaves one at the end).
    Empty,
    /// No `=`, or a name outside the tag-name syntax.
    Malformed(&'a str),
}

/// Splits a tag list (RFC 6376 §3.2) at `;`. The pieces keep their order;
/// an empty last piece (after a trailing `;`) is dropped, as the ABNF
/// allows it.
pub(crate) fn split_tags(list: &str) -> Vec<Piece<'_>> {
    let mut pieces: Vec<Piece<'_>> = list.split(';').map(piece).collect();
    if pieces.last() == Some(&Piece::Empty) {
        pieces.pop();
    }
    pieces
}

fn piece(raw: &str) -> Piece<'_> {
    let trimmed = raw.trim_matches(is_fws);
    if trimmed.is_empty() {
        return Piece::Empty;
    }
    let Some((name, value)) = trimmed.split_once('=') else { return Piece::Malformed(trimmed) };
    let name = name.trim_end_matches(is_fws);
    let mut chars = name.chars();
    let name_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        return Piece::Malformed(trimmed);
    }
    Piece::Tag { name, value: value.trim_start_matches(is_fws) }
}

/// The fields of a record shaped `version 1*(delim field) [delim]` with
/// `delim = *WSP ";" *WSP` (RFC 8461 §3.1, RFC 8460 §3): whether it
/// begins with exactly `version` (no white space before it), and the
/// fields after the first, trimmed; a trailing delimiter leaves no empty field,
/// an empty field elsewhere stays (an error for the caller).
pub(crate) fn version_fields<'a>(record: &'a str, version: &str) -> (bool, Vec<&'a str>) {
    let mut fields = record.split(';').map(|f| f.trim_matches([' ', '\t']));
    let first = fields.next();
    let version_ok = record.starts_with(version) && first == Some(version);
    let mut rest: Vec<&str> = fields.collect();
    if rest.last() == Some(&"") {
        rest.pop();
    }
    (version_ok, rest)
}

/// `sts-ext-name` / `tlsrpt-ext-name` (RFC 8461 §3.1, RFC 8460 §3):
/// `(ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`.
pub(crate) fn is_ext_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `sts-ext-value` / `tlsrpt-ext-value`: `1*(%x21-3A / %x3C / %x3E-7E)`,
/// printable ASCII but `;`, `=` and space.
pub(crate) fn is_ext_value(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| matches!(b, 0x21..=0x3a | 0x3c | 0x3e..=0x7e))
}

/// A report URI (RFC 3986 `URI`) as the DMARC and TLS-RPT records carry
/// them: a scheme, `:`, and a non-empty rest of URI characters (or
/// `%`-escapes). Commas and `!` cannot appear: the lists are split on them
/// (RFC 7489 §6.2, RFC 8460 §3 require them encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReportUri<'a> {
    /// Lowercase scheme.
    pub(crate) scheme: String,
    /// The host the reports go to: the domain of a `mailto:` address, the
    /// authority's host of a hierarchical URI; lowercase, no trailing dot.
    pub(crate) host: Option<String>,
    /// The URI as published.
    pub(crate) uri: &'a str,
}

/// Parses one report URI, or says what is wrong with it.
pub(crate) fn report_uri(uri: &str) -> Result<ReportUri<'_>, &'static str> {
    let Some((scheme, rest)) = uri.split_once(':') else { return Err("no scheme") };
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err("bad scheme");
    }
    if rest.is_empty() {
        return Err("nothing after the scheme");
    }
    if !uri_chars_ok(rest) {
        return Err("characters not allowed in a URI");
    }
    let scheme = scheme.to_ascii_lowercase();
    let host = if scheme == "mailto" {
        // RFC 6068: `mailto:` addr-spec [ "?" hfields ]; the host is the
        // domain of the (first) address.
        let addresses = rest.split('?').next().unwrap_or_default();
        let first = addresses.split("%2C").next().unwrap_or_default();
        let Some((local, domain)) = first.rsplit_once('@') else { return Err("mailto without '@'") };
        if local.is_empty() || !is_host(domain) {
            return Err("bad mailto address");
        }
        Some(normal_host(domain))
    } else if let Some(after) = rest.strip_prefix("//") {
        let authority = after.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host_port.split(':').next().unwrap_or_default(),
        };
        if host.is_empty() {
            return Err("no host");
        }
        Some(normal_host(host))
    } else {
        None
    };
    Ok(ReportUri { scheme, host, uri })
}

/// RFC 3986 characters: unreserved, reserved, and `%` HEXDIG HEXDIG.
fn uri_chars_ok(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
            continue;
        }
        let ok = b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&b);
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

/// A plausible domain name for a report destination: dot-separated LDH
/// labels (underscores tolerated), an optional trailing dot.
fn is_host(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Lowercase, no trailing dot.
pub(crate) fn normal_host(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// Defines a closed set of keywords: the enum, its contract spelling
/// (`as_str`) and the exact-match parser (`parse`).
macro_rules! keywords {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The contract's spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// The keyword spelled exactly so (callers fold case first
            /// where the ABNF is case-insensitive).
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use keywords;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_and_trim() {
        let pieces = split_tags(" v=DMARC1 ;\tp = reject; rua=mailto:a@b.example;");
        assert_eq!(
            pieces,
            vec![
                Piece::Tag { name: "v", value: "DMARC1" },
                Piece::Tag { name: "p", value: "reject" },
                Piece::Tag { name: "rua", value: "mailto:a@b.example" },
            ]
        );
    }

    #[test]
    fn tags_malformed_and_empty() {
        let pieces = split_tags("v=DKIM1;; p ;1x=2;a-b=c");
        assert_eq!(
            pieces,
            vec![
                Piece::Tag { name: "v", value: "DKIM1" },
                Piece::Empty,
                Piece::Malformed("p"),
                Piece::Malformed("1x=2"),
                Piece::Malformed("a-b=c"),
            ]
        );
        assert_eq!(split_tags(""), vec![]);
        assert_eq!(split_tags("k="), vec![Piece::Tag { name: "k", value: "" }]);
    }

    #[test]
    fn version_prefix_is_exact() {
        assert!(starts_with_version(b"v=STSv1; id=1", b"v=STSv1"));
        assert!(starts_with_version(b"v=STSv1 ;id=1", b"v=STSv1"));
        assert!(starts_with_version(b"v=STSv1", b"v=STSv1"));
        assert!(!starts_with_version(b"v=STSv10; id=1", b"v=STSv1"));
        assert!(!starts_with_version(b" v=STSv1; id=1", b"v=STSv1"));
        assert!(!starts_with_version(b"v=stsv1; id=1", b"v=STSv1"));
    }

    #[test]
    fn fields_after_the_version() {
        assert_eq!(version_fields("v=X; a=1 ;b=2;", "v=X"), (true, vec!["a=1", "b=2"]));
        assert_eq!(version_fields("v=X;;a=1", "v=X"), (true, vec!["", "a=1"]));
        assert_eq!(version_fields("v=X", "v=X"), (true, vec![]));
        assert_eq!(version_fields(" v=X; a=1", "v=X"), (false, vec!["a=1"]));
        assert_eq!(version_fields("a=1; v=X", "v=X"), (false, vec!["v=X"]));
    }

    #[test]
    fn ext_names_and_values() {
        assert!(is_ext_name("a"));
        assert!(is_ext_name("ext_1.x-y"));
        assert!(!is_ext_name("_x"));
        assert!(!is_ext_name(&"a".repeat(33)));
        assert!(is_ext_value("x!<>~"));
        assert!(!is_ext_value(""));
        assert!(!is_ext_value("a b"));
        assert!(!is_ext_value("a=b"));
        assert!(!is_ext_value("\u{fffd}"));
    }

    #[test]
    fn report_uris() {
        let mail = report_uri("mailto:dmarc@Reports.Example.NET.").unwrap();
        assert_eq!((mail.scheme.as_str(), mail.host.as_deref()), ("mailto", Some("reports.example.net")));
        let web = report_uri("https://user@rpt.example.com:8443/v1?x=1").unwrap();
        assert_eq!(web.host.as_deref(), Some("rpt.example.com"));
        let v6 = report_uri("https://[2001:db8::1]/x").unwrap();
        assert_eq!(v6.host.as_deref(), Some("2001:db8::1"));
        assert_eq!(report_uri("urn:x:y").unwrap().host, None);
        assert_eq!(report_uri("reports@example.com"), Err("no scheme"));
        assert_eq!(report_uri("1x:abc"), Err("bad scheme"));
        assert_eq!(report_uri("mailto:"), Err("nothing after the scheme"));
        assert_eq!(report_uri("mailto:a b@example.com"), Err("characters not allowed in a URI"));
        assert_eq!(report_uri("mailto:a@x%zz"), Err("characters not allowed in a URI"));
        assert_eq!(report_uri("mailto:reports.example.com"), Err("mailto without '@'"));
        assert_eq!(report_uri("mailto:a@"), Err("bad mailto address"));
        assert_eq!(report_uri("https:///path"), Err("no host"));
    }

    #[test]
    fn lossy_text_marks_bad_octets() {
        assert_eq!(text(b"v=DMARC1; p=\xffnone"), "v=DMARC1; p=\u{fffd}none");
    }
}
