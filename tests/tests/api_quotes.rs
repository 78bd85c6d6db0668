//! Quotes: drafting with price snapshots, everything a line can get wrong,
//! editing without moving `drafted_at`, and cancelling.

use pricegate_domain::Role;
use pricegate_tests::fixtures::{
    assert_error, create_product, date_in_days, draft_quote, draft_quote_signed_by, etag_of, field, id_of,
    publish_price_change, quote_request,
};
use pricegate_tests::pages::page_as;
use pricegate_tests::{TestApp, both_backends};
use serde_json::json;

both_backends! {
    /// A drafted quote or notice is answered with where to read it and the
    /// entity tag that reading gives.
    async fn what_is_created_answers_with_its_location_and_etag(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let quote = sam.request(reqwest::Method::POST, "/api/v1/quotes").json(&quote_request(json!([{"sku": "P-1", "quantity": 1}])));
        let notice = finance.request(reqwest::Method::POST, "/api/v1/notices").json(&json!({"title": "Prices", "body": "Soon.", "changes": []}));
        for (who, request, kind) in [(&sam, quote, "quotes"), (&finance, notice, "notices")] {
            let r = request.send().await.expect("the server answers");
            assert_eq!(r.status(), 201);
            let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let (location, etag) = (header("location").expect("a Location"), header("etag").expect("an ETag"));
            let id = r.json::<serde_json::Value>().await.expect("JSON")["id"].as_str().expect("an id").to_owned();
            assert_eq!(location, format!("/api/v1/{kind}/{id}"));
            assert_eq!(etag_of(who, &location).await, etag, "{location}");
        }
        // A request for finance's approval, and the approval, say where they are read.
        let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
        publish_price_change(&finance, "P-1", 1_200, &date_in_days(0)).await;
        let reason = json!({"reason": "The March offer"});
        let send = |who: &pricegate_tests::Session, path: &str| {
            who.request(reqwest::Method::POST, &format!("/api/v1/quotes/{id}/{path}")).json(&reason).send()
        };
        for (who, path, read_at, read) in [
            (&sam, "approval-request", "approval-request", "open"),
            (&finance, "override", "gate", "price_override"),
        ] {
            let r = send(who, path).await.expect("the server answers");
            assert_eq!(r.status(), 201, "{path}");
            let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
            assert_eq!(location, Some(format!("/api/v1/quotes/{id}/{read_at}")), "{path}");
            let there = sam.get(&location.expect("a Location")).await;
            assert!(there.status == 200 && there.body[read] != json!(null), "{path}: {}", there.text);
            if path == "approval-request" {
                // Asked again for the same lines, it is the request there was: nothing is created.
                let r = send(&sam, path).await.expect("the server answers");
                assert_eq!((r.status().as_u16(), r.headers().get("location")), (200, None));
            }
        }
    }
}

both_backends! {
    async fn a_drafted_quote_snapshots_prices_and_totals_the_discounted_lines(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        create_product(&finance, "P-2", "EUR", 333).await;

        let quote = draft_quote(&sam, json!([{"sku": "P-1", "quantity": 3, "discount_bp": 1_000}, {"sku": "P-2", "quantity": 7}])).await;
        assert_eq!(quote["state"], "draft");
        assert_eq!(quote["owner_id"], json!(sam_user.id));
        assert_eq!(quote["signer_id"], json!(sam_user.id), "the signer defaults to the creator");
        assert_eq!(quote["currency"], "EUR");
        assert_eq!(quote["customer"]["company"], "Nordwind");
        assert!(quote["drafted_at"].is_string());
        let lines = quote["lines"].as_array().unwrap();
        assert_eq!((lines[0]["unit_price_minor"].clone(), lines[0]["discount_bp"].clone()), (json!(1_000), json!(1_000)));
        assert_eq!(lines[0]["total_minor"], 2_700);
        assert_eq!((lines[1]["unit_price_minor"].clone(), lines[1]["discount_bp"].clone()), (json!(333), json!(0)));
        assert_eq!(lines[1]["total_minor"], 2_331);
        assert_eq!(quote["total_minor"], 5_031);

        // A later price change does not touch the snapshot.
        let notice = publish_price_change(&finance, "P-1", 9_999, &date_in_days(-1)).await;
        let again = sam.get(&format!("/api/v1/quotes/{}", id_of(&quote))).await;
        assert_eq!(again.body["lines"][0]["unit_price_minor"], 1_000);
        assert_eq!(again.body["total_minor"], 5_031);
        let gate = sam.get(&format!("/api/v1/quotes/{}/gate", id_of(&quote))).await;
        assert_eq!(gate.body["pending"][0]["notice_id"], json!(notice));
        assert_eq!(gate.body["pending"][0]["impact"]["total_delta_minor"], 3 * 8_999 * 9 / 10);
    }
}

both_backends! {
    async fn a_signer_must_be_an_active_salesperson(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (_, gone) = app.user(Role::Sales, "Gone").await;
        admin.patch(&format!("/api/v1/users/{}", gone.id), &json!({"active": false})).await;
        create_product(&finance, "P-1", "EUR", 1_000).await;

        for signer in [json!(fiona.id), json!(gone.id), json!(uuid::Uuid::new_v4())] {
            let mut body = quote_request(json!([{"sku": "P-1", "quantity": 1}]));
            body["signer_id"] = signer;
            let r = sam.post("/api/v1/quotes", &body).await;
            assert_error(&r, 422, "invalid_signer");
            assert_eq!(field(&r), "signer_id");
        }
        let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
        let r = sam.patch(&format!("/api/v1/quotes/{quote}"), &json!({"signer_id": fiona.id})).await;
        assert_error(&r, 422, "invalid_signer");
        assert_eq!(sam.get("/api/v1/quotes").await.body.as_array().unwrap().len(), 1);
    }
}

both_backends! {
    async fn unknown_skus_and_products_in_another_currency_are_refused_by_line(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        create_product(&finance, "P-USD", "USD", 1_000).await;

        let r = sam.post("/api/v1/quotes", &quote_request(json!([{"sku": "NOPE", "quantity": 1}]))).await;
        assert_error(&r, 422, "unknown_sku");
        assert_eq!(field(&r), "lines[0].sku");
        // SKUs match exactly; one in the wrong case is named.
        let r = sam.post("/api/v1/quotes", &quote_request(json!([{"sku": "p-1", "quantity": 1}]))).await;
        assert_error(&r, 422, "unknown_sku");
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.ends_with("did you mean P-1?")), "{}", r.text);
        let r = sam.post("/api/v1/quotes", &quote_request(json!([{"sku": "P-1", "quantity": 1}, {"sku": "P-USD", "quantity": 1}]))).await;
        assert_error(&r, 422, "currency_mismatch");
        assert_eq!(field(&r), "lines[1].sku");
        assert_eq!(sam.get("/api/v1/quotes").await.body, json!([]));
    }
}

both_backends! {
    async fn every_out_of_range_value_is_refused_and_names_its_field(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let line = |quantity: i64, discount: i64| json!([{"sku": "P-1", "quantity": quantity, "discount_bp": discount}]);
        let cases = [
            ("/lines", line(0, 0), "lines[0].quantity"),
            ("/lines", line(-5, 0), "lines[0].quantity"),
            ("/lines", line(2_000_000, 0), "lines[0].quantity"),
            ("/lines", line(1, 10_001), "lines[0].discount_bp"),
            ("/lines", line(1, -1), "lines[0].discount_bp"),
            ("/lines", json!([]), "lines"),
            ("/valid_until", json!(date_in_days(-2)), "valid_until"),
            ("/valid_until", json!("31/12/2099"), "valid_until"),
            ("/currency", json!("EURO"), "currency"),
            ("/customer/email", json!("greta"), "customer.email"),
            ("/customer/name", json!(" "), "customer.name"),
            ("/notes", json!("n".repeat(5_001)), "notes"),
        ];
        for (pointer, value, expected) in cases {
            let mut body = quote_request(json!([{"sku": "P-1", "quantity": 1}]));
            if pointer == "/notes" {
                body["notes"] = value.clone();
            } else {
                *body.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = value.clone();
            }
            let r = sam.post("/api/v1/quotes", &body).await;
            assert_eq!(r.status, 422, "{pointer} = {value}: {}", r.text);
            assert_eq!(field(&r), expected, "{pointer} = {value}: {}", r.text);
            // By its whole path when nested (as `field` does), in words otherwise.
            let message = r.body["error"]["message"].as_str().unwrap_or_default().to_lowercase();
            let named = if expected.contains('.') { expected } else { expected.trim_end_matches('s') };
            assert!(message.contains(&named.replace('_', " ")) || message.contains(named), "names the field: {}", r.text);
        }
        let too_many: Vec<_> = (0..201).map(|_| json!({"sku": "P-1", "quantity": 1})).collect();
        let r = sam.post("/api/v1/quotes", &quote_request(json!(too_many))).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(field(&r), "lines");
        assert_eq!(sam.get("/api/v1/quotes").await.body, json!([]), "no quote was half-written");
    }
}

both_backends! {
    async fn editing_a_quote_keeps_drafted_at_and_the_snapshot_of_skus_already_on_it(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        create_product(&finance, "P-2", "EUR", 200).await;
        let quote = draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await;
        let id = id_of(&quote);
        publish_price_change(&finance, "P-1", 1_500, &date_in_days(-1)).await;
        publish_price_change(&finance, "P-2", 250, &date_in_days(-1)).await;

        let r = sam
            .patch(&format!("/api/v1/quotes/{id}"), &json!({
                "customer": {"name": "Greta Nordwind"}, "notes": "Deliver in May",
                "lines": [{"sku": "P-2", "quantity": 2}, {"sku": "P-1", "quantity": 5, "discount_bp": 500}]
            }))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["drafted_at"], quote["drafted_at"], "editing does not move drafted_at");
        assert!(r.body["updated_at"].as_str() > quote["updated_at"].as_str());
        assert_eq!(r.body["customer"]["name"], "Greta Nordwind");
        assert_eq!(r.body["customer"]["email"], "greta@nordwind.example");
        assert_eq!(r.body["notes"], "Deliver in May");
        let lines = &r.body["lines"];
        assert_eq!((lines[0]["sku"].clone(), lines[0]["unit_price_minor"].clone()), (json!("P-2"), json!(250)), "a new line takes today's price");
        assert_eq!((lines[1]["sku"].clone(), lines[1]["unit_price_minor"].clone()), (json!("P-1"), json!(1_000)), "a kept sku keeps its snapshot");
        assert_eq!(r.body["total_minor"], 500 + 4_750);
        assert_eq!(sam.get(&format!("/api/v1/quotes/{id}")).await.body["lines"], *lines);

        let r = sam.patch(&format!("/api/v1/quotes/{id}"), &json!({"lines": [{"sku": "P-1", "quantity": 0}]})).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(field(&r), "lines[0].quantity");
        let r = sam.patch(&format!("/api/v1/quotes/{id}"), &json!({"valid_until": date_in_days(-3)})).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(sam.get(&format!("/api/v1/quotes/{id}")).await.body["lines"], *lines, "refused edits change nothing");
    }
}

both_backends! {
    async fn a_cancelled_quote_can_no_longer_change_or_be_finalised(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);

        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/cancel")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["state"], "cancelled");
        assert!(r.body["cancelled_at"].is_string());
        assert_eq!(r.body["finalised_at"], json!(null));

        assert_error(&sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await, 409, "quote_not_draft");
        assert_error(&sam.post_empty(&format!("/api/v1/quotes/{id}/cancel")).await, 409, "quote_not_draft");
        assert_error(&sam.post_empty(&format!("/api/v1/quotes/{id}/reprice")).await, 409, "quote_not_draft");
        assert_error(&sam.patch(&format!("/api/v1/quotes/{id}"), &json!({"notes": "x"})).await, 409, "quote_not_draft");
        let r = finance.post(&format!("/api/v1/quotes/{id}/override"), &json!({"reason": "Too late"})).await;
        assert_error(&r, 409, "quote_not_draft");
        assert_eq!(sam.get(&format!("/api/v1/quotes/{id}")).await.body["state"], "cancelled");

        let drafts = sam.get("/api/v1/quotes?state=draft").await;
        assert_eq!(drafts.body, json!([]));
        let cancelled = sam.get("/api/v1/quotes?state=cancelled").await;
        assert_eq!(cancelled.body[0]["id"], json!(id));
        assert_error(&sam.get("/api/v1/quotes?state=lost").await, 422, "invalid_field");
    }
}

both_backends! {
    async fn an_admin_hands_a_departed_salespersons_drafts_to_a_colleague(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, _) = app.user(Role::Admin, "Ada").await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
        let (_, sue_user) = app.user(Role::Sales, "Sue").await;
        let (tom, tom_user) = app.user(Role::Sales, "Tom").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let own = draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await;
        let toms = draft_quote_signed_by(&tom, json!([{"sku": "P-1", "quantity": 2}]), sam_user.id).await;
        let done = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 3}])).await);
        assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{done}/finalise")).await.status, 200);
        let sam_url = format!("/api/v1/users/{}", sam_user.id);
        assert_eq!(admin.patch(&sam_url, &json!({"active": false})).await.status, 200);

        // Refused: to someone who cannot sign, to Sam himself, by anyone but an admin.
        let handover = format!("{sam_url}/handover");
        let r = admin.post(&handover, &json!({"to": fiona.id})).await;
        assert_error(&r, 422, "invalid_signer");
        assert_eq!(field(&r), "to");
        assert_error(&admin.post(&handover, &json!({"to": sam_user.id})).await, 422, "invalid_field");
        assert_error(&finance.post(&handover, &json!({"to": sue_user.id})).await, 403, "forbidden");
        let unknown = format!("/api/v1/users/{}/handover", uuid::Uuid::new_v4());
        assert_error(&admin.post(&unknown, &json!({"to": sue_user.id})).await, 404, "not_found");
        assert_eq!(finance.get(&format!("/api/v1/quotes/{}", id_of(&own))).await.body["owner_id"], json!(sam_user.id));

        let r = admin.post(&handover, &json!({"to": sue_user.id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body, json!({"drafts": 2, "owned": 1, "signed": 2}), "Sam's draft, and Tom's that Sam signed");
        let sue = app.login(&sue_user.email, pricegate_tests::PASSWORD).await;
        let mine = sue.get(&format!("/api/v1/quotes/{}", id_of(&own))).await.body;
        assert_eq!((&mine["owner_id"], &mine["signer_id"]), (&json!(sue_user.id), &json!(sue_user.id)));
        assert_eq!(mine["drafted_at"], own["drafted_at"], "handing over does not move drafted_at");
        let r = sue.patch(&format!("/api/v1/quotes/{}", id_of(&own)), &json!({"notes": "Sue's now"})).await;
        assert_eq!(r.status, 200, "Sue may edit what she owns: {}", r.text);
        let gate = tom.get(&format!("/api/v1/quotes/{}/gate", id_of(&toms))).await.body;
        assert_eq!((&gate["signer_can_sign"], &gate["ready"]), (&json!(true), &json!(true)), "Sue signs Tom's quote now");
        let closed = finance.get(&format!("/api/v1/quotes/{done}")).await.body;
        assert_eq!(closed["owner_id"], json!(sam_user.id), "a finalised quote keeps its people");
        let audit = finance.get("/api/v1/audit?action=quotes.handed_over").await;
        assert_eq!(audit.body[0]["subject_id"], json!(sam_user.id), "{}", audit.text);
        let detail = &audit.body[0]["detail"];
        assert_eq!((&detail["to"], &detail["drafts"], &detail["owned"], &detail["signed"]), (&json!(sue_user.id), &json!(2), &json!(1), &json!(2)));
        let mut moved: Vec<&str> = detail["quotes"].as_array().unwrap().iter().filter_map(|q| q.as_str()).collect();
        moved.sort_unstable();
        let mut expected = [own["id"].as_str().unwrap(), toms["id"].as_str().unwrap()];
        expected.sort_unstable();
        assert_eq!(moved, expected, "which quotes moved: {detail}");
        // And each quote's own history says so, to those who may read it.
        let page = page_as(&app.base, &sue_user.email, &format!("/quotes/{}", id_of(&own))).await;
        assert!(page.contains("Handed over from Sam to Sue, who now owns and signs it"), "{page}");
        let page = page_as(&app.base, &tom_user.email, &format!("/quotes/{}", id_of(&toms))).await;
        assert!(page.contains("Handed over from Sam to Sue, who now signs it"), "{page}");
        // Why they waited: Sam's deactivation is in the history of each quote he owned or signed then, before the
        // hand-over, and in none he had finalised before.
        let gone = "Sam, its signer, was deactivated: they can no longer sign it, and it waits for another signer";
        let at = page.find(gone).unwrap_or_else(|| panic!("{gone}: {page}"));
        assert!(at < page.find("Handed over from Sam").unwrap_or(0), "in the order they happened: {page}");
        let page = page_as(&app.base, &sue_user.email, &format!("/quotes/{}", id_of(&own))).await;
        assert!(page.contains("Sam, its owner and signer, was deactivated: they can no longer sign it"), "{page}");
        assert!(!page_as(&app.base, &fiona.email, &format!("/quotes/{done}")).await.contains("was deactivated"));
        // Once the drafts are Sue's, what becomes of Sam's account is no part of their history.
        assert_eq!(admin.patch(&sam_url, &json!({"active": true})).await.status, 200);
        let page = page_as(&app.base, &sue_user.email, &format!("/quotes/{}", id_of(&own))).await;
        assert!(page.contains("was deactivated") && !page.contains("was reactivated"), "{page}");
    }
}

both_backends! {
    async fn the_list_of_quotes_comes_a_page_at_a_time_newest_first(backend: Backend) {
        use pricegate_store::entity::quotes;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let (sue, _) = app.user(Role::Sales, "Sue").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let mut made = Vec::new();
        for _ in 0..6 {
            made.push(id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await));
        }
        // Four of them drafted in the same microsecond: their ids order them.
        let tied: Vec<uuid::Uuid> = made[1..5].iter().map(|id| id.parse().unwrap()).collect();
        let same = chrono::Utc::now() - chrono::Duration::minutes(1);
        quotes::Entity::update_many()
            .col_expr(quotes::Column::DraftedAt, Expr::value(same))
            .filter(quotes::Column::Id.is_in(tied.clone()))
            .exec(app.store.connection())
            .await
            .expect("the drafting times are tied");
        let mut tied_newest_first = tied.clone();
        tied_newest_first.sort_by(|a, b| b.cmp(a));
        // Moved a minute back, behind the first quote drafted.
        let mut expected: Vec<String> = vec![made[5].clone(), made[0].clone()];
        expected.extend(tied_newest_first.iter().map(|id| id.to_string()));

        let ids = |r: &pricegate_tests::Response| -> Vec<String> {
            r.body.as_array().unwrap_or(&vec![]).iter().map(|q| q["id"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(ids(&sam.get("/api/v1/quotes").await), expected, "without a limit, all of them, in the list's order");
        for limit in [1, 2, 4] {
            let mut seen = Vec::new();
            let mut page = sam.get(&format!("/api/v1/quotes?limit={limit}")).await;
            for _ in 0..10 {
                assert_eq!(page.status, 200, "{}", page.text);
                let got = ids(&page);
                seen.extend(got.clone());
                let Some(last) = got.last().filter(|_| got.len() == limit) else { break };
                page = sam.get(&format!("/api/v1/quotes?limit={limit}&before={last}")).await;
            }
            assert_eq!(seen, expected, "pages of {limit}: every quote once, in order");
        }
        assert_eq!(ids(&finance.get("/api/v1/quotes?state=draft&limit=1").await), expected[..1].to_vec());

        // Someone else's quote is no cursor: it would tell when that quote was drafted.
        let hers = sue.get(&format!("/api/v1/quotes?before={}", made[3])).await;
        assert_error(&hers, 422, "invalid_field");
        assert_eq!(field(&hers), "before");
        let r = sam.get(&format!("/api/v1/quotes?before={}", uuid::Uuid::new_v4())).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(field(&r), "before");
        for limit in ["0", "-1", "1001"] {
            let r = sam.get(&format!("/api/v1/quotes?limit={limit}")).await;
            assert_error(&r, 422, "invalid_field");
            assert_eq!(field(&r), "limit");
        }
    }
}

both_backends! {
    /// Finance (and a salesperson) lists the drafts with a line at a price no
    /// longer in force: to reprice, or to approve keeping the old price.
    async fn drafts_at_an_old_price_are_listed_together(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 10_000).await;
        create_product(&finance, "P-2", "EUR", 5_000).await;
        let old = id_of(&draft_quote(&sam, json!([{"sku": "P-2", "quantity": 1}, {"sku": "P-1", "quantity": 2}])).await);
        let untouched = id_of(&draft_quote(&sam, json!([{"sku": "P-2", "quantity": 1}])).await);
        let cancelled = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
        assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{cancelled}/cancel")).await.status, 200);
        let later = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
        publish_price_change(&finance, "P-1", 11_000, &date_in_days(0)).await;
        publish_price_change(&finance, "P-2", 6_000, &date_in_days(30)).await;
        let fresh = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 3}])).await);

        let listed = |r: serde_json::Value| -> Vec<String> {
            r.as_array().into_iter().flatten().filter_map(|q| q["id"].as_str().map(str::to_owned)).collect()
        };
        for who in [&finance, &sam] {
            let r = who.get("/api/v1/quotes?at_old_prices=true").await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(listed(r.body), [later.clone(), old.clone()], "newest first; not {untouched}, {cancelled} or {fresh}");
        }
        assert_eq!(listed(sam.get("/api/v1/quotes?at_old_prices=false").await.body).len(), 5);
        // Repriced, it is at today's prices.
        assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{later}/reprice")).await.status, 200);
        assert_eq!(listed(finance.get("/api/v1/quotes?at_old_prices=true").await.body), [old.as_str()]);
        // In the browser, as a state of the list.
        let html = page_as(&app.base, &fiona.email, "/quotes?state=old_prices").await;
        assert!(html.contains(&format!("/quotes/{old}")) && !html.contains(&format!("/quotes/{fresh}")), "{html}");
        assert!(html.contains("<a href=\"/quotes?state=old_prices\" aria-current=\"page\">At an old price</a>"), "{html}");
        // Its signer has the notices to acknowledge as well as a line to reprice: the badges say both.
        assert!(
            html.contains("<span class=\"badge blocked\">notices pending</span> <span class=\"badge blocked\">prices changed</span>"),
            "{html}"
        );
        // Finance approves keeping its old prices: the list says so, and that the notices are still to acknowledge.
        let r = finance.post(&format!("/api/v1/quotes/{old}/override"), &json!({"reason": "Old offer"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let html = page_as(&app.base, &fiona.email, "/quotes?state=old_prices").await;
        assert!(
            html.contains("<span class=\"badge blocked\">notices pending</span> <span class=\"badge\">old prices approved</span>"),
            "{html}"
        );
    }
}

both_backends! {
    /// `search` finds quotes by part of their customer's name, company or
    /// e-mail address in any case, or by the reference pages and e-mails
    /// print, among the quotes the caller may see; `%` and `_` are letters.
    async fn quotes_are_found_by_their_customer_or_their_reference(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let (sue, _) = app.user(Role::Sales, "Sue").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let lines = json!([{"sku": "P-1", "quantity": 1}]);
        let draft = |who: &pricegate_tests::Session, name: &str, email: &str, company: &str| {
            let mut request = quote_request(lines.clone());
            request["customer"] = json!({"name": name, "email": email, "company": company});
            let who = who.clone();
            async move {
                let r = who.post("/api/v1/quotes", &request).await;
                assert_eq!(r.status, 201, "{}", r.text);
                id_of(&r.body)
            }
        };
        let greta = draft(&sam, "Greta Berg", "greta@nordwind.example", "Nordwind").await;
        let juergen = draft(&sam, "Jürgen Müller", "juergen@oeko.example", "Öko_Pumpen 100%").await;
        let bergmann = draft(&sam, "Bergmann", "ops@bergmann.example", "").await;
        let sues = draft(&sue, "Nordwind Süd", "sued@nordwind.example", "Nordwind").await;
        assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{bergmann}/cancel")).await.status, 200);

        let found = |who: &pricegate_tests::Session, query: &str| {
            let (who, query) = (who.clone(), query.to_owned());
            async move {
                let r = who.get(&format!("/api/v1/quotes?{query}")).await;
                assert_eq!(r.status, 200, "{query}: {}", r.text);
                let mut ids: Vec<String> = r.body.as_array().expect("a list").iter().map(id_of).collect();
                ids.sort();
                ids
            }
        };
        let sorted = |mut ids: Vec<&String>| {
            ids.sort();
            ids.into_iter().cloned().collect::<Vec<String>>()
        };
        assert_eq!(found(&sam, "search=NORDWIND").await, vec![greta.clone()], "a company, in capitals; not Sue's quote");
        assert_eq!(found(&finance, "search=nordwind").await, sorted(vec![&greta, &sues]), "finance sees every quote");
        assert_eq!(found(&sam, "search=greta%20b").await, vec![greta.clone()], "a name's part, across its space");
        assert_eq!(found(&sam, "search=oeko.example").await, vec![juergen.clone()], "an e-mail address");
        assert_eq!(found(&sam, "search=m%C3%BCller").await, vec![juergen.clone()], "letters beyond ASCII, as stored");
        assert_eq!(found(&sam, "search=J%C3%BCrgen%20M").await, vec![juergen.clone()]);
        assert_eq!(found(&sam, "search=muller").await, vec![juergen.clone()], "without its accent");
        assert_eq!(found(&sam, "search=Mu%CC%88ller").await, vec![juergen.clone()], "its accent typed apart");
        assert_eq!(found(&sam, "search=berg").await, sorted(vec![&greta, &bergmann]), "every state without one");
        assert_eq!(found(&sam, "search=berg&state=cancelled").await, vec![bergmann.clone()]);
        assert_eq!(found(&sam, "search=100%25").await, vec![juergen.clone()], "% is looked for as itself");
        assert_eq!(found(&sam, "search=%25").await, vec![juergen.clone()]);
        assert_eq!(found(&sam, "search=o_p").await, vec![juergen.clone()], "_ is looked for as itself");
        assert_eq!(found(&sam, "search=r_b").await, Vec::<String>::new(), "not as any one letter");
        assert_eq!(found(&sam, "search=%20%20").await.len(), 3, "blank looks for nothing: every quote");
        assert_eq!(found(&sam, "search=nobody").await, Vec::<String>::new());

        // The reference a page or an e-mail prints, typed in any case.
        let reference = greta.replace('-', "")[..8].to_uppercase();
        assert_eq!(found(&sam, &format!("search={reference}")).await, vec![greta.clone()]);
        assert_eq!(found(&sam, &format!("search=%20{reference}%20")).await, vec![greta.clone()], "trimmed");
        assert_eq!(found(&sam, &format!("search={}", greta.to_uppercase())).await, vec![greta.clone()], "its whole id");
        let theirs = sues.replace('-', "")[..8].to_owned();
        assert_eq!(found(&sam, &format!("search={theirs}")).await, Vec::<String>::new(), "not another's quote");
        assert_eq!(found(&finance, &format!("search={theirs}")).await, vec![sues.clone()]);

        // An edited customer is found by what they are now called.
        let r = sam.patch(&format!("/api/v1/quotes/{greta}"), &json!({"customer": {"company": "Südwind AG"}})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(found(&sam, "search=S%C3%9CDWIND").await, vec![greta.clone()], "capitals beyond ASCII too");
        assert_eq!(found(&sam, "search=nordwind").await, vec![greta.clone()], "still by her e-mail address");
        assert_eq!(found(&sam, "search=nordwind%20").await, vec![greta.clone()], "trimmed");

        // A page at a time, as the list without a search.
        let first = sam.get("/api/v1/quotes?search=berg&limit=1").await;
        assert_eq!(first.body.as_array().map(Vec::len), Some(1), "{}", first.text);
        let last = id_of(&first.body[0]);
        let next = sam.get(&format!("/api/v1/quotes?search=berg&limit=1&before={last}")).await;
        let both = sorted(vec![&last, &id_of(&next.body[0])]);
        assert_eq!(both, sorted(vec![&greta, &bergmann]), "the second page is the other one: {}", next.text);

        let long = "x".repeat(201);
        let r = sam.get(&format!("/api/v1/quotes?search={long}")).await;
        assert_error(&r, 422, "invalid_field");
        assert_eq!(field(&r), "search");
        for bad in ["search=a%0Ab", "search=a%00"] {
            assert_error(&sam.get(&format!("/api/v1/quotes?{bad}")).await, 400, "invalid_query");
        }
        assert_eq!(found(&sam, &format!("search={}", "x".repeat(200))).await, Vec::<String>::new(), "200 are fine");
    }
}

/// In the browser: the signer of a draft at an old price asks finance to
/// approve it from the quote's page; the page then says so instead of
/// offering the form again, and finance finds the draft under "Awaiting
/// approval" and reads who asked and why on its page.
#[tokio::test]
async fn a_salesperson_asks_finance_to_approve_old_prices_from_the_quote_page() {
    use pricegate_tests::pages::{client, csrf_in, hidden_in, post_form, session_cookie};
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 10_000).await;
    let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 2}])).await);
    let page = format!("/quotes/{id}");
    assert!(!page_as(&app.base, &sam_user.email, &page).await.contains("id=\"ask-approval\""), "nothing to ask yet");
    publish_price_change(&finance, "P-1", 11_000, &date_in_days(0)).await;

    let cookie = session_cookie(&app.base, &sam_user.email).await;
    let r = client().get(format!("{}{page}", app.base)).header("cookie", &cookie).send().await.expect("the page");
    let html = r.text().await.unwrap_or_default();
    assert!(
        html.contains("id=\"ask-approval\"") && html.contains("finance can approve keeping the old ones: ask below"),
        "{html}"
    );
    let form = |reason: &str| {
        vec![
            ("csrf_token", csrf_in(&html)),
            ("seen", hidden_in(&html, "seen")),
            ("seen_superseded", hidden_in(&html, "seen_superseded")),
            ("reason", reason.to_owned()),
        ]
    };
    let url = format!("{}{page}/approval-request", app.base);
    let (status, refused) = post_form(url.clone(), &cookie, &form("")).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused.contains("id=\"ask-reason-error\"") && refused.contains("aria-invalid=\"true\""), "{refused}");
    let (status, done) = post_form(url.clone(), &cookie, &form("The customer signed in March")).await;
    assert_eq!(status, 303, "{done}");
    assert!(done.contains("Request sent to finance: 1 person in finance was e-mailed it."), "{done}");
    assert!(done.contains("You asked finance to approve keeping the old prices"), "{done}");
    assert!(!done.contains("id=\"ask-approval\""), "asked once, the form is not offered again: {done}");
    // The same form sent again asks nothing new.
    let (status, again) = post_form(url, &cookie, &form("The customer signed in March")).await;
    assert_eq!(status, 303, "{again}");
    assert!(again.contains("nobody was e-mailed again"), "{again}");
    // Reminding finance at once mails nobody, and says when it can.
    assert!(again.contains("id=\"remind-finance\""), "{again}");
    let remind = vec![("csrf_token", csrf_in(&again)), ("request", hidden_in(&again, "request"))];
    let (status, reminded) = post_form(format!("{}{page}/approval-request/remind", app.base), &cookie, &remind).await;
    assert_eq!(status, 303, "{reminded}");
    assert!(
        reminded.contains(
            "Nobody was reminded: everyone in finance who may approve it was e-mailed about it in the last ten \
             minutes. You can remind them again from "
        ),
        "{reminded}"
    );
    let stale = vec![("csrf_token", csrf_in(&again)), ("request", uuid::Uuid::new_v4().to_string())];
    let (status, refused) = post_form(format!("{}{page}/approval-request/remind", app.base), &cookie, &stale).await;
    assert_eq!(status, 409, "{refused}");
    assert!(refused.contains("Not reminded. The request you read is not the one waiting now"), "{refused}");

    let list = page_as(&app.base, &fiona.email, "/quotes?state=awaiting_approval").await;
    assert!(
        list.contains(&format!("/quotes/{id}")) && list.contains("<span class=\"muted asked\">asked by Sam, "),
        "{list}"
    );
    assert!(
        list.contains("<a href=\"/quotes?state=awaiting_approval\" aria-current=\"page\">Awaiting approval</a>"),
        "{list}"
    );
    let shown = page_as(&app.base, &fiona.email, &page).await;
    assert!(
        shown.contains("Sam asked finance to approve keeping the old prices")
            && shown.contains("The customer signed in March"),
        "{shown}"
    );
    assert!(shown.contains("id=\"override\""), "finance may approve it there: {shown}");
    // Or decline it, from the same page.
    let fiona_cookie = session_cookie(&app.base, &fiona.email).await;
    let r = client().get(format!("{}{page}", app.base)).header("cookie", &fiona_cookie).send().await.expect("the page");
    let html = r.text().await.unwrap_or_default();
    let decline = vec![
        ("csrf_token", csrf_in(&html)),
        ("request", hidden_in(&html, "request")),
        ("reason", "Everyone pays the new price".to_owned()),
    ];
    let (status, declined) =
        post_form(format!("{}{page}/approval-request/decline", app.base), &fiona_cookie, &decline).await;
    assert_eq!(status, 303, "{declined}");
    assert!(declined.contains("Request declined: 1 salesperson on the quote was e-mailed your reason."), "{declined}");
    assert!(!declined.contains("id=\"decline-approval\""), "nothing left to decline: {declined}");
    let none = page_as(&app.base, &sam_user.email, "/quotes?state=awaiting_approval&search=nobody").await;
    assert!(none.contains("No quotes awaiting finance&#39;s approval match \u{201c}nobody\u{201d}."), "{none}");
}

both_backends! {
    /// A request for approval ends when finance approves, when the draft is
    /// repriced, or when its salesperson asks again about lines changed
    /// since; an approval given before it does not answer it. Two sent at
    /// once are one request.
    async fn a_request_for_approval_ends_with_an_approval_a_reprice_or_a_new_request(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 10_000).await;
        create_product(&finance, "P-2", "EUR", 5_000).await;
        let lines = |p1: i64| json!([{"sku": "P-1", "quantity": p1}, {"sku": "P-2", "quantity": 1}]);
        let id = id_of(&draft_quote(&sam, lines(2)).await);
        publish_price_change(&finance, "P-1", 11_000, &date_in_days(0)).await;
        let ask = format!("/api/v1/quotes/{id}/approval-request");
        let listed = |query: &'static str| {
            let finance = finance.clone();
            async move {
                let r = finance.get(&format!("/api/v1/quotes?{query}")).await;
                assert_eq!(r.status, 200, "{}", r.text);
                r.body.as_array().into_iter().flatten().map(id_of).collect::<Vec<String>>()
            }
        };
        let reason = json!({"reason": "The March offer"});

        let (a, b) = tokio::join!(sam.post(&ask, &reason), sam.post(&ask, &reason));
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 201], "{} / {}", a.text, b.text);
        assert_eq!(a.body["id"], b.body["id"], "one request");
        assert_eq!(listed("awaiting_approval=true").await, [id.as_str()]);

        // Approved: ended. The lines then change, and the approval lapses:
        // nobody has asked about them, until Sam does.
        let r = finance.post(&format!("/api/v1/quotes/{id}/override"), &json!({"reason": "Agreed"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = sam.get(&ask).await;
        assert_eq!((&r.body["open"], r.body["ended_at"].is_string()), (&json!(false), true), "{}", r.text);
        assert_eq!(sam.patch(&format!("/api/v1/quotes/{id}"), &json!({"lines": lines(3)})).await.status, 200);
        assert!(listed("awaiting_approval=true").await.is_empty());
        let r = sam.post(&ask, &reason).await;
        assert_eq!((r.status.as_u16(), &r.body["new"]), (201, &json!(true)), "an approval from before: {}", r.text);
        let asked = r.body["id"].clone();
        assert_eq!(listed("awaiting_approval=true").await, [id.as_str()]);

        // Lines edited since the request: it was about others, and ends,
        // which the edit's record says, on the quote's history too.
        assert_eq!(sam.patch(&format!("/api/v1/quotes/{id}"), &json!({"lines": lines(4)})).await.status, 200);
        let r = sam.get(&ask).await;
        assert_eq!((&r.body["open"], r.body["ended_at"].is_string()), (&json!(false), true), "{}", r.text);
        assert!(listed("awaiting_approval=true").await.is_empty());
        let edits = finance.get(&format!("/api/v1/audit?action=quote.edited&subject={id}")).await;
        let ended: Vec<&serde_json::Value> = edits.body.as_array().unwrap().iter().map(|e| &e["detail"]["approval_request_ended"]).collect();
        assert_eq!(ended, [&json!(true), &json!(false)], "the latest first: {}", edits.text);
        let page = page_as(&app.base, &fiona.email, &format!("/quotes/{id}")).await;
        assert_eq!(page.matches("this ended the request for finance&#39;s approval of old prices").count(), 1, "{page}");
        let r = sam.post(&ask, &reason).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_ne!(r.body["id"], asked);
        assert_eq!(r.body["lines"][0]["quantity"], json!(4), "{}", r.text);
        let asked = r.body["id"].clone();
        // The prices in force moved since: it still waits, about other
        // prices; asked again, a new request takes its place.
        publish_price_change(&finance, "P-1", 11_500, &date_in_days(0)).await;
        let r = sam.get(&ask).await;
        assert_eq!((&r.body["open"], &r.body["lines_as_asked"]), (&json!(true), &json!(false)), "{}", r.text);
        let r = sam.post(&ask, &reason).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_ne!(r.body["id"], asked);
        let audit = finance.get(&format!("/api/v1/audit?action=quote.approval_requested&subject={id}")).await;
        assert_eq!(audit.body.as_array().map(Vec::len), Some(4), "{}", audit.text);

        // Repriced: ended, which the answer, the record and the quote's
        // history say; a price published afterwards does not bring it back.
        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/reprice")).await;
        assert_eq!((r.status.as_u16(), &r.body["approval_request_ended"]), (200, &json!(true)), "{}", r.text);
        assert_eq!(sam.get(&ask).await.body["open"], json!(false));
        let repriced = finance.get(&format!("/api/v1/audit?action=quote.repriced&subject={id}")).await;
        assert_eq!(repriced.body[0]["detail"]["approval_request_ended"], json!(true), "{}", repriced.text);
        let page = page_as(&app.base, &fiona.email, &format!("/quotes/{id}")).await;
        assert!(page.contains("this withdrew the request for finance&#39;s approval of the old prices"), "{page}");
        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/reprice")).await;
        assert_eq!((r.status.as_u16(), &r.body["approval_request_ended"]), (200, &json!(false)), "{}", r.text);
        publish_price_change(&finance, "P-2", 6_000, &date_in_days(0)).await;
        assert!(listed("awaiting_approval=true").await.is_empty());
        assert_eq!(listed("at_old_prices=true").await, [id.as_str()]);
        assert_eq!(sam.get(&ask).await.body["open"], json!(false), "ended, whatever the prices do since");

        // Asked about P-2, which the owner then takes off the quote: ended,
        // and P-1 at an old price again later does not bring it back.
        let r = sam.post(&ask, &reason).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = sam.patch(&format!("/api/v1/quotes/{id}"), &json!({"lines": [{"sku": "P-1", "quantity": 4}]})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = sam.get(&ask).await;
        assert_eq!((&r.body["open"], r.body["ended_at"].is_string()), (&json!(false), true), "{}", r.text);
        publish_price_change(&finance, "P-1", 12_000, &date_in_days(0)).await;
        assert!(listed("awaiting_approval=true").await.is_empty());
        assert_eq!(sam.get(&ask).await.body["open"], json!(false));
    }
}

both_backends! {
    /// A client that lost the answer to its POST sends it again with the
    /// same `Idempotency-Key`: nothing more is drafted, and it gets what the
    /// first drafted (200, `Idempotency-Replayed`), however many it sends at
    /// once. A key is its sender's: a colleague's same key drafts their own;
    /// the same key with another body is refused; an unreadable key is a 400.
    async fn a_draft_sent_again_with_its_idempotency_key_is_drafted_once(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let (sue, _) = app.user(Role::Sales, "Sue").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let body = pricegate_tests::fixtures::quote_request(json!([{"sku": "P-1", "quantity": 3}]));
        // Its status, `Idempotency-Replayed` and body.
        let post = |session: &pricegate_tests::Session, key: &str, body: &serde_json::Value| {
            let request = session.request(reqwest::Method::POST, "/api/v1/quotes").header("Idempotency-Key", key).json(body);
            async move {
                let r = request.send().await.expect("an answer");
                let replayed = r.headers().get("idempotency-replayed").and_then(|v| v.to_str().ok()).map(str::to_owned);
                (r.status().as_u16(), replayed, r.json::<serde_json::Value>().await.unwrap_or_default())
            }
        };
        let key = "crm-order-4711";
        let at_once: Vec<_> = (0..4).map(|_| tokio::spawn(post(&sam, key, &body))).collect();
        let mut sent = Vec::new();
        for answer in at_once {
            sent.push(answer.await.expect("a POST"));
        }
        let mut statuses: Vec<u16> = sent.iter().map(|(status, _, _)| *status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 200, 200, 201], "{sent:?}");
        let ids: std::collections::BTreeSet<&str> = sent.iter().map(|(_, _, b)| b["id"].as_str().expect("an id")).collect();
        assert_eq!(ids.len(), 1, "one quote: {sent:?}");
        for (status, replayed, _) in &sent {
            assert_eq!(replayed.as_deref(), (*status == 200).then_some("true"), "{sent:?}");
        }
        let mine = sam.get("/api/v1/quotes").await;
        assert_eq!(mine.body.as_array().map(Vec::len), Some(1), "{}", mine.text);

        // Sue's same key is her own; another body with Sam's is refused.
        let (status, _, hers) = post(&sue, key, &body).await;
        assert_eq!(status, 201, "{hers}");
        assert_ne!(hers["id"], sent[0].2["id"]);
        let mut other = body.clone();
        other["lines"][0]["quantity"] = json!(4);
        let (status, _, refused) = post(&sam, key, &other).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("idempotency_key_reused")), "{refused}");
        assert!(refused["error"]["message"].as_str().is_some_and(|m| m.contains("Greta Berg")), "{refused}");
        assert_eq!(refused["error"]["id"], sent[0].2["id"], "the draft it made, to read: {refused}");
        let mut in_dollars = body.clone();
        in_dollars["currency"] = json!("USD");
        let (status, _, refused) = post(&sam, key, &in_dollars).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("idempotency_key_reused")), "another currency: {refused}");
        for bad in ["", "with space", &"k".repeat(256)] {
            let (status, _, refused) = post(&sam, bad, &body).await;
            assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("bad_idempotency_key")), "{bad:?}: {refused}");
        }
        assert_eq!(sam.get("/api/v1/quotes").await.body.as_array().map(Vec::len), Some(1), "nothing more drafted");

        // A notice's draft alike, its changes sent again in the order written
        // (the notice lists them by product, then date).
        let notice = json!({"title": "March prices", "body": "Read me.", "changes": [
            {"sku": "P-1", "unit_price_minor": 1_300, "effective_on": "2099-03-01"},
            {"sku": "P-1", "unit_price_minor": 1_200, "effective_on": "2099-02-01"},
        ]});
        let first = finance.send(finance.request(reqwest::Method::POST, "/api/v1/notices").header("Idempotency-Key", key).json(&notice)).await;
        let again = finance.send(finance.request(reqwest::Method::POST, "/api/v1/notices").header("Idempotency-Key", key).json(&notice)).await;
        assert_eq!((first.status.as_u16(), again.status.as_u16()), (201, 200), "{}", again.text);
        assert_eq!(first.body["id"], again.body["id"]);
        app.stop().await;
    }
}

/// The navigation marks the part of the site a page is in (`aria-current`),
/// as a screen reader and the eye read it: a quote's page is in Quotes, the
/// new-notice form is its own link, not Notices.
#[tokio::test]
async fn the_navigation_marks_the_part_of_the_site_a_page_is_in() {
    let app = TestApp::spawn(pricegate_tests::Backend::Sqlite).await;
    let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
    let (sam, sam_user) = app.user(Role::Sales, "Sam").await;
    create_product(&finance, "P-1", "EUR", 1_000).await;
    let quote = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await);
    let current = |html: &str| -> Vec<String> {
        html.split("<nav aria-label=\"Main\">")
            .nth(1)
            .and_then(|nav| nav.split("</nav>").next())
            .into_iter()
            .flat_map(|nav| nav.split("<a ").skip(1))
            .filter_map(|link| link.split('>').next())
            .filter(|tag| tag.contains("aria-current=\"page\""))
            .filter_map(|tag| tag.split("href=\"").nth(1)?.split('"').next().map(str::to_owned))
            .collect()
    };
    for (email, path, marked) in [
        (&sam_user.email, format!("/quotes/{quote}"), vec!["/quotes"]),
        (&sam_user.email, "/quotes".to_owned(), vec!["/quotes"]),
        (&sam_user.email, "/products".to_owned(), vec!["/products"]),
        (&fiona.email, "/notices/new".to_owned(), vec!["/notices/new"]),
        (&fiona.email, "/notices".to_owned(), vec!["/notices"]),
        (&fiona.email, "/account".to_owned(), vec!["/account"]),
    ] {
        let html = page_as(&app.base, email, &path).await;
        assert_eq!(current(&html), marked, "{path}: {html}");
    }
    // A quote's page is titled by its reference too: two for one customer differ in a tab.
    let html = page_as(&app.base, &sam_user.email, &format!("/quotes/{quote}")).await;
    assert!(html.contains(&format!("<title>Quote {} for Greta Berg - Pricegate</title>", &quote[..8])), "{html}");
    app.stop().await;
}

both_backends! {
    /// Month-end in a spreadsheet: the quotes list, with its filter and
    /// search, every page of it, downloads as one CSV file, a row a quote
    /// with its total, its people and its proof.
    async fn the_quotes_list_downloads_as_csv_with_its_filter_and_search(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_view) = app.user(Role::Sales, "Sam").await;
        let (sue, _) = app.user(Role::Sales, "Sue").await;
        let (_, ada) = app.user(Role::Admin, "Ada").await;
        create_product(&finance, "P-1", "EUR", 1_234).await;
        create_product(&finance, "Y-1", "JPY", 1_500).await;
        // Restated before any quote: Sam never reads it, and the gate never asks him to.
        pricegate_tests::fixtures::publish_price_change(&finance, "Y-1", 1_500, &pricegate_tests::fixtures::date_in_days(0)).await;
        let customer = |name: &str, company: &str| json!({"name": name, "email": "buyer@customer.example", "company": company});
        let draft = |session: &pricegate_tests::Session, request: serde_json::Value| {
            let session = session.clone();
            async move {
                let r = session.post("/api/v1/quotes", &request).await;
                assert_eq!(r.status, 201, "{}", r.text);
                id_of(&r.body)
            }
        };
        // More of Sam's quotes than are read at a time.
        let mut drafting = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let request = quote_request(json!([{"sku": "P-1", "quantity": 1}]));
            let sam = sam.clone();
            drafting.spawn(async move {
                for _ in 0..130 {
                    let r = sam.post("/api/v1/quotes", &request).await;
                    assert_eq!(r.status, 201, "{}", r.text);
                }
            });
        }
        while let Some(done) = drafting.join_next().await {
            done.expect("drafting");
        }
        let mut formula = quote_request(json!([{"sku": "P-1", "quantity": 3}]));
        formula["customer"] = customer("=HYPERLINK(\"http://evil.example\")", "Acme, \"Pumps\" Ltd");
        let formula = draft(&sam, formula).await;
        let mut yen = quote_request(json!([{"sku": "Y-1", "quantity": 3}]));
        (yen["currency"], yen["customer"]) = (json!("JPY"), customer("Kenji Sato", "Sato Shoji"));
        let yen = draft(&sam, yen).await;
        let cancelled = draft(&sam, quote_request(json!([{"sku": "P-1", "quantity": 2}]))).await;
        assert_eq!(sam.post(&format!("/api/v1/quotes/{cancelled}/cancel"), &json!({})).await.status, 200);
        let hers = draft(&sue, quote_request(json!([{"sku": "P-1", "quantity": 1}]))).await;
        // A notice since the yen quote was drafted, acknowledged by Sam: its proof counts it.
        let notice = pricegate_tests::fixtures::create_notice(&finance, "Freight note", json!([])).await;
        pricegate_tests::fixtures::publish_notice(&finance, &notice).await;
        assert_eq!(sam.post(&format!("/api/v1/notices/{notice}/acknowledge"), &json!({})).await.status, 200);
        let r = sam.post(&format!("/api/v1/quotes/{yen}/finalise"), &json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);

        let download = |path: &str, email: &str| {
            let (base, path, email) = (app.base.clone(), path.to_owned(), email.to_owned());
            async move {
                let cookie = pricegate_tests::pages::session_cookie(&base, &email).await;
                let r = pricegate_tests::pages::client()
                    .get(format!("{base}{path}"))
                    .header(reqwest::header::COOKIE, cookie)
                    .send()
                    .await
                    .expect("the download answers");
                let status = r.status().as_u16();
                let kind = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                (status, kind, r.text().await.expect("the whole file"))
            }
        };
        let ids_of = |csv: &str| -> Vec<String> {
            csv.lines().skip(1).map(|l| l.split(',').nth(1).expect("an id column").to_owned()).collect()
        };
        let (status, kind, csv) = download("/quotes/export.csv", &fiona.email).await;
        assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"), "{csv}");
        assert_eq!(
            csv.lines().next(),
            Some(
                "\u{feff}reference,id,state,customer_name,customer_company,customer_email,currency,total,total_minor,\
                 lines,drafted_at_utc,drafted_at_local,valid_until,owner_name,owner_email,signer_name,signer_email,\
                 finalised_at_utc,finalised_at_local,finalised_by_name,notices_checked,override_by_name,override_reason,\
                 override_at_utc,cancelled_at_utc,cancelled_at_local,zone,prices_from_unacknowledged_notices,\
                 finalised_by_id,changed_since_finalised"
            )
        );
        let listed: Vec<String> = finance.get("/api/v1/quotes").await.body.as_array().expect("a list").iter().map(id_of).collect();
        assert_eq!(listed.len(), 524);
        assert_eq!(ids_of(&csv), listed, "finance: every quote once, in the list's order, newest first");
        let row = |csv: &str, id: &str| -> String {
            csv.lines().find(|l| l.contains(id)).unwrap_or_else(|| panic!("{id} in {csv}")).to_owned()
        };
        let reference = &formula[..8];
        let expected = format!(
            "{reference},ID,draft,\"'=HYPERLINK(\"\"http://evil.example\"\")\",\"Acme, \"\"Pumps\"\" Ltd\",\
             buyer@customer.example,EUR,37.02,3702,1,"
        );
        let formula_row = row(&csv, &formula).replace(&formula, "ID");
        assert!(
            formula_row.starts_with(&expected),
            "a formula is kept from running, and the total is in the currency's units: {formula_row}"
        );
        let yen_row = row(&csv, &yen);
        assert!(yen_row.contains(",finalised,Kenji Sato,Sato Shoji,buyer@customer.example,JPY,4500,4500,1,"), "{yen_row}");
        assert!(yen_row.contains(&format!(",Sam,{0},Sam,{0},", sam_view.email)), "owner and signer: {yen_row}");
        assert!(
            yen_row.ends_with(&format!(",Sam,1,,,,,,UTC,Y-1: Y-1 now 1500,{},", sam_view.id)),
            "finalised by Sam, one notice in the proof, its price from a notice he never read: {yen_row}"
        );
        assert!(row(&csv, &cancelled).contains(",cancelled,"), "{csv}");

        // A salesperson's file holds their own quotes; the list's filter and search choose as on the page.
        let (_, _, mine) = download("/quotes/export.csv", &sam_view.email).await;
        assert_eq!(mine.lines().count(), 1 + 523, "Sam's own");
        assert!(!mine.contains(&hers));
        let (_, _, finalised) = download("/quotes/export.csv?state=finalised", &fiona.email).await;
        assert_eq!(ids_of(&finalised), vec![yen.clone()]);
        // The list of finalised quotes says when each was, as the file does.
        let finalised_at = yen_row.split(',').nth(17).expect("finalised_at_utc").to_owned();
        let finalised_at: chrono::DateTime<chrono::Utc> = finalised_at.parse().expect("a time");
        let html = page_as(&app.base, &fiona.email, "/quotes?state=finalised").await;
        let stamp = finalised_at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        assert!(html.contains(&format!("<td data-label=\"Finalised\">{stamp}</td>")), "{stamp}: {html}");
        // Month-end: those finalised within business days (here UTC's), on the page, in the file and in the API.
        let (day, next) = (finalised_at.date_naive(), finalised_at.date_naive().succ_opt().expect("a next day"));
        let (_, _, within) = download(&format!("/quotes/export.csv?state=finalised&from={day}&to={day}"), &fiona.email).await;
        assert_eq!(ids_of(&within), vec![yen.clone()]);
        let (status, _, later) = download(&format!("/quotes/export.csv?state=finalised&from={next}"), &fiona.email).await;
        assert_eq!((status, ids_of(&later)), (200, vec![]), "none finalised from the next day: {later}");
        let html = page_as(&app.base, &fiona.email, &format!("/quotes?state=finalised&from={next}")).await;
        assert!(html.contains("id=\"no-quotes\"") && html.contains(&format!("name=\"from\" value=\"{next}\"")), "{html}");
        let html = page_as(&app.base, &fiona.email, &format!("/quotes?state=finalised&from={day}&to={day}")).await;
        assert!(html.contains(&format!("href=\"/quotes/{yen}\"")), "{html}");
        // Days given the wrong way round are said to be, on the page and (refused) for the file.
        let reversed = format!("The first day, {next}, is after the last, {day}: nothing lies between them.");
        let none = page_as(&app.base, &fiona.email, &format!("/quotes?state=finalised&from={next}&to={day}")).await;
        assert!(none.contains("id=\"no-quotes\"") && none.contains(&reversed), "{none}");
        let (status, _, body) =
            download(&format!("/quotes/export.csv?state=finalised&from={next}&to={day}"), &fiona.email).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains(&reversed), "{body}");
        // The last day there is ends nothing (SQLite compared the instant after it as text, and found none).
        let (_, _, all) = download("/quotes/export.csv?state=finalised&to=9999-12-31", &fiona.email).await;
        assert_eq!(ids_of(&all), vec![yen.clone()]);
        // The file's name says what was chosen, so that two downloads are not taken for one another.
        let today = date_in_days(0);
        let path = format!("/quotes/export.csv?state=finalised&from={day}&to={day}");
        let named = pricegate_tests::pages::download_name(&app.base, &fiona.email, &path).await;
        assert_eq!(named, format!("pricegate-quotes-finalised-from-{day}-to-{day}-as-of-{today}.csv"));
        let named = pricegate_tests::pages::download_name(&app.base, &fiona.email, "/quotes/export.csv?search=acme").await;
        assert_eq!(named, format!("pricegate-quotes-searched-as-of-{today}.csv"));
        // Days typed into another list's address are said to be for finalised quotes, not taken to empty it.
        let days_only = "Days choose among finalised quotes only: choose \u{201c}Finalised\u{201d} to use them.";
        let every = page_as(&app.base, &fiona.email, &format!("/quotes?from={next}")).await;
        assert!(every.contains(days_only) && !every.contains("id=\"no-quotes\""), "{every}");
        let mistyped = page_as(&app.base, &fiona.email, &format!("/quotes?state=finalised&form={day}")).await;
        let said = "\u{201c}form\u{201d} is not a filter here: the filters are state, search, from, to, before. It was left out.";
        assert!(mistyped.contains(said), "{mistyped}");
        let (status, _, body) = download(&format!("/quotes/export.csv?state=draft&from={day}"), &fiona.email).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains(days_only), "{body}");
        assert!(html.contains(&format!("/quotes/export.csv?state=finalised&#38;from={day}&#38;to={day}")), "{html}");
        let api = |since: chrono::DateTime<chrono::Utc>, until: chrono::DateTime<chrono::Utc>| {
            let rfc = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            format!("/api/v1/quotes?finalised_since={}&finalised_until={}", rfc(since), rfc(until))
        };
        let second = chrono::Duration::seconds(1);
        let r = finance.get(&api(finalised_at - second, finalised_at + second)).await;
        assert_eq!(r.body.as_array().map(|q| q.iter().map(id_of).collect::<Vec<_>>()), Some(vec![yen.clone()]), "{}", r.text);
        let r = finance.get(&api(finalised_at + second, finalised_at + second * 2)).await;
        assert_eq!(r.body.as_array().map(Vec::len), Some(0), "{}", r.text);
        // The wrong way round is refused, as the page says it, not answered with an empty list.
        let r = finance.get(&api(finalised_at + second, finalised_at - second)).await;
        assert_error(&r, 400, "invalid_query");
        assert!(r.text.contains("finalised_since is after finalised_until: the times are the wrong way round"), "{}", r.text);
        let (_, _, found) = download("/quotes/export.csv?search=acme", &sam_view.email).await;
        assert_eq!(ids_of(&found), vec![formula.clone()]);
        let html = page_as(&app.base, &fiona.email, "/quotes?state=draft&search=nordwind").await;
        assert!(
            html.contains("href=\"/quotes/export.csv?state=draft&#38;search=nordwind\" id=\"export-quotes\" download>Download these quotes"),
            "the list offers its own quotes: {html}"
        );

        // What the list would read leniently is refused, not taken for every quote; an admin reads no quotes.
        for (query, says) in [
            ("state=signed", "There is no state \u{201c}signed\u{201d}."),
            ("state=draft&state=cancelled", "A filter is given twice"),
            ("search=%FF", "or written so that it cannot be read"),
            ("status=draft", "\u{201c}status\u{201d} is not a filter here: the filters are state, search, from, to."),
            ("state=finalised&from=2026-13-45", "\u{201c}2026-13-45\u{201d} is not a date like 2026-12-01, for the first day."),
            ("state=finalised&to=2026-1-1", "\u{201c}2026-1-1\u{201d} is not a date like 2026-12-01, for the last day."),
        ] {
            let (status, _, body) = download(&format!("/quotes/export.csv?{query}"), &fiona.email).await;
            assert_eq!(status, 400, "{query}: {body}");
            assert!(body.contains(says) && body.contains("Download from the quotes page, /quotes"), "{query}: {body}");
        }
        let (status, _, _) = download("/quotes/export.csv", &ada.email).await;
        assert_eq!(status, 403);
    }
}

both_backends! {
    /// A request for approval is open only while lines are at an old price:
    /// a price put back leaves it waiting on nothing, and a reprice that
    /// then rewrites the lines (a product renamed since) withdraws nothing.
    async fn a_reprice_withdraws_only_a_request_that_was_open(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        let product = id_of(&create_product(&finance, "P-1", "EUR", 1_000).await);
        let id = id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 2}])).await);
        publish_price_change(&finance, "P-1", 1_200, &date_in_days(0)).await;
        let ask = format!("/api/v1/quotes/{id}/approval-request");
        let r = sam.post(&ask, &json!({"reason": "The March offer"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        publish_price_change(&finance, "P-1", 1_000, &date_in_days(0)).await;
        assert_eq!(sam.get(&ask).await.body["open"], json!(false), "nothing at an old price");
        let r = finance.patch(&format!("/api/v1/products/{product}"), &json!({"name": "Pump, renamed"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = sam.post_empty(&format!("/api/v1/quotes/{id}/reprice")).await;
        assert_eq!((r.status.as_u16(), &r.body["approval_request_ended"]), (200, &json!(false)), "{}", r.text);
        let repriced = finance.get(&format!("/api/v1/audit?action=quote.repriced&subject={id}")).await;
        assert_eq!(repriced.body[0]["detail"]["approval_request_ended"], json!(false), "{}", repriced.text);
    }
}

both_backends! {
    /// Month-end reads the finalised quotes by when they were finalised: the
    /// list, its next page and its download go newest finalised first,
    /// whatever the order they were drafted in.
    async fn the_finalised_list_goes_newest_finalised_first(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, fiona) = app.user(Role::Finance, "Fiona").await;
        let (sam, _) = app.user(Role::Sales, "Sam").await;
        create_product(&finance, "P-1", "EUR", 1_000).await;
        let mut drafted = Vec::new();
        for _ in 0..3 {
            drafted.push(id_of(&draft_quote(&sam, json!([{"sku": "P-1", "quantity": 1}])).await));
        }
        let (first, second, third) = (drafted[0].as_str(), drafted[1].as_str(), drafted[2].as_str());
        for id in [third, first, second] {
            assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{id}/finalise")).await.status, 200);
        }
        let listed = |html: &str| -> Vec<String> {
            html.split("<td data-label=\"Customer\" class=\"wrap\"><a href=\"/quotes/")
                .skip(1)
                .filter_map(|rest| rest.split('"').next().map(str::to_owned))
                .collect()
        };
        let html = page_as(&app.base, &fiona.email, "/quotes?state=finalised").await;
        assert_eq!(listed(&html), [second, first, third], "newest finalised first: {html}");
        let html = page_as(&app.base, &fiona.email, &format!("/quotes?state=finalised&before={first}")).await;
        assert_eq!(listed(&html), [third], "the page after a quote is the ones finalised before it: {html}");
        // Every quote's list stays newest drafted first.
        let html = page_as(&app.base, &fiona.email, "/quotes").await;
        assert_eq!(listed(&html), [third, second, first], "{html}");
        let cookie = pricegate_tests::pages::session_cookie(&app.base, &fiona.email).await;
        let csv = pricegate_tests::pages::client()
            .get(format!("{}/quotes/export.csv?state=finalised", app.base))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .expect("the download")
            .text()
            .await
            .expect("the file");
        let ids: Vec<&str> = csv.lines().skip(1).filter_map(|l| l.split(',').nth(1)).collect();
        assert_eq!(ids, [second, first, third], "the file as the list: {csv}");

        // Finalised at the same instant, two quotes go by id; a reader going on from each
        // place in turn (as the download does, a page at a time) meets every quote once.
        use sea_orm::ConnectionTrait;
        let conn = app.store.connection();
        let same = match conn.get_database_backend() {
            sea_orm::DbBackend::Postgres => "UPDATE quotes SET finalised_at = (SELECT finalised_at FROM quotes WHERE id = $1) WHERE id = $2",
            _ => "UPDATE quotes SET finalised_at = (SELECT finalised_at FROM quotes WHERE id = ?) WHERE id = ?",
        };
        let uuid = |id: &str| uuid::Uuid::parse_str(id).expect("an id");
        let values: [sea_orm::Value; 2] = [uuid(first).into(), uuid(second).into()];
        let statement = sea_orm::Statement::from_sql_and_values(conn.get_database_backend(), same, values);
        conn.execute_raw(statement).await.expect("one finalising time for two quotes");
        let tied = {
            let mut tied = [first, second];
            tied.sort_by_key(|id| std::cmp::Reverse(uuid(id)));
            tied
        };
        let actor = pricegate_store::Actor { id: fiona.id, role: Role::Finance };
        let mut walked = Vec::new();
        let mut place = None;
        loop {
            let filter = pricegate_store::QuoteFilter {
                state: Some("finalised".into()),
                by_finalising: true,
                limit: Some(1),
                after_listed: place,
                ..Default::default()
            };
            let page = app.store.list_quotes(&actor, filter).await.expect("a page");
            let Some(quote) = page.first() else { break };
            place = Some((quote.finalised_at.expect("finalised"), quote.id));
            walked.push(quote.id.to_string());
            assert!(walked.len() <= 3, "no quote twice: {walked:?}");
        }
        assert_eq!(walked, [tied[0], tied[1], third], "by time, then by id, newest first");
        let html = page_as(&app.base, &fiona.email, &format!("/quotes?state=finalised&before={}", tied[0])).await;
        assert_eq!(listed(&html), [tied[1], third], "the page after the first of two at one time: {html}");

        // Above it, what the list comes to, every page of it, by currency; a draft is no part of it.
        create_product(&finance, "P-2", "USD", 2_500).await;
        let mut in_dollars = pricegate_tests::fixtures::quote_request(json!([{"sku": "P-2", "quantity": 2}]));
        in_dollars["currency"] = json!("USD");
        let usd = id_of(&sam.post("/api/v1/quotes", &in_dollars).await.body);
        assert_eq!(sam.post_empty(&format!("/api/v1/quotes/{usd}/finalise")).await.status, 200);
        draft_quote(&sam, json!([{"sku": "P-1", "quantity": 7}])).await;
        let html = page_as(&app.base, &fiona.email, &format!("/quotes?state=finalised&before={}", tied[0])).await;
        assert!(html.contains("<p id=\"quote-sums\">4 quotes in all: 3 worth 30.00 EUR, 1 worth 50.00 USD.</p>"), "{html}");
        // A salesperson's sum is of their own quotes, as their list is.
        let (sara, sara_user) = app.user(Role::Sales, "Sara").await;
        let hers = id_of(&draft_quote(&sara, json!([{"sku": "P-1", "quantity": 5}])).await);
        assert_eq!(sara.post_empty(&format!("/api/v1/quotes/{hers}/finalise")).await.status, 200);
        let html = page_as(&app.base, &sara_user.email, "/quotes?state=finalised").await;
        assert!(html.contains("<p id=\"quote-sums\">1 quote in all, worth 50.00 EUR.</p>"), "{html}");
        let html = page_as(&app.base, &fiona.email, "/quotes?state=finalised").await;
        assert!(html.contains("<p id=\"quote-sums\">5 quotes in all: 4 worth 80.00 EUR, 1 worth 50.00 USD.</p>"), "{html}");
        let html = page_as(&app.base, &fiona.email, &format!("/quotes?state=finalised&search={}", &usd[..8])).await;
        assert!(html.contains("<p id=\"quote-sums\">1 quote in all, worth 50.00 USD.</p>"), "the search's: {html}");
        let html = page_as(&app.base, &fiona.email, "/quotes?state=draft").await;
        assert!(!html.contains("quote-sums"), "drafts are not summed: {html}");
        // A page's place that names no quote is the first page, said so.
        for lost in ["zzz", "00000000-0000-0000-0000-000000000000"] {
            let html = page_as(&app.base, &fiona.email, &format!("/quotes?state=finalised&before={lost}")).await;
            assert!(html.contains("The page asked for names no quote of this list: showing the first page."), "{lost}: {html}");
            assert!(html.contains("<p id=\"quote-sums\">"), "{lost}: {html}");
        }
        app.stop().await;
    }
}
