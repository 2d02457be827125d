//! `keyhelm kube --account NAME`: kubectl's exec credential plugin (research/protocols.md,
//! section D).
//!
//! kubectl runs the plugin with `KUBERNETES_EXEC_INFO` set to an `ExecCredential` that says
//! which `apiVersion` it expects back (`client.authentication.k8s.io/v1` or `v1beta1`),
//! whether the user can be asked (`spec.interactive`), and, with `provideClusterInfo: true`,
//! the cluster (`spec.cluster.server`). keyhelm prints
//!
//! ```json
//! {"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
//!  "status":{"expirationTimestamp":"2026-11-23T12:00:00Z","token":"..."}}
//! ```
//!
//! with the account's token (`expirationTimestamp` only when the token expires), and exits 0.
//! Without `--account`, the account whose URL patterns match `spec.cluster.server` answers.
//! When there is no token, or the account cannot log in, it exits non-zero with a message on
//! stderr, which kubectl shows. It never reads stdin, and it never prompts when kubectl says
//! the session is not interactive.
//!
//! kubectl runs the plugin often (once per request after a 401): a valid cached token costs
//! one vault read and no plugin.
//!
//! Setting kubectl up and checking it: [`config`].

pub mod config;

use std::io::Write;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cmd::account::has_terminal;
use crate::ctx::Ctx;
use crate::error::{Failure, Result};
use crate::provider;

/// The exec credential API keyhelm prefers (and `keyhelm setup kubectl` writes).
pub const API_V1: &str = "client.authentication.k8s.io/v1";
/// The older API, still accepted by kubectl.
pub const API_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// What kubectl tells the plugin.
#[derive(Debug, PartialEq, Eq)]
pub struct ExecInfo {
    pub api_version: &'static str,
    /// Whether kubectl passed the terminal through (prompts are possible).
    pub interactive: bool,
    /// The cluster's URL, with `provideClusterInfo: true`.
    pub server: Option<String>,
}

#[derive(Deserialize)]
struct RawInfo {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(default)]
    spec: Option<RawSpec>,
}

#[derive(Deserialize)]
struct RawSpec {
    #[serde(default)]
    interactive: Option<bool>,
    #[serde(default)]
    cluster: Option<RawCluster>,
}

#[derive(Deserialize)]
struct RawCluster {
    #[serde(default)]
    server: Option<String>,
}

const SETUP_HINT: &str = "set `apiVersion: client.authentication.k8s.io/v1` in the exec section \
                          of the kubeconfig user (`keyhelm setup kubectl` writes it)";

impl ExecInfo {
    /// Parses `KUBERNETES_EXEC_INFO`; without it (someone ran keyhelm by hand), v1, and
    /// interactive when there is a terminal (`terminal` is only asked when it matters). Errors never quote the variable: with
    /// `provideClusterInfo` it carries the cluster's configuration.
    pub fn parse(
        info: Option<&std::ffi::OsStr>,
        terminal: impl FnOnce() -> bool,
    ) -> Result<ExecInfo> {
        let Some(info) = info else {
            return Ok(ExecInfo {
                api_version: API_V1,
                interactive: terminal(),
                server: None,
            });
        };
        let text = info.to_str().ok_or_else(|| {
            Failure::bad_request("KUBERNETES_EXEC_INFO is not UTF-8")
                .hint("keyhelm kube is run by kubectl, which sets it")
        })?;
        let raw: RawInfo = serde_json::from_str(text).map_err(|e| {
            Failure::bad_request(format!(
                "KUBERNETES_EXEC_INFO is not an ExecCredential (JSON error at column {})",
                e.column()
            ))
            .hint("keyhelm kube is run by kubectl, which sets it")
        })?;
        let api_version = match raw.api_version.as_deref() {
            Some(API_V1) | None => API_V1,
            Some(API_V1BETA1) => API_V1BETA1,
            Some(other) => {
                let shown: String = other
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(80)
                    .collect();
                return Err(Failure::bad_request(format!(
                    "kubectl asks for an ExecCredential of apiVersion '{shown}'; keyhelm answers \
                     {API_V1} and {API_V1BETA1}"
                ))
                .hint(SETUP_HINT));
            }
        };
        let spec = raw.spec.unwrap_or(RawSpec {
            interactive: None,
            cluster: None,
        });
        Ok(ExecInfo {
            api_version,
            interactive: spec.interactive.unwrap_or(false) && terminal(),
            server: spec.cluster.and_then(|c| c.server),
        })
    }
}

/// `server` as (protocol, host[:port], path) for URL pattern matching.
fn split_server(server: &str) -> Option<(String, String, Option<String>)> {
    let url = url::Url::parse(server).ok()?;
    let host = url.host_str()?;
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let path = url.path().trim_matches('/');
    Some((
        url.scheme().to_owned(),
        host,
        (!path.is_empty()).then(|| path.to_owned()),
    ))
}

/// Runs the plugin: the `ExecCredential` on stdout.
pub fn run(ctx: &Ctx, account: Option<&str>, output: &mut impl Write) -> Result<()> {
    let info = ExecInfo::parse(ctx.env.kubernetes_exec_info.as_deref(), has_terminal)?;
    let vault = ctx.vault()?.ok_or_else(|| {
        Failure::not_found("keyhelm has no vault on this device, so no account to log in with")
            .hint("run `keyhelm init`, then `keyhelm account add NAME --provider P`")
    })?;
    let snapshot = vault.read()?;
    let server = info.server.as_deref().and_then(split_server);
    let name = match (account, &server) {
        (Some(name), _) => {
            provider::account(&snapshot, name)?;
            name.to_owned()
        }
        (None, Some((protocol, host, path))) => {
            provider::account_for(&snapshot, protocol, host, path.as_deref())
                .map(|a| a.name.clone())
                .ok_or_else(|| {
                    let server = info.server.as_deref().unwrap_or_default();
                    Failure::not_found(format!("no account answers for the cluster at {server}"))
                        .hint(format!(
                            "add `--account NAME` to the exec args of the kubeconfig user \
                         (`keyhelm setup kubectl --account NAME`), or add an account with \
                         --match {server}"
                        ))
                })?
        }
        (None, None) => {
            return Err(Failure::usage(
                "keyhelm kube needs --account NAME, or the cluster's URL to find the account by",
            )
            .hint(
                "add `--account NAME` to the exec args of the kubeconfig user (`keyhelm setup \
                 kubectl --account NAME` does), or set `provideClusterInfo: true` there",
            ));
        }
    };
    // The hot path: a fresh cached token, answered from the snapshot already read.
    let token = match provider::fresh(snapshot.token(&name)) {
        Some(token) => token.clone(),
        None => {
            drop(snapshot);
            let (protocol, host, path) = server.unzip3();
            let path = path.flatten();
            let target = provider::Target {
                protocol: protocol.as_deref(),
                host: host.as_deref(),
                path: path.as_deref(),
                username: None,
            };
            let opts = provider::Options::lookup(info.interactive);
            provider::token(ctx, &vault, &name, target, opts)?
        }
    };
    let bytes = encode(info.api_version, &token.secret, token.expires_at);
    crate::out::write_all(output, &bytes)?;
    Ok(())
}

/// Unzips an optional triple.
trait Unzip3<A, B, C> {
    fn unzip3(self) -> (Option<A>, Option<B>, Option<C>);
}

impl<A, B, C> Unzip3<A, B, C> for Option<(A, B, C)> {
    fn unzip3(self) -> (Option<A>, Option<B>, Option<C>) {
        match self {
            Some((a, b, c)) => (Some(a), Some(b), Some(c)),
            None => (None, None, None),
        }
    }
}

/// The `ExecCredential` line, in a buffer zeroized when dropped.
pub fn encode(
    api_version: &str,
    token: &secrecy::SecretString,
    expires_at: Option<u64>,
) -> Zeroizing<Vec<u8>> {
    use secrecy::ExposeSecret;
    #[derive(Serialize)]
    struct Status<'a> {
        #[serde(
            rename = "expirationTimestamp",
            skip_serializing_if = "Option::is_none"
        )]
        expiration_timestamp: Option<String>,
        token: &'a str,
    }
    #[derive(Serialize)]
    struct ExecCredential<'a> {
        #[serde(rename = "apiVersion")]
        api_version: &'a str,
        kind: &'static str,
        status: Status<'a>,
    }
    let token = token.expose_secret();
    let expiration_timestamp = expires_at.map(|at| {
        jiff::Timestamp::from_second(i64::try_from(at).unwrap_or(i64::MAX))
            .unwrap_or(jiff::Timestamp::MAX)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    });
    // Sized for the worst case so that the buffer never grows and leaves a copy behind.
    let mut buf = Zeroizing::new(Vec::with_capacity(token.len() * 6 + 256));
    serde_json::to_writer(
        &mut *buf,
        &ExecCredential {
            api_version,
            kind: "ExecCredential",
            status: Status {
                expiration_timestamp,
                token,
            },
        },
    )
    .expect("an ExecCredential always encodes");
    buf.push(b'\n');
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn parse(text: &str, terminal: bool) -> Result<ExecInfo> {
        ExecInfo::parse(Some(OsStr::new(text)), || terminal)
    }

    #[test]
    fn exec_info_is_read_like_client_go_writes_it() {
        let info = parse(
            "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
             \"spec\":{\"interactive\":false}}\n",
            true,
        )
        .unwrap();
        assert_eq!(
            info,
            ExecInfo {
                api_version: API_V1,
                interactive: false,
                server: None
            }
        );
        let info = parse(
            r#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":true,"cluster":{"server":"https://127.0.0.1:6443","certificate-authority-data":"AAAA","config":{"x":1}}}}"#,
            true,
        )
        .unwrap();
        assert_eq!(info.api_version, API_V1BETA1);
        assert!(info.interactive);
        assert_eq!(info.server.as_deref(), Some("https://127.0.0.1:6443"));
        // Interactive needs a terminal too.
        let info = parse(r#"{"spec":{"interactive":true}}"#, false).unwrap();
        assert!(!info.interactive);
        // No variable at all: someone ran it by hand.
        let info = ExecInfo::parse(None, || true).unwrap();
        assert_eq!(info.api_version, API_V1);
        assert!(info.interactive);
    }

    #[test]
    fn bad_exec_info_is_a_clear_error() {
        let e = parse(
            r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1"}"#,
            false,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "kubectl asks for an ExecCredential of apiVersion \
             'client.authentication.k8s.io/v1alpha1'; keyhelm answers \
             client.authentication.k8s.io/v1 and client.authentication.k8s.io/v1beta1"
        );
        assert_eq!(e.hint.as_deref(), Some(SETUP_HINT));
        let e = parse(
            r#"{"spec":{"cluster":{"certificate-authority-data":"s3cret"#,
            false,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "KUBERNETES_EXEC_INFO is not an ExecCredential (JSON error at column 56)"
        );
        assert!(!e.to_string().contains("s3cret"));
        assert_eq!(e.exit, crate::error::Exit::BadRequest);
    }

    #[test]
    fn exec_credentials_have_clients_shape() {
        let out = encode(API_V1, &"t0k".into(), Some(1_900_000_000));
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
             \"status\":{\"expirationTimestamp\":\"2030-03-17T17:46:40Z\",\"token\":\"t0k\"}}\n"
        );
        let out = encode(API_V1BETA1, &"t\"0k".into(), None);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\
             \"status\":{\"token\":\"t\\\"0k\"}}\n"
        );
    }

    #[test]
    fn servers_split_for_matching() {
        assert_eq!(
            split_server("https://127.0.0.1:6443"),
            Some(("https".into(), "127.0.0.1:6443".into(), None))
        );
        assert_eq!(
            split_server("https://k8s.example/clusters/a/"),
            Some((
                "https".into(),
                "k8s.example".into(),
                Some("clusters/a".into())
            ))
        );
        assert_eq!(split_server("not a url"), None);
    }
}
