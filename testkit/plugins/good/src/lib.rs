//! A well-behaved provider for the host's tests. It exercises every host service:
//! `get` exchanges the secret `seed` for a token at `<base_url>/token` when the account has a
//! base URL (else it builds `<greeting>-<seed>`), asks for a code when the setting
//! `ask` is `secret`, logs, reads the clock, and counts its calls in its persisted state.
//! `logout` revokes the token at `<base_url>/revoke`.

use keyhelm_core::msg::ErrorKind;
use keyhelm_core::msg::HttpRequest;
use keyhelm_core::sdk::*;
use keyhelm_core::secrecy::ExposeSecret;

#[derive(Default)]
struct Good;

fn calls_so_far(state: Option<&keyhelm_core::secrecy::SecretString>) -> u64 {
    state
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s.expose_secret()).ok())
        .and_then(|v| v["calls"].as_u64())
        .unwrap_or(0)
}

impl Provider for Good {
    const NAME: &'static str = "good";

    fn describe(&self) -> Description {
        Description::new("Good test provider")
            .setting(SettingSpec::new("greeting", "the token's prefix").default_value("hello"))
            .setting(SettingSpec::new("seed", "the secret the token is made from").secret())
            .setting(SettingSpec::new("ask", "set to `secret` to prompt for a code").optional())
            .setting(
                SettingSpec::new("token_path", "the token endpoint's path").default_value("/token"),
            )
            .url_pattern("https://good.example/*")
            .default_base_url("https://good.example/api")
    }

    fn get(&self, host: &Host<'_>, req: GetRequest) -> Result<GetResponse> {
        host.info(&format!("get for account {}", req.account.name));
        let seed = req
            .account
            .secret("seed")
            .ok_or_else(|| {
                Error::new(ErrorKind::BadSettings, "the account has no `seed`")
                    .with_hint("set it with `keyhelm account edit`")
            })?
            .clone();
        let calls = calls_so_far(req.state.as_ref()) + 1;
        let mut resp = match req.account.base_url.as_deref() {
            Some(base) => {
                let http = host.http(
                    &HttpRequest::post(format!(
                        "{base}{}",
                        req.account.setting("token_path").unwrap_or("/token")
                    ))
                    .header("Accept", "application/json")
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_secret", seed.expose_secret()),
                    ]),
                )?;
                match http.status {
                    200 => {}
                    401 => {
                        return Err(Error::new(
                            ErrorKind::AuthFailed,
                            "the service refused the seed",
                        ));
                    }
                    429 => {
                        let after = http.header("retry-after").and_then(|v| v.parse().ok());
                        let mut e =
                            Error::new(ErrorKind::RateLimited, "the service is rate limiting");
                        e.retry_after = after;
                        return Err(e);
                    }
                    s => {
                        return Err(Error::new(
                            ErrorKind::ServiceError,
                            format!("the token endpoint answered HTTP {s}"),
                        ));
                    }
                }
                let body: serde_json::Value = http.json().map_err(|_| {
                    Error::new(
                        ErrorKind::ServiceError,
                        "the token endpoint's answer is not JSON",
                    )
                })?;
                let token = body["access_token"].as_str().unwrap_or_default().to_owned();
                let mut r = GetResponse::new(token).authtype("Bearer");
                if let Some(secs) = body["expires_in"].as_i64() {
                    r = r.expires_at(host.now_unix() + secs);
                }
                for s in body["scope"]
                    .as_str()
                    .unwrap_or_default()
                    .split_whitespace()
                {
                    r = r.scope(s);
                }
                r
            }
            None => {
                let greeting = req.account.setting("greeting").unwrap_or("hello");
                GetResponse::new(format!("{greeting}-{}", seed.expose_secret()))
            }
        };
        if req.account.setting("ask") == Some("secret") {
            let code = host.prompt_secret("Code for the good provider")?;
            resp.secret =
                format!("{}+{}", resp.secret.expose_secret(), code.expose_secret()).into();
        }
        resp.username = Some(
            req.request
                .username
                .clone()
                .unwrap_or_else(|| "good-user".into()),
        );
        Ok(resp
            .state(StateUpdate::replace(format!("{{\"calls\":{calls}}}")))
            .info("calls", calls.to_string()))
    }

    fn logout(&self, host: &Host<'_>, req: LogoutRequest) -> Result<LogoutResponse> {
        let (Some(base), Some(token)) = (req.account.base_url.as_deref(), req.token.as_ref())
        else {
            return Ok(LogoutResponse::new(false).message("nothing to revoke"));
        };
        let http = host.http(
            &HttpRequest::post(format!("{base}/revoke")).form(&[("token", token.expose_secret())]),
        )?;
        Ok(LogoutResponse::new(http.is_success()))
    }
}

keyhelm_core::export_provider!(Good);
