//! The host services lent to a plugin during one call: log, http, prompt, now.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use keyhelm_core::abi::{self, HostApi, OwnedBuf, Slice, Status};
use keyhelm_core::msg::{
    ErrorKind, ErrorMessage, HttpRequest, MESSAGE_VERSION, Prompt, PromptRequest, PromptResponse,
    Versioned,
};

use super::http::{self, HttpLimits, Origin};
use crate::tty::{Prompter, Terminal, TtyError};

/// What the host lets a plugin do during a call for one account: which origins its HTTP
/// requests may reach, whether it may prompt, which clock it sees, and size limits.
#[derive(Debug, Clone)]
pub struct HostServices {
    account: String,
    allowed_origins: Vec<Origin>,
    interactive: bool,
    prompter: Option<Arc<dyn Prompter>>,
    fixed_now_ms: Option<i64>,
    http_limits: HttpLimits,
    max_answer_bytes: usize,
}

impl HostServices {
    /// Services for a call on behalf of `account`: no origin allowed, no prompts, the real
    /// clock, default limits.
    pub fn new(account: impl Into<String>) -> HostServices {
        HostServices {
            account: account.into(),
            allowed_origins: Vec::new(),
            interactive: false,
            prompter: None,
            fixed_now_ms: None,
            http_limits: HttpLimits::default(),
            max_answer_bytes: 1 << 20,
        }
    }

    /// Allows HTTP requests to `origin`.
    pub fn allow_origin(mut self, origin: Origin) -> HostServices {
        if !self.allowed_origins.contains(&origin) {
            self.allowed_origins.push(origin);
        }
        self
    }

    /// Allows the origins of these URLs (e.g. the account's base URL and URL patterns).
    pub fn allow_origins_of<'a>(
        mut self,
        urls: impl IntoIterator<Item = &'a str>,
    ) -> Result<HostServices, http::OriginError> {
        for u in urls {
            self = self.allow_origin(Origin::from_url(u)?);
        }
        Ok(self)
    }

    /// Lets the plugin prompt. Prompts go to `prompter`, or, when none is set, to the
    /// controlling terminal, opened on the first prompt.
    pub fn interactive(mut self, yes: bool) -> HostServices {
        self.interactive = yes;
        self
    }

    /// Sends prompts to `prompter` instead of the terminal.
    pub fn prompter(mut self, prompter: Arc<dyn Prompter>) -> HostServices {
        self.prompter = Some(prompter);
        self
    }

    /// Makes the plugin's clock read `unix_ms` (tests).
    pub fn fixed_clock(mut self, unix_ms: i64) -> HostServices {
        self.fixed_now_ms = Some(unix_ms);
        self
    }

    /// Replaces the HTTP limits.
    pub fn http_limits(mut self, limits: HttpLimits) -> HostServices {
        self.http_limits = limits;
        self
    }

    /// The largest answer accepted from the plugin (default 1 MiB).
    pub fn max_answer_bytes(mut self, n: usize) -> HostServices {
        self.max_answer_bytes = n;
        self
    }

    /// The cap on plugin answers.
    pub fn answer_cap(&self) -> usize {
        self.max_answer_bytes
    }

    /// The account name.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The allowed origins.
    pub fn allowed_origins(&self) -> &[Origin] {
        &self.allowed_origins
    }
}

/// The state behind `HostApi::ctx` during one call.
pub(super) struct CallCtx<'a> {
    pub(super) services: &'a HostServices,
    pub(super) plugin: &'a str,
    terminal: OnceLock<Result<Arc<dyn Prompter>, String>>,
}

impl<'a> CallCtx<'a> {
    pub(super) fn new(services: &'a HostServices, plugin: &'a str) -> Self {
        CallCtx {
            services,
            plugin,
            terminal: OnceLock::new(),
        }
    }

    /// The table handed to the plugin; valid while `self` is.
    pub(super) fn api(&self) -> HostApi {
        HostApi {
            size: std::mem::size_of::<HostApi>(),
            abi_major: abi::ABI_MAJOR,
            abi_minor: abi::ABI_MINOR,
            ctx: (self as *const CallCtx<'_>).cast_mut().cast::<c_void>(),
            log: Some(host_log),
            http: Some(host_http),
            prompt: Some(host_prompt),
            now_ms: Some(host_now_ms),
        }
    }

    fn prompter(&self) -> Result<Arc<dyn Prompter>, ErrorMessage> {
        let needs = |reason: String| {
            ErrorMessage::new(ErrorKind::NeedsInteraction, reason).with_hint(format!(
                "log in from a terminal first: `keyhelm login {}`",
                self.services.account
            ))
        };
        if !self.services.interactive {
            return Err(needs(TtyError::not_allowed().to_string()));
        }
        if let Some(p) = &self.services.prompter {
            return Ok(p.clone());
        }
        let t = self.terminal.get_or_init(|| {
            Terminal::open()
                .map(|t| Arc::new(t) as Arc<dyn Prompter>)
                .map_err(|e| e.to_string())
        });
        t.clone().map_err(needs)
    }

    fn log(&self, level: u32, msg: &str) {
        let msg = crate::tty::sanitize(msg);
        let plugin = self.plugin;
        let account = self.services.account.as_str();
        match level {
            abi::log_level::ERROR => {
                tracing::error!(target: "keyhelm::plugin", plugin, account, "{msg}")
            }
            abi::log_level::WARN => {
                tracing::warn!(target: "keyhelm::plugin", plugin, account, "{msg}")
            }
            abi::log_level::INFO => {
                tracing::info!(target: "keyhelm::plugin", plugin, account, "{msg}")
            }
            abi::log_level::DEBUG => {
                tracing::debug!(target: "keyhelm::plugin", plugin, account, "{msg}")
            }
            _ => tracing::trace!(target: "keyhelm::plugin", plugin, account, "{msg}"),
        }
    }

    fn http(&self, req: &[u8]) -> Result<Vec<u8>, ErrorMessage> {
        let req: HttpRequest = parse(req, "http")?;
        let resp = http::execute(
            self.plugin,
            &self.services.account,
            &self.services.allowed_origins,
            &self.services.http_limits,
            req,
        )?;
        encode(&resp)
    }

    fn prompt(&self, req: &[u8]) -> Result<Vec<u8>, ErrorMessage> {
        let req: PromptRequest = parse(req, "prompt")?;
        let p = self.prompter()?;
        let tty = |e: TtyError| match e {
            TtyError::NotInteractive { .. } => {
                ErrorMessage::new(ErrorKind::NeedsInteraction, e.to_string())
            }
            e => ErrorMessage::new(ErrorKind::Other, e.to_string()),
        };
        let resp = match req.prompt {
            Prompt::Text { message, default } => {
                let v = p.text(&message, default.as_deref()).map_err(tty)?;
                PromptResponse::value(v.into())
            }
            Prompt::Secret { message } => PromptResponse::value(p.secret(&message).map_err(tty)?),
            Prompt::Confirm { message, default } => {
                PromptResponse::confirmed(p.confirm(&message, default).map_err(tty)?)
            }
            Prompt::Message { message } => {
                p.message(&message).map_err(tty)?;
                PromptResponse::empty()
            }
            Prompt::OpenUrl { message, url } => {
                PromptResponse::opened(p.open_url(&message, &url).map_err(tty)?)
            }
            _ => {
                return Err(ErrorMessage::new(
                    ErrorKind::Unsupported,
                    "this keyhelm does not know that kind of prompt",
                )
                .with_hint("update keyhelm"));
            }
        };
        encode(&resp)
    }

    fn now_ms(&self) -> i64 {
        if let Some(ms) = self.services.fixed_now_ms {
            return ms;
        }
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ErrorMessage> {
    let bad = |e: serde_json::Error| {
        ErrorMessage::new(
            ErrorKind::Internal,
            format!(
                "the plugin's {what} request {}",
                keyhelm_core::json::describe_error(&e)
            ),
        )
    };
    let v: Versioned = serde_json::from_slice(bytes).map_err(bad)?;
    if v.v != MESSAGE_VERSION {
        return Err(ErrorMessage::new(
            ErrorKind::Internal,
            format!(
                "the plugin's {what} request uses message version {}, and keyhelm reads version \
                 {MESSAGE_VERSION}",
                v.v
            ),
        )
        .with_hint("update keyhelm or the plugin"));
    }
    serde_json::from_slice(bytes).map_err(bad)
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, ErrorMessage> {
    let mut z = keyhelm_core::json::to_vec(v).map_err(|e| {
        ErrorMessage::new(
            ErrorKind::Internal,
            format!("could not encode the answer: {e}"),
        )
    })?;
    Ok(std::mem::take(&mut *z))
}

/// Recovers the call context from `ctx`.
///
/// # Safety
///
/// `ctx` must be the pointer `CallCtx::api` put in the table, during the call.
#[expect(unsafe_code, reason = "recovers the context pointer")]
unsafe fn ctx<'a>(ctx: *mut c_void) -> Option<&'a CallCtx<'a>> {
    // SAFETY: per the contract, ctx is null or points to the live CallCtx that built the
    // table; the plugin only hands back what we gave it. A plugin that forges the pointer
    // is already running arbitrary code in our process, so this adds no new exposure.
    unsafe { ctx.cast::<CallCtx<'a>>().as_ref() }
}

/// Writes a service's result into `out`.
#[expect(unsafe_code, reason = "writes the plugin's out buffer")]
fn finish(out: *mut OwnedBuf, r: Result<Vec<u8>, ErrorMessage>) -> Status {
    if out.is_null() {
        return Status::BAD_REQUEST;
    }
    let (status, bytes) = match r {
        Ok(b) => (Status::OK, b),
        Err(e) => {
            let st = match e.kind {
                ErrorKind::Unsupported => Status::UNSUPPORTED,
                ErrorKind::Internal => Status::BAD_REQUEST,
                _ => Status::ERROR,
            };
            (st, encode(&e).unwrap_or_default())
        }
    };
    // SAFETY: `out` is non-null and, per the HostApi contract, points to a writable
    // OwnedBuf owned by the plugin for this call; we overwrite it without reading it. The
    // plugin frees the buffer with the free function we store in it.
    unsafe { out.write(OwnedBuf::from_vec(bytes)) };
    status
}

fn panicked() -> ErrorMessage {
    ErrorMessage::new(
        ErrorKind::Internal,
        "keyhelm's service failed unexpectedly (a bug in keyhelm)",
    )
}

#[expect(unsafe_code, reason = "ABI callback")]
unsafe extern "C" fn host_log(c: *mut c_void, level: u32, msg: Slice) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the plugin passes back our ctx and a slice valid for this call.
        let (Some(c), bytes) = (unsafe { ctx(c) }, unsafe { msg.as_bytes() }) else {
            return;
        };
        c.log(level, &String::from_utf8_lossy(bytes));
    }));
}

#[expect(unsafe_code, reason = "ABI callback")]
unsafe extern "C" fn host_http(c: *mut c_void, req: Slice, out: *mut OwnedBuf) -> Status {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the plugin passes back our ctx and a request slice valid for this call.
        let (Some(c), bytes) = (unsafe { ctx(c) }, unsafe { req.as_bytes() }) else {
            return Err(ErrorMessage::new(ErrorKind::Internal, "no host context"));
        };
        c.http(bytes)
    }));
    finish(out, r.unwrap_or_else(|_| Err(panicked())))
}

#[expect(unsafe_code, reason = "ABI callback")]
unsafe extern "C" fn host_prompt(c: *mut c_void, req: Slice, out: *mut OwnedBuf) -> Status {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the plugin passes back our ctx and a request slice valid for this call.
        let (Some(c), bytes) = (unsafe { ctx(c) }, unsafe { req.as_bytes() }) else {
            return Err(ErrorMessage::new(ErrorKind::Internal, "no host context"));
        };
        c.prompt(bytes)
    }));
    finish(out, r.unwrap_or_else(|_| Err(panicked())))
}

#[expect(unsafe_code, reason = "ABI callback")]
unsafe extern "C" fn host_now_ms(c: *mut c_void) -> i64 {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the plugin passes back our ctx.
        match unsafe { ctx(c) } {
            Some(c) => c.now_ms(),
            None => 0,
        }
    }))
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tty::NonInteractive;

    #[test]
    fn requests_keyhelm_cannot_serve_say_why() {
        let services = HostServices::new("w")
            .interactive(true)
            .prompter(Arc::new(NonInteractive::new("a test")));
        let ctx = CallCtx::new(&services, "p");
        type Answer = Result<Vec<u8>, ErrorMessage>;
        let cases: [(Answer, ErrorKind, &str, Option<&str>); 4] = [
            (
                ctx.prompt(br#"{"v":1,"kind":"hologram","message":"hi"}"#),
                ErrorKind::Unsupported,
                "this keyhelm does not know that kind of prompt",
                Some("update keyhelm"),
            ),
            (
                ctx.prompt(br#"{"v":2,"kind":"message","message":"hi"}"#),
                ErrorKind::Internal,
                "the plugin's prompt request uses message version 2, and keyhelm reads version 1",
                Some("update keyhelm or the plugin"),
            ),
            (
                ctx.http(br#"{"v":2,"method":"GET","url":"https://x.example/"}"#),
                ErrorKind::Internal,
                "the plugin's http request uses message version 2, and keyhelm reads version 1",
                Some("update keyhelm or the plugin"),
            ),
            (
                ctx.http(b"{"),
                ErrorKind::Internal,
                "the plugin's http request ends too early (line 1, column 1)",
                None,
            ),
        ];
        for (answer, kind, message, hint) in cases {
            let e = answer.unwrap_err();
            assert_eq!(
                (e.kind, e.message.as_str(), e.hint.as_deref()),
                (kind, message, hint)
            );
        }
    }
}
