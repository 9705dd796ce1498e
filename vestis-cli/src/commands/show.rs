//! `vestis show ID|FILE...`: draws images in the terminal, a job's from
//! the file this machine saved it to (else downloaded once, into memory)
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

/// Larger files are refused before they are read: no previewable PNG
/// (at most [`image::MAX_PIXELS`]) is anywhere near this compressed.
const MAX_FILE_BYTES: u64 = 256 << 20;

/// One image as `--json` prints it.
#[derive(Serialize)]
struct Shown {
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<JobId>,
    /// The file the bytes came from (lossy UTF-8 for a name that is not).
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    /// The URL they were downloaded from, when no saved file had them.
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<String>,
    width: u32,
    height: u32,
}

pub(crate) async fn run(ctx: &Context, args: ShowArgs) -> anyhow::Result<()> {
    let quiet = ctx.mode == crate::progress::Mode::Quiet;
    let preview = Preview::choose(args.preview.unwrap_or(Choice::Auto), ctx.out.json, quiet)?;
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
    let (bytes, shown) = if path.exists() {
        let bytes = read_png(path)?;
        let shown = Shown {
            job_id: None,
            path: Some(path.to_string_lossy().into_owned()),
            image_url: None,
            width: 0,
            height: 0,
        };
        (bytes, shown)
    } else if let Some(id) = item.to_str().and_then(|s| s.trim().parse::<JobId>().ok()) {
        job_image(ctx, id).await?
    } else {
        return Err(Failure::usage(format!(
            "{}: no such file, and not a job id",
            path.display()
        ))
        .into());
    };
    let what = match (&shown.job_id, &shown.path) {
        (Some(id), _) => format!("job {id}"),
        (None, Some(path)) => path.clone(),
        (None, None) => String::new(),
    };
    let (width, height) =
        image::dimensions(&bytes).map_err(|e| Failure::usage(format!("{what}: {e}")))?;
    let shown = Shown {
        width,
        height,
        ..shown
    };
    if preview.is_none() {
        // Nothing drawn, but a broken file is said all the same.
        image::decode_scaled(&bytes, 1, 1).map_err(|e| Failure::usage(format!("{what}: {e}")))?;
    }
    let line = match (&shown.job_id, &shown.path, &shown.image_url) {
        (Some(id), Some(path), _) => format!("job {id}: {path} ({width}×{height})"),
        (Some(id), None, Some(url)) => format!("job {id}: {url} ({width}×{height})"),
        _ => format!("{what} ({width}×{height})"),
    };
    let written = if ctx.out.json {
        ctx.out.json_line(&shown)
    } else {
        ctx.out.human(&line)
    };
    written.map_err(|e| NotShown::Stop(e.into()))?;
    if let Some(preview) = preview {
        match preview.draw(&bytes) {
            Ok(()) => {}
            Err(DrawError::Image(e)) => return Err(Failure::usage(format!("{what}: {e}")).into()),
            Err(DrawError::Write(e)) => return Err(NotShown::Stop(e.into())),
        }
    }
    Ok(())
}

/// A PNG file's bytes, refused before reading when it is far too large.
fn read_png(path: &Path) -> Result<Vec<u8>, Failure> {
    let cannot = |e: std::io::Error| Failure::usage(format!("cannot read {}: {e}", path.display()));
    let size = std::fs::metadata(path).map_err(cannot)?.len();
    if size > MAX_FILE_BYTES {
        return Err(Failure::usage(format!(
            "{}: {size} bytes, too large to preview",
            path.display()
        )));
    }
    std::fs::read(path).map_err(cannot)
}

/// Job `id`'s image: from the file this machine saved it to, else
/// downloaded once from the URL the server gives now.
async fn job_image(ctx: &Context, id: JobId) -> Result<(Vec<u8>, Shown), Failure> {
    let records = ctx
        .journal()
        .ok()
        .and_then(|journal| journal.records().ok())
        .unwrap_or_default();
    let saved: Option<PathBuf> = Journal::find(&records, &ctx.api_url, id)
        .and_then(|record| record.downloaded_to)
        .filter(|file| file.is_file());
    if let Some(file) = saved {
        let bytes = read_png(&file)?;
        let shown = Shown {
            job_id: Some(id),
            path: Some(file.to_string_lossy().into_owned()),
            image_url: None,
            width: 0,
            height: 0,
        };
        return Ok((bytes, shown));
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
    let shown = Shown {
        job_id: Some(id),
        path: None,
        image_url: Some(url.to_owned()),
        width: 0,
        height: 0,
    };
    Ok((bytes, shown))
}
