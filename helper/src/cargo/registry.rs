//! A cargo registry as keyhelm keys its token: the index URL, normalised.
//!
//! The token of a registry is a stored credential whose protocol is `cargo+` and the index
//! URL's scheme, whose host is the index's host (and port), and whose path is the index's
//! path: `sparse+https://r.example/index/` is kept as
//! `cargo+sparse+https://r.example/index` (`keyhelm list` shows it so). The `cargo+` prefix
//! keeps registry tokens apart from git credentials: git never asks for such a protocol, so
//! a crates.io token can never be handed to git for github.com.
//!
//! Normalisation: scheme and host in lower case, the transport's default port dropped, the
//! path without leading or trailing `/`. crates.io has two index URLs (the git one and the
//! sparse one); both are the same registry.

use keyhelm_vault::CredentialKey;

/// crates.io's sparse index.
pub const CRATES_IO_SPARSE: &str = "sparse+https://index.crates.io/";
/// crates.io's git index.
pub const CRATES_IO_GIT: &str = "https://github.com/rust-lang/crates.io-index";

/// A normalised registry index URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    /// `sparse+https`, `https`, `ssh`, ...
    scheme: String,
    /// Host, with the port unless it is the transport's default.
    host: String,
    /// Without leading or trailing `/`; empty for the root.
    path: String,
}

impl Registry {
    /// Parses an index URL. The reason of a refusal never quotes the URL (it might hold a
    /// user name and password).
    pub fn parse(index_url: &str) -> Result<Registry, &'static str> {
        let url = url::Url::parse(index_url.trim()).map_err(|_| "it is not a URL")?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("it must not contain a user name or password");
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("it must not contain a query or fragment");
        }
        let scheme = url.scheme().to_ascii_lowercase();
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("it has no host")?
            .to_ascii_lowercase();
        let transport = scheme.rsplit('+').next().unwrap_or(&scheme);
        let default_port = match transport {
            "https" => Some(443),
            "http" => Some(80),
            "ssh" => Some(22),
            "git" => Some(9418),
            _ => None,
        };
        let host = match url.port().filter(|p| Some(*p) != default_port) {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        let registry = Registry {
            path: url.path().trim_matches('/').to_owned(),
            scheme,
            host,
        };
        if registry.is_crates_io() {
            return Ok(Registry::crates_io());
        }
        Ok(registry)
    }

    /// crates.io, under its sparse index URL.
    pub fn crates_io() -> Registry {
        Registry {
            scheme: "sparse+https".into(),
            host: "index.crates.io".into(),
            path: String::new(),
        }
    }

    fn is_crates_io(&self) -> bool {
        let sparse = self.scheme == "sparse+https" && self.host == "index.crates.io";
        let git = self.scheme == "https"
            && self.host == "github.com"
            && self.path.trim_end_matches(".git") == "rust-lang/crates.io-index";
        (sparse && self.path.is_empty()) || git
    }

    /// The key of the registry's stored token.
    pub fn key(&self) -> CredentialKey {
        CredentialKey {
            protocol: format!("cargo+{}", self.scheme),
            host: self.host.clone(),
            path: (!self.path.is_empty()).then(|| self.path.clone()),
            username: None,
        }
    }

    /// The protocols an account's URL pattern may name for this registry, most specific
    /// first: the index URL's own scheme (`sparse+https`), then its transport (`https`).
    pub fn protocols(&self) -> Vec<&str> {
        let transport = self.scheme.rsplit('+').next().unwrap_or(&self.scheme);
        if transport == self.scheme {
            vec![&self.scheme]
        } else {
            vec![&self.scheme, transport]
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The path, or `None` for the root.
    pub fn path(&self) -> Option<&str> {
        (!self.path.is_empty()).then_some(self.path.as_str())
    }

    /// The index URL in its normalised form.
    pub fn url(&self) -> String {
        if self.path.is_empty() {
            format!("{}://{}/", self.scheme, self.host)
        } else {
            format!("{}://{}/{}/", self.scheme, self.host, self.path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_urls_normalise() {
        let r = Registry::parse("sparse+http://127.0.0.1:4321/index/").unwrap();
        assert_eq!(
            r.key(),
            CredentialKey {
                protocol: "cargo+sparse+http".into(),
                host: "127.0.0.1:4321".into(),
                path: Some("index".into()),
                username: None,
            }
        );
        assert_eq!(r.protocols(), ["sparse+http", "http"]);
        assert_eq!(r.url(), "sparse+http://127.0.0.1:4321/index/");
        for same in [
            "sparse+http://127.0.0.1:4321/index",
            "SPARSE+HTTP://127.0.0.1:4321//index//",
        ] {
            assert_eq!(Registry::parse(same).unwrap(), r, "{same}");
        }
        assert_ne!(
            Registry::parse("sparse+https://127.0.0.1:4321/index/").unwrap(),
            r
        );
        let r = Registry::parse("sparse+https://Reg.Example:443/").unwrap();
        assert_eq!(r.key().host, "reg.example");
        assert_eq!(r.key().path, None);
        assert_eq!(r.url(), "sparse+https://reg.example/");
        let git = Registry::parse("https://git.example/team/index.git").unwrap();
        assert_eq!(git.protocols(), ["https"]);
        assert_eq!(git.key().protocol, "cargo+https");
    }

    #[test]
    fn crates_io_has_one_identity() {
        for url in [
            CRATES_IO_SPARSE,
            CRATES_IO_GIT,
            "https://github.com/rust-lang/crates.io-index.git",
            "sparse+https://index.crates.io",
        ] {
            assert_eq!(
                Registry::parse(url).unwrap(),
                Registry::crates_io(),
                "{url}"
            );
        }
        assert_eq!(Registry::crates_io().key().protocol, "cargo+sparse+https");
        assert_ne!(
            Registry::parse("sparse+https://index.crates.io/other/").unwrap(),
            Registry::crates_io()
        );
    }

    #[test]
    fn bad_index_urls_say_why_without_quoting() {
        assert_eq!(Registry::parse("not a url"), Err("it is not a URL"));
        assert_eq!(
            Registry::parse("sparse+https://me:s3cret@r.example/"),
            Err("it must not contain a user name or password")
        );
        assert_eq!(
            Registry::parse("sparse+https://r.example/?token=x"),
            Err("it must not contain a query or fragment")
        );
        assert_eq!(Registry::parse("file:///srv/index"), Err("it has no host"));
    }
}
