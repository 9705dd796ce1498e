//! `--name` templates: a row's image file name from placeholders
//! (`{id}`, `{line}`, `{kind}`, `{job}`, `{slug}`), every value made safe
//! for a file name first, so no row can name a path outside DIR.

use vestis_client::JobId;

use crate::batch::input::Row;

/// The placeholders a template may use.
const PLACEHOLDERS: [&str; 5] = ["id", "line", "kind", "job", "slug"];

/// The longest `{slug}`, in characters.
const SLUG_CHARS: usize = 40;

/// A checked `--name` template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    text: String,
}

impl Template {
    /// Checks `text`: known placeholders only, no path separators.
    ///
    /// # Errors
    ///
    /// Why the template cannot be used, in words.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        if text.contains('/') || text.contains('\\') {
            return Err(format!(
                "--name {text:?} is a file name inside DIR, so it cannot contain / or \\"
            ));
        }
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                return Err(format!("--name {text:?}: a {{ is not closed"));
            };
            let name = &rest[open + 1..open + close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "--name {text:?}: unknown placeholder {{{name}}} (the placeholders are {})",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                ));
            }
            rest = &rest[open + close + 1..];
        }
        if text.trim().is_empty() || text == "." || text == ".." {
            return Err("--name must name a file".to_owned());
        }
        Ok(Template {
            text: text.to_owned(),
        })
    }

    /// Whether names depend on the job id (unknown until the row is created).
    pub(crate) fn uses_job(&self) -> bool {
        self.text.contains("{job}")
    }

    /// The file name of `row` (with its job's id once known).
    pub(crate) fn render(&self, row: &Row, job: Option<JobId>) -> String {
        let id = match &row.id {
            Some(id) => safe(id),
            None => format!("line-{}", row.line),
        };
        let slug = slug(row.prompt().unwrap_or_default());
        let slug = if slug.is_empty() {
            row.kind.to_string()
        } else {
            slug
        };
        let name = self
            .text
            .replace("{id}", &id)
            .replace("{line}", &row.line.to_string())
            .replace("{kind}", row.kind.as_str())
            .replace("{job}", &job.map(|j| j.to_string()).unwrap_or_default())
            .replace("{slug}", &slug);
        // A name that starts with a dot would be hidden (or be `..`).
        match name.strip_prefix('.') {
            Some(rest) => format!("_{rest}"),
            None => name,
        }
    }
}

/// `text` with what a file name cannot hold (separators, control
/// characters) as `_`, and at most 100 characters.
fn safe(text: &str) -> String {
    text.chars()
        .take(100)
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Lowercase letters and digits of `text`, other runs as one `-`, at most
/// [`SLUG_CHARS`] characters: `"A red dress, long!"` is `a-red-dress-long`.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.chars().count() >= SLUG_CHARS {
            break;
        }
    }
    out.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_checked() {
        assert!(Template::parse("{id}-{kind}.png").is_ok());
        assert!(
            Template::parse("{nope}.png")
                .unwrap_err()
                .contains("unknown placeholder {nope}")
        );
        assert!(Template::parse("a/{id}.png").is_err());
        assert!(Template::parse("{id.png").is_err());
        assert!(Template::parse("..").is_err());
    }

    #[test]
    fn slugs_are_short_and_plain() {
        assert_eq!(slug("A red dress, long!"), "a-red-dress-long");
        assert_eq!(slug("日本 ✔ café"), "日本-café");
        assert_eq!(slug(&"x".repeat(100)).len(), 40);
        assert_eq!(slug("!!!"), "");
        assert_eq!(safe("../a\u{1b}b"), ".._a_b");
    }
}
