//! A sparse-index alternative cargo registry that requires authentication on every request
//! (`"auth-required": true`), for the real cargo.
//!
//! - `GET /index/config.json`: `{"dl": "<url>/dl", "api": "<url>", "auth-required": true}`.
//! - `GET /index/<prefix>/<name>`: the index file of a crate (JSON lines), at the standard
//!   path for names of any length (`1/a`, `2/ab`, `3/a/abc`, `se/rd/serde`).
//! - `GET /dl/<name>/<version>/download`: the `.crate` file.
//! - `PUT /api/v1/crates/new`: `cargo publish` (no verification beyond the format).
//! - `GET /me`: the login page named in the `WWW-Authenticate` challenge.
//! - Any other `/api/v1/...` path: 404 with a cargo-style `{"errors": [...]}` body.
//!
//! Requests without an `Authorization` header get `401` with
//! `WWW-Authenticate: Cargo login_url="<url>/me"` (cargo fetches `config.json` that way first,
//! then asks its credential provider and retries); a token the [`CargoAuthPolicy`] refuses gets
//! `401` too. Every request is recorded with the `Authorization` value it carried
//! ([`CargoRegistry::requests`]); those values print as `REDACTED` in `Debug`.
//!
//! ```no_run
//! use keyhelm_testkit::cargo_registry::{CargoAuthPolicy, CargoRegistry};
//! let registry = CargoRegistry::start(CargoAuthPolicy::token("s3cret"))?;
//! registry.publish("hello-dep", "0.1.0")?; // built with the real `cargo package`
//! let config = registry.cargo_config("testreg", &["cargo:token"]);
//! // ... write `config` to $CARGO_HOME/config.toml, set CARGO_REGISTRIES_TESTREG_TOKEN ...
//! # anyhow::Ok(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::bins::{IsolatedEnv, run, write_file};
use crate::server::{Records, Served, TokenPolicy, lock};

/// The largest body `PUT /api/v1/crates/new` accepts.
const MAX_PUBLISH_BYTES: usize = 10 * 1024 * 1024;

/// Which `Authorization` values the registry accepts. Cargo sends the token verbatim as the
/// header value (no scheme): the policy sees the whole value.
pub type CargoAuthPolicy = TokenPolicy;

/// An `Authorization` value seen by the registry. `Debug` prints `REDACTED`.
#[derive(Clone, PartialEq, Eq)]
pub struct SeenToken(String);

impl SeenToken {
    /// The header value, for assertions.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SeenToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

/// The registry's decision about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenOutcome {
    /// No `Authorization` header where one was required: 401.
    Missing,
    /// A token the policy refused: 401.
    Refused,
    /// A token the policy accepted.
    Accepted,
    /// No token needed (the `/me` page, or a registry started without `auth-required`).
    NotRequired,
}

/// One request as the registry saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CargoRequest {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The URL path, e.g. `/index/config.json`.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<SeenToken>,
    /// The authentication decision.
    pub outcome: TokenOutcome,
    /// The HTTP status returned.
    pub status: u16,
}

/// Counts over all recorded requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenCounts {
    /// Requests answered 401.
    pub unauthorized: usize,
    /// Requests without a token where one was required.
    pub missing: usize,
    /// Requests with a refused token.
    pub refused: usize,
    /// Requests with an accepted token.
    pub accepted: usize,
}

/// A crate version in the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishedCrate {
    /// The crate name as published.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The sha256 of the `.crate` file (hex), as in the index's `cksum`.
    pub cksum: String,
}

#[derive(Default)]
struct Store {
    /// Lower-cased crate name -> index lines (one JSON object per version).
    index: BTreeMap<String, Vec<Value>>,
    /// (lower-cased name, version) -> `.crate` bytes.
    files: HashMap<(String, String), Bytes>,
}

/// Lists crate versions, not the `.crate` bytes.
impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let versions: Vec<String> = self
            .index
            .values()
            .flatten()
            .map(|line| {
                format!(
                    "{}@{}",
                    line["name"].as_str().unwrap_or(""),
                    line["vers"].as_str().unwrap_or("")
                )
            })
            .collect();
        f.debug_struct("Store").field("crates", &versions).finish()
    }
}

#[derive(Debug)]
struct Shared {
    base_url: String,
    policy: CargoAuthPolicy,
    auth_required: bool,
    store: Mutex<Store>,
    requests: Records<CargoRequest>,
}

impl Shared {
    fn add(
        &self,
        name: &str,
        version: &str,
        deps: Vec<Value>,
        features: Value,
        data: Bytes,
    ) -> Result<PublishedCrate, String> {
        let key = name.to_ascii_lowercase();
        let mut store = lock(&self.store);
        let versions = store.index.entry(key.clone()).or_default();
        if let Some(existing) = versions.first()
            && existing["name"] != name
        {
            return Err(format!(
                "crate `{name}` conflicts with the existing crate `{}` (names are case-insensitive)",
                existing["name"].as_str().unwrap_or("")
            ));
        }
        if versions.iter().any(|v| v["vers"] == version) {
            return Err(format!(
                "crate version `{name}@{version}` is already uploaded"
            ));
        }
        let cksum = hex::encode(Sha256::digest(&data));
        versions.push(json!({
            "name": name,
            "vers": version,
            "deps": deps,
            "cksum": cksum,
            "features": features,
            "yanked": false,
        }));
        store.files.insert((key, version.to_owned()), data);
        Ok(PublishedCrate {
            name: name.to_owned(),
            version: version.to_owned(),
            cksum,
        })
    }
}

/// Builder for a [`CargoRegistry`].
#[derive(Debug)]
#[must_use]
pub struct CargoRegistryBuilder {
    policy: CargoAuthPolicy,
    auth_required: bool,
    tls: bool,
}

impl CargoRegistryBuilder {
    /// Whether `config.json` says `"auth-required": true` and every request needs a token
    /// (default: true). With false, tokens are neither required nor checked.
    pub fn auth_required(mut self, yes: bool) -> Self {
        self.auth_required = yes;
        self
    }

    /// Serve HTTPS with a throw-away CA (default: plain HTTP, which cargo accepts on
    /// loopback). cargo must trust [`CargoRegistry::ca_pem`] (`CARGO_HTTP_CAINFO`).
    pub fn tls(mut self, yes: bool) -> Self {
        self.tls = yes;
        self
    }

    /// Starts serving.
    pub fn start(self) -> anyhow::Result<CargoRegistry> {
        let make_state = |base_url| Shared {
            base_url,
            policy: self.policy,
            auth_required: self.auth_required,
            store: Mutex::new(Store::default()),
            requests: Records::default(),
        };
        let served = Served::start("cargo-registry", self.tls, make_state, handle)
            .context("starting the cargo registry")?;
        Ok(CargoRegistry { served })
    }
}

/// A sparse cargo registry on `http://127.0.0.1:PORT`. Stops when dropped.
#[derive(Debug)]
pub struct CargoRegistry {
    served: Served<Shared>,
}

impl CargoRegistry {
    /// A builder with the given token policy.
    pub fn builder(policy: CargoAuthPolicy) -> CargoRegistryBuilder {
        CargoRegistryBuilder {
            policy,
            auth_required: true,
            tls: false,
        }
    }

    /// An empty registry that requires a token accepted by `policy` on every request.
    pub fn start(policy: CargoAuthPolicy) -> anyhow::Result<Self> {
        Self::builder(policy).start()
    }

    /// `http://127.0.0.1:PORT`, or `https://` with TLS (no trailing slash).
    pub fn url(&self) -> String {
        self.served.url()
    }

    /// With TLS: the PEM of the CA that signed the server's certificate.
    pub fn ca_pem(&self) -> Option<&str> {
        self.served.ca_pem()
    }

    /// `sparse+http://127.0.0.1:PORT/index/`, the registry's `index` for cargo's config.
    pub fn index_url(&self) -> String {
        format!("sparse+{}/index/", self.url())
    }

    /// The `login_url` announced in the `WWW-Authenticate: Cargo` challenge.
    pub fn login_url(&self) -> String {
        format!("{}/me", self.url())
    }

    /// A cargo config snippet declaring this registry as `name` with the given
    /// `credential-provider` (e.g. `&["cargo:token"]` or
    /// `&["cargo:token-from-stdout", "echo", "s3cret"]`).
    pub fn cargo_config(&self, name: &str, credential_provider: &[&str]) -> String {
        let provider: Vec<String> = credential_provider
            .iter()
            .map(|arg| serde_json::to_string(arg).unwrap_or_default())
            .collect();
        format!(
            "[registries.{name}]\nindex = \"{}\"\ncredential-provider = [{}]\n",
            self.index_url(),
            provider.join(", ")
        )
    }

    /// Generates a tiny library crate `name` (with `pub fn greeting() -> &'static str`
    /// returning `"hello from <name> <version>"`), packages it with the real
    /// `cargo package --no-verify --allow-dirty --offline` in a scrubbed environment, and adds
    /// it to the registry (index line with the sha256 `cksum`, and the `.crate` download).
    pub fn publish(&self, name: &str, version: &str) -> anyhow::Result<PublishedCrate> {
        validate_crate_name(name)?;
        let env = IsolatedEnv::new()?;
        let dir = env.work_dir().join(name);
        crate::bins::mkdir_private(&dir.join("src"))?;
        write_file(
            &dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = {version:?}\nedition = \"2021\"\n\
                 description = \"A tiny crate published by keyhelm-testkit\"\nlicense = \"MIT\"\n"
            )
            .as_bytes(),
            0o600,
        )?;
        write_file(
            &dir.join("src/lib.rs"),
            format!(
                "/// Proves which crate was compiled.\npub fn greeting() -> &'static str {{\n    \
                 \"hello from {name} {version}\"\n}}\n"
            )
            .as_bytes(),
            0o600,
        )?;
        let target = env.root().join("target");
        run(env
            .command(crate::bins::cargo_program())
            .args([
                "package",
                "--no-verify",
                "--allow-dirty",
                "--offline",
                "--quiet",
            ])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(&dir))?;
        let file: PathBuf = target
            .join("package")
            .join(format!("{name}-{version}.crate"));
        let data = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        self.publish_bytes(name, version, data)
    }

    /// Adds an already packaged `.crate` file (no dependencies, no features) to the registry.
    pub fn publish_bytes(
        &self,
        name: &str,
        version: &str,
        data: Vec<u8>,
    ) -> anyhow::Result<PublishedCrate> {
        validate_crate_name(name)?;
        self.served
            .state()
            .add(name, version, Vec::new(), json!({}), Bytes::from(data))
            .map_err(anyhow::Error::msg)
    }

    /// The index file of `name` (JSON lines), as served.
    pub fn index_file(&self, name: &str) -> Option<String> {
        index_text(
            &lock(&self.served.state().store),
            &name.to_ascii_lowercase(),
        )
    }

    /// Every request seen so far, in arrival order.
    pub fn requests(&self) -> Vec<CargoRequest> {
        self.served.state().requests.all()
    }

    /// The distinct `Authorization` values seen, in first-seen order.
    pub fn tokens_seen(&self) -> Vec<SeenToken> {
        let mut seen: Vec<SeenToken> = Vec::new();
        for request in self.requests() {
            if let Some(token) = request.authorization
                && !seen.contains(&token)
            {
                seen.push(token);
            }
        }
        seen
    }

    /// Counts of 401s and accepted requests.
    pub fn counts(&self) -> TokenCounts {
        let mut counts = TokenCounts::default();
        for request in self.requests() {
            match request.outcome {
                TokenOutcome::Missing => {
                    counts.unauthorized += 1;
                    counts.missing += 1;
                }
                TokenOutcome::Refused => {
                    counts.unauthorized += 1;
                    counts.refused += 1;
                }
                TokenOutcome::Accepted => counts.accepted += 1,
                TokenOutcome::NotRequired => {}
            }
        }
        counts
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.served.state().requests.clear();
    }
}

/// The sparse-index path of a crate: `1/a`, `2/ab`, `3/a/abc`, `se/rd/serde` (lower case).
pub fn index_path(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    match name.len() {
        0 => String::new(),
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

fn validate_crate_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        bail!(
            "invalid crate name {name:?}: use ASCII letters, digits, - and _, starting with a letter"
        );
    }
    Ok(())
}

fn index_text(store: &Store, key: &str) -> Option<String> {
    let versions = store.index.get(key)?;
    let mut text = String::new();
    for line in versions {
        text.push_str(&line.to_string());
        text.push('\n');
    }
    Some(text)
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| SeenToken(String::from_utf8_lossy(v.as_bytes()).into_owned()));

    let public = path == "/me";
    let outcome = if public || !shared.auth_required {
        TokenOutcome::NotRequired
    } else {
        match &authorization {
            None => TokenOutcome::Missing,
            Some(token) => {
                if shared.policy.accepts(&token.0).await {
                    TokenOutcome::Accepted
                } else {
                    TokenOutcome::Refused
                }
            }
        }
    };

    let response = match outcome {
        TokenOutcome::Missing | TokenOutcome::Refused => unauthorized(&shared),
        TokenOutcome::Accepted | TokenOutcome::NotRequired => {
            route(&shared, &parts.method, &path, body).await
        }
    };
    shared.requests.push(CargoRequest {
        method: parts.method.as_str().to_owned(),
        path,
        authorization,
        outcome,
        status: response.status().as_u16(),
    });
    response
}

fn unauthorized(shared: &Shared) -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("Cargo login_url=\"{}/me\"", shared.base_url))
    {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn api_error(status: StatusCode, detail: &str) -> Response {
    (
        status,
        axum::Json(json!({ "errors": [{ "detail": detail }] })),
    )
        .into_response()
}

async fn route(shared: &Shared, method: &Method, path: &str, body: Body) -> Response {
    if path == "/me" && method == Method::GET {
        return (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><title>keyhelm-testkit registry</title>\
             <p>This test registry has no accounts: tokens are fixed by the test.</p>\n",
        )
            .into_response();
    }
    if path == "/index/config.json" && method == Method::GET {
        let base = &shared.base_url;
        return axum::Json(json!({
            "dl": format!("{base}/dl"),
            "api": base,
            "auth-required": shared.auth_required,
        }))
        .into_response();
    }
    if let Some(rest) = path.strip_prefix("/index/") {
        if method != Method::GET {
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        }
        let Some(name) = rest
            .rsplit('/')
            .next()
            .filter(|name| index_path(name) == rest)
        else {
            return (StatusCode::NOT_FOUND, "not found\n").into_response();
        };
        return match index_text(&lock(&shared.store), name) {
            Some(text) => {
                ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
            }
            None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
        };
    }
    if let Some(rest) = path.strip_prefix("/dl/") {
        let parts: Vec<&str> = rest.split('/').collect();
        if let [name, version, "download"] = parts[..] {
            let key = (name.to_ascii_lowercase(), version.to_owned());
            if let Some(data) = lock(&shared.store).files.get(&key) {
                return ([(header::CONTENT_TYPE, "application/x-tar")], data.clone())
                    .into_response();
            }
        }
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    if path == "/api/v1/crates/new" && method == Method::PUT {
        let body = match axum::body::to_bytes(body, MAX_PUBLISH_BYTES).await {
            Ok(body) => body,
            Err(_) => {
                return api_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the upload is too large for the test registry",
                );
            }
        };
        return match publish_request(shared, &body) {
            Ok(_) => axum::Json(json!({
                "warnings": { "invalid_categories": [], "invalid_badges": [], "other": [] }
            }))
            .into_response(),
            Err((status, detail)) => api_error(status, &detail),
        };
    }
    if path.starts_with("/api/") {
        return api_error(
            StatusCode::NOT_FOUND,
            &format!("`{method} {path}` is not implemented by the keyhelm test registry"),
        );
    }
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// Parses cargo's publish body: u32 LE length + JSON metadata, u32 LE length + `.crate`.
fn publish_request(shared: &Shared, body: &[u8]) -> Result<PublishedCrate, (StatusCode, String)> {
    let bad = |what: &str| {
        (
            StatusCode::BAD_REQUEST,
            format!("malformed publish request: {what}"),
        )
    };
    let (meta, rest) = split_len_prefixed(body).ok_or_else(|| bad("metadata length"))?;
    let (data, rest) = split_len_prefixed(rest).ok_or_else(|| bad("crate length"))?;
    if !rest.is_empty() {
        return Err(bad("trailing bytes"));
    }
    let meta: Value = serde_json::from_slice(meta).map_err(|_| bad("metadata is not JSON"))?;
    let name = meta["name"].as_str().ok_or_else(|| bad("no name"))?;
    let version = meta["vers"].as_str().ok_or_else(|| bad("no vers"))?;
    validate_crate_name(name).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let deps = meta["deps"]
        .as_array()
        .map(|deps| deps.iter().map(index_dep).collect())
        .unwrap_or_default();
    let features = meta.get("features").cloned().unwrap_or_else(|| json!({}));
    shared
        .add(name, version, deps, features, Bytes::copy_from_slice(data))
        .map_err(|detail| (StatusCode::CONFLICT, detail))
}

fn split_len_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let rest = &bytes[4..];
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// Turns a publish-API dependency into an index dependency (`version_req` -> `req`, a
/// renamed dependency's `explicit_name_in_toml` -> `name` with `package`).
fn index_dep(dep: &Value) -> Value {
    let (name, package) = match dep["explicit_name_in_toml"].as_str() {
        Some(alias) => (json!(alias), dep["name"].clone()),
        None => (dep["name"].clone(), Value::Null),
    };
    let mut out = json!({
        "name": name,
        "req": dep["version_req"],
        "features": dep.get("features").cloned().unwrap_or_else(|| json!([])),
        "optional": dep["optional"].as_bool().unwrap_or(false),
        "default_features": dep["default_features"].as_bool().unwrap_or(true),
        "target": dep["target"],
        "kind": dep.get("kind").cloned().unwrap_or_else(|| json!("normal")),
        "registry": dep["registry"],
    });
    if !package.is_null() {
        out["package"] = package;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_for_names_of_any_length() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("abc"), "3/a/abc");
        assert_eq!(index_path("abcd"), "ab/cd/abcd");
        assert_eq!(index_path("Serde_JSON"), "se/rd/serde_json");
    }

    #[test]
    fn seen_tokens_are_redacted_in_debug() {
        let request = CargoRequest {
            method: "GET".into(),
            path: "/index/config.json".into(),
            authorization: Some(SeenToken("s3cret-token".into())),
            outcome: TokenOutcome::Accepted,
            status: 200,
        };
        let debug = format!("{request:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
        assert_eq!(request.authorization.unwrap().expose(), "s3cret-token");
    }

    #[test]
    fn debug_lists_versions_not_bytes() {
        let mut store = Store::default();
        store
            .index
            .insert("x".into(), vec![json!({"name": "x", "vers": "1.0.0"})]);
        store.files.insert(
            ("x".into(), "1.0.0".into()),
            Bytes::from_static(b"CRATE-BYTES"),
        );
        let debug = format!("{store:?}");
        assert_eq!(debug, "Store { crates: [\"x@1.0.0\"] }");
    }

    #[test]
    fn crate_names_are_checked() {
        for bad in ["", "1abc", "a b", "a/b", "../x", &"a".repeat(65)] {
            let err = validate_crate_name(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid crate name"), "{err}");
        }
        validate_crate_name("hello-dep_2").unwrap();
    }

    #[test]
    fn publish_bodies_are_length_prefixed() {
        let meta = br#"{"name":"x","vers":"1.0.0","deps":[{"name":"y","version_req":"^1","explicit_name_in_toml":"z","kind":"dev"}]}"#;
        let mut body = (meta.len() as u32).to_le_bytes().to_vec();
        body.extend_from_slice(meta);
        body.extend_from_slice(&3u32.to_le_bytes());
        body.extend_from_slice(b"abc");
        let shared = Shared {
            base_url: "http://127.0.0.1".to_owned(),
            policy: CargoAuthPolicy::token("t"),
            auth_required: true,
            store: Mutex::new(Store::default()),
            requests: Records::default(),
        };
        let published = publish_request(&shared, &body).unwrap();
        assert_eq!(published.cksum, hex::encode(Sha256::digest(b"abc")));
        let text = index_text(&lock(&shared.store), "x").unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["deps"][0]["name"], "z");
        assert_eq!(line["deps"][0]["package"], "y");
        assert_eq!(line["deps"][0]["req"], "^1");
        assert_eq!(line["deps"][0]["kind"], "dev");

        let err = publish_request(&shared, &body).unwrap_err();
        assert_eq!(
            err,
            (
                StatusCode::CONFLICT,
                "crate version `x@1.0.0` is already uploaded".to_owned()
            )
        );
        let err = publish_request(&shared, &body[..body.len() - 1]).unwrap_err();
        assert_eq!(err.1, "malformed publish request: crate length");
        let err = publish_request(&shared, &[1, 0]).unwrap_err();
        assert_eq!(err.1, "malformed publish request: metadata length");
    }
}
