//! vestis-client against the real mock server.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use vestis_client::{
    ChatRequest, Error, FlatlayRequest, JobKind, JobStatus, ListOptions, WaitEvent,
};

use vestis_mock_server::Config;

use crate::util::{client, create_chats, quick, server};

#[tokio::test]
async fn every_kind_runs_end_to_end_and_its_image_downloads() {
    let server = server(Config::fast()).await;
    let c = client(&server, "t");
    for kind in JobKind::ALL {
        let created = match kind {
            JobKind::Chat => c.create(kind, &ChatRequest::new("a red dress")).await,
            JobKind::Flatlay => {
                c.create(
                    kind,
                    &FlatlayRequest::new("1", 2, vec![json!({"sku": "A"})]),
                )
                .await
            }
            _ => c.create(kind, &json!({"prompt": "p", "extra": true})).await,
        }
        .unwrap();
        assert_eq!(created.status, JobStatus::Pending);
        let job = c.wait(created.job_id, &quick()).await.unwrap();
        assert_eq!(job.job_type, kind);
        assert_eq!(job.status, JobStatus::Completed);
        let png = c.download(&job.result.unwrap().image_url).await.unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
    }
}

#[tokio::test]
async fn generate_creates_and_waits_in_one_call() {
    let server = server(Config::fast()).await;
    let job = client(&server, "t")
        .generate(JobKind::Chat, &ChatRequest::new("x"), &quick())
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert!(job.image_url().unwrap().ends_with("/images/1.png"));
}

#[tokio::test]
async fn invalid_payloads_are_typed_errors_with_the_servers_message() {
    let server = server(Config::fast()).await;
    let c = client(&server, "t");
    match c.create(JobKind::Chat, &ChatRequest::new("  ")).await {
        Err(Error::InvalidRequest(e)) => {
            assert_eq!(e.status, 400);
            assert_eq!(e.message, "prompt is required");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn list_pages_and_streams_all_jobs_newest_first() {
    let server = server(Config::fast()).await;
    let c = client(&server, "t");
    for i in 0..230 {
        c.create(JobKind::Legacy, &json!({"i": i})).await.unwrap();
    }
    let page = c.list(&ListOptions::page(2, 50)).await.unwrap();
    assert_eq!(page.metadata.total, 230);
    assert_eq!(page.metadata.total_pages, 5);
    assert_eq!(page.jobs.first().unwrap().job_id.0, 180);
    let all: Vec<_> = c.list_all(None).try_collect().await.unwrap();
    assert_eq!(all.len(), 230);
    assert!(all.windows(2).all(|w| w[0].job_id > w[1].job_id));
    let other = client(&server, "someone-else");
    assert_eq!(
        other
            .list(&ListOptions::default())
            .await
            .unwrap()
            .metadata
            .total,
        0
    );
}

#[tokio::test]
async fn cancel_a_pending_job_and_waiting_on_it_reports_the_cancel() {
    let mut config = Config::fast();
    config.workers = 1;
    config.faults.processing_time = "10s".parse().unwrap();
    let server = server(config).await;
    let c = client(&server, "t");
    let busy = c.create(JobKind::Legacy, &json!({})).await.unwrap().job_id;
    let queued = c.create(JobKind::Legacy, &json!({})).await.unwrap().job_id;
    let cancelled = c.cancel(queued).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(matches!(
        c.wait(queued, &quick()).await,
        Err(Error::JobCancelled(_))
    ));
    assert!(matches!(c.cancel(busy).await, Err(Error::Conflict(_))));
    assert!(matches!(
        c.cancel(vestis_client::JobId(999)).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn failed_jobs_are_typed_errors_carrying_the_job() {
    let mut config = Config::fast();
    config.faults.failure_rate = 1.0;
    config.faults.max_attempts = 2;
    let server = server(config).await;
    let c = client(&server, "t");
    let id = c
        .create(JobKind::Chat, &ChatRequest::new("x"))
        .await
        .unwrap()
        .job_id;
    match c.wait(id, &quick()).await {
        Err(Error::JobFailed(job)) => {
            assert_eq!(job.attempts, 2);
            assert!(job.error.unwrap().contains("failed"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_event_stream_shows_the_lifecycle_and_ends_with_finished() {
    let mut config = Config::fast();
    config.faults.processing_time = "150ms".parse().unwrap();
    let server = server(config).await;
    let c = client(&server, "t");
    let id = c
        .create(JobKind::Chat, &ChatRequest::new("x"))
        .await
        .unwrap()
        .job_id;
    let events: Vec<WaitEvent> = c.wait_stream(id, &quick()).collect().await;
    let statuses: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            WaitEvent::StatusChanged { job, .. } => Some(job.status.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(statuses.last().map(String::as_str), Some("completed"));
    assert!(statuses.contains(&"processing".to_owned()));
    assert!(matches!(events.last(), Some(WaitEvent::Finished(Ok(_)))));
}

#[tokio::test]
async fn many_jobs_at_once_each_get_an_outcome() {
    let mut config = Config::fast();
    config.workers = 16;
    config.faults.processing_time = "5ms..60ms".parse().unwrap();
    config.faults.failure_rate = 0.3;
    config.faults.max_attempts = 1;
    let server = server(config).await;
    let c = client(&server, "t");
    let ids = create_chats(&c, 120).await;
    let results: Vec<_> = c
        .wait_many(ids.clone(), &quick().max_in_flight(8))
        .collect()
        .await;
    assert_eq!(results.len(), 120);
    let mut seen: Vec<_> = results.iter().map(|(id, _)| *id).collect();
    seen.sort();
    assert_eq!(seen, ids);
    let completed = results.iter().filter(|(_, r)| r.is_ok()).count();
    let failed = results
        .iter()
        .filter(|(_, r)| matches!(r, Err(Error::JobFailed(_))))
        .count();
    assert_eq!(completed + failed, 120);
    assert!(completed > 0 && failed > 0);
}

/// Waits for `ids` with `options`, returning each job's outcome and how
/// many 429s the waits were told about.
async fn wait_counting_429s(
    c: &vestis_client::Client,
    ids: Vec<vestis_client::JobId>,
    options: &vestis_client::WaitOptions,
) -> (Vec<Result<vestis_client::Job, Error>>, usize) {
    let mut events = std::pin::pin!(c.wait_many_stream(ids, options));
    let (mut outcomes, mut limited) = (Vec::new(), 0);
    while let Some((_, event)) = events.next().await {
        match event {
            WaitEvent::RetryScheduled {
                status: Some(429), ..
            } => limited += 1,
            WaitEvent::Finished(result) => outcomes.push(result),
            _ => {}
        }
    }
    (outcomes, limited)
}

#[tokio::test]
async fn a_rate_limited_batch_still_finishes() {
    let mut config = Config::fast();
    config.faults.rate_limit = Some(5);
    let server = server(config).await;
    let c = client(&server, "t");
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(c.create(JobKind::Legacy, &json!({})).await.unwrap().job_id);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let (outcomes, limited) = wait_counting_429s(&c, ids, &quick()).await;
    assert_eq!(outcomes.len(), 10);
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert!(limited > 0, "the server never rate-limited the batch");
}

/// Issue 7's case: a server allowing one request a second, 20 jobs of 2 s,
/// the guide's default wait (2 s polls, 10 transient errors, 5 minutes).
#[tokio::test]
async fn twenty_jobs_under_one_request_a_second_all_complete_in_time() {
    let mut config = Config::fast();
    config.workers = 20;
    config.faults.processing_time =
        vestis_mock_server::DurationRange::fixed(Duration::from_secs(2));
    let server = server(config).await;
    let c = client(&server, "t");
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(
            c.create(JobKind::Chat, &ChatRequest::new("x"))
                .await
                .unwrap()
                .job_id,
        );
    }
    // The limit starts once the jobs exist, so that the creates are not paced.
    let patched = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .patch(format!("{}/__admin/config", server.url()))
        .json(&json!({"rate_limit": 1}))
        .send()
        .await
        .unwrap();
    assert!(patched.status().is_success());
    let options = vestis_client::WaitOptions::default();
    let (outcomes, limited) = wait_counting_429s(&c, ids, &options).await;
    assert_eq!(outcomes.len(), 20);
    for outcome in &outcomes {
        assert_eq!(outcome.as_ref().unwrap().status, JobStatus::Completed);
    }
    assert!(limited > 0, "the server never rate-limited the batch");
}

#[tokio::test]
async fn an_idempotent_create_replay_returns_the_same_job() {
    let server = server(Config::fast()).await;
    let c = client(&server, "t");
    let options = vestis_client::CreateOptions::default().idempotency_key("order-42");
    let a = c
        .create_with(JobKind::Chat, &ChatRequest::new("x"), &options)
        .await
        .unwrap();
    let b = c
        .create_with(JobKind::Chat, &ChatRequest::new("x"), &options)
        .await
        .unwrap();
    assert_eq!(a.job_id, b.job_id);
    let clash = c
        .create_with(JobKind::Chat, &ChatRequest::new("y"), &options)
        .await;
    assert!(matches!(clash, Err(Error::Conflict(_))));
}
