//! sea-orm entities, one module per table. Plain rows: the rules live in
//! `pricegate-domain` and in the store's operations, not here.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod users {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub email: String,
        pub name: String,
        pub role: String,
        pub password_hash: String,
        pub active: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// When an account created without a password was e-mailed an
        /// invitation to choose one; `None` once a password is set.
        pub invited_at: Option<DateTimeUtc>,
        /// When a browser session or an API token was last issued on their
        /// password; `None` if never.
        pub last_login_at: Option<DateTimeUtc>,
        /// `name` as [`crate::name_key`] folds it: what lists sort and search by.
        pub name_key: String,
    }
    no_relations!();

    /// An active salesperson: someone who may sign (and so finalise) a
    /// quote, and edit the drafts they own.
    pub fn can_sign(active: bool, role: &str) -> bool {
        active && role == pricegate_domain::Role::Sales.as_str()
    }

    impl Model {
        /// See [`can_sign`].
        pub fn can_sign(&self) -> bool {
            can_sign(self.active, &self.role)
        }
    }
}

pub mod api_tokens {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub user_id: Uuid,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod gate {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "gate")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub last_seq: i64,
    }
    no_relations!();
}

pub mod products {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "products")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub sku: String,
        pub name: String,
        pub unit: String,
        pub currency: String,
        pub unit_price_minor: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// When finance withdrew it from sale; `None` while it is on sale.
        pub withdrawn_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod notices {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notices")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub title: String,
        pub body: String,
        pub state: String,
        pub seq: Option<i64>,
        pub published_at: Option<DateTimeUtc>,
        pub published_by: Option<Uuid>,
        pub created_by: Uuid,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod notice_changes {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notice_changes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub notice_id: Uuid,
        pub position: i32,
        pub product_id: Uuid,
        pub sku: String,
        pub unit_price_minor: i64,
        pub effective_on: Date,
        /// The product's name when the notice was published; `None` on a draft.
        pub product_name: Option<String>,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(belongs_to = "super::notices::Entity", from = "Column::NoticeId", to = "super::notices::Column::Id")]
        Notice,
    }
    impl Related<super::notices::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Notice.def()
        }
    }
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod quotes {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "quotes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub owner_id: Uuid,
        pub signer_id: Uuid,
        pub customer_name: String,
        pub customer_email: String,
        pub customer_company: String,
        /// What the quotes' search looks in: [`pricegate_migration::customer_search`].
        pub customer_search: String,
        pub currency: String,
        pub valid_until: Date,
        pub notes: String,
        pub state: String,
        pub drafted_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub finalised_at: Option<DateTimeUtc>,
        pub cancelled_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod quote_lines {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "quote_lines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub quote_id: Uuid,
        pub position: i32,
        pub product_id: Uuid,
        pub sku: String,
        pub product_name: String,
        pub unit: String,
        pub quantity: i64,
        pub unit_price_minor: i64,
        pub discount_bp: i32,
    }
    no_relations!();
}

pub mod acknowledgements {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "acknowledgements")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub notice_id: Uuid,
        pub user_id: Uuid,
        pub acknowledged_at: DateTimeUtc,
        /// The notice's `published_at`, for the gate check's range read.
        pub notice_published_at: DateTimeUtc,
        pub channel: String,
        pub client_addr: Option<String>,
        pub user_agent: Option<String>,
    }
    no_relations!();
}

pub mod finalisations {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finalisations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub quote_id: Uuid,
        pub finalised_by: Uuid,
        pub finalised_at: DateTimeUtc,
        pub evidence: Json,
        pub override_id: Option<Uuid>,
    }
    no_relations!();
}

pub mod price_overrides {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "price_overrides")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub quote_id: Uuid,
        pub approved_by: Uuid,
        pub reason: String,
        pub created_at: DateTimeUtc,
        /// The superseded prices this override waives, as JSON text
        /// (see `gate::overrides::CoveredPrice`); `None` before they were kept.
        pub covers: Option<String>,
    }
    no_relations!();
}

/// A salesperson's request that finance approve keeping a draft's old prices.
pub mod approval_requests {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "approval_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub quote_id: Uuid,
        pub requested_by: Uuid,
        pub reason: String,
        /// The lines at an old price when it was asked, as JSON text (see
        /// `gate::overrides::CoveredPrice`).
        pub covers: String,
        pub requested_at: DateTimeUtc,
        /// When it ended: answered by an approval, declined, the draft
        /// repriced, or asked again in its place. `None` while open.
        pub ended_at: Option<DateTimeUtc>,
        /// Who in finance declined it, and why, if it ended so.
        pub declined_by: Option<Uuid>,
        pub declined_reason: Option<String>,
    }
    no_relations!();
}

pub mod audit_log {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub at: DateTimeUtc,
        pub actor_id: Option<Uuid>,
        pub action: String,
        pub subject_type: String,
        pub subject_id: Option<Uuid>,
        pub detail: Json,
    }
    no_relations!();
}

pub mod outbox {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub dedupe_key: String,
        pub kind: String,
        pub to_addr: String,
        pub to_name: String,
        pub subject: String,
        pub text_body: String,
        pub html_body: String,
        pub message_id: String,
        pub state: String,
        pub attempts: i32,
        pub next_attempt_at: DateTimeUtc,
        pub last_error: Option<String>,
        pub created_at: DateTimeUtc,
        pub sent_at: Option<DateTimeUtc>,
        /// The notice a publication, reminder or escalation is about.
        pub notice_id: Option<Uuid>,
        /// The user it is for: the salesperson, or the finance user escalated to.
        pub user_id: Option<Uuid>,
        /// On the notice's e-mail to someone who took over drafts it holds
        /// up after its publication: their reminders count from here.
        pub reminders_from: Option<DateTimeUtc>,
        /// Where a reply goes, when not to the sender address: the
        /// publisher of the notice a publication or reminder is about.
        pub reply_to: Option<String>,
    }
    no_relations!();
}

/// What an e-mail about signing told its recipient of one draft it names
/// (see `Store::signer_was_told`).
pub mod signer_letters {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signer_letters")]
    pub struct Model {
        /// The e-mail; no foreign key (a duplicate skipped on insert leaves
        /// a letter naming no row, which every reader's join leaves out).
        #[sea_orm(primary_key, auto_increment = false)]
        pub outbox_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub quote_id: Uuid,
        /// Its recipient.
        pub user_id: Uuid,
        /// Whether it told them they sign the draft (else, that they do not).
        pub signs: bool,
    }
    no_relations!();
}

pub mod ack_tokens {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ack_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub notice_id: Uuid,
        pub user_id: Uuid,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

/// A link to choose a password, sent by e-mail (see `password_links`).
pub mod password_links {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "password_links")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub user_id: Uuid,
        /// `reset` (asked for at the login page) or `invitation` (sent by an admin).
        pub purpose: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod sessions {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub user_id: Uuid,
        pub csrf_token: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod publication_fanouts {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "publication_fanouts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub notice_id: Uuid,
        pub published_at: DateTimeUtc,
        pub expanded_through: Option<Uuid>,
        pub expanded: i64,
        pub claimed_by: Option<Uuid>,
        pub lease_until: DateTimeUtc,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod reminder_sweeps {
    use sea_orm::entity::prelude::*;
    /// When the reminder worker last ticked, and the stop before it: one row
    /// (see `Store::enqueue_due_reminders`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reminder_sweeps")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub last_at: DateTimeUtc,
        /// The last tick before the latest stop; after a stop while an earlier
        /// one was still being caught up on, the earlier one's, moved on by how
        /// long the workers ran in between.
        pub stopped_at: Option<DateTimeUtc>,
        /// The first tick after it.
        pub resumed_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod login_failures {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_failures")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub key_hash: String,
        pub at: DateTimeUtc,
        /// The e-mail's own hash, without the address: see [`crate::login_limit`].
        pub email_hash: Option<String>,
        /// The client address's own hash, without the e-mail.
        pub address_hash: Option<String>,
        /// A try whose password is being checked: not yet a failure.
        pub in_flight: bool,
    }
    no_relations!();
}
