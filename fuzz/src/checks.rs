#![allow(dead_code)] // each fuzz target uses one of these checks
//! The properties the fuzz targets check, shared with the corpus replay
//! test (`tests/fuzz_corpus.rs`) so CI runs the same checks on every
//! corpus file.

use hickory_proto::op::{Header, Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, DecodeError};
use mxscan::dns::wire::{Answer, class, parse_answer, rtype};

/// The walker on arbitrary bytes, differential against hickory-proto in
/// both directions: it never panics; whatever it accepts for `(qname,
/// qtype)` hickory-proto accepts too (up to the exceptions of
/// [`hickory_accepts`]); and when both accept, they read the same RCODE,
/// flags and (without a CNAME chain) the same records.
pub(crate) fn wire(data: &[u8], qname: &str, qtype: u16) {
    let Ok(ours) = parse_answer(data, qname, qtype, false) else { return };
    if let Err(e) = hickory_accepts(data, &ours) {
        panic!("the walker accepts a message hickory-proto rejects ({e}): {ours:?}");
    }
    let Ok(theirs) = Message::from_vec(data) else { return };
    assert_eq!(ours.recursion_available, theirs.metadata.recursion_available);
    if ours.truncated {
        return; // nothing after the question was read
    }
    assert_eq!(ours.rcode, u16::from(theirs.metadata.response_code));
    let referral = theirs.metadata.response_code == ResponseCode::NoError
        && theirs.answers.is_empty()
        && !theirs.metadata.authoritative
        && theirs
            .authorities
            .iter()
            .any(|r| r.record_type() == RecordType::NS && r.dns_class == DNSClass::IN);
    assert_eq!(ours.referral, referral);
    if ours.canonical.is_some() {
        return; // hickory has no chain view to compare with
    }
    // Names compared by their raw labels: hickory's text form escapes some
    // bytes (`\-oel.com` for a leading hyphen) that the walker keeps.
    let raw =
        |n: &Name| n.iter().map(|l| String::from_utf8_lossy(l).to_lowercase()).collect::<Vec<_>>().join(".");
    let owner = |n: &Name| raw(n) == qname.to_lowercase();
    match qtype {
        rtype::MX => {
            let theirs = answers_of(&theirs, owner, |d| match d {
                RData::MX(mx) => Some((mx.preference, raw(&mx.exchange))),
                _ => None,
            });
            let ours: Vec<(u16, String)> = ours
                .mx
                .into_iter()
                .map(|m| (m.preference, if m.exchange == "." { String::new() } else { m.exchange }))
                .collect();
            // The walker escapes label bytes that a text name cannot hold
            // (`.`, `\\`, non-printables); the raw join cannot: skip those.
            if !ours.iter().any(|(_, e)| e.contains('\\')) {
                assert_eq!(ours, theirs);
            }
        }
        rtype::A => {
            let theirs = answers_of(&theirs, owner, |d| if let RData::A(a) = d { Some(a.0) } else { None });
            assert_eq!(ours.ipv4, theirs);
        }
        rtype::AAAA => {
            let theirs =
                answers_of(&theirs, owner, |d| if let RData::AAAA(a) = d { Some(a.0) } else { None });
            assert_eq!(ours.ipv6, theirs);
        }
        _ => {}
    }
}

/// Whether hickory-proto accepts a message the walker accepted as `ours`.
///
/// `Message::from_vec` accepting it settles it. Otherwise the message is
/// read again the way `Message::read` reads it (header, questions, then
/// `Record::read` for every record, and the section rules of
/// `Message::read_records`) with these exceptions, each a place where the
/// walker deliberately reads less than hickory and is right to:
///
/// 1. TC: only header and question are read. The rest of a truncated
///    message may stop anywhere, even mid-record (RFC 2181 §9); the answer
///    goes to TCP (RFC 7766 §5). Hickory must accept header and question.
/// 2. Records the walker does not read are opaque (RFC 3597 §5): any TYPE
///    but A, AAAA, CNAME, NS, MX, SOA and OPT, and any record of a class
///    other than IN, whose RDATA formats are the class's own (RFC 1035
///    §3.4.1). Their framing (owner name, fixed fields, RDLENGTH within the
///    message) is still read by hickory here. This covers:
///    - RDATA hickory decodes and may refuse (TXT, SVCB, CAA, ...);
///    - RDLENGTH 0, which hickory reads as an RFC 2136 prerequisite and
///      refuses outside UPDATE, while RFC 1035 §3.3.10 (NULL) and RFC 3597
///      allow empty RDATA;
///    - SIG and TSIG outside the additional section, which hickory refuses
///      as message signatures; to the walker they are opaque records (a
///      data SIG, RFC 2535 §4.1.8, travels with the answer).
/// 3. EDNS option contents: the walker checks the option framing (RFC 6891
///    §6.1.2) but reads no option; hickory decodes Client Subnet (RFC 7871)
///    and may refuse its contents. It is given the option as an unknown one.
///
/// Everything else (names, pointers, lengths, the types the walker reads,
/// OPT placement and uniqueness) must satisfy hickory as it is.
pub(crate) fn hickory_accepts(data: &[u8], ours: &Answer) -> Result<(), DecodeError> {
    let mut d = BinDecoder::new(data);
    let Header { counts, .. } = Header::read(&mut d)?;
    for _ in 0..counts.queries {
        Query::read(&mut d)?;
    }
    if ours.truncated {
        // Exception 1: the header and the question, as a message of their own.
        let mut head = data[..d.index()].to_vec();
        head[6..12].fill(0);
        return Message::from_vec(&head).map(drop);
    }
    if Message::from_vec(data).is_ok() {
        return Ok(());
    }
    let sections = [(counts.answers, false), (counts.authorities, false), (counts.additionals, true)];
    let mut edns = false;
    for (n, additional) in sections {
        for _ in 0..n {
            let start = d.index();
            // Framing, which hickory must accept for every record.
            Name::read(&mut d)?;
            let record_type = d.read_u16()?.unverified();
            let record_class = d.read_u16()?.unverified();
            d.read_u32()?;
            let rdlength = d.read_u16()?.unverified();
            let rdata = d.read_slice(usize::from(rdlength))?.unverified();
            match record_type {
                rtype::OPT => {
                    // The rules of `read_records` for OPT.
                    if !additional {
                        return Err(DecodeError::RecordNotInAdditionalSection(RecordType::OPT));
                    }
                    if std::mem::replace(&mut edns, true) {
                        return Err(DecodeError::DuplicateEdns);
                    }
                    // Exception 3: the OPT record alone, Client Subnet options renamed.
                    let mut alone = data[start..d.index()].to_vec();
                    let options = alone.len() - rdata.len();
                    let mut at = options;
                    while at + 4 <= alone.len() {
                        if alone[at..at + 2] == 8u16.to_be_bytes() {
                            alone[at..at + 2].copy_from_slice(&65001u16.to_be_bytes());
                        }
                        at += 4 + usize::from(u16::from_be_bytes([alone[at + 2], alone[at + 3]]));
                    }
                    Record::read(&mut BinDecoder::new(&alone))?;
                }
                rtype::A | rtype::AAAA | rtype::CNAME | rtype::NS | rtype::MX | rtype::SOA
                    if record_class == class::IN =>
                {
                    let at = u16::try_from(start).expect("a DNS message is < 64 KiB");
                    let record = Record::read(&mut d.clone(at))?;
                    if matches!(record.data, RData::Update0(_)) {
                        return Err(DecodeError::InvalidEmptyRecord);
                    }
                }
                _ => {} // Exception 2: opaque.
            }
        }
    }
    Ok(())
}

/// The walker on arbitrary bytes, asked the packet's own question (and the
/// other two types for that name): a fuzzed answer must get past the
/// question check to exercise the record walker at all.
pub(crate) fn wire_packet(data: &[u8]) {
    let qname = question_name(data).unwrap_or_else(|| "example.com".to_string());
    for qtype in [rtype::MX, rtype::A, rtype::AAAA] {
        wire(data, &qname, qtype);
    }
}

/// The question name of a packet, if it is written out (no compression)
/// in plain letters, digits, `-` and `_`.
pub(crate) fn question_name(data: &[u8]) -> Option<String> {
    let mut pos = 12;
    let mut labels: Vec<&str> = Vec::new();
    loop {
        let len = *data.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        let label = data.get(pos..pos + len)?;
        if len > 63 || !label.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_') {
            return None;
        }
        labels.push(std::str::from_utf8(label).ok()?);
        pos += len;
    }
    (!labels.is_empty()).then(|| labels.join("."))
}

/// The class IN records of one kind at the question's owner, in answer order.
fn answers_of<T>(msg: &Message, owner: impl Fn(&Name) -> bool, pick: impl Fn(&RData) -> Option<T>) -> Vec<T> {
    msg.answers
        .iter()
        .filter(|r| r.dns_class == DNSClass::IN && owner(&r.name))
        .filter_map(|r| pick(&r.data))
        .collect()
}

/// The input normaliser: never panics; what it accepts is ASCII, at most
/// 253 octets, and normalises to itself.
pub(crate) fn normalize(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(name) = mxscan::input::normalize(&text) {
        assert!(name.is_ascii() && name.len() <= 253, "{name:?}");
        assert_eq!(mxscan::input::normalize(&name).as_deref(), Ok(name.as_str()));
    }
}

/// The row builder: any row, however odd its strings and numbers, goes
/// through analysis and into an Arrow batch and a JSON line.
pub(crate) fn row(data: &[u8]) {
    use mxscan::record::{AddressStatus, DomainRecord, MxEntry};
    let mut bytes = data.iter().copied();
    let mut next = || bytes.next().unwrap_or(0);
    let text = |n: usize, at: usize| {
        String::from_utf8_lossy(&data[at.min(data.len())..(at + n).min(data.len())]).into_owned()
    };
    let mut r = DomainRecord::invalid(text(40, 0), Some(u32::from(next())), text(20, 3));
    if next() % 2 == 0 {
        r.domain = Some(text(30, 5));
        r.status = mxscan::record::Status::Ok;
        r.error = None;
        r.addresses_checked = next() % 2 == 0;
    }
    let count = usize::from(next() % 8);
    for i in 0..count {
        let mut m =
            MxEntry::new(u16::from(next()) << 8 | u16::from(next()), text(usize::from(next() % 64), i * 7));
        m.tier = next();
        m.ipv4 = (0..next() % 3).map(|_| std::net::Ipv4Addr::new(next(), next(), next(), next())).collect();
        m.address_status = match next() % 4 {
            0 => AddressStatus::Ok,
            1 => AddressStatus::NxDomain,
            2 => AddressStatus::Timeout,
            _ => AddressStatus::Skipped,
        };
        m.org_nxdomain = next() % 5 == 0;
        r.mx.push(m);
    }
    // Built once: parsing the embedded table each run would be most of the work.
    static TABLE: std::sync::OnceLock<mxscan::analyze::providers::ProviderTable> = std::sync::OnceLock::new();
    mxscan::analyze::analyze(&mut r, TABLE.get_or_init(mxscan::analyze::providers::ProviderTable::embedded));
    let batch = mxscan::output::arrow::to_batch(std::slice::from_ref(&r)).expect("any row converts");
    assert_eq!(batch.num_rows(), 1);
    let line = mxscan::output::jsonl::to_json(&r).to_string();
    assert!(!line.contains('\n'));
}

/// The SPF record parser and both SPF machines on arbitrary record bytes:
/// nothing panics; an accepted record prints to text that parses to the
/// same terms; an error points inside the record; the static audit and
/// `check_host()` finish (the lookup limit bounds them) when every TXT
/// question is answered with the same bytes (so includes and redirects
/// loop) and every address question with data.
pub(crate) fn spf(data: &[u8]) {
    use mxscan::policy::spf::{Answer, CheckHost, Query, Record, Sender, SpfAudit, qtype, select_record};
    let _ = select_record(&[data]);
    let text = String::from_utf8_lossy(data);
    match Record::parse(&text) {
        Ok(record) => {
            let printed = record.to_string();
            let again =
                Record::parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not re-parse: {e}"));
            let kinds = |r: &Record| r.terms.iter().map(|t| t.kind.clone()).collect::<Vec<_>>();
            assert_eq!(kinds(&again), kinds(&record), "{printed:?}");
            assert_eq!(again.to_string(), printed);
        }
        Err(e) => {
            assert!(e.pos <= text.len(), "{e}");
            assert!(text.get(e.pos..).is_some(), "{e}: not at a character boundary");
        }
    }
    let answer = |query: &Query| match query.qtype {
        qtype::TXT => Answer::Records(vec![data.to_vec()]),
        qtype::A => Answer::Records(vec![vec![192, 0, 2, 1]]),
        qtype::AAAA => Answer::Records(vec![[0x20, 1, 0xd, 0xb8].into_iter().chain([0; 12]).collect()]),
        qtype::MX => Answer::Records(vec![b"mx.example.com".to_vec()]),
        qtype::PTR => Answer::Records(vec![b"host.example.com".to_vec()]),
        _ => Answer::NoData,
    };
    let mut audit = SpfAudit::new("example.com", Answer::Records(vec![data.to_vec()]));
    let mut steps = 0;
    while let Some(query) = audit.next_query() {
        audit.answer(&query, answer(&query));
        steps += 1;
        assert!(steps < 100, "the audit does not end");
    }
    assert!(audit.is_done());
    let report = audit.report();
    assert!(report.lookups <= 11, "{report:?}");
    for ip in ["192.0.2.1", "2001:db8::1"] {
        let sender = Sender {
            ip: ip.parse().unwrap(),
            helo: "helo.example.com".into(),
            mail_from: "a@example.com".into(),
        };
        let mut check = CheckHost::new(sender, "receiver.example", 0);
        let mut steps = 0;
        while let Some(query) = check.next_query() {
            check.answer(&query, answer(&query));
            steps += 1;
            assert!(steps < 1000, "check_host does not end");
        }
        assert!(check.result().is_some());
    }
}

/// Splits fuzz input into TXT records at NUL octets (a record never needs
/// one to exercise the parsers).
fn txt_records(data: &[u8]) -> Vec<Vec<u8>> {
    data.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

/// DMARC: selection, parsing and findings on any record set, and the
/// discovery walk for a name taken from the input, answered from it.
pub(crate) fn dmarc(data: &[u8]) {
    use mxscan::policy::dmarc::{self, DmarcStatus, discovery, external};
    use mxscan::policy::tags::Selection;
    let records = txt_records(data);
    // The TXT decoder the wire path uses: the joined strings lose their length octets.
    if let Ok(joined) = mxscan::dns::records::txt(data) {
        assert!(joined.len() < data.len() || data.is_empty());
    }
    let selection = dmarc::select(&records);
    for record in &records {
        let report = dmarc::parse(&String::from_utf8_lossy(record));
        assert_eq!(report.status == DmarcStatus::Ok, report.errors.is_empty(), "{report:?}");
        assert!(report.pct.is_none_or(|p| p <= 100));
        let _ = (report.findings(), report.effective_policy(), external::authorization_queries(&report));
        if dmarc::is_dmarc_record(record) && records.len() == 1 {
            assert!(matches!(selection, Selection::One(_)));
        }
    }
    // The first record names the domain; the others answer every query.
    let domain =
        String::from_utf8_lossy(records.first().map_or(&[][..], |r| &r[..r.len().min(80)])).into_owned();
    let names = discovery::tree_walk_names(&domain);
    assert!(names.len() <= 8, "{names:?}");
    let _ = discovery::org_domain_name(&domain);
    let mut lookup = discovery::DmarcLookup::new(&domain);
    let mut asked = 0;
    while lookup.next_query().is_some() {
        asked += 1;
        assert!(asked <= 9, "eight walk queries and the RFC 7489 one at most");
        let answer = (data.get(asked) != Some(&0xff)).then_some(&records[1.min(records.len())..]);
        lookup.answer(answer);
    }
    let mut report = lookup.finish().report();
    let answers: Vec<(String, Option<Vec<Vec<u8>>>)> = external::authorization_queries(&report)
        .into_iter()
        .map(|(_, name)| (name, Some(records.clone())))
        .collect();
    report.rua_unauthorized = external::rua_unauthorized(&report, &answers);
    let _ = report.findings();
}

/// MTA-STS: the TXT record, the policy body, and the column built from
/// both with exchanges taken from the body's lines.
pub(crate) fn mta_sts(data: &[u8]) {
    use mxscan::policy::mta_sts::{self, Fetch, MtaStsReport, MtaStsStatus};
    let record = mta_sts::parse_record(&String::from_utf8_lossy(data));
    if record.errors.is_empty() {
        let id = record.id.expect("a valid record has an id");
        assert!((1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    let policy = mta_sts::parse_policy(data);
    if policy.errors.is_empty() {
        assert!(policy.mode.is_some() && policy.max_age.is_some_and(|a| a <= mta_sts::policy::MAX_AGE_LIMIT));
        assert!(!policy.mx_patterns.is_empty() || policy.mode == Some(mta_sts::Mode::None));
    }
    let mx: Vec<(String, u8)> = data
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (String::from_utf8_lossy(line).into_owned(), (i % 3) as u8 + 1))
        .collect();
    let report = MtaStsReport::from_txt(Some(&[b"v=STSv1; id=1".to_vec()]))
        .with_fetch(Fetch::Body { body: data, cert_not_after_ms: Some(i64::from(data.len() as u32)) }, 0)
        .with_mx(&mx);
    assert!(report.mx_coverage.is_none_or(|c| (0.0..=1.0).contains(&c)));
    assert!(report.mx_uncovered.len() <= mx.len());
    assert_eq!(report.status == MtaStsStatus::Ok, policy.errors.is_empty());
    let _ = (report.findings(), report.mx_uncovered_severity(&mx));
    for (pattern, _) in &mx {
        for (host, _) in &mx {
            let _ = mta_sts::pattern_matches(pattern, host);
        }
    }
    let _ = MtaStsReport::from_txt(Some(&txt_records(data))).findings();
}

/// TLS-RPT: selection and parsing.
pub(crate) fn tlsrpt(data: &[u8]) {
    use mxscan::policy::tlsrpt::{TlsRptReport, TlsRptStatus, parse};
    let report = TlsRptReport::from_txt(Some(&txt_records(data)));
    if report.status == TlsRptStatus::Ok {
        assert!(!report.rua.is_empty() && report.errors.is_empty());
    }
    let direct = parse(&String::from_utf8_lossy(data));
    assert_eq!(direct.status == TlsRptStatus::Ok, direct.errors.is_empty());
    let _ = (report.findings(), direct.findings());
}

/// DKIM: key records, whatever the bytes.
pub(crate) fn dkim(data: &[u8]) {
    use mxscan::policy::dkim::{DkimStatus, check_selector, parse_key};
    let report = parse_key("fuzz", &String::from_utf8_lossy(data));
    match report.status {
        DkimStatus::Ok => assert!(report.key_bits.is_some() && report.errors.is_empty(), "{report:?}"),
        DkimStatus::Revoked => assert!(report.key_bits.is_none() && report.errors.is_empty()),
        DkimStatus::Invalid => assert!(!report.errors.is_empty()),
    }
    if let Some(report) = check_selector("fuzz", &txt_records(data)) {
        let _ = report.findings();
    }
}

/// DANE: TLSA RDATA, the element and the checks.
pub(crate) fn dane(data: &[u8]) {
    use mxscan::policy::dane::{ExchangeTlsa, Tlsa, findings};
    let records: Vec<Tlsa> = data.chunks(35).filter_map(Tlsa::from_rdata).collect();
    for tlsa in &records {
        let element = tlsa.element();
        assert_eq!(element.data.len(), tlsa.data.len() * 2);
        assert!(element.data.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(!(tlsa.usable() && (tlsa.unusable_usage() || tlsa.bad_digest_length())));
    }
    let ad = data.first().map(|b| b % 2 == 0);
    let _ = findings(&[ExchangeTlsa { tlsa: &records, authenticated: ad }], ad);
}
