//! A loopback HTTP server that answers with canned responses, chosen by the start of the
//! request path, and records what was asked: for the answers a provider fake never gives
//! (a 429, a 503 page, garbage with a 200).
//!
//! ```no_run
//! use keyhelm_testkit::canned::{Canned, reply};
//!
//! let server = Canned::routes(vec![
//!     ("/token".to_owned(), reply("200 OK", &[("Content-Type", "text/plain")], "garbage")),
//!     ("/".to_owned(), reply("503 Service Unavailable", &[], "")),
//! ]);
//! // ... point a client at server.url ...
//! assert_eq!(server.hits(), 0);
//! ```

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use crate::server::{ServerHandle, lock};

/// One canned answer; see [`reply`].
#[derive(Clone, Debug)]
pub struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: String,
}

/// One canned answer: `status_line` is the code and the reason, e.g. `429 Too Many
/// Requests`; the headers are sent as given, plus `Content-Length`. Panics on a malformed
/// status line or header.
pub fn reply(status_line: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let code = status_line.split(' ').next().unwrap_or_default();
    let status = code
        .parse::<u16>()
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or_else(|| panic!("{status_line:?} does not start with a status code"));
    let headers = headers
        .iter()
        .map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_bytes())
                .unwrap_or_else(|_| panic!("{name:?} is not a header name"));
            let value = HeaderValue::from_str(value)
                .unwrap_or_else(|_| panic!("{value:?} is not a header value"));
            (name, value)
        })
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

impl Reply {
    fn to_response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        for (name, value) in &self.headers {
            response.headers_mut().append(name, value.clone());
        }
        response
    }
}

/// The server; see the module documentation. Stops when dropped.
#[derive(Debug)]
pub struct Canned {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<Routes>,
    _server: ServerHandle,
}

#[derive(Debug)]
struct Routes {
    routes: Vec<(String, Reply)>,
    hits: Mutex<Vec<String>>,
}

impl Canned {
    /// The same answer to every request.
    pub fn start(status_line: &str, headers: &[(&str, &str)], body: &str) -> Canned {
        Canned::routes(vec![("/".to_owned(), reply(status_line, headers, body))])
    }

    /// The answer of the first `(prefix, reply)` whose prefix starts the request target (the
    /// path and the query); 404 otherwise. Panics if the server cannot start.
    pub fn routes(routes: Vec<(String, Reply)>) -> Canned {
        let state = Arc::new(Routes {
            routes,
            hits: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&state));
        let server = ServerHandle::start(router)
            .unwrap_or_else(|e| panic!("cannot start the canned server: {e}"));
        Canned {
            url: server.url(),
            state,
            _server: server,
        }
    }

    /// How many requests arrived.
    pub fn hits(&self) -> usize {
        lock(&self.state.hits).len()
    }

    /// The request targets, in order.
    pub fn paths(&self) -> Vec<String> {
        lock(&self.state.hits).clone()
    }
}

async fn answer(State(state): State<Arc<Routes>>, request: Request) -> Response {
    let target = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |pq| pq.as_str().to_owned(),
    );
    // Read the whole request before answering, as a real server would.
    let _body = axum::body::to_bytes(request.into_body(), usize::MAX).await;
    let response = state
        .routes
        .iter()
        .find(|(prefix, _)| target.starts_with(prefix.as_str()))
        .map_or_else(
            || reply("404 Not Found", &[], "").to_response(),
            |(_, r)| r.to_response(),
        );
    lock(&state.hits).push(target);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    fn get(url: &str, target: &str) -> String {
        let addr = url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn answers_by_prefix_and_records_the_targets() {
        let server = Canned::routes(vec![
            (
                "/token".to_owned(),
                reply(
                    "429 Too Many Requests",
                    &[("Retry-After", "30")],
                    "slow down",
                ),
            ),
            ("/page".to_owned(), reply("200 OK", &[], "")),
        ]);
        let answer = get(&server.url, "/token?x=1");
        assert!(
            answer.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
            "{answer}"
        );
        assert!(answer.contains("\r\nretry-after: 30\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nslow down"), "{answer}");
        let answer = get(&server.url, "/other");
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
        assert_eq!(server.hits(), 2);
        assert_eq!(server.paths(), ["/token?x=1", "/other"]);
    }

    #[test]
    #[should_panic(expected = "\"OK\" does not start with a status code")]
    fn status_lines_start_with_the_code() {
        reply("OK", &[], "");
    }
}
