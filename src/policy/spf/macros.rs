//! Macro strings (RFC 7208 §7): parsing to the §7.1 ABNF and expansion
//! (§7.3) against a sender.

use std::fmt;
use std::net::IpAddr;

use super::parse::SyntaxErrorKind;

/// A parsed `macro-string` (RFC 7208 §7.1): literal text and macros.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MacroString {
    parts: Vec<MacroPart>,
}

/// One piece of a [`MacroString`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MacroPart {
    /// `macro-literal` characters, or spaces in an `explain-string`.
    Literal(String),
    /// `%{...}`.
    Macro(Macro),
    /// `%%`: a literal `%`.
    Percent,
    /// `%_`: a space.
    Space,
    /// `%-`: a URL-encoded space, `%20`.
    UrlSpace,
}

/// `"%{" macro-letter transformers *delimiter "}"` (RFC 7208 §7.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Macro {
    /// The macro letter, lowercase (`s l o d i p h c r t v`).
    pub letter: char,
    /// An uppercase letter: the expansion is URL-escaped (§7.3).
    pub url_escape: bool,
    /// The DIGIT transformer: keep this many right-hand parts (never 0).
    pub keep: Option<u32>,
    /// The `r` transformer: reverse the parts.
    pub reverse: bool,
    /// Split characters; empty means the default `.`.
    pub delimiters: String,
}

/// Where a macro string stands, which decides the letters it may use:
/// `c`, `r` and `t` are allowed only in `exp` text (§7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MacroContext {
    /// A domain-spec or an unknown modifier's value.
    Term,
    /// The explanation string fetched for `exp=` (an `explain-string`,
    /// which also allows spaces).
    Explanation,
}

/// What a macro expands to: the parameters of `check_host()` (§4.1).
#[derive(Clone, Debug)]
pub struct MacroEnv<'a> {
    /// `<sender>` with a local part (`postmaster` when it had none, §4.3).
    pub sender: &'a str,
    /// `<domain>`: the domain whose record is being evaluated.
    pub domain: &'a str,
    /// `<ip>`.
    pub ip: IpAddr,
    /// The HELO/EHLO name.
    pub helo: &'a str,
    /// The validated domain name of `<ip>` (`p`, §5.5), `unknown` if none.
    pub validated: &'a str,
    /// The checking host's name (`r`, exp only).
    pub receiver: &'a str,
    /// Seconds since the epoch (`t`, exp only).
    pub timestamp: u64,
}

impl MacroString {
    /// Parses a macro string. A domain-spec is a macro string that also
    /// passes [`Self::check_domain_end`].
    pub(crate) fn parse(text: &str, context: MacroContext) -> Result<Self, SyntaxErrorKind> {
        let bytes = text.as_bytes();
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b != b'%' {
                // macro-literal = %x21-24 / %x26-7E; an explain-string also has SP.
                let allowed =
                    (0x21..=0x7e).contains(&b) || (b == b' ' && context == MacroContext::Explanation);
                if !allowed {
                    return Err(SyntaxErrorKind::InvalidCharacter);
                }
                literal.push(char::from(b));
                i += 1;
                continue;
            }
            if !literal.is_empty() {
                parts.push(MacroPart::Literal(std::mem::take(&mut literal)));
            }
            match bytes.get(i + 1) {
                Some(b'%') => parts.push(MacroPart::Percent),
                Some(b'_') => parts.push(MacroPart::Space),
                Some(b'-') => parts.push(MacroPart::UrlSpace),
                Some(b'{') => {
                    let end = text[i..].find('}').ok_or(SyntaxErrorKind::InvalidMacro)? + i;
                    parts.push(MacroPart::Macro(Macro::parse(&text[i + 2..end], context)?));
                    i = end + 1;
                    continue;
                }
                // §7.3: "A '%' character not followed by a '{', '%', '-', or
                // '_' character is a syntax error."
                _ => return Err(SyntaxErrorKind::InvalidMacro),
            }
            i += 2;
        }
        if !literal.is_empty() {
            parts.push(MacroPart::Literal(literal));
        }
        Ok(Self { parts })
    }

    /// The `domain-end` rule of a domain-spec (§7.1): it ends in a macro
    /// or in `"." toplabel [ "." ]`.
    pub(crate) fn check_domain_end(&self) -> Result<(), SyntaxErrorKind> {
        match self.parts.last() {
            Some(MacroPart::Macro(_) | MacroPart::Percent | MacroPart::Space | MacroPart::UrlSpace) => Ok(()),
            Some(MacroPart::Literal(text)) => {
                let text = text.strip_suffix('.').unwrap_or(text);
                match text.rsplit_once('.') {
                    Some((_, top)) if is_toplabel(top) => Ok(()),
                    _ => Err(SyntaxErrorKind::InvalidDomainEnd),
                }
            }
            None => Err(SyntaxErrorKind::MissingDomain),
        }
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[MacroPart] {
        &self.parts
    }

    /// Whether the string holds any `%{..}` macro: then it cannot be
    /// expanded without a sender (`%%`, `%_` and `%-` are constant).
    pub fn has_macros(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, MacroPart::Macro(_)))
    }

    /// Whether any macro uses the letter (lowercase).
    pub fn uses(&self, letter: char) -> bool {
        self.parts.iter().any(|p| matches!(p, MacroPart::Macro(m) if m.letter == letter))
    }

    /// The text of a string without `%{..}` macros.
    pub fn constant(&self) -> Option<String> {
        self.render(|_| None)
    }

    /// Expands the string (§7.3).
    pub fn expand(&self, env: &MacroEnv<'_>) -> String {
        self.render(|m| Some(m.expand(env))).expect("every macro expands")
    }

    /// The parts as text, each macro as `expand` gives it (`None` ends it).
    fn render(&self, mut expand: impl FnMut(&Macro) -> Option<String>) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                MacroPart::Literal(s) => out.push_str(s),
                MacroPart::Percent => out.push('%'),
                MacroPart::Space => out.push(' '),
                MacroPart::UrlSpace => out.push_str("%20"),
                MacroPart::Macro(m) => out.push_str(&expand(m)?),
            }
        }
        Some(out)
    }
}

/// `toplabel = ( *alphanum ALPHA *alphanum ) /
///             ( 1*alphanum "-" *( alphanum / "-" ) alphanum )` (§7.1):
/// letters, digits and inner hyphens, not all digits.
fn is_toplabel(label: &str) -> bool {
    let b = label.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else { return false };
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return false;
    }
    if !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') {
        return false;
    }
    // The first form needs a letter; the second a hyphen.
    b.iter().any(|c| c.is_ascii_alphabetic() || *c == b'-')
}

impl Macro {
    /// The inside of `%{...}`.
    fn parse(inner: &str, context: MacroContext) -> Result<Self, SyntaxErrorKind> {
        let mut chars = inner.chars();
        let letter = chars.next().ok_or(SyntaxErrorKind::InvalidMacro)?;
        let lower = letter.to_ascii_lowercase();
        match lower {
            's' | 'l' | 'o' | 'd' | 'i' | 'p' | 'h' | 'v' => {}
            'c' | 'r' | 't' if context == MacroContext::Explanation => {}
            _ => return Err(SyntaxErrorKind::InvalidMacro),
        }
        let rest = chars.as_str();
        let digits_end = rest.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(rest.len());
        let (digits, rest) = rest.split_at(digits_end);
        let keep = if digits.is_empty() {
            None
        } else {
            // Saturating: more parts than exist means all of them (§7.3).
            let n =
                digits.bytes().fold(0u32, |n, d| n.saturating_mul(10).saturating_add(u32::from(d - b'0')));
            if n == 0 {
                return Err(SyntaxErrorKind::InvalidMacro); // §7.3 "MUST be nonzero"
            }
            Some(n)
        };
        let (reverse, rest) = match rest.strip_prefix(['r', 'R']) {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        if !rest.chars().all(|c| ".-+,/_=".contains(c)) {
            return Err(SyntaxErrorKind::InvalidMacro);
        }
        Ok(Self {
            letter: lower,
            url_escape: letter.is_ascii_uppercase(),
            keep,
            reverse,
            delimiters: rest.to_string(),
        })
    }

    fn expand(&self, env: &MacroEnv<'_>) -> String {
        let (local, sender_domain) = env.sender.rsplit_once('@').unwrap_or(("postmaster", env.sender));
        let value: String = match self.letter {
            's' => env.sender.to_string(),
            'l' => local.to_string(),
            'o' => sender_domain.to_string(),
            'd' => env.domain.to_string(),
            'i' => dotted(env.ip),
            'p' => env.validated.to_string(),
            'v' => if env.ip.is_ipv4() { "in-addr" } else { "ip6" }.to_string(),
            'h' => env.helo.to_string(),
            'c' => env.ip.to_string(),
            'r' => env.receiver.to_string(),
            't' => env.timestamp.to_string(),
            _ => String::new(),
        };
        let delimiters = if self.delimiters.is_empty() { "." } else { &self.delimiters };
        let mut parts: Vec<&str> = value.split(|c| delimiters.contains(c)).collect();
        if self.reverse {
            parts.reverse();
        }
        if let Some(keep) = self.keep {
            let keep = usize::try_from(keep).unwrap_or(usize::MAX).min(parts.len());
            parts.drain(..parts.len() - keep);
        }
        let joined = parts.join(".");
        if self.url_escape { url_escape(&joined) } else { joined }
    }
}

/// `i`: dotted quad, or for IPv6 the dot-separated nibbles (§7.3).
fn dotted(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let mut out = String::with_capacity(63);
            for byte in v6.octets() {
                for nibble in [byte >> 4, byte & 0xf] {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                }
            }
            out
        }
    }
}

/// Percent-encodes everything outside RFC 3986's "unreserved" set (§7.3).
fn url_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl fmt::Display for MacroString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                MacroPart::Literal(s) => f.write_str(s)?,
                MacroPart::Percent => f.write_str("%%")?,
                MacroPart::Space => f.write_str("%_")?,
                MacroPart::UrlSpace => f.write_str("%-")?,
                MacroPart::Macro(m) => {
                    let letter = if m.url_escape { m.letter.to_ascii_uppercase() } else { m.letter };
                    write!(f, "%{{{letter}")?;
                    if let Some(keep) = m.keep {
                        write!(f, "{keep}")?;
                    }
                    if m.reverse {
                        f.write_str("r")?;
                    }
                    write!(f, "{}}}", m.delimiters)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(ip: &str) -> MacroEnv<'static> {
        MacroEnv {
            sender: "strong-bad@email.example.com",
            domain: "email.example.com",
            ip: ip.parse().unwrap(),
            helo: "mx.example.org",
            validated: "mx.example.org",
            receiver: "receiver.example.net",
            timestamp: 1_700_000_000,
        }
    }

    fn expand(text: &str, ip: &str) -> String {
        MacroString::parse(text, MacroContext::Explanation).unwrap().expand(&env(ip))
    }

    /// RFC 7208 §7.4, every example.
    #[test]
    fn rfc_expansion_examples() {
        let v4 = "192.0.2.3";
        for (macro_string, want) in [
            ("%{s}", "strong-bad@email.example.com"),
            ("%{o}", "email.example.com"),
            ("%{d}", "email.example.com"),
            ("%{d4}", "email.example.com"),
            ("%{d3}", "email.example.com"),
            ("%{d2}", "example.com"),
            ("%{d1}", "com"),
            ("%{dr}", "com.example.email"),
            ("%{d2r}", "example.email"),
            ("%{l}", "strong-bad"),
            ("%{l-}", "strong.bad"),
            ("%{lr}", "strong-bad"),
            ("%{lr-}", "bad.strong"),
            ("%{l1r-}", "strong"),
            ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
            ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
            ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
            ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
            ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
        ] {
            assert_eq!(expand(macro_string, v4), want, "{macro_string}");
        }
        assert_eq!(
            expand("%{ir}.%{v}._spf.%{d2}", "2001:db8::cb01"),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
        );
    }

    #[test]
    fn escapes_and_specials() {
        assert_eq!(expand("%{S}", "192.0.2.3"), "strong-bad%40email.example.com");
        assert_eq!(expand("a%%b%_c%-d", "192.0.2.3"), "a%b c%20d");
        assert_eq!(expand("%{c} %{r} %{t}", "2001:db8::1"), "2001:db8::1 receiver.example.net 1700000000");
        assert_eq!(expand("%{d999999999999}", "192.0.2.3"), "email.example.com");
    }

    #[test]
    fn syntax_errors() {
        for bad in ["%", "%x", "%{", "%{d", "%{x}", "%{d0}", "%{d2q}", "%{}", "a b", "\u{e9}", "\t"] {
            assert!(MacroString::parse(bad, MacroContext::Term).is_err(), "{bad:?}");
        }
        // c, r, t only in exp text (§7.2); spaces only in an explain-string.
        assert!(MacroString::parse("%{c}", MacroContext::Term).is_err());
        assert!(MacroString::parse("%{t} a", MacroContext::Explanation).is_ok());
    }

    #[test]
    fn domain_end() {
        let check = |s: &str| MacroString::parse(s, MacroContext::Term).unwrap().check_domain_end();
        for good in ["example.com", "example.com.", "_spf.%{d}", "%{d}", "a.b-c", "x.3com", "x.1-2"] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in
            ["museum", "museum.", "1.2.3.4", "example.com-", "example.-com", "example.com..", "%{d}.x_y"]
        {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["%{d}", "%{L2r-+}x.%%%_%-", "_spf.%{ir}.%{v}.example.com"] {
            let parsed = MacroString::parse(s, MacroContext::Term).unwrap();
            assert_eq!(parsed.to_string(), s);
        }
    }
}
