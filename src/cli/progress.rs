//! The progress bar: on stderr, only when it is a terminal.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mxscan::scan::Counters;

pub(crate) struct Bar {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Bar {
    /// A bar fed from `counters` every 200 ms; `None` when stderr is not a
    /// terminal (logs stay clean).
    pub(crate) fn start(counters: Arc<Counters>, total: Option<u64>) -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr_with_hz(5));
        let template = if total.is_some() {
            "{elapsed_precise} [{bar:30}] {pos}/{len} rows · {msg} · ETA {eta}"
        } else {
            "{elapsed_precise} {spinner} {pos} rows · {msg}"
        };
        bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut last = (Instant::now(), 0u64, 0u64);
            while !stop_flag.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let (done, sent) = (counters.written.load(Relaxed), counters.sent.load(Relaxed));
                let dt = last.0.elapsed().as_secs_f64().max(1e-3);
                bar.set_position(done);
                bar.set_message(format!(
                    "{:.0} domains/s · {:.0} queries/s · {} timeouts",
                    (done - last.1) as f64 / dt,
                    (sent - last.2) as f64 / dt,
                    counters.timeouts.load(Relaxed)
                ));
                if started.elapsed() > Duration::from_secs(1) {
                    last = (Instant::now(), done, sent);
                }
            }
            bar.finish_and_clear();
        });
        Some(Self { stop, thread })
    }

    pub(crate) fn finish(self) {
        self.stop.store(true, Relaxed);
        let _ = self.thread.join();
    }
}

/// Lines in a plain file, as the bar's total (an upper bound on rows);
/// `None` for stdin and gzip, where counting would mean reading it twice.
pub(crate) fn estimate_lines(path: &str) -> Option<u64> {
    use std::io::Read;
    if path == "-" {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    let mut first = true;
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            return Some(lines);
        }
        if first && buf.starts_with(&[0x1f, 0x8b]) {
            return None;
        }
        first = false;
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}
