//! Docker server URLs, and how a lookup finds the credential stored for one.
//!
//! docker keys credentials by the "server URL" it passes to `store`: Docker Hub's is
//! `https://index.docker.io/v1/`, other registries' are usually a bare `host[:port]`
//! (`ghcr.io`, `localhost:5000`). `get` receives the same string back, so an exact
//! comparison finds what docker stored. The reference helpers that match more loosely
//! (`wincred`, through `registryurl.Parse`) then try, in order:
//!
//! 1. the URLs as parsed: a missing scheme is kept missing (`ghcr.io` is `//ghcr.io`), the
//!    scheme is compared case-insensitively, the query string is dropped;
//! 2. an "approximate" match: a scheme, port or path that the requested URL lacks is taken
//!    from the stored one, so `registry.example.com` finds `https://registry.example.com:5000/v2`
//!    (but `https://registry.example.com` does not find a stored `registry.example.com`).
//!
//! Only `http` and `https` URLs take part in 1 and 2; anything else (or a URL with a user
//! name, an empty or non-numeric port, no host) matches only itself, byte for byte.
//!
//! Accounts are matched with their URL patterns against the registry as a URL, with `https`
//! as the scheme when the server URL names none ([`ServerUrl::as_request`]).

/// A server URL parsed the way docker-credential-helpers' `registryurl.Parse` parses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    /// `http` or `https`, lower-case; `None` when the URL has no scheme.
    scheme: Option<String>,
    /// The host as written (an IPv6 address keeps its brackets).
    host: String,
    port: Option<String>,
    /// Everything from the first `/` after the host, before any `?` or `#`; may be empty.
    path: String,
}

impl ServerUrl {
    /// Parses `text`; `None` for anything `registryurl.Parse` refuses (and, more strictly,
    /// for URLs with a user name or an empty port, which docker never sends).
    pub fn parse(text: &str) -> Option<ServerUrl> {
        if text.chars().any(char::is_control) {
            return None;
        }
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => {
                let scheme = scheme.to_ascii_lowercase();
                if scheme != "http" && scheme != "https" {
                    return None;
                }
                (Some(scheme), rest)
            }
            None => (None, text.strip_prefix("//").unwrap_or(text)),
        };
        // The query and the fragment are not part of a registry's address.
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return None;
        }
        let (host, port) = split_port(authority)?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.is_empty() {
            return None;
        }
        Some(ServerUrl {
            scheme,
            host: host.to_owned(),
            port: port.map(str::to_owned),
            path: path.to_owned(),
        })
    }

    /// `registryurl`'s exact match: equal once parsed.
    pub fn matches_exactly(&self, stored: &ServerUrl) -> bool {
        self == stored
    }

    /// `wincred`'s approximate match: what this (requested) URL lacks is taken from `stored`.
    pub fn matches_approximately(&self, stored: &ServerUrl) -> bool {
        let mut wanted = self.clone();
        if wanted.scheme.is_none() {
            wanted.scheme.clone_from(&stored.scheme);
        }
        if wanted.port.is_none() {
            wanted.port.clone_from(&stored.port);
        }
        if wanted.path.is_empty() {
            wanted.path.clone_from(&stored.path);
        }
        wanted == *stored
    }

    /// The registry as the parts of a request that account patterns match against:
    /// protocol (`https` unless the URL says `http`), `host[:port]`, and the path without
    /// its leading `/` (`None` when empty).
    pub fn as_request(&self) -> (&str, String, Option<&str>) {
        let host = match &self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        };
        let path = self.path.trim_start_matches('/');
        (
            self.scheme.as_deref().unwrap_or("https"),
            host,
            (!path.is_empty()).then_some(path),
        )
    }

    /// Whether the URL named a scheme.
    pub fn has_scheme(&self) -> bool {
        self.scheme.is_some()
    }
}

/// `host[:port]` -> (host, port). `None` when the port is empty or not a number.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    let colon = if authority.starts_with('[') {
        // [v6]:port
        let close = authority.find(']')?;
        match &authority[close + 1..] {
            "" => None,
            rest if rest.starts_with(':') => Some(close + 1),
            _ => return None,
        }
    } else {
        authority.rfind(':')
    };
    match colon {
        None => Some((authority, None)),
        Some(i) => {
            let port = &authority[i + 1..];
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((&authority[..i], Some(port)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ServerUrl {
        ServerUrl::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn parses_what_docker_sends() {
        let hub = p("https://index.docker.io/v1/");
        assert_eq!(hub.scheme.as_deref(), Some("https"));
        assert_eq!(hub.host, "index.docker.io");
        assert_eq!(hub.path, "/v1/");
        let bare = p("ghcr.io");
        assert_eq!(
            (bare.scheme.as_deref(), bare.host.as_str()),
            (None, "ghcr.io")
        );
        let local = p("localhost:5000");
        assert_eq!(local.port.as_deref(), Some("5000"));
        assert_eq!(local.host, "localhost");
        let v6 = p("[::1]:5000");
        assert_eq!(
            (v6.host.as_str(), v6.port.as_deref()),
            ("[::1]", Some("5000"))
        );
        assert_eq!(p("//ghcr.io"), p("ghcr.io"));
        assert_eq!(p("HTTPS://r.tld"), p("https://r.tld"));
        assert_eq!(p("https://r.tld/x?a=1#f"), p("https://r.tld/x"));
    }

    #[test]
    fn refuses_what_registryurl_refuses() {
        for bad in [
            "ftp://r.tld",
            "https://",
            "https://:5000",
            "r.tld:port",
            "r.tld:",
            "https://u:p@r.tld",
            "[::1",
            "[::1]x",
            "",
            "r.tld\n",
        ] {
            assert_eq!(ServerUrl::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn approximate_matching_fills_in_what_the_request_lacks() {
        let stored = p("https://registry.example.com:5000/v2");
        assert!(p("registry.example.com").matches_approximately(&stored));
        assert!(p("registry.example.com:5000").matches_approximately(&stored));
        assert!(p("https://registry.example.com").matches_approximately(&stored));
        assert!(!p("http://registry.example.com").matches_approximately(&stored));
        assert!(!p("registry.example.com:5001").matches_approximately(&stored));
        assert!(!p("registry.example.com/v3").matches_approximately(&stored));
        assert!(!p("other.example.com").matches_approximately(&stored));
        // A scheme in the request is not dropped to match a stored URL without one.
        assert!(!p("https://ghcr.io").matches_approximately(&p("ghcr.io")));
        assert!(p("ghcr.io").matches_approximately(&p("ghcr.io")));
        // Hosts are compared as written, like the reference helpers.
        assert!(!p("GHCR.io").matches_approximately(&p("ghcr.io")));
    }

    #[test]
    fn exact_matching_compares_parsed_urls() {
        assert!(p("https://r.tld/?x=1").matches_exactly(&p("https://r.tld/")));
        assert!(!p("https://r.tld").matches_exactly(&p("https://r.tld/")));
        assert!(!p("r.tld").matches_exactly(&p("https://r.tld")));
    }

    #[test]
    fn as_request_defaults_to_https() {
        assert_eq!(p("ghcr.io").as_request(), ("https", "ghcr.io".into(), None));
        assert_eq!(
            p("https://index.docker.io/v1/").as_request(),
            ("https", "index.docker.io".into(), Some("v1/"))
        );
        assert_eq!(
            p("http://localhost:5000").as_request(),
            ("http", "localhost:5000".into(), None)
        );
        assert!(!p("localhost:5000").has_scheme());
    }
}
