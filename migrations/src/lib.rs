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
mod m20261203_000023_quotes_customer_search;
mod m20261204_000024_approval_requests;
mod m20261204_000025_login_failures_by_address;
mod m20261204_000026_quotes_search_letters;
mod m20261205_000027_audit_by_actor;
mod m20261205_000028_users_last_login;
mod m20261205_000029_proof_not_truncated;
mod m20261205_000030_users_name_key;
mod m20261205_000031_outbox_reply_to;
mod m20261205_000032_quotes_by_finalising;
mod m20261206_000033_notice_changes_by_sku;
mod m20261207_000034_reminder_sweeps;
mod m20261207_000035_acknowledgements_kept;
mod m20261207_000036_proof_not_replaced;
mod m20261207_000037_finalised_quotes_kept;
mod m20261207_000038_login_tries_in_flight;

pub struct Migrator;

/// Writes each text to its rows' `column`, as `(table, id, column)` name
/// them: a statement per text and up to 500 of its rows, by primary key
/// (what a backfill computed in Rust, such as [`fold_case`], writes; the
/// columns it was computed from have no index to update by).
pub(crate) async fn write_texts(
    db: &impl ConnectionTrait,
    (table, id, column): (impl IntoIden, impl IntoIden, impl IntoIden),
    by_text: std::collections::BTreeMap<String, Vec<sea_orm_migration::sea_orm::prelude::Uuid>>,
) -> Result<(), DbErr> {
    let (table, id, column) = (table.into_iden(), id.into_iden(), column.into_iden());
    for (text, ids) in by_text {
        for chunk in ids.chunks(500) {
            db.execute(
                &Query::update()
                    .table(table.clone())
                    .value(column.clone(), text.as_str())
                    .and_where(Expr::col(id.clone()).is_in(chunk.iter().copied()))
                    .to_owned(),
            )
            .await?;
        }
    }
    Ok(())
}

/// What the quotes' search looks in (`quotes.customer_search`): the
/// customer's name, company and e-mail address, a line each, folded by
/// [`fold_case`]. Written by the store as a quote's customer is, and filled
/// in for earlier quotes by migration 23, alike.
pub fn customer_search(name: &str, company: &str, email: &str) -> String {
    fold_case(&format!("{name}\n{company}\n{email}"))
}

/// Text as the quotes' search compares it, so that what is typed finds what
/// was stored however either was written: in compatibility form without
/// accents or other marks (`Jörg`, typed or pasted composed or decomposed,
/// is `jorg`; `ﬁ` is `fi`), each letter lowered on its own (a final sigma is
/// a sigma, as in the middle of a word; `İ` is `i`), and the Latin letters
/// that no decomposition takes apart written as a keyboard without them
/// types them (`Łódź` is `lodz`, `Straße` is `strasse`, `Søren` is `soren`).
/// Kana keep their voicing marks, which make other words (`ポンプ` is not
/// `ホンフ`), and characters nobody sees (a zero-width space, a soft
/// hyphen) are left out.
pub fn fold_case(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    // The kana voicing marks, as decomposition leaves them, are no accents.
    let accent = |c: char| is_combining_mark(c) && !matches!(c, '\u{3099}' | '\u{309A}');
    let unseen = |c: char| matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}');
    let mut folded = String::with_capacity(text.len());
    let letters =
        text.nfkd().filter(|c| !accent(*c) && !unseen(*c)).flat_map(char::to_lowercase).filter(|c| !accent(*c));
    for c in letters {
        match c {
            'ς' => folded.push('σ'),
            'ł' => folded.push('l'),
            'ø' => folded.push('o'),
            'đ' | 'ð' => folded.push('d'),
            'ħ' => folded.push('h'),
            'ı' => folded.push('i'),
            'ŧ' => folded.push('t'),
            'ß' => folded.push_str("ss"),
            'æ' => folded.push_str("ae"),
            'œ' => folded.push_str("oe"),
            'þ' => folded.push_str("th"),
            c => folded.push(c),
        }
    }
    folded
}

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
            Box::new(m20261203_000023_quotes_customer_search::Migration),
            Box::new(m20261204_000024_approval_requests::Migration),
            Box::new(m20261204_000025_login_failures_by_address::Migration),
            Box::new(m20261204_000026_quotes_search_letters::Migration),
            Box::new(m20261205_000027_audit_by_actor::Migration),
            Box::new(m20261205_000028_users_last_login::Migration),
            Box::new(m20261205_000029_proof_not_truncated::Migration),
            Box::new(m20261205_000030_users_name_key::Migration),
            Box::new(m20261205_000031_outbox_reply_to::Migration),
            Box::new(m20261205_000032_quotes_by_finalising::Migration),
            Box::new(m20261206_000033_notice_changes_by_sku::Migration),
            Box::new(m20261207_000034_reminder_sweeps::Migration),
            Box::new(m20261207_000035_acknowledgements_kept::Migration),
            Box::new(m20261207_000036_proof_not_replaced::Migration),
            Box::new(m20261207_000037_finalised_quotes_kept::Migration),
            Box::new(m20261207_000038_login_tries_in_flight::Migration),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::{customer_search, fold_case};

    #[test]
    fn letters_typed_in_any_case_or_with_any_accents_fold_alike() {
        for (stored, typed) in [
            ("ÖKO Pumpen", "öko pumpen"),
            ("Jörg Näf", "Jo\u{308}rg Na\u{308}f"),
            ("Müller", "muller"),
            ("Łódź Water", "lodz water"),
            ("Straße AG", "strasse ag"),
            ("Straße AG", "STRASSE AG"),
            ("Søren Ærø", "soren aero"),
            ("Đorđe", "dorde"),
            ("ポンプ", "ﾎﾟﾝﾌﾟ"),
            ("Zero\u{200B}Width Pumps", "zerowidth pumps"),
            ("Pump\u{00AD}works", "pumpworks"),
            ("ΚΏΣΤΑΣ", "κώστας"),
            ("Straße", "straße"),
            ("ﬁne Pumps", "fine pumps"),
        ] {
            assert_eq!(fold_case(stored), fold_case(typed), "{stored} and {typed}");
        }
        assert_eq!(fold_case("ΚΩΣ"), "κωσ");
        assert_ne!(fold_case("ポンプ"), fold_case("ホンフ"), "a voiced kana is another sound");
        assert!(fold_case("İZMİR").contains(&fold_case("izmir")));
        assert_eq!(customer_search("Åsa Ölund", "", "ASA@Ölund.example"), "asa olund\n\nasa@olund.example");
    }
}
