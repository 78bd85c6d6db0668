//! The whole story as people live it, through the API, on both databases.

use pricegate_domain::Role;
use pricegate_tests::{TestApp, both_backends};
use serde_json::json;

both_backends! {
    async fn finalising_is_refused_until_every_new_notice_is_acknowledged(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let (finance, _) = app.user(Role::Finance, "Fiona").await;
        let (sam, sam_user) = app.user(Role::Sales, "Sam").await;

        let r = finance.post("/api/v1/products", &json!({"sku":"PUMP-1","name":"Pump","unit":"each","currency":"EUR","unit_price_minor":250000})).await;
        assert_eq!(r.status, 201, "{}", r.text);

        let r = sam.post("/api/v1/quotes", &json!({
            "customer": {"name":"Greta","email":"greta@nordwind.example","company":"Nordwind"},
            "currency":"EUR","valid_until":"2099-12-31",
            "lines":[{"sku":"PUMP-1","quantity":40}]
        })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let quote = r.body.clone();
        let qid = quote["id"].as_str().unwrap().to_owned();
        assert_eq!(quote["total_minor"], 40 * 250000);
        assert_eq!(quote["signer_id"], json!(sam_user.id));

        let r = finance.post("/api/v1/notices", &json!({
            "title":"Pumps up 10%","body":"From **today**.",
            "changes":[{"sku":"PUMP-1","unit_price_minor":275000,"effective_on":"2099-01-01"}]
        })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let nid = r.body["id"].as_str().unwrap().to_owned();
        let r = finance.post_empty(&format!("/api/v1/notices/{nid}/publish")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["state"], "published");
        assert_eq!(r.body["seq"], 1);

        let r = sam.post_empty(&format!("/api/v1/quotes/{qid}/finalise")).await;
        assert_eq!(r.status, 409, "{}", r.text);
        assert_eq!(r.code(), "pending_acknowledgements");
        let pending = &r.body["error"]["pending"];
        assert_eq!(pending.as_array().unwrap().len(), 1);
        assert_eq!(pending[0]["notice_id"], json!(nid));
        assert_eq!(pending[0]["title"], "Pumps up 10%");
        assert_eq!(pending[0]["impact"]["total_delta_minor"], 40 * 25000);
        assert_eq!(pending[0]["impact"]["lines"][0]["delta_minor"], 40 * 25000);

        let gate = sam.get(&format!("/api/v1/quotes/{qid}/gate")).await;
        assert_eq!(gate.body["ready"], false);
        assert_eq!(gate.body["pending"], *pending);

        let r = sam.post_empty(&format!("/api/v1/notices/{nid}/acknowledge")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["channel"], "api");
        let acked_at = r.body["acknowledged_at"].clone();
        let again = sam.post_empty(&format!("/api/v1/notices/{nid}/acknowledge")).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.body["acknowledged_at"], acked_at, "acknowledging twice changes nothing");
        let gate = sam.get(&format!("/api/v1/quotes/{qid}/gate")).await;
        assert_eq!(gate.body["pending"], json!([]), "an acknowledged notice is no longer pending");
        assert_eq!(gate.body["ready"], true);

        let r = sam.post_empty(&format!("/api/v1/quotes/{qid}/finalise")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["state"], "finalised");
        let evidence = &r.body["evidence"];
        assert_eq!(evidence["notices"][0]["notice_id"], json!(nid));
        assert_eq!(evidence["notices"][0]["acknowledged_at"], acked_at);
        assert!(r.body["finalised_at"].as_str().unwrap() > acked_at.as_str().unwrap());

        let r = sam.post_empty(&format!("/api/v1/quotes/{qid}/finalise")).await;
        assert_eq!(r.status, 409);
        assert_eq!(r.code(), "quote_not_draft");

        let acks = finance.get(&format!("/api/v1/notices/{nid}/acknowledgements")).await;
        assert_eq!(acks.status, 200);
        assert_eq!(acks.body["acknowledged"][0]["user"]["id"], json!(sam_user.id));
        assert_eq!(acks.body["pending"].as_array().unwrap().len(), 0);
    }
}
