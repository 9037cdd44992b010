//! The core against a simulated resolver, in memory and in simulated time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, MX, NS};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;
use crate::dns::wire::rtype;
use crate::record::{AddressStatus, Status};

/// What the fake resolver does for a (name, type).
#[derive(Clone)]
pub(super) enum Reply {
    Records(Vec<RData>),
    Rcode(ResponseCode),
    Silent,
    Truncate(Vec<RData>),
}

pub(super) struct World {
    zone: HashMap<(String, RecordType), Reply>,
    pub(super) asked: Vec<(String, RecordType, SocketAddr)>,
    /// Resolvers that never answer.
    dead: Vec<SocketAddr>,
    /// Questions whose next N copies get no answer.
    pub(super) silent_times: HashMap<(String, RecordType), usize>,
    /// Resolvers that answer like an authoritative-only server: referrals,
    /// RA=0.
    pub(super) refers: Vec<SocketAddr>,
}

impl World {
    pub(super) fn new() -> Self {
        Self {
            zone: HashMap::new(),
            asked: Vec::new(),
            dead: Vec::new(),
            silent_times: HashMap::new(),
            refers: Vec::new(),
        }
    }

    fn set(&mut self, name: &str, t: RecordType, reply: Reply) -> &mut Self {
        self.zone.insert((name.to_string(), t), reply);
        self
    }

    pub(super) fn mx(&mut self, name: &str, records: &[(u16, &str)]) -> &mut Self {
        let rdata =
            records.iter().map(|(p, e)| RData::MX(MX::new(*p, Name::from_ascii(format!("{e}.")).unwrap())));
        self.set(name, RecordType::MX, Reply::Records(rdata.collect()))
    }

    pub(super) fn a(&mut self, name: &str, ip: [u8; 4]) -> &mut Self {
        self.set(name, RecordType::A, Reply::Records(vec![RData::A(A::new(ip[0], ip[1], ip[2], ip[3]))]))
    }

    /// The resolver's answer to `query`, or `None` if it stays silent.
    pub(super) fn answer(&mut self, query: &[u8], dest: SocketAddr, truncate_ok: bool) -> Option<Vec<u8>> {
        let q = Message::from_vec(query).unwrap();
        let question = q.queries[0].clone();
        // Matched case-insensitively; the question is echoed as asked (0x20).
        let name = question.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
        self.asked.push((name.clone(), question.query_type(), dest));
        if self.dead.contains(&dest) {
            return None;
        }
        if let Some(n) = self.silent_times.get_mut(&(name.clone(), question.query_type())).filter(|n| **n > 0)
        {
            *n -= 1;
            return None;
        }
        let mut resp = Message::new(q.id, MessageType::Response, q.op_code);
        resp.add_query(question.clone());
        let refers = self.refers.contains(&dest);
        resp.metadata.recursion_available = !refers;
        resp.metadata.recursion_desired = true;
        if refers {
            // An authoritative-only server: "ask the .example servers".
            let ns = Name::from_ascii("a.iana-servers.net.").unwrap();
            let zone = Name::from_ascii("example.").unwrap();
            resp.add_authority(Record::from_rdata(zone, 172800, RData::NS(NS(ns))));
            return Some(resp.to_vec().unwrap());
        }
        let reply = self.zone.get(&(name.clone(), question.query_type())).cloned();
        let owner = question.name().clone();
        match reply {
            Some(Reply::Silent) => return None,
            Some(Reply::Rcode(rc)) => resp.metadata.response_code = rc,
            Some(Reply::Records(rdata)) => {
                for rd in rdata {
                    resp.add_answer(Record::from_rdata(owner.clone(), 60, rd));
                }
            }
            Some(Reply::Truncate(rdata)) => {
                if truncate_ok {
                    resp.metadata.truncation = true;
                } else {
                    for rd in rdata {
                        resp.add_answer(Record::from_rdata(owner.clone(), 60, rd));
                    }
                }
            }
            None => {
                // Names with some record exist (NODATA); others do not.
                if !self.zone.keys().any(|(n, _)| *n == name) {
                    resp.metadata.response_code = ResponseCode::NXDomain;
                }
            }
        }
        Some(resp.to_vec().unwrap())
    }
}

pub(super) fn resolvers() -> Vec<SocketAddr> {
    vec!["127.0.0.1:5301".parse().unwrap(), "127.0.0.1:5302".parse().unwrap()]
}

/// Two resolvers, a 1 s timeout, `retries`.
pub(super) fn config(retries: u8) -> CoreConfig {
    CoreConfig {
        resolvers: resolvers(),
        sockets: 2,
        timeout: Duration::from_secs(1),
        retries,
        concurrency: 1000,
        mx_only: false,
        cache_capacity: 1000,
        randomize_case: false,
        policy: None,
    }
}

pub(super) fn core(retries: u8) -> ScanCore {
    ScanCore::new(config(retries), IdSource::seeded(42))
}

pub(super) fn target(d: &str) -> Target {
    Target { domain: d.into(), input: d.into(), rank: None, line: 1 }
}

/// Run until idle: answer every transmission at once, advance simulated
/// time to the next deadline when nothing is left to send.
pub(super) fn drive(core: &mut ScanCore, world: &mut World, now: Instant) -> Vec<DomainRecord> {
    drive_until(core, world, now).expect("no fatal verdict")
}

pub(super) fn drive_until(
    core: &mut ScanCore,
    world: &mut World,
    mut now: Instant,
) -> Result<Vec<DomainRecord>, String> {
    let mut buf = Vec::new();
    let mut rows = Vec::new();
    for _ in 0..10_000 {
        while let Some(t) = core.poll_transmit(now, &mut buf) {
            if let Some(resp) = world.answer(&buf, t.dest, true) {
                core.handle_datagram(t.socket, t.dest, &resp, now);
            }
        }
        while let Some(q) = core.poll_tcp() {
            let resp = world
                .answer(&q.query, q.dest, false)
                .ok_or_else(|| crate::dns::tcp::TcpError { timed_out: true, detail: "silent".into() });
            core.handle_tcp(q.token, resp, now);
        }
        rows.extend(std::iter::from_fn(|| core.poll_completed()).map(|mut row| {
            // As the pipeline does on its writer thread.
            crate::analyze::analyze(&mut row, &crate::analyze::providers::ProviderTable::embedded());
            row
        }));
        if core.is_idle() {
            return Ok(rows);
        }
        if let Some(reason) = core.fatal() {
            return Err(reason.to_string());
        }
        match core.poll_timeout() {
            Some(t) => now = t.max(now),
            None if core.queued() == 0 => panic!("stuck: nothing queued and no timer"),
            None => {}
        }
        core.handle_timeout(now);
    }
    panic!("did not finish");
}

#[test]
fn shared_exchanges_are_asked_once_and_charged_to_the_first_domain() {
    let mut world = World::new();
    world
        .mx("a.example", &[(10, "mx.provider.example"), (20, "mx2.a.example")])
        .mx("b.example", &[(5, "mx.provider.example")])
        .a("mx.provider.example", [45, 0, 0, 1])
        .a("mx2.a.example", [45, 0, 0, 2]);
    let mut core = core(1);
    let now = Instant::now();
    core.admit(target("a.example"), now);
    let mut rows = drive(&mut core, &mut world, now);
    core.admit(target("b.example"), now);
    rows.extend(drive(&mut core, &mut world, now));

    let asked_provider = world.asked.iter().filter(|(n, _, _)| n == "mx.provider.example").count();
    assert_eq!(asked_provider, 2, "A and AAAA once each, for both domains");
    let a = rows.iter().find(|r| r.domain.as_deref() == Some("a.example")).unwrap();
    let b = rows.iter().find(|r| r.domain.as_deref() == Some("b.example")).unwrap();
    assert_eq!(a.queries, 5, "MX + 2x(A, AAAA)");
    assert_eq!(b.queries, 1, "MX only; the exchange came from the cache");
    assert_eq!(b.mx[0].ipv4, vec!["45.0.0.1".parse::<std::net::Ipv4Addr>().unwrap()]);
    assert_eq!(b.mx[0].address_status, AddressStatus::Ok);
    assert_eq!(a.mx.iter().map(|m| m.tier).collect::<Vec<_>>(), vec![1, 2]);
    // Queries rotate over both resolvers.
    let used: std::collections::HashSet<_> = world.asked.iter().map(|(_, _, d)| *d).collect();
    assert_eq!(used.len(), 2);
}

#[test]
fn timeouts_retry_on_the_next_resolver_then_report_timeout() {
    let mut world = World::new();
    world.set("slow.example", RecordType::MX, Reply::Silent);
    let mut core = core(2);
    let now = Instant::now();
    core.admit(target("slow.example"), now);
    let rows = drive(&mut core, &mut world, now);
    assert_eq!(rows[0].status, Status::Timeout);
    assert_eq!(rows[0].queries, 3, "first try + 2 retries");
    assert_eq!(rows[0].resolver, None);
    let dests: Vec<_> = world.asked.iter().map(|(_, _, d)| *d).collect();
    assert_ne!(dests[0], dests[1], "a retry goes to another resolver");
    assert_eq!(core.stats().timeouts, 3);
    assert!(rows[0].elapsed_ms >= 3000, "three full timeouts plus backoff: {}", rows[0].elapsed_ms);
}

#[test]
fn servfail_is_retried_but_nxdomain_and_nodata_are_answers() {
    let mut world = World::new();
    world.set("broken.example", RecordType::MX, Reply::Rcode(ResponseCode::ServFail));
    world.set("nodata.example", RecordType::TXT, Reply::Records(Vec::new()));
    let mut core = core(1);
    let now = Instant::now();
    for d in ["broken.example", "gone.example", "nodata.example"] {
        core.admit(target(d), now);
    }
    let rows = drive(&mut core, &mut world, now);
    let by_domain = |d: &str| rows.iter().find(|r| r.domain.as_deref() == Some(d)).unwrap();
    assert_eq!(
        (by_domain("broken.example").status, by_domain("broken.example").queries),
        (Status::ServFail, 2)
    );
    assert_eq!((by_domain("gone.example").status, by_domain("gone.example").queries), (Status::NxDomain, 1));
    let nodata = by_domain("nodata.example");
    // NODATA for MX, then A and AAAA of the domain (also NODATA): no_mx.
    assert_eq!((nodata.status, nodata.queries), (Status::Ok, 3));
    assert_eq!(nodata.findings, vec!["no_mx"]);
}

#[test]
fn forged_and_stray_datagrams_are_counted_not_accepted() {
    let mut world = World::new();
    world.mx("a.example", &[(10, "mx.a.example")]).a("mx.a.example", [45, 0, 0, 1]);
    let mut core = core(0);
    let now = Instant::now();
    core.admit(target("a.example"), now);
    let mut buf = Vec::new();
    let t = core.poll_transmit(now, &mut buf).unwrap();
    let good = world.answer(&buf, t.dest, true).unwrap();

    // From another address.
    core.handle_datagram(t.socket, "127.0.0.9:53".parse().unwrap(), &good, now);
    // On the other socket.
    core.handle_datagram(1 - t.socket, t.dest, &good, now);
    // Another id.
    let mut wrong_id = good.clone();
    wrong_id[1] ^= 0xff;
    core.handle_datagram(t.socket, t.dest, &wrong_id, now);
    // Right id, other question.
    let mut other = World::new();
    other.mx("b.example", &[(1, "evil.example")]);
    let mut q = Vec::new();
    wire::encode_query(&mut q, u16::from_be_bytes([good[0], good[1]]), "b.example", rtype::MX);
    let forged = other.answer(&q, t.dest, true).unwrap();
    core.handle_datagram(t.socket, t.dest, &forged, now);
    // Garbage.
    core.handle_datagram(t.socket, t.dest, &[1, 2, 3], now);
    assert_eq!(core.stats().unmatched, 4);
    assert_eq!(core.stats().malformed, 1);
    assert_eq!(core.in_flight(), 1, "still waiting for the real answer");

    core.handle_datagram(t.socket, t.dest, &good, now);
    // A duplicate of the real answer is stray now.
    core.handle_datagram(t.socket, t.dest, &good, now);
    assert_eq!(core.stats().unmatched, 5);
    let rows = drive(&mut core, &mut world, now);
    assert_eq!(rows[0].mx[0].exchange, "mx.a.example");
}

#[test]
fn truncated_answers_are_asked_again_over_tcp() {
    let mut world = World::new();
    let many: Vec<RData> = (0..40)
        .map(|i| RData::MX(MX::new(i, Name::from_ascii(format!("mx{i}.big.example.")).unwrap())))
        .collect();
    world.set("big.example", RecordType::MX, Reply::Truncate(many));
    let mut core = core(0);
    let now = Instant::now();
    core.admit(target("big.example"), now);
    let rows = drive(&mut core, &mut world, now);
    assert_eq!(core.stats().tcp, 1);
    assert_eq!(rows[0].mx.len(), 40);
    assert_eq!(rows[0].mx[39].tier, 40);
    assert!(rows[0].findings.contains(&"mx_unresolvable"), "{:?}", rows[0].findings);
}

#[test]
fn cname_domain_and_cname_exchange() {
    let mut world = World::new();
    let cname = |t: &str| RData::CNAME(CNAME(Name::from_ascii(t).unwrap()));
    // The resolver follows the domain's CNAME: emulate its answer shape.
    world.set("alias.example", RecordType::MX, Reply::Records(vec![cname("real.example.")]));
    world.mx("real.example", &[(10, "mx.real.example")]);
    world.set("mx.real.example", RecordType::A, Reply::Records(vec![cname("host.real.example.")]));
    let mut core = core(0);
    let now = Instant::now();
    core.admit(target("alias.example"), now);
    let rows = drive(&mut core, &mut world, now);
    // Our fake resolver does not chase CNAMEs, so the MX set is empty here;
    // what matters is that the alias is reported.
    assert_eq!(rows[0].domain_cname.as_deref(), Some("real.example"));
    assert!(rows[0].findings.contains(&"domain_is_cname"));
}

#[test]
fn dangling_exchanges_ask_their_organisation_once() {
    let mut world = World::new();
    world
        .mx("a.example", &[(10, "mx1.gone-org.com"), (20, "mx2.gone-org.com")])
        .mx("b.example", &[(10, "mx3.gone-org.com")])
        .mx("c.example", &[(10, "typo.live-org.com")])
        .a("www.live-org.com", [45, 0, 0, 9])
        // A zone apex always exists (it holds the SOA): NODATA, not NXDOMAIN.
        .set("live-org.com", RecordType::TXT, Reply::Records(Vec::new()));
    let mut core = core(0);
    let now = Instant::now();
    for d in ["a.example", "b.example", "c.example"] {
        core.admit(target(d), now);
    }
    let rows = drive(&mut core, &mut world, now);
    let soa: Vec<&str> =
        world.asked.iter().filter(|(_, t, _)| *t == RecordType::SOA).map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(soa.iter().filter(|n| **n == "gone-org.com").count(), 1, "{soa:?}");
    assert_eq!(soa.iter().filter(|n| **n == "live-org.com").count(), 1, "{soa:?}");
    let by = |d: &str| rows.iter().find(|r| r.domain.as_deref() == Some(d)).unwrap();
    assert!(by("a.example").findings.contains(&"dangling_mx"));
    assert!(by("b.example").findings.contains(&"dangling_mx"));
    let c = by("c.example");
    assert!(
        c.findings.contains(&"mx_unresolvable") && !c.findings.contains(&"dangling_mx"),
        "{:?}",
        c.findings
    );
}

#[test]
fn a_dead_resolver_is_sidelined_and_the_scan_completes() {
    let mut world = World::new();
    for i in 0..300 {
        world.mx(&format!("d{i}.example"), &[(10, "mx.shared.example")]);
    }
    world.a("mx.shared.example", [45, 0, 0, 1]);
    world.dead.push(resolvers()[0]);
    let mut core = core(2);
    let now = Instant::now();
    for i in 0..300 {
        core.admit(target(&format!("d{i}.example")), now);
    }
    let rows = drive(&mut core, &mut world, now);
    assert_eq!(rows.len(), 300);
    assert!(rows.iter().all(|r| r.status == Status::Ok && r.mx[0].address_status == AddressStatus::Ok));
    // Its window shrank at once: it got a few queries, not half of them.
    let to_dead = world.asked.iter().filter(|(_, _, d)| *d == resolvers()[0]).count();
    assert!(to_dead < 40, "{to_dead} of {} queries to the dead resolver", world.asked.len());
    // A longer scan reaches the health verdict: the dead one is sidelined.
    for i in 300..3000 {
        world.mx(&format!("d{i}.example"), &[(10, "mx.shared.example")]);
    }
    let mut now = now;
    for i in 300..3000 {
        // Domains arrive over time, as from a long list.
        now += Duration::from_millis(10);
        core.admit(target(&format!("d{i}.example")), now);
        let rows = drive(&mut core, &mut world, now);
        assert!(rows.iter().all(|r| r.status == Status::Ok));
    }
    assert_eq!(core.sidelined(), vec![resolvers()[0]]);
    assert!(
        matches!(core.poll_event(), Some(CoreEvent::Sidelined { resolver, .. }) if resolver == resolvers()[0])
    );
    // After the verdict, new lookups go to the live resolver only.
    let late = world.asked.iter().rev().take(10).filter(|(_, _, d)| *d == resolvers()[0]).count();
    assert_eq!(late, 0);
}

#[test]
fn when_every_resolver_is_dead_the_core_says_so() {
    let mut world = World::new();
    world.dead = resolvers();
    let mut core = core(10);
    let now = Instant::now();
    for i in 0..200 {
        core.admit(target(&format!("d{i}.example")), now);
    }
    let reason = drive_until(&mut core, &mut world, now).expect_err("must stop");
    assert!(reason.contains("no resolver answers"), "{reason}");
    // Bounded: it stops after a few seconds of silence (5 × the 1 s timeout),
    // not after every domain's 11 attempts.
    assert!(world.asked.len() < 200 * 8, "{} queries before giving up", world.asked.len());
}

#[test]
fn randomized_case_must_be_echoed_exactly() {
    let mut world = World::new();
    world.mx("a.example", &[(10, "mx.a.example")]).a("mx.a.example", [45, 0, 0, 1]);
    let mut core = core(0);
    core.cfg.randomize_case = true;
    let now = Instant::now();
    core.admit(target("a.example"), now);
    let mut buf = Vec::new();
    let t = core.poll_transmit(now, &mut buf).unwrap();
    let sent = Message::from_vec(&buf).unwrap().queries[0].name().to_ascii();
    assert!(sent.eq_ignore_ascii_case("a.example."), "{sent}");
    assert_ne!(sent, "a.example.", "this seed mixes the case");
    // A forger who answers in lowercase (or any other case) is not believed.
    let mut q = Vec::new();
    wire::encode_query(&mut q, u16::from_be_bytes([buf[0], buf[1]]), "a.example", rtype::MX);
    let mut forger = World::new();
    forger.mx("a.example", &[(1, "evil.example")]);
    let forged = forger.answer(&q, t.dest, true).unwrap();
    core.handle_datagram(t.socket, t.dest, &forged, now);
    assert_eq!(core.stats().unmatched, 1);
    // The real resolver echoes the case: accepted.
    let real = world.answer(&buf, t.dest, true).unwrap();
    core.handle_datagram(t.socket, t.dest, &real, now);
    let rows = drive(&mut core, &mut world, now);
    assert_eq!(rows[0].mx[0].exchange, "mx.a.example");
}

#[test]
fn case_patterns_differ_between_attempts() {
    let a = mix_case("www.example-domain.com", 1);
    let b = mix_case("www.example-domain.com", 2);
    assert!(a.eq_ignore_ascii_case(&b) && a != b);
    assert_eq!(mix_case("123.45", 9), "123.45");
}

#[test]
fn follow_ups_go_before_new_domains_first_queries() {
    let mut world = World::new();
    for d in ["a.example", "b.example", "c.example"] {
        world.mx(d, &[(10, &format!("mx.{d}"))]).a(&format!("mx.{d}"), [45, 0, 0, 1]);
    }
    let mut core = core(1);
    let now = Instant::now();
    for d in ["a.example", "b.example", "c.example"] {
        core.admit(target(d), now);
    }
    // One datagram at a time, as under a tight rate limit.
    let mut buf = Vec::new();
    let mut order = Vec::new();
    while let Some(t) = core.poll_transmit(now, &mut buf) {
        let asked = world.answer(&buf, t.dest, true).expect("answered");
        order.push(world.asked.last().map(|(name, qtype, _)| format!("{name} {qtype:?}")).unwrap());
        core.handle_datagram(t.socket, t.dest, &asked, now);
    }
    // a's exchanger is asked right after a's MX, before b's MX.
    assert_eq!(order[0], "a.example MX");
    assert!(order[1].starts_with("mx.a.example") && order[2].starts_with("mx.a.example"), "{order:?}");
    assert_eq!(order[3], "b.example MX", "{order:?}");
    assert_eq!(std::iter::from_fn(|| core.poll_completed()).count(), 3);
}

#[test]
fn answers_to_attempts_that_left_are_late_not_unmatched() {
    let mut world = World::new();
    world.mx("a.example", &[(10, "mx.a.example")]).a("mx.a.example", [45, 0, 0, 1]);
    world.mx("b.example", &[(10, "mx.b.example")]).a("mx.b.example", [45, 0, 0, 2]);
    let mut core = core(2);
    let t0 = Instant::now();
    let mut buf = Vec::new();

    // 1. The first attempt times out; its answer comes after the retry went.
    core.admit(target("a.example"), t0);
    let first = core.poll_transmit(t0, &mut buf).unwrap();
    let late_first = world.answer(&buf, first.dest, true).unwrap();
    let t1 = t0 + Duration::from_secs(1);
    core.handle_timeout(t1);
    assert_eq!(core.stats().timeouts, 1);
    core.handle_datagram(first.socket, first.dest, &late_first, t1);
    assert_eq!((core.stats().late, core.stats().unmatched, core.stats().answers), (1, 0, 0));
    // The same bytes from anyone else are still unmatched.
    core.handle_datagram(first.socket, "127.0.0.9:53".parse().unwrap(), &late_first, t1);
    assert_eq!((core.stats().late, core.stats().unmatched), (1, 1));
    let rows = drive(&mut core, &mut world, t1);
    assert_eq!((rows[0].status, rows[0].mx[0].exchange.as_str()), (Status::Ok, "mx.a.example"));

    // 2. Two attempts out at once (the second sent after a retransmission
    // timeout): the first answer settles the question, the second is late.
    core.admit(target("b.example"), t1);
    let (mut sent, mut now) = (Vec::new(), t1);
    while sent.len() < 2 {
        while let Some(t) = core.poll_transmit(now, &mut buf) {
            sent.push((t, world.answer(&buf, t.dest, true).unwrap()));
        }
        now = core.poll_timeout().expect("a retransmission timer");
        assert!(now < t1 + Duration::from_secs(1), "retransmitted before --timeout");
        core.handle_timeout(now);
    }
    assert_eq!(core.stats().retransmits, 1);
    let before = core.stats();
    core.handle_datagram(sent[0].0.socket, sent[0].0.dest, &sent[0].1, now);
    core.handle_datagram(sent[1].0.socket, sent[1].0.dest, &sent[1].1, now);
    assert_eq!(core.stats().answers, before.answers + 1);
    assert_eq!((core.stats().late, core.stats().unmatched), (before.late + 1, before.unmatched));
    let rows = drive(&mut core, &mut world, now);
    assert_eq!(rows[0].mx[0].exchange, "mx.b.example");
}
