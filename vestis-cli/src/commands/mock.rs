//! The bundled mock server behind `--mock`, present only with the `mock`
//! feature (on by default). `cargo install vestis-cli --no-default-features`
//! builds a client-only `vestis`: no `--mock` flag, no server code, and here
//! a `MockServer` type with no values, so the commands compile unchanged and
//! their mock branches are provably dead.

#[cfg(feature = "mock")]
pub(crate) use vestis_mock_server::MockServer;

/// Starts the mock server in-process on a free port, with its defaults.
#[cfg(feature = "mock")]
pub(crate) async fn start() -> anyhow::Result<MockServer> {
    use anyhow::Context as _;
    MockServer::start(vestis_mock_server::Config::default())
        .await
        .context("could not start the bundled mock server")
}

/// No mock server in this build: the type cannot be constructed.
#[cfg(not(feature = "mock"))]
pub(crate) enum MockServer {}

#[cfg(not(feature = "mock"))]
impl MockServer {
    /// Never called: there is no value to call it on.
    pub(crate) fn api_url(&self) -> String {
        match *self {}
    }
}

/// Never reached: without the feature there is no `--mock` flag to ask for it.
#[cfg(not(feature = "mock"))]
pub(crate) async fn start() -> anyhow::Result<MockServer> {
    Err(crate::exit::Failure::usage(
        "this vestis was built without the `mock` feature (cargo install vestis-cli)",
    )
    .into())
}
