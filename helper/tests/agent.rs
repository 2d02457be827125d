//! Passphrase-protected identities and the keyhelm agent, end to end: the real keyhelm binary,
//! the real git, prompts answered on a real pseudo-terminal (util-linux `script`), and a
//! client of another user (util-linux `setpriv`) when the tests run as root.
//!
//! Commands that must have no terminal run under `setsid -w`, which leaves the controlling
//! terminal of whoever runs the tests behind. Every test that unlocks locks again when it ends
//! (also when it fails), so no agent outlives its test for long.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use keyhelm_testkit::pty::Pty;
use support::{Sandbox, keyhelm_bin, mode, run, text, wait_until};

const PASS: &str = "correct horse battery staple";
/// A small work factor keeps the tests fast; the default (18) is checked separately.
const WF: &str = "10";
const REQUEST: &str = "protocol=https\nhost=git.example.com\n";
const CREDENTIAL: &str =
    "protocol=https\nhost=git.example.com\nusername=alice\npassword=s3cret-pw\n";

/// Runs `program args` with no controlling terminal, `stdin` on its stdin.
fn bare(s: &Sandbox, program: impl AsRef<std::ffi::OsStr>, args: &[&str], stdin: &str) -> Output {
    let mut cmd = s.command("setsid");
    cmd.arg("-w").arg(program).args(args);
    run(&mut cmd, stdin.as_bytes())
}

fn keyhelm(s: &Sandbox, args: &[&str], stdin: &str) -> Output {
    bare(s, keyhelm_bin(), args, stdin)
}

fn git(s: &Sandbox, args: &[&str], stdin: &str) -> Output {
    bare(s, "git", args, stdin)
}

fn identity_file(s: &Sandbox) -> PathBuf {
    s.keyhelm_home().join("identity.txt")
}

fn socket(s: &Sandbox) -> PathBuf {
    s.keyhelm_home().join("run").join("agent.sock")
}

/// `keyhelm init --passphrase` with [`PASS`] on stdin, at the small work factor.
fn init_passphrase(s: &Sandbox) -> Output {
    keyhelm(s, &INIT_PASSPHRASE, &format!("{PASS}\n"))
}

/// `keyhelm init --passphrase` reading [`PASS`] from stdin, at the small work factor.
const INIT_PASSPHRASE: [&str; 5] = [
    "init",
    "--passphrase",
    "--passphrase-from-stdin",
    "--scrypt-work-factor",
    WF,
];

/// A new passphrase-protected identity; returns its public key.
fn init_protected(s: &Sandbox) -> String {
    let out = init_passphrase(s);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

/// A sandbox whose identity is protected by [`PASS`].
fn protected_sandbox() -> Sandbox {
    let s = Sandbox::new();
    init_protected(&s);
    s
}

/// Stores [`CREDENTIAL`] through a short-lived agent, then locks again.
fn store_then_lock(s: &Sandbox) {
    unlock(s, "10m");
    approve(s);
    assert!(keyhelm(s, &["lock"], "").status.success());
}

/// `keyhelm unlock --passphrase-from-stdin --ttl <ttl>`; returns the agent's pid.
fn unlock(s: &Sandbox, ttl: &str) -> u32 {
    let out = keyhelm(
        s,
        &["unlock", "--passphrase-from-stdin", "--ttl", ttl],
        &format!("{PASS}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    agent_pid(&text(&out.stderr))
}

/// The pid in "... agent pid 1234; ..." or "... (pid 1234)".
fn agent_pid(stderr: &str) -> u32 {
    let at = stderr
        .find("pid ")
        .unwrap_or_else(|| panic!("no pid in {stderr}"));
    stderr[at + 4..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// Locks when dropped, so that a failing test leaves no agent behind.
struct Locks<'a>(&'a Sandbox);

impl Drop for Locks<'_> {
    fn drop(&mut self) {
        let _ = keyhelm(self.0, &["lock"], "");
    }
}

fn fill(s: &Sandbox) -> Output {
    git(s, &["credential", "fill"], REQUEST)
}

fn approve(s: &Sandbox) {
    let out = git(s, &["credential", "approve"], CREDENTIAL);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

const LOCKED_ERROR: &str = "keyhelm: error: this device's identity {} is locked: it is protected by a \
     passphrase, no keyhelm agent holds it unlocked, and there is no terminal to ask for the \
     passphrase on\nkeyhelm: hint: run `keyhelm unlock` in a terminal, then try again\n";

fn locked_error(s: &Sandbox) -> String {
    LOCKED_ERROR.replace("{}", &identity_file(s).display().to_string())
}

/// A lookup without a terminal finds the identity locked: exit 5, nothing on stdout, and
/// [`LOCKED_ERROR`].
#[track_caller]
fn assert_lookup_is_locked(s: &Sandbox) {
    let out = keyhelm(s, &["get"], REQUEST);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), locked_error(s));
}

/// `git credential fill` of [`REQUEST`] on a pseudo-terminal.
fn fill_on_terminal(s: &Sandbox) -> Pty {
    let mut cmd = s.command("sh");
    cmd.args([
        "-c",
        "printf 'protocol=https\\nhost=git.example.com\\n\\n' | git credential fill",
    ]);
    Pty::spawn(&cmd).unwrap()
}

/// Kills the agent `pid` without letting it clean up, and waits until it is gone.
fn kill_agent(pid: u32) {
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    wait_until("the agent died", || !is_running(pid));
}

fn is_running(pid: u32) -> bool {
    // A zombie (exited, not yet reaped by whoever adopted it) is not running. A killed process
    // whose main thread is a zombie is still running while its other threads wind down: they
    // hold its files, the agent's listening socket among them, until the last one has exited.
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    threads.flatten().any(|thread| {
        std::fs::read_to_string(thread.path().join("stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    })
}

#[test]
fn init_passphrase_on_a_terminal_then_unlock_lookups_and_lock() {
    let s = Sandbox::new();
    let mut cmd = s.command(keyhelm_bin());
    cmd.args(["init", "--passphrase", "--scrypt-work-factor", WF]);
    let mut pty = Pty::spawn(&cmd).unwrap();
    let id = identity_file(&s).display().to_string();
    pty.answer(&format!("keyhelm: new passphrase for {id}: "), PASS)
        .unwrap();
    pty.answer("keyhelm: repeat the passphrase: ", PASS)
        .unwrap();
    let done = pty.finish().unwrap();
    assert!(done.status.success(), "{}", done.output);
    // Echo is off before the prompt is written, so even an answer typed the instant the
    // prompt appears is not shown.
    assert!(
        !done.output.contains(PASS),
        "the passphrase was echoed: {}",
        done.output
    );
    assert!(
        done.output.contains(&format!(
            "keyhelm: created this device's identity in {id}, protected by a passphrase\n"
        )),
        "{}",
        done.output
    );
    assert!(done.output.contains(
        "keyhelm: lookups need the identity unlocked: run `keyhelm unlock` (a lookup in a \
         terminal also asks for the passphrase)\n"
    ));
    let public = done
        .output
        .lines()
        .find(|l| l.starts_with("age1"))
        .expect("the public key")
        .to_owned();

    // The file: armored age, scrypt at the chosen work factor, 0600, no key inside.
    let file = std::fs::read_to_string(identity_file(&s)).unwrap();
    assert!(
        file.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{file}"
    );
    assert!(!file.contains("AGE-SECRET-KEY"));
    assert_eq!(mode(&identity_file(&s)), 0o600);

    // Locked: a store is refused (git ignores it; nothing is written), a lookup finds nothing.
    let vault_before = s.vault_bytes();
    let out = git(&s, &["credential", "approve"], CREDENTIAL);
    assert!(
        text(&out.stderr).contains(&locked_error(&s)),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(s.vault_bytes(), vault_before);

    // Unlock on the terminal.
    let mut cmd = s.command(keyhelm_bin());
    cmd.args(["unlock", "--ttl", "10m"]);
    let mut pty = Pty::spawn(&cmd).unwrap();
    pty.answer(&format!("keyhelm: passphrase for {id}: "), PASS)
        .unwrap();
    let done = pty.finish().unwrap();
    let _locks = Locks(&s);
    assert!(done.status.success(), "{}", done.output);
    assert!(
        done.output
            .contains(&format!("keyhelm: unlocked {public} until ")),
        "{}",
        done.output
    );
    assert!(
        done.output.contains(" (in 10m), agent pid "),
        "{}",
        done.output
    );
    assert!(
        done.output
            .contains("; `keyhelm lock` forgets the key sooner\n")
    );
    // The agent outlives the terminal it was started from.
    let pid = agent_pid(&done.output);
    assert!(is_running(pid));
    assert_eq!(mode(&socket(&s)), 0o600);
    assert_eq!(mode(socket(&s).parent().unwrap()), 0o700);

    // Lookups through the agent, with the real git.
    approve(&s);
    let out = fill(&s);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "protocol=https\nhost=git.example.com\nusername=alice\npassword=s3cret-pw\n"
    );
    assert_eq!(text(&out.stderr), "");
    // The vault is encrypted to the identity's public key (encryption needed no secret).
    let out = keyhelm(&s, &["init"], "");
    assert_eq!(text(&out.stdout).trim(), public);

    let out = keyhelm(&s, &["doctor"], "");
    let report = text(&out.stdout);
    assert!(
        report.contains(&format!(
            "ok    identity  {id} ({public}), protected by a passphrase\n"
        )),
        "{report}"
    );
    assert!(
        report.contains("ok    agent     unlocked until "),
        "{report}"
    );
    assert!(
        report.contains(&format!("; agent pid {pid} at {}\n", socket(&s).display())),
        "{report}"
    );
    assert!(report.contains("opens: 1 stored credential\n"), "{report}");

    // Lock: the agent forgets the key and stops; lookups fail again with the advice.
    let out = keyhelm(&s, &["lock"], "");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stderr),
        "keyhelm: locked: the agent forgot the key and stopped\n"
    );
    assert!(!socket(&s).exists());
    assert!(!socket(&s).with_file_name("agent.json").exists());
    wait_until("the agent ended", || !is_running(pid));
    assert_lookup_is_locked(&s);
    let out = keyhelm(&s, &["lock"], "");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stderr),
        "keyhelm: no agent is running: the identity is locked\n"
    );
    let out = keyhelm(&s, &["doctor"], "");
    let report = text(&out.stdout);
    assert!(
        out.status.success(),
        "a locked identity is a warning: {report}"
    );
    assert!(
        report.contains(
            "warn  agent     locked: no agent holds the key; lookups ask for the passphrase on a \
             terminal, and fail without one\n"
        ),
        "{report}"
    );
}

#[test]
fn a_lookup_without_an_agent_or_a_terminal_fails_with_run_keyhelm_unlock() {
    let s = protected_sandbox();
    assert_lookup_is_locked(&s);

    // Through git: the message reaches the user, and git finds nothing.
    let out = fill(&s);
    assert!(!out.status.success());
    assert_eq!(text(&out.stdout), "");
    assert!(
        text(&out.stderr).starts_with(&locked_error(&s)),
        "{}",
        text(&out.stderr)
    );
    // Nothing was started or created.
    assert!(!socket(&s).exists());
}

#[test]
fn a_lookup_on_a_terminal_asks_for_the_passphrase_and_starts_an_agent() {
    let s = protected_sandbox();
    let _locks = Locks(&s);
    store_then_lock(&s);

    // git on a terminal: keyhelm asks on the terminal, not on git's pipes.
    let mut pty = fill_on_terminal(&s);
    let id = identity_file(&s).display().to_string();
    pty.answer(&format!("keyhelm: passphrase for {id}: "), "not it")
        .unwrap();
    pty.answer(
        &format!("keyhelm: wrong passphrase, try again\nkeyhelm: passphrase for {id}: "),
        PASS,
    )
    .unwrap();
    let done = pty.finish().unwrap();
    assert!(done.status.success(), "{}", done.output);
    assert!(
        done.output.contains("keyhelm: unlocked until "),
        "{}",
        done.output
    );
    assert!(done.output.contains("username=alice\npassword=s3cret-pw\n"));

    // The agent it started answers the next lookups, without a terminal.
    let out = fill(&s);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("password=s3cret-pw\n"));
}

#[test]
fn a_wrong_passphrase_unlocks_nothing() {
    let s = protected_sandbox();
    let _locks = Locks(&s);
    let out = keyhelm(
        &s,
        &["unlock", "--passphrase-from-stdin"],
        "Correct Horse Battery Staple\n",
    );
    assert_eq!(out.status.code(), Some(5));
    let id = identity_file(&s).display().to_string();
    assert_eq!(
        text(&out.stderr),
        format!(
            "keyhelm: error: wrong passphrase for the identity file {id}\nkeyhelm: hint: type the \
             passphrase chosen at `keyhelm init --passphrase`; a forgotten passphrase cannot be \
             recovered: restore the identity file from a backup, or set this device up again \
             and add its new key from another device\n"
        )
    );
    assert!(!socket(&s).exists());

    // On a terminal: three tries, then the same error.
    let mut cmd = s.command(keyhelm_bin());
    cmd.arg("unlock");
    let mut pty = Pty::spawn(&cmd).unwrap();
    let prompt = format!("keyhelm: passphrase for {id}: ");
    for wrong in ["one", "two", "three"] {
        pty.answer(&prompt, wrong).unwrap();
    }
    let done = pty.finish().unwrap();
    assert_eq!(done.status.code(), Some(5), "{}", done.output);
    assert_eq!(
        done.output
            .matches("keyhelm: wrong passphrase, try again\n")
            .count(),
        2,
        "{}",
        done.output
    );
    assert!(done.output.contains(&format!(
        "keyhelm: error: wrong passphrase for the identity file {id}\n"
    )));
    assert!(!socket(&s).exists());

    // Without a terminal and without --passphrase-from-stdin: nothing to ask on.
    let out = keyhelm(&s, &["unlock"], "");
    assert_eq!(out.status.code(), Some(8));
    assert!(
        text(&out.stderr).starts_with("keyhelm: error: cannot ask for input: there is no terminal"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).ends_with(
        "keyhelm: hint: run it in a terminal, or give the passphrase on stdin with \
         --passphrase-from-stdin\n"
    ));
}

#[test]
fn the_agent_forgets_the_key_when_its_time_to_live_runs_out() {
    let s = protected_sandbox();
    let _locks = Locks(&s);
    let pid = unlock(&s, "3s");
    // Whether a lookup still makes it before the deadline depends on the machine's speed, so
    // only the ending is checked: the agent removes its socket and exits by itself.
    wait_until("the agent removed its socket", || !socket(&s).exists());
    wait_until("the agent ended", || !is_running(pid));
    assert_lookup_is_locked(&s);
}

#[test]
fn a_stale_socket_is_handled_cleanly() {
    let s = protected_sandbox();
    let _locks = Locks(&s);
    let pid = unlock(&s, "10m");
    approve(&s);
    // The agent dies without cleaning up: its socket stays behind.
    kill_agent(pid);
    assert!(socket(&s).exists());

    // A lookup treats it as "no agent", not as a connection error.
    assert_lookup_is_locked(&s);
    let report = text(&keyhelm(&s, &["doctor"], "").stdout);
    assert!(
        report.contains(&format!(
            "warn  agent     locked: the socket {} is left from an agent that is gone\n\
             {:16}hint: run `keyhelm unlock` (it replaces the socket), or `keyhelm lock` to \
             remove it\n",
            socket(&s).display(),
            ""
        )),
        "{report}"
    );

    // unlock replaces it.
    let new_pid = unlock(&s, "10m");
    assert_ne!(new_pid, pid);
    let out = fill(&s);
    assert!(
        text(&out.stdout).contains("password=s3cret-pw\n"),
        "{}",
        text(&out.stderr)
    );

    // lock removes a stale socket.
    kill_agent(new_pid);
    let out = keyhelm(&s, &["lock"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!(
            "keyhelm: removed the stale socket {} (its agent is gone): the identity is locked\n",
            socket(&s).display()
        )
    );
    assert!(!socket(&s).exists());
    assert!(!socket(&s).with_file_name("agent.json").exists());
}

/// A KEYHELM_HOME too deep for the agent's socket: unlock says so and how to fix it, and a
/// lookup finds the identity locked rather than blaming permissions.
#[test]
fn a_socket_path_too_long_is_explained() {
    let s = Sandbox::new();
    let home = s.dir().join("x".repeat(100));
    let run_in = |args: &[&str], stdin: &str| {
        let mut cmd = s.command("setsid");
        cmd.arg("-w")
            .arg(keyhelm_bin())
            .args(args)
            .env("KEYHELM_HOME", &home);
        run(&mut cmd, stdin.as_bytes())
    };
    let out = run_in(&INIT_PASSPHRASE, &format!("{PASS}\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run_in(&["unlock", "--passphrase-from-stdin"], &format!("{PASS}\n"));
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let socket = home.join("run/agent.sock");
    let prefix = format!(
        "keyhelm: error: the agent's socket path {} is too long for a Unix socket (keyhelm \
         needs ",
        socket.display()
    );
    assert!(stderr.starts_with(&prefix), "{stderr}");
    assert!(
        stderr.ends_with(
            " bytes to create it; at most 107)\n\
             keyhelm: hint: set XDG_RUNTIME_DIR (or KEYHELM_HOME) to a folder with a shorter path\n"
        ),
        "{stderr}"
    );
    let out = run_in(&["get"], REQUEST);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        text(&out.stderr),
        LOCKED_ERROR.replace("{}", &home.join("identity.txt").display().to_string())
    );
}

#[test]
fn unlocking_again_replaces_the_agent_with_a_new_time_to_live() {
    let s = protected_sandbox();
    let _locks = Locks(&s);
    let first = unlock(&s, "10m");
    approve(&s);
    let second = unlock(&s, "20m");
    assert_ne!(first, second);
    wait_until("the first agent ended", || !is_running(first));
    assert!(is_running(second));
    let report = text(&keyhelm(&s, &["doctor"], "").stdout);
    assert!(
        report.contains("(in 20m)") || report.contains("(in 19m"),
        "{report}"
    );
    assert!(fill(&s).status.success());
}

#[test]
fn init_passphrase_protects_an_existing_identity_in_place() {
    let s = Sandbox::new();
    let out = keyhelm(&s, &["init"], "");
    let public = text(&out.stdout).trim().to_owned();
    approve(&s);
    let out = init_passphrase(&s);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), public, "the same key");
    assert!(text(&out.stderr).contains(&format!(
        "keyhelm: protected this device's identity in {} with a passphrase (same key)\n",
        identity_file(&s).display()
    )));
    assert!(text(&out.stderr).contains("opens on this device"));
    assert!(
        std::fs::read_to_string(identity_file(&s))
            .unwrap()
            .starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
    );
    assert_eq!(mode(&identity_file(&s)), 0o600);

    // Unlocking opens the vault written before the protection.
    let _locks = Locks(&s);
    let pid = unlock(&s, "10m");
    assert!(text(&fill(&s).stdout).contains("password=s3cret-pw\n"));

    // The agent got its key over a pipe: neither its command line nor its environment shows
    // it. (It is not dumpable, so its /proc files belong to root; a root test can read them.)
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(
        cmdline,
        format!("{}\0agent\0--handoff\0", keyhelm_bin().display()).as_bytes()
    );
    if let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) {
        assert!(!String::from_utf8_lossy(&environ).contains("AGE-SECRET-KEY"));
        assert!(!String::from_utf8_lossy(&environ).contains(PASS));
    }

    // Again: nothing to do.
    let out = keyhelm(
        &s,
        &["init", "--passphrase", "--passphrase-from-stdin"],
        &format!("{PASS}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("is already protected by a passphrase"));
    assert_eq!(text(&out.stdout).trim(), public);
}

#[test]
fn the_foreground_agent_serves_until_locked() {
    let s = protected_sandbox();
    let _locks = Locks(&s);
    let mut agent = foreground_agent(&s);
    let first = read_line(&mut agent.1);
    assert!(first.starts_with("keyhelm agent: holding age1"), "{first}");
    assert!(
        first.contains(&format!(" at {} (pid ", socket(&s).display())),
        "{first}"
    );
    assert!(
        first.ends_with("); Ctrl-C or `keyhelm lock` stops it\n"),
        "{first}"
    );
    approve(&s);
    assert!(text(&fill(&s).stdout).contains("password=s3cret-pw\n"));
    assert!(keyhelm(&s, &["lock"], "").status.success());
    let status = agent.0.wait().unwrap();
    assert!(status.success());
    assert_eq!(
        read_line(&mut agent.1),
        "keyhelm agent: stopped, the key is forgotten: it was told to quit (keyhelm lock, or a \
         new agent took over)\n"
    );
}

fn foreground_agent(s: &Sandbox) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut cmd = s.command("setsid");
    cmd.arg("-w")
        .arg(keyhelm_bin())
        .args(["agent", "--passphrase-from-stdin", "--ttl", "10m"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASS}\n").as_bytes())
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    (child, stderr)
}

fn read_line(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line
}

/// Runs `keyhelm lock` as uid/gid 65534 with the sandbox's environment.
fn lock_as_nobody(s: &Sandbox) -> Output {
    let mut cmd = s.command("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(keyhelm_bin())
        .arg("lock")
        .current_dir("/");
    run(&mut cmd, b"")
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
#[allow(clippy::print_stdout)] // a skipped run prints why; the test harness shows it
fn the_agent_refuses_other_users() {
    // `id -u` tells whether we may switch users.
    let uid = Command::new("id").arg("-u").output().unwrap();
    if text(&uid.stdout).trim() != "0" {
        println!(
            "skipped: switching to another uid needs root (these tests run as uid {})",
            text(&uid.stdout).trim()
        );
        return;
    }
    let s = protected_sandbox();
    let _locks = Locks(&s);
    let mut agent = foreground_agent(&s);
    let first = read_line(&mut agent.1);
    assert!(first.starts_with("keyhelm agent: holding "), "{first}");
    approve(&s);

    // 1. As keyhelm leaves things: the 0700 folders keep the other user away from the socket.
    let out = lock_as_nobody(&s);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with(&format!(
            "keyhelm: error: cannot connect to the keyhelm agent at {}: Permission denied",
            socket(&s).display()
        )),
        "{}",
        text(&out.stderr)
    );

    // 2. With every permission opened up, the peer check still refuses: the agent turns the
    // connection away (and says so in its log), and the client refuses an agent of another
    // user too.
    for dir in [
        s.dir().to_path_buf(),
        s.keyhelm_home(),
        s.keyhelm_home().join("run"),
    ] {
        chmod(&dir, 0o711);
    }
    chmod(&socket(&s), 0o666);
    let out = lock_as_nobody(&s);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with(&format!(
            "keyhelm: error: the socket {} is served by a process of uid 0, not by you (uid \
             65534); keyhelm will not use it\n",
            socket(&s).display()
        )),
        "{}",
        text(&out.stderr)
    );
    let refused = read_line(&mut agent.1);
    assert!(
        refused
            .starts_with("keyhelm agent: refused a connection from another user (uid 65534, pid "),
        "{refused}"
    );
    // The agent still serves its user, and still holds the key.
    assert!(text(&fill(&s).stdout).contains("password=s3cret-pw\n"));
    chmod(s.dir(), 0o700);
    assert!(keyhelm(&s, &["lock"], "").status.success());
    assert!(agent.0.wait().unwrap().success());
}

#[test]
fn unlock_and_lock_explain_what_there_is_to_do() {
    let s = Sandbox::new();
    // stdin that cannot be read (a folder): nothing is created.
    let out = s
        .keyhelm_command(&["init", "--passphrase", "--passphrase-from-stdin"])
        .stdin(std::fs::File::open("/").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "keyhelm: error: cannot read the passphrase from stdin: Is a directory (os error 21)\n\
         keyhelm: hint: give the passphrase as the first line of stdin\n"
    );
    assert!(!identity_file(&s).exists());
    let out = keyhelm(&s, &["unlock", "--passphrase-from-stdin"], "x\n");
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        text(&out.stderr),
        "keyhelm: error: this device has no identity yet\nkeyhelm: hint: run `keyhelm init \
         --passphrase` to create one protected by a passphrase\n"
    );
    keyhelm(&s, &["init"], "");
    let out = keyhelm(&s, &["unlock", "--passphrase-from-stdin"], "x\n");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stderr),
        format!(
            "keyhelm: the identity {} is not protected by a passphrase: lookups need no agent\n",
            identity_file(&s).display()
        )
    );
    let out = keyhelm(&s, &["unlock", "--ttl", "3600"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(
        "invalid time to live '3600': use a number and a unit, like 90s, 15m, 8h, 1d or 1h30m"
    ));
    let out = keyhelm(&s, &["init", "--passphrase-from-stdin"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--passphrase"),
        "{}",
        text(&out.stderr)
    );
    let out = keyhelm(
        &s,
        &["init", "--passphrase", "--scrypt-work-factor", "21"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("21 is not in 10..=20"),
        "{}",
        text(&out.stderr)
    );
    let out = keyhelm(&s, &["--help"], "");
    let help = text(&out.stdout);
    for line in [
        "unlock      Unlock a passphrase-protected identity: ask for the passphrase once, and let",
        "lock        Make the agent forget the identity's key and stop",
        "agent       Run the agent in the foreground (`keyhelm unlock` starts one in the",
    ] {
        assert!(help.contains(line), "missing {line:?} in:\n{help}");
    }
    assert!(!help.contains("handoff"));
}

#[test]
fn parallel_lookups_through_one_agent_all_get_their_answer() {
    let s = protected_sandbox();
    let _locks = Locks(&s);
    unlock(&s, "10m");
    approve(&s);
    // More at once than the agent has workers: the rest wait their turn.
    let answers: Vec<Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..24)
            .map(|_| scope.spawn(|| keyhelm(&s, &["get"], REQUEST)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for out in answers {
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "username=alice\npassword=s3cret-pw\n");
    }
}

#[test]
fn an_agent_of_another_identity_file_is_noticed() {
    let s = protected_sandbox();
    let _locks = Locks(&s);
    let pid = unlock(&s, "10m");
    // The identity file is replaced while the agent runs (a new protected identity).
    std::fs::remove_file(identity_file(&s)).unwrap();
    std::fs::remove_file(s.vault_file()).unwrap();
    init_protected(&s);
    let out = keyhelm(&s, &["get"], REQUEST);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        text(&out.stderr),
        format!(
            "keyhelm: error: the keyhelm agent holds another identity than {}: the file changed \
             after it was unlocked\nkeyhelm: hint: run `keyhelm lock`, then `keyhelm unlock`\n",
            identity_file(&s).display()
        )
    );
    let out = keyhelm(&s, &["doctor"], "");
    assert!(!out.status.success());
    let report = text(&out.stdout);
    assert!(
        report.contains(&format!(
            "error agent     the agent (pid {pid}) holds another identity than this file: it \
             changed after `keyhelm unlock`\n"
        )),
        "{report}"
    );
    assert!(report.contains("hint: run `keyhelm lock`, then `keyhelm unlock`\n"));
}

#[test]
fn an_agent_that_cannot_start_is_reported_and_the_lookup_still_answers() {
    let s = protected_sandbox();
    let _locks = Locks(&s);
    store_then_lock(&s);
    // The agent's folder is open to others: no agent will use it.
    let run = s.keyhelm_home().join("run");
    chmod(&run, 0o755);
    let out = keyhelm(
        &s,
        &["unlock", "--passphrase-from-stdin"],
        &format!("{PASS}\n"),
    );
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        text(&out.stderr),
        format!(
            "keyhelm: error: the agent's folder {0} is accessible by other users (mode 0755)\n\
             keyhelm: hint: run `chmod 700 {0}`\n",
            run.display()
        )
    );
    // A lookup on a terminal still answers with the passphrase typed; it says the agent did
    // not start, so the passphrase will be asked again next time.
    let mut pty = fill_on_terminal(&s);
    pty.answer(
        &format!("keyhelm: passphrase for {}: ", identity_file(&s).display()),
        PASS,
    )
    .unwrap();
    let done = pty.finish().unwrap();
    assert!(done.status.success(), "{}", done.output);
    assert!(
        done.output.contains(&format!(
            "keyhelm: the agent did not start (the agent's folder {} is accessible by other \
             users (mode 0755)); the passphrase will be asked again\n",
            run.display()
        )),
        "{}",
        done.output
    );
    assert!(done.output.contains("password=s3cret-pw\n"));
    assert!(!socket(&s).exists());

    // A plain identity gives a foreground agent nothing to hold.
    let plain = Sandbox::new();
    keyhelm(&plain, &["init"], "");
    let out = keyhelm(&plain, &["agent", "--passphrase-from-stdin"], "x\n");
    assert_eq!(out.status.code(), Some(5));
    assert!(text(&out.stderr).ends_with(
        "keyhelm: error: there is nothing for an agent to hold: the identity is not protected\n\
         keyhelm: hint: protect it with `keyhelm init --passphrase` first\n"
    ));
}

#[test]
fn lock_copes_with_an_agent_that_ends_as_it_is_asked() {
    use std::os::unix::fs::DirBuilderExt as _;
    let s = Sandbox::new();
    let path = socket(&s);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path.parent().unwrap())
        .unwrap();
    // An agent on its way out: it takes the connection, then closes it and its socket without
    // answering (its time ran out), leaving the socket file behind.
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let ending = std::thread::spawn(move || {
        let (connection, _) = listener.accept().unwrap();
        drop(listener);
        drop(connection);
    });
    let out = keyhelm(&s, &["lock"], "");
    ending.join().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!(
            "keyhelm: removed the stale socket {} (its agent is gone): the identity is locked\n",
            path.display()
        )
    );
    assert!(!path.exists());
}
