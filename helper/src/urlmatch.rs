//! URL patterns: which requests an account serves.
//!
//! A pattern is a URL: `https://git.example.com`, `https://git.example.com:8443/team/`,
//! `https://*.example.com`. A request matches when
//! - its protocol equals the pattern's scheme,
//! - its host equals the pattern's host (ports compared after dropping the scheme's default
//!   port; `*.example.com` matches any subdomain of example.com, not example.com itself),
//! - and, when the pattern has a path, the request's path starts with it at a `/` boundary.
//!   git sends a path only with `credential.useHttpPath=true`, so a pattern with a path never
//!   matches a request without one.
//!
//! Matching is exact otherwise: no case folding of paths, no suffix matching of hosts.

use std::fmt;

/// A parsed URL pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    scheme: String,
    /// Lower-case host, with `*.` for a wildcard.
    host: String,
    port: Option<u16>,
    /// Without leading or trailing `/`; empty for "any path".
    path: String,
}

/// Why a pattern is not usable.
#[derive(Debug, PartialEq, Eq)]
pub struct PatternError {
    pub pattern: String,
    pub reason: &'static str,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a URL pattern: {}",
            self.pattern, self.reason
        )
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let err = |reason| PatternError {
            pattern: text.to_owned(),
            reason,
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| err("it has no scheme (https://...)"))?;
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(err("the scheme is not valid"));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(err("it must not contain a user name or password"));
        }
        if path.contains(['?', '#']) {
            return Err(err("it must not contain a query or fragment"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| err("the port is not a number"))?;
                (h, Some(port))
            }
            _ => (authority, None),
        };
        if host.is_empty() {
            return Err(err("it has no host"));
        }
        let bare = host.strip_prefix("*.").unwrap_or(host);
        if bare.contains('*') || bare.is_empty() {
            return Err(err("only a leading `*.` wildcard is allowed in the host"));
        }
        let scheme = scheme.to_ascii_lowercase();
        let port = port.filter(|p| Some(*p) != default_port(&scheme));
        Ok(Pattern {
            host: host.to_ascii_lowercase(),
            port,
            path: path.trim_matches('/').to_owned(),
            scheme,
        })
    }

    /// The origin `scheme://host[:port]` (for a wildcard, as written).
    pub fn origin(&self) -> String {
        match self.port {
            Some(port) => format!("{}://{}:{port}", self.scheme, self.host),
            None => format!("{}://{}", self.scheme, self.host),
        }
    }

    /// The pattern as a URL: the origin, then the path when there is one.
    pub fn origin_and_path(&self) -> String {
        if self.path.is_empty() {
            self.origin()
        } else {
            format!("{}/{}", self.origin(), self.path)
        }
    }

    /// Whether a request for `protocol`, `host` (git's host, with an optional port) and `path`
    /// is served by this pattern.
    pub fn matches(&self, protocol: &str, host: &str, path: Option<&str>) -> bool {
        if !protocol.eq_ignore_ascii_case(&self.scheme) {
            return false;
        }
        let (name, port) = split_host(host);
        let port = port.filter(|p| Some(*p) != default_port(&self.scheme));
        if port != self.port {
            return false;
        }
        let name = name.to_ascii_lowercase();
        let host_ok = match self.host.strip_prefix("*.") {
            Some(domain) => name.len() > domain.len() + 1 && name.ends_with(&format!(".{domain}")),
            None => name == self.host,
        };
        if !host_ok {
            return false;
        }
        if self.path.is_empty() {
            return true;
        }
        let Some(path) = path else { return false };
        let path = path.trim_start_matches('/');
        path == self.path
            || path
                .strip_prefix(&self.path)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// How specific the pattern is, to pick between several matching accounts: exact hosts
    /// beat wildcards, longer paths beat shorter ones.
    pub fn specificity(&self) -> (bool, usize, usize) {
        (
            !self.host.starts_with("*."),
            self.path.len(),
            self.host.len(),
        )
    }
}

/// `host:port` -> (`host`, port). A bracketed IPv6 address keeps its brackets.
fn split_host(host: &str) -> (&str, Option<u16>) {
    match host.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && (h.ends_with(']') || !h.contains(':')) => {
            match p.parse() {
                Ok(port) => (h, Some(port)),
                Err(_) => (host, None),
            }
        }
        _ => (host, None),
    }
}

/// The default pattern of an account: its base URL's origin.
pub fn origin_of(url: &str) -> Result<String, PatternError> {
    let p = Pattern::parse(url)?;
    Ok(Pattern {
        path: String::new(),
        ..p
    }
    .origin())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, protocol: &str, host: &str, path: Option<&str>) -> bool {
        Pattern::parse(pattern)
            .unwrap()
            .matches(protocol, host, path)
    }

    #[test]
    fn origins_match_exactly() {
        assert!(m(
            "https://git.example.com",
            "https",
            "git.example.com",
            None
        ));
        assert!(m(
            "https://git.example.com",
            "https",
            "GIT.example.com",
            Some("a/b.git")
        ));
        assert!(m(
            "https://git.example.com/",
            "https",
            "git.example.com:443",
            None
        ));
        assert!(!m(
            "https://git.example.com",
            "http",
            "git.example.com",
            None
        ));
        assert!(!m(
            "https://git.example.com",
            "https",
            "git.example.com:8443",
            None
        ));
        assert!(!m(
            "https://git.example.com",
            "https",
            "evilgit.example.com",
            None
        ));
        assert!(!m(
            "https://git.example.com",
            "https",
            "git.example.com.evil",
            None
        ));
        assert!(m("http://127.0.0.1:8080", "http", "127.0.0.1:8080", None));
        assert!(!m("http://127.0.0.1:8080", "http", "127.0.0.1", None));
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        assert!(m("https://*.example.com", "https", "a.example.com", None));
        assert!(m("https://*.example.com", "https", "a.b.example.com", None));
        assert!(!m("https://*.example.com", "https", "example.com", None));
        assert!(!m("https://*.example.com", "https", "aexample.com", None));
    }

    #[test]
    fn paths_match_at_segment_boundaries() {
        let p = "https://forge.tld/team";
        assert!(m(p, "https", "forge.tld", Some("team/repo.git")));
        assert!(m(p, "https", "forge.tld", Some("team")));
        assert!(!m(p, "https", "forge.tld", Some("teamster/repo.git")));
        assert!(!m(p, "https", "forge.tld", None));
    }

    #[test]
    fn bad_patterns_say_why() {
        let reason = |p: &str| Pattern::parse(p).unwrap_err().reason;
        assert_eq!(reason("git.example.com"), "it has no scheme (https://...)");
        assert_eq!(
            reason("https://u:p@h"),
            "it must not contain a user name or password"
        );
        assert_eq!(
            reason("https://h/a?x=1"),
            "it must not contain a query or fragment"
        );
        assert_eq!(reason("https://h:x"), "the port is not a number");
        assert_eq!(
            reason("https://a.*.com"),
            "only a leading `*.` wildcard is allowed in the host"
        );
        assert_eq!(reason("https:///x"), "it has no host");
    }

    #[test]
    fn specificity_orders_patterns() {
        let s = |p: &str| Pattern::parse(p).unwrap().specificity();
        assert!(s("https://a.example.com") > s("https://*.example.com"));
        assert!(s("https://a.example.com/team") > s("https://a.example.com"));
    }

    #[test]
    fn origin_drops_path_and_default_port() {
        assert_eq!(
            origin_of("https://api.example.com:443/v2/x").unwrap(),
            "https://api.example.com"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:9000/intellivoid/v1").unwrap(),
            "http://127.0.0.1:9000"
        );
    }
}
