//! Shared by the plugin host's tests and benchmark: the test plugins under testkit/plugins/
//! and the out-of-tree example plugin, built as real cdylibs by testkit's build helpers;
//! copies installed into private folders; and a small loopback token service (on testkit's
//! server plumbing) for the plugins' host-lent HTTP calls.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use keyhelm_testkit::bins::{ArtifactKind, build_artifact, build_artifacts, workspace_root};
use keyhelm_testkit::server::ServerHandle;

/// Every test plugin crate (package names `keyhelm-testplugin-<variant>`).
pub const VARIANTS: &[&str] = &[
    "good",
    "panics",
    "noisy",
    "badmajor",
    "shorttable",
    "noentry",
    "badjson",
    "huge",
    "nulltable",
    "nofns",
    "badname",
];

/// The cdylib of test plugin `variant`, built in `profile` (`dev`, `release`). The first
/// call builds every variant with one cargo command; later calls reuse the result.
pub fn cdylib(profile: &str, variant: &str) -> PathBuf {
    let packages: Vec<String> = VARIANTS
        .iter()
        .map(|v| format!("keyhelm-testplugin-{v}"))
        .collect();
    let wanted: Vec<(&str, ArtifactKind)> = packages
        .iter()
        .map(|p| (p.as_str(), ArtifactKind::Cdylib))
        .collect();
    let manifest = workspace_root().join("Cargo.toml");
    let paths = build_artifacts(&manifest, profile, &wanted)
        .unwrap_or_else(|e| panic!("building the test plugins failed: {e:#}"));
    let i = VARIANTS
        .iter()
        .position(|v| *v == variant)
        .unwrap_or_else(|| panic!("no test plugin {variant:?}"));
    paths[i].clone()
}

/// A fresh folder (0700) under the system temp folder.
pub fn private_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

/// Copies test plugin `variant` into `dir` under the file name of provider `name`, mode
/// 0644, and returns its path.
pub fn install(variant: &str, name: &str, dir: &Path) -> PathBuf {
    install_from("dev", variant, name, dir)
}

/// Like [`install`], from a given build profile.
pub fn install_from(profile: &str, variant: &str, name: &str, dir: &Path) -> PathBuf {
    let dst = dir.join(keyhelm::plugin::plugin_file_name(name));
    std::fs::copy(cdylib(profile, variant), &dst).expect("copy plugin");
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o644)).unwrap();
    dst
}

/// Builds examples/keyhelm-hello (its own workspace, as a third party would) and returns
/// the cdylib.
pub fn built_example() -> PathBuf {
    let manifest = workspace_root().join("examples/keyhelm-hello/Cargo.toml");
    build_artifact(&manifest, "keyhelm-hello", &ArtifactKind::Cdylib)
        .unwrap_or_else(|e| panic!("building examples/keyhelm-hello failed: {e:#}"))
}

/// A request the fake service received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request target: the path and the query.
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A loopback HTTP server that plays a token service:
/// `POST /token` answers a token when the form carries `client_secret=s33d` (else 401),
/// `POST /newline` answers a token with a line break,
/// `POST /revoke` answers 200, `POST /limited` answers 429 with `Retry-After: 7`,
/// `POST /big` answers a 5 MiB body. It records every request. Stops when dropped.
pub struct FakeService {
    pub base_url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    _server: ServerHandle,
}

impl FakeService {
    pub fn start() -> FakeService {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new().fallback(answer).with_state(Arc::clone(&seen));
        let server = ServerHandle::start(router).expect("start the fake token service");
        FakeService {
            base_url: server.url(),
            seen,
            _server: server,
        }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(State(log): State<Arc<Mutex<Vec<Seen>>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            let v = String::from_utf8_lossy(v.as_bytes()).trim().to_owned();
            (k.as_str().to_owned(), v)
        })
        .collect();
    log.lock().unwrap().push(Seen {
        method: parts.method.as_str().to_owned(),
        path: path.clone(),
        headers,
        body: body.clone(),
    });

    let (status, extra, payload): (StatusCode, Option<(HeaderName, &str)>, Vec<u8>) =
        match path.as_str() {
            "/token" if body.contains("client_secret=s33d") => (
                StatusCode::OK,
                Some((header::CONTENT_TYPE, "application/json")),
                br#"{"access_token":"tok-1","expires_in":3600,"scope":"repo read:org"}"#.to_vec(),
            ),
            "/token" => (StatusCode::UNAUTHORIZED, None, b"{}".to_vec()),
            "/newline" => (
                StatusCode::OK,
                Some((header::CONTENT_TYPE, "application/json")),
                br#"{"access_token":"tok\n1"}"#.to_vec(),
            ),
            "/revoke" => (StatusCode::OK, None, Vec::new()),
            "/limited" => (
                StatusCode::TOO_MANY_REQUESTS,
                Some((header::RETRY_AFTER, "7")),
                Vec::new(),
            ),
            "/big" => (StatusCode::OK, None, vec![b'x'; 5 << 20]),
            _ => (StatusCode::NOT_FOUND, None, Vec::new()),
        };
    let mut response = Response::new(Body::from(payload));
    *response.status_mut() = status;
    if let Some((name, value)) = extra {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}
