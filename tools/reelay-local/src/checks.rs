//! What the end-to-end tests check about X once an upload is over, written once: the job ended
//! published, X holds exactly the file's bytes, and exactly one post carries them.

use reelay_shared::jobs::{Phase, UploadJob};
use sha2::{Digest, Sha256};

use crate::world::World;

/// Hex SHA-256, as the emulator records assembled media.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The job is published; the media X assembled is `file`, byte for byte; exactly one post carries
/// it (or has the job's text: a second post with other media would be a duplicate too), and it is
/// the one the job recorded.
pub fn assert_published_once(world: &World, job: &UploadJob, file: &[u8]) {
    assert_eq!(
        job.phase,
        Phase::Published,
        "job ended {:?}: {:?}\nhistory: {:#?}",
        job.phase,
        job.error,
        job.history
    );
    let records = world.emulator.admin().records();
    let media_id = job.media_id.as_deref().expect("media id");
    let media = records
        .media
        .iter()
        .find(|m| m.id == media_id)
        .expect("X knows the media");
    assert_eq!(media.received_bytes, file.len() as u64);
    assert_eq!(
        media.sha256.as_deref(),
        Some(sha256_hex(file).as_str()),
        "assembled media differs from the file"
    );
    let carrying: Vec<_> = records
        .tweets
        .iter()
        .filter(|t| t.text == job.text || t.media_ids.iter().any(|m| m == media_id))
        .collect();
    assert_eq!(carrying.len(), 1, "posts carrying the media: {carrying:#?}");
    assert_eq!(job.remote_post_id.as_deref(), Some(carrying[0].id.as_str()));
    assert_eq!(job.processing_percent, Some(100));
}
