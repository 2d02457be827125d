//! docker's `config.json`: where it is, what it says about credential helpers, and how
//! keyhelm changes it without clobbering anything.
//!
//! The file lives in `$DOCKER_CONFIG` (relative to the current folder when relative, as
//! docker reads it), else in `~/.docker`. keyhelm reads it as an ordered JSON document and
//! writes it back with every key in its place and docker's own layout (tab indentation);
//! only `credsStore` or one entry of `credHelpers` changes. The write is atomic (a
//! temporary file in the same folder, fsync, rename), keeps the file's mode (0600 for a new
//! file, in a 0700 folder), and goes to the target of a symbolic link, as docker does.
//!
//! The file can hold plain-text credentials (`auths.*.auth`): error messages name a line
//! and column, never content, and `Debug` shows key names only.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use zeroize::Zeroizing;

use crate::error::{Failure, Result};
use crate::paths::Env;

/// The folder of docker's configuration.
pub fn config_dir(env: &Env) -> Result<PathBuf> {
    if let Some(dir) = &env.docker_config {
        return std::path::absolute(dir)
            .map_err(|e| Failure::io("cannot resolve DOCKER_CONFIG", dir, &e));
    }
    match &env.home {
        Some(home) => Ok(home.join(".docker")),
        None => Err(Failure::other(
            "cannot tell where docker's configuration is: neither DOCKER_CONFIG nor HOME is set",
        )
        .hint("set DOCKER_CONFIG to the folder of docker's config.json")),
    }
}

/// A JSON value that keeps the order of object keys.
#[derive(Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Never the content: the file may hold credentials.
impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Object(entries) => f
                .debug_map()
                .entries(entries.iter().map(|(k, _)| (k, "..")))
                .finish(),
            Json::Array(items) => write!(f, "[{} items]", items.len()),
            _ => f.write_str("REDACTED"),
        }
    }
}

impl Json {
    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            // Like Go, the last of two equal keys wins.
            Json::Object(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// Sets `key` in an object, in place when it exists (every copy of it), appended
    /// otherwise. Returns the previous value.
    fn set(&mut self, key: &str, value: Json) -> Option<Json> {
        let Json::Object(entries) = self else {
            return None;
        };
        let mut previous = None;
        for (k, v) in entries.iter_mut() {
            if k == key {
                previous = Some(std::mem::replace(v, value.clone()));
            }
        }
        if previous.is_none() {
            entries.push((key.to_owned(), value));
        }
        previous
    }

    /// Compact JSON text, for reporting a replaced value that is not a string.
    fn compact(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl serde::Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(v) => s.serialize_str(v),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Json, D::Error> {
        struct JsonVisitor;
        impl<'de> Visitor<'de> for JsonVisitor {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Json, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Json, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Json, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Json, E> {
                serde_json::Number::from_f64(v)
                    .map(Json::Number)
                    .ok_or_else(|| E::custom("a number JSON cannot hold"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Json, E> {
                Ok(Json::String(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Json, E> {
                Ok(Json::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Json, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Json>()? {
                    entries.push((k, v));
                }
                Ok(Json::Object(entries))
            }
        }
        d.deserialize_any(JsonVisitor)
    }
}

/// What a change did to a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// It already had the value.
    Unchanged,
    /// It was not there.
    Added,
    /// It had another value, shown as text (a string's content, or compact JSON).
    Replaced(String),
}

/// docker's `config.json`, as read.
#[derive(Debug)]
pub struct DockerConfig {
    /// The file (possibly a symbolic link).
    pub path: PathBuf,
    /// Whether the file exists.
    pub exists: bool,
    doc: Json,
}

impl DockerConfig {
    /// Reads the `config.json` in `dir`; a missing file is an empty configuration. A file
    /// that is not a JSON object is an error, and is never written.
    pub fn load(dir: &Path) -> Result<DockerConfig> {
        let path = dir.join("config.json");
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig {
                    path,
                    exists: false,
                    doc: Json::Object(Vec::new()),
                });
            }
            Err(e) => return Err(Failure::io("cannot read docker's configuration", &path, &e)),
        };
        let unusable = |what: String| {
            Failure::other(format!("docker's configuration {} {what}", path.display())).hint(
                "fix the file or move it away, then run the command again; keyhelm changed nothing",
            )
        };
        // docker itself accepts an empty file.
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(DockerConfig {
                path,
                exists: true,
                doc: Json::Object(Vec::new()),
            });
        }
        let doc: Json = serde_json::from_slice(&bytes).map_err(|e| {
            unusable(format!(
                "is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if !matches!(doc, Json::Object(_)) {
            return Err(unusable("is not a JSON object".to_owned()));
        }
        Ok(DockerConfig {
            path,
            exists: true,
            doc,
        })
    }

    /// `credsStore`, when it is a string.
    pub fn creds_store(&self) -> Option<&str> {
        self.doc.get("credsStore").and_then(Json::as_str)
    }

    /// `credHelpers`: registry -> helper name (entries that are not strings are skipped).
    pub fn cred_helpers(&self) -> Vec<(&str, &str)> {
        match self.doc.get("credHelpers") {
            Some(Json::Object(entries)) => entries
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The helper docker runs for `registry` (its `credHelpers` entry, else `credsStore`).
    pub fn helper_for(&self, registry: &str) -> Option<&str> {
        self.cred_helpers()
            .into_iter()
            .rev()
            .find(|(r, _)| *r == registry)
            .map(|(_, h)| h)
            .or_else(|| self.creds_store())
    }

    /// The registries under `auths` that keep a credential in this file, in plain text
    /// (`auth`, `password`, `identitytoken` or `registrytoken` set).
    pub fn plaintext_auths(&self) -> Vec<&str> {
        let Some(Json::Object(auths)) = self.doc.get("auths") else {
            return Vec::new();
        };
        auths
            .iter()
            .filter(|(_, entry)| {
                ["auth", "password", "identitytoken", "registrytoken"]
                    .iter()
                    .any(|k| {
                        entry
                            .get(k)
                            .and_then(Json::as_str)
                            .is_some_and(|v| !v.is_empty())
                    })
            })
            .map(|(registry, _)| registry.as_str())
            .collect()
    }

    /// The [plain-text](Self::plaintext_auths) registries that docker sends to `helper`: it
    /// no longer reads their credentials in this file.
    pub fn plaintext_auths_sent_to(&self, helper: &str) -> Vec<&str> {
        self.plaintext_auths()
            .into_iter()
            .filter(|r| self.helper_for(r) == Some(helper))
            .collect()
    }

    /// Sets `credsStore`.
    pub fn set_creds_store(&mut self, helper: &str) -> Change {
        let previous = self.doc.set("credsStore", Json::String(helper.to_owned()));
        change(previous, helper)
    }

    /// Sets `credHelpers[registry]`; creates `credHelpers` when missing. Refuses (changing
    /// nothing) when `credHelpers` is there but is not an object.
    pub fn set_cred_helper(&mut self, registry: &str, helper: &str) -> Result<Change> {
        let helpers = match &mut self.doc {
            Json::Object(entries) => match entries.iter().rposition(|(k, _)| k == "credHelpers") {
                Some(i) => &mut entries[i].1,
                None => {
                    entries.push(("credHelpers".to_owned(), Json::Object(Vec::new())));
                    &mut entries.last_mut().expect("just pushed").1
                }
            },
            _ => unreachable!("load() only keeps objects"),
        };
        if !matches!(helpers, Json::Object(_)) {
            return Err(Failure::other(format!(
                "credHelpers in {} is not a JSON object",
                self.path.display()
            ))
            .hint("fix the file (credHelpers maps registries to helper names); keyhelm changed nothing"));
        }
        let previous = helpers.set(registry, Json::String(helper.to_owned()));
        Ok(change(previous, helper))
    }

    /// The file's new content: docker's layout, tab-indented, keys in their order.
    pub fn render(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(4096));
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut *out, formatter);
        serde::Serialize::serialize(&self.doc, &mut ser).expect("writing to memory cannot fail");
        out.push(b'\n');
        out
    }

    /// Writes the file atomically (see the module documentation).
    pub fn save(&self) -> Result<()> {
        // docker writes through a symbolic link to its target.
        let target = match std::fs::canonicalize(&self.path) {
            Ok(target) => target,
            Err(_) => self.path.clone(),
        };
        let dir = target
            .parent()
            .ok_or_else(|| Failure::other(format!("{} has no folder", target.display())))?;
        if !dir.exists() {
            crate::paths::create_private_dir(dir)?;
        }
        let mode = std::fs::metadata(&target)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
            .unwrap_or(0o600);
        let mut tmp = tempfile::Builder::new()
            .prefix(".config.json.keyhelm-")
            .tempfile_in(dir)
            .map_err(|e| Failure::io("cannot create a temporary file in", dir, &e))?;
        let bytes = self.render();
        tmp.write_all(&bytes)
            .and_then(|()| {
                tmp.as_file()
                    .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
            })
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| Failure::io("cannot write", tmp.path(), &e))?;
        tmp.persist(&target)
            .map_err(|e| Failure::io("cannot replace", &target, &e.error))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Failure::io("cannot sync folder", dir, &e))?;
        Ok(())
    }
}

fn change(previous: Option<Json>, new: &str) -> Change {
    match previous {
        None => Change::Added,
        Some(Json::String(old)) if old == new => Change::Unchanged,
        Some(Json::String(old)) => Change::Replaced(old),
        Some(other) => Change::Replaced(other.compact()),
    }
}

/// docker's key for a registry given as a host, `host:port` or URL: Docker Hub's names
/// become `https://index.docker.io/v1/` (the key docker uses for it), other URLs lose their
/// scheme and trailing `/` (docker keys them by `host[:port]`).
pub fn registry_key(input: &str) -> Result<String> {
    let bad = |why: &str| {
        Failure::usage(format!("'{input}' is not a registry: {why}"))
            .hint("name it as docker does: a host with an optional port, such as ghcr.io or localhost:5000")
    };
    let text = input.trim();
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) || text.is_empty() {
        return Err(bad("it is empty or contains white space"));
    }
    let bare = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(text);
    if bare.contains("://") {
        return Err(bad("only http:// and https:// URLs name a registry"));
    }
    let hub = ["docker.io", "index.docker.io", "registry-1.docker.io"];
    let host = bare.trim_end_matches('/');
    if hub.contains(&host.to_ascii_lowercase().as_str())
        || host.eq_ignore_ascii_case("index.docker.io/v1")
    {
        return Ok("https://index.docker.io/v1/".to_owned());
    }
    if host.contains('/') {
        return Err(bad("docker keys registries by host, without a path"));
    }
    if host.contains('@') || host.is_empty() {
        return Err(bad("it has no host, or a user name"));
    }
    Ok(host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn load_text(text: &str) -> (tempfile::TempDir, DockerConfig) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), text).unwrap();
        let config = DockerConfig::load(dir.path()).unwrap();
        (dir, config)
    }

    fn rendered(c: &DockerConfig) -> String {
        String::from_utf8(c.render().to_vec()).unwrap()
    }

    #[test]
    fn keeps_every_key_in_its_place() {
        let (_dir, mut c) = load_text(
            r#"{"auths":{"z.tld":{},"a.tld":{"auth":"dTpw"}},"psFormat":"x","credsStore":"desktop","proxies":{"default":{"httpProxy":"p"}},"n":[1,2.5,true,null]}"#,
        );
        assert_eq!(
            c.set_creds_store("keyhelm"),
            Change::Replaced("desktop".into())
        );
        assert_eq!(
            rendered(&c),
            "{\n\t\"auths\": {\n\t\t\"z.tld\": {},\n\t\t\"a.tld\": {\n\t\t\t\"auth\": \"dTpw\"\n\t\t}\n\t},\n\
             \t\"psFormat\": \"x\",\n\t\"credsStore\": \"keyhelm\",\n\t\"proxies\": {\n\t\t\"default\": {\n\
             \t\t\t\"httpProxy\": \"p\"\n\t\t}\n\t},\n\t\"n\": [\n\t\t1,\n\t\t2.5,\n\t\ttrue,\n\t\tnull\n\t]\n}\n"
        );
        assert_eq!(c.set_creds_store("keyhelm"), Change::Unchanged);
        assert_eq!(c.plaintext_auths(), ["a.tld"]);
        assert_eq!(c.plaintext_auths_sent_to("keyhelm"), ["a.tld"]);
        assert!(c.plaintext_auths_sent_to("desktop").is_empty());
    }

    #[test]
    fn cred_helpers_are_created_or_updated() {
        let (_dir, mut c) = load_text("{\"credsStore\":\"desktop\"}");
        assert_eq!(
            c.set_cred_helper("ghcr.io", "keyhelm").unwrap(),
            Change::Added
        );
        assert_eq!(
            c.set_cred_helper("ghcr.io", "keyhelm").unwrap(),
            Change::Unchanged
        );
        assert_eq!(c.helper_for("ghcr.io"), Some("keyhelm"));
        assert_eq!(c.helper_for("quay.io"), Some("desktop"));
        let (_dir, mut c) = load_text(r#"{"credHelpers":{"ghcr.io":"gcloud","quay.io":7}}"#);
        assert_eq!(
            c.set_cred_helper("ghcr.io", "keyhelm").unwrap(),
            Change::Replaced("gcloud".into())
        );
        assert_eq!(
            c.set_cred_helper("quay.io", "keyhelm").unwrap(),
            Change::Replaced("7".into())
        );
        assert_eq!(
            c.cred_helpers(),
            [("ghcr.io", "keyhelm"), ("quay.io", "keyhelm")]
        );
        let (_dir, mut c) = load_text(r#"{"credHelpers":"nope"}"#);
        let err = c.set_cred_helper("ghcr.io", "keyhelm").unwrap_err();
        assert!(
            err.message.ends_with("is not a JSON object"),
            "{}",
            err.message
        );
    }

    #[test]
    fn unusable_files_are_refused_without_showing_them() {
        for (text, expected) in [
            (
                "{\"auths\":{\"a\":{\"auth\":\"c2VjcmV0\"}}",
                "is not valid JSON (line 1, column 34)",
            ),
            (
                "{\"auth\": c2VjcmV0}",
                "is not valid JSON (line 1, column 10)",
            ),
            ("[\"c2VjcmV0\"]", "is not a JSON object"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("config.json"), text).unwrap();
            let err = DockerConfig::load(dir.path()).unwrap_err();
            assert!(err.message.ends_with(expected), "{text}: {}", err.message);
            assert!(!err.message.contains("c2VjcmV0"), "{}", err.message);
        }
        let (_dir, c) = load_text(" \n");
        assert!(c.exists);
        assert_eq!(rendered(&c), "{}\n");
        let (_dir, c) = load_text("{\"auths\":{\"a\":{\"auth\":\"c2VjcmV0\"}}}");
        let shown = format!("{c:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(shown.contains("auths"), "{shown}");
    }

    #[test]
    fn save_is_private_keeps_modes_and_follows_links() {
        let dir = tempfile::tempdir().unwrap();
        let docker = dir.path().join("new/.docker");
        let mut c = DockerConfig::load(&docker).unwrap();
        assert!(!c.exists);
        c.set_creds_store("keyhelm");
        c.save().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&docker.join("config.json")), 0o600);
        assert_eq!(mode(&docker), 0o700);

        std::fs::set_permissions(
            docker.join("config.json"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let real = dir.path().join("real.json");
        std::fs::rename(docker.join("config.json"), &real).unwrap();
        std::os::unix::fs::symlink(&real, docker.join("config.json")).unwrap();
        let mut c = DockerConfig::load(&docker).unwrap();
        c.set_cred_helper("ghcr.io", "keyhelm").unwrap();
        c.save().unwrap();
        assert!(
            std::fs::symlink_metadata(docker.join("config.json"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(mode(&real), 0o644);
        assert!(
            std::fs::read_to_string(&real)
                .unwrap()
                .contains("\"ghcr.io\": \"keyhelm\"")
        );
    }

    #[test]
    fn registry_keys_are_dockers() {
        for (given, key) in [
            ("ghcr.io", "ghcr.io"),
            ("https://ghcr.io/", "ghcr.io"),
            ("http://localhost:5000", "localhost:5000"),
            ("docker.io", "https://index.docker.io/v1/"),
            ("https://index.docker.io/v1/", "https://index.docker.io/v1/"),
            ("registry-1.docker.io", "https://index.docker.io/v1/"),
        ] {
            assert_eq!(registry_key(given).unwrap(), key, "{given}");
        }
        for (bad, why) in [
            ("", "it is empty or contains white space"),
            ("a b", "it is empty or contains white space"),
            (
                "ghcr.io/team",
                "docker keys registries by host, without a path",
            ),
            ("ftp://x", "only http:// and https:// URLs name a registry"),
            ("https://", "it has no host, or a user name"),
            ("u@ghcr.io", "it has no host, or a user name"),
        ] {
            let err = registry_key(bad).unwrap_err();
            assert_eq!(
                (err.message.as_str(), err.hint.as_deref()),
                (
                    format!("'{bad}' is not a registry: {why}").as_str(),
                    Some(
                        "name it as docker does: a host with an optional port, such as ghcr.io \
                         or localhost:5000"
                    )
                ),
            );
            assert_eq!(err.exit, crate::error::Exit::Usage, "{bad}");
        }
    }

    #[test]
    fn docker_config_wins_over_home() {
        let env = Env {
            home: Some("/h".into()),
            ..Env::default()
        };
        assert_eq!(config_dir(&env).unwrap(), Path::new("/h/.docker"));
        let env = Env {
            home: Some("/h".into()),
            docker_config: Some("/d".into()),
            ..Env::default()
        };
        assert_eq!(config_dir(&env).unwrap(), Path::new("/d"));
        let err = config_dir(&Env::default()).unwrap_err();
        assert!(
            err.message.contains("neither DOCKER_CONFIG nor HOME"),
            "{}",
            err.message
        );
    }
}
