//! The company a race needs, created through the API as people would.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Person, RaceConfig, Rng, Servers, uuid_at};
use crate::PASSWORD;

/// The people and products of a race, created through the API.
pub struct Company {
    pub finance: Vec<Person>,
    pub sales: Vec<Person>,
    pub quote_skus: Vec<String>,
    pub spare_skus: Vec<String>,
    /// The drafts each salesperson starts with.
    pub drafts: Vec<Vec<Uuid>>,
}

pub(super) fn quote_body(rng: &mut Rng, skus: &[String]) -> Value {
    json!({
        "customer": { "name": format!("Customer {}", rng.below(10_000)), "email": "buyer@customer.example", "company": "Customer Ltd" },
        "currency": "EUR",
        "valid_until": "2099-12-31",
        "notes": "drafted during the race",
        "lines": random_lines(rng, skus),
    })
}

pub(super) fn random_lines(rng: &mut Rng, skus: &[String]) -> Value {
    let n = 1 + rng.below(3);
    let mut chosen: Vec<&String> = Vec::new();
    while chosen.len() < n.min(skus.len()) {
        let sku = rng.pick(skus);
        if !chosen.contains(&sku) {
            chosen.push(sku);
        }
    }
    Value::Array(
        chosen
            .into_iter()
            .map(|sku| json!({ "sku": sku, "quantity": 1 + rng.below(50), "discount_bp": rng.below(4) * 250 }))
            .collect(),
    )
}

/// Creates the finance people, salespeople, products and initial drafts
/// through the API (as `admin`), spreading the calls over every server.
pub async fn seed_company(servers: &Servers, admin: &Person, cfg: &RaceConfig) -> Company {
    let run = Uuid::new_v4().simple().to_string();
    let people: Vec<(&str, String)> = (0..cfg.finance_people)
        .map(|i| ("finance", i))
        .chain((0..cfg.salespeople).map(|i| ("sales", i)))
        .map(|(role, i)| (role, format!("{role}{i}-{}@race.pricegate.test", &run[..8])))
        .collect();
    let mut logins = Vec::new();
    for (i, (role, email)) in people.iter().enumerate() {
        let body = json!({ "email": email, "name": format!("Race {role} {i}"), "role": role, "password": PASSWORD });
        servers.must(i, admin, Method::POST, "/api/v1/users", Some(&body), 201).await;
        let servers = servers.clone();
        let (role, email) = (role.to_string(), email.clone());
        logins.push(tokio::spawn(async move { (role, servers.login(i, &email, PASSWORD).await) }));
    }
    let mut finance = Vec::new();
    let mut sales = Vec::new();
    for login in logins {
        let (role, person) = login.await.expect("login task");
        if role == "finance" { finance.push(person) } else { sales.push(person) }
    }

    let mut rng = Rng::seeded();
    let quote_skus: Vec<String> = (0..cfg.quote_products).map(|i| format!("RACE-Q{i}")).collect();
    let spare_skus: Vec<String> = (0..cfg.spare_products).map(|i| format!("RACE-S{i}")).collect();
    for (i, sku) in quote_skus.iter().chain(&spare_skus).enumerate() {
        let body = json!({ "sku": sku, "name": format!("Product {sku}"), "unit": "each", "currency": "EUR",
                           "unit_price_minor": 1_000 + rng.below(100_000) });
        servers.must(i, &finance[0], Method::POST, "/api/v1/products", Some(&body), 201).await;
    }

    let mut tasks = Vec::new();
    for (s, person) in sales.iter().enumerate() {
        let count = cfg.initial_quotes / cfg.salespeople + usize::from(s < cfg.initial_quotes % cfg.salespeople);
        let (servers, person, skus) = (servers.clone(), person.clone(), quote_skus.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::seeded();
            let mut ids = Vec::new();
            for i in 0..count {
                let body = quote_body(&mut rng, &skus);
                let q = servers.must(s + i, &person, Method::POST, "/api/v1/quotes", Some(&body), 201).await;
                ids.push(uuid_at(&q["id"]));
            }
            ids
        }));
    }
    let mut drafts = Vec::new();
    for t in tasks {
        drafts.push(t.await.expect("seeding task"));
    }
    Company { finance, sales, quote_skus, spare_skus, drafts }
}
