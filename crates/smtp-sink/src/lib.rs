//! A real SMTP server on 127.0.0.1 for Pricegate's e-mail tests and its
//! delivery benchmark: it speaks enough ESMTP for lettre (EHLO/HELO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT), keeps every message it accepts (a recipient
//! starting with `reject` is refused with 550), and can be stopped and
//! started again on the same port to play an outage. It can also play a
//! relay that refuses every sender (`554 5.7.1`, as one that no longer knows
//! us does) and a server slow to answer (it holds each `MAIL FROM`, or the
//! `RCPT TO` of some mailboxes).
//!
//! A message counts as received once its DATA is complete, just before the
//! sink answers `250`: the moment the sender learns it was delivered.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-unstuffed.
    pub data: String,
}

impl Received {
    /// The first header `name` (unfolded), if any.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        let prefix = format!("{}:", name.to_ascii_lowercase());
        unfolded
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    /// The decoded body of the first part whose content type starts with `mime`.
    pub fn part(&self, mime: &str) -> Option<String> {
        let boundary = self.data.split("boundary=\"").nth(1)?.split('"').next()?.to_owned();
        self.data.split(&format!("--{boundary}")).find_map(|part| {
            let (head, body) = part.split_once("\r\n\r\n")?;
            let head = head.to_ascii_lowercase();
            if !head.contains(&format!("content-type: {mime}")) {
                return None;
            }
            Some(if head.contains("quoted-printable") { decode_qp(body) } else { body.to_owned() })
        })
    }

    pub fn text(&self) -> String {
        self.part("text/plain").unwrap_or_default()
    }

    pub fn html(&self) -> String {
        self.part("text/html").unwrap_or_default()
    }

    /// The acknowledgement link in the plain-text part: the first address
    /// there with `/ack/` in it.
    pub fn ack_link(&self) -> Option<String> {
        self.link("/ack/")
    }

    /// The first address in the plain-text part with `path` in it.
    pub fn link(&self, path: &str) -> Option<String> {
        self.text().split_whitespace().find(|word| word.starts_with("http") && word.contains(path)).map(str::to_owned)
    }
}

fn decode_qp(body: &str) -> String {
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<Received>>,
    tasks: Mutex<Vec<AbortHandle>>,
    /// Every `MAIL FROM` is refused with `554 5.7.1`.
    refuse_senders: AtomicBool,
    /// Every `MAIL FROM` waits for an answer while this holds.
    hold: AtomicBool,
    /// Every `RCPT TO` a mailbox whose name starts with `slow` waits for an
    /// answer while this holds.
    hold_slow: AtomicBool,
    /// Conversations waiting for either answer now.
    held: AtomicUsize,
}

impl Shared {
    /// Holds the conversation's answer while `hold` does, counted in `held`.
    async fn wait_while(&self, hold: &AtomicBool) {
        if !hold.load(Ordering::SeqCst) {
            return;
        }
        self.held.fetch_add(1, Ordering::SeqCst);
        while hold.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.held.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct SmtpSink {
    pub port: u16,
    shared: Arc<Shared>,
}

impl SmtpSink {
    /// Listens on a free port of 127.0.0.1.
    pub async fn bind() -> std::io::Result<SmtpSink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let sink = SmtpSink { port, shared: Arc::new(Shared::default()) };
        sink.serve(listener);
        Ok(sink)
    }

    /// [`SmtpSink::bind`], for tests: a sink that cannot listen fails the test.
    pub async fn start() -> SmtpSink {
        Self::bind().await.expect("bind the SMTP sink")
    }

    /// `smtp://127.0.0.1:PORT`, for `SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn serve(&self, listener: TcpListener) {
        let shared = self.shared.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let conn_shared = shared.clone();
                let conn = tokio::spawn(async move {
                    let _ = session(stream, &conn_shared).await;
                });
                shared.tasks.lock().unwrap().push(conn.abort_handle());
            }
        });
        self.shared.tasks.lock().unwrap().push(accept.abort_handle());
    }

    /// Closes the port and every open connection: the server is down.
    pub fn stop(&self) {
        for task in self.shared.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => return self.serve(listener),
                Err(e) if tokio::time::Instant::now() > deadline => {
                    panic!("cannot listen on port {} again: {e}", self.port)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Refuses every sender from now on (`554 5.7.1 Relay access denied`),
    /// or stops refusing: a relay whose configuration is wrong, then mended.
    pub fn refuse_senders(&self, refuse: bool) {
        self.shared.refuse_senders.store(refuse, Ordering::SeqCst);
    }

    /// Holds the answer to every `MAIL FROM` until called with `false`: a
    /// server slow to answer.
    pub fn hold_replies(&self, hold: bool) {
        self.shared.hold.store(hold, Ordering::SeqCst);
    }

    /// Holds the answer to every `RCPT TO` a mailbox whose name starts with
    /// `slow` until called with `false`: a server slow for some recipients,
    /// while the others' messages go.
    pub fn hold_slow_mailboxes(&self, hold: bool) {
        self.shared.hold_slow.store(hold, Ordering::SeqCst);
    }

    /// How many conversations wait for an answer [`SmtpSink::hold_replies`]
    /// or [`SmtpSink::hold_slow_mailboxes`] holds.
    pub fn held(&self) -> usize {
        self.shared.held.load(Ordering::SeqCst)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.shared.messages.lock().unwrap().clone()
    }

    /// How many messages have been accepted so far (without copying them).
    pub fn count(&self) -> usize {
        self.shared.messages.lock().unwrap().len()
    }

    /// Waits until at least `n` messages have been accepted; `false` if
    /// `within` passes first.
    pub async fn wait_for_count(&self, n: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while self.count() < n {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Messages to `address`.
    pub fn to(&self, address: &str) -> Vec<Received> {
        self.messages().into_iter().filter(|m| m.to.iter().any(|t| t == address)).collect()
    }

    /// Waits until `done` holds for the messages received, or panics after `within`.
    pub async fn wait_until(&self, within: Duration, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let messages = self.messages();
            if done(&messages) {
                return messages;
            }
            if tokio::time::Instant::now() > deadline {
                let subjects: Vec<String> =
                    messages.iter().map(|m| format!("{:?} {:?}", m.to, m.header("subject"))).collect();
                panic!("timed out after {within:?} waiting for {what}; received {}: {subjects:#?}", messages.len());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn session(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 pricegate-test-sink ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-pricegate-test-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("RSET") {
            from.clear();
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            shared.wait_while(&shared.hold).await;
            if shared.refuse_senders.load(Ordering::SeqCst) {
                b"554 5.7.1 Relay access denied\r\n"
            } else {
                from = address(&line);
                to.clear();
                b"250 OK\r\n"
            }
        } else if upper.starts_with("RCPT TO:") && line.contains("<reject") {
            // A mailbox that does not exist: a permanent failure.
            b"550 5.1.1 No such mailbox\r\n"
        } else if upper.starts_with("RCPT TO:") {
            if line.contains("<slow") {
                shared.wait_while(&shared.hold_slow).await;
            }
            to.push(address(&line));
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            shared.messages.lock().unwrap().push(Received { from: from.clone(), to: std::mem::take(&mut to), data });
            b"250 OK queued\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 Command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

fn address(line: &str) -> String {
    line.split_once('<').and_then(|(_, rest)| rest.split_once('>')).map(|(a, _)| a.to_owned()).unwrap_or_default()
}
