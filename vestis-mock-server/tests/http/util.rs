//! Shared helpers: start a server, send requests, read contract errors.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use vestis_mock_server::{Config, MockServer};

/// A running server and a client for it.
pub(crate) struct Harness {
    pub(crate) server: MockServer,
    pub(crate) http: reqwest::Client,
}

impl Harness {
    pub(crate) async fn start(config: Config) -> Harness {
        Harness {
            server: MockServer::start(config).await.expect("server starts"),
            http: reqwest::Client::new(),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url(), path)
    }

    /// A request with no credentials.
    pub(crate) fn raw(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// An authenticated `/api/v1` request as `token`.
    pub(crate) fn api(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.raw(method, &format!("/api/v1{path}"))
            .bearer_auth(token)
    }

    /// Creates a job of `query` (e.g. `?chat=true`) with `body`; returns its id.
    pub(crate) async fn create(&self, token: &str, query: &str, body: Value) -> u64 {
        let res = self
            .api(token, Method::POST, &format!("/generate{query}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        res.json::<Value>().await.unwrap()["job_id"]
            .as_u64()
            .unwrap()
    }

    pub(crate) async fn chat(&self, token: &str) -> u64 {
        self.create(
            token,
            "?chat=true",
            serde_json::json!({"prompt": "a red dress"}),
        )
        .await
    }

    /// Sends an authenticated `/api/v1` request with no body and asserts a contract error.
    pub(crate) async fn api_error(
        &self,
        token: &str,
        method: Method,
        path: &str,
        status: u16,
        code: &str,
    ) -> Value {
        expect_error(
            self.api(token, method, path).send().await.unwrap(),
            status,
            code,
        )
        .await
    }

    pub(crate) async fn get(&self, token: &str, id: u64) -> (StatusCode, Value) {
        json(
            self.api(token, Method::GET, &format!("/jobs/{id}"))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Polls until the job is terminal (bounded: 10 s of real time).
    pub(crate) async fn until_terminal(&self, token: &str, id: u64) -> Value {
        for _ in 0..1000 {
            let (status, job) = self.get(token, id).await;
            assert_eq!(status, StatusCode::OK, "{job}");
            if matches!(
                job["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            ) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("job {id} never finished");
    }
}

/// The status and JSON body of a response.
pub(crate) async fn json(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    let value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text:?}"));
    (status, value)
}

/// Asserts a contract error: the status, its code, a non-empty message, JSON content type.
pub(crate) async fn expect_error(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let (_, body) = json(res).await;
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        !body["error"].as_str().unwrap_or_default().is_empty(),
        "{body}"
    );
    body
}
