//! `pricegate`: serve, migrate, manage users, fill a demo company.

use std::io::{Read, Write};

use anyhow::Context;
use clap::{Parser, Subcommand};
use pricegate::demo::{self, DEMO_PASSWORD};
use pricegate::{Application, Settings};
use pricegate_domain::{Email, Password, Role, Text};
use pricegate_store::NewUser;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "pricegate",
    version,
    about = "Quotes that cannot be finalised at a price the signer has not been told about.",
    after_help = "Settings come from the environment, or from a .env file in the working directory: \
                  DATABASE_URL (default sqlite://pricegate.db?mode=rwc; or postgres://…), PRICEGATE_BIND \
                  (default 127.0.0.1:8080), PRICEGATE_BASE_URL (the address e-mails link to), SMTP_URL (unset, \
                  mail is written as files under PRICEGATE_MAILDIR), MAIL_FROM, PRICEGATE_TIMEZONE, \
                  PRICEGATE_REMINDERS and more: the README's table of settings names each, with its default. \
                  RUST_LOG sets what is logged (default info)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then serve HTTP until SIGINT, SIGTERM or SIGHUP (unless started ignoring it, as by nohup).
    Serve {
        /// Fill the database with the demo company first, if it is empty.
        #[arg(long)]
        demo: bool,
    },
    /// Apply migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Fill an empty database with a small demo company and print the logins.
    Demo,
    /// Only the mail worker: send the outbox, reminders and escalations.
    Worker,
    /// Copy the SQLite database into a new file, while it serves (PostgreSQL: use pg_dump).
    Backup {
        /// The file to write; it must not exist yet.
        file: std::path::PathBuf,
    },
    /// Ask the server on this machine (at PRICEGATE_BIND) whether it is healthy: exits 0 when its
    /// /healthz answers 200 within 5 s, else 1 saying what it answered (a container's HEALTHCHECK).
    Healthcheck,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user and print its id. The password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["sales", "finance", "admin"])]
        role: String,
        /// Read the password from standard input (required: it never goes on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// Loads `.env` from the working directory, if there is one. One that does
/// not parse is refused: dotenvy stops at the bad line, so starting anyway
/// would run on defaults for it and every line after it. The refusal names
/// the setting, never the line (it may hold a password).
/// Returns the names whose values `$` changed (see [`expanded`]), and those
/// set on more than one line (see [`set_twice`]).
fn load_dot_env() -> Result<(Vec<Expanded>, Vec<SetTwice>), String> {
    let given: std::collections::HashSet<std::ffi::OsString> = std::env::vars_os().map(|(name, _)| name).collect();
    match dotenvy::from_path(".env") {
        Ok(()) => {
            let text = std::fs::read_to_string(".env").unwrap_or_default();
            let given = |name: &str| given.contains(std::ffi::OsStr::new(name));
            Ok((expanded(&text, given, |name| std::env::var_os(name).is_some()), set_twice(&text)))
        }
        Err(e) if e.not_found() => Ok((Vec::new(), Vec::new())),
        Err(dotenvy::Error::LineParse(part, _)) => {
            // dotenvy gives the line, or only its value: find the line for its number and name.
            let text = std::fs::read_to_string(".env").unwrap_or_default();
            // An unclosed quote runs on to the end of the file: its first line is the one.
            let part = part.lines().next().unwrap_or_default().trim();
            let found = text.lines().enumerate().find(|(_, line)| !part.is_empty() && line.contains(part));
            let which = match found {
                Some((n, line)) => {
                    let name = line.split('=').next().unwrap_or_default().trim();
                    let name = name.strip_prefix("export ").unwrap_or(name).trim();
                    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        format!("line {} ({name})", n + 1)
                    } else {
                        format!("line {}", n + 1)
                    }
                }
                None => "a line".to_owned(),
            };
            Err(format!(
                "{which} does not parse; write one NAME=value a line, and quote a value with spaces: \
                 MAIL_FROM=\"Pricegate <pricegate@example.com>\""
            ))
        }
        Err(e) => Err(format!("it cannot be read: {e}")),
    }
}

/// The `NAME=value` lines of `.env` text (not comments, `export ` left
/// out): each one's number (from 1), name and value, trimmed.
fn dot_env_lines(text: &str) -> impl Iterator<Item = (usize, &str, &str)> {
    text.lines().enumerate().filter_map(|(n, line)| {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (name, value) = line.split_once('=').filter(|_| !line.starts_with('#'))?;
        Some((n + 1, name.trim(), value.trim()))
    })
}

/// A name `.env` sets on more than one line, and the line of the first.
type SetTwice = (String, usize);

/// The names `.env` text sets on more than one line, each with the line
/// (from 1) of the first, which dotenvy keeps.
fn set_twice(text: &str) -> Vec<SetTwice> {
    let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut twice = Vec::new();
    for (n, name, _) in dot_env_lines(text) {
        match first.entry(name) {
            std::collections::hash_map::Entry::Vacant(new) => {
                new.insert(n);
            }
            std::collections::hash_map::Entry::Occupied(seen) if !twice.iter().any(|(t, _)| t == seen.key()) => {
                twice.push(((*seen.key()).to_owned(), *seen.get()));
            }
            _ => {}
        }
    }
    twice
}

/// A setting whose `.env` value a `$` changed (see [`expanded`]).
#[derive(Debug, PartialEq, Eq)]
struct Expanded {
    name: String,
    /// Through a shell's default (`${NAME:-default}`), which a `.env` file
    /// does not give: said apart, as the value meant is there to be seen.
    shell_default: bool,
}

/// The settings of `.env` text whose value a `$` outside single quotes
/// makes other than written: a bare `$`, or one naming a variable that is
/// not set (a `.env` file expands them as a shell does, so `pa$word` is read
/// `pa`, and a password with one would be refused by the server it is for,
/// hidden behind `***` in the log), or holding a shell's default,
/// `${NAME:-default}`, which is read as nothing. A `${NAME}` naming a
/// variable that is set is meant; a line whose setting the environment gives
/// (`given`) is not read, and not looked at.
fn expanded(text: &str, given: impl Fn(&str) -> bool, is_set: impl Fn(&str) -> bool) -> Vec<Expanded> {
    let mut names = Vec::new();
    for (_, name, value) in dot_env_lines(text) {
        if given(name) || value.starts_with('\'') {
            continue;
        }
        // The value itself: inside its double quotes, or before a comment.
        let value = match value.strip_prefix('"') {
            Some(quoted) => quoted.rsplit_once('"').map_or(quoted, |(inside, _)| inside),
            None => value.split(" #").next().unwrap_or(value),
        };
        // Each `$` the value is read otherwise than written at: `Some(true)`
        // for a shell's default, `${NAME:-default}` or `${NAME-default}`,
        // which is never given, whatever NAME is.
        let changed = |after: &str| match after.strip_prefix('{') {
            Some(braced) => {
                let inside = braced.split('}').next().unwrap_or_default();
                match inside.contains('-') {
                    true => Some(true),
                    false => (inside.is_empty() || !is_set(inside)).then_some(false),
                }
            }
            None => {
                let variable =
                    after.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or_default();
                (variable.is_empty() || !is_set(variable)).then_some(false)
            }
        };
        let changed: Vec<bool> = value
            .char_indices()
            .filter(|&(i, c)| c == '$' && !value[..i].ends_with('\\'))
            .filter_map(|(i, _)| changed(&value[i + 1..]))
            .collect();
        if !changed.is_empty() {
            names.push(Expanded { name: name.to_owned(), shell_default: changed.contains(&true) });
        }
    }
    names
}

fn main() -> std::process::ExitCode {
    return_large_blocks_to_the_system();
    start()
}

/// Has glibc's `malloc` give every block of a MiB or more straight back to
/// the system when freed. By default it raises that threshold to the size of
/// the largest block freed, up to 32 MiB: after the first password check,
/// each of argon2's 19 MiB blocks then comes from, and stays in, the heap of
/// whichever thread ran it, one per blocking thread: a burst of 30 logins
/// (anyone may send them, right or wrong) left a server at 510 MB for good,
/// where with the threshold fixed it stays near 43 MB. Before any thread but
/// this one runs.
fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets one of malloc's parameters, and no other
    // thread runs yet to allocate alongside it. Refused (it answers 0), the
    // default threshold stays: 1 MiB is within the 32 MiB it takes.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[tokio::main]
async fn start() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `.env` first: RUST_LOG is a setting like the others, and may be there.
    let (expanded, twice) = match load_dot_env() {
        Ok(expanded) => expanded,
        Err(refused) => {
            let _ = writeln!(std::io::stderr(), "pricegate: .env: {refused}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // A filter that does not parse is refused, like any other bad setting:
    // quietly logging at another level would hide what was asked for.
    // What `.env` gives, read once: for the settings the environment sets to nothing.
    let in_file = pricegate::settings::dot_env_values();
    let filter = match pricegate::settings::environment_or_file("RUST_LOG", &in_file) {
        Some(value) if let Some((word, level)) = pricegate::settings::mistyped_level(&value) => {
            let _ = writeln!(
                std::io::stderr(),
                "pricegate: RUST_LOG: `{word}` is no level, and a bare word names a target, so nothing would be \
                 logged, warnings included: did you mean `{level}`?"
            );
            return std::process::ExitCode::FAILURE;
        }
        Some(value) if !value.trim().is_empty() => match EnvFilter::builder().parse(&value) {
            Ok(filter) => filter,
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "pricegate: RUST_LOG: {e}; write a level such as `info`, or `warn,pricegate=debug`"
                );
                return std::process::ExitCode::FAILURE;
            }
        },
        // PostgreSQL's notices ("relation … already exists, skipping" as the
        // migrations start) are not news to whoever runs Pricegate, nor two
        // lines for each migration applied: one line says how many.
        _ => EnvFilter::new(pricegate::settings::DEFAULT_LOG),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A log line that cannot be written (standard error closed, say by a
        // pipe whose reader exited) is lost; reporting that on standard error
        // would panic the task that logged, the shutdown signal's included.
        .log_internal_errors(false)
        .init();
    // A line appended to override one above it (as a shell reads them)
    // does not: the first of each name is read.
    let given = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    for (name, line) in twice {
        if !given(&name) {
            tracing::warn!(
                "`.env` sets {name} more than once: the first, on line {line}, is in force, not a later one"
            );
        }
    }
    for Expanded { name, shell_default } in expanded {
        if shell_default {
            tracing::warn!(
                "`.env`: the value of {name} holds a shell's default, `${{NAME:-default}}`, which a .env file does \
                 not give: the whole of it is read as nothing, its variable set or not. Write the value itself"
            );
        } else {
            tracing::warn!(
                "`.env`: the value of {name} holds a `$` naming no variable that is set, which a .env file expands \
                 as a shell does (`pa$word` is read `pa`): to keep it as written, put the value in single quotes"
            );
        }
    }
    match run(cli, &in_file).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Not `eprintln!`: with standard error closed it would panic.
            let _ = writeln!(std::io::stderr(), "pricegate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, in_file: &std::collections::HashMap<String, String>) -> anyhow::Result<()> {
    let settings = Settings::from_env(in_file)?;
    // The environment, read once: each name, and its value as text.
    let variables: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.to_string_lossy().into_owned())))
        .collect();
    let unknown = pricegate::settings::unknown_variables(variables.iter().map(|(name, _)| name.as_str()));
    // One set to nothing that `.env` gives is read from there: no default is in force.
    let not_in_file = variables.iter().filter(|(name, _)| in_file.get(name).is_none_or(|v| v.trim().is_empty()));
    let empty = pricegate::settings::empty_variables(not_in_file.map(|(n, v)| (n.as_str(), v.as_str())));
    for warning in unknown.into_iter().chain(empty) {
        tracing::warn!("{warning}");
    }
    match cli.command {
        Command::Serve { demo } => serve(settings, demo).await,
        Command::Migrate => {
            let (store, migrated) = pricegate::connect_migrated(&settings).await?;
            // Closed, not dropped: PostgreSQL sees each connection end, not reset.
            store.close().await;
            // Each by name, as `migrations/src` and the README's upgrade notes name them.
            match migrated.applied.len() {
                0 => println!("the database is up to date: no migration to apply"),
                applied => println!("migrations applied: {applied}\n  {}", migrated.applied.join("\n  ")),
            }
            Ok(())
        }
        Command::User { command: UserCommand::Create { email, name, role, password_stdin: _ } } => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                let _ = writeln!(
                    std::io::stderr(),
                    "Type the password for {email}, then Enter and Ctrl-D (it is shown as typed: pipe it in to keep \
                     it off the screen)."
                );
            }
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password).context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(
                !password.is_empty(),
                "no password on standard input: pipe it in, as in `printf '%s' \"$PASSWORD\" | pricegate user create \
                 --email … --name … --role … --password-stdin`"
            );
            let new = NewUser {
                email: Email::parse(&email)?,
                name: Text::parse("name", &name, pricegate_domain::limits::NAME)?,
                role: Role::parse(&role)?,
                password: Some(Password::parse(password)?),
            };
            let store = pricegate::connect(&settings).await?;
            let created = store.create_user(None, new).await;
            store.close().await;
            println!("{}", created?.id);
            Ok(())
        }
        Command::Worker => {
            let database = pricegate::settings::without_password(&settings.database_url);
            tracing::info!(%database, mail = %mail_goes(&settings), "mail worker only");
            pricegate::run_worker_until(settings, shutdown_signal()?).await
        }
        Command::Demo => {
            let store = pricegate::connect(&settings).await?;
            let seeded = demo::seed(&store).await;
            store.close().await;
            print_demo(seeded?);
            Ok(())
        }
        Command::Backup { file } => back_up(&settings, &file).await,
        Command::Healthcheck => health_check(settings.bind).await,
    }
}

/// `pricegate backup FILE`: the SQLite database, as one moment saw it, into
/// a new file only its owner may read (it holds password hashes and every
/// quote), without stopping the service.
async fn back_up(settings: &Settings, file: &std::path::Path) -> anyhow::Result<()> {
    let Some(database) = pricegate_store::sqlite_file(&settings.database_url) else {
        anyhow::bail!(
            "pricegate backup copies a SQLite database, and DATABASE_URL names another: back PostgreSQL up with \
             pg_dump, as in `(umask 077 && pg_dump -Fc -f pricegate.dump \"$DATABASE_URL\")` (the dump holds \
             password hashes: only its owner may read it)"
        );
    };
    let whole = |path: &std::path::Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let whence = pricegate::named_from_here(&database);
    anyhow::ensure!(database.exists(), "there is no database at {} to back up{whence}", whole(&database).display());
    // The whole path: SQLite would read a name beginning `file:` as a URI.
    let file = whole(file);
    let target = file.to_str().context("the backup's file name is not UTF-8: give another")?;
    let mut create = std::fs::OpenOptions::new();
    create.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
    create.open(&file).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!("{} exists: a backup never replaces a file, give a new one", file.display())
        }
        _ => anyhow::anyhow!("cannot create {}: {e}", file.display()),
    })?;
    // What SQLite said, without the store's own words for a request
    // ("the database is unavailable"), which would blame the wrong file.
    let said = |e: &pricegate_store::StoreError| match std::error::Error::source(e) {
        Some(cause) => pricegate_store::causes(cause),
        None => e.to_string(),
    };
    let copied = match pricegate_store::Store::connect(&settings.database_url, 1).await {
        Ok(store) => store
            .back_up_into(target)
            .await
            .map_err(|e| anyhow::anyhow!("the backup into {} failed: {}", file.display(), said(&e))),
        Err(e) => Err(anyhow::anyhow!("cannot open {} to back it up: {}", whole(&database).display(), said(&e))),
    };
    if let Err(e) = copied {
        // Nothing half-written is left: the file, and a journal SQLite left beside it.
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(format!("{}-journal", file.display()));
        return Err(e);
    }
    println!("{} backed up into {}", whole(&database).display(), file.display());
    Ok(())
}

/// How much of an answer other than 200 `healthcheck` repeats, in characters.
const HEALTH_BODY_SHOWN: usize = 200;

/// `pricegate healthcheck`: `GET /healthz` of the server listening at
/// `bind` on this machine (at the loopback address when it listens on every
/// interface), for an image that has no HTTP client of its own to probe with.
async fn health_check(bind: std::net::SocketAddr) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    anyhow::ensure!(bind.port() != 0, "PRICEGATE_BIND has port 0 (any free port): give the port the server listens on");
    let mut address = bind;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .with_context(|| format!("nothing answers at {address} (PRICEGATE_BIND): is the server running?"))?;
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.take(64 * 1024).read_to_end(&mut answer).await?;
        anyhow::Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), ask)
        .await
        .map_err(|_| anyhow::anyhow!("the server at {address} gave no answer within 5 s"))??;
    let status = answer.lines().next().unwrap_or_default();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body).trim();
    // Another server's page may run to pages: its start says what it is.
    let shown = match body.char_indices().nth(HEALTH_BODY_SHOWN) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &body[..cut], body.len()),
        None => body.to_owned(),
    };
    anyhow::ensure!(status.starts_with("HTTP/1.1 200"), "/healthz at {address} answered {status}: {shown}");
    println!("healthy: {body}");
    Ok(())
}

/// What `demo` did, on standard output; a reader gone (a closed pipe) is
/// no reason to stop.
fn print_demo(logins: Option<Vec<demo::DemoLogin>>) {
    let mut stdout = std::io::stdout();
    let _ = match logins {
        None => writeln!(stdout, "The database already has users; the demo company was not added."),
        Some(logins) => writeln!(stdout, "Demo company added. Log in with any of these (password: {DEMO_PASSWORD}):")
            .and_then(|()| {
                logins.iter().try_for_each(|login| {
                    writeln!(stdout, "  {:<8} {:<28} {}", login.role.as_str(), login.email, login.name)
                })
            }),
    };
    let _ = stdout.flush();
}

/// Where mail goes, for the start-up log: the SMTP server (its password
/// hidden), or the directory it is written to.
fn mail_goes(settings: &Settings) -> String {
    match &settings.smtp_url {
        Some(url) => format!("through {}", pricegate::settings::without_password(url.expose())),
        None => format!("written as files under {} (SMTP_URL is unset: it reaches no one)", settings.maildir.display()),
    }
}

async fn serve(settings: Settings, demo: bool) -> anyhow::Result<()> {
    use pricegate::settings::without_password;
    let database = without_password(&settings.database_url);
    let mail = mail_goes(&settings);
    let app = Application::build(settings).await?;
    let logins = if demo { Some(demo::seed(app.store()).await?) } else { None };
    let shutdown = shutdown_signal()?;
    // For whoever started it, as the first line (a tool may read only that);
    // a server serves on whether or not anybody reads this (`pricegate serve
    // | head -1` closes the pipe after a line).
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on http://{}", app.address())
        .and_then(|()| writeln!(stdout, "API docs at {}/api/docs", without_password(app.base_url())))
        .and_then(|()| stdout.flush());
    if let Some(logins) = logins {
        print_demo(logins);
    }
    tracing::info!(address = %app.address(), timezone = %app.store().calendar(), %database, %mail, "serving");
    // A first start on an empty database serves a login page nobody can pass.
    if app.store().count_users().await.is_ok_and(|n| n == 0) {
        tracing::warn!(
            "nobody can log in yet: the database has no users; create the first administrator with `printf '%s' \
             \"$PASSWORD\" | pricegate user create --email … --name … --role admin --password-stdin`, or start with \
             `pricegate serve --demo` for the demo company"
        );
    }
    app.run_until(shutdown).await
}

/// Whether this process was started ignoring SIGHUP (by `nohup`), as Linux
/// tells in `/proc/self/status` (`SigIgn`, a mask with SIGHUP, signal 1,
/// its lowest bit); elsewhere, taken as not.
#[cfg(unix)]
fn sighup_ignored() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status.lines().find_map(|line| line.strip_prefix("SigIgn:")).map(str::trim);
    mask.and_then(|hex| u64::from_str_radix(hex, 16).ok()).is_some_and(|ignored| ignored & 1 == 1)
}

/// Resolves on SIGINT, SIGTERM or SIGHUP (unless started to ignore it). The handlers are in place once this
/// returns, so a signal sent the moment `listening on` is printed is a
/// graceful stop, not the signal's default action.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let stopped = {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        // Its terminal closed, or a log rotation's habit: a stop as graceful
        // as SIGTERM's, not the default's sudden end (Pricegate logs to its
        // error output and has no file to reopen). Started to ignore it
        // (`nohup`), it goes on ignoring it.
        let mut hang_up = match sighup_ignored() {
            true => None,
            false => Some(signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?),
        };
        async move {
            let hung_up = async {
                match hang_up.as_mut() {
                    Some(hang_up) => hang_up.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
                _ = hung_up => tracing::info!("SIGHUP: stopping as on SIGTERM"),
            }
        }
    };
    #[cfg(not(unix))]
    let stopped = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    Ok(async move {
        stopped.await;
        tracing::info!("shutting down: finishing what is under way");
    })
}

#[cfg(test)]
mod tests {
    use super::{Expanded, expanded, set_twice};

    #[test]
    fn a_name_set_twice_in_dot_env_is_said_with_the_line_in_force() {
        let text = "PRICEGATE_BIND=127.0.0.1:18204\n# PRICEGATE_BIND=no\nRUST_LOG=warn\nexport PRICEGATE_BIND=x\n\
                    PRICEGATE_BIND = y\n";
        assert_eq!(set_twice(text), [("PRICEGATE_BIND".to_owned(), 1)]);
        assert!(set_twice("A=1\nB=2\n").is_empty());
    }

    #[test]
    fn a_dollar_outside_single_quotes_naming_no_variable_set_is_said_to_be_expanded() {
        let text = "SMTP_URL=smtps://u:pa$word@mail:465\nDATABASE_URL=\"postgres://app:x$y@db/p\"\n\
                    MAIL_FROM='Sales $ <s@example.com>'\n# OLD=$x\nexport PRICEGATE_BIND=127.0.0.1:8080\n\
                    ESCAPED=\"a\\$b\"\nPRICEGATE_MAILDIR=${HOME}/mail\nCOMMENTED=\"a\" # ask $ales\n\
                    PRICEGATE_BASE_URL=http://x/$\nGIVEN=pa$word\n";
        let set = |name: &str| name == "HOME";
        let names: Vec<String> = expanded(text, |name| name == "GIVEN", set).into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["SMTP_URL", "DATABASE_URL", "PRICEGATE_BASE_URL"]);
    }

    #[test]
    fn a_shell_s_default_is_said_to_be_one_a_dot_env_file_does_not_give() {
        let text = "PRICEGATE_BIND=${BIND:-127.0.0.1:8080}\nMAIL_FROM=${FROM-s@example.com}\nRUST_LOG=${LOG}\n";
        let found = expanded(text, |_| false, |name| name == "BIND");
        let said = |name: &str, shell_default| Expanded { name: name.to_owned(), shell_default };
        // A default is never given, whether its variable is set or not.
        assert_eq!(found, [said("PRICEGATE_BIND", true), said("MAIL_FROM", true), said("RUST_LOG", false)]);
    }
}
