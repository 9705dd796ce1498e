//! The live display as a person sees it: `vestis` on a pseudo-terminal,
//! its bytes through a terminal emulator, assertions on frames while it
//! runs and on the final screen. Every wait is for a state on the screen,
//! never a sleep.

use serde_json::json;

use crate::pty::{OnTerminal, SPINNER, Terminal, count_lines, render, render_rows};
use crate::util::{Env, config};

/// A server whose queue starts nothing until [`start_jobs`]: jobs run
/// their full time after the command is watching them, however slowly the
/// machine started it.
fn paused_server() -> Env {
    Env::start(vestis_mock_server::Config {
        paused: true,
        ..config(1000)
    })
}

/// Waits until `n` jobs show as queued, then lets the queue run.
fn start_jobs(env: &Env, run: &OnTerminal, n: usize) {
    run.frame_where("every job is queued", |s| {
        s.matches("Waiting in queue...").count() == n
    });
    env.admin_post("/queue/resume");
}

/// Creates a chat job whose every attempt takes `duration` (and, with
/// `fail`, fails): its id.
fn job(env: &Env, duration: &str, fail: bool) -> String {
    let mut headers = vec![("X-Mock-Duration", duration)];
    if fail {
        headers.push(("X-Mock-Outcome", "fail"));
    }
    let created = env.api_post("/generate?chat=true", &headers, json!({"prompt": "x"}));
    created["job_id"].as_u64().unwrap().to_string()
}

/// The four jobs of 0.7, 1.4, 2.1 and 2.8 s.
fn four_jobs(env: &Env) -> Vec<String> {
    ["700ms", "1400ms", "2100ms", "2800ms"]
        .into_iter()
        .map(|d| job(env, d, false))
        .collect()
}

fn has_spinner(screen: &str) -> bool {
    screen.contains(SPINNER)
}

/// Every job's final line and result lines exactly once, no spinner left.
fn assert_each_once(screen: &str, ids: &[String], saved: bool) {
    for id in ids {
        assert_eq!(
            count_lines(screen, &format!("✔ job {id} Generation complete!")),
            1,
            "job {id}'s final line, once:\n{screen}"
        );
        assert_eq!(
            count_lines(screen, &format!("job {id} completed: http")),
            1,
            "job {id}'s result, once:\n{screen}"
        );
        if saved {
            assert_eq!(
                count_lines(screen, &format!("saved to imgs/job-{id}.png")),
                1,
                "job {id} saved, said once:\n{screen}"
            );
        }
    }
    assert!(!has_spinner(screen), "a spinner was left:\n{screen}");
}

/// `wait A B C D -o imgs/` on a terminal of `size`: every line once, and
/// a frame with jobs finished above spinners still running.
fn four_jobs_on(size: Terminal) {
    let env = paused_server();
    let ids = four_jobs(&env);
    let mut args = vec!["wait"];
    args.extend(ids.iter().map(String::as_str));
    // Polls every 300 ms, so that some poll falls between each two ends.
    args.extend(["-o", "imgs/", "--interval", "300ms"]);
    let run = OnTerminal::spawn(&env, size, &args);
    start_jobs(&env, &run, 4);
    // A frame with finished jobs above live spinners: each spinner on a
    // row of its own, starting it (not run into the row before).
    let first_done = format!("job {} completed: http", ids[0]);
    let spinner_rows = |rows: &[String]| rows.iter().filter(|r| r.contains(SPINNER)).count();
    let frame = run.rows_where("the first job is done and two are running", |rows| {
        rows.iter().any(|r| r.starts_with(&first_done)) && spinner_rows(rows) >= 2
    });
    for row in frame.iter().filter(|r| r.contains(SPINNER)) {
        assert!(
            row.starts_with(SPINNER),
            "a spinner mid-row:\n{}",
            frame.join("\n")
        );
        assert_eq!(row.matches(SPINNER).count(), 1, "{}", frame.join("\n"));
    }
    let (status, screen) = run.finish();
    assert!(status.success(), "{status}:\n{screen}");
    assert_each_once(&screen, &ids, true);
    for id in &ids {
        assert!(env.home.path().join(format!("imgs/job-{id}.png")).is_file());
    }
}

#[test]
fn four_jobs_end_with_every_line_once_on_a_wide_terminal() {
    four_jobs_on(Terminal::xterm(120, 30));
}

#[test]
fn four_jobs_end_with_every_line_once_on_a_40_column_terminal() {
    four_jobs_on(Terminal::xterm(40, 24));
}

#[test]
fn one_job_shows_a_spinner_then_one_final_line() {
    let env = Env::start(config(1000));
    let id = job(&env, "1500ms", false);
    let run = OnTerminal::spawn(&env, Terminal::xterm(80, 24), &["wait", &id]);
    let frame = run.frame_where("the job is processing", |s| {
        s.contains("Generating your image...")
    });
    assert!(has_spinner(&frame), "a live spinner:\n{frame}");
    let (status, screen) = run.finish();
    assert!(status.success(), "{status}:\n{screen}");
    assert_each_once(&screen, &[id], false);
    assert!(!screen.contains("Generating your image"), "{screen}");
}

/// The spinner's elapsed time is written by the CLI's one duration
/// printer, in whole seconds, like every other duration it shows.
#[test]
fn the_spinner_shows_whole_seconds_waited() {
    let env = Env::start(config(1000));
    let id = job(&env, "3000ms", false);
    let run = OnTerminal::spawn(&env, Terminal::xterm(80, 24), &["wait", &id]);
    let frame = run.frame_where("the spinner shows a second or two", |s| {
        s.lines().any(|row| {
            let row = row.trim_end();
            row.contains(SPINNER) && (row.ends_with(" 1s") || row.ends_with(" 2s"))
        })
    });
    assert!(frame.contains(&format!("job {id}")), "{frame}");
    let (status, screen) = run.finish();
    assert!(status.success(), "{status}:\n{screen}");
}

#[test]
fn a_retried_job_shows_its_attempt_out_of_the_servers_maximum() {
    let env = paused_server();
    // Every attempt fails: three attempts of 1.5 s, then failed.
    let id = job(&env, "1500ms", true);
    let run = OnTerminal::spawn(
        &env,
        Terminal::xterm(40, 24),
        &["wait", &id, "--interval", "200ms"],
    );
    start_jobs(&env, &run, 1);
    let frame = run.frame_where("attempt 2 shows", |s| s.contains("(attempt 2/3)"));
    assert!(has_spinner(&frame), "{frame}");
    let (status, screen) = run.finish();
    assert_eq!(status.code(), Some(1), "{screen}");
    assert_eq!(
        count_lines(&screen, &format!("✘ job {id} Generation failed")),
        1,
        "{screen}"
    );
    assert!(!has_spinner(&screen), "{screen}");
}

/// Ctrl-C typed on a terminal of `size` (which echoes `^C`) while two
/// jobs run: exit 130, each job's spinner replaced by one plain line, the
/// hint to re-attach, nothing stale.
fn ctrl_c_on(size: Terminal) {
    let env = Env::start(config(1000));
    let done = job(&env, "10ms", false);
    let (a, b) = (job(&env, "60s", false), job(&env, "60s", false));
    let mut run = OnTerminal::spawn(&env, size, &["wait", &done, &a, &b]);
    run.frame_where("the short job is done", |s| {
        s.contains(&format!("✔ job {done}"))
    });
    // "Generating your…" at 40 columns.
    run.frame_where("both jobs are processing", |s| {
        s.matches("Generating your").count() == 2
    });
    run.press_ctrl_c();
    let (status, screen) = run.finish();
    assert_eq!(status.code(), Some(130), "{screen}");
    assert!(!has_spinner(&screen), "a spinner was left:\n{screen}");
    for id in [&a, &b] {
        assert_eq!(
            count_lines(
                &screen,
                &format!("- job {id} not finished: Generating your image...")
            ),
            1,
            "{screen}"
        );
    }
    assert!(
        screen
            .replace('\n', "")
            .contains(&format!("re-attach with `vestis wait {a} {b}`")),
        "{screen}"
    );
}

#[test]
fn ctrl_c_leaves_no_spinner_and_says_how_to_re_attach() {
    ctrl_c_on(Terminal::xterm(120, 30));
}

#[test]
fn ctrl_c_on_a_40_column_terminal_leaves_no_spinner() {
    ctrl_c_on(Terminal::xterm(40, 24));
}

/// `vestis wait`'s spinners are cut anew when the window is resized
/// while no job changes: narrower, no line wraps (each row of the live
/// area starts with a spinner); wider, the status is whole again.
#[test]
fn a_resized_window_gets_its_spinner_lines_cut_anew() {
    let env = Env::start(config(1000));
    let (a, b) = (job(&env, "60s", false), job(&env, "60s", false));
    let wide = Terminal::xterm(100, 24);
    let mut run = OnTerminal::spawn(&env, wide, &["wait", &a, &b]);
    let whole = |rows: &[String]| {
        rows.iter()
            .filter(|r| r.starts_with(SPINNER) && r.contains("Generating your image... "))
            .count()
            == 2
    };
    run.rows_where("both jobs are processing", whole);
    run.resize(Terminal::xterm(30, 24));
    run.rows_where("two spinner lines cut to 30 columns", |rows| {
        let live: Vec<&String> = rows.iter().filter(|r| !r.trim().is_empty()).collect();
        live.len() == 2
            && live.iter().all(|r| {
                r.starts_with(SPINNER)
                    && r.contains("Generat")
                    && !r.contains("Generating your image")
            })
    });
    run.resize(wide);
    run.rows_where("both whole again at 100 columns", whole);
    run.press_ctrl_c();
    let (status, screen) = run.finish();
    assert_eq!(status.code(), Some(130), "{screen}");
    assert!(!has_spinner(&screen), "a spinner was left:\n{screen}");
}

/// `signal` sent while `args` (a command that waits for two 60 s jobs)
/// shows both spinners: it ends as Ctrl-C does, with 128 + the signal's
/// number, each job's plain line, the hint to re-attach, no spinner left.
fn signal_during(env: &Env, args: &[&str], ids: &[String], signal: &str, code: i32) {
    let run = OnTerminal::spawn(env, Terminal::xterm(100, 30), args);
    run.frame_where("the jobs are processing", |s| {
        s.matches("Generating your image...").count() == ids.len()
    });
    run.signal(signal);
    let (status, screen) = run.finish();
    assert_eq!(status.code(), Some(code), "SIG{signal}:\n{screen}");
    assert!(
        !has_spinner(&screen),
        "SIG{signal}: a spinner was left:\n{screen}"
    );
    for id in ids {
        assert_eq!(
            count_lines(
                &screen,
                &format!("- job {id} not finished: Generating your image...")
            ),
            1,
            "SIG{signal}:\n{screen}"
        );
    }
    let hint = format!("re-attach with `vestis wait {}`", ids.join(" "));
    assert!(
        screen.replace('\n', "").contains(&hint),
        "SIG{signal}:\n{screen}"
    );
    // The shell's next prompt starts on a line of its own.
    let last = screen.lines().last().unwrap_or_default();
    assert!(last.ends_with(&hint), "SIG{signal}:\n{screen}");
}

#[test]
fn every_terminating_signal_ends_a_wait_as_ctrl_c_does() {
    for (signal, code) in [
        ("TERM", 143),
        ("HUP", 129),
        ("QUIT", 131),
        ("INT", 130),
        ("ALRM", 142),
        ("USR1", 138),
        ("USR2", 140),
    ] {
        let env = Env::start(config(1000));
        let ids = vec![job(&env, "60s", false), job(&env, "60s", false)];
        let mut args = vec!["wait"];
        args.extend(ids.iter().map(String::as_str));
        signal_during(&env, &args, &ids, signal, code);
    }
}

#[test]
fn generate_and_resume_end_on_sigterm_as_on_ctrl_c() {
    let env = Env::start(config(60_000));
    signal_during(
        &env,
        &["generate", "chat", "--prompt", "x", "-o", "out.png"],
        &["1".to_owned()],
        "TERM",
        143,
    );
    let record = &crate::util::read_records(&env.journal_path())[0];
    assert_eq!(
        record["status"], "processing",
        "the journal was saved: {record}"
    );
    signal_during(&env, &["resume"], &["1".to_owned()], "TERM", 143);
}

#[test]
fn resume_of_several_jobs_ends_with_every_line_once() {
    let env = paused_server();
    for _ in 0..3 {
        env.vestis()
            .args(["generate", "legacy", "--no-wait"])
            .assert()
            .success();
    }
    let ids: Vec<String> = (1..=3).map(|n| n.to_string()).collect();
    let run = OnTerminal::spawn(&env, Terminal::xterm(40, 24), &["resume"]);
    start_jobs(&env, &run, 3);
    let (status, screen) = run.finish();
    assert!(status.success(), "{status}:\n{screen}");
    assert_eq!(count_lines(&screen, "Resuming 3 jobs..."), 1, "{screen}");
    assert_each_once(&screen, &ids, false);
}

/// On a terminal that cannot draw a live display: one plain line per
/// status change, no spinner, no cursor movement or colour.
fn plain_lines_on(size: Terminal, flags: &[&str]) {
    let env = Env::start(config(1000));
    let id = job(&env, "1s", false);
    let mut args = flags.to_vec();
    args.extend(["wait", id.as_str()]);
    let run = OnTerminal::spawn(&env, size, &args);
    let (status, bytes) = run.finish_raw();
    let screen = render(&bytes, size);
    assert!(status.success(), "{status}:\n{screen}");
    assert!(!has_spinner(&screen), "{screen}");
    assert!(!bytes.contains(&0x1b), "an escape sequence:\n{screen}");
    assert_eq!(
        count_lines(
            &screen,
            &format!("job {id}: processing: Generating your image...")
        ),
        1,
        "{screen}"
    );
    assert_eq!(
        count_lines(&screen, &format!("job {id} completed: http")),
        1,
        "{screen}"
    );
}

#[test]
fn a_dumb_terminal_gets_plain_lines() {
    plain_lines_on(
        Terminal {
            term: "dumb",
            ..Terminal::xterm(80, 24)
        },
        &[],
    );
}

#[test]
fn a_terminal_of_unknown_width_gets_plain_lines() {
    plain_lines_on(Terminal::xterm(0, 0), &[]);
}

#[test]
fn debug_logs_get_plain_lines_not_spinners_to_land_under() {
    let env = Env::start(config(1000));
    let id = job(&env, "1s", false);
    let size = Terminal::xterm(120, 30);
    let run = OnTerminal::spawn(&env, size, &["-v", "wait", &id]);
    let (status, bytes) = run.finish_raw();
    let screen = render(&bytes, size);
    assert!(status.success(), "{status}:\n{screen}");
    // Not one spinner frame was ever drawn.
    assert!(!has_spinner(&String::from_utf8_lossy(&bytes)), "{screen}");
    assert!(screen.contains("polled"), "the debug logs:\n{screen}");
    assert_eq!(
        count_lines(
            &screen,
            &format!("job {id}: processing: Generating your image...")
        ),
        1,
        "{screen}"
    );
}

#[test]
fn a_piped_stdout_gets_plain_lines_on_the_terminal() {
    // `vestis --json wait A B | jq`: jq writes to the same screen, where
    // spinners would be redrawn over its lines.
    let env = Env::start(config(1000));
    let (a, b) = (job(&env, "700ms", false), job(&env, "1400ms", false));
    let size = Terminal::xterm(80, 24);
    let run = OnTerminal::spawn_piped(&env, size, &["--json", "wait", &a, &b]);
    let (status, bytes, piped) = run.finish_piped();
    let screen = render(&bytes, size);
    assert!(status.success(), "{status}:\n{screen}");
    assert!(!bytes.contains(&0x1b), "an escape sequence:\n{screen}");
    for id in [&a, &b] {
        assert_eq!(
            count_lines(&screen, &format!("job {id}: completed: ")),
            1,
            "{screen}"
        );
    }
    let lines: Vec<serde_json::Value> = piped
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{piped}");
}

/// The rows: a prompt with an escape, a bell and a newline, and a
/// long summary saved under a long path.
fn awkward_history(env: &Env) -> std::path::PathBuf {
    let deep = env
        .home
        .path()
        .join("a/very/deep/directory/for/the/images/of/this/summer/collection");
    env.vestis()
        .args(["generate", "chat", "--no-wait", "--prompt"])
        .arg("evil\x1b[31mRED\x07\nsecond line")
        .assert()
        .success();
    env.vestis()
        .args(["generate", "chat", "--prompt"])
        .arg("a long summary of a linen summer dress in three colours ".repeat(2))
        .arg("-o")
        .arg(deep.join("dress.png"))
        .assert()
        .success();
    deep.join("dress.png")
}

#[test]
fn history_rows_stay_on_one_line_and_fit_a_100_column_terminal() {
    let env = Env::start(config(50));
    let saved = awkward_history(&env);
    let size = Terminal::xterm(100, 30);
    let run = OnTerminal::spawn(&env, size, &["history"]);
    let (status, bytes) = run.finish_raw();
    let rows = render_rows(&bytes, size);
    let shown: Vec<&String> = rows.iter().filter(|r| !r.trim().is_empty()).collect();
    let screen = rows.join("\n");
    assert!(status.success(), "{screen}");
    // The header and one row per record, none wrapped onto a second row.
    assert_eq!(shown.len(), 3, "{screen}");
    assert!(shown[0].starts_with("ID "), "{screen}");
    assert!(
        shown[1].starts_with("2 ") && shown[2].starts_with("1 "),
        "{screen}"
    );
    assert!(
        shown.iter().any(|r| r.contains('…')),
        "cut with an ellipsis:\n{screen}"
    );
    // Columns align as shown: STATUS starts at the same column on every row.
    let status_at = shown[0].find("STATUS").unwrap();
    for row in &shown[1..] {
        assert!(
            row[status_at..].starts_with("processing") || row[status_at..].starts_with("completed"),
            "{screen}"
        );
    }
    // On a pipe every row is whole, still one line each.
    let out = env.vestis().args(["history"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.contains(&saved.display().to_string()), "{stdout}");
    assert!(stdout.contains("RED\\u{7}\\nsecond line"), "{stdout}");
}

#[test]
fn list_and_status_fit_a_narrow_terminal_and_are_whole_on_a_pipe() {
    let env = Env::start(config(50));
    env.vestis()
        .args(["generate", "chat", "--prompt", "x"])
        .assert()
        .success();
    let size = Terminal::xterm(40, 24);
    for args in [&["list"][..], &["status", "1"]] {
        let run = OnTerminal::spawn(&env, size, args);
        let (status, bytes) = run.finish_raw();
        let rows = render_rows(&bytes, size);
        let screen = rows.join("\n");
        assert!(status.success(), "{args:?}:\n{screen}");
        assert!(screen.contains('…'), "{args:?} cut:\n{screen}");
        let out = env.vestis().args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains('…'), "{args:?} whole on a pipe:\n{stdout}");
        // Nothing wrapped: as many rows on the terminal as lines on the pipe.
        let shown = rows.iter().filter(|r| !r.trim().is_empty()).count();
        assert_eq!(shown, stdout.lines().count(), "{args:?} wrapped:\n{screen}");
    }
}
