//! The reader pages keep their promises: every relative link and `#anchor`
//! in the README, BENCHMARKS.md, CHANGELOG.md and `docs/` resolves (anchors
//! as GitHub makes them from headings), the crates' READMEs (their crates.io
//! pages, where a relative link breaks) link only to absolute URLs, links
//! into this repository's own URL name files that exist, and the README's
//! benchmark rows are BENCHMARKS.md's. Markdown is read by pulldown-cmark,
//! so a link inside a code block is no link, as on GitHub.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A page's links (destinations as written) and its headings' anchors.
struct Page {
    links: Vec<String>,
    anchors: HashSet<String>,
}

fn read_page(text: &str) -> Page {
    let mut links = Vec::new();
    let mut anchors = HashSet::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut heading: Option<String> = None;
    for event in Parser::new_ext(text, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                links.push(dest_url.to_string());
            }
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(text) | Event::Code(text) => {
                if let Some(heading) = &mut heading {
                    heading.push_str(&text);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let slug = slug(&heading.take().unwrap_or_default());
                // GitHub numbers repeated headings: `a`, `a-1`, `a-2`.
                let count = seen.entry(slug.clone()).or_insert(0);
                anchors.insert(match *count {
                    0 => slug,
                    n => format!("{slug}-{n}"),
                });
                *count += 1;
            }
            _ => {}
        }
    }
    Page { links, anchors }
}

/// GitHub's anchor for a heading's text: lower case, punctuation and
/// symbols dropped (letters, digits, `-` and `_` kept), spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// `dir/../x/./y` as `x/y`, or `None` if it climbs out of the repository.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            // Climbing above the repository's root is no path in it.
            Component::ParentDir => out.pop().then_some(())?,
            Component::Normal(name) => out.push(name),
            _ => {}
        }
    }
    Some(out)
}

/// The workspace's `repository` URL from the root `Cargo.toml`.
fn repository() -> String {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    manifest
        .lines()
        .find_map(|line| line.strip_prefix("repository = "))
        .map(|value| value.trim().trim_matches('"').to_owned())
        .expect("Cargo.toml's [workspace.package] has a repository")
}

/// Every broken link in these pages (paths relative to the repository).
fn broken_links(pages: &[PathBuf], crate_pages: &[PathBuf]) -> Vec<String> {
    let prefix = format!("{}/blob/main/", repository());
    let mut cache: HashMap<PathBuf, Page> = HashMap::new();
    let mut load = |path: &Path| -> Option<HashSet<String>> {
        if !cache.contains_key(path) {
            let text = std::fs::read_to_string(root().join(path)).ok()?;
            cache.insert(path.to_owned(), read_page(&text));
        }
        Some(cache[path].anchors.clone())
    };
    let mut broken = Vec::new();
    for page in pages.iter().chain(crate_pages) {
        let text = std::fs::read_to_string(root().join(page)).unwrap();
        let on_crates_io = crate_pages.contains(page);
        for link in read_page(&text).links {
            let (target, anchor) = match link.strip_prefix(&prefix) {
                // A link into this repository's own URL: the file must exist here.
                Some(inside) => (Some(PathBuf::from(inside.split('#').next().unwrap())), None),
                None if link.contains("://") || link.starts_with("mailto:") => continue,
                None if on_crates_io => {
                    broken.push(format!(
                        "{}: `{link}` is relative, which breaks on crates.io (use {prefix}...)",
                        page.display()
                    ));
                    continue;
                }
                None => {
                    let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
                    let target = if path.is_empty() {
                        Some(page.clone())
                    } else {
                        normalise(&page.parent().unwrap().join(path))
                    };
                    (target, Some(anchor.to_owned()).filter(|a| !a.is_empty()))
                }
            };
            let Some(target) = target.filter(|t| root().join(t).exists()) else {
                broken.push(format!("{}: `{link}`: no such file", page.display()));
                continue;
            };
            if let Some(anchor) = anchor {
                match load(&target) {
                    Some(anchors) if anchors.contains(&anchor) => {}
                    _ => broken.push(format!(
                        "{}: `{link}`: {} has no heading with the anchor #{anchor}",
                        page.display(),
                        target.display()
                    )),
                }
            }
        }
    }
    broken
}

/// The README, BENCHMARKS.md, CHANGELOG.md and every page under `docs/`.
fn reader_pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let name = PathBuf::from(entry.unwrap().file_name());
            let path = dir.join(&name);
            if root().join(&path).is_dir() {
                walk(&path, out);
            } else if name.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut pages: Vec<PathBuf> = ["README.md", "BENCHMARKS.md", "CHANGELOG.md"]
        .map(PathBuf::from)
        .into();
    walk(Path::new("docs"), &mut pages);
    pages
}

fn crate_pages() -> Vec<PathBuf> {
    [
        "vestis-cli",
        "vestis-client",
        "vestis-mock-server",
        "vestis-verify",
    ]
    .map(|name| PathBuf::from(name).join("README.md"))
    .into()
}

#[test]
fn every_link_and_anchor_in_the_docs_resolves() {
    let pages = reader_pages();
    assert!(
        pages.len() > 10,
        "the pages under docs/ were found: {pages:?}"
    );
    let broken = broken_links(&pages, &crate_pages());
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_check_sees_a_broken_file_a_broken_anchor_and_a_relative_crate_link() {
    // Inside the repository, so that `../README.md` is the real README.
    let dir = tempfile::Builder::new()
        .prefix(".link-test")
        .tempdir_in(root())
        .unwrap();
    let page = dir.path().join("page.md");
    std::fs::write(
        &page,
        "# A title\n\n## Same\n\n## Same\n\n[ok](#same-1) [ok](../README.md#set-up) \
         [bad](#same-2) [bad](missing.md) [bad](../README.md#no-such-heading)\n\n\
         ```text\n[not a link](nowhere.md)\n```\n",
    )
    .unwrap();
    let crate_page = dir.path().join("crate.md");
    std::fs::write(&crate_page, "[relative](../docs/cli.md)\n").unwrap();
    let relative = |p: &Path| p.strip_prefix(root()).unwrap().to_owned();
    let broken = broken_links(&[relative(&page)], &[relative(&crate_page)]);
    assert_eq!(broken.len(), 4, "{broken:#?}");
    assert!(broken[0].contains("`#same-2`"), "{broken:#?}");
    assert!(
        broken[1].contains("`missing.md`: no such file"),
        "{broken:#?}"
    );
    assert!(broken[2].contains("#no-such-heading"), "{broken:#?}");
    assert!(broken[3].contains("breaks on crates.io"), "{broken:#?}");
}

#[test]
fn anchors_follow_githubs_rules() {
    assert_eq!(slug("The CLI: `vestis`"), "the-cli-vestis");
    assert_eq!(
        slug("The guide's 2–3 minute flow in milliseconds"),
        "the-guides-23-minute-flow-in-milliseconds"
    );
    assert_eq!(slug("In-process, from Rust"), "in-process-from-rust");
    assert_eq!(slug("snake_case and UPPER"), "snake_case-and-upper");
}

#[test]
fn the_readmes_benchmark_rows_are_benchmarks_md_rows() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let benchmarks = std::fs::read_to_string(root().join("BENCHMARKS.md")).unwrap();
    let section = readme
        .split("\n## Benchmarks\n")
        .nth(1)
        .expect("the README has a Benchmarks section")
        .split("\n## ")
        .next()
        .unwrap();
    let rows: Vec<&str> = section
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| measure |"))
        .collect();
    assert!(!rows.is_empty(), "the README quotes some figures");
    for row in rows {
        assert!(
            benchmarks.lines().any(|line| line == row),
            "README.md's row is not in BENCHMARKS.md (copy it from there):\n{row}"
        );
    }
}
