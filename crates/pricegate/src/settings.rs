//! Typed settings, read once from the environment (and `.env`) at start-up.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pricegate_domain::Calendar;
use pricegate_web::{ConfigEntry, Configuration, TrustedProxies};

/// A value that must never reach a log line (an SMTP URL may hold a password).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub bind: SocketAddr,
    /// Where people reach this server; `None` means `http://` + the bound address.
    pub base_url: Option<String>,
    pub smtp_url: Option<Secret>,
    pub maildir: PathBuf,
    pub mail_from: String,
    /// Delays after publication at which reminders go out; escalation follows the last.
    pub reminders: Vec<Duration>,
    pub ack_link_ttl: Duration,
    pub db_max_connections: u32,
    /// `PRICEGATE_WORKER_POLL` (default 1s): how often the mail worker looks
    /// for due mail and reminders when it has nothing to do.
    pub worker_poll: Duration,
    /// `PRICEGATE_MAIL_LEASE` (default 5m): how long mail a worker has claimed
    /// stays its own; after a crash, the mail it held goes out again once this passes.
    pub mail_lease: Duration,
    /// `PRICEGATE_REQUEST_TIMEOUT` (default 30s): the longest one request may
    /// take, its body included; past it the answer is 503 with code `timeout`.
    pub request_timeout: Duration,
    /// `PRICEGATE_IDLE_TIMEOUT` (default 75s): a connection whose next
    /// request's headers have not all arrived within it, from its last
    /// answer or its opening, is closed. Longer than the 60 s a reverse
    /// proxy commonly keeps an idle upstream connection, so the proxy lets go first.
    pub idle_timeout: Duration,
    /// `PRICEGATE_TRUSTED_PROXIES` (default none): reverse proxies, by
    /// address or network, whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// `PRICEGATE_CONNECTIONS_PER_ADDRESS` (default 512): the most
    /// connections one client address (an IPv6 one by its /64) holds open
    /// at once; a trusted proxy has no such limit.
    pub connections_per_address: usize,
    /// `PRICEGATE_TIMEZONE` (default `UTC`): where the business trades, by
    /// IANA name; prices take force, quotes expire and pages show times by
    /// its days and clock.
    pub calendar: Calendar,
}

/// Every setting, with the database URL's password (which `DATABASE_URL`
/// may hold) hidden as on `/admin/settings`: printing the settings never
/// puts a secret in a log. Listed by destructuring, so that a new setting
/// is not printed until someone decides how.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Settings {
            database_url,
            bind,
            base_url,
            smtp_url,
            maildir,
            mail_from,
            reminders,
            ack_link_ttl,
            db_max_connections,
            worker_poll,
            mail_lease,
            request_timeout,
            idle_timeout,
            trusted_proxies,
            connections_per_address,
            calendar,
        } = self;
        f.debug_struct("Settings")
            .field("database_url", &without_password(database_url))
            .field("bind", bind)
            .field("base_url", &base_url.as_deref().map(without_password))
            .field("smtp_url", smtp_url)
            .field("maildir", maildir)
            .field("mail_from", mail_from)
            .field("reminders", reminders)
            .field("ack_link_ttl", ack_link_ttl)
            .field("db_max_connections", db_max_connections)
            .field("worker_poll", worker_poll)
            .field("mail_lease", mail_lease)
            .field("request_timeout", request_timeout)
            .field("idle_timeout", idle_timeout)
            .field("trusted_proxies", trusted_proxies)
            .field("connections_per_address", connections_per_address)
            .field("calendar", calendar)
            .finish()
    }
}

#[derive(Debug)]
pub struct SettingsError {
    pub variable: &'static str,
    pub message: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for SettingsError {}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://pricegate.db?mode=rwc";

/// Every variable the service reads: the settings `/admin/settings` lists,
/// and `RUST_LOG`.
/// The log filter when `RUST_LOG` is unset: `info`, but for PostgreSQL's
/// notices, each migration's lines (one line says how many were applied), and
/// the pool's line for each dead connection it drops (after a database
/// restart, one a connection of every process; what fails because of it is
/// logged where it fails).
pub const DEFAULT_LOG: &str = "info,sqlx::postgres::notice=warn,sea_orm_migration=warn,sqlx_core::pool=error";

pub const VARIABLES: [&str; 17] = [
    "DATABASE_URL",
    "PRICEGATE_BIND",
    "PRICEGATE_BASE_URL",
    "SMTP_URL",
    "PRICEGATE_MAILDIR",
    "MAIL_FROM",
    "PRICEGATE_REMINDERS",
    "PRICEGATE_ACK_LINK_TTL",
    "PRICEGATE_DB_POOL",
    "PRICEGATE_WORKER_POLL",
    "PRICEGATE_MAIL_LEASE",
    "PRICEGATE_REQUEST_TIMEOUT",
    "PRICEGATE_IDLE_TIMEOUT",
    "PRICEGATE_TRUSTED_PROXIES",
    "PRICEGATE_CONNECTIONS_PER_ADDRESS",
    "PRICEGATE_TIMEZONE",
    "RUST_LOG",
];

/// A warning for each of `names` (the environment's variables) that is
/// named like a setting of the service and is none: a misspelt setting
/// (`PRICEGATE_REMINDER`, `DATABSE_URL`), or one with a prefix it does not
/// have (`PRICEGATE_SMTP_URL`), is otherwise left at its default without a
/// word. Each names the setting it is nearest to, if one is near. The test
/// suite's and benchmark's own (`PRICEGATE_TEST_…`, `PRICEGATE_BENCH_…`,
/// `PRICEGATE_BIN`) are theirs.
pub fn unknown_variables<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let theirs = |name: &str| {
        name == "PRICEGATE_BIN"
            || name.starts_with("PRICEGATE_TEST_")
            || name.starts_with("PRICEGATE_BENCH_")
            || service_address(name)
    };
    names
        .into_iter()
        .filter(|name| !VARIABLES.contains(name) && !theirs(name))
        .filter_map(|name| match (name.starts_with("PRICEGATE_"), meant(name)) {
            (_, Some(meant)) => Some(format!("{name} is not a setting and is ignored: the setting is {meant}")),
            (true, None) => {
                Some(format!("{name} is not a setting and is ignored (see the settings table under the README's Commands for their names)"))
            }
            // Any other variable of the environment (`HOME`, `PATH`).
            (false, None) => None,
        })
        .collect()
}

/// The values `.env` (in the working directory) gives, by name, as read:
/// none when there is no such file, or it does not parse (which `main`
/// refuses before anything reads settings).
pub fn dot_env_values() -> std::collections::HashMap<String, String> {
    dotenvy::from_path_iter(".env").into_iter().flatten().filter_map(Result::ok).collect()
}

/// A setting's value: the environment's, or, where the environment sets it
/// to nothing (an unfilled `${VAR}`), as if unset, `.env`'s (`in_file`),
/// which dotenvy leaves aside for every name the environment sets.
pub fn environment_or_file(key: &str, in_file: &std::collections::HashMap<String, String>) -> Option<String> {
    match std::env::var(key) {
        Ok(value) if value.trim().is_empty() => in_file.get(key).cloned().or(Some(value)),
        found => found.ok(),
    }
}

/// A warning for each setting among `variables` (the environment's, name
/// and value) that is set but empty, as an unfilled `${VAR}` in a unit or
/// compose file leaves it: it is read as unset, its default in force, which
/// should not go without a word. (`DATABASE_URL` empty is refused.)
pub fn empty_variables<'a>(variables: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    variables
        .into_iter()
        .filter(|(name, value)| VARIABLES.contains(name) && *name != "DATABASE_URL" && value.trim().is_empty())
        .map(|(name, _)| format!("{name} is set but empty, so its default is in force"))
        .collect()
}

/// Whether `name` is how Kubernetes (as Docker's links did) gives a
/// process the address of a service of its namespace, this one's or
/// another's named `pricegate-…`: `PRICEGATE_SERVICE_HOST`,
/// `PRICEGATE_POSTGRES_SERVICE_PORT_HTTP`, `PRICEGATE_PORT`,
/// `PRICEGATE_PORT_8080_TCP_ADDR`.
fn service_address(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("PRICEGATE_") else { return false };
    let words: Vec<&str> = rest.split('_').collect();
    words.windows(2).any(|pair| pair == ["SERVICE", "HOST"] || pair == ["SERVICE", "PORT"])
        || words.last() == Some(&"PORT")
        || words.windows(3).any(|w| {
            w[0] == "PORT"
                && !w[1].is_empty()
                && w[1].bytes().all(|b| b.is_ascii_digit())
                && ["TCP", "UDP", "SCTP"].contains(&w[2])
        })
}

/// The setting a variable that is none was meant to be, if any is near:
/// for a `PRICEGATE_…` one, the same without the prefix, a name for the
/// same thing that other services use, or one a letter or two away from
/// it; for any other, a setting without the prefix a letter or two away
/// (`DATABSE_URL`), so that the machine's own (`MAILDIR`, `TZ`) are left be.
fn meant(name: &str) -> Option<&'static str> {
    const OTHER_NAMES: [(&str, &str); 5] = [
        ("LISTEN", "PRICEGATE_BIND"),
        ("ADDRESS", "PRICEGATE_BIND"),
        ("MAIL_URL", "SMTP_URL"),
        ("DATABASE", "DATABASE_URL"),
        ("TZ", "PRICEGATE_TIMEZONE"),
    ];
    // Written in other letters' case (`pricegate_timezone`): names are read as written.
    if let Some(same) = VARIABLES.iter().find(|v| v.eq_ignore_ascii_case(name)) {
        return Some(same);
    }
    let bare = name.strip_prefix("PRICEGATE_");
    if let Some(bare) = bare {
        if let Some(same) = VARIABLES.iter().find(|v| **v == bare) {
            return Some(same);
        }
        if let Some((_, meant)) = OTHER_NAMES.iter().find(|(other, _)| *other == bare) {
            return Some(meant);
        }
    }
    let looked_at = bare.unwrap_or(name);
    // Two letters off at most, and fewer than a third of the name's.
    VARIABLES
        .iter()
        .filter_map(|v| match bare {
            Some(_) => Some((v.strip_prefix("PRICEGATE_").unwrap_or(v), *v)),
            None => (!v.starts_with("PRICEGATE_")).then_some((*v, *v)),
        })
        .map(|(compared, v)| (letters_apart(looked_at, compared), v))
        .filter(|(apart, _)| *apart <= 2 && apart * 3 < looked_at.len())
        .min_by_key(|(apart, _)| *apart)
        .map(|(_, v)| v)
}

/// The level a bare word of a `RUST_LOG` filter was likely meant to be
/// (`inof`, `warning`), when it is none: a bare word names a target, so
/// such a filter would log nothing at all, warnings included.
pub fn mistyped_level(filter: &str) -> Option<(String, &'static str)> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    filter.split(',').map(str::trim).find_map(|word| {
        let lower = word.to_ascii_lowercase();
        if word.is_empty() || !word.chars().all(|c| c.is_ascii_alphabetic()) || LEVELS.contains(&lower.as_str()) {
            return None;
        }
        let meant = match lower.as_str() {
            "warning" => "warn",
            "err" => "error",
            _ => LEVELS.into_iter().find(|level| letters_apart(&lower, level) <= 2 && level.len() > 3)?,
        };
        Some((word.to_owned(), meant))
    })
}

/// How many letters must be added, dropped, changed or swapped with their
/// neighbour to make `a` into `b` (optimal string alignment distance).
fn letters_apart(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![(0..=b.len()).collect::<Vec<usize>>()];
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let change = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (rows[i - 1][j] + 1).min(row[j - 1] + 1).min(rows[i - 1][j - 1] + change);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(rows[i - 2][j - 2] + 1);
            }
        }
        rows.push(row);
    }
    rows[a.len()][b.len()]
}

impl Settings {
    /// Reads the process environment, once `.env` is loaded into it (the
    /// binary loads it, and refuses one that does not parse), and for a
    /// setting the environment sets to nothing `.env`'s value (`in_file`,
    /// from [`dot_env_values`]).
    pub fn from_env(in_file: &std::collections::HashMap<String, String>) -> Result<Settings, SettingsError> {
        Settings::from_lookup(|key| environment_or_file(key, in_file))
    }

    /// Reads settings through `lookup`, so tests can build them without
    /// touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let get = |key: &str| lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        // Set, but to nothing (a `DATABASE_URL=` in a unit file, or an
        // unfilled `${VAR}`): it would hide a `.env` and run this process
        // on a SQLite file of its own, apart from the others' gate.
        if lookup("DATABASE_URL").is_some_and(|v| v.trim().is_empty()) {
            return Err(SettingsError {
                variable: "DATABASE_URL",
                message: format!(
                    "is set but empty; set it to a postgres:// or sqlite: URL, or unset it for the default {DEFAULT_DATABASE_URL}"
                ),
            });
        }
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(SettingsError {
                variable: "DATABASE_URL",
                message: "must start with sqlite: or postgres://".into(),
            });
        }
        if pricegate_store::sqlite_names_nothing(&database_url) {
            return Err(SettingsError {
                variable: "DATABASE_URL",
                message: format!(
                    "names no SQLite file: each connection would get an empty database of its own, gone when it \
                     closes; name one, as the default does ({DEFAULT_DATABASE_URL})"
                ),
            });
        }
        // Pricegate keeps proof (who acknowledged what, when): a database
        // gone when the process ends keeps none, and a user created in it
        // by a command is gone when the command exits.
        if pricegate_store::sqlite_in_memory(&database_url) {
            return Err(SettingsError {
                variable: "DATABASE_URL",
                message: format!(
                    "keeps the database in memory: everything in it (acknowledgements, the audit log, users) \
                     would be gone when the process stops; name a file, as the default does ({DEFAULT_DATABASE_URL})"
                ),
            });
        }
        let bind_raw = get("PRICEGATE_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let bind = bind_raw.parse().map_err(|_| SettingsError {
            variable: "PRICEGATE_BIND",
            message: format!(
                "{bind_raw:?} is not an address like 127.0.0.1:8080 (an IP address and a port: not a host name \
                 such as localhost)"
            ),
        })?;
        let base_url_raw = get("PRICEGATE_BASE_URL");
        let base_url = base_url_raw.as_deref().map(|u| u.trim_end_matches('/').to_owned());
        if let Some(url) = &base_url
            && !(url.starts_with("http:") || url.starts_with("https:"))
        {
            return Err(SettingsError {
                variable: "PRICEGATE_BASE_URL",
                message: "must start with http:// or https://".into(),
            });
        }
        // Every e-mail's links begin with it: one that no mail program can
        // follow (a space, no host) would break them all, silently.
        if let Some(url) = &base_url {
            let host = url.split_once("://").map_or("", |(_, rest)| rest);
            let authority = host.split('/').next().unwrap_or_default();
            let unusable = if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Some("has a space or a control character in it")
            } else if authority.contains('@') {
                Some("has a user or a password in it, which every e-mail's links would carry")
            } else if authority.is_empty() || authority.starts_with(':') {
                Some("names no host")
            } else if authority.rsplit_once(':').is_some_and(|(_, port)| {
                !port.contains(']') && !port.is_empty() && !port.parse::<u16>().is_ok_and(|p| p > 0)
            }) {
                Some("has a port that is no number from 1 to 65535")
            } else if host.len() > authority.len() {
                // Pages, redirects and cookies are at the root of the host:
                // behind a prefix, every link would lead past it.
                Some("has a path after its host: Pricegate is served at the root of a host, not under a path")
            } else {
                None
            };
            if let Some(why) = unusable {
                return Err(SettingsError {
                    variable: "PRICEGATE_BASE_URL",
                    message: format!(
                        "{:?} {why}: give the address people open Pricegate at, such as https://pricegate.example.com",
                        without_password(base_url_raw.as_deref().unwrap_or_default())
                    ),
                });
            }
        }
        // Links are this and a path: a query or a fragment would end up
        // in the middle of every one of them.
        if let Some(url) = &base_url
            && url.contains(['?', '#'])
        {
            return Err(SettingsError {
                variable: "PRICEGATE_BASE_URL",
                message: format!(
                    "{url:?} has a query or a fragment (? or #): give the address people open Pricegate at, such as \
                     https://pricegate.example.com"
                ),
            });
        }
        let smtp_url = get("SMTP_URL").map(Secret::new);
        if let Some(url) = &smtp_url
            && !(url.expose().starts_with("smtp://") || url.expose().starts_with("smtps://"))
        {
            return Err(SettingsError { variable: "SMTP_URL", message: "must start with smtp:// or smtps://".into() });
        }
        if smtp_url.as_ref().is_some_and(|url| pricegate_mail::transport::credentials_unescaped(url.expose())) {
            return Err(SettingsError {
                variable: "SMTP_URL",
                message: "has a user name or password holding a /, ? or # as it is: write them %2F, %3F, %23 \
                          (and an @ in them %40), or the rest of the password would be read as part of the address"
                    .into(),
            });
        }
        if let Some(name) = smtp_url.as_ref().and_then(|url| pricegate_mail::transport::unread_parameter(url.expose()))
        {
            // Only a plain word is repeated.
            let plain = !name.is_empty()
                && name.len() <= 30
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            let named = if plain { format!("the parameter {name:?}") } else { "a parameter".to_owned() };
            return Err(SettingsError {
                variable: "SMTP_URL",
                message: format!(
                    "has {named}, which nothing reads: the only one is tls (?tls=required for STARTTLS); a ?, & \
                     or # in a user name or password is written %3F, %26, %23"
                ),
            });
        }
        if let Some(tls) = smtp_url.as_ref().and_then(|url| pricegate_mail::transport::unknown_tls(url.expose())) {
            // Only a plain word is repeated.
            let plain = tls.len() <= 30 && tls.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            let said = if plain { format!("tls={tls}") } else { "its tls".to_owned() };
            return Err(SettingsError {
                variable: "SMTP_URL",
                message: format!(
                    "has {said}, which is no choice: write ?tls=required (STARTTLS, refused without it) or \
                     ?tls=opportunistic, or smtps:// for TLS from the first byte"
                ),
            });
        }
        if smtp_url.as_ref().is_some_and(|url| pricegate_mail::transport::password_in_clear(url.expose())) {
            return Err(SettingsError {
                variable: "SMTP_URL",
                message: "gives a user and password over smtp:// without TLS, which would send the password \
                          unencrypted: write smtps://user:pass@host:465 (TLS from the first byte), or add \
                          ?tls=required for STARTTLS (smtp://user:pass@host:587?tls=required)"
                    .into(),
            });
        }
        let reminders = match get("PRICEGATE_REMINDERS") {
            None => vec![hours(4), hours(24), hours(72)],
            Some(raw) => raw
                .split(',')
                .map(|part| parse_duration("PRICEGATE_REMINDERS", part.trim()))
                .collect::<Result<Vec<_>, _>>()?,
        };
        if reminders.windows(2).any(|w| w[0] >= w[1]) {
            return Err(SettingsError {
                variable: "PRICEGATE_REMINDERS",
                message: "delays must increase, e.g. 4h,24h,72h".into(),
            });
        }
        // A duration setting, or its default when unset.
        let duration = |variable: &'static str, default: Duration| match get(variable) {
            None => Ok(default),
            Some(raw) => parse_duration(variable, &raw),
        };
        // A count of connections from 1 to `most`, or its default when unset.
        let connections = |variable: &'static str, default: u32, most: u32| match get(variable) {
            None => Ok(default),
            Some(raw) => raw.parse().ok().filter(|n| (1..=most).contains(n)).ok_or(SettingsError {
                variable,
                message: format!("must be a number of connections from 1 to {most}"),
            }),
        };
        let ack_link_ttl = duration("PRICEGATE_ACK_LINK_TTL", hours(14 * 24))?;
        let db_max_connections = connections("PRICEGATE_DB_POOL", 10, 200)?;
        let worker_poll = duration("PRICEGATE_WORKER_POLL", Duration::from_secs(1))?;
        // Longer, the reminder worker's ticks would look to one another like
        // stops of every worker (see the README on reminders).
        if worker_poll > Duration::from_secs(600) {
            return Err(SettingsError {
                variable: "PRICEGATE_WORKER_POLL",
                message: format!(
                    "\"{}\" is longer than the 10m the worker may wait between looks at the outbox",
                    humantime::format_duration(worker_poll)
                ),
            });
        }
        let mail_lease = duration("PRICEGATE_MAIL_LEASE", Duration::from_secs(300))?;
        let request_timeout = duration("PRICEGATE_REQUEST_TIMEOUT", Duration::from_secs(30))?;
        let idle_timeout = duration("PRICEGATE_IDLE_TIMEOUT", Duration::from_secs(75))?;
        let trusted_proxies = TrustedProxies::parse(&get("PRICEGATE_TRUSTED_PROXIES").unwrap_or_default())
            .map_err(|message| SettingsError { variable: "PRICEGATE_TRUSTED_PROXIES", message })?;
        // At most a million: the same on every platform a usize is 32 bits or more.
        let connections_per_address = connections("PRICEGATE_CONNECTIONS_PER_ADDRESS", 512, 1_000_000)? as usize;
        let calendar = match get("PRICEGATE_TIMEZONE") {
            None => Calendar::UTC,
            Some(raw) => {
                Calendar::parse(&raw).map_err(|message| SettingsError { variable: "PRICEGATE_TIMEZONE", message })?
            }
        };
        Ok(Settings {
            database_url,
            bind,
            base_url,
            smtp_url,
            maildir: PathBuf::from(get("PRICEGATE_MAILDIR").unwrap_or_else(|| "./mail-out".to_owned())),
            mail_from: get("MAIL_FROM").unwrap_or_else(|| "Pricegate <pricegate@localhost>".to_owned()),
            reminders,
            ack_link_ttl,
            db_max_connections,
            worker_poll,
            mail_lease,
            request_timeout,
            idle_timeout,
            trusted_proxies,
            connections_per_address,
            calendar,
        })
    }
}

impl Settings {
    /// What an admin sees at `/admin/settings`: each setting in force in
    /// this process, with no password in it, and whether mail reaches anyone.
    pub fn configuration(&self, bound: SocketAddr, base_url: &str) -> Configuration {
        let entry = |variable, value: String, meaning| ConfigEntry { variable, value, meaning };
        let durations = |ds: &[Duration]| ds.iter().map(|d| written(*d)).collect::<Vec<_>>().join(", ");
        let proxies = self.trusted_proxies.networks();
        let entries = vec![
            entry("DATABASE_URL", without_password(&self.database_url), "the database"),
            entry("PRICEGATE_BIND", bound.to_string(), "the address this server listens on"),
            entry("PRICEGATE_BASE_URL", without_password(base_url), "where the links in e-mails lead"),
            entry(
                "SMTP_URL",
                self.smtp_url.as_ref().map_or_else(|| "unset".to_owned(), |url| without_password(url.expose())),
                "the SMTP server mail goes through",
            ),
            entry(
                "PRICEGATE_MAILDIR",
                self.maildir.display().to_string(),
                "where mail is written as files while SMTP_URL is unset",
            ),
            entry("MAIL_FROM", self.mail_from.clone(), "the sender of every e-mail"),
            entry(
                "PRICEGATE_REMINDERS",
                durations(&self.reminders),
                "reminders after publication; finance's escalation follows the last",
            ),
            entry(
                "PRICEGATE_ACK_LINK_TTL",
                durations(&[self.ack_link_ttl]),
                "how long an e-mailed acknowledgement link works",
            ),
            entry("PRICEGATE_DB_POOL", self.db_max_connections.to_string(), "database connections of this process"),
            entry("PRICEGATE_WORKER_POLL", durations(&[self.worker_poll]), "how often the mail worker looks for work"),
            entry("PRICEGATE_MAIL_LEASE", durations(&[self.mail_lease]), "how long a worker holds mail it claimed"),
            entry("PRICEGATE_REQUEST_TIMEOUT", durations(&[self.request_timeout]), "the longest one request may take"),
            entry(
                "PRICEGATE_IDLE_TIMEOUT",
                durations(&[self.idle_timeout]),
                "how long a connection may wait for its next request's headers",
            ),
            entry(
                "PRICEGATE_TRUSTED_PROXIES",
                if proxies.is_empty() { "none".to_owned() } else { proxies.join(", ") },
                "proxies whose X-Forwarded-For names the client",
            ),
            entry(
                "PRICEGATE_CONNECTIONS_PER_ADDRESS",
                self.connections_per_address.to_string(),
                "connections one client address may hold open at once",
            ),
            entry("PRICEGATE_TIMEZONE", self.calendar.to_string(), "where the business's days begin and end"),
        ];
        let mail_to_files = self.smtp_url.is_none().then(|| self.maildir.display().to_string());
        Configuration { entries, mail_to_files }
    }
}

/// A URL with every password in it replaced by `***`: the user's
/// (`postgres://app:s3cret@db/pricegate` → `postgres://app:***@db/pricegate`)
/// and the value of any query parameter whose name holds "pass"
/// (`?password=…`, `sslpassword=…`), which the database drivers read too.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    if let Some((user, _, after)) = userinfo_password(rest) {
        let after = without_password(&format!("{scheme}://{after}"));
        return format!("{scheme}://{user}:***@{}", &after[scheme.len() + 3..]);
    }
    let (rest, fragment) = rest.split_once('#').map_or((rest, None), |(r, f)| (r, Some(f)));
    let rest = match rest.split_once('?') {
        Some((before, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if names_a_secret(name) => format!("{name}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{before}?{}", params.join("&"))
        }
        None => rest.to_owned(),
    };
    let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
    format!("{scheme}://{rest}{fragment}")
}

/// The user, password and what follows them in `rest`, a URL after its
/// `scheme://`. A password may hold an unescaped `/`, `?`, `#` or `@`,
/// which a user name never holds but the `@`: up to the last `@`, after a
/// user and a `:`, is taken for the password, so that more is hidden
/// rather than less.
fn userinfo_password(rest: &str) -> Option<(&str, &str, &str)> {
    let (userinfo, after) = rest.rsplit_once('@')?;
    let (user, password) = userinfo.split_once(':')?;
    (!user.contains(['/', '?', '#'])).then_some((user, password, after))
}

/// Whether a URL's query parameter named so holds a secret (`password`,
/// `sslpassword`, in any case), which the database drivers read too.
fn names_a_secret(parameter: &str) -> bool {
    parameter.to_ascii_lowercase().contains("pass")
}

fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

/// `d` as the settings are written: `14d`, `4h`, `1h 30m`, `45s` (whole
/// seconds; a part of a second is not a setting anyone writes).
fn written(d: Duration) -> String {
    let secs = d.as_secs();
    let parts = [(secs / 86_400, "d"), (secs / 3_600 % 24, "h"), (secs / 60 % 60, "m"), (secs % 60, "s")];
    let said: Vec<String> = parts.iter().filter(|(n, _)| *n > 0).map(|(n, unit)| format!("{n}{unit}")).collect();
    if said.is_empty() { format!("{}ms", d.as_millis()) } else { said.join(" ") }
}

/// `30s`, `15m`, `4h`, `3d` (and anything else humantime reads, like `1h 30m`).
pub fn parse_duration(variable: &'static str, raw: &str) -> Result<Duration, SettingsError> {
    let duration = humantime::parse_duration(raw).map_err(|_| SettingsError {
        variable,
        message: format!("{raw:?} is not a duration like 30s, 15m, 4h or 3d"),
    })?;
    if duration.is_zero() {
        return Err(SettingsError {
            variable,
            message: format!("{raw:?} is no time at all: it must be longer than 0"),
        });
    }
    // Dates reckoned from one must stay dates: none of these waits years.
    if duration > LONGEST_DURATION {
        return Err(SettingsError {
            variable,
            message: format!("{raw:?} is longer than the 3650d (ten years) it may be"),
        });
    }
    Ok(duration)
}

/// The longest any duration setting may be.
const LONGEST_DURATION: Duration = Duration::from_secs(3650 * 24 * 3600);

/// `message` (an error from opening or migrating the database) with the URL
/// it may repeat, and its password, taken out: a URL the driver could not
/// read is echoed whole, and a password with an unescaped `/` or `#` is one.
pub fn without_database_url(message: &str, url: &str) -> String {
    let mut message = message.replace(url, "<DATABASE_URL>");
    for secret in url_secrets(url) {
        message = message.replace(secret, "***");
    }
    message
}

/// The secrets `url` holds: its password (as [`userinfo_password`] takes
/// it) and the value of every query parameter that [`names_a_secret`], as
/// written.
fn url_secrets(url: &str) -> Vec<&str> {
    let Some((_, rest)) = url.split_once("://") else { return Vec::new() };
    let password = userinfo_password(rest).map(|(_, password, _)| password);
    let query = rest.split_once('?').map(|(_, q)| q.split('#').next().unwrap_or_default()).unwrap_or_default();
    let params = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| names_a_secret(name))
        .map(|(_, value)| value);
    password.into_iter().chain(params).filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    #[test]
    fn a_database_error_repeats_neither_the_url_nor_its_password() {
        let url = "postgres://app:Xy7/secret@db.example:5432/pricegate";
        let said = format!("The connection string '{url}' cannot be parsed.: '{}'", &url[11..]);
        let shown = without_database_url(&said, url);
        assert!(!shown.contains("Xy7") && !shown.contains("secret"), "{shown}");
        assert!(shown.starts_with("The connection string '<DATABASE_URL>' cannot be parsed"), "{shown}");
        assert_eq!(without_database_url("connection refused", "postgres://db/x"), "connection refused");
        let url = "postgres://db/x?sslpassword=k3y&Password=hunter2&user=app";
        let shown = without_database_url("cannot use k3y for x; user app, password hunter2", url);
        assert_eq!(shown, "cannot use *** for x; user app, password ***");
    }

    #[test]
    fn durations_are_at_most_ten_years_and_an_empty_database_url_is_refused() {
        assert!(parse_duration("PRICEGATE_ACK_LINK_TTL", "3650d").is_ok());
        let e = parse_duration("PRICEGATE_ACK_LINK_TTL", "100000000d").expect_err("refused");
        assert_eq!(
            e.to_string(),
            "PRICEGATE_ACK_LINK_TTL: \"100000000d\" is longer than the 3650d (ten years) it may be"
        );
        assert!(settings(&[("PRICEGATE_REMINDERS", "1s,2s,10000y")]).is_err());
        let e = parse_duration("PRICEGATE_WORKER_POLL", "0s").expect_err("refused");
        assert_eq!(e.to_string(), "PRICEGATE_WORKER_POLL: \"0s\" is no time at all: it must be longer than 0");
        assert!(settings(&[("PRICEGATE_WORKER_POLL", "10m")]).is_ok());
        let e = settings(&[("PRICEGATE_WORKER_POLL", "11m")]).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "PRICEGATE_WORKER_POLL: \"11m\" is longer than the 10m the worker may wait between looks at the outbox"
        );
        let e = settings(&[("PRICEGATE_BASE_URL", "https://pricegate.example.com?x=1")]).expect_err("refused");
        assert!(e.message.contains("has a query or a fragment"), "{}", e.message);
        assert!(settings(&[("PRICEGATE_BASE_URL", "https://pricegate.example.com/")]).is_ok());
        for (url, why) in [
            ("https://exa mple.com", "has a space or a control character in it"),
            ("https://", "names no host"),
            ("http:///pricegate", "names no host"),
            (
                "https://intranet.example.com/pricegate/",
                "has a path after its host: Pricegate is served at the root of a host, not under a path",
            ),
        ] {
            let e = settings(&[("PRICEGATE_BASE_URL", url)]).expect_err("refused");
            assert_eq!(
                e.message,
                format!(
                    "{url:?} {why}: give the address people open Pricegate at, such as https://pricegate.example.com"
                ),
                "{url}"
            );
        }
        let e = settings(&[("PRICEGATE_BASE_URL", "https://ops:S3cret@pricegate.example.com")]).expect_err("refused");
        assert!(e.message.contains("has a user or a password in it") && !e.message.contains("S3cret"), "{}", e.message);
        assert!(settings(&[("PRICEGATE_TRUSTED_PROXIES", "none")]).is_ok(), "as the settings page shows the default");
        let e = settings(&[("DATABASE_URL", " ")]).expect_err("refused");
        assert_eq!(e.variable, "DATABASE_URL");
        assert!(e.message.contains("set but empty"), "{}", e.message);
    }

    #[test]
    fn passwords_in_urls_are_hidden_and_nothing_else_is() {
        assert_eq!(without_password("postgres://app:s3cret@db:5432/pricegate"), "postgres://app:***@db:5432/pricegate");
        assert_eq!(
            without_password("smtps://mail%40x:p@ss:w@smtp.example:465"),
            "smtps://mail%40x:***@smtp.example:465"
        );
        assert_eq!(without_password("postgres://postgres@127.0.0.1/db"), "postgres://postgres@127.0.0.1/db");
        assert_eq!(without_password("sqlite://pricegate.db?mode=rwc"), "sqlite://pricegate.db?mode=rwc");
        assert_eq!(
            without_password("postgres://db/x?user=a@b"),
            "postgres://db/x?user=a@b",
            "an @ after the host is not a user"
        );
        assert_eq!(
            without_password("postgres://127.0.0.1/db?user=app&password=hunter2&sslmode=require&sslpassword=x#top"),
            "postgres://127.0.0.1/db?user=app&password=***&sslmode=require&sslpassword=***#top"
        );
        assert_eq!(without_password("postgres://a:b@[::1]:5432/db?PASS=c"), "postgres://a:***@[::1]:5432/db?PASS=***");
        assert_eq!(without_password("postgres://app:Xy7/se#c?r@t@db:5432/p"), "postgres://app:***@db:5432/p");
    }

    #[test]
    fn the_configuration_admins_see_holds_every_setting_and_no_password() {
        let s = settings(&[
            ("DATABASE_URL", "postgres://app:dbsecret@db/pricegate"),
            ("SMTP_URL", "smtps://mailer:smtpsecret@smtp.example:465"),
            ("PRICEGATE_REMINDERS", "30m, 1d"),
            ("PRICEGATE_TRUSTED_PROXIES", "10.0.0.0/8"),
        ])
        .unwrap();
        let c = s.configuration("127.0.0.1:8080".parse().unwrap(), "https://pricegate.example");
        let text = format!("{:?}", c.entries);
        assert!(!text.contains("dbsecret") && !text.contains("smtpsecret"), "{text}");
        let value = |variable: &str| c.entries.iter().find(|e| e.variable == variable).map(|e| e.value.clone());
        assert_eq!(value("SMTP_URL").as_deref(), Some("smtps://mailer:***@smtp.example:465"));
        assert_eq!(value("PRICEGATE_REMINDERS").as_deref(), Some("30m, 1d"));
        assert_eq!(value("PRICEGATE_ACK_LINK_TTL").as_deref(), Some("14d"));
        assert_eq!(written(Duration::from_secs(5_400)), "1h 30m");
        assert_eq!(written(Duration::from_millis(250)), "250ms");
        assert_eq!(value("PRICEGATE_TRUSTED_PROXIES").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(value("PRICEGATE_BASE_URL").as_deref(), Some("https://pricegate.example"));
        assert_eq!(c.mail_to_files, None, "mail goes through SMTP");
        let by_files =
            settings(&[]).unwrap().configuration("127.0.0.1:43121".parse().unwrap(), "http://127.0.0.1:43121");
        assert_eq!(by_files.mail_to_files.as_deref(), Some("./mail-out"));
        let bound = by_files.entries.iter().find(|e| e.variable == "PRICEGATE_BIND").map(|e| e.value.as_str());
        assert_eq!(bound, Some("127.0.0.1:43121"), "the address bound, not the port 0 asked for");
        assert_eq!(by_files.entries.len(), 16, "every variable of the README's table but RUST_LOG");
        let named: Vec<&str> = by_files.entries.iter().map(|e| e.variable).chain(["RUST_LOG"]).collect();
        assert_eq!(named, VARIABLES, "every one is known as a setting");
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.reminders, vec![hours(4), hours(24), hours(72)]);
        assert_eq!(s.ack_link_ttl, hours(336));
        assert_eq!(s.maildir, PathBuf::from("./mail-out"));
        assert!(s.smtp_url.is_none());
        assert_eq!(s.calendar, Calendar::UTC);
    }

    #[test]
    fn a_password_for_the_smtp_server_never_goes_unencrypted() {
        let refused = settings(&[("SMTP_URL", "smtp://mailer:S3cret@smtp.example:587")]).unwrap_err();
        assert_eq!(refused.variable, "SMTP_URL");
        assert!(
            refused.message.contains("?tls=required") && !refused.message.contains("S3cret"),
            "{}",
            refused.message
        );
        let opportunistic = settings(&[("SMTP_URL", "smtp://mailer:S3cret@smtp.example:587?tls=opportunistic")]);
        assert_eq!(opportunistic.unwrap_err().variable, "SMTP_URL", "sent in clear to a server without STARTTLS");
        for url in [
            "smtp://mailer:S3cret@smtp.example:587?tls=opportunistic&tls=required",
            "smtp://mailer:S3cret@smtp.example:587#?tls=required",
        ] {
            assert_eq!(settings(&[("SMTP_URL", url)]).unwrap_err().variable, "SMTP_URL", "lettre reads {url} so");
        }
        for url in [
            "smtp://mailer:S3cret@smtp.example:587?tls=required",
            "smtps://mailer:S3cret@smtp.example",
            "smtp://127.0.0.1:25",
            "smtp://mailer@smtp.example:25",
            "smtp://mailer:S%3Fcret@smtp.example:587?tls=required&",
            "smtps://smtp.example:465#x?y",
            "smtp://smtp.example:587?%74ls=required",
        ] {
            assert!(settings(&[("SMTP_URL", url)]).is_ok(), "{url}");
        }
        // A password with a `/`, `?` or `#` not percent-encoded is refused,
        // and nothing of it repeated (read as a URL, its rest is a path, a
        // parameter or a fragment).
        for url in [
            "smtp://mailer:Xy7?secretpart&z@smtp.example:587",
            "smtp://mailer:ab?cd=ef@smtp.example:587",
            "smtp://mailer:2024?Winter&x@smtp.example:587",
            "smtps://mailer:?Secret&x@smtp.example",
            "smtp://mailer:2024?tls=Secret@smtp.example",
            "smtp://mailer:12#Secret@smtp.example",
            "smtp://mailer:12/Secret@smtp.example",
        ] {
            let refused = settings(&[("SMTP_URL", url)]).unwrap_err();
            assert_eq!(refused.variable, "SMTP_URL", "{url}");
            assert!(refused.message.contains("write them %2F, %3F, %23"), "{url}: {}", refused.message);
            for part in ["secretpart", "cd", "Winter", "Secret", "2024"] {
                assert!(!refused.message.contains(part), "{url}: {}", refused.message);
            }
        }
        // A parameter nothing reads is refused, not ignored.
        for (url, says) in [
            ("smtp://smtp.example:587?starttls=true", "the parameter \"starttls\", which nothing reads"),
            ("smtp://smtp.example:587?TLS=required", "the parameter \"TLS\""),
            ("smtps://smtp.example?tls=required&timeout=5", "the parameter \"timeout\""),
            ("smtp://smtp.example:587?tls=required&t%C3%A4=1", "has a parameter, which nothing reads"),
        ] {
            let refused = settings(&[("SMTP_URL", url)]).unwrap_err();
            assert!(refused.variable == "SMTP_URL" && refused.message.contains(says), "{url}: {}", refused.message);
        }
        // Its `tls` read as the transport reads it: the first, decoded.
        for (url, in_clear) in [
            ("smtp://u:p@h:587?%74ls=opportunistic&tls=required", true),
            ("smtp://u:p@h:587?%74ls=required", false),
            ("smtp://u:p@h:587/ehlo.example?tls=required", false),
        ] {
            assert_eq!(settings(&[("SMTP_URL", url)]).is_err(), in_clear, "{url}");
        }
    }

    #[test]
    fn durations_and_addresses_are_checked() {
        assert_eq!(
            settings(&[("PRICEGATE_REMINDERS", "30s, 2m")]).unwrap().reminders,
            vec![Duration::from_secs(30), Duration::from_secs(120)]
        );
        assert_eq!(settings(&[("PRICEGATE_REMINDERS", "2m,30s")]).unwrap_err().variable, "PRICEGATE_REMINDERS");
        assert_eq!(settings(&[("PRICEGATE_ACK_LINK_TTL", "soon")]).unwrap_err().variable, "PRICEGATE_ACK_LINK_TTL");
        assert_eq!(settings(&[("PRICEGATE_BIND", "localhost")]).unwrap_err().variable, "PRICEGATE_BIND");
        assert_eq!(settings(&[("PRICEGATE_TIMEZONE", "Berlin")]).unwrap_err().variable, "PRICEGATE_TIMEZONE");
        assert_eq!(settings(&[("PRICEGATE_TIMEZONE", "Europe/Berlin")]).unwrap().calendar.zone_name(), "Europe/Berlin");
        assert_eq!(settings(&[("DATABASE_URL", "mysql://x")]).unwrap_err().variable, "DATABASE_URL");
        for nothing in ["sqlite://", "sqlite:", "sqlite://?mode=rwc"] {
            let e = settings(&[("DATABASE_URL", nothing)]).unwrap_err();
            assert!(e.message.starts_with("names no SQLite file"), "{nothing}: {}", e.message);
        }
        for named in ["sqlite://pricegate.db?mode=rwc", "sqlite:///var/lib/pricegate/pg.db"] {
            assert!(settings(&[("DATABASE_URL", named)]).is_ok(), "{named}");
        }
        for in_memory in ["sqlite::memory:", "sqlite://pricegate.db?mode=memory"] {
            let e = settings(&[("DATABASE_URL", in_memory)]).unwrap_err();
            assert!(e.message.starts_with("keeps the database in memory"), "{in_memory}: {}", e.message);
        }
        assert!(settings(&[]).unwrap().trusted_proxies.is_empty(), "no proxy is trusted by default");
        assert_eq!(settings(&[]).unwrap().connections_per_address, 512);
        assert!(settings(&[("PRICEGATE_CONNECTIONS_PER_ADDRESS", "0")]).is_err());
        assert!(!settings(&[("PRICEGATE_TRUSTED_PROXIES", "10.0.0.1, fd00::/8")]).unwrap().trusted_proxies.is_empty());
        let refused = settings(&[("PRICEGATE_TRUSTED_PROXIES", "10.0.0.0/40")]).unwrap_err();
        assert_eq!(refused.variable, "PRICEGATE_TRUSTED_PROXIES");
        assert!(refused.message.contains("prefix"), "{}", refused.message);
    }

    #[test]
    fn a_base_url_s_port_is_one_a_browser_can_open() {
        let e = settings(&[("PRICEGATE_BASE_URL", "http://pricegate.example.com:99999")]).unwrap_err();
        assert_eq!(e.variable, "PRICEGATE_BASE_URL");
        assert!(e.message.contains("has a port that is no number from 1 to 65535"), "{}", e.message);
        for fine in ["http://pricegate.example.com:8080", "http://[::1]:8080", "http://[::1]", "https://p.example"] {
            assert!(settings(&[("PRICEGATE_BASE_URL", fine)]).is_ok(), "{fine}");
        }
    }

    #[test]
    fn an_smtp_url_s_tls_is_one_the_transport_knows() {
        for url in ["smtp://mail:25?tls=yes", "smtp://mail:587?tls=STARTTLS"] {
            let e = settings(&[("SMTP_URL", url)]).unwrap_err();
            assert_eq!(e.variable, "SMTP_URL");
            assert!(e.message.contains("which is no choice: write ?tls=required"), "{url}: {}", e.message);
        }
        for url in ["smtp://mail:587?tls=required", "smtp://mail:587?tls=opportunistic", "smtp://mail:25"] {
            assert!(settings(&[("SMTP_URL", url)]).is_ok(), "{url}");
        }
    }

    #[test]
    fn a_mistyped_log_level_is_told_from_a_target() {
        assert_eq!(mistyped_level("inof"), Some(("inof".to_owned(), "info")));
        assert_eq!(mistyped_level("warning"), Some(("warning".to_owned(), "warn")));
        assert_eq!(mistyped_level("pricegate=debug,debgu"), Some(("debgu".to_owned(), "debug")));
        for meant in ["info", "WARN", "info,tower_http=debug", "pricegate", "sqlx::postgres::notice=warn", "verbose"] {
            assert_eq!(mistyped_level(meant), None, "{meant}");
        }
    }

    #[test]
    fn a_setting_set_but_empty_is_warned_about() {
        let warned = empty_variables([
            ("PRICEGATE_BIND", ""),
            ("SMTP_URL", "  "),
            ("PRICEGATE_TIMEZONE", "Europe/Berlin"),
            ("HOME", ""),
            ("DATABASE_URL", ""),
        ]);
        assert_eq!(
            warned,
            [
                "PRICEGATE_BIND is set but empty, so its default is in force",
                "SMTP_URL is set but empty, so its default is in force"
            ]
        );
    }

    #[test]
    fn a_variable_named_like_a_setting_that_is_none_is_warned_about() {
        let warned = unknown_variables([
            "PRICEGATE_SMTP_URL",
            "PRICEGATE_REMINDER",
            "PRICEGATE_REMINDERS",
            "SMTP_URL",
            "PRICEGATE_TEST_PG",
            "PRICEGATE_BENCH_PEOPLE",
            "PRICEGATE_BIN",
            "HOME",
            "PATH",
            "TZ",
            "HOSTNAME",
            "DATABSE_URL",
            "SMTP_ULR",
            "MAIL_FORM",
            "PRICEGATE_LISTEN",
            "PRICEGATE_MAIL_URL",
            "PRICEGATE_SOMETHING",
            "MAILDIR",
            "BASE_URL",
            "PRICEGATE_PORT",
            "PRICEGATE_PORT_8080_TCP_ADDR",
            "PRICEGATE_SERVICE_HOST",
            "PRICEGATE_POSTGRES_SERVICE_HOST",
            "PRICEGATE_POSTGRES_SERVICE_PORT_SQL",
            "PRICEGATE_POSTGRES_PORT_5432_TCP_PROTO",
            "PRICEGATE_POSTGRES_PORT",
            "pricegate_timezone",
        ]);
        assert_eq!(
            warned,
            [
                "PRICEGATE_SMTP_URL is not a setting and is ignored: the setting is SMTP_URL",
                "PRICEGATE_REMINDER is not a setting and is ignored: the setting is PRICEGATE_REMINDERS",
                "DATABSE_URL is not a setting and is ignored: the setting is DATABASE_URL",
                "SMTP_ULR is not a setting and is ignored: the setting is SMTP_URL",
                "MAIL_FORM is not a setting and is ignored: the setting is MAIL_FROM",
                "PRICEGATE_LISTEN is not a setting and is ignored: the setting is PRICEGATE_BIND",
                "PRICEGATE_MAIL_URL is not a setting and is ignored: the setting is SMTP_URL",
                "PRICEGATE_SOMETHING is not a setting and is ignored (see the settings table under the README's Commands for their names)",
                "pricegate_timezone is not a setting and is ignored: the setting is PRICEGATE_TIMEZONE",
            ]
        );
    }

    #[test]
    fn no_password_shows_in_debug_output() {
        let s = settings(&[
            ("SMTP_URL", "smtps://user:hunter2@mail.example:465"),
            ("DATABASE_URL", "postgres://app:dbsecret@db.example/pricegate?sslpassword=keysecret"),
        ])
        .unwrap();
        let printed = format!("{s:?}");
        for secret in ["hunter2", "dbsecret", "keysecret"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("db.example/pricegate"), "the database is still named: {printed}");
    }
}
