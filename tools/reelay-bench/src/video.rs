//! Test videos of any size, streamed into S3 without holding them in memory.
//!
//! The file is what `x_emulator::testing::tiny_mp4` builds: a real one-second H.264 clip that
//! the emulator's processing accepts, then a top-level `free` box of filler sized so that the
//! whole file is exactly the requested size; the filler is the same deterministic pattern (byte
//! `i` is `i % 251`). Its SHA-256 is computed while it is streamed.

use anyhow::{bail, Context as _};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use sha2::{Digest, Sha256};
use x_emulator::testing::{tiny_mp4_head, TINY_MP4_OVERHEAD};

/// S3 multipart part size while generating (S3's minimum is 5 MiB except for the last part).
const PART_BYTES: u64 = 16 * 1024 * 1024;

/// The bytes before the filler, for `filler_len` filler bytes (byte for byte what
/// `tiny_mp4(filler_len)` starts with).
pub fn header(filler_len: u64) -> anyhow::Result<Vec<u8>> {
    // The filler sits in a box with a 32-bit size.
    if filler_len + 8 > u64::from(u32::MAX) {
        bail!("a filler of {filler_len} bytes needs a 64-bit box size");
    }
    Ok(tiny_mp4_head(filler_len as usize))
}

/// Header length, independent of the filler length.
pub fn header_len() -> u64 {
    TINY_MP4_OVERHEAD as u64
}

/// Writes bytes `[offset, offset + len)` of the file whose filler starts at `filler_start` into
/// `out`.
fn fill(out: &mut Vec<u8>, header: &[u8], offset: u64, len: u64) {
    let filler_start = header.len() as u64;
    let end = offset + len;
    let mut at = offset;
    while at < end && at < filler_start {
        out.push(header[at as usize]);
        at += 1;
    }
    while at < end {
        out.push(((at - filler_start) % 251) as u8);
        at += 1;
    }
}

/// The whole file in memory (tests only: compares with `tiny_mp4`).
#[cfg(test)]
fn in_memory(total: u64) -> anyhow::Result<Vec<u8>> {
    let head = header(total - header_len())?;
    let mut out = Vec::with_capacity(total as usize);
    fill(&mut out, &head, 0, total);
    Ok(out)
}

/// Bytes `[start, start + len)` of the `total`-byte video, appended to `out` (tests).
#[cfg(test)]
pub fn fill_range(out: &mut Vec<u8>, total: u64, start: u64, len: u64) -> anyhow::Result<()> {
    let head = header(total - header_len())?;
    fill(out, &head, start, len);
    Ok(())
}

/// A video generated into S3.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Video {
    pub size_mib: u64,
    pub key: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Streams a video of exactly `size_mib` MiB into `bucket/key` with a multipart upload, holding
/// one part in memory at a time.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    size_mib: u64,
) -> anyhow::Result<Video> {
    let total = size_mib * 1024 * 1024;
    let head = header(total - header_len())?;
    let created = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("video/mp4")
        .send()
        .await
        .context("starting the multipart upload")?;
    let upload_id = created
        .upload_id()
        .context("no upload id from S3")?
        .to_owned();
    let mut hasher = Sha256::new();
    let mut parts = Vec::new();
    let mut offset = 0;
    let mut number = 1;
    while offset < total {
        let len = PART_BYTES.min(total - offset);
        let mut buf = Vec::with_capacity(len as usize);
        fill(&mut buf, &head, offset, len);
        hasher.update(&buf);
        let part = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(buf))
            .send()
            .await
            .with_context(|| format!("uploading part {number}"))?;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_owned))
                .build(),
        );
        offset += len;
        number += 1;
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .context("completing the multipart upload")?;
    Ok(Video {
        size_mib,
        key: key.to_owned(),
        bytes: total,
        sha256: hex::encode(hasher.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_file_is_tiny_mp4_with_the_filler_sized_to_the_total() {
        for total in [header_len() + 1, 10_000, 100_000] {
            let expected = x_emulator::testing::tiny_mp4((total - header_len()) as usize);
            let got = in_memory(total).unwrap();
            assert_eq!(got.len() as u64, total);
            assert_eq!(got, expected);
            // The piecewise fill used for parts agrees with the whole.
            let head = header(total - header_len()).unwrap();
            let mut pieces = Vec::new();
            let mut at = 0;
            while at < total {
                let len = 333.min(total - at);
                fill(&mut pieces, &head, at, len);
                at += len;
            }
            assert_eq!(pieces, expected);
        }
    }
}
