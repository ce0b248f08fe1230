//! The accept loop under the router: a cap on open connections, hyper's header read timeout,
//! and a graceful shutdown bounded by a grace period.
//!
//! hyper starts its header read timer whenever a connection waits for a request, so the same
//! timeout closes a client that sends half a header and a kept-alive connection that sits idle.
//! At the connection cap the loop stops accepting (new clients wait in the kernel's backlog)
//! and says so once on stderr, until a connection closes.

use crate::metrics::Metrics;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower_service::Service;

/// Bounds on connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most; at the cap new ones wait to be accepted.
    pub max_connections: usize,
    /// Time a connection may take to send a request's header, counted from when it starts
    /// waiting for one (so also the idle keep-alive time).
    pub header_timeout: Duration,
    /// At shutdown, time given to requests in progress; then the rest are closed.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Counts a connection as open until dropped (also when its task is aborted).
struct Open {
    metrics: Metrics,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.metrics.open_connections.dec();
    }
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets the
/// requests in progress finish for up to the grace period, closes what is left and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut tasks = JoinSet::new();
    let mut last_cap_log: Option<tokio::time::Instant> = None;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    loop {
        while tasks.try_join_next().is_some() {}
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // Once per 10 s at most, however often the cap is touched.
                if last_cap_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    last_cap_log = Some(tokio::time::Instant::now());
                    eprintln!(
                        "rumprops: connection limit reached ({} open, --max-connections): new connections wait until one closes",
                        limits.max_connections
                    );
                }
                tokio::select! {
                    p = Arc::clone(&slots).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: say so, give it a moment, go on.
                    eprintln!("rumprops: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        metrics.open_connections.inc();
        let open = Open { metrics: metrics.clone(), _permit: permit };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut router = router.clone();
            async move { router.call(req).await }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tasks.spawn(async move {
            if let Err(e) = conn.await {
                if e.is_timeout() {
                    open.metrics.connections_cut.with_label_values(&["header_timeout"]).inc();
                }
            }
            drop(open);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            let left = tasks.len();
            if left > 0 {
                eprintln!("rumprops: shutdown grace period over: closing {left} connection(s)");
                metrics.connections_cut.with_label_values(&["shutdown"]).inc_by(left as u64);
            }
            tasks.abort_all();
        }
    }
    while tasks.join_next().await.is_some() {}
}
