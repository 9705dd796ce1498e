//! The PNG served at `/images/{id}.png`: a real, valid 256×256 image whose
//! colours and pattern derive from the job's payload, so the same job always
//! gives the same bytes and different prompts look different.

/// Side of the square image, in pixels.
pub(crate) const SIZE: u32 = 256;

/// Encodes the image for `seed` as PNG bytes.
pub(crate) fn render(seed: u64) -> Result<Vec<u8>, png::EncodingError> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut colour = || [rng.u8(..), rng.u8(..), rng.u8(..)];
    let (a, b, accent) = (colour(), colour(), colour());
    let rings = 3 + (seed % 5) as u32;
    let centre = (SIZE / 2) as i64;

    let mut pixels = Vec::with_capacity((SIZE * SIZE * 3) as usize);
    for y in 0..SIZE {
        for x in 0..SIZE {
            // A diagonal gradient from `a` to `b`, with concentric rings of `accent`.
            let t = (x + y) as f32 / (2 * (SIZE - 1)) as f32;
            let (dx, dy) = (i64::from(x) - centre, i64::from(y) - centre);
            let r = ((dx * dx + dy * dy) as f64).sqrt() as u32;
            let ring = (r / (SIZE / 2 / rings).max(1)).is_multiple_of(2) && r < SIZE / 2;
            for c in 0..3 {
                let base = f32::from(a[c]) * (1.0 - t) + f32::from(b[c]) * t;
                let v = if ring {
                    (base + f32::from(accent[c])) / 2.0
                } else {
                    base
                };
                pixels.push(v as u8);
            }
        }
    }

    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, SIZE, SIZE);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_valid_deterministic_png() {
        let bytes = render(42).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (SIZE, SIZE));
        assert_eq!(render(42).unwrap(), bytes);
        assert_ne!(render(43).unwrap(), bytes);
    }
}
