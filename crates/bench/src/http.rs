//! A minimal HTTP/1.1 keep-alive client on one TCP connection.
//!
//! Why not reqwest: it would turn on hyper's client side, and the release
//! build would then rebuild hyper, axum and everything above them; and on
//! two cores a lighter client leaves more of the machine to the server.
//! Pricegate answers with `Content-Length`; anything else is an error here.

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Conn {
    addr: String,
    stream: Option<BufReader<TcpStream>>,
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Conn {
    /// `base` is `http://host:port`.
    pub fn new(base: &str) -> Conn {
        Conn { addr: base.trim_start_matches("http://").trim_end_matches('/').to_owned(), stream: None }
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        json: Option<&str>,
    ) -> anyhow::Result<Response> {
        let result = self.try_request(method, path, token, json).await;
        if result.is_err() {
            // The next request starts on a fresh connection.
            self.stream = None;
        }
        result
    }

    async fn try_request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        json: Option<&str>,
    ) -> anyhow::Result<Response> {
        if self.stream.is_none() {
            let tcp = TcpStream::connect(&self.addr).await.with_context(|| format!("connecting to {}", self.addr))?;
            tcp.set_nodelay(true)?;
            self.stream = Some(BufReader::new(tcp));
        }
        let stream = self.stream.as_mut().context("no connection")?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = json.unwrap_or("");
        if json.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        head.push_str(body);
        stream.get_mut().write_all(head.as_bytes()).await?;

        let mut line = String::new();
        stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let mut length = None;
        let mut close = false;
        loop {
            line.clear();
            anyhow::ensure!(stream.read_line(&mut line).await? > 0, "connection closed in the headers");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                if name == "content-length" {
                    length = Some(value.parse::<usize>()?);
                } else if name == "connection" && value.eq_ignore_ascii_case("close") {
                    close = true;
                } else if name == "transfer-encoding" {
                    anyhow::bail!("transfer-encoding {value} is not supported by this client");
                }
            }
        }
        let mut body = vec![0; length.context("response without content-length")?];
        stream.read_exact(&mut body).await?;
        if close {
            self.stream = None;
        }
        Ok(Response { status, body })
    }
}
