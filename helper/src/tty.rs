//! Asking the user, on the controlling terminal.
//!
//! A credential helper's stdin and stdout belong to the tool that spawned it (git writes the
//! request on stdin and reads the answer on stdout), so prompts never use them: they go to
//! the controlling terminal (`/dev/tty`) even when stdin and stdout are pipes. When there is
//! no terminal, or the caller said prompting is not allowed, every prompt fails with
//! [`TtyError::NotInteractive`] instead of hanging or reading the protocol stream.
//!
//! Text from plugins and services is printed through [`sanitize`], so it cannot move the
//! cursor, rewrite earlier lines or hide characters with terminal escape sequences.

use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::sync::Mutex;

use secrecy::SecretString;
use zeroize::Zeroizing;

/// Why a prompt could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TtyError {
    /// There is no terminal to ask on, or asking is not allowed.
    #[error("cannot ask for input: {reason}")]
    NotInteractive {
        /// Why (e.g. "there is no terminal").
        reason: String,
    },
    /// The user closed the input (Ctrl-D) before answering.
    #[error("the prompt was closed without an answer")]
    Closed,
    /// Reading or writing the terminal failed.
    #[error("the terminal failed: {0}")]
    Io(#[from] io::Error),
}

impl TtyError {
    /// The "prompting is not allowed" error, e.g. for a tool that ran keyhelm with prompts
    /// turned off (`GIT_TERMINAL_PROMPT=0`).
    pub fn not_allowed() -> TtyError {
        TtyError::NotInteractive {
            reason: "there is no terminal, or the calling tool does not allow prompts".into(),
        }
    }
}

/// Something that can ask the user. [`Terminal`] is the real one; [`NonInteractive`] refuses
/// every prompt.
pub trait Prompter: Send + Sync + fmt::Debug {
    /// Asks for a line of text, echoed. An empty answer yields `default` when given.
    fn text(&self, message: &str, default: Option<&str>) -> Result<String, TtyError>;
    /// Asks for a secret, not echoed.
    fn secret(&self, message: &str) -> Result<SecretString, TtyError>;
    /// Asks yes or no.
    fn confirm(&self, message: &str, default: bool) -> Result<bool, TtyError>;
    /// Shows a message.
    fn message(&self, message: &str) -> Result<(), TtyError>;
    /// Shows a URL to visit and offers to open it in the browser; returns whether a browser
    /// was started.
    fn open_url(&self, message: &str, url: &str) -> Result<bool, TtyError>;
}

/// Refuses every prompt with [`TtyError::NotInteractive`].
#[derive(Debug, Clone)]
pub struct NonInteractive {
    reason: String,
}

impl NonInteractive {
    /// Refuses with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        NonInteractive {
            reason: reason.into(),
        }
    }

    fn err<T>(&self) -> Result<T, TtyError> {
        Err(TtyError::NotInteractive {
            reason: self.reason.clone(),
        })
    }
}

impl Prompter for NonInteractive {
    fn text(&self, _: &str, _: Option<&str>) -> Result<String, TtyError> {
        self.err()
    }
    fn secret(&self, _: &str) -> Result<SecretString, TtyError> {
        self.err()
    }
    fn confirm(&self, _: &str, _: bool) -> Result<bool, TtyError> {
        self.err()
    }
    fn message(&self, _: &str) -> Result<(), TtyError> {
        self.err()
    }
    fn open_url(&self, _: &str, _: &str) -> Result<bool, TtyError> {
        self.err()
    }
}

/// How [`Terminal::open_url`] starts a browser.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Browser {
    /// The system's opener: `xdg-open` (Linux, BSD), `open` (macOS), `start` (Windows).
    #[default]
    System,
    /// This program and leading arguments; the URL is appended as the last argument.
    Command(Vec<OsString>),
    /// Never offer to open a browser; only show the URL.
    Never,
}

enum Io {
    /// `/dev/tty`: secrets are read with echo off.
    Tty {
        reader: BufReader<File>,
        writer: File,
    },
    /// Any streams (tests, or a caller that has its own terminal handles). Secrets are read
    /// as plain lines: there is no echo to turn off.
    Streams {
        reader: Box<dyn BufRead + Send>,
        writer: Box<dyn Write + Send>,
    },
}

/// The user's terminal.
pub struct Terminal {
    io: Mutex<Io>,
    browser: Browser,
}

impl fmt::Debug for Terminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Terminal")
            .field("browser", &self.browser)
            .finish_non_exhaustive()
    }
}

#[cfg(unix)]
const TTY_IN: &str = "/dev/tty";
#[cfg(unix)]
const TTY_OUT: &str = "/dev/tty";
#[cfg(windows)]
const TTY_IN: &str = "CONIN$";
#[cfg(windows)]
const TTY_OUT: &str = "CONOUT$";

impl Terminal {
    /// Opens the controlling terminal. Fails with [`TtyError::NotInteractive`] when the
    /// process has none (a daemon, CI, `setsid`).
    pub fn open() -> Result<Terminal, TtyError> {
        let no_tty = |e: io::Error| TtyError::NotInteractive {
            reason: format!("there is no terminal ({TTY_IN}: {e})"),
        };
        let reader = File::open(TTY_IN).map_err(no_tty)?;
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .open(TTY_OUT)
            .map_err(no_tty)?;
        Ok(Terminal {
            io: Mutex::new(Io::Tty {
                reader: BufReader::new(reader),
                writer,
            }),
            browser: Browser::default(),
        })
    }

    /// A terminal over any streams: answers are read from `reader`, prompts written to
    /// `writer`.
    pub fn from_streams(
        reader: impl BufRead + Send + 'static,
        writer: impl Write + Send + 'static,
    ) -> Terminal {
        Terminal {
            io: Mutex::new(Io::Streams {
                reader: Box::new(reader),
                writer: Box::new(writer),
            }),
            browser: Browser::default(),
        }
    }

    /// Chooses how [`Prompter::open_url`] starts a browser.
    pub fn with_browser(mut self, browser: Browser) -> Terminal {
        self.browser = browser;
        self
    }

    fn with_io<T>(
        &self,
        f: impl FnOnce(&mut dyn BufRead, &mut dyn Write, bool) -> Result<T, TtyError>,
    ) -> Result<T, TtyError> {
        let mut io = self.io.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *io {
            Io::Tty { reader, writer } => f(reader, writer, true),
            Io::Streams { reader, writer } => f(reader, writer, false),
        }
    }
}

/// Reads a secret line from the terminal with echo off. Echo goes off *before* the prompt is
/// written, so an answer typed the instant the prompt appears is never shown, and input typed
/// ahead is kept (the change applies now, without flushing). The terminal's settings are put
/// back however the read ends.
fn read_without_echo(
    reader: &mut BufReader<File>,
    writer: &mut File,
    prompt: &str,
) -> Result<SecretString, TtyError> {
    use rustix::termios::{LocalModes, OptionalActions, Termios, tcgetattr, tcsetattr};
    struct Restore(File, Termios);
    impl Drop for Restore {
        fn drop(&mut self) {
            // Nothing better to do if the terminal went away meanwhile.
            let _ = tcsetattr(&self.0, OptionalActions::Now, &self.1);
        }
    }
    let saved = tcgetattr(reader.get_ref()).map_err(io::Error::from)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    let _restore = Restore(reader.get_ref().try_clone()?, saved);
    tcsetattr(reader.get_ref(), OptionalActions::Now, &quiet).map_err(io::Error::from)?;
    writer.write_all(prompt.as_bytes())?;
    writer.flush()?;
    let line = read_line(reader)?;
    Ok(SecretString::from(line.as_str().to_owned()))
}

/// Reads one line, without its line ending, into a zeroized buffer.
fn read_line(reader: &mut dyn BufRead) -> Result<Zeroizing<String>, TtyError> {
    let mut line = Zeroizing::new(String::with_capacity(256));
    if reader.read_line(&mut line)? == 0 {
        return Err(TtyError::Closed);
    }
    while line.ends_with(['\n', '\r']) {
        line.pop();
    }
    Ok(line)
}

impl Prompter for Terminal {
    fn text(&self, message: &str, default: Option<&str>) -> Result<String, TtyError> {
        self.with_io(|r, w, _| {
            match default {
                Some(d) => write!(w, "{} [{}]: ", sanitize(message), sanitize(d))?,
                None => write!(w, "{}: ", sanitize(message))?,
            }
            w.flush()?;
            let line = read_line(r)?;
            Ok(match default {
                Some(d) if line.is_empty() => d.to_owned(),
                _ => line.to_string(),
            })
        })
    }

    fn secret(&self, message: &str) -> Result<SecretString, TtyError> {
        let prompt = format!("{}: ", sanitize(message));
        let mut io = self.io.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *io {
            Io::Tty { reader, writer } => read_without_echo(reader, writer, &prompt),
            Io::Streams { reader, writer } => {
                writer.write_all(prompt.as_bytes())?;
                writer.flush()?;
                let line = read_line(reader)?;
                Ok(SecretString::from(line.as_str().to_owned()))
            }
        }
    }

    fn confirm(&self, message: &str, default: bool) -> Result<bool, TtyError> {
        self.with_io(|r, w, _| {
            let choices = if default { "[Y/n]" } else { "[y/N]" };
            loop {
                write!(w, "{} {choices} ", sanitize(message))?;
                w.flush()?;
                let line = read_line(r)?;
                match line.trim().to_ascii_lowercase().as_str() {
                    "" => return Ok(default),
                    "y" | "yes" => return Ok(true),
                    "n" | "no" => return Ok(false),
                    _ => writeln!(w, "Please answer y or n.")?,
                }
            }
        })
    }

    fn message(&self, message: &str) -> Result<(), TtyError> {
        self.with_io(|_, w, _| {
            writeln!(w, "{}", sanitize(message))?;
            w.flush()?;
            Ok(())
        })
    }

    fn open_url(&self, message: &str, url: &str) -> Result<bool, TtyError> {
        let url_ok = is_openable_url(url);
        let offer = url_ok && !matches!(self.browser, Browser::Never);
        let want = self.with_io(|r, w, _| {
            writeln!(w, "{}", sanitize(message))?;
            writeln!(w, "  {}", sanitize(url))?;
            if !offer {
                w.flush()?;
                return Ok(false);
            }
            write!(w, "Open it in your browser? [Y/n] ")?;
            w.flush()?;
            let line = read_line(r)?;
            Ok(matches!(
                line.trim().to_ascii_lowercase().as_str(),
                "" | "y" | "yes"
            ))
        })?;
        if !want {
            return Ok(false);
        }
        let started = start_browser(&self.browser, url);
        if !started {
            self.message("Could not start a browser; open the address above by hand.")?;
        }
        Ok(started)
    }
}

/// Only `https://` (and `http://` to loopback) URLs without spaces or control characters
/// are handed to a browser, so the URL can never read as an option or a command.
fn is_openable_url(url: &str) -> bool {
    let clean = !url.chars().any(|c| c.is_control() || c.is_whitespace());
    let https = url.starts_with("https://");
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            url.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    clean && (https || loopback)
}

fn start_browser(browser: &Browser, url: &str) -> bool {
    let mut cmd = match browser {
        Browser::Never => return false,
        Browser::Command(argv) => {
            let Some((prog, args)) = argv.split_first() else {
                return false;
            };
            let mut c = std::process::Command::new(prog);
            c.args(args);
            c
        }
        Browser::System => {
            #[cfg(target_os = "macos")]
            let c = std::process::Command::new("open");
            #[cfg(windows)]
            let c = {
                let mut c = std::process::Command::new("cmd");
                c.args(["/C", "start", ""]);
                c
            };
            #[cfg(all(unix, not(target_os = "macos")))]
            let c = std::process::Command::new("xdg-open");
            c
        }
    };
    cmd.arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    match cmd.status() {
        Ok(s) => s.success(),
        Err(_) => false,
    }
}

/// Makes text safe to print on a terminal: control characters (other than newline and tab)
/// and Unicode direction overrides are shown escaped (`\u{1b}`), so text from a plugin or a
/// server cannot move the cursor, clear the screen, rewrite earlier lines or reorder what
/// the user reads.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    fn bad(c: char) -> bool {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
    }
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if bad(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::io::Cursor;
    use std::sync::Arc;

    /// A writer whose bytes the test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn term(input: &str) -> (Terminal, Shared) {
        let out = Shared::default();
        (
            Terminal::from_streams(Cursor::new(input.to_owned()), out.clone()),
            out,
        )
    }

    #[test]
    fn text_secret_confirm_and_message_read_and_write_the_terminal() {
        let (t, out) = term("alice\n\ns3cret\r\nmaybe\nY\n\n");
        assert_eq!(t.text("Username", None).unwrap(), "alice");
        assert_eq!(t.text("Region", Some("eu")).unwrap(), "eu");
        assert_eq!(t.secret("Password").unwrap().expose_secret(), "s3cret");
        assert!(t.confirm("Continue?", false).unwrap());
        assert!(!t.confirm("Again?", false).unwrap());
        t.message("Done.").unwrap();
        assert_eq!(
            out.text(),
            "Username: Region [eu]: Password: Continue? [y/N] Please answer y or n.\n\
             Continue? [y/N] Again? [y/N] Done.\n"
        );
        assert!(matches!(t.text("More", None), Err(TtyError::Closed)));
        assert_eq!(
            TtyError::Closed.to_string(),
            "the prompt was closed without an answer"
        );
    }

    #[test]
    fn open_url_offers_the_browser_and_runs_the_configured_command() {
        let (t, out) = term("\n");
        let t = t.with_browser(Browser::Command(vec!["true".into()]));
        assert!(
            t.open_url("Approve the login at", "https://example.com/device")
                .unwrap()
        );
        assert_eq!(
            out.text(),
            "Approve the login at\n  https://example.com/device\nOpen it in your browser? [Y/n] "
        );

        let (t, out) = term("y\n");
        let t = t.with_browser(Browser::Command(vec!["false".into()]));
        assert!(!t.open_url("Go to", "https://example.com/").unwrap());
        assert!(
            out.text()
                .ends_with("Could not start a browser; open the address above by hand.\n")
        );

        // A URL that is not https is shown but never handed to a program.
        let (t, out) = term("");
        let t = t.with_browser(Browser::Command(vec!["true".into()]));
        assert!(!t.open_url("Go to", "file:///etc/passwd").unwrap());
        assert!(!t.open_url("Go to", "https://x/ -rf").unwrap());
        assert_eq!(
            out.text(),
            "Go to\n  file:///etc/passwd\nGo to\n  https://x/ -rf\n"
        );
        assert!(is_openable_url("http://127.0.0.1:8080/cb"));
        assert!(!is_openable_url("http://127.0.0.1.evil.com/"));
    }

    #[test]
    fn sanitize_escapes_terminal_controls() {
        assert_eq!(sanitize("plain\ttext\nline 2"), "plain\ttext\nline 2");
        assert_eq!(sanitize("a\u{1b}[2Jb\rc"), "a\\u{1b}[2Jb\\u{d}c");
        assert_eq!(sanitize("x\u{202e}y"), "x\\u{202e}y");
        let (t, out) = term("");
        t.message("evil\u{1b}]0;title\u{7}").unwrap();
        assert_eq!(out.text(), "evil\\u{1b}]0;title\\u{7}\n");
    }

    #[test]
    fn non_interactive_refuses_everything() {
        let p = NonInteractive::new("the calling tool does not allow prompts");
        let e = p.secret("Password").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot ask for input: the calling tool does not allow prompts"
        );
        assert!(p.confirm("x", true).is_err() && p.open_url("x", "https://x").is_err());
        assert_eq!(
            TtyError::not_allowed().to_string(),
            "cannot ask for input: there is no terminal, or the calling tool does not allow prompts"
        );
    }

    /// The test machines have no controlling terminal (CI, this sandbox): opening it must
    /// fail cleanly. Where a terminal exists the test only checks that opening works.
    #[test]
    fn open_without_a_terminal_is_not_interactive() {
        match Terminal::open() {
            Ok(_) => {}
            Err(e) => {
                assert!(matches!(e, TtyError::NotInteractive { .. }));
                assert!(
                    e.to_string()
                        .starts_with("cannot ask for input: there is no terminal ("),
                    "{e}"
                );
            }
        }
    }
}
