//! The baselines' canned answers: the contract's shapes with fixed values, so
//! the baselines send as many bytes as the mock server does.

use serde_json::{Value, json};

/// A completed job as `GET /api/v1/jobs/{id}` returns it; `base` is the
/// server's `http://host:port`, for the image URL.
///
/// # Examples
///
/// ```
/// let job = vestis_bench::canned::job("http://127.0.0.1:1");
/// assert_eq!(job["status"], "completed");
/// ```
pub fn job(base: &str) -> Value {
    json!({
        "job_id": 1, "status": "completed", "job_type": "chat",
        "created_at": "2026-11-28T10:00:00.000Z", "started_at": "2026-11-28T10:00:00.000Z",
        "completed_at": "2026-11-28T10:00:03.000Z", "attempts": 1,
        "result": {"image_url": format!("{base}/images/1.png"),
                   "generated_at": "2026-11-28T10:00:03.000Z",
                   "message": "Image generated successfully"},
        "error": null
    })
}

/// The `202` body of `POST /api/v1/generate`.
///
/// # Examples
///
/// ```
/// assert_eq!(vestis_bench::canned::created()["status"], "pending");
/// ```
pub fn created() -> Value {
    json!({"success": true, "job_id": 1, "status": "pending", "message": "Job queued for processing"})
}

/// A page of 20 completed jobs, as `GET /api/v1/jobs?page_size=20` returns it.
///
/// # Examples
///
/// ```
/// let page = vestis_bench::canned::page("http://127.0.0.1:1");
/// assert_eq!(page["jobs"].as_array().map(Vec::len), Some(20));
/// ```
pub fn page(base: &str) -> Value {
    let jobs: Vec<Value> = (0..20).map(|_| job(base)).collect();
    json!({"jobs": jobs, "metadata": {"page": 1, "page_size": 20, "total": 20, "total_pages": 1}})
}
