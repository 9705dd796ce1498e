//! The bytes that draw a picture on a terminal, one function per protocol:
//! kitty's graphics protocol, iTerm2's inline images, sixel, and Unicode
//! half blocks in 24-bit colour. Each leaves the cursor at the start of
//! the line below the picture, and every colour or mode it set reset.

use base64::Engine as _;

use super::image::{ImageError, Rgba};

/// kitty sends base64 in pieces of at most 4096 bytes (its protocol's limit).
const KITTY_CHUNK: usize = 4096;

/// kitty's graphics protocol: the PNG itself (`f=100`), placed over
/// `columns` × `rows` cells (`c`, `r`) and shown at once (`a=T`), with
/// no answer from the terminal (`q=2`, or it would arrive as typed input).
/// `hold_cursor`: the terminal does not move the cursor (`C=1`), for a
/// multiplexer that cannot see the picture.
pub(crate) fn kitty(png: &[u8], columns: u16, rows: u16, hold_cursor: bool) -> Vec<u8> {
    let data = base64::engine::general_purpose::STANDARD.encode(png);
    let chunks: Vec<&[u8]> = data.as_bytes().chunks(KITTY_CHUNK).collect();
    let mut out = Vec::with_capacity(data.len() + chunks.len() * 16 + 64);
    for (i, chunk) in chunks.iter().enumerate() {
        let more = u8::from(i + 1 < chunks.len());
        if i == 0 {
            let hold = if hold_cursor { ",C=1" } else { "" };
            out.extend_from_slice(
                format!("\x1b_Gf=100,a=T,q=2,c={columns},r={rows}{hold},m={more};").as_bytes(),
            );
        } else {
            out.extend_from_slice(format!("\x1b_Gm={more};").as_bytes());
        }
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\x1b\\");
    }
    out
}

/// iTerm2's inline image (OSC 1337 `File=`): the PNG itself, `columns`
/// × `rows` cells, aspect kept.
pub(crate) fn iterm(png: &[u8], columns: u16, rows: u16) -> Vec<u8> {
    let data = base64::engine::general_purpose::STANDARD.encode(png);
    let mut out = format!(
        "\x1b]1337;File=inline=1;size={};width={columns};height={rows};preserveAspectRatio=1:",
        png.len()
    )
    .into_bytes();
    out.extend_from_slice(data.as_bytes());
    out.push(0x07);
    out
}

/// Sixel: `picture` (already at the size to show, in pixels) with a
/// palette of up to 256 colours chosen for it.
///
/// # Errors
/// The encoder refused the picture (an empty or oversized one).
pub(crate) fn sixel(picture: &Rgba) -> Result<Vec<u8>, ImageError> {
    let options = icy_sixel::EncodeOptions::default();
    icy_sixel::sixel_encode(
        &picture.pixels,
        picture.width as usize,
        picture.height as usize,
        &options,
    )
    .map(String::into_bytes)
    .map_err(|e| ImageError(format!("cannot encode sixel: {e}")))
}

/// Unicode half blocks: one `▀` a cell, its top pixel the foreground
/// colour and its bottom pixel the background, so `picture` (2 pixels a
/// row of cells) is drawn in `picture.width` columns and half as many
/// rows. Transparent pixels are blended onto black.
pub(crate) fn blocks(picture: &Rgba) -> Vec<u8> {
    let mut out = String::with_capacity(picture.pixels.len() * 20);
    let opaque = |[r, g, b, a]: [u8; 4]| {
        let blend = |c: u8| ((u16::from(c) * u16::from(a) + 127) / 255) as u8;
        [blend(r), blend(g), blend(b)]
    };
    for y in (0..picture.height).step_by(2) {
        for x in 0..picture.width {
            let [tr, tg, tb] = opaque(picture.at(x, y));
            let [br, bg, bb] = if y + 1 < picture.height {
                opaque(picture.at(x, y + 1))
            } else {
                [0, 0, 0]
            };
            out.push_str(&format!(
                "\x1b[38;2;{tr};{tg};{tb};48;2;{br};{bg};{bb}m\u{2580}"
            ));
        }
        out.push_str("\x1b[0m\n");
    }
    out.into_bytes()
}

/// `sequence` wrapped for tmux's pass-through (`allow-passthrough on`):
/// a DCS `tmux;` with every ESC inside doubled.
pub(crate) fn tmux_passthrough(sequence: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sequence.len() + sequence.len() / 8 + 16);
    out.extend_from_slice(b"\x1bPtmux;");
    for &byte in sequence {
        if byte == 0x1b {
            out.push(0x1b);
        }
        out.push(byte);
    }
    out.extend_from_slice(b"\x1b\\");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kitty_splits_its_base64_into_pieces_that_say_more_follows() {
        let png = vec![7u8; 5000];
        let out = String::from_utf8(kitty(&png, 10, 5, false)).unwrap();
        let pieces: Vec<&str> = out.split("\x1b\\").filter(|p| !p.is_empty()).collect();
        assert_eq!(pieces.len(), 2, "{out:?}");
        assert!(pieces[0].starts_with("\x1b_Gf=100,a=T,q=2,c=10,r=5,m=1;"));
        assert!(pieces[1].starts_with("\x1b_Gm=0;"));
    }

    #[test]
    fn tmux_passthrough_doubles_escapes() {
        assert_eq!(
            tmux_passthrough(b"\x1b_Ga\x1b\\"),
            b"\x1bPtmux;\x1b\x1b_Ga\x1b\x1b\\\x1b\\"
        );
    }

    #[test]
    fn an_odd_last_row_of_blocks_has_a_black_bottom() {
        let picture = Rgba {
            width: 1,
            height: 1,
            pixels: vec![255, 0, 0, 255],
        };
        assert_eq!(
            String::from_utf8(blocks(&picture)).unwrap(),
            "\x1b[38;2;255;0;0;48;2;0;0;0m▀\x1b[0m\n"
        );
    }
}
