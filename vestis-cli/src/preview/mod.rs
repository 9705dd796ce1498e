//! Drawing a finished image in the terminal: `--preview` on the commands
//! that wait for jobs, and `vestis show`.
//!
//! [`Preview::choose`] decides once per command, before any live display
//! starts, whether and how to draw: never on a pipe, a file, `TERM=dumb`,
//! with `--json` or `-q`; otherwise the protocol the flag or
//! `VESTIS_PREVIEW` names, or the best one the terminal supports
//! (`detect`). [`Preview::draw`] then takes the PNG's bytes, from a saved
//! file or a download already made (a preview never downloads), and writes
//! the picture to stdout in one write, sized to the terminal.
//!
//! ```ignore
//! if let Some(preview) = Preview::choose(flag, &ctx.out, quiet)? {
//!     progress.suspend(|| preview.draw(&png_bytes))?;
//! }
//! ```

pub(crate) mod detect;
pub(crate) mod encode;
pub(crate) mod image;

use std::io::{IsTerminal, Write};

use clap::ValueEnum;

pub(crate) use self::image::ImageError;

use self::detect::Multiplexer;

/// Widest preview, in terminal columns (narrower on a narrower terminal).
pub(crate) const MAX_COLUMNS: u16 = 48;

/// Tallest preview, in terminal rows (fewer on a shorter terminal).
pub(crate) const MAX_ROWS: u16 = 24;

/// A cell's size in pixels when the terminal does not say (most fonts
/// are about twice as tall as wide).
const DEFAULT_CELL: (u16, u16) = (10, 20);

/// PNGs larger than this are not sent to kitty or iTerm2 as they are: a
/// smaller PNG of the preview's size is sent instead.
const SEND_AS_IS: usize = 4 << 20;

/// What `--preview=…` and `VESTIS_PREVIEW` may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Choice {
    /// The best protocol the terminal supports (asks it, briefly).
    Auto,
    /// kitty's graphics protocol (kitty, Ghostty, WezTerm, Konsole).
    Kitty,
    /// iTerm2's inline images (iTerm2, WezTerm, VS Code, mintty).
    Iterm,
    /// Sixel (xterm -ti vt340, foot, mlterm, Windows Terminal).
    Sixel,
    /// Unicode half blocks in 24-bit colour (any colour terminal).
    Blocks,
    /// No preview.
    Never,
}

/// How a picture is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Kitty,
    Iterm,
    Sixel,
    Blocks,
}

/// A decided way to draw previews on this command's terminal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Preview {
    protocol: Protocol,
    /// Inside tmux with pass-through allowed: sequences wrapped for it.
    tmux: bool,
}

impl Preview {
    /// Whether and how to preview: `None` when stdout is not a terminal,
    /// `TERM` is `dumb` or unset, with `--json` (`json`) or `-q` (`quiet`),
    /// or when the choice is `never`. `flag` is `--preview`'s value: a
    /// protocol it names wins over `VESTIS_PREVIEW`, which wins over
    /// detection. Call it before a live display starts: it may ask the
    /// terminal (in raw mode, for at most [`detect::QUERY_TIMEOUT`]).
    ///
    /// # Errors
    /// `VESTIS_PREVIEW` holds something else than a [`Choice`] (exit 2);
    /// Ctrl-C was typed while the terminal was asked (exit 130).
    pub(crate) fn choose(
        flag: Choice,
        json: bool,
        quiet: bool,
    ) -> Result<Option<Preview>, crate::exit::Failure> {
        let env = |name: &str| std::env::var(name).ok();
        let from_env = match env("VESTIS_PREVIEW").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(value) => Some(Choice::from_str(value.trim(), true).map_err(|_| {
                crate::exit::Failure::usage(format!(
                    "VESTIS_PREVIEW={value} is not one of auto, kitty, iterm, sixel, blocks, never"
                ))
            })?),
        };
        let choice = match (flag, from_env) {
            (Choice::Auto, Some(env_choice)) => env_choice,
            _ => flag,
        };
        let term = env("TERM").unwrap_or_default();
        if json
            || quiet
            || choice == Choice::Never
            || !std::io::stdout().is_terminal()
            || term.is_empty()
            || term == "dumb"
        {
            return Ok(None);
        }
        let multiplexer = detect::multiplexer(&env);
        let tmux = multiplexer == Some(Multiplexer::Tmux) && detect::tmux_passthrough();
        let protocol = match choice {
            Choice::Kitty => Protocol::Kitty,
            Choice::Iterm => Protocol::Iterm,
            Choice::Sixel => Protocol::Sixel,
            Choice::Blocks | Choice::Never => Protocol::Blocks,
            // In a multiplexer the terminal that answers a query is the
            // multiplexer: only the outer terminal's variables can say,
            // and only pass-through can carry the picture to it.
            Choice::Auto if multiplexer.is_some() => match detect::from_env(&env) {
                Some(protocol) if tmux => protocol,
                _ => Protocol::Blocks,
            },
            Choice::Auto => match detect::from_env(&env) {
                Some(protocol) => protocol,
                None => match detect::query(detect::query_timeout(&env)) {
                    detect::Answer::Supports(protocol) => protocol.unwrap_or(Protocol::Blocks),
                    detect::Answer::Signalled => return Err(crate::exit::Failure::signalled()),
                    detect::Answer::Interrupted => {
                        return Err(crate::exit::Failure::new(
                            crate::exit::Exit::Signal(2), // SIGINT: a Ctrl-C typed during the query
                            "interrupted",
                        ));
                    }
                },
            },
        };
        tracing::debug!(
            "preview: {protocol:?}{}",
            if tmux { " through tmux" } else { "" }
        );
        Ok(Some(Preview {
            protocol,
            tmux: tmux && protocol != Protocol::Blocks,
        }))
    }

    /// Draws the PNG `png_bytes` on stdout, below the cursor, in one
    /// write, and leaves the cursor at the start of the line under it.
    ///
    /// # Errors
    /// [`DrawError::Image`]: the bytes are not a PNG that can be previewed
    /// (nothing was written); [`DrawError::Write`]: stdout cannot be
    /// written (a closed pipe is kept as `BrokenPipe`).
    pub(crate) fn draw(&self, png_bytes: &[u8]) -> Result<(), DrawError> {
        let bytes = self
            .render(png_bytes, terminal_size())
            .map_err(DrawError::Image)?;
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes)
            .and_then(|()| out.flush())
            .map_err(DrawError::Write)
    }

    /// The bytes that draw `png_bytes` on a terminal of `size`.
    ///
    /// # Errors
    /// The bytes are not a PNG that can be previewed.
    pub(crate) fn render(
        &self,
        png_bytes: &[u8],
        size: TerminalSize,
    ) -> Result<Vec<u8>, ImageError> {
        let (width, height) = image::dimensions(png_bytes)?;
        let fit = Fit::of(width, height, size);
        let drawn = match self.protocol {
            Protocol::Blocks => {
                let picture = image::decode_scaled(png_bytes, fit.columns.into(), fit.block_rows)?;
                return Ok(encode::blocks(&picture));
            }
            Protocol::Sixel => {
                let picture = image::decode_scaled(png_bytes, fit.pixel_width, fit.pixel_height)?;
                encode::sixel(&picture)?
            }
            Protocol::Kitty | Protocol::Iterm => {
                // Decoded even when sent as is: a broken file is said, not drawn.
                let picture = image::decode_scaled(png_bytes, fit.pixel_width, fit.pixel_height)?;
                let smaller;
                let png = if png_bytes.len() > SEND_AS_IS {
                    smaller = image::encode_png(&picture)?;
                    &smaller[..]
                } else {
                    png_bytes
                };
                if self.protocol == Protocol::Kitty {
                    encode::kitty(png, fit.columns, fit.rows, self.tmux)
                } else {
                    encode::iterm(png, fit.columns, fit.rows)
                }
            }
        };
        let mut out = Vec::with_capacity(drawn.len() + 32);
        if self.tmux {
            // tmux cannot see the picture: its rows are made first, with
            // newlines it does see, and the cursor put back to draw in them.
            out.extend(std::iter::repeat_n(b'\n', fit.rows.into()));
            out.extend_from_slice(format!("\x1b[{}A\r", fit.rows).as_bytes());
            out.extend_from_slice(&encode::tmux_passthrough(&drawn));
            out.extend_from_slice(format!("\x1b[{}B\r", fit.rows).as_bytes());
        } else {
            out.extend_from_slice(&drawn);
            // The terminal's output processing makes it a carriage return too.
            out.push(b'\n');
        }
        Ok(out)
    }
}

/// Why [`Preview::draw`] drew nothing, or not all.
#[derive(Debug)]
pub(crate) enum DrawError {
    /// The image cannot be previewed; nothing was written.
    Image(ImageError),
    /// stdout cannot be written.
    Write(std::io::Error),
}

impl std::fmt::Display for DrawError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DrawError::Image(e) => e.fmt(f),
            DrawError::Write(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DrawError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DrawError::Image(e) => Some(e),
            DrawError::Write(e) => Some(e),
        }
    }
}

/// A terminal's size in cells and, when it says, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TerminalSize {
    pub(crate) columns: u16,
    pub(crate) rows: u16,
    /// Width and height of the text area in pixels; 0 when unknown.
    pub(crate) pixels: (u16, u16),
}

/// stdout's terminal size (80 × 24 when it cannot say).
pub(crate) fn terminal_size() -> TerminalSize {
    #[cfg(unix)]
    if let Ok(size) = rustix::termios::tcgetwinsize(std::io::stdout())
        && size.ws_col > 0
        && size.ws_row > 0
    {
        return TerminalSize {
            columns: size.ws_col,
            rows: size.ws_row,
            pixels: (size.ws_xpixel, size.ws_ypixel),
        };
    }
    TerminalSize {
        columns: 80,
        rows: 24,
        pixels: (0, 0),
    }
}

/// Where a picture goes: the cells it takes and its size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fit {
    /// Cells across and down.
    pub(crate) columns: u16,
    pub(crate) rows: u16,
    /// Pixels across and down, for sixel (and a re-encoded PNG).
    pub(crate) pixel_width: u32,
    pub(crate) pixel_height: u32,
    /// Half-block pixels down: two a row.
    pub(crate) block_rows: u32,
}

impl Fit {
    /// The largest box, aspect kept, within [`MAX_COLUMNS`] × [`MAX_ROWS`]
    /// cells and the terminal (a column and the two last rows kept free),
    /// for an image of `width` × `height` pixels.
    pub(crate) fn of(width: u32, height: u32, size: TerminalSize) -> Fit {
        let (mut cell_w, mut cell_h) = DEFAULT_CELL;
        if size.pixels.0 > 0 && size.pixels.1 > 0 {
            cell_w = (size.pixels.0 / size.columns.max(1)).max(1);
            cell_h = (size.pixels.1 / size.rows.max(1)).max(1);
        }
        let max_columns = MAX_COLUMNS.min(size.columns.saturating_sub(1)).max(1);
        let max_rows = MAX_ROWS.min(size.rows.saturating_sub(2)).max(1);
        let box_w = f64::from(max_columns) * f64::from(cell_w);
        let box_h = f64::from(max_rows) * f64::from(cell_h);
        let scale = (box_w / f64::from(width)).min(box_h / f64::from(height));
        let pixel_width = (f64::from(width) * scale).round().max(1.0);
        let pixel_height = (f64::from(height) * scale).round().max(1.0);
        let columns = (pixel_width / f64::from(cell_w))
            .round()
            .clamp(1.0, f64::from(max_columns));
        let block_rows = (pixel_height / (f64::from(cell_h) / 2.0))
            .round()
            .clamp(1.0, f64::from(max_rows) * 2.0);
        let rows = (pixel_height / f64::from(cell_h))
            .ceil()
            .clamp(1.0, f64::from(max_rows));
        Fit {
            columns: columns as u16,
            rows: rows as u16,
            pixel_width: pixel_width as u32,
            pixel_height: pixel_height as u32,
            block_rows: block_rows as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(columns: u16, rows: u16) -> TerminalSize {
        TerminalSize {
            columns,
            rows,
            pixels: (0, 0),
        }
    }

    #[test]
    fn inside_tmux_the_picture_is_wrapped_and_its_rows_made_first() {
        let mut png = Vec::new();
        let mut encoder = ::png::Encoder::new(&mut png, 2, 2);
        encoder.set_color(::png::ColorType::Rgb);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[9; 12]).unwrap();
        writer.finish().unwrap();
        let preview = Preview {
            protocol: Protocol::Kitty,
            tmux: true,
        };
        let out = preview.render(&png, size(80, 40)).unwrap();
        let text = String::from_utf8(out).unwrap();
        // 24 rows made with newlines tmux sees, the cursor back up, the
        // picture through pass-through (ESC doubled, the cursor held), down again.
        let head = format!(
            "{}\x1b[24A\r\x1bPtmux;\x1b\x1b_Gf=100,a=T,q=2,c=48,r=24,C=1,m=0;",
            "\n".repeat(24)
        );
        assert!(text.starts_with(&head), "{text:?}");
        assert!(text.ends_with("\x1b\x1b\\\x1b\\\x1b[24B\r"), "{text:?}");
    }

    #[test]
    fn a_square_image_takes_a_square_box_of_cells() {
        let fit = Fit::of(1024, 1024, size(120, 40));
        // 24 rows of 20 px = 480 px tall, so 48 columns of 10 px wide.
        assert_eq!((fit.columns, fit.rows), (48, 24));
        assert_eq!((fit.pixel_width, fit.pixel_height), (480, 480));
        assert_eq!(fit.block_rows, 48);
    }

    #[test]
    fn the_terminal_bounds_the_box_and_the_aspect_is_kept() {
        let fit = Fit::of(2000, 1000, size(21, 40));
        assert_eq!(fit.columns, 20);
        assert_eq!(
            fit.block_rows, 10,
            "half as tall as wide, in square block pixels"
        );
        let tall = Fit::of(100, 1000, size(80, 12));
        assert_eq!(tall.rows, 10);
        assert_eq!(tall.columns, 2);
        let pixels = TerminalSize {
            columns: 100,
            rows: 50,
            pixels: (800, 800),
        };
        // 8 × 16 px cells: 24 rows are 384 px.
        assert_eq!(Fit::of(500, 500, pixels).pixel_height, 384);
    }
}
