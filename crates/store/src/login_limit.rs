//! Failed logins, counted in the database so that guessing a password is
//! slow however many server processes share it: after [`MAX_FAILURES`]
//! failures for one e-mail from one address within [`FAILURE_WINDOW`], that
//! pair is held off until the oldest of them is out of the window. The login
//! form and the API's `POST /api/v1/auth/token` both log in through
//! [`Store::attempt_login`], so neither is a way around the other.
//!
//! Each try is written down *before* its password is checked, and counts as a
//! failure unless it succeeds: so tries sent at once, to one process or to
//! several, each see the others, and never more than [`MAX_FAILURES`] of them
//! get their password checked.
//!
//! A password an administrator sets lifts every hold on its account, from
//! every address ([`lift_holds`]): whoever guessed before guesses at a
//! password they have not seen, and the count starts again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::auth::{Checked, hash_token};
use crate::db::db_now;
use crate::entity::login_failures;
use crate::{ClientInfo, Store, StoreError};

pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// How a login attempt ended.
#[derive(Debug)]
pub enum LoginOutcome {
    /// The password matched: a session or token may be issued on it.
    LoggedIn(Checked),
    /// Wrong e-mail or password, or an inactive account (audited as such).
    Refused,
    /// Too many failures for this e-mail from this address: try again after this long.
    HeldOff(Duration),
}

/// The row key of an (e-mail, client address) pair: a hash, so the table
/// holds no e-mail address (not even a mistyped one). The e-mail is folded
/// to lower case as accounts are (`Email::parse`), so no spelling of one
/// address in other cases is a fresh count.
fn pair_key(email: &str, client: &ClientInfo) -> String {
    let email = email.trim().to_lowercase();
    hash_token(&format!("{email}\n{}", client.addr.as_deref().unwrap_or("")))
}

/// The key of an e-mail's failures from every address, by which a new
/// password set by an administrator lifts them ([`lift_holds`]).
fn email_key(email: &str) -> String {
    hash_token(&email.trim().to_lowercase())
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

impl Store {
    /// Logs in with an e-mail and password, unless that pair of e-mail and
    /// client address has failed too often lately (see the module's doc).
    pub async fn attempt_login(
        &self,
        email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<LoginOutcome, StoreError> {
        let key = pair_key(email, client);
        let now = db_now(&self.db).await?;
        let window = chrono::Duration::from_std(FAILURE_WINDOW)
            .map_err(|e| StoreError::Internal(format!("login window: {e}")))?;
        let since = now - window;
        login_failures::Entity::delete_many().filter(login_failures::Column::At.lt(since)).exec(&self.db).await?;
        let id = Uuid::new_v4();
        login_failures::Entity::insert(login_failures::ActiveModel {
            id: Set(id),
            key_hash: Set(key.clone()),
            at: Set(now),
            email_hash: Set(Some(email_key(email))),
        })
        .exec_without_returning(&self.db)
        .await?;
        let recent: Vec<DateTime<Utc>> = login_failures::Entity::find()
            .select_only()
            .column(login_failures::Column::At)
            .filter(login_failures::Column::KeyHash.eq(&key))
            .filter(login_failures::Column::At.gte(since))
            .order_by_asc(login_failures::Column::At)
            .limit(MAX_FAILURES as u64 + 1)
            .into_tuple()
            .all(&self.db)
            .await?;
        if recent.len() > MAX_FAILURES {
            login_failures::Entity::delete_by_id(id).exec(&self.db).await?;
            let free_at = recent[0] + window;
            let wait = (free_at - now).to_std().unwrap_or_default().max(Duration::from_secs(1));
            return Ok(LoginOutcome::HeldOff(wait));
        }
        match self.verify_login(email, password).await? {
            Some(user) => {
                login_failures::Entity::delete_many()
                    .filter(login_failures::Column::KeyHash.eq(&key))
                    .exec(&self.db)
                    .await?;
                Ok(LoginOutcome::LoggedIn(user))
            }
            // This try's row stays: it is one of the failures.
            None => Ok(LoginOutcome::Refused),
        }
    }
}
