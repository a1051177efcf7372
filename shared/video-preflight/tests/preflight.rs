//! End-to-end checks on clips ffmpeg makes at test time, plus synthetic and
//! damaged inputs. One binary on purpose: each test binary links slowly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use video_preflight::{
    inspect, BytesReader, Checked, Container, CountingReader, FileReader, Limits, PreflightError,
    RangeReader, ReadError, Rejection,
};

// ---------------------------------------------------------------- helpers

fn ffmpeg_available() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let ok = Command::new("ffmpeg")
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success());
        // Fail loudly: a skipped media test would pass without checking anything.
        assert!(
            ok,
            "ffmpeg is not installed or not on PATH; these tests generate their videos with it \
             (apt-get install ffmpeg)"
        );
    });
}

fn workdir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("video-preflight");
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

/// Runs ffmpeg with lavfi sources into `name` and returns its path.
fn clip(name: &str, args: &[&str]) -> PathBuf {
    ffmpeg_available();
    let out = workdir().join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .args(["-threads", "1"])
        .arg(&out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg failed making {name}: {args:?}");
    out
}

/// H.264 video (+ optional extra args) from testsrc; tiny and fast.
fn video(name: &str, size: &str, rate: &str, duration: &str, extra: &[&str]) -> PathBuf {
    let src = format!("testsrc=size={size}:rate={rate}:duration={duration}");
    let mut args = vec!["-f", "lavfi", "-i", &src];
    args.extend_from_slice(extra);
    if !extra.contains(&"-c:v") {
        args.extend_from_slice(&["-c:v", "libx264", "-preset", "ultrafast"]);
    }
    if !extra.contains(&"-pix_fmt") {
        args.extend_from_slice(&["-pix_fmt", "yuv420p"]);
    }
    clip(name, &args)
}

/// H.264 + AAC (or the audio codec in `extra`) at 160x120, 30 fps.
fn av(name: &str, duration: &str, extra: &[&str]) -> PathBuf {
    let sine = format!("sine=frequency=440:duration={duration}");
    let mut args = vec!["-f", "lavfi", "-i", &sine];
    args.extend_from_slice(extra);
    if !extra.contains(&"-c:a") {
        args.extend_from_slice(&["-c:a", "aac"]);
    }
    video(name, "160x120", "30", duration, &args)
}

async fn check_file(path: &Path) -> (Result<Checked, PreflightError>, u64, u64) {
    let reader = CountingReader::new(FileReader::open(path).expect("open clip"));
    let result = inspect(&reader, &Limits::default()).await;
    (result, reader.bytes_read(), reader.requests())
}

async fn accepted(path: &Path) -> Checked {
    match check_file(path).await.0 {
        Ok(checked) => checked,
        Err(e) => panic!("{} should pass, got: {e} ({e:?})", path.display()),
    }
}

async fn rejection(path: &Path) -> Rejection {
    rejection_of(check_file(path).await.0, &path.display().to_string())
}

fn rejection_of(result: Result<Checked, PreflightError>, what: &str) -> Rejection {
    match result {
        Err(PreflightError::Rejected(r)) => r,
        other => panic!("{what} should be rejected, got {other:?}"),
    }
}

async fn check_bytes(bytes: impl Into<Bytes>) -> Result<Checked, PreflightError> {
    inspect(&BytesReader(bytes.into()), &Limits::default()).await
}

/// Top-level boxes of a file: (type, offset, size).
fn top_level_boxes(data: &[u8]) -> Vec<([u8; 4], usize, usize)> {
    let mut boxes = Vec::new();
    let mut at = 0;
    while at + 8 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = data[at + 4..at + 8].try_into().unwrap();
        let size = match size {
            0 => data.len() - at,
            1 => u64::from_be_bytes(data[at + 8..at + 16].try_into().unwrap()) as usize,
            s => s,
        };
        boxes.push((kind, at, size));
        at += size;
    }
    boxes
}

fn find_box(data: &[u8], kind: &[u8; 4]) -> (usize, usize) {
    top_level_boxes(data)
        .into_iter()
        .find(|(k, ..)| k == kind)
        .map(|(_, at, size)| (at, size))
        .unwrap_or_else(|| panic!("no {} box", String::from_utf8_lossy(kind)))
}

// ---------------------------------------------------------------- valid videos

#[tokio::test]
async fn h264_aac_mp4_with_moov_at_end_passes() {
    let path = av("valid-moov-end.mp4", "2", &[]);
    let data = std::fs::read(&path).unwrap();
    let (moov_at, _) = find_box(&data, b"moov");
    let (mdat_at, _) = find_box(&data, b"mdat");
    assert!(moov_at > mdat_at, "ffmpeg's default puts moov last");

    let (result, bytes, requests) = check_file(&path).await;
    let checked = result.expect("valid clip passes");
    let f = &checked.facts;
    println!("{f:?}");
    assert_eq!(f.container, Container::Mp4);
    assert_eq!(f.media_type, "video/mp4");
    assert_eq!((f.width, f.height), (160, 120));
    assert_eq!(f.rotation_degrees, 0);
    assert!((f.frame_rate - 30.0).abs() < 0.01, "{}", f.frame_rate);
    assert!((f.duration_secs - 2.0).abs() < 0.1, "{}", f.duration_secs);
    assert!(f.video_codec.starts_with("avc1 "), "{}", f.video_codec);
    let audio = f.audio.as_ref().expect("has audio");
    assert_eq!(audio.codec, "AAC-LC");
    assert_eq!(audio.channels, 1);
    assert_eq!(audio.sample_rate, 44100);
    assert_eq!(audio.object_type, 2);
    assert_eq!(f.size_bytes, data.len() as u64);
    assert_eq!(f.bytes_read, bytes);
    assert_eq!(u64::from(f.range_reads), requests);
    assert_eq!(checked.category.as_str(), "amplify_video");
}

#[tokio::test]
async fn faststart_mp4_passes_in_one_read() {
    let path = av("valid-faststart.mp4", "2", &["-movflags", "+faststart"]);
    let data = std::fs::read(&path).unwrap();
    assert!(find_box(&data, b"moov").0 < find_box(&data, b"mdat").0);
    let (result, _, requests) = check_file(&path).await;
    let checked = result.expect("valid clip passes");
    assert_eq!(requests, 1, "ftyp and moov both sit in the first window");
    assert_eq!(checked.facts.audio.unwrap().codec, "AAC-LC");
}

#[tokio::test]
async fn mov_passes_as_quicktime() {
    let path = av("valid.mov", "1", &[]);
    let f = accepted(&path).await.facts;
    assert_eq!(f.container, Container::Mov);
    assert_eq!(f.media_type, "video/quicktime");
    assert!(f.audio.is_some(), "AAC inside the MOV wave box is found");
}

#[tokio::test]
async fn video_without_audio_passes() {
    let path = video("valid-silent.mp4", "160x120", "25", "1", &["-an"]);
    let f = accepted(&path).await.facts;
    assert_eq!(f.audio, None);
    assert!((f.frame_rate - 25.0).abs() < 0.01);
}

#[tokio::test]
async fn rotated_video_reports_display_dimensions() {
    let plain = video("rot-src.mp4", "160x120", "30", "1", &[]);
    let path = clip(
        "valid-rotated.mp4",
        &[
            "-i",
            plain.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
        ],
    );
    let f = accepted(&path).await.facts;
    assert_eq!((f.width, f.height), (120, 160));
    // ffprobe reports this file as rotation=90, counter-clockwise by its
    // convention (research gotchas): 270 clockwise.
    assert_eq!(f.rotation_degrees, 270);
}

// ---------------------------------------------------------------- X's limits

#[tokio::test]
async fn too_long_is_rejected() {
    // 141 frames at 1 fps: 141 s that encode in a blink.
    let path = video("bad-too-long.mp4", "64x48", "1", "141", &[]);
    let r = rejection(&path).await;
    assert!(matches!(r, Rejection::TooLong { .. }), "{r:?}");
    assert_eq!(r.to_string(), "video is 141.0 s; X allows at most 140 s");
}

#[tokio::test]
async fn too_short_is_rejected() {
    let path = video("bad-too-short.mp4", "160x120", "30", "0.3", &[]);
    let r = rejection(&path).await;
    assert!(matches!(r, Rejection::TooShort { .. }), "{r:?}");
    assert_eq!(r.to_string(), "video is 0.3 s; X requires at least 0.5 s");
}

#[tokio::test]
async fn hevc_is_rejected() {
    let path = video(
        "bad-hevc.mp4",
        "160x120",
        "30",
        "1",
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
            "-tag:v",
            "hvc1",
        ],
    );
    let r = rejection(&path).await;
    assert_eq!(
        r.to_string(),
        "video codec is HEVC (hvc1); X accepts only H.264"
    );
}

#[tokio::test]
async fn mpeg4_part2_is_rejected() {
    let path = video("bad-mp4v.mp4", "160x120", "30", "1", &["-c:v", "mpeg4"]);
    let r = rejection(&path).await;
    assert_eq!(
        r.to_string(),
        "video codec is MPEG-4 Part 2 (mp4v); X accepts only H.264"
    );
}

#[tokio::test]
async fn surround_audio_is_rejected() {
    let path = av("bad-5.1.mp4", "1", &["-ac", "6"]);
    let r = rejection(&path).await;
    assert_eq!(
        r.to_string(),
        "audio has 6 channels (5.1); X accepts mono or stereo AAC-LC"
    );
}

#[tokio::test]
async fn mp3_audio_is_rejected() {
    let path = av("bad-mp3.mp4", "1", &["-c:a", "libmp3lame"]);
    let r = rejection(&path).await;
    assert!(matches!(r, Rejection::AudioCodec { .. }), "{r:?}");
    assert!(r.to_string().starts_with("audio codec is MP3"), "{r}");
}

#[tokio::test]
async fn he_aac_is_rejected() {
    // ffmpeg's native encoder only writes the AOT-5 header (research), which
    // is exactly what the metadata check sees.
    let path = av("bad-he-aac.mp4", "1", &["-profile:a", "aac_he"]);
    let r = rejection(&path).await;
    assert_eq!(
        r.to_string(),
        "audio is HE-AAC (SBR); X accepts only AAC-LC"
    );
}

#[tokio::test]
async fn uhd_dimensions_are_rejected() {
    let path = video("bad-4k.mp4", "3840x2160", "1", "1", &[]);
    let r = rejection(&path).await;
    assert_eq!(r.to_string(), "dimensions 3840x2160 exceed X's 1280x1024");
}

#[tokio::test]
async fn tiny_dimensions_are_rejected() {
    let path = video("bad-tiny.mp4", "16x16", "30", "1", &[]);
    let r = rejection(&path).await;
    assert_eq!(
        r.to_string(),
        "dimensions 16x16 are below X's minimum 32x32"
    );
}

#[tokio::test]
async fn extreme_aspect_ratio_is_rejected() {
    let path = video("bad-aspect.mp4", "400x96", "30", "1", &[]);
    let r = rejection(&path).await;
    assert_eq!(
        r.to_string(),
        "aspect ratio of 400x96 is 4.17:1; X allows 1:3 to 3:1"
    );
}

#[tokio::test]
async fn high_frame_rate_is_rejected() {
    let path = video("bad-120fps.mp4", "160x120", "120", "1", &[]);
    let r = rejection(&path).await;
    assert_eq!(r.to_string(), "frame rate is 120 fps; X allows at most 60");
}

#[tokio::test]
async fn yuv444_is_rejected() {
    let path = video(
        "bad-444.mp4",
        "160x120",
        "30",
        "1",
        &["-pix_fmt", "yuv444p"],
    );
    let r = rejection(&path).await;
    assert_eq!(
        r.to_string(),
        "video pixel format is YUV 4:4:4; X accepts only YUV 4:2:0"
    );
}

#[tokio::test]
async fn ten_bit_is_rejected() {
    let path = video(
        "bad-10bit.mp4",
        "160x120",
        "30",
        "1",
        &["-pix_fmt", "yuv420p10le"],
    );
    let r = rejection(&path).await;
    assert_eq!(
        r.to_string(),
        "video is 10-bit; X accepts only 8-bit YUV 4:2:0"
    );
}

#[tokio::test]
async fn interlaced_is_rejected() {
    let path = video(
        "bad-interlaced.mp4",
        "160x120",
        "30",
        "1",
        &["-flags", "+ildct+ilme", "-x264-params", "tff=1"],
    );
    let r = rejection(&path).await;
    assert_eq!(r, Rejection::Interlaced);
}

#[tokio::test]
async fn non_square_pixels_are_rejected() {
    let path = video("bad-sar.mp4", "160x120", "30", "1", &["-vf", "setsar=4/3"]);
    let r = rejection(&path).await;
    assert_eq!(
        r.to_string(),
        "pixel aspect ratio is 4:3; X requires square pixels (1:1)"
    );
}

#[tokio::test]
async fn fragmented_mp4_is_rejected() {
    let path = av(
        "bad-fragmented.mp4",
        "1",
        &["-movflags", "frag_keyframe+empty_moov"],
    );
    let r = rejection(&path).await;
    assert_eq!(r, Rejection::Fragmented);
}

// ---------------------------------------------------------------- not videos

#[tokio::test]
async fn empty_file_is_rejected_without_reading() {
    let reader = CountingReader::new(BytesReader(Bytes::new()));
    let r = rejection_of(inspect(&reader, &Limits::default()).await, "empty");
    assert_eq!(r.to_string(), "file is empty");
    assert_eq!(reader.requests(), 0);
}

#[tokio::test]
async fn text_and_random_bytes_are_not_videos() {
    let text = b"Hello, this is a text file and certainly not a video.\n".repeat(20);
    let r = rejection_of(check_bytes(text).await, "text");
    assert_eq!(
        r.to_string(),
        "file is not an MP4 or MOV video (no ftyp/moov box)"
    );

    let mut rng = Lcg(7);
    for len in [1usize, 7, 8, 100, 5000] {
        let noise: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let r = rejection_of(check_bytes(noise).await, "noise");
        assert_eq!(r, Rejection::NotMp4, "{len} random bytes");
    }
}

#[tokio::test]
async fn truncated_files_are_rejected() {
    // moov first: cut in its middle.
    let path = av("trunc-src-fast.mp4", "1", &["-movflags", "+faststart"]);
    let data = std::fs::read(&path).unwrap();
    let (at, size) = find_box(&data, b"moov");
    let r = rejection_of(
        check_bytes(data[..at + size / 2].to_vec()).await,
        "cut moov",
    );
    assert_eq!(
        r.to_string(),
        "file is truncated: moov box ends past the end of the file"
    );

    // moov last: cut in its middle, and cut inside mdat (moov lost).
    let path = av("trunc-src-end.mp4", "1", &[]);
    let data = std::fs::read(&path).unwrap();
    let (at, size) = find_box(&data, b"moov");
    let r = rejection_of(
        check_bytes(data[..at + size / 2].to_vec()).await,
        "cut moov",
    );
    assert_eq!(
        r,
        Rejection::Truncated {
            box_type: "moov".into()
        }
    );
    let (mdat_at, mdat_size) = find_box(&data, b"mdat");
    let cut = data[..mdat_at + mdat_size / 2].to_vec();
    let r = rejection_of(check_bytes(cut).await, "cut mdat");
    assert_eq!(
        r,
        Rejection::Truncated {
            box_type: "mdat".into()
        }
    );
}

// ---------------------------------------------------------------- big files

/// A `size`-byte object: `head`, then zeros generated on demand, then
/// `tail`. Never allocates more than one requested range.
struct Synthetic {
    head: Bytes,
    tail: Bytes,
    size: u64,
}

#[async_trait::async_trait]
impl RangeReader for Synthetic {
    fn size(&self) -> u64 {
        self.size
    }

    async fn read_range(&self, start: u64, len: u64) -> Result<Bytes, ReadError> {
        let end = (start + len).min(self.size);
        let tail_at = self.size - self.tail.len() as u64;
        let mut out = BytesMut::with_capacity((end - start) as usize);
        for pos in start..end {
            let byte = if pos < self.head.len() as u64 {
                self.head[pos as usize]
            } else if pos >= tail_at {
                self.tail[(pos - tail_at) as usize]
            } else {
                0
            };
            out.extend_from_slice(&[byte]);
        }
        Ok(out.freeze())
    }
}

/// ftyp, then a 64-bit-size mdat filling all but `moov`, then moov.
fn synthetic_with_moov_at_end(size: u64) -> Synthetic {
    let path = av("big-src.mp4", "2", &[]);
    let data = std::fs::read(&path).unwrap();
    let (ftyp_at, ftyp_size) = find_box(&data, b"ftyp");
    let (moov_at, moov_size) = find_box(&data, b"moov");
    let mut head = data[ftyp_at..ftyp_at + ftyp_size].to_vec();
    let mdat_size = size - head.len() as u64 - moov_size as u64;
    head.extend_from_slice(&1u32.to_be_bytes());
    head.extend_from_slice(b"mdat");
    head.extend_from_slice(&mdat_size.to_be_bytes());
    Synthetic {
        head: head.into(),
        tail: Bytes::copy_from_slice(&data[moov_at..moov_at + moov_size]),
        size,
    }
}

#[tokio::test]
async fn half_gigabyte_file_is_checked_reading_under_one_megabyte() {
    let size = 512 * 1024 * 1024 - 1;
    let reader = CountingReader::new(synthetic_with_moov_at_end(size));
    let checked = inspect(&reader, &Limits::default())
        .await
        .expect("a valid moov behind a huge mdat passes");
    let read = reader.bytes_read();
    println!(
        "512 MiB synthetic file: {read} bytes in {} reads",
        reader.requests()
    );
    assert!(read < 1024 * 1024, "read {read} bytes");
    assert!(reader.requests() <= 3, "{} reads", reader.requests());
    assert_eq!(checked.facts.bytes_read, read);
    assert_eq!(checked.facts.size_bytes, size);
    assert_eq!((checked.facts.width, checked.facts.height), (160, 120));
}

#[tokio::test]
async fn over_512_mib_is_rejected_before_any_read() {
    let reader = CountingReader::new(synthetic_with_moov_at_end(600 * 1024 * 1024));
    let r = rejection_of(inspect(&reader, &Limits::default()).await, "600 MiB");
    assert_eq!(
        r.to_string(),
        "file is 600 MiB (629145600 bytes); X allows at most 512 MiB for amplify_video"
    );
    assert_eq!(reader.requests(), 0);
}

#[tokio::test]
async fn hostile_moov_size_is_refused_before_fetching() {
    let mut data = b"\0\0\0\x10ftypisom\0\0\0\0".to_vec();
    data.extend_from_slice(&1u32.to_be_bytes());
    data.extend_from_slice(b"moov");
    data.extend_from_slice(&(200u64 * 1024 * 1024).to_be_bytes());
    let reader = CountingReader::new(Synthetic {
        head: data.into(),
        tail: Bytes::new(),
        size: 300 * 1024 * 1024,
    });
    let r = rejection_of(inspect(&reader, &Limits::default()).await, "huge moov");
    assert!(matches!(r, Rejection::MoovTooLarge { .. }), "{r:?}");
    assert!(reader.bytes_read() <= 64 * 1024);
}

// ---------------------------------------------------------------- hostile input

/// Small deterministic PRNG so failures reproduce.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Offsets of every box header inside moov (type bytes all ASCII letters).
fn nested_box_offsets(data: &[u8], from: usize, to: usize) -> Vec<usize> {
    (from..to.saturating_sub(8))
        .filter(|&i| data[i + 4..i + 8].iter().all(|b| b.is_ascii_alphanumeric()))
        .filter(|&i| {
            let size = u32::from_be_bytes(data[i..i + 4].try_into().unwrap()) as usize;
            size >= 8 && i + size <= to
        })
        .collect()
}

#[tokio::test]
async fn damaged_inputs_never_panic() {
    let fast = std::fs::read(av("dmg-src.mp4", "1", &["-movflags", "+faststart"])).unwrap();
    let mov = std::fs::read(av("dmg-src.mov", "1", &[])).unwrap();
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for data in [&fast, &mov] {
        let (at, size) = find_box(data, b"moov");
        let (moov_from, moov_to) = (at, at + size);
        // Truncations through the header region.
        for cut in (0..moov_to.min(data.len())).step_by(53) {
            inputs.push(data[..cut].to_vec());
        }
        // Random byte edits inside moov.
        let mut rng = Lcg(size as u64);
        for _ in 0..400 {
            let mut d = data.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = moov_from + (rng.next() as usize % size);
                d[i] = rng.next() as u8;
            }
            inputs.push(d);
        }
        // Forced sizes on every nested box header: 0, 1 (bogus largesize),
        // tiny, huge.
        for i in nested_box_offsets(data, moov_from + 8, moov_to) {
            for forced in [0u32, 1, 7, 9, 0x7FFF_FFFF, u32::MAX] {
                let mut d = data.clone();
                d[i..i + 4].copy_from_slice(&forced.to_be_bytes());
                inputs.push(d);
            }
            // Huge entry counts right after a full box's version/flags.
            let mut d = data.clone();
            if i + 16 <= moov_to {
                d[i + 12..i + 16].copy_from_slice(&u32::MAX.to_be_bytes());
                inputs.push(d);
            }
        }
    }
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for (n, input) in inputs.iter().enumerate() {
        let result = check_bytes(input.clone()).await;
        let key = match &result {
            Ok(_) => "passed".to_string(),
            Err(PreflightError::Rejected(r)) => r.code().to_string(),
            Err(PreflightError::Read(e)) => panic!("input {n}: in-memory reads cannot fail: {e}"),
        };
        if let Err(PreflightError::Rejected(Rejection::Malformed { detail })) = &result {
            assert!(
                !detail.contains("parser failed"),
                "input {n}: a parser panicked (caught): {detail}"
            );
        }
        *outcomes.entry(key).or_default() += 1;
    }
    println!("{} damaged inputs: {outcomes:?}", inputs.len());
    assert!(inputs.len() > 1000);
}

// ---------------------------------------------------------------- box walking

fn ftyp_and_moov() -> (Vec<u8>, Vec<u8>) {
    let data = std::fs::read(av("walk-src.mp4", "1", &[])).unwrap();
    let (fa, fs) = find_box(&data, b"ftyp");
    let (ma, ms) = find_box(&data, b"moov");
    (data[fa..fa + fs].to_vec(), data[ma..ma + ms].to_vec())
}

#[tokio::test]
async fn size_zero_last_box_and_free_boxes_are_walked() {
    let (ftyp, moov) = ftyp_and_moov();
    // ftyp, free, moov, then an mdat that "extends to the end of the file".
    let mut data = ftyp.clone();
    data.extend_from_slice(b"\0\0\0\x10free12345678");
    data.extend_from_slice(&moov);
    data.extend_from_slice(b"\0\0\0\0mdat");
    data.extend_from_slice(&[0u8; 1000]);
    check_bytes(data).await.expect("passes");

    // moov starting in the first 64 KiB window and running past it: only
    // the rest is fetched, in one more read.
    let mut data = ftyp.clone();
    let pad = 64 * 1024 - data.len() - 100;
    data.extend_from_slice(&(pad as u32).to_be_bytes());
    data.extend_from_slice(b"free");
    data.resize(data.len() + pad - 8, 0);
    data.extend_from_slice(&moov);
    let reader = CountingReader::new(BytesReader(data.into()));
    inspect(&reader, &Limits::default()).await.expect("passes");
    assert_eq!(reader.requests(), 2);

    // The same mdat before moov swallows the rest: no moov to find.
    let mut data = ftyp.clone();
    data.extend_from_slice(b"\0\0\0\0mdat");
    data.extend_from_slice(&moov);
    let r = rejection_of(check_bytes(data).await, "size-0 mdat first");
    assert_eq!(r, Rejection::MissingMoov);

    // Endless padding boxes are cut off instead of walked one GET at a time.
    let mut data = ftyp;
    for _ in 0..100 {
        data.extend_from_slice(b"\0\0\0\x08free");
    }
    data.extend_from_slice(&moov);
    let r = rejection_of(check_bytes(data).await, "many boxes");
    assert_eq!(r.code(), "malformed");
}

/// Fails every read, or returns short reads, as a flaky S3 would.
struct Flaky {
    size: u64,
    short: bool,
}

#[async_trait::async_trait]
impl RangeReader for Flaky {
    fn size(&self) -> u64 {
        self.size
    }

    async fn read_range(&self, _start: u64, len: u64) -> Result<Bytes, ReadError> {
        if self.short {
            return Ok(Bytes::from(vec![0u8; (len / 2) as usize]));
        }
        Err(ReadError::Backend("connection reset".into()))
    }
}

#[tokio::test]
async fn read_failures_are_retryable_not_rejections() {
    for short in [false, true] {
        let err = inspect(
            &Flaky {
                size: 10_000,
                short,
            },
            &Limits::default(),
        )
        .await
        .expect_err("cannot pass");
        assert!(err.is_retryable(), "{err:?}");
        assert!(matches!(err, PreflightError::Read(_)), "{err:?}");
    }
}

#[test]
fn inspect_future_is_send() {
    // Handlers spawn it on a multi-threaded runtime.
    fn assert_send<T: Send>(_: &T) {}
    let reader = BytesReader(Bytes::new());
    let limits = Limits::default();
    let future = inspect(&reader, &limits);
    assert_send(&future);
}
