//! The accept loop: what `axum::serve` does (HTTP/1.1, each connection its
//! own task, a graceful shutdown that lets requests in flight finish), with
//! the HTTP parser's limits set so that Pricegate's own answer first (see
//! `pricegate_web::limits`): hyper refuses what exceeds its limits with a
//! bare status, and `axum::serve` has no way to set them.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// Serves `app` on `listener` until `shutdown` completes, then stops
/// accepting, lets each connection finish the request it is serving, and
/// returns once every connection has closed.
///
/// A connection whose next request's headers have not all arrived within
/// `header_timeout` (`PRICEGATE_IDLE_TIMEOUT`) is closed, whether its
/// client stalled partway or sent nothing since its last answer (hyper
/// times both alike): nobody holds a connection, or a thousand, by sending
/// a byte now and then. Once the headers are in, `PRICEGATE_REQUEST_TIMEOUT`
/// answers 503.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
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
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = served.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%error, %peer, "connection ended with an error");
                        }
                        break;
                    }
                    () = signal.closed(), if !stopping => {
                        stopping = true;
                        served.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(still_open);
        });
    }
    drop(still_open);
    drop(listener);
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
