//! The on-disk job journal: what this machine started, so no job is lost.
//!
//! A record is written before the create's POST (with its idempotency key
//! and payload), completed with the job id right after the 202, and saved
//! again on every status change and at the end: a kill at any instant loses
//! nothing, and a create whose answer was lost is replayed with the same key
//! by `vestis resume`. A record belongs to one job: the server's
//! `created_at` for it is pinned on first sight, and a job that comes back
//! under the same id with another `created_at` (a server reset, a restored
//! database) never updates it. The file format, locking and crash safety
//! are in [`log`]. The token is never stored, only a fingerprint.

pub(crate) mod batch;
mod log;
mod path;

pub(crate) use log::{append_line, cut_torn_tail, open_private};

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vestis_client::{Job, JobId, JobKind, JobStatus, Timestamp};

/// Where a record's job stands. Stored as one string: `submitting`,
/// `not_sent`, `gone`, or the job's own status (`pending`, `completed`, …),
/// so journals written before this type existed read unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordStatus {
    /// The create was sent but not answered: the job may or may not exist,
    /// and `vestis resume` replays the create with its idempotency key.
    Submitting,
    /// The create provably never left this machine (connection refused,
    /// DNS failure): there is no job, and none is ever made behind the user's back.
    NotSent,
    /// The job's last known status.
    Job(JobStatus),
    /// The server no longer has this record's job (404, or a different job
    /// under the same id after a reset): finished, so `resume` stops trying.
    Gone,
}

impl RecordStatus {
    /// The stored (and displayed) name.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            RecordStatus::Submitting => "submitting",
            RecordStatus::NotSent => "not_sent",
            RecordStatus::Job(status) => status.as_str(),
            RecordStatus::Gone => "gone",
        }
    }

    /// Whether nothing more will happen to the record's job.
    pub(crate) fn is_finished(&self) -> bool {
        match self {
            RecordStatus::Submitting => false,
            RecordStatus::NotSent | RecordStatus::Gone => true,
            RecordStatus::Job(status) => status.is_terminal(),
        }
    }
}

impl From<&str> for RecordStatus {
    fn from(s: &str) -> RecordStatus {
        match s {
            "submitting" => RecordStatus::Submitting,
            "not_sent" => RecordStatus::NotSent,
            "gone" => RecordStatus::Gone,
            other => RecordStatus::Job(JobStatus::from_wire(other)),
        }
    }
}

impl std::fmt::Display for RecordStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RecordStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RecordStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(RecordStatus::from(s.as_str()))
    }
}

/// One job this machine created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The create's idempotency key; identifies the record before the job has an id.
    pub(crate) key: String,
    /// The API base URL the job lives on.
    pub(crate) api_url: String,
    /// A fingerprint of the token (never the token itself).
    pub(crate) identity: String,
    /// The job id, once the server answered.
    pub(crate) job_id: Option<JobId>,
    /// The server's `created_at` of the job, pinned the first time it is
    /// seen: ids repeat across server lifetimes, creation times do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) job_created_at: Option<Timestamp>,
    /// Created on a `--mock` server, which stopped with its command: never resumable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) mock: bool,
    pub(crate) kind: JobKind,
    /// A short, human summary of the payload.
    pub(crate) summary: String,
    pub(crate) created_at: Timestamp,
    pub(crate) updated_at: Timestamp,
    pub(crate) status: RecordStatus,
    #[serde(default)]
    pub(crate) attempts: u32,
    #[serde(default)]
    pub(crate) image_url: Option<String>,
    #[serde(default)]
    pub(crate) error: Option<String>,
    /// Where the user asked for the PNG (`-o`), so `resume` can save it too.
    #[serde(default, with = "path::optional")]
    pub(crate) output: Option<PathBuf>,
    /// Where the PNG was saved.
    #[serde(default, with = "path::optional")]
    pub(crate) downloaded_to: Option<PathBuf>,
    /// The full payload, kept only until the server has answered the create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) payload: Option<serde_json::Value>,
}

impl Record {
    /// Whether the job reached a terminal status (so the record may be pruned).
    pub(crate) fn is_finished(&self) -> bool {
        self.status.is_finished()
    }

    /// Whether this record is for job `id` on `api_url` (any of its lifetimes).
    pub(crate) fn has_id(&self, api_url: &str, id: JobId) -> bool {
        self.api_url == api_url && self.job_id == Some(id)
    }

    /// Whether `vestis resume` should pick this record up: unfinished, or
    /// completed with its `-o` image not saved yet (the process died
    /// during the download); and not from a `--mock` server (it stopped
    /// with its command).
    pub(crate) fn is_resumable(&self) -> bool {
        !self.mock && (!self.is_finished() || self.awaits_image())
    }

    /// Completed, an image asked for with `-o`, and not saved yet.
    pub(crate) fn awaits_image(&self) -> bool {
        self.status == RecordStatus::Job(JobStatus::Completed)
            && self.output.is_some()
            && self.downloaded_to.is_none()
    }

    /// Whether `job` is this record's job: same id, and the same server
    /// creation time once that is pinned.
    pub(crate) fn is_for(&self, job: &Job) -> bool {
        self.job_id == Some(job.job_id)
            && self
                .job_created_at
                .is_none_or(|t| t.to_string() == job.created_at.to_string())
    }

    /// What the server says about this record's job id: takes `job`'s state
    /// if it is this record's job and returns `true`; otherwise leaves the
    /// record's data alone, marks an unfinished record `gone` (its job can
    /// no longer be on this server) and returns `false`.
    pub(crate) fn apply(&mut self, job: &Job) -> bool {
        if self.is_for(job) {
            self.observe(job);
            return true;
        }
        if !self.is_finished() {
            self.status = RecordStatus::Gone;
            self.error = Some(format!(
                "the server's job {} is another job (created {}): the server was reset or restored",
                job.job_id, job.created_at
            ));
            self.updated_at = Timestamp::now();
        }
        false
    }

    /// Takes the job's latest state.
    fn observe(&mut self, job: &Job) {
        self.job_id = Some(job.job_id);
        self.job_created_at.get_or_insert(job.created_at);
        self.status = RecordStatus::Job(job.status.clone());
        self.attempts = job.attempts;
        if let Some(result) = &job.result {
            self.image_url = Some(result.image_url.clone());
        }
        if job.error.is_some() {
            self.error.clone_from(&job.error);
        }
        self.updated_at = Timestamp::now();
        self.payload = None;
    }
}

/// How much history to keep: finished records beyond `max_records`, or
/// older than `max_age`, are pruned. Resumable records are never pruned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retention {
    pub(crate) max_records: usize,
    pub(crate) max_age: Duration,
}

impl Retention {
    /// 1000 records and 30 days, or `VESTIS_JOURNAL_MAX` / `VESTIS_JOURNAL_DAYS`.
    pub(crate) fn from_env() -> Retention {
        let number = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Retention {
            max_records: number("VESTIS_JOURNAL_MAX").map_or(1000, |n| n as usize),
            max_age: Duration::from_secs(number("VESTIS_JOURNAL_DAYS").unwrap_or(30) * 86_400),
        }
    }
}

/// The journal in one directory.
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    log: log::Log,
    retention: Retention,
}

/// What [`Journal::update_job`] did.
#[derive(Debug, Default)]
pub(crate) struct JobUpdate {
    /// Records of this job that were updated.
    pub(crate) updated: usize,
    /// Unfinished records with the same id whose job is another one: now `gone`.
    pub(crate) replaced: Vec<Record>,
}

/// Journal failures, each naming the file and what to do.
#[derive(Debug)]
pub(crate) enum JournalError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    Corrupt {
        path: PathBuf,
        reason: String,
    },
    /// Another process holds the batch's lock: `pid`, when its lock file says.
    Busy {
        pid: Option<u32>,
    },
}

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JournalError::Io { path, source } => {
                write!(
                    f,
                    "cannot use the job journal at {}: {source}",
                    crate::safe::path(path)
                )?;
                if needs_another_home(source.kind()) {
                    f.write_str(&home_hint())?;
                }
                Ok(())
            }
            JournalError::Busy { pid: Some(pid) } => write!(
                f,
                "another vestis (process {pid}) is running this batch right now, and one batch runs in one process at a time; wait for it to finish, or stop it (`kill {pid}`: its jobs keep running on the server), then run this command again to pick up where it stopped"
            ),
            JournalError::Busy { pid: None } => f.write_str(
                "another vestis is running this batch right now, and one batch runs in one process at a time; wait for it to finish, or find it (`pgrep -a vestis`) and stop it (its jobs keep running on the server), then run this command again to pick up where it stopped",
            ),
            JournalError::Corrupt { path, reason } => write!(
                f,
                "the job journal at {} is corrupt ({reason}); move it aside (it is kept as is) and run again to start a new one",
                crate::safe::path(path)
            ),
        }
    }
}

impl std::error::Error for JournalError {}

/// Whether a failure to use the journal means its directory is unusable
/// for this user (`docker run --user 1234` with `HOME=/`, a read-only
/// `VESTIS_HOME`, a full disk), so another directory is the fix.
fn needs_another_home(kind: io::ErrorKind) -> bool {
    use io::ErrorKind as K;
    matches!(
        kind,
        K::PermissionDenied
            | K::ReadOnlyFilesystem
            | K::NotFound
            | K::NotADirectory
            | K::StorageFull
            | K::QuotaExceeded
    )
}

/// What to do about an unusable journal directory, naming where it came from.
fn home_hint() -> String {
    match std::env::var_os("VESTIS_HOME").filter(|h| !h.is_empty()) {
        Some(home) => format!(
            " (VESTIS_HOME is {}); set VESTIS_HOME to a directory this user can write",
            crate::safe::path(std::path::Path::new(&home))
        ),
        None => format!(
            " (the default under HOME={}); set VESTIS_HOME to a directory this user can write",
            std::env::var_os("HOME").map_or_else(
                || "(unset)".to_owned(),
                |h| crate::safe::path(std::path::Path::new(&h))
            )
        ),
    }
}

/// A lowercase-hex FNV-1a fingerprint: stable across versions and
/// platforms, and never the token itself.
pub(crate) fn fingerprint(token: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in token.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

impl Journal {
    /// The journal in `$VESTIS_HOME`, else the platform's local data directory.
    pub(crate) fn locate() -> Result<Journal, JournalError> {
        let dir = match std::env::var_os("VESTIS_HOME") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => dirs::data_local_dir()
                .map(|d| d.join("vestis"))
                .ok_or_else(|| JournalError::Io {
                    path: PathBuf::from("$HOME/.local/share/vestis"),
                    source: io::Error::new(
                        io::ErrorKind::NotFound,
                        "HOME is not set and this user has no home directory",
                    ),
                })?,
        };
        Ok(Journal::at(dir, Retention::from_env()))
    }

    pub(crate) fn at(dir: PathBuf, retention: Retention) -> Journal {
        Journal {
            log: log::Log::new(dir),
            retention,
        }
    }

    /// The directory the journal's files live in.
    pub(crate) fn dir(&self) -> &std::path::Path {
        self.log.dir()
    }

    /// The log file.
    pub(crate) fn path(&self) -> PathBuf {
        self.log.path()
    }

    /// Every record, oldest first.
    pub(crate) fn records(&self) -> Result<Vec<Record>, JournalError> {
        self.log.locked(|| {
            let mut records = self.log.read()?;
            self.prune(&mut records);
            Ok(records)
        })
    }

    /// Saves `record` (new, or a newer state of one): one appended line,
    /// whatever the journal's size.
    pub(crate) fn save(&self, record: &Record) -> Result<(), JournalError> {
        self.log.locked(|| {
            if self.log.append(record)? {
                let mut records = self.log.read()?;
                self.prune(&mut records);
                self.log.rewrite(&records)?;
            }
            Ok(())
        })
    }

    /// Applies what the server says about `job` (see [`Record::apply`]) to
    /// every record of its id on `api_url`, then `f` to those that are its
    /// records: the one place that finds a job's records.
    pub(crate) fn update_job(
        &self,
        api_url: &str,
        job: &Job,
        mut f: impl FnMut(&mut Record),
    ) -> Result<JobUpdate, JournalError> {
        self.log.locked(|| {
            let mut update = JobUpdate::default();
            for mut record in self.log.read()? {
                if !record.has_id(api_url, job.job_id) {
                    continue;
                }
                let was_finished = record.is_finished();
                if record.apply(job) {
                    f(&mut record);
                    update.updated += 1;
                } else if was_finished {
                    continue;
                } else {
                    update.replaced.push(record.clone());
                }
                self.log.append(&record)?;
            }
            Ok(update)
        })
    }

    /// The newest record of job `id` on `api_url`, if any (whether it is
    /// for the job the server has under that id now is for
    /// [`Record::apply`] to say once the job is seen).
    pub(crate) fn find(records: &[Record], api_url: &str, id: JobId) -> Option<Record> {
        records
            .iter()
            .rev()
            .find(|r| r.has_id(api_url, id))
            .cloned()
    }

    /// Removes the records `forget` picks (rewriting the log); returns how many.
    pub(crate) fn forget(
        &self,
        mut forget: impl FnMut(&Record) -> bool,
    ) -> Result<usize, JournalError> {
        self.log.locked(|| {
            let mut records = self.log.read()?;
            let before = records.len();
            records.retain(|r| !forget(r));
            self.prune(&mut records);
            self.log.rewrite(&records)?;
            Ok(before - records.len())
        })
    }

    fn prune(&self, records: &mut Vec<Record>) {
        let now = Timestamp::now();
        records.retain(|r| {
            r.is_resumable() || now.duration_since(r.updated_at) <= self.retention.max_age
        });
        let finished = records.iter().filter(|r| !r.is_resumable()).count();
        let mut excess = finished.saturating_sub(self.retention.max_records);
        // Oldest first: drop the oldest finished records.
        records.retain(|r| {
            if excess > 0 && !r.is_resumable() {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests;
