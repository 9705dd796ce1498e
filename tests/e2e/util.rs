//! Shared helpers: an in-process mock server (from `Config::fast()`), and a client for it.

use std::time::Duration;

use vestis_client::{Client, PollStrategy, WaitOptions};
use vestis_mock_server::{Config, MockServer};

pub(crate) async fn server(config: Config) -> MockServer {
    MockServer::start(config).await.expect("mock server starts")
}

pub(crate) fn client(server: &MockServer, token: &str) -> Client {
    Client::builder()
        .base_url(server.api_url())
        .token(token)
        .build()
        .expect("client builds")
}

/// The guide's fixed schedule, shrunk to 20 ms polls for tests.
pub(crate) fn quick() -> WaitOptions {
    WaitOptions::new(
        PollStrategy::fixed()
            .interval(Duration::from_millis(20))
            .max_polls(500),
    )
    .deadline(Duration::from_secs(20))
}

/// Creates `n` chat jobs one after another; their ids, in order.
pub(crate) async fn create_chats(client: &Client, n: usize) -> Vec<vestis_client::JobId> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let request = vestis_client::ChatRequest::new("x");
        let created = client
            .create(vestis_client::JobKind::Chat, &request)
            .await
            .unwrap();
        ids.push(created.job_id);
    }
    ids
}
