//! keyhelm-core: the plugin ABI of [keyhelm](https://github.com/keyhelm/keyhelm) and the SDK
//! for writing provider plugins.
//!
//! **Who this is for:** authors of keyhelm provider plugins (a `cdylib` that logs in to a
//! service and hands keyhelm a token), and keyhelm itself (the host).
//!
//! **Stability:** the C ABI ([`abi`]) is versioned by [`abi::ABI_MAJOR`]/[`abi::ABI_MINOR`]:
//! within a major, tables only grow at their end, and a plugin built against any 1.x loads in
//! any host of major 1. The JSON messages ([`msg`]) carry `"v": 1` and ignore unknown fields
//! in both directions. The Rust API of this crate follows semver; the types in [`msg`] are
//! `#[non_exhaustive]` so fields can be added in minor releases.
//!
//! The reference for non-Rust authors is `docs/abi.md`; the guide is
//! `docs/plugin-guide.md`, built around `examples/keyhelm-hello`.
//!
//! Modules:
//! * [`abi`]: the `#[repr(C)]` types: entry symbol, plugin table, host table, buffers.
//! * [`msg`]: the JSON messages (requests, answers, typed errors).
//! * [`sdk`]: the [`sdk::Provider`] trait, [`export_provider!`] and the host services.
//! * [`json`]: JSON helpers (exactly-sized, zeroized buffers; input-free error text).
//!
//! Public dependencies: `serde`/`serde_json` (the message types implement their traits),
//! `secrecy` (`SecretString` in messages), `zeroize` (`Zeroizing` bodies).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod abi;
pub mod json;
pub mod msg;
pub mod sdk;

pub use secrecy;

/// Shows a URL without its query, fragment or user info, which may carry secrets
/// (`?code=`, `?access_token=`, `user:pass@`). Used for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let (base, rest) = url.split_at(cut);
    let base = match base.find("://") {
        Some(i) => {
            let after = &base[i + 3..];
            let auth_end = after.find('/').unwrap_or(after.len());
            match after[..auth_end].rfind('@') {
                Some(at) => format!("{}://{}", &base[..i], &after[at + 1..]),
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    if rest.is_empty() {
        base
    } else {
        format!("{base}?REDACTED")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_url_drops_query_fragment_and_userinfo() {
        use super::redact_url;
        assert_eq!(redact_url("https://h.example/a/b"), "https://h.example/a/b");
        assert_eq!(redact_url("https://h/a?code=x&s=y"), "https://h/a?REDACTED");
        assert_eq!(
            redact_url("https://u:p@h:8/a#frag"),
            "https://h:8/a?REDACTED"
        );
        assert_eq!(redact_url("https://h/a@b"), "https://h/a@b");
    }
}
