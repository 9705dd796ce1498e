//! The journal's file: an append-only log of record snapshots, compacted
//! now and then, so recording a job costs the same with 10 000 records as
//! with 10.
//!
//! `journal.jsonl` holds one JSON value per line. The first line is a
//! header, `{"vestis_journal":2,"compacted_bytes":N}`; every other line is
//! one whole [`Record`], and a later line with the same `key` replaces an
//! earlier one. Saving a record appends one line (one `write` on an
//! `O_APPEND` file, then `fsync`). When the file has grown past twice its
//! size after the last compaction plus [`SLACK`], it is compacted: the live
//! records (pruned) are written to a temporary file, fsynced and renamed
//! over the log, so each record is rewritten once per doubling and the
//! amortised cost per save stays constant.
//!
//! A crash mid-append leaves a last line without its newline: readers skip
//! it, and the next writer cuts it off before appending. Any other line
//! that does not parse makes the journal corrupt: it is reported with its
//! path and line and never rewritten. Every read and write holds an
//! exclusive lock on `journal.lock`, so concurrent `vestis` processes never
//! interleave or lose lines. Files are mode 0600.
//!
//! A version-1 journal (`journal.json`, one JSON document) is read once,
//! written out as a log, and kept as `journal.json.v1` beside it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{JournalError, Record};

/// How far the log may grow past twice its compacted size before it is compacted.
pub(super) const SLACK: u64 = 256 * 1024;

/// The log's first line.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    vestis_journal: u32,
    /// The size of the records written by the last compaction.
    compacted_bytes: u64,
}

/// The version-1 journal: one JSON document.
#[derive(Debug, Deserialize)]
struct V1File {
    version: u32,
    records: Vec<Record>,
}

/// The files of one journal directory.
#[derive(Debug, Clone)]
pub(super) struct Log {
    dir: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> JournalError {
    JournalError::Corrupt {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

pub(crate) fn open_private(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options.open(path)
}

impl Log {
    pub(super) fn new(dir: PathBuf) -> Log {
        Log { dir }
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(super) fn path(&self) -> PathBuf {
        self.dir.join("journal.jsonl")
    }

    fn v1_path(&self) -> PathBuf {
        self.dir.join("journal.json")
    }

    fn ensure_dir(&self) -> Result<(), JournalError> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.dir).map_err(io_err(&self.dir))
    }

    /// Runs `f` holding the exclusive lock on `journal.lock`.
    pub(super) fn locked<R>(
        &self,
        f: impl FnOnce() -> Result<R, JournalError>,
    ) -> Result<R, JournalError> {
        self.ensure_dir()?;
        let lock_path = self.dir.join("journal.lock");
        let lock = open_private(
            &lock_path,
            OpenOptions::new().read(true).write(true).create(true),
        )
        .map_err(io_err(&lock_path))?;
        lock.lock().map_err(io_err(&lock_path))?;
        let result = f();
        // Dropping the file releases the lock too; unlocking first is explicit.
        let _ = lock.unlock();
        result
    }

    /// Every record, oldest first, latest snapshot of each (lock held).
    pub(super) fn read(&self) -> Result<Vec<Record>, JournalError> {
        let path = self.path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return self.migrate_v1(),
            Err(e) => return Err(io_err(&path)(e)),
        };
        parse(&path, &text)
    }

    /// Appends one record (lock held); returns whether the log is due for compaction.
    pub(super) fn append(&self, record: &Record) -> Result<bool, JournalError> {
        let path = self.path();
        if !path.exists() {
            self.migrate_v1()?;
        }
        let mut file = open_private(
            &path,
            OpenOptions::new().read(true).append(true).create(true),
        )
        .map_err(io_err(&path))?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        let (mut line, compacted) = if len == 0 {
            (header_line(0)?, 0)
        } else {
            let header = read_header(&mut file)
                .map_err(io_err(&path))?
                .ok_or_else(|| corrupt(&path, "line 1 is not a journal header"))?;
            cut_torn_tail(&mut file, len).map_err(io_err(&path))?;
            (Vec::new(), header.compacted_bytes)
        };
        serde_json::to_writer(&mut line, record).map_err(|e| io_err(&path)(e.into()))?;
        line.push(b'\n');
        append_synced(&mut file, &line).map_err(io_err(&path))?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        Ok(len > 2 * compacted + SLACK)
    }

    /// Replaces the log with exactly `records` (lock held): temporary file,
    /// fsync, rename, fsync of the directory.
    pub(super) fn rewrite(&self, records: &[Record]) -> Result<(), JournalError> {
        let path = self.path();
        let tmp = self
            .dir
            .join(format!(".journal.{}.tmp", std::process::id()));
        let mut body = Vec::new();
        for record in records {
            serde_json::to_writer(&mut body, record).map_err(|e| io_err(&path)(e.into()))?;
            body.push(b'\n');
        }
        let mut text = header_line(body.len() as u64)?;
        text.extend_from_slice(&body);
        let written = (|| {
            let mut file = open_private(
                &tmp,
                OpenOptions::new().write(true).create(true).truncate(true),
            )
            .map_err(io_err(&tmp))?;
            file.write_all(&text).map_err(io_err(&tmp))?;
            file.sync_all().map_err(io_err(&tmp))?;
            drop(file);
            fs::rename(&tmp, &path).map_err(io_err(&path))
        })();
        if written.is_err() {
            // A full disk, a refused rename: the old log stays as it was,
            // and no temporary file is left beside it.
            let _ = fs::remove_file(&tmp);
        }
        written?;
        // Make the rename itself durable.
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// The records of a version-1 `journal.json`, written out as a log and
    /// the old file kept as `journal.json.v1`; none if there is no such file.
    fn migrate_v1(&self) -> Result<Vec<Record>, JournalError> {
        let old = self.v1_path();
        let text = match fs::read_to_string(&old) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&old)(e)),
        };
        let file: V1File = serde_json::from_str(&text).map_err(|e| corrupt(&old, e.to_string()))?;
        if file.version != 1 {
            return Err(corrupt(&old, format!("unknown version {}", file.version)));
        }
        self.rewrite(&file.records)?;
        let kept = self.dir.join("journal.json.v1");
        fs::rename(&old, &kept).map_err(io_err(&old))?;
        Ok(file.records)
    }
}

fn header_line(compacted_bytes: u64) -> Result<Vec<u8>, JournalError> {
    let mut line = serde_json::to_vec(&Header {
        vestis_journal: 2,
        compacted_bytes,
    })
    .map_err(|e| JournalError::Io {
        path: PathBuf::from("journal.jsonl"),
        source: e.into(),
    })?;
    line.push(b'\n');
    Ok(line)
}

/// The records of a log's text, latest snapshot per key, in first-seen order.
fn parse(path: &Path, text: &str) -> Result<Vec<Record>, JournalError> {
    let mut lines = text.split_inclusive('\n').enumerate();
    let header: Header = match lines.next() {
        Some((_, line)) => serde_json::from_str(line)
            .map_err(|e| corrupt(path, format!("line 1 is not a journal header: {e}")))?,
        None => return Ok(Vec::new()),
    };
    if header.vestis_journal != 2 {
        return Err(corrupt(
            path,
            format!("unknown version {}", header.vestis_journal),
        ));
    }
    let mut records: Vec<Record> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (n, line) in lines {
        let record: Record = match serde_json::from_str(line) {
            Ok(record) => record,
            // A torn last line: the writer crashed mid-append.
            Err(_) if !line.ends_with('\n') => break,
            Err(e) => return Err(corrupt(path, format!("line {}: {e}", n + 1))),
        };
        match index.get(&record.key) {
            Some(&i) => records[i] = record,
            None => {
                index.insert(record.key.clone(), records.len());
                records.push(record);
            }
        }
    }
    Ok(records)
}

/// Writes one whole line to an append-mode file in one `write`, then
/// `fsync`s it: the one way every journal file (the job log, a batch's
/// log, a batch's manifest) takes a line. The `journal-write` failpoint
/// tears it: half the line on disk, then the process dies.
fn append_synced(file: &mut File, line: &[u8]) -> io::Result<()> {
    append_line(file, line)?;
    file.sync_data()
}

/// [`append_synced`] without the `fsync`: the line survives the process
/// being killed (it is in the kernel's cache once `write` returns), not
/// the machine losing power. For lines whose loss costs a retry, not a
/// result (a batch's job ids: the row's idempotency key finds its job again).
pub(crate) fn append_line(file: &mut File, line: &[u8]) -> io::Result<()> {
    if crate::failpoint::fires("journal-write") {
        let _ = file.write_all(&line[..line.len() / 2]);
        let _ = file.sync_data();
        std::process::abort();
    }
    file.write_all(line)
}

/// Cuts off a last line left without its newline by a crash mid-append.
pub(crate) fn cut_torn_tail(file: &mut File, len: u64) -> io::Result<()> {
    let mut end = len;
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Scan back, a block at a time, for the last complete line.
    let mut block = vec![0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let chunk = &mut block[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return file.set_len(start + i as u64 + 1);
        }
        end = start;
    }
    file.set_len(0)
}

/// The log's header, `None` if line 1 is not one (of this version).
fn read_header(file: &mut File) -> io::Result<Option<Header>> {
    file.seek(SeekFrom::Start(0))?;
    let mut line = String::new();
    BufReader::new(file.take(4096)).read_line(&mut line)?;
    Ok(serde_json::from_str::<Header>(&line)
        .ok()
        .filter(|h| h.vestis_journal == 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::RecordStatus;
    use crate::journal::tests::record;

    #[test]
    fn later_lines_replace_earlier_ones_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::new(dir.path().to_owned());
        log.append(&record("a", RecordStatus::Submitting)).unwrap();
        log.append(&record("b", RecordStatus::Submitting)).unwrap();
        log.append(&record("a", RecordStatus::Gone)).unwrap();
        // A crash mid-append:
        let mut file = OpenOptions::new().append(true).open(log.path()).unwrap();
        file.write_all(br#"{"key":"c","api_u"#).unwrap();
        let keys = |log: &Log| -> Vec<(String, RecordStatus)> {
            log.read()
                .unwrap()
                .into_iter()
                .map(|r| (r.key, r.status))
                .collect()
        };
        assert_eq!(
            keys(&log),
            [
                ("a".into(), RecordStatus::Gone),
                ("b".into(), RecordStatus::Submitting)
            ]
        );
        log.append(&record("d", RecordStatus::Submitting)).unwrap();
        assert_eq!(keys(&log).len(), 3, "the torn line was cut, not kept");
        let text = fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 5, "header + a, b, a, d: {text}");
    }

    #[test]
    fn a_bad_line_in_the_middle_is_corruption_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::new(dir.path().to_owned());
        log.append(&record("a", RecordStatus::Submitting)).unwrap();
        let mut file = OpenOptions::new().append(true).open(log.path()).unwrap();
        file.write_all(b"garbage\n").unwrap();
        let err = log.read().unwrap_err().to_string();
        assert!(err.contains("corrupt") && err.contains("line 3"), "{err}");
    }

    #[test]
    fn saving_never_reads_the_records() {
        // Appending reads only the header and the last byte: a log whose
        // middle is unreadable still takes new lines (and stays corrupt for
        // readers), which is what makes a save cost the same at any size.
        let dir = tempfile::tempdir().unwrap();
        let log = Log::new(dir.path().to_owned());
        log.append(&record("a", RecordStatus::Submitting)).unwrap();
        let mut file = OpenOptions::new().append(true).open(log.path()).unwrap();
        file.write_all(b"garbage\n").unwrap();
        assert!(!log.append(&record("b", RecordStatus::Submitting)).unwrap());
        assert!(log.read().is_err());
    }

    #[test]
    fn compaction_is_due_once_the_log_doubles() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::new(dir.path().to_owned());
        let mut due_after = None;
        for i in 0..10_000usize {
            if log
                .append(&record("same", RecordStatus::Submitting))
                .unwrap()
            {
                due_after = Some(i);
                break;
            }
        }
        let line = serde_json::to_vec(&record("same", RecordStatus::Submitting)).unwrap();
        let expected = SLACK as usize / (line.len() + 1);
        let due_after = due_after.expect("compaction became due");
        assert!(
            due_after.abs_diff(expected) <= 2,
            "{due_after} vs {expected}"
        );
        log.rewrite(&log.read().unwrap()).unwrap();
        let text = fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 2, "header + the one live record");
        assert!(!log.append(&record("same", RecordStatus::Gone)).unwrap());
    }

    #[test]
    fn a_version_1_journal_is_read_and_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::new(dir.path().to_owned());
        let old =
            serde_json::json!({"version": 1, "records": [record("old", RecordStatus::Submitting)]});
        fs::write(dir.path().join("journal.json"), old.to_string()).unwrap();
        assert_eq!(log.read().unwrap()[0].key, "old");
        assert!(dir.path().join("journal.json.v1").exists());
        assert!(!dir.path().join("journal.json").exists());
        assert_eq!(log.read().unwrap()[0].key, "old", "read from the log now");
    }
}
