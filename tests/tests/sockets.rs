//! Both ends of Pricegate's TCP send what they write at once (`TCP_NODELAY`).
//!
//! With Nagle's algorithm on, the second of two writes in a row waits for the
//! peer's delayed acknowledgement, 40 ms on Linux. A finalisation's evidence
//! went to PostgreSQL over TLS as several writes, and a third of
//! finalisations took 40 or 80 ms longer (`scripts/bench`). sqlx 0.9.0 does
//! not set the option; `vendor/sqlx-core` does. This test fails when an
//! upgrade or a removed patch loses it.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use pricegate_tests::{Backend, TestApp};

/// Every TCP socket this process holds whose addresses `pick` accepts, with
/// whether it has `TCP_NODELAY`.
fn tcp_sockets(pick: impl Fn(SocketAddr, SocketAddr) -> bool) -> Vec<(SocketAddr, SocketAddr, bool)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd lists this process's descriptors") {
        let Ok(fd) = entry.expect("a descriptor").file_name().to_string_lossy().parse::<RawFd>() else { continue };
        let is_socket = std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is open (just listed) and only borrowed for
        // the calls below, in this synchronous block; nothing closes it meanwhile.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let (Ok(local), Ok(peer)) = (socket.local_addr(), socket.peer_addr()) else { continue };
        let (Some(local), Some(peer)) = (local.as_socket(), peer.as_socket()) else { continue };
        if pick(local, peer) {
            let nodelay = socket.tcp_nodelay().unwrap_or_else(|e| panic!("TCP_NODELAY of fd {}: {e}", fd.as_raw_fd()));
            found.push((local, peer, nodelay));
        }
    }
    found
}

/// The sockets `pick` accepts that lack `TCP_NODELAY`, looked at twice. A
/// connection the pool is opening at the moment of the first look is
/// connected a moment before its opener sets the option; one without it for
/// good still lacks it 200 ms later.
async fn without_nodelay(pick: impl Fn(SocketAddr, SocketAddr) -> bool) -> Vec<(SocketAddr, SocketAddr, bool)> {
    let first: Vec<_> = tcp_sockets(&pick).into_iter().filter(|(_, _, nodelay)| !nodelay).collect();
    if first.is_empty() {
        return first;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    tcp_sockets(&pick).into_iter().filter(|socket| !socket.2 && first.contains(socket)).collect()
}

#[tokio::test]
async fn connections_to_postgresql_and_from_http_clients_send_without_delay() {
    let app = TestApp::spawn(Backend::Postgres).await;
    // A keep-alive connection the server has accepted, and pooled database connections.
    let client = reqwest::Client::new();
    let answer = client.get(format!("{}/healthz", app.base)).send().await.expect("/healthz answers");
    assert_eq!(answer.status(), 200);
    app.store.ping().await.expect("the database answers");

    let url = reqwest::Url::parse(&app.db.url).expect("the test database's URL parses");
    let port = url.port().unwrap_or(5432);
    let database = tcp_sockets(|_, peer| peer.port() == port);
    assert!(!database.is_empty(), "the store holds no connection to PostgreSQL on port {port}");
    let delayed = without_nodelay(|_, peer| peer.port() == port).await;
    assert!(delayed.is_empty(), "connections to PostgreSQL without TCP_NODELAY: {delayed:?}");

    let accepted = tcp_sockets(|local, _| local == app.address);
    assert!(!accepted.is_empty(), "the server holds no connection accepted on {}", app.address);
    let delayed = without_nodelay(|local, _| local == app.address).await;
    assert!(delayed.is_empty(), "accepted HTTP connections without TCP_NODELAY: {delayed:?}");
    drop(client);
    app.stop().await;
}
