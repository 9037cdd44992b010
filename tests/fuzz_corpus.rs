//! Replays the fuzzing corpora (`fuzz/corpus/*`) through the same checks the
//! fuzz targets run, so every seed and every crash ever found stays a test.

#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::path::Path;

use mxscan::dns::wire::rtype;

fn files(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn wire_corpus() {
    let corpus = files("wire");
    assert!(corpus.len() >= 50, "seed corpus of real packets");
    let mut named = 0;
    for (name, data) in &corpus {
        // Seeds are named `<qname>-<TYPE>.bin`: check them against their own question.
        if let Some((qname, ty)) = name.strip_suffix(".bin").and_then(|n| n.rsplit_once('-')) {
            let qtype = match ty {
                "MX" => rtype::MX,
                "A" => rtype::A,
                "AAAA" => rtype::AAAA,
                _ => 0,
            };
            if qtype != 0 {
                let parsed = mxscan::dns::wire::parse_answer(data, qname, qtype, false);
                assert!(parsed.is_ok(), "{name}: a real answer must parse: {parsed:?}");
                checks::wire(data, qname, qtype);
                named += 1;
            }
        }
        checks::wire_packet(data);
        if name.starts_with("found-") {
            continue; // found by fuzzing: already mutated, replayed as they are
        }
        // Every truncation and a flipped byte at every offset, asked the
        // packet's own question so that the walk gets past it, through the
        // differential check: no panic, and nothing accepted that
        // hickory-proto rejects.
        for cut in 0..data.len() {
            checks::wire_packet(&data[..cut]);
        }
        let mut flipped = data.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            checks::wire_packet(&flipped);
            flipped[i] ^= 0xff;
        }
    }
    assert!(named >= 50);
}

/// Every file of `target`'s corpus (at least `min` of them) through `check`.
fn replay(target: &str, min: usize, check: fn(&[u8])) {
    let corpus = files(target);
    assert!(corpus.len() >= min, "{target}: {} files", corpus.len());
    for (_, data) in &corpus {
        check(data);
    }
}

#[test]
fn normalize_corpus() {
    replay("normalize", 10, checks::normalize);
}

#[test]
fn row_corpus() {
    replay("row", 5, checks::row);
}

#[test]
fn spf_corpus() {
    replay("spf", 50, checks::spf);
    // Every cut of every seed: a record ending mid-term, mid-macro,
    // mid-address.
    for (name, data) in files("spf") {
        if name.starts_with("seed-") {
            for cut in 0..data.len() {
                checks::spf(&data[..cut]);
            }
        }
    }
}

/// A policy-record corpus: every file, then every truncation and every
/// byte of every seed replaced by a few telling values (NUL splits
/// records; `;`, `=`, `:`, `,`, LF are the delimiters; 0xff is not
/// UTF-8), through the target's check.
fn replay_mutated(target: &str, min: usize, check: fn(&[u8])) {
    let corpus = files(target);
    assert!(corpus.len() >= min, "{target}: {} files", corpus.len());
    for (name, data) in &corpus {
        check(data);
        if name.starts_with("found-") {
            continue;
        }
        for cut in 0..data.len() {
            check(&data[..cut]);
        }
        let mut mutated = data.clone();
        for i in 0..mutated.len() {
            let original = mutated[i];
            for byte in [0, b';', b'=', b':', b',', b'\n', b' ', 0xff] {
                mutated[i] = byte;
                check(&mutated);
            }
            mutated[i] = original;
        }
    }
}

#[test]
fn dmarc_corpus() {
    replay_mutated("dmarc", 5, checks::dmarc);
}

#[test]
fn mta_sts_corpus() {
    replay_mutated("mta_sts", 4, checks::mta_sts);
}

#[test]
fn tlsrpt_corpus() {
    replay_mutated("tlsrpt", 3, checks::tlsrpt);
}

#[test]
fn dkim_corpus() {
    replay_mutated("dkim", 4, checks::dkim);
}

#[test]
fn dane_corpus() {
    replay_mutated("dane", 3, checks::dane);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 4000, ..Default::default() })]
    /// Without cargo-fuzz: real answers from the seed corpus, a few octets
    /// overwritten (counts, flags, types, classes, lengths, pointers all
    /// live in the first few hundred octets) and possibly cut, through the
    /// same bidirectional check as the fuzz target.
    #[test]
    fn wire_mutations_differential(
        pick in proptest::prelude::any::<proptest::sample::Index>(),
        edits in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()), 1..5),
        cut in proptest::option::of(proptest::prelude::any::<proptest::sample::Index>()),
        tc in proptest::prelude::any::<bool>(),
    ) {
        static SEEDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        let seeds = SEEDS.get_or_init(|| {
            files("wire").into_iter().filter(|(n, _)| !n.starts_with("found-")).map(|(_, d)| d).collect()
        });
        let mut data = pick.get(seeds).clone();
        for (at, byte) in edits {
            let i = at.index(data.len());
            data[i] = byte;
        }
        if tc && data.len() > 2 {
            data[2] |= 0x02;
        }
        if let Some(cut) = cut {
            let n = cut.index(data.len() + 1);
            data.truncate(n);
        }
        checks::wire_packet(&data);
    }

    /// Without cargo-fuzz: seeds of every policy corpus with random octets
    /// overwritten or inserted and possibly cut, through every policy
    /// check (each parser sees the others' inputs too).
    #[test]
    fn policy_mutations(
        pick in proptest::prelude::any::<proptest::sample::Index>(),
        edits in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>(), proptest::prelude::any::<bool>()), 1..8),
        cut in proptest::option::of(proptest::prelude::any::<proptest::sample::Index>()),
    ) {
        static SEEDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        let seeds = SEEDS.get_or_init(|| {
            ["dmarc", "mta_sts", "tlsrpt", "dkim", "dane"].iter().flat_map(|t| files(t)).map(|(_, d)| d).collect()
        });
        let mut data = pick.get(seeds).clone();
        for (at, byte, insert) in edits {
            let i = at.index(data.len() + 1);
            if insert || i == data.len() {
                data.insert(i, byte);
            } else {
                data[i] = byte;
            }
        }
        if let Some(cut) = cut {
            let n = cut.index(data.len() + 1);
            data.truncate(n);
        }
        for check in [checks::dmarc, checks::mta_sts, checks::tlsrpt, checks::dkim, checks::dane] {
            check(&data);
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]
    /// Without cargo-fuzz: records built from SPF's own vocabulary (term
    /// names, qualifiers, macros, CIDR slashes, addresses), so that most
    /// inputs get deep into the parser and the machines.
    #[test]
    fn spf_vocabulary(pieces in proptest::collection::vec(proptest::sample::select(vec![
        " ", "  ", "v=spf1", "+", "-", "~", "?", "all", "include:", "a", "mx", "ptr", "ip4:", "ip6:", "exists:",
        "redirect=", "exp=", "x-mod=", ":", "/", "//", "0", "24", "32", "33", "128", "129", "192.0.2.1", "::1",
        "2001:db8::", "example.com", "_spf.", ".", "%{d}", "%{ir}", "%{l1r-}", "%{p}", "%{c}", "%{D2}", "%%",
        "%_", "%-", "%", "{", "}", "=", "\t", "\u{e9}", "\x00",
    ]), 0..24)) {
        let record = format!("v=spf1 {}", pieces.concat());
        checks::spf(record.as_bytes());
    }
}
