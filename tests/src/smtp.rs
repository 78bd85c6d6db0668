//! The SMTP sink the e-mail tests send to (it lives in its own crate,
//! `pricegate-smtp-sink`, which the delivery benchmark uses too), and
//! helpers to start a Pricegate that sends through it.

use std::time::Duration;

pub use pricegate_smtp_sink::{Received, SmtpSink};

/// A Pricegate in this process that sends through `sink`, with a fast worker.
pub async fn spawn_with_mail(
    backend: crate::Backend,
    sink: &SmtpSink,
    configure: impl FnOnce(&mut pricegate::Settings),
) -> crate::TestApp {
    let url = sink.url();
    crate::TestApp::spawn_with(backend, move |s| {
        s.smtp_url = Some(pricegate::settings::Secret::new(url));
        s.worker_poll = Duration::from_millis(100);
        configure(s);
    })
    .await
}

/// Adds `n` active salespeople straight to the store (no login), named `prefix-i`.
pub async fn add_salespeople(app: &crate::TestApp, prefix: &str, n: usize) -> Vec<pricegate_store::views::UserView> {
    let mut users = Vec::with_capacity(n);
    for i in 0..n {
        let user = app
            .store
            .create_user(
                None,
                pricegate_store::NewUser {
                    email: pricegate_domain::Email::parse(&format!("{prefix}-{i}@pricegate.test")).unwrap(),
                    name: pricegate_domain::Text::parse("name", &format!("{prefix} {i}"), 200).unwrap(),
                    role: pricegate_domain::Role::Sales,
                    password: Some(pricegate_domain::Password::parse(crate::PASSWORD).unwrap()),
                },
            )
            .await
            .expect("salesperson is created");
        users.push(user);
    }
    users
}
