//! Turning a token from a list into the name we ask DNS about.

/// Longest name in presentation form without the trailing dot (RFC 1035
/// §2.3.4: 255 octets on the wire).
pub const MAX_NAME: usize = 253;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;

/// Normalise `token`: trim, drop one trailing dot, lowercase, convert IDNs
/// to A-labels (UTS #46, as browsers and registries do), and check that the
/// result can be asked as a DNS name.
///
/// Letters, digits, inner hyphens and underscores are accepted in labels: DNS
/// itself allows any octet (RFC 2181 §11) and underscores are common
/// (`_dmarc`), but a list entry with spaces, `!`, `/` or `@` is a mistake,
/// not a domain.
pub fn normalize(token: &str) -> Result<String, String> {
    let token = token.trim();
    let token = token.strip_suffix('.').unwrap_or(token);
    if token.is_empty() {
        return Err("empty name".into());
    }
    let name = if token.is_ascii() {
        token.to_ascii_lowercase()
    } else {
        if let Some(c) = token.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("invalid character {c:?}"));
        }
        idna::domain_to_ascii(token).map_err(|_| "not a valid internationalised name (IDNA)".to_string())?
    };
    validate(&name)?;
    Ok(name)
}

fn validate(name: &str) -> Result<(), String> {
    if name.len() > MAX_NAME {
        return Err(format!("name longer than {MAX_NAME} octets"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label".into());
        }
        if label.len() > MAX_LABEL {
            return Err(format!("label longer than {MAX_LABEL} octets"));
        }
        if let Some(c) = label.chars().find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
            return Err(format!("invalid character {c:?}"));
        }
        // RFC 952/1123: a hyphen only inside a label. No registry hands out
        // `-example.com`; in a list it is a parsing accident.
        if label.starts_with('-') || label.ends_with('-') {
            return Err("label starts or ends with a hyphen".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        for (input, want) in [
            ("Example.COM", "example.com"),
            ("example.com.", "example.com"),
            ("  mail.example.org  ", "mail.example.org"),
            ("bücher.de", "xn--bcher-kva.de"),
            ("BÜCHER.de.", "xn--bcher-kva.de"),
            ("xn--bcher-kva.de", "xn--bcher-kva.de"),
            ("_dmarc.example.com", "_dmarc.example.com"),
            ("com", "com"),
            ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
        ] {
            assert_eq!(normalize(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn rejected_forms_say_why() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        for (input, why) in [
            ("", "empty name"),
            (".", "empty name"),
            ("a..com", "empty label"),
            (".example.com", "empty label"),
            ("exa mple.com", "invalid character ' '"),
            ("hello!.com", "invalid character '!'"),
            ("user@example.com", "invalid character '@'"),
            ("example.com..", "empty label"),
            (long_label.as_str(), "label longer than 63 octets"),
            (long_name.as_str(), "name longer than 253 octets"),
            ("bü cher.de", "invalid character ' '"),
            ("-", "label starts or ends with a hyphen"),
            ("-example.com", "label starts or ends with a hyphen"),
            ("example-.com", "label starts or ends with a hyphen"),
        ] {
            assert_eq!(normalize(input), Err(why.to_string()), "{input:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_output_is_valid(s in "\\PC{0,80}") {
            if let Ok(name) = normalize(&s) {
                proptest::prop_assert!(name.len() <= MAX_NAME);
                proptest::prop_assert!(name.is_ascii());
                proptest::prop_assert_eq!(normalize(&name), Ok(name.clone()), "idempotent");
            }
        }
    }
}
