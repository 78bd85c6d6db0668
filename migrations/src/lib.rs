//! Pricegate's schema. Applied by `pricegate serve` on start and by `pricegate migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_core;
mod m20261123_000002_sessions;
mod m20261123_000003_gate_indexes;
mod m20261123_000004_publication_fanouts;
mod m20261123_000005_ack_published_at;
mod m20261123_000006_evidence_lz4;
mod m20261130_000007_override_covers;
mod m20261201_000008_login_failures;
mod m20261201_000009_outbox_subjects;
mod m20261201_000010_quotes_by_drafting;
mod m20261201_000011_finalisations_by_time;
mod m20261202_000012_outbox_reminders_from;
mod m20261202_000013_outbox_pending_by_subject;
mod m20261202_000014_signer_letters;
mod m20261202_000015_notice_product_names;
mod m20261202_000016_products_withdrawn;
mod m20261202_000017_login_failures_by_email;
mod m20261203_000018_password_links;
mod m20261203_000019_audit_by_action;
mod m20261203_000020_users_invited;
mod m20261203_000021_users_invited_backfill;
mod m20261203_000022_outbox_by_queueing;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_core::Migration),
            Box::new(m20261123_000002_sessions::Migration),
            Box::new(m20261123_000003_gate_indexes::Migration),
            Box::new(m20261123_000004_publication_fanouts::Migration),
            Box::new(m20261123_000005_ack_published_at::Migration),
            Box::new(m20261123_000006_evidence_lz4::Migration),
            Box::new(m20261130_000007_override_covers::Migration),
            Box::new(m20261201_000008_login_failures::Migration),
            Box::new(m20261201_000009_outbox_subjects::Migration),
            Box::new(m20261201_000010_quotes_by_drafting::Migration),
            Box::new(m20261201_000011_finalisations_by_time::Migration),
            Box::new(m20261202_000012_outbox_reminders_from::Migration),
            Box::new(m20261202_000013_outbox_pending_by_subject::Migration),
            Box::new(m20261202_000014_signer_letters::Migration),
            Box::new(m20261202_000015_notice_product_names::Migration),
            Box::new(m20261202_000016_products_withdrawn::Migration),
            Box::new(m20261202_000017_login_failures_by_email::Migration),
            Box::new(m20261203_000018_password_links::Migration),
            Box::new(m20261203_000019_audit_by_action::Migration),
            Box::new(m20261203_000020_users_invited::Migration),
            Box::new(m20261203_000021_users_invited_backfill::Migration),
            Box::new(m20261203_000022_outbox_by_queueing::Migration),
        ]
    }
}
