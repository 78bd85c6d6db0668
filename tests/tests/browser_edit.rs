//! Changing things after they were first saved, in a real browser: a
//! salesperson extends a lapsed draft quote and edits it (the total
//! follows) and cancels another;
//! finance edits a draft notice with its Markdown preview (the button, and
//! live while typing), and renames a product. Each form refused once first,
//! to show it keeps the input and puts the error by its field. Then every
//! page, as each role, at phone width. An owner whose signer was
//! deactivated is told so and names another.

use fantoccini::Locator;
use pricegate_domain::Role;
use pricegate_tests::browser::{Page, with_browsers};
use pricegate_tests::fixtures::{
    create_notice, create_product, date_in_days, draft_quote, draft_quote_signed_by, id_of, lapse_quote, publish_notice,
};
use pricegate_tests::{Backend, PASSWORD, TestApp};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesperson_edits_one_draft_quote_and_cancels_another() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    create_product(&finance_api, "VALVE-7", "EUR", 4_990).await;
    let edited = id_of(&draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 2}])).await);
    let cancelled = id_of(&draft_quote(&sales_api, json!([{"sku": "VALVE-7", "quantity": 1}])).await);
    let drafted_at = sales_api.get(&format!("/api/v1/quotes/{edited}")).await.body["drafted_at"].clone();
    let lapsed_on = lapse_quote(&app, &edited).await;
    let base = app.base.clone();

    let api = sales_api.clone();
    let (edited_id, cancelled_id) = (edited.clone(), cancelled.clone());
    with_browsers(1, move |browsers| async move {
        let sam = Page::new(browsers[0].clone(), &base);
        sam.log_in(&sales.email, PASSWORD).await;
        sam.goto(&format!("/quotes/{edited}")).await;
        assert_eq!(sam.text("#total").await, "2,500.00 EUR");
        // The offer lapsed yesterday: the page says so, and what to do.
        let expired = sam.text("#gate-expired").await;
        assert!(expired.contains(&format!("valid until {lapsed_on}")) && expired.contains("Edit it"), "{expired}");
        assert!(!sam.exists("#gate-ready").await);

        sam.submit("#edit-quote").await;
        assert_eq!(sam.path().await, format!("/quotes/{edited}/edit"));
        assert!(sam.title().await.starts_with("Edit quote for Greta Berg"), "{}", sam.title().await);
        assert_eq!(sam.value("#customer_name").await, "Greta Berg");
        assert_eq!(sam.value("#quantity_0").await, "2");
        sam.screenshot("30-quote-edit").await;

        // Refused: the customer's name is gone and a quantity is 0; both
        // are said at once. What was typed stays.
        sam.fill("#customer_name", "").await;
        sam.set_date("#valid_until", &date_in_days(30)).await;
        sam.fill("#quantity_0", "0").await;
        // Under each list, its product in full, which a narrow list cuts
        // short: as saved, and as newly chosen.
        assert_eq!(sam.text("#sku_0-product").await, "PUMP-100 — Product PUMP-100 (1,250.00 EUR each)");
        assert_eq!(sam.text("#sku_1-product").await, "");
        sam.select("#sku_1", "VALVE-7").await;
        assert_eq!(sam.text("#sku_1-product").await, "VALVE-7 — Product VALVE-7 (49.90 EUR each)");
        sam.fill("#quantity_1", "2").await;
        sam.submit("#save-quote").await;
        assert!(sam.text("#customer_name-error").await.contains("The customer's name must not be empty"));
        assert!(sam.text("#quantity_0-error").await.contains("whole number"));
        assert_eq!(sam.value("#quantity_0").await, "0");
        // The error under the quantity does not push the row's other fields
        // out of line: each field's top, and the middle of its Remove box.
        let placed = sam
            .client
            .execute(
                "const box = id => document.getElementById(id).getBoundingClientRect();
                 const r = box('remove_0');
                 return [...['sku_0', 'quantity_0', 'discount_0'].map(id => Math.round(box(id).top)),
                         Math.round(r.top + r.height / 2), Math.round(box('quantity_0').bottom)];",
                vec![],
            )
            .await
            .expect("the fields' places");
        let placed: Vec<i64> = serde_json::from_value(placed).expect("numbers");
        let (tops, remove_middle, bottom) = (&placed[..3], placed[3], placed[4]);
        assert!(tops.iter().all(|top| *top == tops[0]), "the row's fields start at {tops:?}");
        assert!(
            (tops[0]..bottom).contains(&remove_middle),
            "Remove at {remove_middle}, the fields from {} to {bottom}",
            tops[0]
        );
        sam.fill("#quantity_0", "3").await;
        sam.submit("#save-quote").await;
        assert!(sam.text("#customer_name-error").await.contains("The customer's name must not be empty"));
        assert!(!sam.exists("#quantity_0-error").await);
        assert_eq!(sam.value("#quantity_0").await, "3");
        assert_eq!(sam.value("#sku_1").await, "VALVE-7");
        assert_eq!(sam.value("#quantity_1").await, "2");
        assert_eq!(api.get(&format!("/api/v1/quotes/{edited}")).await.body["total_minor"], 250_000, "nothing saved");
        sam.screenshot("31-quote-edit-error").await;

        // A quantity changed and a line added: 3 × 1250.00 + 2 × 49.90.
        sam.fill("#customer_name", "Greta Berg-Lund").await;
        sam.submit("#save-quote").await;
        assert_eq!(sam.path().await, format!("/quotes/{edited}"));
        assert_eq!(sam.text("#total").await, "3,849.80 EUR");
        assert!(!sam.exists("#gate-expired").await && sam.exists("#gate-ready").await, "valid again");
        let lines = sam.text("#lines").await;
        assert!(lines.contains("VALVE-7") && lines.contains("99.80 EUR"), "{lines}");
        assert!(sam.title().await.contains("Greta Berg-Lund"));
        sam.screenshot("32-quote-edited").await;

        // From the keyboard alone: a line removed (space on its checkbox), a
        // discount on the other, and Enter sends the form.
        sam.submit("#edit-quote").await;
        sam.press("#remove_1", " ").await;
        sam.fill("#discount_0", "10").await;
        sam.press_enter_in("#discount_0").await;
        assert_eq!(sam.text("#total").await, "3,375.00 EUR");
        assert!(!sam.text("#lines").await.contains("VALVE-7"));
        // A quantity grouped by thousands, as people write one, reaches the
        // server as typed (a number field would send it empty).
        sam.submit("#edit-quote").await;
        sam.fill("#quantity_0", "1,000").await;
        sam.submit("#save-quote").await;
        assert_eq!(sam.path().await, format!("/quotes/{edited}"));
        assert_eq!(sam.text("#total").await, "1,125,000.00 EUR");

        // Cancelling asks first; "keep it" changes nothing.
        sam.goto(&format!("/quotes/{cancelled}")).await;
        sam.submit("#cancel-quote").await;
        assert!(sam.title().await.starts_with("Cancel the quote for Greta Berg"), "{}", sam.title().await);
        assert!(sam.body().await.contains("cannot be undone"));
        sam.screenshot("33-quote-cancel-confirm").await;
        sam.submit("#keep-quote").await;
        assert_eq!(sam.text("#quote-state").await, "draft");
        sam.submit("#cancel-quote").await;
        sam.submit("#confirm-cancel").await;
        assert_eq!(sam.path().await, format!("/quotes/{cancelled}"));
        assert!(sam.text("#done").await.starts_with("Quote cancelled "), "told what it did");
        assert_eq!(sam.text("#quote-state").await, "cancelled");
        assert!(sam.text("#cancelled").await.contains("cancelled"));
        assert!(
            !sam.exists("#edit-quote").await && !sam.exists("#cancel-quote").await && !sam.exists("#finalise").await
        );
        sam.screenshot("34-quote-cancelled").await;
        // The confirmation sent again (a stale tab, or Back to it) leads to
        // the quote, which says it is cancelled, not to a dead end.
        sam.client
            .execute(
                "const form = document.createElement('form'); form.method = 'post'; form.action = arguments[0];\
                 const token = document.querySelector('input[name=csrf_token]').cloneNode();\
                 const button = document.createElement('button'); button.id = 'again'; form.append(token, button);\
                 document.body.append(form);",
                vec![format!("/quotes/{cancelled}/cancel").into()],
            )
            .await
            .expect("a stale confirmation");
        sam.submit("#again").await;
        assert_eq!(sam.path().await, format!("/quotes/{cancelled}"));
        assert_eq!(sam.text("#quote-state").await, "cancelled");

        // A cancelled quote's edit form is not shown: its page says why,
        // and offers to copy it.
        sam.goto(&format!("/quotes/{cancelled}/edit")).await;
        assert_eq!(sam.path().await, format!("/quotes/{cancelled}"));
        let done = sam.text("#done").await;
        assert!(done.starts_with("This quote was cancelled ") && done.contains("Copy it as a new quote"), "{done}");
        assert!(sam.exists("#copy-quote").await);
    })
    .await;

    let (edited, cancelled) = (edited_id, cancelled_id);
    let quote = sales_api.get(&format!("/api/v1/quotes/{edited}")).await.body;
    assert_eq!(
        (quote["total_minor"].clone(), quote["lines"][0]["quantity"].clone()),
        (json!(112_500_000), json!(1_000))
    );
    assert_eq!(quote["customer"]["name"], "Greta Berg-Lund");
    assert_eq!(quote["drafted_at"], drafted_at, "editing does not move drafted_at");
    assert_eq!(sales_api.get(&format!("/api/v1/quotes/{cancelled}")).await.body["state"], "cancelled");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_edits_a_draft_notice_with_its_preview_and_renames_a_product() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, finance) = app.user(Role::Finance, "Fiona").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let bolt = id_of(&create_product(&finance_api, "BOLT-1", "EUR", 35).await);
    let notice = create_notice(&finance_api, "Pump prices", json!([])).await;
    let base = app.base.clone();
    let effective = date_in_days(7);

    let api = finance_api.clone();
    let change = format!("PUMP-100, 1390.00, {effective}");
    let notice_id = notice.clone();
    with_browsers(1, move |browsers| async move {
        let fiona = Page::new(browsers[0].clone(), &base);
        fiona.log_in(&finance.email, PASSWORD).await;
        fiona.goto(&format!("/notices/{notice}")).await;
        fiona.submit("#edit-notice").await;
        assert_eq!(fiona.path().await, format!("/notices/{notice}/edit"));
        assert!(fiona.title().await.starts_with("Edit: Pump prices"), "{}", fiona.title().await);
        assert_eq!(fiona.value("#title").await, "Pump prices");
        assert_eq!(fiona.value("#body").await, "Please read.");

        // Live: the preview follows the text while it is typed, rendered by
        // the server (raw HTML shown as text), without leaving the page.
        fiona.fill("#body", "Pumps rise *next week*:\n\n- PUMP-100\n- PUMP-200\n\n<b>raw</b>").await;
        let preview = fiona.wait_for_text("#notice-body em", "next week").await;
        assert_eq!(preview, "next week");
        let items = fiona.client.find_all(Locator::Css("#notice-body li")).await.expect("list items");
        assert_eq!(items.len(), 2);
        fiona.wait_for_text("#notice-body", "<b>raw</b>").await;
        assert!(!fiona.exists("#notice-body b").await, "raw HTML must not become markup");
        assert_eq!(fiona.path().await, format!("/notices/{notice}/edit"));
        assert!(!fiona.exists("#preview-note").await, "the live preview loads no page");
        // The price changes too: a line not yet readable says so, then the table.
        fiona.fill("#changes", "PUMP-100, 1390.00").await;
        fiona.wait_for_text("#changes-unread", "once every line can be read").await;
        fiona.fill("#changes", &change).await;
        let table = fiona.wait_for_text("#changes-table", "1,390.00 EUR").await;
        assert!(table.contains("1,250.00 EUR") && table.contains("+140.00 EUR (+11.2 %)"), "{table}");
        assert!(!fiona.exists("#changes-unread").await);
        assert!(fiona.exists("#notice-body li").await, "the text stays with it");
        // The title as typed, above the text.
        assert_eq!(fiona.text("#preview-title").await, "Pump prices");
        fiona.fill("#title", "Pump prices rise").await;
        fiona.wait_for_text("#preview-title", "Pump prices rise").await;
        fiona.screenshot("35-notice-edit-live-preview").await;

        // The Preview button: the form again, rendered on the server, nothing saved.
        fiona.fill("#body", "Pump prices rise **next week**.").await;
        fiona.fill("#changes", &change).await;
        fiona.submit("#preview-notice").await;
        assert!(fiona.text("#preview-note").await.contains("Not saved"));
        assert_eq!(fiona.focused().await, "preview-heading", "the keyboard goes on from the preview it asked for");
        assert_eq!(fiona.text("#preview-title").await, "Pump prices rise");
        assert_eq!(fiona.text("#notice-body strong").await, "next week");
        let changes = fiona.text("#changes-table").await;
        assert!(changes.contains("1,390.00 EUR"), "{changes}");
        assert!(changes.contains("1,250.00 EUR") && changes.contains("+140.00 EUR (+11.2 %)"), "{changes}");
        assert_eq!(fiona.value("#changes").await, change);
        assert_eq!(api.get(&format!("/api/v1/notices/{notice}")).await.body["body"], "Please read.");
        fiona.screenshot("36-notice-edit-preview").await;

        // Refused: no title, and a change line that cannot be read. The text stays.
        fiona.fill("#title", "").await;
        fiona.fill("#changes", "PUMP-100, lots, tomorrow").await;
        fiona.submit("#save-notice").await;
        assert_eq!(
            fiona.text("#form-errors-summary").await,
            "Not saved: 2 fields need changing, each said below where it is.",
            "the form says at its top that nothing was saved, and how many fields to correct"
        );
        assert!(!fiona.text("#title-error").await.is_empty());
        assert!(fiona.text("#changes-error").await.contains("Line 1"));
        assert_eq!(fiona.focused().await, "title", "the first field to correct has the focus");
        let summary = fiona.attribute("#form-errors-summary", "role").await;
        assert_eq!(summary.as_deref(), Some("alert"), "a screen reader hears how many fields, not the first alone");
        assert_eq!(fiona.value("#body").await, "Pump prices rise **next week**.");
        assert_eq!(fiona.value("#changes").await, "PUMP-100, lots, tomorrow");
        fiona.screenshot("37-notice-edit-error").await;

        fiona.fill("#title", "Pump prices rise").await;
        fiona.fill("#changes", &change).await;
        fiona.submit("#save-notice").await;
        assert_eq!(fiona.path().await, format!("/notices/{notice}/publish"));
        let review = fiona.body().await;
        assert!(review.contains("Pump prices rise") && review.contains("1,390.00 EUR"), "{review}");
        assert_eq!(fiona.text("#notice-body strong").await, "next week");
        assert!(fiona.text("#done").await.starts_with("Draft saved."), "told what saving did");
        // Saved again as it is: nothing written, and the page says so.
        let revision = api.get(&format!("/api/v1/notices/{notice}")).await.body["updated_at"].clone();
        fiona.goto(&format!("/notices/{notice}/edit")).await;
        fiona.submit("#save-notice").await;
        assert!(fiona.text("#done").await.starts_with("Nothing to save: the form was as the draft is."));
        assert_eq!(api.get(&format!("/api/v1/notices/{notice}")).await.body["updated_at"], revision);

        // Products: the name and unit change; the price does not, and the page says why.
        fiona.goto("/products").await;
        assert!(fiona.text("#price-rule").await.contains("only through published notices"));
        fiona.submit_at(Locator::XPath("//tr[td[1][.='BOLT-1']]//a[contains(@class, 'edit-product')]")).await;
        assert_eq!(fiona.path().await, format!("/products/{bolt}/edit"));
        assert!(fiona.text("#price-note").await.contains("only through a published notice"));
        assert!(!fiona.exists("input[name=price]").await, "no price field");
        fiona.fill("#name", "  ").await;
        fiona.fill("#unit", "box of 100").await;
        fiona.submit("#save-product").await;
        assert!(!fiona.text("#name-error").await.is_empty());
        assert_eq!(fiona.value("#unit").await, "box of 100");
        fiona.screenshot("38-product-edit-error").await;
        fiona.fill("#name", "Hex bolt M8").await;
        fiona.submit("#save-product").await;
        assert!(fiona.text("#message").await.contains("Saved BOLT-1"));
        assert_eq!(fiona.path().await, "/products", "back to the list, by a redirect");
        let row = fiona.client.find(Locator::XPath("//tr[td[1][.='BOLT-1']]")).await.expect("the BOLT-1 row");
        let row = row.text().await.unwrap_or_default();
        assert!(row.contains("Hex bolt M8") && row.contains("box of 100") && row.contains("0.35 EUR"), "{row}");
        fiona.screenshot("39-product-renamed").await;

        // An abandoned draft is deleted, after a confirmation.
        let abandoned = create_notice(&api, "Abandoned idea", json!([])).await;
        fiona.goto(&format!("/notices/{abandoned}/publish")).await;
        fiona.submit("#delete-draft").await;
        assert!(fiona.title().await.contains("Delete the draft"), "{}", fiona.title().await);
        fiona.submit("#keep-draft").await;
        assert_eq!(fiona.path().await, format!("/notices/{abandoned}/publish"));
        fiona.submit("#delete-draft").await;
        fiona.submit("#confirm-delete").await;
        assert_eq!(fiona.path().await, "/notices");
        assert_eq!(fiona.text("#message").await, "The draft is deleted.");
        assert!(!fiona.text("#notices").await.contains("Abandoned idea"));
        assert_eq!(api.get(&format!("/api/v1/notices/{abandoned}")).await.status, 404);
        fiona.goto("/notices").await;
        assert!(!fiona.exists("#message").await, "told once");
    })
    .await;

    let n = finance_api.get(&format!("/api/v1/notices/{notice_id}")).await.body;
    assert_eq!(n["title"], "Pump prices rise");
    assert_eq!(n["state"], "draft");
    assert_eq!(n["changes"][0]["unit_price_minor"], 139_000);
    assert_eq!(n["changes"][0]["effective_on"], effective.as_str());
    let products = finance_api.get("/api/v1/products").await.body;
    let bolt = products.as_array().into_iter().flatten().find(|p| p["sku"] == "BOLT-1").expect("BOLT-1").clone();
    assert_eq!((bolt["name"].as_str(), bolt["unit"].as_str()), (Some("Hex bolt M8"), Some("box of 100")));
    assert_eq!(bolt["unit_price_minor"], 35);
    let audit = finance_api.get("/api/v1/audit").await;
    let renamed = audit
        .body
        .as_array()
        .into_iter()
        .flatten()
        .find(|row| row["action"] == "product.updated")
        .unwrap_or_else(|| panic!("no product.updated in the audit log: {}", audit.text));
    assert_eq!(renamed["subject_id"], bolt["id"]);
    assert_eq!(renamed["detail"]["before"]["name"], "Product BOLT-1");
    assert_eq!(renamed["detail"]["after"]["unit"], "box of 100");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_usable_at_phone_narrow_and_wide_widths_for_each_role() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, finance) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    let (_, admin) = app.user(Role::Admin, "Ada").await;
    let pump = id_of(&create_product(&finance_api, "PUMP-100", "EUR", 125_000).await);
    create_product(&finance_api, "VALVE-7", "EUR", 4_990).await;
    let quote = id_of(
        &draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 12}, {"sku": "VALVE-7", "quantity": 3}])).await,
    );
    let published = create_notice(
        &finance_api,
        "Pump prices rise from next month for every customer",
        json!([{"sku": "PUMP-100", "unit_price_minor": 139_000, "effective_on": date_in_days(0)}]),
    )
    .await;
    publish_notice(&finance_api, &published).await;
    // Drafted after the notice, of a product it leaves alone: ready, so its finalisation asks first.
    let ready = id_of(&draft_quote(&sales_api, json!([{"sku": "VALVE-7", "quantity": 3}])).await);
    let draft = create_notice(&finance_api, "Valve prices", json!([])).await;
    let base = app.base.clone();

    let pages: Vec<(&'static str, String, Vec<String>)> = vec![
        (
            "sales",
            sales.email.clone(),
            vec![
                "/quotes".into(),
                "/quotes/new".into(),
                format!("/quotes/{quote}"),
                format!("/quotes/{quote}/edit"),
                format!("/quotes/{quote}/cancel"),
                format!("/quotes/{ready}/finalise"),
                "/notices".into(),
                format!("/notices/{published}"),
                "/notices/awaiting".into(),
                "/products".into(),
                format!("/products/{pump}"),
                "/account".into(),
            ],
        ),
        (
            "finance",
            finance.email.clone(),
            vec![
                "/products".into(),
                format!("/products/{pump}/edit"),
                "/notices/new".into(),
                format!("/notices/{draft}/edit"),
                format!("/notices/{draft}/publish"),
                format!("/notices/{published}/dashboard"),
                format!("/quotes/{quote}"),
            ],
        ),
        (
            "admin",
            admin.email.clone(),
            vec![
                "/admin/users".into(),
                format!("/admin/users/{}/deactivate", sales.id),
                "/admin/outbox".into(),
                "/admin/settings".into(),
                "/audit".into(),
                "/notices".into(),
            ],
        ),
    ];
    with_browsers(1, move |browsers| async move {
        let page = Page::new(browsers[0].clone(), &base);
        // A phone, a narrow window (tables are cards below 832 px), one just wider, and a wide one.
        for width in [390, 760, 840, 1024] {
            page.client.set_window_size(width, 844).await.expect("a window of that width");
            let phone = width == 390;
            page.goto("/login").await;
            let mut problems = page.usability_problems().await;
            if phone {
                page.screenshot("40-phone-login").await;
            }
            for (role, email, paths) in &pages {
                page.log_in(email, PASSWORD).await;
                for path in paths {
                    page.goto(path).await;
                    assert_eq!(&page.path().await, path, "each page is shown, not a redirect away");
                    let body = page.body().await;
                    assert!(
                        !body.contains("Not for your role") && !body.contains("Something went wrong"),
                        "{path}: {body}"
                    );
                    problems.extend(page.usability_problems().await.into_iter().map(|p| format!("{role} {path}: {p}")));
                    if phone {
                        let name: Vec<&str> = path
                            .split('/')
                            .filter(|p| !p.is_empty())
                            .map(|p| if p.len() == 36 { "one" } else { p })
                            .collect();
                        page.screenshot(&format!("41-phone-{role}-{}", name.join("-"))).await;
                    }
                }
                page.submit("#logout").await;
            }
            assert!(problems.is_empty(), "at {width} px:\n{}", problems.join("\n"));
        }
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_a_change_that_would_never_take_force_is_refused_on_the_confirmation_page() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, finance) = app.user(Role::Finance, "Fiona").await;
    let (sam, _) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    draft_quote(&sam, json!([{"sku": "PUMP-100", "quantity": 2}])).await;
    let in_force = create_notice(
        &finance_api,
        "Pumps up",
        json!([{"sku": "PUMP-100", "unit_price_minor": 130_000, "effective_on": date_in_days(-1)}]),
    )
    .await;
    let late = create_notice(
        &finance_api,
        "Pumps, backdated",
        json!([{"sku": "PUMP-100", "unit_price_minor": 128_000, "effective_on": date_in_days(-3)}]),
    )
    .await;
    let base = app.base.clone();

    let path = format!("/notices/{late}/publish");
    let colleague = finance_api.clone();
    with_browsers(1, move |browsers| async move {
        let fiona = Page::new(browsers[0].clone(), &base);
        fiona.log_in(&finance.email, PASSWORD).await;
        // Opened while nothing stands in the way; a colleague publishes a
        // later change to the pump before Fiona clicks.
        fiona.goto(&path).await;
        assert!(!fiona.exists("#publish-refused").await);
        assert!(fiona.text("#impact").await.starts_with("1 open quote"), "Sam's draft, repriced");
        assert!(
            fiona.text("#impact-basis").await.starts_with("Each change is counted from the prices the quote carries")
        );
        // Its date is past: the price takes force as it is published, and the page says so.
        let backdated = fiona.text("#backdated").await;
        let dated = format!("PUMP-100 from {}", date_in_days(-3));
        assert!(
            backdated.contains(&dated) && backdated.contains("takes force as the notice is published"),
            "{backdated}"
        );
        fiona.goto(&path.replace("/publish", "")).await;
        assert!(!fiona.exists("#cannot-publish").await, "nothing stands in the way yet");
        fiona.goto(&path).await;
        publish_notice(&colleague, &in_force).await;
        fiona.submit("#publish").await;
        assert_eq!(fiona.path().await, path);
        let refused = fiona.text("#publish-refused").await;
        assert!(refused.contains("would never take force") && refused.contains("“Pumps up”"), "{refused}");
        assert!(fiona.exists("#edit-notice").await, "the way to fix the draft");
        assert!(!fiona.exists("#publish").await, "no button that can only be refused");
        // Nor what its changes would do to quotes, one of them never in force.
        assert!(!fiona.exists("#impact").await && !fiona.exists("#touched").await && !fiona.exists("#backdated").await);
        // Opened afresh, the confirmation says so before any click.
        fiona.goto(&path).await;
        let refused = fiona.text("#publish-refused").await;
        assert!(refused.contains("would never take force") && refused.contains("“Pumps up”"), "{refused}");
        assert!(!fiona.exists("#publish").await && fiona.exists("#edit-notice").await);
        assert!(!fiona.exists("#impact").await);
        // The draft's own page says it too.
        fiona.goto(&path.replace("/publish", "")).await;
        let warned = fiona.text("#cannot-publish").await;
        assert!(
            warned.starts_with("Publishing it today would be refused.") && warned.contains("would never take force"),
            "{warned}"
        );
    })
    .await;
    assert_eq!(finance_api.get(&format!("/api/v1/notices/{late}")).await.body["state"], "draft");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_whose_signer_was_deactivated_is_told_and_chooses_another() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (admin_api, _) = app.user(Role::Admin, "Ada").await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (olga_api, olga) = app.user(Role::Sales, "Olga").await;
    let (_, sam) = app.user(Role::Sales, "Sam").await;
    let (_, sue) = app.user(Role::Sales, "Sue").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let id = id_of(&draft_quote_signed_by(&olga_api, json!([{"sku": "PUMP-100", "quantity": 2}]), sam.id).await);
    let r = admin_api.patch(&format!("/api/v1/users/{}", sam.id), &json!({"active": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let base = app.base.clone();

    let (api, quote_id) = (olga_api.clone(), id.clone());
    with_browsers(1, move |browsers| async move {
        let olga_page = Page::new(browsers[0].clone(), &base);
        olga_page.log_in(&olga.email, PASSWORD).await;
        olga_page.goto("/quotes").await;
        assert!(olga_page.text("#quotes").await.contains("needs another signer"), "{}", olga_page.body().await);
        olga_page.goto(&format!("/quotes/{id}")).await;
        let told = olga_page.text("#gate-signer").await;
        assert!(told.contains("Sam can no longer sign") && told.contains("Edit the quote"), "{told}");
        assert!(!olga_page.exists("#gate-ready").await);

        // Saving another change keeps Sam, still offered first, until Olga picks someone else.
        olga_page.submit("#edit-quote").await;
        assert_eq!(olga_page.value("#signer_id").await, sam.id.to_string());
        let offered = olga_page.text("#signer_id option:checked").await;
        assert!(offered.contains("Sam") && offered.contains("can no longer sign"), "{offered}");
        olga_page.fill("#quantity_0", "3").await;
        olga_page.submit("#save-quote").await;
        assert_eq!(olga_page.path().await, format!("/quotes/{id}"));
        assert_eq!(olga_page.text("#total").await, "3,750.00 EUR");
        assert!(olga_page.exists("#gate-signer").await);
        assert_eq!(api.get(&format!("/api/v1/quotes/{id}")).await.body["signer_id"], json!(sam.id));

        olga_page.submit("#edit-quote").await;
        olga_page.select("#signer_id", &sue.id.to_string()).await;
        olga_page.submit("#save-quote").await;
        assert!(!olga_page.exists("#gate-signer").await && olga_page.exists("#gate-ready").await);
        let done = olga_page.text("#done").await;
        assert!(done.ends_with("Sue is told by e-mail that they sign it now."), "{done}");
        let meta = olga_page.text("#quote-meta").await;
        assert!(meta.contains("signer Sue · owner Olga"), "the owner is named beside another signer: {meta}");
        // Ready, but not Olga's to finalise: no button that would only say no.
        assert!(!olga_page.exists("#finalise").await && !olga_page.exists("#reprice").await);
        assert!(olga_page.text("#who-finalises").await.contains("Only the signer, Sue, can finalise"));
    })
    .await;
    assert_eq!(olga_api.get(&format!("/api/v1/quotes/{quote_id}")).await.body["signer_id"], json!(sue.id));
    app.stop().await;
}

/// Logs in as the salesperson `email` and starts a new quote for Greta Berg.
async fn new_quote_for_greta(sam: &Page, email: &str) {
    sam.log_in(email, PASSWORD).await;
    sam.goto("/quotes/new").await;
    sam.fill("#customer_name", "Greta Berg").await;
    sam.fill("#customer_email", "greta@nordwind.example").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_with_more_lines_than_the_form_shows_is_drafted_in_one_go() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    let skus: Vec<String> = (1..=7).map(|n| format!("PART-{n}")).collect();
    for sku in &skus {
        create_product(&finance_api, sku, "EUR", 10_000).await;
    }
    let base = app.base.clone();

    with_browsers(1, move |browsers| async move {
        let sam = Page::new(browsers[0].clone(), &base);
        new_quote_for_greta(&sam, &sales.email).await;
        for (row, sku) in skus.iter().take(5).enumerate() {
            sam.select(&format!("#sku_{row}"), sku).await;
        }
        assert!(!sam.exists("#sku_5").await, "five rows to begin with");
        sam.submit("#more-rows").await;
        // The form as typed, with more rows, at the form's own address; nothing saved yet.
        assert!(sam.title().await.contains("New quote"), "{}", sam.title().await);
        assert_eq!(sam.path().await, "/quotes/new");
        assert_eq!(sam.value("#customer_name").await, "Greta Berg");
        assert_eq!(sam.value("#sku_4").await, "PART-5");
        let focused = sam.client.active_element().await.expect("the focused element").attr("id").await;
        assert_eq!(focused.ok().flatten().as_deref(), Some("sku_5"), "the first new row takes the focus");
        for (row, sku) in skus.iter().enumerate().skip(5) {
            sam.select(&format!("#sku_{row}"), sku).await;
        }
        sam.submit("#save-quote").await;
        assert!(sam.path().await.starts_with("/quotes/"), "saved: {}", sam.path().await);
        let lines = sam.text("#lines").await;
        for sku in &skus {
            assert!(lines.contains(sku.as_str()), "{sku} in {lines}");
        }
        assert_eq!(sam.text("#total").await, "700.00 EUR");
    })
    .await;
    let quotes = sales_api.get("/api/v1/quotes").await;
    assert_eq!(quotes.body.as_array().map(Vec::len), Some(1), "one quote, saved once: {}", quotes.text);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_pressed_twice_before_its_answer_is_sent_once() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PART-1", "EUR", 10_000).await;
    let base = app.base.clone();

    with_browsers(1, move |browsers| async move {
        let sam = Page::new(browsers[0].clone(), &base);
        new_quote_for_greta(&sam, &sales.email).await;
        sam.select("#sku_0", "PART-1").await;
        // A double click on a slow line: the second press comes before the
        // first answer. The page's script lets the first through only.
        let pressed = sam
            .client
            .execute(
                "const button = document.getElementById('save-quote'); const seen = [];\
                 document.addEventListener('submit', e => seen.push(e.defaultPrevented));\
                 button.form.requestSubmit(button); button.form.requestSubmit(button); return seen;",
                vec![],
            )
            .await
            .expect("pressing Save twice");
        assert_eq!(pressed, json!([false, true]), "the second press is held back");
        for _ in 0..100 {
            if sam.path().await != "/quotes/new" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(sam.path().await.starts_with("/quotes/"), "saved: {}", sam.path().await);
        assert_ne!(sam.path().await, "/quotes/new");
        let saved = sam.path().await;
        // A page the Back button brings back can be sent again.
        sam.client.back().await.expect("going back");
        let sending = sam
            .client
            .execute("return document.getElementById('save-quote').form.hasAttribute('data-sending');", vec![])
            .await
            .expect("reading the form");
        assert_eq!(sending, json!(false), "the form is usable again after Back");
        // The browser put back what was typed; saved again, it leads to
        // the quote saved the first time, and drafts no other.
        assert_eq!(sam.value("#customer_name").await, "Greta Berg");
        sam.submit("#save-quote").await;
        assert_eq!(sam.path().await, saved, "the quote drafted the first time");
        let said = sam.text("#done").await;
        assert!(said.contains("The form was sent twice: the quote was drafted once"), "{said}");
        // Changed before it is sent again: still nothing more, and what was typed is kept.
        sam.client.back().await.expect("going back");
        sam.fill("#customer_name", "Greta Berg-Olsen").await;
        sam.submit("#save-quote").await;
        assert_eq!(sam.path().await, "/quotes/new");
        let said = sam.text("#form-error").await;
        assert!(said.contains("This form drafted a quote already, for Greta Berg"), "{said}");
        assert_eq!(sam.value("#customer_name").await, "Greta Berg-Olsen");
        // A new quote's form, opened afresh, drafts a new quote.
        sam.goto("/quotes").await;
        sam.goto("/quotes/new").await;
        sam.fill("#customer_name", "Hugo Lind").await;
        sam.fill("#customer_email", "hugo@nordwind.example").await;
        sam.select("#sku_0", "PART-1").await;
        // A new line's quantity shows 1 as a placeholder, not a value: a
        // number typed after a click into it is the quantity, not 1 before it.
        assert_eq!(
            (sam.value("#quantity_0").await, sam.attribute("#quantity_0", "placeholder").await),
            (String::new(), Some("1".to_owned()))
        );
        sam.click("#quantity_0").await;
        sam.press("#quantity_0", "10").await;
        sam.submit("#save-quote").await;
        assert_ne!(sam.path().await, saved);
        assert!(sam.path().await != "/quotes/new", "{}", sam.body().await);
    })
    .await;
    let quotes = sales_api.get("/api/v1/quotes").await;
    assert_eq!(quotes.body.as_array().map(Vec::len), Some(2), "one quote per form: {}", quotes.text);
    let hugo = quotes.body.as_array().into_iter().flatten().find(|q| q["customer"]["name"] == "Hugo Lind");
    let quantities: Vec<&serde_json::Value> =
        hugo.and_then(|q| q["lines"].as_array()).into_iter().flatten().map(|l| &l["quantity"]).collect();
    assert_eq!(quantities, [10], "{}", quotes.text);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_list_of_quotes_comes_a_page_at_a_time_and_by_state() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let mut quotes = Vec::new();
    for _ in 0..52 {
        quotes.push(id_of(&draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 1}])).await));
    }
    let cancelled = quotes[0].clone();
    assert_eq!(sales_api.post_empty(&format!("/api/v1/quotes/{cancelled}/cancel")).await.status, 200);
    let mut other = pricegate_tests::fixtures::quote_request(json!([{"sku": "PUMP-100", "quantity": 3}]));
    other["customer"] = json!({"name": "Jürgen Öztürk", "email": "jo@oeko.example", "company": "Öko Pumpen"});
    assert_eq!(sales_api.post("/api/v1/quotes", &other).await.status, 201);
    let cancelled_reference = cancelled.replace('-', "")[..8].to_uppercase();
    let base = app.base.clone();

    with_browsers(1, move |browsers| async move {
        let sam = Page::new(browsers[0].clone(), &base);
        sam.log_in(&sales.email, PASSWORD).await;
        sam.goto("/quotes").await;
        let rows = |page: Page| async move {
            page.client.find_all(Locator::Css("#quotes tbody tr")).await.expect("the list's rows").len()
        };
        assert_eq!(rows(sam.clone()).await, 50, "a page of 50");
        sam.submit("#older-quotes").await;
        assert_eq!(rows(sam.clone()).await, 3, "the three oldest");
        assert!(sam.text("#quotes").await.contains("cancelled"), "the oldest was cancelled");
        assert!(!sam.exists("#older-quotes").await);
        assert!(sam.text("#quotes").await.contains("Sam"), "each with its signer");
        sam.submit("#newest-quotes").await;
        assert_eq!(rows(sam.clone()).await, 50, "back to the first page");
        assert!(!sam.exists("#newest-quotes").await);
        sam.goto("/quotes?state=bogus").await;
        assert_eq!(sam.text("#list-note").await, "There is no state “bogus”: showing every quote.");
        sam.goto("/quotes?state=draft&state=finalised").await;
        assert_eq!(
            sam.text("#list-note").await,
            "This address could not be read (a state or a search given twice, say): showing every quote."
        );
        sam.submit("#quote-filters a[href='/quotes?state=cancelled']").await;
        assert_eq!(rows(sam.clone()).await, 1);
        sam.submit("#quote-filters a[href='/quotes?state=finalised']").await;
        assert!(sam.body().await.contains("No finalised quotes."));

        // Found by the customer, among drafts; the search kept across states.
        sam.submit("#quote-filters a[href='/quotes?state=draft']").await;
        sam.fill("#search", "öko").await;
        sam.press_enter_in("#search").await;
        assert_eq!(rows(sam.clone()).await, 1);
        assert!(sam.text("#quotes").await.contains("Jürgen Öztürk (Öko Pumpen)"), "{}", sam.text("#quotes").await);
        assert_eq!(sam.value("#search").await, "öko", "the search stays in its field");
        assert!(sam.title().await.starts_with("Draft quotes matching “öko”"), "{}", sam.title().await);
        sam.submit("#quote-filters a[aria-current='page']").await;
        assert_eq!(rows(sam.clone()).await, 1, "the state's link keeps the search");
        sam.submit("#quote-filters a[href='/quotes?state=cancelled&search=%C3%B6ko']").await;
        assert_eq!(sam.text("#no-quotes").await, "No cancelled quotes match “öko”.");
        sam.submit("#clear-search").await;
        assert_eq!(sam.value("#search").await, "");
        assert_eq!(rows(sam.clone()).await, 1, "the cancelled quotes, all of them");
        // By the reference its page prints, in capitals as someone reads it out.
        sam.submit("#quote-filters a[href='/quotes']").await;
        sam.fill("#search", &cancelled_reference).await;
        sam.submit("#quote-search button").await;
        assert_eq!(rows(sam.clone()).await, 1);
        assert!(sam.text("#quotes").await.contains("cancelled"));
        // Printed, the list says what it was found by, which its controls said on screen.
        sam.emulate_print(true).await;
        assert!(sam.is_displayed("#printed-filter").await);
        assert_eq!(sam.text("#printed-filter").await, format!("Quotes matching “{cancelled_reference}”."));
        assert!(!sam.is_displayed("#quote-search").await);
        sam.emulate_print(false).await;
        assert!(!sam.is_displayed("#printed-filter").await, "on screen, the search field says it");
        // A quote printed for its file keeps its history, folded on screen.
        sam.goto(&format!("/quotes/{cancelled_reference}")).await;
        assert!(!sam.is_displayed("#history tbody tr").await, "folded on screen");
        sam.emulate_print(true).await;
        assert!(sam.is_displayed("#history tbody tr").await, "printed open");
        sam.emulate_print(false).await;
        sam.goto(&format!("/quotes?search={}", "x".repeat(201))).await;
        assert_eq!(
            sam.text("#list-note").await,
            "A search is one line of at most 200 characters, without control characters: this one was left out."
        );
        assert_eq!(rows(sam.clone()).await, 50);
    })
    .await;
    app.stop().await;
}

/// An owner who takes back a quote a colleague was told they sign reads,
/// on saving, that the colleague is e-mailed they no longer sign it; and
/// they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taking_a_quote_back_from_its_signer_says_they_are_told() {
    use pricegate_tests::smtp::{SmtpSink, spawn_with_mail};
    let wait = std::time::Duration::from_secs(20);
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(Backend::Sqlite, &sink, |_| {}).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sam_api, sam) = app.user(Role::Sales, "Sam").await;
    let (_, sara) = app.user(Role::Sales, "Sara").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let id = id_of(&draft_quote_signed_by(&sam_api, json!([{"sku": "PUMP-100", "quantity": 2}]), sara.id).await);
    // Sara's e-mail has gone: she believes she signs it.
    let to_sara = |m: &pricegate_tests::smtp::Received| m.to == [sara.email.clone()];
    sink.wait_until(wait, "the e-mail naming Sara", |m| m.iter().any(to_sara)).await;

    let base = app.base.clone();
    let (sam_email, sam_id) = (sam.email.clone(), sam.id);
    with_browsers(1, move |browsers| async move {
        let page = Page::new(browsers[0].clone(), &base);
        page.log_in(&sam_email, PASSWORD).await;
        page.goto(&format!("/quotes/{id}/edit")).await;
        page.select("#signer_id", &sam_id.to_string()).await;
        page.submit("#save-quote").await;
        let done = page.text("#done").await;
        assert!(done.ends_with("Sara is told by e-mail that they no longer sign it."), "{done}");
        assert!(!done.contains("that they sign it now"), "Sam signs it himself: {done}");
    })
    .await;
    let released = |m: &pricegate_tests::smtp::Received| {
        m.to == [sara.email.clone()] && m.header("subject").is_some_and(|s| s.starts_with("You no longer sign"))
    };
    sink.wait_until(wait, "the e-mail releasing Sara", |m| m.iter().any(released)).await;
    app.stop().await;
}

/// On a price list too long for a list per line, a salesperson types part of
/// a sku, takes the browser's suggestion, and the line spells the product
/// out as a chosen one does; a sku the price list does not hold spells nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_large_price_list_a_line_spells_out_the_product_typed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (_, sales) = app.user(Role::Sales, "Sam").await;
    let mut csv = "sku,name,unit,currency,unit_price_minor\n".to_owned();
    for n in 1..=160 {
        csv.push_str(&format!("PART-{n:03},Valve {n:03},each,EUR,10000\n"));
    }
    let r = pricegate_tests::fixtures::send_raw(
        &finance_api,
        reqwest::Method::POST,
        "/api/v1/products/import",
        Some("text/csv"),
        csv,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let base = app.base.clone();

    with_browsers(1, move |browsers| async move {
        let sam = Page::new(browsers[0].clone(), &base);
        new_quote_for_greta(&sam, &sales.email).await;
        assert!(sam.exists("#sku_0[list='product-choices']").await, "a line takes a sku typed");
        sam.fill("#sku_0", "PART-04").await;
        assert_eq!(sam.text("#sku_0-product").await, "", "no product yet");
        sam.fill("#sku_0", "PART-042").await;
        assert_eq!(sam.text("#sku_0-product").await, "PART-042 — Valve 042 (100.00 EUR each)");
        sam.fill("#sku_1", "PART-007").await;
        sam.fill("#quantity_1", "3").await;
        sam.submit("#save-quote").await;
        assert!(sam.path().await.starts_with("/quotes/"), "saved: {}", sam.path().await);
        assert_eq!(sam.text("#total").await, "400.00 EUR");
    })
    .await;
    app.stop().await;
}

/// A salesperson drafts a new quote from a finalised one: the customer, notes
/// and lines come over, a product no longer sold is left out and named, and
/// the new draft takes today's prices. Only those who may see the quote can
/// copy it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_is_copied_as_a_new_draft_at_today_s_prices() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, finance) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    let (_, sue) = app.user(Role::Sales, "Sue").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    create_product(&finance_api, "VALVE-7", "EUR", 4_990).await;
    let old = create_product(&finance_api, "OLD-1", "EUR", 1_000).await;
    let mut request = pricegate_tests::fixtures::quote_request(json!([
        {"sku": "PUMP-100", "quantity": 2, "discount_bp": 1000},
        {"sku": "OLD-1", "quantity": 1},
        {"sku": "VALVE-7", "quantity": 5},
    ]));
    request["notes"] = json!("Delivery to Hamburg");
    let r = sales_api.post("/api/v1/quotes", &request).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let first = id_of(&r.body);
    assert_eq!(sales_api.post_empty(&format!("/api/v1/quotes/{first}/finalise")).await.status, 200);
    let r = finance_api.patch(&format!("/api/v1/products/{}", id_of(&old)), &json!({"withdrawn": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    pricegate_tests::fixtures::publish_price_change(&finance_api, "PUMP-100", 130_000, &date_in_days(0)).await;

    // Someone who may not see it cannot copy it; finance is offered no copy.
    let base = app.base.clone();
    let sue_cookie = pricegate_tests::pages::session_cookie(&base, &sue.email).await;
    let r = pricegate_tests::pages::client()
        .get(format!("{base}/quotes/new?copy={first}"))
        .header(reqwest::header::COOKIE, sue_cookie)
        .send()
        .await
        .expect("the form answers");
    assert_eq!(r.status(), 403, "as the quote's own page answers her");
    // By the reference its pages print; an empty copy is a blank form; anything else names no quote.
    let sam_cookie = pricegate_tests::pages::session_cookie(&base, &sales.email).await;
    let form_for = |copy: String| {
        let (base, cookie) = (base.clone(), sam_cookie.clone());
        async move {
            let r = pricegate_tests::pages::client()
                .get(format!("{base}/quotes/new?{copy}"))
                .header(reqwest::header::COOKIE, cookie)
                .send()
                .await
                .expect("the form answers");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let reference = first.replace('-', "")[..8].to_uppercase();
    let (status, html) = form_for(format!("copy={reference}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("copied-note") && html.contains("value=\"Greta Berg\""), "{html}");
    let (status, html) = form_for("copy=".to_owned()).await;
    assert_eq!(status, 200);
    assert!(!html.contains("copied-note") && html.contains("<h1>New quote</h1>"), "{html}");
    // Its signer is signer again, while they can sign.
    let sues = id_of(&draft_quote_signed_by(&sales_api, json!([{"sku": "VALVE-7", "quantity": 1}]), sue.id).await);
    let (_, html) = form_for(format!("copy={sues}")).await;
    assert!(html.contains(&format!("<option value=\"{}\" selected>", sue.id)), "{html}");
    for bad in ["copy=xyz".to_owned(), format!("copy={first}&copy={first}"), "copy=00000000".to_owned()] {
        let (status, html) = form_for(bad.clone()).await;
        assert_eq!(status, 404, "{bad}");
        assert!(html.contains("This address names no quote of yours to copy."), "{bad}: {html}");
    }
    let as_finance = pricegate_tests::pages::page_as(&base, &finance.email, &format!("/quotes/{first}")).await;
    assert!(!as_finance.contains("copy-quote"), "finance drafts no quotes");

    with_browsers(1, move |browsers| async move {
        let sam = Page::new(browsers[0].clone(), &base);
        sam.log_in(&sales.email, PASSWORD).await;
        sam.goto(&format!("/quotes/{first}")).await;
        sam.submit("#copy-quote").await;
        let note = sam.text("#copied-note").await;
        assert!(note.contains("Filled from the quote for Greta Berg"), "{note}");
        assert!(note.contains("left out, as no longer sold: OLD-1 (Product OLD-1)"), "{note}");
        assert_eq!(sam.value("#customer_name").await, "Greta Berg");
        assert_eq!(sam.value("#customer_company").await, "Nordwind");
        assert_eq!(sam.value("#notes").await, "Delivery to Hamburg");
        assert_eq!(sam.value("#sku_0").await, "PUMP-100");
        assert_eq!((sam.value("#quantity_0").await, sam.value("#discount_0").await), ("2".into(), "10".into()));
        assert_eq!((sam.value("#sku_1").await, sam.value("#quantity_1").await), ("VALVE-7".into(), "5".into()));
        assert_eq!(sam.value("#sku_2").await, "", "the withdrawn product's line is not copied");
        // More lines keeps it a copy.
        sam.submit("#more-rows").await;
        assert!(sam.text("#copied-note").await.contains("Filled from the quote for Greta Berg"));
        assert_eq!((sam.value("#sku_1").await, sam.value("#quantity_1").await), ("VALVE-7".into(), "5".into()));
        sam.submit("#save-quote").await;
        let page = sam.body().await;
        assert!(page.contains("Quote for Greta Berg"), "{page}");
        let source = first.replace('-', "")[..8].to_owned();
        let html = pricegate_tests::pages::unwrapped(&sam.client.source().await.expect("the page's source"));
        assert!(html.contains(&format!("Drafted as a copy of {source}, total 2,589.50 EUR")), "its history: {html}");
        // 2 × 1,300.00 less 10 % and 5 × 49.90: today's prices, not the first quote's.
        assert!(page.contains("2,589.50 EUR"), "{page}");
        assert_eq!(sam.text("#quote-state").await, "draft");
        // Printed, the quote without the controls that act only on screen.
        sam.emulate_print(true).await;
        for control in ["#copy-quote", "#edit-quote", "header.top nav"] {
            assert!(!sam.is_displayed(control).await, "{control} is not printed");
        }
        for content in ["#quote-meta", "#quote-state", "table"] {
            assert!(sam.is_displayed(content).await, "{content} is printed");
        }
        sam.emulate_print(false).await;
        assert!(sam.is_displayed("#copy-quote").await, "on screen again");
        // In a narrow window its lines are cards; printed there, still a table (paper is narrow too).
        sam.client.set_window_size(700, 900).await.expect("a narrow window");
        assert!(!sam.is_displayed("#lines thead").await, "cards on a narrow screen");
        sam.emulate_print(true).await;
        assert!(sam.is_displayed("#lines thead").await, "printed as a table");
        sam.emulate_print(false).await;
    })
    .await;
    let quotes = sales_api.get("/api/v1/quotes").await.body;
    let states: Vec<&str> = quotes.as_array().unwrap().iter().filter_map(|q| q["state"].as_str()).collect();
    assert_eq!(states, ["draft", "draft", "finalised"], "the copy is a new draft; the first is as it was");
    app.stop().await;
}

/// Sam types a long quote; his session ends before he saves (its day is
/// over, or he logged out in another tab). Saving leads to the login page,
/// which keeps what he typed; logged in again, he opens the form as he
/// typed it, checks it and saves: one quote, as typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_typed_as_the_session_ends_comes_back_after_logging_in() {
    use pricegate_store::entity::sessions;
    use sea_orm::EntityTrait;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PART-1", "EUR", 10_000).await;
    let (base, store) = (app.base.clone(), app.store.clone());

    with_browsers(1, move |browsers| async move {
        let sam = Page::new(browsers[0].clone(), &base);
        new_quote_for_greta(&sam, &sales.email).await;
        sam.select("#sku_0", "PART-1").await;
        sam.fill("#quantity_0", "12").await;
        sam.fill("#notes", "Delivery in March.\nCall before.").await;
        sessions::Entity::delete_many().exec(store.connection()).await.expect("every session ends");
        sam.submit("#save-quote").await;
        let note = sam.text("#login-note").await;
        assert!(note.contains("what you typed is kept on this page"), "{note}");
        sam.fill("#email", &sales.email).await;
        sam.fill("#password", PASSWORD).await;
        sam.submit("#login").await;
        assert!(sam.text("#kept-note").await.contains("none of it is saved yet"), "{}", sam.body().await);
        sam.submit("#open-kept").await;
        assert_eq!(sam.path().await, "/quotes/new");
        assert!(
            sam.text("#form-error")
                .await
                .contains("Nothing was saved: this form came from a page opened before you last logged in"),
            "{}",
            sam.body().await
        );
        assert_eq!(sam.value("#customer_name").await, "Greta Berg");
        assert_eq!(sam.value("#sku_0").await, "PART-1");
        assert_eq!(sam.value("#quantity_0").await, "12");
        assert_eq!(sam.value("#notes").await, "Delivery in March.\nCall before.");
        sam.submit("#save-quote").await;
        assert!(sam.text("#done").await.starts_with("Quote drafted"), "{}", sam.body().await);
        assert_eq!(sam.text("#total").await, "1,200.00 EUR");
    })
    .await;
    let quotes = sales_api.get("/api/v1/quotes").await;
    assert_eq!(quotes.body.as_array().map(Vec::len), Some(1), "one quote: {}", quotes.text);
    assert_eq!(quotes.body[0]["notes"], "Delivery in March.\nCall before.");
    app.stop().await;
}

/// A customer written in Arabic, its name ending in digits, on the quotes
/// list: its reference stands whole after it, not pulled apart into the
/// name's right-to-left run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_to_left_customer_leaves_the_reference_beside_it_whole() {
    use pricegate_tests::fixtures::quote_request;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PART-1", "EUR", 10_000).await;
    let mut request = quote_request(json!([{"sku": "PART-1", "quantity": 1}]));
    request["customer"] = json!({"name": "شركة الكويت للمضخات ١٢٣", "email": "m@k.example", "company": ""});
    let r = sales_api.post("/api/v1/quotes", &request).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let reference = id_of(&r.body)[..8].to_owned();
    let base = app.base.clone();

    with_browsers(1, move |browsers| async move {
        let sam = Page::new(browsers[0].clone(), &base);
        sam.log_in(&sales.email, PASSWORD).await;
        sam.goto("/quotes").await;
        let placed = sam
            .client
            .execute(
                "const span = [...document.querySelectorAll('#quotes td span')].find(s => s.textContent.trim() === arguments[0]);\
                 const link = span.parentElement.querySelector('a');\
                 const [name, ref] = [link.getBoundingClientRect(), span.getBoundingClientRect()];\
                 return { pieces: span.getClientRects().length, after: ref.left >= name.right - 1 || ref.top >= name.bottom - 1 };",
                vec![json!(reference)],
            )
            .await
            .expect("the reference's place");
        assert_eq!(placed, json!({"pieces": 1, "after": true}), "{reference}");
    })
    .await;
    app.stop().await;
}
