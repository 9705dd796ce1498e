#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
//! `list_all` against a listing that moves under it: jobs created between
//! two page fetches push older jobs onto the next page again.

use futures::TryStreamExt;
use serde_json::{Value, json};
use vestis_client::{Client, JobId};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn job(id: u64) -> Value {
    json!({"job_id": id, "status": "pending", "job_type": "chat",
           "created_at": "2026-11-28T10:00:00.000Z"})
}

/// Page `page` (100 a page, newest first) of a listing whose newest id is `newest`.
fn page(page: u64, newest: u64) -> ResponseTemplate {
    let skip = (page - 1) * 100;
    let jobs: Vec<Value> = (1..=newest)
        .rev()
        .skip(skip as usize)
        .take(100)
        .map(job)
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({
        "jobs": jobs,
        "metadata": {"page": page, "page_size": 100, "total": newest,
                     "total_pages": newest.div_ceil(100)}
    }))
}

#[tokio::test]
async fn list_all_yields_every_job_once_when_jobs_are_created_between_pages() {
    let server = MockServer::start().await;
    // Page 1 is fetched with 200 jobs; 3 more are created before page 2.
    Mock::given(method("GET"))
        .and(path("/api/v1/jobs"))
        .and(query_param("page", "1"))
        .respond_with(page(1, 200))
        .mount(&server)
        .await;
    for n in [2, 3] {
        Mock::given(method("GET"))
            .and(path("/api/v1/jobs"))
            .and(query_param("page", n.to_string()))
            .respond_with(page(n, 203))
            .mount(&server)
            .await;
    }
    let client = Client::builder()
        .base_url(format!("{}/api/v1", server.uri()))
        .token("t")
        .build()
        .unwrap();
    let ids: Vec<JobId> = client
        .list_all(None)
        .map_ok(|job| job.job_id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, (1..=200).rev().map(JobId).collect::<Vec<_>>());
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}
