//! keyhelm itself in an [`IsolatedEnv`], for end-to-end tests: the real binary run with a
//! request on stdin (in the test's session, or detached from every terminal as git, cargo
//! and cron run it) or on a pseudo-terminal; provider plugins installed the way a user
//! installs them; accounts added with their secrets on stdin; and the checks every such test
//! makes (a token on one line, no secret in what keyhelm printed).
//!
//! ```no_run
//! use keyhelm_testkit::keyhelm::{Sandbox, assert_no_secrets};
//!
//! // keyhelm and the Intralinks plugin built by cargo, the plugin installed and pinned.
//! let s = Sandbox::with_plugin("intralinks", "keyhelm-intralinks")?;
//! let out = s.account_add(
//!     "work",
//!     "intralinks",
//!     "http://127.0.0.1:8080",
//!     &["client_id=app", "email=joe@example.com"],
//!     &[],
//!     "client_secret=s3cret\npassword=pw\n",
//! );
//! assert!(out.status.success());
//! let token = s.token("work");
//! assert_no_secrets(&s.show("work"), &["s3cret", "pw", &token]);
//! # anyhow::Ok(())
//! ```

use std::ffi::OsStr;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::bins::{
    IsolatedEnv, describe_failure, keyhelm_bin, mkdir_private, plugin_cdylib, toml_string,
    write_file,
};
use crate::pty::{Pty, PtyOutput};

/// How long a pseudo-terminal made by a [`Sandbox`] waits for a prompt or for keyhelm to
/// end. It only guards against a hanging test; it is never a measurement.
pub const PTY_TIMEOUT: Duration = Duration::from_secs(90);

/// How long [`wait_until`] waits for its condition.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(90);

/// An [`IsolatedEnv`] (`KEYHELM_HOME` inside it) in which a given `keyhelm` binary runs.
pub struct Sandbox {
    /// The environment keyhelm and every other tool of the test run in.
    pub env: IsolatedEnv,
    bin: PathBuf,
    detached: bool,
}

/// Shows the binary and the environment's variable names, never their values.
impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("env", &self.env)
            .field("bin", &self.bin)
            .field("detached", &self.detached)
            .finish()
    }
}

impl Sandbox {
    /// A fresh environment for the keyhelm binary `bin`, which runs in the test's own
    /// session.
    pub fn new(bin: impl Into<PathBuf>) -> anyhow::Result<Self> {
        Ok(Self {
            env: IsolatedEnv::new()?,
            bin: bin.into(),
            detached: false,
        })
    }

    /// The `keyhelm` binary and the cdylib of workspace package `package` built by cargo
    /// ([`keyhelm_bin`], [`plugin_cdylib`]), the plugin installed as provider `provider`
    /// ([`Sandbox::install_plugin`]), keyhelm run [detached](Sandbox::detached).
    pub fn with_plugin(provider: &str, package: &str) -> anyhow::Result<Self> {
        let sandbox = Self::new(keyhelm_bin())?.detached();
        sandbox.install_plugin(provider, &plugin_cdylib(package))?;
        Ok(sandbox)
    }

    /// Runs keyhelm in a new session without a controlling terminal (`setsid --wait`), as
    /// git, cargo or cron run it, so that no prompt can reach a developer's terminal.
    #[must_use]
    pub fn detached(mut self) -> Self {
        self.detached = true;
        self
    }

    /// The keyhelm binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The environment's root folder.
    pub fn dir(&self) -> &Path {
        self.env.root()
    }

    /// `$HOME`.
    pub fn home(&self) -> PathBuf {
        self.env.home()
    }

    /// `$KEYHELM_HOME`.
    pub fn keyhelm_home(&self) -> PathBuf {
        self.env.keyhelm_home()
    }

    /// The vault file under `$KEYHELM_HOME`.
    pub fn vault_file(&self) -> PathBuf {
        self.keyhelm_home().join("vault").join("vault.age")
    }

    /// The vault file's bytes (panics if there is none).
    pub fn vault_bytes(&self) -> Vec<u8> {
        fs::read(self.vault_file()).expect("read the vault file")
    }

    /// Where [`Sandbox::install_plugin`] puts the plugin of `provider`.
    pub fn plugin_path(&self, provider: &str) -> PathBuf {
        self.keyhelm_home().join("plugins").join(format!(
            "{}keyhelm_{provider}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ))
    }

    /// Installs the plugin `cdylib` as provider `provider` the way a user does: a copy, mode
    /// 0644, in `$KEYHELM_HOME/plugins` (both folders 0700), its path pinned in
    /// `config.toml` (0600, replaced) so that the copy under test is the one keyhelm loads,
    /// not the build's own copy next to the binary. Returns the copy's path.
    pub fn install_plugin(&self, provider: &str, cdylib: &Path) -> anyhow::Result<PathBuf> {
        let home = self.keyhelm_home();
        let installed = self.plugin_path(provider);
        let plugins = installed.parent().unwrap_or(&home);
        mkdir_private(plugins)?;
        for dir in [&home, plugins] {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making {} private", dir.display()))?;
        }
        fs::copy(cdylib, &installed)
            .with_context(|| format!("copying {} to {}", cdylib.display(), installed.display()))?;
        fs::set_permissions(&installed, fs::Permissions::from_mode(0o644))
            .with_context(|| format!("setting the mode of {}", installed.display()))?;
        let config = format!(
            "[plugins.paths]\n{provider} = {}\n",
            toml_string(&installed)
        );
        write_file(&home.join("config.toml"), config.as_bytes(), 0o600)?;
        Ok(installed)
    }

    /// Replaces `$HOME/.gitconfig`.
    pub fn write_gitconfig(&self, text: &str) -> anyhow::Result<()> {
        let path = self.home().join(".gitconfig");
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Makes keyhelm git's only credential helper (and `main` the default branch).
    pub fn use_as_git_helper(&self) -> anyhow::Result<()> {
        self.write_gitconfig(&format!(
            "[credential]\n\thelper = {}\n[init]\n\tdefaultBranch = main\n",
            self.bin.display()
        ))
    }

    /// A command in the environment ([`IsolatedEnv::command`]).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        self.env.command(program)
    }

    /// `keyhelm ARGS` as [`Sandbox::keyhelm`] runs it, to add to (variables, pipes).
    pub fn keyhelm_command(&self, args: &[&str]) -> Command {
        let mut cmd = if self.detached {
            let mut cmd = self.env.command("setsid");
            cmd.arg("--wait").arg(&self.bin);
            cmd
        } else {
            self.env.command(&self.bin)
        };
        cmd.args(args);
        cmd
    }

    /// `keyhelm ARGS` with `stdin`, whatever the outcome.
    pub fn keyhelm(&self, args: &[&str], stdin: impl AsRef<[u8]>) -> Output {
        run_with_stdin(&mut self.keyhelm_command(args), stdin)
    }

    /// `keyhelm ARGS` with `stdin`, which must succeed: its stdout.
    pub fn keyhelm_ok(&self, args: &[&str], stdin: impl AsRef<[u8]>) -> String {
        let out = self.keyhelm(args, stdin);
        assert!(
            out.status.success(),
            "{}",
            describe_failure(&self.keyhelm_command(args), &out)
        );
        text(&out.stdout)
    }

    /// `git ARGS` with `stdin`.
    pub fn git(&self, args: &[&str], stdin: impl AsRef<[u8]>) -> Output {
        run_with_stdin(self.command("git").args(args), stdin)
    }

    /// `git credential <op>` with `input`.
    pub fn credential(&self, op: &str, input: &str) -> Output {
        self.git(&["credential", op], input)
    }

    /// `git credential approve`, which must succeed.
    pub fn approve(&self, input: &str) {
        let out = self.credential("approve", input);
        assert!(
            out.status.success(),
            "approve failed: {}",
            text(&out.stderr)
        );
    }

    /// `git credential reject`, which must succeed.
    pub fn reject(&self, input: &str) {
        let out = self.credential("reject", input);
        assert!(out.status.success(), "reject failed: {}", text(&out.stderr));
    }

    /// `git credential fill` output, or None when git found nothing (it fails: prompting is
    /// off).
    pub fn fill(&self, input: &str) -> Option<String> {
        let out = self.credential("fill", input);
        out.status.success().then(|| text(&out.stdout))
    }

    /// `keyhelm account add NAME --provider PROVIDER --url URL`, a `--set` for each of
    /// `sets`, `--secrets-from-stdin` and the `extra` arguments, with `secrets` on stdin.
    pub fn account_add(
        &self,
        name: &str,
        provider: &str,
        url: &str,
        sets: &[&str],
        extra: &[&str],
        secrets: &str,
    ) -> Output {
        let mut args = vec!["account", "add", name, "--provider", provider, "--url", url];
        for set in sets {
            args.extend(["--set", set]);
        }
        args.push("--secrets-from-stdin");
        args.extend_from_slice(extra);
        self.keyhelm(&args, secrets)
    }

    /// `keyhelm token ACCOUNT`, which must succeed: the token ([`token_line`]).
    pub fn token(&self, account: &str) -> String {
        token_line(&self.keyhelm(&["token", account], ""))
    }

    /// The text `keyhelm account show ACCOUNT` prints (it must succeed).
    pub fn show(&self, account: &str) -> String {
        self.keyhelm_ok(&["account", "show", account], "")
    }

    /// `keyhelm account show ACCOUNT --json` (it must succeed).
    pub fn show_json(&self, account: &str) -> serde_json::Value {
        let out = self.keyhelm_ok(&["account", "show", account, "--json"], "");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// `keyhelm ARGS` on a pseudo-terminal (its own session, the terminal its controlling
    /// one), waits limited to [`PTY_TIMEOUT`].
    pub fn pty(&self, args: &[&str]) -> Pty {
        let mut cmd = self.env.command(&self.bin);
        cmd.args(args);
        let mut pty = Pty::spawn(&cmd).unwrap_or_else(|e| panic!("{e:#}"));
        pty.set_timeout(PTY_TIMEOUT);
        pty
    }

    /// `keyhelm ARGS` on a pseudo-terminal, answering each `(prompt, answer)` once the
    /// prompt has appeared: what the terminal showed and how keyhelm exited.
    pub fn on_terminal(&self, args: &[&str], answers: &[(&str, &str)]) -> PtyOutput {
        let mut pty = self.pty(args);
        for (prompt, answer) in answers {
            pty.answer(prompt, answer)
                .unwrap_or_else(|e| panic!("{e:#}"));
        }
        pty.finish().unwrap_or_else(|e| panic!("{e:#}"))
    }
}

/// Runs `cmd` with `stdin` written from a thread (a child that exits early, or never reads
/// its input, cannot deadlock the test) and returns its output whatever the status. Panics
/// if it cannot run.
pub fn run_with_stdin(cmd: &mut Command, stdin: impl AsRef<[u8]>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    let mut pipe = child.stdin.take().expect("a piped stdin");
    let input = stdin.as_ref().to_vec();
    let writer = std::thread::spawn(move || {
        // The child may not read its input at all; a broken pipe is fine.
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for the child");
    writer.join().expect("the stdin writer");
    out
}

/// Bytes as text (invalid UTF-8 replaced).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A command's exit status, stdout and stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// The permission bits of `path` (panics if it does not exist).
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The token of a successful `keyhelm token`: its one line of stdout, without the line end.
/// Panics unless keyhelm succeeded and printed exactly one non-empty line.
#[track_caller]
pub fn token_line(out: &Output) -> String {
    assert!(out.status.success(), "token failed: {}", describe(out));
    let stdout = text(&out.stdout);
    let token = stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("not one line: {stdout:?}"));
    assert!(
        !token.is_empty() && !token.contains('\n'),
        "not one token line: {stdout:?}"
    );
    token.to_owned()
}

/// Asserts that none of `secrets` shows up in `text`. The message shows `text`, never which
/// secret it contained.
#[track_caller]
pub fn assert_no_secrets(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "a secret leaked into:\n{text}");
    }
}

/// Waits (polling) until `cond` holds, failing after [`WAIT_TIMEOUT`]: tests wait for a
/// state, they never assert how long it took.
#[track_caller]
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::ExitStatus;

    fn output(code: i32, stdout: &str, stderr: &str) -> Output {
        Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn plugins_are_installed_private_and_pinned() {
        let s = Sandbox::new("/bin/false").unwrap();
        let cdylib = s.dir().join("libbuilt.so");
        fs::write(&cdylib, b"not really a library").unwrap();
        let installed = s.install_plugin("acme", &cdylib).unwrap();
        assert_eq!(installed, s.plugin_path("acme"));
        assert_eq!(
            installed,
            s.keyhelm_home().join("plugins/libkeyhelm_acme.so")
        );
        assert_eq!(fs::read(&installed).unwrap(), b"not really a library");
        assert_eq!(mode(&installed), 0o644);
        assert_eq!(mode(&s.keyhelm_home()), 0o700);
        assert_eq!(mode(&s.keyhelm_home().join("plugins")), 0o700);
        let config = s.keyhelm_home().join("config.toml");
        assert_eq!(mode(&config), 0o600);
        assert_eq!(
            fs::read_to_string(config).unwrap(),
            format!("[plugins.paths]\nacme = \"{}\"\n", installed.display())
        );
    }

    #[test]
    fn keyhelm_runs_in_the_environment_detached_or_not() {
        let s = Sandbox::new("sh").unwrap();
        let cmd = s.keyhelm_command(&["-c", "x"]);
        assert_eq!(cmd.get_program(), "sh");
        let out = s.keyhelm(&["-c", "cat; echo \" $KEYHELM_HOME\""], "in");
        assert_eq!(
            text(&out.stdout),
            format!("in {}\n", s.keyhelm_home().display())
        );

        let s = s.detached();
        let cmd = s.keyhelm_command(&["-c", "x"]);
        assert_eq!(cmd.get_program(), "setsid");
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(args, ["--wait", "sh", "-c", "x"]);
        // No controlling terminal: opening /dev/tty fails.
        let out = s.keyhelm(&["-c", "(: </dev/tty) 2>/dev/null || echo no-tty"], "");
        assert_eq!(text(&out.stdout), "no-tty\n", "{}", describe(&out));
    }

    #[test]
    fn accounts_are_added_with_their_secrets_on_stdin() {
        let s = Sandbox::new("sh").unwrap();
        // A stand-in for keyhelm that prints its arguments and its input.
        let script = s
            .env
            .write_script("echo-args", "#!/bin/sh\nprintf '[%s]' \"$@\"; echo; cat\n")
            .unwrap();
        let s = Sandbox { bin: script, ..s };
        let out = s.account_add(
            "work",
            "acme",
            "https://acme.example",
            &["a=1", "b=2"],
            &["--match", "https://git.example"],
            "secret=s3cret\n",
        );
        assert_eq!(
            text(&out.stdout),
            "[account][add][work][--provider][acme][--url][https://acme.example][--set][a=1]\
             [--set][b=2][--secrets-from-stdin][--match][https://git.example]\nsecret=s3cret\n"
        );
    }

    #[test]
    fn a_token_is_one_line() {
        assert_eq!(token_line(&output(0, "t0k\n", "")), "t0k");
    }

    #[test]
    #[should_panic(expected = "not one token line: \"a\\nb\\n\"")]
    fn two_lines_are_not_a_token() {
        token_line(&output(0, "a\nb\n", ""));
    }

    #[test]
    #[should_panic(expected = "token failed: exit status: 7\n--- stdout ---\n\n--- stderr ---\nno")]
    fn a_failed_lookup_is_not_a_token() {
        token_line(&output(7, "", "no"));
    }

    #[test]
    #[should_panic(expected = "a secret leaked into:\nthe s3cret")]
    fn leaked_secrets_are_caught() {
        assert_no_secrets("the s3cret", &["other", "s3cret"]);
    }

    #[test]
    fn stdin_reaches_the_child_even_when_it_does_not_read_it() {
        let mut cat = Command::new("cat");
        assert_eq!(text(&run_with_stdin(&mut cat, "hello").stdout), "hello");
        let mut ignore = Command::new("true");
        let big = vec![b'x'; 1 << 20];
        assert!(run_with_stdin(&mut ignore, big).status.success());
    }
}
