//! Private plumbing shared by the fake peers (git over HTTP, cargo registry, kube API):
//! an axum router served on 127.0.0.1 (ephemeral port), over plain HTTP or HTTPS with a
//! throw-away CA, from a background thread that owns its own tokio runtime, stopped when the
//! handle is dropped.

use std::future::IntoFuture as _;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a dropped server waits for in-flight requests (and the processes they spawned)
/// before it cancels them. Only matters when a test drops a server mid-request.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

// Every accepted socket gets TCP_NODELAY: without it, a response written in several pieces
// (headers, then a streamed body) waits for the client's delayed ACK, about 40 ms per request.

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A throw-away certificate authority and a server certificate it signed for `127.0.0.1`,
/// `::1` and `localhost`. Clients trust the CA's PEM (`GIT_SSL_CAINFO`, cargo's
/// `http.cainfo`, a kubeconfig's `certificate-authority-data`).
pub(crate) struct TlsIdentity {
    ca_pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("ca_pem", &self.ca_pem)
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Generates a fresh CA and server certificate (ECDSA P-256).
    pub(crate) fn generate() -> io::Result<Self> {
        let fail =
            |e: rcgen::Error| io::Error::other(format!("generating a test certificate: {e}"));
        let mut ca_params = rcgen::CertificateParams::new(Vec::new()).map_err(fail)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "keyhelm-testkit CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_key = rcgen::KeyPair::generate().map_err(fail)?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(fail)?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let mut params = rcgen::CertificateParams::new(vec![
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ])
        .map_err(fail)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "127.0.0.1");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().map_err(fail)?;
        let cert = params.signed_by(&key, &issuer).map_err(fail)?;

        let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(io::Error::other)?;
        // axum serves HTTP/1.1 only (no "http2" feature).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            ca_pem: ca_cert.pem(),
            config: Arc::new(config),
        })
    }

    /// The CA certificate (PEM) that clients must trust.
    pub(crate) fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

/// Accepts TCP connections and completes TLS handshakes in their own tasks, so a client that
/// stalls mid-handshake does not block the others.
struct TlsListener {
    addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    fn spawn(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(16);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    // A failed handshake (e.g. a client that does not trust the CA) just
                    // drops the connection; the client reports the TLS error.
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                    {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        Ok(Self { addr, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The acceptor task never ends while the runtime runs.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// A running HTTP(S) server. Dropping it stops the server and joins its thread.
pub(crate) struct PeerServer {
    addr: SocketAddr,
    tls: bool,
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
    /// `router` on a thread named `testkit-<name>`, over TLS when `tls` is given.
    pub(crate) fn start(name: &str, router: Router, tls: Option<&TlsIdentity>) -> io::Result<Self> {
        let tls_config = tls.map(|identity| Arc::clone(&identity.config));
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
                    // Cannot fail with a freshly bound non-blocking listener inside a
                    // runtime; if it did, the server would never answer and the client's
                    // error would name the address.
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    match tls_config {
                        None => {
                            let listener = listener.tap_io(|tcp| {
                                let _ = tcp.set_nodelay(true);
                            });
                            let serve = axum::serve(listener, router).into_future();
                            tokio::select! {
                                _ = serve => {}
                                _ = stop => {}
                            }
                        }
                        Some(config) => {
                            let Ok(listener) = TlsListener::spawn(listener, config) else {
                                return;
                            };
                            let serve = axum::serve(listener, router).into_future();
                            tokio::select! {
                                _ = serve => {}
                                _ = stop => {}
                            }
                        }
                    }
                });
                // Cancels connection tasks; child processes spawned with kill_on_drop die.
                runtime.shutdown_timeout(SHUTDOWN_GRACE);
            })?;
        Ok(Self {
            addr,
            tls: tls.is_some(),
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT` (no trailing slash).
    pub(crate) fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
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

/// Runs a test's credential validator on tokio's blocking pool: a validator may block (for
/// example, ask a fake provider over blocking HTTP) without stalling the server. A validator
/// that panics counts as a refusal.
pub(crate) async fn validate(check: impl FnOnce() -> bool + Send + 'static) -> bool {
    tokio::task::spawn_blocking(check).await.unwrap_or(false)
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
        let server = PeerServer::start("ping", router, None).unwrap();
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
        let server = PeerServer::start("keepalive", router, None).unwrap();
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        write!(stream, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0);
        // The connection stays open (keep-alive); dropping the server must still return.
        drop(server);
    }
}
