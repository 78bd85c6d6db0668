//! Plain SMTP (`smtp://host:port`, no credentials): a pool of lettre
//! connections over sockets with `TCP_NODELAY`.
//!
//! Why not lettre's own pool: lettre writes a message's body and then the
//! closing `\r\n.\r\n` in two writes. With Nagle's algorithm on (lettre does
//! not turn it off, and offers no way to), the small second write waits for
//! the server to acknowledge the first, and the server, still waiting for
//! the end of the data, delays that acknowledgement (40 ms on Linux). Every
//! message then costs 40 ms of idle connection: 16 connections deliver at
//! most 400 messages a second, and a publication to 10,000 people takes half
//! a minute. Lettre's pool also sends a `NOOP` before each reuse; here a
//! connection idle for longer than [`MAX_IDLE`] is replaced instead.
//!
//! TLS URLs (`smtps://`, or with credentials) keep lettre's pooled transport.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::Message;
use lettre::transport::smtp::SMTP_PORT;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::transport::SendError;

/// Longer than this unused, a connection may have been closed by the
/// server: it is quit and a fresh one opened.
const MAX_IDLE: Duration = Duration::from_secs(10);

pub struct PlainSmtpPool {
    host: String,
    port: u16,
    hello: ClientId,
    timeout: Duration,
    /// One permit per connection that may be open at once.
    slots: Semaphore,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl std::fmt::Debug for PlainSmtpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainSmtpPool").field("host", &self.host).field("port", &self.port).finish()
    }
}

/// `host` and `port` of `smtp://host[:port][/]` with nothing else in it
/// (no credentials, no parameters); `None` for any other URL.
pub fn plain_smtp_address(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("smtp://")?.trim_end_matches('/');
    if rest.is_empty() || rest.contains(['@', '?', '#', '/']) {
        return None;
    }
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => SMTP_PORT,
    };
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

impl PlainSmtpPool {
    pub fn new(host: String, port: u16, connections: u32, timeout: Duration) -> PlainSmtpPool {
        PlainSmtpPool {
            host,
            port,
            hello: ClientId::default(),
            timeout,
            slots: Semaphore::new(connections.max(1) as usize),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection young enough to trust, quitting any older ones.
    async fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut conn, since) = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop()?;
            if since.elapsed() <= MAX_IDLE && !conn.has_broken() {
                return Some(conn);
            }
            conn.abort().await;
        }
    }

    fn put_back(&self, conn: AsyncSmtpConnection) {
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((conn, Instant::now()));
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let opened = async {
            let stream = TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| {
                SendError::transient(format!("SMTP: cannot connect to {}:{}: {e}", self.host, self.port))
            })?;
            stream.set_nodelay(true).map_err(|e| SendError::transient(format!("SMTP: {e}")))?;
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello).await.map_err(smtp_error)
        };
        tokio::time::timeout(self.timeout, opened)
            .await
            .map_err(|_| SendError::transient(format!("SMTP: connecting to {}:{} timed out", self.host, self.port)))?
    }

    /// Sends one message on a pooled connection (opening one if none is
    /// idle); at most `connections` conversations at once. A pooled
    /// connection the server has closed in the meantime fails without an
    /// SMTP answer: the message is then tried once more on a fresh one.
    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        let _slot =
            self.slots.acquire().await.map_err(|_| SendError::transient("SMTP: the connection pool is closed"))?;
        let envelope = message.envelope().clone();
        let bytes = message.formatted();
        let mut retried = false;
        loop {
            let pooled = if retried { None } else { self.take_idle().await };
            let from_pool = pooled.is_some();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => self.connect().await?,
            };
            match tokio::time::timeout(self.timeout, conn.send(&envelope, &bytes)).await {
                Ok(Ok(_)) => {
                    self.put_back(conn);
                    return Ok(());
                }
                // lettre has already quit a connection that failed; it is dropped here.
                // The one retry on a fresh connection can deliver twice: if the
                // server accepted the message but its reply was lost, it is sent
                // again. At-least-once, with the same Message-ID, so the
                // recipient's mail system can tell the two apart.
                Ok(Err(e)) if from_pool && e.status().is_none() => retried = true,
                Ok(Err(e)) => return Err(smtp_error(e)),
                Err(_) => {
                    // Its QUIT would wait on the same stalled server: a second, then dropped.
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn.abort()).await;
                    return Err(SendError::transient(format!("SMTP: no answer within {:?}", self.timeout)));
                }
            }
        }
    }
}

fn smtp_error(e: lettre::transport::smtp::Error) -> SendError {
    SendError::smtp(&e)
}

#[cfg(test)]
mod tests {
    use super::plain_smtp_address;

    #[test]
    fn only_a_bare_smtp_url_is_plain() {
        assert_eq!(plain_smtp_address("smtp://127.0.0.1:2525"), Some(("127.0.0.1".into(), 2525)));
        assert_eq!(plain_smtp_address("smtp://mail.example/"), Some(("mail.example".into(), 25)));
        assert_eq!(plain_smtp_address("smtp://[::1]:1025"), Some(("::1".into(), 1025)));
        assert_eq!(plain_smtp_address("smtp://user:pw@mail.example:25"), None);
        assert_eq!(plain_smtp_address("smtp://mail.example:25?tls=required"), None);
        assert_eq!(plain_smtp_address("smtps://mail.example:465"), None);
        assert_eq!(plain_smtp_address("smtp://mail.example:port"), None);
        assert_eq!(plain_smtp_address("smtp://"), None);
    }
}
