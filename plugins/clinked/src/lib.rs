//! keyhelm provider plugin for [Clinked](https://clinked.com) (`libkeyhelm_clinked.so`).
//!
//! **Who this is for:** keyhelm users whose scripts call Clinked's API. The crate is a
//! `cdylib` loaded by keyhelm; its Rust API is not public (the `rlib` exists for tests).
//!
//! Settings: `username` (required) and the secret `password` (optional: without it keyhelm
//! asks at each login). The first login uses the password grant (with a two-factor code
//! prompted on the terminal when Clinked asks for one), registers keyhelm as an application
//! of the user once (`POST /v2/applications`), and keeps the application's client id and
//! secret as plugin state. Every later token comes from the client-credentials grant, with
//! no password and no prompt. See `docs/providers/clinked.md`.
//!
//! Modules: [`api`] builds the requests and classifies the answers (pure functions, unit
//! tested); [`state`] is the persisted application; [`flow`] drives them through the host.
#![forbid(unsafe_code)]

pub mod api;
pub mod flow;
pub mod state;

use keyhelm_core::sdk::{
    Description, GetRequest, GetResponse, Host, LogoutRequest, LogoutResponse, Provider, Result,
    SettingSpec,
};

/// The Clinked provider.
#[derive(Debug, Default)]
pub struct Clinked;

impl Provider for Clinked {
    const NAME: &'static str = "clinked";

    fn describe(&self) -> Description {
        Description::new("Clinked")
            .setting(SettingSpec::new(
                "username",
                "your Clinked login name (usually your e-mail address)",
            ))
            .setting(
                SettingSpec::new(
                    "password",
                    "your Clinked password; only needed to log in and register keyhelm \
                     (leave it empty to be asked at each login)",
                )
                .secret()
                .optional(),
            )
            .url_pattern("https://api.clinked.com/")
            .default_base_url(api::DEFAULT_BASE_URL)
    }

    fn get(&self, host: &Host<'_>, req: GetRequest) -> Result<GetResponse> {
        flow::get(host, &req)
    }

    fn logout(&self, _host: &Host<'_>, req: LogoutRequest) -> Result<LogoutResponse> {
        Ok(LogoutResponse::new(false).message(logout_message(&req.account.name)))
    }
}

/// What `keyhelm logout` tells the user: nothing can be revoked through Clinked's API.
fn logout_message(account: &str) -> String {
    format!(
        "Clinked has no API to revoke tokens or applications: keyhelm forgot the token and the \
         application it registered (\"keyhelm ({account})\"); the last token keeps working at \
         Clinked until it expires, and the next login registers a new application"
    )
}

keyhelm_core::export_provider!(Clinked);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_lists_the_settings_and_the_default_url() {
        let d = Clinked.describe();
        assert_eq!(d.display_name, "Clinked");
        assert_eq!(
            d.default_base_url.as_deref(),
            Some("https://api.clinked.com")
        );
        let keys: Vec<_> = d
            .settings
            .iter()
            .map(|s| (s.key.as_str(), s.secret, s.required))
            .collect();
        assert_eq!(keys, [("username", false, true), ("password", true, false)]);
    }

    #[test]
    fn logout_explains_that_nothing_was_revoked() {
        assert_eq!(
            logout_message("work"),
            "Clinked has no API to revoke tokens or applications: keyhelm forgot the token and \
             the application it registered (\"keyhelm (work)\"); the last token keeps working at \
             Clinked until it expires, and the next login registers a new application"
        );
    }
}
