//! A batch's progress, beside the job journal: `batches/BATCH.jsonl`.
//!
//! Not records in `journal.jsonl`: a batch of a million rows would be a
//! million records there, read whole by every `vestis` command and pruned
//! by its retention. Here each batch has its own append-only log of what
//! the manifest cannot say yet: a `run` line with the command's settings
//! (for `vestis resume`), a line per row once its create was answered (its
//! job id), once its job was first seen (its server creation time) and
//! before its image is renamed into place, and a `finished` line when
//! every row is in the manifest. A row in the manifest is finished; the
//! log is only read for rows that are not, so resuming holds a handful of
//! rows, not the file. Lines are written as the job journal's are (one
//! `write`, a torn last line cut), but not fsynced: the manifest is (it is
//! the result), while a log line lost to a power cut (never to a killed
//! process: written lines are in the kernel's cache) costs only a repeated
//! create, which the row's idempotency key answers with the job it already
//! has. Four fsyncs a row were most of a batch's time. `batches/BATCH.lock`
//! keeps a second `vestis` off a batch that is running.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vestis_client::{JobId, JobKind, Timestamp};

use super::{JournalError, append_line, cut_torn_tail, open_private};

/// A path as stored: text when it is UTF-8, else its bytes (Unix file
/// names need not be UTF-8, and JSON strings must be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum StoredPath {
    Text(String),
    Bytes { bytes: Vec<u8> },
}

impl StoredPath {
    pub(crate) fn of(path: &Path) -> StoredPath {
        match path.to_str() {
            Some(text) => StoredPath::Text(text.to_owned()),
            None => StoredPath::Bytes {
                bytes: path.as_os_str().as_encoded_bytes().to_vec(),
            },
        }
    }

    pub(crate) fn path(&self) -> PathBuf {
        match self {
            StoredPath::Text(text) => PathBuf::from(text),
            #[cfg(unix)]
            StoredPath::Bytes { bytes } => {
                PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes))
            }
            #[cfg(not(unix))]
            StoredPath::Bytes { bytes } => PathBuf::from(String::from_utf8_lossy(bytes).as_ref()),
        }
    }
}

/// The settings of a batch run, as `vestis resume` needs them to run it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunSettings {
    pub(crate) api_url: String,
    pub(crate) identity: String,
    /// The input as given (`-` for stdin), and where it was read from.
    pub(crate) input: StoredPath,
    pub(crate) read_from: StoredPath,
    pub(crate) format: crate::batch::input::Format,
    pub(crate) kind: Option<JobKind>,
    pub(crate) output: StoredPath,
    pub(crate) name: String,
    pub(crate) overwrite: bool,
    pub(crate) concurrency: usize,
    /// `--jobs-in-flight` (absent: `concurrency`, and in logs of earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) jobs_in_flight: Option<usize>,
    pub(crate) skip_invalid: bool,
    /// The folder the batch was started in: its relative paths (the
    /// file, its rows' images) are from there, wherever `vestis resume`
    /// runs (absent in logs of earlier versions: the current folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) started_in: Option<StoredPath>,
}

impl RunSettings {
    /// `path`, relative to the folder the batch was started in, as this
    /// process opens it: joined to that folder when this process runs in
    /// another one; as it is otherwise (so messages keep it short), and
    /// `-` (stdin, read from the journal's copy) as it is.
    pub(crate) fn as_started(&self, path: &Path) -> PathBuf {
        match &self.started_in {
            Some(dir)
                if path.is_relative()
                    && path != Path::new("-")
                    && std::env::current_dir().ok().as_deref() != Some(dir.path().as_path()) =>
            {
                dir.path().join(path)
            }
            _ => path.to_owned(),
        }
    }
}

/// What the log knows of one row the manifest does not have yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct RowState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) job_id: Option<JobId>,
    /// When this machine's create of `job_id` was answered (on the job
    /// id's line): a run that re-attaches to the job writes it as the
    /// row's `submitted_at`, so `seconds` spans every run. Absent in logs
    /// of earlier versions (the re-attaching run's time is used then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) submitted_at: Option<Timestamp>,
    /// The server's `created_at` of the job, pinned at first sight: a
    /// server that restarted reuses ids, never creation times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) job_created_at: Option<Timestamp>,
    /// The image is being renamed here: this row's own file, which a
    /// later run may replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) saving: Option<StoredPath>,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Run {
        run: Box<RunSettings>,
    },
    Row {
        row: String,
        #[serde(flatten)]
        state: RowState,
    },
    Finished {
        finished: bool,
    },
}

/// One batch's log, open for appending, locked to this process.
#[derive(Debug)]
pub(crate) struct BatchLog {
    path: PathBuf,
    file: File,
    /// Held for the log's lifetime: one `vestis` per batch at a time.
    _lock: File,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The process id the lock file `lock` holds (written by its holder), if
/// it says one.
fn holder(lock: &File) -> Option<u32> {
    let mut text = String::new();
    io::Read::read_to_string(&mut &*lock, &mut text).ok()?;
    text.trim().parse().ok().filter(|pid| *pid > 0)
}

/// Writes this process's id into the lock file `lock` (which it holds).
fn write_pid(lock: &File) -> io::Result<()> {
    lock.set_len(0)?;
    io::Write::write_all(&mut &*lock, format!("{}\n", std::process::id()).as_bytes())
}

/// The directory of the batch logs in journal directory `dir`.
pub(crate) fn batches_dir(dir: &Path) -> PathBuf {
    dir.join("batches")
}

impl BatchLog {
    /// Opens (creating) batch `batch`'s log in journal directory `dir`.
    ///
    /// # Errors
    ///
    /// The directory or file cannot be used, or another process holds the batch.
    pub(crate) fn open(dir: &Path, batch: &str) -> Result<BatchLog, JournalError> {
        let dir = batches_dir(dir);
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(io_err(&dir))?;
        let lock_path = dir.join(format!("{batch}.lock"));
        let lock = open_private(
            &lock_path,
            OpenOptions::new().read(true).write(true).create(true),
        )
        .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Busy { pid: holder(&lock) });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        // Who holds it, for the message a second `vestis` prints.
        write_pid(&lock).map_err(io_err(&lock_path))?;
        let path = dir.join(format!("{batch}.jsonl"));
        let mut file = open_private(
            &path,
            OpenOptions::new().read(true).append(true).create(true),
        )
        .map_err(io_err(&path))?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        if len > 0 {
            cut_torn_tail(&mut file, len).map_err(io_err(&path))?;
        }
        Ok(BatchLog {
            path,
            file,
            _lock: lock,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn append(&mut self, line: &Line) -> Result<(), JournalError> {
        let mut bytes = serde_json::to_vec(line).map_err(|e| io_err(&self.path)(e.into()))?;
        bytes.push(b'\n');
        // Not fsynced: see the module's note on what a lost line costs.
        append_line(&mut self.file, &bytes).map_err(io_err(&self.path))
    }

    /// Records the start of a run with these settings.
    pub(crate) fn run(&mut self, settings: &RunSettings) -> Result<(), JournalError> {
        self.append(&Line::Run {
            run: Box::new(settings.clone()),
        })
    }

    /// Records what is now known of row `row` (only the fields set).
    pub(crate) fn row(&mut self, row: u64, state: RowState) -> Result<(), JournalError> {
        self.append(&Line::Row {
            row: key_text(row),
            state,
        })
    }

    /// Records that every row is in the manifest.
    pub(crate) fn finished(&mut self) -> Result<(), JournalError> {
        self.append(&Line::Finished { finished: true })
    }

    /// The state of every row the log knows and `is_open` keeps (rows not
    /// in the manifest), merged over its lines; and the last run's settings
    /// and whether the batch was finished since.
    ///
    /// # Errors
    ///
    /// The log cannot be read, or a line in its middle does not parse.
    pub(crate) fn read(
        path: &Path,
        mut is_open: impl FnMut(u64) -> bool,
    ) -> Result<LogState, JournalError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LogState::default()),
            Err(e) => return Err(io_err(path)(e)),
        };
        let mut state = LogState::default();
        let mut reader = BufReader::new(file);
        let mut buf = String::new();
        let mut n = 0u64;
        loop {
            buf.clear();
            n += 1;
            if reader.read_line(&mut buf).map_err(io_err(path))? == 0 {
                break;
            }
            let line: Line = match serde_json::from_str(&buf) {
                Ok(line) => line,
                Err(_) if !buf.ends_with('\n') => break,
                Err(e) => {
                    return Err(JournalError::Corrupt {
                        path: path.to_owned(),
                        reason: format!("line {n}: {e}"),
                    });
                }
            };
            match line {
                Line::Run { run } => {
                    state.settings = Some(*run);
                    state.finished = false;
                }
                Line::Finished { finished } => state.finished = finished,
                Line::Row { row, state: update } => {
                    let Some(row) = parse_key(&row) else { continue };
                    if !is_open(row) {
                        continue;
                    }
                    let entry = state.rows.entry(row).or_default();
                    if update.job_id.is_some() && update.job_id != entry.job_id {
                        // A new job for the row (the server lost the old one).
                        *entry = RowState::default();
                    }
                    if update.job_id.is_some() {
                        entry.job_id = update.job_id;
                    }
                    if update.submitted_at.is_some() {
                        entry.submitted_at = update.submitted_at;
                    }
                    if update.job_created_at.is_some() {
                        entry.job_created_at = update.job_created_at;
                    }
                    if update.saving.is_some() {
                        entry.saving = update.saving;
                    }
                }
            }
        }
        Ok(state)
    }
}

/// What a batch log says.
#[derive(Debug, Default)]
pub(crate) struct LogState {
    pub(crate) settings: Option<RunSettings>,
    pub(crate) finished: bool,
    pub(crate) rows: HashMap<u64, RowState>,
}

/// A row key as written: 16 hex digits.
pub(crate) fn key_text(key: u64) -> String {
    format!("{key:016x}")
}

pub(crate) fn parse_key(text: &str) -> Option<u64> {
    u64::from_str_radix(text, 16).ok()
}

/// The file a batch saved job `id`'s image to, for the API at `api_url`:
/// from the batch logs in journal directory `dir`, which record each
/// row's job id and the file its image went to (what `vestis show ID`
/// needs; the job journal holds only `generate`'s and `wait`'s jobs).
/// When several batches had a job `id` (a server that restarted hands
/// ids out again), the most recently written file; `None` when no batch
/// saved one that is still there.
pub(crate) fn saved_image(dir: &Path, api_url: &str, id: JobId) -> Option<PathBuf> {
    logs(dir)
        .iter()
        .filter_map(|log| BatchLog::read(log, |_| true).ok())
        .filter(|state| {
            state
                .settings
                .as_ref()
                .is_some_and(|settings| settings.api_url == api_url)
        })
        .flat_map(|state| state.rows.into_values())
        .filter(|row| row.job_id == Some(id))
        .filter_map(|row| row.saving.map(|saving| saving.path()))
        .filter_map(|path| {
            let modified = std::fs::metadata(&path)
                .ok()
                .filter(std::fs::Metadata::is_file)?
                .modified()
                .ok();
            Some((modified, path))
        })
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, path)| path)
}

/// Every batch log in journal directory `dir`.
pub(crate) fn logs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(batches_dir(dir)) else {
        return Vec::new();
    };
    let mut logs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    logs.sort();
    logs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_merge_and_a_new_job_starts_over_and_a_torn_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = BatchLog::open(dir.path(), "b1").unwrap();
        let created: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        log.row(
            1,
            RowState {
                job_id: Some(JobId(7)),
                submitted_at: Some(created),
                ..RowState::default()
            },
        )
        .unwrap();
        log.row(
            1,
            RowState {
                job_created_at: Some(created),
                ..RowState::default()
            },
        )
        .unwrap();
        log.row(
            2,
            RowState {
                job_id: Some(JobId(8)),
                ..RowState::default()
            },
        )
        .unwrap();
        let path = log.path().to_owned();
        drop(log);
        std::io::Write::write_all(
            &mut OpenOptions::new().append(true).open(&path).unwrap(),
            br#"{"row":"00"#,
        )
        .unwrap();
        assert!(
            BatchLog::open(dir.path(), "b1").is_ok(),
            "reopened, tail cut"
        );
        let state = BatchLog::read(&path, |row| row == 1).unwrap();
        assert_eq!(state.rows.len(), 1, "row 2 is finished: not kept");
        assert_eq!(state.rows[&1].job_id, Some(JobId(7)));
        assert_eq!(
            state.rows[&1].job_created_at.map(|t| t.to_string()),
            Some(created.to_string())
        );
        assert_eq!(state.rows[&1].submitted_at, Some(created));
    }

    /// A job id line of an earlier version (no `submitted_at`) still reads.
    #[test]
    fn a_row_line_without_submitted_at_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.jsonl");
        std::fs::write(&path, "{\"row\":\"0000000000000001\",\"job_id\":7}\n").unwrap();
        let state = BatchLog::read(&path, |_| true).unwrap();
        assert_eq!(state.rows[&1].job_id, Some(JobId(7)));
        assert_eq!(state.rows[&1].submitted_at, None);
    }

    #[test]
    fn one_process_per_batch() {
        let dir = tempfile::tempdir().unwrap();
        let _first = BatchLog::open(dir.path(), "b").unwrap();
        let second = BatchLog::open(dir.path(), "b").unwrap_err().to_string();
        let pid = std::process::id();
        assert!(
            second.contains(&format!(
                "another vestis (process {pid}) is running this batch"
            )),
            "{second}"
        );
        assert!(second.contains(&format!("`kill {pid}`")), "{second}");
        assert!(!second.contains("cannot use"), "{second}");
        drop(_first);
        let again = BatchLog::open(dir.path(), "b");
        assert!(again.is_ok(), "free once the first is closed");
    }

    #[cfg(unix)]
    #[test]
    fn paths_that_are_not_utf8_round_trip() {
        use std::os::unix::ffi::OsStrExt;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(b"/tmp/caf\xe9.csv"));
        let stored = StoredPath::of(&path);
        let text = serde_json::to_string(&stored).unwrap();
        let back: StoredPath = serde_json::from_str(&text).unwrap();
        assert_eq!(back.path(), path);
    }
}
