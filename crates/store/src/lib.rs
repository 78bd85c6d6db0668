//! Pricegate's persistence: sea-orm on SQLite (embedded default) or PostgreSQL.
//!
//! Every operation that changes state runs in one write transaction, writes
//! its audit row in that same transaction, and either commits whole or not at
//! all. A refused finalisation commits its audit row the same way; a refused
//! publication, acknowledgement or override rolls back first and then writes
//! its row on its own (see `Store::audit_refusal`). Publication and finalisation are serialised on the `gate` row (see
//! [`gate`]), so the invariant holds across server processes, not just tasks.

mod ack_links;
mod audit;
mod auth;
mod db;
pub mod entity;
mod error;
pub mod gate;
mod login_limit;
mod notices;
pub mod outbox;
mod password_links;
mod products;
mod quotes;
mod sessions;
mod users;
pub mod views;

pub use ack_links::{
    AckLinkError, AckLinkView, AfterAcknowledging, LinkAbout, TokenShape, new_link_token, token_shape,
};
pub use audit::{AUDIT_ACTIONS, AuditEntry, AuditFilter, DENIALS_RECORDED, DENIALS_WINDOW_MINUTES};

/// The statements on the gate's hot path exactly as the store sends them,
/// for the benchmark to `EXPLAIN` and to run through `pgbench` (never a copy
/// that could drift).
#[doc(hidden)]
pub mod sql {
    pub use crate::audit::RECORD_AUDIT;
    pub use crate::auth::token_user_sql;
    pub use crate::gate::{
        LOCK_GATE_AND_QUOTE, LOCK_GATE_EXCLUSIVELY, RECORD_FINALISATION, Reading, later_notices_sql,
        notices_to_acknowledge_sql, price_sources_sql, quote_gate_sql,
    };
    pub use crate::quotes::load_quote_sql;
}
pub use auth::{ApiToken, Checked, TOKEN_TTL_HOURS, hash_token, looks_like_token, random_token};
pub use db::{
    Migrated, Store, TABLES, client_form_key, form_row_id, opens_read_only, sqlite_file, sqlite_in_memory,
    sqlite_names_nothing,
};
pub use error::{SUPERSEDED_PRICES, StoreError, causes};
pub use gate::PublishSeen;
pub use login_limit::{
    FAILURE_WINDOW, LoginHold, LoginOutcome, MAX_ACCOUNT_FAILURES, MAX_ADDRESS_FAILURES, MAX_FAILURES,
};
pub use notices::{
    AckCount, AwaitingNotice, Channel, ClientInfo, MAX_CHANGES, NOTICE_DRAFTED_ALREADY, NewNotice, NewPriceChange,
    NoticeFilter, NoticePatch, NoticeState, PublishedChange, PublishedContent, WaitingQuote,
};
pub use outbox::KINDS as OUTBOX_KINDS;
pub use outbox::{
    AccountChange, ApprovedFor, BlockedQuote, Composed, Composer, EarlierDecline, HandedQuote, Letter, MailSetup,
    NoticeContent, OldPricesKept, OutboxMessageView, OutboxView, PendingPerson, REMIND_NOW_AGAIN_AFTER_MINUTES,
    Recipient, Reminded, SignedQuote, Told, Undelivered, WAITING_BEHIND,
};
pub use password_links::{
    INVITATION_LINK_DAYS, PasswordLinkError, PasswordLinkView, PasswordSet, RESET_EVERY_MINUTES, RESET_LINK_MINUTES,
};
pub use products::{CsvRowError, NewProduct, ProductPatch, UpcomingPrice};
pub use quotes::{
    ApprovalAsked, ApprovalDeclined, ApprovalRequestView, DRAFTED_ALREADY, FinanceReminded, HandedOver, NewLine,
    NewQuote, OpenDraft, OpenDrafts, PricesSeen, QuoteEdited, QuoteFilter, QuotePatch, QuoteRight, QuoteSearch,
    ResentForm,
};
pub use sessions::{NewSession, SESSION_TTL_HOURS, SessionUser, new_form_token};
pub use users::{EMAIL_TAKEN, Invited, ListedAfter, NewUser, PasswordChange, UserPatch, UserUpdate, name_key};

use pricegate_domain::Role;
use uuid::Uuid;

/// Who is asking. Every operation that depends on the caller takes one, so
/// ownership is checked where the row is read, not in the web layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: Uuid,
    pub role: Role,
}
