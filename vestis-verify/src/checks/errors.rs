//! The `errors` group: every error answer is the contract's JSON body with
//! the right status and code. None of these requests may create a job (an
//! invalid payload rides along where a lenient server might accept one).

use reqwest::Method;
use serde_json::json;

use crate::Error;
use crate::http::{Auth, Exchange, Req};
use crate::session::{Findings, Session, error_problem, expect_errors};

/// An id no server has handed out yet (JavaScript's largest safe integer).
pub(crate) const UNKNOWN_ID: u64 = 9_007_199_254_740_991;

/// Runs the group.
pub(crate) async fn run(s: &mut Session) -> Result<(), Error> {
    bodies(s).await?;
    routes(s).await?;
    too_large(s).await?;
    unsupported_media_type(s).await
}

/// Bad create bodies: malformed, not an object, invalid, two types at once.
async fn bodies(s: &mut Session) -> Result<(), Error> {
    let malformed = s
        .send(Req::post("/generate?chat=true").raw("application/json", b"{\"prompt\": ".to_vec()))
        .await?;
    s.record(
        "errors.malformed_json",
        expect_errors([&malformed], 400, "invalid_request"),
    );

    let not_object = s
        .send(
            Req::post("/generate?chat=true")
                .raw("application/json", b"[\"a linen dress\"]".to_vec()),
        )
        .await?;
    s.record(
        "errors.not_an_object",
        expect_errors([&not_object], 400, "invalid_request"),
    );

    let blank = s
        .send(Req::post("/generate?chat=true").json(json!({"prompt": "   "})))
        .await?;
    let missing = s
        .send(Req::post("/generate?chat=true").json(json!({"images": []})))
        .await?;
    s.record("errors.validation", validation([&blank, &missing]));

    // Valid for neither type alone (chat lacks a prompt), so no job either way.
    let two = s
        .send(Req::post("/generate?chat=true&flatlay=true").json(json!({"note": "vestis verify"})))
        .await?;
    s.record(
        "errors.two_types",
        expect_errors([&two], 400, "invalid_request"),
    );
    Ok(())
}

/// Bad and unknown job ids, missing credentials, unknown routes, wrong methods.
async fn routes(s: &mut Session) -> Result<(), Error> {
    let mut bad_ids = Vec::new();
    for id in ["abc", "0", "-1", "1.5"] {
        bad_ids.push(s.send(Req::get(format!("/jobs/{id}"))).await?);
    }
    s.record(
        "errors.bad_job_id",
        expect_errors(&bad_ids, 400, "invalid_request"),
    );

    let mut unauthorized = Vec::new();
    for auth in [
        Auth::Without,
        Auth::Header("Bearer "),
        Auth::Header("Basic dmVzdGlzOnZlcmlmeQ=="),
    ] {
        unauthorized.push(s.send(Req::get("/jobs").auth(auth)).await?);
    }
    s.record(
        "errors.unauthorized",
        expect_errors(&unauthorized, 401, "unauthorized"),
    );

    let unknown = [
        s.send(Req::get(format!("/jobs/{UNKNOWN_ID}"))).await?,
        s.send(Req::delete(format!("/jobs/{UNKNOWN_ID}"))).await?,
    ];
    s.record(
        "errors.unknown_job",
        expect_errors(&unknown, 404, "not_found"),
    );

    let route = s.send(Req::get("/no-such-route")).await?;
    s.record(
        "errors.unknown_route",
        expect_errors([&route], 404, "not_found"),
    );

    let wrong = [
        s.send(Req::new(Method::PUT, "/jobs")).await?,
        s.send(Req::get("/generate")).await?,
    ];
    s.record(
        "errors.wrong_method",
        expect_errors(&wrong, 405, "method_not_allowed"),
    );
    Ok(())
}

/// A JSON-looking body sent as `text/plain`: 415.
async fn unsupported_media_type(s: &mut Session) -> Result<(), Error> {
    let plain = s
        .send(
            Req::post("/generate?chat=true")
                .raw("text/plain", b"{\"note\": \"vestis verify\"}".to_vec()),
        )
        .await?;
    s.record(
        "errors.unsupported_media_type",
        expect_errors([&plain], 415, "unsupported_media_type"),
    );
    Ok(())
}

/// 400 `invalid_request`, and the message names the field.
fn validation<'a>(answers: impl IntoIterator<Item = &'a Exchange>) -> crate::Outcome {
    let mut findings = Findings::default();
    for ex in answers {
        if let Some(problem) = error_problem(ex, 400, "invalid_request") {
            findings.add(ex, problem);
        } else if !ex
            .json()
            .and_then(|b| b["error"].as_str().map(str::to_ascii_lowercase))
            .is_some_and(|e| e.contains("prompt"))
        {
            findings.add(ex, "the error message does not name the field (prompt)");
        }
    }
    findings.outcome(None)
}

/// An 11 MiB body: over the mock server's 10 MiB. A server whose limit is
/// higher answers the missing prompt with 400, which is its right.
///
/// A server may answer 413 at once and close the connection with the body
/// still arriving; TCP then resets it, and the answer can be lost before
/// it is read. So a connection failure here is tried again, then reported
/// as a skip (nothing could be judged), never as an unreachable server.
async fn too_large(s: &mut Session) -> Result<(), Error> {
    const SIZE: usize = 11 * 1024 * 1024;
    const TRIES: usize = 3;
    let mut body = Vec::with_capacity(SIZE + 16);
    body.extend_from_slice(b"{\"pad\": \"");
    body.resize(SIZE, b'x');
    body.extend_from_slice(b"\"}");
    let req = Req::post("/generate?chat=true").raw("application/json", body);
    let mut answer = None;
    for _ in 0..TRIES {
        match s.send(req.clone()).await {
            Ok(ex) => {
                answer = Some(ex);
                break;
            }
            Err(Error::Connection { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    let Some(ex) = answer else {
        s.skip(
            "errors.payload_too_large",
            "skipped: the server closed the connection before its answer to an 11 MiB body could be read",
        );
        return Ok(());
    };
    if ex.status == 400 {
        s.skip(
            "errors.payload_too_large",
            "skipped: the server took an 11 MiB body (its limit is higher; the contract leaves it open)",
        );
    } else {
        s.record(
            "errors.payload_too_large",
            expect_errors([&ex], 413, "payload_too_large"),
        );
    }
    Ok(())
}
