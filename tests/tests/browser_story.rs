//! The gate story in a real browser: a salesperson drafts a quote in the
//! form; finance, in a second browser, drafts and publishes a notice that raises a price
//! on it; Finalise is refused with the notice and the price change on the
//! page; the salesperson acknowledges, reprices, and Finalise succeeds with
//! the acknowledgement in the evidence.

use pricegate_domain::Role;
use pricegate_tests::browser::{Page, with_browsers};
use pricegate_tests::fixtures::{create_product, date_in_days};
use pricegate_tests::{Backend, PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesperson_finalises_in_the_browser_only_after_acknowledging_the_price_rise() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, finance) = app.user(Role::Finance, "Fiona").await;
    let (_, sales) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    create_product(&finance_api, "VALVE-7", "EUR", 4_990).await;
    let base = app.base.clone();

    with_browsers(2, move |browsers| async move {
        let sam = Page::new(browsers[0].clone(), &base);
        let fiona = Page::new(browsers[1].clone(), &base);

        // A wrong password is a clear message, and the e-mail stays typed.
        sam.goto("/login").await;
        assert!(sam.title().await.contains("Pricegate"), "login page title: {}", sam.title().await);
        sam.fill("#email", &sales.email).await;
        sam.fill("#password", "not the password").await;
        sam.submit("#login").await;
        assert!(sam.text("#login-error").await.contains("do not match"));
        assert_eq!(sam.value("#email").await, sales.email);
        // Where to type again, with the message read out for it.
        assert_eq!(sam.focused().await, "password");
        let described = sam.client.find(fantoccini::Locator::Css("#password")).await.unwrap().attr("aria-describedby").await;
        assert_eq!(described.ok().flatten().as_deref(), Some("login-error"));
        sam.screenshot("01-login-refused").await;

        sam.log_in(&sales.email, PASSWORD).await;
        assert_eq!(sam.path().await, "/quotes");

        // The form comes back with what was typed and the error by its field.
        sam.submit("#new-quote").await;
        assert!(sam.title().await.contains("New quote"));
        sam.fill("#customer_email", "greta@nordwind.example").await;
        sam.fill("#customer_company", "Nordwind").await;
        sam.select("#sku_0", "PUMP-100").await;
        sam.fill("#quantity_0", "12").await;
        sam.screenshot("02-quote-form").await;
        sam.submit("#save-quote").await;
        assert!(sam.text("#customer_name-error").await.contains("The customer's name must not be empty"));
        assert_eq!(sam.value("#customer_email").await, "greta@nordwind.example");
        assert_eq!(sam.value("#quantity_0").await, "12");
        sam.screenshot("03-quote-form-error").await;

        sam.fill("#customer_name", "Greta Berg").await;
        sam.select("#sku_1", "VALVE-7").await;
        sam.fill("#quantity_1", "3").await;
        sam.fill("#discount_1", "5").await;
        sam.fill("#discount_0", "10").await;
        sam.submit("#save-quote").await;
        let quote_path = sam.path().await;
        assert!(quote_path.starts_with("/quotes/"), "after saving: {quote_path}");
        let drafted = sam.text("#done").await;
        assert!(drafted.starts_with("Quote drafted") && drafted.contains("Sam"), "told what saving did: {drafted}");
        assert!(sam.text("#gate-ready").await.contains("Ready to finalise"));
        // 12 × 1,250.00 less 10 % + 3 × 49.90 less 5 %: 13,500.00 + 142.22 (rounded by the domain).
        assert!(sam.text("#total").await.contains("EUR"), "total: {}", sam.text("#total").await);
        let total_before = sam.text("#total").await;
        sam.screenshot("04-quote-ready").await;

        // Finance, in the other browser, checks the price list, then drafts
        // the notice (a refused form first), previews it and publishes it.
        fiona.log_in(&finance.email, PASSWORD).await;
        fiona.goto("/products").await;
        assert!(fiona.text("#products").await.contains("PUMP-100"));
        fiona.screenshot("05-finance-price-list").await;
        fiona.goto("/notices/new").await;
        fiona.fill("#body", "Pump prices rise **today**.\n\nPlease read.").await;
        let change = format!("PUMP-100, 1390.00, {}", date_in_days(0));
        fiona.fill("#changes", &change).await;
        fiona.submit("#save-notice").await;
        assert!(!fiona.text("#title-error").await.is_empty());
        assert_eq!(fiona.value("#changes").await, change);
        fiona.fill("#title", "Pump prices rise").await;
        fiona.submit("#save-notice").await;
        let publish_path = fiona.path().await;
        assert!(publish_path.ends_with("/publish"), "after drafting: {publish_path}");
        assert!(fiona.text("#done").await.starts_with("Draft saved."), "told what saving did");
        let preview = fiona.body().await;
        assert!(preview.contains("1,390.00 EUR") && preview.contains("cannot be undone"), "{preview}");
        let touched = fiona.text("#touched").await;
        assert!(touched.contains("Greta Berg") && touched.contains("+1,512.00 EUR"), "the impact preview: {touched}");
        fiona.screenshot("06-finance-publish-confirmation").await;
        fiona.submit("#publish").await;
        let dashboard_path = fiona.path().await;
        assert!(dashboard_path.ends_with("/dashboard"), "after publishing: {dashboard_path}");
        let published = fiona.text("#message").await;
        assert!(published.starts_with("Published") && published.contains("1 salesperson"), "{published}");
        let pending = fiona.text("#pending").await;
        assert!(
            pending.contains("Sam") && pending.contains("Greta Berg"),
            "who is pending, with the blocked quote: {pending}"
        );
        assert!(fiona.exists("#chart").await);
        let caption = fiona.text("#chart-caption").await;
        assert!(caption.contains("Now 0 of 1 (0%), as of "), "a screen reader hears where the chart ends: {caption}");
        let hint = fiona.text("#remind-hint").await;
        assert!(hint.ends_with("Anyone e-mailed about this notice in the last 10 minutes is skipped."), "{hint}");
        fiona.submit("#remind").await;
        assert_eq!(fiona.path().await, dashboard_path, "reminding leads back to the dashboard");
        // One reminder, or none if the publication's e-mail was queued first.
        let reminded = fiona.text("#message").await;
        assert!(
            reminded == "1 reminder queued."
                || reminded.starts_with(
                    "No reminders queued: the one salesperson still pending was e-mailed about this notice in the last 10 minutes."
                ),
            "{reminded}"
        );
        fiona.screenshot("07-finance-dashboard-pending").await;
        fiona.submit("#remind").await;
        let again = fiona.text("#message").await;
        assert!(
            again.starts_with(
                "No reminders queued: the one salesperson still pending was e-mailed about this notice in the last 10 minutes."
            ),
            "a second click: {again}"
        );
        assert!(again.contains("can be reminded again from"), "and when they can be: {again}");

        // Finalise is refused, and the page says why and by how much.
        sam.goto(&quote_path).await;
        sam.submit("#finalise").await;
        assert!(sam.text("#message").await.contains("Not finalised"));
        // At the quote's own address, not the form's: a reload reads the page, sending nothing again.
        assert_eq!(sam.path().await, quote_path, "the refusal is shown at the quote's address");
        let pending = sam.text(".pending-notice").await;
        assert!(pending.contains("Pump prices rise"), "{pending}");
        assert!(pending.contains("Please read."), "the notice text: {pending}");
        assert!(pending.contains("1,250.00 EUR") && pending.contains("1,390.00 EUR"), "old and new price: {pending}");
        // 12 × 140.00 more, less the line's 10 %, which the table shows.
        assert!(pending.contains("10.00 %") && pending.contains("+1,512.00 EUR"), "the change to the total: {pending}");
        assert_eq!(sam.text("#quote-state").await, "draft");
        sam.screenshot("08-finalise-refused").await;
        sam.client.refresh().await.expect("a reload");
        assert!(!sam.exists("#message").await, "a reload reads the quote: nothing is sent or said again");
        assert_eq!(sam.text("#quote-state").await, "draft");

        // Acknowledge; the notice no longer blocks, but the old price does.
        sam.submit(".acknowledge").await;
        assert_eq!(sam.text("#done").await, "Acknowledged \u{201c}Pump prices rise\u{201d}.");
        // Told at the gate, where what is left to do is, not above the lines.
        assert!(sam.exists("#gate > #done").await, "the acknowledgement is said at the gate");
        assert_eq!(sam.focused().await, "done", "what the button did is where the focus is, and read out");
        assert!(!sam.exists(".pending-notice").await, "the notice is still pending after acknowledging");
        sam.goto("/quotes").await;
        let listed = sam.text("#quotes").await;
        assert!(listed.contains("prices changed") && !listed.contains("notices pending"), "{listed}");
        sam.goto(&quote_path).await;
        sam.submit("#reprice").await;
        assert_eq!(sam.path().await, quote_path, "repricing leads back to the quote: a reload repeats nothing");
        assert!(sam.text("#done").await.starts_with("Repriced"));
        assert_eq!(sam.text("#old-total").await, total_before);
        assert_ne!(sam.text("#new-total").await, total_before);
        let repriced_total = sam.text("#new-total").await;
        assert!(sam.text("#gate-ready").await.contains("Ready to finalise"));
        sam.screenshot("09-repriced").await;

        // Finalising asks first, naming the quote; "keep it a draft" changes nothing.
        sam.submit("#finalise").await;
        assert_eq!(sam.path().await, format!("{quote_path}/finalise"));
        assert!(sam.title().await.starts_with("Finalise the quote for"), "{}", sam.title().await);
        assert!(sam.text("#finalise-warning").await.contains("cannot be undone"));
        assert_eq!(
            sam.text("#finalise-evidence").await,
            "The price notice published since it was drafted, with when you acknowledged it, is kept with the quote as \
             its evidence."
        );
        assert_eq!(sam.text("#finalise-total").await, repriced_total);
        sam.screenshot("09b-finalise-confirm").await;
        sam.submit("#keep-draft").await;
        assert_eq!(sam.text("#quote-state").await, "draft");
        // From the keyboard, Finalise is a button as when the gate holds it: a space presses it.
        sam.press_to_load("#finalise", " ").await;
        assert_eq!(sam.path().await, format!("{quote_path}/finalise"), "a space on Finalise asks first");
        sam.submit("#confirm-finalise").await;
        assert_eq!(sam.path().await, quote_path);
        assert_eq!(sam.text("#quote-state").await, "finalised");
        assert!(sam.text("#done").await.starts_with("Quote finalised"), "{}", sam.text("#done").await);
        let evidence = sam.text("#evidence").await;
        assert!(evidence.contains("Pump prices rise") && evidence.contains("a Pricegate page"), "evidence: {evidence}");
        sam.screenshot("10-finalised-evidence").await;

        // The inbox shows the notice as acknowledged.
        sam.goto("/notices").await;
        assert!(sam.text("#notices").await.contains("acknowledged"));
        sam.screenshot("11-notice-inbox").await;
        sam.goto("/quotes").await;
        assert!(sam.text("#quotes").await.contains("finalised"));
        // What a form did is told once: the quote's page says it no more.
        sam.goto(&quote_path).await;
        assert!(!sam.exists("#done").await, "the confirmation is told again");

        // Finance sees who acknowledged, when and how, from its inbox: the
        // notice is published there, not unread (finance has nothing to acknowledge).
        fiona.goto("/notices").await;
        let inbox = fiona.text("#notices").await;
        assert!(inbox.contains("published") && !inbox.contains("to acknowledge"), "{inbox}");
        fiona.submit("#notices a[href$='/dashboard']").await;
        assert_eq!(fiona.path().await, dashboard_path);
        let acknowledged = fiona.text("#acknowledged").await;
        assert!(acknowledged.contains("Sam") && acknowledged.contains("a Pricegate page"), "{acknowledged}");
        fiona.screenshot("12-finance-dashboard-acknowledged").await;

        // At phone width the quote page still reads.
        sam.client.set_window_size(390, 844).await.expect("a phone-sized window");
        sam.goto(&quote_path).await;
        sam.screenshot("13-quote-phone").await;
    })
    .await;
    app.stop().await;
}

/// Two notices re-price the same line before the signer has read either:
/// each is measured against the quoted price, so the page marks the first as
/// priced again by the second and says once what they do together; a change
/// that takes force after the quote's validity is marked so, and a notice's
/// earlier price for the same product, in force while the quote is, named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_that_price_a_line_again_are_not_added_up() {
    use pricegate_tests::fixtures::{create_notice, draft_quote, publish_notice};
    use serde_json::json;

    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, finance) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    let base = app.base.clone();
    create_product(&finance_api, "PUMP-C400", "EUR", 249_500).await;
    create_product(&finance_api, "VALVE-7", "EUR", 4_990).await;
    let quote =
        draft_quote(&sales_api, json!([{"sku": "PUMP-C400", "quantity": 10}, {"sku": "VALVE-7", "quantity": 3}])).await;
    let quote = quote["id"].as_str().expect("the quote's id").to_owned();
    let (today, next_month, later) = (date_in_days(0), date_in_days(30), date_in_days(40));
    for (title, changes) in [
        ("First rise", json!([{"sku": "PUMP-C400", "unit_price_minor": 260_000, "effective_on": today}])),
        ("Second rise", json!([{"sku": "PUMP-C400", "unit_price_minor": 270_000, "effective_on": next_month}])),
        (
            "Valves next year",
            json!([
                {"sku": "VALVE-7", "unit_price_minor": 6_000, "effective_on": "2100-01-15"},
                {"sku": "VALVE-7", "unit_price_minor": 5_500, "effective_on": next_month},
                {"sku": "VALVE-7", "unit_price_minor": 5_800, "effective_on": "2100-01-01"},
            ]),
        ),
        ("Valves again", json!([{"sku": "VALVE-7", "unit_price_minor": 5_700, "effective_on": later}])),
    ] {
        let notice = create_notice(&finance_api, title, changes).await;
        if title != "Valves next year" {
            publish_notice(&finance_api, &notice).await;
            continue;
        }
        // Finance publishes the last in the browser: its confirmation counts, for the quote, the
        // valves at 55.00 (+15.30), the last of its prices in force while the quote is valid, and
        // says apart what the prices dated after its validity bring (60.00 in all, +30.30).
        let (finance, base) = (finance.clone(), base.clone());
        with_browsers(1, move |browsers| async move {
            let fiona = Page::new(browsers[0].clone(), &base);
            fiona.log_in(&finance.email, PASSWORD).await;
            fiona.goto(&format!("/notices/{notice}/publish")).await;
            let touched = fiona.text("#touched").await;
            assert!(
                touched.contains("+15.30 EUR while it is valid; +30.30 EUR in all with prices dated after 2099-12-31"),
                "{touched}"
            );
            fiona.submit("#publish").await;
            assert!(fiona.path().await.ends_with("/dashboard"));
        })
        .await;
    }

    with_browsers(1, move |browsers| async move {
        let sam = Page::new(browsers[0].clone(), &base);
        sam.log_in(&sales.email, PASSWORD).await;
        sam.goto(&format!("/quotes/{quote}")).await;
        let notices = sam.text_all(".pending-notice").await;
        assert_eq!(notices.len(), 4, "{notices:?}");
        assert!(
            notices[0].contains("+1,050.00 EUR")
                && notices[0]
                    .contains(&format!("not the last word: “Second rise” sets the price in force from {next_month}")),
            "{}",
            notices[0]
        );
        assert!(notices[1].contains("+2,050.00 EUR") && !notices[1].contains("last word"), "{}", notices[1]);
        assert!(notices[2].contains("after this quote's validity ends"), "{}", notices[2]);
        // The line's change is the last price's, and says when that is.
        assert!(notices[2].contains("once this quote's validity has ended"), "{}", notices[2]);
        // Its 55.00 is what counts while the quote is valid, and "Valves again" overtakes it.
        let overtaken = format!(
            "55.00 EUR (+15.30 EUR on the line), not the last word: “Valves again” sets the price in \
             force from {later}; then"
        );
        assert!(
            notices[2].contains(&overtaken)
                && notices[2].matches("not the last word").count() == 1
                && notices[2].contains("58.00 EUR (+24.30 EUR on the line), after this quote's validity ends; then"),
            "{}",
            notices[2]
        );
        assert!(notices[2].contains("while this quote is valid (until 2099-12-31)"), "{}", notices[2]);
        // 2,050.00 for the pumps at 2,700.00, and 21.30 for the valves at 57.00 until the quote's
        // validity ends (the first valve notice's last prices come after it).
        let together = sam.text("#together").await;
        assert!(together.ends_with("the total changes by +2,071.30 EUR."), "{together}");
        let problems = sam.usability_problems().await;
        assert!(problems.is_empty(), "the notes keep the tables on the page:\n{}", problems.join("\n"));
        sam.screenshot("14-priced-again").await;
    })
    .await;
    app.stop().await;
}

/// Someone who joins sales after a notice was published sees it as from
/// before they joined, with nothing to do, until a draft it holds up is
/// handed to them; then it is unread, as it is for whoever else signs one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_reads_earlier_notices_as_from_before_they_joined_until_one_holds_up_their_draft() {
    use pricegate_tests::fixtures::{draft_quote, publish_price_change};
    use serde_json::json;

    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, _) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let quote = draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 4}])).await;
    let quote = quote["id"].as_str().expect("the quote's id").to_owned();
    let notice = publish_price_change(&finance_api, "PUMP-100", 130_000, &date_in_days(0)).await;
    let (_, nina) = app.user(Role::Sales, "Nina").await;
    let base = app.base.clone();

    with_browsers(1, move |browsers| async move {
        let page = Page::new(browsers[0].clone(), &base);
        page.log_in(&nina.email, PASSWORD).await;
        page.goto("/notices").await;
        let row = page.text("#notices tbody tr").await;
        assert!(row.contains("before you joined") && !row.contains("to acknowledge"), "{row}");
        page.goto(&format!("/notices/{notice}")).await;
        assert!(page.text("#before-joined").await.contains("you need not acknowledge it"));

        // Sam hands his draft, drafted before the notice, to Nina.
        let r = sales_api.patch(&format!("/api/v1/quotes/{quote}"), &json!({"signer_id": nina.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        page.goto("/notices").await;
        let row = page.text("#notices tbody tr").await;
        assert!(row.contains("to acknowledge") && !row.contains("before you joined"), "{row}");
        page.goto(&format!("/notices/{notice}")).await;
        assert!(!page.exists("#before-joined").await, "the quote she signs waits on it");
        assert!(page.exists("#acknowledge").await);
    })
    .await;
    app.stop().await;
}

/// A price published to take force while the quote is valid stays on the
/// quote's page once acknowledged (and one published before drafting is
/// there too): finalised before it takes force the quote keeps its price,
/// after, that line must be repriced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_due_while_the_quote_is_valid_stay_on_its_page_after_acknowledging() {
    use pricegate_tests::fixtures::{draft_quote, publish_price_change};
    use serde_json::json;

    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, finance) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sales) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-C100", "EUR", 84_000).await;
    create_product(&finance_api, "VALVE-7", "EUR", 4_990).await;
    let (in_a_week, in_ten_days) = (date_in_days(7), date_in_days(10));
    let valve_notice = publish_price_change(&finance_api, "VALVE-7", 5_200, &in_a_week).await;
    let lines = json!([{"sku": "PUMP-C100", "quantity": 12}, {"sku": "VALVE-7", "quantity": 3}]);
    let quote = draft_quote(&sales_api, lines).await;
    let quote = quote["id"].as_str().expect("the quote's id").to_owned();
    publish_price_change(&finance_api, "PUMP-C100", 90_500, &in_ten_days).await;
    let base = app.base.clone();

    with_browsers(2, move |browsers| async move {
        let sam = Page::new(browsers[0].clone(), &base);
        sam.log_in(&sales.email, PASSWORD).await;
        sam.goto(&format!("/quotes/{quote}")).await;
        assert_eq!(sam.text("#gate-not-ready").await, "Not ready to finalise: 1 price notice to acknowledge.");
        // Said above the lines too, for a phone that shows the gate screens below them.
        assert!(sam.exists("#not-ready-above a[href='#gate']").await, "the way down to why");
        // And the line whose price the pending notice changes is marked so, beside its product; the other is not.
        let marked = sam.text_all("#lines tbody tr:has(.gate-mark) td:first-child").await;
        assert_eq!(marked, ["PUMP-C100"]);
        // Its SKU, hidden but to a screen reader, tells one line's mark from another's in a list of links.
        assert_eq!(sam.text_all(".gate-mark").await, ["changed by a notice to acknowledge\n(PUMP-C100)"]);
        let upcoming = sam.text("#upcoming").await;
        assert!(
            upcoming.contains("VALVE-7") && upcoming.contains("52.00 EUR") && upcoming.contains(&in_a_week),
            "the price published before drafting: {upcoming}"
        );
        assert!(!upcoming.contains("PUMP-C100"), "the pending notice has its own card: {upcoming}");
        // Published before drafting, it does not hold the quote up; unread, it is marked so.
        let unread = "The signer has not acknowledged the notice marked below. Published before this quote was drafted, \
                      it does not hold it up, but it sets prices that take force while it is valid: read it before finalising.";
        assert_eq!(sam.text("#upcoming-unread").await, unread);
        assert_eq!(sam.text_all("#upcoming .unread").await, ["not acknowledged by the signer"]);

        sam.submit(".acknowledge").await;
        assert!(sam.text("#gate-ready").await.contains("Ready to finalise"));
        assert!(!sam.exists("#not-ready-above").await, "nothing holds it up now");
        assert!(!sam.exists(".gate-mark").await, "nor any line");
        let upcoming = sam.text("#upcoming").await;
        assert!(
            upcoming.contains("PUMP-C100")
                && upcoming.contains("840.00 EUR")
                && upcoming.contains("905.00 EUR")
                && upcoming.contains(&in_ten_days),
            "the acknowledged rise stays on the page: {upcoming}"
        );
        let links = sam.text_all("#upcoming a").await;
        assert_eq!(links.len(), 2, "each names its notice: {links:?}");
        assert_eq!(sam.text_all("#upcoming .unread").await.len(), 1, "the one acknowledged is not marked");
        // The finalisation's confirmation says it too, where the signer decides.
        sam.goto(&format!("/quotes/{quote}/finalise")).await;
        assert_eq!(sam.text("#upcoming-unread").await, unread);
        let r = sales_api.post_empty(&format!("/api/v1/notices/{valve_notice}/acknowledge")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        sam.goto(&format!("/quotes/{quote}")).await;
        assert!(!sam.exists("#upcoming-unread").await && !sam.exists("#upcoming .unread").await);
        let problems = sam.usability_problems().await;
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        sam.screenshot("15-prices-due").await;

        // A new quote's products say what each is to cost, and from when.
        sam.goto("/quotes/new").await;
        let options = sam.text_all("#sku_0 option").await;
        let option = |sku: &str| options.iter().find(|o| o.starts_with(sku)).cloned().unwrap_or_default();
        assert!(
            option("PUMP-C100").contains(&format!("840.00 EUR each; 905.00 EUR from {in_ten_days}")),
            "{options:?}"
        );
        assert!(option("VALVE-7").contains(&format!("49.90 EUR each; 52.00 EUR from {in_a_week}")), "{options:?}");
        // The price list, a link away, says the same, and changes nothing.
        sam.submit("nav a[href='/products']").await;
        assert_eq!(sam.path().await, "/products");
        let coming = sam.text_all("#products td.coming").await;
        assert!(coming.contains(&format!("905.00 EUR from {in_ten_days}")), "{coming:?}");
        assert!(coming.contains(&format!("52.00 EUR from {in_a_week}")), "{coming:?}");
        assert!(sam.text("#price-rule").await.contains("notices finance publishes"));
        for form in ["#add-product", "#import-csv", ".edit-product"] {
            assert!(!sam.exists(form).await, "no {form} for a salesperson");
        }
        sam.screenshot("16-sales-price-list").await;
        let problems = sam.usability_problems().await;
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        // And finance's price list, beside today's prices.
        let fiona = Page::new(browsers[1].clone(), &base);
        fiona.log_in(&finance.email, PASSWORD).await;
        fiona.goto("/products").await;
        let coming = fiona.text_all("#products td.coming").await;
        assert!(coming.contains(&format!("905.00 EUR from {in_ten_days}")), "{coming:?}");
        assert!(coming.contains(&format!("52.00 EUR from {in_a_week}")), "{coming:?}");
        assert!(fiona.exists("#add-product").await && fiona.exists(".edit-product").await);
    })
    .await;
    app.stop().await;
}

/// Login pages open in two tabs of one browser (a session that ended shows
/// one in every tab): the older one logs in, though the newer one was
/// opened after it; the other, sent once logged in, leads on instead of
/// saying the form expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_pages_open_in_two_tabs_each_lead_on() {
    use fantoccini::Locator;
    use pricegate_tests::fixtures::draft_quote;
    use serde_json::json;

    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sam) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let quote = draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 4}])).await;
    let quote = format!("/quotes/{}", quote["id"].as_str().expect("the quote's id"));
    let base = app.base.clone();

    with_browsers(1, move |browsers| async move {
        let page = Page::new(browsers[0].clone(), &base);
        let first = page.client.window().await.expect("the first tab");
        page.goto(&quote).await;
        assert_eq!(page.path().await, "/login", "no session yet");
        let second = page.client.new_window(true).await.expect("a second tab").handle;
        page.client.switch_to_window(second.clone()).await.expect("to the second tab");
        page.goto("/login").await;

        // The first tab's page, opened before the second's, logs in and leads to the quote.
        page.client.switch_to_window(first).await.expect("to the first tab");
        page.fill("#email", &sam.email).await;
        page.fill("#password", PASSWORD).await;
        page.submit("#login").await;
        assert_eq!(page.path().await, quote, "{}", page.body().await);
        assert!(page.exists("#gate-ready").await, "{}", page.body().await);

        // The second tab's page, sent now: already logged in, so on to the quotes.
        page.client.switch_to_window(second).await.expect("to the second tab");
        assert!(page.client.find(Locator::Css("#login")).await.is_ok(), "still the login page");
        page.fill("#email", &sam.email).await;
        page.fill("#password", PASSWORD).await;
        page.submit("#login").await;
        assert_eq!(page.path().await, "/quotes", "{}", page.body().await);
        assert!(!page.body().await.contains("expired"));
    })
    .await;
    app.stop().await;
}

/// A notice on a quote's page shows what it does to that quote; the whole
/// notice, with the prices it changes on other products, is one link away,
/// and acknowledging it there leads back to the quote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_notice_is_one_link_from_the_quote_and_acknowledging_it_there_leads_back() {
    use pricegate_tests::fixtures::{create_notice, draft_quote, publish_notice};
    use serde_json::json;

    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, _) = app.user(Role::Finance, "Fiona").await;
    let (sales_api, sam) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    create_product(&finance_api, "VALVE-7", "EUR", 4_990).await;
    let quote = draft_quote(&sales_api, json!([{"sku": "PUMP-100", "quantity": 4}])).await;
    let quote = format!("/quotes/{}", quote["id"].as_str().expect("the quote's id"));
    let changes = json!([
        {"sku": "PUMP-100", "unit_price_minor": 130_000, "effective_on": date_in_days(0)},
        {"sku": "VALVE-7", "unit_price_minor": 5_490, "effective_on": date_in_days(0)},
    ]);
    let notice = create_notice(&finance_api, "Pumps and valves up", changes).await;
    publish_notice(&finance_api, &notice).await;
    let base = app.base.clone();

    with_browsers(1, move |browsers| async move {
        let page = Page::new(browsers[0].clone(), &base);
        page.log_in(&sam.email, PASSWORD).await;
        page.goto(&quote).await;
        let card = page.text(".pending-notice").await;
        assert!(card.contains("PUMP-100") && !card.contains("VALVE-7"), "what it does to this quote: {card}");

        page.submit(".pending-notice .whole-notice a").await;
        assert_eq!(page.path().await, format!("/notices/{notice}"));
        let whole = page.body().await;
        assert!(whole.contains("VALVE-7") && whole.contains("PUMP-100"), "every price it changes: {whole}");
        assert!(page.exists("#back-to-quote").await);
        // Named with its reference too: a customer may have several drafts.
        let reference = &quote.trim_start_matches("/quotes/")[..8];
        assert_eq!(page.text("#held-up-intro").await, "Your draft waiting on it, and what the notice does to it:");
        assert_eq!(
            page.text("#held-up").await,
            format!("Greta Berg {reference} · total 5,000.00 EUR · +200.00 EUR while it is valid")
        );
        let held_up = page.client.find(fantoccini::Locator::Css("#held-up a")).await.expect("a link to the draft");
        assert_eq!(held_up.attr("href").await.ok().flatten().as_deref(), Some(quote.as_str()));
        page.submit("#acknowledge").await;
        assert_eq!(page.path().await, quote, "back to the quote: {}", page.body().await);
        assert!(!page.exists(".pending-notice").await, "nothing left to acknowledge: {}", page.body().await);

        // Opened by itself (from the inbox, say), the notice page leads nowhere else.
        page.goto(&format!("/notices/{notice}")).await;
        assert!(!page.exists("#back-to-quote").await);
        assert!(page.exists("#acknowledged").await);
        assert!(!page.exists("#held-up").await, "acknowledged, it holds up nothing of Sam's");
        // It says which draft it held up, a link away, where the next step is.
        assert_eq!(
            page.text("#no-longer-held-up").await,
            format!("It no longer holds up your draft: Greta Berg {reference}.")
        );
        page.submit("#no-longer-held-up a").await;
        assert_eq!(page.path().await, quote);
    })
    .await;
    app.stop().await;
}

/// Finance's approval of old prices asked for and answered in two browsers:
/// Sam asks from the quote's page, Fiona finds the quote under "Awaiting
/// approval" and declines with a reason, Sam reads why and asks again,
/// Fiona approves, and Sam finalises at the old prices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_of_old_prices_is_asked_for_declined_and_given_in_the_browser() {
    use pricegate_tests::fixtures::{draft_quote, id_of, publish_price_change};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (finance_api, finance) = app.user(Role::Finance, "Fiona").await;
    let (sam_api, sales) = app.user(Role::Sales, "Sam").await;
    create_product(&finance_api, "PUMP-100", "EUR", 125_000).await;
    let quote = id_of(&draft_quote(&sam_api, serde_json::json!([{"sku": "PUMP-100", "quantity": 4}])).await);
    let rise = publish_price_change(&finance_api, "PUMP-100", 139_000, &date_in_days(0)).await;
    assert_eq!(sam_api.post_empty(&format!("/api/v1/notices/{rise}/acknowledge")).await.status, 200);
    let base = app.base.clone();

    with_browsers(2, move |browsers| async move {
        let sam = Page::new(browsers[0].clone(), &base);
        let fiona = Page::new(browsers[1].clone(), &base);
        let page = format!("/quotes/{quote}");

        sam.log_in(&sales.email, PASSWORD).await;
        sam.goto(&page).await;
        assert!(sam.text("#superseded-advice").await.contains("ask below"));
        sam.submit("#ask-approval-button").await;
        assert!(sam.text("#ask-reason-error").await.contains("must not be empty"), "{}", sam.body().await);
        sam.fill("#ask-reason", "Agreed with Nordwind in March").await;
        sam.submit("#ask-approval-button").await;
        assert!(sam.text("#done").await.starts_with("Request sent to finance: 1 person in finance was e-mailed it."));
        assert!(sam.text("#approval-asked").await.starts_with("You asked finance to approve"));
        assert!(!sam.exists("#ask-approval").await, "asked, the form is gone");
        let problems = sam.usability_problems().await;
        assert!(problems.is_empty(), "{problems:?}");
        sam.screenshot("40-approval-asked").await;

        fiona.log_in(&finance.email, PASSWORD).await;
        fiona.goto("/quotes?state=awaiting_approval").await;
        assert!(fiona.text("#quotes").await.contains("asked by Sam"), "{}", fiona.body().await);
        fiona.goto(&page).await;
        assert!(fiona.text("#approval-asked").await.contains("Agreed with Nordwind in March"));
        let problems = fiona.usability_problems().await;
        assert!(problems.is_empty(), "{problems:?}");
        fiona.screenshot("41-finance-reads-the-request").await;
        fiona.fill("#decline-reason", "Everyone pays the new price").await;
        fiona.submit("#decline-approval-button").await;
        assert!(fiona.text("#done").await.starts_with("Request declined: 1 salesperson on the quote was e-mailed"));
        assert!(!fiona.exists("#decline-approval").await, "nothing left to decline");

        sam.goto(&page).await;
        let declined = sam.text("#approval-asked").await;
        assert!(
            declined.starts_with("Fiona declined") && declined.contains("Everyone pays the new price"),
            "{declined}"
        );
        sam.fill("#ask-reason", "Two more pumps at the March price").await;
        sam.submit("#ask-approval-button").await;
        assert!(sam.text("#done").await.starts_with("Request sent to finance"));
        // An edit of the lines it is about ends that request, unanswered, and says so.
        sam.click("#edit-quote").await;
        sam.fill("#quantity_0", "6").await;
        sam.submit("#save-quote").await;
        let done = sam.text("#done").await;
        assert!(done.contains("was about its lines as they were, so it has ended, unanswered"), "{done}");
        assert!(sam.exists("#ask-approval").await, "to ask again");
        sam.fill("#ask-reason", "The customer has it in writing").await;
        sam.submit("#ask-approval-button").await;
        assert!(sam.text("#done").await.starts_with("Request sent to finance"));

        fiona.goto(&page).await;
        assert!(fiona.text("#approval-asked").await.contains("The customer has it in writing"));
        fiona.fill("#reason", "Written offer from March").await;
        fiona.submit("#override").await;
        fiona.goto("/quotes?state=awaiting_approval").await;
        assert!(fiona.exists("#no-quotes").await, "answered: {}", fiona.body().await);

        sam.goto(&page).await;
        assert!(sam.text("#gate-ready").await.contains("Ready to finalise"), "{}", sam.body().await);
        sam.submit("#finalise").await;
        sam.submit("#confirm-finalise").await;
        assert_eq!(sam.text("#quote-state").await, "finalised");
        assert!(sam.text("#evidence-override").await.contains("Written offer from March"));
        sam.screenshot("42-finalised-with-approval").await;
    })
    .await;
}
