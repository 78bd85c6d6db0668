use askama::Template;
use pricegate_domain::Calendar;
use pricegate_domain::pricing::ChangesAhead;
use pricegate_store::views::PriceChangeView;
use pricegate_store::{BlockedQuote, Composer, Letter, NoticeContent, PendingPerson, Told};

use super::*;
use super::{changes::*, escalation::*, notice::*, quote_letters::*, words::*};

#[test]
fn a_percentage_is_written_from_basis_points_either_side_of_zero() {
    assert_eq!(percent(1250), "12.50 %");
    assert_eq!(percent(5), "0.05 %");
    assert_eq!(percent(-5), "-0.05 %");
    assert_eq!(percent(-1250), "-12.50 %");
    assert_eq!(percent(i32::MIN), "-21474836.48 %");
    let read: Vec<String> = [0, 5, 1_250, 10_000, -50, -150, i32::MIN].into_iter().map(percent_number).collect();
    assert_eq!(read, ["0.00", "0.05", "12.50", "100.00", "-0.50", "-1.50", "-21474836.48"]);
}

#[test]
fn a_long_notice_says_first_where_the_readers_quotes_and_link_are() {
    let all = |n| (n, Listed::All);
    let guide = |changes, listed, quotes| long_notice_guide(changes, listed, quotes).unwrap_or_default();
    assert_eq!(long_notice_guide(LONG_NOTICE_CHANGES, all(LONG_NOTICE_CHANGES), 3), None, "no guide to a short list");
    assert_eq!(
        guide(50, all(50), 3),
        "It makes 50 price changes, all listed below, then the 3 quotes of yours it holds up; the link to acknowledge \
         it comes after them."
    );
    assert_eq!(
        guide(21, all(21), 0),
        "It makes 21 price changes, all listed below; the link to acknowledge it comes after them."
    );
    assert!(guide(21, all(21), 1).contains("then the one quote of yours it holds up"));
    assert_eq!(
        guide(500, (12, Listed::OnQuotes { on_quotes: 12 }), 3),
        "It makes 500 price changes. Listed below are the 12 on your quotes, then the 3 quotes of yours it holds up; \
         the link to acknowledge it, after them, opens all 500."
    );
    assert_eq!(
        guide(500, (MAILED_CHANGES, Listed::OnQuotes { on_quotes: 73 }), 3),
        "It makes 500 price changes. Listed below are 50 of the 73 on your quotes, then the 3 quotes of yours it holds \
         up; the link to acknowledge it, after them, opens all 500."
    );
    assert!(
        guide(500, (1, Listed::OnQuotes { on_quotes: 1 }), 1)
            .contains("Listed below is the one on your quote, then the one quote of yours it holds up;"),
        "in the singular"
    );
    assert_eq!(
        guide(500, (FIRST_CHANGES, Listed::First), 0),
        "It makes 500 price changes. Listed below are the first 20; the link to acknowledge it, after them, opens all 500."
    );
    assert_eq!(listed_heading(1, Listed::OnQuotes { on_quotes: 1 }, 1), "Price change on your quote");
    assert_eq!(listed_heading(3, Listed::OnQuotes { on_quotes: 3 }, 2), "Price changes on your quotes");
    assert_eq!(listed_heading(20, Listed::First, 0), "The first 20 price changes");
    assert_eq!(unlisted_changes(50, 50, (0, 2)), None);
    assert_eq!(
        unlisted_changes(500, 488, (0, 2)).as_deref(),
        Some(
            "And 12 more changes, not listed here: the link to acknowledge the notice, below, opens the whole \
             notice, every change listed, to read before you confirm."
        )
    );
    assert!(unlisted_changes(51, 50, (0, 2)).is_some_and(|u| u.starts_with("And 1 more change,")));
    assert!(
        unlisted_changes(120, 50, (5, 2))
            .is_some_and(|u| u.starts_with("And 70 more changes (5 of them on your quotes),")),
        "the reader's own among those left out are counted"
    );
    assert!(
        unlisted_changes(120, 50, (1, 1))
            .is_some_and(|u| u.starts_with("And 70 more changes (one of them on your quote),"))
    );
}

#[test]
fn names_in_a_right_to_left_script_keep_their_direction_in_the_html() {
    let letter = SignerLetter {
        name: "דנה כהן",
        by: "سامي",
        customer: "שאיבות בע\"מ",
        total: "1,250.50 EUR",
        valid_until: "2027-01-31",
        reference: "Q-1",
        url: "https://pricegate.example/quotes/1",
        to_acknowledge: None,
        first_password_url: None,
    };
    let html = letter.render().expect("rendered");
    assert!(html.contains("<p>Hello <bdi>דנה כהן</bdi>,</p>"), "{html}");
    assert!(html.contains("<p><bdi>سامي</bdi> has named you"), "{html}");
    assert!(html.contains("<td><bdi>שאיבות בע&#34;מ</bdi></td>"), "{html}");
}

#[test]
fn a_signer_yet_to_choose_a_password_is_told_where_to_ask_for_one() {
    let letter = |first_password_url| SignerLetter {
        name: "Nina",
        by: "Sam",
        customer: "Acme",
        total: "1,250.50 EUR",
        valid_until: "2027-01-31",
        reference: "Q-1",
        url: "https://pricegate.example/quotes/1",
        to_acknowledge: None,
        first_password_url,
    };
    let invited = letter(Some("https://pricegate.example/login/forgot"));
    let text = SignerText { letter: &invited }.render().expect("rendered");
    assert!(
        text.contains(
            "Open it here:\nhttps://pricegate.example/quotes/1\n\nYou have yet to choose your Pricegate password, and \
             these links open only once\nyou have: use the link in the e-mail that invited you, or ask for a new one \
             here:\nhttps://pricegate.example/login/forgot\n\nIts page says"
        ),
        "{text}"
    );
    let html = invited.render().expect("rendered");
    assert!(
        html.contains("or <a href=\"https://pricegate.example/login/forgot\">ask for a new one here</a>."),
        "{html}"
    );
    let with_a_password = letter(None);
    let text = SignerText { letter: &with_a_password }.render().expect("rendered");
    assert!(text.contains("Open it here:\nhttps://pricegate.example/quotes/1\n\nIts page says"), "{text}");
    assert!(!with_a_password.render().expect("rendered").contains("choose your Pricegate password"));
}

#[test]
fn a_request_for_approval_names_the_draft_s_owner_and_signer() {
    assert_eq!(owner_and_signer(("Sam", "Sam")).as_deref(), Some("Owner and signer: Sam"));
    assert_eq!(owner_and_signer(("Ana", "Sam")).as_deref(), Some("Owner: Ana; signer: Sam"));
    assert_eq!(owner_and_signer(("", "Sam")).as_deref(), Some("Signer: Sam"));
    assert_eq!(owner_and_signer(("", "")), None);
}

#[test]
fn a_finalisation_names_who_approved_keeping_which_old_prices() {
    let skus = |n: usize| (1..=n).map(|i| format!("PUMP-{i}")).collect::<Vec<_>>();
    let said = |by: &str, n: usize| old_prices_kept(&pricegate_store::OldPricesKept { by, skus: &skus(n) });
    assert_eq!(said("Fiona", 1), "Fiona, in finance, approved keeping the old prices of PUMP-1.");
    assert_eq!(said("Fiona", 2), "Fiona, in finance, approved keeping the old prices of PUMP-1 and PUMP-2.");
    assert_eq!(said("", 3), "Finance approved keeping the old prices of PUMP-1, PUMP-2 and PUMP-3.");
    assert_eq!(
        said("Fiona", 5),
        "Fiona, in finance, approved keeping the old prices of PUMP-1, PUMP-2, PUMP-3 and 2 more products."
    );
    assert_eq!(said("Fiona", 0), "Fiona, in finance, approved keeping the old prices of some of its lines.");
}

#[test]
fn an_escalation_lists_first_whose_drafts_the_notice_changes_and_leaves_the_rest_to_the_dashboard() {
    let person = |name: String, quotes: Vec<BlockedQuote>| PendingPerson {
        email: format!("{name}@pricegate.test"),
        name,
        quotes,
    };
    let mut people: Vec<PendingPerson> = (0..60).map(|i| person(format!("Idle {i:02}"), Vec::new())).collect();
    people.push(person("Held".into(), vec![quote(0, None)]));
    people.push(person("Changed".into(), (0..8).map(|_| quote(1_000, None)).collect()));
    let (rows, more) = person_rows(&people);
    assert_eq!((rows.len(), more), (ESCALATED_PEOPLE, 12));
    let names: Vec<&str> = rows.iter().take(3).map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Changed", "Held", "Idle 00"]);
    assert_eq!((rows[0].quotes.len(), rows[0].more_quotes), (ESCALATED_QUOTES, 3));
    assert_eq!((rows[1].quotes.len(), rows[1].more_quotes), (1, 0));
    let (few, more) = person_rows(&people[..2]);
    assert_eq!((few.len(), more), (2, 0));
}

#[test]
fn a_long_notices_e_mail_lists_the_changes_on_the_readers_quotes_or_else_the_first() {
    let rows = |n: usize| {
        (0..n)
            .map(|i| ChangeRow {
                sku: format!("SKU-{i:03}"),
                product: format!("Product {i}"),
                price_before: String::new(),
                new_price: "1.00 EUR".into(),
                change: String::new(),
                effective_on: "2026-12-06".into(),
                replaced: String::new(),
            })
            .collect::<Vec<_>>()
    };
    let skus = |listed: &[ChangeRow]| listed.iter().map(|c| c.sku.clone()).collect::<Vec<_>>();
    let on = |skus: &[&str]| BlockedQuote { priced: skus.iter().map(|s| s.to_string()).collect(), ..quote(0, None) };
    let (listed, which) = listed_changes(rows(MAILED_CHANGES), &[]);
    assert_eq!((listed.len(), which), (MAILED_CHANGES, Listed::All), "up to the limit, every change");
    let (listed, which) = listed_changes(rows(500), &[on(&["SKU-420", "SKU-007"]), on(&["SKU-007", "SKU-100"])]);
    assert_eq!(which, Listed::OnQuotes { on_quotes: 3 });
    assert_eq!(skus(&listed), ["SKU-007", "SKU-100", "SKU-420"], "each once, as the notice lists them");
    let (listed, which) = listed_changes(rows(500), &[on(&[]), on(&["NOT-IN-IT"])]);
    assert_eq!(which, Listed::First, "quotes it holds up without a line it prices");
    assert_eq!(skus(&listed), skus(&rows(FIRST_CHANGES)));
    let everything: Vec<String> = skus(&rows(500));
    let every: Vec<&str> = everything.iter().map(String::as_str).collect();
    let (listed, which) = listed_changes(rows(500), &[on(&every)]);
    assert_eq!((listed.len(), which), (MAILED_CHANGES, Listed::OnQuotes { on_quotes: 500 }), "never the whole notice");
}

#[test]
fn a_reminder_says_which_of_its_prices_a_notice_published_since_replaced() {
    let change = |sku: &str, replaced_by| PriceChangeView {
        sku: sku.into(),
        product_name: format!("Product {sku}"),
        currency: "EUR".into(),
        unit_price_minor: 10_500,
        effective_on: chrono::NaiveDate::from_ymd_opt(2027, 1, 4).unwrap_or_default(),
        in_force_from: None,
        price_before_minor: Some(9_800),
        replaced_by,
    };
    let correction = pricegate_store::views::ReplacedBy {
        title: "Correction: valves".into(),
        unit_price_minor: 10_200,
        was_in_force: false,
        ended_by: None,
    };
    let notice = NoticeContent {
        id: uuid::Uuid::nil(),
        title: "Valves: new list prices".into(),
        body: "From January.".into(),
        published_at: chrono::Utc::now(),
        changes: vec![change("VALVE-B50", Some(correction)), change("PUMP-1", None)],
        published_by: "Fiona".into(),
        reply_to: Some("fiona@pricegate.test".into()),
    };
    let to =
        pricegate_store::Recipient { id: uuid::Uuid::nil(), name: "Sara".into(), email: "sara@pricegate.test".into() };
    let letter = Letter::Reminder {
        notice: &notice,
        to: &to,
        quotes: &[],
        ack_url: "http://pricegate.test/ack/x",
        awaiting_url: "http://pricegate.test/notices/awaiting",
        number: 1,
        of: 3,
    };
    let composer = TemplateComposer { calendar: Calendar::UTC, link_ttl: chrono::Duration::days(14) };
    let mail = composer.compose(&letter).expect("the reminder is written");
    let replaced = "Never in force: \u{201c}Correction: valves\u{201d}, published since, sets 102.00 EUR from the same day instead.";
    assert_eq!(mail.text.matches(replaced).count(), 1, "{}", mail.text);
    // In the HTML part, the amount kept on one line.
    let nowrap = "<span style=\"white-space: nowrap;\">102.00 EUR</span>";
    assert_eq!(mail.html.matches(&replaced.replace("102.00 EUR", nowrap)).count(), 1, "{}", mail.html);
    let valve = mail.text.split_once("VALVE-B50").and_then(|(_, rest)| rest.split("PUMP-1").next()).unwrap_or_default();
    assert!(valve.contains(replaced), "under the valve's line: {}", mail.text);
}

#[test]
fn a_notice_says_whom_to_ask_only_while_its_publisher_can_answer() {
    let composer = TemplateComposer { calendar: Calendar::UTC, link_ttl: chrono::Duration::days(14) };
    let to =
        pricegate_store::Recipient { id: uuid::Uuid::nil(), name: "Sara".into(), email: "sara@pricegate.test".into() };
    let intro = |reply_to: Option<&str>| {
        let notice = NoticeContent {
            id: uuid::Uuid::nil(),
            title: "Valves: new list prices".into(),
            body: "From January.".into(),
            published_at: chrono::Utc::now(),
            changes: Vec::new(),
            published_by: "Fiona Frank".into(),
            reply_to: reply_to.map(str::to_owned),
        };
        let letter = Letter::Publication {
            notice: &notice,
            to: &to,
            quotes: &[],
            ack_url: "http://pricegate.test/ack/x",
            told: Told::AtPublication,
        };
        composer.compose(&letter).expect("the notice is written").text
    };
    let active = intro(Some("fiona@pricegate.test"));
    assert!(
        active.contains("Fiona Frank, in finance, has published a price notice. Questions about it? Reply to this e-mail to ask them."),
        "{active}"
    );
    let left = intro(None);
    assert!(left.contains("Fiona Frank, in finance, published this price notice."), "{left}");
    assert!(!left.contains("ask them"), "{left}");
}

#[test]
fn a_links_lifetime_reads_in_its_largest_whole_unit() {
    let words = |minutes| lifetime(chrono::Duration::minutes(minutes));
    assert_eq!(words(14 * 24 * 60), "14 days");
    assert_eq!(words(24 * 60), "1 day");
    assert_eq!(words(36 * 60), "36 hours");
    assert_eq!(words(60), "1 hour");
    assert_eq!(words(90), "90 minutes");
    assert_eq!(lifetime(chrono::Duration::seconds(20)), "20 seconds");
    assert_eq!(lifetime(chrono::Duration::seconds(90)), "90 seconds", "not rounded to a minute");
    assert_eq!(lifetime(chrono::Duration::milliseconds(10)), "1 second", "never 0");
}

fn quote(delta_minor: i64, expired_on: Option<chrono::NaiveDate>) -> BlockedQuote {
    quote_beyond(delta_minor, 0, expired_on)
}

fn quote_beyond(delta_minor: i64, delta_after_minor: i64, expired_on: Option<chrono::NaiveDate>) -> BlockedQuote {
    BlockedQuote {
        id: uuid::Uuid::nil(),
        url: "http://pricegate.test/quotes/x".into(),
        customer_name: "Greta Berg".into(),
        customer_company: String::new(),
        currency: "EUR".into(),
        total_minor: 250_000,
        delta_minor,
        delta_after_minor,
        changes_ahead: None,
        valid_until: chrono::NaiveDate::from_ymd_opt(2026, 12, 5).unwrap_or_default(),
        expired_on,
        overtaken: Vec::new(),
        approved: Vec::new(),
        priced: Vec::new(),
    }
}

fn held_up(currency: &str, total_minor: i64, delta_minor: i64, expired: bool) -> BlockedQuote {
    let valid_until = chrono::NaiveDate::from_ymd_opt(2026, 12, 9).expect("a date");
    BlockedQuote {
        currency: currency.into(),
        total_minor,
        delta_minor,
        valid_until,
        expired_on: expired.then_some(valid_until),
        ..quote(0, None)
    }
}

#[test]
fn the_stake_sums_wide_by_currency_and_leaves_drafts_past_their_validity_out() {
    let mut stake = Stake::default();
    for q in [
        held_up("EUR", 10_000, 1_000, false),
        held_up("EUR", 6_000, 600, false),
        held_up("EUR", 7_000, 700, true),
        held_up("USD", 5_000, 0, false),
    ] {
        stake.add(&q);
    }
    assert_eq!(
        stake.in_words().as_deref(),
        Some(
            "2 drafts worth 160.00 EUR, +16.00 EUR on them while they are valid; 1 draft worth 50.00 USD, no change while it is valid"
        )
    );
    assert_eq!(
        stake.past_validity().as_deref(),
        Some("1 draft it holds up is past its validity and not counted: its owner must extend it first.")
    );

    // Changed and changed back while valid: not said to be no change.
    let day = |d| chrono::NaiveDate::from_ymd_opt(2026, 12, d).expect("a date");
    let ahead = ChangesAhead::of(&[(day(3), 1_000), (day(8), 0)], day(1));
    let meanwhile = || BlockedQuote { changes_ahead: ahead, ..held_up("EUR", 10_000, 0, false) };
    let mut stake = Stake::default();
    stake.add(&meanwhile());
    stake.add(&held_up("USD", 5_000, 0, false));
    stake.add(&meanwhile());
    stake.add(&held_up("USD", 5_000, 0, false));
    stake.add(&BlockedQuote { changes_ahead: ahead, ..held_up("USD", 5_000, 0, false) });
    assert_eq!(
        stake.in_words().as_deref(),
        Some(
            "2 drafts worth 200.00 EUR, a change for a while, back where they started by the end of their \
             validity; 3 drafts worth 150.00 USD, no change by the end of their validity, though 1 of them \
             changes for a while"
        )
    );

    // Some raised, some lowered: said apart, never cancelled into no change.
    let mut mixed = Stake::default();
    mixed.add(&held_up("EUR", 10_000, 1_000, false));
    mixed.add(&held_up("EUR", 10_000, -1_000, false));
    mixed.add(&held_up("EUR", 10_000, 2_000, false));
    mixed.add(&held_up("EUR", 10_000, 0, false));
    assert_eq!(
        mixed.in_words().as_deref(),
        Some(
            "4 drafts worth 400.00 EUR, +30.00 EUR on 2 of them, -10.00 EUR on 1 and none on 1 while they are valid, \
             +20.00 EUR in all"
        ),
        "each of the 4 accounted for"
    );
    mixed.add(&BlockedQuote { changes_ahead: ahead, ..held_up("EUR", 10_000, 0, false) });
    assert!(
        mixed.in_words().is_some_and(|said| said.contains("and none on 1 while")
            && said.ends_with("+20.00 EUR in all, and 1 of them changes for a while")),
        "{:?}",
        mixed.in_words()
    );
    let mut few = Stake::default();
    for delta in [4_200, 0, 0] {
        few.add(&held_up("EUR", 10_000, delta, false));
    }
    assert_eq!(
        few.in_words().as_deref(),
        Some("3 drafts worth 300.00 EUR, +42.00 EUR on 1 of them while they are valid"),
        "not 'on them': two do not change"
    );
    let mut cancelling = Stake::default();
    cancelling.add(&held_up("EUR", 10_000, 1_000, false));
    cancelling.add(&held_up("EUR", 10_000, -1_000, false));
    assert_eq!(
        cancelling.in_words().as_deref(),
        Some(
            "2 drafts worth 200.00 EUR, +10.00 EUR on 1 of them and -10.00 EUR on 1 while they are valid, 0.00 EUR in all"
        )
    );

    let mut huge = Stake::default();
    for _ in 0..2 {
        huge.add(&held_up("EUR", i64::MAX, i64::MIN + 1, false));
    }
    assert_eq!(
        huge.in_words().as_deref(),
        Some(
            "2 drafts worth more than 92,233,720,368,547,758.07 EUR, a fall of more than \
             92,233,720,368,547,758.07 EUR on them while they are valid"
        ),
        "never wrapped, nor stopped at the largest amount as if it were the sum"
    );
    assert_eq!(huge.past_validity(), None);
}

#[test]
fn quotes_the_notice_moves_not_are_told_it_asks_only_its_acknowledgement_not_that_nothing_else_waits() {
    let quotes = quote_rows(&[quote(0, None)]);
    let text = |moves_any| {
        let letter = NoticeLetter {
            guide: None,
            intro: "Finance has published a price notice.",
            name: "Sam",
            title: "Freight",
            body_html: "<p>Freight is billed separately.</p>".into(),
            body: "Freight is billed separately.".into(),
            changes_heading: "Price changes",
            changes: &[],
            unlisted: None,
            whole_notice: None,
            quotes: &quotes,
            moves_any,
            ack_url: "http://pricegate.test/ack/x",
            link_lifetime: "14 days",
            awaiting_url: None,
        };
        NoticeText { letter: &letter }.render().unwrap_or_default()
    };
    let unmoved = text(false).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        unmoved.contains(
            "Your quote on hold until you acknowledge it (you sign it, and it was drafted before the notice). \
             The notice does not change its total: acknowledging it is all this notice asks."
        ),
        "one quote, in the singular: {unmoved}"
    );
    assert!(!unmoved.contains("wait only"), "their lines may need repricing for another notice: {unmoved}");
    assert!(!text(true).contains("does not change its total"));
}

#[test]
fn a_quote_says_what_the_notice_does_to_it_in_words() {
    let lapsed = chrono::NaiveDate::from_ymd_opt(2026, 11, 30);
    // What is to come, seen from 2026-11-30, of the days a notice changes the total on.
    let day = |d| match d {
        0 => chrono::NaiveDate::from_ymd_opt(2026, 11, 29).expect("a date"),
        d => chrono::NaiveDate::from_ymd_opt(2026, 12, d).expect("a date"),
    };
    let ahead = |days: &[(u32, i64)]| {
        let days: Vec<_> = days.iter().map(|(d, total)| (day(*d), *total)).collect();
        ChangesAhead::of(&days, day(0).succ_opt().expect("a day"))
    };
    let once = ahead(&[(1, 3_000)]);
    let steps_down = ahead(&[(1, -7_000), (2, -3_000), (3, 0)]);
    let in_force_then_steps = ahead(&[(0, -7_000), (1, -3_000), (3, 0)]);
    let only_back_to_come = ahead(&[(0, -7_000), (3, 0)]);
    let away_and_back = ahead(&[(1, -7_000), (3, 0)]);
    let up_and_down = ahead(&[(1, -7_000), (2, 5_000), (3, 0)]);
    let offsetting = ahead(&[(1, 0)]);
    let offsetting_then_up = ahead(&[(1, 0), (3, 10_000)]);
    let rows = quote_rows(&[
        quote(12_000, None),
        quote(-500, None),
        quote(0, None),
        quote(9_000, lapsed),
        quote_beyond(0, 40_000, None),
        quote_beyond(-6_000, 40_000, None),
        BlockedQuote { overtaken: vec!["VALVE-C50".into()], ..quote(0, None) },
        BlockedQuote { approved: vec!["PUMP-C250".into()], ..quote(0, None) },
        BlockedQuote { overtaken: vec!["VALVE-C50".into()], approved: vec!["PUMP-C250".into()], ..quote(0, None) },
        BlockedQuote { changes_ahead: once, ..quote(3_000, None) },
        BlockedQuote { changes_ahead: steps_down, ..quote(3_000, None) },
        BlockedQuote { changes_ahead: in_force_then_steps, ..quote(3_000, None) },
        BlockedQuote { changes_ahead: steps_down, ..quote_beyond(-6_000, 40_000, None) },
        BlockedQuote { changes_ahead: steps_down, ..quote(0, None) },
        BlockedQuote {
            changes_ahead: in_force_then_steps,
            overtaken: vec!["VALVE-C50".into()],
            ..quote_beyond(0, 40_000, None)
        },
        BlockedQuote { changes_ahead: only_back_to_come, ..quote(0, None) },
        BlockedQuote { changes_ahead: away_and_back, ..quote(0, None) },
        BlockedQuote { changes_ahead: up_and_down, ..quote(0, None) },
        BlockedQuote { changes_ahead: offsetting, ..quote(0, None) },
        BlockedQuote { changes_ahead: offsetting_then_up, ..quote(10_000, None) },
    ]);
    let said: Vec<&str> = rows.iter().map(|r| r.delta.as_str()).collect();
    assert!(moves_any(&[BlockedQuote { changes_ahead: away_and_back, ..quote(0, None) }]), "changed and changed back");
    assert!(!moves_any(&[quote(0, None)]));
    assert_eq!(
        said,
        [
            "+120.00 EUR on its total while it is valid",
            "-5.00 EUR on its total while it is valid",
            "its total does not change",
            "expired on 2026-11-30",
            "its total does not change while it is valid (until 2026-12-05); prices dated after that would change it by +400.00 EUR",
            "-60.00 EUR on its total while it is valid (until 2026-12-05), and prices dated after that would make \
             it +340.00 EUR in all",
            "its total does not change by this notice: a later notice has set the price of VALVE-C50 since",
            "its total does not change by this notice: finance approved keeping the price quoted for PUMP-C250",
            "its total does not change by this notice: a later notice has set the price of VALVE-C50 since, and \
             finance approved keeping the price quoted for PUMP-C250",
            "+30.00 EUR on its total from 2026-12-01 while it is valid; finalised before 2026-12-01, it keeps its \
             prices as far as this notice goes",
            "+30.00 EUR on its total while it is valid, in steps from 2026-12-01; finalised before 2026-12-01, it \
             keeps its prices as far as this notice goes",
            "+30.00 EUR on its total while it is valid, in steps, the next on 2026-12-01",
            "-60.00 EUR on its total while it is valid (until 2026-12-05), in steps from 2026-12-01, and prices \
             dated after that would make it +340.00 EUR in all; finalised before 2026-12-01, it keeps its prices \
             as far as this notice goes",
            "its total changes by as much as -70.00 EUR while it is valid, in steps from 2026-12-01, and is back \
             where it was from 2026-12-03; finalised before 2026-12-01, it keeps its prices as far as this notice goes",
            "its total changes by as much as -70.00 EUR while it is valid, in steps, the next on 2026-12-01, and is \
             back where it was from 2026-12-03; prices dated after 2026-12-05, when its validity ends, would change it \
             by +400.00 EUR",
            "its total is changed by -70.00 EUR until 2026-12-03, then back where it was",
            "its total changes by -70.00 EUR from 2026-12-01, and is back where it was from 2026-12-03; finalised \
             before 2026-12-01, it keeps its prices as far as this notice goes",
            "its total changes by between -70.00 EUR and +50.00 EUR while it is valid, in steps from 2026-12-01, \
             and is back where it was from 2026-12-03; finalised before 2026-12-01, it keeps its prices as far as \
             this notice goes",
            "its total does not change; finalised before 2026-12-01, it keeps its prices as far as this notice goes",
            "+100.00 EUR on its total from 2026-12-03 while it is valid; finalised before 2026-12-01, it keeps its \
             prices as far as this notice goes",
        ]
    );
}
