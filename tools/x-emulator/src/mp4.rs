//! A container sanity check standing in for X's transcoder: the assembled
//! bytes of an MP4/MOV upload must be a well-formed sequence of ISO-BMFF
//! boxes with a `moov` (and `mvhd` inside it). X answers an unreadable file
//! with processing `failed` / `InvalidMedia` (research §3a
//! `processing_info`).

use bytes::Bytes;

/// Read access to the segments as one byte range, without joining them.
struct Segmented<'a> {
    segs: &'a [Bytes],
    len: u64,
}

impl Segmented<'_> {
    fn read(&self, mut off: u64, out: &mut [u8]) -> bool {
        if off + out.len() as u64 > self.len {
            return false;
        }
        let mut written = 0;
        for seg in self.segs {
            let seg_len = seg.len() as u64;
            if off >= seg_len {
                off -= seg_len;
                continue;
            }
            let start = off as usize;
            let take = (seg.len() - start).min(out.len() - written);
            out[written..written + take].copy_from_slice(&seg[start..start + take]);
            written += take;
            off = 0;
            if written == out.len() {
                return true;
            }
        }
        written == out.len()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct BoxHeader {
    kind: [u8; 4],
    start: u64,
    header_len: u64,
    size: u64,
}

fn kind_str(kind: &[u8; 4]) -> String {
    String::from_utf8_lossy(kind).into_owned()
}

/// Walks the boxes between `start` and `end`; every size must fit exactly.
fn walk(data: &Segmented<'_>, start: u64, end: u64, top: bool) -> Result<Vec<BoxHeader>, String> {
    let mut boxes = Vec::new();
    let mut off = start;
    while off < end {
        let mut h = [0u8; 8];
        if end - off < 8 || !data.read(off, &mut h) {
            return Err(format!("truncated box header at offset {off}"));
        }
        let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let kind = [h[4], h[5], h[6], h[7]];
        if !kind.iter().all(|b| (0x20..=0x7e).contains(b) || *b == 0xa9) {
            return Err(format!("invalid box type at offset {off}"));
        }
        let (size, header_len) = match size32 {
            // Size 0: the box runs to the end of the file (last top box only).
            0 if top => (end - off, 8),
            0 => {
                return Err(format!(
                    "box '{}' at offset {off} has size 0",
                    kind_str(&kind)
                ))
            }
            1 => {
                let mut l = [0u8; 8];
                if end - off < 16 || !data.read(off + 8, &mut l) {
                    return Err(format!("truncated large box header at offset {off}"));
                }
                (u64::from_be_bytes(l), 16)
            }
            n => (u64::from(n), 8),
        };
        if size < header_len {
            return Err(format!(
                "box '{}' at offset {off} declares size {size}, smaller than its header",
                kind_str(&kind)
            ));
        }
        if size > end - off {
            return Err(format!(
                "box '{}' at offset {off} declares {size} bytes but only {} remain",
                kind_str(&kind),
                end - off
            ));
        }
        boxes.push(BoxHeader {
            kind,
            start: off,
            header_len,
            size,
        });
        off += size;
    }
    Ok(boxes)
}

/// Boxes a QuickTime file may start with (QuickTime File Format: `wide`,
/// `free`, `skip`, `mdat`, `moov` and `pnot` appear before or without an
/// `ftyp` in real .mov files).
const MOV_FIRST: &[&[u8; 4]] = &[
    b"ftyp", b"wide", b"free", b"skip", b"mdat", b"moov", b"pnot",
];

/// Checks an upload of `media_type`. Types other than MP4 and QuickTime are
/// not inspected.
pub fn validate(media_type: &str, segs: &[Bytes]) -> Result<(), String> {
    let quicktime = match media_type {
        "video/mp4" => false,
        "video/quicktime" => true,
        _ => return Ok(()),
    };
    let data = Segmented {
        segs,
        len: segs.iter().map(|s| s.len() as u64).sum(),
    };
    if data.len == 0 {
        return Err("file is empty".into());
    }
    let boxes = walk(&data, 0, data.len, true)?;
    let first = boxes.first().ok_or("file has no boxes")?;
    if quicktime {
        if !MOV_FIRST.contains(&&first.kind) {
            return Err(format!(
                "file starts with box '{}', not a QuickTime atom",
                kind_str(&first.kind)
            ));
        }
    } else if &first.kind != b"ftyp" {
        return Err(format!(
            "file starts with box '{}', expected 'ftyp'",
            kind_str(&first.kind)
        ));
    }
    if let Some(ftyp) = boxes.iter().find(|b| &b.kind == b"ftyp") {
        // major_brand + minor_version at least.
        if ftyp.size < ftyp.header_len + 8 {
            return Err("'ftyp' box is too short".into());
        }
    }
    let moov = boxes
        .iter()
        .find(|b| &b.kind == b"moov")
        .ok_or("file has no 'moov' box")?;
    let children = walk(
        &data,
        moov.start + moov.header_len,
        moov.start + moov.size,
        false,
    )?;
    if !children.iter().any(|c| &c.kind == b"mvhd") {
        return Err("'moov' box has no 'mvhd'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::tiny_mp4;

    fn split(v: &[u8], at: &[usize]) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut prev = 0;
        for &a in at {
            out.push(Bytes::copy_from_slice(&v[prev..a]));
            prev = a;
        }
        out.push(Bytes::copy_from_slice(&v[prev..]));
        out
    }

    #[test]
    fn tiny_mp4_is_valid_whole_and_split() {
        let mp4 = tiny_mp4(1000);
        assert_eq!(validate("video/mp4", &[Bytes::from(mp4.clone())]), Ok(()));
        assert_eq!(
            validate("video/mp4", &split(&mp4, &[3, 9, 30, 200])),
            Ok(())
        );
        assert_eq!(validate("video/quicktime", &split(&mp4, &[17])), Ok(()));
    }

    #[test]
    fn garbage_and_truncation_fail() {
        assert!(validate(
            "video/mp4",
            &[Bytes::from_static(b"hello world, not a video")]
        )
        .is_err());
        let mp4 = tiny_mp4(100);
        assert!(validate(
            "video/mp4",
            &[Bytes::copy_from_slice(&mp4[..mp4.len() - 1])]
        )
        .is_err());
        let mut extra = mp4.clone();
        extra.extend_from_slice(b"xyz");
        assert!(validate("video/mp4", &[Bytes::from(extra)]).is_err());
        assert_eq!(
            validate("video/webm", &[Bytes::from_static(b"anything")]),
            Ok(())
        );
    }
}
