//! Sending one message: SMTP (plain, pooled; or TLS, a connection a message) when
//! `SMTP_URL` is set, otherwise an `.eml` file per message under a directory.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use pricegate_store::entity::outbox;

use crate::smtp_pool::{PlainSmtpPool, plain_smtp_address};

/// Why a message was not sent. Permanent errors are not retried.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    /// Trying again will not help: the recipient is refused, or the address unusable.
    pub permanent: bool,
    /// The server refused (a 5xx reply) without saying it is the recipient's
    /// fault: it may be the relay's or our settings', which an administrator
    /// mends, so it is retried, but not for ever (see `WorkerConfig::refused_for`).
    pub refused: bool,
}

impl SendError {
    /// How the message of a 5xx reply begins (lettre's wording), as an
    /// outbox row's `last_error` keeps it.
    pub(crate) const REFUSED_PREFIX: &'static str = "SMTP: permanent error";

    fn permanent(message: impl Into<String>) -> Self {
        SendError { message: message.into(), permanent: true, refused: false }
    }

    /// A failed SMTP conversation. Only a refusal of the message's recipient
    /// is final (see [`refuses_recipient`]); any other error, a `5xx` about
    /// the session, our credentials or the relay included, is retried with
    /// backoff, since an administrator puts those right and the message must
    /// still go.
    pub(crate) fn smtp(e: &lettre::transport::smtp::Error) -> Self {
        let reply = std::error::Error::source(e).map(ToString::to_string).unwrap_or_default();
        let permanent = e.is_permanent() && e.status().is_some_and(|code| refuses_recipient(&code.to_string(), &reply));
        let said = format!("SMTP: {e}");
        SendError { message: with_tls_hint(said), permanent, refused: e.is_permanent() && !permanent }
    }

    pub(crate) fn transient(message: impl Into<String>) -> Self {
        SendError { message: message.into(), permanent: false, refused: false }
    }
}

/// An SMTP error that says TLS met a server speaking plain text, with what
/// to change: the words of the TLS library name neither the port nor the
/// URL. (A server that speaks TLS but shares no version or cipher with us
/// fails otherwise, and is not told to drop TLS.)
fn with_tls_hint(said: String) -> String {
    // The other way round: a server that wants STARTTLS before anything
    // else (`530 5.7.0 Must issue a STARTTLS command first`).
    if said.contains("STARTTLS is not supported") {
        return format!(
            "{said} (SMTP_URL's ?tls=required asks for STARTTLS, which this server does not offer: use smtps:// if it \
             speaks TLS from the first byte, as on port 465, or drop ?tls=required only where plain text is safe)"
        );
    }
    if said.contains("530") && said.to_ascii_lowercase().contains("starttls") {
        return format!(
            "{said} (the server speaks TLS only after STARTTLS: add ?tls=required to SMTP_URL, as in \
             smtp://…:587?tls=required)"
        );
    }
    let mismatch = ["InvalidContentType", "corrupt message", "wrong version number"];
    if !mismatch.iter().any(|m| said.contains(m)) {
        return said;
    }
    format!(
        "{said} (TLS did not start: smtps:// speaks TLS from the first byte, as a server on port 465 does; for a \
         server that starts plain and offers STARTTLS, often on port 587, write smtp://…?tls=required)"
    )
}

/// Whether a permanent SMTP reply (`code`, and the text after it) refuses
/// this recipient for good: RFC 3463's `5.1.x` (no such mailbox, a bad
/// address) but for `5.1.7`/`5.1.8` (our sender address refused), `5.2.1`
/// (mailbox disabled), `5.4.1` (RFC 3463 says "no answer from host", but
/// Microsoft 365 answers `550 5.4.1 Recipient address rejected` for a
/// mailbox it does not have, and it is the larger case) or, from a server that sends no enhanced code,
/// RFC 5321's 550, 551 or 553. `554 5.7.1 Relay access denied`, `535 5.7.8`
/// (credentials rotated), `530` or a `5.5.x` syntax reply are not: they say
/// the relay or our settings are wrong, for every recipient alike.
fn refuses_recipient(code: &str, reply: &str) -> bool {
    let enhanced = reply.split_whitespace().next().map(|word| word.split('.').collect::<Vec<&str>>()).filter(|parts| {
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    match enhanced.as_deref() {
        Some([class, subject, detail]) => {
            *class == "5"
                && match *subject {
                    "1" => !matches!(*detail, "7" | "8"),
                    "2" | "4" => *detail == "1",
                    _ => false,
                }
        }
        _ => matches!(code, "550" | "551" | "553"),
    }
}

/// How long connecting, or one message's conversation, may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// The seam between the worker and the wire.
pub trait MailTransport: Clone + Send + Sync + 'static {
    fn send(&self, message: Message) -> impl Future<Output = Result<(), SendError>> + Send;

    /// How a message this sends goes, when it is not e-mailed: said in its
    /// outbox row once sent (see [`AnyTransport::File`]).
    fn not_emailed(&self) -> Option<String> {
        None
    }
}

#[derive(Clone)]
pub enum AnyTransport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Plain `smtp://host:port`: see [`crate::smtp_pool`].
    PlainSmtp(Arc<PlainSmtpPool>),
    /// The directory each message is written to, as its own `.eml` file.
    File(Arc<PathBuf>),
}

impl std::fmt::Debug for AnyTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        f.write_str(match self {
            AnyTransport::Smtp(_) => "AnyTransport::Smtp",
            AnyTransport::PlainSmtp(_) => "AnyTransport::PlainSmtp",
            AnyTransport::File(_) => "AnyTransport::File",
        })
    }
}

/// Whether `url` is `smtp://` with a password but without `tls=required`,
/// read as lettre reads it (the first `tls` of the query, decoded, counts;
/// a fragment is no part of it). Lettre would then log in without TLS, or
/// with it only if the server offers it (`tls=opportunistic`). A user
/// without a password logs in to nothing; a URL that does not parse sends
/// nothing.
pub fn password_in_clear(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else { return false };
    let tls = url.query_pairs().find(|(name, _)| name == "tls").map(|(_, value)| value.into_owned());
    url.scheme() == "smtp" && url.password().is_some() && tls.as_deref() != Some("required")
}

/// Whether a user name or password in `url` holds a `/`, `?` or `#` not
/// written `%2F`, `%3F`, `%23`: an `@` after the first of them. Read as a
/// URL, the rest of the password would be its path, query or fragment
/// (`smtp://mailer:2024?Winter@host` is host `mailer`, port 2024, and a
/// parameter `Winter@host`), so nothing of it may be repeated in a message.
pub fn credentials_unescaped(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else { return false };
    rest.find(['/', '?', '#']).is_some_and(|at| rest[at..].contains('@'))
}

/// The value of an `smtp://` URL's `tls` parameter (the first, as the
/// transport reads it) when it is none the transport knows: `required`
/// (STARTTLS, refused without it) or `opportunistic`. (Under `smtps://`,
/// TLS from the first byte, it is not read.)
pub fn unknown_tls(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let tls = url.query_pairs().find(|(name, _)| name == "tls").map(|(_, value)| value.into_owned())?;
    (url.scheme() == "smtp" && tls != "required" && tls != "opportunistic").then_some(tls)
}

/// The first parameter of an `SMTP_URL`'s query other than `tls`, the only
/// one the SMTP transport reads, with the URL read as the transport reads it.
/// Another (`?starttls=true`, `?TLS=required`) would be ignored, and mail
/// sent some other way than the reader of the setting thinks. (Ask
/// [`credentials_unescaped`] first: with a `?` in a password, what follows
/// it reads as a parameter.)
pub fn unread_parameter(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    url.query_pairs().map(|(name, _)| name.into_owned()).find(|name| name != "tls")
}

impl AnyTransport {
    /// `smtp://host:port` (plain, as a local relay or a mail catcher speaks)
    /// or `smtps://user:pass@host:port` (TLS from the first byte, with
    /// credentials); lettre reads the URL. Plain connections are pooled,
    /// at most `connections` kept open ([`PlainSmtpPool`], which drops one
    /// whose conversation was cut short). Over TLS each message has a
    /// connection of its own: lettre's pool would take back a connection
    /// whose send was cancelled (the worker's time limit, a stop) in the
    /// middle of its conversation, and the next message on it would read
    /// the last one's late replies as its own, a refusal as acceptance. (The
    /// settings refuse a URL that would send a password unencrypted:
    /// [`password_in_clear`].)
    pub fn smtp(url: &str, connections: u32) -> Result<AnyTransport, SendError> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| {
            SendError::permanent(format!(
                "SMTP_URL is not usable ({e}): write it smtp://[user:password@]host[:port][?tls=required] \
                     (STARTTLS, port 587) or smtps://[user:password@]host[:port] (TLS from the first byte, port 465)"
            ))
        })?;
        if let Some((host, port)) = plain_smtp_address(url) {
            return Ok(AnyTransport::PlainSmtp(Arc::new(PlainSmtpPool::new(host, port, connections, SMTP_TIMEOUT))));
        }
        Ok(AnyTransport::Smtp(builder.timeout(Some(SMTP_TIMEOUT)).build()))
    }

    /// Writes each message under `dir` (created if missing) as an `.eml`
    /// file named by its Message-ID (see [`write_eml`]). The messages hold
    /// live acknowledgement links, so the directory is made readable by this
    /// user only (mode 0700). One every user of the machine may write in
    /// (`/tmp`), or one another user owns (who could read the mail), is
    /// refused rather than taken over. A file is written there and removed
    /// first, so that a directory that takes none is refused now, not found
    /// out by every message (named at random: a server and a worker may
    /// start together on one directory).
    pub fn files(dir: &Path) -> Result<AnyTransport, SendError> {
        let failed = |e: std::io::Error| {
            SendError::permanent(format!("cannot prepare the mail directory {}: {e}", dir.display()))
        };
        let refused = |why: String| {
            SendError::permanent(format!(
                "the mail directory {} {why}: give a directory of Pricegate's own, outside any shared one, which \
                 is made readable by this user only",
                dir.display()
            ))
        };
        if dir.exists() && !dir.is_dir() {
            return Err(refused("is a file, not a directory".to_owned()));
        }
        std::fs::create_dir_all(dir).map_err(failed)?;
        let before = std::fs::metadata(dir).map_err(failed)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = before.permissions().mode() & 0o7777;
            if mode & 0o002 != 0 {
                return Err(refused(format!("may be written in by every user of this machine (mode {mode:o})")));
            }
        }
        let probe = dir.join(format!(".pricegate-write-check-{}", uuid::Uuid::new_v4().simple()));
        let written = std::fs::File::create_new(&probe).map_err(failed)?.metadata();
        std::fs::remove_file(&probe).map_err(failed)?;
        let written = written.map_err(failed)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            if written.uid() != before.uid() {
                return Err(refused(format!("belongs to another user (uid {})", before.uid())));
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)?;
        }
        #[cfg(not(unix))]
        let _ = (before, written);
        Ok(AnyTransport::File(Arc::new(dir.to_owned())))
    }
}

impl MailTransport for AnyTransport {
    async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            AnyTransport::Smtp(t) => t.send(message).await.map(|_| ()).map_err(|e| SendError::smtp(&e)),
            AnyTransport::PlainSmtp(pool) => pool.send(message).await,
            AnyTransport::File(dir) => write_eml(dir, &message).await,
        }
    }

    /// Mail written as files is marked sent like mail e-mailed: its row
    /// says where it went instead, so that a process started without the
    /// deployment's SMTP_URL (a worker from a shell lacking it, say) is
    /// seen on the outbox page, not taken for delivery.
    fn not_emailed(&self) -> Option<String> {
        match self {
            AnyTransport::File(dir) => Some(format!(
                "{}written as a file in {} by a Pricegate process without SMTP_URL.",
                pricegate_store::outbox::NOT_EMAILED,
                dir.display()
            )),
            _ => None,
        }
    }
}

/// Writes `message` under `dir` as `<its Message-ID's local part>.eml`:
/// `notice.<notice id>.<user id>.eml` for a notice's first e-mail to
/// someone, `<outbox row id>.eml` for the rest (ids in hex without hyphens,
/// as in the Message-ID), so an outbox row (`GET /api/v1/outbox` shows its
/// Message-ID) leads to its file, and a message sent again after a crash
/// replaces its file instead of adding a second. See [`write_whole`].
async fn write_eml(dir: &Path, message: &Message) -> Result<(), SendError> {
    let name = message
        .headers()
        .get_raw("Message-ID")
        .and_then(eml_name)
        .ok_or_else(|| SendError::permanent("the message has no Message-ID to name its file by"))?;
    let (dir, bytes) = (dir.to_owned(), message.formatted());
    let failed = |e: String| SendError::transient(format!("writing the .eml file: {e}"));
    tokio::task::spawn_blocking(move || write_whole(&dir, &name, &bytes))
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e| failed(e.to_string()))
}

/// Writes `bytes` as `dir/name`, whole or not at all: into a hidden file of
/// its own (so two workers sending one row at once never write into the
/// same file), readable by this user only (it holds a live acknowledgement
/// link), flushed to disk, then renamed over `name` and the rename flushed
/// too, so a message marked sent survives a power cut and whoever watches
/// the directory never opens half of one. A failed write leaves nothing.
fn write_whole(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let hidden = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&hidden)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&hidden, dir.join(name))?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        // Best effort: the error said above is the one that matters.
        let _ = std::fs::remove_file(&hidden);
    }
    written
}

/// The file name for the message with Message-ID `id` (`<local@domain>`):
/// its local part with `.eml`, if it is one a file may be named by.
fn eml_name(id: &str) -> Option<String> {
    let local = id.trim().strip_prefix('<')?.split_once('@')?.0;
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    (!local.is_empty() && !local.starts_with('.') && local.chars().all(fits)).then(|| format!("{local}.eml"))
}

/// RFC 3834: no person sent this, so an out-of-office reply must not answer
/// it. (Checked when compiled: a `const` that would panic does not build.)
const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");
/// The same, in the words Exchange and Outlook read.
const AUTO_RESPONSE_SUPPRESS: HeaderName = HeaderName::new_from_ascii_str("X-Auto-Response-Suppress");

/// The `Subject` header of `text`. Words of plain ASCII go as they are,
/// so a customer's name or a notice's title that reads like an encoded word
/// (`=?utf-8?q?…?=`) would be decoded by mail programs into whatever it
/// spells, line breaks included: such a subject is sent whole as encoded
/// words of its own, which a reader decodes once, to the text as written.
fn subject(text: &str) -> HeaderValue {
    const NAME: HeaderName = HeaderName::new_from_ascii_str("Subject");
    if !text.contains("=?") {
        return HeaderValue::new(NAME, text.to_owned());
    }
    use base64::Engine as _;
    // 39 bytes make 52 characters of base64, a word of 64: each line,
    // "Subject: " on the first, stays within 78, cut only between characters.
    let mut words = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(39);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (word, after) = rest.split_at(cut);
        words.push(format!("=?utf-8?b?{}?=", base64::engine::general_purpose::STANDARD.encode(word)));
        rest = after;
    }
    HeaderValue::dangerous_new_pre_encoded(NAME, text.to_owned(), words.join("\r\n "))
}

/// The message an outbox row describes, with the row's stable Message-ID so
/// that a message sent twice (at-least-once) is recognisably the same one.
pub fn build_message(from: &Mailbox, row: &outbox::Model) -> Result<Message, SendError> {
    let address = row.to_addr.parse().map_err(|e| SendError::permanent(format!("bad recipient address: {e}")))?;
    let to = Mailbox::new(Some(row.to_name.clone()), address);
    // Quoted-printable keeps long lines and non-ASCII names intact on any relay.
    let part = |content_type: ContentType, body: &str| {
        SinglePart::builder()
            .header(content_type)
            .header(ContentTransferEncoding::QuotedPrintable)
            .body(body.to_owned())
    };
    let mut message = Message::builder();
    if let Some(first) = pricegate_store::outbox::thread_of(row) {
        message = message.in_reply_to(first.clone()).references(first);
    }
    // A reply reaches whoever can answer it (a notice's publisher); an
    // address that no longer reads as one leaves replies to `MAIL_FROM`
    // rather than stop the message.
    if let Some(reply_to) = row.reply_to.as_deref() {
        match reply_to.parse() {
            Ok(address) => message = message.reply_to(Mailbox::new(None, address)),
            Err(e) => tracing::warn!(message_id = %row.message_id, error = %e, "Reply-To left out: not an address"),
        }
    }
    message
        .from(from.clone())
        .to(to)
        .raw_header(subject(&row.subject))
        .message_id(Some(row.message_id.clone()))
        .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-generated".to_owned()))
        .raw_header(HeaderValue::new(AUTO_RESPONSE_SUPPRESS, "All".to_owned()))
        .multipart(
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, &row.text_body))
                .singlepart(part(ContentType::TEXT_HTML, &row.html_body)),
        )
        .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::{AnyTransport, MailTransport, SendError, build_message, eml_name, refuses_recipient, with_tls_hint};

    #[test]
    fn only_a_refusal_of_the_recipient_is_final() {
        assert!(refuses_recipient("550", "5.1.1 No such mailbox"));
        assert!(refuses_recipient("553", "5.1.3 Bad recipient address syntax"));
        assert!(refuses_recipient("550", "Mailbox unavailable"), "no enhanced code: the basic one says");
        assert!(refuses_recipient("551", "User not local"));
        assert!(!refuses_recipient("554", "5.7.1 Relay access denied"));
        assert!(!refuses_recipient("550", "5.7.1 Relaying denied"), "the enhanced code says more than 550");
        assert!(!refuses_recipient("535", "5.7.8 Authentication credentials invalid"));
        assert!(!refuses_recipient("530", "Authentication required"));
        assert!(!refuses_recipient("554", "Transaction failed"));
        assert!(!refuses_recipient("500", "5.5.2 Syntax error"));
        assert!(!refuses_recipient("552", "5.2.2 Mailbox full"));
        assert!(!refuses_recipient("550", "5.1.8 Sender address rejected: Domain not found"), "our sender");
        assert!(!refuses_recipient("553", "5.1.7 Bad sender address syntax"), "our sender");
        assert!(refuses_recipient("550", "5.4.1 Recipient address rejected: Access denied"));
        assert!(refuses_recipient("550", "5.2.1 The email account that you tried to reach is disabled"));
    }

    fn outbox_row(subject: &str) -> pricegate_store::entity::outbox::Model {
        pricegate_store::entity::outbox::Model {
            id: uuid::Uuid::new_v4(),
            dedupe_key: "publish".to_owned(),
            kind: "publication".to_owned(),
            to_addr: "sam@pricegate.example".to_owned(),
            to_name: "Sam".to_owned(),
            subject: subject.to_owned(),
            text_body: "Please read.".to_owned(),
            html_body: "<p>Please read.</p>".to_owned(),
            message_id: "<test@pricegate.example>".to_owned(),
            state: "pending".to_owned(),
            attempts: 0,
            next_attempt_at: chrono::Utc::now(),
            last_error: None,
            created_at: chrono::Utc::now(),
            sent_at: None,
            notice_id: None,
            user_id: None,
            reminders_from: None,
            reply_to: None,
        }
    }

    /// A subject that reads like an encoded word is sent as encoded words of
    /// its own, which decode to it as written; any other goes as it is.
    #[test]
    fn a_subject_is_read_as_it_was_written() {
        use base64::Engine as _;
        let from = "Pricegate <pricegate@pricegate.example>".parse().unwrap();
        let subject_of = |subject: &str| {
            let eml = String::from_utf8(build_message(&from, &outbox_row(subject)).unwrap().formatted()).unwrap();
            let start = eml.find("\r\nSubject: ").unwrap() + "\r\nSubject: ".len();
            let header = &eml[start..];
            // The header runs on over folded lines, each starting with a space.
            let mut end = header.find("\r\n").unwrap();
            while header[end + 2..].starts_with(' ') {
                end += 2 + header[end + 2..].find("\r\n").unwrap();
            }
            header[..end].replace("\r\n ", " ")
        };
        assert_eq!(subject_of("Price notice: Pumps up"), "Price notice: Pumps up");
        let sly = "Your quote for =?utf-8?q?X=0D=0ABcc:_b@evil.example?= is on hold until you acknowledge \u{201c}Pumps\u{201d}";
        let sent = subject_of(sly);
        assert!(!sent.contains("=?utf-8?q?"), "{sent}");
        let decoded: String = sent
            .split(' ')
            .map(|word| {
                let b64 = word.strip_prefix("=?utf-8?b?").and_then(|w| w.strip_suffix("?=")).expect(word);
                assert!(word.len() <= 78 - "Subject: ".len(), "{word}");
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
            })
            .collect();
        assert_eq!(decoded, sly);
    }

    #[test]
    fn a_file_is_named_by_the_local_part_of_its_message_id() {
        assert_eq!(eml_name("<1f0c2a@pricegate.example>").as_deref(), Some("1f0c2a.eml"));
        assert_eq!(eml_name("<notice.9a1b.77c0@localhost>").as_deref(), Some("notice.9a1b.77c0.eml"));
        for unusable in ["<../etc/passwd@x>", "<a/b@x>", "<@x>", "<.hidden@x>", "no-brackets@x", "<no-domain>"] {
            assert_eq!(eml_name(unusable), None, "{unusable}");
        }
    }

    #[tokio::test]
    async fn a_message_written_again_replaces_its_file_readable_by_its_owner_only() {
        let dir = std::env::temp_dir().join(format!("pricegate-eml-{}", std::process::id()));
        let transport = AnyTransport::files(&dir).unwrap();
        let (notice, user) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let local = format!("notice.{}.{}", notice.simple(), user.simple());
        let mut row = outbox_row("Price notice: Pumps up");
        row.dedupe_key = format!("publish:{notice}:{user}");
        row.message_id = format!("<{local}@pricegate.example>");
        (row.notice_id, row.user_id) = (Some(notice), Some(user));
        let from = "Pricegate <pricegate@pricegate.example>".parse().unwrap();
        for _ in 0..2 {
            transport.send(build_message(&from, &row).unwrap()).await.unwrap();
        }
        let names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        let file = dir.join(format!("{local}.eml"));
        let (eml, mode) = (std::fs::read_to_string(&file), std::fs::metadata(&file).map(|m| m.permissions().mode()));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names, [format!("{local}.eml")], "one file, nothing left half-written");
        assert!(eml.unwrap().contains("Subject: Price notice: Pumps up"));
        assert_eq!(mode.unwrap() & 0o777, 0o600, "it holds a live acknowledgement link");
    }

    /// A server on 127.0.0.1 that accepts connections and, for each, says
    /// `greeting` and then nothing more, reading what it is sent; its address.
    async fn server_saying(greeting: &'static str) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = stream.write_all(greeting.as_bytes()).await;
                    let mut buffer = [0u8; 1024];
                    while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
                });
            }
        });
        address
    }

    async fn send_to(url: &str) -> SendError {
        let transport = AnyTransport::smtp(url, 1).unwrap();
        let from = "Pricegate <pricegate@pricegate.example>".parse().unwrap();
        transport.send(build_message(&from, &outbox_row("Price notice: Pumps up")).unwrap()).await.unwrap_err()
    }

    #[tokio::test]
    async fn tls_spoken_to_a_plain_server_says_which_url_to_write() {
        let address = server_saying("220 plain.example ESMTP\r\n").await;
        let e = send_to(&format!("smtps://mailer:secret@{address}")).await;
        assert!(!e.permanent, "{}", e.message);
        assert!(e.message.contains("TLS did not start: smtps:// speaks TLS from the first byte"), "{}", e.message);
        assert!(e.message.contains("smtp://…?tls=required") && !e.message.contains("secret"), "{}", e.message);
    }

    #[tokio::test]
    async fn a_server_that_wants_starttls_first_says_which_url_to_write() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let _ = write.write_all(b"220 relay.example ESMTP\r\n").await;
                    let mut lines = BufReader::new(read).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let answer: &[u8] = match line.to_ascii_uppercase() {
                            l if l.starts_with("EHLO") => b"250-relay.example\r\n250 STARTTLS\r\n",
                            l if l.starts_with("QUIT") => b"221 bye\r\n",
                            _ => b"530 5.7.0 Must issue a STARTTLS command first\r\n",
                        };
                        let _ = write.write_all(answer).await;
                    }
                });
            }
        });
        let e = send_to(&format!("smtp://{address}")).await;
        assert!(!e.permanent, "retried until the setting is put right: {}", e.message);
        assert!(e.message.contains("add ?tls=required to SMTP_URL"), "{}", e.message);
    }

    #[test]
    fn the_mail_directory_is_readable_by_its_owner_only() {
        let base = std::env::temp_dir().join(format!("pricegate-maildir-{}", std::process::id()));
        let dir = base.join("mail-out");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        AnyTransport::files(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{mode:o}");
        let probes: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(probes.is_empty(), "the file written to try the directory is gone: {probes:?}");
        // A directory every user may write in is refused, and left as it was.
        let shared = base.join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let refused = AnyTransport::files(&shared).err().map(|e| e.message).unwrap_or_default();
        let mode = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o7777;
        // A file where the directory should be is said to be one.
        let file = base.join("a-file");
        std::fs::write(&file, "").unwrap();
        let not_a_dir = AnyTransport::files(&file).err().map(|e| e.message).unwrap_or_default();
        std::fs::remove_dir_all(&base).unwrap();
        assert!(not_a_dir.contains("is a file, not a directory"), "{not_a_dir}");
        assert!(refused.contains("may be written in by every user of this machine (mode 1777)"), "{refused}");
        assert!(refused.contains("outside any shared one"), "{refused}");
        assert_eq!(mode, 0o1777, "{mode:o}");
    }

    #[test]
    fn a_tls_mismatch_says_which_smtp_url_to_write() {
        let no_starttls = with_tls_hint("SMTP: internal client error: STARTTLS is not supported on this server".into());
        assert!(no_starttls.contains("use smtps://") && no_starttls.contains("drop ?tls=required"), "{no_starttls}");
        let wants_starttls =
            with_tls_hint("SMTP: permanent error (530): 5.7.0 Must issue a STARTTLS command first".into());
        assert!(wants_starttls.contains("add ?tls=required"), "{wants_starttls}");
        let other = "SMTP: transient error (451): 4.3.0 try later";
        assert_eq!(with_tls_hint(other.into()), other, "no hint where TLS is not the matter");
    }
}
