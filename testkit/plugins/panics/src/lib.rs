//! A provider that panics in every call: the SDK must turn each panic into an error.

use keyhelm_core::sdk::*;

#[derive(Default)]
struct Panics;

impl Provider for Panics {
    const NAME: &'static str = "panics";

    fn describe(&self) -> Description {
        panic!("describe exploded")
    }

    fn get(&self, _host: &Host<'_>, _req: GetRequest) -> Result<GetResponse> {
        let v: Vec<u8> = Vec::new();
        let i = v.len() + 3;
        Ok(GetResponse::new(v[i].to_string())) // index out of bounds
    }

    fn logout(&self, _host: &Host<'_>, _req: LogoutRequest) -> Result<LogoutResponse> {
        std::panic::panic_any(42_u32)
    }
}

keyhelm_core::export_provider!(Panics);
