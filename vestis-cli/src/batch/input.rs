//! A batch's input file, read one row at a time: CSV with a header row
//! (through the `csv` crate: quoting, embedded newlines and commas, ragged
//! rows) or JSON Lines. Each row becomes a [`Row`] (its kind, payload and
//! identity) or a [`RowError`] (`FILE:LINE: field: reason`), so a file is
//! validated and then run in two passes that never hold more than one row.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;
use vestis_client::{InvalidPayload, JobKind, validate_payload};

use crate::commands::generate::{Fields, Images};

/// The longest row accepted, in bytes: a prompt file is text, and a row
/// past this is a mistake (a binary file, a missing newline) better said
/// than sent. Images come from files or URLs, never inline.
pub(crate) const MAX_ROW_BYTES: usize = 1024 * 1024;

/// The columns (CSV) or keys (JSON Lines) a row may have.
pub(crate) const COLUMNS: [&str; 8] = [
    "id",
    "kind",
    "prompt",
    "model_id",
    "background_id",
    "product",
    "image",
    "payload",
];

/// How the file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    Csv,
    Jsonl,
}

impl Format {
    /// By extension: `.csv`, else `.jsonl`/`.ndjson`/`.json`; `None` when it says neither.
    pub(crate) fn of_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            _ => None,
        }
    }

    /// By content, for stdin and unknown extensions: JSON Lines when the
    /// first non-blank byte opens an object.
    fn sniff(path: &Path) -> io::Result<Format> {
        let mut head = [0u8; 512];
        let n = File::open(path)?.read(&mut head)?;
        let first = head[..n]
            .iter()
            .copied()
            .find(|b| !(b.is_ascii_whitespace() || [0xEF, 0xBB, 0xBF].contains(b)));
        Ok(if first == Some(b'{') {
            Format::Jsonl
        } else {
            Format::Csv
        })
    }

    /// The format `asked` (by `--format`), else by extension, else by content.
    pub(crate) fn decide(asked: Option<Format>, path: &Path, name: &Path) -> io::Result<Format> {
        match asked.or_else(|| Format::of_path(name)) {
            Some(format) => Ok(format),
            None => Format::sniff(path),
        }
    }
}

/// One valid row: what to create, and how the batch knows it again.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// The line it starts on, from 1 (the header is line 1 of a CSV).
    pub(crate) line: u64,
    /// The `id` column, if the row has one.
    pub(crate) id: Option<String>,
    pub(crate) kind: JobKind,
    /// The payload, local images still as file names (see [`Row::payload`]).
    fields: RowFields,
    /// A fingerprint of the row's own text: a row edited between two runs
    /// is a new row.
    pub(crate) content: u64,
}

/// A row's fields as written.
#[derive(Debug, Clone, Default)]
struct RowFields {
    prompt: Option<String>,
    model_id: Option<String>,
    background_id: Option<String>,
    products: Vec<String>,
    /// As resolved by [`image_path`]: URLs as written, files from the
    /// input's folder.
    images: Vec<OsString>,
    payload: Option<Value>,
}

impl Row {
    /// The JSON payload to send, local images read into `data:` URIs.
    ///
    /// # Errors
    ///
    /// An image file that can no longer be read.
    pub(crate) fn payload(&self) -> anyhow::Result<Value> {
        self.fields.payload(self.kind, Images::Encode)
    }

    /// The prompt, if any (for names and summaries).
    pub(crate) fn prompt(&self) -> Option<&str> {
        self.fields.prompt.as_deref().or_else(|| {
            self.fields
                .payload
                .as_ref()
                .and_then(|p| p.get("prompt"))
                .and_then(Value::as_str)
        })
    }

    /// The row's images: URLs and `data:` URIs as written, local files as
    /// resolved from the input's folder (see [`image_path`]).
    pub(crate) fn images(&self) -> &[OsString] {
        &self.fields.images
    }

    /// How the batch knows this row across runs: its `id`, else its line.
    pub(crate) fn identity(&self) -> String {
        match &self.id {
            Some(id) => format!("id:{id}"),
            None => format!("line:{}", self.line),
        }
    }
}

impl RowFields {
    fn payload(&self, kind: JobKind, images: Images) -> anyhow::Result<Value> {
        if let Some(payload) = &self.payload {
            return Ok(payload.clone());
        }
        Fields {
            prompt: self.prompt.as_deref(),
            images: &self.images,
            model_id: self.model_id.as_deref(),
            background_id: self.background_id.as_deref(),
            products: &self.products,
        }
        .payload(kind, images)
    }
}

/// Why a row (or the file) cannot be used: `FILE:LINE: field: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowError {
    /// 0 for the file as a whole.
    pub(crate) line: u64,
    pub(crate) field: String,
    pub(crate) reason: String,
}

impl RowError {
    fn new(line: u64, field: &str, reason: impl Into<String>) -> RowError {
        RowError {
            line,
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    /// The error as listed: `FILE:LINE: field: reason` (`FILE: reason` for the whole file).
    pub(crate) fn render(&self, file: &str) -> String {
        match self.line {
            0 => format!("{file}: {}", self.reason),
            line => format!("{file}:{line}: {}: {}", self.field, self.reason),
        }
    }
}

/// The CSV reader's input, passed through, its bytes kept in a
/// [`LineMap`]: the csv crate's own line numbers run one short after a
/// CRLF (a record's position is taken before the `\n` of the previous
/// record's `\r\n` is read).
struct Counted<R> {
    inner: R,
    lines: std::sync::Arc<std::sync::Mutex<LineMap>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .bytes
            .extend(&buf[..n]);
        Ok(n)
    }
}

/// The bytes read since the last record began (a record and the reader's
/// buffer ahead of it), and how many lines ended before them.
#[derive(Debug, Default)]
struct LineMap {
    /// The file offset of `bytes[0]`.
    base: u64,
    /// Newlines before `base`.
    newlines: u64,
    bytes: std::collections::VecDeque<u8>,
}

impl LineMap {
    /// The 1-based line of the record whose read began at byte `at`: past
    /// the line ends the reader skips first (the `\n` of a `\r\n`, blank
    /// lines). Forgets the bytes before `at`.
    fn line_at(&mut self, at: u64) -> u64 {
        let drop = usize::try_from(at.saturating_sub(self.base))
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        self.newlines += self.bytes.drain(..drop).filter(|b| *b == b'\n').count() as u64;
        self.base += drop as u64;
        let skipped = self
            .bytes
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .filter(|b| **b == b'\n')
            .count() as u64;
        1 + self.newlines + skipped
    }
}

/// The rows of a file, in order, each valid or not; file-wide problems
/// (empty, header only, unknown columns) are errors on line 0 or 1.
pub(crate) struct Rows {
    source: Source,
    kind: Option<JobKind>,
    /// Where the rows' relative image paths start (see [`images_folder`]).
    images_from: PathBuf,
    /// Rows yielded so far, valid or not.
    pub(crate) seen: u64,
    done: bool,
}

enum Source {
    Csv {
        reader: csv::Reader<Counted<BufReader<File>>>,
        header: Vec<String>,
        record: csv::ByteRecord,
        /// What the reader has read, for each record's line.
        lines: std::sync::Arc<std::sync::Mutex<LineMap>>,
    },
    Jsonl {
        reader: BufReader<File>,
        line: u64,
        buf: Vec<u8>,
    },
}

impl Rows {
    /// Opens `path` in `format`; `kind` is `--kind` (rows without a `kind`
    /// take it); a row's relative image paths are read from `images_from`
    /// (the input's folder, [`images_folder`]), not from the current one.
    ///
    /// # Errors
    ///
    /// The file cannot be opened (I/O), or a CSV header that cannot be
    /// used (a [`RowError`] as the `Err`'s second part).
    pub(crate) fn open(
        path: &Path,
        format: Format,
        kind: Option<JobKind>,
        images_from: &Path,
    ) -> io::Result<Result<Rows, RowError>> {
        let file = File::open(path)?;
        let source = match format {
            Format::Jsonl => Source::Jsonl {
                reader: BufReader::new(file),
                line: 0,
                buf: Vec::new(),
            },
            Format::Csv => {
                let lines = std::sync::Arc::default();
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(Counted {
                        inner: BufReader::new(file),
                        lines: std::sync::Arc::clone(&lines),
                    });
                let mut raw = csv::ByteRecord::new();
                match reader.read_byte_record(&mut raw) {
                    Ok(true) => {}
                    Ok(false) => {
                        return Ok(Err(RowError::new(
                            0,
                            "",
                            "the file is empty (a CSV needs a header row naming its columns)",
                        )));
                    }
                    Err(e) => return Ok(Err(RowError::new(1, "header", csv_reason(&e)))),
                }
                match header(&raw, kind) {
                    Ok(header) => Source::Csv {
                        reader,
                        header,
                        record: csv::ByteRecord::new(),
                        lines,
                    },
                    Err(e) => return Ok(Err(e)),
                }
            }
        };
        Ok(Ok(Rows {
            source,
            kind,
            images_from: images_from.to_owned(),
            seen: 0,
            done: false,
        }))
    }

    /// The next row, `None` at the end of the file.
    fn next_row(&mut self) -> Option<Result<Row, RowError>> {
        if self.done {
            return None;
        }
        let kind = self.kind;
        let images_from = self.images_from.as_path();
        let row = match &mut self.source {
            Source::Csv {
                reader,
                header,
                record,
                lines,
            } => {
                let read = reader.read_byte_record(record);
                let mut lines = lines
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
                match read {
                    Ok(false) => None,
                    Ok(true) => Some(csv_row(header, record, line, kind, images_from)),
                    Err(e) => {
                        let line = e.position().map_or(line, |p| lines.line_at(p.byte()));
                        // An I/O error cannot be read past; a bad record can.
                        if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                            self.done = true;
                        }
                        Some(Err(RowError::new(line, "row", csv_reason(&e))))
                    }
                }
            }
            Source::Jsonl { reader, line, buf } => loop {
                *line += 1;
                match read_line(reader, buf) {
                    Ok(Line::End) => break None,
                    Ok(Line::TooLong) => {
                        break Some(Err(RowError::new(*line, "row", too_long())));
                    }
                    Ok(Line::Text) => {
                        let text = trim_bom(buf, *line);
                        if text.iter().all(u8::is_ascii_whitespace) {
                            continue;
                        }
                        break Some(json_row(text, *line, kind, images_from));
                    }
                    Err(e) => {
                        self.done = true;
                        break Some(Err(RowError::new(
                            *line,
                            "row",
                            format!("cannot read: {e}"),
                        )));
                    }
                }
            },
        };
        match row {
            None => {
                self.done = true;
                None
            }
            Some(row) => {
                self.seen += 1;
                Some(row)
            }
        }
    }
}

impl Iterator for Rows {
    type Item = Result<Row, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row()
    }
}

fn too_long() -> String {
    format!(
        "longer than {} (the limit for one row; images go in files or URLs)",
        bytesize_text(MAX_ROW_BYTES)
    )
}

fn bytesize_text(bytes: usize) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

/// `has 1 field, the header has 2`: a row's fields against the header's.
fn fields_mismatch(len: u64, expected: u64) -> String {
    let fields = if len == 1 { "field" } else { "fields" };
    format!("has {len} {fields}, the header has {expected}")
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => fields_mismatch(*len, *expected_len),
        csv::ErrorKind::Io(e) => format!("cannot read: {e}"),
        _ => e.to_string(),
    }
}

/// A UTF-8 byte-order mark is not part of the first line's text.
fn trim_bom(bytes: &[u8], line: u64) -> &[u8] {
    match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) if line == 1 => rest,
        _ => bytes,
    }
}

/// The header's column names, checked: known, not repeated (but
/// `product` and `image`, which may be), and able to name each row's kind.
fn header(raw: &csv::ByteRecord, kind: Option<JobKind>) -> Result<Vec<String>, RowError> {
    let mut names = Vec::new();
    for (i, field) in raw.iter().enumerate() {
        let field = if i == 0 { trim_bom(field, 1) } else { field };
        let name = std::str::from_utf8(field)
            .map_err(|_| RowError::new(1, "header", "is not valid UTF-8"))?
            .trim()
            .to_ascii_lowercase();
        if !COLUMNS.contains(&name.as_str()) {
            return Err(RowError::new(
                1,
                &name,
                format!("unknown column (the columns are {})", COLUMNS.join(", ")),
            ));
        }
        if names.contains(&name) && !["product", "image"].contains(&name.as_str()) {
            return Err(RowError::new(1, &name, "column named twice"));
        }
        names.push(name);
    }
    if kind.is_none() && !names.iter().any(|n| n == "kind") {
        return Err(RowError::new(
            1,
            "kind",
            "missing column (name each row's kind in a `kind` column, or give --kind for the whole file)",
        ));
    }
    Ok(names)
}

/// One CSV record as a row.
fn csv_row(
    header: &[String],
    record: &csv::ByteRecord,
    line: u64,
    kind: Option<JobKind>,
    images_from: &Path,
) -> Result<Row, RowError> {
    if record.as_slice().len() > MAX_ROW_BYTES {
        return Err(RowError::new(line, "row", too_long()));
    }
    if record.len() != header.len() {
        return Err(RowError::new(
            line,
            "row",
            fields_mismatch(record.len() as u64, header.len() as u64),
        ));
    }
    let mut values: Vec<(&str, Value)> = Vec::new();
    for (name, field) in header.iter().zip(record.iter()) {
        let text = std::str::from_utf8(field)
            .map_err(|_| RowError::new(line, name, "is not valid UTF-8"))?;
        if text.is_empty() {
            continue;
        }
        values.push((name, Value::String(text.to_owned())));
    }
    let content = fingerprint_bytes(record.as_slice());
    build_row(values, line, kind, content, images_from)
}

/// One JSON Lines line as a row.
fn json_row(
    text: &[u8],
    line: u64,
    kind: Option<JobKind>,
    images_from: &Path,
) -> Result<Row, RowError> {
    let value: Value = serde_json::from_slice(text).map_err(|e| {
        let reason = if e.is_syntax() && std::str::from_utf8(text).is_err() {
            "is not valid UTF-8".to_owned()
        } else {
            format!("is not valid JSON: {e}")
        };
        RowError::new(line, "row", reason)
    })?;
    let Value::Object(map) = value else {
        return Err(RowError::new(
            line,
            "row",
            format!("is {} (each line must be a JSON object)", json_type(&value)),
        ));
    };
    let mut values = Vec::new();
    for (key, value) in map {
        let Some(name) = COLUMNS.iter().find(|c| **c == key) else {
            return Err(RowError::new(
                line,
                &key,
                format!("unknown field (the fields are {})", COLUMNS.join(", ")),
            ));
        };
        values.push((*name, value));
    }
    build_row(values, line, kind, fingerprint_bytes(text), images_from)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A field's text: a string, or a number written as one.
fn text(value: &Value, line: u64, field: &str) -> Result<String, RowError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(RowError::new(
            line,
            field,
            format!("must be a string, not {}", json_type(other)),
        )),
    }
}

/// A repeatable field's values: a list, a JSON list written as text
/// (`["a","b"]` in a CSV cell), or one value.
fn list(value: &Value, line: u64, field: &str, out: &mut Vec<String>) -> Result<(), RowError> {
    match value {
        Value::Array(items) => {
            for item in items {
                out.push(match item {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            }
            Ok(())
        }
        Value::String(s) if s.trim_start().starts_with('[') => {
            let parsed: Value = serde_json::from_str(s).map_err(|e| {
                RowError::new(line, field, format!("is not a valid JSON list: {e}"))
            })?;
            list(&parsed, line, field, out)
        }
        Value::Object(_) if field == "product" => {
            out.push(value.to_string());
            Ok(())
        }
        other => {
            out.push(text(other, line, field)?);
            Ok(())
        }
    }
}

/// The fields of a row, checked as `generate` checks its flags.
fn build_row(
    values: Vec<(&str, Value)>,
    line: u64,
    default_kind: Option<JobKind>,
    content: u64,
    images_from: &Path,
) -> Result<Row, RowError> {
    let mut fields = RowFields::default();
    let mut id = None;
    let mut kind = default_kind;
    for (name, value) in &values {
        match *name {
            "id" => {
                let text = text(value, line, "id")?;
                if text.trim().is_empty() {
                    return Err(RowError::new(line, "id", "is empty"));
                }
                id = Some(text);
            }
            "kind" => {
                let text = text(value, line, "kind")?;
                kind = Some(text.trim().parse().map_err(
                    |e: vestis_client::model::ParseJobKindError| {
                        RowError::new(line, "kind", e.to_string())
                    },
                )?);
            }
            "prompt" => fields.prompt = Some(text(value, line, "prompt")?),
            "model_id" => fields.model_id = Some(text(value, line, "model_id")?),
            "background_id" => fields.background_id = Some(text(value, line, "background_id")?),
            "product" => list(value, line, "product", &mut fields.products)?,
            "image" => {
                let mut images = Vec::new();
                list(value, line, "image", &mut images)?;
                fields
                    .images
                    .extend(images.iter().map(|i| image_path(i, images_from)));
            }
            "payload" => {
                let payload = match value {
                    Value::String(s) => serde_json::from_str(s).map_err(|e| {
                        RowError::new(line, "payload", format!("is not valid JSON: {e}"))
                    })?,
                    other => other.clone(),
                };
                if !payload.is_object() {
                    return Err(RowError::new(
                        line,
                        "payload",
                        format!("must be a JSON object, not {}", json_type(&payload)),
                    ));
                }
                fields.payload = Some(payload);
            }
            _ => {}
        }
    }
    let Some(kind) = kind else {
        return Err(RowError::new(
            line,
            "kind",
            "missing (give each row a kind, or --kind for the whole file)",
        ));
    };
    if fields.payload.is_some()
        && values
            .iter()
            .any(|(n, _)| !["id", "kind", "payload"].contains(n))
    {
        return Err(RowError::new(
            line,
            "payload",
            "a raw payload replaces the other fields: give one or the other",
        ));
    }
    let payload = fields.payload(kind, Images::Check).map_err(|e| {
        let text = e.to_string();
        let field = if text.contains("image") {
            "image"
        } else if text.contains("--model-id") {
            "model_id"
        } else {
            "row"
        };
        let text = text.replace(
            "--model-id and --background-id are for flatlay jobs",
            &format!("model_id and background_id are for flatlay jobs, not {kind}"),
        );
        RowError::new(line, field, text)
    })?;
    validate_payload(kind, &payload).map_err(|e| payload_error(line, kind, &e))?;
    Ok(Row {
        line,
        id,
        kind,
        fields,
        content,
    })
}

/// A contract rule a row breaks, named by its column, not its wire name.
fn payload_error(line: u64, kind: JobKind, e: &InvalidPayload) -> RowError {
    let (field, reason) = match e {
        InvalidPayload::Missing(f) => (*f, format!("required for {kind} jobs")),
        InvalidPayload::BadId(f) => (*f, format!("required for {kind} jobs (a non-empty id)")),
        InvalidPayload::EmptyArray(f) => (*f, format!("required for {kind} jobs (at least one)")),
        other => ("payload", other.to_string()),
    };
    let column = match field {
        "modelId" => "model_id",
        "backgroundId" => "background_id",
        "products" => "product",
        "images" => "image",
        other => other,
    };
    RowError::new(line, column, reason)
}

/// How a JSON Lines line read.
enum Line {
    Text,
    TooLong,
    End,
}

/// Reads one line into `buf` (without its newline), never holding more
/// than [`MAX_ROW_BYTES`] of it: a longer line is skipped to its end.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => Line::End,
                (true, true) => Line::TooLong,
                (true, false) => Line::Text,
            });
        }
        any = true;
        let (part, used, ended) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], i + 1, true),
            None => (chunk, chunk.len(), false),
        };
        if !too_long {
            if buf.len() + part.len() > MAX_ROW_BYTES {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(part);
            }
        }
        reader.consume(used);
        if ended {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(if too_long { Line::TooLong } else { Line::Text });
        }
    }
}

/// The folder a batch's relative image paths start from: the input
/// file's own (as written: `data/rows.csv` gives `data`), or the current
/// one for stdin (`-`) and a file in it. A spreadsheet names its images
/// beside itself, wherever the command is run from.
pub(crate) fn images_folder(input: &Path) -> PathBuf {
    if input == Path::new("-") {
        return PathBuf::new();
    }
    input.parent().map(Path::to_owned).unwrap_or_default()
}

/// A row's `image` as the file (or URL) it names: a URL or `data:` URI
/// and an absolute path as written; a relative path under `folder`
/// (without its `./` parts, so `./shoes/1.png` in `data` reads as
/// `data/shoes/1.png` in messages).
fn image_path(image: &str, folder: &Path) -> OsString {
    let path = Path::new(image);
    if crate::commands::generate::is_remote_image(image) || path.is_absolute() {
        return OsString::from(image);
    }
    let mut resolved = folder.to_owned();
    resolved.extend(
        path.components()
            .filter(|c| !matches!(c, std::path::Component::CurDir)),
    );
    resolved.into_os_string()
}

/// FNV-1a over bytes (the journal's fingerprint, for row contents).
pub(crate) fn fingerprint_bytes(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Where the input is read from: the file, or stdin copied to `spool`
/// first (two passes need to read it twice; the copy also lets a later
/// run or `vestis resume` read it again).
pub(crate) fn materialise(file: &Path, spool: &Path) -> io::Result<PathBuf> {
    if file != Path::new("-") {
        return Ok(file.to_owned());
    }
    if let Some(dir) = spool.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = spool.with_extension("input.tmp");
    let mut out = File::create(&tmp)?;
    io::copy(&mut io::stdin().lock(), &mut out)?;
    out.sync_all()?;
    std::fs::rename(&tmp, spool)?;
    Ok(spool.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[u8], format: Format, kind: Option<JobKind>) -> Vec<Result<Row, RowError>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        std::fs::write(&path, text).unwrap();
        match Rows::open(&path, format, kind, Path::new("")).unwrap() {
            Ok(rows) => rows.collect(),
            Err(e) => vec![Err(e)],
        }
    }

    fn errors(text: &[u8], format: Format) -> Vec<String> {
        rows(text, format, None)
            .into_iter()
            .filter_map(Result::err)
            .map(|e| e.render("f"))
            .collect()
    }

    #[test]
    fn csv_rows_keep_quoted_newlines_and_commas_and_their_first_line() {
        let got = rows(
            b"\xEF\xBB\xBFid,kind,prompt\na,chat,\"red, long\nand flowing\"\nb,chat,blue\n",
            Format::Csv,
            None,
        );
        let got: Vec<Row> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(got[0].prompt(), Some("red, long\nand flowing"));
        assert_eq!((got[0].line, got[1].line), (2, 4));
        assert_eq!(got[1].id.as_deref(), Some("b"));
    }

    /// CRLF and LF files number their rows alike: plain rows, a quoted
    /// newline inside a field, blank lines, and a row in error.
    #[test]
    fn crlf_and_lf_files_give_the_same_line_numbers() {
        let lf = "id,kind,prompt\na,chat,one\nb,chat,\"two\nlines\"\n\nc,chat,three\nd,chat,\ne,chat,five\n";
        let crlf = lf.replace('\n', "\r\n");
        let lines = |text: &str| -> Vec<(u64, bool)> {
            rows(text.as_bytes(), Format::Csv, None)
                .into_iter()
                .map(|r| match r {
                    Ok(row) => (row.line, true),
                    Err(e) => (e.line, false),
                })
                .collect()
        };
        let expected = vec![(2, true), (3, true), (6, true), (7, false), (8, true)];
        assert_eq!(lines(lf), expected, "LF");
        assert_eq!(lines(&crlf), expected, "CRLF");
        assert_eq!(
            errors(b"id,kind,prompt\r\na,chat,\r\n", Format::Csv),
            ["f:2: prompt: required for chat jobs"]
        );
    }

    #[test]
    fn bad_files_say_where_and_why() {
        assert_eq!(
            errors(b"", Format::Csv),
            ["f: the file is empty (a CSV needs a header row naming its columns)"]
        );
        assert_eq!(errors(b"kind,prompt\n", Format::Csv), Vec::<String>::new());
        assert_eq!(
            errors(b"prompt\nx\n", Format::Csv),
            [
                "f:1: kind: missing column (name each row's kind in a `kind` column, or give --kind for the whole file)"
            ]
        );
        assert_eq!(
            errors(b"kind,prompt\nchat,x,extra\nchat\n", Format::Csv),
            [
                "f:2: row: has 3 fields, the header has 2",
                "f:3: row: has 1 field, the header has 2"
            ]
        );
        assert_eq!(
            errors(b"kind,prompt\nchat,\xff\n", Format::Csv),
            ["f:2: prompt: is not valid UTF-8"]
        );
        assert_eq!(
            errors(b"kind,prompt\nchat,\n", Format::Csv),
            ["f:2: prompt: required for chat jobs"]
        );
        assert_eq!(
            errors(
                b"[1]\n\"x\"\n{\"kind\":\"legacy\",\"x\":1}\n",
                Format::Jsonl
            ),
            [
                "f:1: row: is an array (each line must be a JSON object)",
                "f:2: row: is a string (each line must be a JSON object)",
                "f:3: x: unknown field (the fields are id, kind, prompt, model_id, background_id, product, image, payload)"
            ]
        );
        assert_eq!(
            errors(
                b"{\"kind\":\"chat\",\"prompt\":\"x\",\"image\":\"/no/such.png\"}\n",
                Format::Jsonl
            ),
            ["f:1: image: cannot read image /no/such.png: No such file or directory (os error 2)"]
        );
        let mut long = b"{\"kind\":\"legacy\",\"prompt\":\"".to_vec();
        long.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
        long.extend_from_slice(b"\"}\n{\"kind\":\"legacy\"}\n");
        assert_eq!(
            errors(&long, Format::Jsonl),
            ["f:1: row: longer than 1 MiB (the limit for one row; images go in files or URLs)"]
        );
    }

    /// Relative image paths start at the input's folder; absolute paths
    /// and URLs are kept as written; stdin's start at the current folder.
    #[test]
    fn relative_images_are_read_from_the_input_folder() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("shoes")).unwrap();
        std::fs::write(data.join("shoes/1.png"), b"png").unwrap();
        let input = data.join("rows.csv");
        let absolute = data.join("shoes/1.png");
        std::fs::write(
            &input,
            format!(
                "id,kind,prompt,image\n\
                 a,chat,x,shoes/1.png\n\
                 b,chat,x,./shoes/1.png\n\
                 c,chat,x,{}\n\
                 d,chat,x,HTTPS://example.com/shoes/1.png\n\
                 e,chat,x,shoes/2.png\n",
                absolute.display()
            ),
        )
        .unwrap();
        let got: Vec<Result<Row, RowError>> =
            Rows::open(&input, Format::Csv, None, &images_folder(&input))
                .unwrap()
                .unwrap()
                .collect();
        let images = |i: usize| got[i].as_ref().unwrap().images().to_vec();
        assert_eq!(images(0), [absolute.clone().into_os_string()]);
        assert_eq!(images(1), [absolute.clone().into_os_string()]);
        assert_eq!(images(2), [absolute.into_os_string()]);
        assert_eq!(
            images(3),
            [OsString::from("HTTPS://example.com/shoes/1.png")]
        );
        // The error names the file where it was looked for.
        let missing = data.join("shoes/2.png");
        assert_eq!(
            got[4].as_ref().unwrap_err().render("f"),
            format!(
                "f:6: image: cannot read image {}: No such file or directory (os error 2)",
                missing.display()
            )
        );
        assert_eq!(images_folder(Path::new("-")), PathBuf::new());
        assert_eq!(images_folder(Path::new("rows.csv")), PathBuf::new());
        assert_eq!(images_folder(Path::new("data/rows.csv")), Path::new("data"));
    }

    #[test]
    fn products_and_images_repeat_or_come_as_lists() {
        let row = rows(
            b"kind,model_id,background_id,product,product\nflatlay,1,2,a,\"{\"\"sku\"\":1}\"\n",
            Format::Csv,
            None,
        )
        .remove(0)
        .unwrap();
        let payload = row.payload().unwrap();
        assert_eq!(payload["products"], serde_json::json!(["a", {"sku": 1}]));
        let row = rows(
            b"{\"kind\":\"flatlay\",\"model_id\":1,\"background_id\":\"b\",\"product\":[\"a\",\"b\"]}\n",
            Format::Jsonl,
            None,
        )
        .remove(0)
        .unwrap();
        assert_eq!(
            row.payload().unwrap()["products"],
            serde_json::json!(["a", "b"])
        );
    }
}
