//! `hello`: the example keyhelm provider. Its `get` returns `<greeting>-<seed>`, made from
//! the account's setting `greeting` and secret `seed`; when the account sets `check_url`,
//! it first asks the host to GET that URL with the token and reports the status it got.
#![forbid(unsafe_code)]

use keyhelm_core::msg::{ErrorKind, HttpRequest};
use keyhelm_core::sdk::*;
use keyhelm_core::secrecy::{ExposeSecret, SecretString};

#[derive(Default)]
struct Hello;

impl Provider for Hello {
    const NAME: &'static str = "hello";

    fn describe(&self) -> Description {
        Description::new("Hello (example)")
            .setting(SettingSpec::new("greeting", "the token's first word").default_value("hello"))
            .setting(SettingSpec::new("seed", "a secret mixed into the token").secret())
            .setting(SettingSpec::new("check_url", "a URL to GET with the token").optional())
            .url_pattern("https://hello.example/*")
    }

    fn get(&self, host: &Host<'_>, req: GetRequest) -> Result<GetResponse> {
        let seed = req.account.secret("seed").ok_or_else(|| {
            Error::new(ErrorKind::BadSettings, "the account has no secret `seed`")
                .with_hint("add the account again with its `seed` secret")
        })?;
        let greeting = req.account.setting("greeting").unwrap_or("hello");
        let token = SecretString::from(format!("{greeting}-{}", seed.expose_secret()));
        let mut answer = GetResponse::new(token.expose_secret())
            .username(req.request.username.as_deref().unwrap_or("hello"))
            .expires_at(host.now_unix() + 3600);
        if let Some(url) = req.account.setting("check_url") {
            host.debug("checking the token");
            let resp = host.http(&HttpRequest::get(url).bearer(&token))?;
            if resp.status == 401 {
                return Err(Error::new(
                    ErrorKind::AuthFailed,
                    "the check URL refused the token",
                ));
            }
            answer = answer.info("check", format!("HTTP {}", resp.status));
        }
        Ok(answer)
    }
}

keyhelm_core::export_provider!(Hello);
