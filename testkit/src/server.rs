//! Shared plumbing for every fake server: the provider fakes (Intralinks, Clinked,
//! Intellivoid) and the fake peers (git over HTTP, a cargo registry, a Kubernetes API).
//!
//! * [`ServerHandle`] runs an axum [`Router`] on `127.0.0.1` with an ephemeral
//!   port, over plain HTTP or (for the peers) HTTPS with a throw-away CA, in a
//!   background thread with its own tokio runtime, so synchronous tests can use
//!   it. Dropping the handle stops the server and joins the thread.
//! * [`Incoming`] is one request read completely: query pairs, form pairs
//!   (`application/x-www-form-urlencoded` or `multipart/form-data`), a JSON
//!   body, headers and the peer address. Each fake decides which source wins.
//! * [`RequestLog`] / [`LoggedRequest`] record what each request looked like
//!   (which parameter came from the query, which from the form, which headers
//!   were present) for assertions. Parameter values are kept for assertions
//!   but `Debug` prints `REDACTED` for every parameter that is not on a short
//!   list of public names, and the `Authorization` header is reduced to its
//!   scheme, so a printed log never shows a secret. [`Records`] is the same
//!   append-only list for the peers' own record types.
//! * [`TokenPolicy`]: which tokens a peer accepts, checked off the server's
//!   async threads (a check may block, e.g. ask a fake provider over HTTP).
//! * Small helpers: random hex tokens, UUIDs, JSON responses.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use keyhelm_testkit::server::ServerHandle;
//!
//! let server = ServerHandle::start(Router::new().route("/", get(|| async { "hi" })))
//!     .expect("start server");
//! let url = server.url(); // "http://127.0.0.1:<port>"
//! # let _ = url;
//! drop(server); // stops it
//! ```

mod tls;

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{FromRequest, Multipart, Request};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener, ListenerExt as _};
use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

pub(crate) use tls::TlsIdentity;

/// How long a stopping server waits for requests still in flight (and, after that, for
/// blocking work such as a credential check) before it drops them. Only matters when a test
/// drops a server mid-request.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Largest request body a fake reads; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A running server; dropping it stops the server.
pub struct ServerHandle {
    addr: SocketAddr,
    tls: bool,
    stop: Option<watch::Sender<bool>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// Serves `router` on `127.0.0.1:<ephemeral port>` over plain HTTP.
    ///
    /// Handlers can extract `ConnectInfo<SocketAddr>` (the peer address).
    pub fn start(router: Router) -> io::Result<Self> {
        Self::start_with(|_| router)
    }

    /// Like [`ServerHandle::start`], for routers that need to know their own
    /// address (to build absolute URLs): `make_router` receives it.
    pub fn start_with(make_router: impl FnOnce(SocketAddr) -> Router) -> io::Result<Self> {
        Self::start_named("server", None, make_router)
    }

    /// Binds `127.0.0.1:0` synchronously (so a bind error reaches the caller), then serves
    /// the router on a thread named `testkit-<name>`, over TLS when `tls` is given. Every
    /// accepted socket gets `TCP_NODELAY`: without it, a response written in several pieces
    /// (headers, then a streamed body) waits for the client's delayed ACK, about 40 ms.
    pub(crate) fn start_named(
        name: &str,
        tls: Option<&TlsIdentity>,
        make_router: impl FnOnce(SocketAddr) -> Router,
    ) -> io::Result<Self> {
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let router = make_router(addr);
        let tls_config = tls.map(TlsIdentity::config);

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("testkit-{name}-rt"))
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            let tcp = tokio::net::TcpListener::from_std(std_listener)?;
            match tls_config {
                Some(config) => Bound::Tls(tls::TlsListener::spawn(tcp, config)?),
                None => Bound::Plain(tcp),
            }
        };
        let (stop_tx, stop_rx) = watch::channel(false);

        let thread = thread::Builder::new()
            .name(format!("testkit-{name}"))
            .spawn(move || {
                match listener {
                    Bound::Tls(tls) => runtime.block_on(serve(tls.tap_io(|_| {}), router, stop_rx)),
                    Bound::Plain(tcp) => runtime.block_on(serve(
                        tcp.tap_io(|tcp| {
                            let _ = tcp.set_nodelay(true);
                        }),
                        router,
                        stop_rx,
                    )),
                }
                // Cancels the connection tasks that outlived the grace period (child
                // processes spawned with kill_on_drop die with them).
                runtime.shutdown_timeout(SHUTDOWN_GRACE);
            })?;

        Ok(Self {
            addr,
            tls: tls.is_some(),
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, or `https://` with TLS (no trailing slash).
    pub fn url(&self) -> String {
        base_url(self.addr, self.tls)
    }
}

/// A bound listener, before serving.
enum Bound {
    Plain(tokio::net::TcpListener),
    Tls(tls::TlsListener),
}

/// `http://<addr>` or `https://<addr>`.
fn base_url(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

/// Serves until `stop` turns true, then lets requests in flight finish for
/// [`SHUTDOWN_GRACE`].
async fn serve<L>(listener: L, router: Router, stop: watch::Receiver<bool>)
where
    L: Listener<Addr = SocketAddr>,
    for<'a> SocketAddr: Connected<IncomingStream<'a, L>>,
{
    let mut graceful = stop.clone();
    let mut hard = stop;
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        // An error means the sender is gone, which also means "stop".
        let _stopped = graceful.wait_for(|stop| *stop).await;
    });
    let deadline = async move {
        let _stopped = hard.wait_for(|stop| *stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        _result = server => {}
        () = deadline => {}
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // Fails only if the server task is already gone.
            let _sent = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            // A panic in the server thread has already been reported by the
            // panic hook; don't panic again while dropping.
            let _joined = thread.join();
        }
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// A fake's server and state
// ---------------------------------------------------------------------------

/// A server whose handler shares `state` (behind an `Arc`) with the test: what every fake
/// is made of. With TLS it also keeps the CA its certificate was signed with.
pub(crate) struct Served<S> {
    server: ServerHandle,
    tls: Option<TlsIdentity>,
    state: Arc<S>,
}

impl<S: Send + Sync + 'static> Served<S> {
    /// Starts `handler` as the fallback of a router with state `make_state(base_url)`, on a
    /// thread named `testkit-<name>`; `tls` serves HTTPS with a fresh CA.
    pub(crate) fn start<H, T>(
        name: &str,
        tls: bool,
        make_state: impl FnOnce(String) -> S,
        handler: H,
    ) -> io::Result<Self>
    where
        H: Handler<T, Arc<S>>,
        T: 'static,
    {
        let tls = tls.then(TlsIdentity::generate).transpose()?;
        let mut state_out = None;
        let server = ServerHandle::start_named(name, tls.as_ref(), |addr| {
            let state = Arc::new(make_state(base_url(addr, tls.is_some())));
            state_out = Some(Arc::clone(&state));
            Router::new().fallback(handler).with_state(state)
        })?;
        let state =
            state_out.ok_or_else(|| io::Error::other("the router builder was not called"))?;
        Ok(Self { server, tls, state })
    }

    /// `http://127.0.0.1:PORT`, or `https://` with TLS (no trailing slash).
    pub(crate) fn url(&self) -> String {
        self.server.url()
    }

    /// The server's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// With TLS: the PEM of the CA that signed the server's certificate.
    pub(crate) fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(TlsIdentity::ca_pem)
    }

    /// The state the handler sees.
    pub(crate) fn state(&self) -> &S {
        &self.state
    }
}

impl<S> fmt::Debug for Served<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Served")
            .field("url", &self.server.url())
            .finish_non_exhaustive()
    }
}

/// Locks a mutex, recovering from poisoning: a fake's state stays usable after
/// a panicking test thread so that later assertions still report clearly.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------
// Credential checks
// ---------------------------------------------------------------------------

/// A test's credential check. It runs on tokio's blocking pool: a check may block (for
/// example, ask a fake provider over blocking HTTP) without stalling the server. A check
/// that panics counts as a refusal.
pub(crate) struct Validator<T: ?Sized>(Arc<dyn Fn(&T) -> bool + Send + Sync>);

impl<T: ?Sized> Clone for Validator<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: ?Sized + ToOwned + 'static> Validator<T>
where
    T::Owned: Send + 'static,
{
    pub(crate) fn new(check: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(check))
    }

    /// Whether the check accepts `value`.
    pub(crate) async fn accepts(&self, value: T::Owned) -> bool {
        let check = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || check(value.borrow()))
            .await
            .unwrap_or(false)
    }
}

/// Which tokens a fake peer (the cargo registry, the kube API) accepts: a check of the
/// token as the client sent it (cargo: the whole `Authorization` value; kube: what follows
/// `Bearer `). `Debug` shows nothing of it.
#[derive(Clone)]
pub struct TokenPolicy {
    check: Validator<str>,
}

impl fmt::Debug for TokenPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenPolicy(..)")
    }
}

impl TokenPolicy {
    /// Accepts exactly this token.
    pub fn token(token: impl Into<String>) -> Self {
        let token = token.into();
        Self::validator(move |seen| seen == token)
    }

    /// Accepts whatever `check` accepts (called once per request, on tokio's blocking pool,
    /// so it may block; a panic counts as a refusal).
    pub fn validator(check: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self {
            check: Validator::new(check),
        }
    }

    pub(crate) async fn accepts(&self, token: &str) -> bool {
        self.check.accepts(token.to_owned()).await
    }
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

/// A shared, append-only list of what a fake saw, for assertions.
#[derive(Debug)]
pub struct Records<T> {
    entries: Arc<Mutex<Vec<T>>>,
}

impl<T> Default for Records<T> {
    fn default() -> Self {
        Self {
            entries: Arc::default(),
        }
    }
}

impl<T> Clone for Records<T> {
    fn clone(&self) -> Self {
        Self {
            entries: Arc::clone(&self.entries),
        }
    }
}

impl<T: Clone> Records<T> {
    /// Appends one entry.
    pub fn push(&self, entry: T) {
        lock(&self.entries).push(entry);
    }

    /// Every entry so far, oldest first.
    pub fn all(&self) -> Vec<T> {
        lock(&self.entries).clone()
    }

    /// How many entries satisfy `test`.
    pub fn count_where(&self, test: impl Fn(&T) -> bool) -> usize {
        lock(&self.entries).iter().filter(|e| test(e)).count()
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        lock(&self.entries).clear();
    }
}

// ---------------------------------------------------------------------------
// Incoming requests
// ---------------------------------------------------------------------------

/// Where a request parameter came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamSource {
    /// The URL query string.
    Query,
    /// An `application/x-www-form-urlencoded` body.
    Form,
    /// A `multipart/form-data` body (text fields).
    Multipart,
    /// A top-level key of a JSON object body (the value is its JSON text,
    /// or the bare string for JSON strings).
    Json,
}

/// The kind of body a request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body bytes.
    Empty,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data`.
    Multipart,
    /// A body that parsed as JSON (whatever the content type said).
    Json,
    /// Anything else (including a malformed form or JSON body).
    Other,
}

/// One request, read completely.
pub struct Incoming {
    /// The HTTP method.
    pub method: Method,
    /// The path, without the query string.
    pub path: String,
    /// All request headers.
    pub headers: HeaderMap,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// Decoded form pairs (urlencoded or multipart text fields), in order.
    pub form: Vec<(String, String)>,
    /// The JSON body, when the body parsed as JSON.
    pub json: Option<serde_json::Value>,
    /// What the body was.
    pub body_kind: BodyKind,
}

/// Why a request could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The body was larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// The body could not be read from the connection.
    Broken,
}

impl ReadError {
    /// A plain-text response for this error.
    pub fn into_response(self) -> Response {
        match self {
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"),
            Self::Broken => (StatusCode::BAD_REQUEST, "request body could not be read\n"),
        }
        .into_response()
    }
}

impl Incoming {
    /// Reads the whole request (body up to [`MAX_BODY_BYTES`]).
    pub async fn read(req: Request, peer: SocketAddr) -> Result<Self, ReadError> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|error| {
                if std::error::Error::source(&error)
                    .is_some_and(|s| s.to_string().contains("length limit"))
                    || error.to_string().contains("length limit")
                {
                    ReadError::TooLarge
                } else {
                    ReadError::Broken
                }
            })?;
        let query = parts
            .uri
            .query()
            .map(|q| decode_pairs(q.as_bytes()))
            .unwrap_or_default();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.to_ascii_lowercase())
            .unwrap_or_default();

        let mut form = Vec::new();
        let mut json = None;
        let body_kind = if bytes.is_empty() {
            BodyKind::Empty
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            form = decode_pairs(&bytes);
            BodyKind::Form
        } else if content_type.starts_with("multipart/form-data") {
            match read_multipart(&parts.headers, bytes.clone()).await {
                Some(fields) => {
                    form = fields;
                    BodyKind::Multipart
                }
                None => BodyKind::Other,
            }
        } else if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            json = Some(value);
            BodyKind::Json
        } else {
            BodyKind::Other
        };

        Ok(Self {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            headers: parts.headers,
            peer,
            query,
            form,
            json,
            body_kind,
        })
    }

    /// The first query parameter called `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    /// The first form (urlencoded or multipart) parameter called `name`.
    pub fn form_param(&self, name: &str) -> Option<&str> {
        first(&self.form, name)
    }

    /// `name` from the form, else from the query (the body overrides, as in
    /// PHP's `array_merge($_GET, $_POST)`).
    pub fn param_form_first(&self, name: &str) -> Option<&str> {
        self.form_param(name).or_else(|| self.query_param(name))
    }

    /// `name` from the query, else from the form (as in a servlet's
    /// `getParameter`, which lists query values first).
    pub fn param_query_first(&self, name: &str) -> Option<&str> {
        self.query_param(name).or_else(|| self.form_param(name))
    }

    /// A header as text (None when absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Authorization: Basic` user and password, if present and well formed.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        let value = self.header("authorization")?;
        let (scheme, rest) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some((user.to_owned(), password.to_owned()))
    }

    /// A summary of this request for the log; values of non-public
    /// parameters are kept but never printed by `Debug`.
    pub fn to_log(&self, route: &str, status: StatusCode) -> LoggedRequest {
        let mut params = Vec::new();
        for (name, value) in &self.query {
            params.push(Param::new(name, ParamSource::Query, value));
        }
        let form_source = if self.body_kind == BodyKind::Multipart {
            ParamSource::Multipart
        } else {
            ParamSource::Form
        };
        for (name, value) in &self.form {
            params.push(Param::new(name, form_source, value));
        }
        if let Some(serde_json::Value::Object(map)) = &self.json {
            for (name, value) in map {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                params.push(Param::new(name, ParamSource::Json, &text));
            }
        }
        let authorization = self.header("authorization").map(|v| {
            let scheme = v.split(' ').next().unwrap_or_default();
            AuthScheme::from_scheme(scheme)
        });
        LoggedRequest {
            route: route.to_owned(),
            method: self.method.to_string(),
            path: self.path.clone(),
            params,
            body: self.body_kind,
            content_type: self.header("content-type").map(str::to_owned),
            user_agent: self.header("user-agent").map(str::to_owned),
            authorization,
            status: status.as_u16(),
        }
    }
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: show names only.
        let names = |pairs: &[(String, String)]| -> Vec<String> {
            pairs.iter().map(|(n, _)| n.clone()).collect()
        };
        f.debug_struct("Incoming")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &names(&self.query))
            .field("form", &names(&self.form))
            .field("body_kind", &self.body_kind)
            .finish_non_exhaustive()
    }
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn decode_pairs(input: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(input)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The text fields of a multipart body; None if it is malformed.
async fn read_multipart(headers: &HeaderMap, bytes: Bytes) -> Option<Vec<(String, String)>> {
    let mut builder = Request::builder();
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    let request = builder.body(Body::from(bytes)).ok()?;
    let mut multipart = Multipart::from_request(request, &()).await.ok()?;
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await.ok()? {
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        if let Ok(text) = field.text().await {
            fields.push((name, text));
        }
    }
    Some(fields)
}

// ---------------------------------------------------------------------------
// Request log
// ---------------------------------------------------------------------------

/// Parameter names whose values are printed by `Debug`; every other value
/// prints as `REDACTED`.
const PUBLIC_PARAMS: &[&str] = &[
    "action",
    "addUserRight",
    "appVersion",
    "application_id",
    "brandId",
    "bundleId",
    "clientId",
    "client_id",
    "description",
    "deviceModel",
    "deviceOs",
    "deviceType",
    "email",
    "endOtherSessions",
    "expand_ui",
    "fake_user",
    "grant",
    "grant_type",
    "id",
    "name",
    "page",
    "pageSize",
    "phase",
    "platform",
    "redirect",
    "require_close",
    "scope",
    "secured",
    "size",
    "state",
    "status",
    "userId",
    "username",
];

/// One request parameter as the fake received it.
#[derive(Clone, PartialEq, Eq)]
pub struct Param {
    /// The parameter name.
    pub name: String,
    /// Where it came from.
    pub source: ParamSource,
    value: String,
}

impl Param {
    fn new(name: &str, source: ParamSource, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            source,
            value: value.to_owned(),
        }
    }

    /// The value (may be a secret: assert on it, never print it).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether `Debug` hides this value.
    pub fn is_redacted(&self) -> bool {
        !PUBLIC_PARAMS.contains(&self.name.as_str())
    }
}

impl fmt::Debug for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Param");
        s.field("name", &self.name).field("source", &self.source);
        if self.is_redacted() {
            s.field("value", &"REDACTED");
        } else {
            s.field("value", &self.value);
        }
        s.finish()
    }
}

/// The scheme of an `Authorization` header (the credentials are not kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Bearer …` (any letter case).
    Bearer,
    /// `Basic …` (any letter case).
    Basic,
    /// Some other scheme word, as sent.
    Other(String),
}

impl AuthScheme {
    fn from_scheme(scheme: &str) -> Self {
        if scheme.eq_ignore_ascii_case("bearer") {
            Self::Bearer
        } else if scheme.eq_ignore_ascii_case("basic") {
            Self::Basic
        } else {
            Self::Other(scheme.to_owned())
        }
    }
}

/// What one request looked like; see the module documentation.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    /// The route it matched, as documented by the fake (e.g.
    /// `/v2/oauth/token`, `/v3/accounts/{id}/groups`), or `(unmatched)`.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The path without the query string (the query can carry secrets).
    pub path: String,
    /// Every parameter from the query, the form and a JSON object body.
    pub params: Vec<Param>,
    /// The kind of body.
    pub body: BodyKind,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The scheme of the `Authorization` header, if one was sent.
    pub authorization: Option<AuthScheme>,
    /// The status the fake answered with.
    pub status: u16,
}

impl LoggedRequest {
    /// The first parameter called `name`, from any source.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Whether `name` was in the query string.
    pub fn in_query(&self, name: &str) -> bool {
        self.has(name, |s| s == ParamSource::Query)
    }

    /// Whether `name` was in a form body (urlencoded or multipart).
    pub fn in_form(&self, name: &str) -> bool {
        self.has(name, |s| {
            matches!(s, ParamSource::Form | ParamSource::Multipart)
        })
    }

    /// Whether `name` was a key of a JSON object body.
    pub fn in_json(&self, name: &str) -> bool {
        self.has(name, |s| s == ParamSource::Json)
    }

    fn has(&self, name: &str, source: impl Fn(ParamSource) -> bool) -> bool {
        self.params
            .iter()
            .any(|p| p.name == name && source(p.source))
    }

    /// Whether a (non-empty) `User-Agent` header was sent.
    pub fn has_user_agent(&self) -> bool {
        self.user_agent.as_deref().is_some_and(|ua| !ua.is_empty())
    }

    /// Whether an `Authorization` header was sent.
    pub fn has_authorization(&self) -> bool {
        self.authorization.is_some()
    }
}

/// The provider fakes' request log.
pub type RequestLog = Records<LoggedRequest>;

impl Records<LoggedRequest> {
    /// The requests that matched `route`, oldest first.
    pub fn for_route(&self, route: &str) -> Vec<LoggedRequest> {
        lock(&self.entries)
            .iter()
            .filter(|e| e.route == route)
            .cloned()
            .collect()
    }

    /// How many requests matched `route`.
    pub fn count(&self, route: &str) -> usize {
        self.count_where(|e| e.route == route)
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

static TOKEN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `chars` random lowercase hex characters (unique within the process and
/// unpredictable enough for tests; not for real secrets).
pub fn random_hex(chars: usize) -> String {
    let mut out = String::with_capacity(chars + 64);
    while out.len() < chars {
        let mut hasher = Sha256::new();
        // RandomState is seeded from the OS once per thread and varies per
        // instance; the counter makes every call distinct.
        let seed = RandomState::new().build_hasher().finish();
        hasher.update(seed.to_le_bytes());
        hasher.update(TOKEN_COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        out.push_str(&hex::encode(hasher.finalize()));
    }
    out.truncate(chars);
    out
}

/// A random version-4 UUID in its usual text form.
pub fn uuid_v4() -> String {
    let h = random_hex(32);
    let variant = ["8", "9", "a", "b"][usize::from(h.as_bytes()[16] % 4)];
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        variant,
        &h[17..20],
        &h[20..32]
    )
}

/// A response with `body` serialized as JSON and the given content type.
pub fn json_with_type(
    status: StatusCode,
    content_type: &'static str,
    body: &serde_json::Value,
) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A response with `body` as `application/json`.
pub fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    json_with_type(status, "application/json", body)
}

/// A `text/html` response.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    response
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attributes.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_hex_has_the_length_and_alphabet() {
        for len in [1, 32, 64, 72, 80] {
            let h = random_hex(len);
            assert_eq!(h.len(), len);
            assert!(
                h.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
        assert_ne!(random_hex(64), random_hex(64));
    }

    #[test]
    fn uuid_has_the_v4_shape() {
        let u = uuid_v4();
        let groups: Vec<&str> = u.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'));
        assert!(matches!(&groups[3][..1], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn param_debug_redacts_unlisted_names() {
        let secret = Param::new("password", ParamSource::Form, "hunter2");
        let public = Param::new("grant_type", ParamSource::Query, "password");
        assert_eq!(secret.value(), "hunter2");
        let printed = format!("{secret:?} {public:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("REDACTED"));
        assert!(
            printed.contains("\"password\""),
            "public value shown: {printed}"
        );
    }

    #[test]
    fn html_escape_escapes_markup() {
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn server_starts_answers_and_stops_on_drop() {
        use axum::routing::get;
        let server = ServerHandle::start(Router::new().route("/ping", get(|| async { "pong" })))
            .expect("start");
        let addr = server.addr();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
        assert_eq!(server.url(), format!("http://127.0.0.1:{}", addr.port()));
        let reply = raw_get(addr, "/ping").expect("an answer");
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.ends_with("pong"), "{reply}");
        drop(server);
        assert_stopped(addr);
    }

    #[test]
    fn drop_does_not_wait_for_idle_keep_alive_connections() {
        use axum::routing::get;
        use std::io::{Read, Write};
        let server = ServerHandle::start(Router::new().route("/ping", get(|| async { "pong" })))
            .expect("start");
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        write!(stream, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0);
        // The connection stays open (keep-alive); dropping the server must still return.
        drop(server);
    }

    #[test]
    fn tls_servers_say_https_and_hand_out_their_ca() {
        let state = Served::start(
            "tls-test",
            true,
            |url| url,
            |axum::extract::State(url): axum::extract::State<Arc<String>>| async move {
                url.to_string()
            },
        )
        .unwrap();
        assert!(
            state.url().starts_with("https://127.0.0.1:"),
            "{}",
            state.url()
        );
        assert_eq!(state.state().as_str(), state.url());
        let pem = state.ca_pem().expect("a CA");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    }

    /// A plain `GET` over a fresh connection.
    fn raw_get(addr: SocketAddr, path: &str) -> io::Result<String> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr)?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut out = String::new();
        stream.read_to_string(&mut out)?;
        Ok(out)
    }

    /// Nothing listens on `addr` any more. A process that another test spawns at the same
    /// moment briefly holds a copy of every open socket (between its fork and its exec), so
    /// a connection may still succeed for a moment: the check polls until it is refused.
    fn assert_stopped(addr: SocketAddr) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "server still listening after drop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
