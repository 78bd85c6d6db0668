//! A small, believable company for a newcomer to log in to: a finance
//! controller, two salespeople, an admin, a pump-and-valve price list, a few
//! quotes, and one published price increase that blocks one of them.

use anyhow::Context;
use chrono::Days;
use pricegate_domain::{Currency, CustomerEmail, DiscountBp, Email, Password, Quantity, Role, Sku, Text};
use pricegate_store::views::UserView;
use pricegate_store::{
    Actor, Channel, ClientInfo, NewLine, NewNotice, NewPriceChange, NewProduct, NewQuote, NewUser, PublishSeen, Store,
    StoreError,
};

/// Every demo user logs in with this password.
pub const DEMO_PASSWORD: &str = "pricegate-demo";

pub struct DemoLogin {
    pub email: String,
    pub name: String,
    pub role: Role,
}

const PEOPLE: &[(&str, &str, Role)] = &[
    ("fiona@pricegate.example", "Fiona Finch", Role::Finance),
    ("sam@pricegate.example", "Sam Seller", Role::Sales),
    ("sara@pricegate.example", "Sara Sandoval", Role::Sales),
    ("ada@pricegate.example", "Ada Admin", Role::Admin),
];

const PRODUCTS: &[(&str, &str, &str, i64)] = &[
    ("PUMP-C100", "Centrifugal pump C100, 1.1 kW", "each", 84_000),
    ("PUMP-C250", "Centrifugal pump C250, 2.5 kW", "each", 149_000),
    ("PUMP-C400", "Centrifugal pump C400, 4 kW", "each", 231_000),
    ("PUMP-S60", "Submersible pump S60", "each", 61_500),
    ("PUMP-D20", "Diaphragm dosing pump D20", "each", 48_900),
    ("VALVE-B25", "Ball valve DN25, stainless", "each", 4_250),
    ("VALVE-B50", "Ball valve DN50, stainless", "each", 9_800),
    ("VALVE-G80", "Gate valve DN80, cast iron", "each", 21_400),
    ("VALVE-C50", "Check valve DN50", "each", 7_300),
    ("HOSE-R25-10", "Reinforced hose 25 mm", "10 m roll", 6_900),
    ("HOSE-R50-10", "Reinforced hose 50 mm", "10 m roll", 13_200),
    ("FLANGE-50", "Flange kit DN50", "set", 2_600),
    ("GASKET-50", "EPDM gasket DN50", "pack of 10", 1_450),
    ("MOTOR-2K2", "IE3 motor 2.2 kW", "each", 39_900),
    ("CTRL-VFD3", "Variable frequency drive 3 kW", "each", 52_000),
    ("SENSOR-P10", "Pressure sensor 0–10 bar", "each", 11_800),
    ("SEAL-M25", "Mechanical seal 25 mm", "each", 5_600),
    ("FILTER-Y50", "Y-strainer DN50", "each", 8_700),
    ("TANK-200", "Pressure tank 200 l", "each", 64_000),
    ("SERVICE-H", "Field service", "hour", 9_500),
];

/// Fills an empty database; returns the logins, or `None` if it held users already.
pub async fn seed(store: &Store) -> anyhow::Result<Option<Vec<DemoLogin>>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let mut users: Vec<UserView> = Vec::new();
    for (email, name, role) in PEOPLE {
        let user = store
            .create_user(
                None,
                NewUser {
                    email: Email::parse(email)?,
                    name: Text::parse("name", name, 200)?,
                    role: *role,
                    password: Some(Password::parse(DEMO_PASSWORD)?),
                },
            )
            .await;
        // Another process seeding the same empty database at this moment
        // (two `serve --demo` started together) made the first person
        // first: the company is its to add.
        if users.is_empty() && matches!(user, Err(StoreError::Conflict { code: "email_taken", .. })) {
            return Ok(None);
        }
        users.push(user.with_context(|| format!("cannot create demo user {email}"))?);
    }
    let actor = |i: usize| Actor { id: users[i].id, role: PEOPLE[i].2 };
    let (finance, sam, sara) = (actor(0), actor(1), actor(2));

    let eur = Currency::parse("EUR")?;
    for (sku, name, unit, price) in PRODUCTS {
        store
            .create_product(
                &finance,
                NewProduct {
                    sku: Sku::parse(sku)?,
                    name: Text::parse("name", name, 200)?,
                    unit: Text::parse("unit", unit, 32)?,
                    currency: eur,
                    unit_price_minor: *price,
                },
            )
            .await?;
    }

    let line = |sku: &str, qty: i64, discount: i64| -> anyhow::Result<NewLine> {
        Ok(NewLine { sku: Sku::parse(sku)?, quantity: Quantity::parse(qty)?, discount: DiscountBp::parse(discount)? })
    };
    let today = store.today().await?;
    let valid_until = today + Days::new(30);
    let quote = |customer: &str, email: &str, company: &str, lines: Vec<NewLine>| -> anyhow::Result<NewQuote> {
        Ok(NewQuote {
            form_key: None,
            customer_name: Text::parse("name", customer, 200)?,
            customer_email: CustomerEmail::parse(email)?,
            customer_company: Text::parse_optional("company", company, 200)?,
            currency: eur,
            valid_until,
            notes: Text::parse_multiline_optional("notes", "", 10)?,
            signer_id: None,
            lines,
            copied_from: None,
        })
    };

    // Drafted before the price increase: Sam must acknowledge it before finalising.
    store
        .create_quote(
            &sam,
            quote(
                "Greta Nordwind",
                "greta@nordwind-pumpen.example",
                "Nordwind Pumpen GmbH",
                vec![line("PUMP-C250", 40, 500)?, line("VALVE-B50", 80, 0)?, line("SERVICE-H", 16, 0)?],
            )?,
        )
        .await?;
    store
        .create_quote(
            &sara,
            quote(
                "Luis Ortega",
                "luis@aguaclara.example",
                "AguaClara S.L.",
                vec![line("PUMP-S60", 6, 0)?, line("HOSE-R50-10", 12, 1_000)?],
            )?,
        )
        .await?;

    let increase = store
        .create_notice(
            &finance,
            NewNotice {
                form_key: None,
                title: Text::parse("title", "Pump prices rise 8% from today", 200)?,
                body: Text::parse_multiline(
                    "body",
                    "Our supplier has raised motor prices. The **C250 and C400 centrifugal pumps** go up by about 8%; \
                     the C100 keeps its price.\n\n\
                     Quotes already sent stay valid until their date; re-price drafts before you finalise.",
                    20_000,
                )?,
                changes: vec![
                    NewPriceChange { sku: Sku::parse("PUMP-C250")?, unit_price_minor: 161_000, effective_on: today },
                    NewPriceChange { sku: Sku::parse("PUMP-C400")?, unit_price_minor: 249_500, effective_on: today },
                ],
            },
        )
        .await?;
    store.publish_notice(&finance, increase.id, PublishSeen::default()).await?;
    store.acknowledge_notice(sara.id, increase.id, Channel::Web, ClientInfo::default()).await?;

    // Drafted after it: ready to finalise.
    store
        .create_quote(
            &sara,
            quote(
                "Mia Berg",
                "mia@fjordvann.example",
                "Fjordvann AS",
                vec![line("PUMP-C100", 3, 0)?, line("VALVE-B25", 12, 0)?],
            )?,
        )
        .await?;

    store
        .create_notice(
            &finance,
            NewNotice {
                form_key: None,
                title: Text::parse("title", "Valve discount ends", 200)?,
                body: Text::parse_multiline(
                    "body",
                    "The discount on the DN50 stainless ball valve ends in thirty days.",
                    20_000,
                )?,
                changes: vec![NewPriceChange {
                    sku: Sku::parse("VALVE-B50")?,
                    unit_price_minor: 10_400,
                    effective_on: today + Days::new(30),
                }],
            },
        )
        .await?;

    Ok(Some(
        PEOPLE
            .iter()
            .map(|(email, name, role)| DemoLogin { email: email.to_string(), name: name.to_string(), role: *role })
            .collect(),
    ))
}
