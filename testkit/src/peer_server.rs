//! Private plumbing shared by the fake peers (git over HTTP, cargo registry, kube API):
//! an axum router served on 127.0.0.1 (ephemeral port) from a background thread that owns
//! its own tokio runtime, stopped when the handle is dropped.

use std::future::IntoFuture as _;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use tokio::sync::oneshot;

/// How long a dropped server waits for in-flight requests (and the processes they spawned)
/// before it cancels them. Only matters when a test drops a server mid-request.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running HTTP server. Dropping it stops the server and joins its thread.
pub(crate) struct PeerServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PeerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl PeerServer {
    /// Binds 127.0.0.1:0 synchronously (so a bind error reaches the caller), then serves
    /// `router` on a thread named `testkit-<name>`.
    pub(crate) fn start(name: &str, router: Router) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("testkit-{name}-rt"))
            .enable_all()
            .build()?;
        let (shutdown, stop) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("testkit-{name}"))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        // Cannot happen with a freshly bound non-blocking listener inside a
                        // runtime; if it does, the server simply never answers and the
                        // client's error names the address.
                        Err(_) => return,
                    };
                    let serve = axum::serve(listener, router).into_future();
                    tokio::select! {
                        _ = serve => {}
                        _ = stop => {}
                    }
                });
                // Cancels connection tasks; child processes spawned with kill_on_drop die.
                runtime.shutdown_timeout(SHUTDOWN_GRACE);
            })?;
        Ok(Self {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Locks a mutex, ignoring poisoning: a panicking test thread must not hide the records the
/// next assertion wants to read.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, path: &str) -> io::Result<String> {
        let mut stream = std::net::TcpStream::connect(addr)?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut out = String::new();
        stream.read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn serves_on_loopback_and_stops_on_drop() {
        let router = Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
        let server = PeerServer::start("ping", router).unwrap();
        let addr = server.addr();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
        assert_eq!(
            server.base_url(),
            format!("http://127.0.0.1:{}", addr.port())
        );
        let answer = get(addr, "/ping").unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("pong"), "{answer}");
        drop(server);
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "server still listening after drop"
        );
    }

    #[test]
    fn drop_does_not_wait_for_idle_keep_alive_connections() {
        let router = Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
        let server = PeerServer::start("keepalive", router).unwrap();
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        write!(stream, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0);
        // The connection stays open (keep-alive); dropping the server must still return.
        drop(server);
    }
}
