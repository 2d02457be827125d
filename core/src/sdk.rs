//! The SDK for provider plugins: implement [`Provider`], export it with
//! [`export_provider!`](crate::export_provider), build a `cdylib`.
//!
//! ```ignore
//! use keyhelm_core::sdk::{Host, Provider, Result};
//! use keyhelm_core::msg::*;
//!
//! #[derive(Default)]
//! struct Hello;
//!
//! impl Provider for Hello {
//!     const NAME: &'static str = "hello";
//!     fn describe(&self) -> Description { Description::new("Hello") }
//!     fn get(&self, host: &Host<'_>, req: GetRequest) -> Result<GetResponse> {
//!         host.info("saying hello");
//!         Ok(GetResponse::new("hello-token"))
//!     }
//! }
//!
//! keyhelm_core::export_provider!(Hello);
//! ```
//!
//! What the SDK does for you: the entry symbol and the table, JSON in and out (with
//! exactly-sized buffers zeroized when freed), checks of the host table and message
//! versions, and a `catch_unwind` around every call so a panic becomes an error for the
//! host instead of aborting it. A plugin must be built with `panic = "unwind"` (the
//! default); with `panic = "abort"` a panic takes the host process down.
//!
//! Threads: the host calls a plugin from one thread at a time, possibly a different thread
//! each time. The provider value is created on first use and lives for the process.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::SecretString;

use crate::abi::{self, HostApi, OwnedBuf, ReceivedBuf, Slice, Status};
use crate::msg::{
    ErrorKind, ErrorMessage, HttpRequest, HttpResponse, MESSAGE_VERSION, Prompt, PromptRequest,
    PromptResponse,
};

pub use crate::msg::{
    Account, CredentialRequest, Description, GetRequest, GetResponse, LogoutRequest,
    LogoutResponse, SettingSpec, StateUpdate,
};

/// The error a provider returns: a kind the host can act on, a message and a hint for the
/// user. Never put a secret in it.
pub type Error = ErrorMessage;
/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A credential provider.
pub trait Provider: Send + Sync + 'static {
    /// The provider name: `[a-z0-9_-]{1,64}`; the plugin file is `libkeyhelm_<NAME>.so`.
    /// Checked at compile time by [`export_provider!`](crate::export_provider).
    const NAME: &'static str;

    /// What the provider needs and serves. The SDK adds the name and version.
    fn describe(&self) -> Description;

    /// Obtains a credential for an account: from the saved state if it still works
    /// (refresh), else by logging in (which may prompt when `req.request.interactive`).
    fn get(&self, host: &Host<'_>, req: GetRequest) -> Result<GetResponse>;

    /// Revokes what can be revoked (the token, the refresh token). The default says that
    /// this provider cannot revoke anything and asks the host to forget the state.
    fn logout(&self, host: &Host<'_>, req: LogoutRequest) -> Result<LogoutResponse> {
        let _ = (host, req);
        Ok(LogoutResponse::new(false))
    }
}

/// Log levels for [`Host::log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Level {
    /// An error.
    Error,
    /// A warning.
    Warn,
    /// Progress.
    Info,
    /// Details.
    Debug,
    /// Very verbose details.
    Trace,
}

impl Level {
    fn raw(self) -> u32 {
        match self {
            Level::Error => abi::log_level::ERROR,
            Level::Warn => abi::log_level::WARN,
            Level::Info => abi::log_level::INFO,
            Level::Debug => abi::log_level::DEBUG,
            Level::Trace => abi::log_level::TRACE,
        }
    }
}

/// The host's services, lent for the duration of one call.
#[derive(Debug, Clone, Copy)]
pub struct Host<'a> {
    api: &'a HostApi,
}

impl<'a> Host<'a> {
    /// Checks a raw host table: non-null, same ABI major, big enough for ABI 1.0.
    ///
    /// # Safety
    ///
    /// `api` must be null or point to a `HostApi` of at least `api.size` bytes that stays
    /// valid for `'a`.
    #[expect(unsafe_code, reason = "reads the host table")]
    pub unsafe fn from_raw(api: *const HostApi) -> std::result::Result<Host<'a>, Error> {
        if api.is_null() {
            return Err(Error::new(
                ErrorKind::Internal,
                "the host passed no service table",
            ));
        }
        // SAFETY: non-null; the caller guarantees it points to a live HostApi. The first
        // three fields exist at every ABI version, so reading them is fine whatever its size.
        let head = unsafe { &*api };
        if head.abi_major != abi::ABI_MAJOR {
            return Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "the host speaks plugin ABI {}.{}, this plugin ABI {}.{}",
                    head.abi_major,
                    head.abi_minor,
                    abi::ABI_MAJOR,
                    abi::ABI_MINOR
                ),
            ));
        }
        if head.size < abi::HOST_API_SIZE_V1_0 {
            return Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "the host's service table is {} bytes, smaller than the {} of ABI 1.0",
                    head.size,
                    abi::HOST_API_SIZE_V1_0
                ),
            ));
        }
        Ok(Host { api: head })
    }

    /// Logs a message into the host's log (shown with `KEYHELM_LOG`). Never log secrets.
    #[expect(unsafe_code, reason = "calls a host function")]
    pub fn log(&self, level: Level, msg: &str) {
        if let Some(log) = self.api.log {
            // SAFETY: the host table was checked in from_raw; `log` takes the ctx it gave us
            // and a slice valid for the call (msg outlives it).
            unsafe { log(self.api.ctx, level.raw(), Slice::from_str(msg)) }
        }
    }

    /// Logs at error level.
    pub fn error(&self, msg: &str) {
        self.log(Level::Error, msg)
    }
    /// Logs at warn level.
    pub fn warn(&self, msg: &str) {
        self.log(Level::Warn, msg)
    }
    /// Logs at info level.
    pub fn info(&self, msg: &str) {
        self.log(Level::Info, msg)
    }
    /// Logs at debug level.
    pub fn debug(&self, msg: &str) {
        self.log(Level::Debug, msg)
    }

    /// Calls a host service that takes and returns JSON.
    #[expect(unsafe_code, reason = "calls a host function")]
    fn call_json<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        f: Option<unsafe extern "C" fn(*mut core::ffi::c_void, Slice, *mut OwnedBuf) -> Status>,
        req: &Req,
    ) -> Result<Resp> {
        let Some(f) = f else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("this keyhelm does not offer the {what} service to plugins"),
            ));
        };
        let body = crate::json::to_vec(req).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("could not encode the {what} request: {e}"),
            )
        })?;
        let mut out = OwnedBuf::EMPTY;
        // SAFETY: the host table was checked in from_raw; `body` lives across the call and
        // `out` is a valid, EMPTY OwnedBuf the host may overwrite.
        let status = unsafe { f(self.api.ctx, Slice::from_bytes(&body), &mut out) };
        // SAFETY: the host filled `out` (or left it EMPTY) per the ABI contract.
        let out = unsafe { ReceivedBuf::new(out) };
        if status == Status::OK {
            serde_json::from_slice(out.bytes()).map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!(
                        "the host's {what} answer {}",
                        crate::json::describe_error(&e)
                    ),
                )
            })
        } else {
            Err(
                serde_json::from_slice::<ErrorMessage>(out.bytes()).unwrap_or_else(|_| {
                    Error::new(
                        ErrorKind::Internal,
                        format!("the host's {what} service failed with status {}", status.0),
                    )
                }),
            )
        }
    }

    /// Makes an HTTP request through the host (blocking). Any HTTP status is `Ok`; `Err`
    /// means there was no response (refused by policy, network error, timeout, too big).
    pub fn http(&self, req: &HttpRequest) -> Result<HttpResponse> {
        self.call_json("http", self.api.http, req)
    }

    /// Asks the user through the host. Fails with [`ErrorKind::NeedsInteraction`] when
    /// there is no terminal or the tool does not allow prompts.
    pub fn prompt(&self, prompt: Prompt) -> Result<PromptResponse> {
        let resp: PromptResponse =
            self.call_json("prompt", self.api.prompt, &PromptRequest::new(prompt))?;
        if resp.v != MESSAGE_VERSION {
            return Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "the host answered a prompt with message version {}, this plugin reads \
                     version {MESSAGE_VERSION} (update the plugin or keyhelm so that they match)",
                    resp.v
                ),
            ));
        }
        Ok(resp)
    }

    /// Asks for a line of text (echoed).
    pub fn prompt_text(&self, message: &str) -> Result<String> {
        let r = self.prompt(Prompt::Text {
            message: message.into(),
            default: None,
        })?;
        use secrecy::ExposeSecret;
        Ok(r.value
            .map(|v| v.expose_secret().to_owned())
            .unwrap_or_default())
    }

    /// Asks for a secret (not echoed).
    pub fn prompt_secret(&self, message: &str) -> Result<SecretString> {
        let r = self.prompt(Prompt::Secret {
            message: message.into(),
        })?;
        Ok(r.value.unwrap_or_else(|| SecretString::from(String::new())))
    }

    /// Asks yes or no.
    pub fn confirm(&self, message: &str, default: bool) -> Result<bool> {
        let r = self.prompt(Prompt::Confirm {
            message: message.into(),
            default,
        })?;
        Ok(r.confirmed.unwrap_or(default))
    }

    /// Shows a message to the user.
    pub fn message(&self, message: &str) -> Result<()> {
        self.prompt(Prompt::Message {
            message: message.into(),
        })
        .map(|_| ())
    }

    /// Shows a URL to visit and offers to open it in the browser; returns whether a
    /// browser was started.
    pub fn open_url(&self, message: &str, url: &str) -> Result<bool> {
        let r = self.prompt(Prompt::OpenUrl {
            message: message.into(),
            url: url.into(),
        })?;
        Ok(r.opened.unwrap_or(false))
    }

    /// The host's clock.
    #[expect(unsafe_code, reason = "calls a host function")]
    pub fn now(&self) -> SystemTime {
        let ms = match self.api.now_ms {
            // SAFETY: the host table was checked in from_raw; now_ms takes only its ctx.
            Some(now) => unsafe { now(self.api.ctx) },
            None => return SystemTime::now(),
        };
        if ms >= 0 {
            UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
        }
    }

    /// The host's clock in Unix seconds.
    pub fn now_unix(&self) -> i64 {
        match self.now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        }
    }
}

/// Checks a provider name: `[a-z0-9_-]{1,64}`. `const`, so the export macro can check it at
/// compile time.
pub const fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 64 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

/// Exports a [`Provider`] from a `cdylib`: generates the entry symbol
/// `keyhelm_plugin_entry_v1` and the plugin table.
///
/// `export_provider!(MyProvider)` creates the provider with `Default::default()` on first
/// use; `export_provider!(MyProvider, MyProvider::new())` with the given expression. The
/// version in the table is the crate's `CARGO_PKG_VERSION`. Use it once per crate.
#[macro_export]
macro_rules! export_provider {
    ($ty:ty) => {
        $crate::export_provider!($ty, <$ty as ::core::default::Default>::default());
    };
    ($ty:ty, $ctor:expr) => {
        const _: () = ::core::assert!(
            $crate::sdk::is_valid_name(<$ty as $crate::sdk::Provider>::NAME),
            "Provider::NAME must match [a-z0-9_-]{{1,64}}"
        );

        impl $crate::sdk::__private::Exported for $ty {
            const VERSION: &'static str = ::core::env!("CARGO_PKG_VERSION");
            fn instance() -> &'static Self {
                static INSTANCE: ::std::sync::OnceLock<$ty> = ::std::sync::OnceLock::new();
                INSTANCE.get_or_init(|| $ctor)
            }
        }

        static __KEYHELM_PLUGIN_TABLE: $crate::abi::PluginTable =
            $crate::sdk::__private::table::<$ty>();

        /// The keyhelm plugin entry point (ABI major 1).
        #[unsafe(no_mangle)]
        pub extern "C" fn keyhelm_plugin_entry_v1() -> *const $crate::abi::PluginTable {
            &__KEYHELM_PLUGIN_TABLE
        }
    };
}

#[doc(hidden)]
pub mod __private {
    //! Used by `export_provider!`; not a public API.

    use std::any::Any;
    use std::cell::{Cell, RefCell};
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Once;

    use super::*;
    use crate::abi::{ABI_MAJOR, ABI_MINOR, PluginTable};
    use crate::msg::{DescribeRequest, DescribeResponse, GetRequest, LogoutRequest, Versioned};

    /// Implemented by the macro: where the provider value lives.
    pub trait Exported: Provider + Sized {
        /// The plugin's version (the crate's `CARGO_PKG_VERSION`).
        const VERSION: &'static str;
        /// The provider, created on first use.
        fn instance() -> &'static Self;
    }

    /// The plugin table for `P`.
    pub const fn table<P: Exported>() -> PluginTable {
        PluginTable {
            size: core::mem::size_of::<PluginTable>(),
            abi_major: ABI_MAJOR,
            abi_minor: ABI_MINOR,
            name: Slice::from_str(P::NAME),
            version: Slice::from_str(P::VERSION),
            describe: Some(describe::<P>),
            get: Some(get::<P>),
            logout: Some(logout::<P>),
        }
    }

    #[derive(Clone, Copy)]
    enum Op {
        Describe,
        Get,
        Logout,
    }

    #[expect(unsafe_code, reason = "ABI entry point")]
    unsafe extern "C" fn describe<P: Exported>(
        host: *const HostApi,
        req: Slice,
        out: *mut OwnedBuf,
    ) -> Status {
        // SAFETY: forwarded unchanged from the host, which upholds CallFn's contract.
        unsafe { dispatch::<P>(Op::Describe, host, req, out) }
    }

    #[expect(unsafe_code, reason = "ABI entry point")]
    unsafe extern "C" fn get<P: Exported>(
        host: *const HostApi,
        req: Slice,
        out: *mut OwnedBuf,
    ) -> Status {
        // SAFETY: forwarded unchanged from the host, which upholds CallFn's contract.
        unsafe { dispatch::<P>(Op::Get, host, req, out) }
    }

    #[expect(unsafe_code, reason = "ABI entry point")]
    unsafe extern "C" fn logout<P: Exported>(
        host: *const HostApi,
        req: Slice,
        out: *mut OwnedBuf,
    ) -> Status {
        // SAFETY: forwarded unchanged from the host, which upholds CallFn's contract.
        unsafe { dispatch::<P>(Op::Logout, host, req, out) }
    }

    thread_local! {
        /// Set while this thread runs a plugin call, so the panic hook stays quiet and
        /// records where the panic happened instead of printing to the user's terminal.
        static IN_CALL: Cell<bool> = const { Cell::new(false) };
        static LAST_PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    /// Installs (once) a panic hook in this plugin's copy of std. Panics during a call are
    /// reported to the host as errors, so the default hook's stderr output would only be
    /// noise on the user's terminal; other panics go to the previous hook.
    fn install_panic_hook() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if IN_CALL.with(Cell::get) {
                    let loc = info
                        .location()
                        .map(|l| format!("{}:{}", l.file(), l.line()));
                    LAST_PANIC_LOCATION.with(|c| *c.borrow_mut() = loc);
                } else {
                    previous(info);
                }
            }));
        });
    }

    fn panic_message(payload: &(dyn Any + Send)) -> String {
        if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic without a message".to_owned()
        }
    }

    fn encode<T: serde::Serialize>(v: &T) -> std::result::Result<OwnedBuf, Error> {
        let bytes = crate::json::to_vec(v).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("the plugin could not encode its answer: {e}"),
            )
        })?;
        // Move the exactly-sized buffer out of its Zeroizing wrapper without copying: the
        // receiver frees it through `free_vec_buf`, which zeroizes it.
        let mut bytes = bytes;
        Ok(OwnedBuf::from_vec(std::mem::take(&mut *bytes)))
    }

    fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, Error> {
        let v: Versioned = serde_json::from_slice(bytes).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("the host's request {}", crate::json::describe_error(&e)),
            )
        })?;
        if v.v != MESSAGE_VERSION {
            return Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "the host sent message version {}, this plugin reads version {}",
                    v.v, MESSAGE_VERSION
                ),
            )
            .with_hint("update the plugin or keyhelm so that they match"));
        }
        serde_json::from_slice(bytes).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("the host's request {}", crate::json::describe_error(&e)),
            )
        })
    }

    /// Runs one operation; any failure becomes a JSON error in `out`.
    #[expect(unsafe_code, reason = "reads the ABI arguments")]
    unsafe fn dispatch<P: Exported>(
        op: Op,
        host: *const HostApi,
        req: Slice,
        out: *mut OwnedBuf,
    ) -> Status {
        if out.is_null() {
            return Status::BAD_REQUEST;
        }
        install_panic_hook();
        IN_CALL.with(|c| c.set(true));
        let result = catch_unwind(AssertUnwindSafe(
            || -> (Status, std::result::Result<OwnedBuf, Error>) {
                // SAFETY: the host guarantees `host` points to a live HostApi for this call.
                let host = match unsafe { Host::from_raw(host) } {
                    Ok(h) => h,
                    Err(e) => return (Status::BAD_REQUEST, Err(e)),
                };
                // SAFETY: the host guarantees `req` is valid for this call.
                let bytes = unsafe { req.as_bytes() };
                let provider = P::instance();
                match op {
                    Op::Describe => match parse::<DescribeRequest>(bytes) {
                        Err(e) => (Status::BAD_REQUEST, Err(e)),
                        Ok(_) => {
                            let d = provider.describe();
                            (
                                Status::OK,
                                encode(&DescribeResponse::new(P::NAME, P::VERSION, d)),
                            )
                        }
                    },
                    Op::Get => match parse::<GetRequest>(bytes) {
                        Err(e) => (Status::BAD_REQUEST, Err(e)),
                        Ok(r) => (Status::OK, provider.get(&host, r).and_then(|r| encode(&r))),
                    },
                    Op::Logout => match parse::<LogoutRequest>(bytes) {
                        Err(e) => (Status::BAD_REQUEST, Err(e)),
                        Ok(r) => (
                            Status::OK,
                            provider.logout(&host, r).and_then(|r| encode(&r)),
                        ),
                    },
                }
            },
        ));
        IN_CALL.with(|c| c.set(false));
        let (status, answer) = match result {
            Ok((status, Ok(buf))) => {
                // SAFETY: `out` is non-null (checked) and points to the host's OwnedBuf.
                unsafe { out.write(buf) };
                return status;
            }
            Ok((Status::OK, Err(e))) => {
                let status = if e.kind == ErrorKind::Unsupported {
                    Status::UNSUPPORTED
                } else {
                    Status::ERROR
                };
                (status, e)
            }
            Ok((status, Err(e))) => (status, e),
            Err(payload) => {
                let loc = LAST_PANIC_LOCATION.with(|c| c.borrow_mut().take());
                let mut msg = format!("the plugin panicked: {}", panic_message(&*payload));
                if let Some(loc) = loc {
                    msg.push_str(&format!(" (at {loc})"));
                }
                (Status::PANIC, Error::new(ErrorKind::Internal, msg))
            }
        };
        // Encoding an ErrorMessage cannot fail; if it somehow did, `out` stays EMPTY and the
        // status alone tells the host what happened.
        if let Ok(buf) = encode(&answer) {
            // SAFETY: `out` is non-null (checked) and points to the host's OwnedBuf.
            unsafe { out.write(buf) };
        }
        status
    }
}

#[cfg(test)]
#[allow(unsafe_code)] // drives the exported functions the way a host does
mod tests {
    use super::*;
    use crate::msg::{ErrorMessage, GetResponse};

    #[derive(Default)]
    struct T;

    impl Provider for T {
        const NAME: &'static str = "t";
        fn describe(&self) -> Description {
            Description::new("T")
        }
        fn get(&self, host: &Host<'_>, req: GetRequest) -> Result<GetResponse> {
            match req.account.name.as_str() {
                "panic" => panic!("boom"),
                "unsupported" => Err(Error::new(ErrorKind::Unsupported, "nope")),
                "http" => host
                    .http(&HttpRequest::get("https://x/"))
                    .map(|_| GetResponse::new("x")),
                "prompt" => host
                    .prompt(crate::msg::Prompt::Message {
                        message: "hi".into(),
                    })
                    .map(|_| GetResponse::new("x")),
                _ => Ok(GetResponse::new(format!("tok-{}", host.now_unix()))),
            }
        }
    }

    crate::export_provider!(T);

    unsafe extern "C" fn now(_: *mut core::ffi::c_void) -> i64 {
        42_000
    }

    fn host_api() -> HostApi {
        HostApi {
            size: core::mem::size_of::<HostApi>(),
            abi_major: abi::ABI_MAJOR,
            abi_minor: abi::ABI_MINOR,
            ctx: core::ptr::null_mut(),
            log: None,
            http: None,
            prompt: None,
            now_ms: Some(now),
        }
    }

    /// Calls `get` like a host; returns the status and the answer's bytes.
    fn call(host: *const HostApi, req: &[u8]) -> (Status, Vec<u8>) {
        let table = keyhelm_plugin_entry_v1();
        // SAFETY: the table is this test binary's own static.
        let get = unsafe { (*table).get }.unwrap();
        let mut out = OwnedBuf::EMPTY;
        // SAFETY: host is null or a live HostApi; req and out are valid for the call.
        let status = unsafe { get(host, Slice::from_bytes(req), &mut out) };
        // SAFETY: the SDK filled `out` (or left it EMPTY).
        let answer = unsafe { ReceivedBuf::new(out) };
        (status, answer.bytes().to_vec())
    }

    fn get_json(account: &str) -> Vec<u8> {
        format!(r#"{{"v":1,"account":{{"name":"{account}"}}}}"#).into_bytes()
    }

    fn error(bytes: &[u8]) -> ErrorMessage {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn the_macro_exports_a_table_the_host_can_read() {
        let table = keyhelm_plugin_entry_v1();
        // SAFETY: our own static table.
        let t = unsafe { &*table };
        assert_eq!((t.size, t.abi_major, t.abi_minor), (72, 1, 0));
        // SAFETY: static strings.
        let (name, version) = unsafe { (t.name.as_bytes(), t.version.as_bytes()) };
        assert_eq!(
            (name, version),
            (&b"t"[..], env!("CARGO_PKG_VERSION").as_bytes())
        );
        assert!(t.describe.is_some() && t.logout.is_some());
    }

    #[test]
    fn a_good_call_answers_json_and_uses_the_host_clock() {
        let api = host_api();
        let (status, bytes) = call(&api, &get_json("a"));
        assert_eq!(status, Status::OK);
        let r: GetResponse = serde_json::from_slice(&bytes).unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(r.secret.expose_secret(), "tok-42");
    }

    #[test]
    fn unreadable_requests_are_bad_requests_with_clear_messages() {
        let api = host_api();
        let (status, bytes) = call(&api, br#"{"v":2,"account":{"name":"a"}}"#);
        assert_eq!(status, Status::BAD_REQUEST);
        let e = error(&bytes);
        assert_eq!(
            e.to_string(),
            "the host sent message version 2, this plugin reads version 1 (update the plugin or keyhelm so that they match)"
        );
        let (status, bytes) = call(&api, b"{\"v\":1, secret");
        assert_eq!(status, Status::BAD_REQUEST);
        assert_eq!(
            error(&bytes).message,
            "the host's request is not valid JSON (line 1, column 9)"
        );
        let (_, bytes) = call(&api, br#"{"v":1}"#);
        assert_eq!(
            error(&bytes).message,
            "the host's request lacks the required field `account` (line 1, column 7)"
        );
    }

    #[test]
    fn bad_host_tables_are_refused() {
        let (status, bytes) = call(core::ptr::null(), &get_json("a"));
        assert_eq!(status, Status::BAD_REQUEST);
        assert_eq!(error(&bytes).message, "the host passed no service table");

        let mut api = host_api();
        api.abi_major = 2;
        let (_, bytes) = call(&api, &get_json("a"));
        assert_eq!(
            error(&bytes).message,
            "the host speaks plugin ABI 2.0, this plugin ABI 1.0"
        );

        let mut api = host_api();
        api.size = 24;
        let (_, bytes) = call(&api, &get_json("a"));
        assert_eq!(
            error(&bytes).message,
            "the host's service table is 24 bytes, smaller than the 56 of ABI 1.0"
        );
    }

    #[test]
    fn errors_panics_and_missing_services_map_to_statuses() {
        let api = host_api();
        let (status, bytes) = call(&api, &get_json("unsupported"));
        assert_eq!(
            (status, error(&bytes).kind),
            (Status::UNSUPPORTED, ErrorKind::Unsupported)
        );

        let (status, bytes) = call(&api, &get_json("http"));
        assert_eq!(status, Status::UNSUPPORTED);
        assert_eq!(
            error(&bytes).message,
            "this keyhelm does not offer the http service to plugins"
        );

        let (status, bytes) = call(&api, &get_json("panic"));
        assert_eq!(status, Status::PANIC);
        let e = error(&bytes);
        assert_eq!(e.kind, ErrorKind::Internal);
        assert!(
            e.message
                .starts_with("the plugin panicked: boom (at core/src/sdk.rs:"),
            "{e}"
        );
        // And the provider keeps working afterwards.
        assert_eq!(call(&api, &get_json("a")).0, Status::OK);
    }

    /// A host service that answers `status` with `answer`.
    macro_rules! host_fn {
        ($name:ident, $status:expr, $answer:expr) => {
            unsafe extern "C" fn $name(
                _: *mut core::ffi::c_void,
                _: Slice,
                out: *mut OwnedBuf,
            ) -> Status {
                // SAFETY: the SDK passes a valid, EMPTY OwnedBuf for the host to fill.
                unsafe { out.write(OwnedBuf::from_vec($answer.to_vec())) };
                $status
            }
        };
    }
    host_fn!(broken_http, Status(99), b"not json");
    host_fn!(future_prompt, Status::OK, br#"{"v":2}"#);

    #[test]
    fn a_host_that_misbehaves_is_named_in_the_plugins_error() {
        let mut api = host_api();
        api.http = Some(broken_http);
        api.prompt = Some(future_prompt);
        for (account, message) in [
            ("http", "the host's http service failed with status 99"),
            (
                "prompt",
                "the host answered a prompt with message version 2, this plugin reads version 1 \
                 (update the plugin or keyhelm so that they match)",
            ),
        ] {
            let (status, bytes) = call(&api, &get_json(account));
            let e = error(&bytes);
            assert_eq!(
                (status, e.kind, e.message.as_str()),
                (Status::ERROR, ErrorKind::Internal, message)
            );
        }
    }

    #[test]
    fn a_null_out_pointer_is_refused_without_writing() {
        let api = host_api();
        let table = keyhelm_plugin_entry_v1();
        // SAFETY: our own static table.
        let get = unsafe { (*table).get }.unwrap();
        let req = get_json("a");
        // SAFETY: a null `out` is exactly what is being tested; the SDK must not write.
        let status = unsafe { get(&api, Slice::from_bytes(&req), core::ptr::null_mut()) };
        assert_eq!(status, Status::BAD_REQUEST);
    }

    #[test]
    fn names_are_checked() {
        assert!(is_valid_name("github-enterprise_2"));
        for bad in ["", "Up", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }
}
