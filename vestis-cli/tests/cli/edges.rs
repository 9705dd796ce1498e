//! Where users meet the edges (issue 19): file names Linux allows but UTF-8
//! does not, a full disk, a home that cannot be used, what `-o` does to a
//! symlink and a file's mode; servers that redirect, answer without end,
//! or have no API at the base URL. A raw HTTP server on 127.0.0.1:0 makes
//! the answers the mock server cannot.

use std::ffi::OsStr;

use base64::Engine as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::util::{Env, config, texts};

/// An answer of the raw server.
#[derive(Clone)]
pub(crate) enum Reply {
    /// A JSON body with this status.
    Json(u16, String),
    /// A 301 to this URL.
    Redirect(String),
    /// A 200 that never ends (chunked, no length), as fast as it is read.
    Endless,
    /// A PNG of this many bytes, made as it is sent (never held whole).
    Png(u64),
    /// A 200 that promises `n` bytes, sends a few and hangs up.
    Cut(u64),
    /// This answer, after this long.
    After(Duration, Box<Reply>),
}

/// A minimal HTTP/1.1 server: each request answered by `route(method,
/// path)`, then the connection closed. Its origin (`http://127.0.0.1:N`).
pub(crate) fn raw_server(route: impl Fn(&str, &str) -> Reply + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let route = Arc::new(route);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let route = Arc::clone(&route);
            std::thread::spawn(move || {
                let _ = serve(stream, &*route);
            });
        }
    });
    origin
}

fn serve(stream: TcpStream, route: &dyn Fn(&str, &str) -> Reply) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut out = stream;
    let mut reply = route(&method, &path);
    while let Reply::After(delay, then) = reply {
        std::thread::sleep(delay);
        reply = *then;
    }
    match reply {
        Reply::Json(status, body) => write!(
            out,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
        Reply::Redirect(to) => write!(
            out,
            "HTTP/1.1 301 Moved Permanently\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
        Reply::Endless => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            )?;
            let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
            loop {
                out.write_all(chunk.as_bytes())?;
            }
        }
        Reply::Png(size) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n"
            )?;
            out.write_all(b"\x89PNG\r\n\x1a\n")?;
            let zeros = vec![0u8; 0x10000];
            let mut left = size - 8;
            while left > 0 {
                let n = left.min(zeros.len() as u64);
                out.write_all(&zeros[..n as usize])?;
                left -= n;
            }
            Ok(())
        }
        Reply::After(..) => unreachable!("waited out above"),
        Reply::Cut(size) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n"
            )?;
            out.write_all(b"\x89PNG")
        }
    }
}

/// A completed job `id` whose image is at `image_url`, as the API sends it.
pub(crate) fn completed_job(id: u64, image_url: &str) -> String {
    serde_json::json!({
        "job_id": id, "status": "completed", "job_type": "chat",
        "created_at": "2026-11-28T10:00:00.000Z",
        "started_at": "2026-11-28T10:00:01.000Z",
        "completed_at": "2026-11-28T10:00:03.000Z",
        "attempts": 1,
        "result": {"image_url": image_url, "generated_at": "2026-11-28T10:00:03.000Z", "message": "ok"},
        "error": null
    })
    .to_string()
}

/// `vestis` with `--api-url API`, its own home, token `me`.
fn vestis_at(home: &Path, api: &str) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("vestis").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("VESTIS_HOME", home)
        .env("VESTIS_API_URL", api)
        .env("VESTIS_TOKEN", "me")
        .current_dir(home)
        .timeout(Duration::from_secs(120));
    cmd
}

/// The files in `dir` whose name ends `.tmp` (left-over temporary images).
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.as_os_str().as_bytes().ends_with(b".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

// --- Paths --------------------------------------------------------------

#[test]
fn a_file_name_that_is_not_utf8_works_where_paths_are_taken_stored_and_shown() {
    let env = Env::start(config(50));
    let home = env.home.path();
    // generate -o $'caf\xe9.png': created, saved under the exact name,
    // shown escaped, remembered in the journal.
    let out = env
        .vestis()
        .current_dir(home)
        .args(["generate", "chat", "--prompt", "x", "-o"])
        .arg(os(b"caf\xe9.png"))
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(home.join(os(b"caf\xe9.png")).is_file());
    let shown = format!("saved to {}/caf\\xE9.png", home.display());
    assert!(stdout.contains(&shown), "{stdout}");
    let record = &env.records()[0];
    assert!(record["output"]["path_bytes"].is_string(), "{record}");
    // --json wait ID -o $'r\xe9s/': the PNG and the JSON.
    let out = env
        .vestis()
        .current_dir(home)
        .args(["--json", "wait", "1", "-o"])
        .arg(os(b"r\xe9s/"))
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(home.join(os(b"r\xe9s/job-1.png")).is_file());
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(line["output_path"], "r\\xE9s/job-1.png", "{line}");
    // Stored exactly and absolute: `history` may run from anywhere.
    let record = &env.records()[0];
    let stored = base64::engine::general_purpose::STANDARD
        .decode(record["downloaded_to"]["path_bytes"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        stored,
        home.join(os(b"r\xe9s/job-1.png")).as_os_str().as_bytes()
    );
    // A reference image and a payload file of such names are read.
    std::fs::write(home.join(os(b"ref\xff.png")), b"\x89PNG").unwrap();
    std::fs::write(
        home.join(os(b"p\xff.json")),
        br#"{"prompt": "y", "images": []}"#,
    )
    .unwrap();
    env.vestis()
        .current_dir(home)
        .args(["generate", "chat", "--prompt", "x", "--no-wait", "--image"])
        .arg(os(b"ref\xff.png"))
        .assert()
        .success();
    env.vestis()
        .current_dir(home)
        .args(["generate", "chat", "--no-wait", "--payload"])
        .arg(os(b"p\xff.json"))
        .assert()
        .success();
    // A VESTIS_HOME of such a name holds a journal like any other.
    let odd_home = home.join(os(b"h\xe9me"));
    env.vestis()
        .env("VESTIS_HOME", &odd_home)
        .args(["generate", "chat", "--prompt", "x", "--no-wait"])
        .assert()
        .success();
    let out = env
        .vestis()
        .env("VESTIS_HOME", &odd_home)
        .args(["history"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", texts(&out).1);
    assert_eq!(texts(&out).0.lines().count(), 2, "{}", texts(&out).0);
    assert!(odd_home.join("journal.jsonl").is_file());
    // history shows the record on one line, the name escaped.
    let out = env.vestis().args(["history"]).output().unwrap();
    let (stdout, _) = texts(&out);
    assert!(out.status.success());
    assert!(stdout.contains("r\\xE9s/job-1.png"), "{stdout}");
    assert_eq!(stdout.lines().count(), 1 + 3, "{stdout}");
}

#[test]
fn o_keeps_an_existing_files_mode_and_replaces_a_symlink_not_its_target() {
    let env = Env::start(config(50));
    let home = env.home.path();
    let private = home.join("private.png");
    std::fs::write(&private, b"old").unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    env.vestis()
        .args(["generate", "chat", "--prompt", "x", "-o"])
        .arg(&private)
        .assert()
        .success();
    let meta = std::fs::metadata(&private).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read(&private).unwrap().starts_with(b"\x89PNG"));

    let target = home.join("target.txt");
    std::fs::write(&target, b"keep me").unwrap();
    let link = home.join("link.png");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    env.vestis()
        .args(["generate", "chat", "--prompt", "x", "-o"])
        .arg(&link)
        .assert()
        .success();
    assert!(
        std::fs::symlink_metadata(&link).unwrap().is_file(),
        "the link is now the image"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
}

// --- Disk full ------------------------------------------------------------

/// A tmpfs (64 KiB unless told) mounted on a fresh directory, filled to the last byte;
/// `None` (with the reason printed) where mounting is not allowed.
pub(crate) struct FullDisk {
    dir: tempfile::TempDir,
}

impl FullDisk {
    pub(crate) fn mount() -> Option<FullDisk> {
        FullDisk::mount_sized("64k")
    }

    /// The same, of `size` (`64k`, `1m`): room for several images once
    /// [`FullDisk::make_room`] is called.
    pub(crate) fn mount_sized(size: &str) -> Option<FullDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => {}
            other => {
                eprintln!(
                    "SKIPPED: a disk-full test needs to mount a tmpfs (root with CAP_SYS_ADMIN): {other:?}"
                );
                return None;
            }
        }
        let mut filler = std::fs::File::create(dir.path().join("filler")).unwrap();
        while filler.write_all(&[0u8; 4096]).is_ok() {}
        Some(FullDisk { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn make_room(&self) {
        std::fs::remove_file(self.path().join("filler")).unwrap();
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_leaves_no_temporary_file_whatever_the_attempt() {
    let Some(disk) = FullDisk::mount() else {
        return;
    };
    let env = Env::start(config(50));
    let png = disk.path().join("dress.png");
    let out = env
        .vestis()
        .args(["generate", "chat", "--prompt", "x", "-o"])
        .arg(&png)
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("No space left on device"), "{stderr}");
    assert_eq!(stderr.matches("vestis:").count(), 1, "{stderr}");
    assert_eq!(temp_files(disk.path()), Vec::<PathBuf>::new());
    // Each retry fails the same way, and leaves nothing either.
    for _ in 0..2 {
        let out = env.vestis().args(["resume"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", texts(&out).1);
        assert_eq!(temp_files(disk.path()), Vec::<PathBuf>::new());
    }
    disk.make_room();
    let out = env.vestis().args(["resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", texts(&out).1);
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    assert_eq!(temp_files(disk.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_journal_on_a_full_disk_leaves_no_temporary_file() {
    let Some(disk) = FullDisk::mount() else {
        return;
    };
    disk.make_room();
    let env = Env::start(config(50));
    env.vestis()
        .env("VESTIS_HOME", disk.path())
        .args(["generate", "chat", "--prompt", "x", "--no-wait"])
        .assert()
        .success();
    let mut filler = std::fs::File::create(disk.path().join("filler")).unwrap();
    while filler.write_all(&[0u8; 4096]).is_ok() {}
    // `--clear` rewrites the journal: the rewrite fails, the log stays.
    let out = env
        .vestis()
        .env("VESTIS_HOME", disk.path())
        .args(["history", "--clear"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains("set VESTIS_HOME"), "{stderr}");
    assert_eq!(temp_files(disk.path()), Vec::<PathBuf>::new());
    assert_eq!(
        crate::util::read_records(&disk.path().join("journal.jsonl")).len(),
        1
    );
}

#[test]
fn a_download_cut_short_leaves_no_temporary_file() {
    let origin = Arc::new(std::sync::OnceLock::<String>::new());
    let me = Arc::clone(&origin);
    let api = raw_server(move |_, path| match path {
        "/api/v1/jobs/1" => Reply::Json(
            200,
            completed_job(1, &format!("{}/images/1.png", me.get().unwrap())),
        ),
        _ => Reply::Cut(100_000),
    });
    origin.set(api.clone()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = vestis_at(home.path(), &format!("{api}/api/v1"))
        .args(["wait", "1", "-o", "."])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(!home.path().join("job-1.png").exists());
    assert_eq!(temp_files(home.path()), Vec::<PathBuf>::new());
}

// --- Homes ----------------------------------------------------------------

/// Runs `vestis history` as user 1234 (no passwd entry, as `docker run
/// --user 1234`) with `env`; `None` where switching user is not allowed.
fn as_user_1234(env: &[(&str, &OsStr)]) -> Option<(Option<i32>, String)> {
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid", "1234", "--regid", "1234", "--clear-groups"])
        .arg(assert_cmd::cargo::cargo_bin("vestis"))
        .arg("history")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("VESTIS_TOKEN", "me");
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIPPED: no setpriv (util-linux) to switch to user 1234: {e}");
            return None;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if stderr.contains("setpriv:") {
        eprintln!("SKIPPED: cannot switch to user 1234: {stderr}");
        return None;
    }
    Some((out.status.code(), stderr))
}

#[test]
fn every_unusable_home_names_the_directory_and_says_to_set_vestis_home() {
    // A VESTIS_HOME under a file (any user can make this one).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let home = file.join("vestis");
    let out = vestis_at(&home, "http://127.0.0.1:9/api/v1")
        .current_dir(dir.path())
        .arg("history")
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&home.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("set VESTIS_HOME to a directory"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // A read-only VESTIS_HOME: a read-only mount (root writes through a mode).
    let ro = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs"])
        .arg(ro.path())
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        let out = vestis_at(ro.path(), "http://127.0.0.1:9/api/v1")
            .current_dir(dir.path())
            .arg("history")
            .output()
            .unwrap();
        let _ = std::process::Command::new("umount").arg(ro.path()).status();
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&ro.path().display().to_string()),
            "{stderr}"
        );
        assert!(stderr.contains("Read-only file system"), "{stderr}");
        assert!(
            stderr.contains("set VESTIS_HOME to a directory"),
            "{stderr}"
        );
    } else {
        eprintln!("SKIPPED: the read-only VESTIS_HOME case needs to mount a tmpfs");
    }

    // HOME=/ as a user who cannot write there (docker run --user 1234).
    if let Some((code, stderr)) = as_user_1234(&[("HOME", OsStr::new("/"))]) {
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("/.local/share/vestis"), "{stderr}");
        assert!(stderr.contains("Permission denied"), "{stderr}");
        assert!(stderr.contains("HOME=/"), "{stderr}");
        assert!(
            stderr.contains("set VESTIS_HOME to a directory"),
            "{stderr}"
        );
    }
    // HOME unset, and no home in the user database either.
    if let Some((code, stderr)) = as_user_1234(&[]) {
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("HOME is not set"), "{stderr}");
        assert!(
            stderr.contains("set VESTIS_HOME to a directory"),
            "{stderr}"
        );
    }
}

// --- HTTP -----------------------------------------------------------------

#[test]
fn a_redirecting_api_is_never_followed_and_the_error_names_the_url_to_use() {
    let moved = raw_server(|_, _| Reply::Json(500, "{}".into()));
    let target = moved.clone();
    let api = raw_server(move |_, path| Reply::Redirect(format!("{target}{path}")));
    let home = tempfile::tempdir().unwrap();
    let base = format!("{api}/api/v1");
    for args in [
        &["status", "1"][..],
        &["list"],
        &["cancel", "1"],
        &["wait", "1"],
        &["generate", "chat", "--prompt", "x"],
    ] {
        let out = vestis_at(home.path(), &base).args(args).output().unwrap();
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("redirected"), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{moved}/api/v1")),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("--api-url"), "{args:?}: {stderr}");
        assert_eq!(stderr.matches("vestis:").count(), 1, "{args:?}: {stderr}");
    }
}

/// The peak memory of a running process, sampled until it exits (Linux's
/// `VmHWM` is a high-water mark: a later sample still sees an earlier peak).
fn run_measuring_peak(cmd: &mut std::process::Command) -> (std::process::Output, u64) {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (child.wait_with_output().unwrap(), peak_kib / 1024)
}

#[test]
fn an_endless_answer_is_refused_at_the_cap_and_a_300_mib_image_streams_to_disk() {
    let origin = Arc::new(std::sync::OnceLock::<String>::new());
    let me = Arc::clone(&origin);
    const IMAGE: u64 = 300 * 1024 * 1024;
    let api = raw_server(move |_, path| match path {
        "/api/v1/jobs/1" => Reply::Endless,
        "/api/v1/jobs/2" => Reply::Json(
            200,
            completed_job(2, &format!("{}/images/2.png", me.get().unwrap())),
        ),
        "/images/2.png" => Reply::Png(IMAGE),
        _ => Reply::Json(
            404,
            r#"{"success":false,"error":"Job not found","code":"not_found"}"#.into(),
        ),
    });
    origin.set(api.clone()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let command = |args: &[&str]| {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("vestis"));
        cmd.env_clear()
            .env("VESTIS_HOME", home.path())
            .env("VESTIS_API_URL", format!("{api}/api/v1"))
            .env("VESTIS_TOKEN", "me")
            .current_dir(home.path())
            .args(args);
        cmd
    };
    let (out, peak) = run_measuring_peak(&mut command(&["status", "1"]));
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("over 1048576 bytes"), "{stderr}");
    assert!(peak < 64, "peak {peak} MiB for a refused answer");

    let (out, peak) = run_measuring_peak(&mut command(&["wait", "2", "-o", "."]));
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let saved = home.path().join("job-2.png");
    assert_eq!(std::fs::metadata(&saved).unwrap().len(), IMAGE);
    std::fs::remove_file(&saved).unwrap();
    assert!(
        peak < 64,
        "peak {peak} MiB for a 300 MiB image: not streamed"
    );
}

#[test]
fn a_base_url_with_a_query_string_is_refused_naming_api_url() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["status", "1"][..],
        &["list"],
        &["generate", "chat", "--prompt", "x"],
    ] {
        let out = vestis_at(home.path(), "http://127.0.0.1:9/api/v1?x=1")
            .args(args)
            .output()
            .unwrap();
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("--api-url"), "{stderr}");
        assert!(stderr.contains("query string"), "{stderr}");
    }
}

#[test]
fn a_404_that_is_not_about_a_job_is_a_wrong_api_url_not_a_missing_job() {
    // A server with no API at the base URL: every route is 404, in the
    // contract's own words (as the mock server's unknown routes are).
    let origin = raw_server(|_, _| {
        Reply::Json(
            404,
            r#"{"success":false,"error":"Route not found","code":"not_found"}"#.into(),
        )
    });
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["status", "1"][..],
        &["list"],
        &["cancel", "1"],
        &["wait", "1"],
        &["generate", "chat", "--prompt", "x"],
    ] {
        let out = vestis_at(home.path(), &format!("{origin}/wrong/prefix"))
            .args(args)
            .output()
            .unwrap();
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("--api-url"), "{args:?}: {stderr}");
    }
    // A job that is really missing is still exit 5.
    let env = Env::start(config(50));
    let out = env.vestis().args(["status", "99"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", texts(&out).1);
    let out = env
        .vestis()
        .args(["--json", "wait", "99"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", texts(&out).1);
}

// --- A process frozen past its deadline -----------------------------------

#[test]
fn a_wait_stopped_past_its_deadline_reports_the_job_that_finished_meanwhile() {
    // `wait J --timeout 2s` on a 1 s job, `kill -STOP` for 3.5 s, `kill
    // -CONT` (a laptop lid closed): the job completed during the freeze.
    // Each answer takes 200 ms and polls are 1 s apart: the freeze falls
    // in a sleep, and the poll sent on waking cannot beat the deadline.
    let mut slow = config(1000);
    slow.faults.latency = Duration::from_millis(200);
    let env = Env::start(slow);
    let created = env.api_post(
        "/generate?chat=true",
        &[],
        serde_json::json!({"prompt": "x"}),
    );
    let id = created["job_id"].as_u64().unwrap().to_string();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vestis"))
        .env_clear()
        .env("VESTIS_HOME", env.home.path())
        .env("VESTIS_API_URL", &env.api)
        .env("VESTIS_TOKEN", "me")
        .args(["wait", &id, "--timeout", "2s", "--interval", "1s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Frozen once it is watching the job run.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("processing") {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{seen}");
        seen.push_str(&line);
    }
    let pid = child.id().to_string();
    let kill = |signal: &str| {
        assert!(
            std::process::Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    kill("-STOP");
    std::thread::sleep(Duration::from_millis(3500));
    kill("-CONT");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{seen}{rest}");
    assert!(stdout.contains(&format!("job {id} completed")), "{stdout}");
}

// --- Wait's lines ---------------------------------------------------------

#[test]
fn a_waits_lines_stay_one_line_each_and_fit_the_terminal() {
    // A job whose error holds a newline, an escape and more text than fits.
    let error = format!("GPU exploded\nsecond line \x1b[31mred {}", "x".repeat(120));
    let failed = serde_json::json!({
        "job_id": 1, "status": "failed", "job_type": "chat",
        "created_at": "2026-11-28T10:00:00.000Z",
        "started_at": "2026-11-28T10:00:01.000Z",
        "completed_at": "2026-11-28T10:00:03.000Z",
        "attempts": 3, "result": null, "error": error
    })
    .to_string();
    for term in ["xterm-256color", "dumb"] {
        // First a 503 whose message holds a newline (a retry line), then the failed job.
        let polls = std::sync::atomic::AtomicUsize::new(0);
        let failed = failed.clone();
        let api = raw_server(move |_, _| {
            if polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                let busy = format!("busy\nnow {}", "y".repeat(100));
                Reply::Json(
                    503,
                    serde_json::json!({"success": false, "error": busy, "code": "unavailable"})
                        .to_string(),
                )
            } else {
                Reply::Json(200, failed.clone())
            }
        });
        let mut env = Env::start(config(50));
        env.api = format!("{api}/api/v1");
        let size = crate::pty::Terminal {
            term,
            ..crate::pty::Terminal::xterm(60, 24)
        };
        let run = crate::pty::OnTerminal::spawn(&env, size, &["wait", "1", "--interval", "100ms"]);
        let (status, bytes) = run.finish_raw();
        let rows = crate::pty::render_rows(&bytes, size);
        let screen = rows.join("\n");
        assert_eq!(status.code(), Some(1), "{term}:\n{screen}");
        let job_rows: Vec<&String> = rows.iter().filter(|r| r.contains("job 1")).collect();
        assert!(!job_rows.is_empty(), "{term}:\n{screen}");
        // The job's lines come before the error's own (which may wrap).
        for row in rows.iter().take_while(|r| !r.starts_with("vestis:")) {
            // No job line wrapped or split: nothing of it starts a row.
            assert!(!row.starts_with("second line"), "{term}:\n{screen}");
            assert!(!row.starts_with("xxx"), "{term}:\n{screen}");
            assert!(
                !row.starts_with("now") && !row.starts_with("yyy"),
                "{term}:\n{screen}"
            );
        }
        let expected = if term == "dumb" {
            "retrying in 100ms: server error: busy\\nnow"
        } else {
            "GPU exploded\\nsecond"
        };
        assert!(
            job_rows
                .iter()
                .any(|r| r.contains(expected) && r.ends_with('…')),
            "{term}:\n{screen}"
        );
    }
}
