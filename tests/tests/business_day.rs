//! The business's calendar (`PRICEGATE_TIMEZONE`): prices take force,
//! quotes lapse and validity dates are checked by the day where the company
//! trades, and pages show times on its clock. Each test runs in a zone whose
//! date is not UTC's at the moment it runs, so a server counting UTC days
//! would answer differently: from 10:00 UTC a zone a day ahead, before it a
//! zone a day behind. A run checks the direction its hour gives (the server
//! reads the real clock); every assertion holds in both.

use chrono::{Days, NaiveDate, Timelike, Utc};
use pricegate::settings::Settings;
use pricegate_domain::{Calendar, Role};
use pricegate_tests::db::TestDb;
use pricegate_tests::fixtures::{
    assert_error, create_product, draft_quote, field, id_of, lapse_quote, publish_price_change, quote_request,
};
use pricegate_tests::pages::page_as;
use pricegate_tests::{Backend, Session, TestApp, both_backends};
use serde_json::{Value, json};

/// A zone whose date differs from UTC's now, with both dates. From 10:00 UTC
/// on, UTC+14 is already in tomorrow; before 12:00 UTC, UTC−12 is still in
/// yesterday. (The IANA names of fixed offsets have the sign reversed.)
struct Day {
    calendar: Calendar,
    local: NaiveDate,
    utc: NaiveDate,
    /// The abbreviation the zone's times are shown with.
    abbreviation: &'static str,
}

impl Day {
    fn now() -> Day {
        let now = Utc::now();
        let (name, abbreviation) = if now.hour() >= 10 { ("Etc/GMT-14", "+14") } else { ("Etc/GMT+12", "-12") };
        let calendar = Calendar::parse(name).expect("a zone of the time zone database");
        let day = Day { calendar, local: calendar.date_of(now), utc: now.date_naive(), abbreviation };
        assert_ne!(day.local, day.utc, "{name} should be on another day than UTC now");
        day
    }

    fn ahead(&self) -> bool {
        self.local > self.utc
    }
}

async fn spawn(backend: Backend, day: &Day) -> TestApp {
    let calendar = day.calendar;
    TestApp::spawn_with(backend, move |settings| settings.calendar = calendar).await
}

/// The price in force of `sku` on the price list, and since when.
async fn price_of(session: &Session, sku: &str) -> (i64, Option<String>) {
    let r = session.get("/api/v1/products").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let product =
        r.body.as_array().and_then(|all| all.iter().find(|p| p["sku"] == sku)).expect("the product is listed");
    (product["unit_price_minor"].as_i64().expect("a price"), product["price_since"].as_str().map(str::to_owned))
}

both_backends! {
    async fn a_price_takes_force_on_the_business_day_not_on_utcs(backend: Backend) {
        let day = Day::now();
        let app = spawn(backend, &day).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-100", "EUR", 100_000).await;
        let before = id_of(&draft_quote(&sam, json!([{"sku": "PUMP-100", "quantity": 4}])).await);

        // The later of the two dates: in force where the business is ahead
        // of UTC (it is that day there), not yet where it is behind.
        let later = day.local.max(day.utc);
        let notice = publish_price_change(&finance, "PUMP-100", 120_000, &later.to_string()).await;
        let in_force = day.ahead();
        let expected = if in_force { (120_000, Some(later.to_string())) } else { (100_000, None) };
        assert_eq!(price_of(&sam, "PUMP-100").await, expected, "the price list on {} in {}", day.local, day.calendar);

        // A quote drafted now takes the price in force on the business day.
        let after = draft_quote(&sam, json!([{"sku": "PUMP-100", "quantity": 4}])).await;
        assert_eq!(after["lines"][0]["unit_price_minor"].as_i64(), Some(expected.0), "{after}");

        // The gate of the quote drafted before the notice: once the notice is
        // acknowledged, its line is at a superseded price exactly when the new
        // price is in force on the business day.
        assert_eq!(sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
        let gate = sam.get(&format!("/api/v1/quotes/{before}/gate")).await;
        assert_eq!(gate.status, 200, "{}", gate.text);
        let superseded = gate.body["superseded"].as_array().expect("superseded lines").len();
        assert_eq!(superseded, usize::from(in_force), "{}", gate.text);
        assert_eq!(gate.body["ready"].as_bool(), Some(!in_force), "{}", gate.text);
        app.stop().await;
    }
}

both_backends! {
    async fn a_published_change_says_from_which_business_day_it_counts(backend: Backend) {
        let day = Day::now();
        let app = spawn(backend, &day).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        // A client learns the zone, and the business's today, from who it is.
        let me = finance.get("/api/v1/me").await;
        assert_eq!(me.status, 200, "{}", me.text);
        assert_eq!((&me.body["timezone"], &me.body["today"]), (&json!(day.calendar.to_string()), &json!(day.local.to_string())), "{}", me.text);
        assert_eq!(me.body["role"], "finance", "the person as before: {}", me.text);
        create_product(&finance, "P-1", "EUR", 1_000).await;
        create_product(&finance, "P-2", "EUR", 2_000).await;
        create_product(&finance, "P-3", "JPY", 3_000).await;
        // Dated the earlier of the two days: today where the business is
        // behind UTC, yesterday where it is ahead (before its publication).
        let earlier = day.local.min(day.utc);
        let ahead = day.local + Days::new(10);
        let changes = json!([
            {"sku": "P-1", "unit_price_minor": 1_100, "effective_on": earlier.to_string()},
            {"sku": "P-2", "unit_price_minor": 2_200, "effective_on": ahead.to_string()},
            // Yesterday for the business, whichever way from UTC it is.
            {"sku": "P-3", "unit_price_minor": 3_300, "effective_on": (day.local - Days::new(1)).to_string()},
        ]);
        let id = pricegate_tests::fixtures::create_notice(&finance, "Two changes", changes).await;
        let draft = finance.get(&format!("/api/v1/notices/{id}")).await;
        let draft_from: Vec<_> = draft.body["changes"].as_array().expect("changes").iter().map(|c| c["in_force_from"].clone()).collect();
        assert_eq!(draft_from, [json!(null), json!(null), json!(null)], "a draft counts from no day yet: {}", draft.text);

        pricegate_tests::fixtures::publish_notice(&finance, &id).await;
        let published = finance.get(&format!("/api/v1/notices/{id}")).await;
        let said: Vec<(Value, Value)> = published.body["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| (c["effective_on"].clone(), c["in_force_from"].clone()))
            .collect();
        let expected = [
            (json!(earlier.to_string()), json!(day.local.to_string())),
            (json!(ahead.to_string()), json!(ahead.to_string())),
            (json!((day.local - Days::new(1)).to_string()), json!(day.local.to_string())),
        ];
        assert_eq!(said, expected, "in {}: {}", day.calendar, published.text);

        // The audit log's record of the publication says the same.
        let log = finance.get(&format!("/api/v1/audit?subject={id}&action=notice.published")).await;
        assert_eq!(log.status, 200, "{}", log.text);
        let recorded: Vec<(Value, Value)> = log.body[0]["detail"]["changes"]
            .as_array()
            .expect("the publication's changes")
            .iter()
            .map(|c| (c["effective_on"].clone(), c["in_force_from"].clone()))
            .collect();
        assert_eq!(recorded, expected, "{}", log.text);
        // With the currency of each price: 3300 is 33.00 EUR, or 3,300 JPY.
        let currencies: Vec<&Value> = log.body[0]["detail"]["changes"].as_array().into_iter().flatten().map(|c| &c["currency"]).collect();
        assert_eq!(currencies, [&json!("EUR"), &json!("EUR"), &json!("JPY")], "{}", log.text);
        app.stop().await;
    }
}

both_backends! {
    async fn validity_dates_are_checked_and_lapse_by_the_business_day(backend: Backend) {
        let day = Day::now();
        let app = spawn(backend, &day).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-100", "EUR", 100_000).await;
        let lines = json!([{"sku": "PUMP-100", "quantity": 1}]);
        let yesterday = day.local - Days::new(1);

        // Valid until the business's today: taken, even where that day is
        // already over in UTC.
        let mut request = quote_request(lines.clone());
        request["valid_until"] = json!(day.local.to_string());
        let r = sam.post("/api/v1/quotes", &request).await;
        assert_eq!(r.status, 201, "valid until {} in {}: {}", day.local, day.calendar, r.text);
        let quote = id_of(&r.body);
        let gate = sam.get(&format!("/api/v1/quotes/{quote}/gate")).await;
        assert_eq!(gate.body["expired"].as_bool(), Some(false), "{}", gate.text);

        // Valid until the business's yesterday: refused, even where that day
        // is still today in UTC.
        request["valid_until"] = json!(yesterday.to_string());
        let r = sam.post("/api/v1/quotes", &request).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(field(&r), "valid_until", "valid until {yesterday} in {}: {}", day.calendar, r.text);
        // The refusal names the day that counts, for a caller whose own clock is on another.
        let today_there = format!("today ({} in {})", day.local, day.calendar);
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains(&today_there)), "{}", r.text);

        // And a quote valid until yesterday has lapsed: the gate says so.
        assert_eq!(lapse_quote(&app, &quote).await, yesterday);
        let gate = sam.get(&format!("/api/v1/quotes/{quote}/gate")).await;
        assert_eq!(gate.body["expired"].as_bool(), Some(true), "{}", gate.text);
        assert_error(&sam.post_empty(&format!("/api/v1/quotes/{quote}/finalise")).await, 409, "quote_expired");
        // Its own date is kept when other fields change (as the edit form
        // sends it back); another date in the past is refused.
        let kept = sam.patch(&format!("/api/v1/quotes/{quote}"), &json!({"valid_until": yesterday.to_string(), "notes": "Call first."})).await;
        assert_eq!(kept.status, 200, "{}", kept.text);
        let earlier = (yesterday - Days::new(1)).to_string();
        let r = sam.patch(&format!("/api/v1/quotes/{quote}"), &json!({"valid_until": earlier})).await;
        assert_error(&r, 422, "invalid_field");
        // Extended to the business's today, it is valid again.
        let r = sam.patch(&format!("/api/v1/quotes/{quote}"), &json!({"valid_until": day.local.to_string()})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let gate = sam.get(&format!("/api/v1/quotes/{quote}/gate")).await;
        assert_eq!(gate.body["expired"].as_bool(), Some(false), "{}", gate.text);
        app.stop().await;
    }
}

/// Pages show times on the business's clock, with its zone; the settings
/// page names the zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_show_times_in_the_business_zone() {
    let day = Day::now();
    let app = spawn(Backend::Sqlite, &day).await;
    let (finance, _) = app.user(Role::Finance, "Fiona").await;
    let (sam_api, sam) = app.user(Role::Sales, "Sam").await;
    let (_, ada) = app.user(Role::Admin, "Ada").await;
    create_product(&finance, "PUMP-100", "EUR", 100_000).await;
    let quote = draft_quote(&sam_api, json!([{"sku": "PUMP-100", "quantity": 1}])).await;
    let drafted_at: chrono::DateTime<Utc> = quote["drafted_at"].as_str().expect("drafted_at").parse().expect("a time");

    let page = |who: String, path: String| {
        let base = app.base.clone();
        async move { page_as(&base, &who, &path).await }
    };
    let html = page(sam.email.clone(), format!("/quotes/{}", id_of(&quote))).await;
    let shown = day.calendar.stamp(drafted_at, true);
    assert!(shown.ends_with(day.abbreviation), "{shown}");
    assert!(html.contains(&shown), "the quote page shows its drafting time as {shown}: {html}");

    // The new-quote form offers validity from the business's today, 30 days ahead by default.
    let html = page(sam.email.clone(), "/quotes/new".to_owned()).await;
    assert!(html.contains(&format!("min=\"{}\"", day.local)), "{html}");
    assert!(html.contains(&format!("value=\"{}\"", day.local + Days::new(30))), "{html}");

    let html = page(ada.email.clone(), "/admin/settings".to_owned()).await;
    assert!(html.contains("PRICEGATE_TIMEZONE") && html.contains(day.calendar.zone_name()), "{html}");
    app.stop().await;
}

/// A zone PostgreSQL reads otherwise than Pricegate stops the start: there
/// `CET` is an abbreviation, always UTC+1, while the time zone database's
/// `CET` has summer time, so from 22:00 to 23:00 UTC in summer the gate and
/// the price list would be on different days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_postgresql_reads_otherwise_stops_the_start() {
    let db = TestDb::create(Backend::Postgres).await;
    let start = |zone: &'static str| {
        let url = db.url.clone();
        async move {
            let settings = Settings::from_lookup(|key| match key {
                "DATABASE_URL" => Some(url.clone()),
                "PRICEGATE_BIND" => Some("127.0.0.1:0".into()),
                "PRICEGATE_TIMEZONE" => Some(zone.into()),
                _ => None,
            })
            .expect("the zone's name is in the time zone database");
            pricegate::connect(&settings).await
        }
    };
    let refused = format!("{:#}", start("CET").await.expect_err("CET is read two ways"));
    assert!(refused.contains("PRICEGATE_TIMEZONE") && refused.contains("Europe/Berlin"), "{refused}");
    let store = start("Europe/Berlin").await.expect("a region's zone is read one way");
    assert_eq!(store.calendar().zone_name(), "Europe/Berlin");
    store.close().await;
}
