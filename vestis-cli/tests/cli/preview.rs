//! `--preview` and `vestis show`: each protocol's bytes read back (the PNG
//! out of kitty's and iTerm2's base64, the sixel stream decoded, the half
//! blocks' colours off the emulated screen), nothing drawn where nothing
//! may be, the screen around previews intact with several jobs, and the
//! capability query's answer hidden and its deadline kept.

use base64::Engine as _;
use serde_json::json;

use crate::pty::{OnTerminal, SPINNER, Terminal, count_lines};
use crate::util::{Env, config, texts};

/// A 256 × 256 gradient (red across, green down, blue constant): every
/// cell of a preview has its own colour.
fn gradient_png() -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, 256, 256);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    let mut pixels = Vec::new();
    for y in 0..256u32 {
        for x in 0..256u32 {
            pixels.extend([x as u8, y as u8, 128]);
        }
    }
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    bytes
}

/// An environment with `gradient.png` in its home (the commands' working directory).
fn with_gradient() -> (Env, Vec<u8>) {
    let env = Env::start(config(100));
    let png = gradient_png();
    std::fs::write(env.home.path().join("gradient.png"), &png).unwrap();
    (env, png)
}

/// An xterm of 80 × 40: previews are at most 48 × 24 cells.
fn xterm() -> Terminal {
    Terminal::xterm(80, 40)
}

/// The spans of `bytes` between each `start` and the next `end`.
fn spans<'a>(bytes: &'a [u8], start: &[u8], end: &[u8]) -> Vec<&'a [u8]> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(i) = find(&bytes[at..], start) {
        let from = at + i + start.len();
        let Some(j) = find(&bytes[from..], end) else {
            break;
        };
        found.push(&bytes[from..from + j]);
        at = from + j + end.len();
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The PNG carried by kitty's graphics sequences, and the first one's keys.
fn kitty_png(raw: &[u8]) -> (Vec<u8>, String) {
    let pieces = spans(raw, b"\x1b_G", b"\x1b\\");
    assert!(!pieces.is_empty(), "no kitty sequence");
    let mut data = Vec::new();
    let mut first = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        let semi = piece.iter().position(|&b| b == b';').unwrap();
        let keys = String::from_utf8(piece[..semi].to_vec()).unwrap();
        let more = if i + 1 < pieces.len() { "m=1" } else { "m=0" };
        assert!(keys.split(',').any(|k| k == more), "{keys} in piece {i}");
        if i == 0 {
            first = keys;
        }
        data.extend_from_slice(&piece[semi + 1..]);
    }
    let png = base64::engine::general_purpose::STANDARD
        .decode(&data)
        .unwrap();
    (png, first)
}

/// Creates a chat job per duration (each attempt takes that long): their ids.
fn chat_jobs(env: &Env, durations: &[&str]) -> Vec<String> {
    durations
        .iter()
        .map(|d| {
            let created = env.api_post(
                "/generate?chat=true",
                &[("X-Mock-Duration", d)],
                json!({"prompt": "x"}),
            );
            created["job_id"].as_u64().unwrap().to_string()
        })
        .collect()
}

/// How many images the command downloaded, from its `-v` log of every response.
fn image_downloads(raw: &[u8]) -> usize {
    String::from_utf8_lossy(raw)
        .lines()
        .filter(|l| l.contains("vestis response") && l.contains("/images/"))
        .count()
}

#[test]
fn kitty_carries_the_saved_png_and_the_preview_costs_no_second_download() {
    let env = Env::start(config(100));
    let args = ["-v", "generate", "legacy", "-o", "a.png", "--preview=kitty"];
    let (status, raw) = OnTerminal::spawn(&env, xterm(), &args).finish_raw();
    assert!(status.success(), "{}", String::from_utf8_lossy(&raw));
    let saved = std::fs::read(env.home.path().join("a.png")).unwrap();
    let (png, keys) = kitty_png(&raw);
    assert!(
        png == saved,
        "the sequence carries the saved file's bytes: {} bytes, the file {}",
        png.len(),
        saved.len()
    );
    // PNG data, shown at once, no answer asked, a 256 × 256 image in 48 × 24 cells.
    for key in ["f=100", "a=T", "q=2", "c=48", "r=24"] {
        assert!(keys.split(',').any(|k| k == key), "{key} in {keys}");
    }
    assert_eq!(
        image_downloads(&raw),
        1,
        "one download, saved and previewed"
    );

    // `show ID` reads the file the journal says it was saved to.
    let args = ["-v", "show", "1", "--preview=kitty"];
    let (status, raw) = OnTerminal::spawn(&env, xterm(), &args).finish_raw();
    assert!(status.success(), "{}", String::from_utf8_lossy(&raw));
    assert!(kitty_png(&raw).0 == saved, "show sent the saved file");
    assert_eq!(image_downloads(&raw), 0, "show read the saved file");
    // On a pipe: where it is, and its size.
    let out = env
        .vestis()
        .current_dir(env.home.path())
        .args(["show", "1"])
        .output()
        .unwrap();
    let file = env.home.path().join("a.png");
    assert_eq!(
        texts(&out).0,
        format!("job 1: {} (256×256)\n", file.display())
    );
}

#[test]
fn a_job_with_no_saved_file_is_downloaded_once_for_show() {
    let env = Env::start(config(100));
    // Waited for on a terminal, with a preview: one download, kept in memory.
    let args = ["-v", "generate", "legacy", "--preview=kitty"];
    let (status, raw) = OnTerminal::spawn(&env, xterm(), &args).finish_raw();
    assert!(status.success(), "{}", String::from_utf8_lossy(&raw));
    let (shown, _) = kitty_png(&raw);
    assert!(shown.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(image_downloads(&raw), 1);
    // Shown later: nothing saved, so downloaded (once), the same picture.
    let args = ["-v", "show", "1", "--preview=kitty"];
    let (status, raw) = OnTerminal::spawn(&env, xterm(), &args).finish_raw();
    assert!(status.success(), "{}", String::from_utf8_lossy(&raw));
    assert!(kitty_png(&raw).0 == shown, "the same picture");
    assert_eq!(image_downloads(&raw), 1);
    let out = env.vestis().args(["--json", "show", "1"]).output().unwrap();
    let shown = crate::util::json_of(&out.stdout);
    assert_eq!(shown["job_id"], 1, "{shown}");
    assert!(
        shown["image_url"]
            .as_str()
            .unwrap()
            .ends_with("/images/1.png"),
        "{shown}"
    );
    assert_eq!(
        (shown["width"].as_u64(), shown["height"].as_u64()),
        (Some(256), Some(256))
    );
    assert!(shown.get("path").is_none(), "{shown}");
}

#[test]
fn iterm_carries_the_png_file() {
    let (env, file) = with_gradient();
    let args = ["show", "gradient.png", "--preview=iterm"];
    let (status, raw) = OnTerminal::spawn(&env, xterm(), &args).finish_raw();
    assert!(status.success(), "{}", String::from_utf8_lossy(&raw));
    let sequences = spans(&raw, b"\x1b]1337;File=", b"\x07");
    assert_eq!(sequences.len(), 1);
    let colon = sequences[0].iter().position(|&b| b == b':').unwrap();
    let keys = String::from_utf8(sequences[0][..colon].to_vec()).unwrap();
    for key in [
        "inline=1",
        &format!("size={}", file.len()),
        "width=48",
        "height=24",
        "preserveAspectRatio=1",
    ] {
        assert!(keys.split(';').any(|k| k == key), "{key} in {keys}");
    }
    let png = base64::engine::general_purpose::STANDARD
        .decode(&sequences[0][colon + 1..])
        .unwrap();
    assert!(png == file, "{} bytes, the file {}", png.len(), file.len());
}

#[test]
fn sixel_decodes_to_an_image_of_the_preview_size() {
    let (env, _) = with_gradient();
    let args = ["show", "gradient.png", "--preview=sixel"];
    let (status, raw) = OnTerminal::spawn(&env, xterm(), &args).finish_raw();
    assert!(status.success(), "{}", String::from_utf8_lossy(&raw));
    let start = find(&raw, b"\x1bP").expect("a sixel DCS");
    let end = start + find(&raw[start..], b"\x1b\\").unwrap() + 2;
    let image = icy_sixel::SixelImage::decode(&raw[start..end]).unwrap();
    // 24 rows of the 10 × 20 px cells assumed when the terminal says no
    // pixel size: 480 px, and as wide (the image is square).
    assert_eq!((image.width, image.height), (480, 480));
    // The gradient survives the palette: red grows across, green down.
    let at = |x: usize, y: usize| {
        let i = (y * image.width + x) * 4;
        [image.pixels[i], image.pixels[i + 1], image.pixels[i + 2]]
    };
    assert!(at(470, 240)[0] > at(10, 240)[0] + 150, "{:?}", at(470, 240));
    assert!(at(240, 470)[1] > at(240, 10)[1] + 150, "{:?}", at(240, 470));
}

/// The image's average colour over each of `columns` × `rows` boxes.
fn downscaled(png_bytes: &[u8], columns: usize, rows: usize) -> Vec<[u8; 3]> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut sums = vec![[0u64; 4]; columns * rows];
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) * 3;
            let cell = &mut sums[(y * rows / h) * columns + x * columns / w];
            for c in 0..3 {
                cell[c] += u64::from(buf[i + c]);
            }
            cell[3] += 1;
        }
    }
    sums.iter()
        .map(|s| [0, 1, 2].map(|c| ((s[c] + s[3] / 2) / s[3]) as u8))
        .collect()
}

#[test]
fn half_blocks_show_the_colours_of_a_downscaled_copy() {
    let (env, file) = with_gradient();
    let size = xterm();
    let args = ["show", "gradient.png", "--preview=blocks"];
    let (status, raw) = OnTerminal::spawn(&env, size, &args).finish_raw();
    assert!(status.success(), "{}", String::from_utf8_lossy(&raw));
    let nonzero = |n: u16| std::num::NonZeroU16::new(n).unwrap();
    let mut parser = vt100::Parser::new(nonzero(size.rows), nonzero(size.columns), 0);
    parser.process(&raw);
    let screen = parser.screen();
    assert!(screen.contents().starts_with("gradient.png (256×256)\n"));
    // The picture: rows 1.. of ▀, top pixel the foreground, bottom the background.
    let mut cells = Vec::new();
    let mut columns = 0;
    for row in 1..size.rows {
        let line: Vec<_> = (0..size.columns)
            .map_while(|c| screen.cell(row, c).filter(|cell| cell.contents() == "▀"))
            .collect();
        if line.is_empty() {
            break;
        }
        columns = line.len();
        cells.push(line);
    }
    let rows = cells.len();
    assert_eq!((columns, rows), (48, 24), "square, at most 48 × 24 cells");
    let expected = downscaled(&file, columns, rows * 2);
    let rgb = |colour: vt100::Color| match colour {
        vt100::Color::Rgb(r, g, b) => [r, g, b],
        other => panic!("not a 24-bit colour: {other:?}"),
    };
    for (y, line) in cells.iter().enumerate() {
        for (x, cell) in line.iter().enumerate() {
            for (half, got) in [(0, rgb(cell.fgcolor())), (1, rgb(cell.bgcolor()))] {
                let want = expected[(y * 2 + half) * columns + x];
                let close = got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= 2);
                assert!(close, "cell {x},{y} half {half}: {got:?}, want {want:?}");
            }
        }
    }
    // Colours are reset after the picture: the cursor's row is plain.
    let (row, _) = screen.cursor_position();
    assert_eq!(usize::from(row), rows + 1);
    assert!(
        raw.ends_with(b"\x1b[0m\r\n"),
        "{:?}",
        &raw[raw.len() - 12..]
    );
}

/// Image sequences of any protocol, or a half block.
fn drew_an_image(bytes: &[u8]) -> bool {
    find(bytes, b"\x1b_G").is_some()
        || find(bytes, b"\x1b]1337").is_some()
        || find(bytes, b"\x1bP").is_some()
        || find(bytes, "▀".as_bytes()).is_some()
}

#[test]
fn nothing_is_drawn_with_term_dumb_on_a_pipe_with_json_or_quiet() {
    let (env, _) = with_gradient();
    let dumb = Terminal {
        rows: 40,
        columns: 80,
        term: "dumb",
    };
    for protocol in ["--preview=kitty", "--preview=blocks", "--preview"] {
        let args = ["generate", "legacy", "-o", "a.png", protocol];
        let (status, raw) = OnTerminal::spawn(&env, dumb, &args).finish_raw();
        assert!(status.success());
        assert!(!drew_an_image(&raw), "TERM=dumb {protocol}");

        let (status, raw) =
            OnTerminal::spawn(&env, xterm(), &["--json", args[0], args[1], protocol]).finish_raw();
        assert!(status.success());
        assert!(!drew_an_image(&raw), "--json {protocol}");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("\"status\": \"completed\""), "{text}");

        let quiet = ["-q", "show", "gradient.png", protocol];
        let (status, raw) = OnTerminal::spawn(&env, xterm(), &quiet).finish_raw();
        assert!(status.success());
        assert!(!drew_an_image(&raw), "-q {protocol}");

        let run = OnTerminal::spawn_piped(&env, xterm(), &args);
        let (status, raw, piped) = run.finish_piped();
        assert!(status.success());
        assert!(!drew_an_image(&raw), "a pipe, on the terminal: {protocol}");
        assert!(!piped.contains('\x1b'), "a pipe: {piped:?}");
        assert!(piped.contains("saved to"), "{piped}");
    }
    // `show` on a pipe says what it would have drawn.
    let out = env
        .vestis()
        .current_dir(env.home.path())
        .args(["show", "gradient.png", "--preview=kitty"])
        .env("TERM", "xterm-256color")
        .output()
        .unwrap();
    assert_eq!(texts(&out).0, "gradient.png (256×256)\n");
}

#[test]
fn the_screen_around_previews_stays_intact_with_several_jobs() {
    let env = Env::start(vestis_mock_server::Config {
        paused: true,
        ..config(1000)
    });
    let ids = chat_jobs(&env, &["700ms", "1400ms", "2100ms"]);
    let mut args = vec!["wait"];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["--preview=blocks", "--interval", "300ms"]);
    // Each 256 × 256 preview is 48 × 24 cells; three fit in 90 rows.
    let size = Terminal::xterm(60, 90);
    let run = OnTerminal::spawn(&env, size, &args);
    run.frame_where("every job is queued", |s| {
        s.matches("Waiting in queue...").count() == 3
    });
    env.admin_post("/queue/resume");
    let block_row = |row: &String| !row.is_empty() && row.chars().all(|c| c == '▀');
    let first_done = format!("job {} completed: http", ids[0]);
    // While jobs still run: the first preview whole above the live spinners.
    let frame = run.rows_where("the first preview is drawn above two spinners", |rows| {
        rows.iter().filter(|r| r.starts_with(SPINNER)).count() == 2
            && rows.iter().any(|r| r.starts_with(&first_done))
    });
    let at = frame
        .iter()
        .position(|r| r.starts_with(&first_done))
        .unwrap();
    assert!(
        frame[at + 1..at + 25].iter().all(block_row),
        "{}",
        frame.join("\n")
    );
    assert!(
        frame[at + 25..].iter().all(|r| !block_row(r)),
        "{}",
        frame.join("\n")
    );

    let (status, raw) = run.finish_raw();
    let rows = crate::pty::render_rows(&raw, size);
    let screen = rows.join("\n");
    assert!(status.success(), "{screen}");
    for id in &ids {
        assert_eq!(
            count_lines(&screen, &format!("✔ job {id} Generation complete!")),
            1,
            "{screen}"
        );
        let done = format!("job {id} completed: http");
        assert_eq!(count_lines(&screen, &done), 1, "{screen}");
        let at = rows.iter().position(|r| r.starts_with(&done)).unwrap();
        // The result line, then its picture: 24 rows of 48 blocks, then a line that is not one.
        assert!(
            rows[at + 1..at + 25]
                .iter()
                .all(|r| r.chars().count() == 48 && block_row(r)),
            "{screen}"
        );
        assert!(!block_row(&rows[at + 25]), "{screen}");
    }
    assert_eq!(rows.iter().filter(|r| block_row(r)).count(), 72, "{screen}");
    assert!(!screen.contains(SPINNER), "a spinner was left:\n{screen}");
}

/// The capability query: kitty's graphics query, then DA1.
const QUERY: &[u8] = b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\\x1b[c";

#[test]
fn a_terminal_that_never_answers_is_not_waited_for_past_the_timeout() {
    let (env, _) = with_gradient();
    // The emulator answers nothing: the command falls back to half blocks.
    let run = OnTerminal::spawn(&env, xterm(), &["-v", "show", "gradient.png"]);
    let (status, raw) = run.finish_raw();
    let text = String::from_utf8_lossy(&raw);
    assert!(status.success(), "{text}");
    assert!(find(&raw, QUERY).is_some(), "the query was sent");
    assert!(text.contains("▀"), "half blocks drawn");
    // The query's own measure of its wait: the documented 250 ms, give or
    // take a loaded machine's scheduling, never the seconds of a hang.
    let waited: u64 = text
        .split("terminal capability query: no answer after ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|ms| ms.trim().parse().ok())
        .unwrap_or_else(|| panic!("no query log line:\n{text}"));
    assert!((250..2000).contains(&waited), "waited {waited} ms");
}

#[test]
fn the_terminals_answer_picks_the_protocol_and_never_shows() {
    let (env, file) = with_gradient();
    for (answer, sixel) in [
        (&b"\x1b[?62;4;22c"[..], true),
        (&b"\x1b_Gi=31;OK\x1b\\\x1b[?62;22c"[..], false),
    ] {
        // A long deadline: the answer comes when the test sees the query.
        let vars = [("VESTIS_PREVIEW_TIMEOUT", "10s")];
        let mut run = OnTerminal::spawn_with(&env, xterm(), &["show", "gradient.png"], &vars);
        run.frame_where("the query is sent", |_| find(&run.raw(), QUERY).is_some());
        run.answer(answer);
        let (status, raw) = run.finish_raw();
        let screen = crate::pty::render(&raw, xterm());
        assert!(status.success(), "{screen}");
        assert!(!screen.contains("62;"), "the answer was echoed:\n{screen}");
        assert!(!screen.contains("OK"), "the answer was echoed:\n{screen}");
        if sixel {
            let start = find(&raw, b"\x1bP").expect("sixel drawn");
            let end = start + find(&raw[start..], b"\x1b\\").unwrap() + 2;
            assert!(icy_sixel::SixelImage::decode(&raw[start..end]).is_ok());
        } else {
            let after = &raw[find(&raw, QUERY).unwrap() + QUERY.len()..];
            assert!(kitty_png(after).0 == file, "kitty drawn");
        }
    }
}

#[test]
fn broken_missing_huge_and_oddly_named_files_are_one_line_errors() {
    let (env, _) = with_gradient();
    let home = env.home.path();
    std::fs::write(home.join("bad.png"), b"not a png").unwrap();
    let mut truncated = gradient_png();
    truncated.truncate(truncated.len() / 2);
    std::fs::write(home.join("half.png"), &truncated).unwrap();
    // A valid header claiming 40 000 × 40 000 pixels (6.4 GB decoded).
    let mut huge = Vec::new();
    let encoder = png::Encoder::new(&mut huge, 40_000, 40_000);
    drop(encoder.write_header());
    std::fs::write(home.join("huge.png"), &huge).unwrap();
    // A 300 MiB file (sparse: no disk used), refused before it is read.
    let big = std::fs::File::create(home.join("big.png")).unwrap();
    big.set_len(300 << 20).unwrap();
    for (file, says) in [
        ("bad.png", "vestis: bad.png: not a PNG file\n"),
        (
            "missing.png",
            "vestis: missing.png: no such file, and not a job id\n",
        ),
        (
            "big.png",
            "vestis: big.png: 314572800 bytes, too large to preview (at most 268435456)\n",
        ),
        (
            "huge.png",
            "vestis: huge.png: the image is 40000×40000 pixels, too large to preview (at most 32768 a side)\n",
        ),
    ] {
        let out = env
            .vestis()
            .current_dir(home)
            .args(["show", file])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{file}");
        assert_eq!(texts(&out).1, says);
    }
    let out = env
        .vestis()
        .current_dir(home)
        .args(["show", "half.png"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = texts(&out).1;
    assert!(
        stderr.starts_with("vestis: half.png: ") && stderr.lines().count() == 1,
        "{stderr}"
    );

    // Several: each said, the worst code; the good one still shown.
    let out = env
        .vestis()
        .current_dir(home)
        .args(["show", "gradient.png", "bad.png", "999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "a job not found is 5");
    let (stdout, stderr) = texts(&out);
    assert_eq!(stdout, "gradient.png (256×256)\n");
    assert!(
        stderr.ends_with("vestis: 2 of 3 images could not be shown\n"),
        "{stderr}"
    );

    // A name that is not UTF-8, and one with control characters, shown escaped.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.png");
        std::fs::write(home.join(name), gradient_png()).unwrap();
        let out = env
            .vestis()
            .current_dir(home)
            .arg("show")
            .arg(name)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", texts(&out).1);
        assert_eq!(texts(&out).0, "caf\u{fffd}.png (256×256)\n");
        std::fs::write(home.join("a\x1b[2Jb.png"), gradient_png()).unwrap();
        let out = env
            .vestis()
            .current_dir(home)
            .args(["show", "a\x1b[2Jb.png"])
            .output()
            .unwrap();
        assert_eq!(texts(&out).0, "a\\u{1b}[2Jb.png (256×256)\n");
        let out = env
            .vestis()
            .current_dir(home)
            .args(["show", "nope\x1b]0;x\x07"])
            .output()
            .unwrap();
        assert_eq!(
            texts(&out).1,
            "vestis: nope\\u{1b}]0;x\\u{7}: no such file, and not a job id\n"
        );
    }
}

#[test]
fn ctrl_c_after_a_preview_leaves_it_whole_and_the_terminal_clean() {
    let env = Env::start(config(100));
    let ids = chat_jobs(&env, &["300ms", "120s"]);
    let size = Terminal::xterm(60, 40);
    let args = [
        "wait",
        &ids[0],
        &ids[1],
        "--preview=blocks",
        "--interval",
        "200ms",
    ];
    let mut run = OnTerminal::spawn(&env, size, &args);
    let block_row = |row: &String| !row.is_empty() && row.chars().all(|c| c == '▀');
    run.rows_where("the first preview is drawn", |rows| {
        rows.iter().filter(|r| block_row(r)).count() == 24
            && rows.iter().any(|r| r.starts_with(SPINNER))
    });
    run.press_ctrl_c();
    let (status, raw) = run.finish_raw();
    let rows = crate::pty::render_rows(&raw, size);
    let screen = rows.join("\n");
    assert_eq!(status.code(), Some(130), "{screen}");
    assert_eq!(rows.iter().filter(|r| block_row(r)).count(), 24, "{screen}");
    assert!(!screen.contains(SPINNER), "a spinner was left:\n{screen}");
    assert_eq!(
        count_lines(&screen, &format!("- job {} not finished", ids[1])),
        1,
        "{screen}"
    );
    // Colours, cursor and modes as the shell expects them back.
    let nonzero = |n: u16| std::num::NonZeroU16::new(n).unwrap();
    let mut parser = vt100::Parser::new(nonzero(size.rows), nonzero(size.columns), 0);
    parser.process(&raw);
    let screen = parser.screen();
    // Only the picture is coloured: no colour leaks into the text after it.
    for (row, text) in rows.iter().enumerate().filter(|(_, r)| !block_row(r)) {
        for column in 0..size.columns {
            let cell = screen.cell(row as u16, column).unwrap();
            assert_eq!(cell.bgcolor(), vt100::Color::Default, "row {row}: {text}");
        }
    }
    assert_eq!(screen.fgcolor(), vt100::Color::Default);
    assert_eq!(screen.bgcolor(), vt100::Color::Default);
    assert!(!screen.hide_cursor(), "the cursor is shown");
}

#[test]
fn ctrl_c_while_the_terminal_is_asked_stops_the_command_and_restores_it() {
    let (env, _) = with_gradient();
    let vars = [("VESTIS_PREVIEW_TIMEOUT", "10s")];
    let mut run = OnTerminal::spawn_with(&env, xterm(), &["show", "gradient.png"], &vars);
    run.frame_where("the query is sent", |_| find(&run.raw(), QUERY).is_some());
    // In raw mode Ctrl-C is a byte the query reads, not a signal.
    run.press_ctrl_c();
    let (status, raw) = run.finish_raw();
    let screen = crate::pty::render(&raw, xterm());
    assert_eq!(status.code(), Some(130), "{screen}");
    assert!(
        !drew_an_image(&raw[find(&raw, QUERY).unwrap() + QUERY.len()..]),
        "{screen}"
    );
    assert!(!screen.contains("^C"), "echoed in raw mode:\n{screen}");
    assert!(screen.contains("vestis: interrupted"), "{screen}");
}

#[test]
fn the_environment_and_the_flag_pick_the_protocol_before_any_query() {
    let (env, file) = with_gradient();
    let show = |args: &[&str], vars: &[(&str, &str)]| {
        let (status, raw) = OnTerminal::spawn_with(&env, xterm(), args, vars).finish_raw();
        assert!(
            status.success(),
            "{args:?} {vars:?}: {}",
            String::from_utf8_lossy(&raw)
        );
        assert!(
            find(&raw, QUERY).is_none(),
            "{args:?} {vars:?}: asked the terminal"
        );
        raw
    };
    let kitty = |raw: &[u8]| find(raw, b"\x1b_G").is_some();
    let iterm = |raw: &[u8]| find(raw, b"\x1b]1337;File=").is_some();
    let blocks = |raw: &[u8]| find(raw, "▀".as_bytes()).is_some();
    let file_only = ["show", "gradient.png"];
    // The terminal names itself.
    let raw = show(&file_only, &[("KITTY_WINDOW_ID", "1")]);
    assert!(kitty(&raw) && kitty_png(&raw).0 == file);
    assert!(iterm(&show(&file_only, &[("TERM_PROGRAM", "iTerm.app")])));
    // VESTIS_PREVIEW over the terminal's variables; the flag over both.
    let vars = [("KITTY_WINDOW_ID", "1"), ("VESTIS_PREVIEW", "iterm")];
    assert!(iterm(&show(&file_only, &vars)));
    let raw = show(&["show", "gradient.png", "--preview=blocks"], &vars);
    assert!(blocks(&raw) && !iterm(&raw) && !kitty(&raw));
    let raw = show(&file_only, &[("VESTIS_PREVIEW", "never")]);
    assert!(!drew_an_image(&raw));
    // Inside tmux without pass-through (here, no tmux to ask): half blocks,
    // whatever the outer terminal is.
    let raw = show(
        &file_only,
        &[
            ("TMUX", "/tmp/tmux-0/default,1,0"),
            ("KITTY_WINDOW_ID", "1"),
        ],
    );
    assert!(blocks(&raw) && !kitty(&raw));
    // Without --preview, generate draws nothing, whatever VESTIS_PREVIEW says.
    let args = ["generate", "legacy", "-o", "a.png"];
    assert!(!drew_an_image(&show(&args, &[("VESTIS_PREVIEW", "kitty")])));
    // A value that is no protocol: one line, exit 2.
    let out = env
        .vestis()
        .current_dir(env.home.path())
        .args(["show", "gradient.png"])
        .env("VESTIS_PREVIEW", "sixels")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        texts(&out).1,
        "vestis: VESTIS_PREVIEW=sixels is not one of auto, kitty, iterm, sixel, blocks, never\n"
    );
}

#[test]
fn an_interlaced_png_previews_as_its_plain_twin() {
    let env = Env::start(config(100));
    // The same 64 × 64 gradient (red 4x, green 4y, blue 128), written
    // with Adam7 interlacing by ImageMagick (`convert -interlace PNG`).
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/cli/fixtures/interlaced-64.png"
    );
    std::fs::copy(fixture, env.home.path().join("interlaced.png")).unwrap();
    let mut plain = Vec::new();
    let mut encoder = png::Encoder::new(&mut plain, 64, 64);
    encoder.set_color(png::ColorType::Rgb);
    let mut writer = encoder.write_header().unwrap();
    let pixels: Vec<u8> = (0..64u8)
        .flat_map(|y| (0..64u8).flat_map(move |x| [x * 4, y * 4, 128]))
        .collect();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    std::fs::write(env.home.path().join("plain.png"), &plain).unwrap();
    let picture = |file: &str| {
        let args = ["show", file, "--preview=blocks"];
        let (status, raw) = OnTerminal::spawn(&env, xterm(), &args).finish_raw();
        assert!(status.success(), "{}", String::from_utf8_lossy(&raw));
        let start = find(&raw, b"\x1b[38;2;").expect("half blocks");
        raw[start..].to_vec()
    };
    assert!(picture("interlaced.png") == picture("plain.png"));
}

#[test]
fn a_signal_during_the_query_leaves_the_terminal_as_it_was() {
    use rustix::termios::LocalModes;
    let (env, _) = with_gradient();
    for signal in ["TERM", "HUP"] {
        let vars = [("VESTIS_PREVIEW_TIMEOUT", "3s")];
        let run = OnTerminal::spawn_with(&env, xterm(), &["show", "gradient.png"], &vars);
        let cooked = LocalModes::ECHO | LocalModes::ICANON;
        run.frame_where("the query is sent, the terminal raw", |_| {
            find(&run.raw(), QUERY).is_some() && !run.settings().local_modes.intersects(cooked)
        });
        run.signal(signal);
        let (status, raw, settings) = run.finish_with_settings();
        let screen = crate::pty::render(&raw, xterm());
        assert!(
            settings.local_modes.contains(cooked),
            "SIG{signal}: the terminal was left raw ({status}):\n{screen}"
        );
        assert!(
            !drew_an_image(&raw[find(&raw, QUERY).unwrap() + QUERY.len()..]),
            "{screen}"
        );
    }
}

/// `vestis batch --preview`: each row's saved PNG drawn once, from the
/// file it saved (one download per row), and nothing with `--json`.
#[test]
fn batch_previews_each_saved_image_once() {
    let env = Env::start(config(100));
    std::fs::write(
        env.home.path().join("rows.csv"),
        "id,kind,prompt\na,chat,first\nb,chat,second\n",
    )
    .unwrap();
    let args = [
        "-v",
        "batch",
        "rows.csv",
        "-o",
        "out",
        "--interval",
        "50ms",
        "--preview=kitty",
    ];
    let (status, raw) = OnTerminal::spawn(&env, xterm(), &args).finish_raw();
    assert!(status.success(), "{}", String::from_utf8_lossy(&raw));
    // The kitty pieces, one image per run of pieces ending `m=0`.
    let mut images = Vec::new();
    let mut data = Vec::new();
    for piece in spans(&raw, b"\x1b_G", b"\x1b\\") {
        let semi = piece.iter().position(|&b| b == b';').unwrap();
        let keys = String::from_utf8(piece[..semi].to_vec()).unwrap();
        data.extend_from_slice(&piece[semi + 1..]);
        if keys.split(',').any(|k| k == "m=0") {
            let png = base64::engine::general_purpose::STANDARD
                .decode(&data)
                .unwrap();
            images.push(png);
            data.clear();
        }
    }
    let saved: Vec<Vec<u8>> = ["a.png", "b.png"]
        .iter()
        .map(|name| std::fs::read(env.home.path().join("out").join(name)).unwrap())
        .collect();
    assert_eq!(images.len(), 2, "one picture per row");
    for image in &images {
        assert!(saved.contains(image), "a picture is a saved file's bytes");
    }
    assert_eq!(image_downloads(&raw), 2, "one download per row");

    let json = env
        .vestis()
        .current_dir(env.home.path())
        .args([
            "--json",
            "batch",
            "rows.csv",
            "-o",
            "out2",
            "--preview=kitty",
        ])
        .output()
        .unwrap();
    assert!(json.status.success(), "{}", texts(&json).1);
    assert!(
        !json.stdout.windows(3).any(|w| w == b"\x1b_G"),
        "nothing drawn with --json"
    );
}
