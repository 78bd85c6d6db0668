//! The gate as a salesperson and finance meet it: notices before and after
//! drafting, repricing, superseded prices and the override, and the audit log.

use pricegate_domain::Role;
use pricegate_store::{Actor, StoreError};
use pricegate_tests::fixtures::{
    assert_error, create_notice, create_product, date_in_days, draft_quote, draft_quote_signed_by, etag_of, field,
    id_of, lapse_quote, publish_notice, publish_price_change,
};
use pricegate_tests::pages::{client, csrf_in, hidden_in, page_as, post_form, session_cookie};
use pricegate_tests::{PASSWORD, TestApp, both_backends};
use serde_json::{Value, json};

both_backends! {
    /// A notice published while a new quote's form is open, before it is
    /// saved, changes prices the form showed, and the gate does not ask about
    /// it (the quote is drafted after it): the page that says the quote was
    /// drafted names it, with the products on the quote it changes.
    async fn a_notice_published_while_a_new_quote_s_form_is_open_is_named_once_it_is_saved(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "G-80", "EUR", 22_000).await;
        create_product(&finance, "H-1", "EUR", 500).await;
        // Published before the form is shown: its prices are the form's.
        publish_price_change(&finance, "G-80", 21_000, &date_in_days(0)).await;
        let cookie = session_cookie(&app.base, &sam.email).await;
        let http = client();
        let new_quote = format!("{}/quotes/new", app.base);
        let open_form = || async {
            let r = http.get(&new_quote).header("cookie", &cookie).send().await.expect("the form");
            r.text().await.unwrap_or_default()
        };
        let filled = |form: &str, sku: &str| {
            vec![
                ("csrf_token", csrf_in(form)),
                // (A form of its own each: the first form is sent twice below.)
                ("draft_id", uuid::Uuid::new_v4().to_string()),
                ("notices_seen", hidden_in(form, "notices_seen")),
                ("customer_name", "Greta Berg".to_owned()),
                ("customer_email", "greta@nordwind.example".to_owned()),
                ("valid_until", date_in_days(30)),
                ("signer_id", sam.id.to_string()),
                ("rows", "1".to_owned()),
                ("sku_0", sku.to_owned()),
                ("quantity_0", "10".to_owned()),
            ]
        };
        let form = open_form().await;
        assert!(pricegate_tests::pages::unwrapped(&form).contains("210.00 EUR"), "{form}");
        // Published while it is open: one on its product, one on another, and one on
        // its product to come (which leaves the price the form showed).
        let rise = json!([{"sku": "G-80", "unit_price_minor": 30_000, "effective_on": date_in_days(0)}]);
        let rise = create_notice(&finance, "G-80 big rise", rise).await;
        publish_notice(&finance, &rise).await;
        publish_price_change(&finance, "H-1", 700, &date_in_days(0)).await;
        publish_price_change(&finance, "G-80", 31_000, &date_in_days(20)).await;
        // "More lines" in between shows the form again, at today's prices, but as first shown.
        let more = [filled(&form, "G-80"), vec![("more_rows", "1".to_owned())]].concat();
        let (status, again) = post_form(new_quote.clone(), &cookie, &more).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(hidden_in(&again, "notices_seen"), hidden_in(&form, "notices_seen"));
        let (status, page) = post_form(new_quote.clone(), &cookie, &filled(&again, "G-80")).await;
        assert_eq!(status, 303, "{page}");
        let page = pricegate_tests::pages::unwrapped(&page);
        assert!(
            page.contains(
                "While the form was open, finance published the price notice \u{201c}G-80 big rise\u{201d} (G-80): \
                 the quote took the prices in force as it was saved, not those the form showed. Check its lines \
                 below before you offer it."
            ),
            "{page}"
        );
        assert!(page.contains("3,000.00 EUR"), "ten at the new price: {page}");
        // A form shown after them, one whose products they leave alone, or one
        // whose number was altered, names none.
        let seen = format!("name=\"notices_seen\" value=\"{}\"", hidden_in(&form, "notices_seen"));
        let altered = form.replace(&seen, "name=\"notices_seen\" value=\"-1\"");
        for (form, sku) in [(open_form().await, "G-80"), (form, "H-9"), (altered, "G-80")] {
            if sku == "H-9" {
                create_product(&finance, "H-9", "EUR", 100).await;
            }
            let (status, page) = post_form(new_quote.clone(), &cookie, &filled(&form, sku)).await;
            assert_eq!(status, 303, "{page}");
            assert!(page.contains("Quote drafted") && !page.contains("While the form was open"), "{sku}: {page}");
        }
        app.stop().await;
    }
}

both_backends! {
    /// The gate reads of each pending notice only its changes to the quote's
    /// products: one that prices none of them still holds the quote up, with
    /// nothing on its total; one that prices many shows its change to the
    /// quote's line alone, the same price steps, in the notice's order.
    async fn a_pending_notice_is_read_for_the_quote_s_products_and_held_up_by_whatever_it_prices(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        for sku in ["PUMP-1", "VALVE-2", "HOSE-3"] {
            create_product(&finance, sku, "EUR", 1_000).await;
        }
        let id = id_of(&draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 2}])).await);
        let elsewhere =
            create_notice(&finance, "Valves", json!([{"sku": "VALVE-2", "unit_price_minor": 1_200, "effective_on": "2099-01-01"}]))
                .await;
        publish_notice(&finance, &elsewhere).await;
        let changes = json!([
            {"sku": "VALVE-2", "unit_price_minor": 1_300, "effective_on": "2099-01-01"},
            {"sku": "PUMP-1", "unit_price_minor": 1_100, "effective_on": "2098-01-01"},
            {"sku": "HOSE-3", "unit_price_minor": 900, "effective_on": "2099-01-01"},
            {"sku": "PUMP-1", "unit_price_minor": 1_150, "effective_on": "2099-01-01"},
        ]);
        let many = create_notice(&finance, "Everything", changes).await;
        publish_notice(&finance, &many).await;
        let gate = sam.get(&format!("/api/v1/quotes/{id}/gate")).await;
        assert_eq!(gate.status, 200, "{}", gate.text);
        let pending = gate.body["pending"].as_array().cloned().unwrap_or_default();
        let ids: Vec<&str> = pending.iter().filter_map(|p| p["notice_id"].as_str()).collect();
        assert_eq!(ids, [elsewhere.as_str(), many.as_str()], "both hold it up: {}", gate.text);
        assert_eq!(pending[0]["impact"]["lines"], json!([]), "{}", gate.text);
        assert_eq!(pending[0]["impact"]["total_delta_minor"], json!(0));
        let lines = pending[1]["impact"]["lines"].as_array().cloned().unwrap_or_default();
        assert_eq!(lines.len(), 1, "{}", gate.text);
        assert_eq!((&lines[0]["sku"], &lines[0]["new_unit_price_minor"]), (&json!("PUMP-1"), &json!(1_150)));
        assert_eq!(lines[0]["earlier"][0]["unit_price_minor"], json!(1_100), "its earlier step: {}", gate.text);
        assert_eq!(pending[1]["impact"]["total_delta_minor"], json!(300));
        // Finalising is refused with the same reading of them.
        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
        assert_error(&r, 409, "pending_acknowledgements");
        assert_eq!(r.body["error"]["pending"], gate.body["pending"], "{}", r.text);
        app.stop().await;
    }
}

both_backends! {
    /// It does not block the quote, and the evidence still says which notice
    /// set each price signed, and that the signer never acknowledged it.
    async fn a_notice_published_before_the_quote_was_drafted_does_not_block_it(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        create_product(&finance, "P-2", "EUR", 400).await;
        let earlier = publish_price_change(&finance, "P-1", 1_100, &date_in_days(-1)).await;
        let future = publish_price_change(&finance, "P-1", 1_300, "2099-01-01").await;

        let quote = draft_quote(&sam, json!([{"sku": "P-1", "quantity": 2}, {"sku": "P-2", "quantity": 1}])).await;
        assert_eq!(quote["lines"][0]["unit_price_minor"], 1_100, "drafted at the price in force");
        let id = id_of(&quote);
        let gate = sam.get(&format!("/api/v1/quotes/{id}/gate")).await;
        assert_eq!(gate.status, 200, "{}", gate.text);
        assert_eq!(gate.body["ready"], true);
        assert_eq!(gate.body["pending"], json!([]));
        assert_eq!(gate.body["superseded"], json!([]));

        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["state"], "finalised");
        assert_eq!(r.body["evidence"]["notices"], json!([]), "none of the earlier notices was this quote's business");
        assert!(r.body["finalised_at"].as_str() > quote["drafted_at"].as_str());
        let notice = sam.get(&format!("/api/v1/notices/{future}")).await;
        assert_eq!(notice.body["acknowledged_by_me"], false);

        // Where each price signed came from: P-1's from the earlier notice,
        // never acknowledged; P-2's from the price list.
        let prices = &r.body["evidence"]["prices"];
        assert_eq!(prices.as_array().map(Vec::len), Some(2), "{prices}");
        assert_eq!((&prices[0]["sku"], &prices[0]["unit_price_minor"]), (&json!("P-1"), &json!(1_100)));
        let set_by = &prices[0]["set_by"];
        assert_eq!(set_by["notice_id"], json!(earlier), "{prices}");
        assert_eq!(set_by["title"], "P-1 now 1100");
        assert_eq!(set_by["effective_on"], json!(date_in_days(-1)));
        assert_eq!(set_by["in_force_from"], json!(date_in_days(0)), "dated yesterday, in force from its publication");
        assert_eq!((&set_by["acknowledged_at"], &set_by["channel"]), (&json!(null), &json!(null)), "{prices}");
        assert!(prices[1]["product_id"].as_str().is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()), "{prices}");
        assert_eq!((&prices[1]["sku"], &prices[1]["unit_price_minor"], &prices[1]["set_by"]), (&json!("P-2"), &json!(400), &json!(null)));
        let fetched = sam.get(&format!("/api/v1/quotes/{id}")).await;
        assert_eq!(fetched.body["evidence"]["prices"], *prices, "kept as finalised");

        let html = page_as(&app.base, &sam_user.email, &format!("/quotes/{id}")).await;
        let sources = section(&html, "id=\"price-sources\"", "</table>");
        let p1 = section(sources, "<strong>P-1</strong>", "</tr>");
        assert!(p1.contains("11.00") && p1.contains("P-1 now 1100") && p1.contains(&format!("/notices/{earlier}")), "{p1}");
        assert!(p1.contains("Not acknowledged") && p1.contains("published before the quote was drafted"), "{p1}");
        let p2 = section(sources, "<strong>P-2</strong>", "</tr>");
        assert!(p2.contains("4.00") && p2.contains("The price list"), "{p2}");
        // As it was when finalised: a later notice may have changed it since.
        assert!(p2.contains(", in force when finalised</span>") && p2.contains("\"Unit price in force when finalised\""), "{p2}");
    }
}

both_backends! {
    async fn a_notice_pricing_a_product_twice_names_both_prices_and_counts_the_last(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 50_000).await;
        let quote = draft_quote(&sam, json!([{"sku": "P-1", "quantity": 10, "discount_bp": 1_000}])).await;
        let (soon, later) = (date_in_days(9), date_in_days(40));
        let quote_page = format!("/quotes/{}", id_of(&quote));
        let page = || page_as(&app.base, &sam_user.email, &quote_page);
        // Listed later first: the dates, not the order, say which price comes first.
        let notice = create_notice(&finance, "Two steps", json!([
            {"sku": "P-1", "unit_price_minor": 56_000, "effective_on": later},
            {"sku": "P-1", "unit_price_minor": 54_000, "effective_on": soon},
        ]))
        .await;
        publish_notice(&finance, &notice).await;

        let gate = sam.get(&format!("/api/v1/quotes/{}/gate", id_of(&quote))).await;
        assert_eq!(gate.status, 200, "{}", gate.text);
        let impact = &gate.body["pending"][0]["impact"];
        assert_eq!(impact["lines"].as_array().map(Vec::len), Some(1), "one line, once: {impact}");
        let line = &impact["lines"][0];
        assert_eq!((line["new_unit_price_minor"].clone(), line["effective_on"].clone()), (json!(56_000), json!(later)));
        assert_eq!(
            line["earlier"],
            json!([{
                "unit_price_minor": 54_000,
                "effective_on": soon,
                "delta_minor": 36_000,
                "overtaken_by_unit_price_minor": null
            }]),
            "the price in force from {soon} until {later}"
        );
        assert_eq!(impact["total_delta_minor"], 54_000, "the price left in force counts");
        assert_eq!(impact["delta_while_valid_minor"], 54_000, "valid until 2099");
        assert_eq!(impact["change_days"], json!([soon, later]), "finalised before the first, the quote keeps its prices");
        // The quote page gives both days in the "Effective" column, and says what the notice
        // does while the quote is valid and from when, as the e-mails do.
        let html = page().await;
        assert!(
            html.contains(&format!("<span class=\"date\">{soon}</span>, then</span><span class=\"date\">{later}</span>")),
            "{html}"
        );
        assert!(
            html.contains(&format!(
                "For this quote: +540.00 EUR on its total while it is valid, in steps from {soon}; finalised before {soon}, it keeps its prices as far as this notice goes."
            )),
            "{html}"
        );
        // The price the line has when the quote's validity ends stands out; the other is muted.
        assert!(html.contains("<span class=\"muted earlier\">540.00 EUR (+360.00 EUR on the line); then</span>560.00 EUR"), "{html}");
        // A quote valid only until between the two dates meets the first price only, and one
        // valid until before both, neither.
        for (valid_until, while_valid, days) in [(date_in_days(20), 36_000, json!([soon])), (date_in_days(5), 0, json!([]))] {
            let path = format!("/api/v1/quotes/{}", id_of(&quote));
            assert_eq!(sam.patch(&path, &json!({"valid_until": valid_until})).await.status, 200);
            let impact = &sam.get(&format!("{path}/gate")).await.body["pending"][0]["impact"];
            assert_eq!((&impact["total_delta_minor"], &impact["delta_while_valid_minor"]), (&json!(54_000), &json!(while_valid)), "{valid_until}");
            assert_eq!(impact["change_days"], days, "{valid_until}");
            let html = page().await;
            let said = format!(
                "For this quote: +360.00 EUR on its total from {soon} while it is valid (until {valid_until}), and prices \
                 dated after that would make it +540.00 EUR in all; finalised before {soon}, it keeps its prices as far as \
                 this notice goes."
            );
            assert_eq!(html.contains(&said), while_valid != 0, "{valid_until}: {html}");
            let nothing_while_valid = format!(
                "For this quote: its total does not change while it is valid (until {valid_until}); prices dated after that \
                 would change it by +540.00 EUR."
            );
            assert_eq!(html.contains(&nothing_while_valid), while_valid == 0, "{valid_until}: {html}");
            // The line is marked beside its product only if the notice changes its price while it is valid.
            assert_eq!(html.contains("class=\"badge unread gate-mark\""), while_valid != 0, "{valid_until}: {html}");
            // The price the line has when the quote's validity ends stands out, with its day and its change.
            let first_counts = "<span class=\"counts earlier\">540.00 EUR (+360.00 EUR on the line); then</span><span class=\"muted aside\">560.00 EUR</span>";
            assert_eq!(html.contains(first_counts), while_valid != 0, "{valid_until}: {html}");
            let its_day = format!("<span class=\"counts earlier\"><span class=\"date\">{soon}</span>, then</span><span class=\"muted aside\">");
            assert_eq!(html.contains(&its_day), while_valid != 0, "{valid_until}: {html}");
            let its_change = format!(
                "{}<span class=\"muted after-validity\">then +540.00 EUR in all once this quote's validity has ended</span>",
                if while_valid == 0 { "0.00 EUR" } else { "+360.00 EUR" }
            );
            assert!(html.contains(&its_change), "{valid_until}: {html}");
        }
        let listed = sam.get(&format!("/api/v1/notices/{notice}")).await.body;
        let dates: Vec<&str> = listed["changes"].as_array().into_iter().flatten().filter_map(|c| c["effective_on"].as_str()).collect();
        assert_eq!(dates, [soon.as_str(), later.as_str()], "a product's prices are listed by date: {listed}");
        // A price lowered for a while and put back, both while the quote is valid, is no change of nothing.
        let (valid_until, back) = (date_in_days(60), date_in_days(23));
        assert_eq!(sam.patch(&format!("/api/v1/quotes/{}", id_of(&quote)), &json!({"valid_until": valid_until})).await.status, 200);
        let offer = create_notice(&finance, "A fortnight's offer", json!([
            {"sku": "P-1", "unit_price_minor": 45_000, "effective_on": soon},
            {"sku": "P-1", "unit_price_minor": 50_000, "effective_on": date_in_days(23)},
        ]))
        .await;
        let confirm = page_as(&app.base, &fiona.email, &format!("/notices/{offer}/publish")).await;
        let said = format!(
            "none by the end of its validity: its total changes by -450.00 EUR from {soon}, and is back where it was from \
             {back}"
        );
        assert!(confirm.contains(&said), "the publish confirmation says it, not 0.00 EUR: {confirm}");
        assert!(
            confirm.contains("its total changes by <strong>0.00 EUR in the end, though it moves meanwhile</strong>"),
            "{confirm}"
        );
        publish_notice(&finance, &offer).await;
        let html = page().await;
        let said = format!(
            "For this quote: its total changes by -450.00 EUR from {soon}, and is back where it was from {back}; finalised \
             before {soon}, it keeps its prices as far as this notice goes."
        );
        assert!(html.contains(&said), "{html}");
        assert!(!html.contains("its total does not change"), "{html}");
        let offer_card = html.split(&format!("id=\"ahead-{offer}\"")).next().and_then(|before| before.rsplit("pending-notice").next());
        let footer = format!("Change to the total by the end of this quote's validity (<span class=\"date\">{valid_until}</span>)");
        assert!(offer_card.is_some_and(|card| card.contains(&footer)), "its 0.00 is where it ends: {html}");
        let dashboard = page_as(&app.base, &fiona.email, &format!("/notices/{offer}/dashboard")).await;
        let said = format!("changes by -450.00 EUR from {soon}, and is back where it was from {back}");
        assert!(dashboard.contains(&said), "the notice's dashboard says so too: {dashboard}");
        // Acknowledged, its prices are among those due while the quote is valid: the one
        // put back is the price quoted, which needs no repricing.
        assert_eq!(sam.post_empty(&format!("/api/v1/notices/{offer}/acknowledge")).await.status, 200);
        let html = page().await;
        let upcoming = html.split("id=\"upcoming\"").nth(1).unwrap_or_default();
        assert_eq!(
            upcoming.matches("the price quoted: from then the line needs no repricing for it").count(),
            1,
            "the 500.00 put back, not the 450.00: {html}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publish_confirmation_says_what_prices_dated_after_a_quote_s_validity_add() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (sam, _) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 10_000).await;
    let valid_until = date_in_days(20);
    let mut request = pricegate_tests::fixtures::quote_request(json!([{"sku": "P-1", "quantity": 3}]));
    request["valid_until"] = json!(valid_until);
    let r = sam.post("/api/v1/quotes", &request).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let quote = id_of(&r.body);
    let notice = create_notice(
        &finance,
        "Two steps",
        json!([
            {"sku": "P-1", "unit_price_minor": 11_000, "effective_on": date_in_days(5)},
            {"sku": "P-1", "unit_price_minor": 13_000, "effective_on": date_in_days(40)},
        ]),
    )
    .await;
    let html = page_as(&app.base, &fiona.email, &format!("/notices/{notice}/publish")).await;
    let row = section(&html, &format!("/quotes/{quote}"), "</tr>");
    assert!(
        row.contains(&format!("+30.00 EUR while it is valid; +90.00 EUR in all with prices dated after {valid_until}")),
        "{row}"
    );
    assert!(row.contains("<td class=\"num words\""), "a sentence, wrapped: {row}");
    let impact = section(&html, "<p id=\"impact\">", "</p>");
    assert!(
        impact.contains("1 open quote; while it is valid, its total changes by <strong>+30.00 EUR</strong>."),
        "{impact}"
    );
    // A change to come says when it starts, as the dashboard does.
    let soon = json!([{"sku": "P-1", "unit_price_minor": 12_000, "effective_on": date_in_days(5)}]);
    let later_notice = create_notice(&finance, "Soon", soon).await;
    let html = page_as(&app.base, &fiona.email, &format!("/notices/{later_notice}/publish")).await;
    let row = section(&html, &format!("/quotes/{quote}"), "</tr>");
    assert!(row.contains(&format!(">+60.00 EUR from {}</td>", date_in_days(5))), "{row}");
    // A second draft: the sentence sums both, in the plural.
    let r = sam.post("/api/v1/quotes", &request).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let html = page_as(&app.base, &fiona.email, &format!("/notices/{notice}/publish")).await;
    let impact = section(&html, "<p id=\"impact\">", "</p>");
    assert!(
        impact.contains(
            "2 open quotes; together, while each is valid, their totals change by <strong>+60.00 EUR</strong>."
        ),
        "{impact}"
    );
    // As served, each amount and day in it stays on one line.
    let markup =
        pricegate_tests::pages::markup_as(&app.base, &fiona.email, &format!("/notices/{notice}/publish")).await;
    let row = section(&markup, &format!("/quotes/{quote}"), "</tr>");
    assert!(
        row.contains(&format!(
            "<span class=\"nw\">+30.00 EUR</span> while it is valid; <span class=\"nw\">+90.00 EUR</span> in all with \
             prices dated after <span class=\"nw\">{valid_until}</span>"
        )),
        "{row}"
    );
    app.stop().await;
}

/// Two pending notices that price different lines: the page sums them, as
/// their e-mails say it does ("what each notice, and all of them together, do to it").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quote_page_sums_what_its_pending_notices_do_together() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 10_000).await;
    create_product(&finance, "P-2", "EUR", 2_000).await;
    let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 2}, {"sku": "P-2", "quantity": 5}])).await);
    let today = date_in_days(0);
    let rise =
        create_notice(&finance, "Pumps up", json!([{"sku": "P-1", "unit_price_minor": 11_000, "effective_on": today}]))
            .await;
    publish_notice(&finance, &rise).await;
    let html = page_as(&app.base, &sam_user.email, &format!("/quotes/{quote}")).await;
    assert!(!html.contains("id=\"together\""), "one notice's card says it: {html}");
    let cut = create_notice(
        &finance,
        "Hoses down",
        json!([{"sku": "P-2", "unit_price_minor": 1_500, "effective_on": today}]),
    )
    .await;
    publish_notice(&finance, &cut).await;
    let html = page_as(&app.base, &sam_user.email, &format!("/quotes/{quote}")).await;
    let together = section(&html, "id=\"together\"", "</p>");
    assert!(
        together.contains(
            "Together, while the quote is valid, these notices change the total by <strong>-5.00 EUR</strong>."
        ),
        "+20.00 EUR and -25.00 EUR: {together}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_published_after_a_draft_s_validity_ended_changes_nothing_while_it_was_valid() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 2}])).await);
    let lapsed_on = lapse_quote(&app, &quote).await;
    // Dated the quote's last valid day, published today: in force only after it.
    let notice = create_notice(
        &finance,
        "Backdated",
        json!([
            {"sku": "P-1", "unit_price_minor": 1_300, "effective_on": lapsed_on.to_string()},
        ]),
    )
    .await;
    let confirm = page_as(&app.base, &fiona.email, &format!("/notices/{notice}/publish")).await;
    let impact = section(&confirm, "<p id=\"impact\">", "</p>");
    assert_eq!(
        impact,
        "<p id=\"impact\">1 open quote, past its validity: it cannot be finalised at any price until its owner extends it.",
        "listed, not summed as a change of nothing"
    );
    publish_notice(&finance, &notice).await;
    let impact = &sam.get(&format!("/api/v1/quotes/{quote}/gate")).await.body["pending"][0]["impact"];
    assert_eq!(
        (&impact["delta_while_valid_minor"], &impact["total_delta_minor"]),
        (&json!(0), &json!(600)),
        "{impact}"
    );
    assert_eq!(impact["change_days"], json!([]), "{impact}");
    let html = page_as(&app.base, &sam_user.email, &format!("/quotes/{quote}")).await;
    let row = section(section(&html, "class=\"impact", "</table>"), "<td><strong>P-1</strong></td>", "</tr>");
    assert!(row.contains("after this quote's validity ends"), "{row}");
    assert!(row.contains("0.00 EUR<span class=\"muted after-validity\">then +6.00 EUR in all"), "{row}");
    assert!(!row.contains("class=\"counts"), "nothing of it counts while the quote was valid: {row}");
    app.stop().await;
}

both_backends! {
    async fn a_price_dated_before_its_notice_changes_the_quote_from_the_day_it_was_published(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let quote = draft_quote(&sam, json!([{"sku": "P-1", "quantity": 2}])).await;
        let later = date_in_days(10);
        let notice = create_notice(&finance, "Backdated", json!([
            {"sku": "P-1", "unit_price_minor": 1_200, "effective_on": date_in_days(-3)},
            {"sku": "P-1", "unit_price_minor": 1_300, "effective_on": later},
        ]))
        .await;
        publish_notice(&finance, &notice).await;

        let gate = sam.get(&format!("/api/v1/quotes/{}/gate", id_of(&quote))).await;
        assert_eq!(gate.status, 200, "{}", gate.text);
        let impact = &gate.body["pending"][0]["impact"];
        // The price dated before the notice took force the day it was published.
        assert_eq!(impact["change_days"], json!([date_in_days(0), later]), "{impact}");
        assert_eq!(impact["lines"][0]["earlier"][0]["effective_on"], json!(date_in_days(-3)), "as written: {impact}");
        assert_eq!(impact["delta_while_valid_minor"], 600, "{impact}");
        let published = finance.get(&format!("/api/v1/notices/{notice}")).await.body;
        let from: Vec<&Value> = published["changes"].as_array().into_iter().flatten().map(|c| &c["in_force_from"]).collect();
        assert_eq!(from, [&json!(date_in_days(0)), &json!(later)], "{published}");
    }
}

both_backends! {
    async fn lines_that_offset_one_another_change_the_prices_not_the_total(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-A", "EUR", 1_000).await;
        create_product(&finance, "P-B", "EUR", 1_000).await;
        let quote = draft_quote(&sam, json!([{"sku": "P-A", "quantity": 1}, {"sku": "P-B", "quantity": 1}])).await;
        let day = date_in_days(5);
        let notice = create_notice(&finance, "Swap", json!([
            {"sku": "P-A", "unit_price_minor": 1_100, "effective_on": day},
            {"sku": "P-B", "unit_price_minor": 900, "effective_on": day},
        ]))
        .await;
        let confirm = page_as(&app.base, &fiona.email, &format!("/notices/{notice}/publish")).await;
        assert!(confirm.contains(&format!("none to its total, though its prices change from {day}")), "{confirm}");
        publish_notice(&finance, &notice).await;
        let gate = sam.get(&format!("/api/v1/quotes/{}/gate", id_of(&quote))).await;
        let impact = &gate.body["pending"][0]["impact"];
        assert_eq!((&impact["delta_while_valid_minor"], &impact["change_days"]), (&json!(0), &json!([day])), "{impact}");
        let html = page_as(&app.base, &sam_user.email, &format!("/quotes/{}", id_of(&quote))).await;
        let said = format!(
            "For this quote: its total does not change; finalised before {day}, it keeps its prices as far as this notice goes."
        );
        assert!(html.contains(&said), "{html}");
        let dashboard = page_as(&app.base, &fiona.email, &format!("/notices/{notice}/dashboard")).await;
        let said = format!("no change to its total while it is valid, though its prices change from {day}");
        assert!(dashboard.contains(&said), "{dashboard}");
        assert!(dashboard.contains("Held up: 1 draft worth 20.00 EUR, no change while it is valid"), "{dashboard}");
        app.stop().await;
    }
}

both_backends! {
    async fn repricing_after_a_notice_in_force_takes_the_new_prices(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        create_product(&finance, "P-2", "EUR", 500).await;
        let quote = draft_quote(&sam, json!([{"sku": "P-1", "quantity": 10}, {"sku": "P-2", "quantity": 1, "discount_bp": 2_000}])).await;
        let id = id_of(&quote);
        assert_eq!(quote["total_minor"], 10_400);
        let notice = publish_price_change(&finance, "P-1", 1_200, &date_in_days(0)).await;
        // Refused for the notice, the refusal names the old price too: acknowledging is not the end of it.
        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
        assert_error(&r, 409, "pending_acknowledgements");
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("acknowledge 1 price notice") && message.contains("must also be repriced"), "{message}");
        assert_eq!(sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);

        let gate = sam.get(&format!("/api/v1/quotes/{id}/gate")).await;
        assert_eq!(gate.body["ready"], false);
        assert_eq!(gate.body["superseded"][0]["sku"], "P-1");
        assert_eq!(gate.body["superseded"][0]["current_unit_price_minor"], 1_200);

        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/reprice")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["old_total_minor"], 10_400);
        assert_eq!(r.body["new_total_minor"], 12_400);
        let lines = &r.body["quote"]["lines"];
        assert_eq!(lines[0]["unit_price_minor"], 1_200);
        assert_eq!(lines[0]["total_minor"], 12_000);
        assert_eq!(lines[1]["unit_price_minor"], 500);
        assert_eq!(lines[1]["discount_bp"], 2_000, "repricing keeps quantities and discounts");
        assert_eq!(r.body["quote"]["total_minor"], 12_400);
        assert_eq!(r.body["quote"]["drafted_at"], quote["drafted_at"]);
        // The same lines, repriced: the line the gate named is still that line.
        assert_eq!(gate.body["superseded"][0]["line_id"], quote["lines"][0]["id"]);
        assert_eq!((&lines[0]["id"], &lines[1]["id"]), (&quote["lines"][0]["id"], &quote["lines"][1]["id"]));

        let fetched = sam.get(&format!("/api/v1/quotes/{id}")).await;
        assert_eq!(fetched.body["lines"], *lines);
        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["total_minor"], 12_400);
        assert_eq!(r.body["evidence"]["notices"][0]["notice_id"], json!(notice));
        assert_eq!(r.body["evidence"]["override"], json!(null));
        // The new P-1 price was set by the notice the signer acknowledged.
        let prices = &r.body["evidence"]["prices"];
        assert_eq!(prices[0]["set_by"]["notice_id"], json!(notice), "{prices}");
        assert_eq!(prices[0]["set_by"]["acknowledged_at"], r.body["evidence"]["notices"][0]["acknowledged_at"]);
        assert_eq!(prices[0]["set_by"]["channel"], r.body["evidence"]["notices"][0]["channel"]);
        assert_eq!((&prices[1]["sku"], &prices[1]["set_by"]), (&json!("P-2"), &json!(null)));
    }
}

both_backends! {
    /// Repriced before the notice is acknowledged, the quote already carries
    /// its prices: the notice still holds it up, changes nothing on it, and
    /// the quote's page says so rather than show a table of zeros unexplained.
    async fn a_quote_repriced_before_acknowledging_is_told_the_notice_changes_nothing_on_it(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 10}])).await);
        let notice = publish_price_change(&finance, "P-1", 1_200, &date_in_days(0)).await;
        let path = format!("/quotes/{id}");
        let page = || page_as(&app.base, &sam_user.email, &path);
        assert!(!page().await.contains("already-carried"), "the rise is still to come to the quote");

        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/reprice")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let gate = sam.get(&format!("/api/v1/quotes/{id}/gate")).await.body;
        assert_eq!(gate["pending"][0]["notice_id"], json!(notice), "still to acknowledge: {gate}");
        assert_eq!(gate["pending"][0]["impact"]["total_delta_minor"], 0, "{gate}");
        let html = page().await;
        assert!(
            html.contains(&format!(
                "id=\"already-carried-{notice}\">This quote already carries these prices, so the notice changes \
                 nothing on it, but the notice must still be acknowledged before the quote can be finalised."
            )),
            "{html}"
        );
        // A later notice prices the line again: the first no longer reassures.
        let again = publish_price_change(&finance, "P-1", 1_300, &date_in_days(0)).await;
        let html = page().await;
        assert!(!html.contains(&format!("already-carried-{notice}")), "{html}");

        for n in [&notice, &again] {
            assert_eq!(sam.post_empty(&format!("/api/v1/notices/{n}/acknowledge")).await.status, 200);
        }
        assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{id}/reprice")).await.status, 200);
        assert_eq!(sam.get(&format!("/api/v1/quotes/{id}/gate")).await.body["ready"], true);
    }
}

both_backends! {
    /// The quotes list downloads a row a line too, with where each signed
    /// price came from: the notice that set it and the signer's
    /// acknowledgement of it (none for one published before drafting), the
    /// price list, or an old price finance approved keeping, from a notice
    /// or the list. A draft's lines say only what they are quoted at; a
    /// line changed in the database since it was signed names no source.
    async fn the_quote_lines_file_says_where_each_signed_price_came_from(backend: Backend) {
        use sea_orm::ConnectionTrait;
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (rita, _) = app.user(Role::Sales, "Rita").await;
        for (sku, price) in [("P-1", 1_000), ("P-2", 400), ("P-3", 500), ("P-4", 500)] {
            create_product(&finance, sku, "EUR", price).await;
        }
        // Published before the quote is drafted: its prices are the quote's; Sam reads only the second.
        let unread = publish_price_change(&finance, "P-3", 600, &date_in_days(-2)).await;
        let read = publish_price_change(&finance, "P-4", 550, &date_in_days(-2)).await;
        assert_eq!(sam.post_empty(&format!("/api/v1/notices/{read}/acknowledge")).await.status, 200);
        let signed = id_of(
            &draft_quote(&sam, json!([
                {"sku": "P-1", "quantity": 4},
                {"sku": "P-2", "quantity": 1, "discount_bp": 1_250},
                {"sku": "P-3", "quantity": 2},
                {"sku": "P-4", "quantity": 1, "discount_bp": 5}
            ]))
            .await,
        );
        let draft = id_of(&draft_quote(&sam, json!([{"sku": "P-2", "quantity": 2}])).await);
        let ritas = id_of(&draft_quote(&rita, json!([{"sku": "P-2", "quantity": 3}])).await);
        // Both rise before it is signed: finance approves keeping the old prices of P-1 and P-3.
        for sku in ["P-1", "P-3"] {
            let rise = publish_price_change(&finance, sku, 1_250, &date_in_days(-1)).await;
            assert_eq!(sam.post_empty(&format!("/api/v1/notices/{rise}/acknowledge")).await.status, 200);
        }
        let r = finance.post(&format!("/api/v1/quotes/{signed}/override"), &json!({"reason": "Old offer"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let finalised = sam.post_empty(&format!("/api/v1/quotes/{signed}/finalise")).await;
        assert_eq!(finalised.status, 200, "{}", finalised.text);

        let html = page_as(&app.base, &fiona.email, "/quotes?state=finalised").await;
        assert!(html.contains("<a href=\"/quotes/lines.csv?state=finalised\" id=\"export-quote-lines\" download>"), "{html}");
        let named = pricegate_tests::pages::download_name(&app.base, &fiona.email, "/quotes/lines.csv?state=draft").await;
        assert_eq!(named, format!("pricegate-quote-lines-draft-as-of-{}.csv", date_in_days(0)));
        let csv = page_as(&app.base, &fiona.email, "/quotes/lines.csv").await;
        let mut rows = csv.lines();
        assert_eq!(
            rows.next(),
            Some(
                "\u{feff}reference,quote_id,state,customer_name,customer_company,currency,line,sku,product_name,unit,\
                 quantity,unit_price,unit_price_minor,discount_percent,line_total,line_total_minor,finalised_at_utc,\
                 price_set_by,price_kept_by_approval,price_in_force_when_finalised,price_notice_id,price_notice_published_at_utc,price_in_force_from,\
                 notice_acknowledged_at_utc,notice_acknowledged_channel,zone,quote_changed_since_finalised"
            )
        );
        assert_eq!(rows.count(), 6, "four lines signed, one in each draft: {csv}");
        let of = |csv: &str, quote: &str, sku: &str| -> String {
            let row = csv.lines().find(|r| r.contains(quote) && r.contains(&format!(",{sku},")));
            let row = row.unwrap_or_else(|| panic!("{sku}: {csv}"));
            row.split_once(&format!("{quote},")).map(|(_, rest)| rest.to_owned()).unwrap_or_default()
        };
        let finalised_at = finalised.body["finalised_at"].as_str().expect("finalised").to_owned();
        let quoted = |line: usize, sku: &str, quantity: i64, price: &str, discount: &str, total: &str| {
            format!("finalised,Greta Berg,Nordwind,EUR,{line},{sku},Product {sku},each,{quantity},{price},{discount},{total},{finalised_at},")
        };
        let notice_of = |id: &str| {
            let id = id.to_owned();
            let finance = &finance;
            async move {
                let n = finance.get(&format!("/api/v1/notices/{id}")).await.body.clone();
                let title = n["title"].as_str().expect("a title").to_owned();
                let published = n["published_at"].as_str().expect("published").to_owned();
                let acks = finance.get(&format!("/api/v1/notices/{id}/acknowledgements")).await;
                let acked = acks.body["acknowledged"][0]["acknowledged_at"].as_str().map(|at| format!("{at},api"));
                format!("notice {}: {title}", n["seq"]) + &format!(",{{kept}},{id},{published},{},", date_in_days(0))
                    + &acked.unwrap_or_else(|| ",".to_owned())
                    + ",UTC,"
            }
        };
        // Signed at 10.00 though 12.50 was in force: the price list's, kept by finance's approval.
        assert_eq!(of(&csv, &signed, "P-1"), quoted(1, "P-1", 4, "10.00,1000", "0.00", "40.00,4000") + "price list,yes,12.50,,,,,,UTC,");
        assert_eq!(of(&csv, &signed, "P-2"), quoted(2, "P-2", 1, "4.00,400", "12.50", "3.50,350") + "price list,no,4.00,,,,,,UTC,");
        // Kept at 6.00, the price the unread notice set: kept by the approval, and never acknowledged.
        let p3 = notice_of(&unread).await.replace("{kept}", "yes,12.50");
        assert!(p3.ends_with(",,,UTC,"), "Sam never acknowledged it: {p3}");
        assert_eq!(of(&csv, &signed, "P-3"), quoted(3, "P-3", 2, "6.00,600", "0.00", "12.00,1200") + &p3);
        let p4 = notice_of(&read).await.replace("{kept}", "no,5.50");
        assert!(p4.ends_with(",api,UTC,"), "{p4}");
        assert_eq!(of(&csv, &signed, "P-4"), quoted(4, "P-4", 1, "5.50,550", "0.05", "5.50,550") + &p4);
        assert_eq!(of(&csv, &draft, "P-2"), "draft,Greta Berg,Nordwind,EUR,1,P-2,Product P-2,each,2,4.00,400,0.00,8.00,800,,,,,,,,,,UTC,");

        // Sam's file holds his quotes only; a filter chooses as on the page.
        let mine = page_as(&app.base, &sam_user.email, "/quotes/lines.csv").await;
        assert!(mine.lines().count() == 1 + 5 && !mine.contains(&ritas), "{mine}");
        let drafts = page_as(&app.base, &fiona.email, "/quotes/lines.csv?state=draft").await;
        assert!(drafts.lines().count() == 1 + 2 && drafts.contains(&draft) && drafts.contains(&ritas), "{drafts}");

        // A signed line changed in the database since: the file names no source for it.
        let db = app.store.connection();
        db.execute_unprepared("UPDATE quote_lines SET discount_bp = 0 WHERE discount_bp = 1250").await.expect("changed");
        let csv = page_as(&app.base, &fiona.email, "/quotes/lines.csv").await;
        assert_eq!(of(&csv, &signed, "P-2"), quoted(2, "P-2", 1, "4.00,400", "0.00", "4.00,400") + "changed since finalised,,,,,,,,UTC,\"lines; total\"");
        let p1 = of(&csv, &signed, "P-1");
        assert!(p1.contains(",price list,yes,") && p1.ends_with(",\"lines; total\""), "the others as signed, on a quote changed since: {csv}");
        app.stop().await;
    }
}

both_backends! {
    async fn an_override_waives_only_the_superseded_prices_finance_saw(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;

        create_product(&finance, "P-1", "EUR", 1_000).await;
        let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 4}])).await);
        let gate_path = format!("/api/v1/quotes/{id}/gate");
        // The quote page's word on an approval that no longer applies.
        let lapsed = || async {
            let html = page_as(&app.base, &sam_user.email, &format!("/quotes/{id}")).await;
            html.find("id=\"override-lapsed\">").map(|at| html[at..].split("</p>").next().unwrap_or_default().to_owned())
        };

        // Nothing is superseded yet: an override now would waive rises nobody has seen.
        let r = finance.post(&format!("/api/v1/quotes/{id}/override"), &json!({"reason": "In advance"})).await;
        assert_error(&r, 409, "nothing_to_override");

        let rise = publish_price_change(&finance, "P-1", 1_250, &date_in_days(-1)).await;
        sam.post_empty(&format!("/api/v1/notices/{rise}/acknowledge")).await;
        let g = sam.get(&gate_path).await.body;
        assert_eq!((g["ready"].clone(), g["price_override"].clone()), (json!(false), json!(null)), "{g}");
        let before_approval = etag_of(&sam, &format!("/api/v1/quotes/{id}")).await;
        let r = finance.post(&format!("/api/v1/quotes/{id}/override"), &json!({"reason": "Old offer, 1,250"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        // Sent again, it is the one approval: refused, and nothing more is written.
        let etag = etag_of(&sam, &format!("/api/v1/quotes/{id}")).await;
        let r = finance.post(&format!("/api/v1/quotes/{id}/override"), &json!({"reason": "Old offer, 1,250"})).await;
        assert_error(&r, 409, "already_overridden");
        assert!(r.text.contains("approved already") && r.text.contains("no second approval was written"), "{}", r.text);
        assert_eq!(etag_of(&sam, &format!("/api/v1/quotes/{id}")).await, etag, "the quote is as it was");
        let approvals = finance.get(&format!("/api/v1/audit?action=quote.price_override&subject={id}")).await;
        assert_eq!(approvals.body.as_array().map(Vec::len), Some(1), "{}", approvals.text);
        // Finalising on what was read before the approval is refused: the
        // approval is part of what the signer finalises.
        let finalise = sam.request(reqwest::Method::POST, &format!("/api/v1/quotes/{id}/finalise"));
        assert_error(&sam.send(finalise.header("if-match", &before_approval)).await, 412, "quote_changed");
        let g = sam.get(&gate_path).await.body;
        assert_eq!(g["ready"], true, "{g}");
        assert_eq!(g["price_override"]["reason"], "Old offer, 1,250");
        assert_eq!(lapsed().await, None);

        // A second rise after the approval: the approval did not see it.
        let again = publish_price_change(&finance, "P-1", 1_400, &date_in_days(-1)).await;
        sam.post_empty(&format!("/api/v1/notices/{again}/acknowledge")).await;
        let g = sam.get(&gate_path).await.body;
        assert_eq!(g["ready"], false, "{g}");
        assert_eq!(g["price_override"], json!(null), "{g}");
        assert_eq!(g["superseded"][0]["current_unit_price_minor"], 1_400);
        let said = lapsed().await.expect("the page says the approval no longer applies");
        assert!(said.contains("Fiona approved keeping old prices") && said.contains("no longer applies"), "{said}");
        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
        assert_error(&r, 409, "superseded_prices");
        // Said so that a signer who does not own the quote is not told to do what only its owner can.
        assert_eq!(
            r.body["error"]["message"],
            "Some lines carry a price that is no longer in force: the quote's owner must reprice it, or finance must approve keeping the old prices."
        );

        let r = finance.post(&format!("/api/v1/quotes/{id}/override"), &json!({"reason": "Old offer, 1,400"})).await;
        assert_eq!(r.status, 201, "{}", r.text);

        // The approval was for four units: ten thousand at the old price, or a
        // second line at it, need another.
        for lines in [json!([{"sku": "P-1", "quantity": 10_000}]), json!([{"sku": "P-1", "quantity": 4}, {"sku": "P-1", "quantity": 4}])] {
            let r = sam.patch(&format!("/api/v1/quotes/{id}"), &json!({"lines": lines})).await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert!(r.body["lines"].as_array().unwrap().iter().all(|l| l["unit_price_minor"] == 1_000), "{}", r.text);
            let g = sam.get(&gate_path).await.body;
            assert_eq!((g["ready"].clone(), g["price_override"].clone()), (json!(false), json!(null)), "{lines}: {g}");
            assert_error(&sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await, 409, "superseded_prices");
            assert!(lapsed().await.is_some(), "{lines}");
        }
        let r = sam.patch(&format!("/api/v1/quotes/{id}"), &json!({"lines": [{"sku": "P-1", "quantity": 4}]})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(sam.get(&gate_path).await.body["ready"], true, "back to what finance approved");
        assert_eq!(lapsed().await, None);
        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["evidence"]["override"]["reason"], "Old offer, 1,400");
        assert_eq!(r.body["lines"][0]["unit_price_minor"], 1_000);
        // The proof names what the approval waived, as finance saw it.
        let waived = json!([{"sku": "P-1", "quantity": 4, "discount_bp": 0, "quoted_unit_price_minor": 1_000, "current_unit_price_minor": 1_400}]);
        assert_eq!(r.body["evidence"]["override"]["waives"], waived, "{}", r.text);
        assert_eq!(sam.get(&format!("/api/v1/quotes/{id}")).await.body["evidence"]["override"]["waives"], waived);
        let html = page_as(&app.base, &sam_user.email, &format!("/quotes/{id}")).await;
        assert!(html.contains("waiving P-1 × 4 at 10.00 EUR (14.00 EUR in force): Old offer, 1,400"), "{html}");
    }
}

both_backends! {
    /// A line kept at an old price under finance's approval: the evidence
    /// names the notice that set the price signed, and that the signer never
    /// acknowledged it (it came before the quote), beside the price in force.
    async fn the_evidence_names_where_a_price_kept_under_an_override_came_from(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "V-1", "EUR", 10_000).await;
        create_product(&finance, "W-1", "EUR", 2_000).await;
        let earlier = publish_price_change(&finance, "V-1", 11_000, &date_in_days(0)).await;
        // W-1's price at drafting, from a notice Sam did read.
        let read = publish_price_change(&finance, "W-1", 2_200, &date_in_days(0)).await;
        assert_eq!(sam.post_empty(&format!("/api/v1/notices/{read}/acknowledge")).await.status, 200);
        let id = id_of(&draft_quote(&sam, json!([{"sku": "V-1", "quantity": 1}, {"sku": "W-1", "quantity": 1}])).await);
        let both = json!([
            {"sku": "V-1", "unit_price_minor": 13_000, "effective_on": date_in_days(0)},
            {"sku": "W-1", "unit_price_minor": 2_600, "effective_on": date_in_days(0)}
        ]);
        let later = create_notice(&finance, "Both up", both).await;
        publish_notice(&finance, &later).await;
        // V-1 at the old price again, but only from a later day: not where the line's price came from.
        let again = publish_price_change(&finance, "V-1", 11_000, &date_in_days(10)).await;
        for notice in [&later, &again] {
            assert_eq!(sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
        }
        let r = finance.post(&format!("/api/v1/quotes/{id}/override"), &json!({"reason": "Agreed in October"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let price = &r.body["evidence"]["prices"][0];
        assert_eq!((&price["unit_price_minor"], &price["set_by"]["notice_id"]), (&json!(13_000), &json!(later)), "{price}");
        assert!(price["set_by"]["acknowledged_at"].is_string(), "{price}");
        let signed = &price["signed_at"];
        assert_eq!(signed.as_array().map(Vec::len), Some(1), "{price}");
        assert_eq!((&signed[0]["unit_price_minor"], &signed[0]["set_by"]["notice_id"]), (&json!(11_000), &json!(earlier)), "{price}");
        assert_eq!(signed[0]["set_by"]["acknowledged_at"], json!(null), "{price}");
        let w = &r.body["evidence"]["prices"][1];
        assert_eq!((&w["sku"], &w["signed_at"][0]["unit_price_minor"]), (&json!("W-1"), &json!(2_200)), "{w}");
        assert_eq!(w["signed_at"][0]["set_by"]["notice_id"], json!(read), "{w}");
        assert!(w["signed_at"][0]["set_by"]["acknowledged_at"].is_string(), "Sam read it: {w}");

        let html = page_as(&app.base, &fiona.email, &format!("/quotes/{id}")).await;
        let sources = section(&html, "id=\"price-sources\"", "</table>");
        let kept = section(sources, "<tr class=\"signed-at\"><td><strong>V-1</strong>", "</tr>");
        assert!(kept.contains("data-label=\"Unit price signed\">110.00 EUR</td>"), "{kept}");
        assert!(kept.contains(&format!("<a href=\"/notices/{earlier}\"><strong>V-1 now 11000</strong></a>")), "{kept}");
        assert!(kept.contains("Not acknowledged"), "{kept}");
    }
}

both_backends! {
    async fn a_superseded_price_blocks_finalising_until_finance_approves_an_override(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 4}])).await);
        let rise = publish_price_change(&finance, "P-1", 1_250, &date_in_days(-1)).await;
        sam.post_empty(&format!("/api/v1/notices/{rise}/acknowledge")).await;

        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
        assert_error(&r, 409, "superseded_prices");
        // Which lines, as the gate lists them.
        let superseded = &r.body["error"]["superseded"];
        assert_eq!(
            (superseded[0]["sku"].as_str(), superseded[0]["quoted_unit_price_minor"].as_i64(), superseded[0]["current_unit_price_minor"].as_i64()),
            (Some("P-1"), Some(1_000), Some(1_250)),
            "{}",
            r.text
        );
        assert_error(&sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await, 409, "superseded_prices");
        // The quote's page marks the line beside its product, linked to why.
        let html = page_as(&app.base, &fiona.email, &format!("/quotes/{id}")).await;
        let line = section(&html, "<table id=\"lines\"", "</tbody>");
        // Its hidden end tells a screen reader's list of links one line's mark from another's.
        let mark = "<a class=\"badge unread gate-mark\" href=\"#gate\">no longer the price in force\
                    <span class=\"visually-hidden\"> (P-1)</span></a>";
        assert!(line.contains(mark), "{line}");

        let r = sam.post(&format!("/api/v1/quotes/{id}/override"), &json!({"reason": "I say so"})).await;
        assert_error(&r, 403, "forbidden");
        let r = finance.post(&format!("/api/v1/quotes/{id}/override"), &json!({"reason": "  "})).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(field(&r), "reason");
        let reason = "Nordwind signed the old offer on Thursday";
        let r = finance.post(&format!("/api/v1/quotes/{id}/override"), &json!({"reason": reason})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["reason"], reason);
        assert_eq!(r.body["approved_by"], json!(fiona.id));
        let html = page_as(&app.base, &fiona.email, &format!("/quotes/{id}")).await;
        assert!(!html.contains("gate-mark"), "approved, the old price holds nothing up: {html}");

        // An override is about price, never about having read the notices.
        let later = create_notice(&finance, "Also read this", json!([])).await;
        publish_notice(&finance, &later).await;
        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
        assert_error(&r, 409, "pending_acknowledgements");
        assert_eq!(r.body["error"]["pending"][0]["notice_id"], json!(later));
        sam.post_empty(&format!("/api/v1/notices/{later}/acknowledge")).await;

        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["lines"][0]["unit_price_minor"], 1_000, "finalised at the approved old price");
        assert_eq!(r.body["evidence"]["override"]["reason"], reason);
        assert_eq!(r.body["evidence"]["override"]["approved_by"], json!(fiona.id));
        let checked: Vec<_> = r.body["evidence"]["notices"].as_array().unwrap().iter().map(|n| n["notice_id"].clone()).collect();
        assert_eq!(checked, [json!(rise), json!(later)]);
        let fetched = finance.get(&format!("/api/v1/quotes/{id}")).await;
        assert_eq!(fetched.body["evidence"], r.body["evidence"]);
        // Its price in force came from the rise; the line was signed at the
        // list price, approved, and the page says so.
        let prices = &r.body["evidence"]["prices"];
        assert_eq!((&prices[0]["unit_price_minor"], &prices[0]["set_by"]["notice_id"]), (&json!(1_250), &json!(rise)), "{prices}");
        assert_eq!(prices[0]["signed_at"], json!([{"unit_price_minor": 1_000, "set_by": null}]), "{prices}");
        let html = page_as(&app.base, &fiona.email, &format!("/quotes/{id}")).await;
        let sources = section(&html, "id=\"price-sources\"", "</table>");
        let signed = section(sources, "<tr class=\"signed-at\">", "</tr>");
        assert!(signed.contains("data-label=\"Unit price signed\">10.00 EUR</td>") && signed.contains("The price list"), "{signed}");
        // Not "no notice to acknowledge": a notice is what made it old.
        assert!(signed.contains("No notice set this price: finance's approval, below, kept it"), "{signed}");
        // The row of the price in force says the line was not signed at it:
        // a wide table labels both prices only "Unit price".
        let in_force = section(sources, "<tbody>", "</tr>");
        assert!(in_force.contains("in force when finalised; a line was signed at an old price instead (below)"), "{in_force}");
    }
}

both_backends! {
    async fn the_audit_log_keeps_refusals_finalisations_publications_acknowledgements_and_failed_logins(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let r = app.anonymous().post("/api/v1/auth/token", &json!({"email": sam_user.email, "password": "wrong password"})).await;
        assert_error(&r, 401, "invalid_credentials");
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
        let notice = create_notice(&finance, "Read me", json!([])).await;
        publish_notice(&finance, &notice).await;
        assert_error(&sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await, 409, "pending_acknowledgements");
        sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await;
        assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await.status, 200);

        let r = finance.get("/api/v1/audit").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let rows = r.body.as_array().unwrap();
        let find = |action: &str| {
            rows.iter().find(|row| row["action"] == action).unwrap_or_else(|| panic!("no {action} in the audit log: {}", r.text))
        };
        let failed = find("auth.login_failed");
        assert_eq!(failed["detail"]["reason"], "wrong_password");
        assert!(!failed.to_string().contains("wrong password"), "the password is never logged");
        assert_eq!(find("notice.published")["subject_id"], json!(notice));
        let acked = find("notice.acknowledged");
        assert_eq!((acked["subject_id"].clone(), acked["actor_id"].clone()), (json!(notice), json!(sam_user.id)));
        let refused = find("quote.finalise_refused");
        assert_eq!(refused["subject_id"], json!(id));
        assert_eq!(refused["detail"]["pending"], json!([notice]));
        let finalised = find("quote.finalised");
        assert_eq!((finalised["subject_id"].clone(), finalised["actor_id"].clone()), (json!(id), json!(sam_user.id)));
        let refused_at = refused["at"].as_str().unwrap();
        assert!(finalised["at"].as_str().unwrap() > refused_at, "newest first, and in order");

        let limited = finance.get("/api/v1/audit?limit=1").await;
        assert_eq!(limited.body.as_array().unwrap().len(), 1);
        assert_eq!(limited.body[0]["action"], "quote.finalised");
        for limit in ["0", "-1", "1001"] {
            assert_error(&finance.get(&format!("/api/v1/audit?limit={limit}")).await, 422, "invalid_field");
        }
        let r = finance.get("/api/v1/audit?limit=many").await;
        assert_error(&r, 400, "invalid_query");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("limit: expected a whole number"), "{}", r.text);

        // Page by page, each row once, in the same order as all at once.
        let all: Vec<Value> = finance.get("/api/v1/audit?limit=1000").await.body.as_array().unwrap().clone();
        let mut paged: Vec<Value> = Vec::new();
        let mut next = String::new();
        loop {
            let page = finance.get(&format!("/api/v1/audit?limit=2{next}")).await;
            assert_eq!(page.status, 200, "{}", page.text);
            let rows = page.body.as_array().unwrap().clone();
            let Some(last) = rows.last() else { break };
            next = format!("&before={}", last["id"].as_str().unwrap());
            paged.extend(rows);
        }
        assert_eq!(paged, all, "pages of two, joined, are the whole log");
        let finalised = finance.get("/api/v1/audit?action=quote.finalised").await;
        assert_eq!(finalised.body.as_array().unwrap().len(), 1, "{}", finalised.text);
        assert_eq!(finalised.body[0]["subject_id"], json!(id));
        let unknown = finance.get(&format!("/api/v1/audit?before={}", uuid::Uuid::new_v4())).await;
        assert_error(&unknown, 422, "invalid_field");
        assert_eq!(field(&unknown), "before");
        assert_error(&finance.get("/api/v1/audit?before=yesterday").await, 400, "invalid_query");
    }
}

both_backends! {
    async fn an_expired_quote_waits_for_its_owner_to_extend_it_and_a_closed_one_has_no_gate(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let quote = draft_quote(&sam, json!([{"sku": "P-1", "quantity": 2}])).await;
        let id = id_of(&quote);
        // The days pass: the offer to the customer lapses.
        let yesterday = lapse_quote(&app, &id).await;

        let gate = sam.get(&format!("/api/v1/quotes/{id}/gate")).await;
        assert_eq!(gate.status, 200, "{}", gate.text);
        assert_eq!((&gate.body["ready"], &gate.body["expired"]), (&json!(false), &json!(true)), "{}", gate.text);
        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
        assert_error(&r, 409, "quote_expired");
        assert!(r.body["error"]["message"].as_str().unwrap().contains(&yesterday.to_string()), "{}", r.text);
        let audit = finance.get("/api/v1/audit?action=quote.finalise_refused").await;
        assert_eq!(audit.body[0]["detail"]["expired"], true, "the refusal is on record: {}", audit.text);

        let r = sam.patch(&format!("/api/v1/quotes/{id}"), &json!({"valid_until": date_in_days(30)})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["drafted_at"], quote["drafted_at"], "extending does not move drafted_at");
        let gate = sam.get(&format!("/api/v1/quotes/{id}/gate")).await;
        assert_eq!((&gate.body["ready"], &gate.body["expired"]), (&json!(true), &json!(false)), "{}", gate.text);
        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);

        // Finalised or cancelled, a quote has no gate to show.
        let r = sam.get(&format!("/api/v1/quotes/{id}/gate")).await;
        assert_error(&r, 409, "quote_not_draft");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("finalised"), "{}", r.text);
        // Finalising it twice is refused, and on record like any refusal.
        assert_error(&sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await, 409, "quote_not_draft");
        let audit = finance.get("/api/v1/audit?action=quote.finalise_refused").await;
        assert_eq!(
            (&audit.body[0]["subject_id"], &audit.body[0]["detail"]["code"]),
            (&json!(id), &json!("quote_not_draft")),
            "{}",
            audit.text
        );
        let other = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
        assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{other}/cancel")).await.status, 200);
        assert_error(&finance.get(&format!("/api/v1/quotes/{other}/gate")).await, 409, "quote_not_draft");
    }
}

both_backends! {
    async fn a_quote_whose_signer_can_no_longer_sign_waits_for_its_owner_to_choose_another(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (olga, _) = app.user(Role::Sales, "Olga").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (_, sue_user) = app.user(Role::Sales, "Sue").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let id = id_of(&draft_quote_signed_by(&olga, json!([{"sku": "P-1", "quantity": 2}]), sam_user.id).await);
        let gate_of = |who: &pricegate_tests::Session| {
            let who = who.clone();
            let url = format!("/api/v1/quotes/{id}/gate");
            async move {
                let gate = who.get(&url).await;
                assert_eq!(gate.status, 200, "{}", gate.text);
                (gate.body["ready"].clone(), gate.body["signer_can_sign"].clone())
            }
        };
        assert_eq!(gate_of(&olga).await, (json!(true), json!(true)));

        // Sam moves to finance: nobody can finalise until Olga names another signer.
        let r = admin.patch(&format!("/api/v1/users/{}", sam_user.id), &json!({"role": "finance"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(gate_of(&olga).await, (json!(false), json!(false)));
        assert_eq!(gate_of(&finance).await, (json!(false), json!(false)), "finance sees the same gate");
        assert_error(&sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await, 403, "forbidden");
        // Had Sam's request passed the role check just before the move, the
        // finalisation itself refuses: it reads the signer in its transaction.
        let stale = Actor { id: sam_user.id, role: Role::Sales };
        let refused = app.store.finalise_quote(&stale, id.parse().unwrap(), None).await.unwrap_err();
        assert!(
            matches!(refused, StoreError::Conflict { code: "signer_cannot_sign", .. }),
            "a signer who left sales cannot finalise: {refused:?}"
        );
        let audit = finance.get("/api/v1/audit?action=quote.finalise_refused").await;
        assert_eq!(audit.body[0]["detail"]["signer_can_sign"], false, "the refusal is on record: {}", audit.text);

        let r = olga.patch(&format!("/api/v1/quotes/{id}"), &json!({"signer_id": sue_user.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(gate_of(&olga).await, (json!(true), json!(true)));

        // Deactivated, Sue cannot sign either; reactivated, she can.
        let sue_url = format!("/api/v1/users/{}", sue_user.id);
        assert_eq!(admin.patch(&sue_url, &json!({"active": false})).await.status, 200);
        assert_eq!(gate_of(&olga).await, (json!(false), json!(false)));
        assert_eq!(admin.patch(&sue_url, &json!({"active": true})).await.status, 200);
        assert_eq!(gate_of(&olga).await, (json!(true), json!(true)));
        let sue = app.login(&sue_user.email, PASSWORD).await;
        let r = sue.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

both_backends! {
    async fn of_two_prices_published_for_one_product_and_date_the_one_in_force_is_due(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let day = date_in_days(10);
        publish_price_change(&finance, "P-1", 1_100, &day).await;
        let later = publish_price_change(&finance, "P-1", 1_150, &day).await;
        publish_price_change(&finance, "P-1", 1_300, &date_in_days(40)).await;
        let today = chrono::Utc::now().date_naive();
        let due = app.store.upcoming_prices(&["P-1"], today, today + chrono::Days::new(30)).await.unwrap();
        let read: Vec<(i64, String, String)> =
            due.iter().map(|p| (p.unit_price_minor, p.effective_on.to_string(), p.notice_id.to_string())).collect();
        assert_eq!(read, [(1_150, day, later)], "the later publication's, and nothing after the validity");
    }
}

both_backends! {
    /// A price published before the quote was drafted, or by a notice its
    /// signer has acknowledged, that takes force while the quote is valid
    /// does not hold it up; the API lists it, as the quote page does, so a
    /// script finalising at today's price knows what it meets later.
    async fn the_prices_a_draft_meets_later_are_listed_with_whether_the_signer_read_them(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let (sara, _) = app.user(Role::Sales, "Sara").await;
        create_product(&finance, "PUMP-1", "EUR", 1_000).await;
        create_product(&finance, "VALVE-2", "EUR", 500).await;
        let (in_ten, in_five) = (date_in_days(10), date_in_days(5));
        let early = publish_price_change(&finance, "PUMP-1", 1_200, &in_ten).await;
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 2}, {"sku": "VALVE-2", "quantity": 1}])).await);
        let pending = publish_price_change(&finance, "VALVE-2", 600, &in_five).await;
        let url = format!("/api/v1/quotes/{quote}/upcoming-prices");
        let listed = |r: &pricegate_tests::client::Response| -> Vec<(String, i64, i64, String, String, bool)> {
            assert_eq!(r.status, 200, "{}", r.text);
            let rows = r.body["upcoming"].as_array().expect("a list of upcoming prices");
            rows.iter()
                .map(|p| {
                    let text = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
                    let minor = |k: &str| p[k].as_i64().unwrap_or(-1);
                    let read = p["acknowledged_by_signer"].as_bool().expect("acknowledged_by_signer");
                    (text("sku"), minor("quoted_unit_price_minor"), minor("unit_price_minor"), text("effective_on"), text("notice_id"), read)
                })
                .collect()
        };
        // The pending notice is the gate's to show; the earlier one is listed, unread.
        let r = sam.get(&url).await;
        assert_eq!(listed(&r), [("PUMP-1".into(), 1_000, 1_200, in_ten.clone(), early.clone(), false)]);
        assert_eq!(listed(&finance.get(&url).await), listed(&r), "finance reads what the salesperson reads");
        assert_error(&sara.get(&url).await, 403, "not_your_quote");

        for notice in [&early, &pending] {
            let r = sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
        assert_eq!(
            listed(&sam.get(&url).await),
            [
                ("PUMP-1".into(), 1_000, 1_200, in_ten, early, true),
                ("VALVE-2".into(), 500, 600, in_five, pending, true),
            ],
            "acknowledged, both are for the signer to weigh"
        );
        let r = sam.post_empty(&format!("/api/v1/quotes/{quote}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(listed(&sam.get(&url).await), [], "a finalised quote keeps its prices");
    }
}

both_backends! {
    /// The database clock steps back (NTP, a restored virtual machine, a
    /// failover to a server whose clock is behind): a quote was drafted by
    /// the clock an hour ahead, then a notice is published by the clock put
    /// right. The notice came after the draft, so it holds the draft up; and
    /// a quote drafted after it is not held up by it, whatever the clock says.
    async fn a_clock_that_stepped_back_does_not_let_a_later_notice_pass_for_an_earlier_one(backend: Backend) {
        use pricegate_store::entity::quotes;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
        let ahead = chrono::Utc::now() + chrono::Duration::hours(1);
        quotes::Entity::update_many()
            .col_expr(quotes::Column::DraftedAt, Expr::value(ahead))
            .filter(quotes::Column::Id.eq(quote.parse::<uuid::Uuid>().unwrap()))
            .exec(app.store.connection())
            .await
            .unwrap();

        let notice = create_notice(&finance, "After the draft", json!([])).await;
        let published = publish_notice(&finance, &notice).await;
        let published_at: chrono::DateTime<chrono::Utc> =
            published["published_at"].as_str().and_then(|t| t.parse().ok()).expect("a published_at");
        assert!(published_at > ahead, "{published_at} follows the draft at {ahead}");
        let r = sam.post_empty(&format!("/api/v1/quotes/{quote}/finalise")).await;
        assert_error(&r, 409, "pending_acknowledgements");
        assert_eq!(r.body["error"]["pending"][0]["notice_id"], json!(notice), "{}", r.text);
        // Acknowledged and finalised by the clock put right: each stamp after the publication.
        let stamp = |v: &Value, key: &str| -> chrono::DateTime<chrono::Utc> {
            v[key].as_str().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("no {key} in {v}"))
        };
        let ack = sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await;
        assert_eq!(ack.status, 200, "{}", ack.text);
        assert!(stamp(&ack.body, "acknowledged_at") > published_at, "{}", ack.text);
        let finalised = sam.post_empty(&format!("/api/v1/quotes/{quote}/finalise")).await;
        assert_eq!(finalised.status, 200, "{}", finalised.text);
        assert!(stamp(&finalised.body, "finalised_at") > stamp(&ack.body, "acknowledged_at"), "{}", finalised.text);

        // Drafted after the publication, by a clock still behind it.
        let later = draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await;
        let drafted_at: chrono::DateTime<chrono::Utc> =
            later["drafted_at"].as_str().and_then(|t| t.parse().ok()).expect("a drafted_at");
        assert!(drafted_at > published_at, "{drafted_at} follows the publication at {published_at}");
        let gate = sam.get(&format!("/api/v1/quotes/{}/gate", id_of(&later))).await;
        assert_eq!(gate.body["pending"], json!([]), "{}", gate.text);
    }
}

/// The page that asks before finalising says what the finalisation keeps
/// as evidence: the notices published since the quote was drafted, by
/// number, or that there were none.
#[tokio::test]
async fn the_finalise_confirmation_says_how_many_notices_its_evidence_keeps() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
    let confirm = format!("/quotes/{id}/finalise");
    let html = page_as(&app.base, &sam_user.email, &confirm).await;
    assert!(html.contains("No price notice has been published since it was drafted: its evidence says so."), "{html}");
    for title in ["Seals", "Gaskets"] {
        let notice = create_notice(&finance, title, json!([])).await;
        publish_notice(&finance, &notice).await;
        assert_eq!(sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
    }
    let html = page_as(&app.base, &sam_user.email, &confirm).await;
    assert!(
        html.contains(
            "The 2 price notices published since it was drafted, each with when you acknowledged it, are kept"
        ),
        "{html}"
    );
}

both_backends! {
// A correction published since for the same day ahead leaves the first
// notice's price for that day never in force: while the first waits to
// be acknowledged, it changes the quote by nothing there, and the quote's
// page says which price stands instead.
async fn a_price_ahead_a_correction_replaced_for_its_day_counts_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sara, sara_user) = app.user(Role::Sales, "Sara").await;
    create_product(&finance, "VALVE-B50", "EUR", 9_800).await;
    create_product(&finance, "PUMP-1", "EUR", 1_000).await;
    let lines = json!([{"sku": "VALVE-B50", "quantity": 20, "discount_bp": 750}, {"sku": "PUMP-1", "quantity": 1}]);
    let id = id_of(&draft_quote(&sara, lines).await);
    let monday = date_in_days(2);
    let first = create_notice(
        &finance,
        "Valves: new list prices",
        json!([
            {"sku": "VALVE-B50", "unit_price_minor": 10_500, "effective_on": monday},
            {"sku": "PUMP-1", "unit_price_minor": 1_100, "effective_on": monday}
        ]),
    )
    .await;
    publish_notice(&finance, &first).await;
    let gate = sara.get(&format!("/api/v1/quotes/{id}/gate")).await;
    // 20 × 7.00 less 7.5 %, and the pump's 1.00.
    assert_eq!(gate.body["pending"][0]["impact"]["total_delta_minor"], json!(12_950 + 100), "{}", gate.text);

    let correction = create_notice(
        &finance,
        "Correction: DN50 ball valve",
        json!([{"sku": "VALVE-B50", "unit_price_minor": 10_200, "effective_on": monday}]),
    )
    .await;
    publish_notice(&finance, &correction).await;
    assert_eq!(sara.post_empty(&format!("/api/v1/notices/{correction}/acknowledge")).await.status, 200);
    let gate = sara.get(&format!("/api/v1/quotes/{id}/gate")).await;
    let impact = &gate.body["pending"][0]["impact"];
    assert_eq!(impact["total_delta_minor"], json!(100), "the pump's change alone: {}", gate.text);
    let valve = impact["lines"].as_array().and_then(|l| l.iter().find(|l| l["sku"] == "VALVE-B50")).expect("the valve");
    assert_eq!(valve["overtaken_by_unit_price_minor"], json!(10_200), "{}", gate.text);
    let html = page_as(&app.base, &sara_user.email, &format!("/quotes/{id}")).await;
    assert!(
        html.contains(&format!("another notice, published since, sets 102.00 EUR from {monday} instead")),
        "{html}"
    );
    // The first notice's own page, and the page of those awaiting her, say
    // so of its valve's price, and of nothing else it sets.
    let replaced = "Never in force: “Correction: DN50 ball valve”, published since, sets 102.00 EUR from the same day instead.";
    for page in [format!("/notices/{first}"), "/notices/awaiting".to_owned()] {
        let html = page_as(&app.base, &sara_user.email, &page).await;
        assert_eq!(html.matches(replaced).count(), 1, "{page}: {html}");
        let valve_row = html.split("<strong>VALVE-B50</strong>").nth(1).and_then(|r| r.split("</tr>").next());
        assert!(valve_row.is_some_and(|row| row.contains(replaced)), "{page}: {html}");
    }
    let html = page_as(&app.base, &sara_user.email, &format!("/notices/{correction}")).await;
    assert!(!html.contains("Never in force"), "the correction is the last word: {html}");

    // A price corrected on its own day was in force until the correction
    // (quotes may have been drafted, approved and signed at it): it is not
    // said never to have been. Each took force on its publication.
    let today = date_in_days(0);
    let pump = |title: &'static str, price: i64| {
        let finance = finance.clone();
        let today = today.clone();
        async move {
            let changes = json!([{"sku": "PUMP-1", "unit_price_minor": price, "effective_on": today}]);
            let id = create_notice(&finance, title, changes).await;
            publish_notice(&finance, &id).await;
            id
        }
    };
    let today_first = pump("Pumps from today", 1_200).await;
    let today_second = pump("Pumps from today, corrected", 1_300).await;
    pump("Pumps from today, again", 1_400).await;
    let row = |html: &str| {
        html.split("<strong>PUMP-1</strong>").nth(1).and_then(|r| r.split("</tr>").next()).unwrap_or_default().to_owned()
    };
    // The first was ended by the second, the one published after it; the
    // last sets the price in force.
    let html = page_as(&app.base, &sara_user.email, &format!("/notices/{today_first}")).await;
    assert!(
        row(&html).contains(&format!(
            "<span class=\"date\">{today}</span>, on publication<br><strong class=\"replaced\">In force until “Pumps from today, corrected” was \
             published; “Pumps from today, again”, published since, sets 14.00 EUR from the same day instead.</strong>"
        )),
        "{html}"
    );
    let html = page_as(&app.base, &sara_user.email, &format!("/notices/{today_second}")).await;
    assert!(
        row(&html).contains(
            "In force until “Pumps from today, again” was published, which sets 14.00 EUR from the same day instead."
        ),
        "{html}"
    );
}}

both_backends! {
// A notice that prices a product in steps, one of which a correction
// published since replaces for its day: that step will never be in force,
// so while the first waits to be acknowledged it counts nothing from its
// day to the notice's next price, which still counts; and once every step
// is corrected, the line counts nothing at all.
async fn a_step_a_correction_replaced_counts_nothing_while_the_next_still_counts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sara, sara_user) = app.user(Role::Sales, "Sara").await;
    create_product(&finance, "PUMP-C100", "EUR", 84_000).await;
    create_product(&finance, "VALVE-B25", "EUR", 4_250).await;
    create_product(&finance, "SEAL-M25", "EUR", 5_000).await;
    let lines = json!([
        {"sku": "PUMP-C100", "quantity": 3},
        {"sku": "VALVE-B25", "quantity": 12},
        {"sku": "SEAL-M25", "quantity": 4}
    ]);
    let id = id_of(&draft_quote(&sara, lines).await);
    let path = format!("/api/v1/quotes/{id}");
    let (today, soon, after_validity) = (date_in_days(0), date_in_days(8), date_in_days(40));
    assert_eq!(sara.patch(&path, &json!({"valid_until": date_in_days(30)})).await.status, 200);
    let winter = create_notice(
        &finance,
        "Winter price update",
        json!([
            {"sku": "PUMP-C100", "unit_price_minor": 89_900, "effective_on": soon},
            {"sku": "PUMP-C100", "unit_price_minor": 92_500, "effective_on": after_validity},
            {"sku": "VALVE-B25", "unit_price_minor": 4_000, "effective_on": soon},
            {"sku": "SEAL-M25", "unit_price_minor": 5_200, "effective_on": today},
            {"sku": "SEAL-M25", "unit_price_minor": 5_400, "effective_on": after_validity}
        ]),
    )
    .await;
    publish_notice(&finance, &winter).await;
    let impact = |gate: &pricegate_tests::client::Response| gate.body["pending"][0]["impact"].clone();
    let gate = sara.get(&format!("{path}/gate")).await;
    // 3 × 59.00 while valid, 3 × 85.00 in all; the valves 12 × −2.50; the
    // seals 4 × 2.00 from today, 4 × 4.00 in all.
    assert_eq!(
        (&impact(&gate)["delta_while_valid_minor"], &impact(&gate)["total_delta_minor"]),
        (&json!(17_700 - 3_000 + 800), &json!(25_500 - 3_000 + 1_600)),
        "{}",
        gate.text
    );

    // A correction published since, which Sara acknowledges: only Winter holds the quote up.
    let correct = |sku: &'static str, price: i64, on: String| {
        let finance = finance.clone();
        let sara = sara.clone();
        async move {
            let notice = publish_price_change(&finance, sku, price, &on).await;
            assert_eq!(sara.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
        }
    };
    // The seals' price of today corrected: in force now, Winter's own price
    // for them is not, until its next.
    correct("SEAL-M25", 5_300, today).await;
    correct("PUMP-C100", 91_000, soon.clone()).await;
    let gate = sara.get(&format!("{path}/gate")).await;
    let winter_impact = impact(&gate);
    let pump = &winter_impact["lines"][0];
    assert_eq!(pump["sku"], "PUMP-C100");
    assert_eq!(pump["earlier"][0]["overtaken_by_unit_price_minor"], json!(91_000), "{}", gate.text);
    assert_eq!(pump["overtaken_by_unit_price_minor"], Value::Null, "its later price stands: {}", gate.text);
    let seal = &winter_impact["lines"][2];
    assert_eq!(seal["sku"], "SEAL-M25");
    assert_eq!(seal["earlier"][0]["overtaken_by_unit_price_minor"], json!(5_300), "{}", gate.text);
    // While the quote is valid the corrections' prices stand on the pump
    // and the seals: the valves' change alone; once valid no more,
    // Winter's last prices.
    assert_eq!(
        (&winter_impact["delta_while_valid_minor"], &winter_impact["total_delta_minor"]),
        (&json!(-3_000), &json!(25_500 - 3_000 + 1_600)),
        "{}",
        gate.text
    );
    let html = page_as(&app.base, &sara_user.email, &format!("/quotes/{id}")).await;
    assert!(html.contains(&format!("another notice, published since, sets 910.00 EUR from {soon} instead")), "{html}");

    correct("PUMP-C100", 93_000, after_validity.clone()).await;
    let gate = sara.get(&format!("{path}/gate")).await;
    let winter_impact = impact(&gate);
    assert_eq!(winter_impact["lines"][0]["overtaken_by_unit_price_minor"], json!(93_000), "{}", gate.text);
    assert_eq!(
        (&winter_impact["delta_while_valid_minor"], &winter_impact["total_delta_minor"]),
        (&json!(-3_000), &json!(-3_000 + 1_600)),
        "no price of Winter's for the pump will be in force: {}",
        gate.text
    );
    let html = page_as(&app.base, &sara_user.email, &format!("/quotes/{id}")).await;
    assert!(
        html.split("</tr>").any(|row| row.contains("<strong>PUMP-C100</strong>") && row.contains("none: no longer in force")),
        "{html}"
    );
}}

/// One person does not both approve keeping old prices and finalise at
/// them: an approval whose approver later comes to sign the quote (moved
/// into sales, then named its signer) waives nothing, and the quote's page
/// says why.
#[tokio::test]
async fn an_approval_waives_nothing_once_its_approver_signs_the_quote() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (felix, felix_user) = app.user(Role::Finance, "Felix").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-3", "EUR", 1_000).await;
    let id = id_of(&draft_quote(&sam, json!([{"sku": "P-3", "quantity": 4}])).await);
    let rise = publish_price_change(&finance, "P-3", 1_250, &date_in_days(-1)).await;
    assert_eq!(sam.post_empty(&format!("/api/v1/notices/{rise}/acknowledge")).await.status, 200);
    let r = felix.post(&format!("/api/v1/quotes/{id}/override"), &json!({"reason": "Agreed in March"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(sam.get(&format!("/api/v1/quotes/{id}/gate")).await.body["ready"], json!(true));

    let r = admin.patch(&format!("/api/v1/users/{}", felix_user.id), &json!({"role": "sales"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = sam.patch(&format!("/api/v1/quotes/{id}"), &json!({"signer_id": felix_user.id})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let felix = app.login(&felix_user.email, PASSWORD).await;
    assert_eq!(felix.post_empty(&format!("/api/v1/notices/{rise}/acknowledge")).await.status, 200);
    let gate = felix.get(&format!("/api/v1/quotes/{id}/gate")).await;
    assert_eq!((&gate.body["ready"], &gate.body["price_override"]), (&json!(false), &json!(null)), "{}", gate.text);
    let r = felix.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
    assert_error(&r, 409, "superseded_prices");
    let html = page_as(&app.base, &sam_user.email, &format!("/quotes/{id}")).await;
    assert!(
        html.contains("Felix approved keeping old prices") && html.contains("and now signs this quote"),
        "the page says why the approval no longer counts: {html}"
    );

    // Someone else in finance approves them, and the quote goes through.
    let r = finance.post(&format!("/api/v1/quotes/{id}/override"), &json!({"reason": "Agreed in March"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = felix.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(r.body["evidence"]["override"]["approved_by"], json!(felix_user.id), "{}", r.text);
}

/// After the database's clock has stepped back (it ran ahead when a notice
/// was published), a signer deactivated, reactivated and then finalising
/// still reads in that order in the record: each is stamped after the last.
#[tokio::test]
async fn after_a_clock_step_back_a_deactivation_a_reactivation_and_a_finalisation_read_in_order() {
    use sea_orm::{ConnectionTrait, Database};

    let app = TestApp::spawn(pricegate_tests::Backend::Postgres).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
    let notice = create_notice(&finance, "Seals", json!([])).await;
    publish_notice(&finance, &notice).await;
    assert_eq!(sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
    // The clock ran an hour ahead when the notice was published, and is right again now.
    let db = Database::connect(app.db.url.as_str()).await.expect("connect");
    db.execute_unprepared(&format!(
        "UPDATE notices SET published_at = published_at + interval '1 hour' WHERE id = '{notice}'"
    ))
    .await
    .expect("a stamp from a clock an hour ahead");
    db.close().await.expect("close");

    for active in [false, true] {
        let r = admin.patch(&format!("/api/v1/users/{}", sam_user.id), &json!({"active": active})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let sam = app.login(&sam_user.email, PASSWORD).await;
    let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let at = |e: &Value| e["at"].as_str().and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok());
    let changes = admin.get(&format!("/api/v1/audit?action=user.updated&subject={}", sam_user.id)).await;
    let mut changes: Vec<(chrono::DateTime<chrono::Utc>, Value)> = changes
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((at(e)?, e["detail"]["after"]["active"].clone())))
        .collect();
    changes.sort_by_key(|(at, _)| *at);
    let order: Vec<&Value> = changes.iter().map(|(_, active)| active).collect();
    assert_eq!(order, [&json!(false), &json!(true)], "deactivated, then reactivated, by their stamps: {changes:?}");
    let finalised = admin.get("/api/v1/audit?action=quote.finalised").await;
    let finalised = finalised.body.as_array().and_then(|a| a.first()).and_then(at).expect("the finalisation");
    assert!(changes.iter().all(|(at, _)| *at < finalised), "finalised at {finalised}, after {changes:?}");
    assert!(changes[0].0 < changes[1].0, "no tie: {changes:?}");
}

/// An approval sent while an administrator moves its sender out of finance
/// waits for that change (both take the gate), then reads them as they are
/// now: refused, nothing written.
#[tokio::test]
async fn an_approval_waiting_on_its_approver_leaving_finance_is_refused() {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};

    let app = TestApp::spawn(pricegate_tests::Backend::Postgres).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (felix, felix_user) = app.user(Role::Finance, "Felix").await;
    let (sam, _) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 4}])).await);
    let rise = publish_price_change(&finance, "P-1", 1_250, &date_in_days(-1)).await;
    assert_eq!(sam.post_empty(&format!("/api/v1/notices/{rise}/acknowledge")).await.status, 200);

    // An administrator's role change under way: the gate held exclusively.
    let db = Database::connect(app.db.url.as_str()).await.expect("connect");
    let txn = db.begin().await.expect("begin");
    txn.execute_unprepared(pricegate_store::sql::LOCK_GATE_EXCLUSIVELY).await.expect("the gate lock");
    let approving = tokio::spawn({
        let path = format!("/api/v1/quotes/{id}/override");
        async move { felix.post(&path, &json!({"reason": "Agreed in March"})).await }
    });
    // The approval comes to wait for the gate.
    let waiting = "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let row = db.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, waiting)).await;
        if row.ok().flatten().and_then(|r| r.try_get::<i64>("", "n").ok()).unwrap_or(0) > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the approval never came to wait for the gate");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(!approving.is_finished(), "the approval waits for the change under way");
    txn.execute_unprepared(&format!("UPDATE users SET role = 'sales' WHERE id = '{}'", felix_user.id))
        .await
        .expect("move Felix to sales");
    txn.commit().await.expect("commit");
    let r = approving.await.expect("the approval's answer");
    assert_error(&r, 403, "forbidden");
    assert!(r.text.contains("no longer in finance"), "{}", r.text);
    assert_eq!(sam.get(&format!("/api/v1/quotes/{id}/gate")).await.body["price_override"], json!(null));
    db.close().await.expect("close");
}

/// A finalisation waiting on the gate past `PRICEGATE_REQUEST_TIMEOUT` is
/// answered 503, and stops waiting in PostgreSQL too: its statement is
/// cancelled there rather than holding one of the server's connections for
/// as long as the lock is held, and the finalisation goes through once it
/// is let go.
#[tokio::test]
async fn a_finalisation_waiting_on_the_gate_past_the_request_timeout_stops_waiting_in_the_database_too() {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};
    use std::time::{Duration, Instant};

    let app =
        TestApp::spawn_with(pricegate_tests::Backend::Postgres, |s| s.request_timeout = Duration::from_secs(2)).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam, _) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 4}])).await);

    // A publication under way, as far as the gate can tell: held exclusively.
    let db = Database::connect(app.db.url.as_str()).await.expect("connect");
    let txn = db.begin().await.expect("begin");
    txn.execute_unprepared(pricegate_store::sql::LOCK_GATE_EXCLUSIVELY).await.expect("the gate lock");
    let finalising = tokio::spawn({
        let path = format!("/api/v1/quotes/{id}/finalise");
        let sam = sam.clone();
        async move { sam.post_empty(&path).await }
    });
    let waiting = || async {
        let sql = "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
        let row = db.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql)).await;
        row.expect("pg_locks").and_then(|r| r.try_get::<i64>("", "n").ok()).unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while waiting().await == 0 {
        assert!(Instant::now() < deadline, "the finalisation never came to wait for the gate");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let r = finalising.await.expect("the finalisation's answer");
    assert_error(&r, 503, "timeout");

    // The lock still held, nobody may still wait for it a moment later.
    let answered = Instant::now();
    while waiting().await > 0 {
        assert!(
            answered.elapsed() < Duration::from_secs(5),
            "5 s after its 503 the finalisation's statement still waits for the gate in PostgreSQL"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sam.get(&format!("/api/v1/quotes/{id}")).await.body["state"], "draft", "nothing was finalised");
    txn.commit().await.expect("let the gate go");
    let r = sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["state"], "finalised");
    db.close().await.expect("close");
}

/// Someone moved out of sales still sees the drafts they own and sign, but
/// is offered nothing they may no longer do, and is told why, as themselves.
#[tokio::test]
async fn an_owner_moved_out_of_sales_is_offered_no_change_to_their_draft() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (omar, omar_user) = app.user(Role::Sales, "Omar").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let id = id_of(&draft_quote(&omar, json!([{"sku": "P-1", "quantity": 10}])).await);
    let path = format!("/quotes/{id}");
    let html = page_as(&app.base, &omar_user.email, &path).await;
    assert!(html.contains(&format!("href=\"/quotes/{id}/edit\"")), "a salesperson edits their draft: {html}");

    let r = admin.patch(&format!("/api/v1/users/{}", omar_user.id), &json!({"role": "finance"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let html = page_as(&app.base, &omar_user.email, &path).await;
    assert!(html.contains("You can no longer sign it: you are no longer in sales."), "{html}");
    for link in ["edit", "cancel"] {
        assert!(!html.contains(&format!("href=\"/quotes/{id}/{link}\"")), "no {link} link: {html}");
    }
    assert!(!html.contains("Edit the quote to choose another signer"), "{html}");
    assert!(html.contains("An admin must first hand it to a salesperson, who can choose another signer"), "{html}");
    assert!(!html.contains("class=\"acknowledge\"") && !html.contains("id=\"who-finalises\""), "{html}");

    // Now in finance, they may not approve their own draft's old prices.
    let rise = publish_price_change(&finance, "P-1", 1_250, &date_in_days(-1)).await;
    assert_eq!(omar.post_empty(&format!("/api/v1/notices/{rise}/acknowledge")).await.status, 200);
    let r = omar.post(&format!("/api/v1/quotes/{id}/override"), &json!({"reason": "Mine"})).await;
    assert_error(&r, 403, "own_quote");
    let html = page_as(&app.base, &omar_user.email, &path).await;
    assert!(!html.contains(&format!("action=\"/quotes/{id}/override\"")), "{html}");
    assert!(
        html.contains("someone else in finance can approve keeping the old ones (not you: you own or sign it)"),
        "{html}"
    );
}

/// An approval of old prices covers the quote finance was shown: one the
/// owner edited meanwhile is shown again, with the reason as typed, and
/// nothing is approved until finance approves it as it is.
#[tokio::test]
async fn an_approval_of_old_prices_is_for_the_quote_as_finance_saw_it() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (sam, _) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 40}])).await);
    let rise = publish_price_change(&finance, "P-1", 1_250, &date_in_days(-1)).await;
    assert_eq!(sam.post_empty(&format!("/api/v1/notices/{rise}/acknowledge")).await.status, 200);

    let cookie = session_cookie(&app.base, &fiona.email).await;
    let http = client();
    let page = format!("{}/quotes/{id}", app.base);
    let shown = || async {
        let html =
            http.get(&page).header("cookie", &cookie).send().await.expect("an answer").text().await.unwrap_or_default();
        // The quote's revision and its lines at an old price, as shown.
        let seen = (hidden_in(&html, "seen"), hidden_in(&html, "seen_superseded"));
        (csrf_in(&html), seen)
    };
    let approve = |csrf: String, (seen, superseded): (String, String)| {
        http.post(format!("{page}/override"))
            .header("cookie", &cookie)
            .form(&[
                ("csrf_token", csrf),
                ("seen", seen),
                ("seen_superseded", superseded),
                ("reason", "Agreed in March".to_owned()),
            ])
            .send()
    };
    let (csrf, seen) = shown().await;
    let r = sam.patch(&format!("/api/v1/quotes/{id}"), &json!({"lines": [{"sku": "P-1", "quantity": 400}]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = approve(csrf.clone(), seen).await.expect("an answer");
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap_or_default();
    assert!(
        html.contains("Not approved. The quote, or the prices now in force for it, changed after you opened it"),
        "{html}"
    );
    assert!(html.contains(">Agreed in March</textarea>") && html.contains("× 400"), "{html}");
    assert_eq!(sam.get(&format!("/api/v1/quotes/{id}/gate")).await.body["price_override"], json!(null));

    // A price that comes into force while the page is open changes no quote,
    // yet the approval would waive it: refused too.
    let (_, seen) = shown().await;
    let again = publish_price_change(&finance, "P-1", 1_400, &date_in_days(-1)).await;
    assert_eq!(sam.post_empty(&format!("/api/v1/notices/{again}/acknowledge")).await.status, 200);
    assert_eq!(approve(csrf.clone(), seen).await.expect("an answer").status(), 409);
    assert_eq!(sam.get(&format!("/api/v1/quotes/{id}/gate")).await.body["price_override"], json!(null));

    let (_, seen) = shown().await;
    assert_eq!(approve(csrf.clone(), seen.clone()).await.expect("an answer").status(), 303);
    let gate = sam.get(&format!("/api/v1/quotes/{id}/gate")).await.body;
    assert_eq!(
        (gate["ready"].as_bool(), gate["price_override"]["reason"].as_str()),
        (Some(true), Some("Agreed in March"))
    );
    // The same form sent twice: the second says who approved, and when.
    let r = approve(csrf.clone(), seen.clone()).await.expect("an answer");
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap_or_default();
    assert!(
        html.contains(&format!("Not approved: its lines at an old price are approved already, by {} at ", fiona.name))
            && html.contains("(\u{201c}Agreed in March\u{201d}).")
            && !html.contains("changed after you opened it"),
        "{html}"
    );
    // Resent with its reason emptied, it says the same, not what the reason lacks.
    let (seen, superseded) = seen;
    let form = [("csrf_token", csrf), ("seen", seen), ("seen_superseded", superseded), ("reason", String::new())];
    let r =
        http.post(format!("{page}/override")).header("cookie", &cookie).form(&form).send().await.expect("an answer");
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap_or_default();
    assert!(html.contains("Not approved: its lines at an old price are approved already, by "), "{html}");
    let approvals = finance.get("/api/v1/audit?action=quote.price_override").await.body;
    assert_eq!(approvals.as_array().map(Vec::len), Some(1), "approved once: {approvals}");
}

/// The publish confirmation marks a quote whose signer can no longer sign:
/// acknowledging the notice will not free it.
#[tokio::test]
async fn the_publish_page_marks_a_quote_whose_signer_can_no_longer_sign() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (omar, omar_user) = app.user(Role::Sales, "Omar").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let stranded = id_of(&draft_quote(&omar, json!([{"sku": "P-1", "quantity": 10}])).await);
    let fine = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 5}])).await);
    let r = admin.patch(&format!("/api/v1/users/{}", omar_user.id), &json!({"role": "finance"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let notice = create_notice(
        &finance,
        "P-1 up",
        json!([{"sku": "P-1", "unit_price_minor": 1_100, "effective_on": date_in_days(1)}]),
    )
    .await;

    // Sam's other draft is valid until today only: the notice's price comes after it.
    let mut short = pricegate_tests::fixtures::quote_request(json!([{"sku": "P-1", "quantity": 1}]));
    short["valid_until"] = json!(date_in_days(0));
    let r = sam.post("/api/v1/quotes", &short).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let short = id_of(&r.body);

    let html = page_as(&app.base, &fiona.email, &format!("/notices/{notice}/publish")).await;
    let seen_before_publishing = hidden_in(&html, "seen");
    assert!(html.contains(&format!("/quotes/{fine}")) && html.contains(&format!("/quotes/{stranded}")), "{html}");
    let row = section(&html, &format!("/quotes/{short}"), "</tr>");
    assert!(
        row.contains(&format!("none while it is valid; +1.00 EUR from prices dated after {}", date_in_days(0))),
        "{row}"
    );
    assert!(section(&html, &format!("/quotes/{fine}"), "</tr>").contains("+5.00 EUR"), "{html}");
    assert!(
        html.contains(&format!("id=\"signer-unable-{stranded}\">(can no longer sign: the quote needs another signer)")),
        "{html}"
    );
    assert!(!html.contains(&format!("signer-unable-{fine}")), "{html}");
    assert!(html.contains("That is all 3 open quotes there are now, of 2 signers, whatever the notice"), "{html}");

    // Once published, the dashboard lists Sam as pending, and Omar's draft
    // apart: nobody is asked to acknowledge for it, and a deactivated
    // signer's likewise.
    let (dora, dora_user) = app.user(Role::Sales, "Dora").await;
    let gone = id_of(&draft_quote(&dora, json!([{"sku": "P-1", "quantity": 1}])).await);
    // Dora's other draft lapsed too: listed with her, not counted among the held up summed.
    let gone_lapsed = id_of(&draft_quote(&dora, json!([{"sku": "P-1", "quantity": 3}])).await);
    pricegate_tests::fixtures::lapse_quote(&app, &gone_lapsed).await;
    // Sam's draft that lapsed yesterday waits for its owner first: listed, not summed.
    let lapsed = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 7}])).await);
    let lapsed_on = pricegate_tests::fixtures::lapse_quote(&app, &lapsed).await;
    let r = admin.patch(&format!("/api/v1/users/{}", dora_user.id), &json!({"active": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    publish_notice(&finance, &notice).await;
    let html = page_as(&app.base, &fiona.email, &format!("/notices/{notice}/dashboard")).await;
    let pending = section(&html, "id=\"pending\"", "</table>");
    assert!(pending.contains(&format!("/quotes/{fine}")) && pending.contains("Sam"), "{pending}");
    // Each draft named by its customer and its reference: a customer may have several.
    let reference = &fine[..8];
    // The link is the draft's name; what follows is grey, not underlined.
    assert!(
        pending
            .contains(&format!("\">Greta Berg <span class=\"muted\">{reference}</span></a><span class=\"muted\"> · ")),
        "{pending}"
    );
    // Each with what the notice does to it while it is valid, and all of them summed.
    let fine_row = section(pending, &format!("/quotes/{fine}"), "</li>");
    let from_tomorrow = format!("total 50.00 EUR · +5.00 EUR from {} while it is valid", date_in_days(1));
    assert!(fine_row.contains(&from_tomorrow), "{fine_row}");
    let short_row = section(pending, &format!("/quotes/{short}"), "</li>");
    let after_validity =
        format!("total 10.00 EUR · no change while it is valid; +1.00 EUR from prices dated after {}", date_in_days(0));
    assert!(short_row.contains(&after_validity), "{short_row}");
    let lapsed_row = section(pending, &format!("/quotes/{lapsed}"), "</li>");
    assert!(
        lapsed_row.contains(&format!("total 70.00 EUR · valid only until {lapsed_on}: its owner must extend it")),
        "{lapsed_row}"
    );
    // Summed over every draft it holds up, as the escalation's e-mail sums
    // them: the two with nobody to sign (listed below) too.
    assert!(
        html.contains(
            "Held up: 4 drafts worth 170.00 EUR, +16.00 EUR on 3 of them while they are valid, 2 of them with nobody to \
             sign (below). 2 drafts it holds up are past their validity and not counted: their owners must extend \
             them first."
        ),
        "{html}"
    );
    // How each figure is counted, as the publish confirmation and the notice page say.
    assert!(html.contains("What the notice does to each draft is counted from the prices the quote carries"), "{html}");
    assert!(!pending.contains("Omar") && !pending.contains("Dora"), "{pending}");
    assert!(html.contains("Held up with nobody to sign (3 quotes of 2 signers)"), "{html}");
    let stranded_rows = section(&html, "id=\"stranded\"", "</table>");
    for (who, why, quote) in [("Dora", "deactivated", gone), ("Omar", "now in finance", stranded)] {
        let row = section(stranded_rows, who, "</tr>");
        assert!(row.contains(why) && row.contains(&format!("/quotes/{quote}")), "{who}: {row}");
        assert!(row.contains("while it is valid"), "what the notice does to it, as to the others: {row}");
    }
    assert!(!stranded_rows.contains(&format!("/quotes/{fine}")), "{stranded_rows}");

    // The publish form sent again (from a second tab): the dashboard, not an error.
    let cookie = session_cookie(&app.base, &fiona.email).await;
    let http = client();
    let dashboard = format!("{}/notices/{notice}/dashboard", app.base);
    let page = http.get(&dashboard).header("cookie", &cookie).send().await.expect("the server answers");
    let form = [("csrf_token", csrf_in(&page.text().await.unwrap_or_default())), ("seen", seen_before_publishing)];
    let r = http
        .post(format!("{}/notices/{notice}/publish", app.base))
        .header("cookie", &cookie)
        .form(&form)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(r.status(), 303);
    let to = r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(to, Some(format!("/notices/{notice}/dashboard")));

    // Finance may acknowledge too; the count of those who have says who is who.
    for who in [&sam, &finance] {
        assert_eq!(who.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
    }
    let html = page_as(&app.base, &fiona.email, &format!("/notices/{notice}/dashboard")).await;
    assert!(html.contains("Acknowledged (1 salesperson, and 1 not in sales)"), "{html}");
    assert!(html.contains("Now 1 of 1 (100%), as of "), "{html}");
    assert!(!html.contains("deactivated since"), "{html}");
    // Deactivated since: still among those who acknowledged, and marked so.
    let r = admin.patch(&format!("/api/v1/users/{}", sam_user.id), &json!({"active": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let html = page_as(&app.base, &fiona.email, &format!("/notices/{notice}/dashboard")).await;
    let acknowledged = section(&html, "id=\"acknowledged\"", "</table>");
    assert!(
        acknowledged
            .contains(&format!("<span id=\"deactivated-{}\">deactivated since acknowledging</span>", sam_user.id)),
        "{acknowledged}"
    );
}

/// The part of `html` from `start` to the first `end` after it.
fn section<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("no {start} in {html}"));
    let len = html[from..].find(end).unwrap_or_else(|| panic!("no {end} after {start} in {html}"));
    &html[from..from + len]
}

both_backends! {
/// A client that read a quote can finalise it on condition that it is
/// still what it read: `If-Match` with the quote's `ETag`. A quote edited
/// since is refused with 412 and left a draft.
async fn finalising_with_if_match_refuses_a_quote_changed_since_it_was_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam, _) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 10}])).await);
    let path = format!("/api/v1/quotes/{id}");
    let etag = || etag_of(&sam, &path);
    let read = etag().await;
    assert_eq!(etag().await, read, "reading it again changes nothing");
    let r = sam.patch(&path, &json!({"lines": [{"sku": "P-1", "quantity": 40}]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let now = etag().await;
    assert_ne!(now, read, "an edit moves the ETag");

    let finalise = |if_match: &str| {
        sam.send(sam.request(reqwest::Method::POST, &format!("{path}/finalise")).header("if-match", if_match))
    };
    let r = finalise(&read).await;
    assert_error(&r, 412, "quote_changed");
    assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains("changed")), "{}", r.text);
    for bad in ["1234", "yesterday", "\"1\", 2", "W/", "\"a b\"", "*, \"1\"", " , "] {
        assert_error(&finalise(bad).await, 400, "bad_if_match");
    }
    // A weak tag never matches, nor a tag that is none of ours; a list
    // matches if one of its tags does.
    assert_error(&finalise(&format!("W/{now}")).await, 412, "quote_changed");
    assert_error(&finalise("\"yesterday\"").await, 412, "quote_changed");
    assert_error(&finalise(&format!("{read}, \"1\"")).await, 412, "quote_changed");
    assert_eq!(sam.get(&path).await.body["state"], "draft");
    // A list may run over several If-Match lines, and have empty elements.
    let two_lines = sam.request(reqwest::Method::POST, &format!("{path}/finalise")).header("if-match", &read);
    let r = sam.send(two_lines.header("if-match", format!("{now},"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.body["state"].as_str(), r.body["total_minor"].as_i64()), (Some("finalised"), Some(40_000)));
}
}

both_backends! {
/// A pending notice whose price a later notice replaced by today is
/// history on a quote: its line says so and counts nothing, instead of a
/// fall from the price the quote carries now to one no longer in force.
async fn a_pending_price_a_later_notice_replaced_counts_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    create_product(&finance, "P-2", "EUR", 500).await;
    let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 10}, {"sku": "P-2", "quantity": 1}])).await);
    let first = create_notice(&finance, "8% up", json!([
        {"sku": "P-1", "unit_price_minor": 1_100, "effective_on": date_in_days(0)},
        {"sku": "P-2", "unit_price_minor": 600, "effective_on": date_in_days(20)},
    ]))
    .await;
    publish_notice(&finance, &first).await;
    let second = publish_price_change(&finance, "P-1", 1_200, &date_in_days(0)).await;
    assert_eq!(sam.post_empty(&format!("/api/v1/notices/{second}/acknowledge")).await.status, 200);
    assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{quote}/reprice")).await.status, 200);

    let gate = sam.get(&format!("/api/v1/quotes/{quote}/gate")).await.body;
    let impact = &gate["pending"][0]["impact"];
    assert_eq!(gate["pending"][0]["notice_id"], json!(first), "{gate}");
    let p1 = &impact["lines"][0];
    assert_eq!((p1["sku"].as_str(), p1["overtaken_by_unit_price_minor"].as_i64()), (Some("P-1"), Some(1_200)), "{impact}");
    assert_eq!(impact["lines"][1]["overtaken_by_unit_price_minor"], json!(null), "a price still to come: {impact}");
    assert_eq!((impact["total_delta_minor"].as_i64(), impact["delta_while_valid_minor"].as_i64()), (Some(100), Some(100)), "P-2's rise only: {impact}");

    let html = page_as(&app.base, &sam_user.email, &format!("/quotes/{quote}")).await;
    assert!(html.contains("not the last word: another notice set 12.00 EUR, the price in force today"), "{html}");
    assert!(html.contains("<td class=\"num words\" data-label=\"Change\">none: no longer in force") && !html.contains("\u{2212}10.00 EUR") && !html.contains("-10.00 EUR"), "{html}");
}
}

/// The quote page's Finalise button, shown while the quote is not ready,
/// says why; it never finalises, even once the quote became ready in
/// another tab: that takes the confirmation, which shows what is signed.
#[tokio::test]
async fn a_finalise_button_of_a_page_showing_the_quote_not_ready_leads_to_the_confirmation() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1_200}])).await);
    let notice = publish_price_change(&finance, "P-1", 1_100, &date_in_days(30)).await;
    let cookie = session_cookie(&app.base, &sam_user.email).await;
    let http = client();
    let page = format!("{}/quotes/{id}", app.base);
    let html =
        http.get(&page).header("cookie", &cookie).send().await.expect("an answer").text().await.unwrap_or_default();
    assert!(html.contains("id=\"gate-not-ready\""), "{html}");
    let form = [("csrf_token", csrf_in(&html)), ("seen", hidden_in(&html, "seen")), ("from", hidden_in(&html, "from"))];
    let press = || http.post(format!("{page}/finalise")).header("cookie", &cookie).form(&form).send();

    let r = press().await.expect("an answer");
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap_or_default().contains("Not finalised. You must first acknowledge 1 price notice"));
    let history = page_as(&app.base, &sam_user.email, &format!("/quotes/{id}")).await;
    assert!(history.contains("Finalising refused: notices still to acknowledge"), "audited: {history}");

    assert_eq!(sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
    let r = press().await.expect("an answer");
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers().get("location").and_then(|l| l.to_str().ok()),
        Some(format!("/quotes/{id}/finalise").as_str())
    );
    assert_eq!(sam.get(&format!("/api/v1/quotes/{id}")).await.body["state"], "draft");

    // The confirmation shows what is signed: the lines, and the price due
    // while the quote is valid, which finalising now keeps it from.
    let html = page_as(&app.base, &sam_user.email, &format!("/quotes/{id}/finalise")).await;
    assert!(
        html.contains("id=\"lines\"") && html.contains("<strong>P-1</strong>") && html.contains("12,000.00 EUR"),
        "{html}"
    );
    assert!(html.contains("data-label=\"Qty\">1,200<"), "a quantity grouped as amounts are: {html}");
    let list = page_as(&app.base, &sam_user.email, "/quotes").await;
    assert!(list.contains("data-label=\"Valid until\"><span class=\"date\">2099-12-31</span>"), "{list}");

    // Signed by someone else now, the button's quote is refused as theirs to finalise.
    let (_, sara) = app.user(Role::Sales, "Sara").await;
    let r = sam.patch(&format!("/api/v1/quotes/{id}"), &json!({"signer_id": sara.id})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = press().await.expect("an answer");
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap_or_default().contains("Not finalised: Sara signs this quote now"));
    // A form without the quote as seen (a page from before it was sent) says
    // so too, rather than ask him to finalise again.
    let bare = http
        .post(format!("{page}/finalise"))
        .header("cookie", &cookie)
        .form(&form[..1])
        .send()
        .await
        .expect("an answer");
    assert_eq!(bare.status(), 403);
    let said = bare.text().await.unwrap_or_default();
    assert!(said.contains("Not finalised: Sara signs this quote now") && !said.contains("out of date"), "{said}");
    assert_eq!(sam.get(&format!("/api/v1/quotes/{id}")).await.body["state"], "draft");
    assert!(html.contains("Prices due while this quote is valid") && html.contains("11.00 EUR"), "{html}");
}

/// Repricing from the quote page takes the prices the page showed: a price
/// published meanwhile (which moves no revision) has the page shown again
/// with what repricing would take now.
#[tokio::test]
async fn repricing_from_the_quote_page_takes_only_the_prices_it_showed() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 10}])).await);
    publish_price_change(&finance, "P-1", 1_100, &date_in_days(0)).await;
    let cookie = session_cookie(&app.base, &sam_user.email).await;
    let http = client();
    let page = format!("{}/quotes/{id}", app.base);
    let shown = || async {
        let html = http.get(&page).header("cookie", &cookie).send().await.expect("an answer").text().await;
        let html = html.unwrap_or_default();
        [
            ("csrf_token", csrf_in(&html)),
            ("seen", hidden_in(&html, "seen")),
            ("seen_superseded", hidden_in(&html, "seen_superseded")),
        ]
    };
    let reprice = |form: [(&'static str, String); 3]| {
        http.post(format!("{page}/reprice")).header("cookie", &cookie).form(&form).send()
    };
    let price =
        || async { sam.get(&format!("/api/v1/quotes/{id}")).await.body["lines"][0]["unit_price_minor"].clone() };

    let form = shown().await;
    publish_price_change(&finance, "P-1", 1_200, &date_in_days(0)).await;
    let r = reprice(form).await.expect("an answer");
    assert_eq!(r.status(), 409);
    let html = pricegate_tests::pages::unwrapped(&r.text().await.unwrap_or_default());
    assert!(
        html.contains("Not repriced: the quote, or the prices in force for it, changed after you opened this page")
            && html.contains("12.00 EUR"),
        "{html}"
    );
    assert_eq!(price().await, 1_000);
    assert!(
        html.contains("At today's prices, these lines would change the quote's total by <strong>+20.00 EUR</strong>: keeping the old prices waives that."),
        "what repricing takes, and what an approval would waive: {html}"
    );

    let form = shown().await;
    let r = reprice(form.clone()).await.expect("an answer");
    assert_eq!(r.status(), 303);
    assert_eq!(price().await, 1_200);
    // The same form sent twice: the second says it is done already.
    let r = reprice(form).await.expect("an answer");
    assert_eq!(r.status(), 409);
    let html = pricegate_tests::pages::unwrapped(&r.text().await.unwrap_or_default());
    assert!(
        html.contains("Not repriced: every line is at the price in force now: there is nothing to reprice.")
            && !html.contains("Below is what repricing would take now"),
        "{html}"
    );
    assert_eq!(price().await, 1_200);

    // A price that falls: keeping the old one waives nothing, it charges more.
    publish_price_change(&finance, "P-1", 900, &date_in_days(0)).await;
    let html =
        http.get(&page).header("cookie", &cookie).send().await.expect("an answer").text().await.unwrap_or_default();
    let html = pricegate_tests::pages::unwrapped(&html);
    assert!(
        html.contains("At today's prices, these lines would take <strong>30.00 EUR</strong> off the quote's total: keeping the old prices charges the customer that much more."),
        "{html}"
    );
}

both_backends! {
/// A published notice names each product as it was named when published:
/// what its readers acknowledged. A draft names them as they are now.
async fn a_published_notice_keeps_the_product_names_it_was_published_with(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let product = create_product(&finance, "P-1", "EUR", 1_000).await;
    let published = publish_price_change(&finance, "P-1", 1_100, &date_in_days(5)).await;
    let draft = create_notice(&finance, "P-1 again", json!([{"sku": "P-1", "unit_price_minor": 1_200, "effective_on": date_in_days(9)}])).await;
    let r = finance.patch(&format!("/api/v1/products/{}", id_of(&product)), &json!({"name": "Pump 100, renamed"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let finance = &finance;
    let name_in = |notice: String| async move {
        finance.get(&format!("/api/v1/notices/{notice}")).await.body["changes"][0]["product_name"].clone()
    };
    assert_eq!(name_in(published).await, "Product P-1", "as published");
    assert_eq!(name_in(draft.clone()).await, "Pump 100, renamed", "a draft names the product as it is");
    publish_notice(finance, &draft).await;
    let r = finance.patch(&format!("/api/v1/products/{}", id_of(&product)), &json!({"name": "Pump 100 Mk II"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(name_in(draft).await, "Pump 100, renamed", "as published, after its rename");
}
}

/// Sends `req` with `If-Match: if_match`: the status, the answer's `ETag`
/// and its body.
async fn conditional(req: reqwest::RequestBuilder, if_match: &str) -> (u16, Option<String>, Value) {
    let r = req.header("if-match", if_match).send().await.expect("the server answers");
    let etag = r.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let status = r.status().as_u16();
    (status, etag, r.json().await.unwrap_or(Value::Null))
}

both_backends! {
/// Every write to a draft quote through the API takes `If-Match`, and every
/// answer carrying the quote carries its `ETag`: a client writes only on the
/// quote it read. An edit that changes nothing keeps the revision.
async fn every_write_to_a_quote_takes_if_match_and_answers_with_its_etag(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (sam, _) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let drafted = sam
        .request(reqwest::Method::POST, "/api/v1/quotes")
        .json(&pricegate_tests::fixtures::quote_request(json!([{"sku": "P-1", "quantity": 10}])));
    let (status, created_tag, quote) = conditional(drafted, "*").await;
    assert_eq!(status, 201, "{quote}");
    let path = format!("/api/v1/quotes/{}", id_of(&quote));
    let read = etag_of(&sam, &path).await;
    assert_eq!(created_tag.as_deref(), Some(read.as_str()), "the draft's ETag is the one GET gives");

    // Saving the quote as it is writes nothing: the ETag stays.
    let same = sam.request(reqwest::Method::PATCH, &path).json(&json!({"lines": [{"sku": "P-1", "quantity": 10}]}));
    let (status, tag, _) = conditional(same, &read).await;
    assert_eq!((status, tag.as_deref()), (200, Some(read.as_str())));
    assert_eq!(etag_of(&sam, &path).await, read);
    // Still, it is made on the quote as read: on another revision it is refused.
    let same = sam.request(reqwest::Method::PATCH, &path).json(&json!({"lines": [{"sku": "P-1", "quantity": 10}]}));
    let (status, _, body) = conditional(same, "\"1\"").await;
    assert_eq!((status, body["error"]["code"].as_str()), (412, Some("quote_changed")), "{body}");

    // The price rises today: finance approves the old one, on the quote and
    // the prices it read. A second rise moves no revision, but the gate's
    // `superseded_tag` finance read no longer holds.
    publish_price_change(&finance, "P-1", 1_200, &date_in_days(0)).await;
    let superseded_tag = || async { sam.get(&format!("{path}/gate")).await.body["superseded_tag"].clone() };
    let read_at_1200 = superseded_tag().await;
    publish_price_change(&finance, "P-1", 1_300, &date_in_days(0)).await;
    let approve = |tag: &Value| {
        let body = json!({"reason": "Agreed in March.", "superseded_tag": tag});
        finance.request(reqwest::Method::POST, &format!("{path}/override")).json(&body)
    };
    assert_eq!(etag_of(&sam, &path).await, read);
    let (status, _, body) = conditional(approve(&read_at_1200), &read).await;
    assert_eq!((status, body["error"]["code"].as_str()), (412, Some("quote_changed")), "{body}");
    let read_at_1300 = superseded_tag().await;
    assert_ne!(read_at_1300, read_at_1200);
    let (status, _, body) = conditional(approve(&read_at_1300), "\"1\"").await;
    assert_eq!((status, body["error"]["code"].as_str()), (412, Some("quote_changed")), "{body}");
    let (status, _, approval) = conditional(approve(&read_at_1300), &read).await;
    assert_eq!(status, 201, "{approval}");
    assert_eq!(
        (approval["waives"][0]["sku"].as_str(), approval["waives"][0]["current_unit_price_minor"].as_i64()),
        (Some("P-1"), Some(1_300)),
        "{approval}"
    );
    let approved = etag_of(&sam, &path).await;
    assert_ne!(approved, read, "an approval moves the revision");

    // Repricing and cancelling on the quote as read before the approval are refused.
    let reprice = || sam.request(reqwest::Method::POST, &format!("{path}/reprice"));
    let cancel = || sam.request(reqwest::Method::POST, &format!("{path}/cancel"));
    for stale in [reprice(), cancel()] {
        let (status, _, body) = conditional(stale, &read).await;
        assert_eq!((status, body["error"]["code"].as_str()), (412, Some("quote_changed")), "{body}");
    }
    let (status, _, body) = conditional(cancel(), "yesterday").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_if_match")), "{body}");
    assert_eq!(sam.get(&path).await.body["lines"][0]["unit_price_minor"], 1_000, "not repriced");

    let (status, repriced_tag, repriced) = conditional(reprice(), &approved).await;
    assert_eq!((status, repriced["quote"]["lines"][0]["unit_price_minor"].as_i64()), (200, Some(1_300)), "{repriced}");
    let now = etag_of(&sam, &path).await;
    assert_eq!(repriced_tag.as_deref(), Some(now.as_str()));
    // Repriced again, it is at today's prices already: nothing is written.
    let (status, tag, again) = conditional(reprice(), &now).await;
    assert_eq!((status, tag.as_deref()), (200, Some(now.as_str())), "{again}");
    assert_eq!(again["quote"]["lines"][0]["id"], repriced["quote"]["lines"][0]["id"], "the same line");
    let (status, _, body) = conditional(cancel(), &approved).await;
    assert_eq!(status, 412, "{body}");
    let r = sam.post_empty(&format!("{path}/finalise")).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "pending_acknowledgements"), "{}", r.text);
    let (status, _, cancelled) = conditional(cancel(), &now).await;
    assert_eq!((status, cancelled["state"].as_str()), (200, Some("cancelled")), "{cancelled}");
    let r = sam.post_empty(&format!("{path}/finalise")).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "quote_not_draft"), "{}", r.text);

    // The quote's page keeps its history, in words, from the audit log.
    let html = page_as(&app.base, &fiona.email, &path.replace("/api/v1", "")).await;
    let history = section(&html, "<details id=\"history\"", "</details>");
    let said = [
        "Drafted, total 100.00 EUR, signed by Sam",
        "Approving old prices refused: the quote had changed since it was read",
        "Approved keeping old prices: \u{201c}Agreed in March.\u{201d}",
        "Repriced: P-1 unit price 10.00 EUR \u{2192} 13.00 EUR; total 100.00 EUR \u{2192} 130.00 EUR",
        "Finalising refused: notices still to acknowledge",
        "Cancelled",
        "Finalising asked again once it was cancelled: nothing changed",
    ];
    let mut from = 0;
    for what in said {
        let at = history[from..].find(what).unwrap_or_else(|| panic!("{what}, in order, in {history}"));
        from += at + what.len();
    }
    assert!(!history.contains("Edited"), "the edit that changed nothing is no event: {history}");

    // The log keeps each line as first quoted, and each price a repricing moved.
    let entry = |action: &'static str| {
        let finance = finance.clone();
        let subject = id_of(&quote);
        async move {
            let r = finance.get(&format!("/api/v1/audit?subject={subject}&action={action}")).await;
            assert_eq!(r.body.as_array().map(Vec::len), Some(1), "{}", r.text);
            r.body[0]["detail"]["lines"].clone()
        }
    };
    assert_eq!(
        entry("quote.drafted").await,
        json!([{"sku": "P-1", "quantity": 10, "discount_bp": 0, "unit_price_minor": 1_000}])
    );
    let repriced = entry("quote.repriced").await;
    assert_eq!(repriced[0]["sku"], "P-1", "{repriced}");
    assert_eq!(repriced[0]["unit_prices_minor"], json!([[1_000], [1_300]]), "{repriced}");
}
}

both_backends! {
/// A draft notice through the API is written only as finance read it:
/// editing, deleting and publishing take `If-Match` (412 `notice_changed`),
/// and reading, drafting and editing answer with its `ETag`.
async fn a_draft_notice_is_edited_deleted_and_published_only_as_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let change = |price: i64| json!([{"sku": "P-1", "unit_price_minor": price, "effective_on": date_in_days(1)}]);
    let drafted = finance
        .request(reqwest::Method::POST, "/api/v1/notices")
        .json(&json!({"title": "P-1 up", "body": "From tomorrow.", "changes": change(1_100)}));
    let (status, created_tag, notice) = conditional(drafted, "*").await;
    assert_eq!(status, 201, "{notice}");
    let path = format!("/api/v1/notices/{}", id_of(&notice));
    let read = etag_of(&finance, &path).await;
    assert_eq!(created_tag.as_deref(), Some(read.as_str()));

    // Another client edits it first, on what it read.
    let edit = |price: i64| finance.request(reqwest::Method::PATCH, &path).json(&json!({"changes": change(price)}));
    let (status, edited_tag, _) = conditional(edit(9_900), &read).await;
    assert_eq!(status, 200);
    let now = etag_of(&finance, &path).await;
    assert_eq!(edited_tag.as_deref(), Some(now.as_str()), "PATCH answers with the new ETag");
    assert_ne!(now, read);
    // Saved again as it is, it writes nothing: the ETag stays.
    let (status, tag, _) = conditional(edit(9_900), &now).await;
    assert_eq!((status, tag.as_deref()), (200, Some(now.as_str())));

    // Each write on the draft as read before that is refused, and does nothing.
    let publish = || finance.request(reqwest::Method::POST, &format!("{path}/publish"));
    let delete = || finance.request(reqwest::Method::DELETE, &path);
    for stale in [edit(1_100), publish(), delete()] {
        let (status, _, body) = conditional(stale, &read).await;
        assert_eq!((status, body["error"]["code"].as_str()), (412, Some("notice_changed")), "{body}");
    }
    let kept = finance.get(&path).await.body;
    assert_eq!((kept["state"].as_str(), kept["changes"][0]["unit_price_minor"].as_i64()), (Some("draft"), Some(9_900)));

    let (status, _, published) = conditional(publish(), &now).await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(finance.get(&path).await.body["state"], "published");

    // Another draft, deleted as read.
    let other = create_notice(&finance, "P-1 down", change(900)).await;
    let other_path = format!("/api/v1/notices/{other}");
    let tag = etag_of(&finance, &other_path).await;
    let (status, _, _) = conditional(finance.request(reqwest::Method::DELETE, &other_path), &tag).await;
    assert_eq!(status, 204);
    assert_eq!(finance.get(&other_path).await.status, 404);
}
}

/// The publish confirmation publishes the draft it showed: one edited
/// meanwhile (from another tab, or through the API) is shown again, and
/// nothing is published until it is confirmed as it is.
#[tokio::test]
async fn the_publish_confirmation_does_not_publish_a_draft_changed_since_it_was_shown() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let change = |price: i64| json!([{"sku": "P-1", "unit_price_minor": price, "effective_on": date_in_days(1)}]);
    let notice = create_notice(&finance, "P-1 up", change(1_100)).await;
    let cookie = session_cookie(&app.base, &fiona.email).await;
    let http = client();
    let confirm = format!("{}/notices/{notice}/publish", app.base);
    let shown = || async {
        let r = http.get(&confirm).header("cookie", &cookie).send().await.expect("the server answers");
        let html = r.text().await.unwrap_or_default();
        (
            csrf_in(&html),
            (hidden_in(&html, "seen"), hidden_in(&html, "seen_seq"), hidden_in(&html, "seen_touched")),
            html,
        )
    };
    let post = |csrf: String, (seen, seen_seq, seen_touched): (String, String, String)| {
        let form = [("csrf_token", csrf), ("seen", seen), ("seen_seq", seen_seq), ("seen_touched", seen_touched)];
        http.post(&confirm).header("cookie", &cookie).form(&form).send()
    };
    let (csrf, seen, html) = shown().await;
    assert!(html.contains("11.00 EUR"), "{html}");

    let r = finance.patch(&format!("/api/v1/notices/{notice}"), &json!({"changes": change(9_900)})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = post(csrf.clone(), seen).await.expect("the server answers");
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap_or_default();
    assert!(html.contains("Not published: the draft changed after you opened this confirmation"), "{html}");
    assert!(html.contains("99.00 EUR"), "the draft as it is now: {html}");
    assert_eq!(finance.get(&format!("/api/v1/notices/{notice}")).await.body["state"], "draft");

    // Another notice published meanwhile changes the prices and quotes the
    // confirmation weighed the draft against: it is shown again.
    let (_, seen, _) = shown().await;
    create_product(&finance, "P-2", "EUR", 500).await;
    publish_price_change(&finance, "P-2", 600, &date_in_days(1)).await;
    let r = post(csrf.clone(), seen).await.expect("the server answers");
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap_or_default();
    assert!(html.contains("Not published: another notice was published after you opened this confirmation"), "{html}");
    assert_eq!(finance.get(&format!("/api/v1/notices/{notice}")).await.body["state"], "draft");

    // A form whose last publication cannot be read, or that leaves out what
    // it was shown, is shown the draft again: it would compare nothing.
    let (_, (seen, seq, touched), _) = shown().await;
    for sent in [
        (seen.clone(), "x".to_owned(), touched.clone()),
        (seen.clone(), String::new(), touched),
        (seen, seq, String::new()),
    ] {
        let r = post(csrf.clone(), sent.clone()).await.expect("the server answers");
        assert_eq!(r.status(), 409, "{sent:?}");
        let html = r.text().await.unwrap_or_default();
        assert!(html.contains("Not published: the page you sent it from was out of date"), "{sent:?}: {html}");
    }
    assert_eq!(finance.get(&format!("/api/v1/notices/{notice}")).await.body["state"], "draft");

    // A quote drafted meanwhile with a product the notice prices changes
    // what publishing does: the confirmation is shown again, listing it.
    let (sam, _) = app.user(Role::Sales, "Sam").await;
    let (_, seen, _) = shown().await;
    draft_quote(&sam, json!([{"sku": "P-1", "quantity": 3}])).await;
    let r = post(csrf.clone(), seen).await.expect("the server answers");
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap_or_default();
    assert!(
        html.contains("Not published: the open quotes this notice touches changed after you opened this confirmation"),
        "{html}"
    );
    assert!(html.contains("Greta Berg"), "the quote drafted meanwhile: {html}");
    assert_eq!(finance.get(&format!("/api/v1/notices/{notice}")).await.body["state"], "draft");

    let (_, seen, _) = shown().await;
    let r = post(csrf, seen).await.expect("the server answers");
    assert_eq!(r.status(), 303);
    let published = finance.get(&format!("/api/v1/notices/{notice}")).await.body;
    assert_eq!(
        (published["state"].as_str(), published["changes"][0]["unit_price_minor"].as_i64()),
        (Some("published"), Some(9_900))
    );
}

/// Cancelling a quote and deleting a draft notice from their confirmations
/// act on what the page showed: changed since (another tab, a colleague),
/// it is shown again as it is now, and nothing is cancelled or deleted
/// until that is confirmed.
#[tokio::test]
async fn a_cancel_or_delete_confirmation_acts_on_what_it_showed() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let http = client();
    // The page at `path` as `cookie` sees it, and its form posted from it.
    let shown = |cookie: String, path: String| {
        let http = http.clone();
        let url = format!("{}{path}", app.base);
        async move {
            let html = http.get(&url).header("cookie", &cookie).send().await.expect("an answer").text().await;
            let html = html.unwrap_or_default();
            let form = [("csrf_token", csrf_in(&html)), ("seen", hidden_in(&html, "seen"))];
            move || http.post(&url).header("cookie", &cookie).form(&form).send()
        }
    };

    let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 10}])).await);
    let sam_cookie = session_cookie(&app.base, &sam_user.email).await;
    let cancel = shown(sam_cookie.clone(), format!("/quotes/{id}/cancel")).await;
    let r = sam.patch(&format!("/api/v1/quotes/{id}"), &json!({"lines": [{"sku": "P-1", "quantity": 90}]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = cancel().await.expect("an answer");
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap_or_default();
    assert!(
        html.contains("Not cancelled: the quote changed after you opened this page") && html.contains("900.00 EUR"),
        "{html}"
    );
    assert_eq!(sam.get(&format!("/api/v1/quotes/{id}")).await.body["state"], "draft");
    // The confirmation's form as Sam's browser holds it.
    let form_of = |url: String| {
        let (http, cookie) = (http.clone(), sam_cookie.clone());
        async move {
            let html = http.get(url).header("cookie", cookie).send().await.expect("an answer").text().await;
            let html = html.unwrap_or_default();
            [("csrf_token", csrf_in(&html)), ("seen", hidden_in(&html, "seen"))]
        }
    };
    let cancel_url = format!("{}/quotes/{id}/cancel", app.base);
    let form = form_of(cancel_url.clone()).await;
    let (status, page) = post_form(cancel_url.clone(), &sam_cookie, &form).await;
    assert_eq!(status, 303);
    assert!(page.contains("This quote was cancelled") && !page.contains("Cancelled already"), "{page}");
    assert!(
        page.contains("Quote cancelled ") && page.contains("it can no longer be finalised"),
        "told what it did: {page}"
    );
    assert_eq!(sam.get(&format!("/api/v1/quotes/{id}")).await.body["state"], "cancelled");
    // Sent again (Back, then the button): it says it did nothing.
    let (status, page) = post_form(cancel_url, &sam_cookie, &form).await;
    assert_eq!(status, 303);
    assert!(page.contains("Cancelled already, 20") && page.contains("nothing more was done"), "{page}");
    // Sent from a page opened before the quote was finalised: not cancelled, and it says so.
    let signed = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
    let form = form_of(format!("{}/quotes/{signed}/cancel", app.base)).await;
    assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{signed}/finalise")).await.status, 200);
    let (status, page) = post_form(format!("{}/quotes/{signed}/cancel", app.base), &sam_cookie, &form).await;
    assert_eq!(status, 303);
    assert!(
        page.contains("Not cancelled: the quote was finalised 20") && page.contains("stays as it was signed"),
        "{page}"
    );
    assert_eq!(sam.get(&format!("/api/v1/quotes/{signed}")).await.body["state"], "finalised");
    // Its finalise page, opened late by its owner who does not sign it, leads to the quote, not to "not yours".
    let (_, sue) = app.user(Role::Sales, "Sue").await;
    let theirs = id_of(&draft_quote_signed_by(&sam, json!([{"sku": "P-1", "quantity": 1}]), sue.id).await);
    let sue_api = app.login(&sue.email, pricegate_tests::PASSWORD).await;
    assert_eq!(sue_api.post_empty(&format!("/api/v1/quotes/{theirs}/finalise")).await.status, 200);
    let r =
        http.get(format!("{}/quotes/{theirs}/finalise", app.base)).header("cookie", &sam_cookie).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers().get("location").and_then(|l| l.to_str().ok())),
        (303, Some(format!("/quotes/{theirs}").as_str()))
    );

    let notice = create_notice(
        &finance,
        "P-1 up",
        json!([{"sku": "P-1", "unit_price_minor": 1_100, "effective_on": date_in_days(1)}]),
    )
    .await;
    // The list says whose draft it is, finance sharing drafts.
    let (_, frank) = app.user(Role::Finance, "Frank").await;
    let list = page_as(&app.base, &frank.email, "/notices").await;
    assert!(list.contains("<td>Not published: drafted by Fiona, last saved"), "{list}");
    assert!(page_as(&app.base, &fiona.email, "/notices").await.contains("Not published: drafted by you"));
    // The confirmation counts the changes that go with the draft, or says there are none.
    let asked = page_as(&app.base, &fiona.email, &format!("/notices/{notice}/delete")).await;
    assert!(asked.contains("Deleting removes the draft and its 1 price change."), "{asked}");
    let bare = create_notice(&finance, "Nothing yet", json!([])).await;
    let asked = page_as(&app.base, &fiona.email, &format!("/notices/{bare}/delete")).await;
    assert!(asked.contains("Deleting removes the draft, which has no price changes."), "{asked}");
    let fiona_cookie = session_cookie(&app.base, &fiona.email).await;
    let delete = shown(fiona_cookie.clone(), format!("/notices/{notice}/delete")).await;
    let r = finance.patch(&format!("/api/v1/notices/{notice}"), &json!({"title": "P-1 up, and P-2"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = delete().await.expect("an answer");
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap_or_default();
    assert!(
        html.contains("Not deleted: the draft changed after you opened this page") && html.contains("P-1 up, and P-2"),
        "{html}"
    );
    assert_eq!(finance.get(&format!("/api/v1/notices/{notice}")).await.status, 200);
    let delete = shown(fiona_cookie, format!("/notices/{notice}/delete")).await;
    assert_eq!(delete().await.expect("an answer").status(), 303);
    assert_eq!(finance.get(&format!("/api/v1/notices/{notice}")).await.status, 404);
}

/// Two edits of one draft, from two tabs or two people through the API:
/// the later one, made on the quote as it was before the first, is not
/// saved over it. The form comes back as typed, to save again knowingly.
#[tokio::test]
async fn an_edit_made_on_an_older_version_of_the_quote_does_not_overwrite_a_newer_one() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 10}])).await);
    let path = format!("/api/v1/quotes/{id}");
    let read = etag_of(&sam, &path).await;

    let cookie = session_cookie(&app.base, &sam_user.email).await;
    let http = client();
    let edit = format!("{}/quotes/{id}/edit", app.base);
    let html =
        http.get(&edit).header("cookie", &cookie).send().await.expect("an answer").text().await.unwrap_or_default();
    let form = |seen: String, quantity: &str| {
        vec![
            ("csrf_token", csrf_in(&html)),
            ("seen", seen),
            ("customer_name", "Greta Berg".to_owned()),
            ("customer_email", "greta@nordwind.example".to_owned()),
            ("signer_id", sam_user.id.to_string()),
            ("valid_until", date_in_days(30)),
            ("rows", "1".to_owned()),
            ("sku_0", "P-1".to_owned()),
            ("quantity_0", quantity.to_owned()),
        ]
    };
    let opened = hidden_in(&html, "seen");

    // The other tab saves first (here through the API, on what it read),
    // and learns the new revision from the answer.
    let saved = sam
        .request(reqwest::Method::PATCH, &path)
        .header("if-match", &read)
        .json(&json!({"lines": [{"sku": "P-1", "quantity": 60}]}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(saved.status(), 200);
    let new_tag = saved.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(new_tag, Some(etag_of(&sam, &path).await), "PATCH answers with the new ETag");
    // The API refuses an edit on what was read before that.
    let r = sam
        .send(sam.request(reqwest::Method::PATCH, &path).header("if-match", &read).json(&json!({"notes": "late"})))
        .await;
    assert_error(&r, 412, "quote_changed");

    let r = http.post(&edit).header("cookie", &cookie).form(&form(opened, "6")).send().await.expect("an answer");
    assert_eq!(r.status(), 409);
    let again = r.text().await.unwrap_or_default();
    assert!(
        again.contains("Not saved: the quote changed after you opened this form. As it is now, Sam signs it")
            && again.contains("and it totals 600.00 EUR"),
        "{again}"
    );
    assert!(again.contains("name=\"quantity_0\"") && again.contains("value=\"6\""), "as typed: {again}");
    assert_eq!(sam.get(&path).await.body["lines"][0]["quantity"], 60, "the newer edit stands");

    // The form shows the signer as typed while they can still sign.
    assert!(again.contains(&format!("<option value=\"{}\" selected", sam_user.id)), "{again}");

    // Saved again from that page, knowingly: it replaces the newer one.
    let seen = hidden_in(&again, "seen");
    let r = http.post(&edit).header("cookie", &cookie).form(&form(seen.clone(), "6")).send().await.expect("an answer");
    assert_eq!(r.status(), 303);
    assert_eq!(sam.get(&path).await.body["lines"][0]["quantity"], 6);
    let edits = || async { finance.get(&format!("/api/v1/audit?action=quote.edited&subject={id}")).await.body };
    let saved = edits().await;

    // The same form sent again (Save pressed twice): the quote already says
    // what it does, so it is no conflict, and nothing more is written.
    let r = http.post(&edit).header("cookie", &cookie).form(&form(seen.clone(), "6")).send().await.expect("an answer");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/quotes/{id}").as_str());
    assert_eq!(edits().await, saved, "no second edit");
    // Sent again with something else in it, it is the conflict it was.
    let r = http.post(&edit).header("cookie", &cookie).form(&form(seen, "7")).send().await.expect("an answer");
    assert_eq!(r.status(), 409);
    assert_eq!(sam.get(&path).await.body["lines"][0]["quantity"], 6);
}

/// A price published for a date before one already published for the same
/// product holds only until that later date: the publish confirmation says
/// so, since the later one takes over whatever finance now means.
#[tokio::test]
async fn the_publish_confirmation_says_when_an_earlier_published_price_takes_over() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    create_product(&finance, "P-2", "EUR", 1_000).await;
    let (soon, later) = (date_in_days(5), date_in_days(20));
    publish_price_change(&finance, "P-1", 1_300, &later).await;
    let changes = json!([
        {"sku": "P-1", "unit_price_minor": 1_400, "effective_on": soon},
        {"sku": "P-2", "unit_price_minor": 1_100, "effective_on": soon},
    ]);
    let notice = create_notice(&finance, "Second rise", changes).await;
    let html = page_as(&app.base, &fiona.email, &format!("/notices/{notice}/publish")).await;
    let unusual = html.split("id=\"unusual\"").nth(1).and_then(|s| s.split("</div>").next()).unwrap_or_default();
    assert!(unusual.contains(&format!("P-1 at 14.00 EUR from {soon} holds only until {later}")), "{html}");
    assert!(unusual.contains("sets 13.00 EUR from then") && !unusual.contains("P-2"), "{unusual}");

    // A product withdrawn from sale since is pointed out: its price reaches only the quotes carrying it.
    let products = finance.get("/api/v1/products").await.body;
    let p2 = products.as_array().into_iter().flatten().find(|p| p["sku"] == "P-2").map(id_of).unwrap_or_default();
    let r = finance.patch(&format!("/api/v1/products/{p2}"), &json!({"withdrawn": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let html = page_as(&app.base, &fiona.email, &format!("/notices/{notice}/publish")).await;
    let unusual = html.split("id=\"unusual\"").nth(1).and_then(|s| s.split("</div>").next()).unwrap_or_default();
    assert!(unusual.contains(&format!("P-2 has been withdrawn from sale since {}", date_in_days(0))), "{unusual}");
}

/// An edit form opened before the draft's signer was handed over: refused,
/// and shown again naming who signs now, not whichever salesperson the
/// list starts with, which saving again would silently make the signer.
#[tokio::test]
async fn an_edit_refused_after_a_hand_over_shows_the_signer_who_signs_now() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    let (_, xavier) = app.user(Role::Sales, "Xavier").await;
    let (_, sara) = app.user(Role::Sales, "Sara").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let id = id_of(&draft_quote_signed_by(&sam, json!([{"sku": "P-1", "quantity": 10}]), xavier.id).await);

    let cookie = session_cookie(&app.base, &sam_user.email).await;
    let http = client();
    let edit = format!("{}/quotes/{id}/edit", app.base);
    let html =
        http.get(&edit).header("cookie", &cookie).send().await.expect("an answer").text().await.unwrap_or_default();
    let sent = [
        ("csrf_token", csrf_in(&html)),
        ("seen", hidden_in(&html, "seen")),
        ("customer_name", "Greta Berg".to_owned()),
        ("customer_email", "greta@nordwind.example".to_owned()),
        ("signer_id", xavier.id.to_string()),
        ("valid_until", date_in_days(30)),
        ("rows", "1".to_owned()),
        ("sku_0", "P-1".to_owned()),
        ("quantity_0", "12".to_owned()),
    ];

    let r = admin.patch(&format!("/api/v1/users/{}", xavier.id), &json!({"role": "finance"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = admin.post(&format!("/api/v1/users/{}/handover", xavier.id), &json!({"to": sara.id})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let r = http.post(&edit).header("cookie", &cookie).form(&sent).send().await.expect("an answer");
    assert_eq!(r.status(), 409);
    let again = r.text().await.unwrap_or_default();
    assert!(again.contains("As it is now, Sara signs it"), "{again}");
    assert!(again.contains(&format!("<option value=\"{}\" selected", sara.id)), "Sara, as the quote is now: {again}");
    assert!(!again.contains(&format!("<option value=\"{}\" selected", sam_user.id)), "{again}");
    assert_eq!(sam.get(&format!("/api/v1/quotes/{id}")).await.body["signer_id"], json!(sara.id));
}

/// Two edit forms of one draft notice: the later save, made on the draft as
/// it was before the first, is not saved over it; the form comes back as typed.
#[tokio::test]
async fn a_draft_notice_edited_in_two_tabs_keeps_the_first_save() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let notice = create_notice(&finance, "P-1 up", json!([])).await;
    let cookie = session_cookie(&app.base, &fiona.email).await;
    let http = client();
    let edit = format!("{}/notices/{notice}/edit", app.base);
    let open = || async {
        http.get(&edit).header("cookie", &cookie).send().await.expect("an answer").text().await.unwrap_or_default()
    };
    let save = |html: &str, title: &str| {
        let form = [
            ("csrf_token", csrf_in(html)),
            ("seen", hidden_in(html, "seen")),
            ("title", title.to_owned()),
            ("body", "Please read.".to_owned()),
            ("changes", String::new()),
            ("action", "save".to_owned()),
        ];
        http.post(&edit).header("cookie", &cookie).form(&form).send()
    };
    let (tab_a, tab_b) = (open().await, open().await);
    assert_eq!(save(&tab_a, "Pump prices rise").await.expect("an answer").status(), 303);
    let r = save(&tab_b, "P-1 up again").await.expect("an answer");
    assert_eq!(r.status(), 409);
    let again = r.text().await.unwrap_or_default();
    assert!(
        again.contains(
            "Not saved: the draft changed after you opened this form. As it is now, it is titled \u{201c}Pump prices rise\u{201d} with no price change."
        ),
        "{again}"
    );
    assert!(again.contains("value=\"P-1 up again\""), "as typed: {again}");
    assert_eq!(finance.get(&format!("/api/v1/notices/{notice}")).await.body["title"], "Pump prices rise");
    assert_eq!(save(&again, "P-1 up again").await.expect("an answer").status(), 303);
    assert_eq!(finance.get(&format!("/api/v1/notices/{notice}")).await.body["title"], "P-1 up again");
}

/// A draft notice's edit form sent after the draft was published, or
/// deleted, in another tab: nothing is saved, and what was typed comes back
/// as a new notice's form, saying why, to draft a correction from it.
#[tokio::test]
async fn a_draft_notice_published_or_deleted_while_its_form_is_open_keeps_what_was_typed() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let cookie = session_cookie(&app.base, &fiona.email).await;
    let http = client();
    let open = |notice: &str| {
        let edit = format!("{}/notices/{notice}/edit", app.base);
        let (http, cookie) = (http.clone(), cookie.clone());
        async move {
            let r = http.get(&edit).header("cookie", &cookie).send().await.expect("an answer");
            r.text().await.unwrap_or_default()
        }
    };
    let save = |notice: &str, html: &str| {
        let form = [
            ("csrf_token", csrf_in(html)),
            ("seen", hidden_in(html, "seen")),
            ("title", "P-1 up, corrected".to_owned()),
            ("body", "Typed with care.".to_owned()),
            ("changes", format!("P-1, 12.50, {}", date_in_days(10))),
            ("action", "save".to_owned()),
        ];
        http.post(format!("{}/notices/{notice}/edit", app.base)).header("cookie", &cookie).form(&form).send()
    };
    let published = create_notice(&finance, "P-1 up", json!([])).await;
    let form = open(&published).await;
    publish_notice(&finance, &published).await;
    let r = save(&published, &form).await.expect("an answer");
    assert_eq!(r.status(), 409);
    let again = pricegate_tests::pages::unwrapped(&r.text().await.unwrap_or_default());
    assert!(again.contains("Not saved: \u{201c}P-1 up\u{201d} was published "), "{again}");
    assert!(again.contains("What you typed is below as a new notice: save it to draft a correction"), "{again}");
    assert!(again.contains(&format!("<a href=\"/notices/{published}\" id=\"published-meanwhile\">")), "{again}");
    assert!(again.contains("action=\"/notices/new\"") && again.contains("value=\"P-1 up, corrected\""), "{again}");
    assert!(
        again.contains("Typed with care.") && again.contains(&format!("P-1, 12.50, {}", date_in_days(10))),
        "{again}"
    );
    assert_eq!(finance.get(&format!("/api/v1/notices/{published}")).await.body["title"], "P-1 up", "unchanged");
    // Saved from there, it is a new draft.
    let csrf = csrf_in(&again);
    let new = [
        ("csrf_token", csrf),
        ("draft_id", hidden_in(&again, "draft_id")),
        ("title", "P-1 up, corrected".to_owned()),
        ("body", "Typed with care.".to_owned()),
        ("changes", format!("P-1, 12.50, {}", date_in_days(10))),
        ("action", "save".to_owned()),
    ];
    let r = http.post(format!("{}/notices/new", app.base)).header("cookie", &cookie).form(&new).send().await;
    assert_eq!(r.expect("an answer").status(), 303);
    let drafts = finance.get("/api/v1/notices").await.body;
    let titles: Vec<&str> = drafts.as_array().into_iter().flatten().filter_map(|n| n["title"].as_str()).collect();
    assert!(titles.contains(&"P-1 up, corrected") && titles.contains(&"P-1 up"), "{drafts}");

    let deleted = create_notice(&finance, "P-1 down", json!([])).await;
    let form = open(&deleted).await;
    assert_eq!(finance.delete(&format!("/api/v1/notices/{deleted}")).await.status, 204);
    let r = save(&deleted, &form).await.expect("an answer");
    assert_eq!(r.status(), 409);
    let again = r.text().await.unwrap_or_default();
    assert!(again.contains("Not saved: this draft was deleted while the form was open."), "{again}");
    assert!(again.contains("value=\"P-1 up, corrected\"") && !again.contains("published-meanwhile"), "{again}");

    // Its publication confirmed after it was deleted says so, and who deleted it.
    let gone = create_notice(&finance, "P-1 sideways", json!([])).await;
    let publish = format!("{}/notices/{gone}/publish", app.base);
    let confirm = http.get(&publish).header("cookie", &cookie).send().await.expect("an answer");
    let confirm = confirm.text().await.unwrap_or_default();
    let form = [
        ("csrf_token", csrf_in(&confirm)),
        ("seen", hidden_in(&confirm, "seen")),
        ("seen_seq", hidden_in(&confirm, "seen_seq")),
        ("seen_touched", hidden_in(&confirm, "seen_touched")),
    ];
    assert_eq!(finance.delete(&format!("/api/v1/notices/{gone}")).await.status, 204);
    for r in [http.post(&publish).form(&form), http.get(&publish)] {
        let r = r.header("cookie", &cookie).send().await.expect("an answer");
        assert_eq!(r.status(), 404);
        let said = pricegate_tests::pages::unwrapped(&r.text().await.unwrap_or_default());
        assert!(
            said.contains("Nothing was published: this draft was deleted ") && said.contains(" by Fiona"),
            "{said}"
        );
    }
}

both_backends! {
    /// A quote is found by the reference its e-mails and lists print (the
    /// first 8 hexadecimal digits of its id), among those its reader may see.
    async fn a_quote_is_found_by_its_printed_reference(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (_, rita) = app.user(Role::Sales, "Rita").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let ids: Vec<String> = five_drafts(&sam).await;
        let http = client();
        let open = |email: String, path: String| {
            let (http, base) = (http.clone(), app.base.clone());
            async move {
                let cookie = session_cookie(&base, &email).await;
                let r = http.get(format!("{base}{path}")).header("cookie", cookie).send().await.unwrap();
                let location = r.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
                (r.status().as_u16(), location, r.text().await.unwrap_or_default())
            }
        };
        for id in &ids {
            let reference = &id.replace('-', "")[..8];
            for (who, path) in [(&sam_user.email, format!("/quotes/{reference}")), (&fiona.email, format!("/quotes/{}", reference.to_uppercase()))] {
                let (status, location, body) = open(who.clone(), path.clone()).await;
                assert_eq!((status, location.as_deref()), (303, Some(format!("/quotes/{id}").as_str())), "{who} {path}: {body}");
            }
            let (status, _, body) = open(rita.email.clone(), format!("/quotes/{reference}")).await;
            assert_eq!(status, 404, "{body}");
            assert!(body.contains(&format!("None of the quotes you may see has the reference {reference}.")), "{body}");
            // Its edit form too, by the same reference.
            let (status, location, body) = open(sam_user.email.clone(), format!("/quotes/{reference}/edit")).await;
            assert_eq!((status, location.as_deref()), (303, Some(format!("/quotes/{id}/edit").as_str())), "{body}");
        }
        for nothing in ["/quotes/zzzzzzzz", "/quotes/%ff", "/quotes/%C3"] {
            let (status, _, body) = open(sam_user.email.clone(), nothing.into()).await;
            assert!(status == 404 && body.contains("There is nothing at this address."), "{nothing}: {body}");
        }
    }
}

/// A few drafts of Sam's, for their ids' references to spread over the range.
async fn five_drafts(sam: &pricegate_tests::Session) -> Vec<String> {
    let mut ids = Vec::new();
    for quantity in 1..=5 {
        ids.push(id_of(&draft_quote(sam, json!([{"sku": "P-1", "quantity": quantity}])).await));
    }
    ids
}

both_backends! {
/// An edit's audit row says what it changed: each field, each product's
/// quantity and the total before and after. The quote's history reads it.
async fn an_edit_is_recorded_with_what_it_changed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    let (_, sara) = app.user(Role::Sales, "Sara").await;
    for (sku, price) in [("P-1", 1_000), ("P-2", 500), ("P-3", 250)] {
        create_product(&finance, sku, "EUR", price).await;
    }
    let quote = draft_quote(&sam, json!([{"sku": "P-1", "quantity": 2}, {"sku": "P-2", "quantity": 1}])).await;
    let path = format!("/api/v1/quotes/{}", id_of(&quote));
    let edit = json!({
        "customer": {"name": "Greta Berg-Holm"},
        "valid_until": "2100-01-31",
        "signer_id": sara.id,
        "lines": [{"sku": "P-1", "quantity": 5}, {"sku": "P-3", "quantity": 1}],
    });
    let r = sam.patch(&path, &edit).await;
    assert_eq!((r.status.as_u16(), r.body["total_minor"].as_i64()), (200, Some(5_250)), "{}", r.text);
    // Only a discount changes: the product's quantity stays.
    let r = sam
        .patch(&path, &json!({"lines": [{"sku": "P-1", "quantity": 5, "discount_bp": 1_000}, {"sku": "P-3", "quantity": 1}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // P-1 on two lines on the same terms: the same 5 units, on one line more.
    let split = json!([
        {"sku": "P-3", "quantity": 1},
        {"sku": "P-1", "quantity": 2, "discount_bp": 1_000},
        {"sku": "P-1", "quantity": 3, "discount_bp": 1_000},
    ]);
    let r = sam.patch(&path, &json!({"lines": split})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The same lines in another order: no product changed.
    let r = sam
        .patch(&path, &json!({"lines": [
            {"sku": "P-1", "quantity": 2, "discount_bp": 1_000},
            {"sku": "P-1", "quantity": 3, "discount_bp": 1_000},
            {"sku": "P-3", "quantity": 1},
        ]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // One unit of P-1 without the discount; then the units moved between those two lines.
    for (undiscounted, discounted) in [(4, 1), (1, 4)] {
        let lines = json!([
            {"sku": "P-1", "quantity": undiscounted},
            {"sku": "P-1", "quantity": discounted, "discount_bp": 1_000},
            {"sku": "P-3", "quantity": 1},
        ]);
        let r = sam.patch(&path, &json!({"lines": lines})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    let audit = finance.get(&format!("/api/v1/audit?action=quote.edited&subject={}", id_of(&quote))).await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let mut rows = audit.body.as_array().expect("audit rows").clone();
    assert_eq!(rows.len(), 6, "{}", audit.text);
    let moved = rows.remove(0);
    assert_eq!(moved["detail"]["lines"][0]["units_moved"], true, "{moved}");
    rows.remove(0);
    let first = &rows[3]["detail"];
    assert_eq!(first["changed"], json!(["customer_name", "valid_until", "signer_id", "lines"]), "{first}");
    assert_eq!((first["total_before_minor"].as_i64(), first["total_minor"].as_i64()), (Some(2_500), Some(5_250)));
    assert_eq!((first["valid_until_before"].as_str(), first["valid_until"].as_str()), (Some("2099-12-31"), Some("2100-01-31")));
    // The words changed, as they were and are; who signed it before.
    assert_eq!((first["customer_name_before"].as_str(), first["customer_name"].as_str()), (Some("Greta Berg"), Some("Greta Berg-Holm")), "{first}");
    // For finance, who read quotes: an administrator is told which fields changed, not the words.
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let for_admin = admin.get(&format!("/api/v1/audit?action=quote.edited&subject={}", id_of(&quote))).await;
    let admins_first = &for_admin.body.as_array().expect("audit rows")[5]["detail"];
    assert_eq!(admins_first["changed"], first["changed"], "{admins_first}");
    assert!(admins_first.get("customer_name").is_none() && admins_first.get("customer_name_before").is_none(), "{admins_first}");
    assert_eq!(first["signer_before_id"], json!(sam_user.id), "{first}");
    assert!(first.get("notes_before").is_none() && first.get("customer_email").is_none(), "only what changed: {first}");
    let product = |sku: &str, quantities: [i64; 2], lines: [i64; 2]| {
        json!({"sku": sku, "quantity_before": quantities[0], "quantity_after": quantities[1], "lines_before": lines[0], "lines_after": lines[1]})
    };
    assert_eq!(
        first["lines"],
        json!([product("P-1", [2, 5], [1, 1]), product("P-3", [0, 1], [0, 1]), product("P-2", [1, 0], [1, 0])]),
        "{first}"
    );
    let mut discounted = product("P-1", [5, 5], [1, 1]);
    discounted["discounts_bp"] = json!([[0], [1_000]]);
    assert_eq!(rows[2]["detail"]["lines"], json!([discounted]));
    assert_eq!(rows[1]["detail"]["lines"], json!([product("P-1", [5, 5], [1, 2])]));
    assert_eq!((rows[0]["detail"]["changed"].clone(), rows[0]["detail"]["lines"].clone()), (json!(["lines"]), json!([])));

    let html = page_as(&app.base, &fiona.email, &path.replace("/api/v1", "")).await;
    let history = section(&html, "<details id=\"history\"", "</details>");
    let said = [
        "Edited: customer name \u{201c}Greta Berg\u{201d} \u{2192} \u{201c}Greta Berg-Holm\u{201d}, valid until 2099-12-31 \u{2192} 2100-01-31, now signed by Sara, \
         P-1 2 \u{2192} 5, P-3 added (1), P-2 removed (1); total 25.00 EUR \u{2192} 52.50 EUR<",
        "Edited: P-1 discount 0.00 % \u{2192} 10.00 %; total 52.50 EUR \u{2192} 47.50 EUR<",
        "Edited: P-1 on 1 line \u{2192} 2 lines; total 47.50 EUR<",
        "Edited: lines rearranged; total 47.50 EUR<",
        "Edited: P-1 discount 10.00 % \u{2192} 0.00 % and 10.00 %; total 47.50 EUR \u{2192} 51.50 EUR<",
        "Edited: P-1 units moved between its lines; total 51.50 EUR \u{2192} 48.50 EUR<",
    ];
    let mut from = 0;
    for what in said {
        let at = history[from..].find(what).unwrap_or_else(|| panic!("{what}, in order, in {history}"));
        from += at + what.len();
    }
    // The audit log's page says it in the same words.
    let log = page_as(&app.base, &fiona.email, "/audit?action=quote.edited").await;
    assert!(log.contains("Edited: P-1 discount 0.00 % \u{2192} 10.00 %; total 52.50 EUR \u{2192} 47.50 EUR<"), "{log}");
}
}

both_backends! {
    /// A notice's button on a quote's page sent twice (a second click, the
    /// Back button): the second says the notice stood acknowledged and that
    /// nothing more was recorded, not that it acknowledged it.
    async fn acknowledging_twice_from_a_quote_page_says_the_second_recorded_nothing(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 1_000).await;
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 1}])).await);
        let notice = create_notice(&finance, "Pumps up", json!([])).await;
        publish_notice(&finance, &notice).await;
        let cookie = session_cookie(&app.base, &sam_user.email).await;
        let page = client().get(format!("{}/quotes/{quote}", app.base)).header("cookie", &cookie).send().await;
        let html = page.expect("the quote's page").text().await.unwrap_or_default();
        let form = [("csrf_token", csrf_in(&html)), ("notice_id", notice.clone())];
        let url = format!("{}/quotes/{quote}/acknowledge", app.base);
        let (status, first) = post_form(url.clone(), &cookie, &form).await;
        assert_eq!(status, 303);
        assert!(first.contains("Acknowledged \u{201c}Pumps up\u{201d}."), "{first}");
        let (status, again) = post_form(url, &cookie, &form).await;
        assert_eq!(status, 303);
        assert!(again.contains("\u{201c}Pumps up\u{201d} was acknowledged already: nothing more was recorded."), "{again}");
        let acks = finance.get(&format!("/api/v1/notices/{notice}/acknowledgements")).await.body;
        assert_eq!(acks["acknowledged"].as_array().map(Vec::len), Some(1), "{acks}");
    }
}

both_backends! {
    /// A quote's edit form sent from a tab opened before the quote was
    /// finalised: nothing is saved, and the quote's page says so and offers
    /// to copy it, rather than a dead end.
    async fn an_edit_sent_after_finalising_leads_to_the_quote_saying_it_was_not_saved(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 1_000).await;
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 1}])).await);
        let cookie = session_cookie(&app.base, &sam_user.email).await;
        let edit = format!("{}/quotes/{quote}/edit", app.base);
        let page = client().get(&edit).header("cookie", &cookie).send().await;
        let html = page.expect("the edit form").text().await.unwrap_or_default();
        assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{quote}/finalise")).await.status, 200);
        let form = [
            ("csrf_token", csrf_in(&html)),
            ("customer_name", "Greta Berg".to_owned()),
            ("sku_0", "PUMP-1".to_owned()),
            ("quantity_0", "5".to_owned()),
        ];
        let (status, page) = post_form(edit, &cookie, &form).await;
        assert_eq!(status, 303, "{page}");
        assert!(
            page.contains("Your changes were not saved: this quote was finalised ")
                && page.contains("Copy it as a new quote"),
            "{page}"
        );
        let r = sam.get(&format!("/api/v1/quotes/{quote}")).await;
        assert_eq!((&r.body["state"], &r.body["lines"][0]["quantity"]), (&json!("finalised"), &json!(1)));
    }
}

both_backends! {
    /// A draft whose signer was deactivated, with notices pending: its page
    /// says in its one-line summary that another signer is to be chosen, and
    /// does not say that the deactivated signer alone can acknowledge them.
    async fn a_draft_whose_signer_left_says_so_where_it_says_what_is_pending(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (olga_api, olga) = app.user(Role::Sales, "Olga").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-100", "EUR", 125_000).await;
        let id = id_of(&draft_quote_signed_by(&olga_api, json!([{"sku": "PUMP-100", "quantity": 2}]), sam.id).await);
        let nid = create_notice(&finance, "Pumps up", json!([])).await;
        publish_notice(&finance, &nid).await;
        let page = page_as(&app.base, &olga.email, &format!("/quotes/{id}")).await;
        assert!(page.contains("Only the signer, Sam, can acknowledge these."), "{page}");

        let r = admin.patch(&format!("/api/v1/users/{}", sam.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = page_as(&app.base, &olga.email, &format!("/quotes/{id}")).await;
        assert!(
            page.contains("Not ready to finalise: 1 price notice to acknowledge, and another signer to choose."),
            "{page}"
        );
        assert!(page.contains("Sam can no longer acknowledge these for it: whoever signs it next is asked to."), "{page}");
        assert!(!page.contains("Only the signer, Sam, can acknowledge"), "{page}");
    }
}
