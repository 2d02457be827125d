//! A Kubernetes API server stub, enough for the real `kubectl get pods`, `kubectl get --raw`
//! and `kubectl version`, that checks `Authorization: Bearer <token>` on every request.
//!
//! It serves HTTPS by default, with a throw-away CA that [`KubeApi::kubeconfig`] puts in
//! `certificate-authority-data`: kubectl (client-go's `clientcmd`) reads a user's
//! credentials, static token or exec plugin alike, only when the server URL is `https://`,
//! and against a plain-HTTP server it runs no exec plugin and sends no `Authorization`
//! header at all. [`KubeApiBuilder::tls`]`(false)` gives such a server, for tests that show
//! exactly that.
//!
//! Served: `/version`; discovery (`/api`, `/apis` both as the aggregated discovery documents
//! `apidiscovery.k8s.io/v2` that kubectl 1.32 asks for first, and as the legacy
//! `APIVersions`/`APIGroupList` when the client only accepts plain JSON, or always when
//! aggregated discovery is turned off; `/api/v1` as an `APIResourceList`); pods
//! (`/api/v1/pods`, `/api/v1/namespaces/<ns>/pods`, `/api/v1/namespaces/<ns>/pods/<name>`)
//! as a `meta.k8s.io/v1` `Table` when the `Accept` header asks for `as=Table`, else as a
//! `PodList`/`Pod`. Anything else is a 404 `Status`.
//!
//! Refused or missing credentials get `401` with a `Status` body (`reason: Unauthorized`),
//! which kubectl reports as `error: You must be logged in to the server (Unauthorized)`.
//!
//! ```no_run
//! use keyhelm_testkit::kube_api::{KubeApi, KubeAuthPolicy, KubeUser};
//! let api = KubeApi::start(KubeAuthPolicy::token("t0k"))?;
//! api.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"), &KubeUser::token("t0k"))?;
//! // ... KUBECONFIG=/tmp/kubeconfig kubectl get pods ...
//! assert!(api.counts().authenticated > 0);
//! # anyhow::Ok(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::bins::write_file;
use crate::server::{Records, Served, TokenPolicy, json_with_type};

/// The `apiVersion` of exec credential plugins this module writes by default.
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1";

/// The name of the cluster, user and context in kubeconfigs written by this module.
pub const CONTEXT_NAME: &str = "keyhelm-test";

const CREATED: &str = "2026-01-01T00:00:00Z";
const DISCOVERY_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const TABLE_V1: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// Which bearer tokens the server accepts: the policy sees what follows `Bearer `.
pub type KubeAuthPolicy = TokenPolicy;

/// The server's decision about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KubeOutcome {
    /// No `Authorization` header: 401.
    Missing,
    /// An `Authorization` header that is not `Bearer <token>`: 401.
    NotBearer,
    /// A bearer token the policy refused: 401.
    Refused,
    /// A bearer token the policy accepted.
    Authenticated,
}

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KubeRequest {
    /// `GET`, ...
    pub method: String,
    /// The URL path, e.g. `/api/v1/namespaces/default/pods`.
    pub path: String,
    /// The raw query string (empty when absent).
    pub query: String,
    /// The `Accept` header (empty when absent).
    pub accept: String,
    /// The authentication decision.
    pub outcome: KubeOutcome,
    /// The HTTP status returned.
    pub status: u16,
}

/// Counts over all recorded requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KubeCounts {
    /// Requests answered 401.
    pub refused: usize,
    /// Requests without any `Authorization` header (included in `refused`).
    pub missing: usize,
    /// Requests with an accepted bearer token.
    pub authenticated: usize,
}

/// The `users[].user` stanza of a kubeconfig.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KubeUser {
    /// A static `token:`.
    Token(String),
    /// An `exec:` credential plugin.
    Exec(ExecConfig),
}

impl KubeUser {
    /// A static bearer token.
    pub fn token(token: impl Into<String>) -> Self {
        KubeUser::Token(token.into())
    }

    /// An exec plugin running `command` (absolute path, or relative to the kubeconfig's
    /// folder) with the defaults of [`ExecConfig::new`].
    pub fn exec(command: impl Into<PathBuf>) -> Self {
        KubeUser::Exec(ExecConfig::new(command))
    }

    fn to_json(&self) -> Value {
        match self {
            KubeUser::Token(token) => json!({ "token": token }),
            KubeUser::Exec(exec) => json!({ "exec": exec.to_json() }),
        }
    }
}

impl fmt::Debug for KubeUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KubeUser::Token(_) => f.write_str("Token(REDACTED)"),
            KubeUser::Exec(exec) => f.debug_tuple("Exec").field(exec).finish(),
        }
    }
}

/// A kubeconfig `users[].user.exec` stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecConfig {
    /// `command`.
    pub command: PathBuf,
    /// `args`.
    pub args: Vec<String>,
    /// `env` as (name, value) pairs.
    pub env: Vec<(String, String)>,
    /// `apiVersion` (default [`EXEC_API_VERSION`]).
    pub api_version: String,
    /// `interactiveMode`: `Never` (default), `IfAvailable` or `Always`.
    pub interactive_mode: String,
    /// `provideClusterInfo` (default false).
    pub provide_cluster_info: bool,
    /// `installHint`, if any.
    pub install_hint: Option<String>,
}

impl ExecConfig {
    /// `command` with no args or env, `apiVersion: client.authentication.k8s.io/v1`,
    /// `interactiveMode: Never`, `provideClusterInfo: false`.
    pub fn new(command: impl Into<PathBuf>) -> Self {
        Self {
            command: command.into(),
            args: Vec::new(),
            env: Vec::new(),
            api_version: EXEC_API_VERSION.to_owned(),
            interactive_mode: "Never".to_owned(),
            provide_cluster_info: false,
            install_hint: None,
        }
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds an `env` entry.
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Sets `apiVersion`.
    #[must_use]
    pub fn api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = api_version.into();
        self
    }

    /// Sets `interactiveMode`.
    #[must_use]
    pub fn interactive_mode(mut self, mode: impl Into<String>) -> Self {
        self.interactive_mode = mode.into();
        self
    }

    /// Sets `provideClusterInfo`.
    #[must_use]
    pub fn provide_cluster_info(mut self, yes: bool) -> Self {
        self.provide_cluster_info = yes;
        self
    }

    fn to_json(&self) -> Value {
        let env: Vec<Value> = self
            .env
            .iter()
            .map(|(name, value)| json!({ "name": name, "value": value }))
            .collect();
        let mut exec = json!({
            "apiVersion": self.api_version,
            "command": self.command.to_string_lossy(),
            "args": self.args,
            "env": env,
            "interactiveMode": self.interactive_mode,
            "provideClusterInfo": self.provide_cluster_info,
        });
        if let Some(hint) = &self.install_hint {
            exec["installHint"] = json!(hint);
        }
        exec
    }
}

#[derive(Debug)]
struct Shared {
    base_url: String,
    policy: KubeAuthPolicy,
    aggregated_discovery: bool,
    pods: Vec<(String, String)>,
    requests: Records<KubeRequest>,
}

/// Builder for a [`KubeApi`].
#[derive(Debug)]
#[must_use]
pub struct KubeApiBuilder {
    policy: KubeAuthPolicy,
    aggregated_discovery: bool,
    tls: bool,
    pods: Vec<(String, String)>,
}

impl KubeApiBuilder {
    /// Serve aggregated discovery (`apidiscovery.k8s.io/v2`) to clients that ask for it
    /// (default: true). With false, only the legacy documents are served.
    pub fn aggregated_discovery(mut self, yes: bool) -> Self {
        self.aggregated_discovery = yes;
        self
    }

    /// Replaces the pods served (default: `web-1` and `web-2` in `default`).
    pub fn pods<'a>(mut self, pods: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.pods = pods
            .into_iter()
            .map(|(ns, name)| (ns.to_owned(), name.to_owned()))
            .collect();
        self
    }

    /// Serve HTTPS with a throw-away CA (default: true). With false the server speaks plain
    /// HTTP, and kubectl then sends it no credentials at all (see the module docs).
    pub fn tls(mut self, yes: bool) -> Self {
        self.tls = yes;
        self
    }

    /// Starts serving.
    pub fn start(self) -> anyhow::Result<KubeApi> {
        let make_state = |base_url| Shared {
            base_url,
            policy: self.policy,
            aggregated_discovery: self.aggregated_discovery,
            pods: self.pods,
            requests: Records::default(),
        };
        let served = Served::start("kube-api", self.tls, make_state, handle)
            .context("starting the kube API stub")?;
        Ok(KubeApi { served })
    }
}

/// A Kubernetes API stub on `https://127.0.0.1:PORT`. Stops when dropped.
#[derive(Debug)]
pub struct KubeApi {
    served: Served<Shared>,
}

impl KubeApi {
    /// A builder with the given token policy.
    pub fn builder(policy: KubeAuthPolicy) -> KubeApiBuilder {
        KubeApiBuilder {
            policy,
            aggregated_discovery: true,
            tls: true,
            pods: vec![
                ("default".into(), "web-1".into()),
                ("default".into(), "web-2".into()),
            ],
        }
    }

    /// An HTTPS server with the default pods and aggregated discovery.
    pub fn start(policy: KubeAuthPolicy) -> anyhow::Result<Self> {
        Self::builder(policy).start()
    }

    /// `https://127.0.0.1:PORT` (`http://` without TLS; no trailing slash), the cluster's
    /// `server`.
    pub fn url(&self) -> String {
        self.served.url()
    }

    /// With TLS: the PEM of the CA that signed the server's certificate (also in the
    /// kubeconfig's `certificate-authority-data`).
    pub fn ca_pem(&self) -> Option<&str> {
        self.served.ca_pem()
    }

    /// The names of the pods served in `namespace`.
    pub fn pod_names(&self, namespace: &str) -> Vec<String> {
        self.served
            .state()
            .pods
            .iter()
            .filter(|(ns, _)| ns == namespace)
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// A kubeconfig (as JSON, which kubectl reads like YAML) with one cluster pointing here
    /// (trusting the server's CA through `certificate-authority-data`), one user with the
    /// given stanza and one current context, all named [`CONTEXT_NAME`], namespace `default`.
    pub fn kubeconfig(&self, user: &KubeUser) -> Value {
        let mut cluster = json!({ "server": self.url() });
        if let Some(pem) = self.ca_pem() {
            use base64::Engine as _;
            cluster["certificate-authority-data"] =
                json!(base64::engine::general_purpose::STANDARD.encode(pem));
        }
        json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{ "name": CONTEXT_NAME, "cluster": cluster }],
            "users": [{ "name": CONTEXT_NAME, "user": user.to_json() }],
            "contexts": [{
                "name": CONTEXT_NAME,
                "context": { "cluster": CONTEXT_NAME, "user": CONTEXT_NAME, "namespace": "default" }
            }],
            "current-context": CONTEXT_NAME,
            "preferences": {},
        })
    }

    /// Writes [`KubeApi::kubeconfig`] to `path` (mode 0600; missing parent folders are
    /// created 0700).
    pub fn write_kubeconfig(&self, path: &Path, user: &KubeUser) -> anyhow::Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::bins::mkdir_private(parent)?;
        }
        let text = serde_json::to_string_pretty(&self.kubeconfig(user))?;
        write_file(path, text.as_bytes(), 0o600)
    }

    /// Every request seen so far, in arrival order.
    pub fn requests(&self) -> Vec<KubeRequest> {
        self.served.state().requests.all()
    }

    /// How many requests were authenticated and refused.
    pub fn counts(&self) -> KubeCounts {
        let mut counts = KubeCounts::default();
        for request in self.requests() {
            match request.outcome {
                KubeOutcome::Authenticated => counts.authenticated += 1,
                KubeOutcome::Missing => {
                    counts.refused += 1;
                    counts.missing += 1;
                }
                KubeOutcome::NotBearer | KubeOutcome::Refused => counts.refused += 1,
            }
        }
        counts
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.served.state().requests.clear();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let headers = request.headers();
    let accept = headers
        .get(header::ACCEPT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());

    let outcome = match headers.get(header::AUTHORIZATION) {
        None => KubeOutcome::Missing,
        Some(value) => {
            let value = String::from_utf8_lossy(value.as_bytes());
            match value.split_once(' ') {
                Some((scheme, token))
                    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
                {
                    if shared.policy.accepts(token.trim()).await {
                        KubeOutcome::Authenticated
                    } else {
                        KubeOutcome::Refused
                    }
                }
                _ => KubeOutcome::NotBearer,
            }
        }
    };

    let response = if outcome == KubeOutcome::Authenticated {
        route(&shared, &method, &path, accept.as_deref().unwrap_or(""))
    } else {
        status_response(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
    };
    shared.requests.push(KubeRequest {
        method: method.as_str().to_owned(),
        path,
        query,
        accept: accept.unwrap_or_default(),
        outcome,
        status: response.status().as_u16(),
    });
    response
}

/// A `Status` object, the body of every API error.
fn status_response(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    json_with_type(code, "application/json", &body)
}

/// True when one of the media ranges in `accept` has all the given parameters (in any order),
/// e.g. `as=Table`, `g=meta.k8s.io`, `v=v1`.
fn accepts(accept: &str, params: &[(&str, &str)]) -> bool {
    accept.split(',').any(|range| {
        let found: Vec<(String, String)> = range
            .split(';')
            .skip(1)
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        params
            .iter()
            .all(|(k, v)| found.iter().any(|(fk, fv)| fk == k && fv == v))
    })
}

fn route(shared: &Shared, method: &Method, path: &str, accept: &str) -> Response {
    if method != Method::GET {
        return status_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            &format!("the keyhelm test API server only serves GET, not {method}"),
        );
    }
    let aggregated = shared.aggregated_discovery
        && accepts(
            accept,
            &[
                ("g", "apidiscovery.k8s.io"),
                ("v", "v2"),
                ("as", "APIGroupDiscoveryList"),
            ],
        );
    let table = accepts(
        accept,
        &[("as", "Table"), ("g", "meta.k8s.io"), ("v", "v1")],
    );
    let ok = |body: Value| json_with_type(StatusCode::OK, "application/json", &body);
    // An aggregated discovery answer (`/api`, `/apis`) with these items.
    let discovery_v2 = |items: Value| {
        json_with_type(
            StatusCode::OK,
            DISCOVERY_V2,
            &json!({
                "kind": "APIGroupDiscoveryList",
                "apiVersion": "apidiscovery.k8s.io/v2",
                "metadata": {},
                "items": items,
            }),
        )
    };
    match path.trim_end_matches('/') {
        "/version" => ok(json!({
            "major": "1",
            "minor": "32",
            "gitVersion": "v1.32.4",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": CREATED,
            "goVersion": "go1.23.6",
            "compiler": "gc",
            "platform": "linux/amd64",
        })),
        "/api" if aggregated => discovery_v2(json!([{
            "metadata": { "creationTimestamp": null },
            "versions": [{
                "version": "v1",
                "resources": [pods_discovery_v2()],
                "freshness": "Current",
            }],
        }])),
        "/api" => ok(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{
                "clientCIDR": "0.0.0.0/0",
                "serverAddress": shared.base_url.trim_start_matches("http://"),
            }],
        })),
        "/apis" if aggregated => discovery_v2(json!([])),
        "/apis" => ok(json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": [] })),
        "/api/v1" => ok(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "v1",
            "resources": [{
                "name": "pods",
                "singularName": "pod",
                "namespaced": true,
                "kind": "Pod",
                "verbs": ["get", "list"],
                "shortNames": ["po"],
                "categories": ["all"],
            }],
        })),
        "/api/v1/pods" => pods_response(shared, None, None, table),
        other => {
            let rest = other.strip_prefix("/api/v1/namespaces/").unwrap_or("");
            match rest.split('/').collect::<Vec<_>>()[..] {
                [ns, "pods"] if !ns.is_empty() => pods_response(shared, Some(ns), None, table),
                [ns, "pods", name] if !ns.is_empty() => {
                    pods_response(shared, Some(ns), Some(name), table)
                }
                _ => status_response(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
            }
        }
    }
}

fn pods_discovery_v2() -> Value {
    json!({
        "resource": "pods",
        "responseKind": { "group": "", "version": "", "kind": "Pod" },
        "scope": "Namespaced",
        "singularResource": "pod",
        "verbs": ["get", "list"],
        "shortNames": ["po"],
        "categories": ["all"],
    })
}

fn pod_json(namespace: &str, name: &str) -> Value {
    json!({
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": format!("00000000-0000-0000-0000-{:012x}", fnv(namespace, name)),
            "resourceVersion": "1",
            "creationTimestamp": CREATED,
        },
        "spec": { "containers": [{ "name": "app", "image": "registry.invalid/app:1" }] },
        "status": { "phase": "Running" },
    })
}

/// A stable fake uid component, so repeated requests see the same object.
fn fnv(namespace: &str, name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in namespace.bytes().chain([b'/']).chain(name.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash & 0xffff_ffff_ffff
}

fn pods_response(
    shared: &Shared,
    namespace: Option<&str>,
    name: Option<&str>,
    table: bool,
) -> Response {
    let pods: Vec<(&str, &str)> = shared
        .pods
        .iter()
        .filter(|(ns, _)| namespace.is_none_or(|want| want == ns))
        .filter(|(_, pod)| name.is_none_or(|want| want == pod))
        .map(|(ns, pod)| (ns.as_str(), pod.as_str()))
        .collect();
    if let Some(name) = name
        && pods.is_empty()
    {
        return status_response(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("pods \"{name}\" not found"),
        );
    }
    if table {
        let column = |name: &str, format: &str, description: &str| json!({ "name": name, "type": "string", "format": format, "description": description, "priority": 0 });
        let rows: Vec<Value> = pods
            .iter()
            .map(|(ns, pod)| {
                json!({
                    "cells": [pod, "1/1", "Running", "0", "1d"],
                    "object": {
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": pod_json(ns, pod)["metadata"],
                    },
                })
            })
            .collect();
        return json_with_type(
            StatusCode::OK,
            TABLE_V1,
            &json!({
                "kind": "Table",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": { "resourceVersion": "1" },
                "columnDefinitions": [
                    column("Name", "name", "Name must be unique within a namespace."),
                    column("Ready", "", "The aggregate readiness state of this pod for accepting traffic."),
                    column("Status", "", "The aggregate status of the containers in this pod."),
                    column("Restarts", "", "The number of times the containers in this pod have been restarted."),
                    column("Age", "", "CreationTimestamp is a timestamp representing the server time when this object was created."),
                ],
                "rows": rows,
            }),
        );
    }
    if name.is_some() {
        let (ns, pod) = pods[0];
        let mut object = pod_json(ns, pod);
        object["kind"] = json!("Pod");
        object["apiVersion"] = json!("v1");
        return json_with_type(StatusCode::OK, "application/json", &object);
    }
    let items: Vec<Value> = pods.iter().map(|(ns, pod)| pod_json(ns, pod)).collect();
    json_with_type(
        StatusCode::OK,
        "application/json",
        &json!({ "kind": "PodList", "apiVersion": "v1", "metadata": { "resourceVersion": "1" }, "items": items }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_parameters_are_matched_in_any_order() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
                       application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(accepts(
            kubectl,
            &[
                ("g", "apidiscovery.k8s.io"),
                ("v", "v2"),
                ("as", "APIGroupDiscoveryList")
            ]
        ));
        assert!(!accepts("application/json", &[("as", "Table")]));
        assert!(accepts(
            "application/json;as=Table;v=v1;g=meta.k8s.io",
            &[("g", "meta.k8s.io"), ("as", "Table"), ("v", "v1")]
        ));
        assert!(!accepts(
            "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
            &[("as", "Table"), ("v", "v1")]
        ));
    }

    #[test]
    fn token_users_are_redacted_in_debug() {
        let user = KubeUser::token("t0k-secret");
        assert_eq!(format!("{user:?}"), "Token(REDACTED)");
        let exec = KubeUser::Exec(ExecConfig::new("/bin/plugin").args(["get"]).env("A", "b"));
        assert!(format!("{exec:?}").contains("/bin/plugin"));
    }

    #[test]
    fn exec_stanzas_have_the_required_fields() {
        let exec = ExecConfig::new("/bin/plugin")
            .args(["kube", "--x"])
            .env("K", "v")
            .provide_cluster_info(true);
        let json = exec.to_json();
        assert_eq!(json["apiVersion"], EXEC_API_VERSION);
        assert_eq!(json["interactiveMode"], "Never");
        assert_eq!(json["provideClusterInfo"], true);
        assert_eq!(json["args"], json!(["kube", "--x"]));
        assert_eq!(json["env"], json!([{ "name": "K", "value": "v" }]));
    }
}
