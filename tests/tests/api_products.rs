//! The price list: adding products one by one, renaming them, and importing
//! a CSV file whole or not at all.

use pricegate_domain::Role;
use pricegate_store::entity::notices;
use pricegate_tests::fixtures::{
    assert_error, create_product, date_in_days, draft_quote, field, id_of, publish_price_change, quote_request,
    send_raw,
};
use pricegate_tests::pages::{client, csrf_in, page_as, session_cookie, set_cookie};
use pricegate_tests::{Response, Session, TestApp, both_backends};
use reqwest::Method;
use reqwest::header::COOKIE;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

const HEADER: &str = "sku,name,unit,currency,unit_price_minor\n";

async fn import(finance: &Session, body: impl Into<reqwest::Body>) -> Response {
    send_raw(finance, Method::POST, "/api/v1/products/import", Some("text/csv"), body).await
}

/// The lines the refusal of an import names, in order.
fn error_lines(r: &Response) -> Vec<u64> {
    r.body["error"]["errors"]
        .as_array()
        .map_or(vec![], |errors| errors.iter().filter_map(|e| e["line"].as_u64()).collect())
}

async fn skus(session: &Session) -> Vec<String> {
    let r = session.get("/api/v1/products").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body.as_array().unwrap().iter().map(|p| p["sku"].as_str().unwrap().to_owned()).collect()
}

both_backends! {
    async fn finance_adds_a_product_that_everyone_then_sees(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let r = finance
            .post("/api/v1/products", &json!({"sku": "PUMP-100/A", "name": " Pump ", "unit": "each", "currency": "eur", "unit_price_minor": 250_000}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(r.body["id"].is_string());
        assert_eq!(r.body["sku"], "PUMP-100/A");
        assert_eq!(r.body["name"], "Pump");
        assert_eq!(r.body["currency"], "EUR");
        assert_eq!(r.body["unit_price_minor"], 250_000);

        let list = sam.get("/api/v1/products").await;
        assert_eq!(list.status, 200);
        assert_eq!(list.body.as_array().unwrap().len(), 1);
        assert_eq!(list.body[0]["id"], r.body["id"]);
        assert_eq!(list.body[0]["unit_price_minor"], 250_000);
        assert_eq!(list.body[0]["price_since"], Value::Null, "the list price stands");

        // Where a new product is, as a new notice, quote or account says too.
        let body = json!({"sku": "PUMP-3", "name": "Pump", "unit": "each", "currency": "EUR", "unit_price_minor": 1});
        let made = finance.request(reqwest::Method::POST, "/api/v1/products").json(&body).send().await.expect("a product");
        let location = made.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
        let made: Value = made.json().await.expect("the product");
        assert_eq!(location, Some(format!("/api/v1/products/{}", made["id"].as_str().unwrap_or_default())));
        assert_eq!(sam.get(location.as_deref().unwrap_or_default()).await.body["sku"], "PUMP-3");
    }
}

both_backends! {
    async fn the_price_list_says_since_when_each_price_is_in_force(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let pump = id_of(&create_product(&finance, "PUMP-1", "EUR", 250_000).await);
        create_product(&finance, "VALVE-1", "EUR", 4_990).await;
        create_product(&finance, "HOSE-1", "EUR", 1_000).await;
        let (two_days_ago, yesterday, today) = (date_in_days(-2), date_in_days(-1), date_in_days(0));
        // Published on the day each takes force (the notice's publication
        // moved back to it, as if published then).
        let on_its_day = |notice: String, day: i64| {
            let at = chrono::Utc::now() + chrono::Duration::days(day);
            notices::Entity::update_many()
                .col_expr(notices::Column::PublishedAt, Expr::value(at))
                .filter(notices::Column::Id.eq(uuid::Uuid::parse_str(&notice).expect("a notice id")))
                .exec(app.store.connection())
        };
        on_its_day(publish_price_change(&finance, "PUMP-1", 260_000, &two_days_ago).await, -2).await.unwrap();
        on_its_day(publish_price_change(&finance, "PUMP-1", 270_000, &yesterday).await, -1).await.unwrap();
        // Announced, not yet in force: today's price and its date stay.
        publish_price_change(&finance, "PUMP-1", 280_000, &date_in_days(30)).await;
        // Restated today: the price has stood since yesterday all the same.
        publish_price_change(&finance, "PUMP-1", 270_000, &today).await;
        // A notice restating a list price leaves it the list price.
        on_its_day(publish_price_change(&finance, "VALVE-1", 4_990, &yesterday).await, -1).await.unwrap();
        // Dated two days ago, published today: in force since today, when
        // it was published, as its notice's page says too, and the page of
        // a quote it holds up.
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "HOSE-1", "quantity": 1}])).await);
        let backdated = publish_price_change(&finance, "HOSE-1", 1_100, &two_days_ago).await;
        let html = page_as(&app.base, &sam_user.email, &format!("/quotes/{quote}")).await;
        // The day kept on one line, the words after it free to wrap.
        assert!(html.contains(&format!("<span class=\"date\">{today}</span>, on publication (dated {two_days_ago})")), "{html}");

        let list = finance.get("/api/v1/products").await;
        let by_sku = |sku: &str| list.body.as_array().unwrap().iter().find(|p| p["sku"] == sku).cloned().unwrap();
        let price = |sku: &str| (by_sku(sku)["unit_price_minor"].clone(), by_sku(sku)["price_since"].clone());
        assert_eq!(price("PUMP-1"), (json!(270_000), json!(yesterday)));
        assert_eq!(price("VALVE-1"), (json!(4_990), Value::Null));
        assert_eq!(price("HOSE-1"), (json!(1_100), json!(today)));
        let renamed = finance.patch(&format!("/api/v1/products/{pump}"), &json!({"name": "Pump, stainless"})).await;
        assert_eq!(renamed.body["price_since"], json!(yesterday), "{}", renamed.text);
        let html = page_as(&app.base, &fiona.email, &format!("/notices/{backdated}")).await;
        assert!(html.contains(&format!("<span class=\"date\">{today}</span>, on publication (dated {two_days_ago})")), "{html}");
    }
}

both_backends! {
    async fn a_second_product_with_the_same_sku_is_a_conflict(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        create_product(&finance, "PUMP-1", "EUR", 100).await;
        let r = finance
            .post("/api/v1/products", &json!({"sku": "PUMP-1", "name": "Other", "unit": "each", "currency": "USD", "unit_price_minor": 5}))
            .await;
        assert_error(&r, 409, "sku_taken");
        assert_eq!(r.body["error"]["message"], "PUMP-1 is already on the price list.");
        // SKUs match exactly, so one that differs only in case would be taken for it.
        let r = finance
            .post("/api/v1/products", &json!({"sku": "pump-1", "name": "Other", "unit": "each", "currency": "EUR", "unit_price_minor": 5}))
            .await;
        assert_error(&r, 409, "sku_taken");
        assert_eq!(
            r.body["error"]["message"],
            "pump-1 differs only in case from PUMP-1, which is already on the price list: choose a SKU that differs in \
             more than case."
        );
        // Dots alone are no name in an address (/products/.. is /): no SKU.
        for dots in [".", ".."] {
            let r = finance
                .post("/api/v1/products", &json!({"sku": dots, "name": "Dots", "unit": "each", "currency": "EUR", "unit_price_minor": 5}))
                .await;
            assert_error(&r, 422, "invalid_field");
            assert_eq!(r.body["error"]["field"], "sku", "{dots}");
        }
        assert_eq!(skus(&finance).await, ["PUMP-1"]);
        let price = finance.get("/api/v1/products").await.body[0]["unit_price_minor"].clone();
        assert_eq!(price, 100, "the refused product changed nothing");
    }
}

both_backends! {
    async fn a_product_with_a_bad_field_is_refused_and_names_it(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let good = json!({"sku": "PUMP-1", "name": "Pump", "unit": "each", "currency": "EUR", "unit_price_minor": 100});
        for (key, value, expected) in [
            ("currency", json!("EURO"), "currency"),
            ("currency", json!("ABC"), "currency"),
            ("unit_price_minor", json!(-1), "unit_price_minor"),
            ("unit_price_minor", json!(10_000_000_001i64), "unit_price_minor"),
            ("unit_price_minor", json!(i64::MAX), "unit_price_minor"),
            ("sku", json!("has space"), "sku"),
            ("sku", json!(""), "sku"),
            ("sku", json!("X".repeat(65)), "sku"),
            ("name", json!(""), "name"),
            ("name", json!("N".repeat(201)), "name"),
            ("unit", json!("bell\u{7}"), "unit"),
        ] {
            let mut body = good.clone();
            body[key] = value.clone();
            let r = finance.post("/api/v1/products", &body).await;
            assert_error(&r, 422, "invalid_field");
            assert_eq!(field(&r), expected, "{key} = {value}: {}", r.text);
        }
        assert!(skus(&finance).await.is_empty());
    }
}

both_backends! {
    async fn finance_renames_a_product_and_changes_its_unit_but_not_its_sku_currency_or_price(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let created = create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let id = id_of(&created);

        let r = finance.patch(&format!("/api/v1/products/{id}"), &json!({"name": " Pump, stainless "})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["name"], "Pump, stainless");
        assert_eq!(r.body["unit"], created["unit"], "a unit not sent stays");
        // Not quoted and not priced by a notice yet: its unit may change.
        let r = finance.patch(&format!("/api/v1/products/{id}"), &json!({"unit": "box of 10"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["name"], "Pump, stainless", "a name not sent stays");
        assert_eq!(r.body["unit"], "box of 10");
        for key in ["id", "sku", "currency", "unit_price_minor"] {
            assert_eq!(r.body[key], created[key], "{key} does not change");
        }

        let list = sam.get("/api/v1/products").await;
        assert_eq!(list.body[0]["name"], "Pump, stainless", "everyone sees the new name: {}", list.text);
        assert_eq!(list.body[0]["unit"], "box of 10");
        let audit = finance.get("/api/v1/audit").await;
        let updates: Vec<&Value> =
            audit.body.as_array().unwrap().iter().filter(|row| row["action"] == "product.updated").collect();
        assert_eq!(updates.len(), 2, "{}", audit.text);
        assert_eq!(updates[0]["actor_id"], json!(fiona.id));
        assert_eq!(updates[0]["subject_id"], json!(id));
        assert_eq!(updates[0]["detail"]["after"]["unit"], "box of 10");
    }
}

both_backends! {
    /// A price is a price per unit: once a quote has carried a product, or a
    /// notice priced it, its unit would change what those prices mean, with
    /// no notice. Its name may still be corrected.
    async fn a_products_unit_cannot_change_once_it_has_been_quoted_or_priced(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let pump = id_of(&create_product(&finance, "PUMP-1", "EUR", 250_000).await);
        let valve = id_of(&create_product(&finance, "VALVE-1", "EUR", 1_000).await);
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 2}])).await);
        let html = page_as(&app.base, &sam_user.email, &format!("/quotes/{quote}")).await;
        assert!(html.contains("2,500.00 EUR <span class=\"muted unit\">each</span>"), "each line says its unit: {html}");
        publish_price_change(&finance, "VALVE-1", 1_100, &date_in_days(30)).await;

        let box_of_10 = json!({"unit": "box of 10"});
        let r = finance.patch(&format!("/api/v1/products/{pump}"), &box_of_10).await;
        assert_error(&r, 409, "unit_in_use");
        let said = r.body["error"]["message"].as_str().unwrap_or_default().to_owned();
        assert!(said.starts_with("PUMP-1 has been quoted with its unit \u{201c}each\u{201d}: the unit is part of what those prices mean"), "{said}");
        // Cancelled, the quote still said "each".
        assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{quote}/cancel")).await.status, 200);
        assert_error(&finance.patch(&format!("/api/v1/products/{pump}"), &box_of_10).await, 409, "unit_in_use");
        let r = finance.patch(&format!("/api/v1/products/{valve}"), &box_of_10).await;
        assert_error(&r, 409, "unit_in_use");
        assert!(r.text.contains("VALVE-1 has been priced by a published notice with its unit \u{201c}each\u{201d}"), "{}", r.text);
        // The same unit, or a new name, is no change to the prices.
        let r = finance.patch(&format!("/api/v1/products/{pump}"), &json!({"unit": "each", "name": "Pump, stainless"})).await;
        assert_eq!((r.status.as_u16(), r.body["name"].as_str()), (200, Some("Pump, stainless")), "{}", r.text);
        let products = finance.get("/api/v1/products").await.body;
        assert!(products.as_array().into_iter().flatten().all(|p| p["unit"] == "each"), "{products}");
    }
}

both_backends! {
    /// Two people in finance edit a product from pages opened on the same
    /// version: the second save is refused, not written over the first, and
    /// shows what the product is now beside what was typed, to save again.
    async fn a_product_edited_from_a_page_opened_before_a_colleagues_change_is_not_saved_over_it(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (_, fred) = app.user(Role::Finance, "Fred").await;
        let pump = id_of(&create_product(&finance, "PUMP-1", "EUR", 250_000).await);
        let (fiona_cookie, fred_cookie) = (session_cookie(&app.base, &fiona.email).await, session_cookie(&app.base, &fred.email).await);
        let base = app.base.as_str();
        let (fiona_page, fred_page) = (product_form(base, &pump, &fiona_cookie).await, product_form(base, &pump, &fred_cookie).await);
        assert_eq!(save_product(base, &pump, &fiona_cookie, &fiona_page, "Pump D20 (new model)", "each").await.0, 303);

        // A refusal of his own first (an empty name) keeps the version his page was opened on.
        let (status, refused) = save_product(base, &pump, &fred_cookie, &fred_page, " ", "pack of 2").await;
        assert_eq!(status, 422, "{refused}");
        let (status, body) = save_product(base, &pump, &fred_cookie, &refused, "Product PUMP-1", "pack of 2").await;
        assert_eq!(status, 409, "{body}");
        assert!(body.contains("PUMP-1 changed after you opened it"), "{body}");
        assert!(body.contains("It is now named <strong>Pump D20 (new model)</strong>, its unit <strong>each</strong>, on sale."), "{body}");
        assert!(body.contains("value=\"pack of 2\""), "what Fred typed stays in the form: {body}");
        let product = finance.get("/api/v1/products").await.body[0].clone();
        assert_eq!((product["name"].as_str(), product["unit"].as_str()), (Some("Pump D20 (new model)"), Some("each")), "{product}");

        // Saved again from the page that told him, it is his choice to make.
        let (status, body) = save_product(base, &pump, &fred_cookie, &body, "Pump D20 (new model)", "pack of 2").await;
        assert_eq!(status, 303, "{body}");
        let product = finance.get("/api/v1/products").await.body[0].clone();
        assert_eq!((product["name"].as_str(), product["unit"].as_str()), (Some("Pump D20 (new model)"), Some("pack of 2")), "{product}");
        let audit = finance.get("/api/v1/audit?action=product.updated").await.body;
        assert_eq!(audit.as_array().map(Vec::len), Some(2), "Fiona's and Fred's second: {audit}");
        // A form from a page without the version saves nothing until shown the product as it is.
        let form = [("csrf_token", csrf_in(&fred_page)), ("name", "Pump D20".to_owned()), ("unit", "each".to_owned())];
        let r = client().post(format!("{base}/products/{pump}/edit")).header(COOKIE, &fred_cookie).form(&form).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 409);
        // Saved as it is, it is said so, and nothing is written.
        let html = product_form(base, &pump, &fiona_cookie).await;
        let form = [
            ("csrf_token", csrf_in(&html)),
            ("seen", pricegate_tests::pages::hidden_in(&html, "seen")),
            ("name", "Pump D20 (new model)".to_owned()),
            ("unit", "pack of 2".to_owned()),
        ];
        let r = client().post(format!("{base}/products/{pump}/edit")).header(COOKIE, &fiona_cookie).form(&form).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303);
        let list = told_on_the_list(base, &fiona_cookie, &r).await;
        assert!(list.contains("Nothing to save: the form was as PUMP-1 is (Pump D20 (new model), unit: pack of 2)."), "{list}");
        let audit = finance.get("/api/v1/audit?action=product.updated").await.body;
        assert_eq!(audit.as_array().map(Vec::len), Some(2), "{audit}");
    }
}

/// A product's edit page, as `cookie`'s browser opens it.
async fn product_form(base: &str, product: &str, cookie: &str) -> String {
    let r = client().get(format!("{base}/products/{product}/edit")).header(COOKIE, cookie).send().await.unwrap();
    r.text().await.unwrap_or_default()
}

/// Saves the edit form of `html` (the page it came on) with `name` and `unit`.
async fn save_product(base: &str, product: &str, cookie: &str, html: &str, name: &str, unit: &str) -> (u16, String) {
    let form = [
        ("csrf_token", csrf_in(html)),
        ("seen", pricegate_tests::pages::hidden_in(html, "seen")),
        ("name", name.to_owned()),
        ("unit", unit.to_owned()),
    ];
    let url = format!("{base}/products/{product}/edit");
    let r = client().post(url).header(COOKIE, cookie).form(&form).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

both_backends! {
    /// Finance withdraws a product from sale on its page: the drafts that
    /// carry it keep it (edited, in as many as they carry or fewer, repriced,
    /// finalised), and no quote takes it on as a new line, by the API or the
    /// form, until it is back on sale.
    async fn a_product_withdrawn_from_sale_stays_on_the_quotes_that_carry_it(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let pump = id_of(&create_product(&finance, "PUMP-1", "EUR", 250_000).await);
        create_product(&finance, "VALVE-1", "EUR", 1_000).await;
        let carrying = id_of(&draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 2}])).await);
        let signed = id_of(&draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 1}])).await);

        // On its page, as finance does it.
        let cookie = session_cookie(&app.base, &fiona.email).await;
        let html = client()
            .get(format!("{}/products/{pump}/edit", app.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .expect("the product's page");
        let html = html.text().await.unwrap_or_default();
        assert!(html.contains("Withdraw PUMP-1 from sale"), "{html}");
        let r = client()
            .post(format!("{}/products/{pump}/sale", app.base))
            .header(COOKIE, &cookie)
            .form(&[("csrf_token", csrf_in(&html).as_str()), ("on_sale", "no")])
            .send()
            .await
            .expect("withdraw");
        assert_eq!(r.status(), 303);
        let list = told_on_the_list(&app.base, &cookie, &r).await;
        assert!(list.contains("Withdrew PUMP-1 (Product PUMP-1) from sale: the quotes that carry it keep it"), "{list}");
        assert!(list.contains("Withdrawn from sale 20"), "the list marks it: {list}");
        // Pressed again (a second tab, the back button): said so, nothing written.
        let r = client()
            .post(format!("{}/products/{pump}/sale", app.base))
            .header(COOKIE, &cookie)
            .form(&[("csrf_token", csrf_in(&html).as_str()), ("on_sale", "no")])
            .send()
            .await
            .expect("withdraw again");
        let again = told_on_the_list(&app.base, &cookie, &r).await;
        assert!(again.contains("PUMP-1 (Product PUMP-1) was withdrawn from sale already: nothing changed."), "{again}");
        let product = finance.get("/api/v1/products").await.body[0].clone();
        let withdrawn_at = product["withdrawn_at"].as_str().expect("withdrawn_at").to_owned();
        // Withdrawn again, it keeps its day; nothing is written.
        let r = finance.patch(&format!("/api/v1/products/{pump}"), &json!({"withdrawn": true})).await;
        assert_eq!((r.status.as_u16(), r.body["withdrawn_at"].as_str()), (200, Some(withdrawn_at.as_str())), "{}", r.text);
        let audit = finance.get("/api/v1/audit").await.body;
        let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|a| a["action"].as_str()).collect();
        assert_eq!(actions.iter().filter(|a| a.starts_with("product.") && **a != "product.created").count(), 1, "{audit}");
        assert!(actions.contains(&"product.withdrawn"), "{audit}");

        // No new quote takes it on, and nothing is written.
        let before = sam.get("/api/v1/quotes").await.body.as_array().map(Vec::len);
        let r = sam.post("/api/v1/quotes", &quote_request(json!([{"sku": "VALVE-1", "quantity": 1}, {"sku": "PUMP-1", "quantity": 1}]))).await;
        assert_error(&r, 422, "product_withdrawn");
        assert_eq!(field(&r), "lines[1].sku");
        assert!(r.text.contains("PUMP-1 (Product PUMP-1) is withdrawn from sale"), "{}", r.text);
        assert_eq!(sam.get("/api/v1/quotes").await.body.as_array().map(Vec::len), before);
        // Nor does the new-quote form offer it; sent anyway, it is named.
        let sam_cookie = session_cookie(&app.base, &sam_user.email).await;
        let form = client().get(format!("{}/quotes/new", app.base)).header(COOKIE, &sam_cookie).send().await.unwrap();
        let form = form.text().await.unwrap_or_default();
        assert!(form.contains("value=\"VALVE-1\"") && !form.contains("value=\"PUMP-1\""), "{form}");
        let sam_id = sam_user.id.to_string();
        let fields = [
            ("csrf_token", csrf_in(&form)), ("customer_name", "Greta Berg".into()), ("customer_email", "greta@nordwind.example".into()),
            ("valid_until", "2099-12-31".into()), ("signer_id", sam_id), ("rows", "1".into()), ("sku_0", "PUMP-1".into()), ("quantity_0", "1".into()),
        ];
        let r = client().post(format!("{}/quotes/new", app.base)).header(COOKIE, &sam_cookie).form(&fields).send().await.unwrap();
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap_or_default().contains("PUMP-1 (Product PUMP-1) is withdrawn from sale"));

        // The draft that carries it keeps it: edited, repriced, finalised.
        let page = page_as(&app.base, &sam_user.email, &format!("/quotes/{carrying}")).await;
        assert!(page.contains("badge withdrawn"), "the draft's line says so: {page}");
        let edit = page_as(&app.base, &sam_user.email, &format!("/quotes/{carrying}/edit")).await;
        assert!(edit.contains("withdrawn from sale, kept on this quote"), "{edit}");
        // It keeps the two it carried, or fewer, in any lines; never more.
        let lines = json!({"lines": [{"sku": "PUMP-1", "quantity": 3}, {"sku": "VALVE-1", "quantity": 1}]});
        let r = sam.patch(&format!("/api/v1/quotes/{carrying}"), &lines).await;
        assert_error(&r, 422, "product_withdrawn");
        assert_eq!(field(&r), "lines[0].quantity");
        assert!(r.text.contains("this quote keeps the 2 it carried, in all its lines together, or fewer"), "{}", r.text);
        let split = json!({"lines": [{"sku": "PUMP-1", "quantity": 2}, {"sku": "VALVE-1", "quantity": 1}, {"sku": "PUMP-1", "quantity": 1}]});
        let r = sam.patch(&format!("/api/v1/quotes/{carrying}"), &split).await;
        assert_error(&r, 422, "product_withdrawn");
        assert_eq!(field(&r), "lines[2].quantity", "the line that goes beyond");
        let fewer = json!({"lines": [{"sku": "PUMP-1", "quantity": 1}, {"sku": "VALVE-1", "quantity": 1}, {"sku": "PUMP-1", "quantity": 1}]});
        let r = sam.patch(&format!("/api/v1/quotes/{carrying}"), &fewer).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((r.body["lines"][0]["quantity"].as_i64(), r.body["lines"][2]["quantity"].as_i64()), (Some(1), Some(1)));
        assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{carrying}/reprice")).await.status, 200);
        let r = sam.patch(&format!("/api/v1/quotes/{carrying}"), &json!({"lines": [{"sku": "PUMP-1", "quantity": 1}, {"sku": "VALVE-1", "quantity": 2}]})).await;
        assert_eq!(r.status, 200, "fewer again: {}", r.text);
        let r = sam.patch(&format!("/api/v1/quotes/{carrying}"), &json!({"lines": [{"sku": "PUMP-1", "quantity": 2}]})).await;
        assert_error(&r, 422, "product_withdrawn");
        // Dropped, it is not taken on again.
        let r = sam.patch(&format!("/api/v1/quotes/{carrying}"), &json!({"lines": [{"sku": "VALVE-1", "quantity": 1}]})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = sam.patch(&format!("/api/v1/quotes/{carrying}"), &lines).await;
        assert_error(&r, 422, "product_withdrawn");
        let second = id_of(&draft_quote(&sam, json!([{"sku": "VALVE-1", "quantity": 1}])).await);
        let r = sam.post_empty(&format!("/api/v1/quotes/{signed}/finalise")).await;
        assert_eq!((r.status.as_u16(), r.body["lines"][0]["sku"].as_str()), (200, Some("PUMP-1")), "{}", r.text);

        // Back on sale, by the API: quotes take it on again.
        let r = finance.patch(&format!("/api/v1/products/{pump}"), &json!({"withdrawn": false})).await;
        assert_eq!((r.status.as_u16(), &r.body["withdrawn_at"]), (200, &Value::Null), "{}", r.text);
        let r = sam.patch(&format!("/api/v1/quotes/{second}"), &lines).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let audit = finance.get("/api/v1/audit").await.body;
        assert!(audit.as_array().unwrap().iter().any(|a| a["action"] == "product.returned_to_sale"), "{audit}");
        assert_error(&sam.patch(&format!("/api/v1/products/{pump}"), &json!({"withdrawn": true})).await, 403, "forbidden");
    }
}

both_backends! {
    async fn renaming_a_product_with_a_bad_field_an_unknown_id_or_a_price_is_refused(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let created = create_product(&finance, "PUMP-1", "EUR", 100).await;
        let path = format!("/api/v1/products/{}", id_of(&created));
        for (body, expected) in [
            (json!({"name": ""}), "name"),
            (json!({"name": "N".repeat(201)}), "name"),
            (json!({"unit": "bell\u{7}"}), "unit"),
            (json!({"unit": "U".repeat(33)}), "unit"),
        ] {
            let r = finance.patch(&path, &body).await;
            assert_error(&r, 422, "invalid_field");
            assert_eq!(field(&r), expected, "{body}: {}", r.text);
        }
        // The price moves only through a notice, and the sku never.
        assert_error(&finance.patch(&path, &json!({"unit_price_minor": 1})).await, 422, "price_by_notice");
        assert_error(&finance.patch(&path, &json!({"sku": "PUMP-2"})).await, 422, "invalid_body");
        assert_error(&finance.patch(&path, &json!({"name": 5})).await, 422, "invalid_body");
        let r = send_raw(&finance, Method::PATCH, &path, Some("application/json"), "{\"name\":").await;
        assert_error(&r, 400, "malformed_json");
        let unknown = format!("/api/v1/products/{}", uuid::Uuid::new_v4());
        assert_error(&finance.patch(&unknown, &json!({"name": "Ghost"})).await, 404, "not_found");
        assert_error(&finance.patch("/api/v1/products/not-an-id", &json!({"name": "Ghost"})).await, 400, "invalid_id");
        assert_error(&sam.patch(&path, &json!({"name": "Mine"})).await, 403, "forbidden");

        // Bodies over 256 KiB are refused before they are read, here as on every JSON route.
        let huge = "x".repeat(300 * 1024);
        assert_error(&finance.patch(&path, &json!({"name": huge})).await, 413, "body_too_large");
        let product = json!({"sku": "P-9", "name": huge, "unit": "each", "currency": "EUR", "unit_price_minor": 1});
        assert_error(&finance.post("/api/v1/products", &product).await, 413, "body_too_large");

        let list = finance.get("/api/v1/products").await;
        assert_eq!(list.body[0], created, "nothing refused changed the product");
    }
}

both_backends! {
    async fn importing_a_good_file_adds_every_product(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let csv = format!("\u{feff}{HEADER}P-1,Pump,each,EUR,125000\n\nP-2,\"Hose, 10 m\",roll,eur,4999\r\nP-3,Valve,each,USD,0\n");
        let r = import(&finance, csv).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["imported"], 3);
        assert_eq!(skus(&finance).await, ["P-1", "P-2", "P-3"]);
        let products = finance.get("/api/v1/products").await.body;
        assert_eq!(products[1]["name"], "Hose, 10 m");
        assert_eq!(products[1]["currency"], "EUR");
        // Who added a product, and when, is found by its id, imported or not.
        let audit = finance.get(&format!("/api/v1/audit?subject={}", products[1]["id"].as_str().unwrap())).await.body;
        let entries = audit.as_array().expect("a list");
        assert_eq!(entries.len(), 1, "{audit}");
        assert_eq!((entries[0]["action"].as_str(), entries[0]["detail"]["sku"].as_str()), (Some("product.created"), Some("P-2")));
        assert_eq!(entries[0]["detail"]["imported"], true, "{audit}");
        let imported = finance.get("/api/v1/audit?action=product.imported").await.body;
        assert_eq!(imported[0]["detail"]["count"], 3, "and the import's own row: {imported}");
    }
}

both_backends! {
    async fn a_file_may_give_prices_as_people_write_them(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let r = import(&finance, "sku,name,unit,currency,unit_price\nP-1,Pump,each,EUR,\"1,250.00\"\nP-2,Hose,roll,JPY,4999\n").await;
        assert_eq!(r.status, 201, "{}", r.text);
        let products = finance.get("/api/v1/products").await.body;
        assert_eq!((&products[0]["unit_price_minor"], &products[1]["unit_price_minor"]), (&json!(125_000), &json!(4_999)));
        let r = import(&finance, "sku,name,unit,currency,unit_price\nP-3,Tap,each,EUR,12.505\n").await;
        assert_error(&r, 422, "invalid_csv");
        assert_eq!(error_lines(&r), [2]);
    }
}

both_backends! {
    async fn a_file_sent_as_anything_but_csv_is_unsupported_and_imports_nothing(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let csv = format!("{HEADER}P-1,Pump,each,EUR,125000\n");
        for content_type in [None, Some("application/json"), Some("application/x-www-form-urlencoded")] {
            let r = send_raw(&finance, Method::POST, "/api/v1/products/import", content_type, csv.clone()).await;
            assert_error(&r, 415, "unsupported_media_type");
        }
        assert!(skus(&finance).await.is_empty());
        let r = send_raw(&finance, Method::POST, "/api/v1/products/import", Some("text/csv; charset=utf-8"), csv).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
}

both_backends! {
    async fn a_file_with_one_bad_line_imports_nothing_and_names_the_line(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let csv = format!("{HEADER}P-1,Pump,each,EUR,125000\nP-2,Hose,roll,EUR,12.50\nP-3,Valve,each,EUR,300\n");
        let r = import(&finance, csv).await;
        assert_error(&r, 422, "invalid_csv");
        assert_eq!(error_lines(&r), [3]);
        assert_eq!(r.body["error"]["errors"][0]["field"], "unit_price_minor");
        assert!(skus(&finance).await.is_empty(), "nothing was imported");

        // Every problem is reported at once, each against its own line.
        let csv = format!("{HEADER}P 1,Pump,each,EUR,1\nP-2,Hose,roll,XYZ,1\nP-3,Tap,each,EUR\nP-4,Ok,each,EUR,1\nP-4,Dup,each,EUR,2\nP-5,Neg,each,EUR,-3\n");
        let r = import(&finance, csv).await;
        assert_error(&r, 422, "invalid_csv");
        assert_eq!(error_lines(&r), [2, 3, 4, 6, 7]);
        let fields: Vec<Value> = r.body["error"]["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
        assert_eq!(fields, [json!("sku"), json!("currency"), Value::Null, json!("sku"), json!("unit_price_minor")]);
        assert!(skus(&finance).await.is_empty());
    }
}

both_backends! {
    async fn importing_a_sku_that_already_exists_names_its_line_and_imports_nothing(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        create_product(&finance, "P-2", "EUR", 100).await;
        let r = import(&finance, format!("{HEADER}P-1,Pump,each,EUR,125000\nP-2,Hose,roll,EUR,4999\n")).await;
        assert_error(&r, 422, "invalid_csv");
        assert_eq!(error_lines(&r), [3]);
        assert_eq!(r.body["error"]["errors"][0]["field"], "sku");
        assert_eq!(skus(&finance).await, ["P-2"]);
        // Or one that differs only in case, on the list or earlier in the file.
        let r = import(&finance, format!("{HEADER}p-2,Hose,roll,EUR,4999\nV-1,Valve,each,EUR,10\nv-1,Valve,each,EUR,10\n")).await;
        assert_error(&r, 422, "invalid_csv");
        let said: Vec<(i64, &str)> = r.body["error"]["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| Some((e["line"].as_i64()?, e["message"].as_str()?)))
            .collect();
        assert_eq!(
            said,
            [
                (
                    2,
                    "p-2 differs only in case from P-2, which is already on the price list: choose a SKU that differs \
                     in more than case.",
                ),
                (4, "v-1 differs only in case from V-1 on line 3."),
            ],
            "{}",
            r.text
        );
        assert_eq!(skus(&finance).await, ["P-2"]);
    }
}

both_backends! {
    async fn an_empty_file_a_wrong_header_or_a_header_alone_is_refused(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        for (csv, line) in [
            ("", 1),
            ("sku,name,unit,currency\nP-1,Pump,each,EUR\n", 1),
            ("name,sku,unit,currency,unit_price_minor\nPump,P-1,each,EUR,1\n", 1),
            (HEADER, 2),
            ("\"unterminated\n", 1),
        ] {
            let r = import(&finance, csv).await;
            assert_error(&r, 422, "invalid_csv");
            assert_eq!(error_lines(&r), [line], "{csv:?}: {}", r.text);
        }
        assert!(skus(&finance).await.is_empty());
    }
}

both_backends! {
    async fn a_file_that_is_not_utf8_is_refused_at_its_line(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let mut csv = format!("{HEADER}P-1,Pump,each,EUR,1\n").into_bytes();
        csv.extend_from_slice(b"P-2,Pr\xe9ssure,each,EUR,1\n");
        let r = import(&finance, csv).await;
        assert_error(&r, 422, "invalid_csv");
        assert_eq!(error_lines(&r), [3]);
        assert!(skus(&finance).await.is_empty());
    }
}

both_backends! {
    async fn an_oversized_file_is_refused_whole(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let mut csv = String::from(HEADER);
        let mut n = 0;
        while csv.len() <= 5 * 1024 * 1024 {
            csv.push_str(&format!("P-{n},A product with a rather long name to fill the file,each,EUR,{n}\n"));
            n += 1;
        }
        let r = import(&finance, csv).await;
        assert_error(&r, 413, "body_too_large");
        assert!(skus(&finance).await.is_empty());

        let many: String = (0..10_001).map(|n| format!("P-{n},Pump,each,EUR,1\n")).collect();
        let r = import(&finance, format!("{HEADER}{many}")).await;
        assert_error(&r, 422, "invalid_csv");
        assert!(skus(&finance).await.is_empty());
    }
}

both_backends! {
    async fn of_skus_that_differ_only_in_case_sent_at_once_one_is_added(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let spellings = ["PUMP-9", "pump-9", "Pump-9", "pUMP-9", "PuMp-9", "pump-9", "PUMP-9", "pUmP-9"];
        let mut sent = tokio::task::JoinSet::new();
        for sku in spellings {
            let finance = finance.clone();
            sent.spawn(async move {
                let product = json!({"sku": sku, "name": "Pump", "unit": "each", "currency": "EUR", "unit_price_minor": 100});
                finance.post("/api/v1/products", &product).await
            });
        }
        let mut added = 0;
        while let Some(r) = sent.join_next().await {
            let r = r.expect("the request task");
            if r.status == 201 {
                added += 1;
            } else {
                assert_error(&r, 409, "sku_taken");
            }
        }
        assert_eq!(added, 1, "one product, however its SKU was spelled");
        assert_eq!(skus(&finance).await.len(), 1);
    }
}

/// The skus on a price-list page, in the order it lists them.
fn listed_skus(page: &str) -> Vec<String> {
    let table = page.split("<table id=\"products\"").nth(1).and_then(|t| t.split("</table>").next()).unwrap_or("");
    // Each SKU is a link to its price history.
    let text =
        |cell: &str| cell.split_once('>').map_or(cell, |(_, t)| t).split("</a>").next().unwrap_or(cell).to_owned();
    table.split("<tr><td>").skip(1).filter_map(|row| row.split("</td>").next()).map(text).collect()
}

/// Where a page's "More products" link leads, if it has one.
fn more_link(page: &str) -> Option<String> {
    let at = page.find("id=\"more-products\"")?;
    let before = &page[..at];
    let href = before.rfind("href=\"")? + "href=\"".len();
    Some(before[href..].split('"').next()?.replace("&#38;", "&"))
}

both_backends! {
    async fn a_long_price_list_comes_in_pages_and_finds_a_product_by_sku_or_name(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (_, sam) = app.user(Role::Sales, "Sam").await;
        let mut csv = HEADER.to_owned();
        for n in 1..=450 {
            csv.push_str(&format!("PART-{n:04},Valve {n:04},each,EUR,{}\n", 1_000 + n));
        }
        csv.push_str("PUMP-100,Nordic circulation pump,each,EUR,125000\n");
        csv.push_str("PCT-1,Gasket 50% rubber,each,EUR,100\n");
        assert_eq!(import(&finance, csv).await.status, 201);

        // Two hundred to a page, by sku, each page leading to the next.
        let first = page_as(&app.base, &sam.email, "/products").await;
        let skus = listed_skus(&first);
        assert_eq!((skus.len(), skus[0].as_str(), skus[199].as_str()), (200, "PART-0001", "PART-0200"));
        assert!(!first.contains("id=\"all-products\""), "the first page offers no way back to itself");
        let next = more_link(&first).expect("a link to the next page");
        assert_eq!(next, "/products?after=PART-0200");
        let second = page_as(&app.base, &sam.email, &next).await;
        assert_eq!(listed_skus(&second).first().map(String::as_str), Some("PART-0201"));
        let third = page_as(&app.base, &sam.email, &more_link(&second).expect("a third page")).await;
        let skus = listed_skus(&third);
        assert_eq!(skus.len(), 52, "{skus:?}");
        assert_eq!(&skus[50..], ["PCT-1", "PUMP-100"]);
        assert_eq!(more_link(&third), None);
        assert!(third.contains("id=\"all-products\""), "a later page leads back to the first");
        assert!(third.contains("<td class=\"num\" data-label=\"Price today\">1,250.00 EUR</td>"), "prices are shown on a later page: {third}");

        // Found by part of its name or sku, whatever the case; `%` is itself.
        let found = page_as(&app.base, &sam.email, "/products?q=CIRCULATION").await;
        assert_eq!(listed_skus(&found), ["PUMP-100"]);
        let found = page_as(&app.base, &sam.email, "/products?q=pump%20nordic").await;
        assert_eq!(listed_skus(&found), ["PUMP-100"], "each word, anywhere in the SKU or the name");
        assert!(listed_skus(&page_as(&app.base, &sam.email, "/products?q=pump%20hydrant").await).is_empty());
        assert!(found.contains("1,250.00 EUR"), "{found}");
        assert_eq!(listed_skus(&page_as(&app.base, &sam.email, "/products?q=part-044").await).len(), 10);
        assert_eq!(listed_skus(&page_as(&app.base, &sam.email, "/products?q=50%25").await), ["PCT-1"]);
        let found = page_as(&app.base, &sam.email, "/products?q=valve").await;
        assert_eq!(more_link(&found).as_deref(), Some("/products?q=valve&after=PART-0200"), "the search goes on to the next page");
        let none = page_as(&app.base, &sam.email, "/products?q=hydrant").await;
        assert!(listed_skus(&none).is_empty() && none.contains("No product’s SKU or name contains “hydrant”."), "{none}");
        let unread = page_as(&app.base, &sam.email, "/products?q=a&q=b").await;
        assert!(unread.contains("showing every product"), "{unread}");
        assert_eq!(listed_skus(&unread).len(), 200);

        // A product added is named by the list it leads back to, on whichever page it stands.
        let cookie = session_cookie(&app.base, &fiona.email).await;
        let list = client().get(format!("{}/products", app.base)).header(COOKIE, &cookie).send().await.unwrap();
        let csrf = csrf_in(&list.text().await.unwrap());
        let form = |price: &str| [
            ("csrf_token", csrf.clone()), ("sku", "ZETA-9".into()), ("name", "Zeta coupling".into()), ("unit", "each".into()),
            ("currency", "EUR".into()), ("price", price.into()),
        ];
        // A decimal comma is not read, and said so with the price as a point writes it.
        let (status, page) = pricegate_tests::pages::post_form(format!("{}/products", app.base), &cookie, &form("12,5")).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("“12,5” has a decimal comma, which is not read here: write the unit price with a point, as 12.5."), "{page}");
        let (status, page) = pricegate_tests::pages::post_form(format!("{}/products", app.base), &cookie, &form("12.50")).await;
        assert_eq!(status, 303, "{page}");
        assert!(page.contains("Added ZETA-9."), "{page}");
        assert_eq!(listed_skus(&page), ["ZETA-9"], "the list leads to it, though it stands on a later page");
        app.stop().await;
    }
}

both_backends! {
    async fn on_a_large_price_list_a_quote_line_takes_a_sku_typed_from_one_list_of_suggestions(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam_api, sam) = app.user(Role::Sales, "Sam").await;
        let new_quote_form = || async {
            let cookie = session_cookie(&app.base, &sam.email).await;
            let r = client().get(format!("{}/quotes/new", app.base)).header(COOKIE, &cookie).send().await.unwrap();
            (cookie, r.text().await.unwrap())
        };
        let mut csv = HEADER.to_owned();
        for n in 1..=150 {
            csv.push_str(&format!("PART-{n:03},Valve {n:03},each,EUR,{}\n", 1_000 + n));
        }
        assert_eq!(import(&finance, csv).await.status, 201);
        // A hundred and fifty: each line has its own list.
        let (_, form) = new_quote_form().await;
        assert!(form.contains("<select id=\"sku_0\"") && !form.contains("<datalist"), "{form}");
        let small = form.len();

        // One more: each line takes a sku typed, suggested from one list.
        create_product(&finance, "PUMP-100", "EUR", 125_000).await;
        let (cookie, form) = new_quote_form().await;
        assert!(!form.contains("<select id=\"sku_"), "no line has a list of its own");
        assert!(form.contains("id=\"sku_0\" name=\"sku_0\" value=\"\" list=\"product-choices\""), "{form}");
        assert_eq!(form.matches("<datalist").count(), 1);
        let choices = form.split("<datalist id=\"product-choices\">").nth(1).and_then(|d| d.split("</datalist>").next());
        assert_eq!(choices.map(|d| d.matches("<option").count()), Some(151));
        assert!(form.contains("<option value=\"PUMP-100\">PUMP-100 — Product PUMP-100 (1,250.00 EUR each)</option>"));
        assert!(form.len() * 2 < small, "five lists of 150 products against one of 151: {} against {small} bytes", form.len());

        // A sku typed is the line's product; one the price list does not hold is named.
        let sam_id = sam.id.to_string();
        let fields = |sku: &str| {
            vec![
                ("csrf_token", csrf_in(&form)), ("customer_name", "Greta Berg".to_owned()),
                ("customer_email", "greta@nordwind.example".to_owned()), ("valid_until", date_in_days(30)),
                ("signer_id", sam_id.clone()), ("rows", "1".to_owned()), ("sku_0", sku.to_owned()), ("quantity_0", "2".to_owned()),
            ]
        };
        let r = client().post(format!("{}/quotes/new", app.base)).header(COOKIE, &cookie).form(&fields("PUMP-99")).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let refused = r.text().await.unwrap();
        assert!(refused.contains("value=\"PUMP-99\" list=\"product-choices\""), "the sku typed is kept: {refused}");
        assert!(refused.contains("id=\"sku_0-error\""), "{refused}");
        let r = client().post(format!("{}/quotes/new", app.base)).header(COOKIE, &cookie).form(&fields("PUMP-100")).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let saved = r.headers().get("location").and_then(|l| l.to_str().ok()).expect("led to the quote").to_owned();
        let quote = sam_api.get(&format!("/api/v1{saved}")).await;
        assert_eq!(quote.body["lines"][0]["sku"], "PUMP-100", "{}", quote.text);
        assert_eq!(quote.body["lines"][0]["quantity"], 2);
        app.stop().await;
    }
}

both_backends! {
    /// A price list's preview names the products it would list at nought (a
    /// price column left at 0 sells them free); importing them is still allowed.
    async fn a_preview_names_the_products_priced_at_nought(backend: Backend) {
        use pricegate_tests::pages::{post_form, unwrapped};
        let app = TestApp::spawn(backend).await;
        let (_, fiona) = app.user(Role::Finance, "Fiona").await;
        let cookie = session_cookie(&app.base, &fiona.email).await;
        let list = client().get(format!("{}/products", app.base)).header(COOKIE, &cookie).send().await.unwrap();
        let csrf = csrf_in(&list.text().await.unwrap());
        let url = format!("{}/products/import", app.base);
        let form = |csv: &str, action: &str| vec![("csrf_token", csrf.clone()), ("csv", csv.to_owned()), ("action", action.to_owned())];
        let free = format!("{HEADER}HOSE-1,Hose,m,EUR,350\nSAMPLE-1,Sample,each,EUR,0\nBOLT-1,Bolt,each,JPY,0\n");
        let (status, page) = post_form(url.clone(), &cookie, &form(&free, "preview")).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            unwrapped(&page).contains(
                "2 of them are priced at nought, so a quote would take them at no charge: line 3 SAMPLE-1, \
                 line 4 BOLT-1. Check that is meant before importing"
            ),
            "{page}"
        );
        let priced = format!("{HEADER}HOSE-1,Hose,m,EUR,350\n");
        let (status, page) = post_form(url.clone(), &cookie, &form(&priced, "preview")).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Preview: 1 product to import") && !page.contains("id=\"free-lines\""), "{page}");
        let (status, page) = post_form(url.clone(), &cookie, &form(&free, "import")).await;
        assert_eq!(status, 303, "{page}");
        assert!(page.contains("Imported 3 products."), "{page}");
        // The same file again (Import pressed twice, another tab) is said as such, not line by line;
        // one with another price for a listed product is refused line by line, naming it.
        let repriced = free.replace("SAMPLE-1,Sample,each,EUR,0", "SAMPLE-1,Sample,each,EUR,10");
        let (status, page) = post_form(url.clone(), &cookie, &form(&repriced, "preview")).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("Line 3: ") && !page.contains("at the price it names"), "{page}");
        let (status, page) = post_form(url, &cookie, &form(&free, "import")).await;
        assert_eq!(status, 422, "{page}");
        assert!(
            page.contains("Every product in it is on the price list already, at the price it names: a file imported once")
                && !page.contains("Line 2:"),
            "{page}"
        );
        app.stop().await;
    }
}

both_backends! {
    /// Finance imports a price list again with a few new products: with the
    /// box ticked, the lines whose SKUs are listed already are left out (named
    /// in the preview), and the rest are imported; without it, nothing is.
    async fn a_price_list_imported_again_adds_only_its_new_products_when_asked_to(backend: Backend) {
        use pricegate_tests::pages::post_form;
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        create_product(&finance, "VALVE-1", "EUR", 4_990).await;
        let cookie = session_cookie(&app.base, &fiona.email).await;
        let list = client().get(format!("{}/products", app.base)).header(COOKIE, &cookie).send().await.unwrap();
        let csrf = csrf_in(&list.text().await.unwrap());
        let csv = format!("{HEADER}PUMP-1,Pump,each,EUR,260000\nVALVE-1,Valve,each,EUR,4990\nHOSE-1,Hose,m,EUR,350\nBOLT-1,Bolt,each,EUR,35\n");
        let form = |action: &str, leave_out: bool| {
            let mut form = vec![("csrf_token", csrf.clone()), ("csv", csv.clone()), ("action", action.to_owned())];
            if leave_out {
                form.push(("leave_out_listed", "1".to_owned()));
            }
            form
        };
        let url = format!("{}/products/import", app.base);
        let (status, page) = post_form(url.clone(), &cookie, &form("preview", false)).await;
        assert_eq!(status, 422, "without the box, SKUs on the list are refused: {page}");
        assert!(page.contains("Line 2: ") && page.contains("Line 3: "), "{page}");
        let (status, page) = post_form(url.clone(), &cookie, &form("preview", true)).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Left out 2 lines whose SKU is on the price list already: line 2 PUMP-1, line 3 VALVE-1."), "{page}");
        assert!(page.contains("Preview: 2 products to import") && page.contains("leave_out_listed\" value=\"1\" checked"), "{page}");
        // The file's new price for a listed product is named, with a notice's
        // draft to carry it: the form opens filled in, dated tomorrow.
        assert!(
            page.contains("1 of them names another price than today's: line 2 PUMP-1 2,500.00 EUR → 2,600.00 EUR."),
            "{page}"
        );
        let link = repricing_notice_link(&page).expect("a link to draft the notice");
        let tomorrow = app.store.today().await.unwrap() + chrono::Days::new(1);
        let form_page = client().get(format!("{}{link}", app.base)).header(COOKIE, &cookie).send().await.unwrap();
        assert_eq!(form_page.status(), 200);
        let form_page = form_page.text().await.unwrap();
        assert!(form_page.contains(&format!(">PUMP-1, 2600.00, {tomorrow}</textarea>")), "{form_page}");
        assert_eq!(finance.get("/api/v1/notices").await.body, serde_json::json!([]), "a form filled in saves nothing");
        let (status, page) = post_form(url.clone(), &cookie, &form("import", true)).await;
        assert_eq!(status, 303, "{page}");
        assert!(page.contains("Imported 2 products. Left out 2 lines whose SKUs were already on the price list."), "{page}");
        // Imported, the list still offers the notice the preview offered.
        assert!(
            page.contains(
                "1 of them names another price than today&#39;s: a price changes only by a notice, which you can \
                 draft with its new price below."
            ),
            "{page}"
        );
        let after = repricing_notice_link(&page).expect("a link to draft the notice after importing");
        assert_eq!(after, link, "the same draft as the preview's");
        assert_eq!(skus(&finance).await, ["BOLT-1", "HOSE-1", "PUMP-1", "VALVE-1"]);
        let pump = finance.get("/api/v1/products").await.body.as_array().unwrap().iter().find(|p| p["sku"] == "PUMP-1").cloned().unwrap();
        assert_eq!(pump["unit_price_minor"], 250_000, "a listed product's price is not changed by an import");
        // A listed SKU's line that cannot be read is left out too, its problem
        // said; a new SKU's is still refused.
        let form_of = |csv: &str| {
            let mut form = form("preview", true);
            form[1].1 = format!("{HEADER}{csv}");
            form
        };
        let (status, page) = post_form(url.clone(), &cookie, &form_of("VALVE-1,Valve,each,EUR,n/a\nNUT-1,Nut,each,EUR,5\n")).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Left out 1 line whose SKU is on the price list already: line 2 VALVE-1."), "{page}");
        assert!(
            page.contains("Left out though it cannot be read, as its SKU is on the price list: line 2 VALVE-1: unit_price_minor"),
            "{page}"
        );
        assert!(page.contains("Preview: 1 product to import"), "{page}");
        let (status, page) = post_form(url.clone(), &cookie, &form_of("VALVE-1,Valve,each,EUR,n/a\nNUT-1,Nut,each,EUR,x\n")).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("Line 3: ") && !page.contains("Line 2: "), "{page}");
        // A quote left open runs the lines after it into a listed SKU's: those are no one product's, and block.
        let run_on = "NUT-7,Nut,each,EUR,5\nVALVE-1,\"Valve,each,EUR,100\nNUT-8,Nut,each,EUR,6\n";
        let (status, page) = post_form(url.clone(), &cookie, &form_of(run_on)).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("Line 3: A field on this line opens a quote"), "{page}");
        // Imported, the list says the left-out line could not be read.
        let mut import = form_of("VALVE-1,Valve,each,EUR,n/a\nNUT-1,Nut,each,EUR,5\n");
        import[2].1 = "import".to_owned();
        let (status, page) = post_form(url.clone(), &cookie, &import).await;
        assert_eq!(status, 303, "{page}");
        assert!(
            page.contains(
                "Imported 1 product. Left out 1 line whose SKU was already on the price list. It could not be read: \
                 preview the file to see why."
            ),
            "{page}"
        );
        // Everything listed already: nothing to import, and it says so.
        let (status, page) = post_form(url, &cookie, &form("import", true)).await;
        assert_eq!(status, 422);
        assert!(page.contains("<li>Every SKU in it is on the price list already: there is nothing new to import.</li>"), "of no one line: {page}");
        app.stop().await;
    }
}

/// Where the price list's link to draft a notice with an import's new prices leads.
fn repricing_notice_link(page: &str) -> Option<String> {
    let href = page.split("<a href=\"").find_map(|a| a.split_once("\" id=\"draft-repricing-notice\""))?.0;
    Some(href.replace("&amp;", "&").replace("&#x2f;", "/"))
}

/// The price list as a form's redirect leads to it, with `cookie`: what
/// the form did, said once above the list.
async fn told_on_the_list(base: &str, cookie: &str, r: &reqwest::Response) -> String {
    let (done, _) = set_cookie(r, "pricegate_products_done").expect("what was done, for the list");
    let list = client()
        .get(format!("{base}/products"))
        .header(COOKIE, format!("{cookie}; pricegate_products_done={done}"))
        .send()
        .await
        .expect("the price list");
    list.text().await.unwrap_or_default()
}

both_backends! {
    /// Withdraw pressed in two tabs at the same moment: one withdraws, the
    /// other is told it was withdrawn already, and one audit row is written.
    async fn withdrawing_twice_at_once_withdraws_once_and_says_so(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let pump = id_of(&create_product(&finance, "PUMP-1", "EUR", 250_000).await);
        let cookie = session_cookie(&app.base, &fiona.email).await;
        let page = client().get(format!("{}/products/{pump}/edit", app.base)).header(COOKIE, &cookie).send().await;
        let html = page.expect("the product's page").text().await.unwrap_or_default();
        let csrf = csrf_in(&html);
        let press = || {
            client()
                .post(format!("{}/products/{pump}/sale", app.base))
                .header(COOKIE, &cookie)
                .form(&[("csrf_token", csrf.as_str()), ("on_sale", "no")])
                .send()
        };
        let (a, b) = tokio::join!(press(), press());
        let mut said = Vec::new();
        for r in [a.expect("an answer"), b.expect("an answer")] {
            assert_eq!(r.status(), 303);
            let list = told_on_the_list(&app.base, &cookie, &r).await;
            said.push(if list.contains("Withdrew PUMP-1") {
                "withdrew"
            } else if list.contains("was withdrawn from sale already: nothing changed.") {
                "already"
            } else {
                panic!("neither: {list}")
            });
        }
        said.sort_unstable();
        assert_eq!(said, ["already", "withdrew"]);
        let audit = finance.get(&format!("/api/v1/audit?action=product.withdrawn&subject={pump}")).await;
        assert_eq!(audit.body.as_array().map(Vec::len), Some(1), "{}", audit.text);
    }
}

both_backends! {
    /// Anyone logged in downloads the products on sale as CSV, at their
    /// prices today, from the price list's link or the API; another
    /// Pricegate's import reads the file back into the same price list.
    async fn the_price_list_downloads_as_csv_that_the_import_reads_back(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 125_000).await;
        create_product(&finance, "HOSE-2", "JPY", 7_500).await;
        let gone = id_of(&create_product(&finance, "OLD-3", "EUR", 100).await);
        let valve = id_of(&create_product(&finance, "VALVE-4", "EUR", 4_000).await);
        let r = finance.patch(&format!("/api/v1/products/{valve}"), &json!({"name": "Valve, 2\" brass"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = finance.patch(&format!("/api/v1/products/{gone}"), &json!({"withdrawn": true})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        publish_price_change(&finance, "PUMP-1", 131_000, &date_in_days(0)).await;
        publish_price_change(&finance, "HOSE-2", 8_000, &date_in_days(30)).await;

        let r = sam.request(Method::GET, "/api/v1/products/export").send().await.expect("the export");
        assert_eq!(r.status(), 200);
        let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert_eq!(header("content-type"), "text/csv; charset=utf-8");
        assert!(header("content-disposition").starts_with("attachment; filename=\"pricegate-price-list-20"), "{}", header("content-disposition"));
        let csv = r.text().await.unwrap();
        assert_eq!(
            csv,
            "sku,name,unit,currency,unit_price\r\nHOSE-2,Product HOSE-2,each,JPY,7500\r\nPUMP-1,Product PUMP-1,each,EUR,1310.00\r\n\
             VALVE-4,\"Valve, 2\"\" brass\",each,EUR,40.00\r\n",
            "on sale only, at today's prices (not the one to come)"
        );
        assert_eq!(app.anonymous().get("/api/v1/products/export").await.status, 401);
        assert_error(&sam.get("/api/v1/products/export?format=json").await, 400, "invalid_query");

        // From the price list page, as a browser downloads it.
        let page = page_as(&app.base, &sam_user.email, "/products").await;
        assert!(page.contains("href=\"/products/export.csv\""), "{page}");
        let cookie = session_cookie(&app.base, &sam_user.email).await;
        let r = client().get(format!("{}/products/export.csv", app.base)).header(COOKIE, &cookie).send().await.unwrap();
        assert_eq!(r.status(), 200);
        // With a byte order mark, by which a spreadsheet reads it as UTF-8.
        let downloaded = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
        assert_eq!(downloaded, format!("\u{feff}{csv}"));
        // It downloads whole: a search typed onto its address is refused, not ignored.
        let r = client().get(format!("{}/products/export.csv?q=pump", app.base)).header(COOKIE, &cookie).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("The price list downloads whole, and this address takes no filter."));

        // Another Pricegate takes the file as it is.
        let other = TestApp::spawn(backend).await;
        let (other_finance, _) = other.user(Role::Finance, "Fred").await;
        let r = import(&other_finance, downloaded).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let listed: Vec<(String, i64)> = other_finance.get("/api/v1/products").await.body.as_array().unwrap().iter()
            .map(|p| (p["sku"].as_str().unwrap().to_owned(), p["unit_price_minor"].as_i64().unwrap()))
            .collect();
        assert_eq!(listed, [("HOSE-2".to_owned(), 7_500), ("PUMP-1".to_owned(), 131_000), ("VALVE-4".to_owned(), 4_000)]);
        other.stop().await;
        app.stop().await;
    }
}

/// A price sent with a product's patch is refused with how prices change,
/// and nothing else of the patch is written.
#[tokio::test]
async fn a_price_in_a_product_patch_is_refused_with_how_prices_change() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let pump = id_of(&create_product(&finance, "PUMP-1", "EUR", 125_000).await);
    let r =
        finance.patch(&format!("/api/v1/products/{pump}"), &json!({"name": "Pump", "unit_price_minor": 130_000})).await;
    assert_error(&r, 422, "price_by_notice");
    assert!(r.text.contains("changes only through a published price notice"), "{}", r.text);
    let r = finance.patch(&format!("/api/v1/products/{pump}"), &json!({"unit_price_minor": null})).await;
    assert_error(&r, 422, "price_by_notice");
    let product = finance.get("/api/v1/products").await.body[0].clone();
    assert_eq!(
        (product["name"].as_str(), product["unit_price_minor"].as_i64()),
        (Some("Product PUMP-1"), Some(125_000))
    );
    // Another field it does not have is still named as one.
    assert_error(
        &finance.patch(&format!("/api/v1/products/{pump}"), &json!({"currency": "USD"})).await,
        422,
        "invalid_body",
    );
    app.stop().await;
}

/// A price list pasted too large for the import form is refused saying how
/// to import it all the same.
#[tokio::test]
async fn a_price_list_too_large_for_the_form_is_refused_saying_how_to_import_it() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (_, fiona) = app.user(Role::Finance, "Fiona").await;
    let cookie = session_cookie(&app.base, &fiona.email).await;
    let html = client()
        .get(format!("{}/products", app.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rows: String = (0..60_000).map(|n| format!("SKU-{n},Product {n},each,EUR,1.00\n")).collect();
    let form = [("csrf_token", csrf_in(&html)), ("csv", format!("{}{rows}", "sku,name,unit,currency,unit_price\n"))];
    let r = client()
        .post(format!("{}/products/import", app.base))
        .header(COOKIE, &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("This price list is too large for the form") && body.contains("POST /api/v1/products/import"),
        "{body}"
    );
    app.stop().await;
}

both_backends! {
    /// A file's price for a listed product is offered for a notice only
    /// when it is a new price for the same thing: a price per pack is no
    /// price per piece, nor one in another currency; a product withdrawn, or
    /// a price published already to come, is said, not offered again.
    async fn an_import_offers_for_a_notice_only_new_prices_for_the_same_thing(backend: Backend) {
        use pricegate_tests::pages::post_form;
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        create_product(&finance, "BOX-1", "EUR", 500).await;
        create_product(&finance, "HOSE-1", "EUR", 1_000).await;
        let old = create_product(&finance, "OLD-1", "EUR", 700).await;
        let r = finance.patch(&format!("/api/v1/products/{}", id_of(&old)), &json!({"withdrawn": true})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let in_ten = date_in_days(10);
        publish_price_change(&finance, "HOSE-1", 1_200, &in_ten).await;
        let cookie = session_cookie(&app.base, &fiona.email).await;
        let list = client().get(format!("{}/products", app.base)).header(COOKIE, &cookie).send().await.unwrap();
        let csrf = csrf_in(&list.text().await.unwrap());
        let csv = format!(
            "{HEADER}PUMP-1,Pump,each,EUR,260000\nBOX-1,Box,pack of 10,EUR,4500\nHOSE-1,Hose,each,EUR,1200\n\
             OLD-1,Old,each,EUR,800\nNEW-1,New,each,EUR,100\n"
        );
        let form = [
            ("csrf_token", csrf),
            ("csv", csv),
            ("action", "preview".to_owned()),
            ("leave_out_listed", "1".to_owned()),
        ];
        let (status, page) = post_form(format!("{}/products/import", app.base), &cookie, &form).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("1 of them names another price than today's: line 2 PUMP-1 2,500.00 EUR → 2,600.00 EUR."), "{page}");
        assert!(page.contains("changes=PUMP-1%2C+2600.00%2C+"), "only the pump is offered: {page}");
        let not_compared = page.split("id=\"not-repriced\">").nth(1).and_then(|p| p.split("</p>").next()).unwrap_or_default();
        assert_eq!(
            not_compared,
            format!(
                "Left out at another price, and not offered for a notice: line 3 BOX-1: per pack of 10, the list&#39;s \
                 per each; line 4 HOSE-1: 12.00 EUR is published already, from {in_ten}; line 5 OLD-1: withdrawn from sale."
            )
        );
        // Several new prices fill the notice's form a line each.
        let offered = format!("/notices/new?changes=PUMP-1%2C+2600.00%2C+{in_ten}%0ABOX-1%2C+4.50%2C+{in_ten}");
        let form = pricegate_tests::pages::page_as(&app.base, &fiona.email, &offered).await;
        assert!(form.contains(&format!("PUMP-1, 2600.00, {in_ten}\nBOX-1, 4.50, {in_ten}</textarea>")), "{form}");
    }
}

both_backends! {
    /// An auditor's question: what did a product cost on a day, and which
    /// notice said so. A price dated before its notice was published held
    /// only from the publication, as people knew it then.
    async fn a_products_price_history_tells_its_price_on_any_day_and_who_set_it(backend: Backend) {
        use pricegate_store::entity::products;
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let pump = id_of(&create_product(&finance, "PUMP-1", "EUR", 250_000).await);
        let days_ago = |days: i64| chrono::Utc::now() - chrono::Duration::days(days);
        products::Entity::update_many()
            .col_expr(products::Column::CreatedAt, Expr::value(days_ago(10)))
            .filter(products::Column::Id.eq(uuid::Uuid::parse_str(&pump).expect("a product id")))
            .exec(app.store.connection())
            .await
            .expect("added ten days ago");
        let connection = app.store.connection();
        let published = |notice: String, days: i64| async move {
            notices::Entity::update_many()
                .col_expr(notices::Column::PublishedAt, Expr::value(days_ago(days)))
                .filter(notices::Column::Id.eq(uuid::Uuid::parse_str(&notice).expect("a notice id")))
                .exec(connection)
                .await
                .expect("published then");
            notice
        };
        let first = published(publish_price_change(&finance, "PUMP-1", 260_000, &date_in_days(-5)).await, 5).await;
        // Dated three days ago, published yesterday.
        let late = published(publish_price_change(&finance, "PUMP-1", 270_000, &date_in_days(-3)).await, 1).await;
        let replaced = publish_price_change(&finance, "PUMP-1", 280_000, &date_in_days(30)).await;
        // Corrected before its day came: the first never holds.
        let coming = publish_price_change(&finance, "PUMP-1", 285_000, &date_in_days(30)).await;

        let path = format!("/products/{pump}");
        let html = page_as(&app.base, &sam_user.email, &path).await;
        assert!(html.contains("<strong>2,700.00 EUR</strong>, in force since"), "{html}");
        let table = &html[html.find("id=\"price-history\"").expect("the history")..];
        let rows: Vec<&str> = table.split("<tr").skip(2).collect();
        assert_eq!(rows.len(), 5, "four notices and the list price: {table}");
        let expected = [
            (coming.as_str(), "2,850.00 EUR", "To come"),
            (replaced.as_str(), "2,800.00 EUR", "Never in force: a later price for its day came first"),
            (late.as_str(), "2,700.00 EUR", "In force today"),
            (first.as_str(), "2,600.00 EUR", "data-label=\"Now\">No longer in force</td>"),
        ];
        for (row, (notice, price, now)) in rows.iter().zip(expected) {
            assert!(row.contains(&format!("/notices/{notice}")) && row.contains(price) && row.contains(now), "{row}");
        }
        assert!(rows[2].contains(&format!("{}, on publication (dated {})", date_in_days(-1), date_in_days(-3))), "{}", rows[2]);
        assert!(rows[4].contains("2,500.00 EUR") && rows[4].contains("The price list"), "{}", rows[4]);
        assert!(rows[4].contains("data-label=\"Now\">No longer in force</td>"), "{}", rows[4]);
        // The price list links each SKU to its history.
        let list = page_as(&app.base, &sam_user.email, "/products").await;
        assert!(list.contains(&format!("<a href=\"/products/{pump}\" class=\"price-history\"")), "{list}");
        // Finance, who keeps the list, is led on from the history to the product's edit page; sales is not.
        let edit = format!("href=\"/products/{pump}/edit\" class=\"button secondary\" id=\"edit-product\"");
        assert!(!html.contains(&edit), "{html}");
        let as_finance = page_as(&app.base, &fiona.email, &path).await;
        assert!(as_finance.contains(&edit), "{as_finance}");

        let on = |days: i64| {
            let path = format!("{path}?on={}", date_in_days(days));
            let email = sam_user.email.clone();
            let base = app.base.clone();
            async move {
                let html = page_as(&base, &email, &path).await;
                let start = html.find("id=\"price-on\"").unwrap_or_else(|| panic!("no answer in {html}"));
                html[start..html[start..].find("</p>").map_or(html.len(), |end| start + end)].to_owned()
            }
        };
        let answer = on(-20).await;
        assert!(answer.contains("PUMP-1 was not on the price list yet"), "{answer}");
        let answer = on(-7).await;
        assert!(answer.contains("was its list price, 2,500.00 EUR each."), "{answer}");
        let answer = on(-4).await;
        assert!(answer.contains("was 2,600.00 EUR") && answer.contains(&format!("/notices/{first}")), "{answer}");
        // The late notice's date had come, but nobody knew its price yet.
        let answer = on(-2).await;
        assert!(answer.contains("was 2,600.00 EUR") && answer.contains(&format!("/notices/{first}")), "{answer}");
        let answer = on(0).await;
        assert!(answer.contains("is 2,700.00 EUR") && answer.contains(&format!("/notices/{late}")), "{answer}");
        let answer = on(31).await;
        assert!(answer.contains("will be, as published so far, 2,850.00 EUR") && answer.contains(&coming), "{answer}");

        // The same history from the API, with the price on a day.
        let r = sam.get(&format!("/api/v1/products/{pump}/prices?on={}", date_in_days(-2))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let states: Vec<(&str, &str)> = r.body["prices"]
            .as_array()
            .expect("prices")
            .iter()
            .map(|p| (p["notice_id"].as_str().unwrap_or_default(), p["state"].as_str().unwrap_or_default()))
            .collect();
        assert_eq!(
            states,
            [(coming.as_str(), "to_come"), (replaced.as_str(), "replaced"), (late.as_str(), "in_force"), (first.as_str(), "earlier")]
        );
        assert_eq!(r.body["prices"][2]["in_force_from"], json!(date_in_days(-1)));
        assert_eq!(r.body["prices"][2]["effective_on"], json!(date_in_days(-3)));
        assert_eq!(r.body["on"], json!({"day": date_in_days(-2), "unit_price_minor": 260_000, "notice_id": first, "during_the_day": []}));
        assert_eq!((&r.body["list_price_minor"], &r.body["product"]["unit_price_minor"]), (&json!(250_000), &json!(270_000)));
        let r = sam.get(&format!("/api/v1/products/{pump}/prices?on={}", date_in_days(-20))).await;
        assert_eq!(r.body["on"], json!({"day": date_in_days(-20), "unit_price_minor": null, "notice_id": null, "during_the_day": []}), "{}", r.text);
        assert_eq!(sam.get(&format!("/api/v1/products/{pump}/prices")).await.body["on"], json!(null));
        // A price restated during the day: the same price, but from the
        // restatement on it is the notice a quote's evidence names as having
        // set it (`set_by`), and the day's last entry names it too.
        let valve = id_of(&create_product(&finance, "VALVE-1", "EUR", 4_990).await);
        let raised = publish_price_change(&finance, "VALVE-1", 5_200, &date_in_days(0)).await;
        let restated = publish_price_change(&finance, "VALVE-1", 5_200, &date_in_days(0)).await;
        let r = sam.get(&format!("/api/v1/products/{valve}/prices?on={}", date_in_days(0))).await;
        let during: Vec<(Value, Value)> = r.body["on"]["during_the_day"]
            .as_array()
            .expect("the day's prices")
            .iter()
            .map(|d| (d["unit_price_minor"].clone(), d["notice_id"].clone()))
            .collect();
        assert_eq!(
            during,
            [(json!(4_990), Value::Null), (json!(5_200), json!(raised)), (json!(5_200), json!(restated))],
            "{}",
            r.text
        );
        assert_eq!(r.body["on"]["notice_id"], json!(restated));
        // A list price restated: the page says the price stood.
        let hose = id_of(&create_product(&finance, "HOSE-9", "EUR", 1_000).await);
        let again = publish_price_change(&finance, "HOSE-9", 1_000, &date_in_days(0)).await;
        let html = page_as(&app.base, &sam_user.email, &format!("/products/{hose}?on={}", date_in_days(0))).await;
        assert!(
            html.contains("A notice published that day set the same price again, so which notice a quote finalised")
                && html.contains(&format!("/notices/{again}")),
            "{html}"
        );
        // A product's address may name it by its SKU, in any case: it leads to the product, with the day asked.
        let cookie = session_cookie(&app.base, &sam_user.email).await;
        let open = |path: String| {
            let cookie = cookie.clone();
            let base = app.base.clone();
            async move { client().get(format!("{base}{path}")).header("cookie", cookie).send().await.expect("a product page") }
        };
        let r = open(format!("/products/hose-9?on={}", date_in_days(0))).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers().get("location").and_then(|l| l.to_str().ok()), Some(format!("/products/{hose}?on={}", date_in_days(0)).as_str()));
        // A SKU shaped like an id, that no product has as its id, is a SKU.
        let shaped = id_of(&create_product(&finance, "DEADBEEF-0000-4000-8000-00000000000A", "EUR", 100).await);
        let r = open("/products/deadbeef-0000-4000-8000-00000000000a".to_owned()).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers().get("location").and_then(|l| l.to_str().ok()), Some(format!("/products/{shaped}").as_str()));
        let r = open(format!("/products/{}", uuid::Uuid::new_v4())).await;
        assert_eq!(r.status(), 404, "an id no product has");
        let r = open("/products/HOSE-10".to_owned()).await;
        assert_eq!(r.status(), 404);
        let text = r.text().await.unwrap_or_default();
        assert!(text.contains("No product has the SKU \u{201c}HOSE-10\u{201d}"), "{text}");
        assert!(text.contains("<a href=\"/products\" id=\"next\">Open the price list</a>"), "{text}");
        // The edit form too, for finance.
        let fiona_cookie = session_cookie(&app.base, &fiona.email).await;
        let edit = |path: &str| client().get(format!("{}{path}", app.base)).header("cookie", fiona_cookie.clone()).send();
        let r = edit("/products/hose-9/edit").await.expect("the edit form");
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers().get("location").and_then(|l| l.to_str().ok()), Some(format!("/products/{hose}/edit").as_str()));
        assert_eq!(edit("/products/HOSE-10/edit").await.expect("the edit form").status(), 404);
        assert_eq!(open("/products/hose-9/edit".to_owned()).await.status(), 403, "a salesperson edits no product");
        // What no SKU can be (a NUL, which PostgreSQL cannot compare; a look-alike letter; too long) is nothing here.
        for odd in ["HOSE-9%00", "HOSE%E2%80%909", &"H".repeat(65)] {
            let r = open(format!("/products/{odd}")).await;
            assert_eq!(r.status(), 404, "{odd}");
            assert!(r.text().await.unwrap_or_default().contains("There is nothing at this address."), "{odd}");
        }
        // On the first notice's day the price changed when it was published:
        // a quote drafted that morning got the list price.
        let r = sam.get(&format!("/api/v1/products/{pump}/prices?on={}", date_in_days(-5))).await;
        let during = &r.body["on"]["during_the_day"];
        assert_eq!(during[0], json!({"from": null, "unit_price_minor": 250_000, "notice_id": null}), "{}", r.text);
        assert_eq!((&during[1]["unit_price_minor"], &during[1]["notice_id"]), (&json!(260_000), &json!(first)), "{}", r.text);
        assert_eq!(during[1]["from"], r.body["prices"][3]["published_at"]);
        assert_eq!(during.as_array().map(Vec::len), Some(2));
        assert_eq!(r.body["on"]["unit_price_minor"], 260_000);
        let answer = on(-5).await;
        assert!(answer.contains("It changed during the day") && answer.contains("2,500.00 EUR (the list price) from the day&#39;s start, then 2,600.00 EUR (set by “PUMP-1 now 260000”) from"), "{answer}");
        assert_error(&sam.get(&format!("/api/v1/products/{pump}/prices?on=2026-13-45")).await, 400, "invalid_query");
        for odd in ["%2B10000-01-01", "2026-2-3", "0000-01-01"] {
            assert_error(&sam.get(&format!("/api/v1/products/{pump}/prices?on={odd}")).await, 400, "invalid_query");
        }
        assert_error(&sam.get(&format!("/api/v1/products/{pump}/prices?at=2026-11-01")).await, 400, "invalid_query");
        assert_error(&sam.get(&format!("/api/v1/products/{}/prices", uuid::Uuid::new_v4())).await, 404, "not_found");

        let cookie = session_cookie(&app.base, &sam_user.email).await;
        let get = |query: &'static str| {
            let (url, cookie) = (format!("{}{path}{query}", app.base), cookie.clone());
            async move {
                let r = client().get(url).header(COOKIE, cookie).send().await.expect("answers");
                (r.status().as_u16(), r.text().await.unwrap_or_default())
            }
        };
        let (status, html) = get("?on=2026-13-45").await;
        assert_eq!(status, 400, "{html}");
        assert!(html.contains("“2026-13-45” is not a day from 2000 on: write it as 2026-11-03"), "{html}");
        let (status, _) = get("?on=2026-11-01&on=2026-11-02").await;
        assert_eq!(status, 400);
        let (status, html) = get("?on=2026-2-3").await;
        assert_eq!(status, 400, "a day a date field would show blank: {html}");
        let (status, html) = get("?on=%202026-11-01%20").await;
        assert_eq!(status, 200, "a day pasted with spaces around it is that day: {html}");
        assert!(!html.contains("is not a day"), "{html}");
        let r = client()
            .get(format!("{}/products/{}", app.base, uuid::Uuid::new_v4()))
            .header(COOKIE, cookie.clone())
            .send()
            .await
            .expect("answers");
        assert_eq!(r.status().as_u16(), 404);
    }
}
