//! The recording proxy's memory: every job seen through `--proxy-to`,
//! each distinct state it was seen in, the follower that polls unfinished
//! jobs on the real backend until they end, the images kept, and the saves
//! of the recording file (at start, every few seconds when it changed, on
//! `POST /__admin/recording` and at stop).
//!
//! Owners' tokens live here in memory only, for as long as their job is
//! followed or its image fetched; the recording holds their fingerprints.
//!
//! Bounded: one follower task and one saver task whatever the number of
//! jobs, at most [`CONCURRENCY`] requests to the backend at once, at most
//! [`MAX_FOLLOWED`] jobs followed, at most [`MAX_IMAGES_IN_MEMORY`] images
//! in memory without `--record`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use axum::body::Bytes;
use futures::StreamExt as _;
use serde_json::Value;
use tokio::sync::{OnceCell, watch};

use super::format::{self, Observation, RecordedJob, Recording, RecordingError, Snapshot};
use super::upstream::Upstream;
use crate::config::Proxy;
use crate::hash::token_fingerprint;
use crate::wire_time::wire_time;

/// Requests to the real backend at once, for polls and image fetches.
pub(crate) const CONCURRENCY: usize = 16;
/// Jobs followed at once; a job seen past it is recorded when a client
/// sees it, not polled by the proxy (a warning says so, once).
pub(crate) const MAX_FOLLOWED: usize = 10_000;
/// Images kept in memory without `--record`; past it the oldest is
/// dropped and fetched again if asked for.
pub(crate) const MAX_IMAGES_IN_MEMORY: usize = 1_000;

/// Where an image is kept, with its `ETag` (computed once: hashing up to
/// 32 MiB per request would cost every request, `304`s included).
#[derive(Debug)]
enum Kept {
    Memory(Bytes, Arc<str>),
    /// The `ETag` is computed on the first read of a file found kept.
    File(PathBuf, std::sync::OnceLock<Arc<str>>),
}

/// A kept image as served: its bytes and its `ETag`.
#[derive(Debug, Clone)]
pub(crate) struct KeptImage {
    pub(crate) bytes: Bytes,
    pub(crate) etag: Arc<str>,
}

/// A job the follower polls, with its owner's token (memory only).
#[derive(Debug)]
struct Followed {
    token: Arc<str>,
    /// When the job was last seen, by a client's answer through the proxy
    /// or by the follower's own poll: the follower polls it again only
    /// `follow_every` after that, so a job its client polls anyway costs
    /// the backend nothing more.
    seen: Instant,
    /// Polls in a row that failed (5xx, a 503 without `Retry-After`, no
    /// answer): each doubles the wait before the next, up to
    /// [`MAX_FAILURE_BACKOFF`]; a good answer sets it back to 0.
    failures: u32,
}

/// The longest wait between two polls of a followed job whose polls keep
/// failing: 2,000 jobs against a backend that is down cost it at most
/// 2,000 requests a minute, not one each per `--follow-every`.
pub(crate) const MAX_FAILURE_BACKOFF: Duration = Duration::from_secs(60);

/// How long after its last poll a followed job is due again, after
/// `failures` failed polls in a row: `follow_every`, doubled per failure,
/// at most [`MAX_FAILURE_BACKOFF`] (or `follow_every` if that is longer).
fn poll_interval(follow_every: Duration, failures: u32) -> Duration {
    let doubled = follow_every.saturating_mul(1u32 << failures.min(16));
    doubled.min(MAX_FAILURE_BACKOFF.max(follow_every))
}

/// The shortest pause of the follower's polls for a token the backend
/// rate-limited, whatever its `Retry-After` says (`0` included).
pub(crate) const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// The longest such pause, whatever its `Retry-After` says.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The pause after a 429 without a readable `Retry-After`.
pub(crate) const DEFAULT_BACKOFF: Duration = Duration::from_secs(5);

/// How long the follower leaves `token`'s jobs alone after the backend
/// answered `status` with `headers`: a 429 (its `Retry-After`, else
/// [`DEFAULT_BACKOFF`]) or a 503 with a `Retry-After`, bounded to
/// [`MIN_BACKOFF`]..=[`MAX_BACKOFF`]; `None` for any other answer.
/// `Retry-After` is read in both of its forms (RFC 9110 §10.2.3): seconds,
/// or an HTTP date (the wait until then on this machine's clock; a date
/// passed is [`MIN_BACKOFF`]).
pub(crate) fn backoff(status: u16, headers: &axum::http::HeaderMap) -> Option<Duration> {
    let retry_after = headers
        .get(axum::http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .and_then(|v| {
            let seconds = v
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(MAX_BACKOFF.as_secs_f64())));
            seconds.or_else(|| {
                let when = httpdate::parse_http_date(v).ok()?;
                Some(
                    when.duration_since(SystemTime::now())
                        .unwrap_or(Duration::ZERO),
                )
            })
        });
    let pause = match (status, retry_after) {
        (429, Some(d)) | (503, Some(d)) => d,
        (429, None) => DEFAULT_BACKOFF,
        _ => return None,
    };
    Some(pause.clamp(MIN_BACKOFF, MAX_BACKOFF))
}

#[derive(Debug)]
struct Inner {
    recording: Recording,
    /// Job id to its index in `recording.jobs`.
    index: HashMap<u64, usize>,
    /// Unfinished jobs to poll.
    follow: BTreeMap<u64, Followed>,
    /// Tokens (by fingerprint) the backend rate-limited, and until when
    /// the follower leaves their jobs alone; expired entries are dropped
    /// each round.
    paused: HashMap<String, Instant>,
    /// Completed jobs whose image the follower fetches, with the owner's token.
    fetch: BTreeMap<u64, Arc<str>>,
    /// A create's payload, until the job is first seen whole.
    payloads: HashMap<u64, Value>,
    /// Bumped on every change; `saved` is the version last written.
    version: u64,
    saved: u64,
    warned_full: bool,
    /// Whether the warning for a job id reused by the backend (another
    /// `created_at`) was given.
    warned_reused: bool,
    /// Each job's full image URL as the backend last gave it (query
    /// included), for the fetch; never written.
    image_urls: HashMap<u64, String>,
}

/// What a save wrote.
#[derive(Debug)]
pub(crate) struct Saved {
    pub(crate) path: PathBuf,
    pub(crate) jobs: usize,
}

/// The recording proxy's state (one per server, in `Shared`).
#[derive(Debug)]
pub(crate) struct Recorder {
    upstream: Upstream,
    path: Option<PathBuf>,
    follow_every: Duration,
    save_every: Duration,
    inner: Mutex<Inner>,
    images: Mutex<BTreeMap<u64, Arc<OnceCell<Kept>>>>,
    /// Serialises the file's writes, so an older copy never lands last.
    writing: Mutex<()>,
}

/// Now on the recording mock's clock (RFC 3339, milliseconds).
fn now() -> String {
    wire_time(SystemTime::now())
        .fixed()
        .map(|text| String::from_utf8_lossy(&text).into_owned())
        .unwrap_or_default()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn is_terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "cancelled")
}

/// A status's place among the states with the same `attempts`, to refuse
/// an older answer that arrives after a newer one: attempt N runs
/// (`processing`, N), then fails back to `pending` (still N) or ends.
fn rank(status: &str) -> u8 {
    match status {
        "processing" => 0,
        "pending" => 1,
        _ => 2,
    }
}

/// The job id, type and state of a job object as the contract writes it;
/// `None` for anything less than a whole job (a create's answer).
fn read_job(job: &Value) -> Option<(u64, String, Snapshot)> {
    let id = job.get("job_id")?.as_u64()?;
    let status = job.get("status")?.as_str()?.to_owned();
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let created_at = Some(text(job.get("created_at"))?);
    let result = job.get("result");
    let snapshot = Snapshot {
        status,
        attempts: job
            .get("attempts")
            .and_then(Value::as_u64)
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        created_at,
        started_at: text(job.get("started_at")),
        completed_at: text(job.get("completed_at")),
        error: text(job.get("error")),
        image_url: text(result.and_then(|r| r.get("image_url"))),
        message: text(result.and_then(|r| r.get("message"))),
    };
    let job_type = text(job.get("job_type")).unwrap_or_else(|| "legacy".to_owned());
    Some((id, job_type, snapshot))
}

impl Recorder {
    /// The recorder for `proxy`: with `proxy.record`, continues the file
    /// if it is a recording already, starts an empty one if there is none,
    /// and writes it once at once (so a path that cannot be written is
    /// refused at start, not at the first save).
    ///
    /// # Errors
    ///
    /// A sentence naming the file and the problem: not a recording (it
    /// would be overwritten), a newer version, or not writable.
    pub(crate) fn open(proxy: &Proxy) -> Result<Recorder, String> {
        let upstream = Upstream::new(proxy)?;
        let source = upstream.base().to_owned();
        let recording = match &proxy.record {
            Some(path) if path.exists() => {
                let mut recording = format::read(path).map_err(|e| match e {
                    RecordingError::NotARecording { .. } => {
                        format!("{e}; refusing to overwrite it (choose another file)")
                    }
                    other => other.to_string(),
                })?;
                let recorded = recording.source.trim_end_matches('/');
                if recorded != source {
                    return Err(format!(
                        "{}: is a recording of {recorded}, not of --proxy-to {source}; continuing it would mix the jobs of two backends (choose another file)",
                        path.display()
                    ));
                }
                drop_unsafe_images(&mut recording, path);
                recording
            }
            _ => Recording::new(source, now()),
        };
        let index = recording
            .jobs
            .iter()
            .enumerate()
            .map(|(i, job)| (job.job_id, i))
            .collect();
        let recorder = Recorder {
            upstream,
            path: proxy.record.clone(),
            follow_every: proxy.follow_every,
            save_every: proxy.save_every,
            inner: Mutex::new(Inner {
                recording,
                index,
                follow: BTreeMap::new(),
                paused: HashMap::new(),
                fetch: BTreeMap::new(),
                payloads: HashMap::new(),
                version: 0,
                saved: 0,
                warned_full: false,
                warned_reused: false,
                image_urls: HashMap::new(),
            }),
            images: Mutex::new(BTreeMap::new()),
            writing: Mutex::new(()),
        };
        if recorder.path.is_some() {
            recorder.save().map_err(|e| e.to_string())?;
        }
        Ok(recorder)
    }

    /// The real backend.
    pub(crate) fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The recording file, when recording to one.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// How many jobs the recording holds (the dashboard's line).
    pub(crate) fn len(&self) -> usize {
        lock(&self.inner).recording.jobs.len()
    }

    /// A copy of the recording as it stands (for the summary): the jobs
    /// are shared (`Arc`), so the lock is held for a copy of pointers, not
    /// of payloads and observations.
    pub(crate) fn recording(&self) -> Recording {
        lock(&self.inner).recording.clone()
    }

    /// Takes in what a client's answer showed (`token`'s): every whole job
    /// in it (a poll's job, a list's `jobs`), or the id a create or a
    /// cancel answered with (then followed, with the create's `payload`).
    ///
    /// Returns the ids of the jobs refused as another job on an id the
    /// recording holds (the backend's ids restarted): their answers must
    /// keep the backend's `image_url`, since this mock's `/images/{id}.png`
    /// serves the recorded job's image.
    pub(crate) fn seen(&self, token: &str, answer: &Value, payload: Option<Value>) -> Vec<u64> {
        let token: Arc<str> = Arc::from(token);
        let mut inner = lock(&self.inner);
        let mut refused = Vec::new();
        if let Some(jobs) = answer.get("jobs").and_then(Value::as_array) {
            for job in jobs {
                if let Some((id, job_type, snapshot)) = read_job(job)
                    && !inner.observe(&token, id, job_type, snapshot)
                {
                    refused.push(id);
                }
            }
        } else if let Some((id, job_type, snapshot)) = read_job(answer) {
            if !inner.observe(&token, id, job_type, snapshot) {
                refused.push(id);
            }
        } else if let Some(id) = answer.get("job_id").and_then(Value::as_u64) {
            let done = inner
                .index
                .get(&id)
                .is_some_and(|&i| is_terminal(&inner.recording.jobs[i].last.status));
            if !done {
                inner.follow_job(id, &token);
            }
            // Kept only for a job followed (a job past MAX_FOLLOWED would
            // leave its payload here for ever when no client polls it).
            if let Some(payload) = payload
                && !inner.index.contains_key(&id)
                && inner.follow.contains_key(&id)
            {
                inner.payloads.insert(id, payload);
            }
        }
        refused
    }

    /// Polls every unfinished job seen, every `follow_every`, until each
    /// is terminal, and fetches each completed job's image; ends when
    /// `closing` turns true.
    pub(crate) async fn follow(self: Arc<Self>, mut closing: watch::Receiver<bool>) {
        // Rounds four times as often as a job is due (each round polls
        // only the jobs not seen for `follow_every`), so a job nobody else
        // polls is polled every 1 to 1.25 `follow_every`.
        let round = (self.follow_every / 4)
            .max(Duration::from_millis(10))
            .min(self.follow_every);
        let mut tick = tokio::time::interval(round);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = closing.wait_for(|c| *c) => return,
            }
            tokio::select! {
                () = self.follow_once() => {}
                _ = closing.wait_for(|c| *c) => return,
            }
        }
    }

    /// Pauses the follower's polls of `token`'s jobs for `pause` (a 429
    /// or a 503 with `Retry-After`, see [`backoff`]); a longer pause
    /// already running stays.
    pub(crate) fn pause(&self, token: &str, pause: Duration) {
        let until = Instant::now() + pause;
        let mut inner = lock(&self.inner);
        let entry = inner
            .paused
            .entry(token_fingerprint(token))
            .or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Whether the follower leaves `token`'s jobs alone now.
    fn is_paused(&self, token: &str) -> bool {
        let inner = lock(&self.inner);
        if inner.paused.is_empty() {
            return false;
        }
        inner
            .paused
            .get(&token_fingerprint(token))
            .is_some_and(|until| *until > Instant::now())
    }

    /// One round: a poll of each followed job not seen for `follow_every`
    /// whose owner is not paused, a fetch of each image due.
    async fn follow_once(&self) {
        let now = Instant::now();
        let (polls, fetches): (Vec<_>, Vec<_>) = {
            let mut inner = lock(&self.inner);
            inner.paused.retain(|_, until| *until > now);
            let follow_every = self.follow_every;
            // A poll counts as seeing the job whatever it answers; a job
            // whose polls fail waits twice as long after each failure (see
            // `poll_interval`), so a backend that is down is not stormed.
            let polls = inner
                .follow
                .iter_mut()
                .filter(|(_, f)| {
                    now.duration_since(f.seen) >= poll_interval(follow_every, f.failures)
                })
                .map(|(id, f)| {
                    f.seen = now;
                    (*id, f.token.clone())
                })
                .collect();
            (polls, inner.fetch.keys().copied().collect())
        };
        futures::stream::iter(polls)
            .for_each_concurrent(CONCURRENCY, |(id, token)| async move {
                // Checked per poll: another poll of this round may have
                // been told to wait.
                if self.is_paused(&token) {
                    return;
                }
                match self.upstream.poll(id, &token).await {
                    Ok(answer) if answer.status == 200 => {
                        if let Ok(job) = serde_json::from_slice::<Value>(&answer.body) {
                            self.seen(&token, &job, None);
                        }
                    }
                    // Gone (evicted, or the token's access ended): nothing more to see.
                    Ok(answer) if matches!(answer.status, 401 | 403 | 404) => {
                        let mut inner = lock(&self.inner);
                        inner.follow.remove(&id);
                        // A create's payload for a job never seen whole.
                        inner.payloads.remove(&id);
                    }
                    // Rate-limited: none of this token's jobs until the
                    // backend said (bounded).
                    Ok(answer) if backoff(answer.status, &answer.headers).is_some() => {
                        if let Some(pause) = backoff(answer.status, &answer.headers) {
                            self.pause(&token, pause);
                        }
                    }
                    // 5xx, a 503 without `Retry-After`, no answer: tried
                    // again after a longer wait each time.
                    _ => {
                        if let Some(f) = lock(&self.inner).follow.get_mut(&id) {
                            f.failures = f.failures.saturating_add(1);
                        }
                    }
                }
            })
            .await;
        futures::stream::iter(fetches)
            .for_each_concurrent(CONCURRENCY, |id| async move {
                // Failed or not, once: the error is in the recording, and
                // the image route tries again when asked.
                let _ = self.image(id).await;
                lock(&self.inner).fetch.remove(&id);
            })
            .await;
    }

    /// Fetches the images still due (completed jobs seen just before a
    /// stop), for at most `within`: the stop's last chance to keep them.
    pub(crate) async fn fetch_due_images(&self, within: Duration) {
        let due: Vec<u64> = lock(&self.inner).fetch.keys().copied().collect();
        let all = futures::stream::iter(due).for_each_concurrent(CONCURRENCY, |id| async move {
            let _ = self.image(id).await;
            lock(&self.inner).fetch.remove(&id);
        });
        let _ = tokio::time::timeout(within, all).await;
    }

    /// Saves every `save_every` when something changed, until `closing`.
    pub(crate) async fn save_periodically(self: Arc<Self>, mut closing: watch::Receiver<bool>) {
        if self.path.is_none() {
            return;
        }
        let mut tick = tokio::time::interval(self.save_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = closing.wait_for(|c| *c) => return,
            }
            if !self.changed() {
                continue;
            }
            let me = self.clone();
            match tokio::task::spawn_blocking(move || me.save()).await {
                Ok(Ok(_)) => failing = false,
                Ok(Err(e)) if !failing => {
                    failing = true;
                    tracing::warn!("recording not saved: {e}");
                }
                _ => {}
            }
        }
    }

    /// Whether something changed since the last save.
    pub(crate) fn changed(&self) -> bool {
        let inner = lock(&self.inner);
        inner.version != inner.saved
    }

    /// Writes the recording now (atomically); `Ok(None)` when not
    /// recording to a file. Blocking: file I/O and an fsync.
    ///
    /// # Errors
    ///
    /// [`RecordingError::Io`] when the file cannot be written.
    pub(crate) fn save(&self) -> Result<Option<Saved>, RecordingError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let _writing = lock(&self.writing);
        let (copy, version) = {
            let mut inner = lock(&self.inner);
            inner.recording.saved_at = now();
            (inner.recording.clone(), inner.version)
        };
        format::write(path, &copy)?;
        let mut inner = lock(&self.inner);
        inner.saved = inner.saved.max(version);
        Ok(Some(Saved {
            path: path.clone(),
            jobs: copy.jobs.len(),
        }))
    }

    /// The kept image of job `id`: fetched once from the real backend (the
    /// first caller fetches, the others wait for it), then served from the
    /// file beside the recording or from memory, with its `ETag` computed
    /// once. `None` when the job is unknown or not completed with an image.
    ///
    /// # Errors
    ///
    /// Why the fetch or the read failed (a later call tries again).
    pub(crate) async fn image(&self, id: u64) -> Option<Result<KeptImage, String>> {
        // Only copies under the lock; the file checks come after it.
        let (url, kept_rel) = {
            let inner = lock(&self.inner);
            let job = &inner.recording.jobs[*inner.index.get(&id)?];
            let url = job.last.image_url.clone()?;
            let url = inner.image_urls.get(&id).cloned().unwrap_or(url);
            (url, job.image.clone())
        };
        let cell = {
            let mut images = lock(&self.images);
            let cell = images.entry(id).or_default().clone();
            if images.len() > MAX_IMAGES_IN_MEMORY && self.path.is_none() {
                images.pop_first();
            }
            cell
        };
        let kept = cell
            .get_or_try_init(|| async {
                // Checked again here, once: the file may have been swapped
                // for a symbolic link since the start. Blocking: on the pool.
                let dir = self.path.as_deref().map(dir_of);
                let found = tokio::task::spawn_blocking(move || {
                    let (dir, rel) = (dir?, kept_rel?);
                    format::kept_image(&dir, &rel).ok().filter(|f| f.is_file())
                })
                .await
                .ok()
                .flatten();
                if let Some(file) = found {
                    return Ok(Kept::File(file, std::sync::OnceLock::new()));
                }
                self.fetch_image(id, &url).await
            })
            .await;
        Some(match kept {
            Ok(Kept::Memory(bytes, etag)) => Ok(KeptImage {
                bytes: bytes.clone(),
                etag: etag.clone(),
            }),
            Ok(Kept::File(path, etag)) => {
                let path = path.clone();
                let known = etag.get().cloned();
                let read = tokio::task::spawn_blocking(move || {
                    std::fs::read(path).map(|bytes| {
                        let etag = known.unwrap_or_else(|| crate::public::kept_etag(&bytes));
                        (bytes, etag)
                    })
                })
                .await;
                match read {
                    Ok(Ok((bytes, tag))) => {
                        let tag = etag.get_or_init(|| tag).clone();
                        Ok(KeptImage {
                            bytes: Bytes::from(bytes),
                            etag: tag,
                        })
                    }
                    Ok(Err(e)) => Err(format!("cannot read the kept image: {e}")),
                    Err(e) => Err(format!("cannot read the kept image: {e}")),
                }
            }
            Err(e) => Err(e),
        })
    }

    async fn fetch_image(&self, id: u64, url: &str) -> Result<Kept, String> {
        let token = lock(&self.inner).fetch.get(&id).cloned();
        let fetched = self.upstream.image(url, token.as_deref()).await;
        let kept = match (fetched, &self.path) {
            (Ok(bytes), Some(path)) => {
                let (dir, rel) = image_place(path, id);
                let file = dir_of(path).join(&rel);
                let write = {
                    let file = file.clone();
                    tokio::task::spawn_blocking(move || {
                        write_image(&dir, &file, &bytes).map(|()| crate::public::kept_etag(&bytes))
                    })
                };
                match write.await {
                    Ok(Ok(etag)) => Ok((Kept::File(file, etag.into()), Some(rel))),
                    Ok(Err(e)) => Err(format!("cannot keep the image: {e}")),
                    Err(e) => Err(format!("cannot keep the image: {e}")),
                }
            }
            (Ok(bytes), None) => {
                let hashed = bytes.clone();
                match tokio::task::spawn_blocking(move || crate::public::kept_etag(&hashed)).await {
                    Ok(etag) => Ok((Kept::Memory(bytes, etag), None)),
                    Err(e) => Err(format!("cannot keep the image: {e}")),
                }
            }
            (Err(e), _) => Err(e),
        };
        let mut inner = lock(&self.inner);
        let Some(&i) = inner.index.get(&id) else {
            return kept.map(|(k, _)| k);
        };
        let job = Arc::make_mut(&mut inner.recording.jobs[i]);
        match &kept {
            Ok((_, rel)) => {
                job.image = rel.clone();
                job.image_error = None;
            }
            Err(e) => job.image_error = Some(e.clone()),
        }
        // Kept in a file: the full URL (and its presigned query) is no
        // longer needed; in memory it is, for a fetch after an eviction.
        if matches!(kept, Ok((Kept::File(..), _))) {
            inner.image_urls.remove(&id);
        }
        inner.version += 1;
        kept.map(|(k, _)| k)
    }
}

impl Inner {
    /// Records one sighting of job `id`: a new observation only when its
    /// state changed, never an older state after a newer one, never a
    /// change after a terminal state.
    ///
    /// Returns `false` when the job is refused: another job (another
    /// `created_at`) on an id the recording holds.
    fn observe(
        &mut self,
        token: &Arc<str>,
        id: u64,
        job_type: String,
        mut snapshot: Snapshot,
    ) -> bool {
        // Checked before anything is touched: the recorded job, its image
        // URL and its follower stay as they are.
        if let Some(&i) = self.index.get(&id) {
            let last = &self.recording.jobs[i].last;
            // Same id, another creation time: another job (the backend's
            // ids restarted). Not mixed into the recorded one; said once.
            if last.created_at.is_some()
                && snapshot.created_at.is_some()
                && last.created_at != snapshot.created_at
            {
                if !self.warned_reused {
                    self.warned_reused = true;
                    tracing::warn!(
                        "job {id}: the backend shows a job created at {} under an id the recording holds for the job created at {}: the backend's job ids restarted. The recording keeps the job it holds; this one, and every later job on an id the recording holds, is not recorded (record into a new file to keep them)",
                        snapshot.created_at.as_deref().unwrap_or_default(),
                        last.created_at.as_deref().unwrap_or_default()
                    );
                }
                self.follow.remove(&id);
                self.payloads.remove(&id);
                return false;
            }
        }
        // Seen now, new or not: the follower waits `follow_every` from here.
        if let Some(followed) = self.follow.get_mut(&id) {
            followed.seen = Instant::now();
            followed.failures = 0;
        }
        // The recording keeps the image URL without its query (presigned
        // credentials); the full one stays here for the fetch.
        if let Some(full) = snapshot.image_url.take() {
            snapshot.image_url = Some(format::without_query(&full));
            self.image_urls.insert(id, full);
        }
        let terminal = is_terminal(&snapshot.status);
        let completed_with_image = snapshot.status == "completed" && snapshot.image_url.is_some();
        match self.index.get(&id) {
            Some(&i) => {
                let last = &self.recording.jobs[i].last;
                let older = snapshot.attempts < last.attempts
                    || (snapshot.attempts == last.attempts
                        && rank(&snapshot.status) < rank(&last.status));
                if *last == snapshot || is_terminal(&last.status) || older {
                    if is_terminal(&last.status) {
                        self.follow.remove(&id);
                    }
                    return true;
                }
                // Copied only when a save or a summary holds the job now.
                let job = Arc::make_mut(&mut self.recording.jobs[i]);
                job.observations.push(Observation {
                    seen_at: now(),
                    snapshot: snapshot.clone(),
                });
                job.last = snapshot;
            }
            None => {
                self.index.insert(id, self.recording.jobs.len());
                let payload = self.payloads.remove(&id);
                self.recording.jobs.push(Arc::new(RecordedJob {
                    job_id: id,
                    owner: token_fingerprint(token),
                    job_type,
                    payload,
                    observations: vec![Observation {
                        seen_at: now(),
                        snapshot: snapshot.clone(),
                    }],
                    last: snapshot,
                    image: None,
                    image_error: None,
                }));
            }
        }
        self.version += 1;
        if terminal {
            self.follow.remove(&id);
            if completed_with_image {
                self.fetch.insert(id, token.clone());
            }
        } else {
            self.follow_job(id, token);
        }
        true
    }

    fn follow_job(&mut self, id: u64, token: &Arc<str>) {
        if let Some(followed) = self.follow.get_mut(&id) {
            followed.seen = Instant::now();
            return;
        }
        if self.follow.len() >= MAX_FOLLOWED {
            if !self.warned_full {
                self.warned_full = true;
                tracing::warn!(
                    "recording proxy: {MAX_FOLLOWED} jobs followed already; job {id} and later ones are recorded only as clients see them"
                );
            }
            return;
        }
        self.follow.insert(
            id,
            Followed {
                token: token.clone(),
                seen: Instant::now(),
                failures: 0,
            },
        );
    }
}

/// The directory relative paths in a recording start from.
/// Forgets each kept image a continued recording names that is not a
/// plain file inside its directory (see [`format::kept_image`]): such an
/// entry is never served, and a request for its image fetches it from
/// the backend again. One warning says how many and the first.
fn drop_unsafe_images(recording: &mut Recording, path: &Path) {
    let dir = dir_of(path);
    let mut dropped = Vec::new();
    for job in &mut recording.jobs {
        if let Some(rel) = &job.image
            && let Err(why) = format::kept_image(&dir, rel)
        {
            dropped.push(format!("job {}: image {rel:?} {why}", job.job_id));
            Arc::make_mut(job).image = None;
        }
    }
    if let Some(first) = dropped.first() {
        tracing::warn!(
            "{}: {} kept image(s) ignored (fetched from the backend again when asked), first {first}",
            path.display(),
            dropped.len()
        );
    }
}

fn dir_of(recording: &Path) -> PathBuf {
    match recording.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// The images directory and job `id`'s image path relative to the
/// recording's directory: `recording.json.images/7.png`.
fn image_place(recording: &Path, id: u64) -> (PathBuf, String) {
    let dir = format::images_dir(recording);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir, format!("{name}/{id}.png"))
}

/// Writes `bytes` to `file` in `dir` atomically (as the recording).
fn write_image(dir: &Path, file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".image-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recorder() -> Recorder {
        Recorder::open(&Proxy::new("http://127.0.0.1:9/api/v1")).unwrap()
    }

    fn job(status: &str, attempts: u32) -> Value {
        json!({"job_id": 5, "job_type": "chat", "status": status, "attempts": attempts,
               "created_at": "2026-12-06T10:00:00.000Z", "started_at": null,
               "completed_at": null, "error": null})
    }

    #[test]
    fn a_state_is_stored_once_and_never_goes_back() {
        let r = recorder();
        r.seen(
            "tok",
            &json!({"success": true, "job_id": 5, "status": "pending"}),
            Some(json!({"prompt": "p"})),
        );
        assert!(
            r.recording().jobs.is_empty(),
            "a create's answer is not a whole job"
        );
        for answer in [
            job("pending", 0),
            job("pending", 0),
            job("processing", 1),
            job("pending", 0),
            job("processing", 1),
            job("pending", 1),
            job("completed", 2),
            job("processing", 2),
        ] {
            r.seen("tok", &answer, None);
        }
        let rec = r.recording();
        let j = &rec.jobs[0];
        let seen: Vec<(&str, u32)> = j
            .observations
            .iter()
            .map(|o| (o.snapshot.status.as_str(), o.snapshot.attempts))
            .collect();
        assert_eq!(
            seen,
            [
                ("pending", 0),
                ("processing", 1),
                ("pending", 1),
                ("completed", 2)
            ]
        );
        assert_eq!(j.last, j.observations.last().unwrap().snapshot);
        assert_eq!(j.payload, Some(json!({"prompt": "p"})));
        assert_eq!(j.owner, token_fingerprint("tok"));
        let inner = lock(&r.inner);
        assert!(inner.follow.is_empty(), "a terminal job is not followed");
    }

    /// What `f` logs at `WARN` and above, one line each.
    fn warnings(f: impl FnOnce()) -> Vec<String> {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                lock(&self.0).extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(lock(&buffer.0).clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_reused_job_id_keeps_the_recorded_job_and_says_which_once() {
        let r = recorder();
        r.seen("tok", &job("processing", 1), Some(json!({"prompt": "p"})));
        let kept = r.recording().jobs[0].clone();
        // The backend restarted: job 5 is another job now, created later.
        let mut other = job("pending", 0);
        other["created_at"] = "2026-12-07T08:00:00.000Z".into();
        other["job_type"] = "flatlay".into();
        let mut other_done = other.clone();
        other_done["status"] = "completed".into();
        other_done["attempts"] = 1.into();
        other_done["result"] = json!({"image_url": "http://b/i/new.png"});
        let said = warnings(|| {
            assert_eq!(r.seen("tok", &other, None), [5]);
            assert_eq!(r.seen("tok", &other_done, None), [5]);
        });
        assert!(
            !lock(&r.inner).image_urls.contains_key(&5),
            "the new job's image URL taken for the recorded job's"
        );
        let rec = r.recording();
        assert_eq!(rec.jobs.len(), 1, "one entry per job id");
        assert_eq!(*rec.jobs[0], *kept, "the recorded job, untouched");
        assert_eq!(rec.jobs[0].job_type, "chat");
        assert!(
            !lock(&r.inner).follow.contains_key(&5),
            "the new job is not followed"
        );
        assert_eq!(said.len(), 1, "said once: {said:?}");
        for what in [
            "job 5",
            "created at 2026-12-07T08:00:00.000Z",
            "the job created at 2026-12-06T10:00:00.000Z",
            "The recording keeps the job it holds",
            "is not recorded",
        ] {
            assert!(said[0].contains(what), "{what}: {}", said[0]);
        }
    }

    #[test]
    fn a_copy_of_the_recording_shares_the_jobs() {
        let r = recorder();
        let mut six = job("pending", 0);
        six["job_id"] = 6.into();
        r.seen("tok", &json!({"jobs": [job("pending", 0), six]}), None);
        let copy = r.recording();
        {
            let inner = lock(&r.inner);
            for (a, b) in copy.jobs.iter().zip(&inner.recording.jobs) {
                assert!(Arc::ptr_eq(a, b), "job {} was copied", a.job_id);
            }
        }
        // A change while a copy holds the jobs copies that job only; the
        // copy keeps what it saw.
        r.seen("tok", &job("processing", 1), None);
        {
            let inner = lock(&r.inner);
            assert!(!Arc::ptr_eq(&copy.jobs[0], &inner.recording.jobs[0]));
            assert!(Arc::ptr_eq(&copy.jobs[1], &inner.recording.jobs[1]));
            assert_eq!(inner.recording.jobs[0].last.status, "processing");
        }
        assert_eq!(copy.jobs[0].last.status, "pending");
        drop(copy);
        // With no copy held, a change is made in place.
        let before = Arc::as_ptr(&lock(&r.inner).recording.jobs[0]);
        r.seen("tok", &job("completed", 1), None);
        assert_eq!(Arc::as_ptr(&lock(&r.inner).recording.jobs[0]), before);
    }

    #[test]
    fn backoffs_follow_retry_after_within_bounds() {
        use axum::http::{HeaderMap, HeaderValue};
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("retry-after", HeaderValue::from_str(v).unwrap());
            h
        };
        let none = HeaderMap::new();
        assert_eq!(backoff(429, &with("2")), Some(Duration::from_secs(2)));
        assert_eq!(backoff(503, &with("7")), Some(Duration::from_secs(7)));
        assert_eq!(backoff(429, &none), Some(DEFAULT_BACKOFF));
        assert_eq!(backoff(429, &with("0")), Some(MIN_BACKOFF));
        assert_eq!(backoff(429, &with("86400")), Some(MAX_BACKOFF));
        // An HTTP date: the wait until then; one passed is the shortest.
        assert_eq!(
            backoff(429, &with("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(MIN_BACKOFF)
        );
        let in_a_minute = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
        for status in [429, 503] {
            let pause = backoff(status, &with(&in_a_minute)).unwrap();
            assert!(
                (Duration::from_secs(58)..=Duration::from_secs(60)).contains(&pause),
                "{status}: {pause:?}"
            );
        }
        let in_a_day = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(86_400));
        assert_eq!(backoff(503, &with(&in_a_day)), Some(MAX_BACKOFF));
        assert_eq!(backoff(429, &with("soon")), Some(DEFAULT_BACKOFF));
        assert_eq!(backoff(503, &with("soon")), None);
        assert_eq!(backoff(503, &none), None);
        assert_eq!(backoff(500, &with("3")), None);
        assert_eq!(backoff(200, &none), None);
    }

    #[tokio::test]
    async fn a_terminal_job_whose_image_is_kept_leaves_no_follower_state() {
        let app = axum::Router::new().route(
            "/i/5.png",
            axum::routing::get(|| async { &b"\x89PNG fake"[..] }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let dir = tempfile::tempdir().unwrap();
        let mut proxy = Proxy::new(format!("http://127.0.0.1:{port}/api/v1"));
        proxy.record = Some(dir.path().join("r.json"));
        let r = Recorder::open(&proxy).unwrap();
        r.seen("tok", &job("processing", 1), None);
        let mut done = job("completed", 1);
        done["result"] =
            json!({"image_url": format!("http://127.0.0.1:{port}/i/5.png?sig=secret")});
        r.seen("tok", &done, None);
        {
            let inner = lock(&r.inner);
            assert!(inner.follow.is_empty());
            assert!(inner.image_urls.contains_key(&5), "kept for the fetch");
        }
        assert!(r.image(5).await.unwrap().is_ok());
        let inner = lock(&r.inner);
        assert!(inner.follow.is_empty() && inner.paused.is_empty());
        assert!(
            !inner.image_urls.contains_key(&5),
            "the full URL outlived the kept file"
        );
    }

    #[test]
    fn followed_jobs_are_bounded() {
        let r = recorder();
        for id in 1..=(MAX_FOLLOWED as u64 + 5) {
            r.seen(
                "tok",
                &json!({"job_id": id, "status": "pending"}),
                Some(json!({"prompt": "p"})),
            );
        }
        {
            let inner = lock(&r.inner);
            assert_eq!(inner.follow.len(), MAX_FOLLOWED);
            assert_eq!(
                inner.payloads.len(),
                MAX_FOLLOWED,
                "a payload kept for a job nobody follows"
            );
        }
        // A job past the bound is still recorded when a client sees it.
        let mut late = job("pending", 0);
        late["job_id"] = (MAX_FOLLOWED as u64 + 5).into();
        r.seen("tok", &late, None);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn a_list_shows_each_job() {
        let r = recorder();
        let mut other = job("pending", 0);
        other["job_id"] = 6.into();
        r.seen(
            "tok",
            &json!({"jobs": [job("processing", 1), other], "metadata": {}}),
            None,
        );
        assert_eq!(r.recording().jobs.len(), 2);
        assert_eq!(lock(&r.inner).follow.len(), 2);
    }
}
