-- mxscan DuckDB cookbook. Every query reads the view `domains`; make it point at your scan:
--
--   create view domains as select * from read_parquet('mx.parquet');          -- one file
--   create view domains as select * from read_parquet('out/**/*.parquet');    -- a dataset directory
--
-- Each query starts with a `-- name:` line (CI runs every one against a test-bed scan and checks the
-- answers against the generator's truth: tests/integration/test_cookbook.py).

-- name: provider_share
-- Provider market share among domains that have MX records: who receives the mail first.
select coalesce(provider, case when self_hosted then '(self-hosted)' else '(unknown)' end) as provider,
       count(*) as domains,
       round(100.0 * count(*) / sum(count(*)) over (), 2) as pct
from domains
where status = 'ok' and len(list_filter(mx, lambda m: m.exchange <> '.')) > 0
group by all
order by domains desc, provider;

-- name: gateways_by_rank_bucket
-- Security gateway vendors in front of the mail, by popularity bucket of a ranked list.
select case when rank is null then 'unranked'
            when rank <= 1000 then 'top 1k'
            when rank <= 10000 then 'top 10k'
            when rank <= 100000 then 'top 100k'
            when rank <= 1000000 then 'top 1M'
            else 'beyond 1M' end as bucket,
       provider as gateway,
       count(*) as domains
from domains
where provider_category = 'gateway'
group by all
order by bucket, domains desc, gateway;

-- name: error_findings_with_exchangers
-- Every domain with an error-severity finding (mail lost or misrouted), one row per exchanger.
-- The error codes are those of `mxscan findings` with severity "error".
select d.domain, d.findings, m.preference, m.exchange, m.address_status, m.ipv4, m.ipv6, m.cname
from (select domain, findings, unnest(mx) as m
      from domains
      where list_has_any(findings, ['null_mx_with_other_mx', 'mx_is_cname', 'mx_is_ip_literal',
                                    'mx_unresolvable', 'mx_no_address', 'mx_localhost',
                                    'mx_private_address', 'all_mx_unusable', 'dangling_mx'])) as d
order by d.domain, m.preference, m.exchange;

-- name: bypassable_gateways
-- Domains whose gateway can be bypassed: tier 1 is a filtering gateway, a higher tier is not.
select domain,
       provider as gateway,
       list_transform(list_filter(mx, lambda m: m.tier > 1 and m.exchange <> '.'
                                           and coalesce(m.category, '') <> 'gateway'),
                      lambda m: m.exchange) as bypass_exchanges
from domains
where list_contains(findings, 'gateway_bypass')
order by domain;

-- name: shared_exchangers
-- The exchangers shared by the most domains, with who runs them.
select m.exchange, any_value(m.provider) as provider, count(distinct domain) as domains
from (select domain, unnest(mx) as m from domains where status = 'ok')
where m.exchange <> '.'
group by m.exchange
order by domains desc, m.exchange
limit 20;

-- The policy stage (scans made with --policy; its columns are null otherwise).

-- name: spf_adoption
-- SPF status and the qualifier of `all`, among the domains the policy stage checked.
select spf.status as status, coalesce(spf."all", '(no all)') as qualifier, count(*) as domains
from domains
where spf is not null
group by all
order by domains desc, status, qualifier;

-- name: spf_over_the_lookup_limit
-- Domains whose SPF needs more than 10 DNS lookups (RFC 7208 §4.6.4: a permerror for every sender).
select domain, spf.lookups as lookups, spf.includes as includes
from domains
where spf.lookups > 10
order by domain;

-- name: dmarc_policies
-- The DMARC policy that applies, and where it was found (the domain's own name or a parent).
select coalesce(dmarc.p, '(none)') as policy,
       dmarc.found_at = '_dmarc.' || domain as own_record,
       count(*) as domains
from domains
where dmarc.status = 'ok'
group by all
order by domains desc, policy, own_record;

-- name: mta_sts_coverage_gaps
-- MTA-STS policies that do not cover every MX host (mail to it fails under enforce), or that name
-- hosts no MX record has (stale policies).
select domain, mta_sts.mode as mode, mta_sts.mx_uncovered as uncovered, mta_sts.patterns_unused as unused,
       mta_sts.mx_coverage as coverage
from domains
where len(mta_sts.mx_uncovered) > 0 or len(mta_sts.patterns_unused) > 0
order by domain;

-- name: dane_without_dnssec
-- Exchanges that publish TLSA records senders will ignore: the TLSA answer or the domain's MX answer
-- was not DNSSEC-authenticated (RFC 7672 §2.2).
select domain, m.exchange as exchange, m.tlsa_authenticated as tlsa_authenticated,
       mx_authenticated
from (select domain, mx_authenticated, unnest(mx) as m from domains)
where len(m.tlsa) > 0 and (not m.tlsa_authenticated or not mx_authenticated)
order by domain, exchange;
