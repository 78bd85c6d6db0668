//! Fills a migrated PostgreSQL database at a given scale with set-based
//! `INSERT … SELECT generate_series(…)` statements: the rows never leave the
//! server, so a million acknowledgements take seconds, not minutes.
//!
//! Shape of the data (N notices, U users, Q quotes):
//! - user 0 is finance, users 1..U are salespeople; each has the bearer token
//!   `benchtoken-<i>` (stored, like the service does, as its SHA-256 hex);
//! - notices 1..N are published one hour apart, ending an hour ago, each with
//!   one price change (to the same price, so no line is superseded);
//! - every user has acknowledged the latest 100 notices (U × 100 rows);
//! - quote q is drafted half an hour after notice N-110+(q mod 111): the
//!   quotes drafted after notice N-100 are ready, the others have up to ten
//!   pending notices. Three lines each.

use std::time::Instant;

use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection};

#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub name: &'static str,
    pub users: i64,
    pub notices: i64,
    pub quotes: i64,
}

impl Scale {
    pub fn named(name: &str) -> anyhow::Result<Scale> {
        match name {
            "S" | "s" => Ok(Scale { name: "S", users: 1_000, notices: 500, quotes: 10_000 }),
            "L" | "l" => Ok(Scale { name: "L", users: 10_000, notices: 5_000, quotes: 100_000 }),
            other => anyhow::bail!("unknown scale {other:?}: S or L"),
        }
    }

    pub fn acknowledgements(&self) -> i64 {
        self.users * ACKED_LATEST
    }
}

/// How many of the latest notices every user has acknowledged.
pub const ACKED_LATEST: i64 = 100;
pub const PRODUCTS: i64 = 200;

/// A valid argon2 string that no password matches: the benchmark logs in by token.
const NO_PASSWORD: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$DbPBlKn8Cbo7b9u3YxzDbuRJPhbKp7OeW5aVx0N0ZkA";

pub async fn fill(db: &DatabaseConnection, scale: Scale) -> anyhow::Result<std::time::Duration> {
    let started = Instant::now();
    let (u, n, q) = (scale.users, scale.notices, scale.quotes);
    let steps = [
        format!(
            "INSERT INTO users (id, email, name, name_key, role, password_hash, active, created_at, updated_at) \
             SELECT md5('user-' || i)::uuid, 'bench-' || i || '@pricegate.test', 'Bench person ' || i, 'bench person ' || i, \
                    CASE WHEN i = 0 THEN 'finance' ELSE 'sales' END, '{NO_PASSWORD}', true, now() - interval '400 days', now() - interval '400 days' \
             FROM generate_series(0, {u} - 1) AS i"
        ),
        format!(
            "INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at, revoked_at) \
             SELECT encode(sha256(convert_to('benchtoken-' || i, 'UTF8')), 'hex'), md5('user-' || i)::uuid, now(), now() + interval '1 day', NULL \
             FROM generate_series(0, {u} - 1) AS i"
        ),
        format!(
            "INSERT INTO products (id, sku, name, unit, currency, unit_price_minor, created_at, updated_at) \
             SELECT md5('product-' || p)::uuid, 'BENCH-' || lpad(p::text, 4, '0'), 'Bench pump ' || p, 'pc', 'EUR', 10000 + p * 10, \
                    now() - interval '400 days', now() - interval '400 days' \
             FROM generate_series(0, {PRODUCTS} - 1) AS p"
        ),
        format!(
            "INSERT INTO notices (id, title, body, state, seq, published_at, published_by, created_by, created_at, updated_at) \
             SELECT md5('notice-' || k)::uuid, 'Price notice ' || k, 'The price of **BENCH-' || lpad((k % {PRODUCTS})::text, 4, '0') || '** is confirmed.', \
                    'published', k, now() - ({n} - k + 1) * interval '1 hour', md5('user-0')::uuid, md5('user-0')::uuid, \
                    now() - ({n} - k + 2) * interval '1 hour', now() - ({n} - k + 1) * interval '1 hour' \
             FROM generate_series(1, {n}) AS k"
        ),
        format!(
            "INSERT INTO notice_changes (id, notice_id, position, product_id, sku, unit_price_minor, effective_on) \
             SELECT md5('change-' || k)::uuid, md5('notice-' || k)::uuid, 0, md5('product-' || (k % {PRODUCTS}))::uuid, \
                    'BENCH-' || lpad((k % {PRODUCTS})::text, 4, '0'), 10000 + (k % {PRODUCTS}) * 10, (now() - ({n} - k + 1) * interval '1 hour')::date \
             FROM generate_series(1, {n}) AS k"
        ),
        format!("UPDATE gate SET last_seq = {n} WHERE id = 1"),
        format!(
            // From the notices' own rows: each step is its own transaction,
            // so `now()` here is later than it was when they were written.
            "INSERT INTO acknowledgements (id, notice_id, user_id, acknowledged_at, notice_published_at, channel, client_addr, user_agent) \
             SELECT md5('ack-' || i || '-' || n.seq)::uuid, n.id, md5('user-' || i)::uuid, \
                    n.published_at + interval '10 minutes', n.published_at, 'api', '127.0.0.1', 'pricegate-bench' \
             FROM generate_series(0, {u} - 1) AS i, notices n WHERE n.seq > {n} - {ACKED_LATEST}"
        ),
        format!(
            // `customer_search` as `pricegate_migration::customer_search` writes it (in ASCII, `lower` agrees).
            "INSERT INTO quotes (id, owner_id, signer_id, customer_name, customer_email, customer_company, customer_search, currency, valid_until, notes, state, \
                                 drafted_at, updated_at, finalised_at, cancelled_at) \
             SELECT md5('quote-' || q)::uuid, md5('user-' || (1 + q % ({u} - 1)))::uuid, md5('user-' || (1 + q % ({u} - 1)))::uuid, \
                    'Customer ' || q, 'customer-' || q || '@example.test', 'Company ' || q, \
                    lower('Customer ' || q || E'\\n' || 'Company ' || q || E'\\n' || 'customer-' || q || '@example.test'), \
                    'EUR', (now() + interval '30 days')::date, '', 'draft', \
                    now() - ({n} - ({n} - 110 + q % 111) + 1) * interval '1 hour' + interval '30 minutes', \
                    now() - ({n} - ({n} - 110 + q % 111) + 1) * interval '1 hour' + interval '30 minutes', NULL, NULL \
             FROM generate_series(0, {q} - 1) AS q"
        ),
        format!(
            "INSERT INTO quote_lines (id, quote_id, position, product_id, sku, product_name, unit, quantity, unit_price_minor, discount_bp) \
             SELECT md5('line-' || q || '-' || j)::uuid, md5('quote-' || q)::uuid, j, md5('product-' || ((q * 3 + j) % {PRODUCTS}))::uuid, \
                    'BENCH-' || lpad(((q * 3 + j) % {PRODUCTS})::text, 4, '0'), 'Bench pump ' || ((q * 3 + j) % {PRODUCTS}), 'pc', \
                    1 + j, 10000 + ((q * 3 + j) % {PRODUCTS}) * 10, 0 \
             FROM generate_series(0, {q} - 1) AS q, generate_series(0, 2) AS j"
        ),
        // What autovacuum does to a database in service: statistics, and the
        // visibility map that lets index-only scans skip the table.
        "VACUUM ANALYZE".to_owned(),
    ];
    for sql in steps {
        db.execute_unprepared(&sql).await.with_context(|| format!("generating data: {}", &sql[..sql.len().min(60)]))?;
    }
    Ok(started.elapsed())
}

/// Which quotes are ready (every notice since drafting acknowledged) and
/// which still have pending notices, by the rule the generator used.
pub fn quote_is_ready(q: i64) -> bool {
    q % 111 >= 10
}

pub fn signer_of(scale: Scale, q: i64) -> i64 {
    1 + q % (scale.users - 1)
}
