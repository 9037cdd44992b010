//! The report as data: what `--json` prints and what the text and HTML
//! views draw. Keys are a public interface (documented in [`JSON_HELP`]).

use serde::Serialize;

/// The `--json` keys, for `mxscan report --help`.
pub const JSON_HELP: &str = "\
JSON (--json): one object. Percentages are 0-100 with two decimals.
  source, files, rows        what was read
  notes[]                    sections skipped and why
  status[]                   {status, count, pct}: pct of rows
  mx_adoption                {ok, has_mx, null_mx_only, implicit_mx, none}: each {count, pct},
                             pct of the `ok` domains
  providers | null           {domains_with_mx, distinct, top[], self_hosted, other_unknown}
                             top[]: {provider, name, category, count, pct}; pct of domains with MX
  gateways | null            {domains, pct_of_mx, rows[]}: rows[] {provider, name, count, pct},
                             pct of the gateway domains
  categories[] | null        {category, count, pct}: mailbox, gateway, hosting, forwarding,
                             self-hosted, unknown; pct of domains with MX
  rank_buckets[] | null      {bucket, max_rank, domains, with_mx, top[]}: cumulative top 1k,
                             10k, 100k, 1M (a bucket no larger than the previous one is left
                             out), then beyond 1M; top[] as gateways rows, pct of with_mx
  findings[]                 {code, severity, summary, count, pct}: by severity, then count;
                             pct of the `ok` domains
  exchangers[]               {exchange, domains, pct, provider}: the 20 most shared (by two
                             domains or more), pct of domains with MX
  policy | null              the policy stage (--policy): {domains, spf_status[], spf_all[],
                             spf_lookups[], spf_errors[], dmarc_status[], dmarc_policy[],
                             mta_sts_status[], mta_sts_mode[], tlsrpt_status[]: each
                             {value, count, pct}; dmarc_at_parent, mta_sts_uncovered,
                             mta_sts_unused_pattern, mx_authenticated, dane, dkim: each
                             {count, pct}}; pct of the domains the stage ran for
null sections: the input lacks the columns (an older file) or has no ranks.";

/// A count and its share of the section's whole.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Count {
    /// How many domains.
    pub count: u64,
    /// Percent of the section's whole, two decimals.
    pub pct: f64,
}

/// One status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusRow {
    /// The `status` value.
    pub status: String,
    /// Rows with it.
    pub count: u64,
    /// Percent of all rows.
    pub pct: f64,
}

/// MX adoption among the `ok` domains; the four parts add up to `ok`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MxAdoption {
    /// Domains with status `ok`.
    pub ok: u64,
    /// At least one real (non-null) exchange.
    pub has_mx: Count,
    /// A null MX and nothing else.
    pub null_mx_only: Count,
    /// No MX; the domain's own A/AAAA receive mail.
    pub implicit_mx: Count,
    /// No MX and no implicit MX.
    pub none: Count,
}

/// One provider's share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderRow {
    /// Provider id.
    pub provider: String,
    /// Display name, when the id is in the embedded table.
    pub name: Option<String>,
    /// Category, as written in the data.
    pub category: Option<String>,
    /// Domains whose tier-1 provider it is.
    pub count: u64,
    /// Percent of the section's domains.
    pub pct: f64,
}

/// A provider's count within a subset (gateways, a rank bucket).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderCount {
    /// Provider id.
    pub provider: String,
    /// Display name, when the id is in the embedded table.
    pub name: Option<String>,
    /// Domains.
    pub count: u64,
    /// Percent of the subset.
    pub pct: f64,
}

/// Provider share among domains with MX.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderShare {
    /// Domains with at least one real exchange: the whole.
    pub domains_with_mx: u64,
    /// Distinct providers seen.
    pub distinct: u64,
    /// The largest providers.
    pub top: Vec<ProviderRow>,
    /// No provider, every exchange under the domain's own registrable domain.
    pub self_hosted: Count,
    /// The rest: providers outside `top` and unknown hosts.
    pub other_unknown: Count,
}

/// Domains behind a filtering gateway.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayShare {
    /// Domains whose provider category is `gateway`.
    pub domains: u64,
    /// Their percent of domains with MX.
    pub pct_of_mx: f64,
    /// By gateway, percent of the gateway domains.
    pub rows: Vec<ProviderCount>,
}

/// One provider category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryRow {
    /// mailbox, gateway, hosting, forwarding, self-hosted or unknown.
    pub category: String,
    /// Domains.
    pub count: u64,
    /// Percent of domains with MX.
    pub pct: f64,
}

/// Providers within a rank bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankBucket {
    /// `top 1k`, `top 10k`, `top 100k`, `top 1M`, `beyond 1M`.
    pub bucket: String,
    /// Largest rank inside (`null` for beyond 1M).
    pub max_rank: Option<u32>,
    /// Ranked rows in the bucket, every status.
    pub domains: u64,
    /// Of those, `ok` with at least one real exchange.
    pub with_mx: u64,
    /// The largest providers, percent of `with_mx`.
    pub top: Vec<ProviderCount>,
}

/// One finding code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingRow {
    /// The code.
    pub code: String,
    /// error, warning, info, or unknown (a code not in this build's catalogue).
    pub severity: String,
    /// The catalogue's one-line summary.
    pub summary: Option<String>,
    /// Domains with it.
    pub count: u64,
    /// Percent of the `ok` domains.
    pub pct: f64,
}

/// One shared exchanger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExchangerRow {
    /// The exchange host name.
    pub exchange: String,
    /// Domains listing it (once per domain).
    pub domains: u64,
    /// Percent of domains with MX.
    pub pct: f64,
    /// Its provider id.
    pub provider: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The path given.
    pub source: String,
    /// Parquet files read.
    pub files: u64,
    /// Rows read.
    pub rows: u64,
    /// Sections skipped and why.
    pub notes: Vec<String>,
    /// Rows by status.
    pub status: Vec<StatusRow>,
    /// MX adoption among `ok` domains.
    pub mx_adoption: MxAdoption,
    /// Provider share (`None` without the analysis columns).
    pub providers: Option<ProviderShare>,
    /// Gateway share.
    pub gateways: Option<GatewayShare>,
    /// Category share.
    pub categories: Option<Vec<CategoryRow>>,
    /// Providers by rank bucket (`None` without ranks).
    pub rank_buckets: Option<Vec<RankBucket>>,
    /// Findings by severity, then count.
    pub findings: Vec<FindingRow>,
    /// The most shared exchangers.
    pub exchangers: Vec<ExchangerRow>,
    /// The policy stage's tables (`None` when no row has them).
    pub policy: Option<super::policy::PolicySection>,
}
