//! keyhelm as git's credential helper in testkit's isolated environment.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use keyhelm_testkit::bins::IsolatedEnv;

pub fn keyhelm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keyhelm"))
}

/// An isolated HOME and KEYHELM_HOME, and a git whose only credential helper is keyhelm.
pub struct Sandbox {
    pub env: IsolatedEnv,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let env = IsolatedEnv::new().unwrap();
        let sandbox = Sandbox { env };
        sandbox.write_gitconfig(&format!(
            "[credential]\n\thelper = {}\n[init]\n\tdefaultBranch = main\n",
            keyhelm_bin().display()
        ));
        sandbox
    }

    pub fn write_gitconfig(&self, text: &str) {
        std::fs::write(self.home().join(".gitconfig"), text).unwrap();
    }

    pub fn dir(&self) -> &Path {
        self.env.root()
    }

    pub fn home(&self) -> PathBuf {
        self.env.home()
    }

    pub fn keyhelm_home(&self) -> PathBuf {
        self.env.keyhelm_home()
    }

    pub fn vault_file(&self) -> PathBuf {
        self.keyhelm_home().join("vault").join("vault.age")
    }

    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        self.env.command(program)
    }

    pub fn keyhelm(&self, args: &[&str], stdin: &[u8]) -> Output {
        run(self.command(keyhelm_bin()).args(args), stdin)
    }

    pub fn git(&self, args: &[&str], stdin: &[u8]) -> Output {
        run(self.command("git").args(args), stdin)
    }

    /// `git credential <op>` with `input`.
    pub fn credential(&self, op: &str, input: &str) -> Output {
        self.git(&["credential", op], input.as_bytes())
    }

    pub fn approve(&self, input: &str) {
        let out = self.credential("approve", input);
        assert!(
            out.status.success(),
            "approve failed: {}",
            text(&out.stderr)
        );
    }

    pub fn reject(&self, input: &str) {
        let out = self.credential("reject", input);
        assert!(out.status.success(), "reject failed: {}", text(&out.stderr));
    }

    /// `git credential fill` output, or None when git found nothing (it fails: prompting is off).
    pub fn fill(&self, input: &str) -> Option<String> {
        let out = self.credential("fill", input);
        out.status.success().then(|| text(&out.stdout))
    }

    pub fn vault_bytes(&self) -> Vec<u8> {
        std::fs::read(self.vault_file()).unwrap()
    }
}

/// Runs `cmd` with `stdin` written from a thread (a child that exits early cannot deadlock us).
pub fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
