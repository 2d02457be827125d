//! What the three provider fakes (Intralinks, Clinked, Intellivoid) share: a [`Fake`] runs
//! one [`Service`] (the fake's state and routes) on a loopback server, reads every request
//! completely, answers it under the state's lock with the time of one injectable
//! [`FakeClock`], and logs it for assertions. `FakeIntralinks`, `FakeClinked` and
//! `FakeIntellivoid` are `Fake`s of their service, with their own seeding and admin methods
//! added.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;

use crate::clock::FakeClock;
use crate::server::{Incoming, LoggedRequest, RequestLog, Served, lock};

/// The route logged for a request to a path or method a fake does not serve.
pub const ROUTE_UNMATCHED: &str = "(unmatched)";

/// A fake's state and routes, as [`Fake`] runs them: the default state holds the default
/// knobs and no data. Implemented by the provider fakes of this crate; tests use the fakes,
/// not this trait.
pub trait Service: Default + Send + 'static {
    /// The fake's knobs.
    type Config;
    /// The name of the fake's type, for `Debug` (e.g. `FakeIntralinks`).
    const TYPE_NAME: &'static str;
    /// The service, for messages (e.g. `Intralinks`).
    const NAME: &'static str;
    /// Where the API starts below the server's root (e.g. `/intellivoid/v1`).
    const API_PREFIX: &'static str = "";

    /// The knobs, to change at run time.
    fn config_mut(&mut self) -> &mut Self::Config;

    /// Answers one request at time `now` (the fake clock's); `root` is the server's
    /// `http://127.0.0.1:<port>`. Returns the route for the log (one of the fake's
    /// `ROUTE_*` constants) and the response.
    fn dispatch(&mut self, req: &Incoming, now: SystemTime, root: &str)
    -> (&'static str, Response);
}

/// A running provider fake; dropping it stops the server.
pub struct Fake<S: Service> {
    served: Served<Shared<S>>,
}

struct Shared<S> {
    state: Mutex<S>,
    clock: FakeClock,
    log: RequestLog,
    root: String,
}

impl<S: Service> Fake<S> {
    /// Starts the fake with default knobs. Panics if it cannot start.
    pub fn start() -> Self
    where
        S::Config: Default,
    {
        Self::start_with(S::Config::default())
    }

    /// Starts the fake with `config`. Panics if it cannot start.
    pub fn start_with(config: S::Config) -> Self {
        Self::try_start(config, FakeClock::new())
            .unwrap_or_else(|e| panic!("cannot start the {} fake: {e}", S::NAME))
    }

    /// Starts the fake with `config` and `clock`.
    pub fn try_start(config: S::Config, clock: FakeClock) -> io::Result<Self> {
        let mut state = S::default();
        *state.config_mut() = config;
        let make_state = |root| Shared {
            state: Mutex::new(state),
            clock,
            log: RequestLog::default(),
            root,
        };
        let served = Served::start(S::NAME, false, make_state, handle::<S>)?;
        Ok(Self { served })
    }

    /// The URL a client is configured with: `http://127.0.0.1:<port>` followed by the API
    /// prefix, if the service has one (Intellivoid: `/intellivoid/v1`); no trailing slash.
    pub fn base_url(&self) -> String {
        format!("{}{}", self.root_url(), S::API_PREFIX)
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn root_url(&self) -> String {
        self.served.url()
    }

    /// The clock every expiry check uses.
    pub fn clock(&self) -> &FakeClock {
        &self.served.state().clock
    }

    /// Changes knobs at run time.
    pub fn update_config(&self, change: impl FnOnce(&mut S::Config)) {
        change(self.state().config_mut());
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log().all()
    }

    /// The requests to one route (use the fake's `ROUTE_*` constants).
    pub fn requests_to(&self, route: &str) -> Vec<LoggedRequest> {
        self.log().for_route(route)
    }

    /// The fake's state, locked.
    pub(crate) fn state(&self) -> MutexGuard<'_, S> {
        lock(&self.served.state().state)
    }

    /// The request log.
    pub(crate) fn log(&self) -> &RequestLog {
        &self.served.state().log
    }
}

impl<S: Service> fmt::Debug for Fake<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(S::TYPE_NAME)
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

async fn handle<S: Service>(
    State(shared): State<Arc<Shared<S>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let incoming = match Incoming::read(req, peer).await {
        Ok(incoming) => incoming,
        Err(error) => return error.into_response(),
    };
    let now = shared.clock.now();
    let (route, response) = lock(&shared.state).dispatch(&incoming, now, &shared.root);
    shared.log.push(incoming.to_log(route, response.status()));
    response
}
