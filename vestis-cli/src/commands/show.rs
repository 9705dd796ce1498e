//! `vestis show ID|FILE...`: draws images in the terminal, a job's from
//! the file this machine saved it to (by `generate`, `wait` or `batch`;
//! else downloaded once, into memory)
//! or a PNG on disk. On a pipe, with `--json` or `-q` it draws nothing and
//! prints one line (or JSON object) per image, so it also says where a
//! job's image is.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;
use vestis_client::{Error, JobId, JobStatus};

use crate::cli::ShowArgs;
use crate::commands::Context;
use crate::exit::{Exit, Failure};
use crate::journal::Journal;
use crate::preview::{Choice, DrawError, Preview, image};

/// Where an image's bytes came from.
#[derive(Serialize)]
struct Source {
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<JobId>,
    /// The file the bytes came from (lossy UTF-8 for a name that is not).
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    /// The URL they were downloaded from, when no saved file had them.
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<String>,
}

impl Source {
    /// How lines name it: `job 17`, or the file.
    fn name(&self) -> String {
        match (&self.job_id, &self.path) {
            (Some(id), _) => format!("job {id}"),
            (None, Some(path)) => path.clone(),
            (None, None) => String::new(),
        }
    }
}

/// One image as `--json` prints it: its source, then its size in pixels.
#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    source: &'a Source,
    width: u32,
    height: u32,
}

pub(crate) async fn run(ctx: &Context, args: ShowArgs) -> anyhow::Result<()> {
    let quiet = ctx.mode == crate::progress::Mode::Quiet;
    let preview = Preview::choose(args.preview.unwrap_or(Choice::Auto), ctx.out.json, quiet)?;
    // A signal that came during the terminal query (which blocks, briefly)
    // ends the command here, before anything is drawn.
    tokio::task::yield_now().await;
    let total = args.items.len();
    let mut failures = Vec::new();
    for item in &args.items {
        match show(ctx, preview, item).await {
            Ok(()) => {}
            Err(NotShown::Failed(failure)) => failures.push(failure),
            Err(NotShown::Stop(e)) => return Err(e),
        }
        // Ctrl-C is seen between two images, never in the middle of one.
        tokio::task::yield_now().await;
    }
    match Failure::of_many_named(failures, total, "images", "could not be shown") {
        None => Ok(()),
        Some(failure) => Err(failure.into()),
    }
}

/// Why an item was not shown: its own failure (the others go on), or a
/// stop for all (stdout closed).
enum NotShown {
    Failed(Failure),
    Stop(anyhow::Error),
}

impl From<Failure> for NotShown {
    fn from(failure: Failure) -> NotShown {
        NotShown::Failed(failure)
    }
}

async fn show(ctx: &Context, preview: Option<Preview>, item: &OsString) -> Result<(), NotShown> {
    let path = Path::new(item);
    let (bytes, source) = if path.exists() {
        let source = Source {
            job_id: None,
            path: Some(path.to_string_lossy().into_owned()),
            image_url: None,
        };
        (read_png(path)?, source)
    } else if let Some(id) = item.to_str().and_then(|s| s.trim().parse::<JobId>().ok()) {
        job_image(ctx, id).await?
    } else {
        return Err(Failure::usage(format!(
            "{}: no such file, and not a job id",
            path.display()
        ))
        .into());
    };
    let name = source.name();
    let broken = |e: image::ImageError| Failure::usage(format!("{name}: {e}"));
    let (width, height) = image::dimensions(&bytes).map_err(broken)?;
    if preview.is_none() {
        // Nothing drawn, but a broken file is said all the same.
        image::decode_scaled(&bytes, 1, 1).map_err(broken)?;
    }
    let written = if ctx.out.json {
        ctx.out.json_line(&Shown {
            source: &source,
            width,
            height,
        })
    } else {
        let place = match (&source.job_id, &source.path, &source.image_url) {
            (Some(_), Some(path), _) | (Some(_), None, Some(path)) => format!(": {path}"),
            _ => String::new(),
        };
        ctx.out.human(&format!("{name}{place} ({width}×{height})"))
    };
    written.map_err(|e| NotShown::Stop(e.into()))?;
    if let Some(preview) = preview {
        match preview.draw(&bytes) {
            Ok(()) => {}
            Err(DrawError::Image(e)) => return Err(broken(e).into()),
            Err(DrawError::Write(e)) => return Err(NotShown::Stop(e.into())),
        }
    }
    Ok(())
}

/// A PNG file's bytes ([`image::read_file`]), or why not as a one-line failure.
fn read_png(path: &Path) -> Result<Vec<u8>, Failure> {
    image::read_file(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

/// Job `id`'s image: from the file this machine saved it to (by
/// `generate` or `wait`, in the job journal; by `batch`, in its log),
/// else downloaded once from the URL the server gives now.
async fn job_image(ctx: &Context, id: JobId) -> Result<(Vec<u8>, Source), Failure> {
    let journal = ctx.journal().ok();
    let records = journal
        .as_ref()
        .and_then(|journal| journal.records().ok())
        .unwrap_or_default();
    let saved: Option<PathBuf> = Journal::find(&records, &ctx.api_url, id)
        .and_then(|record| record.downloaded_to)
        .filter(|file| file.is_file())
        .or_else(|| {
            journal.as_ref().and_then(|journal| {
                crate::journal::batch::saved_image(journal.dir(), &ctx.api_url, id)
            })
        });
    if let Some(file) = saved {
        let source = Source {
            job_id: Some(id),
            path: Some(file.to_string_lossy().into_owned()),
            image_url: None,
        };
        return Ok((read_png(&file)?, source));
    }
    let client = ctx.client().map_err(|e| match e.downcast::<Failure>() {
        Ok(failure) => failure,
        Err(e) => Failure::usage(e.to_string()),
    })?;
    let job = client
        .get(id)
        .await
        .map_err(|e| Failure::new(Exit::of_client(&e), format!("job {id}: {e}")))?;
    let Some(url) = job.image_url() else {
        let exit = match job.status {
            JobStatus::Failed | JobStatus::Cancelled => Exit::JobFailed,
            _ => Exit::Usage,
        };
        return Err(Failure::new(
            exit,
            format!("job {id} has no image ({})", job.status),
        ));
    };
    let bytes = client.download(url).await.map_err(|e: Error| {
        Failure::new(
            Exit::Unavailable,
            format!("job {id}: its image could not be downloaded from {url}: {e}"),
        )
    })?;
    let source = Source {
        job_id: Some(id),
        path: None,
        image_url: Some(url.to_owned()),
    };
    Ok((bytes, source))
}
