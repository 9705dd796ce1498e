//! `vestis generate KIND`: build the payload, journal it, create the job,
//! and (by default) wait for it and save the PNG.

use std::io::Read;
use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use vestis_client::{CreateOptions, Error, JobKind, Timestamp, validate_payload};

use crate::cli::GenerateArgs;
use crate::commands::Context;
use crate::exit::Failure;
use crate::journal::{Journal, Record, RecordStatus};
use crate::waiting::{Report, Target, wait_for, wait_options};

pub(crate) async fn run(ctx: &Context, args: GenerateArgs) -> anyhow::Result<()> {
    let kind = args.kind;
    let payload = payload(kind, &args)?;
    validate_payload(kind, &payload)
        .map_err(|e| Failure::usage(format!("invalid {kind} payload: {e}")))?;
    let client = ctx.client()?;
    let journal = ctx.journal()?;

    // Journal first: if this process dies mid-POST, `vestis resume` replays
    // the create with the same idempotency key instead of losing the job.
    let output = args.output.as_ref().map(|p| absolute(p));
    let mut record = new_record(ctx, kind, &payload, output.clone());
    journal.save(&record)?;

    ctx.on_interrupt(if ctx.is_mock() {
        "interrupted while creating the job".to_owned()
    } else {
        "interrupted while creating the job; run `vestis resume` to finish creating and waiting for it"
            .to_owned()
    });
    let options = CreateOptions::default().idempotency_key(&record.key);
    crate::failpoint::hit("before-create");
    let created = match client.create_with(kind, &payload, &options).await {
        Ok(created) => created,
        Err(e) => return Err(create_failed(ctx, &journal, record, e)),
    };
    crate::failpoint::hit("after-create");
    let id = created.job_id;
    record.job_id = Some(id);
    record.status = RecordStatus::Job(created.status.clone());
    record.payload = None;
    record.updated_at = Timestamp::now();
    journal.save(&record)?;
    crate::failpoint::hit("after-record");

    if args.no_wait {
        // One look pins the server's creation time to the record, so a
        // later server reusing this id is told apart (best effort).
        if let Ok(job) = client.get(id).await {
            record.apply(&job);
            journal.save(&record)?;
        }
        if ctx.out.json {
            ctx.out.document(&created)?;
        } else {
            ctx.out.human(&id.to_string())?;
        }
        return Ok(());
    }
    ctx.use_preview(&args.wait.preview)?;
    wait_for(
        ctx,
        &client,
        Some(&journal),
        vec![Target::new(id, output, Some(record))],
        &wait_options(&args.wait),
        Report::Document,
    )
    .await
}

/// The record of a create about to be sent: its key, payload and `-o` path.
fn new_record(
    ctx: &Context,
    kind: JobKind,
    payload: &Value,
    output: Option<std::path::PathBuf>,
) -> Record {
    let now = Timestamp::now();
    Record {
        key: uuid::Uuid::new_v4().to_string(),
        api_url: ctx.api_url.clone(),
        identity: ctx.identity(),
        job_id: None,
        job_created_at: None,
        mock: ctx.is_mock(),
        kind,
        summary: summary(payload),
        created_at: now,
        updated_at: now,
        status: RecordStatus::Submitting,
        attempts: 0,
        image_url: None,
        error: None,
        output,
        downloaded_to: None,
        payload: Some(payload.clone()),
    }
}

/// Records what a failed create means for its journal record, and says it:
/// a request that provably never left is `not_sent` (never replayed); one
/// whose answer was lost stays `submitting` for `vestis resume` to replay
/// with its key; one the server refused has no job, so no record.
fn create_failed(ctx: &Context, journal: &Journal, mut record: Record, e: Error) -> anyhow::Error {
    let outcome = if !e.is_transient() {
        let key = record.key.clone();
        let _ = journal.forget(|r| r.key == key);
        if let Error::NotFound(_) = e {
            return crate::exit::wrong_api_url(&ctx.api_url, &e).into();
        }
        return e.into();
    } else if e.is_request_unsent() {
        record.status = RecordStatus::NotSent;
        record.payload = None;
        "the request never reached a server, so no job was created"
    } else if ctx.is_mock() {
        "nothing to resume: the bundled mock server stops with this command"
    } else {
        // Unknown outcome: the server may have created the job.
        "the server may or may not have created the job: `vestis resume` asks again with the same idempotency key, which never makes a second job"
    };
    record.error = Some(e.to_string());
    record.updated_at = Timestamp::now();
    if let Err(journal_error) = journal.save(&record) {
        return anyhow::Error::from(journal_error);
    }
    anyhow::Error::from(e).context(format!("could not create the job ({outcome})"))
}

fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// The JSON payload from `--payload` or from the kind's flags.
fn payload(kind: JobKind, args: &GenerateArgs) -> anyhow::Result<Value> {
    if let Some(source) = &args.payload {
        let text = if source.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("could not read the payload from stdin")?;
            text
        } else {
            std::fs::read_to_string(source).map_err(|e| {
                Failure::usage(format!(
                    "cannot read payload file {}: {e}",
                    crate::safe::path(source)
                ))
            })?
        };
        return serde_json::from_str(&text)
            .map_err(|e| Failure::usage(format!("the payload is not valid JSON: {e}")).into());
    }
    let fields = Fields {
        prompt: args.prompt.as_deref(),
        images: &args.images,
        model_id: args.model_id.as_deref(),
        background_id: args.background_id.as_deref(),
        products: &args.products,
    };
    fields.payload(kind, Images::Encode)
}

/// The fields `generate` takes for a kind, as flags or as a `batch` row's
/// columns: the one place they become a payload.
pub(crate) struct Fields<'a, I: AsRef<std::ffi::OsStr>> {
    pub(crate) prompt: Option<&'a str>,
    /// URLs, `data:` URIs or local files.
    pub(crate) images: &'a [I],
    pub(crate) model_id: Option<&'a str>,
    pub(crate) background_id: Option<&'a str>,
    /// Each a JSON value or a plain id.
    pub(crate) products: &'a [String],
}

/// What becomes of a local image file while a payload is built.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Images {
    /// Read and sent as a `data:` URI.
    Encode,
    /// Only checked to be a readable file (validating a batch before
    /// anything is read in full): a stand-in URI takes its place.
    Check,
}

impl<I: AsRef<std::ffi::OsStr>> Fields<'_, I> {
    /// The JSON payload of a `kind` job with these fields.
    ///
    /// # Errors
    ///
    /// A usage [`Failure`] naming the problem: an unreadable image file, or
    /// flatlay fields on another kind.
    pub(crate) fn payload(&self, kind: JobKind, images: Images) -> anyhow::Result<Value> {
        let mut map = Map::new();
        if let Some(prompt) = self.prompt {
            map.insert("prompt".into(), json!(prompt));
        }
        if !self.images.is_empty() || kind == JobKind::Chat {
            let images = self
                .images
                .iter()
                .map(|i| image_reference(i.as_ref(), images))
                .collect::<anyhow::Result<Vec<_>>>()?;
            map.insert("images".into(), json!(images));
        }
        if let Some(id) = self.model_id {
            map.insert("modelId".into(), json!(id));
        }
        if let Some(id) = self.background_id {
            map.insert("backgroundId".into(), json!(id));
        }
        if !self.products.is_empty() || kind == JobKind::Flatlay {
            let products: Vec<Value> = self
                .products
                .iter()
                .map(|p| serde_json::from_str(p).unwrap_or_else(|_| json!(p)))
                .collect();
            map.insert("products".into(), json!(products));
        }
        if kind != JobKind::Flatlay && (self.model_id.is_some() || self.background_id.is_some()) {
            return Err(
                Failure::usage("--model-id and --background-id are for flatlay jobs").into(),
            );
        }
        Ok(Value::Object(map))
    }
}

/// Whether an image argument is sent as written (an `http://` or
/// `https://` URL, or a `data:` URI, in any case) rather than read from a
/// file: one rule for `generate --image` and a batch row's `image`.
pub(crate) fn is_remote_image(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    ["http://", "https://", "data:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

/// A URL or `data:` URI as is; a local file (any name Linux allows) as a
/// `data:` URI, or with [`Images::Check`] only checked to be a file.
fn image_reference(arg: &std::ffi::OsStr, images: Images) -> anyhow::Result<String> {
    if let Some(text) = arg.to_str()
        && is_remote_image(text)
    {
        return Ok(text.to_owned());
    }
    let file = Path::new(arg);
    let unreadable = |reason: String| {
        Failure::usage(format!(
            "cannot read image {}: {reason}",
            crate::safe::path(file)
        ))
    };
    if images == Images::Check {
        return match std::fs::metadata(file) {
            Ok(meta) if meta.is_file() => Ok("data:application/octet-stream;base64,".to_owned()),
            Ok(_) => Err(unreadable("not a file".to_owned()).into()),
            Err(e) => Err(unreadable(e.to_string()).into()),
        };
    }
    let bytes = std::fs::read(file).map_err(|e| unreadable(e.to_string()))?;
    let mime = match file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        _ => "application/octet-stream",
    };
    Ok(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// A one-line summary of a payload for the journal: the prompt, or the flatlay ids.
pub(crate) fn summary(payload: &Value) -> String {
    let text = if let Some(prompt) = payload.get("prompt").and_then(Value::as_str) {
        prompt.to_owned()
    } else if let (Some(m), Some(b)) = (payload.get("modelId"), payload.get("backgroundId")) {
        let n = payload
            .get("products")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        format!(
            "model {m}, background {b}, {n} product{}",
            if n == 1 { "" } else { "s" }
        )
    } else {
        let keys: Vec<&str> = payload
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if keys.is_empty() {
            "(empty payload)".to_owned()
        } else {
            format!("fields: {}", keys.join(", "))
        }
    };
    let mut short: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_short_and_useful() {
        assert_eq!(summary(&json!({"prompt": "a red dress"})), "a red dress");
        assert_eq!(
            summary(&json!({"modelId": "1", "backgroundId": 2, "products": [1, 2]})),
            "model \"1\", background 2, 2 products"
        );
        assert_eq!(summary(&json!({})), "(empty payload)");
        assert!(summary(&json!({"prompt": "x".repeat(100)})).ends_with('…'));
    }

    #[test]
    fn local_images_become_data_uris() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ref.png");
        std::fs::write(&file, [1u8, 2, 3]).unwrap();
        assert_eq!(
            image_reference(file.as_os_str(), Images::Encode).unwrap(),
            "data:image/png;base64,AQID"
        );
        assert_eq!(
            image_reference("https://x/y.png".as_ref(), Images::Encode).unwrap(),
            "https://x/y.png"
        );
        assert!(image_reference("/no/such/file.png".as_ref(), Images::Encode).is_err());
        assert!(image_reference("/no/such/file.png".as_ref(), Images::Check).is_err());
    }
}
