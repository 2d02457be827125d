//! Getting passphrases: on the terminal (not echoed, a few tries), or one line from stdin for
//! scripts (`--passphrase-from-stdin`). Never from argv or the environment.

use std::io::Read;
use std::path::Path;

use keyhelm_vault::{Identity, MAX_WORK_FACTOR, UnlockError};
use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use crate::error::{Exit, Failure, Result};
use crate::tty::{Prompter, TtyError};

/// How many times a wrong passphrase may be typed before giving up.
pub const TRIES: usize = 3;
/// The longest passphrase read from stdin.
pub const MAX_LEN: usize = 4096;

/// The prompt for an existing identity's passphrase.
pub fn prompt(identity_file: &Path) -> String {
    format!("keyhelm: passphrase for {}", identity_file.display())
}

/// The failure when a prompt could not be answered.
pub fn tty_failure(e: TtyError) -> Failure {
    match e {
        TtyError::NotInteractive { .. } => Failure::new(Exit::NeedsInteraction, e.to_string())
            .hint("run it in a terminal, or give the passphrase on stdin with --passphrase-from-stdin"),
        TtyError::Closed => Failure::new(Exit::Identity, "no passphrase was given"),
        _ => Failure::other(e.to_string()),
    }
}

/// The process's stdin, unbuffered. std's `Stdin` reads through a process-wide buffer that
/// keeps whatever it read (a passphrase, a key handed to the agent) until the process ends;
/// secrets are read from a duplicate of fd 0 instead, into buffers that are zeroized.
#[derive(Debug)]
pub struct RawStdin(std::fs::File);

impl RawStdin {
    pub fn open() -> Result<RawStdin> {
        use std::os::fd::AsFd as _;
        let fd = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Failure::other(format!("cannot read stdin: {e}")))?;
        Ok(RawStdin(std::fs::File::from(fd)))
    }
}

impl Read for RawStdin {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

/// Reads one line of at most `max` bytes, a byte at a time (nothing past the line is consumed,
/// nothing is buffered elsewhere), into a zeroized buffer; without its line ending. `None` when
/// the line is longer.
pub fn read_line(input: &mut impl Read, max: usize) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut line = Zeroizing::new(Vec::with_capacity(max + 1));
    let mut byte = Zeroizing::new([0u8; 1]);
    loop {
        match input.read(&mut byte[..]) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) if line.len() == max => return Ok(None),
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// Reads a passphrase as the first line of `input` (without its line ending).
pub fn from_stdin(input: &mut impl Read) -> Result<SecretString> {
    let line = read_line(input, MAX_LEN)
        .map_err(|e| {
            Failure::other(format!("cannot read the passphrase from stdin: {e}"))
                .hint("give the passphrase as the first line of stdin")
        })?
        .ok_or_else(|| {
            Failure::usage(format!(
                "the passphrase on stdin is longer than {MAX_LEN} bytes"
            ))
        })?;
    let text = std::str::from_utf8(&line)
        .map_err(|_| Failure::usage("the passphrase on stdin is not valid UTF-8"))?;
    non_empty(secret(text))
}

/// A `SecretString` copied into an allocation of exactly its size.
fn secret(text: &str) -> SecretString {
    let mut exact = String::with_capacity(text.len());
    exact.push_str(text);
    SecretString::from(exact)
}

fn non_empty(pass: SecretString) -> Result<SecretString> {
    if pass.expose_secret().is_empty() {
        return Err(Failure::usage("the passphrase is empty")
            .hint("an empty passphrase protects nothing; choose one"));
    }
    Ok(pass)
}

/// Asks for the passphrase of the protected identity file `bytes` (at `path`) until it opens
/// it, up to [`TRIES`] times: the identity and the file's plain text.
pub fn ask_and_unlock(
    prompter: &dyn Prompter,
    bytes: &[u8],
    path: &Path,
) -> Result<(Identity, SecretString)> {
    let mut tries = 0;
    loop {
        tries += 1;
        let pass = prompter.secret(&prompt(path)).map_err(tty_failure)?;
        match keyhelm_vault::unlock(bytes, pass, MAX_WORK_FACTOR, path) {
            Ok(unlocked) => return Ok(unlocked),
            Err(UnlockError::WrongPassphrase { .. }) if tries < TRIES => {
                prompter
                    .message("keyhelm: wrong passphrase, try again")
                    .map_err(tty_failure)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Asks for a new passphrase, twice.
pub fn ask_new(prompter: &dyn Prompter, path: &Path) -> Result<SecretString> {
    let first = prompter
        .secret(&format!("keyhelm: new passphrase for {}", path.display()))
        .map_err(tty_failure)?;
    let first = non_empty(first)?;
    let second = prompter
        .secret("keyhelm: repeat the passphrase")
        .map_err(tty_failure)?;
    if first.expose_secret() != second.expose_secret() {
        return Err(
            Failure::usage("the two passphrases differ; nothing was changed")
                .hint("run the command again"),
        );
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tty::{NonInteractive, Terminal};
    use std::io::{Cursor, Write};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn term(input: &str) -> (Terminal, Shared) {
        let out = Shared::default();
        let t = Terminal::from_streams(Cursor::new(input.to_owned()), out.clone());
        (t, out)
    }

    fn shown(out: &Shared) -> String {
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn stdin_passphrases_are_one_line() {
        let p = from_stdin(&mut Cursor::new("s3cret pass\r\nnext line\n")).unwrap();
        assert_eq!(p.expose_secret(), "s3cret pass");
        let p = from_stdin(&mut Cursor::new("no newline")).unwrap();
        assert_eq!(p.expose_secret(), "no newline");
        let e = from_stdin(&mut Cursor::new("\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the passphrase is empty (hint: an empty passphrase protects nothing; choose one)"
        );
        let e = from_stdin(&mut Cursor::new("")).unwrap_err();
        assert_eq!(e.message, "the passphrase is empty");
        let long = "x".repeat(MAX_LEN + 1);
        let e = from_stdin(&mut Cursor::new(long)).unwrap_err();
        assert_eq!(
            e.message,
            "the passphrase on stdin is longer than 4096 bytes"
        );
        assert_eq!(e.exit, Exit::Usage);
        let exact = "y".repeat(MAX_LEN) + "\n";
        assert_eq!(
            from_stdin(&mut Cursor::new(exact))
                .unwrap()
                .expose_secret()
                .len(),
            MAX_LEN
        );
        let e = from_stdin(&mut Cursor::new(vec![0xff, b'\n'])).unwrap_err();
        assert_eq!(e.message, "the passphrase on stdin is not valid UTF-8");
    }

    #[test]
    fn new_passphrases_are_asked_twice() {
        let path = Path::new("/k/identity.txt");
        let (t, out) = term("abc\nabc\n");
        assert_eq!(ask_new(&t, path).unwrap().expose_secret(), "abc");
        assert_eq!(
            shown(&out),
            "keyhelm: new passphrase for /k/identity.txt: keyhelm: repeat the passphrase: "
        );
        let (t, _) = term("abc\nabd\n");
        let e = ask_new(&t, path).unwrap_err();
        assert_eq!(e.message, "the two passphrases differ; nothing was changed");
        let (t, _) = term("\n");
        assert_eq!(
            ask_new(&t, path).unwrap_err().message,
            "the passphrase is empty"
        );
        let e = ask_new(&NonInteractive::new("there is no terminal"), path).unwrap_err();
        assert_eq!(e.exit, Exit::NeedsInteraction);
        assert_eq!(e.message, "cannot ask for input: there is no terminal");
    }

    #[test]
    fn three_tries_then_the_wrong_passphrase_error() {
        let path = Path::new("/k/identity.txt");
        let text = Identity::generate().secret_text(path).unwrap();
        let bytes =
            keyhelm_vault::protect(&text, SecretString::from("good".to_owned()), 10, path).unwrap();
        let (t, out) = term("bad\nworse\ngood\n");
        let (id, plain) = ask_and_unlock(&t, &bytes, path).unwrap();
        assert_eq!(plain.expose_secret(), text.expose_secret());
        assert!(id.public().starts_with("age1"));
        assert_eq!(
            shown(&out),
            "keyhelm: passphrase for /k/identity.txt: keyhelm: wrong passphrase, try again\n\
             keyhelm: passphrase for /k/identity.txt: keyhelm: wrong passphrase, try again\n\
             keyhelm: passphrase for /k/identity.txt: "
        );
        let (t, _) = term("a\nb\nc\ngood\n");
        let e = ask_and_unlock(&t, &bytes, path).unwrap_err();
        assert_eq!(e.exit, Exit::Identity);
        assert_eq!(
            e.message,
            "wrong passphrase for the identity file /k/identity.txt"
        );
        let (t, _) = term("");
        let e = ask_and_unlock(&t, &bytes, path).unwrap_err();
        assert_eq!(e.message, "no passphrase was given");
    }
}
