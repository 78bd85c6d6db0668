//! The mail outbox: rows written in the same transaction as the state change
//! they announce, claimed and marked by the mail worker.
//!
//! The store cannot depend on the mail crate (mail depends on the store), yet
//! the message is rendered where the state change happens, inside its
//! transaction. So the store defines [`Composer`] and the mail crate
//! implements it; the binary hands one to [`Store::with_mail`].
//!
//! An acknowledgement token exists in clear only in the message that leaves
//! for the recipient: the outbox row holds [`ACK_TOKEN_SLOT`] where the link's
//! token goes, and the worker mints the token (keeping only its hash) just
//! before it hands the message to the transport ([`Store::mint_ack_links`]).
//! A row read from the database, a backup or the admin outbox never carries a
//! working link.
//!
//! A publication does not write its e-mails itself: it writes one row that
//! owes them, and the worker expands it (see [`Store::expand_publication_batch`]).

mod admin;
mod approval_asked;
mod approved;
mod delivery;
pub use delivery::WAITING_BEHIND;
mod fanout;
mod finalised;
mod moot;
mod new_signer;
mod reminders;
mod signer_named;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pricegate_domain::{Calendar, PriceChange, Role, impact_of, quote_total};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::entity::{notices, outbox, price_overrides, quotes, signer_letters, users};
use crate::gate::priced_lines;
use crate::notices::changes_to_read;
use crate::quotes::{DRAFT, load_lines};
use crate::views::PriceChangeView;
use crate::{Store, StoreError};

pub use admin::{OutboxMessageView, OutboxView, redact_ack_links};
pub(crate) use fanout::owe_publication_mail;
pub use fanout::{FANOUT_BATCH, FanoutClaim, FanoutStep};
pub(crate) use reminders::tried_and_not_sent;
pub use reminders::{REMIND_NOW_AGAIN_AFTER_MINUTES, Reminded, Undelivered};

/// How the reason in a row marked sent that was not e-mailed starts (see
/// [`Store::mark_mail_sent_as`]), as opposed to an earlier try's error.
pub const NOT_EMAILED: &str = "Not e-mailed: ";

/// Of the outbox's rows (in `table`, the outbox or an alias of it), those
/// that reached their person: sent, and not only written as a file by a
/// process without a mail server ([`NOT_EMAILED`]).
pub(crate) fn reached(table: impl sea_orm::sea_query::IntoIden + Clone) -> sea_orm::Condition {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let error = || Expr::col((table.clone(), outbox::Column::LastError));
    sea_orm::Condition::all()
        .add(Expr::col((table.clone(), outbox::Column::State)).eq(SENT))
        .add(sea_orm::Condition::any().add(error().is_null()).add(error().not_like(format!("{NOT_EMAILED}%"))))
}

/// Of the outbox's rows, those still going out or gone: not failed, not set
/// aside. A row either of those reached nobody, so it neither counts as a
/// reminder sent nor holds the next one back.
pub(crate) fn not_given_up() -> sea_orm::sea_query::SimpleExpr {
    outbox::Column::State.is_in([PENDING, SENT])
}

pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";
/// Not sent, and never will be: it no longer needed to go out when its turn
/// came (see `claim_due_mail`); `last_error` says why.
pub const SKIPPED: &str = "skipped";

/// The kinds of mail: a notice to a salesperson when it is published, a
/// reminder of it, and the escalation to finance after the last reminder.
/// Publications and reminders carry the recipient's ack link.
pub const PUBLICATION: &str = "publication";
pub const REMINDER: &str = "reminder";
pub const ESCALATION: &str = "escalation";
/// To a salesperson named the signer of someone else's draft.
pub const SIGNER: &str = "signer";
/// To a draft's signer and owner: finance approved keeping its old prices.
pub const APPROVAL: &str = "approval";
/// To finance: a salesperson asks it to approve keeping a draft's old prices.
pub const APPROVAL_ASKED: &str = "approval_request";
/// To the salespeople on a draft: finance declined that request.
pub const APPROVAL_DECLINED: &str = "approval_declined";
/// To the owner of a draft a colleague signs, when that colleague finalises it.
pub const FINALISED: &str = "finalised";
/// A link to choose a new password, asked for at the login page.
pub const PASSWORD_RESET: &str = "password_reset";
/// A link to choose a password, sent by an administrator: a new account's
/// invitation, or a way back in for someone who cannot log in.
pub const INVITATION: &str = "invitation";
/// To someone whose password was set by anyone but an invitation's first
/// choice: by themselves, with a link, or by an administrator.
pub const PASSWORD_CHANGED: &str = "password_changed";
/// To the address someone had before an administrator corrected it.
pub const ADDRESS_CHANGED: &str = "address_changed";
/// To someone an administrator moved to another role.
pub const ROLE_CHANGED: &str = "role_changed";

/// Every kind of mail the outbox holds.
pub const KINDS: [&str; 13] = [
    PUBLICATION,
    REMINDER,
    ESCALATION,
    SIGNER,
    APPROVAL,
    APPROVAL_ASKED,
    APPROVAL_DECLINED,
    FINALISED,
    PASSWORD_RESET,
    INVITATION,
    PASSWORD_CHANGED,
    ADDRESS_CHANGED,
    ROLE_CHANGED,
];

/// The kinds of mail for the address they were written to, whatever their
/// person's address is later: a correction does not move them, nor does
/// sending one again. Every other e-mail follows its person.
pub(crate) const KEPT_AT_ITS_ADDRESS: &[&str] = &[ADDRESS_CHANGED];

/// Takes the row locks of the outbox rows `picked` chooses, in the order of
/// their ids, ahead of a statement (or several, in one transaction) that
/// changes more than one of them; returns their ids, to which the caller
/// narrows its statements (a row that came to match since is not taken
/// there, out of order). A single UPDATE takes its rows in whatever order
/// its plan finds them: two such statements, each holding one row the
/// other wants next, would deadlock (PostgreSQL ends one with an error);
/// taken in one order, one waits for the other instead. The lock is the
/// one such an UPDATE takes (`FOR NO KEY UPDATE`), which a read `FOR KEY
/// SHARE` does not wait for. `None` on SQLite, whose write transactions
/// exclude each other: nothing to take.
pub(crate) async fn lock_in_id_order(
    conn: &impl ConnectionTrait,
    picked: Condition,
) -> Result<Option<Vec<Uuid>>, StoreError> {
    use sea_orm::QuerySelect;
    use sea_orm::sea_query::LockType;
    if conn.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(None);
    }
    let ids = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Id)
        .filter(picked)
        .order_by_asc(outbox::Column::Id)
        .lock(LockType::NoKeyUpdate)
        .into_tuple::<Uuid>()
        .all(conn)
        .await?;
    Ok(Some(ids))
}

/// [`lock_in_id_order`] for the e-mails still to go to `user`, before a
/// correction of their name or address readdresses them.
pub(crate) async fn lock_mail_to_go(conn: &impl ConnectionTrait, user: Uuid) -> Result<Option<Vec<Uuid>>, StoreError> {
    let picked = Condition::all().add(outbox::Column::UserId.eq(user)).add(outbox::Column::State.eq(PENDING));
    lock_in_id_order(conn, picked).await
}

/// Applies `update` to the outbox rows `picked` chooses, in the caller's
/// transaction, once [`lock_in_id_order`] has taken them. Returns how many
/// rows changed.
pub(crate) async fn update_in_id_order(
    conn: &impl ConnectionTrait,
    picked: Condition,
    update: impl Fn() -> sea_orm::UpdateMany<outbox::Entity>,
) -> Result<u64, StoreError> {
    let Some(locked) = lock_in_id_order(conn, picked.clone()).await? else {
        return Ok(update().filter(picked).exec(conn).await?.rows_affected);
    };
    let mut changed = 0;
    for chunk in locked.chunks(CHUNK) {
        let update = update().filter(picked.clone()).filter(outbox::Column::Id.is_in(chunk.iter().copied()));
        changed += update.exec(conn).await?.rows_affected;
    }
    Ok(changed)
}

/// Sets the rows it is given aside unsent (`skipped`), for `reason`.
pub(crate) fn set_aside(reason: &'static str) -> sea_orm::UpdateMany<outbox::Entity> {
    use sea_orm::sea_query::Expr;
    outbox::Entity::update_many()
        .col_expr(outbox::Column::State, Expr::value(SKIPPED))
        .col_expr(outbox::Column::LastError, Expr::value(reason))
}

/// Rows per INSERT: far below SQLite's and PostgreSQL's bind-parameter limits.
const CHUNK: usize = 400;

/// `ids`, to narrow a query to them; `None` (everyone) when there are too
/// many for one statement's parameters.
fn if_few(ids: Vec<Uuid>) -> Option<Vec<Uuid>> {
    (ids.len() <= CHUNK).then_some(ids)
}

/// A published notice as a letter shows it.
#[derive(Debug, Clone)]
pub struct NoticeContent {
    pub id: Uuid,
    pub title: String,
    /// Markdown, as finance wrote it.
    pub body: String,
    pub published_at: DateTime<Utc>,
    pub changes: Vec<PriceChangeView>,
    /// Who published it, by name: whom a reader with a question about it
    /// asks. Empty when not known.
    pub published_by: String,
    /// Their e-mail address, where replies to its e-mails go.
    pub reply_to: Option<String>,
}

/// An open quote drafted before the notice: the gate blocks it until its
/// signer acknowledges.
#[derive(Debug, Clone)]
pub struct BlockedQuote {
    pub id: Uuid,
    /// The quote's page, where its signer acknowledges and finalises.
    pub url: String,
    pub customer_name: String,
    pub customer_company: String,
    pub currency: String,
    pub total_minor: i64,
    /// How much the notice's changes move the quote's total while it is
    /// valid (each line at the last of its prices in force by `valid_until`).
    pub delta_minor: i64,
    /// How much more its prices dated after `valid_until` would move it,
    /// were the quote's validity extended past them.
    pub delta_after_minor: i64,
    /// What is still to come of the notice's changes to its total while it
    /// is valid (see [`pricegate_domain::pricing::ChangesAhead`]).
    pub changes_ahead: Option<pricegate_domain::pricing::ChangesAhead>,
    pub valid_until: chrono::NaiveDate,
    /// `valid_until`, when it has passed: the quote is finalised at no price
    /// until its owner extends it, so there is no change while valid to tell.
    pub expired_on: Option<chrono::NaiveDate>,
    /// The SKUs on it that the notice prices, whose price in force today is
    /// another, later notice's: the notice's change to them counts nothing.
    pub overtaken: Vec<String>,
    /// The SKUs on it that the notice prices, whose price finance approved
    /// keeping: the notice's change to them counts nothing either.
    pub approved: Vec<String>,
    /// The SKUs on it that the notice prices other than at the price it
    /// carries, each once, in the order of its lines: the changes a long
    /// notice's e-mail lists for its reader.
    pub priced: Vec<String>,
}

impl BlockedQuote {
    /// Whether the notice moves its total, while it is valid, after, or for
    /// a while (a change undone while it is valid moves it meanwhile), or,
    /// to come, its prices (lines offsetting one another). A draft it only
    /// restates a price of, or prices only lines it no longer counts, it
    /// does not change ([`pricegate_domain::pricing::changes_draft`]).
    /// Wherever a person's drafts a notice holds up are listed, those it
    /// changes come first.
    pub fn changed_by_it(&self) -> bool {
        pricegate_domain::pricing::changes_draft(self.delta_minor, self.delta_after_minor, self.changes_ahead.as_ref())
    }
}

#[derive(Debug, Clone)]
pub struct Recipient {
    /// The user the letter is for.
    pub id: Uuid,
    pub name: String,
    pub email: String,
}

/// A salesperson who has not acknowledged, as the escalation names them.
#[derive(Debug, Clone)]
pub struct PendingPerson {
    pub name: String,
    pub email: String,
    pub quotes: Vec<BlockedQuote>,
}

/// Why a notice's e-mail goes to its reader when it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    /// At its publication, with every salesperson.
    AtPublication,
    /// Later, on taking over drafts it holds up (a hand-over, or named
    /// their signer).
    TookOver,
    /// Later, on being able to sign again (reactivated, or back in sales)
    /// with drafts it holds up: it was published while they could not.
    Returned,
    /// Later, on being able to sign again, about a notice they were mailed
    /// before whose reminders ran out (escalated to finance) meanwhile: it
    /// still waits for them, and reminders follow again.
    Back,
    /// Later, about a notice whose e-mail to them was set aside, on being
    /// able to sign again: they could no longer sign when its turn came.
    Missed,
}

/// What one e-mail says, before it is rendered.
#[derive(Debug)]
pub enum Letter<'a> {
    Publication {
        notice: &'a NoticeContent,
        to: &'a Recipient,
        quotes: &'a [BlockedQuote],
        ack_url: &'a str,
        /// When and why the reader is told (see `Store::tell_new_signer`).
        told: Told,
    },
    Reminder {
        notice: &'a NoticeContent,
        to: &'a Recipient,
        quotes: &'a [BlockedQuote],
        ack_url: &'a str,
        /// The page of every notice awaiting the reader (`/notices/awaiting`),
        /// for those who have let several wait.
        awaiting_url: &'a str,
        number: usize,
        of: usize,
    },
    Escalation {
        notice: &'a NoticeContent,
        to: &'a Recipient,
        pending: &'a [PendingPerson],
        /// Signers who can no longer sign (deactivated, or out of sales) of
        /// drafts it holds up, their names saying why: nobody is chased for
        /// those, and they need another signer.
        stranded: &'a [PendingPerson],
        /// Those `pending` were told of the notice after its publication, on
        /// a schedule of their own (see `Store::tell_new_signer`): they are
        /// not everyone its dashboard lists as pending.
        told_later: bool,
        /// The notice's dashboard, where finance sees who is pending and reminds them.
        dashboard_url: &'a str,
    },
    /// Finance (`by`) approved keeping a draft's old prices, for `reason`:
    /// told to its signer and to its owner (`signer` says which, and who
    /// signs it); `expired` when its validity has ended.
    PricesApproved {
        to: &'a Recipient,
        by: &'a str,
        reason: &'a str,
        quote: &'a SignedQuote,
        /// The lines at an old price it keeps so.
        lines: &'a [crate::views::SupersededLineView],
        signer: ApprovedFor<'a>,
        expired: bool,
    },
    /// A draft's owner or signer (`by`) asks finance (`to`) to approve
    /// keeping `lines`, at an old price, for `reason`.
    ApprovalAsked {
        to: &'a Recipient,
        by: &'a str,
        reason: &'a str,
        quote: &'a SignedQuote,
        lines: &'a [crate::views::SupersededLineView],
        /// On a reminder of the request still waiting, when it was asked.
        asked_at: Option<&'a str>,
        /// On a reminder sent by someone on the draft other than who asked: who.
        reminded_by: Option<&'a str>,
        /// The request asked before this one about the quote, when finance
        /// declined it: finance reads why, not the same request again.
        declined: Option<&'a EarlierDecline>,
        /// The draft's owner and signer, by name (the same one, often).
        on_draft: (&'a str, &'a str),
    },
    /// Finance (`by`) declined the request to approve a draft's old
    /// prices, for `reason`: told to whoever asked, and to the draft's owner
    /// and signer (`asked_by` names who asked, to those who did not).
    ApprovalDeclined {
        to: &'a Recipient,
        by: &'a str,
        reason: &'a str,
        quote: &'a SignedQuote,
        asked_by: Option<&'a str>,
    },
    /// `by`, the signer of a draft `to` owns, finalised it at `at` (as
    /// people read it), its evidence keeping `notices` acknowledged notices;
    /// `approved` when finance approved keeping old prices on it.
    QuoteFinalised {
        to: &'a Recipient,
        by: &'a str,
        quote: &'a SignedQuote,
        at: &'a str,
        notices: usize,
        /// Finance's approval of old prices it was finalised with, if any.
        approved: Option<OldPricesKept<'a>>,
    },
    /// Someone drafting or editing a quote (`by`) names another salesperson
    /// its signer: only they can finalise it. `first_password_url` while
    /// they have yet to choose a password (see [`first_password_url`]).
    SignerNamed { to: &'a Recipient, by: &'a str, quote: &'a SignedQuote, first_password_url: Option<&'a str> },
    /// An admin (`by`) hands someone's open drafts (`from`'s) to `to`: each
    /// with `to`'s part in it (owns, signs, or both) and who signs it.
    /// `awaiting_url` is the page of every notice awaiting `to`;
    /// `first_password_url` as for [`Letter::SignerNamed`].
    QuotesHandedOver {
        to: &'a Recipient,
        by: &'a str,
        from: &'a str,
        quotes: &'a [HandedQuote],
        awaiting_url: &'a str,
        first_password_url: Option<&'a str>,
    },
    /// Someone editing a quote (`by`) named another signer, `signer`, in
    /// place of `to`, who was told they signed it (`None`: `by` named
    /// themselves). Said as what happened then: another change may follow
    /// before this goes out.
    SignerReleased { to: &'a Recipient, by: &'a str, signer: Option<&'a str>, quote: &'a SignedQuote },
    /// The same hand-over, told to the salesperson whose drafts went to
    /// `taker`, while they can still log in.
    QuotesHandedAway { to: &'a Recipient, by: &'a str, taker: &'a str, quotes: &'a [HandedQuote] },
    /// The same hand-over, told to `to`, who owns `quotes` and still does:
    /// `from` signed them, and `taker` now does.
    SignerHandedOver { to: &'a Recipient, by: &'a str, from: &'a str, taker: &'a str, quotes: &'a [HandedQuote] },
    /// An administrator (`by`) deactivated `signer`, or moved them out of
    /// sales (`deactivated` is false), and `to` owns `quotes`, which they
    /// signed: nobody can finalise those until `to` names another signer.
    /// With `back`, the other way: `to`, told so before, learns that
    /// `signer` can sign again (reactivated, or back in sales), and the
    /// `quotes` they still sign can be finalised by them once more.
    SignerGone {
        to: &'a Recipient,
        by: &'a str,
        signer: &'a str,
        deactivated: bool,
        back: bool,
        quotes: &'a [SignedQuote],
    },
    /// A link for `to` to choose a password with, working for `works_for`
    /// after the e-mail is sent: one they asked for at the login page
    /// (`invited_by` is `None`), or one an administrator sent them;
    /// `new_account` while they have yet to choose their first, which
    /// says what `role` they have.
    PasswordLink {
        to: &'a Recipient,
        link: &'a str,
        invited_by: Option<&'a str>,
        new_account: bool,
        role: Role,
        works_for: chrono::Duration,
    },
    /// `to`'s account changed (`change`) at `at`, by an administrator
    /// (`by`) or, with `None`, by themselves: whoever did not do it learns
    /// of it, and what to do. `forgot_url` is where a new password is asked for.
    AccountChanged {
        to: &'a Recipient,
        change: AccountChange,
        by: Option<&'a str>,
        at: DateTime<Utc>,
        forgot_url: &'a str,
    },
}

/// What changed on an account, as [`Letter::AccountChanged`] tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    /// Its password: with a link e-mailed to it (`by_link`), else at its
    /// own settings or by an administrator.
    Password { by_link: bool },
    /// Its e-mail address, told to the address it had.
    Address,
    /// Its role, `from` the one it had `to` the one it has; `drafts`: how
    /// many open drafts they own or sign, no longer theirs to edit or
    /// finalise (moved out of sales; none otherwise).
    Role { from: Role, to: Role, drafts: u64 },
}

/// A draft in a hand-over's letters, with the taker's part in it.
#[derive(Debug, Clone)]
pub struct HandedQuote {
    pub quote: SignedQuote,
    /// The taker now owns it.
    pub taker_owns: bool,
    /// The taker now signs it; else `signer`, a colleague, does.
    pub taker_signs: bool,
    /// Who signs it now, by name.
    pub signer: String,
    /// Why that signer can no longer sign it (`deactivated`, `now in
    /// finance`), when they cannot: its owner must choose another.
    pub signer_gone: Option<String>,
}

/// Whom an approval of old prices is told to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovedFor<'a> {
    /// The quote's signer, who finalises it.
    Signer,
    /// Its owner; `signer` signs it.
    Owner { signer: &'a str },
    /// Its owner; `signer` can no longer sign it (deactivated, or out of
    /// sales), so the owner must choose another signer.
    OwnerWithoutSigner { signer: &'a str },
}

/// Finance's approval a quote was finalised with: who approved keeping the
/// old prices of which products.
#[derive(Debug, Clone, Copy)]
pub struct OldPricesKept<'a> {
    /// Their name; empty when not known.
    pub by: &'a str,
    /// The products, each once, in the order of the quote's lines; empty
    /// for an approval recorded before it kept them.
    pub skus: &'a [String],
}

/// Finance's answer to an earlier request about the same draft, declined
/// (see [`Letter::ApprovalAsked`]).
#[derive(Debug, Clone)]
pub struct EarlierDecline {
    /// Who in finance declined it.
    pub by: String,
    pub by_id: Uuid,
    /// When, as people read it.
    pub at: String,
    pub reason: String,
}

/// A draft as the e-mail to its newly named signer shows it.
#[derive(Debug, Clone)]
pub struct SignedQuote {
    pub id: Uuid,
    /// The quote's page, where its signer finalises it.
    pub url: String,
    pub customer_name: String,
    pub customer_company: String,
    pub currency: String,
    pub total_minor: i64,
    pub valid_until: chrono::NaiveDate,
    /// How many published notices its signer must still acknowledge before
    /// it can be finalised, as the e-mail is written.
    pub to_acknowledge: u64,
}

impl Letter<'_> {
    /// The notice a letter is about, if it is about one.
    pub fn notice(&self) -> Option<&NoticeContent> {
        match self {
            Letter::Publication { notice, .. }
            | Letter::Reminder { notice, .. }
            | Letter::Escalation { notice, .. } => Some(notice),
            Letter::SignerNamed { .. }
            | Letter::ApprovalAsked { .. }
            | Letter::ApprovalDeclined { .. }
            | Letter::PricesApproved { .. }
            | Letter::QuoteFinalised { .. }
            | Letter::SignerReleased { .. }
            | Letter::QuotesHandedOver { .. }
            | Letter::QuotesHandedAway { .. }
            | Letter::SignerHandedOver { .. }
            | Letter::SignerGone { .. }
            | Letter::PasswordLink { .. }
            | Letter::AccountChanged { .. } => None,
        }
    }

    /// What a letter tells its recipient of signing each draft it names:
    /// the draft, and whether they sign it. A leaver signs none of the
    /// drafts handed away; a taker, those `taker_signs` marks; an owner,
    /// none of those a hand-over gave a new signer.
    pub fn signing(&self) -> Vec<(Uuid, bool)> {
        match self {
            Letter::SignerNamed { quote, .. } => vec![(quote.id, true)],
            Letter::SignerReleased { quote, .. } => vec![(quote.id, false)],
            Letter::QuotesHandedOver { quotes, .. } => quotes.iter().map(|q| (q.quote.id, q.taker_signs)).collect(),
            Letter::QuotesHandedAway { quotes, .. } => quotes.iter().map(|q| (q.quote.id, false)).collect(),
            // An owner is told someone else signs their drafts (which also
            // lets the letter be set aside once none of them is so).
            Letter::SignerHandedOver { quotes, .. } => quotes.iter().map(|q| (q.quote.id, false)).collect(),
            // The same for an owner told their drafts' signer can no longer sign.
            Letter::SignerGone { quotes, .. } => quotes.iter().map(|q| (q.id, false)).collect(),
            Letter::Publication { .. }
            | Letter::Reminder { .. }
            | Letter::Escalation { .. }
            | Letter::PricesApproved { .. }
            | Letter::ApprovalAsked { .. }
            | Letter::ApprovalDeclined { .. }
            | Letter::QuoteFinalised { .. }
            | Letter::PasswordLink { .. }
            | Letter::AccountChanged { .. } => vec![],
        }
    }
}

/// A rendered message: subject, plain text and HTML.
#[derive(Debug, Clone)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders letters; implemented by the mail crate.
pub trait Composer: Send + Sync + 'static {
    fn compose(&self, letter: &Letter<'_>) -> Result<Composed, String>;
}

/// Everything the store needs to write mail.
pub struct MailSetup {
    pub composer: Arc<dyn Composer>,
    /// Where people reach the server, no trailing slash: ack links start here.
    pub base_url: String,
    pub ack_link_ttl: chrono::Duration,
    /// The right-hand side of every Message-ID.
    pub message_id_domain: String,
}

impl std::fmt::Debug for MailSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSetup").field("base_url", &self.base_url).field("ack_link_ttl", &self.ack_link_ttl).finish()
    }
}

/// Stands in an outbox body for the token of the recipient's ack link.
pub const ACK_TOKEN_SLOT: &str = "{ack-token}";

/// Dedupe keys of the letters that carry an ack link: they name the
/// (notice, user) the link acknowledges for.
fn publication_key(notice_id: Uuid, user_id: Uuid) -> String {
    format!("publish:{notice_id}:{user_id}")
}

/// The Message-ID of the e-mail that first tells `user_id` of a notice (its
/// [`publication_key`] row), which every later e-mail to them about it
/// refers to (see [`thread_of`]).
fn notice_thread(notice_id: Uuid, user_id: Uuid, domain: &str) -> String {
    format!("<notice.{}.{}@{domain}>", notice_id.simple(), user_id.simple())
}

/// The e-mail a reminder, or a notice's e-mail sent again on taking over
/// drafts, follows: the first one to its reader about its notice, for mail
/// programs to show them as one conversation (`In-Reply-To`, `References`).
/// Likewise a reminder to someone in finance of a request for approval
/// follows the request's first e-mail to them. `None` for those first
/// e-mails themselves and for any other letter.
pub fn thread_of(row: &outbox::Model) -> Option<String> {
    let user_id = row.user_id?;
    let domain = row.message_id.rsplit_once('@')?.1.strip_suffix('>')?;
    let first = if row.kind == REMINDER || row.kind == PUBLICATION {
        notice_thread(row.notice_id?, user_id, domain)
    } else if row.kind == APPROVAL_ASKED && approval_asked::reminds(&row.dedupe_key) {
        approval_asked::approval_thread(approval_asked::asked_about(row)?.1, user_id, domain)
    } else {
        return None;
    };
    (first != row.message_id).then_some(first)
}

/// Builds outbox rows, then writes them in bulk.
struct Batch<'a> {
    setup: &'a MailSetup,
    now: DateTime<Utc>,
    rows: Vec<outbox::ActiveModel>,
    /// What the rows' letters tell their recipients of signing drafts.
    letters: Vec<signer_letters::ActiveModel>,
    /// Stands for the slot in the ack link while a letter is composed: random,
    /// so nothing else in the letter can spell it (see [`seal`]).
    link_marker: String,
    /// Set on e-mails to people told of a notice after its publication
    /// (see `Store::tell_new_signer`): their reminders count from then, not
    /// from the publication. Applies to the rows pushed while it is set.
    reminders_from: Option<DateTime<Utc>>,
    /// The address a reply to the batch's letters about a colleague's act
    /// goes to: that colleague's ([`Batch::replying_to`]).
    reply_to: Option<String>,
}

impl<'a> Batch<'a> {
    fn new(setup: &'a MailSetup, now: DateTime<Utc>) -> Self {
        let link_marker = format!("{{ack-link-{}}}", Uuid::new_v4().simple());
        Batch { setup, now, rows: vec![], letters: vec![], link_marker, reminders_from: None, reply_to: None }
    }

    /// The batch's letters tell of what `colleague` did (asked, approved,
    /// declined, finalised, named a signer, handed quotes over): a reply
    /// to one goes to them, not to Pricegate's sending address.
    /// (Not to a deactivated account's address: nobody reads it for them.)
    fn replying_to(self, colleague: &users::Model) -> Self {
        Batch { reply_to: colleague.active.then(|| colleague.email.clone()), ..self }
    }

    /// The recipient's ack link as a letter is composed with it; in the
    /// outbox row its token is [`ACK_TOKEN_SLOT`] (see the module doc).
    fn ack_link(&self) -> String {
        format!("{}/ack/{}", self.setup.base_url, self.link_marker)
    }

    /// The recipient's link to choose a password, filled as the ack link is.
    fn password_link(&self) -> String {
        format!("{}/password/{}", self.setup.base_url, self.link_marker)
    }

    /// Composes `letter` into an outbox row of `kind` to `to`, about the
    /// letter's notice if any, with what it tells them of signing drafts.
    fn push(
        &mut self,
        kind: &'static str,
        dedupe_key: String,
        to: &Recipient,
        letter: &Letter<'_>,
    ) -> Result<(), StoreError> {
        let composed =
            self.setup.composer.compose(letter).map_err(|e| StoreError::Internal(format!("composing mail: {e}")))?;
        let id = Uuid::new_v4();
        let domain = &self.setup.message_id_domain;
        // The first e-mail to the reader about a notice, or about a request
        // for approval, has the Message-ID the later ones follow.
        let message_id = match letter.notice() {
            Some(notice) if kind == PUBLICATION && dedupe_key == publication_key(notice.id, to.id) => {
                notice_thread(notice.id, to.id, domain)
            }
            _ => match approval_asked::first_asked(kind, &dedupe_key) {
                Some(request) => approval_asked::approval_thread(request, to.id, domain),
                None => format!("<{}@{domain}>", id.simple()),
            },
        };
        self.rows.push(outbox::ActiveModel {
            id: Set(id),
            dedupe_key: Set(dedupe_key),
            kind: Set(kind.to_owned()),
            to_addr: Set(to.email.clone()),
            to_name: Set(to.name.clone()),
            subject: Set(composed.subject),
            text_body: Set(seal(&composed.text, &self.link_marker)),
            html_body: Set(seal(&composed.html, &self.link_marker)),
            message_id: Set(message_id),
            state: Set(PENDING.into()),
            attempts: Set(0),
            next_attempt_at: Set(self.now),
            last_error: Set(None),
            created_at: Set(self.now),
            sent_at: Set(None),
            notice_id: Set(letter.notice().map(|n| n.id)),
            user_id: Set(Some(to.id)),
            reminders_from: Set(self.reminders_from),
            // The publisher answers questions about their notice; the
            // escalation, to finance, is about who has not acknowledged.
            reply_to: Set(match letter {
                Letter::Publication { notice, .. } | Letter::Reminder { notice, .. } => notice.reply_to.clone(),
                Letter::Escalation { .. } => None,
                _ => self.reply_to.clone(),
            }),
        });
        self.letters.extend(letter.signing().into_iter().map(|(quote, signs)| signer_letters::ActiveModel {
            outbox_id: Set(id),
            quote_id: Set(quote),
            user_id: Set(to.id),
            signs: Set(signs),
        }));
        Ok(())
    }

    /// Marks the row pushed last as waiting behind an earlier e-mail to its
    /// person about its notice, not sent yet ([`WAITING_BEHIND`]), as a
    /// claim would mark it.
    fn mark_waiting_behind(&mut self) {
        if let Some(row) = self.rows.last_mut() {
            waiting_behind(row);
        }
    }

    /// Inserts everything; a row whose dedupe key exists is skipped, so
    /// enqueueing the same logical e-mail twice (two workers, a restart) is
    /// harmless, and not counted. (Its letters stay, naming no row: readers
    /// join the outbox.)
    async fn write(self, conn: &impl ConnectionTrait) -> Result<usize, StoreError> {
        let mut letters = self.letters.into_iter().peekable();
        let written = Self::write_rows(self.rows, conn).await?;
        while letters.peek().is_some() {
            let chunk: Vec<_> = letters.by_ref().take(CHUNK).collect();
            signer_letters::Entity::insert_many(chunk).exec_without_returning(conn).await?;
        }
        Ok(written)
    }

    /// How many rows were written: those another worker wrote first are not.
    async fn write_rows(rows: Vec<outbox::ActiveModel>, conn: &impl ConnectionTrait) -> Result<usize, StoreError> {
        let mut written = 0u64;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
            written += outbox::Entity::insert_many(chunk)
                .on_conflict(OnConflict::column(outbox::Column::DedupeKey).do_nothing().to_owned())
                .exec_without_returning(conn)
                .await?;
        }
        Ok(usize::try_from(written).unwrap_or(usize::MAX))
    }
}

/// Marks `row` as waiting behind an earlier e-mail to its person about its
/// notice, not sent yet ([`WAITING_BEHIND`]), as a claim would mark it.
fn waiting_behind(row: &mut outbox::ActiveModel) {
    row.last_error = Set(Some(WAITING_BEHIND.to_owned()));
}

/// A rendered letter with its one real slot in place: every
/// [`ACK_TOKEN_SLOT`] already in it is broken by a zero-width space (it looks
/// the same, but the worker fills only real slots), then `marker`, which
/// stood for the slot in the letter's own ack link, becomes the slot. Words
/// that reach a letter (a notice's title or Markdown, which the renderer may
/// turn into the slot from escapes or entities, a customer's name) thus
/// never carry the reader's live token in a link of their own to any site.
fn seal(rendered: &str, marker: &str) -> String {
    rendered.replace(ACK_TOKEN_SLOT, "{ack-\u{200B}token}").replace(marker, ACK_TOKEN_SLOT)
}

async fn notice_content(
    conn: &impl ConnectionTrait,
    notice: &notices::Model,
    calendar: Calendar,
) -> Result<NoticeContent, StoreError> {
    let Publisher { name, email } = publisher_of(conn, notice).await?;
    Ok(NoticeContent {
        id: notice.id,
        title: notice.title.clone(),
        body: notice.body.clone(),
        published_at: notice.published_at.unwrap_or_default(),
        changes: changes_to_read(conn, notice, calendar).await?,
        published_by: name,
        reply_to: email,
    })
}

/// Who published a notice: [`NoticeContent::published_by`] and
/// [`NoticeContent::reply_to`].
pub(crate) struct Publisher {
    /// Empty when not known.
    pub name: String,
    /// Their address while their account is active: a reply to someone
    /// who has left would reach nobody who answers.
    pub email: Option<String>,
}

/// Who published `notice`; no one, by name or address, if that is not known.
pub(crate) async fn publisher_of(
    conn: &impl ConnectionTrait,
    notice: &notices::Model,
) -> Result<Publisher, StoreError> {
    use sea_orm::QuerySelect;
    let publisher: Option<(String, String, bool)> = match notice.published_by {
        Some(id) => {
            users::Entity::find_by_id(id)
                .select_only()
                .column(users::Column::Name)
                .column(users::Column::Email)
                .column(users::Column::Active)
                .into_tuple()
                .one(conn)
                .await?
        }
        None => None,
    };
    Ok(match publisher {
        Some((name, email, active)) => Publisher { name, email: active.then_some(email) },
        None => Publisher { name: String::new(), email: None },
    })
}

async fn active_with_role(conn: &impl ConnectionTrait, role: Role) -> Result<Vec<users::Model>, StoreError> {
    Ok(users::Entity::find()
        .filter(users::Column::Role.eq(role.as_str()))
        .filter(users::Column::Active.eq(true))
        .order_by_asc(users::Column::Email)
        .all(conn)
        .await?)
}

/// Each signer's open quotes drafted before the notice, with what the notice
/// does to their totals: the quotes the gate now blocks, those it changes
/// first ([`BlockedQuote::changed_by_it`]). Only those of `signers`, when given. Their pages are under `base_url`; a quote whose
/// validity ended before today (the business's day by `calendar` at `now`,
/// the database's clock, as the gate reads it) is marked expired.
async fn blocked_quotes(
    conn: &impl ConnectionTrait,
    base_url: &str,
    notice: &NoticeContent,
    signers: Option<&[Uuid]>,
    calendar: Calendar,
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, Vec<BlockedQuote>>, StoreError> {
    let today = calendar.date_of(now);
    let published_on = calendar.date_of(notice.published_at);
    let mut query = quotes::Entity::find()
        .filter(quotes::Column::State.eq(DRAFT))
        .filter(quotes::Column::DraftedAt.lt(notice.published_at));
    if let Some(signers) = signers {
        query = query.filter(quotes::Column::SignerId.is_in(signers.iter().copied()));
    }
    let mut approvals = latest_approvals(conn, query.clone()).await?;
    let open = query.order_by_asc(quotes::Column::DraftedAt).order_by_asc(quotes::Column::Id).all(conn).await?;
    let ids: Vec<Uuid> = open.iter().map(|q| q.id).collect();
    let mut lines = load_lines(conn, &ids).await?;
    let changes: Vec<PriceChange> = notice.changes.iter().map(PriceChange::from).collect();
    // The prices in force today of the products the notice prices on these
    // quotes, by sku: one a later notice replaced by today counts nothing.
    let mut product_of: HashMap<String, Uuid> = HashMap::new();
    for line in lines.values().flatten().filter(|l| changes.iter().any(|c| c.sku == l.sku)) {
        product_of.insert(line.sku.clone(), line.product_id);
    }
    let products: Vec<Uuid> = product_of.values().copied().collect();
    // Read with them, those of the drafts finance approved old prices on
    // (few have one), to tell which lines the approval still waives.
    let mut priced: Vec<Uuid> = products.clone();
    priced.extend(
        open.iter()
            .filter(|q| approvals.contains_key(&q.id))
            .flat_map(|q| lines.get(&q.id).into_iter().flatten())
            .map(|l| l.product_id),
    );
    priced.sort_unstable();
    priced.dedup();
    let prices = if priced.is_empty() {
        HashMap::new()
    } else {
        crate::products::prices_in_force(conn, Some(&priced), today).await?
    };
    // The lines each draft's latest approval still waives, as the gate reads them.
    let mut approved = std::collections::HashSet::new();
    for quote in &open {
        let Some(approval) = approvals.remove(&quote.id) else { continue };
        let quote_lines = lines.get(&quote.id).map(Vec::as_slice).unwrap_or_default();
        let superseded = crate::gate::superseded_of(quote_lines, |product| prices.get(&product).map(|p| p.price));
        if crate::gate::covering_covers(&approval, quote, &superseded)?.is_some() {
            approved.extend(superseded.iter().map(|l| l.line_id));
        }
    }
    let in_force = |sku: &str| product_of.get(sku).and_then(|id| prices.get(id)).map(|p| p.price);
    // The last word on each day ahead the notice prices these products on:
    // a correction published since may set another price for it.
    let product = |sku: &str| product_of.get(sku).copied();
    let last_words = crate::products::last_words_ahead(conn, notice.published_at, today, &changes, product).await?;
    let scheduled = |sku: &str, on| last_words.on(sku, on);
    let mut by_signer: HashMap<Uuid, Vec<BlockedQuote>> = HashMap::new();
    for q in open {
        let priced = priced_lines(&lines.remove(&q.id).unwrap_or_default());
        let impact = impact_of(&priced, &changes)
            .overtaken(today, in_force)
            .overtaken_later(today, scheduled)
            .waived(today, |line| approved.contains(&line));
        let delta_minor = impact.delta_while_valid(q.valid_until, published_on);
        by_signer.entry(q.signer_id).or_default().push(BlockedQuote {
            id: q.id,
            url: format!("{base_url}/quotes/{}", q.id),
            customer_name: q.customer_name,
            customer_company: q.customer_company,
            currency: q.currency,
            total_minor: quote_total(&priced).unwrap_or(i64::MAX),
            delta_minor,
            delta_after_minor: impact.total_delta_minor.saturating_sub(delta_minor),
            changes_ahead: pricegate_domain::pricing::ChangesAhead::of(
                &impact.change_days(q.valid_until, published_on),
                today,
            ),
            valid_until: q.valid_until,
            expired_on: (q.valid_until < today).then_some(q.valid_until),
            overtaken: impact.lines.iter().filter(|l| !l.waived && !l.counts()).map(|l| l.sku.clone()).collect(),
            approved: impact.lines.iter().filter(|l| l.waived).map(|l| l.sku.clone()).collect(),
            // Not a line whose price it only restates, on any of its days.
            priced: each_once(
                impact
                    .lines
                    .iter()
                    .filter(|l| {
                        let other = |price| price != l.old_unit_price_minor;
                        other(l.new_unit_price_minor) || l.earlier.iter().any(|s| other(s.unit_price_minor))
                    })
                    .map(|l| &l.sku),
            ),
        });
    }
    // Those the notice changes first, each part in drafting order.
    for quotes in by_signer.values_mut() {
        quotes.sort_by_key(|q| !q.changed_by_it());
    }
    Ok(by_signer)
}

/// `skus`, each once, in their order.
fn each_once<'a>(skus: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    skus.into_iter().fold(Vec::new(), |mut once, sku| {
        if !once.contains(sku) {
            once.push(sku.clone());
        }
        once
    })
}

/// The latest approval of old prices of each of the quotes `query` finds
/// (few have one), by quote.
async fn latest_approvals(
    conn: &impl ConnectionTrait,
    query: sea_orm::Select<quotes::Entity>,
) -> Result<HashMap<Uuid, price_overrides::Model>, StoreError> {
    use sea_orm::{QuerySelect, QueryTrait};
    let ids = query.select_only().column(quotes::Column::Id).into_query();
    let approvals = price_overrides::Entity::find()
        .filter(price_overrides::Column::QuoteId.in_subquery(ids))
        .order_by_asc(price_overrides::Column::CreatedAt)
        .order_by_asc(price_overrides::Column::Id)
        .all(conn)
        .await?;
    // The later of a quote's replaces the earlier, in the order the gate
    // reads the latest (see `gate::overrides::latest_override`).
    Ok(approvals.into_iter().map(|o| (o.quote_id, o)).collect())
}

/// Where a link to choose a password is asked for, by e-mail address.
fn forgot_url(setup: &MailSetup) -> String {
    format!("{}/login/forgot", setup.base_url)
}

/// For a letter whose links lead into Pricegate, sent to `to` while they
/// have yet to choose their first password (invited, the link not used):
/// where they can ask for one, should the invitation be lost or its link
/// have ended. Their links open nothing until they have a password.
pub(crate) fn first_password_url(setup: &MailSetup, to: &users::Model) -> Option<String> {
    to.invited_at.is_some().then(|| forgot_url(setup))
}

pub(crate) fn recipient(u: &users::Model) -> Recipient {
    Recipient { id: u.id, name: u.name.clone(), email: u.email.clone() }
}

/// Writes the e-mail that carries `to`'s link to choose a password: an
/// invitation when an administrator (`invited_by`) sends it, with their new
/// account or later, else the reset they asked for. Its token is minted when
/// it is sent, as an ack link's is ([`Store::mint_ack_links`]).
pub(crate) async fn owe_password_mail(
    conn: &impl ConnectionTrait,
    setup: &MailSetup,
    now: DateTime<Utc>,
    to: &users::Model,
    invited_by: Option<&str>,
    new_account: bool,
) -> Result<(), StoreError> {
    let kind = if invited_by.is_some() { INVITATION } else { PASSWORD_RESET };
    let mut batch = Batch::new(setup, now);
    let link = batch.password_link();
    let recipient = recipient(to);
    let works_for = crate::password_links::lifetime(kind);
    let role = Role::parse(&to.role)?;
    let letter = Letter::PasswordLink { to: &recipient, link: &link, invited_by, new_account, role, works_for };
    batch.push(kind, format!("{kind}:{}:{}", to.id, now.timestamp_micros()), &recipient, &letter)?;
    batch.write(conn).await?;
    Ok(())
}

/// Writes the e-mail telling `to` (at the address they had, for an
/// [`AccountChange::Address`]) that their account changed at `now`, by the
/// administrator `by` or by themselves.
pub(crate) async fn owe_account_mail(
    conn: &impl ConnectionTrait,
    setup: &MailSetup,
    now: DateTime<Utc>,
    to: &Recipient,
    change: AccountChange,
    by: Option<&str>,
) -> Result<(), StoreError> {
    let kind = match change {
        AccountChange::Password { .. } => PASSWORD_CHANGED,
        AccountChange::Address => ADDRESS_CHANGED,
        AccountChange::Role { .. } => ROLE_CHANGED,
    };
    let mut batch = Batch::new(setup, now);
    let forgot_url = forgot_url(setup);
    let letter = Letter::AccountChanged { to, change, by, at: now, forgot_url: &forgot_url };
    batch.push(kind, format!("{kind}:{}:{}", to.id, now.timestamp_micros()), to, &letter)?;
    batch.write(conn).await?;
    Ok(())
}

/// Each one's latest among `rows` of (whom, when), as read from the outbox
/// (a person, or a person and a notice; a time, or a time with another
/// after it): when each was last written an e-mail about something. Rows
/// naming nobody are left out.
pub(super) fn latest_per_person<K: std::hash::Hash + Eq, T: Ord>(
    rows: impl IntoIterator<Item = (Option<K>, T)>,
) -> HashMap<K, T> {
    use std::collections::hash_map::Entry;
    let mut latest: HashMap<K, T> = HashMap::new();
    for (person, at) in rows {
        match person.map(|person| latest.entry(person)) {
            Some(Entry::Occupied(mut kept)) if at > *kept.get() => {
                kept.insert(at);
            }
            Some(Entry::Vacant(first)) => {
                first.insert(at);
            }
            _ => {}
        }
    }
    latest
}

impl Store {
    /// Lets this store compose mail: reminders and escalations enqueue
    /// outbox rows, and publications' e-mails are expanded (see
    /// [`Store::expand_publication_batch`]). A publication owes its e-mails
    /// (one fan-out row) with or without it.
    pub fn with_mail(mut self, setup: MailSetup) -> Store {
        self.mail = Some(Arc::new(setup));
        self
    }

    /// What published notice `notice_id` does to each draft of `signers` it
    /// holds up, with its total, by quote: as its e-mails and reminders
    /// count it (prices a later notice replaced, or finance approved
    /// keeping, count nothing), for its dashboard. Not for a draft or an
    /// unknown notice (404).
    pub async fn notice_effects(
        &self,
        notice_id: Uuid,
        signers: Vec<Uuid>,
    ) -> Result<HashMap<Uuid, BlockedQuote>, StoreError> {
        let notice = notices::Entity::find_by_id(notice_id).one(&self.db).await?;
        let notice = notice.filter(|n| n.state == crate::notices::PUBLISHED).ok_or(StoreError::not_found("notice"))?;
        let content = notice_content(&self.db, &notice, self.calendar).await?;
        let now = crate::db::db_now(&self.db).await?;
        let signers = if_few(signers);
        let by_signer = blocked_quotes(&self.db, "", &content, signers.as_deref(), self.calendar, now).await?;
        Ok(by_signer.into_values().flatten().map(|q| (q.id, q)).collect())
    }

    pub(crate) fn mail_setup(&self) -> Result<Arc<MailSetup>, StoreError> {
        self.mail.clone().ok_or_else(|| StoreError::Internal("mail is not configured on this store".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outbox row of `kind`, pending, for the tests of this module and its own.
    pub(super) fn row(kind: &str, message_id: String, notice_id: Option<Uuid>, user_id: Option<Uuid>) -> outbox::Model {
        outbox::Model {
            id: Uuid::new_v4(),
            dedupe_key: String::new(),
            kind: kind.to_owned(),
            to_addr: String::new(),
            to_name: String::new(),
            subject: String::new(),
            text_body: String::new(),
            html_body: String::new(),
            message_id,
            state: PENDING.to_owned(),
            attempts: 0,
            next_attempt_at: chrono::Utc::now(),
            last_error: None,
            created_at: chrono::Utc::now(),
            sent_at: None,
            notice_id,
            user_id,
            reminders_from: None,
            reply_to: None,
        }
    }

    /// Two workers expanding one publication write the same rows: the
    /// second counts none of those the first wrote, only its own.
    #[tokio::test]
    async fn rows_another_worker_wrote_first_are_not_counted_as_written() {
        use sea_orm::IntoActiveModel;
        let store = Store::connect("sqlite::memory:", 1).await.expect("an in-memory database");
        store.migrate().await.expect("the schema");
        let keyed = |key: &str| outbox::Model { dedupe_key: key.to_owned(), ..row(SIGNER, key.to_owned(), None, None) };
        let rows = |keys: &[&str]| keys.iter().map(|k| keyed(k).into_active_model()).collect::<Vec<_>>();
        let first = Batch::write_rows(rows(&["a", "b"]), &store.db).await.expect("the first worker's rows");
        let second = Batch::write_rows(rows(&["b", "c"]), &store.db).await.expect("the second worker's rows");
        assert_eq!((first, second), (2, 1));
        assert_eq!(outbox::Entity::find().all(&store.db).await.expect("the outbox").len(), 3);
    }

    #[test]
    fn later_e_mails_about_a_notice_follow_the_first_one_to_their_reader() {
        let (notice, user) = (Uuid::new_v4(), Uuid::new_v4());
        let first = notice_thread(notice, user, "pricegate.example");
        let other = format!("<{}@pricegate.example>", Uuid::new_v4().simple());
        let (n, u) = (Some(notice), Some(user));
        assert_eq!(thread_of(&row(PUBLICATION, first.clone(), n, u)), None, "the first starts it");
        assert_eq!(thread_of(&row(REMINDER, other.clone(), n, u)), Some(first.clone()));
        assert_eq!(thread_of(&row(PUBLICATION, other.clone(), n, u)), Some(first), "told again, on taking over");
        assert_eq!(thread_of(&row(ESCALATION, other.clone(), n, u)), None, "finance's starts its own");
        assert_eq!(thread_of(&row(SIGNER, other.clone(), None, u)), None);
        assert_eq!(thread_of(&row(REMINDER, other, None, u)), None, "a row naming no notice");
        assert_eq!(thread_of(&row(REMINDER, "no-at-sign".into(), n, u)), None);
    }

    #[test]
    fn a_reminder_of_a_request_for_approval_follows_the_request_to_its_reader() {
        let (quote, request, user) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let first = approval_asked::approval_thread(request, user, "pricegate.example");
        let other = format!("<{}@pricegate.example>", Uuid::new_v4().simple());
        let keyed = |key: String, message_id: &str| outbox::Model {
            dedupe_key: key,
            ..row(APPROVAL_ASKED, message_id.to_owned(), None, Some(user))
        };
        let asked = format!("approval-asked:{quote}:{request}:{user}");
        assert_eq!(approval_asked::first_asked(APPROVAL_ASKED, &asked), Some(request), "the request starts it");
        assert_eq!(thread_of(&keyed(asked.clone(), &first)), None);
        let reminded = format!("{asked}:again-1764979200000000");
        assert_eq!(approval_asked::first_asked(APPROVAL_ASKED, &reminded), None);
        assert_eq!(thread_of(&keyed(reminded, &other)), Some(first.clone()));
        let newly_asked = format!("{asked}:asked-1764979200000000");
        assert_eq!(
            approval_asked::first_asked(APPROVAL_ASKED, &newly_asked),
            Some(request),
            "someone first asked on a reminder: theirs starts it"
        );
        assert_eq!(thread_of(&keyed(newly_asked, &first)), None);
        assert_eq!(approval_asked::first_asked(SIGNER, &asked), None, "only a request's e-mail");
    }
}
