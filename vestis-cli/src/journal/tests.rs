//! Unit tests of the journal: records, pinning, saving, pruning, forgetting.

use std::fs;
use std::path::Path;

use super::*;

pub(in crate::journal) fn record(key: &str, status: RecordStatus) -> Record {
    Record {
        key: key.into(),
        api_url: "http://x/api/v1".into(),
        identity: fingerprint("t"),
        job_id: None,
        job_created_at: None,
        mock: false,
        kind: JobKind::Chat,
        summary: "prompt".into(),
        created_at: Timestamp::now(),
        updated_at: Timestamp::now(),
        status,
        attempts: 0,
        image_url: None,
        error: None,
        output: None,
        downloaded_to: None,
        payload: Some(serde_json::json!({"prompt": "x"})),
    }
}

fn journal(dir: &Path) -> Journal {
    Journal::at(
        dir.to_owned(),
        Retention {
            max_records: 3,
            max_age: Duration::from_secs(3600),
        },
    )
}

#[test]
fn records_survive_and_update_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path());
    assert!(j.records().unwrap().is_empty());
    let mut a = record("a", RecordStatus::Submitting);
    j.save(&a).unwrap();
    a.status = RecordStatus::Job(JobStatus::Pending);
    j.save(&a).unwrap();
    let all = j.records().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, RecordStatus::Job(JobStatus::Pending));
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[cfg(unix)]
#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path());
    j.save(&record("a", RecordStatus::Submitting)).unwrap();
    let mode = fs::metadata(j.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_corrupt_journal_is_an_error_naming_the_file_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path());
    fs::write(j.path(), "{not json").unwrap();
    let err = j.records().unwrap_err().to_string();
    assert!(
        err.contains("journal.json") && err.contains("corrupt"),
        "{err}"
    );
    assert!(j.save(&record("a", RecordStatus::Submitting)).is_err());
    assert_eq!(
        fs::read_to_string(j.path()).unwrap(),
        "{not json",
        "never silently emptied"
    );
}

#[test]
fn pruning_keeps_unfinished_records_and_the_newest_finished_ones() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path());
    for i in 0..5 {
        j.save(&record(
            &format!("done-{i}"),
            RecordStatus::Job(JobStatus::Completed),
        ))
        .unwrap();
    }
    j.save(&record("open", RecordStatus::Job(JobStatus::Processing)))
        .unwrap();
    let mut old = record("old", RecordStatus::Job(JobStatus::Failed));
    old.updated_at = Timestamp(std::time::SystemTime::now() - Duration::from_secs(7200));
    j.save(&old).unwrap();
    let keys: Vec<String> = j.records().unwrap().into_iter().map(|r| r.key).collect();
    assert_eq!(keys, ["done-2", "done-3", "done-4", "open"]);
}

#[test]
fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::at(
        dir.path().to_owned(),
        Retention {
            max_records: 10_000,
            max_age: Duration::from_secs(3600),
        },
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let j = j.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    j.save(&record(&format!("{t}-{i}"), RecordStatus::Submitting))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(j.records().unwrap().len(), 160);
}

fn job(id: u64, created_at: &str, status: &str) -> Job {
    serde_json::from_value(serde_json::json!({
        "job_id": id, "status": status, "job_type": "chat", "created_at": created_at,
    }))
    .unwrap()
}

#[test]
fn a_record_takes_only_its_own_jobs_state() {
    let mut r = record("a", RecordStatus::Job(JobStatus::Pending));
    r.job_id = Some(JobId(1));
    assert!(r.apply(&job(1, "2026-11-28T10:00:00.000Z", "processing")));
    assert_eq!(r.status, RecordStatus::Job(JobStatus::Processing));
    assert!(r.job_created_at.is_some(), "pinned on first sight");
    // The same id on a reset server: another job.
    let other = job(1, "2026-11-28T11:00:00.000Z", "completed");
    assert!(!r.is_for(&other));
    assert!(!r.apply(&other));
    assert_eq!(r.status, RecordStatus::Gone, "unfinished: its job is gone");
    assert!(r.image_url.is_none(), "nothing taken from the other job");
    // A finished record is left exactly as it was.
    let mut done = record("b", RecordStatus::Job(JobStatus::Completed));
    done.job_id = Some(JobId(1));
    done.job_created_at = Some("2026-11-28T10:00:00.000Z".parse().unwrap());
    let before = done.clone();
    assert!(!done.apply(&other));
    assert_eq!(done, before);
}

#[test]
fn update_job_updates_its_records_and_reports_replaced_ones() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path());
    let mut old = record("old", RecordStatus::Job(JobStatus::Pending));
    old.job_id = Some(JobId(1));
    old.job_created_at = Some("2026-11-28T10:00:00.000Z".parse().unwrap());
    let mut new = record("new", RecordStatus::Job(JobStatus::Pending));
    new.job_id = Some(JobId(1));
    j.save(&old).unwrap();
    j.save(&new).unwrap();
    let current = job(1, "2026-11-28T11:00:00.000Z", "completed");
    let update = j
        .update_job("http://x/api/v1", &current, |r| r.attempts = 7)
        .unwrap();
    assert_eq!(update.updated, 1);
    assert_eq!(update.replaced.len(), 1);
    assert_eq!(update.replaced[0].key, "old");
    let all = j.records().unwrap();
    assert_eq!(all[0].status, RecordStatus::Gone);
    assert_eq!(all[1].status, RecordStatus::Job(JobStatus::Completed));
    assert_eq!(all[1].attempts, 7);
    assert_eq!(
        j.update_job("http://other/api/v1", &current, |_| {})
            .unwrap()
            .updated,
        0,
        "another server's job 1 is not this one"
    );
}

#[test]
fn forgetting_removes_only_what_is_picked() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path());
    for key in ["a", "b", "c"] {
        j.save(&record(key, RecordStatus::Submitting)).unwrap();
    }
    assert_eq!(j.forget(|r| r.key == "b").unwrap(), 1);
    let keys: Vec<String> = j.records().unwrap().into_iter().map(|r| r.key).collect();
    assert_eq!(keys, ["a", "c"]);
    assert_eq!(j.forget(|_| true).unwrap(), 2);
    assert!(j.records().unwrap().is_empty());
}

#[test]
fn statuses_read_old_and_new_names() {
    for (text, status) in [
        ("submitting", RecordStatus::Submitting),
        ("not_sent", RecordStatus::NotSent),
        ("gone", RecordStatus::Gone),
        ("completed", RecordStatus::Job(JobStatus::Completed)),
        ("pending", RecordStatus::Job(JobStatus::Pending)),
    ] {
        let parsed: RecordStatus = serde_json::from_value(serde_json::json!(text)).unwrap();
        assert_eq!(parsed, status);
        assert_eq!(serde_json::to_value(&status).unwrap(), text);
    }
    assert!(!RecordStatus::Submitting.is_finished());
    assert!(RecordStatus::NotSent.is_finished() && RecordStatus::Gone.is_finished());
    assert!(!RecordStatus::Job(JobStatus::Processing).is_finished());
    assert!(RecordStatus::Job(JobStatus::from_wire("archived")) != RecordStatus::Gone);
}

#[test]
fn fingerprints_are_stable_and_hide_the_token() {
    assert_eq!(fingerprint("secret"), fingerprint("secret"));
    assert_ne!(fingerprint("secret"), fingerprint("secret2"));
    assert!(!fingerprint("secret").contains("secret"));
    assert_eq!(fingerprint(""), "cbf29ce484222325");
}
