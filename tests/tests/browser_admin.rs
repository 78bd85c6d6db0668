//! Finance keeps the price list from the browser (a CSV import with a
//! preview and line-numbered errors), and an admin manages users there,
//! handing the open quotes of someone who left to a colleague.

use fantoccini::Locator;
use pricegate_domain::Role;
use pricegate_tests::browser::{Page, with_browsers};
use pricegate_tests::fixtures::{create_product, date_in_days, draft_quote, id_of, publish_price_change};
use pricegate_tests::{Backend, PASSWORD, TestApp};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_imports_a_price_list_and_an_admin_manages_users_in_the_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, finance) = app.user(Role::Finance, "Fiona").await;
    let (_, admin) = app.user(Role::Admin, "Ada").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    let base = app.base.clone();

    with_browsers(2, move |browsers| async move {
        let fiona = Page::new(browsers[0].clone(), &base);
        let ada = Page::new(browsers[1].clone(), &base);

        fiona.log_in(&finance.email, PASSWORD).await;
        fiona.goto("/products").await;
        fiona.fill("#new-sku", "BOLT-1").await;
        fiona.fill("#new-price", "cheap").await;
        fiona.submit("#add-product").await;
        // The name and the price are both refused, at once, and said so first, to a screen reader too.
        assert!(!fiona.text("#price-error").await.is_empty());
        assert!(!fiona.text("#name-error").await.is_empty());
        assert_eq!(
            fiona.text("#new-product-errors").await,
            "Not added: 2 fields need changing, each said below where it is."
        );
        assert_eq!(fiona.attribute("#new-product-errors", "role").await.as_deref(), Some("alert"));
        assert!(fiona.title().await.starts_with("Error: "), "the tab says it too: {}", fiona.title().await);
        assert_eq!(fiona.value("#new-sku").await, "BOLT-1");
        fiona.fill("#new-name", "Bolt").await;
        fiona.fill("#new-price", "0.35").await;
        fiona.submit("#add-product").await;
        assert!(fiona.text("#message").await.contains("Added BOLT-1"));
        let listed = fiona.text("#products").await;
        assert!(listed.contains("0.35 EUR") && listed.contains("list price"), "no notice has changed it: {listed}");
        // The form redirected to the list: reloading it sends nothing again
        // (a second BOLT-1 would be refused as a duplicate) and says nothing again.
        assert_eq!(fiona.path().await, "/products");
        fiona.client.refresh().await.expect("reload the price list");
        assert!(!fiona.exists("#message").await, "the message is shown once");
        assert!(!fiona.exists("#sku-error").await, "no second post");
        assert_eq!(fiona.text("#products").await.matches("BOLT-1").count(), 1);
        // Its twin in case with a bad price: both named at once.
        fiona.fill("#new-sku", "bolt-1").await;
        fiona.fill("#new-name", "Bolt").await;
        fiona.fill("#new-price", "cheap").await;
        fiona.submit("#add-product").await;
        assert!(!fiona.text("#price-error").await.is_empty());
        assert!(fiona.text("#sku-error").await.contains("differs only in case from BOLT-1"));
        let bad =
            "sku,name,unit,currency,unit_price_minor\nPUMP-100,Pump,each,EUR,125000\nVALVE-7,Valve,each,EUR,cheap\n";
        fiona.fill("#csv", bad).await;
        fiona.submit("#preview-csv").await;
        let errors = fiona.text("#csv-errors").await;
        assert!(errors.contains("Line 3"), "the bad line is named: {errors}");
        assert!(fiona.value("#csv").await.contains("VALVE-7,Valve,each,EUR,cheap"), "the CSV is kept");
        fiona.screenshot("20-csv-import-errors").await;

        // The corrected list, chosen as a file: its text takes the box's place.
        let good = bad.replace("cheap", "4990");
        let files = tempfile::tempdir().expect("a folder for the CSV files");
        let choose = |name: &str, bytes: &[u8]| {
            let path = files.path().join(name);
            std::fs::write(&path, bytes).expect("the CSV file is written");
            let path = path.to_str().expect("a UTF-8 path").to_owned();
            let client = fiona.client.clone();
            async move {
                let picker = client.find(Locator::Css("#csv-file")).await.expect("the file field is shown");
                picker.send_keys(&path).await.expect("the file is chosen");
            }
        };
        // A file saved in a legacy encoding would garble names: refused, the box kept.
        choose("legacy.csv", b"sku,name,unit,currency,unit_price_minor\nPUMP-100,Pumpe M\xfcller,each,EUR,1\n").await;
        let note = fiona.wait_for_text("#csv-file-note", "not UTF-8").await;
        assert!(note.contains("legacy.csv is not UTF-8 text"), "{note}");
        assert!(fiona.value("#csv").await.contains("cheap"), "the box is left as it was");
        choose("prices.csv", good.as_bytes()).await;
        let note = fiona.wait_for_text("#csv-file-note", "prices.csv").await;
        assert_eq!(note, "prices.csv: 3 lines in the box below. Preview them, then import.");
        assert_eq!(fiona.value("#csv").await, good);
        // Another file refused after it: the box no longer holds the one before.
        choose("legacy.csv", b"sku,name,unit,currency,unit_price_minor\nPUMP-100,Pumpe M\xfcller,each,EUR,1\n").await;
        let note = fiona.wait_for_text("#csv-file-note", "no longer holds").await;
        assert_eq!(note, "legacy.csv is not UTF-8 text. Save it as \u{201c}CSV UTF-8\u{201d} and choose it again. The box below no longer holds prices.csv.");
        assert_eq!(fiona.value("#csv").await, "", "the file before is not imported in its place");
        choose("prices.csv", good.as_bytes()).await;
        fiona.wait_for_text("#csv-file-note", "prices.csv: 3 lines").await;
        assert_eq!(fiona.value("#csv").await, good);
        fiona.submit("#preview-csv").await;
        let focused = fiona.client.active_element().await.expect("the focused element").attr("id").await;
        assert_eq!(focused.ok().flatten().as_deref(), Some("preview-heading"), "the preview is shown where the page opens");
        let preview = fiona.text("#preview").await;
        assert!(preview.contains("VALVE-7") && preview.contains("49.90 EUR"), "{preview}");
        assert!(!fiona.text("#products").await.contains("VALVE-7"), "nothing is imported by a preview");
        fiona.screenshot("21-csv-import-preview").await;
        fiona.submit("#import-csv").await;
        assert!(fiona.text("#message").await.contains("Imported 2 products"));
        assert!(fiona.text("#products").await.contains("PUMP-100"));
        // The same list again: the preview already says the import would refuse it, as imported already;
        // with another price, what it would refuse, line by line.
        fiona.fill("#csv", &good).await;
        fiona.submit("#preview-csv").await;
        let errors = fiona.text("#csv-errors").await;
        assert!(errors.contains("Every product in it is on the price list already, at the price it names"), "{errors}");
        assert!(!fiona.exists("#preview").await, "no preview of an import that would be refused");
        fiona.fill("#csv", &good.replace("4990", "5190")).await;
        fiona.submit("#preview-csv").await;
        let errors = fiona.text("#csv-errors").await;
        assert!(errors.contains("Line 2") && errors.contains("PUMP-100 is already on the price list"), "{errors}");
        assert!(errors.contains("Line 3") && errors.contains("VALVE-7 is already on the price list"), "{errors}");
        assert!(!fiona.exists("#preview").await, "no preview of an import that would be refused");
        // A line that cannot be read and one already on the list are named together.
        fiona.fill("#csv", &good.replace("4990", "cheap")).await;
        fiona.submit("#preview-csv").await;
        let errors = fiona.text("#csv-errors").await;
        assert!(errors.contains("PUMP-100 is already on the price list") && errors.contains("Line 3"), "{errors}");
        fiona.screenshot("22-price-list").await;

        // A quote still at the old price after an acknowledged rise: finance
        // approves keeping it, with a reason that the evidence keeps.
        let quote = id_of(&draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 2}])).await);
        let second = id_of(&draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 1}])).await);
        let notice = publish_price_change(&finance_api, "PUMP-100", 139_000, &date_in_days(0)).await;
        let r = sales_api.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        fiona.goto(&format!("/quotes/{quote}")).await;
        assert_eq!(fiona.text("#superseded").await, "PUMP-100 × 2: quoted 1,250.00 EUR, now 1,390.00 EUR");
        let advice = fiona.text("#superseded-advice").await;
        assert!(
            advice.contains("The quote's owner, Sam, must reprice it")
                && advice.contains("approve keeping the old ones below"),
            "{advice}"
        );
        fiona.submit("#override").await;
        assert!(!fiona.text("#reason-error").await.is_empty(), "a reason is required");
        fiona.fill("#reason", "Agreed with the customer before the rise.").await;
        fiona.submit("#override").await;
        assert!(fiona.text("#done").await.starts_with("Override recorded"), "{}", fiona.text("#done").await);
        let advice = fiona.text("#superseded-advice").await;
        assert!(
            advice.contains("finance has approved keeping it: the quote can be finalised at these prices"),
            "{advice}"
        );
        assert!(!fiona.exists("#override").await);
        // The owner, editing it, is told what would end the approval (the
        // second browser is Sam's for a moment, Ada's below).
        ada.log_in(&sales.email, PASSWORD).await;
        ada.goto(&format!("/quotes/{quote}")).await;
        let why = ada.text("#override-reason").await;
        assert!(
            why.starts_with("Fiona approved this") && why.ends_with("“Agreed with the customer before the rise.”"),
            "the signer reads why before finalising: {why}"
        );
        ada.goto(&format!("/quotes/{quote}/edit")).await;
        let note = ada.text("#approval-note").await;
        assert!(note.contains("old prices of PUMP-100 × 2") && note.contains("ends that approval"), "{note}");
        // The product's option says the price its lines keep, and today's.
        let options = ada.text_all("#sku_0 option").await;
        assert!(
            options
                .iter()
                .any(|o| o.starts_with("PUMP-100") && o.ends_with("(quoted at 1,250.00 EUR each; 1,390.00 EUR today)")),
            "{options:?}"
        );
        // Finalising asks first, and says at what prices, with finance's reason.
        ada.goto(&format!("/quotes/{quote}/finalise")).await;
        let approved = ada.text("#finalise-override").await;
        assert!(
            approved.contains("old prices of PUMP-100 × 2")
                && approved.contains("Agreed with the customer before the rise."),
            "{approved}"
        );
        ada.submit("#logout").await;
        let r = sales_api.post_empty(&format!("/api/v1/quotes/{quote}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        fiona.goto(&format!("/quotes/{quote}")).await;
        let approved = fiona.text("#evidence-override").await;
        assert!(
            approved.contains("approved by Fiona") && approved.ends_with(": Agreed with the customer before the rise."),
            "who approved it, when, and why: {approved}"
        );
        fiona.screenshot("22b-override-evidence").await;

        // Another approved quote, whose quantity its owner then changes: the
        // save says the approval no longer covers it.
        let r = finance_api.post(&format!("/api/v1/quotes/{second}/override"), &json!({"reason": "Agreed."})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        ada.log_in(&sales.email, PASSWORD).await;
        ada.goto(&format!("/quotes/{second}/edit")).await;
        ada.fill("#notes", "Called back.").await;
        ada.submit("#save-quote").await;
        let done = ada.text("#done").await;
        assert!(
            done.starts_with("Changes saved") && !done.contains("approval"),
            "the approval still covers it: {done}"
        );
        // Notes over two lines, written through the API; the browser sends
        // the form's line breaks as CRLF. Saved again as it is, the quote
        // is unchanged: nothing is written, and the page says so.
        let r = sales_api
            .patch(&format!("/api/v1/quotes/{second}"), &json!({"notes": "Called back.\nAgain on Monday."}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let revision = sales_api.get(&format!("/api/v1/quotes/{second}")).await.body["updated_at"].clone();
        ada.goto(&format!("/quotes/{second}/edit")).await;
        ada.submit("#save-quote").await;
        let done = ada.text("#done").await;
        assert_eq!(done, "Nothing to save: the form was as the quote is.");
        assert_eq!(sales_api.get(&format!("/api/v1/quotes/{second}")).await.body["updated_at"], revision);
        ada.goto(&format!("/quotes/{second}/edit")).await;
        ada.fill("#quantity_0", "5").await;
        ada.submit("#save-quote").await;
        let done = ada.text("#done").await;
        assert!(done.contains("approval of its old prices does not cover its lines as they are now"), "{done}");
        // Put back as approved: the approval covers it again, and the save says so.
        ada.goto(&format!("/quotes/{second}/edit")).await;
        ada.fill("#quantity_0", "1").await;
        ada.submit("#save-quote").await;
        let done = ada.text("#done").await;
        assert!(
            done.contains("again those finance approved keeping, so that approval covers them once more"),
            "{done}"
        );
        ada.submit("#logout").await;

        // Finance cannot open the admin page.
        fiona.goto("/admin/users").await;
        assert!(fiona.body().await.contains("Not for your role"));
        // The refusal keeps her navigation, as does an address that names nothing.
        assert!(fiona.exists("nav #logout").await && fiona.exists("nav a[href='/products']").await);
        fiona.goto("/no-such-page").await;
        assert!(fiona.text("h1").await == "Not found" && fiona.exists("nav #logout").await);

        ada.log_in(&admin.email, PASSWORD).await;
        ada.goto("/admin/users").await;
        ada.fill("#name", "Nina").await;
        ada.fill("#email", "not-an-email").await;
        ada.fill("#password", "short").await;
        ada.submit("#create-user").await;
        // Both problems at once, not one per try.
        assert!(!ada.text("#email-error").await.is_empty());
        assert!(ada.text("#password-error").await.contains("at least"));
        assert_eq!(ada.value("#name").await, "Nina");
        // The first refused field takes the focus, so the form far down the page is in view.
        let focused = ada.client.active_element().await.expect("the focused element").attr("id").await;
        assert_eq!(focused.ok().flatten().as_deref(), Some("email"));
        // An address already taken is named together with a short password.
        ada.fill("#email", &admin.email.to_uppercase()).await;
        ada.fill("#password", "short").await;
        ada.submit("#create-user").await;
        assert!(ada.text("#email-error").await.contains("already exists"));
        assert!(ada.text("#password-error").await.contains("at least"));
        ada.fill("#email", "nina@pricegate.test").await;
        ada.fill("#password", PASSWORD).await;
        ada.submit("#create-user").await;
        assert!(ada.text("#users").await.contains("nina@pricegate.test"));
        assert_eq!(
            ada.text("#message").await,
            "Created Nina (nina@pricegate.test, sales). Give them their password in person."
        );

        // Make Nina finance, then deactivate her: she can no longer log in.
        let row = "//tr[td[contains(., 'nina@pricegate.test')]]";
        let select = ada.client.find(Locator::XPath(&format!("{row}//select"))).await.expect("Nina's role");
        select.select_by_value("finance").await.expect("choosing finance");
        ada.submit_at(Locator::XPath(&format!("{row}//button[contains(., 'Change role')]"))).await;
        let selected = ada
            .client
            .find(Locator::XPath(&format!("{row}//option[@selected]")))
            .await
            .expect("a selected role")
            .text()
            .await
            .unwrap_or_default();
        assert_eq!(selected, "finance");
        assert_eq!(ada.text("#message").await, "Saved Nina (nina@pricegate.test): finance, active.");
        // Deactivating asks first, saying what it does.
        ada.submit_at(Locator::XPath(&format!("{row}//a[contains(., 'Deactivate')]"))).await;
        assert!(ada.text("h1").await.starts_with("Deactivate Nina?"));
        assert!(ada.body().await.contains("can no longer log in"));
        ada.submit("#confirm-deactivate").await;
        assert_eq!(ada.path().await, "/admin/users");
        assert_eq!(
            ada.text("#message").await,
            "Saved Nina (nina@pricegate.test): finance, inactive: they can no longer log in."
        );
        let nina = ada.client.find(Locator::XPath(row)).await.expect("Nina's row").text().await.unwrap_or_default();
        assert!(nina.contains("Reactivate"), "{nina}");
        // Where people are invited: mail reaches no one here, and the page says so.
        assert!(ada.text("#mail-warning").await.contains("reaches no one"));
        ada.screenshot("23-admin-users").await;
        ada.goto("/admin/outbox").await;
        assert!(ada.title().await.contains("Outbox") && ada.body().await.contains("Mail outbox"));
        // This server has no SMTP server: the admin is told mail reaches no one, and where it goes.
        assert!(ada.text("#mail-warning").await.contains("reaches no one"));
        ada.submit("nav a[href='/admin/settings']").await;
        let settings = ada.text("#settings").await;
        assert!(
            settings.contains("SMTP_URL") && settings.contains("unset") && settings.contains("PRICEGATE_REMINDERS"),
            "{settings}"
        );
        assert!(ada.exists("#mail-warning").await);

        fiona.goto("/").await;
        fiona.submit("#logout").await;
        assert_eq!(fiona.path().await, "/login");
        assert_eq!(fiona.text("#login-note").await, "You are logged out.");
        fiona.fill("#email", "nina@pricegate.test").await;
        fiona.fill("#password", PASSWORD).await;
        fiona.submit("#login").await;
        // Her own password: she is told why it does not let her in.
        let said = fiona.text("#login-error").await;
        assert!(said.contains("This account is deactivated: it cannot log in."), "{said}");
    })
    .await;
    app.stop().await;
}

/// Swagger UI at `/api/docs` works under its own Content-Security-Policy
/// (scripts from this server only, nothing may frame it): Chromium lists
/// every operation of the OpenAPI document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_docs_list_every_operation_under_their_content_security_policy() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let docs = reqwest::get(format!("{}/api/docs/", app.base)).await.expect("GET /api/docs/");
    let csp = docs.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "the policy: {csp:?}");
    let document: serde_json::Value =
        reqwest::get(format!("{}/api/v1/openapi.json", app.base)).await.unwrap().json().await.unwrap();
    let operations: usize =
        document["paths"].as_object().expect("paths").values().map(|p| p.as_object().map_or(0, |o| o.len())).sum();
    let base = app.base.clone();

    with_browsers(1, move |browsers| async move {
        let page = Page::new(browsers[0].clone(), &base);
        page.goto("/api/docs/").await;
        page.wait_for_text("#swagger-ui", "/api/v1/quotes/{id}/gate").await;
        let shown = page
            .client
            .execute("return document.querySelectorAll('.opblock').length", vec![])
            .await
            .expect("count the operations");
        assert_eq!(shown.as_u64(), Some(operations as u64), "Swagger UI lists every operation");
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_hands_the_open_quotes_of_someone_who_left_sales_to_a_colleague() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (_, admin) = app.user(Role::Admin, "Ada").await;
    let (sara_api, sara) = app.user(Role::Sales, "Sara").await;
    let (sam_api, sam) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let quote = id_of(&draft_quote(&sara_api, json!([{"sku": "PUMP-100", "quantity": 1}])).await);
    let reference = quote.replace('-', "")[..8].to_owned();
    let base = app.base.clone();

    let (sara_id, sam_id) = (sara.id, sam.id);
    with_browsers(1, move |browsers| async move {
        let ada = Page::new(browsers[0].clone(), &base);
        ada.log_in(&admin.email, PASSWORD).await;
        ada.goto("/admin/users").await;
        let row = format!("//tr[td[contains(., '{}')]]", sara.email);
        // Sara moves to finance: saving says what that leaves undone.
        ada.select(&format!("#role-{sara_id}"), "finance").await;
        ada.submit_at(Locator::XPath(&format!("{row}//button[contains(., 'Change role')]"))).await;
        // It asks first: her drafts would wait on a hand-over.
        assert_eq!(ada.text("h1").await, "Make Sara finance?");
        assert!(ada.text("#open-quotes").await.contains("They own 1 open draft"), "{}", ada.body().await);
        // Which draft, for whom: the admin hands over customers, not counts.
        let theirs = ada.text("#their-drafts tbody").await;
        for part in ["Greta Berg (Nordwind)", reference.as_str(), "1,250.00 EUR", "2099-12-31", "owns and signs"] {
            assert!(theirs.contains(part), "{part}: {theirs}");
        }
        ada.submit("#confirm-role").await;
        assert_eq!(
            ada.text("#message").await,
            format!(
                "Saved Sara ({}): finance, active. Nobody can edit the open draft Sara owns, nor finalise the open \
                 draft Sara signs, until you hand it to a salesperson (Open quotes, in Sara's row).",
                sara.email
            )
        );
        let cell = ada.client.find(Locator::XPath(&row)).await.expect("Sara's row").text().await.expect("its text");
        assert!(cell.contains("owns 1, signs 1") && cell.contains("can no longer sign or edit these drafts"), "{cell}");
        ada.select(&format!("#to-{sara_id}"), &sam_id.to_string()).await;
        ada.submit(&format!("#handover-{sara_id}")).await;
        assert_eq!(ada.path().await, "/admin/users");
        assert_eq!(ada.text("#message").await, "The open draft of Sara is handed over: Sam now owns it and signs it.");
        let cell = ada.client.find(Locator::XPath(&row)).await.expect("Sara's row").text().await.expect("its text");
        assert!(!cell.contains("owns"), "nothing left to hand over: {cell}");
        assert!(!ada.exists(&format!("#handover-{sara_id}")).await);
    })
    .await;
    let handed = sam_api.get(&format!("/api/v1/quotes/{quote}")).await;
    assert_eq!(
        (&handed.body["owner_id"], &handed.body["signer_id"]),
        (&json!(sam_id), &json!(sam_id)),
        "{}",
        handed.text
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesperson_changes_their_password_and_an_admin_sets_one_for_them_after_they_forget_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, admin) = app.user(Role::Admin, "Ada").await;
    let (_, sam) = app.user(Role::Sales, "Sam").await;
    let base = app.base.clone();
    let (chosen, temporary) = ("my own passphrase 2026", "temporary passphrase 7");

    let (sam_id, admin_id) = (sam.id, admin.id);
    let sam_email = sam.email.clone();
    with_browsers(2, move |browsers| async move {
        let laptop = Page::new(browsers[0].clone(), &base);
        let phone = Page::new(browsers[1].clone(), &base);
        laptop.log_in(&sam.email, PASSWORD).await;
        phone.log_in(&sam.email, PASSWORD).await;

        laptop.submit("#account-link").await;
        assert_eq!(laptop.path().await, "/account");
        assert!(laptop.text("#account").await.contains(&sam.email));
        laptop.fill("#new_password", "short").await;
        laptop.fill("#repeat_password", "shorter").await;
        laptop.submit("#change-password").await;
        // Every problem at once.
        assert!(laptop.text("#current_password-error").await.contains("Enter your current password"));
        assert!(laptop.text("#new_password-error").await.contains("at least"));
        assert!(laptop.text("#repeat_password-error").await.contains("differ"));
        assert!(laptop.text("#form-errors-summary").await.contains("Password not changed: 3 fields need changing"));
        assert!(laptop.title().await.starts_with("Error: "));
        laptop.fill("#current_password", "not my password").await;
        laptop.fill("#new_password", chosen).await;
        laptop.fill("#repeat_password", chosen).await;
        laptop.submit("#change-password").await;
        assert!(laptop.text("#current_password-error").await.contains("current password is wrong"));
        laptop.fill("#current_password", PASSWORD).await;
        laptop.fill("#new_password", chosen).await;
        laptop.fill("#repeat_password", "a typo in the repeat").await;
        laptop.submit("#change-password").await;
        assert!(laptop.text("#repeat_password-error").await.contains("differ"));
        laptop.fill("#current_password", PASSWORD).await;
        laptop.fill("#new_password", chosen).await;
        laptop.fill("#repeat_password", chosen).await;
        laptop.submit("#change-password").await;
        assert!(laptop.text("#message").await.contains("Your password is changed"));
        // This browser stays logged in; the other one is logged out.
        laptop.goto("/quotes").await;
        assert_eq!(laptop.path().await, "/quotes");
        phone.goto("/quotes").await;
        assert_eq!(phone.path().await, "/login");
        phone.log_in(&sam.email, chosen).await;
        assert_eq!(phone.path().await, "/quotes");
        phone.submit("#logout").await;

        // Sam forgets it; Ada sets a temporary one, and Sam's sessions end.
        let ada = phone;
        ada.log_in(&admin.email, PASSWORD).await;
        ada.goto("/admin/users").await;
        assert!(
            !ada.exists(&format!("#set-password-{admin_id}")).await,
            "Ada's own password is changed on her account page"
        );
        ada.fill(&format!("#password-{sam_id}"), temporary).await;
        ada.submit(&format!("#set-password-{sam_id}")).await;
        assert!(ada.text("#message").await.contains("New password set for Sam"));
        laptop.goto("/quotes").await;
        assert_eq!(laptop.path().await, "/login");
        laptop.log_in(&sam.email, temporary).await;
        assert_eq!(laptop.path().await, "/quotes");
    })
    .await;
    let old = app.anonymous().post("/api/v1/auth/token", &json!({"email": sam_email, "password": chosen})).await;
    assert_eq!(old.status, 401, "{}", old.text);
    app.stop().await;
}

pricegate_tests::both_backends! {
    async fn an_admin_finds_a_user_among_many_by_name_or_address(backend: Backend) {
        use pricegate_tests::pages::{csrf_in, page_as, post_form, session_cookie};

        let app = TestApp::spawn(backend).await;
        let (ada_api, ada) = app.user(Role::Admin, "Ada").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        // 130 colleagues and two odd names straight into the table: hashing their passwords is not what this is about.
        let mut people: Vec<(String, String, &str)> =
            (0..130).map(|i| (format!("person-{i:03}@pricegate.test"), format!("Person {i:03}"), "sales")).collect();
        people.push(("zoe@pricegate.test".into(), "Zoë Émile".into(), "finance"));
        people.push(("bob@pricegate.test".into(), "Back\\slash Bob".into(), "finance"));
        pricegate_tests::fixtures::insert_users(&app, sam.id, &people).await;
        let rows = |html: &str| html.matches("<input type=\"text\" id=\"name-").count();

        // A hundred to a page, by name, then the rest.
        let html = page_as(&app.base, &ada.email, "/admin/users").await;
        assert_eq!(rows(&html), 100, "{html}");
        assert!(!html.contains("id=\"all-users\""), "this is everyone's first page");
        let next = "/admin/users?after=person-097%40pricegate.test&#38;after_name=Person+097";
        assert!(html.contains(&format!("href=\"{next}\" id=\"more-users\"")), "Ada, Back\\slash Bob, then Person 000 to Person 097: {html}");
        let next = next.replace("&#38;", "&");
        let html = page_as(&app.base, &ada.email, &next).await;
        assert_eq!(rows(&html), 34, "Person 098 to Person 129, Sam and Zoë, in any collation: {html}");
        assert!(!html.contains("id=\"more-users\"") && html.contains("id=\"all-users\""), "{html}");
        // The last of the first page renamed and given another address meanwhile: the next page starts where it did.
        let html = page_as(&app.base, &ada.email, "/admin/users?q=person-097").await;
        let person = html.split("id=\"name-").nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_owned();
        let r = ada_api
            .patch(&format!("/api/v1/users/{person}"), &json!({"name": "Aaron Person", "email": "aaron@pricegate.test"}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let html = page_as(&app.base, &ada.email, &next).await;
        assert_eq!(rows(&html), 34, "still Person 098 on: {html}");
        assert!(html.find("person-098@").is_some() && !html.contains("aaron@") && !html.contains("That page of the list is gone"), "{html}");
        // A link from before names were kept in it goes on from where that address's person stands now.
        let html = page_as(&app.base, &ada.email, "/admin/users?after=person-096%40pricegate.test").await;
        assert_eq!(rows(&html), 34, "Person 098 to Person 129, Sam and Zoë: {html}");

        // Found by a piece of the name or the address, capitals or not, each word of it
        // (Person 012, 112 and 120 to 129 for "person 12"); % and _ are only themselves.
        for (q, found) in [("PERSON-01", 10), ("person 12", 12), ("Sam", 1), ("%25", 0), ("_", 0), ("nobody", 0), ("%C3%89mile", 1), ("zo%C3%AB", 1), ("ZO", 1), ("%5C", 1), ("%00", 100)] {
            let html = page_as(&app.base, &ada.email, &format!("/admin/users?q={q}")).await;
            assert_eq!(rows(&html), found, "{q}: {html}");
            assert_eq!(html.contains("id=\"nobody-found\""), found == 0, "{q}");
        }
        let html = page_as(&app.base, &ada.email, "/admin/users?q=person&q=twice").await;
        assert!(rows(&html) == 100 && html.contains("This address could not be read"), "everyone, and why: {html}");
        let html = page_as(&app.base, &ada.email, "/admin/users?q=person-12&after=person-129%40pricegate.test").await;
        assert!(html.contains("No more users whose name or e-mail contains “person-12”."), "{html}");
        let html = page_as(&app.base, &ada.email, "/admin/users?after=gone%40pricegate.test").await;
        assert!(rows(&html) == 100 && html.contains("That page of the list is gone"), "{html}");

        // What a form did is said with its person's row first, wherever the list would place them.
        let cookie = session_cookie(&app.base, &ada.email).await;
        let r = pricegate_tests::pages::client()
            .get(format!("{}/admin/users?q=person-125", app.base))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        let html = r.text().await.unwrap();
        let person = html.split("id=\"name-").nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_owned();
        let url = format!("{}/admin/users/{person}/password", app.base);
        let (status, html) =
            post_form(url, &cookie, &[("csrf_token", csrf_in(&html)), ("new_password", "a long new password".into())]).await;
        assert_eq!(status, 303);
        assert!(html.contains("New password set for Person 125.") && html.contains("the new one works now"), "{html}");
        assert!(html.find(&format!("id=\"name-{person}\"")).unwrap() < html.find("person-000@").unwrap(), "{html}");
        // Set for someone deactivated, it is said not to let them in yet.
        let admin = app.login(&ada.email, pricegate_tests::PASSWORD).await;
        assert_eq!(admin.patch(&format!("/api/v1/users/{person}"), &serde_json::json!({"active": false})).await.status, 200);
        let url = format!("{}/admin/users/{person}/password", app.base);
        let (status, html) =
            post_form(url, &cookie, &[("csrf_token", csrf_in(&html)), ("new_password", "another new password".into())]).await;
        assert_eq!(status, 303);
        assert!(html.contains("New password set for Person 125, whose account is deactivated: it lets them in once"), "{html}");
        assert!(!html.contains("works now"), "{html}");
        app.stop().await;
    }
}
