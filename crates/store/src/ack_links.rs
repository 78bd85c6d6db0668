//! Acknowledgement links: a 256-bit token in an e-mail, stored only as its
//! SHA-256, bound to one (notice, user), expiring, single use.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use pricegate_domain::{Calendar, Role};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::refusal_code;
use crate::auth::{hash_token, looks_like_token};
use crate::db::db_now;
use crate::entity::{ack_tokens, acknowledgements, notices, users};
use crate::notices::{AwaitingNotice, WaitingQuote};
use crate::notices::{Channel, ClientInfo, PUBLISHED, acknowledge_one_in, changes_to_read, refused_acknowledgement};
use crate::outbox::NoticeContent;
use crate::views::{AckView, GateView};
use crate::{Actor, Store, StoreError};

/// Why a link cannot acknowledge anything. Each is a page of its own.
#[derive(Debug, thiserror::Error)]
pub enum AckLinkError {
    /// A token of the right shape that this Pricegate never sent: from
    /// another installation, or a database restored to before it was sent.
    #[error("unknown acknowledgement link")]
    Unknown,
    /// Not a token as Pricegate writes them: changed or cut short on its way
    /// ([`token_shape`]), or one without check bytes that no link has.
    #[error("altered acknowledgement link")]
    Altered,
    /// Its time ran out, or it was ended early: its person's address was
    /// corrected, or their account deactivated since it was sent.
    #[error("the acknowledgement link has expired")]
    Expired { about: LinkAbout },
    /// The link was used; it acknowledged the notice then (`acknowledged_at`,
    /// unless that acknowledgement is gone since: the account was removed).
    #[error("the acknowledgement link has been used")]
    Used { acknowledged_at: Option<DateTime<Utc>>, about: LinkAbout },
    /// The link's person can no longer log in: their account was deactivated.
    #[error("the acknowledgement link's account is deactivated")]
    AccountInactive,
    /// The person acknowledged the notice another way (browser, API, another link).
    #[error("the notice is already acknowledged")]
    AlreadyAcknowledged { acknowledged_at: DateTime<Utc>, about: LinkAbout },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for AckLinkError {
    fn from(e: sea_orm::DbErr) -> Self {
        AckLinkError::Store(e.into())
    }
}

/// What a valid link shows: the notice and whose link it is.
#[derive(Debug, Clone)]
pub struct AckLinkView {
    pub notice: NoticeContent,
    /// Whose link it is.
    pub user_id: Uuid,
    pub user_name: String,
    pub expires_at: DateTime<Utc>,
}

/// Where an acknowledgement by link leaves its person, for the page that
/// thanks them: the drafts the notice held up, each with its gate as it
/// stands now, and the notices still waiting for them.
#[derive(Debug, Clone)]
pub struct AfterAcknowledging {
    /// The first [`AFTER_ACK_DRAFTS`] drafts: those with a product the
    /// notice prices first, each part oldest first.
    pub drafts: Vec<(WaitingQuote, GateView)>,
    /// How many more drafts it held up than `drafts` shows.
    pub more_drafts: usize,
    /// The first [`AFTER_ACK_DRAFTS`] of them, in publication order.
    pub still_to_acknowledge: Vec<AwaitingNotice>,
    /// How many notices still wait, listed or not.
    pub still_count: u64,
}

/// How many drafts [`AfterAcknowledging`] reads the gate of, and how many
/// notices it names: the page is read on a phone, and Pricegate's own
/// pages say the rest.
pub const AFTER_ACK_DRAFTS: usize = 10;

/// An acknowledgement link's token: 256 random bits and four check bytes
/// (the first of their SHA-256), base64url without padding, 48 characters.
/// The check bytes tell a link changed or cut short on its way (by hand, by
/// a mail program's wrapping) from one Pricegate never sent, with no
/// database read: [`token_shape`].
pub fn new_link_token() -> Result<String, StoreError> {
    let mut bytes = [0u8; 36];
    getrandom::fill(&mut bytes[..32]).map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
    let check = check_of(&bytes[..32]);
    bytes[32..].copy_from_slice(&check);
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn check_of(secret: &[u8]) -> [u8; 4] {
    let digest = Sha256::digest(secret);
    [digest[0], digest[1], digest[2], digest[3]]
}

/// What a token's text says before the database is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenShape {
    /// As Pricegate writes them: 48 characters whose check bytes match.
    Checked,
    /// The 43 characters of a link sent before links carried check bytes,
    /// or of one of today's cut short there.
    Unchecked,
    /// Not as any link Pricegate wrote: a character changed, some cut off
    /// or added.
    Altered,
}

impl TokenShape {
    /// Why no link has this token: a whole one was never sent here; one
    /// without check bytes is most likely one of today's, cut short.
    fn not_found(self) -> AckLinkError {
        match self {
            TokenShape::Checked => AckLinkError::Unknown,
            TokenShape::Unchecked | TokenShape::Altered => AckLinkError::Altered,
        }
    }
}

/// The shape of an acknowledgement link's token ([`new_link_token`]).
pub fn token_shape(token: &str) -> TokenShape {
    if looks_like_token(token) {
        return TokenShape::Unchecked;
    }
    // The decoder takes base64url characters only.
    let checked = || {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let (secret, check) = bytes.split_at_checked(32)?;
        Some(check == check_of(secret))
    };
    if token.len() == 48 && checked() == Some(true) { TokenShape::Checked } else { TokenShape::Altered }
}

/// Whose link a refusal is about, and which notice's: the notice's title,
/// to say which of several links this was, and the link's person, so that
/// someone else logged in is not told it was theirs.
#[derive(Debug, Clone)]
pub struct LinkAbout {
    pub user_id: Uuid,
    /// `None` if it cannot be read: the page says less rather than fail.
    pub user_name: Option<String>,
    pub title: Option<String>,
}

async fn about(conn: &impl ConnectionTrait, row: &ack_tokens::Model) -> LinkAbout {
    LinkAbout {
        user_id: row.user_id,
        user_name: users::Entity::find_by_id(row.user_id).one(conn).await.ok().flatten().map(|u| u.name),
        title: notices::Entity::find_by_id(row.notice_id).one(conn).await.ok().flatten().map(|n| n.title),
    }
}

/// Checks a token against its row, in a fixed order: unknown, used,
/// account deactivated, expired, acknowledged already. An expired link says
/// nothing of the acknowledgement: a link ended because it went to a
/// mistyped address reads as expired to whoever holds it, before and after
/// its person acknowledges elsewhere. A deactivation ends the person's links
/// too: while they are away their links say so, and back, that they expired.
async fn check(
    conn: &impl ConnectionTrait,
    row: Option<ack_tokens::Model>,
    now: DateTime<Utc>,
    calendar: Calendar,
) -> Result<(ack_tokens::Model, AckLinkView), AckLinkError> {
    let row = row.ok_or(AckLinkError::Unknown)?;
    let ack = acknowledgements::Entity::find()
        .filter(acknowledgements::Column::NoticeId.eq(row.notice_id))
        .filter(acknowledgements::Column::UserId.eq(row.user_id))
        .one(conn)
        .await?;
    if row.used_at.is_some() {
        let acknowledged_at = ack.map(|a| a.acknowledged_at);
        return Err(AckLinkError::Used { acknowledged_at, about: about(conn, &row).await });
    }
    let user = users::Entity::find_by_id(row.user_id).one(conn).await?.ok_or(AckLinkError::Unknown)?;
    if !user.active {
        return Err(AckLinkError::AccountInactive);
    }
    if row.expires_at <= now {
        return Err(AckLinkError::Expired { about: about(conn, &row).await });
    }
    if let Some(ack) = ack {
        let acknowledged_at = ack.acknowledged_at;
        return Err(AckLinkError::AlreadyAcknowledged { acknowledged_at, about: about(conn, &row).await });
    }
    let notice = notices::Entity::find_by_id(row.notice_id)
        .one(conn)
        .await?
        .filter(|n| n.state == PUBLISHED)
        .ok_or(AckLinkError::Unknown)?;
    let changes = changes_to_read(conn, &notice, calendar).await?;
    let crate::outbox::Publisher { name, email } = crate::outbox::publisher_of(conn, &notice).await?;
    let view = AckLinkView {
        notice: NoticeContent {
            id: notice.id,
            title: notice.title,
            body: notice.body,
            published_at: notice.published_at.unwrap_or_default(),
            changes,
            published_by: name,
            reply_to: email,
        },
        user_id: user.id,
        user_name: user.name,
        expires_at: row.expires_at,
    };
    Ok((row, view))
}

/// Ends `user`'s acknowledgement links not used or expired yet, as expired
/// at `now` (their address was corrected: see [`Store::update_user`]);
/// returns how many.
pub(crate) async fn end_ack_links(
    txn: &impl ConnectionTrait,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let ended = ack_tokens::Entity::update_many()
        .col_expr(ack_tokens::Column::ExpiresAt, Expr::value(now))
        .filter(ack_tokens::Column::UserId.eq(user))
        .filter(ack_tokens::Column::UsedAt.is_null())
        .filter(ack_tokens::Column::ExpiresAt.gt(now))
        .exec(txn)
        .await?;
    Ok(ended.rows_affected)
}

impl Store {
    /// What the link leads to. Reads only: mail scanners open every link.
    pub async fn open_ack_link(&self, token: &str) -> Result<AckLinkView, AckLinkError> {
        let shape = token_shape(token);
        if shape == TokenShape::Altered {
            return Err(AckLinkError::Altered);
        }
        let now = db_now(&self.db).await?;
        let row = ack_tokens::Entity::find_by_id(hash_token(token)).one(&self.db).await?;
        let row = Some(row.ok_or_else(|| shape.not_found())?);
        Ok(check(&self.db, row, now, self.calendar).await?.1)
    }

    /// What `user_id` is left with once they have acknowledged `notice_id`
    /// (see [`AfterAcknowledging`]). Reads only; an account that is gone or
    /// no longer a salesperson's is left with nothing to show.
    pub async fn after_acknowledging(&self, user_id: Uuid, notice_id: Uuid) -> Result<AfterAcknowledging, StoreError> {
        let mut after =
            AfterAcknowledging { drafts: Vec::new(), more_drafts: 0, still_to_acknowledge: Vec::new(), still_count: 0 };
        let Some(actor) = self.actor_of(user_id).await? else { return Ok(after) };
        (after.drafts, after.more_drafts) = self.drafts_with_gates(&actor, notice_id).await?;
        (after.still_to_acknowledge, after.still_count) =
            self.notices_awaiting(&actor, AFTER_ACK_DRAFTS as u64).await?;
        Ok(after)
    }

    /// The first drafts of `user_id`'s that notice `notice_id` holds up,
    /// each with its gate (whose `pending` says what the notice does to
    /// it), and how many more there are: for the link's page to show before
    /// its person acknowledges. Reads only.
    pub async fn drafts_held_up(
        &self,
        user_id: Uuid,
        notice_id: Uuid,
    ) -> Result<(Vec<(WaitingQuote, GateView)>, usize), StoreError> {
        match self.actor_of(user_id).await? {
            Some(actor) => self.drafts_with_gates(&actor, notice_id).await,
            None => Ok((Vec::new(), 0)),
        }
    }

    /// `user_id` as an actor, when the account is there with a role.
    async fn actor_of(&self, user_id: Uuid) -> Result<Option<Actor>, StoreError> {
        let role = users::Entity::find_by_id(user_id)
            .select_only()
            .column(users::Column::Role)
            .into_tuple::<String>()
            .one(&self.db)
            .await?;
        Ok(role.as_deref().and_then(|r| Role::parse(r).ok()).map(|role| Actor { id: user_id, role }))
    }

    async fn drafts_with_gates(
        &self,
        actor: &Actor,
        notice_id: Uuid,
    ) -> Result<(Vec<(WaitingQuote, GateView)>, usize), StoreError> {
        // Those the notice changes first (in their order): the drafts to
        // see, not the first drafted.
        let held_up = self.quotes_held_up_by(notice_id, actor.id).await?;
        let more = held_up.len().saturating_sub(AFTER_ACK_DRAFTS);
        let mut drafts = Vec::new();
        for quote in held_up.into_iter().take(AFTER_ACK_DRAFTS) {
            match self.quote_gate(actor, quote.id).await {
                Ok(gate) => drafts.push((quote, gate)),
                // Finalised, cancelled or given another signer since it was listed.
                Err(
                    StoreError::Conflict { code: "quote_not_draft", .. }
                    | StoreError::NotFound { .. }
                    | StoreError::Forbidden { .. },
                ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((drafts, more))
    }

    /// Acknowledges the link's notice for its user (channel `email`) and uses
    /// the link up, in one transaction; a refusal writes only its audit row.
    pub async fn acknowledge_by_link(
        &self,
        token: &str,
        client: ClientInfo,
    ) -> Result<(AckLinkView, AckView), AckLinkError> {
        let result = self.redeem_link(token, client).await;
        if let Err(error) = &result {
            self.audit_link_refusal(token, error).await?;
        }
        result
    }

    /// Audits a refused link with its person and notice; the token itself is
    /// never kept. A token that is not ours writes nothing: there is nobody
    /// to attribute it to, and a caller who is not logged in must not be
    /// able to make the server write (on SQLite every write takes the one
    /// write lock that finalisations need).
    async fn audit_link_refusal(&self, token: &str, error: &AckLinkError) -> Result<(), StoreError> {
        let code = match error {
            AckLinkError::Unknown | AckLinkError::Altered => return Ok(()),
            AckLinkError::Expired { .. } => "expired_link",
            AckLinkError::Used { .. } => "used_link",
            AckLinkError::AccountInactive => "inactive_account",
            AckLinkError::AlreadyAcknowledged { .. } => "already_acknowledged",
            AckLinkError::Store(e) => match refusal_code(e) {
                Some(code) => code,
                None => return Ok(()),
            },
        };
        let Some(row) = ack_tokens::Entity::find_by_id(hash_token(token)).one(&self.db).await? else {
            return Ok(());
        };
        let refused = refused_acknowledgement(Some(row.user_id), Some(row.notice_id), Channel::Email);
        self.record_link_refusal(refused, code).await
    }

    async fn redeem_link(&self, token: &str, client: ClientInfo) -> Result<(AckLinkView, AckView), AckLinkError> {
        let shape = token_shape(token);
        if shape == TokenShape::Altered {
            return Err(AckLinkError::Altered);
        }
        let hash = hash_token(token);
        let txn = self.begin_write().await?;
        // The person's row under a share of its lock before the link's own
        // lock: the order an administrator deactivating them or correcting
        // their address takes (their row, then their links), so that one
        // waits for the other rather than each for the other (a deadlock).
        // The link's person never changes: found by the link, unlocked, in the same statement.
        let owner = sea_orm::sea_query::Query::select()
            .column(ack_tokens::Column::UserId)
            .from(ack_tokens::Entity)
            .and_where(ack_tokens::Column::TokenHash.eq(hash.clone()))
            .to_owned();
        users::Entity::find().filter(users::Column::Id.in_subquery(owner)).lock_shared().one(&txn).await?;
        // Read after the locks: a change this waited for is stamped before it.
        let now = db_now(&txn).await?;
        let row = ack_tokens::Entity::find_by_id(hash.clone()).lock_exclusive().one(&txn).await?;
        let row = Some(row.ok_or_else(|| shape.not_found())?);
        let (row, view) = check(&txn, row, now, self.calendar).await?;
        let (ack, new) = acknowledge_one_in(&txn, None, row.user_id, row.notice_id, Channel::Email, client).await?;
        if !new {
            // Acknowledged another way (the browser, the API) between the
            // check and now: the link stays unused, and says so, as it does
            // when opened after.
            txn.rollback().await?;
            let acknowledged_at = ack.acknowledged_at;
            return Err(AckLinkError::AlreadyAcknowledged { acknowledged_at, about: about(&self.db, &row).await });
        }
        let used = ack_tokens::Entity::update_many()
            .col_expr(ack_tokens::Column::UsedAt, Expr::value(now))
            .filter(ack_tokens::Column::TokenHash.eq(hash))
            .filter(ack_tokens::Column::UsedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if used != 1 {
            // Used between our read and our write: not while the row is
            // locked (PostgreSQL) or the write lock held (SQLite), but were it
            // so, rolling back undoes our acknowledgement, and the page says
            // when the other use acknowledged.
            txn.rollback().await?;
            let theirs = acknowledgements::Entity::find()
                .filter(acknowledgements::Column::NoticeId.eq(row.notice_id))
                .filter(acknowledgements::Column::UserId.eq(row.user_id))
                .one(&self.db)
                .await?;
            let acknowledged_at = theirs.map(|a| a.acknowledged_at);
            return Err(AckLinkError::Used { acknowledged_at, about: about(&self.db, &row).await });
        }
        txn.commit().await?;
        Ok((view, ack))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_changed_or_cut_short_is_told_from_one_never_sent() {
        let token = new_link_token().unwrap();
        assert_eq!(token.len(), 48);
        assert_ne!(token, new_link_token().unwrap());
        assert_eq!(token_shape(&token), TokenShape::Checked);
        // Every single character changed, wherever it is.
        for (i, c) in token.char_indices() {
            let other = if c == 'A' { 'B' } else { 'A' };
            let changed = format!("{}{other}{}", &token[..i], &token[i + 1..]);
            assert_eq!(token_shape(&changed), TokenShape::Altered, "{changed}");
        }
        // (Cut to 43 characters, it reads as a link from before check bytes,
        // which still work while the database has them.)
        assert_eq!(token_shape(&token[..43]), TokenShape::Unchecked);
        for altered in [&token[..47], &token[..44], &format!("{token}A"), "", "x", "%00", &token.replace('A', "+")] {
            if altered != token {
                assert_eq!(token_shape(altered), TokenShape::Altered, "{altered}");
            }
        }
        // A link sent before links carried check bytes: 43 characters.
        assert_eq!(token_shape(&crate::auth::random_token().unwrap()), TokenShape::Unchecked);
        assert_eq!(token_shape(&"é".repeat(24)), TokenShape::Altered);
    }
}
