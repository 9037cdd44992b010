//! The core against simulated resolvers with a round-trip time and a
//! capacity, in simulated time: the adaptive window, the retransmission
//! timeout, the failure hold-down and the non-recursive resolver check.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::tests::{World, config, core, drive, drive_until, resolvers, target};
use super::*;
use crate::record::Status;

/// A resolver that answers after `rtt` and drops every query that arrives
/// while `capacity` are already waiting (as Unbound does when its socket
/// buffer or its query table is full).
struct SimResolver {
    addr: SocketAddr,
    rtt: Duration,
    /// From this instant on, answers take `slow_rtt`.
    slow_from: Option<(Instant, Duration)>,
    capacity: usize,
    /// Share of queries lost whatever the load (a lossy link).
    random_loss: f64,
    rng: crate::dns::inflight::SplitMix,
    waiting: Vec<(Instant, u16, Vec<u8>)>,
    received: usize,
    dropped: usize,
}

impl SimResolver {
    fn new(addr: SocketAddr, rtt_ms: u64, capacity: usize) -> Self {
        let rtt = Duration::from_millis(rtt_ms);
        Self {
            addr,
            rtt,
            slow_from: None,
            capacity,
            random_loss: 0.0,
            rng: crate::dns::inflight::SplitMix::seeded(9),
            waiting: Vec::new(),
            received: 0,
            dropped: 0,
        }
    }
    fn rtt(&self, now: Instant) -> Duration {
        match self.slow_from {
            Some((from, slow)) if now >= from => slow,
            _ => self.rtt,
        }
    }
}

struct Run {
    rows: Vec<DomainRecord>,
    elapsed: Duration,
    /// The largest window each resolver reached.
    max_windows: Vec<u32>,
    /// Each resolver's window averaged over the run's steps.
    mean_windows: Vec<f64>,
}

/// Admit `domains` as the engine does (while the core wants them, within
/// the ceiling), deliver answers when they are due, fire timers.
fn simulate(core: &mut ScanCore, world: &mut World, sims: &mut [SimResolver], domains: Vec<String>) -> Run {
    let t0 = Instant::now();
    let mut now = t0;
    let mut todo = domains.into_iter();
    let mut buf = Vec::new();
    let mut rows = Vec::new();
    let mut max_windows = vec![0; sims.len()];
    let mut sum_windows = vec![0.0; sims.len()];
    let mut steps = 0.0;
    for _ in 0..10_000_000 {
        while core.wants_domains() && core.active_domains() < core.cfg.concurrency {
            match todo.next() {
                Some(d) => core.admit(target(&d), now),
                None => break,
            }
        }
        while let Some(t) = core.poll_transmit(now, &mut buf) {
            let sim = sims.iter_mut().find(|s| s.addr == t.dest).expect("known resolver");
            sim.received += 1;
            let draw = (sim.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let unlucky = draw < sim.random_loss;
            if sim.waiting.len() >= sim.capacity || unlucky {
                sim.dropped += 1;
                continue;
            }
            let at = now + sim.rtt(now);
            if let Some(resp) = world.answer(&buf, t.dest, true) {
                sim.waiting.push((at, t.socket, resp));
            }
        }
        for ((max, sum), w) in max_windows.iter_mut().zip(sum_windows.iter_mut()).zip(core.windows()) {
            *max = (*max).max(w);
            *sum += f64::from(w);
        }
        steps += 1.0;
        rows.extend(std::iter::from_fn(|| core.poll_completed()));
        assert!(core.fatal().is_none(), "{:?}", core.fatal());
        if core.is_idle() && todo.len() == 0 {
            let mean_windows = sum_windows.iter().map(|s| s / steps).collect();
            return Run { rows, elapsed: now - t0, max_windows, mean_windows };
        }
        let due = sims.iter().flat_map(|s| s.waiting.iter().map(|w| w.0)).min();
        now = [due, core.poll_timeout()].into_iter().flatten().min().expect("something pending").max(now);
        for sim in sims.iter_mut() {
            let (ready, rest): (Vec<_>, Vec<_>) = sim.waiting.drain(..).partition(|w| w.0 <= now);
            sim.waiting = rest;
            for (_, socket, resp) in ready {
                core.handle_datagram(socket, sim.addr, &resp, now);
            }
        }
        core.handle_timeout(now);
    }
    panic!("did not finish");
}

/// `n` domains, each with its own exchange: three questions a domain.
fn world_of(n: usize) -> (World, Vec<String>) {
    let mut world = World::new();
    let names: Vec<String> = (0..n).map(|i| format!("d{i}.example")).collect();
    for (i, d) in names.iter().enumerate() {
        world.mx(d, &[(10, &format!("mx.{d}"))]).a(&format!("mx.{d}"), [45, 0, (i >> 8) as u8, i as u8]);
    }
    (world, names)
}

fn all_right(rows: &[DomainRecord], n: usize) {
    assert_eq!(rows.len(), n);
    let wrong: Vec<_> = rows
        .iter()
        .filter(|r| r.status != Status::Ok || r.mx.len() != 1 || r.mx[0].ipv4.len() != 1)
        .map(|r| (r.domain.clone(), r.status))
        .collect();
    assert!(wrong.is_empty(), "{} wrong, e.g. {:?}", wrong.len(), &wrong[..wrong.len().min(5)]);
}

/// A core over the first `resolvers` of [`resolvers()`], with `timeout`.
fn core_over(resolvers: usize, retries: u8, timeout: Duration) -> ScanCore {
    let cfg =
        CoreConfig { resolvers: super::tests::resolvers()[..resolvers].to_vec(), timeout, ..config(retries) };
    ScanCore::new(cfg, IdSource::seeded(42))
}

fn one_resolver(retries: u8, timeout: Duration) -> ScanCore {
    core_over(1, retries, timeout)
}

#[test]
fn the_window_finds_a_resolvers_capacity_without_losing_rows() {
    // Capacity 100 at 10 ms: 10,000 queries/s at best. The ceiling is 1000:
    // a fixed window of 1000 would lose nine queries in ten.
    let (mut world, domains) = world_of(3000);
    let mut core = one_resolver(2, Duration::from_secs(2));
    let mut sims = [SimResolver::new(resolvers()[0], 10, 100)];
    let run = simulate(&mut core, &mut world, &mut sims, domains);
    all_right(&run.rows, 3000);
    let ideal = Duration::from_secs_f64(9000.0 / 10_000.0);
    assert!(run.elapsed < ideal * 3, "{:?} against an ideal {ideal:?}", run.elapsed);
    let loss = sims[0].dropped as f64 / sims[0].received as f64;
    eprintln!(
        "capacity 100: {:?}, {} of {} dropped, {} cuts, windows max {:?} mean {:.0?}",
        run.elapsed,
        sims[0].dropped,
        sims[0].received,
        core.stats().window_cuts,
        run.max_windows,
        run.mean_windows
    );
    assert!(loss < 0.08, "{} of {} queries dropped", sims[0].dropped, sims[0].received);
    assert!(core.stats().window_cuts > 0, "it did meet the capacity");
    assert!(run.max_windows[0] < 400, "window {} for a capacity of 100", run.max_windows[0]);
    // Each loss cost a retransmission timeout near the round trip, not 2 s.
    let rto = core.pacing[0].rto(1);
    assert!(rto < Duration::from_millis(200), "{rto:?}");
}

#[test]
fn random_loss_on_the_path_is_not_taken_for_congestion() {
    // 30 % of queries lost at any load, capacity far away: the window must
    // not sit at its floor (the losses are not the resolver's load).
    let (mut world, domains) = world_of(3000);
    let mut core = one_resolver(14, Duration::from_secs(2));
    let mut sims = [SimResolver::new(resolvers()[0], 10, 10_000)];
    sims[0].random_loss = 0.3;
    let run = simulate(&mut core, &mut world, &mut sims, domains);
    all_right(&run.rows, 3000);
    eprintln!(
        "30 % loss: {:?}, windows mean {:.0?}, cuts {}",
        run.elapsed,
        run.mean_windows,
        core.stats().window_cuts
    );
    assert!(run.mean_windows[0] > 50.0, "window {:?}", run.mean_windows);
}

#[test]
fn a_resolver_that_slows_down_mid_scan_loses_nothing() {
    let (mut world, domains) = world_of(2000);
    let mut core = one_resolver(2, Duration::from_secs(2));
    let mut sims = [SimResolver::new(resolvers()[0], 5, 200)];
    // After 200 ms every answer takes ten times as long.
    sims[0].slow_from = Some((Instant::now() + Duration::from_millis(200), Duration::from_millis(50)));
    let run = simulate(&mut core, &mut world, &mut sims, domains);
    all_right(&run.rows, 2000);
    let srtt = core.pacing[0].srtt().unwrap();
    assert!(srtt >= Duration::from_millis(40), "the estimate followed the slowdown: {srtt:?}");
    assert!(core.pacing[0].rto(1) >= srtt, "RTO above the round trip");
}

#[test]
fn two_resolvers_of_different_capacity_each_get_their_share() {
    let (mut world, domains) = world_of(4000);
    let mut core = core_over(2, 2, Duration::from_secs(2));
    let mut sims = [SimResolver::new(resolvers()[0], 10, 20), SimResolver::new(resolvers()[1], 10, 200)];
    let run = simulate(&mut core, &mut world, &mut sims, domains);
    all_right(&run.rows, 4000);
    let (small, big) = (sims[0].received - sims[0].dropped, sims[1].received - sims[1].dropped);
    assert!(big > 3 * small, "answered: small {small}, big {big}");
    eprintln!("windows max {:?} mean {:.0?}", run.max_windows, run.mean_windows);
    assert!(run.mean_windows[0] < 60.0, "small resolver's window {:?}", run.mean_windows);
    for s in &sims {
        assert!((s.dropped as f64) < 0.08 * s.received as f64, "{} of {} dropped", s.dropped, s.received);
    }
}

#[test]
fn a_late_answer_after_the_retransmission_timeout_still_counts() {
    let (mut world, domains) = world_of(200);
    let mut core = one_resolver(1, Duration::from_secs(2));
    let mut sims = [SimResolver::new(resolvers()[0], 2, 1000)];
    let warm = simulate(&mut core, &mut world, &mut sims, domains);
    all_right(&warm.rows, 200);
    let rto = core.pacing[0].rto(1);
    assert!(rto < Duration::from_millis(100), "measured: {rto:?}");
    // Now one question takes 300 ms: past both attempts' timers, well
    // within --timeout. Its first answer is taken.
    world.mx("slow.example", &[(10, "mx.d1.example")]);
    sims[0].slow_from = Some((Instant::now(), Duration::from_millis(300)));
    let run = simulate(&mut core, &mut world, &mut sims, vec!["slow.example".into()]);
    assert_eq!(run.rows[0].status, Status::Ok);
    assert_eq!(run.rows[0].queries, 2, "first try + one retransmission");
    assert!(run.elapsed < Duration::from_millis(400), "{:?}", run.elapsed);
    assert!(core.stats().retransmits >= 1);
}

#[test]
fn a_shared_exchange_that_timed_out_once_is_asked_again_after_the_hold_down() {
    let mut world = World::new();
    for d in ["a.example", "b.example", "c.example"] {
        world.mx(d, &[(10, "aspmx.shared.example")]);
    }
    world.a("aspmx.shared.example", [45, 0, 0, 1]);
    // Its A question goes unanswered once (both attempts of the first lookup).
    world.silent_times.insert(("aspmx.shared.example".into(), hickory_proto::rr::RecordType::A), 2);
    let mut core = core(1);
    let t0 = Instant::now();
    core.admit(target("a.example"), t0);
    let rows = drive(&mut core, &mut world, t0);
    let a = &rows[0];
    assert!(a.mx[0].address_status.is_failure(), "{:?}", a.mx[0].address_status);
    // Within the hold-down: the failure is served, nothing is asked.
    let asked = world.asked.len();
    let t1 = t0 + Duration::from_millis(2500);
    core.admit(target("b.example"), t1);
    let rows = drive(&mut core, &mut world, t1);
    assert!(rows[0].mx[0].address_status.is_failure());
    let again = world.asked[asked..].iter().filter(|(n, ..)| n == "aspmx.shared.example").count();
    assert_eq!(again, 0, "held down");
    // After it: asked again, and this time answered.
    let t2 = t1 + crate::resolve::cache::HOLD_DOWN * 4;
    core.admit(target("c.example"), t2);
    let rows = drive(&mut core, &mut world, t2);
    assert_eq!(rows[0].mx[0].address_status, crate::record::AddressStatus::Ok);
    assert_eq!(rows[0].mx[0].ipv4, vec!["45.0.0.1".parse::<std::net::Ipv4Addr>().unwrap()]);
}

#[test]
fn an_authoritative_only_server_stops_the_scan_with_its_name() {
    let (mut world, domains) = world_of(50);
    world.refers = resolvers();
    let mut core = one_resolver(2, Duration::from_secs(1));
    for d in &domains {
        core.admit(target(d), Instant::now());
    }
    let reason = drive_until(&mut core, &mut world, Instant::now()).expect_err("must stop");
    assert!(reason.contains("127.0.0.1:5301") && reason.contains("not a recursive resolver"), "{reason}");
    assert!(world.asked.len() <= 60, "stopped within a handful of answers: {}", world.asked.len());
}

#[test]
fn beside_a_recursive_one_an_authoritative_only_server_is_sidelined() {
    let (mut world, domains) = world_of(300);
    let mut core = core(2);
    // Resolver 0 gives referrals.
    world.refers = vec![resolvers()[0]];
    let t0 = Instant::now();
    for d in &domains {
        core.admit(target(d), t0);
    }
    let rows = drive(&mut core, &mut world, t0);
    all_right(&rows, 300);
    assert_eq!(core.sidelined(), vec![resolvers()[0]]);
    let referred = world.asked.iter().filter(|(_, _, d)| *d == resolvers()[0]).count();
    assert!(referred <= 10, "{referred} questions to the referral server");
}
