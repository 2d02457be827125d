//! A sandbox for running keyhelm and the real git with an isolated environment.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn keyhelm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keyhelm"))
}

/// A temporary HOME and KEYHELM_HOME, and a git configured to use keyhelm.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let sandbox = Sandbox { dir };
        std::fs::write(
            sandbox.home().join(".gitconfig"),
            format!(
                "[user]\n\tname = Test\n\temail = test@example.invalid\n\
                 [credential]\n\thelper = {}\n\tinteractive = false\n\
                 [init]\n\tdefaultBranch = main\n",
                keyhelm_bin().display()
            ),
        )
        .unwrap();
        sandbox
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn keyhelm_home(&self) -> PathBuf {
        self.dir.path().join("keyhelm")
    }

    pub fn vault_file(&self) -> PathBuf {
        self.keyhelm_home().join("vault").join("vault.age")
    }

    /// A scrubbed environment: nothing of the developer's leaks in.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("KEYHELM_HOME", self.keyhelm_home())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .current_dir(self.dir.path());
        cmd
    }

    pub fn keyhelm(&self, args: &[&str], stdin: &[u8]) -> Output {
        run(self.command(keyhelm_bin()).args(args), stdin)
    }

    pub fn git(&self, args: &[&str], stdin: &[u8]) -> Output {
        run(self.command("git").args(args), stdin)
    }

    /// `git credential <op>` with `input`; asserts success for approve/reject.
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

    /// `git credential fill` output, or None when git found nothing (it fails as prompting is off).
    pub fn fill(&self, input: &str) -> Option<String> {
        let out = self.credential("fill", input);
        out.status.success().then(|| text(&out.stdout))
    }

    pub fn vault_bytes(&self) -> Vec<u8> {
        std::fs::read(self.vault_file()).unwrap()
    }
}

pub fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    // Write from a thread so that a child that exits early cannot deadlock us.
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
