//! Passwords (argon2) and API bearer tokens (256 random bits, stored as SHA-256).

use std::sync::{Arc, LazyLock};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use pricegate_domain::{Email, Password, Role};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, FromQueryResult,
    QueryFilter, QuerySelect, Statement,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::audit::{AuditEntry, record};
use crate::db::db_now;
use crate::entity::{api_tokens, users};
use crate::views::UserView;
use crate::{Actor, LoginOutcome, Store, StoreError};

pub const TOKEN_TTL_HOURS: i64 = 12;

/// A freshly issued bearer token. The secret exists only here and in the
/// response to the caller; the database keeps its hash.
pub struct ApiToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: UserView,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken").field("token", &"<redacted>").field("user", &self.user.id).finish()
    }
}

/// 32 bytes from the operating system's CSPRNG, base64url without padding.
pub fn random_token() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `token` has the shape of [`random_token`]'s (43 base64url
/// characters): a session's, a form's, a password link's. Anything else is
/// refused before the database is asked.
pub fn looks_like_token(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The stored form of a token. Lookups go by this hash, so the comparison is
/// an index probe on a value an attacker cannot choose, not a string compare
/// of the secret.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) async fn hash_password(password: &Password) -> Result<String, StoreError> {
    let password = password.clone();
    tokio_blocking(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Internal(format!("password hashing failed: {e}")))
    })
    .await
}

async fn verify_password(password: String, hash: String) -> Result<bool, StoreError> {
    tokio_blocking(move || Ok(Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok())).await
}

/// How many passwords are hashed or checked at once: two per core. Each
/// takes tens of milliseconds of CPU and 19 MiB on purpose, so a burst of
/// logins (anyone may send them) waits its turn here instead of filling the
/// blocking pool's 512 threads (about 10 GiB of them).
static ARGON2_AT_ONCE: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()) * 2)));

/// Argon2 takes tens of milliseconds of CPU on purpose: keep it off the
/// async workers, and no more of it at once than [`ARGON2_AT_ONCE`] allows.
async fn tokio_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let turn = Arc::clone(&ARGON2_AT_ONCE).acquire_owned().await;
    let turn = turn.map_err(|e| StoreError::Internal(format!("argon2 turns: {e}")))?;
    // The turn is the task's: a request given up meanwhile does not free it while the hash still runs.
    let task = tokio::task::spawn_blocking(move || {
        let result = f();
        drop(turn);
        result
    });
    task.await.map_err(|e| StoreError::Internal(format!("blocking task failed: {e}")))?
}

/// A valid argon2 hash of a password nobody has: verifying against it when
/// the e-mail is unknown makes a wrong e-mail cost as much as a wrong password.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$DbPBlKn8Cbo7b9u3YxzDbuRJPhbKp7OeW5aVx0N0ZkA";

/// A password just checked for a user, and the hash it matched. A session
/// or an API token is issued on it only while the account's password is
/// still that one (see [`Store::issue_api_token`]): a login that checked the
/// old password as the password was changed gets nothing, since the change
/// ends every session and token in its transaction and the issue waits on
/// the same row.
#[derive(Clone)]
pub struct Checked {
    pub user: UserView,
    pub(crate) password_hash: String,
}

impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checked").field("user", &self.user.id).finish_non_exhaustive()
    }
}

/// Locks `checked`'s user row in `txn` and refuses (403
/// `credentials_changed`) if the password is no longer the one checked, or
/// the account was deactivated meanwhile; else notes `now` as when they
/// last logged in: a session or a token is being issued to them.
pub(crate) async fn logging_in(
    txn: &DatabaseTransaction,
    checked: &Checked,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let user = users::Entity::find_by_id(checked.user.id).lock_exclusive().one(txn).await?;
    match user {
        Some(u) if u.active && u.password_hash == checked.password_hash => {
            users::Entity::update_many()
                .col_expr(users::Column::LastLoginAt, Expr::value(now))
                .filter(users::Column::Id.eq(u.id))
                .exec(txn)
                .await?;
            Ok(())
        }
        _ => Err(StoreError::forbidden(
            "credentials_changed",
            "The password of this account changed, or the account was deactivated, as you logged in. Log in again.",
        )),
    }
}

/// A bearer token's hash → its user and the token's expiry (and, on
/// PostgreSQL, the database clock, saving a round trip).
pub fn token_user_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "SELECT u.*, t.expires_at AS token_expires_at, t.revoked_at AS token_revoked_at, \
             date_trunc('microseconds', clock_timestamp()) AS db_now FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1"
        }
        _ => {
            "SELECT u.*, t.expires_at AS token_expires_at, t.revoked_at AS token_revoked_at FROM api_tokens t \
             JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?"
        }
    }
}

impl Store {
    /// Checks an e-mail and password. Failures are audited (without the password).
    pub(crate) async fn verify_login(&self, email: &str, password: &str) -> Result<LoginOutcome, StoreError> {
        let address = Email::for_login(email);
        let user = match &address {
            Some(email) => users::Entity::find().filter(users::Column::Email.eq(email)).one(&self.db).await?,
            None => None,
        };
        let hash = user.as_ref().map_or(DECOY_HASH.to_owned(), |u| u.password_hash.clone());
        let matches = verify_password(password.to_owned(), hash).await?;
        match user {
            Some(user) if matches && user.active => {
                let password_hash = user.password_hash.clone();
                Ok(LoginOutcome::LoggedIn(Checked { user: user.into(), password_hash }))
            }
            user => {
                let now = db_now(&self.db).await?;
                let reason = match &user {
                    None if address.is_none() => "not_an_email_address",
                    None => "unknown_email",
                    // The person knows the password still: worth telling apart.
                    Some(u) if !u.active && matches => "inactive_right_password",
                    Some(u) if !u.active => "inactive",
                    // Invited, and yet to choose a password: none matches.
                    Some(u) if u.invited_at.is_some() => "no_password_yet",
                    Some(_) => "wrong_password",
                };
                record(
                    &self.db,
                    AuditEntry {
                        at: now,
                        // Who typed it is not known: the account tried is
                        // the subject, not the actor.
                        actor_id: None,
                        action: "auth.login_failed",
                        subject_type: "user",
                        subject_id: user.as_ref().map(|u| u.id),
                        // What was typed is kept only when it is an account's
                        // address: a password typed into the e-mail field may
                        // look like one (`P@ssw0rd!`), and the audit log is
                        // read by finance and admins, for ever.
                        detail: json!({ "email": user.as_ref().map(|u| u.email.as_str()), "reason": reason }),
                    },
                )
                .await?;
                Ok(match user {
                    Some(u) if matches && !u.active => LoginOutcome::Deactivated,
                    _ => LoginOutcome::Refused,
                })
            }
        }
    }

    /// A bearer token for a password just checked, if it is still the account's.
    pub async fn issue_api_token(&self, checked: Checked) -> Result<ApiToken, StoreError> {
        let token = random_token()?;
        let txn = self.begin_write().await?;
        let now = db_now(&txn).await?;
        logging_in(&txn, &checked, now).await?;
        let expires_at = now + Duration::hours(TOKEN_TTL_HOURS);
        api_tokens::Entity::insert(api_tokens::ActiveModel {
            token_hash: Set(hash_token(&token)),
            user_id: Set(checked.user.id),
            created_at: Set(now),
            expires_at: Set(expires_at),
            revoked_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        // As the user now is: logged in just now.
        let user = UserView { last_login_at: Some(now), ..checked.user };
        Ok(ApiToken { token, expires_at, user })
    }

    /// The user a bearer token belongs to, if the token is known, unexpired,
    /// unrevoked and its user still active.
    ///
    /// One round trip: every API request comes through here, and three
    /// queries (token, clock, user) were a quarter of a gate check's.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<(Actor, UserView)>, StoreError> {
        // A read, asked again after a connection the database ended: the
        // first the pool hands a request after a failover may be one.
        self.again_if_ended(|| self.token_user(token)).await
    }

    async fn token_user(&self, token: &str) -> Result<Option<(Actor, UserView)>, StoreError> {
        let backend = self.db.get_database_backend();
        let (sql, clock) = (token_user_sql(backend), backend == DbBackend::Postgres);
        let Some(row) =
            self.db.query_one_raw(Statement::from_sql_and_values(backend, sql, [hash_token(token).into()])).await?
        else {
            return Ok(None);
        };
        let expires_at: DateTime<Utc> = row.try_get("", "token_expires_at")?;
        let revoked_at: Option<DateTime<Utc>> = row.try_get("", "token_revoked_at")?;
        let now = if clock { row.try_get::<DateTime<Utc>>("", "db_now")? } else { db_now(&self.db).await? };
        if revoked_at.is_some() || expires_at <= now {
            return Ok(None);
        }
        let user = users::Model::from_query_result(&row, "")?;
        if !user.active {
            return Ok(None);
        }
        let role = Role::parse(&user.role).map_err(|e| StoreError::Internal(e.message))?;
        Ok(Some((Actor { id: user.id, role }, user.into())))
    }

    /// Whether a token [`Store::authenticate_token`] refused is one its
    /// account's deactivation ended (or that outlived it): its holder is
    /// told so rather than only that it is not current. Asked only once a
    /// token is refused.
    pub async fn is_deactivated_accounts_token(&self, token: &str) -> Result<bool, StoreError> {
        let Some(row) = api_tokens::Entity::find_by_id(hash_token(token)).one(&self.db).await? else {
            return Ok(false);
        };
        deactivated(&self.db, row.user_id).await
    }

    pub async fn revoke_api_token(&self, token: &str) -> Result<(), StoreError> {
        let now = db_now(&self.db).await?;
        api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::RevokedAt, Expr::value(now))
            .filter(api_tokens::Column::TokenHash.eq(hash_token(token)))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// Whether the account `user` is there and deactivated.
pub(crate) async fn deactivated(db: &impl ConnectionTrait, user: uuid::Uuid) -> Result<bool, StoreError> {
    Ok(users::Entity::find_by_id(user).one(db).await?.is_some_and(|u| !u.active))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_unique() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_ne!(a, b);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
    }

    #[test]
    fn the_decoy_hash_is_a_valid_argon2_hash() {
        assert!(argon2::password_hash::phc::PasswordHash::new(DECOY_HASH).is_ok());
    }
}
