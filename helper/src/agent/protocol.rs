//! The agent's wire protocol, version 1.
//!
//! Over the agent's Unix socket, the client sends requests and the agent answers each one, in
//! order, on the same connection. Every message is a *frame*: a 4-byte big-endian length, then
//! that many bytes of one JSON object. Frames are at most [`MAX_FRAME`] bytes; unknown fields
//! are ignored, so both sides can grow without breaking the other.
//!
//! Every request carries the protocol version it speaks (`"v": 1`) and an operation:
//!
//! | request | answer |
//! |---|---|
//! | `{"v":1,"op":"hello"}` | `{"v":1,"ok":true,"hello":{"agent":"keyhelm 0.1.0","pid":4242,"publics":["age1..."],"identity_digest":"<sha256 hex>","expires_at":1795000000}}` |
//! | `{"v":1,"op":"unwrap","identity_digest":"<sha256 hex>","stanzas":[{"tag":"X25519","args":["..."],"body":"<base64>"}]}` | `{"v":1,"ok":true,"file_key":"<base64 of 16 bytes>"}`, or `"file_key":null` when no stanza is for this identity |
//! | `{"v":1,"op":"quit"}` | `{"v":1,"ok":true}`, sent after the agent removed its socket and wiped the key |
//!
//! `identity_digest` is the sha256 of the protected identity file the agent was unlocked from,
//! so that a client can tell whether the agent still holds the identity of its file; in an
//! `unwrap` request it is optional, and when given the agent refuses (`other-identity`) unless
//! it matches. `expires_at` is a unix time in seconds.
//!
//! The agent also writes its hello, as JSON, to `agent.json` next to its socket (0600), so that
//! a lookup learns the public keys without a round trip: it connects, then sends one `unwrap`.
//!
//! A refusal is `{"v":1,"ok":false,"error":{"code":"...","message":"..."}}` with one of the
//! codes of [`code`]. A request with a version the agent does not speak gets
//! `unsupported-version` and the list of versions it does in `"versions"`.
//!
//! The only secret on the wire is the unwrapped file key of an `unwrap` answer; both sides
//! keep every frame in a buffer that is zeroized when dropped. The agent never sends its
//! private key.

use std::io::{self, Read, Write};

use age_core::format::Stanza;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The protocol version this keyhelm speaks.
pub const VERSION: u32 = 1;
/// The versions the agent accepts from clients.
pub const SUPPORTED: &[u32] = &[1];
/// The largest frame either side accepts (an age header with many recipients fits easily).
pub const MAX_FRAME: usize = 1 << 20;
/// The most stanzas one `unwrap` request may carry.
pub const MAX_STANZAS: usize = 1024;

/// Operation names.
pub mod op {
    pub const HELLO: &str = "hello";
    pub const UNWRAP: &str = "unwrap";
    pub const QUIT: &str = "quit";
}

/// Error codes of refusals.
pub mod code {
    /// The request's version is not one the agent speaks.
    pub const UNSUPPORTED_VERSION: &str = "unsupported-version";
    /// The operation is unknown to this agent.
    pub const UNKNOWN_OP: &str = "unknown-op";
    /// The frame is not a valid request.
    pub const BAD_REQUEST: &str = "bad-request";
    /// The connecting process does not belong to the agent's user.
    pub const REFUSED: &str = "refused";
    /// The agent's time is up, or it was locked: it holds no key any more.
    pub const LOCKED: &str = "locked";
    /// A stanza for this identity could not be unwrapped; `message` is one of the
    /// `decrypt_kind` values.
    pub const DECRYPT: &str = "decrypt";
    /// The request's `identity_digest` is not the agent's.
    pub const OTHER_IDENTITY: &str = "other-identity";
}

/// A request, as the client writes it and the agent reads it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub v: u32,
    pub op: String,
    /// `unwrap`: the digest of the identity file the client expects the agent to hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stanzas: Vec<WireStanza>,
}

/// An age header stanza (public data: it is in the vault file for anyone to read).
#[derive(Debug, Serialize, Deserialize)]
pub struct WireStanza {
    pub tag: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Base64 (standard alphabet, padded).
    pub body: String,
}

impl WireStanza {
    pub fn from_stanza(s: &Stanza) -> WireStanza {
        WireStanza {
            tag: s.tag.clone(),
            args: s.args.clone(),
            body: STANDARD.encode(&s.body),
        }
    }

    pub fn to_stanza(&self) -> Option<Stanza> {
        Some(Stanza {
            tag: self.tag.clone(),
            args: self.args.clone(),
            body: STANDARD.decode(&self.body).ok()?,
        })
    }
}

/// What the agent says about itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hello {
    /// `keyhelm <version>`.
    pub agent: String,
    pub pid: u32,
    /// The identity's public recipients.
    pub publics: Vec<String>,
    /// sha256 (hex) of the protected identity file the key came from.
    pub identity_digest: String,
    /// When the agent forgets the key and exits (unix seconds).
    pub expires_at: u64,
}

/// A refusal.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WireError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<u32>,
}

/// An answer, as the agent writes it (it borrows the file key's text).
#[derive(Serialize)]
pub struct ResponseOut<'a> {
    pub v: u32,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<WireError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hello: Option<&'a Hello>,
    /// Present (maybe null) in `unwrap` answers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_key: Option<Option<&'a str>>,
}

/// Never shows the file key.
impl std::fmt::Debug for ResponseOut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseOut")
            .field("v", &self.v)
            .field("ok", &self.ok)
            .field("error", &self.error)
            .field("hello", &self.hello)
            .field("file_key", &self.file_key.map(|k| k.map(|_| "REDACTED")))
            .finish()
    }
}

impl<'a> ResponseOut<'a> {
    pub fn ok() -> ResponseOut<'a> {
        ResponseOut {
            v: VERSION,
            ok: true,
            error: None,
            hello: None,
            file_key: None,
        }
    }

    pub fn error(code: &str, message: impl Into<String>) -> ResponseOut<'a> {
        ResponseOut {
            ok: false,
            error: Some(WireError {
                code: code.to_owned(),
                message: message.into(),
                versions: Vec::new(),
            }),
            ..ResponseOut::ok()
        }
    }

    /// The JSON bytes, in a buffer that is zeroized when dropped (it may hold a file key).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        // Room for any answer without a reallocation (which would leave a copy behind).
        let mut buf = Zeroizing::new(Vec::with_capacity(4096));
        // Serialising plain strings and numbers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *buf, self);
        buf
    }
}

/// An answer, as the client reads it.
#[derive(Debug, Deserialize)]
pub struct ResponseIn {
    pub v: u32,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<WireError>,
    #[serde(default)]
    pub hello: Option<Hello>,
    /// Base64 of the 16-byte file key.
    #[serde(default)]
    pub file_key: Option<SecretString>,
}

/// The kinds of decryption failure an `unwrap` refusal names, and back.
pub fn decrypt_kind(e: &age::DecryptError) -> &'static str {
    match e {
        age::DecryptError::InvalidHeader => "invalid-header",
        age::DecryptError::KeyDecryptionFailed => "key-decryption-failed",
        age::DecryptError::InvalidMac => "invalid-mac",
        _ => "decryption-failed",
    }
}

pub fn decrypt_error(kind: &str) -> age::DecryptError {
    match kind {
        "invalid-header" => age::DecryptError::InvalidHeader,
        "key-decryption-failed" => age::DecryptError::KeyDecryptionFailed,
        "invalid-mac" => age::DecryptError::InvalidMac,
        _ => age::DecryptError::DecryptionFailed,
    }
}

/// Writes one frame in a single write.
pub fn write_frame(w: &mut impl Write, body: &[u8]) -> io::Result<()> {
    if body.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "message too large for the agent protocol",
        ));
    }
    let mut frame = Zeroizing::new(Vec::with_capacity(4 + body.len()));
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(body);
    w.write_all(&frame)?;
    w.flush()
}

/// Reads one frame into a buffer that is zeroized when dropped. `Ok(None)` when the peer
/// closed the connection before a new frame began.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a message of {len} bytes is larger than the protocol allows ({MAX_FRAME})"),
        ));
    }
    let mut body = Zeroizing::new(vec![0u8; len]);
    r.read_exact(&mut body)?;
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn frames_round_trip_and_oversized_ones_are_refused() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"{\"v\":1}").unwrap();
        write_frame(&mut buf, b"").unwrap();
        assert_eq!(&buf[..4], &[0, 0, 0, 7]);
        let mut r = &buf[..];
        assert_eq!(&read_frame(&mut r).unwrap().unwrap()[..], b"{\"v\":1}");
        assert_eq!(&read_frame(&mut r).unwrap().unwrap()[..], b"");
        assert!(read_frame(&mut r).unwrap().is_none());

        let huge = ((MAX_FRAME + 1) as u32).to_be_bytes();
        let err = read_frame(&mut &huge[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            err.to_string(),
            "a message of 1048577 bytes is larger than the protocol allows (1048576)"
        );
        let cut = [0, 0, 0, 9, b'{'];
        assert_eq!(
            read_frame(&mut &cut[..]).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            read_frame(&mut &[0u8, 0][..]).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            write_frame(&mut Vec::new(), &vec![b' '; MAX_FRAME + 1])
                .unwrap_err()
                .to_string(),
            "message too large for the agent protocol"
        );
    }

    /// The documented examples are what the types read and write.
    #[test]
    fn messages_match_the_documentation() {
        let req = Request {
            v: 1,
            op: op::UNWRAP.into(),
            identity_digest: Some("ab12".into()),
            stanzas: vec![WireStanza::from_stanza(&Stanza {
                tag: "X25519".into(),
                args: vec!["abc".into()],
                body: vec![1, 2, 3],
            })],
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"v":1,"op":"unwrap","identity_digest":"ab12","stanzas":[{"tag":"X25519","args":["abc"],"body":"AQID"}]}"#
        );
        let hello = Request {
            v: 1,
            op: op::HELLO.into(),
            identity_digest: None,
            stanzas: vec![],
        };
        assert_eq!(
            serde_json::to_string(&hello).unwrap(),
            r#"{"v":1,"op":"hello"}"#
        );
        // Unknown fields are ignored; missing optional ones default.
        let back: Request = serde_json::from_str(r#"{"v":1,"op":"hello","future":[1,2]}"#).unwrap();
        assert_eq!(back.op, "hello");
        assert!(back.stanzas.is_empty());

        let out = ResponseOut {
            file_key: Some(Some("AAAAAAAAAAAAAAAAAAAAAA==")),
            ..ResponseOut::ok()
        };
        assert_eq!(
            std::str::from_utf8(&out.encode()).unwrap(),
            r#"{"v":1,"ok":true,"file_key":"AAAAAAAAAAAAAAAAAAAAAA=="}"#
        );
        let none = ResponseOut {
            file_key: Some(None),
            ..ResponseOut::ok()
        };
        assert_eq!(
            std::str::from_utf8(&none.encode()).unwrap(),
            r#"{"v":1,"ok":true,"file_key":null}"#
        );
        let refusal = ResponseOut::error(code::LOCKED, "the agent was locked");
        assert_eq!(
            std::str::from_utf8(&refusal.encode()).unwrap(),
            r#"{"v":1,"ok":false,"error":{"code":"locked","message":"the agent was locked"}}"#
        );
        let parsed: ResponseIn = serde_json::from_slice(&out.encode()).unwrap();
        assert!(parsed.ok && parsed.error.is_none());
        assert_eq!(
            parsed.file_key.unwrap().expose_secret(),
            "AAAAAAAAAAAAAAAAAAAAAA=="
        );
        let parsed: ResponseIn = serde_json::from_slice(&refusal.encode()).unwrap();
        assert_eq!(parsed.error.unwrap().code, "locked");
        // Debug never shows a file key.
        let parsed: ResponseIn = serde_json::from_slice(&out.encode()).unwrap();
        assert!(!format!("{parsed:?}").contains("AAAAAAAA"));
    }

    #[test]
    fn stanzas_and_decrypt_kinds_round_trip() {
        let s = Stanza {
            tag: "ssh-ed25519".into(),
            args: vec!["tag".into(), "key".into()],
            body: (0..=255).collect(),
        };
        let back = WireStanza::from_stanza(&s).to_stanza().unwrap();
        assert_eq!((back.tag, back.args, back.body), (s.tag, s.args, s.body));
        let bad = WireStanza {
            tag: "X25519".into(),
            args: vec![],
            body: "not base64!".into(),
        };
        assert!(bad.to_stanza().is_none());
        for e in [
            age::DecryptError::InvalidHeader,
            age::DecryptError::KeyDecryptionFailed,
            age::DecryptError::InvalidMac,
            age::DecryptError::DecryptionFailed,
        ] {
            let kind = decrypt_kind(&e);
            assert_eq!(decrypt_kind(&decrypt_error(kind)), kind);
        }
    }
}
