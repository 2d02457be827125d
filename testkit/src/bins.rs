//! What every end-to-end test needs: the `keyhelm` binary and plugin cdylibs built with the
//! real cargo (once per test process; a file lock keeps parallel test binaries from racing),
//! and an [`IsolatedEnv`] to run git, cargo, kubectl and keyhelm in a scrubbed environment so
//! that the developer's own configuration never leaks into a test.
//!
//! ```no_run
//! use keyhelm_testkit::bins::{IsolatedEnv, keyhelm_bin, run};
//! let env = IsolatedEnv::new()?;
//! let out = run(env.command(keyhelm_bin()).arg("--version"))?;
//! # anyhow::Ok(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context as _, bail};

use crate::server::lock;

/// The keyhelm workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
    testkit.parent().unwrap_or(testkit).to_path_buf()
}

/// The cargo that runs the tests (`$CARGO`), else `cargo` from `PATH`.
pub fn cargo_program() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

/// The `keyhelm` binary, built by `cargo build -p keyhelm --bin keyhelm` on first use in this
/// process. Panics with cargo's diagnostics if the build fails.
pub fn keyhelm_bin() -> PathBuf {
    let manifest = workspace_root().join("Cargo.toml");
    build_artifact(
        &manifest,
        "keyhelm",
        &ArtifactKind::Bin("keyhelm".to_owned()),
    )
    .unwrap_or_else(|e| panic!("{e:#}"))
}

/// The cdylib of the workspace package `package` (e.g. `keyhelm-plugin-intralinks`), built
/// by `cargo build -p <package>` on first use in this process. Panics with cargo's
/// diagnostics if the build fails.
pub fn plugin_cdylib(package: &str) -> PathBuf {
    let manifest = workspace_root().join("Cargo.toml");
    build_artifact(&manifest, package, &ArtifactKind::Cdylib).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Which artifact of a package [`build_artifact`] returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ArtifactKind {
    /// The executable of the named `[[bin]]` target.
    Bin(String),
    /// The package's `cdylib` (`lib<name>.so` on Linux).
    Cdylib,
}

/// One artifact a build is asked for: (manifest, profile, package, kind).
type BuildKey = (PathBuf, String, String, ArtifactKind);
type BuildCache = Mutex<HashMap<BuildKey, Result<PathBuf, String>>>;

/// Builds `package` of the workspace at `manifest` with `$CARGO build --message-format=json`
/// (the `dev` profile) and returns the path of the requested artifact, read from cargo's
/// JSON messages.
///
/// Each (manifest, package, kind) is built once per process (the result, success or failure,
/// is cached); across processes builds are serialised by an exclusive lock on
/// `<target dir>/keyhelm-testkit-build.lock`, so parallel test binaries do not race.
pub fn build_artifact(
    manifest: &Path,
    package: &str,
    kind: &ArtifactKind,
) -> anyhow::Result<PathBuf> {
    let mut paths = build_artifacts(manifest, "dev", &[(package, kind.clone())])?;
    paths.pop().context("no artifact")
}

/// Like [`build_artifact`], for several artifacts at once, in a cargo `profile` (`dev`,
/// `release`, ...): whatever is not built yet in this process is built by one cargo
/// command. Returns the paths in the order asked for.
pub fn build_artifacts(
    manifest: &Path,
    profile: &str,
    wanted: &[(&str, ArtifactKind)],
) -> anyhow::Result<Vec<PathBuf>> {
    static CACHE: OnceLock<BuildCache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = |(package, kind): &(&str, ArtifactKind)| -> BuildKey {
        (
            manifest.to_path_buf(),
            profile.to_owned(),
            (*package).to_owned(),
            kind.clone(),
        )
    };
    // Held while building: threads of this process wait for the one build instead of
    // starting their own.
    let mut cache = lock(cache);
    let missing: Vec<(&str, ArtifactKind)> = wanted
        .iter()
        .filter(|w| !cache.contains_key(&key(w)))
        .cloned()
        .collect();
    if !missing.is_empty() {
        match build_uncached(manifest, profile, &missing) {
            Ok(paths) => {
                for (w, path) in missing.iter().zip(paths) {
                    cache.insert(key(w), path.map_err(|e| format!("{e:#}")));
                }
            }
            Err(e) => {
                let message = format!("{e:#}");
                for w in &missing {
                    cache.insert(key(w), Err(message.clone()));
                }
            }
        }
    }
    wanted
        .iter()
        .map(|w| cache[&key(w)].clone().map_err(anyhow::Error::msg))
        .collect()
}

fn target_dir(manifest: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => manifest.parent().unwrap_or(Path::new(".")).join("target"),
    }
}

/// Runs one `cargo build` for `wanted`: Err when cargo fails, else the artifact of each
/// (or why it is missing).
fn build_uncached(
    manifest: &Path,
    profile: &str,
    wanted: &[(&str, ArtifactKind)],
) -> anyhow::Result<Vec<anyhow::Result<PathBuf>>> {
    let target = target_dir(manifest);
    fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    let lock_path = target.join("keyhelm-testkit-build.lock");
    let lock_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock_file
        .lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;

    let mut selection = Vec::new();
    if profile != "dev" {
        selection.extend(["--profile".to_owned(), profile.to_owned()]);
    }
    for (package, _) in wanted {
        selection.extend(["-p".to_owned(), (*package).to_owned()]);
    }
    let bins: Vec<&str> = wanted
        .iter()
        .filter_map(|(_, kind)| match kind {
            ArtifactKind::Bin(name) => Some(name.as_str()),
            ArtifactKind::Cdylib => None,
        })
        .collect();
    for name in &bins {
        selection.extend(["--bin".to_owned(), (*name).to_owned()]);
    }
    if !bins.is_empty() && wanted.iter().any(|(_, kind)| *kind == ArtifactKind::Cdylib) {
        selection.push("--lib".to_owned());
    }
    let what = format!("`cargo build {}`", selection.join(" "));

    let mut cmd = Command::new(cargo_program());
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(manifest)
        .args(&selection)
        .arg("--message-format=json-render-diagnostics");
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", cargo_program().display()))?;
    drop(lock_file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(wanted
        .iter()
        .map(|(package, kind)| {
            find_artifact(&stdout, package, kind)
                .with_context(|| format!("{what} succeeded but reported no {kind:?} artifact"))
        })
        .collect())
}

/// Picks the artifact out of cargo's JSON message stream (one JSON object per line).
fn find_artifact(messages: &str, package: &str, kind: &ArtifactKind) -> Option<PathBuf> {
    let mut found = None;
    for line in messages.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        if msg["package_id"].as_str().and_then(package_name_from_id) != Some(package) {
            continue;
        }
        let kinds: Vec<&str> = msg["target"]["kind"]
            .as_array()
            .map(|k| k.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        match kind {
            ArtifactKind::Bin(name) => {
                if kinds.contains(&"bin") && msg["target"]["name"] == name.as_str() {
                    found = msg["executable"].as_str().map(PathBuf::from);
                }
            }
            ArtifactKind::Cdylib => {
                if kinds.contains(&"cdylib") {
                    let suffix = std::env::consts::DLL_SUFFIX;
                    found = msg["filenames"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|f| f.as_str())
                        .find(|f| f.ends_with(suffix))
                        .map(PathBuf::from);
                }
            }
        }
    }
    found
}

/// The package name inside a cargo package id. Handles the package id spec format of
/// cargo >= 1.77 (`path+file:///ws/helper#keyhelm@0.1.0`, or `path+file:///ws/core#0.1.0`
/// when the name equals the folder name) and the older `name 0.1.0 (source)` format.
fn package_name_from_id(id: &str) -> Option<&str> {
    if let Some((source, fragment)) = id.rsplit_once('#') {
        return match fragment.split_once('@') {
            Some((name, _version)) => Some(name),
            None => source.trim_end_matches('/').rsplit('/').next(),
        };
    }
    id.split_once(' ').map(|(name, _)| name)
}

/// Runs `cmd` to completion with stdin closed; an error (with the exit status, stdout and
/// stderr) unless it exits 0.
pub fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let output = output(cmd)?;
    if !output.status.success() {
        bail!("{}", describe_failure(cmd, &output));
    }
    Ok(output)
}

/// Runs `cmd` to completion with stdin closed, for a command that must fail: an error (with
/// the exit status, stdout and stderr) if it exits 0.
pub fn run_failing(cmd: &mut Command) -> anyhow::Result<Output> {
    let output = output(cmd)?;
    if output.status.success() {
        bail!("expected a failure: {}", describe_failure(cmd, &output));
    }
    Ok(output)
}

/// Runs `cmd` to completion with stdin closed and returns its output whatever the status.
pub fn output(cmd: &mut Command) -> anyhow::Result<Output> {
    cmd.stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))
}

/// A readable account of a failed command, for assertion messages.
pub fn describe_failure(cmd: &Command, output: &Output) -> String {
    let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
    format!(
        "`{} {}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        cmd.get_program().to_string_lossy(),
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout).trim_end(),
        String::from_utf8_lossy(&output.stderr).trim_end()
    )
}

/// A throw-away environment for running git, cargo, kubectl and keyhelm in tests.
///
/// Layout under one temporary folder (0700; removed on drop):
///
/// | variable | value |
/// |---|---|
/// | `HOME` | `<root>/home` |
/// | `XDG_CONFIG_HOME`, `XDG_DATA_HOME`, `XDG_STATE_HOME`, `XDG_CACHE_HOME` | `<root>/xdg/{config,data,state,cache}` |
/// | `XDG_RUNTIME_DIR` | `<root>/xdg/runtime` |
/// | `TMPDIR` | `<root>/tmp` |
/// | `KEYHELM_HOME` | `<root>/keyhelm` (not created: keyhelm creates it) |
/// | `CARGO_HOME` | `<root>/cargo-home`, whose `config.toml` replaces crates.io with an empty directory source, so crates.io is never contacted |
/// | `KUBECONFIG` | `<root>/kube/config` (not created, see `KubeApi::write_kubeconfig`) |
/// | `GIT_CONFIG_NOSYSTEM` | `1` (the global config is `$HOME/.gitconfig`, empty) |
/// | `GIT_TERMINAL_PROMPT` | `0` |
/// | `GIT_ASKPASS` | a script that records its prompt and fails ([`IsolatedEnv::askpass_calls`]) |
/// | `GIT_AUTHOR_*`, `GIT_COMMITTER_*` | a fixed identity |
/// | `PATH` | the test's `PATH`, with the running toolchain's `bin` first |
/// | `RUSTUP_HOME`, `RUSTUP_TOOLCHAIN` | passed through when set (rustup's proxies need them once `HOME` moved) |
/// | `LC_ALL`, `TERM` | `C`, `dumb` |
///
/// Nothing else from the test's environment reaches the commands ([`IsolatedEnv::command`]
/// starts from `env_clear`).
pub struct IsolatedEnv {
    dir: tempfile::TempDir,
    vars: BTreeMap<OsString, OsString>,
}

/// Prints the variable names only: a test may put a token in the environment.
impl std::fmt::Debug for IsolatedEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IsolatedEnv")
            .field("root", &self.dir.path())
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl IsolatedEnv {
    /// Creates the folders and files above.
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("keyhelm-env-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .context("creating the isolated environment's folder")?;
        let root = dir.path().to_path_buf();
        let mut this = Self {
            dir,
            vars: BTreeMap::new(),
        };
        for sub in [
            "home",
            "work",
            "tmp",
            "xdg/config",
            "xdg/data",
            "xdg/state",
            "xdg/cache",
            "xdg/runtime",
            "cargo-home",
            "kube",
            "no-crates-io",
        ] {
            mkdir_private(&root.join(sub))?;
        }

        let mut path = Vec::new();
        if let Some(cargo) = std::env::var_os("CARGO")
            && let Some(bin) = Path::new(&cargo)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
        {
            path.push(bin.to_path_buf());
        }
        if let Some(outer) = std::env::var_os("PATH") {
            path.extend(std::env::split_paths(&outer));
        }
        let path = std::env::join_paths(path).context("joining PATH")?;
        this.set_var("PATH", path);
        let rustup_home = std::env::var_os("RUSTUP_HOME").or_else(|| {
            let default = Path::new(&std::env::var_os("HOME")?).join(".rustup");
            default.is_dir().then(|| default.into_os_string())
        });
        if let Some(rustup_home) = rustup_home {
            this.set_var("RUSTUP_HOME", rustup_home);
        }
        if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
            this.set_var("RUSTUP_TOOLCHAIN", toolchain);
        }

        this.set_var("HOME", root.join("home"))
            .set_var("XDG_CONFIG_HOME", root.join("xdg/config"))
            .set_var("XDG_DATA_HOME", root.join("xdg/data"))
            .set_var("XDG_STATE_HOME", root.join("xdg/state"))
            .set_var("XDG_CACHE_HOME", root.join("xdg/cache"))
            .set_var("XDG_RUNTIME_DIR", root.join("xdg/runtime"))
            .set_var("TMPDIR", root.join("tmp"))
            .set_var("KEYHELM_HOME", root.join("keyhelm"))
            .set_var("CARGO_HOME", root.join("cargo-home"))
            .set_var("KUBECONFIG", root.join("kube/config"))
            .set_var("GIT_CONFIG_NOSYSTEM", "1")
            .set_var("GIT_TERMINAL_PROMPT", "0")
            .set_var("GIT_AUTHOR_NAME", "keyhelm test")
            .set_var("GIT_AUTHOR_EMAIL", "test@keyhelm.invalid")
            .set_var("GIT_COMMITTER_NAME", "keyhelm test")
            .set_var("GIT_COMMITTER_EMAIL", "test@keyhelm.invalid")
            .set_var("LC_ALL", "C")
            .set_var("TERM", "dumb");

        let askpass = root.join("askpass.sh");
        write_file(
            &askpass,
            format!(
                "#!/bin/sh\n# keyhelm-testkit: records that git asked for a credential, then fails.\n\
                 printf '%s\\n' \"$1\" >> {}\nexit 1\n",
                shell_quote(&root.join("askpass.log"))
            )
            .as_bytes(),
            0o700,
        )?;
        this.set_var("GIT_ASKPASS", &askpass);

        this.write_cargo_config(&format!(
            "# Written by keyhelm-testkit: tests must never contact crates.io.\n\
             [source.crates-io]\nreplace-with = \"keyhelm-testkit-no-crates-io\"\n\n\
             [source.keyhelm-testkit-no-crates-io]\ndirectory = {}\n\n\
             [net]\nretry = 0\n\n[term]\ncolor = \"never\"\nprogress.when = \"never\"\n",
            toml_string(&root.join("no-crates-io"))
        ))?;
        Ok(this)
    }

    /// The temporary folder holding everything.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `$HOME`.
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    /// An empty folder, the working directory of [`IsolatedEnv::command`].
    pub fn work_dir(&self) -> PathBuf {
        self.root().join("work")
    }

    /// `$KEYHELM_HOME` (not created).
    pub fn keyhelm_home(&self) -> PathBuf {
        self.root().join("keyhelm")
    }

    /// `$CARGO_HOME`.
    pub fn cargo_home(&self) -> PathBuf {
        self.root().join("cargo-home")
    }

    /// `$KUBECONFIG` (not created).
    pub fn kubeconfig(&self) -> PathBuf {
        self.root().join("kube/config")
    }

    /// Sets (or overrides) a variable for every later [`IsolatedEnv::command`].
    pub fn set_var(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.vars
            .insert(key.as_ref().to_owned(), value.as_ref().to_owned());
        self
    }

    /// Removes a variable, e.g. `env.remove_var("GIT_ASKPASS")`.
    pub fn remove_var(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.vars.remove(key.as_ref());
        self
    }

    /// The value a command will see for `key`.
    pub fn var(&self, key: impl AsRef<OsStr>) -> Option<&OsStr> {
        self.vars.get(key.as_ref()).map(OsString::as_os_str)
    }

    /// All variables a command will see.
    pub fn vars(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// A command with exactly this environment (`env_clear` first), run in
    /// [`IsolatedEnv::work_dir`], stdin closed.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .envs(&self.vars)
            .current_dir(self.work_dir())
            .stdin(Stdio::null());
        cmd
    }

    /// Prompts the `GIT_ASKPASS` script was called with, in order (empty: git never fell
    /// back to prompting).
    pub fn askpass_calls(&self) -> Vec<String> {
        fs::read_to_string(self.root().join("askpass.log"))
            .map(|log| log.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Adds a value to git's global config (`$HOME/.gitconfig`) with the real
    /// `git config --global --add`.
    pub fn git_config(&self, key: &str, value: &str) -> anyhow::Result<()> {
        run(self
            .command("git")
            .args(["config", "--global", "--add", key, value]))?;
        Ok(())
    }

    /// Appends TOML to `$CARGO_HOME/config.toml`.
    pub fn write_cargo_config(&self, toml: &str) -> anyhow::Result<()> {
        append_line(&self.cargo_home().join("config.toml"), toml)
    }

    /// Trusts a test CA (e.g. `server.ca_pem().unwrap()`): appends it to
    /// `<root>/trusted-cas.pem` and points `GIT_SSL_CAINFO` (git), `CARGO_HTTP_CAINFO` (cargo)
    /// and `SSL_CERT_FILE` (OpenSSL and rustls-native-certs users) at that bundle. Only the
    /// CAs trusted this way are trusted afterwards. Returns the bundle's path.
    pub fn trust_ca(&mut self, pem: &str) -> anyhow::Result<PathBuf> {
        let bundle = self.root().join("trusted-cas.pem");
        append_line(&bundle, pem.trim_end())?;
        self.set_var("GIT_SSL_CAINFO", &bundle)
            .set_var("CARGO_HTTP_CAINFO", &bundle)
            .set_var("SSL_CERT_FILE", &bundle);
        Ok(bundle)
    }

    /// Writes an executable script (0700) named `name` in the environment's root and returns
    /// its path, e.g. a credential provider or an exec credential plugin for a test.
    pub fn write_script(&self, name: &str, text: &str) -> anyhow::Result<PathBuf> {
        if name.contains('/') || name.is_empty() || name.starts_with('.') {
            bail!("invalid script name {name:?}: a plain file name is expected");
        }
        let dir = self.root().join("bin");
        mkdir_private(&dir)?;
        let path = dir.join(name);
        write_file(&path, text.as_bytes(), 0o700)?;
        Ok(path)
    }
}

/// Creates `dir` (and missing parents) with mode 0700.
pub(crate) fn mkdir_private(dir: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes a new file with `mode` (replacing an existing one).
pub(crate) fn write_file(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let _ = fs::remove_file(path);
    let mut file = fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(data)
        .with_context(|| format!("writing {}", path.display()))
}

/// Appends `line` and a newline to `path`, creating it with mode 0600.
fn append_line(path: &Path, line: &str) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(file, "{line}").with_context(|| format!("writing {}", path.display()))
}

/// Single-quotes a path for `sh`.
pub(crate) fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', "'\\''"))
}

/// A TOML basic string.
pub(crate) fn toml_string(path: &Path) -> String {
    serde_json::to_string(&path.to_string_lossy()).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_from_ids() {
        assert_eq!(
            package_name_from_id("path+file:///ws/helper#keyhelm@0.1.0"),
            Some("keyhelm")
        );
        assert_eq!(
            package_name_from_id("path+file:///ws/core#0.1.0"),
            Some("core")
        );
        assert_eq!(
            package_name_from_id(
                "registry+https://github.com/rust-lang/crates.io-index#serde@1.0.0"
            ),
            Some("serde")
        );
        assert_eq!(
            package_name_from_id("serde 1.0.0 (registry+https://x)"),
            Some("serde")
        );
    }

    #[test]
    fn artifact_lines_are_picked_by_package_and_kind() {
        let messages = [
            r#"{"reason":"compiler-artifact","package_id":"path+file:///ws/dep#dep@0.1.0","target":{"kind":["cdylib"],"name":"dep"},"filenames":["/t/libdep.so"],"executable":null}"#,
            r#"{"reason":"compiler-artifact","package_id":"path+file:///ws/p#plug@0.1.0","target":{"kind":["cdylib","rlib"],"name":"plug"},"filenames":["/t/libplug.rlib","/t/libplug.so"],"executable":null}"#,
            r#"{"reason":"compiler-artifact","package_id":"path+file:///ws/helper#keyhelm@0.1.0","target":{"kind":["bin"],"name":"keyhelm"},"filenames":["/t/keyhelm"],"executable":"/t/keyhelm"}"#,
            r#"{"reason":"build-finished","success":true}"#,
            "not json",
        ]
        .join("\n");
        assert_eq!(
            find_artifact(&messages, "plug", &ArtifactKind::Cdylib),
            Some("/t/libplug.so".into())
        );
        assert_eq!(
            find_artifact(&messages, "keyhelm", &ArtifactKind::Bin("keyhelm".into())),
            Some("/t/keyhelm".into())
        );
        assert_eq!(
            find_artifact(&messages, "keyhelm", &ArtifactKind::Cdylib),
            None
        );
        assert_eq!(
            find_artifact(&messages, "absent", &ArtifactKind::Cdylib),
            None
        );
    }

    #[test]
    fn debug_shows_variable_names_but_not_values() {
        let mut env = IsolatedEnv::new().unwrap();
        env.set_var("CARGO_REGISTRIES_X_TOKEN", "s3cret-value");
        let debug = format!("{env:?}");
        assert!(debug.contains("CARGO_REGISTRIES_X_TOKEN"), "{debug}");
        assert!(!debug.contains("s3cret-value"), "{debug}");
    }

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
        assert_eq!(toml_string(Path::new("/a\"b\\c")), r#""/a\"b\\c""#);
    }
}
