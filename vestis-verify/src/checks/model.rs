//! The job object's rules, as pure functions over one job (the `job_model`
//! group) or one job's snapshots in the order seen (the `lifecycle` group).

use serde_json::Value;

use crate::session::is_terminal;

const STATUSES: [&str; 5] = ["pending", "processing", "completed", "failed", "cancelled"];

/// `true` for a present, non-null value.
fn present(v: &Value) -> bool {
    !v.is_null()
}

/// Missing fields or fields of the wrong JSON type.
pub(crate) fn field_problems(job: &Value) -> Vec<String> {
    if !job.is_object() {
        return vec!["a job that is not a JSON object".to_owned()];
    }
    let mut problems = Vec::new();
    if job["job_id"].as_u64().is_none_or(|id| id == 0) {
        problems.push("job_id is not a positive integer".to_owned());
    }
    for field in ["status", "job_type", "created_at"] {
        if !job[field].is_string() {
            problems.push(format!("{field} is missing or not a string"));
        }
    }
    if !job["attempts"].is_u64() {
        problems.push("attempts is missing or not a non-negative integer".to_owned());
    }
    for field in ["started_at", "completed_at", "error"] {
        if present(&job[field]) && !job[field].is_string() {
            problems.push(format!("{field} is neither a string nor null"));
        }
    }
    if present(&job["result"]) && !job["result"].is_object() {
        problems.push("result is neither an object nor null".to_owned());
    }
    problems
}

/// A timestamp that is not RFC 3339 UTC with `Z`, or out of order.
pub(crate) fn timestamp_problems(job: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut parsed = |name: &str, v: &Value| {
        let text = v.as_str()?;
        let ok = text.ends_with('Z') && humantime::parse_rfc3339(text).is_ok();
        if ok {
            humantime::parse_rfc3339(text).ok()
        } else {
            problems.push(format!(
                "{name} {text:?} is not an RFC 3339 UTC timestamp ending in Z"
            ));
            None
        }
    };
    let created = parsed("created_at", &job["created_at"]);
    let started = parsed("started_at", &job["started_at"]);
    let completed = parsed("completed_at", &job["completed_at"]);
    parsed("result.generated_at", &job["result"]["generated_at"]);
    let order = [
        ("started_at", started, "created_at", created),
        ("completed_at", completed, "created_at", created),
        ("completed_at", completed, "started_at", started),
    ];
    for (later_name, later, earlier_name, earlier) in order {
        if let (Some(later), Some(earlier)) = (later, earlier)
            && later < earlier
        {
            problems.push(format!("{later_name} is before {earlier_name}"));
        }
    }
    problems
}

/// A status that is not one of the five.
pub(crate) fn status_problem(job: &Value) -> Option<String> {
    let status = job["status"].as_str()?;
    (!STATUSES.contains(&status)).then(|| format!("unknown status {status:?}"))
}

/// `result`, `error`, `started_at` and `completed_at` present when, and only when, due.
pub(crate) fn presence_problems(job: &Value) -> Vec<String> {
    let Some(status) = job["status"].as_str().filter(|s| STATUSES.contains(s)) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let mut rule = |ok: bool, text: &str| {
        if !ok {
            problems.push(format!("{status} job: {text}"));
        }
    };
    let result = &job["result"];
    let error = &job["error"];
    if status == "completed" {
        let url = result["image_url"].as_str().unwrap_or_default();
        rule(
            url.starts_with("http://") || url.starts_with("https://"),
            "result.image_url is not an absolute http(s) URL",
        );
        rule(
            result["message"].is_string(),
            "result.message is not a string",
        );
        rule(
            present(&result["generated_at"]),
            "result.generated_at is missing",
        );
    } else {
        rule(!present(result), "result is present");
    }
    match status {
        "failed" => rule(
            error.as_str().is_some_and(|e| !e.trim().is_empty()),
            "error is not a non-empty message",
        ),
        "cancelled" => rule(
            !present(error) || error.as_str().is_some_and(|e| !e.trim().is_empty()),
            "error is present but empty",
        ),
        _ => rule(!present(error), "error is present"),
    }
    rule(
        present(&job["completed_at"]) == is_terminal(status),
        if is_terminal(status) {
            "completed_at is missing"
        } else {
            "completed_at is set before the job ended"
        },
    );
    if let Some(attempts) = job["attempts"].as_u64() {
        rule(
            present(&job["started_at"]) == (attempts > 0),
            "started_at and attempts disagree (started_at is set exactly when attempts > 0)",
        );
        rule(
            status != "processing" || attempts > 0,
            "processing with attempts 0",
        );
    }
    problems
}

fn rank(status: &str) -> Option<u8> {
    match status {
        "pending" => Some(0),
        "processing" => Some(1),
        "completed" | "failed" | "cancelled" => Some(2),
        _ => None,
    }
}

/// A step backwards in one job's snapshots: out of a terminal status, or
/// back to pending without a retry (a retry returns a processing job to
/// pending, and attempts grows when it starts again).
pub(crate) fn backward_step(history: &[Value]) -> Option<String> {
    for pair in history.windows(2) {
        let (Some(a), Some(b)) = (pair[0]["status"].as_str(), pair[1]["status"].as_str()) else {
            continue;
        };
        let (Some(ra), Some(rb)) = (rank(a), rank(b)) else {
            continue;
        };
        let retry = a == "processing" && b == "pending";
        if (ra == 2 && a != b) || (rb < ra && !retry) {
            return Some(format!("status went from {a} to {b}"));
        }
    }
    None
}

/// `attempts` going down between two snapshots of one job.
pub(crate) fn attempts_drop(history: &[Value]) -> Option<String> {
    history.windows(2).find_map(|pair| {
        let (a, b) = (pair[0]["attempts"].as_u64()?, pair[1]["attempts"].as_u64()?);
        (b < a).then(|| format!("attempts went from {a} to {b}"))
    })
}

/// The first difference between terminal snapshots of one job.
pub(crate) fn terminal_change(history: &[Value]) -> Option<(Value, Value)> {
    let mut terminal = history
        .iter()
        .filter(|j| j["status"].as_str().is_some_and(is_terminal));
    let first = terminal.next()?;
    terminal
        .find(|later| *later != first)
        .map(|later| (first.clone(), later.clone()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(status: &str) -> Value {
        json!({
            "job_id": 3, "status": status, "job_type": "chat",
            "created_at": "2026-11-28T10:00:00.000Z", "attempts": 0,
        })
    }

    #[test]
    fn a_pending_job_is_clean() {
        let j = job("pending");
        assert!(field_problems(&j).is_empty());
        assert!(timestamp_problems(&j).is_empty());
        assert!(presence_problems(&j).is_empty());
        assert_eq!(status_problem(&j), None);
    }

    #[test]
    fn timestamps_need_a_zone_and_order() {
        let mut j = job("pending");
        j["created_at"] = json!("2026-11-28T10:00:00.000");
        assert_eq!(timestamp_problems(&j).len(), 1);
        j["created_at"] = json!("2026-11-28T10:00:00.000+02:00");
        assert_eq!(timestamp_problems(&j).len(), 1);
        let mut j = job("processing");
        j["started_at"] = json!("2026-11-28T09:00:00Z");
        assert_eq!(timestamp_problems(&j), ["started_at is before created_at"]);
    }

    #[test]
    fn presence_rules_per_status() {
        let mut done = job("completed");
        done["attempts"] = json!(1);
        done["started_at"] = json!("2026-11-28T10:00:01Z");
        done["completed_at"] = json!("2026-11-28T10:00:02Z");
        assert_eq!(presence_problems(&done).len(), 3, "no result");
        done["result"] = json!({"image_url": "http://h/images/3.png", "message": "m", "generated_at": "2026-11-28T10:00:02Z"});
        assert!(presence_problems(&done).is_empty());
        let mut failed = done.clone();
        failed["status"] = json!("failed");
        assert_eq!(
            presence_problems(&failed).len(),
            2,
            "result present, error missing"
        );
        assert_eq!(
            presence_problems(&job("cancelled")),
            ["cancelled job: completed_at is missing"]
        );
    }

    #[test]
    fn lifecycle_steps() {
        let h = |s: &[(&str, u64)]| -> Vec<Value> {
            s.iter()
                .map(|(st, a)| json!({"status": st, "attempts": a}))
                .collect()
        };
        let retried = h(&[
            ("pending", 0),
            ("processing", 1),
            ("pending", 1),
            ("processing", 2),
            ("failed", 3),
        ]);
        assert_eq!(backward_step(&retried), None);
        assert_eq!(attempts_drop(&retried), None);
        assert!(backward_step(&h(&[("completed", 1), ("processing", 1)])).is_some());
        assert!(backward_step(&h(&[("failed", 1), ("completed", 1)])).is_some());
        assert!(attempts_drop(&h(&[("processing", 2), ("processing", 1)])).is_some());
        assert!(terminal_change(&h(&[("completed", 1), ("completed", 2)])).is_some());
        assert!(
            terminal_change(&h(&[("processing", 1), ("completed", 1), ("completed", 1)])).is_none()
        );
    }
}
