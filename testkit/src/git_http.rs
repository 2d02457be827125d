//! A git smart-HTTP server that demands authentication: the real `git http-backend` run as a
//! CGI behind a small axum front, serving bare repositories from a temporary folder.
//!
//! Clone/fetch (upload-pack) and push (receive-pack) work with the real `git` client. Every
//! request must carry an `Authorization` header accepted by the server's [`GitAuthPolicy`];
//! otherwise it gets `401` with `WWW-Authenticate: Basic realm="keyhelm-test"` (and, when
//! enabled, a `Bearer realm="keyhelm-test"` challenge too). Each request's outcome is
//! recorded for assertions ([`GitHttpServer::requests`], [`GitHttpServer::auth_counts`]).
//!
//! ```no_run
//! use keyhelm_testkit::git_http::{GitAuthPolicy, GitHttpServer};
//! let server = GitHttpServer::with_repo("repo.git", GitAuthPolicy::basic("u", "p"))?;
//! let url = server.repo_url("repo.git"); // http://127.0.0.1:PORT/repo.git
//! // ... run `git clone <url>` with a credential helper answering u/p ...
//! assert!(server.auth_counts().accepted > 0);
//! # anyhow::Ok(())
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use anyhow::{Context as _, bail};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;

use crate::server::{Records, Served, Validator, lock};

/// The realm announced in every `WWW-Authenticate` challenge.
pub const REALM: &str = "keyhelm-test";

/// The largest CGI header block accepted from `git http-backend`.
const MAX_CGI_HEADER_BYTES: usize = 64 * 1024;

/// Credentials presented by a client in its `Authorization` header.
///
/// `Debug` never prints the password or token.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// The user name (everything before the first `:`).
        username: String,
        /// The password (everything after the first `:`).
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The bearer token.
        token: String,
    },
}

impl Auth {
    /// The scheme these credentials were presented with.
    pub fn scheme(&self) -> AuthScheme {
        match self {
            Auth::Basic { .. } => AuthScheme::Basic,
            Auth::Bearer { .. } => AuthScheme::Bearer,
        }
    }

    /// Parses an `Authorization` header value. `Ok(None)`: a scheme other than Basic or
    /// Bearer. `Err(())`: a Basic or Bearer value that is malformed.
    fn parse(value: &[u8]) -> Result<Option<Auth>, ()> {
        let value = std::str::from_utf8(value).map_err(|_| ())?;
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| ())?;
            let decoded = String::from_utf8(decoded).map_err(|_| ())?;
            let (username, password) = decoded.split_once(':').ok_or(())?;
            Ok(Some(Auth::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            }))
        } else if scheme.eq_ignore_ascii_case("bearer") {
            if rest.is_empty() {
                return Err(());
            }
            Ok(Some(Auth::Bearer {
                token: rest.to_owned(),
            }))
        } else {
            Ok(None)
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic {
                username,
                password: _,
            } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"REDACTED")
                .finish(),
            Auth::Bearer { token: _ } => f
                .debug_struct("Bearer")
                .field("token", &"REDACTED")
                .finish(),
        }
    }
}

/// The scheme of an `Authorization` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `Basic`.
    Basic,
    /// `Bearer`.
    Bearer,
    /// Anything else (`Negotiate`, `Digest`, ...); always refused.
    Other,
}

/// What the server decided about one request's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthOutcome {
    /// No `Authorization` header: 401.
    Missing,
    /// A Basic or Bearer header that could not be decoded: 401.
    Malformed,
    /// Credentials presented and refused by the policy (or an unsupported scheme): 401.
    Refused(AuthScheme),
    /// Credentials accepted; the request went to `git http-backend`.
    Accepted(AuthScheme),
}

impl AuthOutcome {
    /// True when the request was let through.
    pub fn is_accepted(self) -> bool {
        matches!(self, AuthOutcome::Accepted(_))
    }
}

/// Which credentials the server accepts.
#[derive(Clone)]
pub struct GitAuthPolicy {
    check: Validator<Auth>,
}

impl fmt::Debug for GitAuthPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GitAuthPolicy(..)")
    }
}

impl GitAuthPolicy {
    /// Accepts exactly `Basic username:password`.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        let expected = Auth::Basic {
            username: username.into(),
            password: password.into(),
        };
        Self::validator(move |auth| *auth == expected)
    }

    /// Accepts exactly `Bearer token`.
    pub fn bearer(token: impl Into<String>) -> Self {
        let expected = Auth::Bearer {
            token: token.into(),
        };
        Self::validator(move |auth| *auth == expected)
    }

    /// Accepts whatever `check` accepts (for example: only a token that a fake provider
    /// currently considers valid). Called once per request, on tokio's blocking pool (so it
    /// may block); a panic counts as a refusal.
    pub fn validator(check: impl Fn(&Auth) -> bool + Send + Sync + 'static) -> Self {
        Self {
            check: Validator::new(check),
        }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GitRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The URL path, e.g. `/repo.git/info/refs`.
    pub path: String,
    /// The raw query string, e.g. `service=git-upload-pack` (empty when absent).
    pub query: String,
    /// The user name of Basic credentials, accepted or not (never the password).
    pub username: Option<String>,
    /// The authentication decision.
    pub outcome: AuthOutcome,
    /// The HTTP status returned (401, or the status `git http-backend` chose).
    pub status: u16,
}

/// Counts over all recorded requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthCounts {
    /// Requests answered 401 (missing, malformed or refused credentials).
    pub unauthorized: usize,
    /// Requests without an `Authorization` header.
    pub missing: usize,
    /// Requests whose credentials were presented and refused (incl. malformed ones).
    pub refused: usize,
    /// Requests let through to `git http-backend`.
    pub accepted: usize,
    /// Accepted requests that used Basic.
    pub basic: usize,
    /// Accepted requests that used Bearer.
    pub bearer: usize,
}

#[derive(Debug)]
struct Shared {
    root: PathBuf,
    policy: GitAuthPolicy,
    bearer_challenge: bool,
    requests: Records<GitRequest>,
    backend_errors: Mutex<VecDeque<String>>,
}

impl Shared {
    fn backend_error(&self, text: String) {
        let mut errors = lock(&self.backend_errors);
        if errors.len() >= 100 {
            errors.pop_front();
        }
        errors.push_back(text);
    }
}

/// Builder for a [`GitHttpServer`].
#[derive(Debug)]
#[must_use]
pub struct GitHttpServerBuilder {
    policy: GitAuthPolicy,
    bearer_challenge: bool,
    tls: bool,
    repos: Vec<String>,
}

impl GitHttpServerBuilder {
    /// Also send `WWW-Authenticate: Bearer realm="keyhelm-test"` with every 401.
    pub fn bearer_challenge(mut self, yes: bool) -> Self {
        self.bearer_challenge = yes;
        self
    }

    /// Serve HTTPS with a throw-away CA (default: plain HTTP). Clients must trust
    /// [`GitHttpServer::ca_pem`], e.g. through `GIT_SSL_CAINFO` (which beats
    /// `http.sslCAInfo`).
    pub fn tls(mut self, yes: bool) -> Self {
        self.tls = yes;
        self
    }

    /// Create a bare repository with one commit on `main` before the server starts.
    pub fn repo(mut self, name: &str) -> Self {
        self.repos.push(name.to_owned());
        self
    }

    /// Creates the temporary project root and the repositories, and starts serving.
    pub fn start(self) -> anyhow::Result<GitHttpServer> {
        let root = tempfile::Builder::new()
            .prefix("keyhelm-git-http-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .context("creating the git server's project root")?;
        let make_state = |_base_url| Shared {
            root: root.path().to_owned(),
            policy: self.policy,
            bearer_challenge: self.bearer_challenge,
            requests: Records::default(),
            backend_errors: Mutex::new(VecDeque::new()),
        };
        let served = Served::start("git-http", self.tls, make_state, handle)
            .context("starting the git server")?;
        let this = GitHttpServer {
            served,
            _root: root,
        };
        for repo in &self.repos {
            this.create_repo(repo)?;
        }
        Ok(this)
    }
}

/// A git smart-HTTP server on `http://127.0.0.1:PORT/`. Stops when dropped, and removes its
/// repositories.
#[derive(Debug)]
pub struct GitHttpServer {
    served: Served<Shared>,
    _root: tempfile::TempDir,
}

impl GitHttpServer {
    /// A builder with the given authentication policy.
    pub fn builder(policy: GitAuthPolicy) -> GitHttpServerBuilder {
        GitHttpServerBuilder {
            policy,
            bearer_challenge: false,
            tls: false,
            repos: Vec::new(),
        }
    }

    /// A server with no repositories yet (see [`GitHttpServer::create_repo`]).
    pub fn start(policy: GitAuthPolicy) -> anyhow::Result<Self> {
        Self::builder(policy).start()
    }

    /// A server with one bare repository `name` holding one commit on `main`.
    pub fn with_repo(name: &str, policy: GitAuthPolicy) -> anyhow::Result<Self> {
        Self::builder(policy).repo(name).start()
    }

    /// `http://127.0.0.1:PORT`, or `https://` with TLS (no trailing slash).
    pub fn url(&self) -> String {
        self.served.url()
    }

    /// With TLS: the PEM of the CA that signed the server's certificate.
    pub fn ca_pem(&self) -> Option<&str> {
        self.served.ca_pem()
    }

    /// The server's address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.served.addr()
    }

    /// `http://127.0.0.1:PORT/<name>`, the URL to clone.
    pub fn repo_url(&self, name: &str) -> String {
        format!("{}/{}", self.url(), name.trim_start_matches('/'))
    }

    /// The folder holding the bare repositories (`GIT_PROJECT_ROOT`).
    pub fn root(&self) -> &Path {
        &self.served.state().root
    }

    /// Creates a bare repository `name` (e.g. `repo.git` or `team/repo.git`) with one commit
    /// on `main` that adds `README`, with pushing enabled. Returns its path.
    pub fn create_repo(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.create_empty_repo(name)?;
        let blob = run_git(&path, &["hash-object", "-w", "--stdin"], Some(README))?;
        let tree = run_git(
            &path,
            &["mktree"],
            Some(format!("100644 blob {blob}\tREADME\n").as_bytes()),
        )?;
        let commit = run_git(&path, &["commit-tree", &tree, "-m", "initial commit"], None)?;
        run_git(&path, &["update-ref", "refs/heads/main", &commit], None)?;
        Ok(path)
    }

    /// Creates an empty bare repository `name` (HEAD on `main`) with pushing enabled.
    pub fn create_empty_repo(&self, name: &str) -> anyhow::Result<PathBuf> {
        validate_repo_name(name)?;
        let path = self.served.state().root.join(name);
        if path.exists() {
            bail!(
                "repository {name:?} already exists in {}",
                self.served.state().root.display()
            );
        }
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        run_git(
            &path,
            &["init", "--quiet", "--bare", "--initial-branch=main"],
            None,
        )?;
        run_git(&path, &["config", "http.receivepack", "true"], None)?;
        Ok(path)
    }

    /// Runs `git <args>` inside the bare repository `name` (isolated from any user or system
    /// configuration) and returns its trimmed stdout, e.g.
    /// `server.git("repo.git", &["rev-parse", "main"])`.
    pub fn git(&self, name: &str, args: &[&str]) -> anyhow::Result<String> {
        validate_repo_name(name)?;
        run_git(&self.served.state().root.join(name), args, None)
    }

    /// Every request seen so far, in arrival order.
    pub fn requests(&self) -> Vec<GitRequest> {
        self.served.state().requests.all()
    }

    /// Counts of 401s and accepted requests, by scheme.
    pub fn auth_counts(&self) -> AuthCounts {
        let mut counts = AuthCounts::default();
        for request in self.requests() {
            match request.outcome {
                AuthOutcome::Missing => {
                    counts.unauthorized += 1;
                    counts.missing += 1;
                }
                AuthOutcome::Malformed | AuthOutcome::Refused(_) => {
                    counts.unauthorized += 1;
                    counts.refused += 1;
                }
                AuthOutcome::Accepted(scheme) => {
                    counts.accepted += 1;
                    match scheme {
                        AuthScheme::Basic => counts.basic += 1,
                        AuthScheme::Bearer => counts.bearer += 1,
                        AuthScheme::Other => {}
                    }
                }
            }
        }
        counts
    }

    /// Forgets the recorded requests (e.g. between the clone and the push of one test).
    pub fn clear_requests(&self) {
        self.served.state().requests.clear();
    }

    /// What `git http-backend` wrote on stderr for requests where it said something or
    /// failed (the last 100). Handy in assertion messages.
    pub fn backend_errors(&self) -> Vec<String> {
        lock(&self.served.state().backend_errors)
            .iter()
            .cloned()
            .collect()
    }
}

const README: &[u8] = b"hello from keyhelm-testkit\n";

fn validate_repo_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
    if !ok {
        bail!(
            "invalid repository name {name:?}: use relative paths of [A-Za-z0-9._-] segments, \
             e.g. \"repo.git\" or \"team/repo.git\""
        );
    }
    Ok(())
}

/// Runs the real git with no user or system configuration and a fixed identity.
fn git_command(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    cmd.current_dir(dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env("GIT_AUTHOR_NAME", "keyhelm testkit")
        .env("GIT_AUTHOR_EMAIL", "testkit@keyhelm.invalid")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_NAME", "keyhelm testkit")
        .env("GIT_COMMITTER_EMAIL", "testkit@keyhelm.invalid")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z");
    cmd
}

fn run_git(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> anyhow::Result<String> {
    use std::io::Write as _;
    let mut cmd = git_command(dir);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .context("running git (is it installed and on PATH?)")?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).context("writing to git's stdin")?;
    }
    let output = child.wait_with_output().context("waiting for git")?;
    if !output.status.success() {
        bail!(
            "git {} in {} failed ({}): {}",
            args.join(" "),
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();

    let (outcome, auth) = match parts.headers.get(header::AUTHORIZATION) {
        None => (AuthOutcome::Missing, None),
        Some(value) => match Auth::parse(value.as_bytes()) {
            Err(()) => (AuthOutcome::Malformed, None),
            Ok(None) => (AuthOutcome::Refused(AuthScheme::Other), None),
            Ok(Some(auth)) => {
                if shared.policy.check.accepts(auth.clone()).await {
                    (AuthOutcome::Accepted(auth.scheme()), Some(auth))
                } else {
                    (AuthOutcome::Refused(auth.scheme()), Some(auth))
                }
            }
        },
    };
    let username = match &auth {
        Some(Auth::Basic { username, .. }) => Some(username.clone()),
        _ => None,
    };
    let mut record = GitRequest {
        method,
        path,
        query,
        username,
        outcome,
        status: 401,
    };

    let Some(auth) = auth.filter(|_| outcome.is_accepted()) else {
        shared.requests.push(record);
        return unauthorized(shared.bearer_challenge);
    };

    let response = match run_backend(&shared, &parts, body, &auth).await {
        Ok(response) => response,
        Err(message) => {
            shared.backend_error(message.clone());
            (StatusCode::BAD_GATEWAY, message).into_response()
        }
    };
    record.status = response.status().as_u16();
    shared.requests.push(record);
    response
}

fn unauthorized(bearer_challenge: bool) -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&format!("Basic realm=\"{REALM}\"")).expect("valid header"),
    );
    if bearer_challenge {
        headers.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&format!("Bearer realm=\"{REALM}\"")).expect("valid header"),
        );
    }
    response
}

/// The CGI meta-variables for one request (RFC 3875), minus credentials: `Authorization`
/// never reaches the backend; `REMOTE_USER` carries the Basic user name (or `bearer`).
fn cgi_env(root: &Path, parts: &axum::http::request::Parts, auth: &Auth) -> Vec<(String, String)> {
    let mut env = vec![
        ("GIT_PROJECT_ROOT".to_owned(), root.display().to_string()),
        ("GIT_HTTP_EXPORT_ALL".to_owned(), "1".to_owned()),
        ("GATEWAY_INTERFACE".to_owned(), "CGI/1.1".to_owned()),
        ("SERVER_PROTOCOL".to_owned(), "HTTP/1.1".to_owned()),
        ("SERVER_SOFTWARE".to_owned(), "keyhelm-testkit".to_owned()),
        ("REMOTE_ADDR".to_owned(), "127.0.0.1".to_owned()),
        (
            "AUTH_TYPE".to_owned(),
            match auth.scheme() {
                AuthScheme::Bearer => "Bearer".to_owned(),
                _ => "Basic".to_owned(),
            },
        ),
        (
            "REMOTE_USER".to_owned(),
            match auth {
                Auth::Basic { username, .. } if !username.is_empty() => username.clone(),
                Auth::Basic { .. } => "anonymous".to_owned(),
                Auth::Bearer { .. } => "bearer".to_owned(),
            },
        ),
        (
            "REQUEST_METHOD".to_owned(),
            parts.method.as_str().to_owned(),
        ),
        ("PATH_INFO".to_owned(), parts.uri.path().to_owned()),
        (
            "QUERY_STRING".to_owned(),
            parts.uri.query().unwrap_or("").to_owned(),
        ),
    ];
    for (name, value) in parts.headers.iter() {
        let Ok(value) = value.to_str() else { continue };
        if name == header::AUTHORIZATION || name == header::PROXY_AUTHORIZATION {
            continue;
        }
        let var = if name == header::CONTENT_TYPE {
            "CONTENT_TYPE".to_owned()
        } else if name == header::CONTENT_LENGTH {
            "CONTENT_LENGTH".to_owned()
        } else {
            format!(
                "HTTP_{}",
                name.as_str().to_ascii_uppercase().replace('-', "_")
            )
        };
        env.push((var, value.to_owned()));
    }
    env
}

async fn run_backend(
    shared: &Arc<Shared>,
    parts: &axum::http::request::Parts,
    mut body: Body,
    auth: &Auth,
) -> Result<Response, String> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .current_dir(&shared.root);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("HOME", &shared.root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("LC_ALL", "C")
        .envs(cgi_env(&shared.root, parts, auth))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run git http-backend: {e}"))?;
    let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err("git http-backend: missing pipes".to_owned());
    };

    // Request body -> CGI stdin, as it arrives; EOF when the body ends.
    tokio::spawn(async move {
        while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let Ok(frame) = frame else { break };
            if let Ok(data) = frame.into_data()
                && stdin.write_all(&data).await.is_err()
            {
                break;
            }
        }
        let _ = stdin.shutdown().await;
    });
    let stderr_task = tokio::spawn(async move {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text).await;
        String::from_utf8_lossy(&text).into_owned()
    });

    let mut stdout = BufReader::new(stdout);
    let (status, headers) = match read_cgi_headers(&mut stdout).await {
        Ok(head) => head,
        Err(e) => {
            let _ = child.wait().await;
            let stderr = stderr_task.await.unwrap_or_default();
            return Err(format!(
                "git http-backend gave no valid CGI header ({e}): {}",
                stderr.trim()
            ));
        }
    };

    // CGI stdout -> response body, as it is produced.
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(16);
    let request_line = format!("{} {}", parts.method, parts.uri);
    let shared_out = Arc::clone(shared);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdout.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        }
        // Close our ends first: if the client went away mid-response, the backend then gets
        // EPIPE instead of blocking on a full pipe forever.
        drop(stdout);
        drop(tx);
        let status = child.wait().await;
        let stderr = stderr_task.await.unwrap_or_default();
        let failed = !status.map(|s| s.success()).unwrap_or(false);
        if failed || !stderr.trim().is_empty() {
            shared_out.backend_error(format!("{request_line}: {}", stderr.trim()));
        }
    });

    let mut response = Response::new(Body::new(ChannelBody { rx }));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// Reads the CGI response header block: `Status: 200 OK` and other `Name: value` lines up
/// to an empty line (LF or CRLF line ends).
async fn read_cgi_headers<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> io::Result<(StatusCode, HeaderMap)> {
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    let mut total = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "end of output before the header block ended",
            ));
        }
        total += n;
        if total > MAX_CGI_HEADER_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "header block too large",
            ));
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            return Ok((status, headers));
        }
        let text = std::str::from_utf8(text)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "header line is not UTF-8"))?;
        let (name, value) = text.split_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("header line without ':': {text:?}"),
            )
        })?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("");
            status = code
                .parse::<u16>()
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("bad Status: {value:?}"))
                })?;
        } else {
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad header name {name:?}"),
                )
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad value for {name}"))
            })?;
            headers.append(name, value);
        }
    }
}

/// A response body fed by a channel, so the CGI output streams to the client.
struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|chunk| chunk.map(http_body::Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
        .into_bytes()
    }

    #[test]
    fn authorization_headers_are_parsed() {
        assert_eq!(
            Auth::parse(&basic("u:p:with:colons")),
            Ok(Some(Auth::Basic {
                username: "u".into(),
                password: "p:with:colons".into()
            }))
        );
        assert_eq!(
            Auth::parse(&basic(":")),
            Ok(Some(Auth::Basic {
                username: String::new(),
                password: String::new()
            }))
        );
        let lower = format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD.encode("a:b")
        );
        assert_eq!(
            Auth::parse(lower.as_bytes()),
            Ok(Some(Auth::Basic {
                username: "a".into(),
                password: "b".into()
            }))
        );
        assert_eq!(
            Auth::parse(b"Bearer t0k"),
            Ok(Some(Auth::Bearer {
                token: "t0k".into()
            }))
        );
        assert_eq!(Auth::parse(b"Negotiate abc"), Ok(None));
        assert_eq!(Auth::parse(b"Bearer "), Err(()));
        assert_eq!(Auth::parse(b"Basic !!!"), Err(()));
        assert_eq!(Auth::parse(&basic("no-colon")), Err(()));
        assert_eq!(Auth::parse(b"\xff\xfe"), Err(()));
    }

    #[test]
    fn debug_never_shows_passwords_or_tokens() {
        let basic = Auth::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert_eq!(
            format!("{basic:?}"),
            r#"Basic { username: "u", password: "REDACTED" }"#
        );
        let bearer = Auth::Bearer {
            token: "t0k-secret".into(),
        };
        assert_eq!(format!("{bearer:?}"), r#"Bearer { token: "REDACTED" }"#);
        assert_eq!(
            format!("{:?}", GitAuthPolicy::basic("u", "hunter2")),
            "GitAuthPolicy(..)"
        );
    }

    fn parse_headers(text: &[u8]) -> io::Result<(StatusCode, HeaderMap)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(read_cgi_headers(&mut &text[..]))
    }

    #[test]
    fn cgi_headers_with_crlf_or_lf() {
        let (status, headers) = parse_headers(
            b"Status: 404 Not Found\r\nContent-Type: text/plain\r\nExpires: Fri, 01 Jan 1980 00:00:00 GMT\r\n\r\nbody",
        )
        .unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers["content-type"], "text/plain");
        assert_eq!(headers.len(), 2);
        let (status, headers) =
            parse_headers(b"Content-Type: application/x-git-upload-pack-advertisement\n\n")
                .unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers["content-type"],
            "application/x-git-upload-pack-advertisement"
        );
    }

    #[test]
    fn broken_cgi_headers_are_errors() {
        let err = parse_headers(b"Content-Type: x\r\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "end of output before the header block ended"
        );
        let err = parse_headers(b"no colon here\n\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "header line without ':': \"no colon here\""
        );
        let err = parse_headers(b"Status: abc\n\n").unwrap_err();
        assert_eq!(err.to_string(), "bad Status: \"abc\"");
        let huge = format!("X-Big: {}\n\n", "a".repeat(MAX_CGI_HEADER_BYTES));
        let err = parse_headers(huge.as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), "header block too large");
    }

    #[test]
    fn repository_names_are_checked() {
        validate_repo_name("repo.git").unwrap();
        validate_repo_name("team/repo-1_x.git").unwrap();
        for bad in [
            "",
            "/abs.git",
            "a/../b.git",
            "a//b",
            "sp ace.git",
            "a/./b",
            "q?.git",
        ] {
            let err = validate_repo_name(bad).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid repository name {bad:?}")),
                "{err}"
            );
        }
    }

    #[test]
    fn credentials_never_reach_the_cgi_environment() {
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/repo.git/git-upload-pack?x=1")
            .header("authorization", "Basic c2VjcmV0OnNlY3JldA==")
            .header("proxy-authorization", "Basic c2VjcmV0OnNlY3JldA==")
            .header("content-type", "application/x-git-upload-pack-request")
            .header("git-protocol", "version=2")
            .header("content-encoding", "gzip")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let auth = Auth::Basic {
            username: "u".into(),
            password: "secret".into(),
        };
        let env: std::collections::HashMap<String, String> =
            cgi_env(Path::new("/srv/git"), &parts, &auth)
                .into_iter()
                .collect();
        assert!(
            env.values()
                .all(|v| !v.contains("c2VjcmV0") && !v.contains("secret")),
            "{env:?}"
        );
        assert!(
            !env.contains_key("HTTP_AUTHORIZATION")
                && !env.contains_key("HTTP_PROXY_AUTHORIZATION")
        );
        assert_eq!(env["REMOTE_USER"], "u");
        assert_eq!(env["PATH_INFO"], "/repo.git/git-upload-pack");
        assert_eq!(env["QUERY_STRING"], "x=1");
        assert_eq!(env["REQUEST_METHOD"], "POST");
        assert_eq!(env["CONTENT_TYPE"], "application/x-git-upload-pack-request");
        assert_eq!(env["HTTP_GIT_PROTOCOL"], "version=2");
        assert_eq!(env["HTTP_CONTENT_ENCODING"], "gzip");
        assert_eq!(env["GIT_PROJECT_ROOT"], "/srv/git");
        assert!(!env.contains_key("CONTENT_LENGTH"));
    }
}
