//! X's rules applied to the parsed metadata, in the order a user would want to
//! hear them: what the file is, then the picture, then timing, then sound.

use h264_reader::nal::sps::{ChromaFormat, FrameMbsFlags, SeqParameterSet};
use h264_reader::nal::{Nal, RefNal, UnitType};

use crate::parse::{AudioCodec, AudioTrack, Movie, VideoCodec, VideoEntry, VideoTrack};
use crate::{aac, AudioFacts, Container, Limits, Rejection};

/// Frame-rate slack for timescales that do not divide evenly (60 fps at
/// timescale 1000 is deltas of 17, 17, 16...), so 60.004 is still 60.
const FPS_TOLERANCE: f64 = 1.001;

pub(crate) struct Verdict {
    pub container: Container,
    pub duration_secs: f64,
    pub width: u32,
    pub height: u32,
    pub rotation_degrees: u16,
    pub frame_rate: f64,
    pub video_codec: String,
    pub audio: Option<AudioFacts>,
}

pub(crate) fn evaluate(movie: &Movie, limits: &Limits) -> Result<Verdict, Rejection> {
    let container = match movie.major_brand {
        Some(brand) if &brand != b"qt  " => Container::Mp4,
        _ => Container::Mov,
    };
    // Fragmented files keep their samples in moof boxes: mvhd duration is 0
    // and stts is empty, so duration and fps would need a scan of every
    // fragment (research gotchas). Refuse rather than guess.
    if movie.fragmented {
        return Err(Rejection::Fragmented);
    }

    // The first enabled video track is the one players (and X) show.
    let track = movie
        .video
        .iter()
        .find(|t| t.enabled)
        .or_else(|| movie.video.first())
        .ok_or(Rejection::NoVideoTrack)?;
    let first = track.entries.first().ok_or_else(|| Rejection::Malformed {
        detail: "the video track has no sample description".into(),
    })?;
    let mut picture = None;
    for entry in &track.entries {
        let p = check_h264(entry, limits)?;
        picture.get_or_insert(p);
    }
    let picture = picture.expect("at least one entry was checked");

    let (width, height) = if track.rotation % 180 == 90 {
        (picture.height, picture.width)
    } else {
        (picture.width, picture.height)
    };
    check_dimensions(width, height, limits)?;
    if limits.require_square_pixels {
        if let Some((h, v)) = first.pasp.or(picture.sar) {
            if h != v && h != 0 && v != 0 {
                return Err(Rejection::PixelAspect {
                    h_spacing: h,
                    v_spacing: v,
                });
            }
        }
    }

    let frame_rate = frame_rate(track)?;
    if frame_rate > limits.max_frame_rate * FPS_TOLERANCE {
        return Err(Rejection::FrameRate {
            fps: frame_rate,
            max_fps: limits.max_frame_rate,
        });
    }

    if track.longest_gop > limits.max_gop_frames {
        return Err(Rejection::GopTooLong {
            frames: track.longest_gop,
            max_frames: limits.max_gop_frames,
        });
    }

    // mvhd already applies edit lists (e.g. AAC priming trimmed), so it is
    // what players and ffprobe call the duration.
    let duration_secs = movie
        .duration_secs
        .or(movie.longest_track_secs)
        .ok_or_else(|| Rejection::Unverifiable {
            what: "the metadata holds no duration".into(),
        })?;
    if duration_secs > limits.max_duration_secs {
        return Err(Rejection::TooLong {
            secs: duration_secs,
            max_secs: limits.max_duration_secs,
        });
    }
    if duration_secs < limits.min_duration_secs {
        return Err(Rejection::TooShort {
            secs: duration_secs,
            min_secs: limits.min_duration_secs,
        });
    }

    // Every sound track must pass: X rejects the file, not the track.
    let mut audio = None;
    for entry in &movie.audio {
        let facts = check_audio(entry)?;
        audio.get_or_insert(facts);
    }

    Ok(Verdict {
        container,
        duration_secs,
        width,
        height,
        rotation_degrees: track.rotation,
        frame_rate,
        video_codec: format!("{} {}", first.fourcc, profile_name(picture.profile_idc)),
        audio,
    })
}

struct Picture {
    profile_idc: u8,
    width: u32,
    height: u32,
    /// VUI sample aspect ratio, if signalled.
    sar: Option<(u32, u32)>,
}

fn check_h264(entry: &VideoEntry, limits: &Limits) -> Result<Picture, Rejection> {
    let VideoCodec::H264 {
        profile_idc,
        sps,
        ext,
    } = &entry.codec
    else {
        let VideoCodec::Other { name } = &entry.codec else {
            unreachable!("two variants")
        };
        return Err(Rejection::VideoCodec {
            name: (*name).into(),
            fourcc: entry.fourcc.clone(),
        });
    };

    // The SPS is authoritative for chroma and bit depth: profile_idc alone
    // misses 4:0:0 under High, and Baseline avcC has no extension (research).
    if !sps.iter().any(|s| !s.is_empty()) {
        return Err(Rejection::Unverifiable {
            what: format!(
                "the H.264 parameters (SPS) are not in the {} metadata",
                entry.fourcc
            ),
        });
    }
    let mut picture = None;
    for (i, raw) in sps.iter().filter(|s| !s.is_empty()).enumerate() {
        let sps = parse_sps(raw)?;
        let chroma = sps.chroma_info.chroma_format;
        let format = match chroma {
            ChromaFormat::YUV420 => None,
            ChromaFormat::Monochrome => Some("4:0:0 (monochrome)".to_string()),
            ChromaFormat::YUV422 => Some("YUV 4:2:2".into()),
            ChromaFormat::YUV444 => Some("YUV 4:4:4".into()),
            ChromaFormat::Invalid(n) => {
                return Err(Rejection::Malformed {
                    detail: format!("H.264 chroma_format_idc {n} is invalid"),
                })
            }
        };
        if let Some(format) = format {
            return Err(Rejection::ChromaFormat { format });
        }
        let depth = sps
            .chroma_info
            .bit_depth_luma_minus8
            .max(sps.chroma_info.bit_depth_chroma_minus8);
        if depth != 0 {
            return Err(Rejection::BitDepth {
                bits: 8u8.saturating_add(depth),
            });
        }
        if limits.require_progressive && matches!(sps.frame_mbs_flags, FrameMbsFlags::Fields { .. })
        {
            return Err(Rejection::Interlaced);
        }
        if i == 0 {
            let (width, height) = sps.pixel_dimensions().map_err(|e| Rejection::Malformed {
                detail: format!("H.264 SPS size: {e:?}"),
            })?;
            let sar = sps
                .vui_parameters
                .as_ref()
                .and_then(|v| v.aspect_ratio_info.as_ref())
                .and_then(|a| a.get())
                .map(|(h, v)| (u32::from(h), u32::from(v)));
            picture = Some(Picture {
                profile_idc: sps.profile_idc.into(),
                width,
                height,
                sar,
            });
        }
    }
    // The avcC extension is a second opinion; it only adds rejections.
    if let Some((chroma, luma, chroma_depth)) = *ext {
        if chroma != 1 {
            return Err(Rejection::ChromaFormat {
                format: match chroma {
                    0 => "4:0:0 (monochrome)".into(),
                    2 => "YUV 4:2:2".into(),
                    3 => "YUV 4:4:4".into(),
                    n => format!("chroma format {n}"),
                },
            });
        }
        let depth = luma.max(chroma_depth);
        if depth != 8 {
            return Err(Rejection::BitDepth { bits: depth });
        }
    }
    if limits.require_progressive && entry.fields == Some(2) {
        return Err(Rejection::Interlaced);
    }
    let mut picture = picture.expect("the first SPS was parsed");
    if picture.profile_idc == 0 {
        picture.profile_idc = *profile_idc;
    }
    Ok(picture)
}

fn parse_sps(raw: &[u8]) -> Result<SeqParameterSet, Rejection> {
    let nal = RefNal::new(raw, &[], true);
    let is_sps = nal
        .header()
        .is_ok_and(|h| h.nal_unit_type() == UnitType::SeqParameterSet);
    if !is_sps {
        return Err(Rejection::Malformed {
            detail: "the avcC SPS entry is not an SPS".into(),
        });
    }
    SeqParameterSet::from_bits(nal.rbsp_bits()).map_err(|e| Rejection::Malformed {
        detail: format!("H.264 SPS could not be parsed ({e:?})"),
    })
}

fn check_dimensions(width: u32, height: u32, limits: &Limits) -> Result<(), Rejection> {
    let (w, h, max_w, max_h, min_w, min_h) = if limits.either_orientation {
        // Compare long side with long side, short with short.
        (
            width.max(height),
            width.min(height),
            limits.max_width.max(limits.max_height),
            limits.max_width.min(limits.max_height),
            limits.min_width.max(limits.min_height),
            limits.min_width.min(limits.min_height),
        )
    } else {
        (
            width,
            height,
            limits.max_width,
            limits.max_height,
            limits.min_width,
            limits.min_height,
        )
    };
    if w > max_w || h > max_h {
        return Err(Rejection::DimensionsTooLarge {
            width,
            height,
            max_width: limits.max_width,
            max_height: limits.max_height,
        });
    }
    if w < min_w || h < min_h {
        return Err(Rejection::DimensionsTooSmall {
            width,
            height,
            min_width: limits.min_width,
            min_height: limits.min_height,
        });
    }
    let (long, short) = (width.max(height), width.min(height));
    if f64::from(long) > f64::from(short) * limits.max_aspect_ratio {
        return Err(Rejection::AspectRatio {
            width,
            height,
            max_ratio: limits.max_aspect_ratio,
        });
    }
    Ok(())
}

/// Average rate from stts. Variable-rate phone video can dip below a delta
/// now and then; the average is what X's "≤ 60 fps" is checked against here.
fn frame_rate(track: &VideoTrack) -> Result<f64, Rejection> {
    if track.sample_count == 0 || track.total_delta == 0 || track.timescale == 0 {
        return Err(Rejection::Unverifiable {
            what: "the video track has no frame timing (empty stts)".into(),
        });
    }
    Ok(track.sample_count as f64 * f64::from(track.timescale) / track.total_delta as f64)
}

fn check_audio(track: &AudioTrack) -> Result<AudioFacts, Rejection> {
    let (oti, asc) = match &track.codec {
        AudioCodec::Mp4a {
            object_type_indication,
            audio_specific_config,
        } => (*object_type_indication, audio_specific_config.as_deref()),
        AudioCodec::Other { name } => {
            return Err(Rejection::AudioCodec {
                name: (*name).into(),
                fourcc: track.fourcc.clone(),
            })
        }
    };
    // "mp4a" alone is not AAC: MP3 in MP4 uses it too, with OTI 0x6B
    // (research gotchas). 0x40 is MPEG-4 audio; 0x67 is MPEG-2 AAC-LC, the
    // same bitstream X asks for.
    match oti {
        0x40 | 0x67 => {}
        0x66 => {
            return Err(Rejection::AudioProfile {
                profile: "MPEG-2 AAC Main".into(),
            })
        }
        0x68 => {
            return Err(Rejection::AudioProfile {
                profile: "MPEG-2 AAC SSR".into(),
            })
        }
        0x69 | 0x6B => {
            return Err(Rejection::AudioCodec {
                name: "MP3".into(),
                fourcc: track.fourcc.clone(),
            })
        }
        n => {
            return Err(Rejection::AudioCodec {
                name: format!("MPEG-4 systems object type 0x{n:02X}"),
                fourcc: track.fourcc.clone(),
            })
        }
    }
    let Some(raw) = asc else {
        return Err(Rejection::Unverifiable {
            what: "the AAC track has no AudioSpecificConfig".into(),
        });
    };
    let config = aac::parse(raw).ok_or_else(|| Rejection::Malformed {
        detail: "the AAC AudioSpecificConfig is cut short".into(),
    })?;
    if !config.is_lc() {
        return Err(Rejection::AudioProfile {
            profile: config.profile_name(),
        });
    }
    // Channels from the AAC config: ffmpeg writes 2 in the sample entry even
    // for 5.1, so a check that trusts the entry lets 5.1 through.
    let Some((channels, layout)) = config.channels() else {
        return Err(Rejection::Unverifiable {
            what: format!(
                "the AAC channel layout (configuration {}) is not a standard one",
                config.channel_configuration
            ),
        });
    };
    if channels > 2 {
        return Err(Rejection::AudioChannels {
            channels,
            layout: layout.into(),
        });
    }
    Ok(AudioFacts {
        codec: "AAC-LC".into(),
        channels,
        sample_rate: config.sample_rate.unwrap_or(track.entry_sample_rate),
        object_type: config.object_type,
    })
}

fn profile_name(profile_idc: u8) -> String {
    match profile_idc {
        66 => "Baseline".into(),
        77 => "Main".into(),
        88 => "Extended".into(),
        100 => "High".into(),
        110 => "High 10".into(),
        122 => "High 4:2:2".into(),
        244 => "High 4:4:4 Predictive".into(),
        44 => "CAVLC 4:4:4 Intra".into(),
        118 => "Multiview High".into(),
        128 => "Stereo High".into(),
        n => format!("profile {n}"),
    }
}
