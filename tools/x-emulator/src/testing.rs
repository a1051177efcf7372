//! Helpers for tests of the emulator and of its callers.

fn push_box(out: &mut Vec<u8>, kind: &[u8; 4], payload: &[u8]) {
    let size = u32::try_from(8 + payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
}

/// A tiny, syntactically valid MP4: `ftyp` + `moov(mvhd)` + `mdat` with
/// `mdat_len` filler bytes. It passes the emulator's container check; it is
/// not playable video.
pub fn tiny_mp4(mdat_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(mdat_len + 200);
    let mut ftyp = Vec::new();
    ftyp.extend_from_slice(b"isom");
    ftyp.extend_from_slice(&0x200u32.to_be_bytes());
    ftyp.extend_from_slice(b"isomiso2avc1mp41");
    push_box(&mut out, b"ftyp", &ftyp);

    // mvhd version 0: 100 bytes of payload.
    let mut mvhd = vec![0u8; 100];
    mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes()); // timescale
    mvhd[16..20].copy_from_slice(&1000u32.to_be_bytes()); // duration: 1 s
    mvhd[20..24].copy_from_slice(&0x0001_0000u32.to_be_bytes()); // rate 1.0
    mvhd[24..26].copy_from_slice(&0x0100u16.to_be_bytes()); // volume 1.0
    let mut moov = Vec::new();
    push_box(&mut moov, b"mvhd", &mvhd);
    push_box(&mut out, b"moov", &moov);

    let filler: Vec<u8> = (0..mdat_len).map(|i| (i % 251) as u8).collect();
    push_box(&mut out, b"mdat", &filler);
    out
}

/// Unix milliseconds as X prints `created_at` and as `start_time` /
/// `end_time` accept them: `2022-05-06T12:00:00.000Z`.
pub fn rfc3339_ms(ms: u64) -> String {
    crate::rfc3339::format_ms(ms)
}
