//! Pricegate's e-mail, behind one seam: [`compose`] turns a letter into a
//! subject with plain-text and HTML parts from askama templates;
//! [`transport`] sends a message (SMTP through lettre's pooled async
//! transport, or `.eml` files when no SMTP server is configured); [`worker`]
//! drains the outbox the store fills, with retries and backoff.

pub mod compose;
pub mod markdown;
pub mod smtp_pool;
pub mod transport;
pub mod whole;
pub mod worker;

pub use compose::TemplateComposer;
pub use markdown::render_markdown;
pub use transport::{AnyTransport, MailTransport, SendError};
pub use worker::{WorkerConfig, run_worker};
