//! Talking to a running agent: [`Client`] for the requests, and [`AgentIdentity`], an
//! `age::Identity` that sends the vault header's stanzas to the agent and gets the file key
//! back, so that the private key never leaves the agent.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use age_core::format::{FileKey, Stanza};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyhelm_vault::Identity;
use secrecy::ExposeSecret as _;
use zeroize::Zeroizing;

use super::protocol::{self, Hello, Request, ResponseIn, WireStanza, code, op};
use super::server::{info_path, my_uid, peer};

/// How long the client waits for any one answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Why the agent could not be used. Nothing in here is secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// There is no socket: no agent was started, or it ended and cleaned up.
    #[error("no keyhelm agent is running")]
    NotRunning { path: PathBuf },
    /// There is a socket file, but nobody listens on it (the agent was killed).
    #[error(
        "the keyhelm agent's socket {} is stale: the agent that made it is gone",
        path.display()
    )]
    Stale { path: PathBuf },
    /// Connecting failed otherwise (permissions, a path too long for a socket, ...).
    #[error("cannot connect to the keyhelm agent at {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The process behind the socket runs as another user.
    #[error(
        "the socket {} is served by a process of uid {found}, not by you (uid {you}); keyhelm \
         will not use it",
        path.display()
    )]
    WrongOwner { path: PathBuf, found: u32, you: u32 },
    /// The agent answered with a refusal.
    #[error("the keyhelm agent refused: {message}")]
    Refused { code: String, message: String },
    /// The agent speaks other protocol versions (it comes from another keyhelm).
    #[error(
        "the running keyhelm agent speaks protocol versions {theirs:?}, and this keyhelm speaks \
         version {ours}"
    )]
    Version { theirs: Vec<u32>, ours: u32 },
    /// The agent's answer makes no sense.
    #[error("the keyhelm agent sent an answer this keyhelm does not understand ({0})")]
    Protocol(String),
    /// The agent holds the key of another identity file than this device's.
    #[error(
        "the keyhelm agent holds another identity than {}: the file changed after it was \
         unlocked",
        path.display()
    )]
    OtherIdentity { path: PathBuf },
    /// The agent did not answer in time.
    #[error("the keyhelm agent did not answer within {} seconds", TIMEOUT.as_secs())]
    Timeout,
    /// The connection broke.
    #[error("the connection to the keyhelm agent broke: {0}")]
    Io(#[source] io::Error),
}

impl AgentError {
    /// No agent: nothing listens at the socket path. Callers fall back to prompting.
    pub fn is_absent(&self) -> bool {
        matches!(
            self,
            AgentError::NotRunning { .. } | AgentError::Stale { .. }
        )
    }

    fn from_io(e: io::Error) -> AgentError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => AgentError::Timeout,
            _ => AgentError::Io(e),
        }
    }
}

/// A connection to the agent.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
}

impl Client {
    /// Connects to the agent at `socket` and checks that it runs as this user.
    pub fn connect(socket: &Path) -> Result<Client, AgentError> {
        let stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => AgentError::NotRunning {
                path: socket.to_path_buf(),
            },
            io::ErrorKind::ConnectionRefused => AgentError::Stale {
                path: socket.to_path_buf(),
            },
            // A path too long for a socket: no agent can listen there (`keyhelm unlock` says
            // why), so none is running.
            io::ErrorKind::InvalidInput => AgentError::NotRunning {
                path: socket.to_path_buf(),
            },
            _ => AgentError::Connect {
                path: socket.to_path_buf(),
                source: e,
            },
        })?;
        let (uid, _) = peer(&stream).map_err(AgentError::Io)?;
        let you = my_uid();
        if uid != you {
            return Err(AgentError::WrongOwner {
                path: socket.to_path_buf(),
                found: uid,
                you,
            });
        }
        stream
            .set_read_timeout(Some(TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
            .map_err(AgentError::Io)?;
        Ok(Client { stream })
    }

    /// Sends one request and reads its answer; a refusal is an error.
    fn call(&mut self, request: &Request) -> Result<ResponseIn, AgentError> {
        // Requests hold public data only (stanzas are in the vault file for all to see).
        let body = serde_json::to_vec(request)
            .map_err(|e| AgentError::Protocol(format!("cannot encode a request: {e}")))?;
        protocol::write_frame(&mut self.stream, &body).map_err(AgentError::from_io)?;
        let frame = protocol::read_frame(&mut self.stream)
            .map_err(AgentError::from_io)?
            .ok_or_else(|| {
                AgentError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the agent closed the connection",
                ))
            })?;
        let answer: ResponseIn = serde_json::from_slice(&frame)
            .map_err(|_| AgentError::Protocol("an answer is not valid JSON".into()))?;
        if answer.ok {
            return Ok(answer);
        }
        let Some(error) = answer.error else {
            return Err(AgentError::Protocol("a refusal without a reason".into()));
        };
        if error.code == code::UNSUPPORTED_VERSION {
            return Err(AgentError::Version {
                theirs: error.versions,
                ours: protocol::VERSION,
            });
        }
        Err(AgentError::Refused {
            code: error.code,
            message: error.message,
        })
    }

    fn request(op: &str) -> Request {
        Request {
            v: protocol::VERSION,
            op: op.to_owned(),
            identity_digest: None,
            stanzas: Vec::new(),
        }
    }

    /// What the agent holds and until when.
    pub fn hello(&mut self) -> Result<Hello, AgentError> {
        self.call(&Self::request(op::HELLO))?
            .hello
            .ok_or_else(|| AgentError::Protocol("a hello answer without its content".into()))
    }

    /// Asks the agent to forget its key and stop. Returns once it has.
    pub fn quit(&mut self) -> Result<(), AgentError> {
        self.call(&Self::request(op::QUIT)).map(drop)
    }

    /// Asks the agent to unwrap a file key from `stanzas`: `None` when none is for its
    /// identity, `Some(Err)` when one is but is damaged. With `digest`, the agent refuses
    /// unless it holds the key of that identity file.
    pub fn unwrap(
        &mut self,
        stanzas: &[Stanza],
        digest: Option<&str>,
    ) -> Result<Option<Result<FileKey, age::DecryptError>>, AgentError> {
        let request = Request {
            stanzas: stanzas.iter().map(WireStanza::from_stanza).collect(),
            identity_digest: digest.map(str::to_owned),
            ..Self::request(op::UNWRAP)
        };
        let answer = match self.call(&request) {
            Ok(answer) => answer,
            Err(AgentError::Refused { code, message }) if code == code::DECRYPT => {
                return Ok(Some(Err(protocol::decrypt_error(&message))));
            }
            Err(e) => return Err(e),
        };
        let Some(text) = answer.file_key else {
            return Ok(None);
        };
        let bad = || AgentError::Protocol("the file key is not 16 bytes of base64".into());
        let mut raw = Zeroizing::new([0u8; 24]);
        let n = STANDARD
            .decode_slice(text.expose_secret().as_bytes(), &mut raw[..])
            .map_err(|_| bad())?;
        if n != 16 {
            return Err(bad());
        }
        Ok(Some(Ok(FileKey::init_with_mut(|key| {
            key.copy_from_slice(&raw[..16]);
        }))))
    }
}

/// An age identity whose key is in the agent: stanzas go there, the file key comes back.
#[derive(Debug)]
pub struct AgentIdentity {
    socket: PathBuf,
    identity_file: PathBuf,
    digest: String,
    client: Mutex<Option<Client>>,
}

impl AgentIdentity {
    /// One unwrap over the open connection; if the agent closed it meanwhile (it closes idle
    /// connections) or has ended (`keyhelm unlock` replaced it), once more over a new one.
    fn unwrap(
        &self,
        stanzas: &[Stanza],
    ) -> Result<Option<Result<FileKey, age::DecryptError>>, AgentError> {
        let mut slot = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = slot.as_mut() {
            match self.checked(client.unwrap(stanzas, Some(&self.digest))) {
                // Closed while idle, or this agent ended: a new one may have taken its place.
                Err(AgentError::Io(_)) => {}
                Err(AgentError::Refused { code, .. }) if code == code::LOCKED => {}
                other => return other,
            }
        }
        *slot = None;
        let mut client = Client::connect(&self.socket)?;
        let result = self.checked(client.unwrap(stanzas, Some(&self.digest)));
        *slot = Some(client);
        result
    }

    fn checked<T>(&self, result: Result<T, AgentError>) -> Result<T, AgentError> {
        match result {
            Err(AgentError::Refused { code, .. }) if code == code::OTHER_IDENTITY => {
                Err(AgentError::OtherIdentity {
                    path: self.identity_file.clone(),
                })
            }
            other => other,
        }
    }
}

impl age::Identity for AgentIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        self.unwrap_stanzas(std::slice::from_ref(stanza))
    }

    /// All stanzas in one round trip.
    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey, age::DecryptError>> {
        match self.unwrap(stanzas) {
            Ok(result) => result,
            // The vault reports this as an I/O error carrying the AgentError (not as damage).
            Err(e) => Some(Err(age::DecryptError::Io(io::Error::other(e)))),
        }
    }
}

/// This device's identity through the agent at `socket`, provided it holds the key of the
/// identity file whose sha256 is `digest`.
///
/// Connecting tells whether an agent runs at all (no round trip: the kernel completes it). The
/// public keys come from the agent's info file when it names this identity, else from a
/// `hello`; the one round trip of a lookup is then the `unwrap`, which carries the digest so
/// that the agent itself confirms it holds this identity.
pub fn identity(socket: &Path, identity_file: &Path, digest: &str) -> Result<Identity, AgentError> {
    let mut client = Client::connect(socket)?;
    let publics = match read_info(&info_path(socket)) {
        Some(info) if info.identity_digest == digest => info.publics,
        _ => {
            let hello = client.hello()?;
            if hello.identity_digest != digest {
                return Err(AgentError::OtherIdentity {
                    path: identity_file.to_path_buf(),
                });
            }
            hello.publics
        }
    };
    let remote = AgentIdentity {
        socket: socket.to_path_buf(),
        identity_file: identity_file.to_path_buf(),
        digest: digest.to_owned(),
        client: Mutex::new(Some(client)),
    };
    Identity::external(identity_file, publics, Box::new(remote))
        .map_err(|e| AgentError::Protocol(e.to_string()))
}

/// The agent's info file, if it is there and readable.
fn read_info(path: &Path) -> Option<Hello> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// An agent that answers each connection's first request with `answer` (`None`: it hangs
    /// up), and the error the client reports.
    #[test]
    fn answers_that_make_no_sense_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let mut listener = UnixListener::bind(&socket).unwrap();
        type Call = fn(&mut Client) -> Result<(), AgentError>;
        let hello: Call = |c| c.hello().map(drop);
        let unwrap: Call = |c| c.unwrap(&[], None).map(drop);
        let cases: [(Option<&str>, Call, &str); 5] = [
            (
                None,
                hello,
                "the connection to the keyhelm agent broke: the agent closed the connection",
            ),
            (
                Some("nope"),
                hello,
                "the keyhelm agent sent an answer this keyhelm does not understand (an answer is \
                 not valid JSON)",
            ),
            (
                Some(r#"{"v":1,"ok":false}"#),
                hello,
                "the keyhelm agent sent an answer this keyhelm does not understand (a refusal \
                 without a reason)",
            ),
            (
                Some(r#"{"v":1,"ok":true}"#),
                hello,
                "the keyhelm agent sent an answer this keyhelm does not understand (a hello \
                 answer without its content)",
            ),
            (
                Some(r#"{"v":1,"ok":true,"file_key":"AAAA"}"#),
                unwrap,
                "the keyhelm agent sent an answer this keyhelm does not understand (the file key \
                 is not 16 bytes of base64)",
            ),
        ];
        for (answer, call, message) in cases {
            let server = std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                protocol::read_frame(&mut stream).unwrap().unwrap();
                if let Some(answer) = answer {
                    protocol::write_frame(&mut stream, answer.as_bytes()).unwrap();
                }
                listener
            });
            let mut client = Client::connect(&socket).unwrap();
            let err = call(&mut client).unwrap_err();
            assert_eq!(err.to_string(), message);
            // The listener comes back for the next case.
            listener = server.join().unwrap();
        }
    }
}
