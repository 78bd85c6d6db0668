//! The accept loop: what `axum::serve` does (HTTP/1.1, each connection its
//! own task, a graceful shutdown that lets requests in flight finish), with
//! the HTTP parser's limits set so that Pricegate's own answer first (see
//! `pricegate_web::limits`): hyper refuses what exceeds its limits with a
//! bare status, and `axum::serve` has no way to set them.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use pricegate_web::TrustedProxies;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// Serves `app` on `listener` until `shutdown` completes, then stops
/// accepting, lets each connection finish the request it is serving, and
/// returns once every connection has closed: one still busy `stop_grace`
/// after the stop (a client that stopped reading a long download, or one
/// still sending its request's headers) is closed then, so that no client
/// keeps the server from stopping. (A request is answered within
/// `PRICEGATE_REQUEST_TIMEOUT`, which is what the caller gives.)
///
/// A connection whose next request's headers have not all arrived within
/// `header_timeout` (`PRICEGATE_IDLE_TIMEOUT`) is closed, whether its
/// client stalled partway or sent nothing since its last answer (hyper
/// times both alike): nobody holds a connection, or a thousand, by sending
/// a byte now and then. Once the headers are in, `PRICEGATE_REQUEST_TIMEOUT`
/// answers 503. Nor does one client hold thousands at once, all stalled:
/// past `limit`'s number from one address, a new connection is closed as it
/// is accepted, and the others' are served.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    stop_grace: Duration,
    limit: ConnectionLimit,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Dropped when `shutdown` completes: `closed()` then resolves, here and
    // in every connection's task.
    let (signal, signalled) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signalled);
    });
    // Each connection's task holds a receiver: `closed()` resolves once all are gone.
    let (open, still_open) = watch::channel(());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_headers(pricegate_web::limits::PARSER_MAX_HEADERS)
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = accept(&listener) => accepted,
            () = signal.closed() => break,
        };
        let Some(admitted) = limit.admit(peer.ip()) else { continue };
        // Answers go out as they are written: with Nagle's algorithm on, an
        // answer written in more than one piece can wait for the client's
        // delayed acknowledgement (40 ms on Linux) before its last piece.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY on an accepted connection");
        }
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let still_open = still_open.clone();
        let signal = signal.clone();
        let served = http.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let mut served = std::pin::pin!(served);
            let mut given_up_at: Option<tokio::time::Instant> = None;
            loop {
                let give_up = tokio::time::sleep_until(given_up_at.unwrap_or_else(tokio::time::Instant::now));
                tokio::select! {
                    result = served.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%error, %peer, "connection ended with an error");
                        }
                        break;
                    }
                    () = signal.closed(), if given_up_at.is_none() => {
                        given_up_at = Some(tokio::time::Instant::now() + stop_grace);
                        served.as_mut().graceful_shutdown();
                    }
                    () = give_up, if given_up_at.is_some() => {
                        tracing::info!(%peer, "closing a connection still busy as the server stops");
                        break;
                    }
                }
            }
            drop(still_open);
            drop(admitted);
        });
    }
    drop(still_open);
    drop(listener);
    let connections = open.receiver_count();
    if connections > 0 {
        tracing::info!(connections, at_most = ?stop_grace, "no longer accepting connections; waiting for those still open");
    }
    open.closed().await;
}

/// The next connection. Errors of one connection (reset before it was
/// accepted) are skipped; others (out of file descriptors) are logged and
/// retried after a second, as `axum::serve` does, rather than ending the server.
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                tracing::error!(%error, "cannot accept connections; trying again in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// How many connections each client address holds open, and how many it may.
pub(crate) struct ConnectionLimit {
    per_address: usize,
    /// Reverse proxies: every client's connections come from them.
    exempt: Arc<TrustedProxies>,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// When a refusal was last logged: at most one a minute is.
    logged: Mutex<Option<Instant>>,
}

impl ConnectionLimit {
    pub(crate) fn new(per_address: usize, exempt: Arc<TrustedProxies>) -> ConnectionLimit {
        ConnectionLimit { per_address, exempt, open: Arc::default(), logged: Mutex::default() }
    }

    /// Counts a connection from `peer` while the returned value lives, or
    /// `None` when its address holds as many as it may already.
    fn admit(&self, peer: IpAddr) -> Option<Admitted> {
        if self.exempt.trusts(peer) {
            return Some(Admitted { open: None, address: peer });
        }
        let address = address_block(peer);
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(address).or_default();
        if *count >= self.per_address {
            drop(open);
            let mut logged = self.logged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                *logged = Some(Instant::now());
                tracing::warn!(
                    %address,
                    limit = self.per_address,
                    "a client address holds as many connections as PRICEGATE_CONNECTIONS_PER_ADDRESS allows; \
                     closing its new ones (logged once a minute)"
                );
            }
            return None;
        }
        *count += 1;
        Some(Admitted { open: Some(self.open.clone()), address })
    }
}

/// One admitted connection, counted until it is dropped.
struct Admitted {
    open: Option<Arc<Mutex<HashMap<IpAddr, usize>>>>,
    address: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let Some(open) = &self.open else { return };
        let mut open = open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// A client's address as connections count it: an IPv6 one by its /64
/// (one subscriber's block), an IPv4 one written as IPv6 as itself.
fn address_block(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_holds_at_most_its_number_and_a_closed_one_frees_a_place() {
        let limit = ConnectionLimit::new(2, Arc::new(TrustedProxies::parse("10.0.0.1").unwrap()));
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let (a, b) = (limit.admit(one).unwrap(), limit.admit(one).unwrap());
        assert!(limit.admit(one).is_none());
        assert!(limit.admit("192.0.2.2".parse().unwrap()).is_some(), "another address");
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        let (_c, _d) = (limit.admit(v6("2001:db8::1")).unwrap(), limit.admit(v6("2001:db8::2")).unwrap());
        assert!(limit.admit(v6("2001:db8::ffff")).is_none(), "one /64");
        let proxied: Vec<_> = (0..5).map(|_| limit.admit(v6("10.0.0.1")).expect("a trusted proxy")).collect();
        drop(a);
        let _e = limit.admit(one).expect("a place freed");
        drop((b, proxied));
        assert!(limit.open.lock().unwrap().get(&"10.0.0.1".parse().unwrap()).is_none());
    }
}
