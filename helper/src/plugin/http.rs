//! The HTTP service lent to plugins.
//!
//! One reqwest client (rustls) on a current-thread tokio runtime, both created on the first
//! HTTP call a plugin makes, never on a lookup that does not reach a plugin's HTTP. Policy,
//! checked before anything is sent: `https` only, except plain `http` to loopback
//! (127.0.0.0/8, ::1, `localhost`); the origin must be in the account's allowlist;
//! redirects are not followed (the plugin sees the 3xx and its `Location`, and a redirect
//! to another origin would need that origin allowed); timeouts; a cap on the response size.
//! Logs show the method, the URL without its query, the status and the size; never headers
//! or bodies.

use std::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use keyhelm_core::msg::{ErrorKind, ErrorMessage, HttpRequest, HttpResponse};
use keyhelm_core::redact_url;

/// A URL origin: scheme, host and port, e.g. `https://api.example.com:443`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of an absolute `http`/`https` URL (anything after the origin is ignored).
    pub fn from_url(url: &str) -> Result<Origin, OriginError> {
        let parsed = url::Url::parse(url).map_err(|_| OriginError {
            url: redact_url(url),
        })?;
        Self::from_parsed(&parsed).ok_or_else(|| OriginError {
            url: redact_url(url),
        })
    }

    fn from_parsed(u: &url::Url) -> Option<Origin> {
        let scheme = u.scheme();
        if scheme != "https" && scheme != "http" {
            return None;
        }
        let host = match u.host()? {
            url::Host::Domain(d) => d.to_ascii_lowercase(),
            url::Host::Ipv4(a) => a.to_string(),
            url::Host::Ipv6(a) => format!("[{a}]"),
        };
        Some(Origin {
            scheme: scheme.to_owned(),
            host,
            port: u.port_or_known_default()?,
        })
    }

    /// Whether a request to `target` is allowed by this (allowlist) origin: the same
    /// scheme, port and host, where a host `*.example.com` (from a URL pattern such as
    /// `https://*.example.com/*`) stands for every subdomain of `example.com`, but not for
    /// `example.com` itself.
    pub fn allows(&self, target: &Origin) -> bool {
        if self.scheme != target.scheme || self.port != target.port {
            return false;
        }
        match self.host.strip_prefix("*.") {
            Some(domain) => target
                .host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => self.host == target.host,
        }
    }

    /// Whether the host is loopback: `localhost`, 127.0.0.0/8 or ::1.
    pub fn is_loopback(&self) -> bool {
        if self.host == "localhost" {
            return true;
        }
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Origin({self})")
    }
}

/// A string that is not an absolute `http(s)` URL with a host.
#[derive(Debug, thiserror::Error)]
#[error("`{url}` is not an absolute http or https URL with a host")]
pub struct OriginError {
    url: String,
}

/// Limits of the HTTP service.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpLimits {
    /// The timeout when the plugin asks for none.
    pub default_timeout: Duration,
    /// The longest timeout a plugin may ask for.
    pub max_timeout: Duration,
    /// The connect timeout.
    pub connect_timeout: Duration,
    /// The largest response body accepted.
    pub max_response_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: 4 << 20,
        }
    }
}

struct Engine {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// Whether the HTTP runtime has been started in this process (it starts on a plugin's first
/// HTTP call). For tests and diagnostics.
pub fn http_runtime_started() -> bool {
    ENGINE.get().is_some()
}

fn engine(limits: &HttpLimits) -> Result<&'static Engine, ErrorMessage> {
    let e = ENGINE.get_or_init(|| {
        // reqwest is built without a crypto provider (see the workspace Cargo.toml): *ring*
        // becomes the process's default here, unless one was installed before (then reqwest
        // uses that one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("could not start the HTTP runtime: {e}"))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(limits.connect_timeout)
            .user_agent(concat!("keyhelm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("could not start the HTTP client: {e}"))?;
        Ok(Engine { runtime, client })
    });
    e.as_ref()
        .map_err(|m| ErrorMessage::new(ErrorKind::Internal, m.clone()))
}

fn not_allowed(msg: String) -> ErrorMessage {
    ErrorMessage::new(ErrorKind::NotAllowed, msg)
}

/// Makes `req` for `plugin` on behalf of `account`, if `allowed` lets it.
pub(super) fn execute(
    plugin: &str,
    account: &str,
    allowed: &[Origin],
    limits: &HttpLimits,
    req: HttpRequest,
) -> Result<HttpResponse, ErrorMessage> {
    let shown = redact_url(&req.url);
    let url = url::Url::parse(&req.url)
        .map_err(|_| not_allowed(format!("`{shown}` is not a valid absolute URL")))?;
    let origin = Origin::from_parsed(&url)
        .ok_or_else(|| not_allowed(format!("`{shown}` is not an http or https URL with a host")))?;
    if origin.scheme != "https" && !origin.is_loopback() {
        return Err(not_allowed(format!(
            "refused a plain-http request to {origin}: plugins may use http only to loopback; use https"
        )));
    }
    if !allowed.iter().any(|a| a.allows(&origin)) {
        let list = if allowed.is_empty() {
            "none".to_owned()
        } else {
            allowed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(not_allowed(format!(
            "account `{account}` does not allow plugin `{plugin}` to reach {origin} (allowed: {list})"
        ))
        .with_hint("if this origin is expected, add it to the account's allowed origins"));
    }
    let method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| not_allowed(format!("`{}` is not an HTTP method", req.method)))?;
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &req.headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| not_allowed(format!("`{k}` is not a valid header name")))?;
        let mut value = reqwest::header::HeaderValue::from_str(v)
            .map_err(|_| not_allowed(format!("the value of header `{k}` is not valid")))?;
        value.set_sensitive(true);
        headers.append(name, value);
    }
    let timeout = req
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(limits.default_timeout)
        .min(limits.max_timeout);
    let engine = engine(limits)?;
    tracing::debug!(plugin, account, method = %method, url = %shown, "plugin http request");

    let max = limits.max_response_bytes;
    let body = req.body.to_vec();
    let fut = async {
        let mut resp = engine
            .client
            .request(method, url)
            .headers(headers)
            .body(body)
            .timeout(timeout)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Ok(Err(resp.content_length().unwrap_or(0) as usize));
        }
        let mut body = zeroize::Zeroizing::new(Vec::new());
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > max {
                return Ok(Err(body.len() + chunk.len()));
            }
            // Grow by doubling inside a Zeroizing buffer; a reallocation copies, so zeroize
            // the old allocation by swapping through a fresh, larger one.
            if body.capacity() < body.len() + chunk.len() {
                let mut bigger = zeroize::Zeroizing::new(Vec::with_capacity(
                    (body.len() + chunk.len()).max(body.capacity() * 2),
                ));
                bigger.extend_from_slice(&body);
                body = bigger;
            }
            body.extend_from_slice(&chunk);
        }
        Ok::<_, reqwest::Error>(Ok((status, headers, body)))
    };
    let result = if tokio::runtime::Handle::try_current().is_ok() {
        // Called from inside some other async runtime: block_on there would panic, so run
        // the request on a helper thread.
        std::thread::scope(|s| {
            s.spawn(|| engine.runtime.block_on(fut))
                .join()
                .unwrap_or_else(|_| {
                    Ok(Err(usize::MAX)) // the thread cannot panic short of a reqwest bug
                })
        })
    } else {
        engine.runtime.block_on(fut)
    };
    match result {
        Ok(Ok((status, headers, mut body))) => {
            tracing::debug!(plugin, status, bytes = body.len(), url = %shown, "plugin http response");
            Ok(HttpResponse::new(
                status,
                headers,
                std::mem::take(&mut *body),
            ))
        }
        Ok(Err(len)) => Err(ErrorMessage::new(
            ErrorKind::ServiceError,
            format!(
                "the response from {origin} is larger than the {max} bytes keyhelm accepts ({} bytes or more)",
                len
            ),
        )),
        Err(e) => {
            let what = if e.is_timeout() {
                format!("timed out after {} s", timeout.as_secs_f32())
            } else if e.is_connect() {
                "could not connect".to_owned()
            } else {
                e.without_url().to_string()
            };
            tracing::debug!(plugin, url = %shown, error = %what, "plugin http request failed");
            Err(ErrorMessage::new(
                ErrorKind::Network,
                format!("request to {origin} failed: {what}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// reqwest is built without a crypto provider; the engine installs *ring*. Its client
    /// completes TLS handshakes (to a loopback server with a throw-away CA) and verifies
    /// certificates against the platform's roots, which do not include that CA.
    #[test]
    fn https_works_with_the_ring_provider() {
        use keyhelm_testkit::git_http::{GitAuthPolicy, GitHttpServer};
        let server = GitHttpServer::builder(GitAuthPolicy::basic("u", "p"))
            .tls(true)
            .start()
            .unwrap();
        let url = format!("{}/x.git/info/refs", server.url());
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
        let engine = engine(&HttpLimits::default()).unwrap();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());

        let refused = engine
            .runtime
            .block_on(engine.client.get(&url).send())
            .unwrap_err();
        let mut chain = String::new();
        let mut cause: Option<&dyn std::error::Error> = Some(&refused);
        while let Some(e) = cause {
            chain.push_str(&format!("{e}; "));
            cause = e.source();
        }
        assert!(chain.contains("UnknownIssuer"), "{chain}");

        // The same provider, trusting the test CA: the handshake completes.
        let ca = reqwest::Certificate::from_pem(server.ca_pem().unwrap().as_bytes()).unwrap();
        let trusting = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap();
        let response = engine.runtime.block_on(trusting.get(&url).send()).unwrap();
        assert_eq!(response.status(), 401);
    }

    #[test]
    fn origins_normalise_scheme_host_and_port() {
        let a = Origin::from_url("https://API.Example.com/v1?x=1").unwrap();
        assert_eq!(a.to_string(), "https://api.example.com:443");
        assert_eq!(a, Origin::from_url("https://api.example.com:443/").unwrap());
        assert_ne!(a, Origin::from_url("http://api.example.com/").unwrap());
        assert!(
            Origin::from_url("http://127.0.0.5:8080")
                .unwrap()
                .is_loopback()
        );
        assert!(Origin::from_url("http://[::1]:1/").unwrap().is_loopback());
        assert!(Origin::from_url("http://localhost/").unwrap().is_loopback());
        assert!(
            !Origin::from_url("http://127.0.0.1.nip.io/")
                .unwrap()
                .is_loopback()
        );
        let wild = Origin::from_url("https://*.example.com/*").unwrap();
        assert_eq!(wild.to_string(), "https://*.example.com:443");
        assert!(wild.allows(&Origin::from_url("https://eu.api.example.com/x").unwrap()));
        assert!(!wild.allows(&Origin::from_url("https://example.com/").unwrap()));
        assert!(!wild.allows(&Origin::from_url("https://evilexample.com/").unwrap()));
        assert!(!wild.allows(&Origin::from_url("https://a.example.com:8443/").unwrap()));
        assert!(!wild.allows(&Origin::from_url("http://a.example.com/").unwrap()));
        assert!(a.allows(&a) && !a.allows(&wild));
        let e = Origin::from_url("ftp://h/?token=x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`ftp://h/?REDACTED` is not an absolute http or https URL with a host"
        );
    }

    #[test]
    fn policy_refusals_name_the_origin_never_the_query() {
        let allowed = [Origin::from_url("https://api.example.com").unwrap()];
        let limits = HttpLimits::default();
        let run =
            |url: &str| execute("p", "acct", &allowed, &limits, HttpRequest::get(url)).unwrap_err();
        let e = run("http://api.example.com/token?secret=1");
        assert_eq!(e.kind, ErrorKind::NotAllowed);
        assert_eq!(
            e.message,
            "refused a plain-http request to http://api.example.com:80: plugins may use http only to loopback; use https"
        );
        let e = run("https://evil.example/steal?token=abc");
        assert_eq!(
            e.to_string(),
            "account `acct` does not allow plugin `p` to reach https://evil.example:443 (allowed: https://api.example.com:443) (if this origin is expected, add it to the account's allowed origins)"
        );
        let e = run("not a url?token=abc");
        assert_eq!(
            e.message,
            "`not a url?REDACTED` is not a valid absolute URL"
        );
        let e = execute(
            "p",
            "a",
            &[],
            &limits,
            HttpRequest::get("http://127.0.0.1:9/"),
        )
        .unwrap_err();
        assert!(e.message.ends_with("(allowed: none)"), "{e}");
        let e = execute(
            "p",
            "a",
            &allowed,
            &limits,
            HttpRequest::new("GE T", "https://api.example.com/"),
        )
        .unwrap_err();
        assert_eq!(e.message, "`GE T` is not an HTTP method");
        let e = run("mailto:me@api.example.com?token=abc");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                ErrorKind::NotAllowed,
                "`mailto:me@api.example.com?REDACTED` is not an http or https URL with a host"
            )
        );
        for (name, value, message) in [
            ("X Bad", "v", "`X Bad` is not a valid header name"),
            (
                "Authorization",
                "Bearer s3cret\nX-Evil: 1",
                "the value of header `Authorization` is not valid",
            ),
        ] {
            let req = HttpRequest::get("https://api.example.com/").header(name, value);
            let e = execute("p", "a", &allowed, &limits, req).unwrap_err();
            assert_eq!(
                (e.kind, e.message.as_str()),
                (ErrorKind::NotAllowed, message)
            );
        }
    }
}
