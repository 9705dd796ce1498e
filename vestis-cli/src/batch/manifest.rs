//! The manifest, `DIR/manifest.jsonl`: one JSON line per finished row,
//! appended as each row finishes and fsynced in groups (the lines written
//! while one sync runs share the next, as a database commits in groups),
//! so whatever stops the batch, every line in it is true and whole. A
//! line is in the kernel's cache once written (a killed process loses
//! none); the sync is for a machine that loses power, and runs off the
//! loop that drives the rows' polls, which a sync per row held up. It is also the batch's record of what is finished: a later run
//! reads it back and skips those rows. Several batches may share a DIR:
//! each line names its batch.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vestis_client::{JobId, JobKind, Timestamp};

use crate::journal::{append_line, cut_torn_tail};

/// One finished row, as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The batch (a fingerprint of the API, the token, the input and DIR).
    pub(crate) batch: String,
    /// The row's key: its batch, identity and content.
    pub(crate) row: String,
    /// The row's `id` column, if it has one.
    pub(crate) id: Option<String>,
    /// The line the row starts on.
    pub(crate) line: u64,
    pub(crate) kind: JobKind,
    pub(crate) job_id: Option<JobId>,
    /// `completed`, `failed`, `cancelled`, or `rejected` (the server refused the create).
    pub(crate) status: String,
    /// Where the image was saved (lossy text for a name that is not UTF-8).
    pub(crate) output: Option<String>,
    pub(crate) error: Option<String>,
    /// When this machine first saw the job (its create answered, or re-attached).
    pub(crate) submitted_at: Option<Timestamp>,
    pub(crate) finished_at: Timestamp,
    /// Seconds from `submitted_at` to the end (this machine's clock),
    /// written to the millisecond.
    #[serde(serialize_with = "to_the_millisecond")]
    pub(crate) seconds: Option<f64>,
    /// The server's processing time of the last attempt, in seconds,
    /// written to the millisecond.
    #[serde(serialize_with = "to_the_millisecond")]
    pub(crate) run_seconds: Option<f64>,
}

/// Seconds as a JSON number to the millisecond (`3.38`, not
/// `3.380418377`): neither clock is finer than that in any way that
/// matters to a row, and a reader compares the numbers by eye.
fn to_the_millisecond<S: serde::Serializer>(
    seconds: &Option<f64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match seconds {
        Some(s) => serializer.serialize_f64((s * 1000.0).round() / 1000.0),
        None => serializer.serialize_none(),
    }
}

/// How a finished row ended, as its manifest line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    Completed,
    /// `failed` and `rejected` rows.
    Failed,
    Cancelled,
}

/// Rows finished in earlier runs, by key. Rows the file no longer has
/// (edited since) may be among them: a run counts only its file's rows.
#[derive(Debug, Default)]
pub(crate) struct Finished {
    rows: HashMap<u64, Ended>,
}

impl Finished {
    /// How row `key` ended, if an earlier run finished it.
    pub(crate) fn get(&self, key: u64) -> Option<Ended> {
        self.rows.get(&key).copied()
    }

    /// Whether an earlier run finished row `key`.
    pub(crate) fn contains(&self, key: u64) -> bool {
        self.rows.contains_key(&key)
    }
}

/// The manifest file, open for appending.
#[derive(Debug)]
pub(crate) struct Manifest {
    path: PathBuf,
    file: File,
    /// The same open file, for the sync running on a blocking thread.
    syncer: Arc<File>,
    /// Lines were written since the last sync began.
    unsynced: bool,
}

/// Only what a run needs to know from a line.
#[derive(Deserialize)]
struct Seen {
    batch: String,
    row: String,
    status: String,
}

impl Manifest {
    /// Opens (creating) the manifest at `path`, cutting a torn last line.
    ///
    /// # Errors
    ///
    /// The file cannot be opened or repaired.
    pub(crate) fn open(path: &Path) -> io::Result<Manifest> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let len = file.metadata()?.len();
        if len > 0 {
            cut_torn_tail(&mut file, len)?;
        }
        Ok(Manifest {
            path: path.to_owned(),
            syncer: Arc::new(file.try_clone()?),
            file,
            // Lines an earlier run wrote may be unsynced (it was stopped
            // between two syncs): this run syncs them before it can mark
            // the batch finished, even if it writes none of its own.
            unsynced: len > 0,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` as one line; [`Manifest::start_sync`] syncs it.
    ///
    /// # Errors
    ///
    /// The write failed (a full disk, a removed folder).
    pub(crate) fn append(&mut self, entry: &Entry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        append_line(&mut self.file, &line)?;
        self.unsynced = true;
        Ok(())
    }

    /// The sync of every line written so far, to run on a blocking
    /// thread; `None` if there is nothing to sync. Lines appended while
    /// it runs wait for the next.
    pub(crate) fn start_sync(
        &mut self,
    ) -> Option<impl FnOnce() -> io::Result<()> + Send + 'static> {
        if !std::mem::take(&mut self.unsynced) {
            return None;
        }
        let file = Arc::clone(&self.syncer);
        Some(move || file.sync_data())
    }

    /// Syncs every line written so far, here and now (at the end of a run).
    ///
    /// # Errors
    ///
    /// The sync failed (a full disk).
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        match self.start_sync() {
            Some(sync) => sync(),
            None => Ok(()),
        }
    }
}

/// The rows of batch `batch` the manifest at `path` holds (none if it does
/// not exist). Lines of other batches, and lines that do not parse, are
/// passed over: the manifest is the user's file too.
///
/// # Errors
///
/// The file exists but cannot be read.
pub(crate) fn finished(path: &Path, batch: &str) -> io::Result<Finished> {
    let mut done = Finished::default();
    let file = match File::open(path) {
        Ok(file) => file,
        // No folder (or a file in its place) holds no manifest: what is
        // wrong with the folder is said where it is created.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(done);
        }
        Err(e) => return Err(e),
    };
    // Only a regular file holds lines (a device such as /dev/zero would be
    // read forever).
    if !file.metadata()?.is_file() {
        return Ok(done);
    }
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        let Ok(seen) = serde_json::from_slice::<Seen>(&line) else {
            continue;
        };
        if seen.batch != batch {
            continue;
        }
        let Some(key) = crate::journal::batch::parse_key(&seen.row) else {
            continue;
        };
        done.rows.entry(key).or_insert(match seen.status.as_str() {
            "completed" => Ended::Completed,
            "cancelled" => Ended::Cancelled,
            _ => Ended::Failed,
        });
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seconds: Option<f64>, run_seconds: Option<f64>) -> Entry {
        Entry {
            batch: "b".to_owned(),
            row: "r".to_owned(),
            id: None,
            line: 2,
            kind: JobKind::Chat,
            job_id: None,
            status: "completed".to_owned(),
            output: None,
            error: None,
            submitted_at: None,
            finished_at: "2026-12-05T21:34:19.212Z".parse().unwrap(),
            seconds,
            run_seconds,
        }
    }

    #[test]
    fn timings_are_written_to_the_millisecond_as_numbers() {
        let line = serde_json::to_value(entry(Some(3.380_418_377), Some(0.000_4))).unwrap();
        assert_eq!(line["seconds"], serde_json::json!(3.38));
        assert_eq!(line["run_seconds"], serde_json::json!(0.0));
        let line = serde_json::to_string(&entry(Some(12.345_678_9), None)).unwrap();
        assert!(
            line.contains("\"seconds\":12.346,\"run_seconds\":null"),
            "{line}"
        );
    }
}
