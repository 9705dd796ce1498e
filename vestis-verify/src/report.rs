//! What a run found, and its three renderings: lines for people, JSON for
//! scripts, JUnit XML for CI systems (each check a test case).
//!
//! Text that came from the server reaches every rendering through
//! [`abbrev`], which escapes control and bidi characters, so a hostile or
//! broken server cannot move the cursor, recolour a terminal or break the
//! XML.

use std::fmt::Write as _;

use serde::Serialize;

use crate::catalog::{CATALOG, CheckInfo};

/// A check's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// The server honours the sentence; `note` says what was observed when useful.
    Ok {
        /// E.g. "no 429 or 503 seen in 143 responses".
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The server breaks the sentence.
    Fail(Violation),
    /// The check could not be run; `reason` says why.
    Skip {
        /// E.g. "skipped: no job finished in time".
        reason: String,
    },
}

/// A failed check's evidence.
///
/// `#[non_exhaustive]`, like every type a run returns: a new release may
/// add evidence; read the fields.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(config: vestis_verify::Config) -> Result<(), vestis_verify::Error> {
/// use vestis_verify::Outcome;
/// let report = vestis_verify::run(&config, |_| {}).await?;
/// for check in &report.checks {
///     if let Outcome::Fail(violation) = &check.outcome {
///         println!("{}: {}\n  sent {}\n  got  {}", check.info.id, violation.problem, violation.sent, violation.received);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Violation {
    /// What is wrong, in one line.
    pub problem: String,
    /// The request that showed it: method, path, notable headers, body start.
    pub sent: String,
    /// What came back: status, content type, body start.
    pub received: String,
    /// How many more instances of the problem the check saw.
    pub more: usize,
}

/// One check and its verdict (`#[non_exhaustive]`: read the fields).
///
/// # Examples
///
/// ```
/// use vestis_verify::{Outcome, Report};
/// let report = Report::from_outcomes("http://127.0.0.1:4000/api/v1", |_| Outcome::Ok { note: None });
/// let first = &report.checks[0];
/// println!("{} ({}): {:?}", first.info.id, first.info.title, first.outcome);
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CheckResult {
    /// The catalog entry.
    #[serde(flatten)]
    pub info: CheckInfo,
    /// The verdict.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Everything a run found.
///
/// # Examples
///
/// ```
/// use vestis_verify::{Outcome, Report};
///
/// let report = Report::from_outcomes("http://127.0.0.1:4000/api/v1", |_| Outcome::Ok { note: None });
/// assert!(report.passed());
/// assert!(report.summary().starts_with("39 checks: 39 ok, 0 failed, 0 skipped"));
/// ```
///
/// `#[non_exhaustive]`: [`run`](crate::run) builds it (and
/// [`Report::from_outcomes`], for tests); a new release may add fields.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The API URL checked.
    pub api_url: String,
    /// Every check in catalog order.
    pub checks: Vec<CheckResult>,
    /// Ids of the jobs the run created.
    pub jobs_created: Vec<u64>,
    /// Ids of the jobs it cancelled while cleaning up.
    pub jobs_cancelled: Vec<u64>,
}

impl Report {
    /// A report with every catalog check's outcome from `outcome(id)`.
    pub fn from_outcomes(api_url: &str, mut outcome: impl FnMut(&str) -> Outcome) -> Report {
        Report {
            api_url: api_url.to_owned(),
            checks: CATALOG
                .iter()
                .map(|info| CheckResult {
                    info: *info,
                    outcome: outcome(info.id),
                })
                .collect(),
            jobs_created: Vec::new(),
            jobs_cancelled: Vec::new(),
        }
    }

    /// `true` when no check failed (skips do not count against).
    pub fn passed(&self) -> bool {
        self.count(|o| matches!(o, Outcome::Fail(_))) == 0
    }

    /// The ids of the failed checks.
    pub fn failed(&self) -> Vec<&'static str> {
        self.with(|o| matches!(o, Outcome::Fail(_)))
    }

    /// The ids of the skipped checks.
    pub fn skipped(&self) -> Vec<&'static str> {
        self.with(|o| matches!(o, Outcome::Skip { .. }))
    }

    /// The verdict of check `id`.
    pub fn outcome(&self, id: &str) -> Option<&Outcome> {
        self.checks
            .iter()
            .find(|c| c.info.id == id)
            .map(|c| &c.outcome)
    }

    fn with(&self, pick: impl Fn(&Outcome) -> bool) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| pick(&c.outcome))
            .map(|c| c.info.id)
            .collect()
    }

    fn count(&self, pick: impl Fn(&Outcome) -> bool) -> usize {
        self.checks.iter().filter(|c| pick(&c.outcome)).count()
    }

    /// `N checks: A ok, B failed, C skipped; J jobs created, K cancelled`.
    pub fn summary(&self) -> String {
        format!(
            "{} checks: {} ok, {} failed, {} skipped; {} jobs created, {} cancelled",
            self.checks.len(),
            self.count(|o| matches!(o, Outcome::Ok { .. })),
            self.count(|o| matches!(o, Outcome::Fail(_))),
            self.count(|o| matches!(o, Outcome::Skip { .. })),
            self.jobs_created.len(),
            self.jobs_cancelled.len(),
        )
    }

    /// One line per check (`ok`, `FAIL`, `skip`), a failure's evidence on
    /// indented lines under it, then the summary line.
    pub fn to_text(&self) -> String {
        let width = CATALOG.iter().map(|c| c.id.len()).max().unwrap_or(0);
        let mut out = String::new();
        for check in &self.checks {
            let id = check.info.id;
            // Writing to a String cannot fail.
            let _ = match &check.outcome {
                Outcome::Ok { note: None } => writeln!(out, "ok    {id}"),
                Outcome::Ok { note: Some(note) } => writeln!(out, "ok    {id:width$}  {note}"),
                Outcome::Skip { reason } => writeln!(out, "skip  {id:width$}  {reason}"),
                Outcome::Fail(v) => {
                    let more = match v.more {
                        0 => String::new(),
                        n => format!(" (and {n} more)"),
                    };
                    writeln!(
                        out,
                        "FAIL  {id:width$}  {}{more}\n      sent:     {}\n      received: {}\n      contract: {}",
                        v.problem, v.sent, v.received, check.info.contract
                    )
                }
            };
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    /// The report as one JSON document.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.insert("passed".into(), self.passed().into());
            map.insert("summary".into(), self.summary().into());
        }
        value
    }

    /// JUnit XML: one `<testcase>` per check, `<failure>` or `<skipped>` as due.
    pub fn to_junit(&self) -> String {
        let failures = self.count(|o| matches!(o, Outcome::Fail(_)));
        let skipped = self.count(|o| matches!(o, Outcome::Skip { .. }));
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            xml,
            "<testsuites name=\"vestis verify\" tests=\"{n}\" failures=\"{failures}\" skipped=\"{skipped}\">\n  <testsuite name=\"vestis verify {}\" tests=\"{n}\" failures=\"{failures}\" skipped=\"{skipped}\">",
            xml_escape(&self.api_url),
            n = self.checks.len(),
        );
        for check in &self.checks {
            let _ = write!(
                xml,
                "    <testcase classname=\"vestis.verify.{}\" name=\"{}\"",
                check.info.group.as_str(),
                check.info.id
            );
            let _ = match &check.outcome {
                Outcome::Ok { .. } => writeln!(xml, "/>"),
                Outcome::Skip { reason } => writeln!(
                    xml,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    xml_escape(reason)
                ),
                Outcome::Fail(v) => writeln!(
                    xml,
                    ">\n      <failure message=\"{}\">sent: {}\nreceived: {}\ncontract: {}</failure>\n    </testcase>",
                    xml_escape(&v.problem),
                    xml_escape(&v.sent),
                    xml_escape(&v.received),
                    xml_escape(check.info.contract),
                ),
            };
        }
        xml.push_str("  </testsuite>\n</testsuites>\n");
        xml
    }
}

/// Server text made safe to show: control and bidi characters escaped
/// (`\u{1b}`), cut to about `max` characters with `…`.
///
/// # Examples
///
/// ```
/// assert_eq!(vestis_verify::abbrev("red\x1b[31m", 80), "red\\u{1b}[31m");
/// assert_eq!(vestis_verify::abbrev("abcdef", 3), "abc…");
/// ```
pub fn abbrev(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i >= max {
            out.push('…');
            break;
        }
        if c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` as XML attribute or element content: markup characters as
/// entities, and the characters XML 1.0 cannot carry at all (controls other
/// than tab, newline and carriage return; U+FFFE, U+FFFF) written `\u{1b}`,
/// so the file stays parseable whatever a caller or server put in it.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(id: &str) -> Outcome {
        if id == "create.location" {
            Outcome::Fail(Violation {
                problem: "no Location header".into(),
                sent: "POST /api/v1/generate?chat=true".into(),
                received: "202 (application/json) {\"a\":\"<b>\"}".into(),
                more: 2,
            })
        } else if id == "isolation.foreign_job" {
            Outcome::Skip {
                reason: "needs --second-token".into(),
            }
        } else {
            Outcome::Ok { note: None }
        }
    }

    #[test]
    fn text_has_one_line_per_check_and_the_evidence_of_failures() {
        let report = Report::from_outcomes("http://x/api/v1", failing);
        let text = report.to_text();
        let heads = text
            .lines()
            .filter(|l| l.starts_with("ok ") || l.starts_with("FAIL ") || l.starts_with("skip "))
            .count();
        assert_eq!(heads, CATALOG.len());
        assert!(text.contains("FAIL  create.location"));
        assert!(text.contains("(and 2 more)"));
        assert!(text.contains("contract: Response: 202 Accepted, header Location"));
        assert!(text.ends_with("1 failed, 1 skipped; 0 jobs created, 0 cancelled\n"));
        assert!(!report.passed());
        assert_eq!(report.failed(), ["create.location"]);
    }

    #[test]
    fn junit_marks_failures_and_skips_and_escapes() {
        let xml = Report::from_outcomes("http://x/api/v1?a=1&b=2", failing).to_junit();
        assert!(xml.contains("failures=\"1\" skipped=\"1\""));
        assert!(xml.contains("<failure message=\"no Location header\">"));
        assert!(xml.contains("{&quot;a&quot;:&quot;&lt;b&gt;&quot;}"));
        assert!(xml.contains("a=1&amp;b=2"));
        assert!(xml.contains("<skipped message=\"needs --second-token\"/>"));
        assert_eq!(xml.matches("<testcase ").count(), CATALOG.len());
    }

    #[test]
    fn junit_is_well_formed_xml_whatever_the_text() {
        let hostile = "\u{1b}[31m\0 ]]> <tag a=\"b\"> & '\u{ffff}";
        let report = Report::from_outcomes(&format!("http://x/{hostile}"), |id| {
            if id == "create.location" {
                Outcome::Fail(Violation {
                    problem: hostile.into(),
                    sent: hostile.into(),
                    received: hostile.into(),
                    more: 0,
                })
            } else if id == "create.ids" {
                Outcome::Skip {
                    reason: hostile.into(),
                }
            } else {
                Outcome::Ok { note: None }
            }
        });
        let xml = report.to_junit();
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(root.attribute("tests"), Some(&*CATALOG.len().to_string()));
        let cases: Vec<_> = root
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), CATALOG.len());
        let failure = cases
            .iter()
            .find(|c| c.attribute("name") == Some("create.location"))
            .and_then(|c| c.children().find(|n| n.has_tag_name("failure")))
            .unwrap();
        let message = failure.attribute("message").unwrap();
        assert!(
            message.contains("\\u{1b}[31m\\u{0} ]]> <tag a=\"b\"> & '"),
            "{message}"
        );
        assert!(failure.text().unwrap().contains("contract: "));
        let skipped = cases
            .iter()
            .find(|c| c.attribute("name") == Some("create.ids"))
            .and_then(|c| c.children().find(|n| n.has_tag_name("skipped")));
        assert!(skipped.is_some());
    }

    #[test]
    fn json_carries_status_and_evidence() {
        let json = Report::from_outcomes("http://x", failing).to_json();
        let checks = json["checks"].as_array().unwrap();
        let location = checks
            .iter()
            .find(|c| c["id"] == "create.location")
            .unwrap();
        assert_eq!(location["status"], "fail");
        assert_eq!(location["group"], "create");
        assert_eq!(location["problem"], "no Location header");
        assert_eq!(json["passed"], false);
    }

    #[test]
    fn abbrev_escapes_bidi_and_newlines() {
        assert_eq!(abbrev("a\nb\u{202e}c", 80), "a\\u{a}b\\u{202e}c");
    }
}
