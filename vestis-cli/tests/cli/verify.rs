//! `vestis verify`: exit codes (0, 1, 2, 4, 6), the JUnit file, `--json`,
//! `--dry-run` sending nothing, and clean-up of the jobs it created.

use serde_json::Value;
use vestis_mock_server::{Config, MockServer};

use crate::util::{Env, config, texts};

/// A JUnit file read back by an XML parser.
struct Junit {
    /// The suite's `failures` and `skipped` attributes.
    counts: (String, String),
    /// Each test case's name, and the name of its `failure` or `skipped` child if any.
    cases: Vec<(String, Option<String>)>,
}

fn junit(path: &std::path::Path) -> Junit {
    let xml = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    let counts = (
        suite.attribute("failures").unwrap().to_owned(),
        suite.attribute("skipped").unwrap().to_owned(),
    );
    let cases = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|case| {
            let verdict = case
                .children()
                .find(roxmltree::Node::is_element)
                .map(|n| n.tag_name().name().to_owned());
            (case.attribute("name").unwrap().to_owned(), verdict)
        })
        .collect();
    Junit { counts, cases }
}

/// A GET on the mock server's admin API.
fn admin(env: &Env, path: &str) -> Value {
    let url = format!("{}/__admin{path}", env.server.as_ref().unwrap().url());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move { reqwest::get(url).await.unwrap().json().await.unwrap() })
}

#[test]
fn the_mock_server_passes_with_a_junit_file_and_json() {
    let env = Env::start(config(50));
    let junit = env.home.path().join("verify.xml");
    let out = env
        .vestis()
        .args(["verify", "--second-token", "other", "--json", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["passed"], true);
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), vestis_verify::CATALOG.len());
    assert!(checks.iter().all(|c| c["status"] == "ok"), "{stdout}");
    // Up front, on stderr: how many jobs it will create.
    assert!(stderr.contains("creates 8 jobs (at most 10)"), "{stderr}");
    let Junit { counts, cases } = self::junit(&junit);
    assert_eq!(counts, ("0".to_owned(), "0".to_owned()));
    assert_eq!(cases.len(), checks.len());
    assert!(
        cases.iter().all(|(_, verdict)| verdict.is_none()),
        "{cases:?}"
    );
}

#[test]
fn a_failed_check_exits_1_and_names_it() {
    // The server writes image URLs that point at another server, where they are 404.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let elsewhere = runtime
        .block_on(MockServer::start(Config::default()))
        .unwrap();
    let mut broken = config(50);
    broken.public_url = Some(elsewhere.url());
    let env = Env::start(broken);
    let junit = env.home.path().join("verify.xml");
    let out = env
        .vestis()
        .args(["verify", "--second-token", "other", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("FAIL  lifecycle.image_url"), "{stdout}");
    assert!(stdout.contains("38 ok, 1 failed, 0 skipped"), "{stdout}");
    assert!(
        stderr.contains("1 of 39 checks failed: lifecycle.image_url"),
        "{stderr}"
    );
    let Junit { counts, cases } = self::junit(&junit);
    assert_eq!(counts, ("1".to_owned(), "0".to_owned()));
    let failed: Vec<&str> = cases
        .iter()
        .filter(|(_, verdict)| verdict.as_deref() == Some("failure"))
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(failed, ["lifecycle.image_url"]);
}

#[test]
fn quick_skips_the_waits_and_cancels_what_is_left() {
    let mut slow = config(50);
    slow.workers = 1;
    let env = Env::start(slow);
    let out = env
        .vestis()
        .args(["verify", "--quick", "--json"])
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let skipped: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "skip")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(skipped.contains(&"lifecycle.image_url"));
    assert!(
        skipped.contains(&"isolation.foreign_job"),
        "no --second-token"
    );
    assert!(!report["jobs_cancelled"].as_array().unwrap().is_empty());
    // Nothing it created is left waiting in the queue.
    let jobs = admin(&env, "/jobs");
    let pending = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["status"] == "pending")
        .count();
    assert_eq!(pending, 0, "{jobs}");
}

#[test]
fn a_rejected_token_exits_4_before_creating_anything() {
    let mut strict = config(50);
    strict.tokens = vec!["me".to_owned()];
    let env = Env::start(strict);
    let out = env
        .vestis()
        .args(["verify", "--second-token", "stranger"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("rejected --second-token"), "{stderr}");
    assert_eq!(admin(&env, "/stats")["jobs_stored"], 0);
}

#[test]
fn an_unreachable_server_exits_6() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Env::start(config(50));
    let out = env
        .vestis()
        .args(["verify", "--quick", "--api-url"])
        .arg(format!("http://127.0.0.1:{port}/api/v1"))
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("could not reach the server"), "{stderr}");
    // Each cause once, as the CLI's own transport errors say it.
    assert!(
        stderr.contains(&format!(
            "cannot connect to 127.0.0.1:{port}: connection refused"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("error sending request"), "{stderr}");
}

#[test]
fn dry_run_lists_every_check_and_sends_nothing() {
    let env = Env::start(config(50));
    let out = env
        .vestis()
        .env_remove("VESTIS_TOKEN")
        .args(["verify", "--dry-run", "--quick"])
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for check in vestis_verify::CATALOG {
        assert!(stdout.contains(check.id), "{} missing:\n{stdout}", check.id);
        // With the sentence it holds the server to.
        assert!(
            stdout.contains(&format!("contract: {}", check.contract)),
            "{}'s sentence missing:\n{stdout}",
            check.id
        );
    }
    assert!(stdout.contains("lifecycle.image_url"));
    assert!(stdout.contains("(skipped: --quick)"));
    assert!(stdout.contains("a run creates 8 jobs"));
    assert_eq!(admin(&env, "/stats")["api_requests"], 0);
}

#[test]
fn usage_problems_exit_2() {
    let env = Env::start(config(50));
    // No token.
    let out = env
        .vestis()
        .env_remove("VESTIS_TOKEN")
        .args(["verify", "--quick"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "vestis: no API token: pass --token or set VESTIS_TOKEN"
    );
    // The same token twice: the isolation checks need two identities.
    let out = env
        .vestis()
        .args(["verify", "--quick", "--second-token", "me"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--second-token must differ"), "{stderr}");
    // A flag value it cannot read.
    let out = env
        .vestis()
        .args(["verify", "--job-timeout", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", texts(&out).1);
    assert_eq!(
        admin(&env, "/stats")["jobs_stored"],
        0,
        "nothing was created"
    );
    // A JUnit file that cannot be written: refused before anything is sent.
    let out = env
        .vestis()
        .args(["verify", "--quick", "--junit"])
        .arg(env.home.path().join("no-such-dir/verify.xml"))
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("vestis:")).count(),
        1
    );
    assert_eq!(
        admin(&env, "/stats")["api_requests"],
        0,
        "nothing was sent: {stderr}"
    );
}
