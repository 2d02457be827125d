//! What testkit's own tests share: for the provider fakes, one reqwest client per test binary
//! and a fully read [`Reply`]; for the tool fakes, [`write_files`].
#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::redirect::Policy;
use serde_json::Value;

/// A response, read completely.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The body as JSON; panics (with the body) when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header's value (ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII"))
    }

    /// The `Content-Type` (empty when absent).
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }

    /// The `Location` header.
    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }
}

/// Sends `request` and reads the whole response.
pub fn send(request: RequestBuilder) -> Reply {
    let response = request.send().expect("request reaches the fake");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

/// Writes each `(path, contents)` below `root`, creating the folders on the way.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("a file below root")).unwrap();
        std::fs::write(&path, contents).unwrap();
    }
}

/// A client with the User-Agent `keyhelm-tests` that follows no redirects.
pub fn client() -> Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| build(Some("keyhelm-tests"))).clone()
}

/// Like [`client`], without a User-Agent unless a request adds one.
pub fn bare_client() -> Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| build(None)).clone()
}

/// One client per test binary: building one (TLS setup, runtime thread) costs far more than
/// a request to a fake. No pooled connections, so a connection to a stopped fake is never
/// reused for a new fake on the same port.
fn build(user_agent: Option<&str>) -> Client {
    let mut builder = Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(Policy::none());
    if let Some(user_agent) = user_agent {
        builder = builder.user_agent(user_agent);
    }
    builder.build().expect("client")
}
