//! The HTTP/1.1 response reader of the policy fetch, sans-IO: bytes go in
//! with [`ResponseParser::feed`] (and [`ResponseParser::finish`] at the end
//! of the stream), a [`Response`] comes out.
//!
//! It reads just what an MTA-STS fetch needs (RFC 8461 §3.3): the status,
//! `Location` (to name a redirect it will not follow), `Content-Type`
//! (RFC 8461 §3.2: senders SHOULD check for text/plain), and a body framed by
//! `Content-Length`, `Transfer-Encoding: chunked` or the end of the
//! connection (RFC 9112 §6.3), never more than `max_body` bytes of it: the
//! reader stops as soon as the cap is known to be exceeded. A response other
//! than 200 is complete once its head is read: its body is never read.

/// The longest response head (status line and header fields) accepted, and
/// the longest trailer section of a chunked body.
const MAX_HEAD: usize = 16 * 1024;

/// The longest chunk-size line (size plus chunk extensions) accepted.
const MAX_CHUNK_LINE: usize = 1024;

/// A response read to its end (or, for a status other than 200, to the end
/// of its head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Response {
    pub(super) status: u16,
    /// The `Location` field, for naming a redirect.
    pub(super) location: Option<String>,
    /// The `Content-Type` field as sent.
    pub(super) content_type: Option<String>,
    /// Empty unless the status is 200.
    pub(super) body: Vec<u8>,
}

/// Why a response cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HttpError {
    /// The body is (or announces itself as) longer than the cap.
    TooLarge,
    /// Not a well-formed HTTP/1.x response; the text says where.
    Malformed(String),
}

fn malformed(reason: impl Into<String>) -> HttpError {
    HttpError::Malformed(reason.into())
}

/// The response head: what the body framing and the caller need.
#[derive(Debug)]
struct Head {
    status: u16,
    location: Option<String>,
    content_type: Option<String>,
    framing: Framing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

#[derive(Debug)]
enum State {
    Head,
    /// `remaining` bytes of a Content-Length body still to come.
    Length {
        remaining: usize,
    },
    ChunkSize,
    ChunkData {
        remaining: usize,
    },
    /// The CRLF after a chunk's data.
    ChunkDataEnd,
    /// Trailer fields after the last chunk, up to an empty line.
    Trailers,
    UntilClose,
    Done,
}

/// Reads one HTTP/1.x response from the bytes it is fed.
#[derive(Debug)]
pub(super) struct ResponseParser {
    max_body: usize,
    state: State,
    /// Fed bytes not consumed yet (a partial line, or the head so far).
    pending: Vec<u8>,
    head: Option<Head>,
    body: Vec<u8>,
    /// Bytes of trailer fields seen, against [`MAX_HEAD`].
    trailer_bytes: usize,
    /// Bytes of interim (1xx) responses skipped, against [`MAX_HEAD`].
    interim_bytes: usize,
    /// Where the head's last incomplete line starts: complete lines are not
    /// scanned again when more bytes come.
    head_scanned: usize,
}

impl ResponseParser {
    pub(super) fn new(max_body: usize) -> Self {
        Self {
            max_body,
            state: State::Head,
            pending: Vec::new(),
            head: None,
            body: Vec::new(),
            trailer_bytes: 0,
            interim_bytes: 0,
            head_scanned: 0,
        }
    }

    /// Feeds the next bytes of the stream. `Ok(Some(_))` once the response is
    /// complete (later bytes are ignored), `Ok(None)` while more are needed.
    pub(super) fn feed(&mut self, data: &[u8]) -> Result<Option<Response>, HttpError> {
        if matches!(self.state, State::Done) {
            return Ok(None);
        }
        self.pending.extend_from_slice(data);
        let mut at = 0;
        let done = loop {
            match self.step(&mut at)? {
                Step::Continue => {}
                Step::NeedMore => break false,
                Step::Done => break true,
            }
        };
        self.pending.drain(..at);
        if done {
            self.state = State::Done;
            return Ok(self.take_response());
        }
        Ok(None)
    }

    /// The stream ended (the server closed the connection). Only a body
    /// framed by the end of the connection is complete here.
    pub(super) fn finish(&mut self) -> Result<Response, HttpError> {
        match self.state {
            State::UntilClose => {
                self.state = State::Done;
                self.take_response().ok_or_else(|| malformed("no response head"))
            }
            State::Head if self.pending.is_empty() => Err(malformed("connection closed without a response")),
            State::Head => Err(malformed("connection closed inside the response head")),
            State::Length { remaining } => {
                Err(malformed(format!("connection closed {remaining} bytes before the end of the body")))
            }
            State::ChunkSize | State::ChunkData { .. } | State::ChunkDataEnd | State::Trailers => {
                Err(malformed("connection closed inside the chunked body"))
            }
            State::Done => Err(malformed("response already read")),
        }
    }

    /// Where the head in `pending` ends (after its empty line), if it has.
    fn head_end(&mut self) -> Option<usize> {
        let mut at = self.head_scanned;
        while let Some((line, next)) = next_line(&self.pending, at) {
            if line.is_empty() && at > 0 {
                return Some(next);
            }
            at = next;
        }
        self.head_scanned = at;
        None
    }

    fn take_response(&mut self) -> Option<Response> {
        let head = self.head.take()?;
        Some(Response {
            status: head.status,
            location: head.location,
            content_type: head.content_type,
            body: std::mem::take(&mut self.body),
        })
    }

    /// One step of the state machine over `pending[*at..]`.
    fn step(&mut self, at: &mut usize) -> Result<Step, HttpError> {
        match self.state {
            State::Head => {
                let Some(end) = self.head_end() else {
                    if self.pending.len() > MAX_HEAD {
                        return Err(malformed(format!("response head larger than {MAX_HEAD} bytes")));
                    }
                    return Ok(Step::NeedMore);
                };
                if end > MAX_HEAD {
                    return Err(malformed(format!("response head larger than {MAX_HEAD} bytes")));
                }
                let head = parse_head(&self.pending[..end])?;
                *at = end;
                // RFC 9110 §15.2: a client must parse (and here skip) interim
                // 1xx responses before the final one; 101 would switch
                // protocols, which the request never asks for.
                if (100..200).contains(&head.status) && head.status != 101 {
                    self.interim_bytes += end;
                    if self.interim_bytes > MAX_HEAD {
                        return Err(malformed(format!("interim responses larger than {MAX_HEAD} bytes")));
                    }
                    self.pending.drain(..end);
                    *at = 0;
                    self.head_scanned = 0;
                    return Ok(Step::Continue);
                }
                // RFC 8461 §3.3: only a 200 carries a policy; any other
                // status is the answer, whatever its body says.
                if head.status != 200 {
                    self.head = Some(head);
                    return Ok(Step::Done);
                }
                self.state = match head.framing {
                    Framing::Length(len) if len > self.max_body => return Err(HttpError::TooLarge),
                    Framing::Length(0) => {
                        self.head = Some(head);
                        return Ok(Step::Done);
                    }
                    Framing::Length(len) => State::Length { remaining: len },
                    Framing::Chunked => State::ChunkSize,
                    Framing::UntilClose => State::UntilClose,
                };
                self.head = Some(head);
                Ok(Step::Continue)
            }
            State::Length { remaining } => {
                let take = remaining.min(self.pending.len() - *at);
                self.body.extend_from_slice(&self.pending[*at..*at + take]);
                *at += take;
                if take == remaining {
                    return Ok(Step::Done);
                }
                self.state = State::Length { remaining: remaining - take };
                Ok(Step::NeedMore)
            }
            State::UntilClose => {
                let rest = &self.pending[*at..];
                if self.body.len() + rest.len() > self.max_body {
                    return Err(HttpError::TooLarge);
                }
                self.body.extend_from_slice(rest);
                *at = self.pending.len();
                Ok(Step::NeedMore)
            }
            State::ChunkSize => {
                let Some((line, next)) = next_line(&self.pending, *at) else {
                    if self.pending.len() - *at > MAX_CHUNK_LINE {
                        return Err(malformed("chunk size line too long"));
                    }
                    return Ok(Step::NeedMore);
                };
                let size = parse_chunk_size(line)?;
                *at = next;
                if size == 0 {
                    self.state = State::Trailers;
                    return Ok(Step::Continue);
                }
                // The cap is known to be exceeded as soon as the size is read.
                if size > self.max_body - self.body.len() {
                    return Err(HttpError::TooLarge);
                }
                self.state = State::ChunkData { remaining: size };
                Ok(Step::Continue)
            }
            State::ChunkData { remaining } => {
                let take = remaining.min(self.pending.len() - *at);
                self.body.extend_from_slice(&self.pending[*at..*at + take]);
                *at += take;
                if take == remaining {
                    self.state = State::ChunkDataEnd;
                    return Ok(Step::Continue);
                }
                self.state = State::ChunkData { remaining: remaining - take };
                Ok(Step::NeedMore)
            }
            State::ChunkDataEnd => {
                let rest = &self.pending[*at..];
                match rest {
                    [b'\r', b'\n', ..] => *at += 2,
                    [b'\n', ..] => *at += 1,
                    [] | [b'\r'] => return Ok(Step::NeedMore),
                    _ => return Err(malformed("chunk data not followed by CRLF")),
                }
                self.state = State::ChunkSize;
                Ok(Step::Continue)
            }
            State::Trailers => {
                let Some((line, next)) = next_line(&self.pending, *at) else {
                    if self.trailer_bytes + (self.pending.len() - *at) > MAX_HEAD {
                        return Err(malformed(format!("trailer section larger than {MAX_HEAD} bytes")));
                    }
                    return Ok(Step::NeedMore);
                };
                self.trailer_bytes += next - *at;
                if self.trailer_bytes > MAX_HEAD {
                    return Err(malformed(format!("trailer section larger than {MAX_HEAD} bytes")));
                }
                *at = next;
                if line.is_empty() { Ok(Step::Done) } else { Ok(Step::Continue) }
            }
            State::Done => Ok(Step::Done),
        }
    }
}

enum Step {
    Continue,
    NeedMore,
    Done,
}

/// The line starting at `from` without its terminator (CRLF, or a bare LF:
/// RFC 9112 §2.2 lets a recipient accept it), and where the next one starts.
fn next_line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let newline = from + buf[from..].iter().position(|&b| b == b'\n')?;
    let line = &buf[from..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, newline + 1))
}

/// Status line and header fields (RFC 9112 §4, §5), with the body framing
/// of a response (RFC 9112 §6.3).
fn parse_head(head: &[u8]) -> Result<Head, HttpError> {
    let mut lines =
        std::iter::successors(next_line(head, 0), |&(_, next)| next_line(head, next)).map(|(l, _)| l);
    let status = parse_status_line(lines.next().unwrap_or_default())?;
    let mut location = None;
    let mut content_type = None;
    let mut content_length: Option<usize> = None;
    let mut transfer_codings: Vec<String> = Vec::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            return Err(malformed("obsolete line folding in a header field"));
        }
        let line = std::str::from_utf8(line).map_err(|_| malformed("header field is not UTF-8"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed(format!("header field without a colon: {line:?}")))?;
        // RFC 9112 §5.1: no whitespace between the field name and the colon.
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(malformed(format!("invalid header field name {name:?}")));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            // RFC 9110 §8.6: a list of identical values counts as one value.
            for item in value.split(',').map(str::trim) {
                if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(malformed(format!("invalid Content-Length {value:?}")));
                }
                let len: usize =
                    item.parse().map_err(|_| malformed(format!("Content-Length {item} too large")))?;
                if content_length.is_some_and(|seen| seen != len) {
                    return Err(malformed("conflicting Content-Length values"));
                }
                content_length = Some(len);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_codings
                .extend(value.split(',').map(|c| c.trim().to_ascii_lowercase()).filter(|c| !c.is_empty()));
        } else if name.eq_ignore_ascii_case("location") {
            location.get_or_insert_with(|| value.to_owned());
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type.get_or_insert_with(|| value.to_owned());
        } else if name.eq_ignore_ascii_case("content-encoding")
            && !value.is_empty()
            && !value.eq_ignore_ascii_case("identity")
            && status == 200
        {
            // The request asks for no content coding; a compressed policy
            // cannot be read as one.
            return Err(malformed(format!("unsupported Content-Encoding {value}")));
        }
    }
    // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; chunked must
    // be the final coding. Only chunked is supported (none other was asked for).
    let framing = match transfer_codings.as_slice() {
        [] => content_length.map_or(Framing::UntilClose, Framing::Length),
        [only] if only == "chunked" => Framing::Chunked,
        _ => return Err(malformed(format!("unsupported Transfer-Encoding {}", transfer_codings.join(", ")))),
    };
    Ok(Head { status, location, content_type, framing })
}

/// `HTTP/1.x SP 3DIGIT SP reason` (RFC 9112 §4); the reason is ignored.
fn parse_status_line(line: &[u8]) -> Result<u16, HttpError> {
    let shown = || String::from_utf8_lossy(&line[..line.len().min(64)]).into_owned();
    let rest = line
        .strip_prefix(b"HTTP/1.")
        .and_then(|r| r.split_first())
        .filter(|(minor, _)| minor.is_ascii_digit())
        .map(|(_, rest)| rest)
        .ok_or_else(|| malformed(format!("not an HTTP/1.x status line: {:?}", shown())))?;
    match rest {
        [b' ', a, b, c, tail @ ..]
            if [a, b, c].iter().all(|d| d.is_ascii_digit()) && (tail.is_empty() || tail[0] == b' ') =>
        {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(malformed(format!("invalid status line: {:?}", shown()))),
    }
}

/// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1): hex digits, then optional
/// whitespace and `;` extensions, which are ignored.
fn parse_chunk_size(line: &[u8]) -> Result<usize, HttpError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = &line[digits..];
    if digits == 0 || !(rest.is_empty() || rest[0] == b';' || rest[0] == b' ' || rest[0] == b'\t') {
        return Err(malformed(format!("invalid chunk size line {:?}", String::from_utf8_lossy(line))));
    }
    let hex = std::str::from_utf8(&line[..digits]).map_err(|_| malformed("invalid chunk size"))?;
    usize::from_str_radix(hex, 16).map_err(|_| malformed("chunk size too large"))
}

/// tchar (RFC 9110 §5.6.2).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: usize = 64;

    /// Feeds `input` whole, then split at every byte, then a byte at a time,
    /// and checks that every way gives the same answer.
    fn read(input: &[u8], cap: usize) -> Result<Response, HttpError> {
        let whole = read_in(&[input], cap);
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(read_in(&[a, b], cap), whole, "split at {split}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(read_in(&bytes, cap), whole, "a byte at a time");
        whole
    }

    fn read_in(pieces: &[&[u8]], cap: usize) -> Result<Response, HttpError> {
        let mut parser = ResponseParser::new(cap);
        for piece in pieces {
            if let Some(response) = parser.feed(piece)? {
                return Ok(response);
            }
        }
        parser.finish()
    }

    fn body(input: &str) -> String {
        let response = read(input.as_bytes(), CAP).expect("a response");
        assert_eq!(response.status, 200);
        String::from_utf8(response.body).expect("UTF-8")
    }

    fn error(input: &str) -> HttpError {
        read(input.as_bytes(), CAP).expect_err("an error")
    }

    #[test]
    fn content_length_body() {
        let input = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
        let response = read(input.as_bytes(), CAP).unwrap();
        assert_eq!(response.body, b"hello");
        assert_eq!(response.content_type.as_deref(), Some("text/plain"));
        assert_eq!(response.location, None);
    }

    #[test]
    fn bytes_after_a_content_length_body_are_ignored() {
        assert_eq!(body("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiTHERE"), "hi");
        assert_eq!(body("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), "");
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                     5;name=value\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\nX-Trailer: 1\r\n\r\n";
        assert_eq!(body(input), "hello world!");
    }

    #[test]
    fn chunked_overrides_content_length() {
        let input = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\ntransfer-encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        assert_eq!(body(input), "ok");
    }

    #[test]
    fn body_until_close_and_bare_lf() {
        assert_eq!(body("HTTP/1.0 200 OK\nServer: x\n\nversion: STSv1\n"), "version: STSv1\n");
        assert_eq!(body("HTTP/1.1 200\r\n\r\n"), "");
    }

    #[test]
    fn status_other_than_200_ends_at_the_head() {
        let response = read(b"HTTP/1.1 404 Not Found\r\nContent-Length: 1000\r\n\r\n", CAP).unwrap();
        assert_eq!((response.status, response.body.len()), (404, 0));
        let response = read(
            b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://elsewhere.example/x\r\n\r\n<html>",
            CAP,
        )
        .unwrap();
        assert_eq!(response.status, 301);
        assert_eq!(response.location.as_deref(), Some("https://elsewhere.example/x"));
    }

    #[test]
    fn interim_responses_are_skipped() {
        let input = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n\
                     HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(body(input), "ok");
        let response = read(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", CAP).unwrap();
        assert_eq!(response.status, 101);
    }

    #[test]
    fn the_cap_is_exact_and_checked_before_reading_on() {
        let at_cap = format!("HTTP/1.1 200 OK\r\nContent-Length: {CAP}\r\n\r\n{}", "a".repeat(CAP));
        assert_eq!(body(&at_cap).len(), CAP);
        // Announced too long: refused at the head, no body byte needed.
        let mut parser = ResponseParser::new(CAP);
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", CAP + 1);
        assert_eq!(parser.feed(head.as_bytes()), Err(HttpError::TooLarge));
        // A chunk that would cross the cap: refused at its size line.
        let mut parser = ResponseParser::new(CAP);
        let head = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{}\r\n21\r\n",
            "a".repeat(32)
        );
        assert_eq!(parser.feed(head.as_bytes()), Err(HttpError::TooLarge));
        // Until close: refused at the first byte past the cap.
        let mut parser = ResponseParser::new(CAP);
        let head = format!("HTTP/1.1 200 OK\r\n\r\n{}", "a".repeat(CAP));
        assert_eq!(parser.feed(head.as_bytes()), Ok(None));
        assert_eq!(parser.feed(b"b"), Err(HttpError::TooLarge));
        assert_eq!(
            error(&format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{}\r\n1\r\n",
                "a".repeat(64)
            )),
            HttpError::TooLarge
        );
    }

    #[test]
    fn malformed_responses() {
        let cases = [
            ("", "connection closed without a response"),
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", "connection closed inside the response head"),
            ("SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
            ("HTTP/2 200\r\n\r\n", "not an HTTP/1.x status line"),
            ("HTTP/1.1 20 OK\r\n\r\n", "invalid status line"),
            ("HTTP/1.1 2000 OK\r\n\r\n", "invalid status line"),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
                "connection closed 2 bytes before the end of the body",
            ),
            ("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello", "conflicting Content-Length values"),
            ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
            ("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello", "invalid header field name"),
            ("HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "header field without a colon"),
            ("HTTP/1.1 200 OK\r\nX: a\r\n  folded\r\n\r\n", "obsolete line folding"),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                "unsupported Transfer-Encoding gzip, chunked",
            ),
            ("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n", "unsupported Content-Encoding gzip"),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size line"),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX",
                "chunk data not followed by CRLF",
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n",
                "connection closed inside the chunked body",
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
                "chunk size too large",
            ),
        ];
        for (input, want) in cases {
            match error(input) {
                HttpError::Malformed(reason) => {
                    assert!(reason.starts_with(want), "{input:?}: {reason:?}, want {want:?}")
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn endless_heads_and_chunk_lines_are_bounded() {
        let mut parser = ResponseParser::new(CAP);
        assert_eq!(parser.feed(b"HTTP/1.1 200 OK\r\n"), Ok(None));
        let field = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let mut result = Ok(None);
        for _ in 0..=MAX_HEAD / field.len() + 1 {
            result = parser.feed(field);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(HttpError::Malformed(r)) if r.starts_with("response head larger")));

        let mut parser = ResponseParser::new(CAP);
        assert_eq!(parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;"), Ok(None));
        let result = parser.feed(&[b'x'; MAX_CHUNK_LINE + 1]);
        assert!(matches!(result, Err(HttpError::Malformed(r)) if r == "chunk size line too long"));
    }
}
