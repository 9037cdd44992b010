//! Reading domain lists: plain lists and `rank,domain` CSV (Tranco,
//! Umbrella), gzip or not, from a file or stdin, streamed line by line.
//!
//! Every line that is not blank, a `#` comment or the header becomes one
//! [`Item`]: a [`Target`] to scan, or an invalid entry with the reason. A
//! name seen before yields nothing (the first line's rank wins); the set of
//! names seen is kept as 64-bit hashes, 8 bytes a name ([`seen`]).

pub mod lines;
pub mod normalize;
pub mod seen;
pub mod shard;

use std::fs::File;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

pub use lines::LineSet;
pub use normalize::normalize;
pub use shard::Shard;

/// Longest line kept whole; the rest of a longer line is skipped, and the
/// line becomes an invalid entry (a 100 MB line must not take 100 MB).
pub const MAX_LINE: usize = 4096;

/// A domain to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Normalised name.
    pub domain: String,
    /// The token as read.
    pub input: String,
    /// Rank from a `rank,domain` list.
    pub rank: Option<u32>,
    /// Physical line number in the input, from 1 (what a dataset's journal
    /// records, so that `--resume` can skip finished lines).
    pub line: u64,
}

/// One line's worth of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Scan this.
    Target(Target),
    /// Not a domain: report it, send nothing.
    Invalid {
        /// The token as read (lossily decoded if not UTF-8).
        input: String,
        /// Rank, if the line had one.
        rank: Option<u32>,
        /// Why it was rejected.
        reason: String,
        /// Physical line number in the input, from 1.
        line: u64,
    },
}

impl Item {
    /// Physical line number in the input, from 1.
    pub fn line(&self) -> u64 {
        match self {
            Self::Target(t) => t.line,
            Self::Invalid { line, .. } => *line,
        }
    }
}

/// Why a list cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Opening failed.
    #[error("cannot open {path}")]
    Open {
        /// The path given.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// Reading failed part way.
    #[error("cannot read the input")]
    Read(#[from] io::Error),
}

/// Counters about the list itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Physical lines read.
    pub lines: u64,
    /// Lines that yielded an item.
    pub items: u64,
    /// Lines skipped because the name came before.
    pub duplicates: u64,
    /// Items skipped because a resumed dataset already holds their line.
    pub resumed: u64,
    /// Lines skipped because their name is another shard's (`--shard`).
    pub other_shards: u64,
}

/// A streaming reader of domain lists.
pub struct ListReader {
    reader: Box<dyn BufRead + Send>,
    seen: seen::SeenSet,
    hasher: BuildHasherDefault<DefaultHasher>,
    line: Vec<u8>,
    stats: InputStats,
    skip: LineSet,
    shard: Option<Shard>,
}

impl std::fmt::Debug for ListReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListReader").field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl ListReader {
    /// Open `path` (`-` for stdin). Gzip is recognised by its magic number,
    /// whatever the file is called.
    pub fn open(path: &str) -> Result<Self, InputError> {
        let raw: Box<dyn Read + Send> = if path == "-" {
            Box::new(io::stdin())
        } else {
            let file = File::open(Path::new(path))
                .map_err(|source| InputError::Open { path: path.into(), source })?;
            if file.metadata().is_ok_and(|m| m.is_dir()) {
                let source = io::Error::new(io::ErrorKind::InvalidInput, "is a directory");
                return Err(InputError::Open { path: path.into(), source });
            }
            Box::new(file)
        };
        let mut buffered = BufReader::with_capacity(256 * 1024, raw);
        let magic = buffered.fill_buf().map_err(|source| InputError::Open { path: path.into(), source })?;
        let reader: Box<dyn BufRead + Send> = if magic.starts_with(&[0x1f, 0x8b]) {
            Box::new(BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(buffered)))
        } else {
            Box::new(buffered)
        };
        Ok(Self::from_reader(reader))
    }

    /// Read from any buffered reader.
    pub fn from_reader(reader: Box<dyn BufRead + Send>) -> Self {
        Self {
            reader,
            seen: seen::SeenSet::default(),
            hasher: BuildHasherDefault::default(),
            line: Vec::with_capacity(256),
            stats: InputStats::default(),
            skip: LineSet::default(),
            shard: None,
        }
    }

    /// Skip the items on these lines (already in a resumed dataset). They
    /// still count as seen, so that a later duplicate stays a duplicate.
    pub fn skip_lines(&mut self, lines: LineSet) {
        self.skip = lines;
    }

    /// Yield only the lines of `shard` (`--shard K/N`): domains by their
    /// normalised name, invalid lines by their raw token.
    pub fn set_shard(&mut self, shard: Shard) {
        self.shard = Some(shard);
    }

    /// Counters so far.
    pub fn stats(&self) -> InputStats {
        self.stats
    }

    /// The next item, `None` at the end.
    pub fn next_item(&mut self) -> Result<Option<Item>, InputError> {
        loop {
            let Some(overlong) = self.read_line()? else { return Ok(None) };
            self.stats.lines += 1;
            let first = self.stats.lines == 1;
            let Some(item) = self.parse_line(first, overlong) else { continue };
            // Before the dedupe set: another shard's names take no memory here.
            if let Some(shard) = &self.shard {
                let name = match &item {
                    Item::Target(t) => t.domain.as_str(),
                    Item::Invalid { input, .. } => input.as_str(),
                };
                if !shard.owns(name) {
                    self.stats.other_shards += 1;
                    continue;
                }
            }
            let key = match &item {
                Item::Target(t) => self.hasher.hash_one(("d", t.domain.as_str())),
                Item::Invalid { input, .. } => self.hasher.hash_one(("i", input.to_lowercase())),
            };
            if !self.seen.insert(key) {
                self.stats.duplicates += 1;
                continue;
            }
            if self.skip.contains(self.stats.lines) {
                self.stats.resumed += 1;
                continue;
            }
            self.stats.items += 1;
            return Ok(Some(item));
        }
    }

    /// Read one line into `self.line` (without the newline), keeping at most
    /// [`MAX_LINE`] bytes. Returns whether it was longer, or `None` at EOF.
    fn read_line(&mut self) -> io::Result<Option<bool>> {
        self.line.clear();
        let mut overlong = false;
        let mut any = false;
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(any.then_some(overlong));
            }
            any = true;
            let (chunk, done) = match memchr(b'\n', buf) {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            let room = MAX_LINE.saturating_sub(self.line.len());
            if chunk.len() > room {
                overlong = true;
            }
            self.line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let consumed = done.unwrap_or(buf.len());
            self.reader.consume(consumed);
            if done.is_some() {
                return Ok(Some(overlong));
            }
        }
    }

    fn parse_line(&self, first: bool, overlong: bool) -> Option<Item> {
        let mut bytes = self.line.as_slice();
        if first {
            bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        }
        let (text, utf8) = match std::str::from_utf8(bytes) {
            Ok(s) => (std::borrow::Cow::Borrowed(s), true),
            Err(_) => (String::from_utf8_lossy(bytes), false),
        };
        let line = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        if first && is_header(line) {
            return None;
        }
        let (rank, token) = split_rank(line);
        let number = self.stats.lines;
        let invalid = |reason: String| Item::Invalid {
            input: token.to_string(),
            rank: rank.and_then(Result::ok),
            reason,
            line: number,
        };
        if overlong {
            return Some(invalid(format!("line longer than {MAX_LINE} bytes")));
        }
        if !utf8 {
            return Some(invalid("not valid UTF-8".into()));
        }
        if line.contains('\0') {
            return Some(invalid("contains a NUL byte".into()));
        }
        let rank = match rank {
            Some(Err(())) => return Some(invalid("rank is not a number from 0 to 4294967295".into())),
            Some(Ok(r)) => Some(r),
            None => None,
        };
        Some(match normalize(token) {
            Ok(domain) => Item::Target(Target { domain, input: token.to_string(), rank, line: number }),
            Err(reason) => Item::Invalid { input: token.to_string(), rank, reason, line: number },
        })
    }
}

/// `rank,domain` (the rank all digits) → the rank and the domain field;
/// anything else is a plain list line.
fn split_rank(line: &str) -> (Option<Result<u32, ()>>, &str) {
    if let Some((head, tail)) = line.split_once(',') {
        let head = head.trim();
        if !head.is_empty() && head.bytes().all(|b| b.is_ascii_digit()) {
            return (Some(head.parse::<u32>().map_err(|_| ())), tail.trim());
        }
    }
    (None, line)
}

/// A CSV header on the first line: `rank,domain`, `domain`, `domain,...`.
fn is_header(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let first = lower.split(',').next().unwrap_or("").trim();
    first == "rank" || first == "domain"
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> (Vec<Item>, InputStats) {
        let mut r = ListReader::from_reader(Box::new(io::Cursor::new(bytes.to_vec())));
        let mut items = Vec::new();
        while let Some(item) = r.next_item().unwrap() {
            items.push(item);
        }
        (items, r.stats())
    }

    fn target(domain: &str, input: &str, rank: Option<u32>, line: u64) -> Item {
        Item::Target(Target { domain: domain.into(), input: input.into(), rank, line })
    }

    #[test]
    fn shards_split_a_list_into_disjoint_pieces_that_add_up() {
        let mut text = String::new();
        for i in 0..300 {
            text.push_str(&format!("d{i}.example\n"));
            if i % 7 == 0 {
                // Listed twice, once in another spelling: still one shard's, once.
                text.push_str(&format!("D{i}.Example.\n"));
            }
            if i % 50 == 0 {
                text.push_str(&format!("not a domain {i}!\n"));
            }
        }
        let (whole, _) = read_all(text.as_bytes());
        let mut union: Vec<u64> = Vec::new();
        let mut skipped = 0;
        for index in 0..3 {
            let mut r = ListReader::from_reader(Box::new(io::Cursor::new(text.clone().into_bytes())));
            r.set_shard(Shard { index, count: 3 });
            while let Some(item) = r.next_item().unwrap() {
                let (line, name) = match &item {
                    Item::Target(t) => (t.line, t.domain.clone()),
                    Item::Invalid { line, input, .. } => (*line, input.clone()),
                };
                assert!(Shard { index, count: 3 }.owns(&name), "{name} is not shard {index}'s");
                union.push(line);
            }
            skipped += r.stats().other_shards;
        }
        union.sort_unstable();
        let mut want: Vec<u64> = whole
            .iter()
            .map(|i| match i {
                Item::Target(t) => t.line,
                Item::Invalid { line, .. } => *line,
            })
            .collect();
        want.sort_unstable();
        assert_eq!(union, want, "every line of the whole list once, in exactly one shard");
        // Each line is another shard's in two of the three readers.
        let lines = text.lines().count() as u64;
        assert_eq!(skipped, 2 * lines);
    }

    #[test]
    fn tranco_csv_with_bom_header_crlf_comments_and_duplicates() {
        let text = "\u{feff}rank,domain\r\n1,Google.com\r\n\r\n# a comment\n2, bücher.de.\n3,google.com\n4,exa mple.com\n5,x\n";
        let (items, stats) = read_all(text.as_bytes());
        assert_eq!(
            items,
            vec![
                target("google.com", "Google.com", Some(1), 2),
                target("xn--bcher-kva.de", "bücher.de.", Some(2), 5),
                Item::Invalid {
                    input: "exa mple.com".into(),
                    rank: Some(4),
                    reason: "invalid character ' '".into(),
                    line: 7,
                },
                target("x", "x", Some(5), 8),
            ]
        );
        assert_eq!(stats, InputStats { lines: 8, items: 4, duplicates: 1, resumed: 0, other_shards: 0 });
    }

    #[test]
    fn plain_list_without_final_newline() {
        let (items, _) = read_all(b"example.org\n  example.net  ");
        assert_eq!(
            items,
            vec![
                target("example.org", "example.org", None, 1),
                target("example.net", "example.net", None, 2)
            ]
        );
    }

    #[test]
    fn resumed_lines_are_skipped_but_still_count_as_seen() {
        let mut r = ListReader::from_reader(Box::new(io::Cursor::new(
            b"a.example
b.example
a.example
c.example
"
            .to_vec(),
        )));
        r.skip_lines(LineSet::from_ranges(vec![(1, 2)]));
        let mut lines = Vec::new();
        while let Some(item) = r.next_item().unwrap() {
            lines.push(item.line());
        }
        // Line 1 is done; line 3 repeats it, so it stays a duplicate.
        assert_eq!(lines, vec![2, 4]);
        assert_eq!(r.stats(), InputStats { lines: 4, items: 2, duplicates: 1, resumed: 1, other_shards: 0 });
    }

    #[test]
    fn hostile_lines_become_invalid_items() {
        let mut text = b"ok.example\n\xff\xfe.com\nnul\0.com\n99999999999,big.example\n".to_vec();
        text.extend(std::iter::repeat_n(b'a', 1_000_000));
        text.extend_from_slice(b"\nlast.example\n");
        let (items, _) = read_all(&text);
        let reasons: Vec<_> = items
            .iter()
            .map(|i| match i {
                Item::Target(t) => t.domain.clone(),
                Item::Invalid { reason, input, .. } => {
                    assert!(input.len() <= MAX_LINE);
                    reason.clone()
                }
            })
            .collect();
        assert_eq!(
            reasons,
            vec![
                "ok.example",
                "not valid UTF-8",
                "contains a NUL byte",
                "rank is not a number from 0 to 4294967295",
                "line longer than 4096 bytes",
                "last.example"
            ]
        );
    }

    #[test]
    fn gzip_is_detected_by_magic() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("mxscan-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("list.bin");
        let mut gz = GzEncoder::new(File::create(&path).unwrap(), Compression::fast());
        gz.write_all(b"1,a.example\n2,b.example\n").unwrap();
        gz.finish().unwrap();
        let mut r = ListReader::open(path.to_str().unwrap()).unwrap();
        let mut n = 0;
        while let Some(Item::Target(_)) = r.next_item().unwrap() {
            n += 1;
        }
        assert_eq!(n, 2);
        assert!(matches!(ListReader::open(dir.to_str().unwrap()), Err(InputError::Open { .. })));
        assert!(ListReader::open("/nonexistent/list.txt").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
