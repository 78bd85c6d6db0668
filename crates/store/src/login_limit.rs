//! Failed logins, counted in the database so that guessing a password is
//! slow however many server processes share it: after [`MAX_FAILURES`]
//! failures for one e-mail from one address within [`FAILURE_WINDOW`], that
//! pair is held off until the oldest of them is out of the window. The login
//! form and the API's `POST /api/v1/auth/token` both log in through
//! [`Store::attempt_login`], so neither is a way around the other.
//!
//! Each try is counted and written down *before* its password is checked,
//! one at a time for each key it counts under, and counts as a failure
//! unless it succeeds: so tries sent at once, to one process or to several,
//! each see the others, and never more than [`MAX_FAILURES`] of them get
//! their password checked. Until its check ends a try is in flight: one
//! refused only because others are being checked is told to try again in a
//! moment ([`LoginOutcome::AtOnce`]), not that there were failed logins.
//!
//! An IPv6 client counts by its /64, the block one subscriber is given, so
//! that walking through the addresses of one's own network is not a fresh
//! count each time. And one account takes at most [`MAX_ACCOUNT_FAILURES`]
//! failures within the window from all addresses together, so that many
//! addresses guessing one password are held off too; its person, held off
//! with them, gets in by setting a new password through "Forgot your
//! password?", as below.
//!
//! And one address (a /64 for IPv6) takes at most [`MAX_ADDRESS_FAILURES`]
//! failures within the window for all e-mails together: every try runs the
//! password hash, and each failure is an audit row, never deleted, so one
//! client walking through made-up addresses is held off as well. The
//! number is far above what people sharing an office's address mistype.
//!
//! A password an administrator sets, or its person sets by a link, lifts
//! every hold on its account, from every address ([`lift_holds`]): whoever
//! guessed before guesses at a password they have not seen, and the count
//! starts again.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::auth::{Checked, hash_token};
use crate::db::db_now;
use crate::entity::login_failures;
use crate::{ClientInfo, Store, StoreError};

pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures for one e-mail within [`FAILURE_WINDOW`] from every address
/// together, after which it is held off from all of them.
pub const MAX_ACCOUNT_FAILURES: usize = 50;
/// Failures from one client address within [`FAILURE_WINDOW`] for every
/// e-mail together, after which it is held off for all of them.
pub const MAX_ADDRESS_FAILURES: usize = 100;

/// How a login attempt ended.
#[derive(Debug)]
pub enum LoginOutcome {
    /// The password matched: a session or token may be issued on it.
    LoggedIn(Checked),
    /// Wrong e-mail or password (audited as such; an e-mail or password too
    /// long to be any account's is not).
    Refused,
    /// The right password of a deactivated account (audited as a failed
    /// login): whoever typed it may be told why they cannot log in.
    Deactivated,
    /// Too many failures for this e-mail from this address, for it from
    /// every address together, or from this address for every e-mail: try
    /// again after this long.
    HeldOff(Duration),
    /// As many tries as may be counted are being checked at this moment
    /// (logins sent at once by one client, say), not failures yet: try
    /// again in a moment.
    AtOnce,
}

/// The row key of an (e-mail, client address) pair: a hash, so the table
/// holds no e-mail address (not even a mistyped one). The e-mail is folded
/// to lower case as accounts are (`Email::parse`), so no spelling of one
/// address in other cases is a fresh count.
fn pair_key(email: &str, client: &ClientInfo) -> String {
    let email = email.trim().to_lowercase();
    hash_token(&format!("{email}\n{}", client_block(client.addr.as_deref().unwrap_or(""))))
}

/// The client address as failures count it: an IPv6 address by its /64
/// (an IPv4 address written as IPv6 as itself), anything else as written.
fn client_block(addr: &str) -> String {
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(prefix))
            }
        },
        _ => addr.to_owned(),
    }
}

/// The key of an e-mail's failures from every address, by which a new
/// password set by an administrator lifts them ([`lift_holds`]).
fn email_key(email: &str) -> String {
    hash_token(&email.trim().to_lowercase())
}

/// The key of a client address's failures for every e-mail.
fn address_key(client: &ClientInfo) -> String {
    hash_token(&format!("address\n{}", client_block(client.addr.as_deref().unwrap_or(""))))
}

/// Password links ("Forgot your password?") one client address may have
/// sent within [`FAILURE_WINDOW`], whichever accounts it names; past them,
/// the next request is answered as ever and sends nothing. Each account is
/// mailed at most one link every few minutes anyway: this keeps one client
/// from having every account mailed again and again. Like
/// [`MAX_ADDRESS_FAILURES`], far above what people sharing an office's
/// address ask for.
pub const MAX_LINK_REQUESTS: usize = 50;

/// The key of a client address's requests for password links: a line
/// break, a word and another before the address, which no login's
/// [`pair_key`] has (its e-mail is trimmed, and one line break at most), so
/// the two never count each other.
fn link_requests_key(client: &ClientInfo) -> String {
    hash_token(&format!("\npassword-link\n{}", client_block(client.addr.as_deref().unwrap_or(""))))
}

/// Counts a password link about to be sent at `client`'s request, in `txn`
/// (a write transaction: on SQLite one writer at a time; on PostgreSQL
/// under a lock of the client's key, so that requests at once, to several
/// processes, each see the others); whether it is among the first
/// [`MAX_LINK_REQUESTS`] within the window. One over them is not counted:
/// the window runs from the earliest of those that were.
pub(crate) async fn link_request_allowed(
    txn: &DatabaseTransaction,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let key = link_requests_key(client);
    if txn.get_database_backend() == DbBackend::Postgres {
        // Two 32-bit keys: a space apart from the gate's and the
        // migrations' 64-bit ones; the first names these locks.
        let lock = sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(7396012, hashtext($1))",
            [key.clone().into()],
        );
        txn.execute_raw(lock).await?;
    }
    let window = window()?;
    let since = now - window;
    forget_expired(txn, since).await?;
    let counted: Vec<Uuid> = login_failures::Entity::find()
        .select_only()
        .column(login_failures::Column::Id)
        .filter(login_failures::Column::KeyHash.eq(&key))
        .filter(login_failures::Column::At.gte(since))
        .limit(MAX_LINK_REQUESTS as u64)
        .into_tuple()
        .all(txn)
        .await?;
    if counted.len() >= MAX_LINK_REQUESTS {
        return Ok(false);
    }
    login_failures::Entity::insert(login_failures::ActiveModel {
        id: Set(Uuid::new_v4()),
        key_hash: Set(key),
        at: Set(now),
        // Neither an account's failures nor the address's failed logins.
        email_hash: Set(None),
        address_hash: Set(None),
        in_flight: Set(false),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(true)
}

/// Forgets the rows from before `since`, out of every count, in `txn`: each
/// login and each request for a link sweeps them, and one row held by
/// another (a sweep at the same moment, an administrator's new password
/// lifting its account's holds) is left to a later sweep, not waited for
/// (PostgreSQL; SQLite's writers take turns): two sweeps, or a sweep and a
/// lift taking the same rows in other orders, would otherwise wait for one
/// another, or each for the other.
async fn forget_expired(txn: &DatabaseTransaction, since: DateTime<Utc>) -> Result<(), StoreError> {
    expired(since).exec(txn).await?;
    Ok(())
}

/// The statement of [`forget_expired`].
fn expired(since: DateTime<Utc>) -> sea_orm::DeleteMany<login_failures::Entity> {
    let free = login_failures::Entity::find()
        .select_only()
        .column(login_failures::Column::Id)
        .filter(login_failures::Column::At.lt(since))
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    let free = sea_orm::QueryTrait::into_query(free);
    login_failures::Entity::delete_many().filter(login_failures::Column::Id.in_subquery(free))
}

/// Forgets the failed logins for `email` from every address: an
/// administrator has set a new password, and the person it is for must be
/// able to use it now, not in a quarter of an hour.
pub(crate) async fn lift_holds(conn: &impl sea_orm::ConnectionTrait, email: &str) -> Result<u64, StoreError> {
    let deleted = login_failures::Entity::delete_many()
        .filter(login_failures::Column::EmailHash.eq(email_key(email)))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected)
}

/// [`FAILURE_WINDOW`], as the database's times are counted.
fn window() -> Result<chrono::Duration, StoreError> {
    chrono::Duration::from_std(FAILURE_WINDOW).map_err(|e| StoreError::Internal(format!("login window: {e}")))
}

/// Of the tries written down, those that are failures at `now`: checked and
/// refused, or still in flight after a minute, cut off mid-check (its request
/// dropped, or its process stopped) and counted as what it may have been.
fn settled(now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(login_failures::Column::InFlight.eq(false))
        .add(login_failures::Column::At.lt(now - chrono::Duration::minutes(1)))
}

/// How failed logins hold an account's person off now: what an
/// administrator asked "I cannot log in" reads on the users page.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginHold {
    /// Failed logins for the account within [`FAILURE_WINDOW`], from every address.
    pub failures: usize,
    /// The client addresses held off for it, each after [`MAX_FAILURES`].
    pub addresses: usize,
    /// Held off from every address: [`MAX_ACCOUNT_FAILURES`] reached.
    pub everywhere: bool,
    /// When the last of these holds ends, if no more failures come.
    pub until: DateTime<Utc>,
}

/// When failures at `at` (oldest first) stop holding off, at `max` a hold:
/// once fewer than `max` are left in the window. `None` if they do not now.
fn held_until(at: &[DateTime<Utc>], max: usize, window: chrono::Duration) -> Option<DateTime<Utc>> {
    at.len().checked_sub(max).map(|first_of_last| at[first_of_last] + window)
}

impl Store {
    /// The holds failed logins put on the accounts of `emails` now, by
    /// e-mail as given; an account not held off is not in the map.
    pub async fn login_holds(&self, emails: &[&str]) -> Result<HashMap<String, LoginHold>, StoreError> {
        if emails.is_empty() {
            return Ok(HashMap::new());
        }
        let now = db_now(&self.db).await?;
        let window = window()?;
        let by_hash: HashMap<String, &str> = emails.iter().map(|email| (email_key(email), *email)).collect();
        let settled = settled(now);
        let failures: Vec<(Option<String>, String, DateTime<Utc>)> = login_failures::Entity::find()
            .select_only()
            .column(login_failures::Column::EmailHash)
            .column(login_failures::Column::KeyHash)
            .column(login_failures::Column::At)
            .filter(login_failures::Column::EmailHash.is_in(by_hash.keys().cloned()))
            .filter(login_failures::Column::At.gte(now - window))
            .filter(settled)
            .order_by_asc(login_failures::Column::At)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut of_account: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
        let mut of_pair: HashMap<(String, String), Vec<DateTime<Utc>>> = HashMap::new();
        for (email_hash, pair, at) in failures {
            let Some(email_hash) = email_hash else { continue };
            of_account.entry(email_hash.clone()).or_default().push(at);
            of_pair.entry((email_hash, pair)).or_default().push(at);
        }
        let mut holds = HashMap::new();
        for (email_hash, at) in of_account {
            let everywhere = held_until(&at, MAX_ACCOUNT_FAILURES, window);
            let pairs: Vec<DateTime<Utc>> = of_pair
                .iter()
                .filter(|((hash, _), _)| *hash == email_hash)
                .filter_map(|(_, at)| held_until(at, MAX_FAILURES, window))
                .collect();
            let Some(until) = pairs.iter().copied().chain(everywhere).max() else { continue };
            let Some(email) = by_hash.get(&email_hash) else { continue };
            holds.insert(
                (*email).to_owned(),
                LoginHold { failures: at.len(), addresses: pairs.len(), everywhere: everywhere.is_some(), until },
            );
        }
        Ok(holds)
    }

    /// Logs in with an e-mail and password, unless that pair of e-mail and
    /// client address has failed too often lately (see the module's doc).
    pub async fn attempt_login(
        &self,
        email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<LoginOutcome, StoreError> {
        // Longer than any account's address or password can be: no account
        // matches, and nothing is hashed, counted or written for it.
        if email.len() > 320 || password.len() > 4 * pricegate_domain::Password::MAX_CHARS {
            return Ok(LoginOutcome::Refused);
        }
        let key = pair_key(email, client);
        let (email_hash, address_hash) = (email_key(email), address_key(client));
        // Counted and written down together, one try at a time per key: on
        // SQLite in a write transaction (one writer at a time), on
        // PostgreSQL under a lock of each of the three keys (taken in one
        // order), so that of tries sent at once exactly as many go on to
        // have their password checked as the limits leave room for.
        let txn = self.begin_write().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            let mut keys = [&key, &email_hash, &address_hash];
            keys.sort();
            for key in keys {
                // A space of two 32-bit keys of its own, apart from the password links'.
                let lock = sea_orm::Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_advisory_xact_lock(7396013, hashtext($1))",
                    [key.clone().into()],
                );
                txn.execute_raw(lock).await?;
            }
        }
        let now = db_now(&txn).await?;
        let window = window()?;
        let since = now - window;
        forget_expired(&txn, since).await?;
        let from_here = login_failures::Column::KeyHash.eq(&key);
        let from_anywhere = login_failures::Column::EmailHash.eq(email_hash.clone());
        let for_anyone = login_failures::Column::AddressHash.eq(address_hash.clone());
        for (whose, max) in
            [(from_here, MAX_FAILURES), (from_anywhere, MAX_ACCOUNT_FAILURES), (for_anyone, MAX_ADDRESS_FAILURES)]
        {
            // Failures and tries in flight alike: never more than `max` of
            // them get their password checked.
            let recent = |settled_only: bool| {
                let mut recent = login_failures::Entity::find()
                    .select_only()
                    .column(login_failures::Column::At)
                    .filter(whose.clone())
                    .filter(login_failures::Column::At.gte(since));
                if settled_only {
                    recent = recent.filter(settled(now));
                }
                recent.order_by_asc(login_failures::Column::At).limit(max as u64).into_tuple().all(&txn)
            };
            let counted: Vec<DateTime<Utc>> = recent(false).await?;
            if counted.len() >= max {
                // Held off by failures, until the earliest leaves the
                // window; else by tries still being checked, for a moment.
                let failures: Vec<DateTime<Utc>> = recent(true).await?;
                txn.commit().await?;
                return Ok(match failures.first().filter(|_| failures.len() >= max) {
                    Some(first) => LoginOutcome::HeldOff(
                        (*first + window - now).to_std().unwrap_or_default().max(Duration::from_secs(1)),
                    ),
                    None => LoginOutcome::AtOnce,
                });
            }
        }
        let id = Uuid::new_v4();
        login_failures::Entity::insert(login_failures::ActiveModel {
            id: Set(id),
            key_hash: Set(key.clone()),
            at: Set(now),
            email_hash: Set(Some(email_hash)),
            address_hash: Set(Some(address_hash)),
            // Until its password is checked: not yet a failure.
            in_flight: Set(true),
        })
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        let outcome = self.verify_login(email, password).await?;
        match outcome {
            LoginOutcome::LoggedIn(_) => {
                login_failures::Entity::delete_many()
                    .filter(login_failures::Column::KeyHash.eq(&key))
                    .exec(&self.db)
                    .await?;
            }
            // The right password is no guess: tries of it while the account
            // is deactivated do not hold it off once it is reactivated.
            LoginOutcome::Deactivated => {
                login_failures::Entity::delete_by_id(id).exec(&self.db).await?;
            }
            // This try's row stays: it is one of the failures.
            LoginOutcome::Refused => {
                login_failures::Entity::update_many()
                    .col_expr(login_failures::Column::InFlight, sea_orm::sea_query::Expr::value(false))
                    .filter(login_failures::Column::Id.eq(id))
                    .exec(&self.db)
                    .await?;
            }
            LoginOutcome::HeldOff(_) | LoginOutcome::AtOnce => {}
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::{client_block, expired};
    use sea_orm::{DbBackend, QueryTrait};

    #[test]
    fn the_sweep_of_expired_failures_skips_rows_another_holds_on_postgres() {
        let sql = expired(chrono::Utc::now()).build(DbBackend::Postgres).to_string();
        assert!(sql.starts_with("DELETE FROM \"login_failures\" WHERE \"login_failures\".\"id\" IN (SELECT"), "{sql}");
        assert!(sql.ends_with("FOR UPDATE SKIP LOCKED)"), "{sql}");
        let sql = expired(chrono::Utc::now()).build(DbBackend::Sqlite).to_string();
        assert!(!sql.contains("FOR UPDATE"), "{sql}");
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64_block() {
        assert_eq!(client_block("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(client_block("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(client_block("2001:db8:1:3::1"), client_block("2001:db8:1:2::1"));
        assert_eq!(client_block("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(client_block("192.0.2.7"), "192.0.2.7");
        assert_eq!(client_block(""), "");
    }
}
