//! Who runs an exchange: provider fingerprints from `data/providers.toml`
//! (embedded at build time, extendable with `--providers FILE`), matched
//! on label boundaries with a reversed-label trie built once.
//!
//! A host matches a suffix `S` when it equals `S` or ends with `.S`; a `*`
//! label in a suffix stands for exactly one label. The longest match wins,
//! so `mail.protection.outlook.com` beats a shorter `outlook.com` of
//! another provider. Substrings never match: `mypphosted.com` is not
//! `pphosted.com`.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Deserialize;

/// The embedded table.
pub const EMBEDDED: &str = include_str!("../../data/providers.toml");

/// What a provider does with the mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Hosts the mailboxes.
    Mailbox,
    /// Filters in front of a mailbox.
    Gateway,
    /// Web host, registrar or ISP mail.
    Hosting,
    /// Forwarding or inbound routing.
    Forwarding,
}

impl Category {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mailbox => "mailbox",
            Self::Gateway => "gateway",
            Self::Hosting => "hosting",
            Self::Forwarding => "forwarding",
        }
    }
}

/// One provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Provider {
    /// Stable id (the `provider` columns).
    pub id: Arc<str>,
    /// Display name.
    pub name: String,
    /// Category.
    pub category: Category,
    /// Host name suffixes.
    pub suffixes: Vec<String>,
}

/// Why a provider file was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvidersError {
    /// Not valid TOML, or not the expected shape.
    #[error("provider table is not valid")]
    Parse(#[from] toml::de::Error),
    /// A rule of the format is broken.
    #[error("provider table: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct File {
    /// The table's release (`data/providers.toml` has one; an extra file
    /// given with `--providers` need not).
    version: Option<String>,
    provider: Vec<Provider>,
}

#[derive(Debug, Default)]
struct Node {
    children: FxHashMap<Box<str>, u32>,
    wildcard: Option<u32>,
    provider: Option<u32>,
}

/// The providers and their matcher.
#[derive(Debug)]
pub struct ProviderTable {
    providers: Vec<Provider>,
    nodes: Vec<Node>,
    /// The `version` of the base table ("unversioned" if it has none).
    release: String,
}

impl ProviderTable {
    /// The embedded table.
    pub fn embedded() -> Self {
        Self::from_toml(EMBEDDED).expect("the embedded provider table is valid (tested)")
    }

    /// Parse a table.
    pub fn from_toml(text: &str) -> Result<Self, ProvidersError> {
        let file: File = toml::from_str(text)?;
        let release = file.version.unwrap_or_else(|| "unversioned".into());
        let mut table = Self { providers: Vec::new(), nodes: Vec::new(), release };
        table.extend(file.provider)?;
        Ok(table)
    }

    /// What the table is: the base table's `version`, and a hash of every
    /// entry in use (so `--providers` extras, which have no release of their
    /// own, still show). Output files carry it: the `provider` columns mean
    /// what this table said.
    pub fn version(&self) -> String {
        let mut text = String::new();
        for p in &self.providers {
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                p.id,
                p.name,
                p.category.as_str(),
                p.suffixes.join(" ")
            ));
        }
        format!("{} fnv1a64:{:016x}", self.release, crate::fnv1a64(text.as_bytes()))
    }

    /// Add providers; one with an id already present replaces it.
    pub fn merge_toml(&mut self, text: &str) -> Result<(), ProvidersError> {
        let file: File = toml::from_str(text)?;
        self.extend(file.provider)
    }

    fn extend(&mut self, more: Vec<Provider>) -> Result<(), ProvidersError> {
        for p in more {
            validate(&p)?;
            match self.providers.iter_mut().find(|q| q.id == p.id) {
                Some(existing) => *existing = p,
                None => self.providers.push(p),
            }
        }
        self.rebuild()
    }

    fn rebuild(&mut self) -> Result<(), ProvidersError> {
        self.nodes = vec![Node::default()];
        for (index, provider) in self.providers.iter().enumerate() {
            for suffix in &provider.suffixes {
                let mut node = 0u32;
                for label in suffix.rsplit('.') {
                    let next = self.nodes.len() as u32;
                    let slot = if label == "*" {
                        self.nodes[node as usize].wildcard.get_or_insert(next)
                    } else {
                        self.nodes[node as usize].children.entry(label.into()).or_insert(next)
                    };
                    let child = *slot;
                    if child == next {
                        self.nodes.push(Node::default());
                    }
                    node = child;
                }
                let end = &mut self.nodes[node as usize].provider;
                if let Some(other) = end
                    && *other != index as u32
                {
                    return Err(ProvidersError::Invalid(format!(
                        "suffix {suffix:?} is claimed by both {} and {}",
                        self.providers[*other as usize].id, provider.id
                    )));
                }
                *end = Some(index as u32);
            }
        }
        Ok(())
    }

    /// Every provider.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// The provider with this id.
    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| &*p.id == id)
    }

    /// The provider running `host` (lowercase, no trailing dot), if any.
    pub fn match_host(&self, host: &str) -> Option<&Provider> {
        let mut best: Option<(usize, u32)> = None;
        self.walk(0, host, 0, &mut best);
        best.map(|(_, p)| &self.providers[p as usize])
    }

    /// Depth-first over exact and wildcard children, keeping the deepest
    /// provider seen. `rest` is the part of the host not yet consumed.
    fn walk(&self, node: u32, rest: &str, depth: usize, best: &mut Option<(usize, u32)>) {
        let n = &self.nodes[node as usize];
        if let Some(p) = n.provider
            && depth > 0
            && best.is_none_or(|(d, _)| depth > d)
        {
            *best = Some((depth, p));
        }
        if rest.is_empty() {
            return;
        }
        let (head, label) = match rest.rfind('.') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => ("", rest),
        };
        if let Some(&child) = n.children.get(label) {
            self.walk(child, head, depth + 1, best);
        }
        if let Some(child) = n.wildcard {
            self.walk(child, head, depth + 1, best);
        }
    }
}

fn validate(p: &Provider) -> Result<(), ProvidersError> {
    let bad = |why: String| Err(ProvidersError::Invalid(format!("provider {:?}: {why}", p.id)));
    if p.id.is_empty() || !p.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return bad("id must be [a-z0-9_]+".into());
    }
    if p.suffixes.is_empty() {
        return bad("no suffixes".into());
    }
    for s in &p.suffixes {
        let labels: Vec<&str> = s.split('.').collect();
        let ok_label = |l: &&str| {
            *l == "*"
                || (!l.is_empty()
                    && l.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'))
        };
        if !labels.iter().all(ok_label) || labels.last() == Some(&"*") || labels.len() < 2 {
            return bad(format!("suffix {s:?} must be a lowercase name of two or more labels, `*` not last"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[[provider]]
id = "google"
name = "Google"
category = "mailbox"
suffixes = ["google.com", "googlemail.com"]

[[provider]]
id = "proofpoint"
name = "Proofpoint"
category = "gateway"
suffixes = ["pphosted.com"]

[[provider]]
id = "amazon"
name = "Amazon SES"
category = "mailbox"
suffixes = ["inbound-smtp.*.amazonaws.com"]

[[provider]]
id = "microsoft"
name = "Microsoft 365"
category = "mailbox"
suffixes = ["mail.protection.outlook.com", "mx.microsoft"]

[[provider]]
id = "outlookish"
name = "Broader"
category = "hosting"
suffixes = ["outlook.com"]
"#;

    fn id(t: &ProviderTable, host: &str) -> Option<String> {
        t.match_host(host).map(|p| p.id.to_string())
    }

    #[test]
    fn label_boundaries_longest_match_and_wildcards() {
        let t = ProviderTable::from_toml(SAMPLE).unwrap();
        assert_eq!(id(&t, "aspmx.l.google.com").as_deref(), Some("google"));
        assert_eq!(id(&t, "google.com").as_deref(), Some("google"));
        assert_eq!(id(&t, "google.com.evil.example"), None);
        assert_eq!(id(&t, "notgoogle.com"), None);
        assert_eq!(id(&t, "mx1.mypphosted.com"), None);
        assert_eq!(id(&t, "mx0a-00123.pphosted.com").as_deref(), Some("proofpoint"));
        assert_eq!(id(&t, "inbound-smtp.eu-west-1.amazonaws.com").as_deref(), Some("amazon"));
        assert_eq!(id(&t, "inbound-smtp.amazonaws.com"), None, "* is exactly one label");
        assert_eq!(id(&t, "x.inbound-smtp.eu-west-1.amazonaws.com").as_deref(), Some("amazon"));
        assert_eq!(id(&t, "contoso-com.mail.protection.outlook.com").as_deref(), Some("microsoft"));
        assert_eq!(id(&t, "eur.olc.outlook.com").as_deref(), Some("outlookish"), "longest match wins");
        assert_eq!(id(&t, "contoso-com.o-v1.mx.microsoft").as_deref(), Some("microsoft"));
        assert_eq!(id(&t, "com"), None);
        assert_eq!(id(&t, ""), None);
    }

    #[test]
    fn merge_overrides_and_adds() {
        let mut t = ProviderTable::from_toml(SAMPLE).unwrap();
        t.merge_toml(
            "[[provider]]\nid = \"google\"\nname = \"G\"\ncategory = \"mailbox\"\nsuffixes = [\"aspmx.l.google.com\"]\n\
             [[provider]]\nid = \"acme\"\nname = \"Acme\"\ncategory = \"gateway\"\nsuffixes = [\"acme-filter.example\"]\n",
        )
        .unwrap();
        assert_eq!(id(&t, "smtp.google.com"), None, "google was replaced");
        assert_eq!(id(&t, "aspmx.l.google.com").as_deref(), Some("google"));
        assert_eq!(id(&t, "in.acme-filter.example").as_deref(), Some("acme"));
        assert!(
            t.merge_toml(
                "[[provider]]\nid = \"Bad\"\nname = \"x\"\ncategory = \"mailbox\"\nsuffixes = [\"a.b\"]\n"
            )
            .is_err()
        );
        assert!(
            t.merge_toml("[[provider]]\nid = \"dup\"\nname = \"x\"\ncategory = \"mailbox\"\nsuffixes = [\"pphosted.com\"]\n")
                .is_err()
        );
        assert!(t.merge_toml("not toml").is_err());
    }
}

#[cfg(test)]
mod embedded_tests {
    use super::*;

    /// The embedded table keeps every id of the contract
    /// (`docs/providers.md`, the project's own copy) with its category.
    #[test]
    fn embedded_table_honours_the_contract() {
        let table = ProviderTable::embedded();
        assert!(table.providers().len() >= 80, "{} providers", table.providers().len());
        let spec = crate::repo_file("docs/providers.md");
        let mut checked = 0;
        for line in spec.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 5 || cells[1] == "id" || cells[1].starts_with('-') {
                continue;
            }
            let (id, category) = (cells[1], cells[3]);
            let p = table.get(id).unwrap_or_else(|| panic!("contract id {id} missing"));
            assert_eq!(p.category.as_str(), category, "{id}");
            checked += 1;
        }
        assert!(checked >= 50, "parsed only {checked} ids from the spec");
        assert!(!table.version().starts_with("unversioned"), "data/providers.toml needs a version");
        for (host, want) in [
            ("alt1.aspmx.l.google.com", Some("google")),
            ("contoso-com.mail.protection.outlook.com", Some("microsoft")),
            ("mx0a-0012.pphosted.com", Some("proofpoint")),
            ("eu-smtp-inbound-1.mimecast.com", Some("mimecast")),
            ("mx1.mypphosted.com", None),
            ("mx.notmimecast.com", None),
            ("google.com.evil.example", None),
        ] {
            assert_eq!(table.match_host(host).map(|p| &*p.id), want, "{host}");
        }
    }
}
