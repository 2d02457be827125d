//! Runs a command under a pseudo-terminal and talks to it, expect-style: wait for a prompt,
//! type an answer, collect what it printed and how it exited.
//!
//! keyhelm prompts on the controlling terminal (`/dev/tty`), never on stdin, so a test that
//! answers a prompt needs a real terminal. [`Pty::spawn`] runs the command under util-linux
//! `script -qec "<command>" /dev/null`, which gives it a fresh pseudo-terminal as its
//! controlling terminal, stdin, stdout and stderr; what the command prints arrives here, and
//! what [`Pty::send_line`] writes is typed into the terminal.
//!
//! ```no_run
//! use keyhelm_testkit::bins::{IsolatedEnv, keyhelm_bin};
//! use keyhelm_testkit::pty::Pty;
//!
//! let env = IsolatedEnv::new()?;
//! let mut cmd = env.command(keyhelm_bin());
//! cmd.args(["login", "work"]);
//! let mut pty = Pty::spawn(&cmd)?;
//! pty.answer("Two-factor code for jack on Clinked (from your authenticator app): ", "123456")?;
//! let done = pty.finish()?;
//! assert!(done.status.success(), "{}", done.output);
//! # anyhow::Ok(())
//! ```
//!
//! Rules of thumb:
//! * Wait for a prompt ([`Pty::expect`] or [`Pty::answer`]) before typing its answer: a
//!   program may read the terminal through a buffer, or change the terminal's mode, between
//!   two prompts, and typed-ahead input can then be lost.
//! * The output is what the terminal showed: the command's stdout and stderr mixed, and the
//!   answers to echoed prompts. Carriage returns are removed (the terminal turns every
//!   `\n` into `\r\n`).
//! * Every wait has a timeout (30 s by default, [`Pty::set_timeout`]); it only guards against
//!   a hanging test and is never a measurement.
//! * The command's environment is exactly the variables set on the [`Command`] (as
//!   [`crate::bins::IsolatedEnv::command`] sets them all); nothing is inherited. Its working
//!   directory is the command's, else the test's.

use std::ffi::OsStr;
use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// The default for every wait.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a finished command printed and how it exited.
#[derive(Debug)]
pub struct PtyOutput {
    /// `script -e` exits with the command's status.
    pub status: ExitStatus,
    /// Everything the terminal showed, carriage returns removed.
    pub output: String,
}

#[derive(Default)]
struct Screen {
    /// What the terminal showed so far, without `\r`.
    bytes: Vec<u8>,
    /// Readers that reached end of file (stdout and stderr of `script`).
    closed: u8,
}

type Shared = Arc<(Mutex<Screen>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Screen> {
    // The readers only append bytes; a poisoned lock still holds a usable screen.
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A command running under a pseudo-terminal; see the module documentation. Dropping it
/// kills the `script` process if it still runs (the terminal closes, and the command gets
/// `SIGHUP`).
pub struct Pty {
    child: Child,
    stdin: Option<ChildStdin>,
    shared: Shared,
    readers: Vec<JoinHandle<()>>,
    /// How far [`Pty::expect`] has consumed the output.
    cursor: usize,
    timeout: Duration,
    description: String,
}

/// Shows the command and the position, never the output (it may hold typed secrets).
impl fmt::Debug for Pty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pty")
            .field("command", &self.description)
            .field("pid", &self.child.id())
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

/// Single-quotes a word for `sh`.
fn quote(word: &OsStr) -> String {
    format!("'{}'", word.to_string_lossy().replace('\'', "'\\''"))
}

/// The `sh -c` line that runs `cmd`: its program and arguments, each quoted.
fn shell_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

fn spawn_reader(shared: &Shared, mut from: impl Read + Send + 'static) -> JoinHandle<()> {
    let shared = Arc::clone(shared);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut screen = lock(&shared);
                    screen
                        .bytes
                        .extend(buf[..n].iter().copied().filter(|&b| b != b'\r'));
                    drop(screen);
                    shared.1.notify_all();
                }
            }
        }
        lock(&shared).closed += 1;
        shared.1.notify_all();
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Pty {
    /// Starts `cmd` (its program, arguments, environment variables and working directory)
    /// under `script -qec ... /dev/null`.
    pub fn spawn(cmd: &Command) -> anyhow::Result<Pty> {
        let line = shell_line(cmd);
        let mut script = Command::new("script");
        script
            .args(["-q", "-e", "-c"])
            .arg(&line)
            .arg("/dev/null")
            .env_clear()
            .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = cmd.get_current_dir() {
            script.current_dir(dir);
        }
        let description = format!(
            "{} {}",
            Path::new(cmd.get_program()).display(),
            cmd.get_args()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut child = script.spawn().context(
            "cannot run util-linux `script` (needed to give a command a terminal); install util-linux",
        )?;
        let shared: Shared = Arc::default();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(spawn_reader(&shared, out));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(spawn_reader(&shared, err));
        }
        Ok(Pty {
            stdin: child.stdin.take(),
            child,
            shared,
            readers,
            cursor: 0,
            timeout: DEFAULT_TIMEOUT,
            description,
        })
    }

    /// Changes the timeout of later waits.
    pub fn set_timeout(&mut self, timeout: Duration) -> &mut Pty {
        self.timeout = timeout;
        self
    }

    /// Everything the terminal showed so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&lock(&self.shared).bytes).into_owned()
    }

    /// Waits until `text` appears after what earlier calls consumed, and returns what came
    /// before it. Fails (with the output so far) when the command ends first or the timeout
    /// passes.
    pub fn expect(&mut self, text: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + self.timeout;
        let mut screen = lock(&self.shared);
        loop {
            if let Some(pos) = find(&screen.bytes[self.cursor..], text.as_bytes()) {
                let start = self.cursor;
                self.cursor += pos + text.len();
                return Ok(String::from_utf8_lossy(&screen.bytes[start..start + pos]).into_owned());
            }
            let all = String::from_utf8_lossy(&screen.bytes).into_owned();
            if usize::from(screen.closed) >= self.readers.len() {
                bail!(
                    "`{}` ended without showing {text:?}; the terminal showed:\n{all}",
                    self.description
                );
            }
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "`{}` did not show {text:?} within {:?}; the terminal showed:\n{all}",
                    self.description,
                    self.timeout
                );
            }
            screen = self
                .shared
                .1
                .wait_timeout(screen, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Types `line` and Enter.
    pub fn send_line(&mut self, line: &str) -> anyhow::Result<()> {
        if line.contains(['\n', '\r']) {
            bail!("send_line takes one line; {line:?} has a line break");
        }
        let stdin = self
            .stdin
            .as_mut()
            .context("the terminal's input is already closed")?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .with_context(|| format!("typing into `{}`", self.description))
    }

    /// Waits for `prompt`, then types `line`.
    pub fn answer(&mut self, prompt: &str, line: &str) -> anyhow::Result<()> {
        self.expect(prompt)?;
        self.send_line(line)
    }

    /// Waits for the command to end (killing it after the timeout) and returns its status
    /// and everything the terminal showed.
    pub fn finish(mut self) -> anyhow::Result<PtyOutput> {
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().context("waiting for `script`")? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "`{}` did not end within {:?}; it was killed. The terminal showed:\n{}",
                    self.description,
                    self.timeout,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // Input stays open until the command ends: `script` forwards an end of file on its
        // input to the command, which would answer a pending prompt with nothing.
        drop(self.stdin.take());
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Ok(PtyOutput {
            status,
            output: self.output(),
        })
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        cmd
    }

    #[test]
    fn answers_prompts_including_one_without_echo() {
        let mut pty = Pty::spawn(&sh(
            "printf 'Name: '; read n; stty -echo; printf 'Code: '; read c; stty echo; echo; \
             echo \"hello $n/$c\"",
        ))
        .unwrap();
        pty.answer("Name: ", "jack").unwrap();
        pty.answer("Code: ", "s3cret").unwrap();
        // What came between the code prompt and the greeting: not the code (no echo).
        assert_eq!(pty.expect("hello jack/s3cret").unwrap(), "\n");
        let done = pty.finish().unwrap();
        assert!(done.status.success(), "{}", done.output);
        // The echoed answer shows; carriage returns are gone.
        assert_eq!(done.output, "Name: jack\nCode: \nhello jack/s3cret\n");
    }

    #[test]
    fn the_command_has_a_terminal_and_its_exit_status_comes_back() {
        let mut pty = Pty::spawn(&sh(
            "test -t 0 && test -t 1 && test -t 2 && echo all-terminals; exit 3",
        ))
        .unwrap();
        pty.expect("all-terminals").unwrap();
        let done = pty.finish().unwrap();
        assert_eq!(done.status.code(), Some(3), "{}", done.output);
    }

    #[test]
    fn arguments_and_environment_arrive_intact() {
        let mut cmd = Command::new("printf");
        cmd.args(["[%s]", "a b", "it's", "$HOME", "\"q\""])
            .env_clear()
            .env("ONLY", "this")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        let done = Pty::spawn(&cmd).unwrap().finish().unwrap();
        assert_eq!(done.output, "[a b][it's][$HOME][\"q\"]");

        let mut env = sh("echo \"<$ONLY><${HOME:-unset}>\"");
        env.env("ONLY", "this");
        let done = Pty::spawn(&env).unwrap().finish().unwrap();
        assert_eq!(done.output, "<this><unset>\n");
    }

    #[test]
    fn waits_fail_clearly_when_the_text_never_comes() {
        let mut pty = Pty::spawn(&sh("echo bye")).unwrap();
        let e = pty.expect("Password: ").unwrap_err().to_string();
        assert!(
            e.starts_with(
                "`sh -c echo bye` ended without showing \"Password: \"; the terminal showed:\nbye"
            ),
            "{e}"
        );

        let mut pty = Pty::spawn(&sh("sleep 30")).unwrap();
        pty.set_timeout(Duration::from_millis(100));
        let e = pty.expect("never").unwrap_err().to_string();
        assert!(e.contains("did not show \"never\" within 100ms"), "{e}");
        let e = pty.finish().unwrap_err().to_string();
        assert!(e.contains("did not end within 100ms; it was killed"), "{e}");
    }

    #[test]
    fn send_line_refuses_line_breaks() {
        let mut pty = Pty::spawn(&sh("read x")).unwrap();
        let e = pty.send_line("a\nb").unwrap_err().to_string();
        assert_eq!(e, "send_line takes one line; \"a\\nb\" has a line break");
        pty.send_line("ok").unwrap();
        assert!(pty.finish().unwrap().status.success());
    }
}
