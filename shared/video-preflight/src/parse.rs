//! The only module that touches mp4-atom. It turns the `ftyp` and `moov` bytes
//! into plain structs, so an mp4-atom API change (five minors in a few months,
//! research/mp4-crates.md) is contained here.

use mp4_atom::{Codec, Decode, Ftyp, Moov, Trak};

pub(crate) struct Movie {
    pub major_brand: Option<[u8; 4]>,
    /// `mvex` present: samples live in `moof` fragments, not in this moov.
    pub fragmented: bool,
    /// mvhd duration; `None` when unset (0 or all ones).
    pub duration_secs: Option<f64>,
    /// Longest track media duration, the fallback when mvhd has none.
    pub longest_track_secs: Option<f64>,
    pub video: Vec<VideoTrack>,
    pub audio: Vec<AudioTrack>,
}

pub(crate) struct VideoTrack {
    pub enabled: bool,
    /// One per sample description; almost always exactly one.
    pub entries: Vec<VideoEntry>,
    /// Display rotation from the tkhd matrix, clockwise, in degrees.
    pub rotation: u16,
    pub sample_count: u64,
    /// Sum of all stts deltas, in `timescale` units.
    pub total_delta: u64,
    /// Most frames from one key frame to the next (the last GOP runs to the end), from `stss`;
    /// without `stss` every frame is a key frame.
    pub longest_gop: u64,
    pub timescale: u32,
}

pub(crate) struct VideoEntry {
    pub fourcc: String,
    pub codec: VideoCodec,
    /// `pasp` h_spacing:v_spacing, if present.
    pub pasp: Option<(u32, u32)>,
    /// QuickTime `fiel` field count (2 = interlaced), if present.
    pub fields: Option<u8>,
}

pub(crate) enum VideoCodec {
    H264 {
        profile_idc: u8,
        sps: Vec<Vec<u8>>,
        /// avcC high-profile extension: chroma_format, luma/chroma bit depth.
        ext: Option<(u8, u8, u8)>,
    },
    Other {
        name: &'static str,
    },
}

pub(crate) struct AudioTrack {
    pub fourcc: String,
    pub codec: AudioCodec,
    pub entry_sample_rate: u32,
}

pub(crate) enum AudioCodec {
    /// `mp4a`: what is inside depends on the esds objectTypeIndication
    /// (0x40 MPEG-4 audio, 0x6B MP3...).
    Mp4a {
        object_type_indication: u8,
        audio_specific_config: Option<Vec<u8>>,
    },
    Other {
        name: &'static str,
    },
}

/// Decodes the boxes. Errors are mp4-atom's, rendered for the rejection text.
pub(crate) fn parse(ftyp: Option<&[u8]>, moov: &[u8]) -> Result<Movie, String> {
    let major_brand = match ftyp {
        Some(mut bytes) => {
            let ftyp = Ftyp::decode(&mut bytes).map_err(|e| format!("ftyp: {e}"))?;
            Some(ftyp.major_brand.into())
        }
        None => None,
    };
    let mut bytes = moov;
    let moov = Moov::decode(&mut bytes).map_err(|e| format!("moov: {e}"))?;

    let duration_secs = match (moov.mvhd.duration, moov.mvhd.timescale) {
        (0, _) | (_, 0) | (u64::MAX, _) | (0xFFFF_FFFF, _) => None,
        (d, ts) => Some(d as f64 / f64::from(ts)),
    };
    let longest_track_secs = moov
        .trak
        .iter()
        .filter(|t| t.mdia.mdhd.timescale > 0)
        .map(|t| t.mdia.mdhd.duration as f64 / f64::from(t.mdia.mdhd.timescale))
        .fold(None, |acc: Option<f64>, d| {
            Some(acc.map_or(d, |a| a.max(d)))
        });

    let mut video = Vec::new();
    let mut audio = Vec::new();
    for trak in &moov.trak {
        // Only picture and sound count; iPhone `mebx`/`tmcd` tracks and the
        // like are ignored rather than rejected (research gotchas, MOV).
        match &<[u8; 4]>::from(trak.mdia.hdlr.handler) {
            b"vide" => video.push(video_track(trak)),
            b"soun" => audio.extend(audio_entries(trak)),
            _ => {}
        }
    }

    Ok(Movie {
        major_brand,
        fragmented: moov.mvex.is_some(),
        duration_secs,
        longest_track_secs,
        video,
        audio,
    })
}

fn video_track(trak: &Trak) -> VideoTrack {
    let stbl = &trak.mdia.minf.stbl;
    let (mut sample_count, mut total_delta) = (0u64, 0u64);
    for e in &stbl.stts.entries {
        sample_count = sample_count.saturating_add(e.sample_count.into());
        total_delta =
            total_delta.saturating_add(u64::from(e.sample_count) * u64::from(e.sample_delta));
    }
    let longest_gop = match &stbl.stss {
        None => u64::from(sample_count > 0),
        Some(stss) => longest_gop(&stss.entries, sample_count),
    };
    let m = &trak.tkhd.matrix;
    VideoTrack {
        enabled: trak.tkhd.enabled,
        entries: stbl.stsd.codecs.iter().map(video_entry).collect(),
        rotation: rotation(m.a, m.b),
        sample_count,
        total_delta,
        timescale: trak.mdia.mdhd.timescale,
        longest_gop,
    }
}

/// The longest run of frames that starts at a key frame (`sync`: 1-based sample numbers in
/// order) and ends before the next one, the last run ending at `sample_count`. Frames before
/// the first key frame (a file that does not start with one) count as a run of their own.
fn longest_gop(sync: &[u32], sample_count: u64) -> u64 {
    let mut longest = 0;
    let mut start = 1;
    for next in sync.iter().map(|s| u64::from(*s)) {
        if next > start {
            longest = longest.max(next - start);
        }
        start = start.max(next);
    }
    if sample_count >= start {
        longest = longest.max(sample_count - start + 1);
    }
    longest
}

/// Clockwise display rotation from the matrix's first column: (a, b) is where
/// the x axis points after the transform, in y-down screen coordinates.
fn rotation(a: i32, b: i32) -> u16 {
    match (a.signum(), b.signum()) {
        (0, 1) => 90,
        (-1, 0) => 180,
        (0, -1) => 270,
        _ => 0,
    }
}

fn video_entry(codec: &Codec) -> VideoEntry {
    let (fourcc, codec_kind, pasp, fields) = match codec {
        Codec::Avc1(c) => ("avc1", h264(&c.avcc), c.pasp.as_ref(), c.fiel.as_ref()),
        Codec::Avc3(c) => ("avc3", h264(&c.avcc), c.pasp.as_ref(), c.fiel.as_ref()),
        other => {
            let (fourcc, name) = other_video(other);
            return VideoEntry {
                fourcc,
                codec: VideoCodec::Other { name },
                pasp: None,
                fields: None,
            };
        }
    };
    // Size comes from the SPS (cropping applied), not this entry or tkhd.
    VideoEntry {
        fourcc: fourcc.into(),
        codec: codec_kind,
        pasp: pasp.map(|p| (p.h_spacing, p.v_spacing)),
        fields: fields.map(|f| f.field_count),
    }
}

fn h264(avcc: &mp4_atom::Avcc) -> VideoCodec {
    VideoCodec::H264 {
        profile_idc: avcc.avc_profile_indication,
        sps: avcc.sequence_parameter_sets.clone(),
        ext: avcc
            .ext
            .as_ref()
            .map(|e| (e.chroma_format, e.bit_depth_luma, e.bit_depth_chroma)),
    }
}

fn other_video(codec: &Codec) -> (String, &'static str) {
    let (fourcc, name) = match codec {
        Codec::Hvc1(_) => ("hvc1", "HEVC"),
        Codec::Hev1(_) => ("hev1", "HEVC"),
        Codec::Av01(_) => ("av01", "AV1"),
        Codec::Vp09(_) => ("vp09", "VP9"),
        Codec::Vp08(_) => ("vp08", "VP8"),
        Codec::Jpeg(_) => ("jpeg", "Motion JPEG"),
        Codec::Uncv(_) => ("uncv", "uncompressed video"),
        Codec::Unknown(kind, _) => {
            let name = match &<[u8; 4]>::from(*kind) {
                b"mp4v" => "MPEG-4 Part 2",
                b"apch" | b"apcn" | b"apcs" | b"apco" | b"ap4h" | b"ap4x" => "ProRes",
                b"mjpa" | b"mjpb" => "Motion JPEG",
                b"dvh1" | b"dvhe" => "Dolby Vision HEVC",
                b"dva1" | b"dvav" => "Dolby Vision AVC",
                b"s263" | b"h263" => "H.263",
                _ => "an unknown codec",
            };
            return (printable(*kind.as_ref()), name);
        }
        _ => ("?", "a non-video codec"),
    };
    (fourcc.into(), name)
}

fn audio_entries(trak: &Trak) -> Vec<AudioTrack> {
    trak.mdia
        .minf
        .stbl
        .stsd
        .codecs
        .iter()
        .map(|codec| {
            let (fourcc, kind) = match codec {
                Codec::Mp4a(m) => {
                    let dec = &m.esds.es_desc.dec_config;
                    (
                        "mp4a".to_string(),
                        AudioCodec::Mp4a {
                            object_type_indication: dec.object_type_indication,
                            audio_specific_config: dec.dec_specific.as_ref().map(|d| d.raw.clone()),
                        },
                    )
                }
                other => {
                    let (fourcc, name) = other_audio(other);
                    (fourcc, AudioCodec::Other { name })
                }
            };
            let entry = codec.audio();
            AudioTrack {
                fourcc,
                codec: kind,
                entry_sample_rate: entry.map_or(0, |a| a.sample_rate.integer().into()),
            }
        })
        .collect()
}

fn other_audio(codec: &Codec) -> (String, &'static str) {
    let (fourcc, name) = match codec {
        Codec::Mp3(_) => (".mp3", "MP3"),
        Codec::Opus(_) => ("Opus", "Opus"),
        Codec::Flac(_) => ("fLaC", "FLAC"),
        Codec::Ac3(_) => ("ac-3", "AC-3"),
        Codec::Eac3(_) => ("ec-3", "E-AC-3"),
        Codec::Ipcm(_) => ("ipcm", "PCM"),
        Codec::Fpcm(_) => ("fpcm", "PCM"),
        Codec::Sowt(_) => ("sowt", "PCM"),
        Codec::Twos(_) => ("twos", "PCM"),
        Codec::Lpcm(_) => ("lpcm", "PCM"),
        Codec::In24(_) => ("in24", "PCM"),
        Codec::In32(_) => ("in32", "PCM"),
        Codec::Fl32(_) => ("fl32", "PCM"),
        Codec::Fl64(_) => ("fl64", "PCM"),
        Codec::S16l(_) => ("s16l", "PCM"),
        Codec::Samr(_) => ("samr", "AMR"),
        Codec::Unknown(kind, _) => {
            let name = match &<[u8; 4]>::from(*kind) {
                b"alac" => "ALAC",
                b"ulaw" | b"alaw" => "G.711",
                b"ima4" => "IMA ADPCM",
                _ => "an unknown codec",
            };
            return (printable(*kind.as_ref()), name);
        }
        _ => ("?", "a non-audio codec"),
    };
    (fourcc.into(), name)
}

fn printable(kind: [u8; 4]) -> String {
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

#[cfg(test)]
mod tests {
    use super::longest_gop;

    #[test]
    fn gop_lengths_come_from_the_sync_samples() {
        // Key frames at 1, 121, 241 of 300: GOPs of 120, 120, 60.
        assert_eq!(longest_gop(&[1, 121, 241], 300), 120);
        // One key frame: the whole video is one GOP.
        assert_eq!(longest_gop(&[1], 600), 600);
        // The last GOP is the longest.
        assert_eq!(longest_gop(&[1, 11], 700), 690);
        // Frames before the first key frame are a run of their own.
        assert_eq!(longest_gop(&[600], 601), 599);
        // An empty stss: no key frame at all, one run.
        assert_eq!(longest_gop(&[], 50), 50);
    }
}
