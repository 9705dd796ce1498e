//! The recording file: what a proxying mock server saw of a real backend's
//! jobs (`--proxy-to URL --record FILE`), and what `--replay FILE` loads.
//!
//! One JSON document, versioned, written whole and atomically (a temporary
//! file in the same directory, fsynced, renamed over the old one, the
//! directory fsynced): a reader sees the previous recording or the new
//! one, never half of either, whenever the writer is killed. Images are
//! kept beside it, one file each, in `FILE.images/`, named in the job's
//! entry by a path relative to the recording's directory, so the pair can
//! be committed and replayed offline.
//!
//! Nothing secret is written: a job's owner is the fingerprint of its
//! bearer token (`fp:` and 16 hex digits, as in the request journal), and
//! only a replay given the token (`--token T`) learns which jobs were its.
//!
//! Times the real server reported are kept verbatim as strings (they are
//! its clock, in whatever RFC 3339 form it writes); `seen_at` times are the
//! recording mock's own clock, with milliseconds.
//!
//! # Compatibility
//!
//! [`FORMAT`] names the file kind and [`VERSION`] its layout. A reader
//! refuses another kind and a newer version with an error that names the
//! problem; fields added within a version are optional (`#[serde(default)]`)
//! and unknown fields are ignored, so older readers of the same version
//! still load it.

use std::fs;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wire_time::parse_time;

/// The value of the file's `format` field: says what kind of file it is.
pub(crate) const FORMAT: &str = "vestis-mock-recording";

/// The newest layout this build reads and the one it writes.
pub(crate) const VERSION: u32 = 1;

/// A whole recording file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Recording {
    /// Always [`FORMAT`].
    pub(crate) format: String,
    /// The layout's version: [`VERSION`] when written by this build.
    pub(crate) version: u32,
    /// The real API recorded (the `--proxy-to` URL, without credentials,
    /// query or fragment), e.g. `https://staging.example/api/v1`.
    pub(crate) source: String,
    /// When recording started, on the recording mock's clock (RFC 3339).
    pub(crate) started_at: String,
    /// When this copy was written, on the recording mock's clock.
    pub(crate) saved_at: String,
    /// Every job seen, in the order first seen. Shared, not owned: a
    /// copy of the recording (a save's, the summary's) copies pointers,
    /// not payloads and observations, and the recorder changes a job in
    /// place (`Arc::make_mut`) unless a copy still holds it.
    #[serde(with = "shared_jobs")]
    pub(crate) jobs: Vec<Arc<RecordedJob>>,
}

/// `jobs` as a plain JSON array of jobs: the `Arc` is memory only (no
/// serde `rc` feature needed, and the file is the same).
mod shared_jobs {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::RecordedJob;

    pub(super) fn serialize<S: Serializer>(
        jobs: &[Arc<RecordedJob>],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(jobs.iter().map(|job| &**job))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Arc<RecordedJob>>, D::Error> {
        let jobs = Vec::<RecordedJob>::deserialize(deserializer)?;
        Ok(jobs.into_iter().map(Arc::new).collect())
    }
}

impl Recording {
    /// An empty recording of `source`, started at `started_at`.
    pub(crate) fn new(source: String, started_at: String) -> Recording {
        Recording {
            format: FORMAT.to_owned(),
            version: VERSION,
            source,
            saved_at: started_at.clone(),
            started_at,
            jobs: Vec::new(),
        }
    }
}

/// One job of the real backend, as last seen, with every distinct state it
/// was seen in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RecordedJob {
    /// The real server's `job_id`.
    pub(crate) job_id: u64,
    /// `fp:0123456789abcdef`: the fingerprint of the bearer token that
    /// created or polled it (never the token).
    pub(crate) owner: String,
    /// The real server's `job_type`, verbatim (`chat`, `flatlay`, ...; a
    /// type this build does not know is kept and skipped on replay).
    pub(crate) job_type: String,
    /// The create request's JSON body, when the job was created through
    /// the proxy; `None` when it was only polled.
    #[serde(default)]
    pub(crate) payload: Option<serde_json::Value>,
    /// The job's fields as the real server last answered them.
    pub(crate) last: Snapshot,
    /// Each distinct state seen, oldest first: a poll that shows nothing
    /// new adds nothing. The last one equals `last`.
    pub(crate) observations: Vec<Observation>,
    /// The image of a completed job, fetched once from the real server:
    /// a path relative to the recording's directory
    /// (`recording.json.images/123.png`). `None` until fetched, or when the
    /// fetch failed (then `image_error` says why).
    #[serde(default)]
    pub(crate) image: Option<String>,
    /// Why the image could not be fetched, if it could not.
    #[serde(default)]
    pub(crate) image_error: Option<String>,
}

impl RecordedJob {
    /// How long it waited before its first attempt: `started_at -
    /// created_at` on the real server's clock. `None` before it started,
    /// when a time is missing or unreadable, or when the clock went back.
    ///
    /// The recorder's summary and the replay's distributions both use
    /// these three measures, so what `GET /__admin/recording` reports is
    /// what a replay draws from.
    pub(crate) fn queue_wait(&self) -> Option<Duration> {
        between(&self.last.created_at, &self.last.started_at)
    }

    /// First attempt's start to the terminal state: `completed_at -
    /// started_at` on the real server's clock, every attempt and the
    /// waits between them included. `None` until it ended after starting.
    pub(crate) fn processing_time(&self) -> Option<Duration> {
        between(&self.last.started_at, &self.last.completed_at)
    }

    /// Of its attempts so far, how many failed: all of a `failed` job's,
    /// all but the last of a `completed` one's, and, for a job still
    /// running, each one that sent it back to `pending` (seen as
    /// `attempts` growing). `(failed, attempts)`.
    pub(crate) fn failed_attempts(&self) -> (u32, u32) {
        let attempts = self.last.attempts;
        let failed = match self.last.status.as_str() {
            "failed" => attempts,
            "completed" => attempts.saturating_sub(1),
            "processing" => attempts.saturating_sub(1),
            _ => attempts, // pending again after `attempts` tries, or cancelled before one
        };
        (failed, attempts)
    }
}

fn between(from: &Option<String>, to: &Option<String>) -> Option<Duration> {
    let from = parse_time(from.as_deref()?)?;
    let to = parse_time(to.as_deref()?)?;
    to.duration_since(from).ok()
}

/// A job's fields as the real server reported them at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    /// `pending`, `processing`, `completed`, `failed`, `cancelled`, or a
    /// status this build does not know, verbatim.
    pub(crate) status: String,
    /// Processing attempts started so far.
    pub(crate) attempts: u32,
    /// The real server's times, verbatim.
    pub(crate) created_at: Option<String>,
    pub(crate) started_at: Option<String>,
    pub(crate) completed_at: Option<String>,
    /// The job's error text (a failed job, or a cancelled one that has it).
    #[serde(default)]
    pub(crate) error: Option<String>,
    /// The real server's `result.image_url` (a completed job); the replay
    /// serves the kept image instead.
    #[serde(default)]
    pub(crate) image_url: Option<String>,
    /// The real server's `result.message`, if any.
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// One state of a job, and when the recording mock first saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Observation {
    /// On the recording mock's clock (RFC 3339, milliseconds).
    pub(crate) seen_at: String,
    /// The job's fields at that moment.
    #[serde(flatten)]
    pub(crate) snapshot: Snapshot,
}

/// Why a recording could not be read or written. Each message names the
/// file and the problem, for the one-line error at start (exit 2).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordingError {
    /// The file could not be read or written.
    #[error("recording {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Not JSON, or JSON of another shape.
    #[error("recording {path} is not a recording: {reason}")]
    NotARecording {
        /// The file.
        path: PathBuf,
        /// What was wrong, with line and column when serde knows them.
        reason: String,
    },
    /// A recording written by a newer build.
    #[error(
        "recording {path} has format version {found}, newer than this vestis-mock-server reads (up to {VERSION}); upgrade vestis-mock-server"
    )]
    NewerVersion {
        /// The file.
        path: PathBuf,
        /// The file's version.
        found: u32,
    },
}

/// Reads and checks a recording: the kind first, then the version, then
/// the layout, so a newer file says "newer" rather than "malformed".
///
/// # Errors
///
/// [`RecordingError::Io`] when the file cannot be read,
/// [`RecordingError::NotARecording`] when it is not JSON or not a
/// recording, [`RecordingError::NewerVersion`] when its version is above
/// [`VERSION`].
pub(crate) fn read(path: &Path) -> Result<Recording, RecordingError> {
    let bytes = fs::read(path).map_err(|source| RecordingError::Io {
        path: path.to_owned(),
        source,
    })?;
    let not_one = |reason: String| RecordingError::NotARecording {
        path: path.to_owned(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| not_one(format!("not JSON: {e}")))?;
    let format = value.get("format").and_then(serde_json::Value::as_str);
    if format != Some(FORMAT) {
        return Err(not_one(format!(
            "expected \"format\": \"{FORMAT}\" at the top level"
        )));
    }
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| not_one("\"version\" must be a positive integer".into()))?;
    if version > u64::from(VERSION) {
        return Err(RecordingError::NewerVersion {
            path: path.to_owned(),
            found: u32::try_from(version).unwrap_or(u32::MAX),
        });
    }
    serde_json::from_value(value).map_err(|e| not_one(e.to_string()))
}

/// Writes `recording` to `path` atomically: a temporary file beside it,
/// fsynced, renamed over `path`, then the directory fsynced. A process
/// killed at any point leaves the previous file or the new one whole.
///
/// # Errors
///
/// [`RecordingError::Io`] when any step fails; `path` is then untouched
/// (the temporary file is removed when it can be).
pub(crate) fn write(path: &Path, recording: &Recording) -> Result<(), RecordingError> {
    let io = |source| RecordingError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".recording-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(io)?;
    let bytes = serde_json::to_vec_pretty(recording).map_err(|e| io(e.into()))?;
    tmp.write_all(&bytes).map_err(io)?;
    tmp.write_all(b"\n").map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    // The rename is durable only once the directory is.
    if let Ok(d) = fs::File::open(&dir) {
        d.sync_all().map_err(io)?;
    }
    Ok(())
}

/// The directory that holds `recording`'s images: `FILE.images` beside it.
pub(crate) fn images_dir(recording: &Path) -> PathBuf {
    let mut name = recording.as_os_str().to_owned();
    name.push(".images");
    PathBuf::from(name)
}

/// `url` without its query and fragment: what a recording, an error text
/// or a log may hold of an image URL. A presigned CDN URL carries its
/// credentials in the query (`?X-Amz-Signature=...`); the full URL stays in
/// the recorder's memory for the fetch only.
pub(crate) fn without_query(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

/// The kept image's file, when `rel` names a file inside `dir`: relative,
/// no `..`, and still inside once symbolic links are resolved. `Err` says
/// why not.
///
/// The one check for an image a recording names: the replay serves only
/// such files, and the recorder continuing a recording keeps only such
/// entries (a hand-edited `"image": "../../.ssh/id_rsa"` is never read).
pub(crate) fn kept_image(dir: &Path, rel: &str) -> Result<PathBuf, &'static str> {
    let path = Path::new(rel);
    let plain = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain || rel.is_empty() {
        return Err("is not a plain path inside the recording's directory");
    }
    let file = dir.join(path);
    let (Ok(file), Ok(dir)) = (file.canonicalize(), dir.canonicalize()) else {
        return Err("is missing");
    };
    if !file.starts_with(&dir) {
        return Err("leads out of the recording's directory");
    }
    if !file.is_file() {
        return Err("is not a file");
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Recording {
        let snapshot = Snapshot {
            status: "completed".into(),
            attempts: 2,
            created_at: Some("2026-12-06T10:00:00.000Z".into()),
            started_at: Some("2026-12-06T10:00:01.000Z".into()),
            completed_at: Some("2026-12-06T10:00:03.500Z".into()),
            error: None,
            image_url: Some("https://staging.example/images/7.png".into()),
            message: Some("Image generated successfully".into()),
        };
        let mut r = Recording::new(
            "https://staging.example/api/v1".into(),
            "2026-12-06T09:59:00.000Z".into(),
        );
        r.jobs.push(Arc::new(RecordedJob {
            job_id: 7,
            owner: "fp:0123456789abcdef".into(),
            job_type: "chat".into(),
            payload: Some(serde_json::json!({"prompt": "a red dress"})),
            last: snapshot.clone(),
            observations: vec![Observation {
                seen_at: "2026-12-06T10:00:03.510Z".into(),
                snapshot,
            }],
            image: Some("r.json.images/7.png".into()),
            image_error: None,
        }));
        r
    }

    #[test]
    fn a_written_recording_reads_back_equal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        write(&path, &sample()).unwrap();
        assert_eq!(read(&path).unwrap(), sample());
        // Rewriting replaces it whole and leaves no temporary file behind.
        write(&path, &sample()).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn other_files_are_refused_naming_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        for (text, says) in [
            ("not json", "not JSON"),
            ("[]", "\"format\""),
            (r#"{"format":"har"}"#, "\"format\""),
            (r#"{"format":"vestis-mock-recording"}"#, "\"version\""),
            (
                r#"{"format":"vestis-mock-recording","version":1,"jobs":[]}"#,
                "missing field",
            ),
        ] {
            fs::write(&path, text).unwrap();
            let e = read(&path).unwrap_err();
            assert!(matches!(e, RecordingError::NotARecording { .. }), "{e}");
            assert!(e.to_string().contains(says), "{text}: {e}");
            assert!(e.to_string().contains("x.json"), "{e}");
        }
    }

    #[test]
    fn a_newer_version_is_refused_as_newer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let mut v = serde_json::to_value(sample()).unwrap();
        v["version"] = (VERSION + 1).into();
        v["something_new"] = true.into();
        fs::write(&path, v.to_string()).unwrap();
        let e = read(&path).unwrap_err();
        assert!(
            matches!(e, RecordingError::NewerVersion { found, .. } if found == VERSION + 1),
            "{e}"
        );
        assert!(e.to_string().contains("upgrade"), "{e}");
    }

    #[test]
    fn fields_unknown_to_this_version_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let mut v = serde_json::to_value(sample()).unwrap();
        v["added_later"] = 1.into();
        v["jobs"][0]["also_later"] = "x".into();
        fs::write(&path, v.to_string()).unwrap();
        assert_eq!(read(&path).unwrap(), sample());
    }

    #[test]
    fn the_measures_come_from_the_real_servers_times() {
        let mut job = (*sample().jobs.remove(0)).clone();
        assert_eq!(job.queue_wait(), Some(Duration::from_secs(1)));
        assert_eq!(job.processing_time(), Some(Duration::from_millis(2500)));
        assert_eq!(job.failed_attempts(), (1, 2));
        job.last.status = "failed".into();
        assert_eq!(job.failed_attempts(), (2, 2));
        job.last.status = "pending".into();
        job.last.started_at = None;
        job.last.completed_at = None;
        assert_eq!((job.queue_wait(), job.processing_time()), (None, None));
        job.last.started_at = Some("not a time".into());
        assert_eq!(job.queue_wait(), None);
    }

    #[test]
    fn images_live_beside_the_recording() {
        assert_eq!(
            images_dir(Path::new("dir/staging.json")),
            PathBuf::from("dir/staging.json.images")
        );
    }
}
