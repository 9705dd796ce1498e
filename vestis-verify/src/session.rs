//! A run's state: the HTTP side, the jobs it created and every snapshot of
//! them it saw, and the verdicts so far. The check modules share it.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{Exchange, Http, Req};
use crate::report::{Outcome, Violation, abbrev};
use crate::{Config, Error};

/// A job type as the API names it, and how to ask for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kind {
    /// The `job_type` the server must report.
    pub(crate) name: &'static str,
    /// The query string that selects it (`""` for legacy).
    pub(crate) query: &'static str,
}

pub(crate) const CHAT: Kind = Kind {
    name: "chat",
    query: "?chat=true",
};

/// Every type, in the order the create group makes one job of each.
pub(crate) const KINDS: [Kind; 6] = [
    CHAT,
    Kind {
        name: "flatlay",
        query: "?flatlay=true",
    },
    Kind {
        name: "mdoli",
        query: "?mdoli=true",
    },
    Kind {
        name: "onmodel",
        query: "?onmodel=true",
    },
    Kind {
        name: "background",
        query: "?background=true",
    },
    Kind {
        name: "legacy",
        query: "",
    },
];

/// A valid payload for `kind`.
pub(crate) fn payload(kind: Kind) -> Value {
    match kind.name {
        "flatlay" => json!({
            "modelId": "vestis-verify-model",
            "backgroundId": "vestis-verify-background",
            "products": [{"sku": "VESTIS-VERIFY-1"}],
        }),
        _ => json!({"prompt": "vestis verify: a linen summer dress"}),
    }
}

/// How a job should end on the mock server (`X-Mock-Outcome`); other servers ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hint {
    Complete,
    Fail,
}

/// A job this run created, and every snapshot of it seen, oldest first.
#[derive(Debug)]
pub(crate) struct Tracked {
    pub(crate) id: u64,
    pub(crate) hint: Hint,
    /// Cancelled by this run (200 to its DELETE).
    pub(crate) cancelled: bool,
    pub(crate) history: Vec<Value>,
}

impl Tracked {
    /// The last status seen, if any.
    pub(crate) fn status(&self) -> Option<&str> {
        self.history.last().and_then(|j| j["status"].as_str())
    }

    pub(crate) fn is_terminal(&self) -> bool {
        self.status().is_some_and(is_terminal)
    }
}

pub(crate) fn is_terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "cancelled")
}

/// A job object seen in an answer, with the request that showed it.
#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) sent: String,
    pub(crate) job: Value,
}

/// The problems one check found: the first one's evidence and a count.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    first: Option<Violation>,
    count: usize,
}

impl Findings {
    /// Records a problem shown by `ex`.
    pub(crate) fn add(&mut self, ex: &Exchange, problem: impl Into<String>) {
        self.add_raw(&ex.sent, &ex.received(), problem);
    }

    /// Records a problem with its evidence spelled out.
    pub(crate) fn add_raw(&mut self, sent: &str, received: &str, problem: impl Into<String>) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(Violation {
                problem: abbrev(&problem.into(), 300),
                sent: sent.to_owned(),
                received: received.to_owned(),
                more: 0,
            });
        }
    }

    /// `true` while no problem was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// `Fail` with the first problem if there was one, else `Ok` with `note`.
    pub(crate) fn outcome(self, note: Option<String>) -> Outcome {
        match self.first {
            Some(mut v) => {
                v.more = self.count - 1;
                Outcome::Fail(v)
            }
            None => Outcome::Ok { note },
        }
    }
}

/// A run in progress.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) http: Http,
    pub(crate) config: Config,
    pub(crate) jobs: Vec<Tracked>,
    pub(crate) seen: Vec<Seen>,
    pub(crate) results: HashMap<&'static str, Outcome>,
    /// `cancel.terminal` gathers evidence in two phases (a cancelled job, then a finished one).
    pub(crate) terminal_cancel: (Findings, usize),
}

impl Session {
    pub(crate) fn new(http: Http, config: Config) -> Session {
        Session {
            http,
            config,
            jobs: Vec::new(),
            seen: Vec::new(),
            results: HashMap::new(),
            terminal_cancel: (Findings::default(), 0),
        }
    }

    /// Records a verdict.
    pub(crate) fn record(&mut self, id: &'static str, outcome: Outcome) {
        debug_assert!(crate::catalog::find(id).is_some(), "unknown check {id}");
        self.results.insert(id, outcome);
    }

    pub(crate) fn skip(&mut self, id: &'static str, reason: impl Into<String>) {
        self.record(
            id,
            Outcome::Skip {
                reason: reason.into(),
            },
        );
    }

    /// Sends `req`; a 202 to a create registers the new job for clean-up.
    ///
    /// # Errors
    ///
    /// [`Error::Connection`] when the server cannot be reached.
    pub(crate) async fn send(&mut self, req: Req) -> Result<Exchange, Error> {
        let ex = self.http.send(&req).await?;
        if ex.status == 202
            && ex.sent.starts_with("POST ")
            && let Some(id) = ex.json().and_then(|b| b["job_id"].as_u64())
            && !self.jobs.iter().any(|j| j.id == id)
        {
            self.jobs.push(Tracked {
                id,
                hint: Hint::Complete,
                cancelled: false,
                history: Vec::new(),
            });
        }
        Ok(ex)
    }

    /// Creates a job of `kind`, with the mock server's hints; returns the
    /// answer and the new job's id if one was made.
    ///
    /// # Errors
    ///
    /// [`Error::Connection`] when the server cannot be reached.
    pub(crate) async fn create(
        &mut self,
        kind: Kind,
        body: Value,
        hint: Hint,
        key: Option<&str>,
    ) -> Result<(Exchange, Option<u64>), Error> {
        let known = self.jobs.len();
        let (outcome, duration) = match hint {
            Hint::Complete => ("complete", self.config.mock_duration),
            // Three quick failed attempts: the job ends `failed` soon.
            Hint::Fail => ("fail", self.config.mock_duration / 8),
        };
        let mut req = Req::post(format!("/generate{}", kind.query))
            .json(body)
            .header("x-mock-outcome", outcome)
            .header(
                "x-mock-duration",
                format!("{}ms", duration.as_millis().max(1)),
            );
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        let ex = self.send(req).await?;
        let new = (self.jobs.len() > known).then(|| {
            let job = &mut self.jobs[known];
            job.hint = hint;
            job.id
        });
        Ok((ex, new))
    }

    /// `GET /jobs/{id}` as the primary token; a job object in the answer is observed.
    ///
    /// # Errors
    ///
    /// [`Error::Connection`] when the server cannot be reached.
    pub(crate) async fn get_job(&mut self, id: u64) -> Result<Exchange, Error> {
        let ex = self.send(Req::get(format!("/jobs/{id}"))).await?;
        if ex.status == 200
            && let Some(job) = ex.json()
        {
            self.observe(&ex.sent, job);
        }
        Ok(ex)
    }

    /// Notes a job object seen in an answer to `sent`.
    pub(crate) fn observe(&mut self, sent: &str, job: Value) {
        if let Some(tracked) = job["job_id"]
            .as_u64()
            .and_then(|id| self.jobs.iter_mut().find(|j| j.id == id))
        {
            tracked.history.push(job.clone());
        }
        self.seen.push(Seen {
            sent: sent.to_owned(),
            job,
        });
    }

    /// Notes every job of a list answer.
    pub(crate) fn observe_page(&mut self, ex: &Exchange) {
        if ex.status != 200 {
            return;
        }
        let jobs = ex
            .json()
            .and_then(|b| b["jobs"].as_array().cloned())
            .unwrap_or_default();
        for job in jobs {
            self.observe(&ex.sent, job);
        }
    }

    pub(crate) fn tracked(&self, id: u64) -> Option<&Tracked> {
        self.jobs.iter().find(|j| j.id == id)
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        self.config.poll_interval
    }
}

/// Why an answer is not the contract's error `status`/`code`, if it is not.
pub(crate) fn error_problem(ex: &Exchange, status: u16, code: &str) -> Option<String> {
    if ex.status != status {
        return Some(format!("expected {status} {code}, got {}", ex.status));
    }
    let json_type = ex
        .header("content-type")
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json"));
    let Some(body) = ex.json().filter(Value::is_object) else {
        return Some(format!("{status} without a JSON object body"));
    };
    if !json_type {
        return Some(format!(
            "{status} with a JSON body but not Content-Type: application/json"
        ));
    }
    if body["success"] != Value::Bool(false) {
        return Some(format!("{status} body without \"success\": false"));
    }
    if body["error"].as_str().is_none_or(|e| e.trim().is_empty()) {
        return Some(format!(
            "{status} body without a non-empty \"error\" message"
        ));
    }
    if body["code"] != code {
        return Some(format!(
            "{status} body has code {}, expected {code:?}",
            abbrev(&body["code"].to_string(), 40)
        ));
    }
    None
}

/// Checks each answer against the contract's error `status`/`code`.
pub(crate) fn expect_errors<'a>(
    exchanges: impl IntoIterator<Item = &'a Exchange>,
    status: u16,
    code: &str,
) -> Outcome {
    let mut findings = Findings::default();
    for ex in exchanges {
        if let Some(problem) = error_problem(ex, status, code) {
            findings.add(ex, problem);
        }
    }
    findings.outcome(None)
}
