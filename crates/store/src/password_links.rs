//! Links to choose a password, sent by e-mail: one a person asks for at the
//! login page when they have forgotten theirs, and one an administrator
//! sends (a new account's invitation, or a way back in).
//!
//! Like an acknowledgement link, the token is 256 bits from the operating
//! system's CSPRNG, minted by the mail worker just before the e-mail leaves
//! and kept only as its SHA-256 (`password_links`), bound to one person,
//! expiring, and good for one password. Setting a password by link ends
//! every session and API token the account had, voids its other links (and
//! sets aside those still to be sent) and lifts the holds wrong passwords
//! put on logging in to it. Any other new password, a deactivation and a
//! corrected e-mail address void them too ([`void_password_links`]), under
//! the person's row lock, which the worker also takes to mint a link: so a
//! link is either minted first and voided, or never minted.
//!
//! Asking for a reset says nothing about whether the address has an
//! account: the page answers the same either way, and nothing is written
//! for an address that is not an active account's. One person gets at most
//! one reset e-mail per [`RESET_EVERY_MINUTES`].

use chrono::{DateTime, Utc};
use pricegate_domain::{Email, Password};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{AuditEntry, record};
use crate::auth::{Checked, hash_password, hash_token, random_token};
use crate::db::db_now;
use crate::entity::{outbox, password_links, users};
use crate::outbox::{INVITATION, PASSWORD_RESET, PENDING, owe_password_mail};
use crate::{Actor, ClientInfo, Store, StoreError};

/// `password_links.purpose` of a link asked for at the login page.
pub const RESET: &str = "reset";
/// `password_links.purpose` of a link an administrator sent: to someone
/// invited to a new account, or to someone who lost their password (the
/// audit of its use says which: `first_password`).
pub const INVITED: &str = "invitation";

/// How long a reset link works after its e-mail is sent: long enough to
/// read one's mail, short enough that an old mailbox is not a key.
pub const RESET_LINK_MINUTES: i64 = 60;
/// How long an administrator's link works: a new colleague may not read
/// their mail on the first day.
pub const INVITATION_LINK_DAYS: i64 = 7;
/// How often one person may be sent a reset e-mail, however often it is
/// asked for (by them, or by someone typing their address).
pub const RESET_EVERY_MINUTES: i64 = 5;

/// How long the link in an outbox row of `kind` works once sent.
pub(crate) fn lifetime(kind: &str) -> chrono::Duration {
    if kind == INVITATION {
        chrono::Duration::days(INVITATION_LINK_DAYS)
    } else {
        chrono::Duration::minutes(RESET_LINK_MINUTES)
    }
}

/// The purpose of the link an outbox row of `kind` carries, if it carries one.
pub(crate) fn purpose_of(kind: &str) -> Option<&'static str> {
    match kind {
        PASSWORD_RESET => Some(RESET),
        INVITATION => Some(INVITED),
        _ => None,
    }
}

/// What a link's password did: the person, logged in with it, and whether it
/// was their first (an invitation's, on an account created without one).
pub struct PasswordSet {
    pub checked: Checked,
    pub first: bool,
}

/// Why a link cannot set a password. Each is a page of its own.
#[derive(Debug, thiserror::Error)]
pub enum PasswordLinkError {
    /// No such token: mistyped, cut short, or from another installation.
    #[error("unknown password link")]
    Unknown,
    /// Its time is up.
    #[error("the password link has expired")]
    Expired,
    /// It set a password already, or was ended since (a later password, a
    /// corrected address, a deactivation).
    #[error("the password link has been used")]
    Used,
    /// Its person can no longer log in: the account was deactivated.
    #[error("the password link's account is deactivated")]
    AccountInactive,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for PasswordLinkError {
    fn from(e: sea_orm::DbErr) -> Self {
        PasswordLinkError::Store(e.into())
    }
}

impl PasswordLinkError {
    /// The stable code of the refusal, as audited and as the API would say it.
    pub fn code(&self) -> &'static str {
        match self {
            PasswordLinkError::Unknown => "unknown_link",
            PasswordLinkError::Expired => "expired_link",
            PasswordLinkError::Used => "used_or_ended_link",
            PasswordLinkError::AccountInactive => "inactive_account",
            PasswordLinkError::Store(_) => "internal",
        }
    }
}

/// What a valid link shows: whose password it sets, and until when.
#[derive(Debug, Clone)]
pub struct PasswordLinkView {
    pub name: String,
    pub email: String,
    /// Its person has yet to choose a first password: invited, and in by
    /// no password of theirs yet.
    pub invited: bool,
    pub expires_at: DateTime<Utc>,
}

/// Checks a link read from the database at `now`, and finds its person.
async fn usable(
    conn: &impl sea_orm::ConnectionTrait,
    link: Option<password_links::Model>,
    now: DateTime<Utc>,
) -> Result<(password_links::Model, users::Model), PasswordLinkError> {
    let link = link.ok_or(PasswordLinkError::Unknown)?;
    let user = users::Entity::find_by_id(link.user_id).one(conn).await?.ok_or(PasswordLinkError::Unknown)?;
    // First: a deactivation also ends the link, but asking for a new one, as
    // the page of an ended link suggests, would get a deactivated account nothing.
    if !user.active {
        return Err(PasswordLinkError::AccountInactive);
    }
    if link.used_at.is_some() {
        return Err(PasswordLinkError::Used);
    }
    if link.expires_at <= now {
        return Err(PasswordLinkError::Expired);
    }
    Ok((link, user))
}

/// The audit action of a refused use of a link we issued.
const REFUSED: &str = "user.password_link_refused";

/// Why a queued e-mail with a link to choose a password is not sent.
pub(crate) const NEW_PASSWORD: &str = "Not sent: a new password was set before it went out.";
pub(crate) const DEACTIVATED: &str = "Not sent: the account was deactivated before it went out.";
pub(crate) const READDRESSED: &str =
    "Not sent: the account's e-mail address was corrected before it went out; send a new link.";
pub(crate) const ROLE_CHANGED: &str =
    "Not sent: the account's role was changed before it went out; an invitation naming the new role was sent instead.";

/// Voids every unused password link of `user` as of `now`, and sets aside
/// (`skipped`, for `reason`) the e-mails with one still to be sent, which
/// would otherwise mint a working link later. The caller holds `user`'s row
/// lock. Returns how many links and e-mails it stopped.
pub(crate) async fn void_password_links(
    conn: &impl sea_orm::ConnectionTrait,
    user: Uuid,
    now: DateTime<Utc>,
    reason: &'static str,
) -> Result<u64, StoreError> {
    let voided = password_links::Entity::update_many()
        .col_expr(password_links::Column::UsedAt, Expr::value(now))
        .filter(password_links::Column::UserId.eq(user))
        .filter(password_links::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(voided.rows_affected + set_aside_password_mail(conn, user, reason).await?)
}

/// Sets aside (`skipped`, for `reason`) the e-mails to `user` with a link to
/// choose a password still to be sent: the links already sent keep working.
/// The caller holds `user`'s row lock. Returns how many.
pub(crate) async fn set_aside_password_mail(
    conn: &impl sea_orm::ConnectionTrait,
    user: Uuid,
    reason: &'static str,
) -> Result<u64, StoreError> {
    let unsent = || {
        sea_orm::Condition::all()
            .add(outbox::Column::UserId.eq(user))
            .add(outbox::Column::Kind.is_in([PASSWORD_RESET, INVITATION]))
            .add(outbox::Column::State.eq(PENDING))
    };
    crate::outbox::update_in_id_order(conn, unsent(), || crate::outbox::set_aside(reason)).await
}

/// Whether a reset e-mail was queued for `user` within the last
/// [`RESET_EVERY_MINUTES`] before `now`.
async fn reset_sent_lately(
    conn: &impl sea_orm::ConnectionTrait,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let recent = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Id)
        .filter(outbox::Column::UserId.eq(user))
        .filter(outbox::Column::Kind.eq(PASSWORD_RESET))
        .filter(outbox::Column::CreatedAt.gt(now - chrono::Duration::minutes(RESET_EVERY_MINUTES)))
        .into_tuple::<Uuid>()
        .one(conn)
        .await?;
    Ok(recent.is_some())
}

impl Store {
    /// Someone at the login page asks for a link to choose a new password
    /// for `email`. When it is an active account's address, and it was not
    /// sent one in the last [`RESET_EVERY_MINUTES`], and the client's address
    /// has not had [`crate::login_limit::MAX_LINK_REQUESTS`] sent lately, the
    /// e-mail is queued, counted and the request audited; otherwise nothing
    /// is written. The caller answers the same either way.
    pub async fn request_password_reset(&self, email: &str, client: &ClientInfo) -> Result<(), StoreError> {
        let Some(address) = Email::for_login(email) else { return Ok(()) };
        let setup = self.mail_setup()?;
        let found = users::Entity::find().filter(users::Column::Email.eq(address)).one(&self.db).await?;
        let Some(user) = found.filter(|u| u.active) else { return Ok(()) };
        // Looked at before writing anything: asking again and again, which
        // anyone can, costs reads, not the write lock.
        if reset_sent_lately(&self.db, user.id, db_now(&self.db).await?).await? {
            return Ok(());
        }
        let txn = self.begin_write().await?;
        // Again under the user's row lock, so that requests at once (to
        // several processes) see each other's e-mail and only one is queued.
        let user = users::Entity::find_by_id(user.id).lock_exclusive().one(&txn).await?;
        let Some(user) = user.filter(|u| u.active) else { return Ok(txn.rollback().await?) };
        let now = db_now(&txn).await?;
        if reset_sent_lately(&txn, user.id, now).await? {
            return Ok(txn.rollback().await?);
        }
        if !crate::login_limit::link_request_allowed(&txn, client, now).await? {
            tracing::warn!("password links were asked for too often from one client address: this one is not sent");
            return Ok(txn.rollback().await?);
        }
        // Someone invited who has yet to choose one has no password to keep or to change.
        owe_password_mail(&txn, &setup, now, &user, None, user.invited_at.is_some()).await?;
        record(
            &txn,
            AuditEntry {
                at: now,
                actor_id: None,
                action: "user.password_reset_requested",
                subject_type: "user",
                subject_id: Some(user.id),
                detail: json!({ "client_addr": client.addr, "user_agent": client.user_agent }),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// An administrator sends `id` a link to choose a password (a new
    /// account's invitation, or a way back in); returns the address it goes
    /// to. Refused for a deactivated account (409 `user_inactive`:
    /// reactivate it first) and for the administrator's own (409
    /// `own_password`: theirs is changed with the current one).
    pub async fn send_password_link(&self, actor: &Actor, id: Uuid) -> Result<String, StoreError> {
        if actor.id == id {
            return Err(StoreError::conflict(
                "own_password",
                "Your own password is changed with your current one, on your account page; or, forgotten, \
                 from the login page's \u{201c}Forgot your password?\u{201d}.",
            ));
        }
        let setup = self.mail_setup()?;
        let by = users::Entity::find_by_id(actor.id)
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::Internal("the administrator's account is gone".into()))?;
        let txn = self.begin_write().await?;
        let user =
            users::Entity::find_by_id(id).lock_exclusive().one(&txn).await?.ok_or(StoreError::not_found("user"))?;
        if !user.active {
            return Err(StoreError::conflict(
                "user_inactive",
                "This account is deactivated, so a link would not work: reactivate it first.",
            ));
        }
        let now = db_now(&txn).await?;
        // Someone invited who has yet to choose a password is invited again,
        // not told that a password they never had keeps working.
        let new_account = user.invited_at.is_some();
        owe_password_mail(&txn, &setup, now, &user, Some(&by.name), new_account).await?;
        if new_account {
            // Invited again: the users page says since when.
            let mut invited: users::ActiveModel = user.clone().into();
            invited.invited_at = Set(Some(now));
            users::Entity::update(invited).exec(&txn).await?;
        }
        audit_link_sent(&txn, now, actor, &user).await?;
        txn.commit().await?;
        Ok(user.email)
    }

    /// What the link with `token` would do, without doing it: `GET` shows this.
    pub async fn password_link(&self, token: &str) -> Result<PasswordLinkView, PasswordLinkError> {
        let now = db_now(&self.db).await?;
        let link = password_links::Entity::find_by_id(hash_token(token)).one(&self.db).await?;
        let (link, user) = usable(&self.db, link, now).await?;
        Ok(PasswordLinkView {
            name: user.name,
            email: user.email,
            // Whoever has yet to choose a first password, by whichever link:
            // one to someone who has a password already is a way back in.
            invited: user.invited_at.is_some(),
            expires_at: link.expires_at,
        })
    }

    /// Sets the link's person's password to `new`, if the link still works:
    /// in one transaction, the link is used up and every other of theirs
    /// voided, their sessions and API tokens end, the holds on logging in
    /// are lifted, and it is audited. Returns the account, checked, so that
    /// the browser that set it can be logged in. A refusal of a link we
    /// issued is audited; one that is not ours writes nothing.
    pub async fn set_password_by_link(
        &self,
        token: &str,
        new: Password,
        client: &ClientInfo,
    ) -> Result<PasswordSet, PasswordLinkError> {
        let result = self.use_password_link(token, new, client).await;
        if let Err(error) = &result {
            self.audit_password_link_refusal(token, error).await?;
        }
        result
    }

    async fn use_password_link(
        &self,
        token: &str,
        new: Password,
        client: &ClientInfo,
    ) -> Result<PasswordSet, PasswordLinkError> {
        let hash = hash_token(token);
        // Looked at first: a link that cannot work costs a read, not a
        // password hash and the write lock.
        let link = password_links::Entity::find_by_id(hash.clone()).one(&self.db).await?;
        let (link, user) = usable(&self.db, link, db_now(&self.db).await?).await?;
        new.check_not_built_on(&user.email, &user.name).map_err(|e| StoreError::from(Password::as_new(e)))?;
        let password_hash = hash_password(&new).await?;
        let txn = self.begin_write().await?;
        let now = db_now(&txn).await?;
        // The person's row first, then their links, as every other change
        // of password does: two of them at once wait for each other.
        users::Entity::find_by_id(link.user_id).lock_exclusive().one(&txn).await?;
        let link = password_links::Entity::find_by_id(hash.clone()).one(&txn).await?;
        let (link, user) = usable(&txn, link, now).await?;
        let used = password_links::Entity::update_many()
            .col_expr(password_links::Column::UsedAt, Expr::value(now))
            .filter(password_links::Column::TokenHash.eq(hash))
            .filter(password_links::Column::UsedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if used != 1 {
            txn.rollback().await?;
            return Err(PasswordLinkError::Used);
        }
        let first = user.invited_at.is_some();
        let mut model: users::ActiveModel = user.into();
        model.password_hash = Set(password_hash);
        model.invited_at = Set(None);
        model.updated_at = Set(now);
        let user = users::Entity::update(model).exec(&txn).await?;
        void_password_links(&txn, user.id, now, NEW_PASSWORD).await?;
        let ended = crate::users::end_sessions_and_tokens(&txn, user.id, now).await?;
        let holds_lifted = crate::login_limit::lift_holds(&txn, &user.email).await?;
        // A first password, chosen from an invitation, is news to nobody.
        if let (Some(setup), false) = (&self.mail, first) {
            let change = crate::outbox::AccountChange::Password { by_link: true };
            crate::outbox::owe_account_mail(&txn, setup, now, &crate::outbox::recipient(&user), change, None).await?;
        }
        record(
            &txn,
            AuditEntry {
                at: now,
                actor_id: Some(user.id),
                action: "user.password_set_by_link",
                subject_type: "user",
                subject_id: Some(user.id),
                detail: json!({
                    "purpose": link.purpose,
                    // The account's first password (of someone invited, by whichever link), or one in place of theirs.
                    "first_password": first,
                    "sessions_and_tokens_ended": ended,
                    "failed_logins_forgotten": holds_lifted,
                    "client_addr": client.addr,
                    "user_agent": client.user_agent,
                }),
            },
        )
        .await?;
        txn.commit().await?;
        let password_hash = user.password_hash.clone();
        Ok(PasswordSet { checked: Checked { user: user.into(), password_hash }, first })
    }

    /// Audits a refused use of a link we issued, with its person; the token
    /// itself is never kept. One that is not ours writes nothing: nobody is
    /// to be named, and nobody logged out may make the server write.
    async fn audit_password_link_refusal(&self, token: &str, error: &PasswordLinkError) -> Result<(), StoreError> {
        if matches!(error, PasswordLinkError::Unknown | PasswordLinkError::Store(_)) {
            return Ok(());
        }
        let Some(link) = password_links::Entity::find_by_id(hash_token(token)).one(&self.db).await? else {
            return Ok(());
        };
        let at = db_now(&self.db).await?;
        // Once a minute per person at most: whoever holds a dead link cannot
        // fill the log by sending it again and again.
        let lately = crate::entity::audit_log::Entity::find()
            .select_only()
            .column(crate::entity::audit_log::Column::Id)
            .filter(crate::entity::audit_log::Column::SubjectId.eq(link.user_id))
            .filter(crate::entity::audit_log::Column::Action.eq(REFUSED))
            .filter(crate::entity::audit_log::Column::At.gt(at - chrono::Duration::minutes(1)))
            .into_tuple::<Uuid>()
            .one(&self.db)
            .await?;
        if lately.is_some() {
            return Ok(());
        }
        let entry = AuditEntry {
            at,
            actor_id: None,
            action: REFUSED,
            subject_type: "user",
            subject_id: Some(link.user_id),
            detail: json!({ "code": error.code(), "purpose": link.purpose }),
        };
        record(&self.db, entry).await
    }

    /// Mints the link an outbox row with a link to choose a password
    /// carries, just before it is sent, under its person's row lock: only
    /// while the row is still to be sent and the account active, so that a
    /// new password, a deactivation or a corrected address committed
    /// meanwhile ([`void_password_links`]) leaves no working link behind.
    /// `None`: the row is not sent.
    pub(crate) async fn mint_password_link(&self, mut row: outbox::Model) -> Result<Option<outbox::Model>, StoreError> {
        let Some(user_id) = row.user_id else { return Ok(None) };
        let token = random_token()?;
        let txn = self.begin_write().await?;
        let active = users::Entity::find_by_id(user_id).lock_exclusive().one(&txn).await?.is_some_and(|u| u.active);
        // Still this claim's: a claim whose lease ran out mints nothing.
        let pending = outbox::Entity::find_by_id(row.id)
            .one(&txn)
            .await?
            .is_some_and(|r| r.state == PENDING && r.attempts == row.attempts);
        let now = db_now(&txn).await?;
        let Some(link) = minted(&token, &row.kind, user_id, now).filter(|_| active && pending) else {
            txn.rollback().await?;
            return Ok(None);
        };
        password_links::Entity::insert(link).exec_without_returning(&txn).await?;
        txn.commit().await?;
        row.text_body = row.text_body.replace(crate::outbox::ACK_TOKEN_SLOT, &token);
        row.html_body = row.html_body.replace(crate::outbox::ACK_TOKEN_SLOT, &token);
        Ok(Some(row))
    }
}

/// The audit row of a link an administrator sent.
pub(crate) async fn audit_link_sent(
    conn: &impl sea_orm::ConnectionTrait,
    now: DateTime<Utc>,
    actor: &Actor,
    to: &users::Model,
) -> Result<(), StoreError> {
    record(
        conn,
        AuditEntry {
            at: now,
            actor_id: Some(actor.id),
            action: "user.password_link_sent",
            subject_type: "user",
            subject_id: Some(to.id),
            detail: json!({ "email": to.email }),
        },
    )
    .await
}

/// The link an outbox row of `kind` to `user_id` carries, minted `now`
/// with `token`; `None` when mail of that kind carries no password link.
pub(crate) fn minted(
    token: &str,
    kind: &str,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Option<password_links::ActiveModel> {
    Some(password_links::ActiveModel {
        token_hash: Set(hash_token(token)),
        user_id: Set(user_id),
        purpose: Set(purpose_of(kind)?.to_owned()),
        created_at: Set(now),
        expires_at: Set(now + lifetime(kind)),
        used_at: Set(None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_mail_carries_its_own_link_and_lifetime() {
        assert_eq!(purpose_of(PASSWORD_RESET), Some(RESET));
        assert_eq!(purpose_of(INVITATION), Some(INVITED));
        assert_eq!(purpose_of(crate::outbox::PUBLICATION), None, "an ack link is not a password link");
        assert_eq!(lifetime(PASSWORD_RESET), chrono::Duration::minutes(60));
        assert_eq!(lifetime(INVITATION), chrono::Duration::days(7));
        let now = Utc::now();
        let row = minted("t", INVITATION, Uuid::nil(), now).expect("an invitation carries a link");
        assert_eq!(row.expires_at, Set(now + chrono::Duration::days(7)));
        assert_eq!(row.purpose, Set(INVITED.to_owned()));
        assert_eq!(row.token_hash, Set(hash_token("t")), "kept only as its hash");
        assert!(minted("t", crate::outbox::REMINDER, Uuid::nil(), now).is_none());
    }
}
