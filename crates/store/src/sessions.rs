//! Browser sessions. The cookie carries 256 random bits; the database keeps
//! only their SHA-256, so a copy of the table logs nobody in. Each session has
//! its own CSRF token, which every form posts back.

use chrono::{DateTime, Duration, Utc};
use pricegate_domain::Role;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::auth::{Checked, hash_token, logging_in, random_token};
use crate::db::db_now;
use crate::entity::{sessions, users};
use crate::views::UserView;
use crate::{Actor, Store, StoreError};

pub const SESSION_TTL_HOURS: i64 = 12;

/// A freshly opened session. The secret exists only here and in the cookie.
pub struct NewSession {
    pub token: String,
    /// The session's form token, which also seals what its pages are told.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession").field("token", &"<redacted>").field("expires_at", &self.expires_at).finish()
    }
}

/// The person behind a session cookie.
#[derive(Clone)]
pub struct SessionUser {
    pub actor: Actor,
    pub user: UserView,
    pub csrf_token: String,
}

impl std::fmt::Debug for SessionUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionUser").field("user", &self.user.id).field("csrf_token", &"<redacted>").finish()
    }
}

impl Store {
    /// A browser session for a password just checked, if it is still the
    /// account's (see [`Checked`]).
    pub async fn open_session(&self, checked: &Checked) -> Result<NewSession, StoreError> {
        let (token, csrf_token) = (random_token()?, random_token()?);
        let txn = self.begin_write().await?;
        let now = db_now(&txn).await?;
        logging_in(&txn, checked, now).await?;
        let expires_at = now + Duration::hours(SESSION_TTL_HOURS);
        sessions::Entity::insert(sessions::ActiveModel {
            token_hash: Set(hash_token(&token)),
            user_id: Set(checked.user.id),
            csrf_token: Set(csrf_token.clone()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            revoked_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        Ok(NewSession { token, csrf_token, expires_at })
    }

    /// The user a session cookie belongs to, if the session is known,
    /// unexpired, unrevoked and its user still active.
    pub async fn authenticate_session(&self, token: &str) -> Result<Option<SessionUser>, StoreError> {
        // A read, asked again after a connection the database ended: the
        // first the pool hands a page after a failover may be one.
        self.again_if_ended(|| self.session_user(token)).await
    }

    async fn session_user(&self, token: &str) -> Result<Option<SessionUser>, StoreError> {
        let Some(row) = sessions::Entity::find_by_id(hash_token(token)).one(&self.db).await? else {
            return Ok(None);
        };
        if row.revoked_at.is_some() || row.expires_at <= db_now(&self.db).await? {
            return Ok(None);
        }
        let Some(user) = users::Entity::find_by_id(row.user_id).one(&self.db).await? else { return Ok(None) };
        if !user.active {
            return Ok(None);
        }
        let role = Role::parse(&user.role).map_err(|e| StoreError::Internal(e.message))?;
        Ok(Some(SessionUser { actor: Actor { id: user.id, role }, user: user.into(), csrf_token: row.csrf_token }))
    }

    /// Whether a session [`Store::authenticate_session`] refused belongs to
    /// an account deactivated since (which ended it): the browser is told
    /// so, not only that its session ended. Asked only once one is refused.
    pub async fn is_deactivated_accounts_session(&self, token: &str) -> Result<bool, StoreError> {
        let Some(row) = sessions::Entity::find_by_id(hash_token(token)).one(&self.db).await? else {
            return Ok(false);
        };
        crate::auth::deactivated(&self.db, row.user_id).await
    }

    pub async fn revoke_session(&self, token: &str) -> Result<(), StoreError> {
        let now = db_now(&self.db).await?;
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .filter(sessions::Column::TokenHash.eq(hash_token(token)))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// A random token for a form that has no session yet (the login form's
/// double-submit cookie).
pub fn new_form_token() -> Result<String, StoreError> {
    random_token()
}

/// How long a session or an API token is kept once it has ended (expired,
/// or revoked by a logout, a new password or a deactivation): long enough
/// for a browser still holding one to be told its account was deactivated
/// rather than only that its session ended; after that, nothing reads it
/// (the audit log keeps the logins and what ended them).
pub const ENDED_SESSIONS_KEPT_DAYS: i64 = 30;

impl Store {
    /// Deletes the sessions and API tokens that ended more than
    /// [`ENDED_SESSIONS_KEPT_DAYS`] days ago: each login leaves one, and
    /// without this they would pile up for ever. Returns how many went. The
    /// mail worker asks hourly.
    pub async fn forget_ended_sessions(&self) -> Result<u64, StoreError> {
        use crate::entity::api_tokens::{Column as Token, Entity as ApiTokens};
        use sessions::{Column as Session, Entity as Sessions};
        let cutoff = db_now(&self.db).await? - Duration::days(ENDED_SESSIONS_KEPT_DAYS);
        let of_sessions = [Session::ExpiresAt, Session::RevokedAt];
        let of_tokens = [Token::ExpiresAt, Token::RevokedAt];
        let sessions = forget_ended::<Sessions>(&self.db, cutoff, of_sessions).await?;
        Ok(sessions + forget_ended::<ApiTokens>(&self.db, cutoff, of_tokens).await?)
    }
}

/// Deletes the rows of `E` (sessions, or API tokens) that expired or were
/// revoked before `cutoff`, in one statement (one pass over a table that
/// holds about a month of logins); `columns` are its expiry and revocation.
/// Returns how many.
async fn forget_ended<E: EntityTrait>(
    db: &sea_orm::DatabaseConnection,
    cutoff: DateTime<Utc>,
    [expires, revoked]: [E::Column; 2],
) -> Result<u64, StoreError> {
    let ended = sea_orm::Condition::any().add(expires.lt(cutoff)).add(revoked.lt(cutoff));
    Ok(E::delete_many().filter(ended).exec(db).await?.rows_affected)
}
