//! Dozens of concurrent clients creating, polling, listing and cancelling
//! hundreds of jobs: afterwards every job is terminal, none is lost or
//! duplicated, and the totals add up.

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::{Method, StatusCode};

use vestis_mock_server::Config;

use crate::util::{Harness, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_lose_and_duplicate_nothing() {
    const CLIENTS: usize = 24;
    const JOBS_EACH: usize = 15;
    let mut config = Config::fast();
    config.workers = 8;
    config.faults.processing_time = "1ms..15ms".parse().unwrap();
    config.faults.failure_rate = 0.2;
    let h = Arc::new(Harness::start(config).await);

    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let h = Arc::clone(&h);
        tasks.push(tokio::spawn(async move {
            let token = format!("client-{}", c % 6);
            let mut mine = Vec::new();
            let mut cancelled = 0usize;
            for i in 0..JOBS_EACH {
                let id = h.chat(&token).await;
                mine.push(id);
                if i % 4 == 0 {
                    let res = h
                        .api(&token, Method::DELETE, &format!("/jobs/{id}"))
                        .send()
                        .await
                        .unwrap();
                    match res.status() {
                        StatusCode::OK => cancelled += 1,
                        StatusCode::CONFLICT => {}
                        other => panic!("cancel answered {other}"),
                    }
                }
                if i % 5 == 0 {
                    let res = h
                        .api(&token, Method::GET, "/jobs?page_size=5")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), StatusCode::OK);
                }
            }
            for id in &mine {
                h.until_terminal(&token, *id).await;
            }
            (token, mine, cancelled)
        }));
    }
    let mut all_ids = BTreeSet::new();
    let mut created = 0;
    let mut cancelled_total = 0;
    for task in tasks {
        let (_, mine, cancelled) = task.await.unwrap();
        created += mine.len();
        cancelled_total += cancelled;
        all_ids.extend(mine);
    }
    assert_eq!(created, CLIENTS * JOBS_EACH);
    assert_eq!(all_ids.len(), created, "no duplicated ids");
    assert_eq!(
        all_ids.iter().copied().collect::<Vec<_>>(),
        (1..=created as u64).collect::<Vec<_>>()
    );

    let (_, admin) = json(h.raw(Method::GET, "/__admin/jobs").send().await.unwrap()).await;
    assert_eq!(admin["total"], created, "none lost");
    let jobs = admin["jobs"].as_array().unwrap();
    assert!(jobs.iter().all(|j| matches!(
        j["status"].as_str(),
        Some("completed" | "failed" | "cancelled")
    )));
    let count = |s: &str| jobs.iter().filter(|j| j["status"] == s).count();
    assert_eq!(count("cancelled"), cancelled_total);
    assert_eq!(
        count("completed") + count("failed") + count("cancelled"),
        created
    );

    // Per-token totals from the API add up to the whole.
    let mut sum = 0;
    for t in 0..6 {
        let (_, page) = json(
            h.api(&format!("client-{t}"), Method::GET, "/jobs?page_size=1")
                .send()
                .await
                .unwrap(),
        )
        .await;
        sum += page["metadata"]["total"].as_u64().unwrap();
        let (_, done) = json(
            h.api(&format!("client-{t}"), Method::GET, "/jobs?status=pending")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(done["metadata"]["total"], 0);
    }
    assert_eq!(sum, created as u64);
}
