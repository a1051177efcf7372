//! Helpers for tests of the emulator and of its callers.

/// A real video that meets every limit X documents (research §6): H.264 High
/// profile, yuv420p 8-bit, 64x64, 10 fps, 1.0 s, progressive, square pixels,
/// no audio, `moov` before `mdat`. 1,699 bytes, made once with ffmpeg 5.1
/// (see `fixtures/README.md` for the command) and committed, so tests do not
/// need ffmpeg to build an upload that the emulator's processing accepts.
pub const TINY_MP4_VIDEO: &[u8] = include_bytes!("../fixtures/tiny-h264-64x64-1s.mp4");

/// Bytes `tiny_mp4(filler_len)` adds before its filler: the video and the
/// header of the trailing `free` box.
pub const TINY_MP4_OVERHEAD: usize = TINY_MP4_VIDEO.len() + 8;

/// The bytes before the filler of `tiny_mp4(filler_len)`: the video, then the
/// 8-byte header of a top-level `free` box holding `filler_len` bytes. For
/// callers that stream a large test video rather than build it in memory.
///
/// # Panics
/// If `filler_len + 8` does not fit a 32-bit box size (4 GiB), far above any
/// upload X takes (512 MB).
pub fn tiny_mp4_head(filler_len: usize) -> Vec<u8> {
    let size = u32::try_from(filler_len + 8).unwrap_or_else(|_| {
        panic!("tiny_mp4: a filler of {filler_len} bytes needs a 64-bit box size")
    });
    let mut out = Vec::with_capacity(TINY_MP4_OVERHEAD);
    out.extend_from_slice(TINY_MP4_VIDEO);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(b"free");
    out
}

/// A tiny, real MP4 that the emulator's processing accepts (container check
/// and, with `judge_processing`, ffprobe against X's limits), followed by a
/// top-level `free` box of `filler_len` filler bytes (byte `i` is `i % 251`).
///
/// The whole file is `TINY_MP4_OVERHEAD + filler_len` bytes; the filler is
/// always its last `filler_len` bytes, so callers may overwrite it with
/// anything (e.g. random bytes, to make uploads differ) and the video stays
/// valid: players and ffprobe skip `free` boxes. Any `filler_len`, 0
/// included, is fine.
pub fn tiny_mp4(filler_len: usize) -> Vec<u8> {
    let mut out = tiny_mp4_head(filler_len);
    out.reserve(filler_len);
    out.extend((0..filler_len).map(|i| (i % 251) as u8));
    out
}

/// Unix milliseconds as X prints `created_at` and as `start_time` /
/// `end_time` accept them: `2022-05-06T12:00:00.000Z`.
pub fn rfc3339_ms(ms: u64) -> String {
    crate::rfc3339::format_ms(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filler_is_the_tail_and_the_length_is_the_overhead_plus_the_filler() {
        for n in [0, 1, 250, 251, 3000] {
            let v = tiny_mp4(n);
            assert_eq!(v.len(), TINY_MP4_OVERHEAD + n);
            assert_eq!(&v[..TINY_MP4_VIDEO.len()], TINY_MP4_VIDEO);
            assert_eq!(&v[..TINY_MP4_OVERHEAD], &tiny_mp4_head(n)[..]);
            let free = &v[TINY_MP4_VIDEO.len()..TINY_MP4_OVERHEAD];
            assert_eq!(&free[4..], b"free");
            assert_eq!(
                u32::from_be_bytes([free[0], free[1], free[2], free[3]]) as usize,
                n + 8
            );
            assert!(v[TINY_MP4_OVERHEAD..]
                .iter()
                .enumerate()
                .all(|(i, b)| usize::from(*b) == i % 251));
        }
        // The fixture starts with ftyp, as the container check wants.
        assert_eq!(&TINY_MP4_VIDEO[4..8], b"ftyp");
    }
}
