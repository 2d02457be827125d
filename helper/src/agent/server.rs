//! The agent itself: holds an unlocked identity and unwraps file keys for clients of the same
//! user over a Unix socket, until its time is up.
//!
//! - The socket is created 0600 in a 0700 folder owned by the user, under a temporary name and
//!   then renamed into place, so a client never sees a half-made socket and a running agent is
//!   replaced atomically (`keyhelm unlock` while unlocked).
//! - Every connection's peer is checked with `SO_PEERCRED` (Linux): a process of another user
//!   gets a refusal and nothing else, even if the file permissions were loosened.
//! - The TTL is a hard deadline from the moment of unlocking, not an idle timeout: what
//!   `keyhelm doctor` shows is exactly when the key goes away. It is checked against the wall
//!   clock (so a laptop that slept through the deadline locks on waking) at least every
//!   [`CHECK_INTERVAL`], and before every unwrap.
//! - The agent also stops when its socket file is removed or replaced (a new agent took over,
//!   `keyhelm lock` cleaned up, the folder was deleted).
//! - On every ending, the socket is removed (if it is still ours) and the key is dropped, which
//!   zeroizes it, before the agent answers a `quit` or returns.
//! - [`WORKERS`] threads wait in `accept` and serve one connection each at a time; a connection
//!   idle for [`IDLE_TIMEOUT`] is closed (the client reconnects if it still needs the agent),
//!   so stalled clients cannot hold the agent for long.
//! - The agent remembers the last few file keys it unwrapped, by the stanzas they came in: the
//!   vault's header only changes when the vault is written, so most lookups cost no X25519.
//!   (The cache is no extra exposure: the agent holds the key that yields them anyway.) It is
//!   wiped with the key.

use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use age::Identity as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyhelm_vault::Identity;
use secrecy::ExposeSecret as _;
use zeroize::Zeroizing;

use super::protocol::{self, Hello, Request, ResponseOut, code, op};
use crate::error::{Exit, Failure, Result};

/// How often the agent looks at the clock and its socket file while nothing happens.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// A connection that sends nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at the same time; more wait until a worker is free.
pub const WORKERS: usize = 8;
/// File keys remembered.
const CACHED_KEYS: usize = 16;

/// A remembered file key, by the sha256 of the stanzas it was unwrapped from.
type CachedKey = ([u8; 32], Zeroizing<[u8; 16]>);

/// Why the agent stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Its time to live ran out.
    Expired,
    /// A client asked it to quit (`keyhelm lock`, or `keyhelm unlock` replacing it).
    Locked,
    /// Its socket file was removed or replaced.
    SocketGone,
}

impl Ending {
    pub fn describe(self) -> &'static str {
        match self {
            Ending::Expired => "its time to live ran out",
            Ending::Locked => "it was told to quit (keyhelm lock, or a new agent took over)",
            Ending::SocketGone => "its socket was removed or taken over by another agent",
        }
    }
}

/// Something the agent's user may want to see in its log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A process of another user connected and was turned away.
    Refused { uid: u32, pid: Option<i32> },
}

/// A file the agent created (its socket, its info file): removed at the end only if it is
/// still that file.
#[derive(Debug)]
struct OwnedFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl OwnedFile {
    fn new(path: &Path, meta: &std::fs::Metadata) -> OwnedFile {
        OwnedFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    fn is_ours(&self) -> bool {
        std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino)
    }

    fn remove_if_ours(&self) {
        if self.is_ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

struct Shared {
    /// `None` once forgotten.
    key: RwLock<Option<Identity>>,
    /// File keys unwrapped recently; emptied (and zeroized) with the key.
    cache: Mutex<Vec<CachedKey>>,
    hello: Hello,
    expires: SystemTime,
    owner: u32,
    socket: OwnedFile,
    /// The info file (public: what `hello` says), if it could be written.
    info: Option<OwnedFile>,
    quit: AtomicBool,
    /// A `quit` request is being answered (its socket is already removed).
    quitting: AtomicBool,
    wake: UnixStream,
    events: Mutex<Sender<Event>>,
}

impl Shared {
    /// Removes the socket and the info file (if still ours) and drops the key, which zeroizes
    /// it.
    fn forget(&self) {
        self.socket.remove_if_ours();
        if let Some(info) = &self.info {
            info.remove_if_ours();
        }
        let key = self
            .key
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(key);
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn expired(&self) -> bool {
        SystemTime::now() >= self.expires
    }

    /// One byte to the serving thread. The pair is non-blocking: when it is full, a wake-up
    /// is already pending and nothing is lost by dropping this one.
    fn wake_up(&self) {
        let _ = (&self.wake).write(b"!");
    }

    /// Tells the serving thread to end (after the answer in hand was sent).
    fn stop(&self) {
        self.quit.store(true, Ordering::SeqCst);
        self.wake_up();
    }
}

/// A bound agent, ready to serve.
pub struct Agent {
    listener: UnixListener,
    wake: UnixStream,
    events: Receiver<Event>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("socket", &self.shared.socket.path)
            .field("hello", &self.shared.hello)
            .finish_non_exhaustive()
    }
}

/// The current user's uid.
pub fn my_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Makes sure `dir` exists, is ours and is not accessible by others (0700).
pub fn check_runtime_dir(dir: &Path) -> Result<()> {
    let not_a_folder = || {
        Failure::new(
            Exit::Identity,
            format!(
                "the agent's folder {} is a file or a symbolic link, not a folder",
                dir.display()
            ),
        )
        .hint("move it away; keyhelm keeps the agent's socket there")
    };
    // Before creating it: a file in the way is this error, not "cannot create folder".
    if std::fs::symlink_metadata(dir).is_ok_and(|meta| !meta.is_dir()) {
        return Err(not_a_folder());
    }
    crate::paths::create_private_dir(dir)?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| Failure::io("cannot read", dir, &e))?;
    let mode = meta.mode() & 0o777;
    if !meta.is_dir() {
        return Err(not_a_folder());
    }
    if meta.uid() != my_uid() {
        return Err(Failure::new(
            Exit::Identity,
            format!(
                "the agent's folder {} belongs to uid {}, not to you",
                dir.display(),
                meta.uid()
            ),
        )
        .hint("remove it, or set XDG_RUNTIME_DIR or KEYHELM_HOME to a folder of your own"));
    }
    if mode & 0o077 != 0 {
        return Err(Failure::new(
            Exit::Identity,
            format!(
                "the agent's folder {} is accessible by other users (mode {mode:04o})",
                dir.display()
            ),
        )
        .hint(format!("run `chmod 700 {}`", dir.display())));
    }
    Ok(())
}

/// The agent's info file next to its socket: what `hello` says (public data), so that a
/// lookup can learn the identity's public keys without a round trip.
pub fn info_path(socket: &Path) -> PathBuf {
    socket.with_file_name("agent.json")
}

/// Writes the info file (0600) under a temporary name and renames it into place.
fn write_info(path: &Path, hello: &Hello) -> io::Result<OwnedFile> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_file_name(format!(".agent-{}.json", hello.pid));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = serde_json::to_writer(&mut file, hello)
        .map_err(io::Error::other)
        .and_then(|()| file.flush())
        .and_then(|()| std::fs::rename(&tmp, path))
        .and_then(|()| std::fs::symlink_metadata(path));
    match written {
        Ok(meta) => Ok(OwnedFile::new(path, &meta)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The error for a socket path that `sun_path` cannot hold: `socket` is the path the user
/// can change, `needed` the length of the temporary name it is created under.
pub fn path_too_long(socket: &Path, needed: usize) -> Failure {
    Failure::new(
        Exit::Identity,
        format!(
            "the agent's socket path {} is too long for a Unix socket (keyhelm needs {needed} \
             bytes to create it; at most 107)",
            socket.display(),
        ),
    )
    .hint("set XDG_RUNTIME_DIR (or KEYHELM_HOME) to a folder with a shorter path")
}

impl Agent {
    /// Creates the socket at `socket` (replacing whatever is there, such as a stale socket or
    /// a running agent's) for an agent holding `identity` until `ttl` from now.
    pub fn bind(
        socket: &Path,
        identity: Identity,
        identity_digest: String,
        ttl: Duration,
    ) -> Result<Agent> {
        let dir = socket
            .parent()
            .ok_or_else(|| Failure::other(format!("{} has no folder", socket.display())))?;
        check_runtime_dir(dir)?;
        let pid = std::process::id();
        let tmp = dir.join(format!(".agent-{pid}.sock"));
        let _ = std::fs::remove_file(&tmp);
        let listener = UnixListener::bind(&tmp).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidInput {
                // The temporary name is the longer one; the user can only move the folder.
                path_too_long(socket, tmp.as_os_str().len())
            } else {
                Failure::io("cannot create the agent's socket", &tmp, &e)
            }
        })?;
        let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| std::fs::rename(&tmp, socket))
            .and_then(|()| std::fs::symlink_metadata(socket));
        let meta = match placed {
            Ok(meta) => meta,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(Failure::io("cannot create the agent's socket", socket, &e));
            }
        };
        let (wake_tx, wake_rx) = UnixStream::pair()
            .map_err(|e| Failure::other(format!("cannot create the agent's wake-up pair: {e}")))?;
        wake_tx
            .set_nonblocking(true)
            .and_then(|()| wake_rx.set_nonblocking(true))
            .map_err(|e| Failure::other(format!("cannot set up the agent's wake-up pair: {e}")))?;
        let socket_file = OwnedFile::new(socket, &meta);
        let expires = SystemTime::now() + ttl;
        let hello = Hello {
            agent: format!("keyhelm {}", env!("CARGO_PKG_VERSION")),
            pid,
            publics: identity.publics(),
            identity_digest,
            expires_at: expires
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        // After the socket: a client that finds this file finds this agent behind the socket.
        let info = write_info(&info_path(socket), &hello)
            .map_err(|e| tracing::warn!("cannot write the agent's info file: {e}"))
            .ok();
        let (events_tx, events_rx) = channel();
        Ok(Agent {
            listener,
            wake: wake_rx,
            events: events_rx,
            shared: Arc::new(Shared {
                key: RwLock::new(Some(identity)),
                cache: Mutex::new(Vec::with_capacity(CACHED_KEYS)),
                hello,
                expires,
                owner: my_uid(),
                socket: socket_file,
                info,
                quit: AtomicBool::new(false),
                quitting: AtomicBool::new(false),
                wake: wake_tx,
                events: Mutex::new(events_tx),
            }),
        })
    }

    /// What the agent tells clients about itself.
    pub fn hello(&self) -> &Hello {
        &self.shared.hello
    }

    pub fn socket(&self) -> &Path {
        &self.shared.socket.path
    }

    /// Serves until the time is up, a client says quit, or the socket goes away; then removes
    /// the socket and forgets the key. `on_event` hears about refused connections.
    pub fn serve(self, mut on_event: impl FnMut(Event)) -> Ending {
        let listener = Arc::new(self.listener);
        for n in 0..WORKERS {
            let listener = Arc::clone(&listener);
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name(format!("keyhelm-agent-{n}"))
                .spawn(move || work(&listener, &shared));
            if let Err(e) = spawned {
                tracing::warn!("the agent cannot start a worker: {e}");
            }
        }
        let ending = loop {
            while let Ok(event) = self.events.try_recv() {
                on_event(event);
            }
            if self.shared.quit.load(Ordering::SeqCst) {
                break Ending::Locked;
            }
            let now = SystemTime::now();
            let Ok(left) = self.shared.expires.duration_since(now) else {
                break Ending::Expired;
            };
            if left.is_zero() {
                break Ending::Expired;
            }
            // A `quit` removes the socket before its answer is sent; the serving thread then
            // waits for the worker's stop instead of ending as if the socket were taken.
            if !self.shared.socket.is_ours() && !self.shared.quitting.load(Ordering::SeqCst) {
                break Ending::SocketGone;
            }
            match wait_readable(&self.wake, left.min(CHECK_INTERVAL)) {
                Ok(true) => {
                    let mut drain = [0u8; 64];
                    while matches!((&self.wake).read(&mut drain), Ok(n) if n > 0) {}
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!("the agent cannot wait: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        self.shared.quit.store(true, Ordering::SeqCst);
        self.shared.forget();
        // Wakes the workers blocked in accept (Linux); in a real agent the process ends next.
        let _ = rustix::net::shutdown(&*listener, rustix::net::Shutdown::Both);
        while let Ok(event) = self.events.try_recv() {
            on_event(event);
        }
        ending
    }
}

/// Waits until `fd` is readable or `wait` has passed.
fn wait_readable(fd: &UnixStream, wait: Duration) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let timeout = Timespec {
        tv_sec: wait.as_secs() as i64,
        tv_nsec: i64::from(wait.subsec_nanos()),
    };
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    match poll(&mut fds, Some(&timeout)) {
        Ok(_) => Ok(!fds[0].revents().is_empty()),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A worker: accepts connections and serves each until it closes, until the agent stops.
fn work(listener: &UnixListener, shared: &Shared) {
    loop {
        let accepted = listener.accept();
        if shared.quit.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, _)) => serve_connection(stream, shared),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!("the agent cannot accept a connection: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The peer's uid and pid, from the kernel (`SO_PEERCRED`).
#[cfg(target_os = "linux")]
pub fn peer(stream: &UnixStream) -> io::Result<(u32, Option<i32>)> {
    let cred = rustix::net::sockopt::socket_peercred(stream)?;
    Ok((cred.uid.as_raw(), Some(cred.pid.as_raw_nonzero().get())))
}

/// Elsewhere the socket's 0600 mode in a 0700 folder is the only check; keyhelm's agent is
/// supported on Linux.
#[cfg(not(target_os = "linux"))]
pub fn peer(_stream: &UnixStream) -> io::Result<(u32, Option<i32>)> {
    Ok((my_uid(), None))
}

fn serve_connection(mut stream: UnixStream, shared: &Shared) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(IDLE_TIMEOUT)).is_err()
        || stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .is_err()
    {
        return;
    }
    match peer(&stream) {
        Ok((uid, _)) if uid == shared.owner => {}
        Ok((uid, pid)) => {
            let refusal = ResponseOut::error(
                code::REFUSED,
                format!(
                    "this agent serves uid {} only, and the connecting process runs as uid {uid}",
                    shared.owner
                ),
            );
            let _ = protocol::write_frame(&mut stream, &refusal.encode());
            let _ = shared
                .events
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .send(Event::Refused { uid, pid });
            shared.wake_up();
            return;
        }
        Err(e) => {
            tracing::warn!("cannot tell who connected to the agent: {e}");
            return;
        }
    }
    loop {
        if shared.quit.load(Ordering::SeqCst) {
            return;
        }
        let frame = match protocol::read_frame(&mut stream) {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    let answer = ResponseOut::error(code::BAD_REQUEST, e.to_string());
                    let _ = protocol::write_frame(&mut stream, &answer.encode());
                }
                return;
            }
        };
        let (answer, stop) = respond(&frame, shared);
        let sent = protocol::write_frame(&mut stream, &answer);
        if stop {
            // Only now: the serving thread ends the process once it hears this.
            if shared.expired() {
                shared.wake_up(); // it sees the deadline itself
            } else {
                shared.stop();
            }
            return;
        }
        if sent.is_err() {
            return;
        }
    }
}

/// The answer to one request, and whether the agent should stop after sending it (the key is
/// already forgotten then).
fn respond(frame: &[u8], shared: &Shared) -> (Zeroizing<Vec<u8>>, bool) {
    let request: Request = match serde_json::from_slice(frame) {
        Ok(request) => request,
        Err(_) => {
            let answer = ResponseOut::error(code::BAD_REQUEST, "the request is not valid JSON");
            return (answer.encode(), false);
        }
    };
    if !protocol::SUPPORTED.contains(&request.v) {
        let mut answer = ResponseOut::error(
            code::UNSUPPORTED_VERSION,
            format!(
                "this agent speaks protocol versions {:?}, not {}",
                protocol::SUPPORTED,
                request.v
            ),
        );
        if let Some(error) = &mut answer.error {
            error.versions = protocol::SUPPORTED.to_vec();
        }
        return (answer.encode(), false);
    }
    match request.op.as_str() {
        op::HELLO => {
            let answer = ResponseOut {
                hello: Some(&shared.hello),
                ..ResponseOut::ok()
            };
            (answer.encode(), false)
        }
        op::UNWRAP => {
            // A deadline that passed while the serving thread waited (a laptop asleep).
            let expired = shared.expired();
            if expired {
                shared.forget();
            }
            (unwrap(&request, shared), expired)
        }
        op::QUIT => {
            // Marked first, so that the serving thread, finding its socket gone, knows why;
            // the key is gone before the client hears "ok".
            shared.quitting.store(true, Ordering::SeqCst);
            shared.forget();
            (ResponseOut::ok().encode(), true)
        }
        other => {
            let answer = ResponseOut::error(
                code::UNKNOWN_OP,
                format!("this agent does not know the operation {other:?}"),
            );
            (answer.encode(), false)
        }
    }
}

fn unwrap(request: &Request, shared: &Shared) -> Zeroizing<Vec<u8>> {
    if let Some(digest) = &request.identity_digest
        && *digest != shared.hello.identity_digest
    {
        return ResponseOut::error(
            code::OTHER_IDENTITY,
            "this agent holds the key of another identity file",
        )
        .encode();
    }
    if request.stanzas.len() > protocol::MAX_STANZAS {
        return ResponseOut::error(
            code::BAD_REQUEST,
            format!("more than {} stanzas", protocol::MAX_STANZAS),
        )
        .encode();
    }
    let Some(stanzas) = request
        .stanzas
        .iter()
        .map(protocol::WireStanza::to_stanza)
        .collect::<Option<Vec<_>>>()
    else {
        return ResponseOut::error(code::BAD_REQUEST, "a stanza body is not valid base64").encode();
    };
    let key = shared.key.read().unwrap_or_else(PoisonError::into_inner);
    let Some(identity) = key.as_ref() else {
        return ResponseOut::error(
            code::LOCKED,
            "the agent's time is up or it was locked; it holds no key any more",
        )
        .encode();
    };
    let id = stanzas_id(&stanzas);
    let mut cache = shared.cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, file_key)) = cache.iter().find(|(k, _)| *k == id) {
        return file_key_answer(file_key);
    }
    match identity.unwrap_stanzas(&stanzas) {
        None => ResponseOut {
            file_key: Some(None),
            ..ResponseOut::ok()
        }
        .encode(),
        Some(Ok(file_key)) => {
            let file_key = Zeroizing::new(*file_key.expose_secret());
            let answer = file_key_answer(&file_key);
            if cache.len() == CACHED_KEYS {
                cache.clear();
            }
            cache.push((id, file_key));
            answer
        }
        Some(Err(e)) => ResponseOut::error(code::DECRYPT, protocol::decrypt_kind(&e)).encode(),
    }
}

fn file_key_answer(file_key: &[u8; 16]) -> Zeroizing<Vec<u8>> {
    // 16 bytes are 24 characters of base64: no reallocation, nothing left behind.
    let mut text = Zeroizing::new(String::with_capacity(32));
    STANDARD.encode_string(file_key, &mut text);
    ResponseOut {
        file_key: Some(Some(text.as_str())),
        ..ResponseOut::ok()
    }
    .encode()
}

/// sha256 over the stanzas (each field length-prefixed, so no two lists collide).
fn stanzas_id(stanzas: &[age_core::format::Stanza]) -> [u8; 32] {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    for s in stanzas {
        field(s.tag.as_bytes());
        field(&(s.args.len() as u64).to_be_bytes());
        for a in &s.args {
            field(a.as_bytes());
        }
        field(&s.body);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::client::{AgentError, Client};
    use crate::agent::protocol::{ResponseIn, write_frame};
    use std::thread::JoinHandle;

    struct Running {
        _dir: tempfile::TempDir,
        socket: PathBuf,
        key: age::x25519::Identity,
        hello: Hello,
        thread: JoinHandle<(Ending, Vec<Event>)>,
    }

    fn start(ttl: Duration) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run").join("agent.sock");
        let key = age::x25519::Identity::generate();
        let text = secrecy::SecretString::from(key.to_string().expose_secret().to_owned());
        let identity = Identity::from_secret_text(&text, Path::new("identity.txt")).unwrap();
        let agent = Agent::bind(&socket, identity, "d1g3st".into(), ttl).unwrap();
        let hello = agent.hello().clone();
        let thread = std::thread::spawn(move || {
            let mut events = Vec::new();
            let ending = agent.serve(|e| events.push(e));
            (ending, events)
        });
        Running {
            _dir: dir,
            socket,
            key,
            hello,
            thread,
        }
    }

    fn raw(socket: &Path, body: &[u8]) -> ResponseIn {
        let mut stream = UnixStream::connect(socket).unwrap();
        write_frame(&mut stream, body).unwrap();
        let frame = protocol::read_frame(&mut stream).unwrap().unwrap();
        serde_json::from_slice(&frame).unwrap()
    }

    #[test]
    fn serves_hello_and_unwraps_file_keys_until_told_to_quit() {
        let r = start(Duration::from_secs(600));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&r.socket), 0o600);
        assert_eq!(mode(r.socket.parent().unwrap()), 0o700);
        // No temporary socket is left next to it.
        let names: Vec<_> = std::fs::read_dir(r.socket.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(
            names,
            ["agent.json", "agent.sock"].map(std::ffi::OsString::from)
        );

        let mut client = Client::connect(&r.socket).unwrap();
        let hello = client.hello().unwrap();
        assert_eq!(hello, r.hello);
        assert_eq!(hello.publics, vec![r.key.to_public().to_string()]);
        assert_eq!(hello.pid, std::process::id());
        assert_eq!(hello.identity_digest, "d1g3st");
        assert_eq!(
            hello.agent,
            format!("keyhelm {}", env!("CARGO_PKG_VERSION"))
        );
        let left = hello.expires_at - unix_now();
        assert!((590..=600).contains(&left), "{left}");

        // A whole age file decrypts through the agent.
        let identity =
            crate::agent::client::identity(&r.socket, Path::new("identity.txt"), "d1g3st").unwrap();
        // The info file next to the socket says what hello says.
        let info = std::fs::read(info_path(&r.socket)).unwrap();
        assert_eq!(serde_json::from_slice::<Hello>(&info).unwrap(), r.hello);
        assert_eq!(mode(&info_path(&r.socket)), 0o600);
        let file = age::encrypt(&r.key.to_public(), b"the vault").unwrap();
        assert_eq!(age::decrypt(&identity, &file).unwrap(), b"the vault");
        let other = age::x25519::Identity::generate().to_public();
        let foreign = age::encrypt(&other, b"not ours").unwrap();
        assert!(matches!(
            age::decrypt(&identity, &foreign),
            Err(age::DecryptError::NoMatchingKeys)
        ));
        // A damaged stanza for this key is a decryption error, not "not mine".
        let stanza = age_core::format::Stanza {
            tag: "X25519".into(),
            args: vec![],
            body: vec![0; 32],
        };
        assert!(matches!(
            client.unwrap(std::slice::from_ref(&stanza), None),
            Ok(Some(Err(age::DecryptError::InvalidHeader)))
        ));
        // With another identity's digest, the agent refuses.
        assert!(matches!(
            client.unwrap(&[stanza], Some("other")),
            Err(AgentError::Refused { code, .. }) if code == code::OTHER_IDENTITY
        ));
        // Another identity's digest is noticed.
        let e = crate::agent::client::identity(&r.socket, Path::new("id"), "other").unwrap_err();
        assert!(matches!(e, AgentError::OtherIdentity { .. }), "{e:?}");

        client.quit().unwrap();
        let (ending, events) = r.thread.join().unwrap();
        assert_eq!(ending, Ending::Locked);
        assert!(events.is_empty());
        assert!(!r.socket.exists());
        assert!(!info_path(&r.socket).exists());
        // The identity handed out earlier now fails as an I/O error naming the agent.
        match age::decrypt(&identity, &file) {
            Err(age::DecryptError::Io(e)) => {
                assert!(e.get_ref().unwrap().is::<AgentError>(), "{e}");
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
        assert!(matches!(
            Client::connect(&r.socket),
            Err(AgentError::NotRunning { .. })
        ));
    }

    #[test]
    fn a_lookup_in_flight_moves_to_the_agent_that_replaced_its_own() {
        let r = start(Duration::from_secs(600));
        let identity = crate::agent::client::identity(&r.socket, Path::new("i"), "d1g3st").unwrap();
        // `keyhelm unlock` again: a new agent with the same key takes the socket over, and the
        // old one is told to quit.
        let text = secrecy::SecretString::from(r.key.to_string().expose_secret().to_owned());
        let same = Identity::from_secret_text(&text, Path::new("i")).unwrap();
        let mut old_client = Client::connect(&r.socket).unwrap();
        old_client.hello().unwrap();
        let new = Agent::bind(&r.socket, same, "d1g3st".into(), Duration::from_secs(600)).unwrap();
        // The old agent may notice the takeover before the quit arrives; either way it ends.
        let _ = old_client.quit();
        let (ending, _) = r.thread.join().unwrap();
        assert!(
            matches!(ending, Ending::Locked | Ending::SocketGone),
            "{ending:?}"
        );
        let thread = std::thread::spawn(move || new.serve(|_| {}));
        let file = age::encrypt(&r.key.to_public(), b"still readable").unwrap();
        assert_eq!(age::decrypt(&identity, &file).unwrap(), b"still readable");
        // Twice: the second unwrap of the same header comes from the agent's cache.
        assert_eq!(age::decrypt(&identity, &file).unwrap(), b"still readable");
        Client::connect(&r.socket).unwrap().quit().unwrap();
        assert_eq!(thread.join().unwrap(), Ending::Locked);
    }

    #[test]
    fn bad_requests_get_clear_refusals_and_the_agent_keeps_serving() {
        let r = start(Duration::from_secs(600));
        let v9 = raw(&r.socket, br#"{"v":9,"op":"hello"}"#);
        let e = v9.error.unwrap();
        assert_eq!((v9.ok, e.code.as_str()), (false, code::UNSUPPORTED_VERSION));
        assert_eq!(e.versions, vec![1]);
        assert_eq!(e.message, "this agent speaks protocol versions [1], not 9");
        let unknown = raw(&r.socket, br#"{"v":1,"op":"sign","extra":true}"#);
        assert_eq!(
            unknown.error.unwrap().message,
            "this agent does not know the operation \"sign\""
        );
        let other = raw(
            &r.socket,
            br#"{"v":1,"op":"unwrap","identity_digest":"other","stanzas":[]}"#,
        );
        let e = other.error.unwrap();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (
                code::OTHER_IDENTITY,
                "this agent holds the key of another identity file"
            )
        );
        let junk = raw(&r.socket, b"not json");
        assert_eq!(junk.error.unwrap().code, code::BAD_REQUEST);
        let bad64 = raw(
            &r.socket,
            br#"{"v":1,"op":"unwrap","stanzas":[{"tag":"X25519","args":[],"body":"***"}]}"#,
        );
        assert_eq!(
            bad64.error.unwrap().message,
            "a stanza body is not valid base64"
        );
        // An oversized frame is refused before it is read.
        let mut stream = UnixStream::connect(&r.socket).unwrap();
        use std::io::Write as _;
        stream
            .write_all(&((protocol::MAX_FRAME + 1) as u32).to_be_bytes())
            .unwrap();
        let frame = protocol::read_frame(&mut stream).unwrap().unwrap();
        let answer: ResponseIn = serde_json::from_slice(&frame).unwrap();
        assert_eq!(answer.error.unwrap().code, code::BAD_REQUEST);
        // Still serving.
        let mut client = Client::connect(&r.socket).unwrap();
        assert_eq!(client.hello().unwrap().pid, std::process::id());
        client.quit().unwrap();
        assert_eq!(r.thread.join().unwrap().0, Ending::Locked);
    }

    #[test]
    fn the_ttl_ends_the_agent_and_removes_its_socket() {
        let r = start(Duration::from_secs(1));
        let (ending, _) = r.thread.join().unwrap();
        assert_eq!(ending, Ending::Expired);
        assert!(!r.socket.exists());
    }

    #[test]
    fn an_agent_whose_socket_is_taken_over_stops() {
        let old = start(Duration::from_secs(600));
        let mut old_client = Client::connect(&old.socket).unwrap();
        // Accepted and served (a connection still in the backlog would just be reset).
        old_client.hello().unwrap();
        // A second agent at the same path replaces the socket atomically.
        let key = age::x25519::Identity::generate();
        let text = secrecy::SecretString::from(key.to_string().expose_secret().to_owned());
        let identity = Identity::from_secret_text(&text, Path::new("id")).unwrap();
        let new = Agent::bind(
            &old.socket,
            identity,
            "new".into(),
            Duration::from_secs(600),
        )
        .unwrap();
        // The old agent ends by itself within CHECK_INTERVAL, leaving the new socket alone.
        let (ending, _) = old.thread.join().unwrap();
        assert_eq!(ending, Ending::SocketGone);
        assert_eq!(
            ending.describe(),
            "its socket was removed or taken over by another agent"
        );
        assert!(old.socket.exists());
        let stanza = age_core::format::Stanza {
            tag: "X25519".into(),
            args: vec![],
            body: vec![],
        };
        // Its worker closes the connection (or, had it raced, refuses: the key is gone).
        assert!(matches!(
            old_client.unwrap(&[stanza], None),
            Err(AgentError::Io(_)) | Err(AgentError::Refused { .. })
        ));
        let new_thread = std::thread::spawn(move || new.serve(|_| {}));
        let mut client = Client::connect(&old.socket).unwrap();
        assert_eq!(client.hello().unwrap().identity_digest, "new");
        client.quit().unwrap();
        assert_eq!(new_thread.join().unwrap(), Ending::Locked);
    }

    #[test]
    fn stale_sockets_are_reported_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run").join("agent.sock");
        check_runtime_dir(socket.parent().unwrap()).unwrap();
        // A socket whose listener is gone, as a killed agent leaves it.
        drop(UnixListener::bind(&socket).unwrap());
        match Client::connect(&socket) {
            Err(e @ AgentError::Stale { .. }) => assert!(e.is_absent()),
            other => panic!("expected a stale socket, got {other:?}"),
        }
        let key = age::x25519::Identity::generate();
        let text = secrecy::SecretString::from(key.to_string().expose_secret().to_owned());
        let identity = Identity::from_secret_text(&text, Path::new("id")).unwrap();
        let agent = Agent::bind(&socket, identity, "d".into(), Duration::from_secs(60)).unwrap();
        let thread = std::thread::spawn(move || agent.serve(|_| {}));
        Client::connect(&socket).unwrap().quit().unwrap();
        assert_eq!(thread.join().unwrap(), Ending::Locked);
    }

    #[test]
    fn unsafe_runtime_folders_and_long_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = check_runtime_dir(&open).unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "the agent's folder {} is accessible by other users (mode 0755)",
                open.display()
            )
        );
        assert_eq!(
            e.hint.unwrap(),
            format!("run `chmod 700 {}`", open.display())
        );

        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        for path in [file, link] {
            let e = check_runtime_dir(&path).unwrap_err();
            assert_eq!(
                (e.exit, e.message, e.hint.unwrap()),
                (
                    Exit::Identity,
                    format!(
                        "the agent's folder {} is a file or a symbolic link, not a folder",
                        path.display()
                    ),
                    "move it away; keyhelm keeps the agent's socket there".to_owned()
                )
            );
        }

        // A folder of another user (only root can make one).
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
        if std::os::unix::fs::chown(&theirs, Some(65534), None).is_ok() {
            let e = check_runtime_dir(&theirs).unwrap_err();
            assert_eq!(
                (e.exit, e.message, e.hint.unwrap()),
                (
                    Exit::Identity,
                    format!(
                        "the agent's folder {} belongs to uid 65534, not to you",
                        theirs.display()
                    ),
                    "remove it, or set XDG_RUNTIME_DIR or KEYHELM_HOME to a folder of your own"
                        .to_owned()
                )
            );
        }

        let long = dir.path().join("x".repeat(120)).join("agent.sock");
        let identity = Identity::generate();
        let e = Agent::bind(&long, identity, "d".into(), Duration::from_secs(60)).unwrap_err();
        let tmp = long.with_file_name(format!(".agent-{}.sock", std::process::id()));
        assert_eq!(
            e.message,
            format!(
                "the agent's socket path {} is too long for a Unix socket (keyhelm needs {} \
                 bytes to create it; at most 107)",
                long.display(),
                tmp.as_os_str().len()
            )
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("set XDG_RUNTIME_DIR (or KEYHELM_HOME) to a folder with a shorter path")
        );
        assert_eq!(e.exit, Exit::Identity);
    }
}
