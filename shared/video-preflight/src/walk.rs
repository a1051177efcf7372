//! Finds `ftyp` and `moov` among the top-level boxes with a few ranged reads,
//! jumping over `mdat` without reading it (research/mp4-crates.md, "Minimal S3
//! read strategy").

use bytes::{Bytes, BytesMut};

use crate::reader::{RangeReader, ReadError};
use crate::{PreflightError, Rejection};

/// The first read. Holds `ftyp` and, for a faststart file, usually all of
/// `moov`: one GET.
const FIRST_WINDOW: u64 = 64 * 1024;
/// The read at a jump target (after `mdat`). A 150 s clip's moov was 128 KiB,
/// so this usually fetches the header and the whole moov in one GET.
const JUMP_WINDOW: u64 = 256 * 1024;
/// `ftyp` is a brand list; anything bigger is not a real one.
const MAX_FTYP_BYTES: u64 = 4096;
/// Bounds the walk over a hostile file (the research suggests 16; MOVs from
/// editors can carry several `free`/`wide`/`uuid` boxes, so allow more).
const MAX_TOP_LEVEL_BOXES: u32 = 64;

/// Top-level boxes a real MP4/MOV can start with. Anything else at offset 0
/// means the file is not ISO-BMFF at all (text, random bytes, another format).
const FIRST_BOX_TYPES: [&[u8; 4]; 9] = [
    b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"junk",
];

pub(crate) struct Found {
    pub ftyp: Option<Bytes>,
    pub moov: Bytes,
    pub bytes_read: u64,
    pub range_reads: u32,
}

struct Walker<'a> {
    reader: &'a dyn RangeReader,
    size: u64,
    window: Bytes,
    window_start: u64,
    bytes_read: u64,
    range_reads: u32,
}

struct BoxHeader {
    kind: [u8; 4],
    /// Size including the header; `size == 0` ("to end of file") resolved.
    size: u64,
}

pub(crate) async fn find_metadata(
    reader: &dyn RangeReader,
    max_moov_bytes: u64,
) -> Result<Found, PreflightError> {
    let size = reader.size();
    let mut w = Walker {
        reader,
        size,
        window: Bytes::new(),
        window_start: 0,
        bytes_read: 0,
        range_reads: 0,
    };
    w.window = w.fetch(0, FIRST_WINDOW).await?;

    let mut ftyp = None;
    let mut offset = 0u64;
    let mut boxes = 0u32;
    while offset < size {
        boxes += 1;
        if boxes > MAX_TOP_LEVEL_BOXES {
            return Err(Rejection::Malformed {
                detail: format!("more than {MAX_TOP_LEVEL_BOXES} top-level boxes before moov"),
            }
            .into());
        }
        let Some(header) = w.header_at(offset).await? else {
            // Fewer than 8 bytes left: a file shorter than one box header, or
            // a few stray bytes after the last box.
            if offset == 0 {
                return Err(Rejection::NotMp4.into());
            }
            break;
        };
        if offset == 0 && !FIRST_BOX_TYPES.contains(&&header.kind) {
            return Err(Rejection::NotMp4.into());
        }
        let end = offset
            .checked_add(header.size)
            .filter(|&end| end <= size)
            .ok_or_else(|| Rejection::Truncated {
                box_type: fourcc(header.kind),
            })?;
        match &header.kind {
            b"ftyp" if ftyp.is_none() => {
                if header.size > MAX_FTYP_BYTES {
                    return Err(Rejection::Malformed {
                        detail: format!("ftyp box is {} bytes", header.size),
                    }
                    .into());
                }
                ftyp = Some(w.bytes(offset, header.size).await?);
            }
            b"moov" => {
                // Checked before fetching, so a hostile size costs no read.
                if header.size > max_moov_bytes {
                    return Err(Rejection::MoovTooLarge {
                        size_bytes: header.size,
                        max_bytes: max_moov_bytes,
                    }
                    .into());
                }
                let moov = w.bytes(offset, header.size).await?;
                return Ok(Found {
                    ftyp,
                    moov,
                    bytes_read: w.bytes_read,
                    range_reads: w.range_reads,
                });
            }
            // mdat and everything else: skip without reading the body.
            _ => {}
        }
        offset = end;
    }
    Err(if ftyp.is_none() {
        Rejection::NotMp4
    } else {
        Rejection::MissingMoov
    }
    .into())
}

fn fourcc(kind: [u8; 4]) -> String {
    kind.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

impl Walker<'_> {
    /// One ranged read, clamped to the object; a short answer inside the
    /// object means it changed under us, which a retry may fix.
    async fn fetch(&mut self, start: u64, len: u64) -> Result<Bytes, ReadError> {
        let want = len.min(self.size.saturating_sub(start));
        if want == 0 {
            return Ok(Bytes::new());
        }
        let mut got = self.reader.read_range(start, want).await?;
        self.range_reads += 1;
        self.bytes_read += got.len() as u64;
        if (got.len() as u64) < want {
            return Err(ReadError::ShortRead {
                start,
                expected: want,
                got: got.len() as u64,
            });
        }
        // An adapter that over-delivers must not shift later offsets.
        got.truncate(want as usize);
        Ok(got)
    }

    fn window_end(&self) -> u64 {
        self.window_start + self.window.len() as u64
    }

    /// Bytes `start..start+len` if the current window holds them all.
    fn window_slice(&self, start: u64, len: u64) -> Option<Bytes> {
        let end = start.checked_add(len)?;
        if start >= self.window_start && end <= self.window_end() {
            let from = (start - self.window_start) as usize;
            Some(self.window.slice(from..from + len as usize))
        } else {
            None
        }
    }

    /// Up to `len` bytes at `start`, refilling the window at `start` if needed.
    async fn peek(&mut self, start: u64, len: u64) -> Result<Bytes, ReadError> {
        let len = len.min(self.size.saturating_sub(start));
        if let Some(bytes) = self.window_slice(start, len) {
            return Ok(bytes);
        }
        self.window = self.fetch(start, JUMP_WINDOW.max(len)).await?;
        self.window_start = start;
        Ok(self.window.slice(..len as usize))
    }

    /// The header at `offset`, or `None` if fewer than 8 bytes remain.
    async fn header_at(&mut self, offset: u64) -> Result<Option<BoxHeader>, PreflightError> {
        let head = self.peek(offset, 16).await?;
        if head.len() < 8 {
            return Ok(None);
        }
        let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = [head[4], head[5], head[6], head[7]];
        let size = match size32 {
            // "Extends to the end of the file": legal for a last mdat, or a
            // recording that never finished.
            0 => self.size - offset,
            // 64-bit largesize follows the type (ffmpeg uses it for big mdats).
            1 => {
                if head.len() < 16 {
                    return Err(Rejection::Truncated {
                        box_type: fourcc(kind),
                    }
                    .into());
                }
                let large = u64::from_be_bytes(head[8..16].try_into().expect("8 bytes"));
                if large < 16 {
                    return Err(bad_size(offset, kind, large));
                }
                large
            }
            s if s < 8 => return Err(bad_size(offset, kind, s.into())),
            s => s.into(),
        };
        Ok(Some(BoxHeader { kind, size }))
    }

    /// The whole box `start..start+len`, reusing what the window already holds.
    async fn bytes(&mut self, start: u64, len: u64) -> Result<Bytes, ReadError> {
        if let Some(bytes) = self.window_slice(start, len) {
            return Ok(bytes);
        }
        let end = start + len;
        let in_window = start >= self.window_start && start < self.window_end();
        if !in_window {
            return self.fetch(start, len).await;
        }
        // The box starts in the window and runs past it: fetch only the rest.
        let have = self.window.slice((start - self.window_start) as usize..);
        let rest = self
            .fetch(self.window_end(), end - self.window_end())
            .await?;
        let mut joined = BytesMut::with_capacity(len as usize);
        joined.extend_from_slice(&have);
        joined.extend_from_slice(&rest);
        Ok(joined.freeze())
    }
}

fn bad_size(offset: u64, kind: [u8; 4], size: u64) -> PreflightError {
    if offset == 0 {
        return Rejection::NotMp4.into();
    }
    Rejection::Malformed {
        detail: format!(
            "{} box at offset {offset} declares an impossible size {size}",
            fourcc(kind)
        ),
    }
    .into()
}
