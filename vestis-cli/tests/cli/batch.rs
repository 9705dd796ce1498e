//! `vestis batch` against the mock server: bad files (listed, nothing
//! sent), a batch run to its end and run again (nothing sent twice), the
//! exactly-once matrix (killed at every failpoint, then resumed: one job
//! per row on the server, one manifest line per row), a server restarted
//! mid-batch, a server answering 503 for longer than a poll budget, a rate
//! limit, and file names that are not UTF-8.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Env, config, texts};

/// `n` chat rows with ids `r0..`, as CSV.
fn csv_rows(n: usize) -> String {
    let mut text = "id,kind,prompt\n".to_owned();
    for i in 0..n {
        text.push_str(&format!("r{i},chat,prompt number {i}\n"));
    }
    text
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The manifest's lines, parsed.
fn manifest(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("manifest.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn jobs_on_server(env: &Env) -> u64 {
    env.admin_get("/jobs")["total"].as_u64().unwrap()
}

fn batch(env: &Env, file: &Path, out: &Path) -> assert_cmd::Command {
    let mut cmd = env.vestis();
    cmd.arg("batch").arg(file).arg("-o").arg(out);
    cmd.args(["--interval", "50ms"]);
    cmd
}

/// Starts `vestis batch FILE -o OUT ARGS` in the background, its stdout
/// dropped and its stderr kept for the test to read.
fn spawn_batch(env: &Env, file: &Path, out: &Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("vestis"))
        .env("VESTIS_HOME", env.home.path())
        .env("VESTIS_API_URL", &env.api)
        .env("VESTIS_TOKEN", "me")
        .arg("batch")
        .arg(file)
        .arg("-o")
        .arg(out)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Every row completed once: one manifest line each, its PNG saved.
fn assert_complete(out: &Path, rows: usize, what: &str) {
    let lines = manifest(out);
    assert_eq!(
        lines.len(),
        rows,
        "{what}: one manifest line per row: {lines:#?}"
    );
    let ids: HashSet<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), rows, "{what}: {lines:#?}");
    for line in &lines {
        assert_eq!(line["status"], "completed", "{what}: {line}");
        // Timings are numbers to the millisecond (they had 9+ decimals).
        for timing in ["seconds", "run_seconds"] {
            let seconds = line[timing].as_f64().unwrap();
            let text = line[timing].to_string();
            let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
            assert!(decimals <= 3, "{what}: {timing} {text} in {line}");
            assert!(seconds >= 0.0, "{what}: {line}");
        }
        let png = std::fs::read(line["output"].as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{what}");
    }
}

#[test]
fn bad_files_are_listed_line_by_line_and_nothing_is_sent() {
    let env = Env::start(config(50));
    let dir = env.home.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    let mut ten_mib = b"{\"kind\":\"legacy\",\"prompt\":\"".to_vec();
    ten_mib.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    ten_mib.extend_from_slice(b"\"}\n");
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "empty.csv",
            b"".to_vec(),
            vec!["empty.csv: the file is empty (a CSV needs a header row naming its columns)"],
        ),
        (
            "header.csv",
            b"id,kind,prompt\n".to_vec(),
            vec!["header.csv: no rows to send"],
        ),
        (
            "empty.jsonl",
            b"\n\n".to_vec(),
            vec!["empty.jsonl: no rows to send"],
        ),
        (
            "missing.csv",
            b"id,prompt\na,x\n".to_vec(),
            vec!["missing.csv:1: kind: missing column"],
        ),
        (
            "ragged.csv",
            b"kind,prompt\nchat,a\nchat,b,c\nchat\n".to_vec(),
            vec![
                "ragged.csv:3: row: has 3 fields, the header has 2",
                "ragged.csv:4: row: has 1 field, the header has 2",
            ],
        ),
        (
            "utf8.csv",
            b"kind,prompt\nchat,caf\xe9\n".to_vec(),
            vec!["utf8.csv:2: prompt: is not valid UTF-8"],
        ),
        (
            "long.jsonl",
            ten_mib,
            vec!["long.jsonl:1: row: longer than 1 MiB"],
        ),
        (
            "array.jsonl",
            b"{\"kind\":\"legacy\"}\n[1,2]\n42\n".to_vec(),
            vec![
                "array.jsonl:2: row: is an array (each line must be a JSON object)",
                "array.jsonl:3: row: is a number (each line must be a JSON object)",
            ],
        ),
        (
            "image.csv",
            b"kind,prompt,image\nchat,x,/no/such/ref.png\n".to_vec(),
            vec!["image.csv:2: image: cannot read image /no/such/ref.png"],
        ),
        (
            "dupes.csv",
            b"id,kind,prompt\na,chat,x\na,chat,y\n".to_vec(),
            vec!["dupes.csv:3: id: \"a\" is the id of an earlier row"],
        ),
    ];
    for (name, bytes, expected) in cases {
        let file = write(&dir, name, bytes);
        let out = env.home.path().join(format!("out-{name}"));
        let run = env
            .vestis()
            .current_dir(&dir)
            .arg("batch")
            .arg(name)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        let (_, stderr) = texts(&run);
        assert_eq!(run.status.code(), Some(2), "{name}: {stderr}");
        for line in expected {
            assert!(
                stderr.contains(line),
                "{name}: expected {line:?} in:\n{stderr}"
            );
        }
        assert!(stderr.contains("nothing was sent"), "{name}: {stderr}");
        assert_eq!(jobs_on_server(&env), 0, "{name}: a job was sent");
        assert!(!out.join("manifest.jsonl").exists(), "{name}");
        drop(file);
    }
}

#[test]
fn quoted_newlines_commas_and_a_bom_are_read_as_written() {
    let env = Env::start(config(50));
    let file = write(
        env.home.path(),
        "quoted.csv",
        b"\xEF\xBB\xBFid,kind,prompt\na,chat,\"red, long\nand flowing\"\nb,chat,\"say \"\"hi\"\"\"\n",
    );
    let out = env.home.path().join("out");
    let run = batch(&env, &file, &out).arg("--json").output().unwrap();
    let (stdout, stderr) = texts(&run);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 rows: 2 completed; manifest: "),
        "{stderr}"
    );
    assert_complete(&out, 2, "quoted");
    let by_id = |id: &str| manifest(&out).into_iter().find(|l| l["id"] == id).unwrap();
    assert_eq!(
        by_id("b")["line"],
        4,
        "a quoted newline: the row starts on its first line"
    );
    // `--json`: the manifest's lines on stdout too.
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    let prompts: Vec<Value> = env.admin_get("/jobs")["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["payload"]["prompt"].clone())
        .collect();
    assert!(
        prompts.contains(&json!("red, long\nand flowing")),
        "{prompts:?}"
    );
}

#[test]
fn a_finished_batch_run_again_sends_nothing_and_an_edited_row_is_a_new_row() {
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(5));
    let out = env.home.path().join("out");
    let run = batch(&env, &file, &out).output().unwrap();
    assert!(run.status.success(), "{}", texts(&run).1);
    assert_complete(&out, 5, "first run");
    assert_eq!(jobs_on_server(&env), 5);

    let again = batch(&env, &file, &out).output().unwrap();
    let (_, stderr) = texts(&again);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("5 of 5 rows already finished"), "{stderr}");
    assert!(
        stderr.contains("5 rows: 5 completed; 5 finished in an earlier run (skipped); manifest: "),
        "{stderr}"
    );
    assert_eq!(jobs_on_server(&env), 5, "nothing sent twice");
    assert_eq!(manifest(&out).len(), 5);

    // Row r4's prompt changes: a new row, whose image would replace r4.png.
    let edited = csv_rows(5).replace("prompt number 4", "a new prompt");
    std::fs::write(&file, edited).unwrap();
    let changed = batch(&env, &file, &out).output().unwrap();
    let (_, stderr) = texts(&changed);
    assert_eq!(changed.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("r4.png exists: not replaced"), "{stderr}");
    // The old r4's manifest line is not a row of this file: 4 skipped, not 5.
    assert!(stderr.contains("4 of 5 rows already finished"), "{stderr}");
    assert!(
        stderr.contains(
            "5 rows: 4 completed, 1 not finished; 4 finished in an earlier run (skipped)"
        ),
        "{stderr}"
    );
    // Not finished, so `vestis resume` takes it up (the old r4's line made
    // it look finished: 5 of 5 rows in the manifest).
    let resume = env.vestis().arg("resume").output().unwrap();
    let (_, stderr) = texts(&resume);
    assert!(stderr.contains("Resuming the batch of"), "{stderr}");
    assert_eq!(jobs_on_server(&env), 6, "the edited row was sent, once");
    let with_overwrite = batch(&env, &file, &out)
        .arg("--overwrite")
        .output()
        .unwrap();
    assert!(
        with_overwrite.status.success(),
        "{}",
        texts(&with_overwrite).1
    );
    assert_eq!(jobs_on_server(&env), 6, "its key found the same job");
    assert_eq!(manifest(&out).len(), 6);
}

/// Running a batch again after rows were added: the rows finished before
/// are skipped and said to be; the overall line counts them done but not
/// in this run's rate (no ETA until a row of this run ends).
#[test]
fn a_resumed_batch_says_what_it_skipped_and_rates_only_this_run() {
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(3));
    let out = env.home.path().join("out");
    let first = batch(&env, &file, &out).output().unwrap();
    assert!(first.status.success(), "{}", texts(&first).1);
    std::fs::write(&file, csv_rows(5)).unwrap();
    env.admin_post("/queue/pause");
    let run = PlainRun::spawn(&env, &file, &out);
    run.wait_for_line("3 of 5 rows done (0 failed), 2 in flight, 0.0/s");
    env.admin_post("/queue/resume");
    let text = run.finish();
    assert!(text.contains("3 of 5 rows already finished"), "{text}");
    assert!(
        text.contains("5 rows: 5 completed; 3 finished in an earlier run (skipped); manifest: "),
        "{text}"
    );
    assert_complete(&out, 5, "resumed");
    assert_eq!(jobs_on_server(&env), 5);
}

/// After a crash, jobs that ended while nothing watched them are counted
/// done when the batch re-attaches to them, but not in this run's rate:
/// they took none of its time (they made it hundreds a second, with an
/// ETA of nothing, while a new row had not even started).
#[test]
fn jobs_that_ended_before_a_resume_are_not_in_its_rate() {
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(2));
    let out = env.home.path().join("out");
    let crashed = batch(&env, &file, &out)
        .env("VESTIS_FAILPOINT", "after-record:2")
        .output()
        .unwrap();
    assert_eq!(crashed.status.code(), None, "{}", texts(&crashed).1);
    wait_until("both jobs completed on the server", || {
        let jobs = env.admin_get("/jobs")["jobs"].clone();
        jobs.as_array()
            .is_some_and(|jobs| jobs.len() == 2 && jobs.iter().all(|j| j["status"] == "completed"))
    });
    std::fs::write(&file, csv_rows(3)).unwrap();
    env.admin_post("/queue/pause");
    let run = PlainRun::spawn(&env, &file, &out);
    run.wait_for_line("2 of 3 rows done (0 failed), 1 in flight, 0.0/s");
    env.admin_post("/queue/resume");
    let text = run.finish();
    assert!(text.contains("3 rows: 3 completed; manifest: "), "{text}");
    assert_complete(&out, 3, "re-attached");
    assert_eq!(jobs_on_server(&env), 3);
}

/// A row picked up again after a crash keeps the first run's
/// `submitted_at` (when this machine's create was answered, from the
/// batch log), so its `seconds` spans both runs and is at least the
/// server's `run_seconds` (it was the re-attaching run's few ms).
#[test]
fn a_reattached_row_keeps_the_first_runs_submitted_at() {
    let env = Env::start(config(400));
    let file = write(env.home.path(), "rows.csv", csv_rows(1));
    let out = env.home.path().join("out");
    let crashed = batch(&env, &file, &out)
        .env("VESTIS_FAILPOINT", "after-record:1")
        .output()
        .unwrap();
    let crashed_at = std::time::SystemTime::now();
    assert_eq!(crashed.status.code(), None, "{}", texts(&crashed).1);
    wait_until("the job completed on the server", || {
        env.admin_get("/jobs")["jobs"][0]["status"] == "completed"
    });
    let resumed = batch(&env, &file, &out).output().unwrap();
    assert!(resumed.status.success(), "{}", texts(&resumed).1);
    let lines = manifest(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    let submitted = line["submitted_at"].as_str().unwrap();
    let seconds = line["seconds"].as_f64().unwrap();
    let run_seconds = line["run_seconds"].as_f64().unwrap();
    assert!(run_seconds >= 0.3, "{line}");
    assert!(seconds >= run_seconds, "seconds spans both runs: {line}");
    // Answered in the first run, before it was killed.
    assert!(
        parse_time(submitted) <= crashed_at,
        "submitted_at {submitted} is the first run's: {line}"
    );
    assert_complete(&out, 1, "re-attached");
}

/// An RFC 3339 time as the manifest and the server write it.
fn parse_time(text: &str) -> std::time::SystemTime {
    text.parse::<vestis_client::Timestamp>().unwrap().0
}

/// `vestis batch FILE -o OUT` off a terminal, its plain overall lines
/// every 100ms, its stderr collected line by line as it comes.
struct PlainRun {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl PlainRun {
    fn spawn(env: &Env, file: &Path, out: &Path) -> PlainRun {
        use std::io::BufRead;
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vestis"))
            .env("VESTIS_HOME", env.home.path())
            .env("VESTIS_API_URL", &env.api)
            .env("VESTIS_TOKEN", "me")
            .env("VESTIS_PROGRESS_EVERY", "100ms")
            .args(["batch", "--interval", "50ms", "-o"])
            .arg(out)
            .arg(file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = std::sync::Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                sink.lock().unwrap().push(line.unwrap());
            }
        });
        PlainRun {
            child,
            lines,
            reader,
        }
    }

    /// Waits for a line that is exactly `line`.
    fn wait_for_line(&self, line: &str) {
        let start = Instant::now();
        while !self.lines.lock().unwrap().iter().any(|l| l == line) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "never {line:?} in:\n{}",
                self.lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for a successful exit: everything it wrote on stderr.
    fn finish(mut self) -> String {
        let status = self.child.wait().unwrap();
        self.reader.join().unwrap();
        let text = self.lines.lock().unwrap().join("\n");
        assert!(status.success(), "{text}");
        text
    }
}

/// A row's relative `image` is read from the input file's folder, not
/// the current one: `data/rows.csv` naming `shoes/1.png` sends
/// `data/shoes/1.png`, wherever the command runs; errors and `--dry-run`
/// show the path as resolved; stdin's rows start at the current folder.
#[test]
fn relative_images_are_read_from_the_input_folder() {
    let env = Env::start(config(50));
    let home = env.home.path();
    let data = home.join("data");
    let elsewhere = home.join("elsewhere");
    std::fs::create_dir_all(data.join("shoes")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let png = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/fixtures/interlaced-64.png"),
    )
    .unwrap();
    std::fs::write(data.join("shoes/1.png"), &png).unwrap();
    let absolute = data.join("shoes/1.png");
    let rows = format!(
        "id,kind,prompt,image\nrel,chat,a shoe,shoes/1.png\nabs,chat,a shoe,{}\n",
        absolute.display()
    );
    write(&data, "rows.csv", &rows);
    let in_elsewhere = |args: &[&str]| {
        let mut cmd = env.vestis();
        cmd.current_dir(&elsewhere)
            .args(["batch", "../data/rows.csv"]);
        cmd.args(args).args(["--interval", "50ms"]);
        cmd.output().unwrap()
    };

    let dry = in_elsewhere(&["-o", "out", "--dry-run"]);
    let (stdout, stderr) = texts(&dry);
    assert!(dry.status.success(), "{stderr}");
    assert!(
        stdout.contains("row \"rel\" (line 2): chat \"a shoe\" with ../data/shoes/1.png -> "),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("with {} -> ", absolute.display())),
        "absolute paths as written: {stdout}"
    );
    let json = in_elsewhere(&["-o", "out", "--dry-run", "--json"]);
    let first: Value = serde_json::from_str(texts(&json).0.lines().next().unwrap()).unwrap();
    assert_eq!(first["images"], json!(["../data/shoes/1.png"]));

    let run = in_elsewhere(&["-o", "out"]);
    assert!(run.status.success(), "{}", texts(&run).1);
    assert_complete(&elsewhere.join("out"), 2, "images from the input's folder");

    // A missing image is named where it was looked for.
    write(
        &data,
        "bad.csv",
        "id,kind,prompt,image\nx,chat,a shoe,shoes/2.png\n",
    );
    let bad = env
        .vestis()
        .current_dir(&elsewhere)
        .args(["batch", "../data/bad.csv", "-o", "out2"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&bad);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "../data/bad.csv:2: image: cannot read image ../data/shoes/2.png: No such file"
        ),
        "{stderr}"
    );

    // stdin: from the current folder.
    let piped = env
        .vestis()
        .current_dir(&data)
        .args(["batch", "-", "--dry-run", "-o", "out3"])
        .write_stdin("id,kind,prompt,image\nrel,chat,a shoe,shoes/1.png\n")
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&piped);
    assert!(piped.status.success(), "{stderr}");
    assert!(stdout.contains("with shoes/1.png -> "), "{stdout}");
    assert_eq!(jobs_on_server(&env), 2);
}

#[test]
fn exit_codes_follow_the_worst_row() {
    let env = Env::start(config(50));
    let file = write(
        env.home.path(),
        "mixed.jsonl",
        concat!(
            "{\"id\":\"ok\",\"kind\":\"legacy\"}\n",
            "{\"id\":\"bad\",\"kind\":\"legacy\",\"payload\":{\"prompt\":\"fail\"}}\n",
        ),
    );
    // Every attempt fails, and there is one attempt per job.
    env.admin_patch("/config", json!({"failure_rate": 1.0, "max_attempts": 1}));
    let out = env.home.path().join("out");
    let run = batch(&env, &file, &out).output().unwrap();
    let (_, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("2 rows: 0 completed, 2 failed; manifest:"),
        "{stderr}"
    );
    assert_eq!(manifest(&out).len(), 2, "failed rows are finished rows");

    // A timeout: exit 3, no manifest line (the next run re-attaches).
    env.admin_patch(
        "/config",
        json!({"failure_rate": 0.0, "processing_time": "60s"}),
    );
    let slow = write(env.home.path(), "slow.csv", "kind,prompt\nchat,slow\n");
    let out = env.home.path().join("slow-out");
    let run = batch(&env, &slow, &out)
        .args(["--timeout", "300ms"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("1 row: 0 completed, 1 timed out"),
        "{stderr}"
    );
    assert!(manifest(&out).is_empty());
    // Not finished, so `vestis resume` takes the batch up again.
    let resumed = env
        .vestis()
        .args(["resume", "--timeout", "300ms"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&resumed);
    assert!(stderr.contains("Resuming the batch of"), "{stderr}");
    assert_eq!(resumed.status.code(), Some(3), "{stderr}");
}

/// `vestis resume` with an unfinished batch and an unfinished single job,
/// both timing out again: the summary counts the batch as a batch and
/// the job as a job (it once said "2 of 2 jobs").
#[test]
fn resume_counts_batches_and_jobs_apart() {
    let env = Env::start(config(60_000));
    let slow = write(env.home.path(), "slow.csv", "kind,prompt\nchat,slow\n");
    let out = env.home.path().join("out");
    let run = batch(&env, &slow, &out)
        .args(["--timeout", "300ms"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(3), "{}", texts(&run).1);
    env.queue_jobs(1);
    let resumed = env
        .vestis()
        .args(["resume", "--timeout", "300ms"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&resumed);
    assert_eq!(resumed.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("1 of 1 batch and 1 of 1 job could not be resumed"),
        "{stderr}"
    );
    // Each one's own line is kept above it.
    assert!(
        stderr.contains("1 row: 0 completed, 1 timed out"),
        "{stderr}"
    );
    assert!(!stderr.contains("of 2 jobs"), "{stderr}");
}

/// A second `vestis` on a batch that is running says who runs it (its
/// process id) and what to do, exits 2, and sends nothing.
#[test]
fn a_second_vestis_on_a_running_batch_names_the_first() {
    let env = Env::start(vestis_mock_server::Config {
        paused: true,
        ..config(100)
    });
    let file = write(env.home.path(), "rows.csv", csv_rows(2));
    let out = env.home.path().join("out");
    let mut first = spawn_batch(&env, &file, &out, &["--interval", "50ms"]);
    wait_until("two jobs queued", || jobs_on_server(&env) == 2);
    let second = batch(&env, &file, &out).output().unwrap();
    let (_, stderr) = texts(&second);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    let pid = first.id();
    assert!(
        stderr.contains(&format!(
            "another vestis (process {pid}) is running this batch right now"
        )),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("`kill {pid}`")), "{stderr}");
    assert!(stderr.contains("wait for it to finish"), "{stderr}");
    assert!(!stderr.contains("cannot use the job journal"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert_eq!(jobs_on_server(&env), 2, "the second sent nothing");
    env.admin_post("/queue/resume");
    assert!(first.wait().unwrap().success());
}

/// A batch started with relative paths (the file, its images, DIR) and
/// stopped is finished by `vestis resume` run from another folder: the
/// paths are read from where the batch was started.
#[test]
fn vestis_resume_from_another_folder_reads_the_paths_from_where_the_batch_began() {
    let env = Env::start(config(50));
    let home = env.home.path();
    let data = home.join("data");
    let elsewhere = home.join("elsewhere");
    std::fs::create_dir_all(data.join("shoes")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let png = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/fixtures/interlaced-64.png"),
    )
    .unwrap();
    std::fs::write(data.join("shoes/1.png"), &png).unwrap();
    write(
        &data,
        "rows.csv",
        "id,kind,prompt,image\nr0,chat,a shoe,shoes/1.png\nr1,chat,a boot,\nr2,chat,a hat,shoes/1.png\n",
    );
    let crashed = env
        .vestis()
        .current_dir(&data)
        .args([
            "batch",
            "rows.csv",
            "-o",
            "out",
            "-j",
            "1",
            "--interval",
            "50ms",
        ])
        .env("VESTIS_FAILPOINT", "after-record:2")
        .output()
        .unwrap();
    assert_eq!(crashed.status.code(), None, "{}", texts(&crashed).1);
    let resumed = env
        .vestis()
        .current_dir(&elsewhere)
        .args(["resume", "--interval", "50ms"])
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&resumed);
    assert!(resumed.status.success(), "{stdout}{stderr}");
    assert_complete(&data.join("out"), 3, "resumed from another folder");
    assert!(!elsewhere.join("out").exists());
    assert_eq!(jobs_on_server(&env), 3);
}

/// A row's job stops counting against `-j` once it is seen finished: with
/// `-j 1` and the first row's image slow to download, the second row's
/// job is created while that download still runs, not after it.
#[test]
fn a_finished_job_frees_its_place_while_its_image_downloads() {
    use crate::edges::{Reply, completed_job, raw_server};
    const SLOW: Duration = Duration::from_secs(3);
    let origin = Arc::new(std::sync::OnceLock::<String>::new());
    // Each request as it arrived: its method and path, and when.
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(String, Instant)>::new()));
    let api = {
        let origin = Arc::clone(&origin);
        let seen = Arc::clone(&seen);
        raw_server(move |method, path| {
            let origin = origin.get().cloned().unwrap_or_default();
            let mut seen = seen.lock().unwrap();
            seen.push((format!("{method} {path}"), Instant::now()));
            let creates = seen.iter().filter(|(r, _)| r.starts_with("POST")).count();
            match (method, path) {
                ("POST", _) => Reply::Json(
                    202,
                    json!({"success": true, "job_id": creates, "status": "pending", "message": "queued"})
                        .to_string(),
                ),
                ("GET", "/api/v1/jobs/1") => {
                    Reply::Json(200, completed_job(1, &format!("{origin}/img/1.png")))
                }
                ("GET", "/api/v1/jobs/2") => {
                    Reply::Json(200, completed_job(2, &format!("{origin}/img/2.png")))
                }
                ("GET", "/img/1.png") => Reply::After(SLOW, Box::new(Reply::Png(200))),
                ("GET", "/img/2.png") => Reply::Png(200),
                _ => Reply::Json(404, json!({"success": false, "error": "no"}).to_string()),
            }
        })
    };
    origin.set(api.clone()).unwrap();
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(2));
    let out = env.home.path().join("out");
    let run = batch(&env, &file, &out)
        .env("VESTIS_API_URL", format!("{api}/api/v1"))
        .args(["-j", "1"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&run);
    assert!(run.status.success(), "{stderr}");
    assert_complete(&out, 2, "a slow image");
    let seen = seen.lock().unwrap();
    let at = |request: &str| {
        seen.iter()
            .filter(|(r, _)| r == request)
            .map(|(_, t)| *t)
            .nth(if request.starts_with("POST") { 1 } else { 0 })
            .unwrap_or_else(|| panic!("no {request}: {seen:?}"))
    };
    let second_create = at("POST /api/v1/generate?chat=true");
    let slow_image_answered = at("GET /img/1.png") + SLOW;
    assert!(
        second_create < slow_image_answered,
        "the second row was created only after the first row's image arrived: {seen:?}"
    );
}

/// `-j N` caps the jobs in flight at N, `--jobs-in-flight M` at M: a
/// paused server holds every job, and the batch creates that many and no
/// more while it polls them; once the queue runs, every row completes.
#[test]
fn jobs_in_flight_are_capped_by_concurrency_or_jobs_in_flight() {
    for (args, cap) in [
        (&["-j", "2"][..], 2),
        (&["-j", "2", "--jobs-in-flight", "5"][..], 5),
    ] {
        let env = Env::start(vestis_mock_server::Config {
            paused: true,
            ..config(20)
        });
        let file = write(env.home.path(), "rows.csv", csv_rows(8));
        let out = env.home.path().join("out");
        let mut child = spawn_batch(&env, &file, &out, &[&["--interval", "50ms"], args].concat());
        wait_until("the first jobs queued", || jobs_on_server(&env) >= cap);
        // Several poll rounds: none of them makes room for another create.
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(jobs_on_server(&env), cap, "{args:?}");
        env.admin_post("/queue/resume");
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(status.success(), "{args:?}: {stderr}");
        assert_complete(&out, 8, &format!("{args:?}"));
        assert_eq!(jobs_on_server(&env), 8, "{args:?}");
    }
}

/// Kills `batch` at failpoint `point`, then runs it again (`vestis resume`
/// when `by_resume`) until it ends: one job per row, one line per row.
fn crash_then_resume(point: &str, by_resume: bool) {
    const ROWS: usize = 6;
    let env = Env::start(config(100));
    let file = write(env.home.path(), "rows.csv", csv_rows(ROWS));
    let out = env.home.path().join("out");
    let crashed = batch(&env, &file, &out)
        .args(["--concurrency", "3"])
        .env("VESTIS_FAILPOINT", point)
        .output()
        .unwrap();
    let (_, stderr) = texts(&crashed);
    assert_eq!(
        crashed.status.code(),
        None,
        "{point}: expected death by signal, got {:?}: {stderr}",
        crashed.status
    );
    let resumed = if by_resume {
        env.vestis()
            .args(["resume", "--interval", "50ms"])
            .output()
            .unwrap()
    } else {
        batch(&env, &file, &out).output().unwrap()
    };
    let (stdout, stderr) = texts(&resumed);
    assert!(resumed.status.success(), "{point}: {stdout}{stderr}");
    assert_eq!(
        jobs_on_server(&env),
        ROWS as u64,
        "{point}: one job per row"
    );
    assert_complete(&out, ROWS, point);
    // No temporary image is left (one a save killed midway left is
    // removed when its row's image is saved again).
    let temps: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "{point}: {temps:?}");
    // And nothing left to do.
    let again = batch(&env, &file, &out).output().unwrap();
    assert!(again.status.success(), "{point}");
    assert_eq!(jobs_on_server(&env), ROWS as u64, "{point}");
    assert_eq!(manifest(&out).len(), ROWS, "{point}");
}

#[test]
fn killed_at_any_point_then_run_again_every_row_is_made_once() {
    for point in [
        "before-create:2",
        "after-create:1",
        "after-create:4",
        "after-record:3",
        "mid-wait:2",
        "before-download:3",
        "mid-save:2",
        "after-save:1",
        "after-manifest:4",
        "journal-write:3",
        "journal-write:8",
    ] {
        crash_then_resume(point, false);
    }
}

#[test]
fn killed_then_vestis_resume_finishes_the_batch() {
    for point in ["after-record:2", "after-save:3"] {
        crash_then_resume(point, true);
    }
}

#[test]
fn a_real_sigkill_mid_batch_then_resume() {
    let env = Env::start(config(400));
    let file = write(env.home.path(), "rows.csv", csv_rows(8));
    let out = env.home.path().join("out");
    let mut child = spawn_batch(
        &env,
        &file,
        &out,
        &["--interval", "50ms", "--concurrency", "3"],
    );
    wait_until("two rows finished", || manifest(&out).len() >= 2);
    child.kill().unwrap();
    child.wait().unwrap();
    let resumed = batch(&env, &file, &out).output().unwrap();
    assert!(resumed.status.success(), "{}", texts(&resumed).1);
    assert_eq!(jobs_on_server(&env), 8);
    assert_complete(&out, 8, "sigkill");
}

fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < Duration::from_secs(60), "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_server_restarted_mid_batch_gets_the_lost_rows_again() {
    let env = Env::start(config(600));
    let file = write(env.home.path(), "rows.csv", csv_rows(8));
    let out = env.home.path().join("out");
    let child = spawn_batch(
        &env,
        &file,
        &out,
        &["--interval", "50ms", "--concurrency", "4"],
    );
    wait_until("a row finished", || !manifest(&out).is_empty());
    // The server forgets every job and key; its ids start again at 1.
    env.admin_post("/reset");
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    assert!(stderr.contains("creating it again"), "{stderr}");
    assert_complete(&out, 8, "restart");
    // Rows finished before the reset stay finished; the rest were made
    // once each on the new server.
    let before = manifest(&out)
        .iter()
        .filter(|l| l["finished_at"].is_string())
        .count();
    assert_eq!(before, 8);
    assert!(jobs_on_server(&env) <= 8);
}

#[test]
fn a_server_answering_503_for_longer_than_a_poll_budget_is_ridden_out() {
    let env = Env::start(config(200));
    let file = write(env.home.path(), "rows.csv", csv_rows(4));
    let out = env.home.path().join("out");
    let child = spawn_batch(
        &env,
        &file,
        &out,
        &["--interval", "20ms", "--concurrency", "2"],
    );
    wait_until("a row finished", || !manifest(&out).is_empty());
    // Every request fails for 13 s. The mock's 503s ask for `Retry-After:
    // 1`, so each wait polls about once a second: 13 failures in a row,
    // more than the 10 a single `vestis wait` tolerates (the one-minute
    // outage of the issue, scaled down: what matters is the count).
    env.admin_patch("/config", json!({"http_error_rate": 1.0}));
    std::thread::sleep(Duration::from_secs(13));
    env.admin_patch("/config", json!({"http_error_rate": 0.0}));
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    assert_complete(&out, 4, "503");
    assert_eq!(jobs_on_server(&env), 4);
}

#[test]
fn a_rate_limited_batch_fails_no_row() {
    let mut config = config(20);
    config.faults.rate_limit = Some(5);
    let env = Env::start(config);
    let file = write(env.home.path(), "rows.csv", csv_rows(12));
    let out = env.home.path().join("out");
    let run = batch(&env, &file, &out)
        .args(["--concurrency", "8"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", texts(&run).1);
    assert_complete(&out, 12, "rate limit");
    assert_eq!(jobs_on_server(&env), 12);
}

/// The mock server's transport faults (`docs/faults.md`) on 30 % of the
/// polls, and on creates too: every row still completes, once.
#[test]
fn transport_faults_on_polls_and_creates_lose_no_row_and_make_none_twice() {
    for on in [
        vestis_mock_server::FaultOn::Polls,
        vestis_mock_server::FaultOn::All,
    ] {
        let mut config = config(30);
        config.faults.fault_rate = 0.3;
        config.faults.fault_kinds = "reset,close,truncate,garbage,slow-body=100ms"
            .parse()
            .unwrap();
        config.faults.fault_on = on;
        let env = Env::start(config);
        let file = write(env.home.path(), "rows.csv", csv_rows(12));
        let out = env.home.path().join("out");
        let run = batch(&env, &file, &out)
            .args(["--concurrency", "4"])
            .output()
            .unwrap();
        assert!(run.status.success(), "{on:?}: {}", texts(&run).1);
        assert_complete(&out, 12, "faults");
        assert_eq!(jobs_on_server(&env), 12, "{on:?}: no row made twice");
        let stats = env.admin_get("/stats");
        assert!(
            stats["faults_injected_total"].as_u64().unwrap() >= 3,
            "{on:?}: the requests were faulted: {stats}"
        );
    }
}

#[cfg(unix)]
#[test]
fn file_names_that_are_not_utf8_work() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::start(config(50));
    let dir = env.home.path();
    let file = dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9.csv"));
    std::fs::write(&file, csv_rows(2)).unwrap();
    let out = dir.join(std::ffi::OsStr::from_bytes(b"out-\xff"));
    let run = batch(&env, &file, &out).output().unwrap();
    assert!(run.status.success(), "{}", texts(&run).1);
    assert!(out.join("r0.png").exists() && out.join("r1.png").exists());
    // The log stores the names' bytes: `resume` finds them again.
    let again = batch(&env, &file, &out).output().unwrap();
    assert!(texts(&again).1.contains("2 of 2 rows already finished"));
}

/// A folder and file names that are not UTF-8 show their bytes as
/// `\xE9` in every message (the summary's manifest, `--dry-run`'s lines,
/// a bad row's `FILE:LINE`), never as `\u{fffd}`.
#[cfg(unix)]
#[test]
fn paths_that_are_not_utf8_show_escaped_in_every_message() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::start(config(50));
    let dir = env.home.path().join(std::ffi::OsStr::from_bytes(b"r\xe9s"));
    std::fs::create_dir_all(&dir).unwrap();
    let shown = format!("{}/r\\xE9s", env.home.path().display());
    let file = dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9.csv"));
    std::fs::write(&file, csv_rows(2)).unwrap();
    let out = dir.join(std::ffi::OsStr::from_bytes(b"\xffout"));
    let dry = batch(&env, &file, &out).arg("--dry-run").output().unwrap();
    let (dry_stdout, dry_stderr) = texts(&dry);
    assert!(dry.status.success(), "{dry_stderr}");
    assert!(
        dry_stdout.contains(&format!("-> {shown}/\\xFFout/r0.png")),
        "{dry_stdout}"
    );
    let run = batch(&env, &file, &out).output().unwrap();
    let (stdout, stderr) = texts(&run);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("manifest: {shown}/\\xFFout/manifest.jsonl")),
        "{stderr}"
    );
    let bad = dir.join(std::ffi::OsStr::from_bytes(b"bad\xe9.csv"));
    std::fs::write(&bad, "id,kind,prompt\nr0,nope,x\n").unwrap();
    let invalid = batch(&env, &bad, &out).output().unwrap();
    let (_, bad_stderr) = texts(&invalid);
    assert_eq!(invalid.status.code(), Some(2), "{bad_stderr}");
    assert!(
        bad_stderr.contains(&format!("vestis: {shown}/bad\\xE9.csv:2: kind: ")),
        "{bad_stderr}"
    );
    for text in [&dry_stdout, &dry_stderr, &stdout, &stderr, &bad_stderr] {
        assert!(!text.contains('\u{fffd}'), "{text}");
    }
}

/// `vestis show JOB_ID` finds the file a batch saved that job's image to
/// (from the batch's log), as it finds `generate`'s: the server need not
/// know the job any more.
#[test]
fn show_finds_the_image_a_batch_saved() {
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(3));
    let out = env.home.path().join("out");
    let run = batch(&env, &file, &out).output().unwrap();
    assert!(run.status.success(), "{}", texts(&run).1);
    let line = manifest(&out)
        .into_iter()
        .find(|l| l["id"] == "r1")
        .unwrap();
    let job = line["job_id"].as_u64().unwrap().to_string();
    let saved = line["output"].as_str().unwrap().to_owned();
    // The server forgets every job: only the saved file can answer.
    env.admin_post("/reset");
    let shown = env
        .vestis()
        .args(["show", &job, "--json"])
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&shown);
    assert!(shown.status.success(), "{stderr}");
    let shown: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(shown["job_id"].to_string(), job, "{shown}");
    assert_eq!(shown["path"], saved.as_str(), "{shown}");
    assert!(shown["image_url"].is_null(), "not downloaded: {shown}");
    // Once the file is gone, it is looked for on the server (which has
    // forgotten the job): a not-found, not a stale path.
    std::fs::remove_file(&saved).unwrap();
    let gone = env.vestis().args(["show", &job]).output().unwrap();
    assert_eq!(gone.status.code(), Some(5), "{}", texts(&gone).1);
}

#[test]
fn a_dry_run_sends_nothing() {
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(3));
    let out = env.home.path().join("out");
    let run = batch(&env, &file, &out).arg("--dry-run").output().unwrap();
    let (stdout, stderr) = texts(&run);
    assert!(run.status.success(), "{stderr}");
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.contains("row \"r0\" (line 2): chat \"prompt number 0\" -> "));
    assert!(stderr.contains("3 of 3 rows would be created"), "{stderr}");
    assert_eq!(jobs_on_server(&env), 0);
}

/// `--dry-run` says what a real run would stop at: a row whose image
/// file exists (a line each, exit 2, as the real run), unless
/// `--overwrite`; an output folder that cannot be created or written
/// into (one line, exit 2). Nothing is sent, nothing is created.
#[test]
fn a_dry_run_reports_existing_files_and_an_unusable_folder() {
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(3));
    let out = env.home.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("r1.png"), "mine").unwrap();
    let run = batch(&env, &file, &out).arg("--dry-run").output().unwrap();
    let (stdout, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stdout.lines().count(),
        3,
        "every row still listed: {stdout}"
    );
    let taken = format!(
        "rows.csv:3: output: {} exists: a real run would not replace it (pass --overwrite to replace it)",
        out.join("r1.png").display()
    );
    assert!(stderr.contains(&taken), "{stderr}");
    assert_eq!(stderr.matches("exists: a real run").count(), 1, "{stderr}");
    assert!(
        stderr.contains("1 of them would not be saved: their files exist"),
        "{stderr}"
    );
    // --json says it per row too.
    let json = batch(&env, &file, &out)
        .args(["--dry-run", "--json"])
        .output()
        .unwrap();
    let rows: Vec<Value> = texts(&json)
        .0
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let exists: Vec<bool> = rows
        .iter()
        .map(|r| r["exists"].as_bool().unwrap())
        .collect();
    assert_eq!(exists, [false, true, false]);
    assert_eq!(json.status.code(), Some(2));
    // With --overwrite a real run would replace it: fine.
    let overwrite = batch(&env, &file, &out)
        .args(["--dry-run", "--overwrite"])
        .output()
        .unwrap();
    assert!(overwrite.status.success(), "{}", texts(&overwrite).1);
    assert_eq!(std::fs::read(out.join("r1.png")).unwrap(), b"mine");

    // A folder under a file cannot be created.
    let blocker = write(env.home.path(), "a-file", "x");
    let under = blocker.join("out");
    let run = batch(&env, &file, &under)
        .arg("--dry-run")
        .output()
        .unwrap();
    let (_, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "vestis: cannot create the output folder {}: {} is not a folder",
            under.display(),
            blocker.display()
        )),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("output folder").count(),
        2,
        "its line, and the summary's word: {stderr}"
    );
    // A file given as the folder.
    let run = batch(&env, &file, &blocker)
        .arg("--dry-run")
        .output()
        .unwrap();
    let (_, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is a file, not a folder"), "{stderr}");
    // A folder nobody may write into (root included: /proc/self).
    #[cfg(target_os = "linux")]
    {
        let run = batch(&env, &file, Path::new("/proc/self"))
            .arg("--dry-run")
            .output()
            .unwrap();
        let (_, stderr) = texts(&run);
        assert_eq!(run.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("vestis: cannot write into the output folder /proc/self: "),
            "{stderr}"
        );
        let run = batch(&env, &file, Path::new("/proc/self/new/out"))
            .arg("--dry-run")
            .output()
            .unwrap();
        let (_, stderr) = texts(&run);
        assert_eq!(run.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("cannot create the output folder /proc/self/new/out: /proc/self cannot be written into"),
            "{stderr}"
        );
    }
    assert_eq!(jobs_on_server(&env), 0, "nothing sent");
    assert!(!under.exists() && !out.join("manifest.jsonl").exists());
    let probes = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("dry-run")
        })
        .count();
    assert_eq!(probes, 0, "the probe file is removed");
}

#[test]
fn stdin_and_skip_invalid() {
    let env = Env::start(config(50));
    let out = env.home.path().join("out");
    let run = env
        .vestis()
        .args([
            "batch",
            "-",
            "--kind",
            "legacy",
            "--skip-invalid",
            "--interval",
            "50ms",
            "-o",
        ])
        .arg(&out)
        .write_stdin("{\"id\":\"a\"}\n[]\n{\"id\":\"b\",\"prompt\":\"x\"}\n")
        .output()
        .unwrap();
    let (_, stderr) = texts(&run);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("<stdin>:2: row: is an array"), "{stderr}");
    assert!(
        stderr.contains("3 rows: 2 completed, 1 invalid, skipped"),
        "{stderr}"
    );
    assert_eq!(jobs_on_server(&env), 2);
}

/// With `--skip-invalid`, a run after a finished one counts the rows an
/// earlier run finished of the valid rows, in its note and its summary
/// alike (it said "5 of 5 rows" and then "6 rows: ...; 5 finished").
#[test]
fn skip_invalid_counts_earlier_rows_of_the_valid_ones() {
    let env = Env::start(config(50));
    let mut text = csv_rows(2);
    text.push_str("r9,nope,x\n");
    let file = write(env.home.path(), "rows.csv", text);
    let out = env.home.path().join("out");
    let first = batch(&env, &file, &out)
        .arg("--skip-invalid")
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", texts(&first).1);
    let again = batch(&env, &file, &out)
        .arg("--skip-invalid")
        .output()
        .unwrap();
    let (_, stderr) = texts(&again);
    assert!(again.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 of 2 valid rows already finished in an earlier run: skipping them"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "3 rows: 2 completed, 1 invalid, skipped; 2 of the 2 valid rows finished in an earlier run (skipped); manifest: "
        ),
        "{stderr}"
    );
    assert_eq!(jobs_on_server(&env), 2);
}

/// A real run that cannot create its folder says so in the words of
/// `--dry-run` (which names the folder in the way), not in the OS's alone.
#[test]
fn a_real_run_names_an_unusable_folder_as_the_dry_run_does() {
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(1));
    let blocker = write(env.home.path(), "a-file", "x");
    let mut cases = vec![blocker.join("out")];
    #[cfg(target_os = "linux")]
    cases.push(PathBuf::from("/proc/self/new/out"));
    for out in cases {
        let dry = batch(&env, &file, &out).arg("--dry-run").output().unwrap();
        let (_, dry_stderr) = texts(&dry);
        let said = dry_stderr
            .lines()
            .find(|l| l.starts_with("vestis: cannot create the output folder "))
            .unwrap_or_else(|| panic!("{dry_stderr}"));
        let real = batch(&env, &file, &out).output().unwrap();
        let (_, stderr) = texts(&real);
        assert_eq!(real.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().last(), Some(said), "{stderr}");
    }
    assert_eq!(jobs_on_server(&env), 0);
}

/// A row the check calls invalid because it repeats an earlier row's id
/// is never sent with `--skip-invalid`, nor counted; `--dry-run` counts
/// it out the same way.
#[test]
fn skip_invalid_never_sends_a_row_that_repeats_an_earlier_id() {
    let env = Env::start(config(50));
    let file = write(
        env.home.path(),
        "rows.csv",
        "id,kind,prompt\na,chat,first\nb,chat,second\na,chat,third\n",
    );
    let out = env.home.path().join("out");
    let dry = batch(&env, &file, &out)
        .args(["--skip-invalid", "--dry-run", "--name", "{line}.png"])
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&dry);
    assert!(dry.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 of 2 rows would be created (0 already finished)"),
        "{stderr}"
    );
    assert!(!stdout.contains("third"), "{stdout}");
    let run = batch(&env, &file, &out)
        .args(["--skip-invalid", "--name", "{line}.png"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&run);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("rows.csv:4: id: \"a\" is the id of an earlier row"),
        "{stderr}"
    );
    assert!(
        stderr.contains("3 rows: 2 completed, 1 invalid, skipped"),
        "{stderr}"
    );
    assert_eq!(jobs_on_server(&env), 2);
    assert_eq!(manifest(&out).len(), 2);
}

#[test]
fn no_usable_home_is_one_line_and_exit_2() {
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(1));
    let blocker = write(env.home.path(), "not-a-dir", "x");
    let run = env
        .vestis()
        .env("VESTIS_HOME", blocker.join("home"))
        .arg("batch")
        .arg(&file)
        .output()
        .unwrap();
    let (_, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot use the job journal"), "{stderr}");
    assert_eq!(jobs_on_server(&env), 0);
}

/// The live display on a terminal: the overall line and the jobs in flight.
mod display {
    use super::*;
    use crate::pty::{OnTerminal, SPINNER, Terminal, render_rows};

    fn paused(ms: u64) -> Env {
        Env::start(vestis_mock_server::Config {
            paused: true,
            ..config(ms)
        })
    }

    /// `vestis batch rows.csv -o out --interval 50ms EXTRA` on a terminal of `size`.
    fn batch_on(env: &Env, size: Terminal, extra: &[&str]) -> OnTerminal {
        let mut args = vec!["batch", "rows.csv", "-o", "out", "--interval", "50ms"];
        args.extend_from_slice(extra);
        OnTerminal::spawn(env, size, &args)
    }

    /// Lets the paused queue run and waits for the batch to succeed: its final screen.
    fn resume_and_finish(env: &Env, run: OnTerminal) -> String {
        env.admin_post("/queue/resume");
        let (status, screen) = run.finish();
        assert!(status.success(), "{screen}");
        screen
    }

    #[test]
    fn one_job_shows_the_overall_line_and_its_spinner_then_the_summary() {
        let env = paused(300);
        write(env.home.path(), "rows.csv", csv_rows(1));
        let run = batch_on(&env, Terminal::xterm(100, 30), &[]);
        let frame = run.frame_where("the overall line and a queued job", |s| {
            s.contains("0 of 1 row done (0 failed), 1 in flight")
                && s.contains("Waiting in queue...")
        });
        assert!(frame.contains(SPINNER), "{frame}");
        let screen = resume_and_finish(&env, run);
        assert!(
            screen.contains("1 row: 1 completed; manifest: "),
            "{screen}"
        );
        assert!(!screen.contains(SPINNER), "a spinner was left:\n{screen}");
        assert!(
            !screen.contains("in flight"),
            "the overall line was left:\n{screen}"
        );
    }

    /// A row without an `id` is named `FILE:LINE` on its live line, a
    /// file name byte that is not UTF-8 written `\xE9` (it was `�`).
    #[cfg(unix)]
    #[test]
    fn a_file_name_that_is_not_utf8_labels_rows_escaped() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let env = paused(300);
        std::fs::write(
            env.home.path().join(OsStr::from_bytes(b"caf\xe9.csv")),
            "kind,prompt\nchat,x\n",
        )
        .unwrap();
        let args: Vec<&OsStr> = vec![
            OsStr::new("batch"),
            OsStr::from_bytes(b"caf\xe9.csv"),
            OsStr::new("-o"),
            OsStr::new("out"),
            OsStr::new("--interval"),
            OsStr::new("50ms"),
        ];
        let run = OnTerminal::spawn_os(&env, Terminal::xterm(100, 30), &args);
        let frame = run.frame_where("the row's live line", |s| s.contains("Waiting in queue..."));
        assert!(frame.contains("caf\\xE9.csv:2"), "{frame}");
        assert!(!frame.contains('\u{fffd}'), "{frame}");
        resume_and_finish(&env, run);
    }

    #[test]
    fn sixty_four_in_flight_fit_the_screen() {
        let env = paused(200);
        write(env.home.path(), "rows.csv", csv_rows(64));
        let size = Terminal::xterm(100, 20);
        let run = batch_on(&env, size, &["-j", "64"]);
        let rows = run.rows_where("64 jobs in flight", |rows| {
            rows.iter().any(|r| r.contains("64 in flight"))
                && rows
                    .iter()
                    .filter(|r| r.contains("Waiting in queue..."))
                    .count()
                    >= 10
        });
        let spinners = rows
            .iter()
            .filter(|r| r.contains("Waiting in queue..."))
            .count();
        assert!(
            spinners <= 18,
            "more spinners than the screen has rows: {rows:#?}"
        );
        // The overall line is on screen, above the spinners.
        let overall = rows
            .iter()
            .position(|r| r.contains("64 in flight"))
            .unwrap();
        let first = rows
            .iter()
            .position(|r| r.contains("Waiting in queue..."))
            .unwrap();
        assert!(overall < first, "{rows:#?}");
        // The rest are counted under them: together, the 64 in flight.
        run.rows_where("the spinners and the count add up to 64", |rows| {
            let spinners = rows.iter().filter(|r| r.starts_with(SPINNER)).count();
            let count = format!("… and {} more in flight", 64 - spinners);
            rows.iter().any(|r| r.contains("64 in flight"))
                && rows.iter().any(|r| r.trim_end() == count)
        });
        env.admin_post("/queue/resume");
        let (status, bytes) = run.finish_raw();
        let screen = render_rows(&bytes, size).join("\n");
        assert!(status.success(), "{screen}");
        assert!(screen.contains("64 rows: 64 completed"), "{screen}");
        assert!(!screen.contains(SPINNER), "{screen}");
    }

    #[test]
    fn a_narrow_terminal_never_wraps_a_live_line() {
        let env = paused(200);
        write(env.home.path(), "rows.csv", csv_rows(3));
        let size = Terminal::xterm(30, 20);
        let run = batch_on(&env, size, &[]);
        // Each job's line names its row; its status is cut to make room.
        let rows = run.rows_where("three queued jobs", |rows| {
            rows.iter()
                .filter(|r| r.contains(" · job ") && r.contains("Wait"))
                .count()
                == 3
        });
        // The overall line takes a shorter form that fits, on one row.
        let overall: Vec<&String> = rows.iter().filter(|r| r.starts_with("0/3 ")).collect();
        assert_eq!(overall.len(), 1, "{rows:#?}");
        assert_eq!(overall[0].trim_end(), "0/3 ✔ 0 ✘ 3 ⟳", "{rows:#?}");
        let screen = resume_and_finish(&env, run);
        assert!(!screen.contains(SPINNER), "{screen}");
    }

    #[test]
    fn ctrl_c_stops_waiting_and_says_how_to_resume() {
        let env = paused(200);
        write(env.home.path(), "rows.csv", csv_rows(3));
        let mut run = batch_on(&env, Terminal::xterm(120, 30), &[]);
        run.frame_where("three queued jobs", |s| {
            s.matches("Waiting in queue...").count() == 3
        });
        run.press_ctrl_c();
        let (status, screen) = run.finish();
        assert_eq!(status.code(), Some(130), "{screen}");
        assert!(!screen.contains(SPINNER), "{screen}");
        assert!(
            screen
                .replace('\n', "")
                .contains("run the same command again (or `vestis resume`)"),
            "{screen}"
        );
        // And the same command picks the rows up: no second job for any.
        env.admin_post("/queue/resume");
        let again = batch(
            &env,
            &env.home.path().join("rows.csv"),
            &env.home.path().join("out"),
        )
        .output()
        .unwrap();
        assert!(again.status.success(), "{}", texts(&again).1);
        assert_eq!(jobs_on_server(&env), 3);
        assert_complete(&env.home.path().join("out"), 3, "ctrl-c");
    }

    /// Ctrl-C clears the overall line before the jobs' plain lines are
    /// written: on the final screen each job in flight has its own row,
    /// starting at the left edge, and no overall line is left (the plain
    /// lines were once written onto the overall line still drawn).
    #[test]
    fn ctrl_c_leaves_one_plain_row_per_job_and_no_overall_line() {
        let env = paused(200);
        write(env.home.path(), "rows.csv", csv_rows(3));
        let size = Terminal::xterm(100, 30);
        let mut run = batch_on(&env, size, &[]);
        run.rows_where("the overall line over three queued jobs", |rows| {
            rows.iter().any(|r| r.contains("3 in flight"))
                && rows
                    .iter()
                    .filter(|r| r.contains("Waiting in queue..."))
                    .count()
                    == 3
        });
        run.press_ctrl_c();
        let (status, bytes) = run.finish_raw();
        let rows = render_rows(&bytes, size);
        let screen = rows.join("\n");
        assert_eq!(status.code(), Some(130), "{screen}");
        assert!(
            !rows
                .iter()
                .any(|r| r.contains("rows done") || r.contains(" in flight, ")),
            "the overall line was left:\n{screen}"
        );
        // Each names its row and its job, as its live line did.
        for job in 1..=3 {
            let row = format!(" · job {job} not finished: Waiting in queue...");
            let found: Vec<&String> = rows.iter().filter(|r| r.contains(&row)).collect();
            assert_eq!(found.len(), 1, "job {job}:\n{screen}");
            let id = found[0]
                .trim_end()
                .strip_prefix("- ")
                .and_then(|r| r.strip_suffix(&row));
            assert!(
                id.is_some_and(|id| ["r0", "r1", "r2"].contains(&id)),
                "a row of its own:\n{screen}"
            );
        }
        assert!(!screen.contains(SPINNER), "{screen}");
        env.admin_post("/queue/resume");
    }

    /// The rows under the last overall line that starts with `overall`:
    /// the live area's job rows (blank rows trimmed off the end).
    fn live_rows<'a>(rows: &'a [String], overall: &str) -> Option<&'a [String]> {
        let at = rows.iter().rposition(|r| r.starts_with(overall))?;
        let mut live = &rows[at + 1..];
        while let [rest @ .., last] = live
            && last.trim().is_empty()
        {
            live = rest;
        }
        Some(live)
    }

    /// Whether each of `rows` is one job's whole line: it starts with a
    /// spinner (a wrapped line's end, or a stale line, does not) and
    /// ends with its elapsed time.
    fn whole_job_lines(rows: &[String], jobs: usize) -> bool {
        rows.len() == jobs
            && rows.iter().all(|r| {
                r.starts_with(SPINNER) && r.contains(" · job ") && r.trim_end().ends_with('s')
            })
    }

    /// A window made narrower, then wider, while jobs wait: every job's
    /// line is cut anew to each width (they kept the width they were cut
    /// for and wrapped, or stayed short), and Ctrl-C after it leaves
    /// nothing live behind.
    #[test]
    fn job_lines_are_cut_anew_when_the_window_is_resized() {
        let env = paused(200);
        write(env.home.path(), "rows.csv", csv_rows(3));
        let wide = Terminal::xterm(100, 20);
        let mut run = batch_on(&env, wide, &[]);
        run.rows_where("three queued jobs", |rows| {
            live_rows(rows, "0 of 3 rows done").is_some_and(|live| whole_job_lines(live, 3))
                && rows
                    .iter()
                    .filter(|r| r.contains("Waiting in queue... "))
                    .count()
                    == 3
        });
        run.resize(Terminal::xterm(30, 20));
        let narrow = run.rows_where("three job lines cut to 30 columns", |rows| {
            live_rows(rows, "0/3 ✔ 0 ✘ 3 ⟳").is_some_and(|live| {
                whole_job_lines(live, 3) && live.iter().all(|r| r.contains("Wait"))
            })
        });
        let live = live_rows(&narrow, "0/3 ").unwrap();
        assert!(
            live.iter().all(|r| !r.contains("Waiting in queue...")),
            "cut to the width: {narrow:#?}"
        );
        run.resize(wide);
        run.rows_where("three job lines whole again at 100 columns", |rows| {
            live_rows(rows, "0 of 3 rows done").is_some_and(|live| {
                whole_job_lines(live, 3) && live.iter().all(|r| r.contains("Waiting in queue... "))
            })
        });
        run.resize(Terminal::xterm(40, 20));
        run.rows_where("three job lines at 40 columns", |rows| {
            live_rows(rows, "0/3 done (0 failed), 3 in flight")
                .is_some_and(|live| whole_job_lines(live, 3))
        });
        run.press_ctrl_c();
        let (status, rows) = run.finish_rows();
        let screen = rows.join("\n");
        assert_eq!(status.code(), Some(130), "{screen}");
        assert!(!screen.contains(SPINNER), "a live line was left:\n{screen}");
        assert!(
            !rows
                .iter()
                .any(|r| r.contains("⟳") || r.contains("rows done")),
            "the overall line was left:\n{screen}"
        );
        // A plain line may wrap (it is not redrawn): read as written.
        let text = rows.concat();
        for job in 1..=3 {
            let row = format!(" · job {job} not finished: Waiting in queue...");
            assert_eq!(text.matches(&row).count(), 1, "job {job}:\n{screen}");
        }
        env.admin_post("/queue/resume");
    }

    /// A new job's line says what the docs' statuses say (the create's
    /// `pending`: `Waiting in queue...`), never a status no doc mentions.
    #[test]
    fn a_new_job_reads_as_queued() {
        let env = paused(200);
        write(env.home.path(), "rows.csv", csv_rows(2));
        let run = OnTerminal::spawn(
            &env,
            Terminal::xterm(100, 20),
            // Polled rarely: the line the create left stays a while.
            &["batch", "rows.csv", "-o", "out", "--interval", "5s"],
        );
        run.frame_where("two queued jobs", |s| {
            s.matches("Waiting in queue...").count() == 2
        });
        env.admin_post("/queue/resume");
        let (status, bytes) = run.finish_raw();
        let text = String::from_utf8_lossy(&bytes);
        assert!(status.success(), "{text}");
        assert!(!text.contains("Looking up"), "{text}");
    }

    /// Why the server cannot be reached stays on the overall line at 40
    /// columns, cut with `…` after a narrower form (it was dropped).
    #[test]
    fn at_40_columns_the_overall_line_keeps_why_it_retries() {
        let env = paused(200);
        write(env.home.path(), "rows.csv", csv_rows(4));
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let api = format!("http://{closed}");
        let size = Terminal::xterm(40, 20);
        let mut run = OnTerminal::spawn_with(
            &env,
            size,
            &["batch", "rows.csv", "-o", "out", "--timeout", "1m"],
            &[("VESTIS_API_URL", &api)],
        );
        let rows = run.rows_where("the overall line with why it retries", |rows| {
            rows.iter()
                .any(|r| r.starts_with("0/4 ") && r.contains("; cannot"))
        });
        let line = rows.iter().find(|r| r.starts_with("0/4 ")).unwrap();
        assert!(
            line.trim_end().ends_with('…') || line.trim_end().ends_with(": retrying"),
            "{rows:#?}"
        );
        assert!(
            console::measure_text_width(line.trim_end()) <= 37,
            "{rows:#?}"
        );
        // No create is answered: four rows in flight without a job, which
        // the line under the (no) spinners counts as the overall line does.
        run.rows_where("the rows being created counted", |rows| {
            rows.iter()
                .any(|r| r.trim_end() == "… and 4 more in flight")
                && !rows.iter().any(|r| r.starts_with(SPINNER))
        });
        run.press_ctrl_c();
        let (status, screen) = run.finish();
        assert_eq!(status.code(), Some(130), "{screen}");
    }

    /// At 24 columns a job's line uses the width it has (it left a
    /// quarter of it empty, cutting the status early).
    #[test]
    fn at_24_columns_a_job_line_uses_its_width() {
        let env = paused(200);
        write(env.home.path(), "rows.csv", csv_rows(1));
        let run = batch_on(&env, Terminal::xterm(24, 20), &[]);
        let rows = run.rows_where("a queued job", |rows| {
            rows.iter()
                .any(|r| r.starts_with(SPINNER) && r.contains("job 1 Wait"))
        });
        let line = rows.iter().find(|r| r.contains("job 1 Wait")).unwrap();
        // 21 usable columns; the elapsed time may be a column short of
        // the room kept for it by the next redraw.
        let used = console::measure_text_width(line.trim_end());
        assert!((20..=21).contains(&used), "{used}: {rows:#?}");
        resume_and_finish(&env, run);
    }

    /// In a window 8 rows high, 16 jobs in flight: as many spinners as
    /// fit, then a line counting the rest, all on the screen.
    #[test]
    fn a_short_window_counts_the_jobs_it_cannot_show() {
        let env = paused(200);
        write(env.home.path(), "rows.csv", csv_rows(16));
        let size = Terminal::xterm(100, 8);
        let run = batch_on(&env, size, &["-j", "16"]);
        // Once every create is answered: the overall line, 5 spinners,
        // the count and the cursor's row. While creates are under way,
        // rows without a job yet are counted under the spinners too.
        let rows = run.rows_where("16 in flight, 11 counted", |rows| {
            rows.iter().any(|r| r.contains("16 in flight"))
                && rows.iter().filter(|r| r.starts_with(SPINNER)).count() == 5
        });
        let spinners = rows.iter().filter(|r| r.starts_with(SPINNER)).count();
        let more = rows.iter().find(|r| r.starts_with("… and ")).unwrap();
        assert_eq!(
            more.trim_end(),
            format!("… and {} more in flight", 16 - spinners),
            "{rows:#?}"
        );
        // The overall line, the spinners, the count and the cursor's row.
        assert_eq!(spinners, 8 - 3, "{rows:#?}");
        let screen = resume_and_finish(&env, run);
        assert!(screen.contains("16 rows: 16 completed"), "{screen}");
        assert!(!screen.contains("more in flight"), "{screen}");
    }

    /// One chat row done at once and two legacy rows held for minutes:
    /// the overall line has done, in flight and an ETA to show.
    fn one_done_two_waiting() -> Env {
        let mut config = config(50);
        config.faults.processing_time_by_type = "chat=50ms,legacy=120s".parse().unwrap();
        Env::start(config)
    }

    const ONE_DONE_TWO_WAITING: &str = "id,kind,prompt\n\
        a,chat,quick\n\
        b,legacy,slow\n\
        c,legacy,slow\n";

    /// The overall line at `size`, once one row is done and two are in
    /// flight with an ETA: the rows of that screen (stopped by Ctrl-C).
    fn overall_at(size: Terminal) -> Vec<String> {
        let env = one_done_two_waiting();
        write(env.home.path(), "rows.csv", ONE_DONE_TWO_WAITING);
        let mut run = batch_on(&env, size, &[]);
        let rows = run.rows_where("one row done, two in flight, an ETA", |rows| {
            rows.iter()
                .any(|r| r.starts_with("1/3 ") && r.contains('2'))
                && rows.iter().filter(|r| r.contains(" job ")).count() == 2
        });
        run.press_ctrl_c();
        let (status, _) = run.finish();
        assert_eq!(status.code(), Some(130));
        rows
    }

    /// The overall line of `rows` and the row after it.
    fn overall_row(rows: &[String]) -> (String, String) {
        let at = rows.iter().position(|r| r.starts_with("1/3 ")).unwrap();
        (
            rows[at].trim_end().to_owned(),
            rows.get(at + 1).cloned().unwrap_or_default(),
        )
    }

    /// Whether `text` is a duration as the CLI writes one (`5s`, `2m 3s`).
    fn is_duration(text: &str) -> bool {
        !text.is_empty()
            && text.split(' ').all(|part| {
                ["ms", "s", "m", "h"].iter().any(|unit| {
                    part.strip_suffix(unit)
                        .is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok())
                })
            })
    }

    /// At 40 columns the overall line drops the rate and the words for
    /// marks, and keeps done of total, failed, in flight and the ETA,
    /// whole on its row (it was cut at the edge, losing all four).
    #[test]
    fn at_40_columns_the_overall_line_keeps_its_counts_and_eta() {
        let rows = overall_at(Terminal::xterm(40, 20));
        let (overall, next) = overall_row(&rows);
        let eta = overall.strip_prefix("1/3 ✔ 0 ✘ 2 ⟳ ETA ");
        assert!(eta.is_some_and(is_duration), "{overall:?} in {rows:#?}");
        // The next row is a job's own, not the line's wrapped end.
        assert!(next.contains(" job "), "{rows:#?}");
    }

    /// At 24 columns: a narrow form with its ETA, whole (the marks'
    /// spaced form if the ETA is short enough, else the narrowest).
    #[test]
    fn at_24_columns_the_overall_line_is_a_narrow_form() {
        let rows = overall_at(Terminal::xterm(24, 20));
        let (overall, next) = overall_row(&rows);
        let eta = overall
            .strip_prefix("1/3 ✔ 0 ✘ 2 ⟳ ETA ")
            .or_else(|| overall.strip_prefix("1/3 0✘ 2⟳ "));
        assert!(eta.is_some_and(is_duration), "{overall:?} in {rows:#?}");
        assert!(next.contains(" job "), "{rows:#?}");
    }

    /// Each job in flight names its row: the `id` (escaped, cut to its
    /// room by display width), or `FILE:LINE` for a row without one.
    #[test]
    fn each_job_in_flight_names_its_row() {
        let env = paused(200);
        write(
            env.home.path(),
            "rows.csv",
            "id,kind,prompt\n\
             sku-1,chat,one\n\
             ,chat,two\n\
             日本\u{1b}[2J語-a-very-long-product-identifier-that-goes-on,chat,three\n",
        );
        let run = batch_on(&env, Terminal::xterm(100, 20), &[]);
        let rows = run.rows_where("three queued jobs", |rows| {
            rows.iter()
                .filter(|r| r.contains("Waiting in queue..."))
                .count()
                == 3
        });
        let named = |name: &str| {
            rows.iter().any(|r| {
                r.split_once(&format!("{name} · job "))
                    .and_then(|(_, rest)| rest.split_once(" Waiting in queue..."))
                    .is_some_and(|(job, _)| job.parse::<u64>().is_ok())
            })
        };
        assert!(named("sku-1"), "{rows:#?}");
        assert!(named("rows.csv:3"), "{rows:#?}");
        // Cut to 32 columns, the wide characters counted as two each.
        assert!(named("日本\\u{1b}[2J語-a-very-long-pro…"), "{rows:#?}");
        resume_and_finish(&env, run);
    }

    #[test]
    fn text_from_the_file_is_escaped() {
        let env = Env::start(config(50));
        let file = write(
            env.home.path(),
            "odd.jsonl",
            "{\"id\":\"日本\\u001b[2J\",\"kind\":\"chat\",\"prompt\":\"x\\u001b]0;owned\\u0007\"}\n",
        );
        let run = batch(&env, &file, &env.home.path().join("out"))
            .arg("--dry-run")
            .output()
            .unwrap();
        let (stdout, _) = texts(&run);
        assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
        assert!(stdout.contains("日本\\u{1b}[2J"), "{stdout}");
    }
}

/// A full disk while the manifest is written (the manifest is
/// `/dev/full`): exit 2 naming the file, and once there is room the same
/// command finishes every row, each made once.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_stops_the_batch_and_the_same_command_finishes_it() {
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(3));
    let out = env.home.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink("/dev/full", out.join("manifest.jsonl")).unwrap();
    let full = batch(&env, &file, &out).output().unwrap();
    let (_, stderr) = texts(&full);
    assert_eq!(full.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write the manifest"), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    // The summary first, every row counted, then the error.
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 2, "{stderr}");
    assert!(
        lines.last().unwrap().contains("cannot write the manifest"),
        "{stderr}"
    );
    assert!(
        lines[lines.len() - 2]
            .starts_with("vestis: 3 rows: 0 completed, 3 not finished; manifest: "),
        "{stderr}"
    );
    std::fs::remove_file(out.join("manifest.jsonl")).unwrap();
    let again = batch(&env, &file, &out).output().unwrap();
    assert!(again.status.success(), "{}", texts(&again).1);
    assert_complete(&out, 3, "full disk");
    assert_eq!(jobs_on_server(&env), 3, "no row made twice");
}

/// A full disk while an image is saved (DIR a full tmpfs): the error
/// names the row as every row's message does, the summary line (what is
/// unfinished counted) comes before it, exit 2; once there is room the
/// same command finishes every row, none made twice.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_names_the_row_and_prints_the_summary_first() {
    let Some(disk) = crate::edges::FullDisk::mount_sized("2m") else {
        return;
    };
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(3));
    let out = disk.path().to_owned();
    let full = batch(&env, &file, &out).args(["-j", "1"]).output().unwrap();
    let (_, stderr) = texts(&full);
    assert_eq!(full.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 2, "{stderr}");
    // Whichever row met the full disk first (a small image may fit in
    // the last page left), named as every row's message names it.
    let last = lines.last().unwrap();
    assert!(last.starts_with("vestis: row \"r"), "{stderr}");
    assert!(
        last.contains(&format!(
            "completed but its image could not be saved to {}/r",
            out.display()
        )),
        "{stderr}"
    );
    assert!(last.contains("No space left on device"), "{stderr}");
    // Every row counted: completed (if one fit) and not finished.
    let summary = lines[lines.len() - 2];
    let counts = summary
        .strip_prefix("vestis: 3 rows: ")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("{stderr}"));
    let completed: u64 = counts.split(' ').next().unwrap().parse().unwrap();
    assert_eq!(
        counts,
        format!("{completed} completed, {} not finished", 3 - completed),
        "{stderr}"
    );
    disk.make_room();
    let again = batch(&env, &file, &out).output().unwrap();
    assert!(again.status.success(), "{}", texts(&again).1);
    assert_complete(&out, 3, "full disk");
    assert_eq!(jobs_on_server(&env), 3, "no row made twice");
}

/// Not a terminal: plain lines, no escape codes; `-q`: nothing at all.
#[test]
fn plain_output_off_a_terminal_and_nothing_with_quiet() {
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(2));
    let plain = batch(&env, &file, &env.home.path().join("a"))
        .output()
        .unwrap();
    let (_, stderr) = texts(&plain);
    assert!(plain.status.success(), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(stderr.contains("2 rows: 2 completed"), "{stderr}");
    let quiet = batch(&env, &file, &env.home.path().join("b"))
        .arg("-q")
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&quiet);
    assert!(quiet.status.success(), "{stderr}");
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
}

/// Whether `line` is a plain overall line: `N of T rows done (P), F in
/// flight, R/s` and maybe `, ETA D`.
fn is_overall_line(line: &str, total: usize) -> bool {
    let Some((done, rest)) = line.split_once(&format!(" of {total} rows done (")) else {
        return false;
    };
    let Some((problems, rest)) = rest.split_once("), ") else {
        return false;
    };
    let Some((in_flight, rest)) = rest.split_once(" in flight, ") else {
        return false;
    };
    let rate = rest.split(", ETA ").next().unwrap_or_default();
    done.parse::<u64>().is_ok()
        && !problems.is_empty()
        && in_flight.parse::<u64>().is_ok()
        && rate
            .strip_suffix("/s")
            .is_some_and(|r| r.parse::<f64>().is_ok())
}

/// Off a terminal, the overall line is written every
/// `VESTIS_PROGRESS_EVERY` (10 s unless set): plain lines, no escape
/// codes, each of the documented shape. A paused server holds the jobs
/// until a line has come, so no timing decides the outcome.
#[test]
fn plain_progress_lines_come_periodically_off_a_terminal() {
    use std::io::BufRead;
    let env = Env::start(vestis_mock_server::Config {
        paused: true,
        ..config(50)
    });
    let file = write(env.home.path(), "rows.csv", csv_rows(3));
    let out = env.home.path().join("out");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vestis"))
        .env("VESTIS_HOME", env.home.path())
        .env("VESTIS_API_URL", &env.api)
        .env("VESTIS_TOKEN", "me")
        .env("VESTIS_PROGRESS_EVERY", "100ms")
        .args(["batch", "--interval", "50ms", "-o"])
        .arg(&out)
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = std::sync::Arc::clone(&lines);
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            sink.lock().unwrap().push(line.unwrap());
        }
    });
    wait_until("two overall lines with every job in flight", || {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| is_overall_line(l, 3) && l.contains(" 3 in flight"))
            .count()
            >= 2
    });
    env.admin_post("/queue/resume");
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
    let lines = lines.lock().unwrap().clone();
    let text = lines.join("\n");
    assert!(!text.contains('\u{1b}'), "no escape codes: {text:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "0 of 3 rows done (0 failed), 3 in flight, 0.0/s"),
        "{text}"
    );
    // Every line is an overall line, but the summary at the end.
    let (summary, periodic) = lines.split_last().unwrap();
    assert!(
        summary.starts_with("3 rows: 3 completed; manifest: "),
        "{text}"
    );
    for line in periodic {
        assert!(
            is_overall_line(line, 3),
            "not an overall line: {line:?} in\n{text}"
        );
    }
    // A bad value is one line and exit 2, before anything is sent.
    let bad = batch(&env, &file, &env.home.path().join("other"))
        .env("VESTIS_PROGRESS_EVERY", "often")
        .output()
        .unwrap();
    let (_, stderr) = texts(&bad);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("VESTIS_PROGRESS_EVERY=often"), "{stderr}");
    assert_eq!(jobs_on_server(&env), 3);
}

/// SIGTERM and SIGHUP stop a batch as Ctrl-C does: the resume hint, exit
/// 128 + the signal (143, 129), and the same command then finishes every
/// row once.
#[cfg(unix)]
#[test]
fn sigterm_and_sighup_stop_the_batch_and_say_how_to_resume() {
    for (signal, code) in [("TERM", 143), ("HUP", 129)] {
        let env = Env::start(vestis_mock_server::Config {
            paused: true,
            ..config(100)
        });
        let file = write(env.home.path(), "rows.csv", csv_rows(3));
        let out = env.home.path().join("out");
        let child = spawn_batch(&env, &file, &out, &["--interval", "50ms"]);
        wait_until("three jobs queued", || jobs_on_server(&env) == 3);
        let sent = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let done = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(code), "SIG{signal}: {stderr}");
        assert!(
            stderr.contains("run the same command again (or `vestis resume`)"),
            "SIG{signal}: {stderr}"
        );
        env.admin_post("/queue/resume");
        let again = batch(&env, &file, &out).output().unwrap();
        assert!(again.status.success(), "SIG{signal}: {}", texts(&again).1);
        assert_eq!(jobs_on_server(&env), 3, "SIG{signal}");
        assert_complete(&out, 3, signal);
    }
}

/// `-o out/`, `-o ./out` and `-o /abs/out` (and the file's spellings) are
/// one batch: run again under another spelling, nothing is sent.
#[test]
fn spellings_of_one_folder_and_file_are_one_batch() {
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(3));
    let first = batch(&env, &file, &env.home.path().join("out/"))
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", texts(&first).1);
    assert_eq!(jobs_on_server(&env), 3);
    for (input, out) in [
        ("./rows.csv", "./out"),
        ("rows.csv", "out/."),
        ("x/../rows.csv", "out//"),
    ] {
        std::fs::create_dir_all(env.home.path().join("x")).unwrap();
        let again = batch(&env, Path::new(input), Path::new(out))
            .current_dir(env.home.path())
            .output()
            .unwrap();
        let (_, stderr) = texts(&again);
        assert!(again.status.success(), "{input} -o {out}: {stderr}");
        assert!(
            stderr.contains("3 of 3 rows already finished"),
            "{input} -o {out}: {stderr}"
        );
    }
    assert_eq!(jobs_on_server(&env), 3, "nothing sent twice");
    assert_eq!(manifest(&env.home.path().join("out")).len(), 3);
}

/// A relative `-o` whose folders do not exist is probed in the current
/// folder: here one deleted under the process (so the path stays
/// relative), which a real run could not write into.
#[cfg(target_os = "linux")]
#[test]
fn a_dry_run_probes_the_current_folder_for_a_relative_new_folder() {
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(1));
    let gone = env.home.path().join("gone");
    std::fs::create_dir_all(&gone).unwrap();
    let run = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"cd "$1" && rmdir "$1" && exec "$2" batch "$3" -o out/sub --dry-run"#)
        .arg("sh")
        .arg(&gone)
        .arg(assert_cmd::cargo::cargo_bin("vestis"))
        .arg(&file)
        .env("VESTIS_HOME", env.home.path())
        .env("VESTIS_API_URL", &env.api)
        .env("VESTIS_TOKEN", "me")
        .output()
        .unwrap();
    let (_, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot create the output folder out/sub: . cannot be written into"),
        "{stderr}"
    );
    assert_eq!(jobs_on_server(&env), 0);
}

/// A server that refuses connections is said to be unreachable while the
/// batch retries (not counted as progress), and each row's message names
/// the refused connection, not a silent wait.
#[test]
fn an_unreachable_server_is_named_while_retrying_and_in_each_row() {
    let env = Env::start(config(50));
    let file = write(env.home.path(), "rows.csv", csv_rows(2));
    let out = env.home.path().join("out");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let run = batch(&env, &file, &out)
        .env("VESTIS_API_URL", format!("http://{closed}"))
        .env("VESTIS_PROGRESS_EVERY", "500ms")
        .args(["--timeout", "4s"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(6), "{stderr}");
    let notice = format!("cannot connect to {closed}: connection refused");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(&notice) && l.contains("creates are retried until --timeout (4s)")),
        "a notice while retrying: {stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("in flight") && l.contains(&notice) && l.ends_with(": retrying")),
        "the overall line says it: {stderr}"
    );
    assert!(!stderr.contains("no answer within"), "{stderr}");
    for id in ["r0", "r1"] {
        assert!(
            stderr.lines().any(|l| l.contains(&format!("row \"{id}\""))
                && l.contains(&notice)
                && l.contains("for 4s")),
            "{id}: {stderr}"
        );
    }
    assert!(
        stderr.contains("2 rows: 0 completed, 2 not finished; no manifest written"),
        "{stderr}"
    );
    assert!(
        !out.join("manifest.jsonl").exists(),
        "no empty manifest left"
    );
}

/// `vestis resume` with a batch another `vestis` is running: its header
/// shows the file it reads (joined to the folder the batch began in), it
/// says to wait for or stop that process (not `--forget`, and not "its
/// summary is above": none was printed), and the last line counts the
/// batch even when it is the only one.
#[test]
fn resume_of_a_busy_batch_says_to_wait_and_counts_it() {
    let env = Env::start(vestis_mock_server::Config {
        paused: true,
        ..config(100)
    });
    let data = env.home.path().join("data");
    let elsewhere = env.home.path().join("elsewhere");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    write(&data, "ids.csv", csv_rows(2));
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("vestis"))
        .current_dir(&data)
        .env("VESTIS_HOME", env.home.path())
        .env("VESTIS_API_URL", &env.api)
        .env("VESTIS_TOKEN", "me")
        .args(["batch", "ids.csv", "-o", "out", "--interval", "50ms"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("two jobs queued", || jobs_on_server(&env) == 2);
    let resumed = env
        .vestis()
        .current_dir(&elsewhere)
        .arg("resume")
        .output()
        .unwrap();
    let (_, stderr) = texts(&resumed);
    assert_eq!(resumed.status.code(), Some(2), "{stderr}");
    let pid = first.id();
    let what = format!(
        "the batch of {} into {}",
        data.join("ids.csv").display(),
        data.join("out").display()
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines[0], format!("Resuming {what}..."), "{stderr}");
    assert!(
        lines[1].starts_with(&format!(
            "vestis: another vestis (process {pid}) is running this batch"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "vestis: {what}: not resumed: another vestis (process {pid}) is running it; wait for it to finish, or stop it (`kill {pid}`), then run `vestis resume` again"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("--forget"), "{stderr}");
    assert!(!stderr.contains("summary is above"), "{stderr}");
    assert_eq!(
        lines.last(),
        Some(&"vestis: 1 of 1 batch could not be resumed"),
        "{stderr}"
    );
    env.admin_post("/queue/resume");
    assert!(first.wait().unwrap().success());
}

/// A single batch that `vestis resume` cannot finish (its row times out
/// again): its summary under its header, then the line that counts it.
#[test]
fn resume_counts_a_single_unfinished_batch() {
    let env = Env::start(config(60_000));
    let slow = write(env.home.path(), "slow.csv", "kind,prompt\nchat,slow\n");
    let out = env.home.path().join("out");
    let run = batch(&env, &slow, &out)
        .args(["--timeout", "300ms"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(3), "{}", texts(&run).1);
    let resumed = env
        .vestis()
        .args(["resume", "--timeout", "300ms"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&resumed);
    assert_eq!(resumed.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("vestis: 1 row: 0 completed, 1 timed out"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            ": not finished (its summary is above); to stop resuming it: vestis --api-url {} batch ",
            env.api
        )),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().last(),
        Some("vestis: 1 of 1 batch could not be resumed"),
        "{stderr}"
    );
}

/// `vestis resume` prints each failing batch's summary under its own
/// header (not after the next one's), says how to stop resuming it, and
/// `vestis batch FILE -o DIR --forget` drops it: resume no longer runs it.
#[test]
fn resume_reports_each_batch_under_its_header_and_forget_drops_one() {
    let env = Env::start(config(60_000));
    let mut files = Vec::new();
    for name in ["a", "b"] {
        let file = write(
            env.home.path(),
            &format!("{name}.csv"),
            format!("kind,prompt\nchat,slow {name}\n"),
        );
        let out = env.home.path().join(format!("out-{name}"));
        let run = batch(&env, &file, &out)
            .args(["--timeout", "300ms"])
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(3), "{}", texts(&run).1);
        files.push((file, out));
    }
    let resumed = env
        .vestis()
        .args(["resume", "--timeout", "300ms"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&resumed);
    assert_eq!(resumed.status.code(), Some(3), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    let headers: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].starts_with("Resuming the batch of "))
        .collect();
    assert_eq!(headers.len(), 2, "{stderr}");
    for (n, start) in headers.iter().enumerate() {
        let end = headers.get(n + 1).copied().unwrap_or(lines.len());
        let own = &lines[*start..end];
        assert!(
            own.iter()
                .any(|l| l.starts_with("vestis: 1 row: 0 completed, 1 timed out")),
            "batch {n}'s summary under its own header: {stderr}"
        );
    }
    assert!(stderr.contains("2 of 2 batches"), "{stderr}");
    // The hint as printed, run where VESTIS_API_URL names another server:
    // its --api-url finds the batch.
    let (file, out) = &files[0];
    let hint = lines
        .iter()
        .find_map(|l| {
            l.split_once("to stop resuming it: ")
                .filter(|_| l.contains(&format!("{}", file.display())))
        })
        .map(|(_, command)| command.to_owned())
        .unwrap_or_else(|| panic!("no --forget hint for a.csv: {stderr}"));
    let words: Vec<&str> = hint.split(' ').collect();
    assert_eq!(words[0], "vestis", "{hint}");
    assert!(hint.ends_with(" --forget"), "{hint}");
    let forget = env
        .vestis()
        .env("VESTIS_API_URL", "http://127.0.0.1:9/api/v1")
        .args(&words[1..])
        .output()
        .unwrap();
    let (_, stderr) = texts(&forget);
    assert!(forget.status.success(), "{stderr}");
    assert!(stderr.contains("Forgot the batch of"), "{stderr}");
    let again = env
        .vestis()
        .args(["resume", "--timeout", "300ms"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&again);
    assert_eq!(
        stderr.matches("Resuming the batch of ").count(),
        1,
        "only the batch not forgotten: {stderr}"
    );
    assert!(!stderr.contains("a.csv"), "{stderr}");
    // Forgetting it twice: nothing to forget, exit 2.
    let twice = env
        .vestis()
        .arg("batch")
        .arg(file)
        .arg("-o")
        .arg(out)
        .arg("--forget")
        .output()
        .unwrap();
    assert_eq!(twice.status.code(), Some(2), "{}", texts(&twice).1);
    assert!(texts(&twice).1.contains("nothing to forget"));
}
