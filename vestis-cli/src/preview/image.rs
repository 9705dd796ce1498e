//! PNG bytes to a small RGBA picture for the terminal, in bounded memory.
//!
//! A preview is a few thousand pixels, whatever the file holds: the
//! header's dimensions are checked before any pixel is decoded, rows are
//! decoded one at a time and folded into the small picture as they come
//! (an area average), so a 20 000 × 20 000 PNG costs one row and the
//! preview, not 1.6 GB.

use std::io::Cursor;

/// Largest side a previewed PNG may have, in pixels.
pub(crate) const MAX_SIDE: u32 = 1 << 15;

/// Largest picture a previewed PNG may hold, in pixels (a 16k × 16k image).
pub(crate) const MAX_PIXELS: u64 = 1 << 28;

/// What the decoder may allocate for one image (rows and, for an
/// interlaced PNG, its whole frame), in bytes.
const DECODER_BYTES: usize = 64 << 20;

/// Larger files are refused before they are read: no previewable PNG
/// (at most [`MAX_PIXELS`]) is anywhere near this compressed.
pub(crate) const MAX_FILE_BYTES: u64 = 256 << 20;

/// A PNG file's bytes, for a preview of an image already saved (read
/// whole: a file of at most [`MAX_FILE_BYTES`]).
///
/// # Errors
/// The file cannot be read, or is larger than [`MAX_FILE_BYTES`].
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, ImageError> {
    let cannot = |e: std::io::Error| ImageError(format!("cannot be read ({e})"));
    let size = std::fs::metadata(path).map_err(cannot)?.len();
    if size > MAX_FILE_BYTES {
        return Err(ImageError(format!(
            "{size} bytes, too large to preview (at most {MAX_FILE_BYTES})"
        )));
    }
    std::fs::read(path).map_err(cannot)
}

/// Why an image cannot be previewed: a one-line reason.
#[derive(Debug)]
pub(crate) struct ImageError(pub(crate) String);

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ImageError {}

fn not_png(e: &png::DecodingError) -> ImageError {
    ImageError(format!("not a readable PNG ({e})"))
}

/// An 8-bit RGBA picture, row by row, 4 bytes a pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rgba {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) pixels: Vec<u8>,
}

impl Rgba {
    /// The pixel at (`x`, `y`) as `[r, g, b, a]`.
    pub(crate) fn at(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y as usize) * (self.width as usize) + x as usize) * 4;
        let mut pixel = [0u8; 4];
        pixel.copy_from_slice(&self.pixels[i..i + 4]);
        pixel
    }
}

/// A PNG's width and height in pixels, from its header alone (the
/// signature and the `IHDR` chunk that must follow it), read before the
/// decoder is given any of the file.
///
/// # Errors
/// Not a PNG, or larger than [`MAX_SIDE`] or [`MAX_PIXELS`].
pub(crate) fn dimensions(png_bytes: &[u8]) -> Result<(u32, u32), ImageError> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    let header = png_bytes
        .get(..24)
        .filter(|h| h.starts_with(SIGNATURE) && &h[12..16] == b"IHDR")
        .ok_or_else(|| ImageError("not a PNG file".to_owned()))?;
    let number = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let (width, height) = (number(16), number(20));
    check_size(width, height)?;
    Ok((width, height))
}

fn check_size(width: u32, height: u32) -> Result<(), ImageError> {
    if width == 0
        || height == 0
        || width > MAX_SIDE
        || height > MAX_SIDE
        || u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        return Err(ImageError(format!(
            "the image is {width}×{height} pixels, too large to preview (at most {MAX_SIDE} a side)"
        )));
    }
    Ok(())
}

/// Decodes `png_bytes` to a `width` × `height` picture: each output pixel
/// the average of the source pixels it covers (colour weighted by alpha),
/// or, when enlarging, the source pixel it falls on.
///
/// # Errors
/// Not a PNG, truncated or corrupt data, or too large ([`dimensions`]).
pub(crate) fn decode_scaled(png_bytes: &[u8], width: u32, height: u32) -> Result<Rgba, ImageError> {
    dimensions(png_bytes)?;
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(png_bytes),
        png::Limits {
            bytes: DECODER_BYTES,
        },
    );
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| not_png(&e))?;
    let (src_w, src_h) = (reader.info().width, reader.info().height);
    check_size(src_w, src_h)?;
    let (color, _) = reader.output_color_type();
    let channels = color.samples();
    // Averages are taken at no more than the source's size, then enlarged.
    let (avg_w, avg_h) = (width.clamp(1, src_w), height.clamp(1, src_h));
    let mut sums = Accumulator::new(src_w, src_h, avg_w, avg_h);
    if reader.info().interlaced {
        // Adam7 rows come in passes: the frame is decoded whole, within
        // the decoder's byte limit.
        let size = reader
            .output_buffer_size()
            .filter(|&n| n <= DECODER_BYTES)
            .ok_or_else(|| ImageError("an interlaced image too large to preview".to_owned()))?;
        let mut frame = vec![0u8; size];
        let info = reader.next_frame(&mut frame).map_err(|e| not_png(&e))?;
        for (y, row) in frame
            .chunks(info.line_size)
            .take(src_h as usize)
            .enumerate()
        {
            sums.add_row(y as u32, row, channels, color);
        }
    } else {
        let mut y = 0;
        while let Some(row) = reader.next_row().map_err(|e| not_png(&e))? {
            if y >= src_h {
                break;
            }
            sums.add_row(y, row.data(), channels, color);
            y += 1;
        }
        if y < src_h {
            return Err(ImageError("the PNG ends early".to_owned()));
        }
    }
    Ok(enlarge(&sums.finish(), width, height))
}

/// Sums of premultiplied colour and alpha per output pixel.
struct Accumulator {
    src_w: u32,
    src_h: u32,
    width: u32,
    height: u32,
    /// Per output pixel: r·a, g·a, b·a, a, count.
    sums: Vec<[u64; 5]>,
}

impl Accumulator {
    fn new(src_w: u32, src_h: u32, width: u32, height: u32) -> Accumulator {
        Accumulator {
            src_w,
            src_h,
            width,
            height,
            sums: vec![[0; 5]; width as usize * height as usize],
        }
    }

    fn add_row(&mut self, y: u32, row: &[u8], channels: usize, color: png::ColorType) {
        let oy = (u64::from(y) * u64::from(self.height) / u64::from(self.src_h)) as usize;
        for (x, sample) in row.chunks(channels).take(self.src_w as usize).enumerate() {
            let [r, g, b, a] = match (color, sample) {
                (png::ColorType::Grayscale, [v, ..]) => [*v, *v, *v, 255],
                (png::ColorType::GrayscaleAlpha, [v, a, ..]) => [*v, *v, *v, *a],
                (png::ColorType::Rgb, [r, g, b, ..]) => [*r, *g, *b, 255],
                (_, [r, g, b, a, ..]) => [*r, *g, *b, *a],
                _ => continue,
            };
            let ox = (x as u64 * u64::from(self.width) / u64::from(self.src_w)) as usize;
            let cell = &mut self.sums[oy * self.width as usize + ox];
            let a64 = u64::from(a);
            cell[0] += u64::from(r) * a64;
            cell[1] += u64::from(g) * a64;
            cell[2] += u64::from(b) * a64;
            cell[3] += a64;
            cell[4] += 1;
        }
    }

    fn finish(self) -> Rgba {
        let mut pixels = Vec::with_capacity(self.sums.len() * 4);
        for [r, g, b, a, n] in self.sums {
            let colour = |c: u64| (c + a / 2).checked_div(a).unwrap_or(0) as u8;
            let alpha = (a + n / 2).checked_div(n).unwrap_or(0) as u8;
            pixels.extend([colour(r), colour(g), colour(b), alpha]);
        }
        Rgba {
            width: self.width,
            height: self.height,
            pixels,
        }
    }
}

/// `small` at `width` × `height` by nearest neighbour (as is when it is that size).
fn enlarge(small: &Rgba, width: u32, height: u32) -> Rgba {
    if (small.width, small.height) == (width, height) {
        return small.clone();
    }
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 4);
    for y in 0..height {
        let sy = (u64::from(y) * u64::from(small.height) / u64::from(height)) as u32;
        for x in 0..width {
            let sx = (u64::from(x) * u64::from(small.width) / u64::from(width)) as u32;
            pixels.extend(small.at(sx, sy));
        }
    }
    Rgba {
        width,
        height,
        pixels,
    }
}

/// `picture` as a PNG file's bytes (8-bit RGBA), for a terminal that is
/// sent a PNG when the original is too large to send as it is.
///
/// # Errors
/// The encoder failed (it writes to memory, so only on a bad size).
pub(crate) fn encode_png(picture: &Rgba) -> Result<Vec<u8>, ImageError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, picture.width, picture.height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let fail = |e: png::EncodingError| ImageError(format!("cannot re-encode the preview: {e}"));
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(&picture.pixels).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_of(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 4]) -> Vec<u8> {
        let mut pixels = Vec::new();
        for y in 0..height {
            for x in 0..width {
                pixels.extend(pixel(x, y));
            }
        }
        encode_png(&Rgba {
            width,
            height,
            pixels,
        })
        .unwrap()
    }

    #[test]
    fn a_downscale_averages_the_pixels_each_output_pixel_covers() {
        // Left half red, right half blue, 4×2 down to 2×1.
        let png = png_of(4, 2, |x, _| {
            if x < 2 {
                [200, 0, 0, 255]
            } else {
                [0, 0, 100, 255]
            }
        });
        let small = decode_scaled(&png, 2, 1).unwrap();
        assert_eq!(small.pixels, [200, 0, 0, 255, 0, 0, 100, 255]);
        // A checkerboard of black and white averages to grey.
        let png = png_of(2, 2, |x, y| {
            let v = if (x + y) % 2 == 0 { 0 } else { 254 };
            [v, v, v, 255]
        });
        assert_eq!(
            decode_scaled(&png, 1, 1).unwrap().pixels,
            [127, 127, 127, 255]
        );
    }

    #[test]
    fn an_upscale_repeats_pixels() {
        let png = png_of(1, 2, |_, y| [y as u8 * 10, 0, 0, 255]);
        let big = decode_scaled(&png, 2, 4).unwrap();
        assert_eq!((big.width, big.height), (2, 4));
        assert_eq!(big.at(1, 3), [10, 0, 0, 255]);
        assert_eq!(big.at(0, 0), [0, 0, 0, 255]);
    }

    #[test]
    fn huge_and_broken_images_are_refused_before_decoding() {
        // A valid header claiming 40 000 × 40 000 pixels, and no data.
        let mut header = Vec::new();
        let encoder = png::Encoder::new(&mut header, 40_000, 40_000);
        drop(encoder.write_header());
        let e = dimensions(&header).unwrap_err();
        assert!(e.0.contains("too large"), "{e}");
        assert!(
            decode_scaled(&header, 10, 10)
                .unwrap_err()
                .0
                .contains("too large")
        );
        assert_eq!(dimensions(b"not a png").unwrap_err().0, "not a PNG file");
        let png = png_of(8, 8, |_, _| [1, 2, 3, 255]);
        assert!(decode_scaled(&png[..png.len() - 20], 2, 2).is_err());
    }
}
