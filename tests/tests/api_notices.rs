//! Price notices: drafting, editing, publishing once, and acknowledging.

use pricegate_domain::Role;
use pricegate_tests::fixtures::{
    assert_error, create_notice, create_product, date_in_days, draft_quote, field, id_of, publish_notice,
    publish_price_change,
};
use pricegate_tests::{TestApp, both_backends};
use serde_json::json;

both_backends! {
    async fn finance_drafts_a_notice_with_or_without_price_changes(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;

        let r = finance.post("/api/v1/notices", &json!({"title": "Office closed", "body": "On **Friday**."})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["state"], "draft");
        assert_eq!(r.body["changes"], json!([]));
        assert_eq!(r.body["seq"], json!(null));
        assert_eq!(r.body["published_at"], json!(null));

        let r = finance
            .post("/api/v1/notices", &json!({
                "title": "Pumps up 10%", "body": "From December.",
                "changes": [{"sku": "PUMP-1", "unit_price_minor": 275_000, "effective_on": "2099-12-01"}]
            }))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let change = &r.body["changes"][0];
        assert_eq!(change["sku"], "PUMP-1");
        assert_eq!(change["unit_price_minor"], 275_000);
        assert_eq!(change["effective_on"], "2099-12-01");
        assert_eq!(change["currency"], "EUR");
        assert_eq!(change["product_name"], "Product PUMP-1");

        let fetched = finance.get(&format!("/api/v1/notices/{}", id_of(&r.body))).await;
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.body["changes"], r.body["changes"]);
    }
}

both_backends! {
    async fn a_change_to_an_unknown_sku_or_with_a_bad_price_or_date_is_refused(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let notice = |change: serde_json::Value| json!({"title": "T", "body": "B", "changes": [change]});

        let r = finance.post("/api/v1/notices", &notice(json!({"sku": "NOPE", "unit_price_minor": 1, "effective_on": "2099-01-01"}))).await;
        assert_error(&r, 422, "unknown_sku");
        assert_eq!(field(&r), "changes[0].sku");
        let r = finance.post("/api/v1/notices", &notice(json!({"sku": "pump-1", "unit_price_minor": 1, "effective_on": "2099-01-01"}))).await;
        assert_error(&r, 422, "unknown_sku");
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.ends_with("did you mean PUMP-1?")), "{}", r.text);

        for (change, expected) in [
            (json!({"sku": "PUMP-1", "unit_price_minor": -1, "effective_on": "2099-01-01"}), "changes[0].unit_price_minor"),
            (json!({"sku": "PUMP-1", "unit_price_minor": 1, "effective_on": "1 Jan 2099"}), "changes[0].effective_on"),
            (json!({"sku": "PUMP-1", "unit_price_minor": 1, "effective_on": "2099-02-30"}), "changes[0].effective_on"),
            // chrono alone reads these; stored as text, "+10000-…" sorts before today.
            (json!({"sku": "PUMP-1", "unit_price_minor": 1, "effective_on": "+10000-01-01"}), "changes[0].effective_on"),
            (json!({"sku": "PUMP-1", "unit_price_minor": 1, "effective_on": "2099-1-5"}), "changes[0].effective_on"),
            // Written so, but no client's date type reads year 0 back.
            (json!({"sku": "PUMP-1", "unit_price_minor": 1, "effective_on": "0000-01-01"}), "changes[0].effective_on"),
            (json!({"sku": "bad sku", "unit_price_minor": 1, "effective_on": "2099-01-01"}), "changes[0].sku"),
        ] {
            let r = finance.post("/api/v1/notices", &notice(change)).await;
            assert_error(&r, 422, "invalid_field");
            assert_eq!(field(&r), expected, "{}", r.text);
        }
        for (title, body, expected) in [("", "B", "title"), ("T", " ", "body"), (&*"t".repeat(201), "B", "title")] {
            let r = finance.post("/api/v1/notices", &json!({"title": title, "body": body})).await;
            assert_error(&r, 422, "invalid_field");
            assert_eq!(field(&r), expected);
        }
        let twice = |second: &str| json!({"title": "T", "body": "B", "changes": [
            {"sku": "PUMP-1", "unit_price_minor": 260_000, "effective_on": "2099-01-01"},
            {"sku": "PUMP-1", "unit_price_minor": 270_000, "effective_on": second},
        ]});
        let r = finance.post("/api/v1/notices", &twice("2099-01-01")).await;
        assert_error(&r, 422, "duplicate_change");
        assert_eq!(field(&r), "changes[1].sku");
        assert_eq!(finance.get("/api/v1/notices").await.body, json!([]), "nothing was half-written");

        let r = finance.post("/api/v1/notices", &twice("2099-07-01")).await;
        assert_eq!(r.status, 201, "one product may change again on a later date: {}", r.text);
    }
}

both_backends! {
    async fn a_draft_can_be_edited_but_a_published_notice_cannot(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let id = create_notice(&finance, "Typo", json!([])).await;

        let r = finance
            .patch(&format!("/api/v1/notices/{id}"), &json!({
                "title": "Fixed", "changes": [{"sku": "PUMP-1", "unit_price_minor": 260_000, "effective_on": "2099-01-01"}]
            }))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["title"], "Fixed");
        assert_eq!(r.body["body"], "Please read.");
        assert_eq!(r.body["changes"][0]["unit_price_minor"], 260_000);
        // The audit log says what the edit changed.
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let audit = admin.get("/api/v1/audit?action=notice.edited").await;
        assert_eq!(audit.body[0]["detail"], json!({"title": "Fixed", "edited": "title and price changes", "changes": 1}), "{}", audit.text);

        let r = finance.patch(&format!("/api/v1/notices/{id}"), &json!({"changes": [{"sku": "GONE", "unit_price_minor": 1, "effective_on": "2099-01-01"}]})).await;
        assert_error(&r, 422, "unknown_sku");
        let unchanged = finance.get(&format!("/api/v1/notices/{id}")).await;
        assert_eq!(unchanged.body["changes"][0]["sku"], "PUMP-1", "a refused edit changes nothing");

        publish_notice(&finance, &id).await;
        let r = finance.patch(&format!("/api/v1/notices/{id}"), &json!({"title": "Sneaky"})).await;
        assert_error(&r, 409, "notice_published");
        assert_eq!(finance.get(&format!("/api/v1/notices/{id}")).await.body["title"], "Fixed");
    }
}

both_backends! {
    async fn publishing_assigns_increasing_seq_and_cannot_happen_twice(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let mut last_published_at = String::new();
        for expected in 1..=3 {
            let id = create_notice(&finance, &format!("Notice {expected}"), json!([])).await;
            let r = publish_notice(&finance, &id).await;
            assert_eq!(r["id"], json!(id));
            assert_eq!(r["state"], "published");
            assert_eq!(r["seq"], expected);
            let published_at = r["published_at"].as_str().unwrap().to_owned();
            assert!(published_at > last_published_at, "{published_at} after {last_published_at}");
            last_published_at = published_at;

            let again = finance.post_empty(&format!("/api/v1/notices/{id}/publish")).await;
            assert_error(&again, 409, "notice_published");
        }
        let list = sam.get("/api/v1/notices").await;
        let seqs: Vec<i64> = list.body.as_array().unwrap().iter().map(|n| n["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, [3, 2, 1], "newest first");
        let r = finance.post_empty(&format!("/api/v1/notices/{}/publish", uuid::Uuid::new_v4())).await;
        assert_error(&r, 404, "not_found");
    }
}

both_backends! {
    async fn acknowledged_by_me_flips_for_the_one_who_acknowledged(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (sue, _) = app.user(Role::Sales, "Sue").await;
        let id = create_notice(&finance, "Read me", json!([])).await;
        publish_notice(&finance, &id).await;

        let before = sam.get(&format!("/api/v1/notices/{id}")).await;
        assert_eq!(before.body["acknowledged_by_me"], false);

        let ack = sam.post_empty(&format!("/api/v1/notices/{id}/acknowledge")).await;
        assert_eq!(ack.status, 200, "{}", ack.text);
        assert_eq!(ack.body["notice_id"], json!(id));
        assert_eq!(ack.body["user_id"], json!(sam_user.id));
        assert_eq!(ack.body["channel"], "api");

        let after = sam.get(&format!("/api/v1/notices/{id}")).await;
        assert_eq!(after.body["acknowledged_by_me"], true);
        assert_eq!(after.body["acknowledged_at"], ack.body["acknowledged_at"]);
        assert_eq!(sam.get("/api/v1/notices").await.body[0]["acknowledged_by_me"], true);
        assert_eq!(sue.get(&format!("/api/v1/notices/{id}")).await.body["acknowledged_by_me"], false);
        assert_eq!(sue.get("/api/v1/notices").await.body[0]["acknowledged_by_me"], false);
    }
}

both_backends! {
    async fn a_draft_cannot_be_acknowledged(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let id = create_notice(&finance, "Not yet", json!([])).await;

        assert_error(&sam.post_empty(&format!("/api/v1/notices/{id}/acknowledge")).await, 404, "not_found");
        assert_error(&finance.post_empty(&format!("/api/v1/notices/{id}/acknowledge")).await, 409, "notice_not_published");
        let r = finance.get(&format!("/api/v1/notices/{id}/acknowledgements")).await;
        assert_error(&r, 409, "notice_not_published");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("draft"), "{}", r.text);
        publish_notice(&finance, &id).await;
        let acks = finance.get(&format!("/api/v1/notices/{id}/acknowledgements")).await;
        assert_eq!(acks.body["acknowledged"], json!([]), "the refused acknowledgements left no trace");
        let r = sam.post_empty(&format!("/api/v1/notices/{}/acknowledge", uuid::Uuid::new_v4())).await;
        assert_error(&r, 404, "not_found");
    }
}

both_backends! {
    async fn the_acknowledgements_list_shows_who_has_and_which_salespeople_have_not(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (_, sue) = app.user(Role::Sales, "Sue").await;
        let (_, gone) = app.user(Role::Sales, "Gone").await;
        let r = admin.patch(&format!("/api/v1/users/{}", gone.id), &json!({"active": false})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let id = create_notice(&finance, "Read me", json!([])).await;
        publish_notice(&finance, &id).await;

        let r = finance.get(&format!("/api/v1/notices/{id}/acknowledgements")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["acknowledged"], json!([]));
        let mut pending: Vec<String> = r.body["pending"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect();
        pending.sort();
        let mut expected = vec![sam_user.id.to_string(), sue.id.to_string()];
        expected.sort();
        assert_eq!(pending, expected, "active salespeople only: {}", r.text);

        let ack = sam.post_empty(&format!("/api/v1/notices/{id}/acknowledge")).await;
        let r = finance.get(&format!("/api/v1/notices/{id}/acknowledgements")).await;
        let acknowledged = r.body["acknowledged"].as_array().unwrap();
        assert_eq!(acknowledged.len(), 1);
        assert_eq!(acknowledged[0]["user"]["id"], json!(sam_user.id));
        assert_eq!(acknowledged[0]["channel"], "api");
        assert_eq!(acknowledged[0]["acknowledged_at"], ack.body["acknowledged_at"]);
        assert_eq!(r.body["pending"].as_array().unwrap().len(), 1);
        assert_eq!(r.body["pending"][0]["id"], json!(sue.id));

        let r = finance.get(&format!("/api/v1/notices/{}/acknowledgements", uuid::Uuid::new_v4())).await;
        assert_error(&r, 404, "not_found");
    }
}

both_backends! {
    async fn a_change_dated_before_a_price_already_in_force_is_refused_at_publication(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        create_product(&finance, "VALVE-7", "EUR", 4_990).await;
        // The days are read once, so that the test means the same at midnight.
        let [d5, d3, d2, d1, d0] = [-5, -3, -2, -1, 0].map(date_in_days);
        let in_force = publish_price_change(&finance, "PUMP-1", 260_000, &d2).await;
        let title = finance.get(&format!("/api/v1/notices/{in_force}")).await.body["title"].clone();

        // Dated before the price in force since two days ago: it would never apply.
        let late = create_notice(&finance, "Backdated pumps", json!([
            {"sku": "VALVE-7", "unit_price_minor": 5_100, "effective_on": d5},
            {"sku": "PUMP-1", "unit_price_minor": 255_000, "effective_on": d3},
        ])).await;
        let r = finance.post_empty(&format!("/api/v1/notices/{late}/publish")).await;
        assert_error(&r, 409, "change_never_in_force");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("The PUMP-1 change dated {d3} would never take force")), "{message}");
        assert!(message.contains(title.as_str().unwrap()), "{message}");
        // Published today though dated two days ago, it took force today, as the price list says.
        assert!(message.contains(&format!("is in force since {d0} (on its publication; dated {d2}). Date it {d2} or later")), "{message}");
        assert_eq!(finance.get(&format!("/api/v1/notices/{late}")).await.body["state"], "draft", "nothing published");
        let audit = finance.get("/api/v1/audit?action=notice.publish_refused").await;
        assert_eq!(audit.body[0]["subject_id"].as_str(), Some(late.as_str()), "{}", audit.text);
        let products = finance.get("/api/v1/products").await;
        let pump = products.body.as_array().unwrap().iter().find(|p| p["sku"] == "PUMP-1").unwrap().clone();
        assert_eq!(pump["unit_price_minor"], 260_000, "{pump}");

        // Nor may the notice outrank one of its own changes: VALVE-7 twice,
        // the earlier date never in force.
        let r = finance.patch(&format!("/api/v1/notices/{late}"), &json!({"changes": [
            {"sku": "VALVE-7", "unit_price_minor": 5_100, "effective_on": d5},
            {"sku": "VALVE-7", "unit_price_minor": 5_200, "effective_on": d1},
        ]})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = finance.post_empty(&format!("/api/v1/notices/{late}/publish")).await;
        assert_error(&r, 409, "change_never_in_force");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("The VALVE-7 change dated {d5}"))
                && message.contains(&format!("from this notice's own VALVE-7 change is in force since {d1}")),
            "{message}"
        );

        // Dated on the day the price in force took effect, it takes over; a
        // backdated change with nothing later in force applies at once.
        let r = finance.patch(&format!("/api/v1/notices/{late}"), &json!({"changes": [
            {"sku": "VALVE-7", "unit_price_minor": 5_100, "effective_on": d5},
            {"sku": "PUMP-1", "unit_price_minor": 255_000, "effective_on": d2},
        ]})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        publish_notice(&finance, &late).await;
        let products = finance.get("/api/v1/products").await.body;
        let price = |sku: &str| products.as_array().unwrap().iter().find(|p| p["sku"] == sku).unwrap()["unit_price_minor"].clone();
        assert_eq!((price("PUMP-1"), price("VALVE-7")), (json!(255_000), json!(5_100)));
    }
}

both_backends! {
    async fn a_notice_waits_on_the_drafts_of_signers_who_have_not_acknowledged_it(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let (rita, _) = app.user(Role::Sales, "Rita").await;
        create_product(&finance, "PUMP-1", "EUR", 100_000).await;
        let lines = json!([{"sku": "PUMP-1", "quantity": 1}]);
        let sams = id_of(&draft_quote(&sam, lines.clone()).await);
        let ritas = id_of(&draft_quote(&rita, lines.clone()).await);
        let cancelled = id_of(&draft_quote(&sam, lines.clone()).await);
        assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{cancelled}/cancel")).await.status, 200);
        let notice = publish_price_change(&finance, "PUMP-1", 110_000, &date_in_days(0)).await;
        let later = id_of(&draft_quote(&sam, lines).await);
        let waiting = |app: &TestApp| {
            let store = app.store.clone();
            let notice = notice.parse().expect("a notice id");
            async move { store.quotes_waiting_on(notice).await.expect("the waiting drafts") }
        };
        let ids = |w: Vec<pricegate_store::WaitingQuote>| w.into_iter().map(|q| q.id.to_string()).collect::<Vec<_>>();
        let both = ids(waiting(&app).await);
        assert_eq!(both.len(), 2, "{both:?}");
        assert!(both.contains(&sams) && both.contains(&ritas), "not the cancelled one, nor {later}: {both:?}");
        assert_eq!(rita.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
        assert_eq!(ids(waiting(&app).await), [sams], "Rita's no longer waits");
        app.stop().await;
    }
}

both_backends! {
    async fn someone_who_joined_after_a_notice_is_pending_only_while_signing_a_draft_it_holds_up(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 100_000).await;
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 1}])).await);
        let notice = publish_price_change(&finance, "PUMP-1", 110_000, &date_in_days(0)).await;
        let (_, nora) = app.user(Role::Sales, "Nora").await;
        let pending = |finance: &pricegate_tests::Session| {
            let path = format!("/api/v1/notices/{notice}/acknowledgements");
            let finance = finance.clone();
            async move {
                let r = finance.get(&path).await;
                assert_eq!(r.status, 200, "{}", r.text);
                r.body["pending"].as_array().into_iter().flatten().map(|u| u["name"].as_str().unwrap_or("").to_owned()).collect::<Vec<_>>()
            }
        };
        assert_eq!(pending(&finance).await, ["Sam"], "Nora joined after it was published");
        // Sam's draft, drafted before the notice, is handed to Nora to sign: now it waits on her.
        let r = sam.patch(&format!("/api/v1/quotes/{quote}"), &json!({"signer_id": nora.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let mut now_pending = pending(&finance).await;
        now_pending.sort();
        assert_eq!(now_pending, ["Nora", "Sam"]);
        app.stop().await;
    }
}

both_backends! {
    async fn a_notice_from_before_a_salesperson_joined_awaits_them_only_for_a_draft_they_sign(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 1}])).await);
        let notice = publish_price_change(&finance, "PUMP-1", 260_000, &date_in_days(0)).await;
        let (nina, nina_user) = app.user(Role::Sales, "Nina").await;
        let awaiting = |list: serde_json::Value| {
            list.as_array().map(|l| l.iter().map(|n| n["awaiting_my_acknowledgement"].clone()).collect::<Vec<_>>())
        };

        assert_eq!(awaiting(sam.get("/api/v1/notices").await.body), Some(vec![json!(true)]));
        assert_eq!(awaiting(finance.get("/api/v1/notices").await.body), Some(vec![json!(false)]), "finance need not");
        let mine = nina.get("/api/v1/notices").await.body;
        assert_eq!((&mine[0]["acknowledged_by_me"], &mine[0]["awaiting_my_acknowledgement"]), (&json!(false), &json!(false)));

        let pending_names = |acks: serde_json::Value| -> Vec<String> {
            acks["pending"].as_array().into_iter().flatten().filter_map(|u| u["name"].as_str().map(str::to_owned)).collect()
        };
        let acks = finance.get(&format!("/api/v1/notices/{notice}/acknowledgements")).await.body;
        assert_eq!(pending_names(acks), ["Sam"], "the dashboard agrees");
        // A draft of her own, drafted after the notice, is not held up by it.
        draft_quote(&nina, json!([{"sku": "PUMP-1", "quantity": 1}])).await;
        assert_eq!(awaiting(nina.get("/api/v1/notices").await.body), Some(vec![json!(false)]));

        // Sam hands his draft, which the notice holds up, to Nina: now it is hers to read.
        let r = sam.patch(&format!("/api/v1/quotes/{quote}"), &json!({"signer_id": nina_user.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(awaiting(nina.get("/api/v1/notices").await.body), Some(vec![json!(true)]));
        assert_eq!(nina.get(&format!("/api/v1/notices/{notice}")).await.body["awaiting_my_acknowledgement"], true);
        let acks = finance.get(&format!("/api/v1/notices/{notice}/acknowledgements")).await.body;
        assert_eq!(pending_names(acks), ["Nina", "Sam"], "the dashboard agrees");

        assert_eq!(nina.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
        let mine = nina.get(&format!("/api/v1/notices/{notice}")).await.body;
        assert_eq!((&mine["acknowledged_by_me"], &mine["awaiting_my_acknowledgement"]), (&json!(true), &json!(false)));
    }
}

both_backends! {
    async fn notices_with_more_changes_than_one_statement_may_bind_are_listed_and_still_hold_up_a_quote(backend: Backend) {
        // 67 notices of 500 changes: 33,500 change rows, more than SQLite
        // binds in one statement (32,766).
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let skus: Vec<String> = (0..20).map(|i| format!("BULK-{i}")).collect();
        for sku in &skus {
            create_product(&finance, sku, "EUR", 10_000).await;
        }
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "BULK-0", "quantity": 1}])).await);
        let first_day = chrono::NaiveDate::from_ymd_opt(2040, 1, 1).expect("a date");
        let mut notices = Vec::new();
        for n in 0..67u64 {
            let changes: Vec<_> = (0..25u64)
                .flat_map(|d| {
                    let day = first_day + chrono::Days::new(n * 25 + d);
                    skus.iter().map(move |sku| json!({"sku": sku, "unit_price_minor": 11_000, "effective_on": day.to_string()}))
                })
                .collect();
            let id = create_notice(&finance, &format!("Bulk {n}"), json!(changes)).await;
            publish_notice(&finance, &id).await;
            notices.push(id);
        }

        let r = sam.get("/api/v1/notices").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let listed = r.body.as_array().expect("a list");
        assert_eq!(listed.len(), 67);
        assert!(listed.iter().all(|n| n["changes"].as_array().map(Vec::len) == Some(500)), "every change is listed");
        assert_eq!(finance.get("/api/v1/notices").await.status, 200);

        let r = sam.post_empty(&format!("/api/v1/quotes/{quote}/finalise")).await;
        assert_error(&r, 409, "pending_acknowledgements");
        let gate = sam.get(&format!("/api/v1/quotes/{quote}/gate")).await;
        assert_eq!(gate.status, 200, "{}", gate.text);
        assert_eq!(gate.body["pending"].as_array().map(Vec::len), Some(67), "every notice is pending");
    }
}

both_backends! {
    async fn finance_deletes_a_draft_but_never_a_published_notice(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let draft = create_notice(
            &finance,
            "Abandoned idea",
            json!([{"sku": "PUMP-1", "unit_price_minor": 260_000, "effective_on": "2099-01-01"}]),
        )
        .await;
        assert_error(&sam.delete(&format!("/api/v1/notices/{draft}")).await, 403, "forbidden");

        let r = finance.delete(&format!("/api/v1/notices/{draft}")).await;
        assert_eq!(r.status, 204, "{}", r.text);
        assert_error(&finance.get(&format!("/api/v1/notices/{draft}")).await, 404, "not_found");
        assert_error(&finance.delete(&format!("/api/v1/notices/{draft}")).await, 404, "not_found");
        let audit = finance.get("/api/v1/audit?action=notice.deleted").await;
        assert_eq!(audit.body[0]["subject_id"], json!(draft), "{}", audit.text);
        assert_eq!(audit.body[0]["detail"]["title"], "Abandoned idea");

        let published = create_notice(&finance, "On record", json!([])).await;
        publish_notice(&finance, &published).await;
        assert_error(&finance.delete(&format!("/api/v1/notices/{published}")).await, 409, "notice_published");
        assert_eq!(finance.get(&format!("/api/v1/notices/{published}")).await.status, 200);
    }
}

both_backends! {
    async fn a_notice_read_by_a_person_says_the_price_each_change_moves_from(backend: Backend) {
        use pricegate_tests::pages::{client, log_in};
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let on = |days: i64| date_in_days(days);
        let notice = |changes: serde_json::Value| create_notice(&finance, "Prices", changes);
        let a = notice(json!([
            {"sku": "P-1", "unit_price_minor": 1_200, "effective_on": on(10)},
            {"sku": "P-1", "unit_price_minor": 1_500, "effective_on": on(30)},
        ]))
        .await;
        publish_notice(&finance, &a).await;
        // Published later: on the date both set, its price is the one in force.
        let b = notice(json!([
            {"sku": "P-1", "unit_price_minor": 1_100, "effective_on": on(10)},
            {"sku": "P-1", "unit_price_minor": 1_300, "effective_on": on(20)},
        ]))
        .await;
        publish_notice(&finance, &b).await;
        // A draft's own earlier price counts for its later one only where no published one is later.
        // On a date a published notice already prices, that price is the one it replaces.
        let c = notice(json!([
            {"sku": "P-1", "unit_price_minor": 900, "effective_on": on(5)},
            {"sku": "P-1", "unit_price_minor": 1_250, "effective_on": on(20)},
            {"sku": "P-1", "unit_price_minor": 950, "effective_on": on(40)},
            {"sku": "P-1", "unit_price_minor": 990, "effective_on": on(50)},
        ]))
        .await;

        // What finance reads on each notice's page, in its "Before this notice" column.
        let session = log_in(&app.base, &fiona.email, pricegate_tests::PASSWORD).await.session.expect("a session").0;
        let http = client();
        let before_this_notice = |id: String| {
            let (http, base, session) = (&http, &app.base, &session);
            async move {
                let page = http
                    .get(format!("{base}/notices/{id}"))
                    .header("cookie", format!("pricegate_session={session}"))
                    .send()
                    .await
                    .expect("the notice's page");
                assert_eq!(page.status(), 200);
                let html = pricegate_tests::pages::unwrapped(&page.text().await.unwrap_or_default());
                html.split("data-label=\"Before this notice\">")
                    .skip(1)
                    .filter_map(|cell| cell.split('<').next())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            }
        };
        // A published notice says what its e-mails said: B, published after it, is not counted.
        assert_eq!(before_this_notice(a).await, ["10.00 EUR", "12.00 EUR"]);
        // On the 10th it replaces A's price for that day; on the 20th, its own of the 10th.
        assert_eq!(before_this_notice(b).await, ["12.00 EUR", "11.00 EUR"], "A's price, then its own");
        assert_eq!(before_this_notice(c).await, ["10.00 EUR", "13.00 EUR", "15.00 EUR", "9.50 EUR"]);
        // The API lists changes as finance wrote them, without it.
        let listed = finance.get("/api/v1/notices").await.body;
        assert!(!listed.to_string().contains("price_before"), "{listed}");
    }
}

both_backends! {
    async fn notices_are_listed_a_page_at_a_time_with_what_awaits_me_and_who_has_acknowledged(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (sue, _) = app.user(Role::Sales, "Sue").await;
        let (dee, dee_user) = app.user(Role::Sales, "Dee").await;
        create_product(&finance, "PUMP-1", "EUR", 100_000).await;
        // Drafted before every notice; handed later to someone who joins after them all.
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "PUMP-1", "quantity": 1}])).await);
        let mut published = Vec::new();
        for n in 0..55 {
            let id = create_notice(&finance, &format!("Notice {n}"), json!([])).await;
            let seq = publish_notice(&finance, &id).await["seq"].as_i64().expect("a seq");
            published.push((id, seq));
        }
        let draft = create_notice(&finance, "Still a draft", json!([])).await;
        // Sam reads all but two; Sue only the newest and one other.
        for (n, (id, _)) in published.iter().enumerate() {
            if n != 3 && n != 54 {
                assert_eq!(sam.post_empty(&format!("/api/v1/notices/{id}/acknowledge")).await.status, 200);
            }
        }
        for n in [50, 54] {
            assert_eq!(sue.post_empty(&format!("/api/v1/notices/{}/acknowledge", published[n].0)).await.status, 200);
        }
        // Finance may acknowledge too, and someone who acknowledged may leave: both still counted as acknowledged.
        let twenty = format!("/api/v1/notices/{}/acknowledge", published[20].0);
        assert_eq!(finance.post_empty(&twenty).await.status, 200);
        assert_eq!(dee.post_empty(&twenty).await.status, 200);
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        assert_eq!(admin.patch(&format!("/api/v1/users/{}", dee_user.id), &json!({"active": false})).await.status, 200);
        // Nina joined after every notice: none is asked of her, and finance's counts leave her out.
        let (nina, nina_user) = app.user(Role::Sales, "Nina").await;
        let titles = |list: &serde_json::Value| -> Vec<String> {
            list.as_array().into_iter().flatten().filter_map(|n| n["title"].as_str().map(str::to_owned)).collect()
        };

        // The API: every notice without `limit`, else a page at a time by `seq`.
        assert_eq!(titles(&sam.get("/api/v1/notices").await.body).len(), 55);
        let r = sam.get("/api/v1/notices?limit=10").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let first: Vec<String> = (45..55).rev().map(|n| format!("Notice {n}")).collect();
        assert_eq!(titles(&r.body), first, "newest first");
        let r = sam.get(&format!("/api/v1/notices?limit=10&before={}", published[45].1)).await;
        let next: Vec<String> = (35..45).rev().map(|n| format!("Notice {n}")).collect();
        assert_eq!(titles(&r.body), next, "the next page follows on");
        assert_eq!(titles(&sam.get("/api/v1/notices?awaiting=true").await.body), ["Notice 54", "Notice 3"]);
        assert_eq!(titles(&nina.get("/api/v1/notices?awaiting=true").await.body), Vec::<String>::new());
        let all = finance.get("/api/v1/notices").await.body;
        assert_eq!((titles(&all).len(), all[0]["id"].as_str()), (56, Some(draft.as_str())), "finance's draft first");
        assert_eq!(titles(&finance.get("/api/v1/notices?state=draft").await.body), ["Still a draft"]);
        assert_eq!(titles(&finance.get("/api/v1/notices?state=published&limit=1").await.body), ["Notice 54"]);
        assert_eq!(titles(&finance.get("/api/v1/notices?limit=1").await.body), ["Still a draft", "Notice 54"], "drafts beyond the limit, first");
        let r = finance.get(&format!("/api/v1/notices?limit=1&before={}", published[54].1)).await;
        assert_eq!(titles(&r.body), ["Notice 53"], "no drafts on a later page");
        assert_eq!(sam.get("/api/v1/notices?state=draft").await.body, json!([]), "drafts are finance's");
        for (query, field_name) in
            [("state=old", "state"), ("limit=0", "limit"), ("limit=-1", "limit"), ("limit=1001", "limit"), ("before=0", "before"), ("state=draft&before=3", "before"), ("state=draft&limit=5", "limit")]
        {
            let r = finance.get(&format!("/api/v1/notices?{query}")).await;
            assert_error(&r, 422, "invalid_field");
            assert_eq!(field(&r), field_name, "{query}");
        }
        for query in ["awaiting=maybe", "before=x", "colour=red"] {
            assert_error(&finance.get(&format!("/api/v1/notices?{query}")).await, 400, "invalid_query");
        }

        // The page: 50 at a time, with what still awaits a salesperson.
        let rows = |html: &str| html.matches("<tr><td><a href=\"/notices/").count();
        let html = pricegate_tests::pages::page_as(&app.base, &sam_user.email, "/notices").await;
        assert_eq!(rows(&html), 50, "{html}");
        assert!(html.contains(">To acknowledge (2)</a>"), "{html}");
        let older = format!("href=\"/notices?before={}\" id=\"older-notices\"", published[5].1);
        assert!(html.contains(&older), "{html}");
        let html = pricegate_tests::pages::page_as(&app.base, &sam_user.email, &format!("/notices?before={}", published[5].1)).await;
        assert_eq!(rows(&html), 5, "{html}");
        assert!(html.contains("id=\"newest-notices\"") && !html.contains("id=\"older-notices\""), "{html}");
        assert!(html.contains("Notice 3</a></td><td data-label=\"Status\"><span class=\"badge unread\">to acknowledge"), "{html}");
        let html = pricegate_tests::pages::page_as(&app.base, &sam_user.email, "/notices?show=awaiting").await;
        assert_eq!(rows(&html), 2, "{html}");
        assert!(html.find(">Notice 54<").expect("listed") < html.find(">Notice 3<").expect("listed"), "{html}");
        let html = pricegate_tests::pages::page_as(&app.base, &nina_user.email, "/notices?show=awaiting").await;
        assert!(html.contains(">To acknowledge (0)</a>") && html.contains("Nothing to acknowledge"), "{html}");

        // Finance: the draft first, then each notice with its count, as its list of who has acknowledged says.
        let html = pricegate_tests::pages::page_as(&app.base, &fiona.email, "/notices").await;
        assert_eq!(rows(&html), 51, "the draft and 50 published: {html}");
        assert!(html.find(">Still a draft<").expect("listed") < html.find(">Notice 54<").expect("listed"));
        assert!(!html.contains("id=\"notice-filters\""), "finance is asked to acknowledge nothing");
        let count = |n: usize| {
            let id = &published[n].0;
            let at = html.find(&format!("href=\"/notices/{id}/dashboard\"")).unwrap_or_else(|| panic!("Notice {n}: {html}"));
            html[at..].split_once("\">").map(|(_, rest)| rest.split("</a>").next().unwrap_or_default().to_owned()).unwrap_or_default()
        };
        assert_eq!(count(54), "1 acknowledged, <strong>1 pending</strong>");
        assert_eq!(count(50), "2 acknowledged, none pending");
        assert_eq!(count(20), "3 acknowledged (1 not in sales), <strong>1 pending</strong>", "Sam, Fiona and Dee, who left; Sue");
        assert!(html.contains(">Notice 20</a></td><td data-label=\"Status\"><span class=\"badge published\">published, you acknowledged</span>"), "Fiona's own, not the notice's state: {html}");
        let as_dashboard = |n: usize| {
            let finance = finance.clone();
            let id = published[n].0.clone();
            async move {
                let acks = finance.get(&format!("/api/v1/notices/{id}/acknowledgements")).await.body;
                let length = |list: &str| acks[list].as_array().map(Vec::len).unwrap_or_default();
                let (acknowledged, pending) = (length("acknowledged"), length("pending"));
                let others = acks["acknowledged"].as_array().into_iter().flatten().filter(|a| a["user"]["role"] != "sales").count();
                let others = if others == 0 { String::new() } else { format!(" ({others} not in sales)") };
                let pending = if pending == 0 { "none pending".to_owned() } else { format!("<strong>{pending} pending</strong>") };
                format!("{acknowledged} acknowledged{others}, {pending}")
            }
        };
        for n in [54, 50, 20] {
            assert_eq!(count(n), as_dashboard(n).await, "Notice {n} as its dashboard");
        }
        let html = pricegate_tests::pages::page_as(&app.base, &fiona.email, &format!("/notices?before={}", published[5].1)).await;
        assert!(!html.contains("Still a draft") && rows(&html) == 5, "drafts lead the first page only: {html}");
        assert!(html.contains("0 acknowledged, <strong>2 pending</strong>"), "Notice 3, which Nina is not asked for: {html}");
        // Sam's draft, older than every notice, handed to Nina: now every notice asks her too.
        let r = sam.patch(&format!("/api/v1/quotes/{quote}"), &json!({"signer_id": nina_user.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let html = pricegate_tests::pages::page_as(&app.base, &fiona.email, "/notices").await;
        let count = |n: usize| {
            let id = &published[n].0;
            let at = html.find(&format!("href=\"/notices/{id}/dashboard\"")).unwrap_or_else(|| panic!("Notice {n}: {html}"));
            html[at..].split_once("\">").map(|(_, rest)| rest.split("</a>").next().unwrap_or_default().to_owned()).unwrap_or_default()
        };
        assert_eq!(count(50), "2 acknowledged, <strong>1 pending</strong>", "Nina now");
        for n in [54, 50, 20] {
            assert_eq!(count(n), as_dashboard(n).await, "Notice {n} as its dashboard, with Nina asked");
        }
        assert_eq!(titles(&nina.get("/api/v1/notices?awaiting=true&limit=3").await.body), ["Notice 54", "Notice 53", "Notice 52"]);
        let html = pricegate_tests::pages::page_as(&app.base, &sam_user.email, "/notices?before=1").await;
        assert!(html.contains("No older notices.") && html.contains("id=\"newest-notices\""), "{html}");
        let html = pricegate_tests::pages::page_as(&app.base, &sam_user.email, "/notices?before=x").await;
        assert!(html.contains("could not be read") && rows(&html) == 50, "{html}");
        let html = pricegate_tests::pages::page_as(&app.base, &fiona.email, "/notices?show=everything&show=again").await;
        assert!(html.contains("This address could not be read") && rows(&html) == 51, "{html}");
        let html = pricegate_tests::pages::page_as(&app.base, &fiona.email, "/notices?show=%3Cb%3E").await;
        assert!(html.contains("There is no list \u{201c}&#60;b&#62;\u{201d}"), "{html}");
        app.stop().await;
    }
}

both_backends! {
/// On a notice's dashboard, the pending salespeople whose drafts it holds up
/// come first, most drafts first, then everyone by name: among hundreds
/// pending, the ones holding up sales are not buried by their addresses.
async fn the_dashboard_lists_first_those_whose_quotes_the_notice_holds_up(backend: Backend) {
    // The worker waits: the reminders below are queued by hand, on a
    // schedule of zero, and a publication's e-mail written by the worker's
    // fan-out meanwhile would count as the reminder of that instant.
    let app = TestApp::spawn_with(backend, |s| s.worker_poll = std::time::Duration::from_secs(3600)).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    app.user(Role::Sales, "Abe Adams").await;
    let (zed, _) = app.user(Role::Sales, "Zed Zimmer").await;
    let (mia, _) = app.user(Role::Sales, "Mia Moreau").await;
    app.user(Role::Sales, "bea Brandt").await;
    app.user(Role::Sales, "Carl Cole").await;
    create_product(&finance, "P-1", "EUR", 100).await;
    draft_quote(&zed, json!([{"sku": "P-1", "quantity": 3}])).await;
    for _ in 0..2 {
        draft_quote(&mia, json!([{"sku": "P-1", "quantity": 1}])).await;
    }
    let notice = create_notice(
        &finance,
        "P-1 up",
        json!([{"sku": "P-1", "unit_price_minor": 200, "effective_on": "2099-01-01"}]),
    )
    .await;
    // A draft has none yet: the page says where to publish it.
    let cookie = pricegate_tests::pages::session_cookie(&app.base, &fiona.email).await;
    let r = pricegate_tests::pages::client()
        .get(format!("{}/notices/{notice}/dashboard", app.base))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let draft = r.text().await.unwrap();
    assert!(
        draft.contains("A draft has no dashboard")
            && draft.contains("review it on its page and publish it from there")
            && draft.contains(&format!("<a href=\"/notices/{notice}\" id=\"next\">Open the draft</a>")),
        "{draft}"
    );
    publish_notice(&finance, &notice).await;
    let html = pricegate_tests::pages::page_as(&app.base, &fiona.email, &format!("/notices/{notice}/dashboard")).await;
    assert!(!html.contains("id=\"escalated\""), "not escalated yet: {html}");
    let table =
        html.split("<table id=\"pending\"").nth(1).and_then(|t| t.split("</table>").next()).expect("the pending table");
    let names: Vec<&str> = pending_rows(table).filter_map(|row| row.split(" <span").next()).collect();
    assert_eq!(names, ["Mia Moreau", "Zed Zimmer", "Abe Adams", "bea Brandt", "Carl Cole"], "{table}");
    assert!(html.contains(
        "Those whose quotes it holds up first, most quotes first; then everyone by name. Each person's quotes it changes are listed first."
    ));
    // Each held-up draft says what it is worth, and what the notice does to it from when.
    assert!(
        table.contains("· total 3.00 EUR · +3.00 EUR from 2099-01-01 while it is valid</span></li>")
            && table.matches("· total 1.00 EUR · +1.00 EUR from 2099-01-01 while it is valid</span></li>").count() == 2,
        "{table}"
    );
    assert_eq!(html.matches("<span class=\"reminded\">None yet</span>").count(), 2, "{table}");
    let unreminded = "None: no draft of theirs waits for it, so only Remind reminds them";
    assert_eq!(html.matches(unreminded).count(), 3, "Abe, Bea and Carl hold up nothing: {table}");

    // Each says the reminders queued for them: those the notice holds up are reminded, the others not.
    let queued = app.store.enqueue_due_reminders(&[std::time::Duration::ZERO]).await.expect("reminders queued");
    assert_eq!(queued, 2, "Mia and Zed, whose drafts it holds up");
    let html = pricegate_tests::pages::page_as(&app.base, &fiona.email, &format!("/notices/{notice}/dashboard")).await;
    let rows: Vec<&str> = pending_rows(html.split("<table id=\"pending\"").nth(1).unwrap_or_default()).collect();
    let reminded = |row: &str| row.split("class=\"reminded\">").nth(1).and_then(|r| r.split("</span>").next()).unwrap_or_default().to_owned();
    assert!(reminded(rows[0]).starts_with("1, at 20"), "Mia: {}", rows[0]);
    assert!(reminded(rows[1]).starts_with("1, at 20"), "Zed: {}", rows[1]);
    assert_eq!(reminded(rows[2]), unreminded, "Abe: {}", rows[2]);
    app.stop().await;
}
}

/// The rows of a dashboard's table of people (pending or stranded), each
/// from its first cell on.
fn pending_rows(table: &str) -> impl Iterator<Item = &str> {
    table.split("<tr id=\"person-").skip(1).filter_map(|row| row.split_once("\"><td>").map(|(_, cells)| cells))
}

both_backends! {
/// A notice that holds up many drafts of one person lists the first ten of
/// them on its dashboard, and the rest from a link to that person's full
/// list; what is at stake counts them all.
async fn the_dashboard_lists_ten_drafts_a_person_and_the_rest_from_a_link(backend: Backend) {
    use pricegate_tests::pages::page_as;
    let app = TestApp::spawn(backend).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (admin, _) = app.user(Role::Admin, "Ada").await;
    let (mia, mia_user) = app.user(Role::Sales, "Mia Moreau").await;
    let (zed, zed_user) = app.user(Role::Sales, "Zed Zimmer").await;
    create_product(&finance, "P-1", "EUR", 100).await;
    for quantity in 1..=12 {
        draft_quote(&mia, json!([{"sku": "P-1", "quantity": quantity}])).await;
    }
    for quantity in 101..=111 {
        draft_quote(&zed, json!([{"sku": "P-1", "quantity": quantity}])).await;
    }
    let r = admin.patch(&format!("/api/v1/users/{}", zed_user.id), &json!({"active": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let notice = create_notice(
        &finance,
        "P-1 up",
        json!([{"sku": "P-1", "unit_price_minor": 200, "effective_on": "2099-01-01"}]),
    )
    .await;
    publish_notice(&finance, &notice).await;
    let dashboard = format!("/notices/{notice}/dashboard");
    let row_of = |html: &str, id: uuid::Uuid| {
        html.split(&format!("<tr id=\"person-{id}\">")).nth(1).and_then(|r| r.split("</tr>").next()).unwrap_or_default().to_owned()
    };
    let totals = |row: &str| -> Vec<String> {
        row.split("· total ").skip(1).filter_map(|t| t.split(" EUR").next()).map(str::to_owned).collect()
    };
    let first: Vec<String> = (1..=10).map(|q| format!("{q}.00")).collect();

    let html = page_as(&app.base, &fiona.email, &dashboard).await;
    // Counted in full: 1 + … + 12 and 101 + … + 111 euros, doubled by the notice.
    assert!(html.contains("Held up: 23 drafts worth 1,244.00 EUR, +1,244.00 EUR on them while they are valid"), "{html}");
    let mia_row = row_of(&html, mia_user.id);
    assert_eq!(totals(&mia_row), first, "Mia's first ten, in drafting order: {mia_row}");
    let all_of_mia = format!("<a href=\"{dashboard}?all={}#person-{}\">list all 12</a>", mia_user.id, mia_user.id);
    assert!(mia_row.contains(&format!("and 2 more · {all_of_mia}")), "{mia_row}");
    let zed_row = row_of(&html, zed_user.id);
    assert_eq!(totals(&zed_row).len(), 10, "{zed_row}");
    assert!(zed_row.contains("deactivated") && zed_row.contains("and 1 more · <a href="), "{zed_row}");
    assert!(html.contains("Held up with nobody to sign (11 quotes of 1 signer)"), "{html}");

    // The link lists all of Mia's; Zed's stays cut.
    let html = page_as(&app.base, &fiona.email, &format!("{dashboard}?all={}", mia_user.id)).await;
    let mia_row = row_of(&html, mia_user.id);
    let all: Vec<String> = (1..=12).map(|q| format!("{q}.00")).collect();
    assert_eq!(totals(&mia_row), all, "{mia_row}");
    assert!(!mia_row.contains("more ·"), "{mia_row}");
    assert_eq!(totals(&row_of(&html, zed_user.id)).len(), 10);
    // Refresh and Remind keep listing them all.
    let all_of_mia = format!("{dashboard}?all={}", mia_user.id);
    assert!(html.contains(&format!("<a href=\"{all_of_mia}\" id=\"refresh\">Refresh</a>")), "{html}");
    let cookie = pricegate_tests::pages::session_cookie(&app.base, &fiona.email).await;
    let http = pricegate_tests::pages::client();
    let page = http.get(format!("{}{all_of_mia}", app.base)).header(reqwest::header::COOKIE, &cookie).send().await;
    let csrf = pricegate_tests::pages::csrf_in(&page.expect("the dashboard").text().await.unwrap_or_default());
    assert!(html.contains(&format!("<input type=\"hidden\" name=\"all\" value=\"{}\">", mia_user.id)), "{html}");
    let remind_mia = [("csrf_token", csrf), ("user", mia_user.id.to_string())];
    let url = format!("{}{dashboard}", app.base);
    let with_all = [&remind_mia[..], &[("all", mia_user.id.to_string())]].concat();
    let (status, html) = pricegate_tests::pages::post_form(url.clone(), &cookie, &with_all).await;
    let html = pricegate_tests::pages::unwrapped(&html);
    assert_eq!(status, 303);
    // (Told of it at its publication a moment ago.)
    assert!(html.contains("No reminder queued: Mia Moreau was e-mailed about this notice in the last"), "{html}");
    assert_eq!(totals(&row_of(&html, mia_user.id)), all, "still all of Mia's: {html}");
    let (_, html) = pricegate_tests::pages::post_form(url, &cookie, &remind_mia).await;
    let html = pricegate_tests::pages::unwrapped(&html);
    assert_eq!(totals(&row_of(&html, mia_user.id)), first, "the first ten, as the page the form came from");
    let html = page_as(&app.base, &fiona.email, &format!("{dashboard}?all={}", zed_user.id)).await;
    assert_eq!(totals(&row_of(&html, zed_user.id)).len(), 11);
    assert_eq!(totals(&row_of(&html, mia_user.id)), first);
    // A link that names nobody lists each person's first ten, and says so.
    let stale = format!("?all={}", fiona.id);
    for odd in ["?all=someone", "?all=", "?all=1&all=2", stale.as_str()] {
        let html = page_as(&app.base, &fiona.email, &format!("{dashboard}{odd}")).await;
        assert_eq!(totals(&row_of(&html, mia_user.id)), first, "{odd}");
        assert_eq!(html.contains("id=\"all-note\""), !odd.ends_with('='), "{odd}: {html}");
    }
    assert!(!page_as(&app.base, &fiona.email, &dashboard).await.contains("id=\"all-note\""));
    app.stop().await;
}
}

both_backends! {
/// Finance downloads who has acknowledged a notice, and who it waits for,
/// as a CSV file from its dashboard: each acknowledgement with its time,
/// channel and origin, each person pending with their reminders and drafts.
async fn finance_downloads_who_has_acknowledged_a_notice(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.worker_poll = std::time::Duration::from_secs(3600)).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam Sale").await;
    let (rita, rita_user) = app.user(Role::Sales, "Rita Ruiz").await;
    let (_, olga_user) = app.user(Role::Sales, "Olga Ortiz").await;
    create_product(&finance, "P-1", "EUR", 100).await;
    draft_quote(&rita, json!([{"sku": "P-1", "quantity": 1}])).await;
    let changes = json!([{"sku": "P-1", "unit_price_minor": 200, "effective_on": "2099-01-01"}]);
    let notice = create_notice(&finance, "Pumps, \"big\" up", changes).await;
    let download = |path: String, email: String| {
        let base = app.base.clone();
        async move {
            let cookie = pricegate_tests::pages::session_cookie(&base, &email).await;
            let r = pricegate_tests::pages::client().get(format!("{base}{path}")).header(reqwest::header::COOKIE, cookie).send().await.unwrap();
            let kind = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            (r.status().as_u16(), kind, r.text().await.unwrap())
        }
    };
    let file = format!("/notices/{notice}/acknowledgements.csv");
    let (status, _, body) = download(file.clone(), fiona.email.clone()).await;
    assert_eq!(status, 409, "a draft has none: {body}");
    assert!(body.contains("A draft has no acknowledgements"), "{body}");
    publish_notice(&finance, &notice).await;
    assert_eq!(sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
    assert_eq!(app.store.enqueue_due_reminders(&[std::time::Duration::ZERO]).await.expect("reminders"), 1, "Rita's");

    let dashboard = pricegate_tests::pages::page_as(&app.base, &fiona.email, &format!("/notices/{notice}/dashboard")).await;
    assert!(dashboard.contains(&format!("<a href=\"{file}\" id=\"export-acknowledgements\" download>")), "{dashboard}");
    let (status, kind, csv) = download(file.clone(), fiona.email.clone()).await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"), "{csv}");
    let named = pricegate_tests::pages::download_name(&app.base, &fiona.email, &file).await;
    let published = finance.get(&format!("/api/v1/notices/{notice}")).await.body.clone();
    let seq = published["seq"].as_i64().expect("a seq");
    assert_eq!(named, format!("pricegate-acknowledgements-notice-{seq}-Pumps-big-up-as-of-{}.csv", date_in_days(0)));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "\u{feff}notice_id,notice_title,published_at_utc,published_at_local,status,user_id,name_now,email_now,role,\
         active,mailed_to,acknowledged_at_utc,acknowledged_at_local,channel,client_address,user_agent,reminders,\
         last_reminded_at_utc,drafts_held_up,zone,as_of_utc,notice_seq,mail_not_delivered,mail_error"
    );
    assert_eq!(lines.len(), 4, "Sam, then Olga and Rita by name: {csv}");
    let published = published["published_at"].as_str().expect("published").to_owned();
    let acks = finance.get(&format!("/api/v1/notices/{notice}/acknowledgements")).await;
    let sam_at = acks.body["acknowledged"][0]["acknowledged_at"].as_str().expect("Sam's").to_owned();
    // Each row starts with the notice (its title quoted as CSV quotes it), and ends with its number
    // (then two columns empty: every e-mail was delivered).
    let prefix = format!("{notice},\"Pumps, \"\"big\"\" up\",{published},");
    let rest = |line: &str| -> String {
        let local = line.strip_prefix(&prefix).unwrap_or_else(|| panic!("{line}"));
        assert!(local.starts_with("20") && line.ends_with(&format!(",{seq},,")), "{line}");
        let (stamp, rest) = local.split_once(',').unwrap_or_default();
        assert!(stamp.ends_with(" UTC"), "published, in the business's zone: {line}");
        rest.to_owned()
    };
    // The worker waits: nobody was e-mailed it, so no address it went to.
    let sam_row = rest(lines[1]);
    assert!(sam_row.starts_with(&format!("acknowledged,{},Sam Sale,{},sales,yes,,{sam_at},", sam_user.id, sam_user.email)), "{csv}");
    assert!(sam_row.contains(",api,127.0.0.1,") && sam_row.contains(",0,,,UTC,"), "no reminder, no draft count: {csv}");
    let olga_row = rest(lines[2]);
    assert!(olga_row.starts_with(&format!("pending,{},Olga Ortiz,{},sales,yes,,,,,,,0,,0,UTC,", olga_user.id, olga_user.email)), "{csv}");
    let rita_row = rest(lines[3]);
    let reminded = format!("pending,{},Rita Ruiz,{},sales,yes,,,,,,,1,20", rita_user.id, rita_user.email);
    assert!(rita_row.starts_with(&reminded) && rita_row.contains("Z,1,UTC,20"), "reminded once, one draft: {csv}");

    // Only finance; nothing after the address is ignored.
    assert_eq!(download(file.clone(), sam_user.email.clone()).await.0, 403);
    let (_, ada) = app.user(Role::Admin, "Ada").await;
    assert_eq!(download(file.clone(), ada.email.clone()).await.0, 403, "an administrator neither");
    let (status, _, body) = download(format!("{file}?status=pending"), fiona.email.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("takes nothing after its address"), "{body}");

    // A title in another script names the file as typed, in UTF-8, and
    // without its words beyond ASCII for a client that reads only `filename`.
    let greek = create_notice(&finance, "Τιμές Φεβρουαρίου 2027 \u{2067}vsc.exe\u{2069}", json!([])).await;
    publish_notice(&finance, &greek).await;
    let seq = finance.get(&format!("/api/v1/notices/{greek}")).await.body["seq"].as_i64().expect("a seq");
    let path = format!("/notices/{greek}/acknowledgements.csv");
    let names = pricegate_tests::pages::download_names(&app.base, &fiona.email, &path).await;
    let day = date_in_days(0);
    assert_eq!(names.ascii, format!("pricegate-acknowledgements-notice-{seq}-2027-vsc.exe-as-of-{day}.csv"));
    let utf8 = format!("pricegate-acknowledgements-notice-{seq}-Τιμές-Φεβρουαρίου-2027-vsc.exe-as-of-{day}.csv");
    assert_eq!(names.utf8.as_deref(), Some(utf8.as_str()), "the isolating characters left out");
    app.stop().await;
}
}

both_backends! {
    /// A published notice never changes: finance corrects one by a new
    /// notice, which starts from a copy of it (title, text, price changes),
    /// saved only when finance saves it.
    async fn a_published_notice_is_corrected_from_a_copy_of_it(backend: Backend) {
        use pricegate_tests::pages::page_as;
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let changes = json!([{"sku": "PUMP-1", "unit_price_minor": 261_050, "effective_on": "2099-01-01"}]);
        let r = finance.post("/api/v1/notices", &json!({"title": "Pumps up", "body": "From **January**.", "changes": changes})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let notice = r.body["id"].as_str().expect("an id").to_owned();
        publish_notice(&finance, &notice).await;
        let page = page_as(&app.base, &fiona.email, &format!("/notices/{notice}")).await;
        assert!(page.contains(&format!("href=\"/notices/new?copy={notice}\" id=\"copy-notice\"")), "{page}");
        let cookie = pricegate_tests::pages::session_cookie(&app.base, &fiona.email).await;
        let client = pricegate_tests::pages::client;
        let form = page_as(&app.base, &fiona.email, &format!("/notices/new?copy={notice}")).await;
        assert!(form.contains("value=\"Pumps up\""), "{form}");
        assert!(form.contains(">From **January**.</textarea>"), "{form}");
        assert!(form.contains(">PUMP-1, 2610.50, 2099-01-01</textarea>"), "{form}");
        assert!(form.contains("id=\"copied-from\">Filled from the published notice"), "it says it is a copy: {form}");
        let r = client().get(format!("{}/notices/new?copy=2c0162ad", app.base)).header("cookie", &cookie).send().await;
        assert_eq!(r.expect("an answer").status(), 404, "a copy of nothing is no empty form");
        let listed = finance.get("/api/v1/notices").await.body;
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "only the original: {listed}");
    }
}

both_backends! {
    /// A product's page leads to a new notice's form with a line for it
    /// begun, for finance to add the new price and its date.
    async fn a_product_s_page_begins_a_notice_about_it(backend: Backend) {
        use pricegate_tests::pages::page_as;
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let pump = create_product(&finance, "PUMP-1", "EUR", 250_000).await;
        let pump = pump["id"].as_str().expect("an id");
        let page = page_as(&app.base, &fiona.email, &format!("/products/{pump}/edit")).await;
        let link = "/notices/new?changes=PUMP-1%2C%20";
        assert!(page.contains(&format!("href=\"{link}\" id=\"draft-notice-for-product\"")), "{page}");
        let form = page_as(&app.base, &fiona.email, link).await;
        assert!(form.contains(">PUMP-1, </textarea>"), "{form}");
        // The prices published to come are on the page it starts from;
        // withdrawn from sale, a product is offered no notice.
        let in_ten = pricegate_tests::fixtures::date_in_days(10);
        pricegate_tests::fixtures::publish_price_change(&finance, "PUMP-1", 260_000, &in_ten).await;
        let page = page_as(&app.base, &fiona.email, &format!("/products/{pump}/edit")).await;
        assert!(page.contains(&format!("<span id=\"prices-to-come\">2,600.00 EUR from {in_ten}</span>")), "{page}");
        let r = finance.patch(&format!("/api/v1/products/{pump}"), &json!({"withdrawn": true})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = page_as(&app.base, &fiona.email, &format!("/products/{pump}/edit")).await;
        assert!(!page.contains("draft-notice-for-product"), "{page}");
    }
}

both_backends! {
    /// A salesperson lands on their quotes after logging in: the notices
    /// waiting for their acknowledgement are said there, with the way to them.
    async fn the_quotes_list_says_how_many_notices_wait_for_the_salesperson(backend: Backend) {
        use pricegate_tests::pages::page_as;
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let page = page_as(&app.base, &sam_user.email, "/quotes").await;
        assert!(!page.contains("id=\"notices-awaiting\""), "none yet: {page}");
        let mut notices = Vec::new();
        for title in ["Pumps up", "Valves down"] {
            let notice = create_notice(&finance, title, json!([])).await;
            publish_notice(&finance, &notice).await;
            notices.push(notice);
        }
        let page = page_as(&app.base, &sam_user.email, "/quotes").await;
        assert!(
            page.contains("2 price notices wait for your acknowledgement: <a href=\"/notices/awaiting\">read them</a>."),
            "{page}"
        );
        assert!(!page_as(&app.base, &fiona.email, "/quotes").await.contains("notices-awaiting"), "finance is asked nothing");
        for notice in &notices {
            assert_eq!(sam.post_empty(&format!("/api/v1/notices/{notice}/acknowledge")).await.status, 200);
        }
        assert!(!page_as(&app.base, &sam_user.email, "/quotes").await.contains("notices-awaiting"));
    }
}

both_backends! {
    /// Every time the API writes is RFC 3339 in UTC to the microsecond, even
    /// where its last digits are zeros, so that an auditor comparing
    /// `published_at` and `acknowledged_at` as text compares them as times.
    async fn times_are_written_to_the_microsecond_whatever_their_digits(backend: Backend) {
        use pricegate_store::entity::notices;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let id = create_notice(&finance, "Office closed", json!([])).await;
        publish_notice(&finance, &id).await;
        let on_the_second = chrono::DateTime::parse_from_rfc3339("2026-12-01T09:30:00Z").unwrap().to_utc();
        let tenth = chrono::DateTime::parse_from_rfc3339("2026-12-01T09:30:00.100Z").unwrap().to_utc();
        notices::Entity::update_many()
            .col_expr(notices::Column::PublishedAt, Expr::value(on_the_second))
            .col_expr(notices::Column::UpdatedAt, Expr::value(tenth))
            .filter(notices::Column::Id.eq(uuid::Uuid::parse_str(&id).unwrap()))
            .exec(app.store.connection())
            .await
            .unwrap();
        let r = sam.get(&format!("/api/v1/notices/{id}")).await;
        assert_eq!(r.body["published_at"], "2026-12-01T09:30:00.000000Z", "{}", r.text);
        assert_eq!(r.body["updated_at"], "2026-12-01T09:30:00.100000Z", "{}", r.text);
        assert_eq!(r.body["acknowledged_at"], json!(null), "{}", r.text);
        let r = sam.post_empty(&format!("/api/v1/notices/{id}/acknowledge")).await;
        let at = r.body["acknowledged_at"].as_str().unwrap_or_default();
        assert!(at.len() == "2026-12-01T09:30:00.000000Z".len() && at.ends_with('Z'), "{}", r.text);
    }
}
