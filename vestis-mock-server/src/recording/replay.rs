//! `--replay FILE`: a recording read at start and turned into what the
//! queue runs on: the recorded jobs as they were last seen (loaded like
//! fixtures, at start and on every reset), the per-type trajectories new
//! jobs are drawn from, and the kept images their `image_url` serves.
//!
//! What is loaded, and what is left out (and why, for the log):
//!
//! - a job whose `job_type` or `status` this build does not know is
//!   skipped (kept in the file, left out of the replay and out of the
//!   draws), as is one whose `job_id` is 0, past 2^53 - 1, or a duplicate;
//! - owners stay fingerprints: a job goes to a `--token T` whose
//!   fingerprint is its owner, else to `unmapped fp:…`, an owner no bearer
//!   token can be (it holds a space), seen only by the admin API;
//! - the recorded times are moved together so the latest of them is the
//!   moment of loading: the history keeps its shape, ends now, and an
//!   unfinished job continues from where it was;
//! - an image path that is absolute, climbs out of the recording's
//!   directory (`..`, a symbolic link) or names no file is ignored: the
//!   job's `image_url` serves the mock's own generated image instead.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use vestis_client::{JobId, JobKind, JobStatus};

use super::format::{self, RecordedJob, Recording, kept_image};
use crate::hash::{UNMAPPED_OWNER, token_fingerprint};
use crate::queue::{Loaded, MAX_JOB_ID, Profile, State, Trajectory};
use crate::wire_time::parse_time;

/// A recording ready to replay (`--replay FILE`,
/// [`Config::replay`](crate::Config::replay)): read and checked once, at
/// start; cheap to clone.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use vestis_mock_server::{Config, MockServer, Replay};
///
/// let mut config = Config::default();
/// config.replay = Some(Replay::from_file("staging.json".as_ref())?);
/// config.tokens = vec!["dev-token".into()]; // its recorded jobs are this token's
/// config.seed = Some(1); // the same draws on every run
/// let server = MockServer::start(config).await?;
/// # drop(server); Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Replay(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    recording: Recording,
    jobs: Vec<ReplayJob>,
    profile: Arc<Profile>,
    /// Job id to its kept image, checked to lie inside the recording's
    /// directory.
    images: HashMap<u64, PathBuf>,
    /// What was left out, one line each.
    skipped: Vec<String>,
    /// The latest recorded time: what "now" is mapped to on load.
    latest: Option<SystemTime>,
    /// Per job type, the most attempts a loaded job of it shows.
    max_attempts: Vec<(JobKind, u32)>,
    /// Each kept image's `ETag` once computed, with the file's stamp then
    /// (a hash of up to 32 MiB is not redone per request; a `304` then
    /// needs a `stat`, not a read).
    etags: std::sync::Mutex<HashMap<u64, (FileStamp, Arc<str>)>>,
}

/// A kept file's length and modification time: while both stay, its
/// `ETag` is not computed again (another picture under the same path is
/// another stamp, so another tag).
pub(crate) type FileStamp = (u64, Option<SystemTime>);

/// One recorded job, checked, before its owner and times are settled.
#[derive(Debug)]
struct ReplayJob {
    id: u64,
    /// The recorded fingerprint.
    owner: String,
    kind: JobKind,
    state: State,
    payload: serde_json::Value,
    times: [Option<SystemTime>; 3],
    attempts: u32,
    error: Option<String>,
}

impl Replay {
    /// Reads and checks the recording at `path`, with its images.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Recording`](crate::ConfigError::Recording), naming
    /// the file and the problem: it cannot be read, it is not JSON or
    /// not a recording, or its format version is newer than this build
    /// reads.
    pub fn from_file(path: &Path) -> Result<Replay, crate::ConfigError> {
        let recording =
            format::read(path).map_err(|e| crate::ConfigError::Recording(e.to_string()))?;
        Ok(Replay::from_recording(path, recording))
    }

    /// A replay of `recording`, as if read from `path` (images are found
    /// relative to its directory).
    pub(crate) fn from_recording(path: &Path, recording: Recording) -> Replay {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut skipped = Vec::new();
        let mut jobs = Vec::with_capacity(recording.jobs.len());
        let mut images = HashMap::new();
        let mut profile = Profile::default();
        let mut seen = HashSet::new();
        let mut loaded = Vec::with_capacity(recording.jobs.len());
        let mut missing_folders = std::collections::BTreeMap::new();
        for (entry, job) in recording.jobs.iter().enumerate() {
            let job = match replay_job(job) {
                Ok(j) if !seen.insert(j.id) => {
                    skipped.push(format!("job {}: job_id appears twice", j.id));
                    continue;
                }
                Ok(j) => j,
                Err(why) => {
                    skipped.push(format!("entry {entry}: {why}"));
                    continue;
                }
            };
            if let Some(t) = trajectory(&recording.jobs[entry], job.state) {
                profile.add(job.kind, t);
            }
            if let Some(rel) = &recording.jobs[entry].image {
                let folder = Path::new(rel).parent().map(|f| dir.join(f));
                match kept_image(&dir, rel) {
                    Ok(file) => {
                        images.insert(job.id, file);
                    }
                    // A whole images folder missing (copied without it):
                    // one line for the folder, not one per job.
                    Err(_) if folder.as_ref().is_some_and(|f| !f.exists()) => {
                        if let Some(f) = folder {
                            *missing_folders.entry(f).or_insert(0usize) += 1;
                        }
                    }
                    Err(why) => skipped.push(format!(
                        "job {}: image {rel:?} {why}; the mock's generated image is served instead",
                        job.id
                    )),
                }
            }
            jobs.push(job);
            loaded.push(entry);
        }
        for (folder, n) in missing_folders {
            skipped.push(format!(
                "images folder {} is missing: the mock's generated image is served instead for {n} job(s)",
                folder.display()
            ));
        }
        // The summary describes what is replayed: the skipped entries are
        // listed apart (`skipped`), not counted.
        let mut recording = recording;
        let all = std::mem::take(&mut recording.jobs);
        recording.jobs = all
            .into_iter()
            .enumerate()
            .filter(|(entry, _)| loaded.binary_search(entry).is_ok())
            .map(|(_, job)| job)
            .collect();
        let latest = jobs
            .iter()
            .flat_map(|j| j.times.iter().flatten())
            .max()
            .copied();
        let mut max_attempts: Vec<(JobKind, u32)> = Vec::new();
        for job in jobs.iter().filter(|j| j.attempts > 0) {
            // A loaded `pending` job that already ran runs once more
            // here: its attempts end one above the recorded count, and
            // the header must not show fewer than a poll of it will.
            let attempts = if job.state == State::Pending {
                job.attempts.saturating_add(1)
            } else {
                job.attempts
            };
            match max_attempts.iter_mut().find(|(kind, _)| *kind == job.kind) {
                Some((_, most)) => *most = (*most).max(attempts),
                None => max_attempts.push((job.kind, attempts)),
            }
        }
        Replay(Arc::new(Inner {
            max_attempts,
            etags: std::sync::Mutex::default(),
            path: path.to_owned(),
            recording,
            jobs,
            profile: Arc::new(profile),
            images,
            skipped,
            latest,
        }))
    }

    /// The recording's file.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// How many recorded jobs are loaded (the skipped ones left out).
    pub fn len(&self) -> usize {
        self.0.jobs.len()
    }

    /// Whether no recorded job is loaded.
    pub fn is_empty(&self) -> bool {
        self.0.jobs.is_empty()
    }

    /// What was left out of the replay, one line each (logged at start).
    pub fn skipped(&self) -> &[String] {
        &self.0.skipped
    }

    /// The recording as read, its loaded jobs only (`GET
    /// /__admin/recording`'s summary; the skipped ones are in [`Replay::skipped`]).
    pub(crate) fn recording(&self) -> &Recording {
        &self.0.recording
    }

    /// The most attempts a recorded job of `kind` took (the answers'
    /// `X-Mock-Max-Attempts` for that type): `None` for a type the
    /// recording has no started job of (the mock's `max_attempts` then).
    pub(crate) fn max_attempts(&self, kind: JobKind) -> Option<u32> {
        self.0
            .max_attempts
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, n)| *n)
    }

    /// The per-type trajectories new jobs are drawn from.
    pub(crate) fn profile(&self) -> Arc<Profile> {
        Arc::clone(&self.0.profile)
    }

    /// The kept image of recorded job `id`, if it has a usable one.
    pub(crate) fn image(&self, id: u64) -> Option<&Path> {
        self.0.images.get(&id).map(PathBuf::as_path)
    }

    /// Job `id`'s kept image's `ETag` and the file's stamp it was
    /// computed at, once [`Replay::keep_etag`] stored them.
    pub(crate) fn image_etag(&self, id: u64) -> Option<(FileStamp, Arc<str>)> {
        let etags = self
            .0
            .etags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        etags.get(&id).cloned()
    }

    /// Stores job `id`'s kept image's `ETag` (computed from its bytes)
    /// and the file's stamp when read.
    pub(crate) fn keep_etag(&self, id: u64, stamp: FileStamp, etag: Arc<str>) {
        self.0
            .etags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, (stamp, etag));
    }

    /// The recorded jobs to load now: owned by the `tokens` whose
    /// fingerprint recorded them (else unmapped), their times moved so
    /// that the latest recorded one is `now`.
    pub(crate) fn jobs_at(&self, tokens: &[String], now: SystemTime) -> Vec<Loaded> {
        let owners: HashMap<String, &str> = tokens
            .iter()
            .map(|t| (token_fingerprint(t), t.as_str()))
            .collect();
        let shift = |t: SystemTime| match self.0.latest {
            Some(latest) if latest <= now => t + now.duration_since(latest).unwrap_or_default(),
            Some(latest) => t
                .checked_sub(latest.duration_since(now).unwrap_or_default())
                .unwrap_or(t),
            None => t,
        };
        self.0
            .jobs
            .iter()
            .map(|job| {
                let owner: Arc<str> = match owners.get(&job.owner) {
                    Some(token) => Arc::from(*token),
                    None => Arc::from(format!("{UNMAPPED_OWNER}{}", job.owner)),
                };
                let [created_at, started_at, completed_at] = job.times.map(|t| t.map(shift));
                Loaded {
                    id: Some(JobId(job.id)),
                    owner,
                    kind: job.kind,
                    state: job.state,
                    payload: job.payload.clone(),
                    created_at,
                    started_at,
                    completed_at,
                    attempts: Some(job.attempts),
                    error: job.error.clone(),
                }
            })
            .collect()
    }
}

/// One recorded job checked for loading; `Err` says why it is skipped.
fn replay_job(job: &RecordedJob) -> Result<ReplayJob, String> {
    let id = job.job_id;
    if id == 0 || id > MAX_JOB_ID {
        return Err(format!("job_id {id} is outside 1..=2^53-1"));
    }
    let kind: JobKind = job
        .job_type
        .parse()
        .map_err(|_| format!("job {id}: unknown job_type {:?}", job.job_type))?;
    let state = job
        .last
        .status
        .parse::<JobStatus>()
        .ok()
        .as_ref()
        .and_then(State::from_public)
        .ok_or_else(|| format!("job {id}: unknown status {:?}", job.last.status))?;
    let time = |t: &Option<String>| t.as_deref().and_then(parse_time);
    let last = &job.last;
    // The contract ties a processing job to at least one attempt.
    let attempts = match state {
        State::Processing => last.attempts.max(1),
        _ => last.attempts,
    };
    Ok(ReplayJob {
        id,
        owner: job.owner.clone(),
        kind,
        state,
        payload: job
            .payload
            .clone()
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new())),
        times: [
            time(&last.created_at),
            time(&last.started_at),
            time(&last.completed_at),
        ],
        attempts,
        error: last.error.clone().filter(|e| !e.trim().is_empty()),
    })
}

/// What a finished recorded job adds to its type's draws: `None` for one
/// that did not end completed or failed after starting, or whose times
/// cannot be read (the summary's measures, from the same functions).
fn trajectory(job: &RecordedJob, state: State) -> Option<Trajectory> {
    let failed = match state {
        State::Completed => false,
        State::Failed => true,
        _ => return None,
    };
    let (wait, processing) = (job.queue_wait()?, job.processing_time()?);
    let attempts = job.last.attempts.max(1);
    Some(Trajectory {
        wait,
        processing,
        attempts,
        failed,
        error: job
            .last
            .error
            .as_deref()
            .filter(|e| failed && !e.trim().is_empty())
            .map(Box::from),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::recording::format::{Observation, Snapshot};

    fn recorded(id: u64, kind: &str, status: &str, attempts: u32) -> RecordedJob {
        let done = matches!(status, "completed" | "failed" | "cancelled");
        let snapshot = Snapshot {
            status: status.into(),
            attempts,
            created_at: Some("2026-12-06T10:00:00.000Z".into()),
            started_at: (attempts > 0).then(|| "2026-12-06T10:00:01.000Z".into()),
            completed_at: done.then(|| "2026-12-06T10:00:03.000Z".into()),
            error: (status == "failed").then(|| "GPU out of memory".into()),
            image_url: None,
            message: None,
        };
        RecordedJob {
            job_id: id,
            owner: token_fingerprint("alice"),
            job_type: kind.into(),
            payload: Some(serde_json::json!({"prompt": "a red dress"})),
            last: snapshot.clone(),
            observations: vec![Observation {
                seen_at: "2026-12-06T10:00:03.010Z".into(),
                snapshot,
            }],
            image: None,
            image_error: None,
        }
    }

    fn recording(jobs: Vec<RecordedJob>) -> Recording {
        let mut r = Recording::new("https://staging.example/api/v1".into(), "x".into());
        r.jobs = jobs.into_iter().map(Arc::new).collect();
        r
    }

    #[test]
    fn unknown_types_statuses_and_ids_are_skipped_and_said() {
        let r = recording(vec![
            recorded(1, "chat", "completed", 1),
            recorded(2, "hologram", "completed", 1),
            recorded(3, "chat", "archived", 1),
            recorded(0, "chat", "completed", 1),
            recorded(1, "chat", "failed", 2),
        ]);
        let replay = Replay::from_recording(Path::new("r.json"), r);
        assert_eq!(replay.len(), 1);
        let said = replay.skipped().join("\n");
        for what in ["\"hologram\"", "\"archived\"", "job_id 0", "appears twice"] {
            assert!(said.contains(what), "{what}: {said}");
        }
        // Only what is loaded feeds the draws.
        assert_eq!(replay.profile().of(JobKind::Chat).len(), 1);
    }

    #[test]
    fn a_pending_job_that_ran_counts_its_next_attempt_in_the_max() {
        let replay = Replay::from_recording(
            Path::new("r.json"),
            recording(vec![
                recorded(1, "chat", "completed", 2),
                recorded(2, "chat", "pending", 2),
                recorded(3, "flatlay", "processing", 1),
            ]),
        );
        assert_eq!(replay.max_attempts(JobKind::Chat), Some(3));
        assert_eq!(replay.max_attempts(JobKind::Flatlay), Some(1));
    }

    #[test]
    fn owners_map_to_tokens_by_fingerprint_or_stay_unreachable() {
        let mut bob = recorded(2, "flatlay", "pending", 0);
        bob.owner = token_fingerprint("bob");
        let replay = Replay::from_recording(
            Path::new("r.json"),
            recording(vec![recorded(1, "chat", "completed", 1), bob]),
        );
        // A token equal to the fingerprint's text is not the token.
        let tokens = ["alice".to_owned(), token_fingerprint("bob")];
        let jobs = replay.jobs_at(&tokens, SystemTime::now());
        assert_eq!(&*jobs[0].owner, "alice");
        assert_eq!(
            &*jobs[1].owner,
            format!("unmapped {}", token_fingerprint("bob"))
        );
        assert!(jobs[1].owner.contains(' '), "no bearer token has a space");
    }

    #[test]
    fn times_move_together_so_the_latest_is_now() {
        let replay = Replay::from_recording(
            Path::new("r.json"),
            recording(vec![recorded(1, "chat", "completed", 2)]),
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let job = &replay.jobs_at(&[], now)[0];
        assert_eq!(job.completed_at, Some(now));
        assert_eq!(job.started_at, Some(now - Duration::from_secs(2)));
        assert_eq!(job.created_at, Some(now - Duration::from_secs(3)));
        let profile = replay.profile();
        let t = &profile.of(JobKind::Chat)[0];
        assert_eq!((t.attempts, t.failed), (2, false));
        assert_eq!(t.wait + t.processing, Duration::from_secs(3));
    }

    #[test]
    fn image_paths_must_stay_inside_the_recordings_directory() {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("rec");
        std::fs::create_dir_all(rec.join("r.json.images")).unwrap();
        std::fs::write(rec.join("r.json.images/1.png"), b"png").unwrap();
        std::fs::write(dir.path().join("secret.png"), b"secret").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            dir.path().join("secret.png"),
            rec.join("r.json.images/link.png"),
        )
        .unwrap();
        assert!(kept_image(&rec, "r.json.images/1.png").is_ok());
        for (bad, says) in [
            ("../secret.png", "not a plain path"),
            ("../../etc/passwd", "not a plain path"),
            ("/etc/passwd", "not a plain path"),
            ("r.json.images/none.png", "is missing"),
            ("r.json.images", "is not a file"),
            ("", "not a plain path"),
        ] {
            let why = kept_image(&rec, bad).unwrap_err();
            assert!(why.contains(says), "{bad}: {why}");
        }
        #[cfg(unix)]
        assert_eq!(
            kept_image(&rec, "r.json.images/link.png"),
            Err("leads out of the recording's directory")
        );
    }
}
