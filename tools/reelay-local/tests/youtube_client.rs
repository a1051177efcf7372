//! Reelay's YouTube client (`reelay_shared::platforms::youtube`) against the YouTube emulator:
//! the resumable upload byte for byte, every answer a session can give (a shorter `Range`, a lost
//! answer after the chunk was stored, an expired session), the quota and upload-limit refusals,
//! a refused token, and the processing poll to each of its ends.
//!
//! The upload loop below is the resume rule the engine follows (docs/research/youtube.md §2):
//! send from the offset the server confirmed; after any failure, ask the session first.

use bytes::Bytes;
use reelay_shared::http_client::build_http_client;
use reelay_shared::platforms::youtube::quota::next_quota_reset_ms;
use reelay_shared::platforms::youtube::upload::{processing_verdict, ProcessingVerdict};
use reelay_shared::platforms::youtube::{
    Privacy, SessionState, UploadStatus, VideoMetadata, YouTubeClient, YouTubeError,
    YouTubeFailure, YouTubeOptions, CHUNK_MULTIPLE,
};
use reelay_shared::secret::Secret;
use sha2::{Digest, Sha256};
use std::time::Duration;
use url::Url;
use youtube_emulator::{Emulator, EmulatorConfig, FaultKind, FaultSpec, Phase, ProcessingOutcome};

const CHANNEL: &str = "UCreelayTestChannel00001";

struct Env {
    emu: Emulator,
    client: YouTubeClient,
    token: Secret,
}

async fn env_with(config: EmulatorConfig) -> Env {
    let emu = Emulator::spawn(config).await.expect("the YouTube emulator");
    let token = Secret::new(emu.admin().issue_token(CHANNEL));
    let http = build_http_client(Duration::from_secs(10)).unwrap();
    let client = YouTubeClient::new(http, Url::parse(emu.base_url()).unwrap());
    Env { emu, client, token }
}

async fn env() -> Env {
    env_with(EmulatorConfig::default()).await
}

fn video(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn metadata() -> VideoMetadata {
    VideoMetadata::for_post(
        "Sunset over the bay\nshot on a phone",
        &YouTubeOptions {
            privacy: Privacy::Unlisted,
            ..Default::default()
        },
    )
    .unwrap()
}

fn fault(endpoint: &str, kind: FaultKind, phase: Phase, count: u32) -> FaultSpec {
    FaultSpec {
        endpoint: endpoint.into(),
        kind,
        count: Some(count),
        phase,
    }
}

/// What one upload took: the video, and how many chunk bytes were sent in all.
struct Uploaded {
    video_id: String,
    bytes_sent: u64,
    queries: u32,
}

impl Env {
    async fn start(&self, total: u64) -> Result<Url, YouTubeError> {
        self.client
            .start_session(&self.token, total, "video/mp4", &metadata())
            .await
    }

    /// Sends `data` through `session` in `chunk`-byte chunks, resuming from the server's offset
    /// and asking the session after every failure; gives up on a failure that is not transient.
    async fn upload(
        &self,
        session: &Url,
        data: &[u8],
        chunk: u64,
    ) -> Result<Uploaded, YouTubeError> {
        let total = data.len() as u64;
        let (mut held, mut bytes_sent, mut queries) = (0u64, 0u64, 0u32);
        for _ in 0..1000 {
            let end = (held + chunk).min(total);
            let sent = Bytes::copy_from_slice(&data[held as usize..end as usize]);
            bytes_sent += sent.len() as u64;
            let answer = match self.client.send_chunk(session, held, sent, total).await {
                Err(e) if e.classify(0) == YouTubeFailure::Transient => {
                    queries += 1;
                    self.client.query(session, total).await?
                }
                other => other?,
            };
            match answer {
                SessionState::Holding { bytes_held } => held = bytes_held,
                SessionState::Complete { video_id } => {
                    return Ok(Uploaded {
                        video_id,
                        bytes_sent,
                        queries,
                    })
                }
            }
        }
        panic!("the upload did not finish in 1000 chunks");
    }
}

#[tokio::test]
async fn a_video_goes_up_in_chunks_byte_for_byte_and_is_processed() {
    let env = env().await;
    // Three full chunks and a short last one.
    let data = video(3 * CHUNK_MULTIPLE as usize + 1234);
    let session = env.start(data.len() as u64).await.unwrap();
    let done = env.upload(&session, &data, CHUNK_MULTIPLE).await.unwrap();
    assert_eq!(done.bytes_sent, data.len() as u64, "no byte sent twice");

    let records = env.emu.admin().records();
    assert_eq!(records.uploads.len(), 1);
    let upload = &records.uploads[0];
    assert_eq!(upload.sha256.as_deref(), Some(sha256(&data).as_str()));
    assert_eq!(upload.video_id.as_deref(), Some(done.video_id.as_str()));
    assert_eq!(upload.metadata["snippet"]["title"], "Sunset over the bay");
    assert_eq!(upload.metadata["status"]["privacyStatus"], "unlisted");
    assert_eq!(upload.metadata["status"]["selfDeclaredMadeForKids"], false);

    // The default config keeps a video processing for two polls, then it succeeds.
    let first = env
        .client
        .video_state(&env.token, &done.video_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.upload_status, UploadStatus::Uploaded);
    assert_eq!(first.processing_status.as_deref(), Some("processing"));
    assert!(first.progress_percent.is_some(), "{first:?}");
    assert!(
        matches!(
            processing_verdict(Some(&first)),
            ProcessingVerdict::Wait { .. }
        ),
        "{first:?}"
    );
    env.client
        .video_state(&env.token, &done.video_id)
        .await
        .unwrap();
    let last = env
        .client
        .video_state(&env.token, &done.video_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.upload_status, UploadStatus::Processed);
    assert_eq!(
        processing_verdict(Some(&last)),
        ProcessingVerdict::Published
    );

    // Another channel's token does not see the video.
    let stranger = Secret::new(env.emu.admin().issue_token("UCsomeoneElse000000000001"));
    assert_eq!(
        env.client
            .video_state(&stranger, &done.video_id)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_shorter_range_than_sent_resumes_from_the_servers_offset() {
    let env = env().await;
    env.emu
        .admin()
        .add_fault(fault("chunk", FaultKind::ShortRange, Phase::Before, 1))
        .unwrap();
    let data = video(4 * CHUNK_MULTIPLE as usize);
    let session = env.start(data.len() as u64).await.unwrap();
    // Chunks of two multiples: the server keeps one of the first, so one multiple goes twice.
    let done = env
        .upload(&session, &data, 2 * CHUNK_MULTIPLE)
        .await
        .unwrap();
    assert_eq!(done.bytes_sent, data.len() as u64 + CHUNK_MULTIPLE);
    let upload = &env.emu.admin().records().uploads[0];
    assert_eq!(upload.sha256.as_deref(), Some(sha256(&data).as_str()));
    assert_eq!(upload.chunks[0].stored, CHUNK_MULTIPLE, "the fault fired");
}

#[tokio::test]
async fn a_lost_answer_after_the_chunk_was_stored_is_asked_about_not_resent() {
    let env = env().await;
    env.emu
        .admin()
        .add_fault(fault(
            "chunk",
            FaultKind::Fail { status: 503 },
            Phase::After,
            1,
        ))
        .unwrap();
    let data = video(3 * CHUNK_MULTIPLE as usize);
    let session = env.start(data.len() as u64).await.unwrap();
    let done = env.upload(&session, &data, CHUNK_MULTIPLE).await.unwrap();
    assert_eq!(done.queries, 1, "the 503 was followed by a status query");
    assert_eq!(
        done.bytes_sent,
        data.len() as u64,
        "the stored chunk was not sent again"
    );
    let records = env.emu.admin().records();
    assert_eq!(records.uploads[0].status_queries, 1);
    assert_eq!(
        records.uploads[0].sha256.as_deref(),
        Some(sha256(&data).as_str())
    );
}

#[tokio::test]
async fn a_dropped_connection_after_the_chunk_was_stored_is_asked_about_not_resent() {
    let env = env().await;
    env.emu
        .admin()
        .add_fault(fault("chunk", FaultKind::Drop, Phase::After, 1))
        .unwrap();
    let data = video(3 * CHUNK_MULTIPLE as usize);
    let session = env.start(data.len() as u64).await.unwrap();
    // The first chunk's connection closes with no answer, after the chunk was stored.
    let done = env.upload(&session, &data, CHUNK_MULTIPLE).await.unwrap();
    assert_eq!(
        done.queries, 1,
        "the dropped connection was followed by a status query"
    );
    assert_eq!(
        done.bytes_sent,
        data.len() as u64,
        "the stored chunk was not sent again"
    );
    let upload = &env.emu.admin().records().uploads[0];
    assert_eq!(upload.sha256.as_deref(), Some(sha256(&data).as_str()));
    assert_eq!(
        upload.chunks[0].stored, CHUNK_MULTIPLE,
        "the chunk was stored before the drop"
    );
    assert_eq!(upload.video_id.as_deref(), Some(done.video_id.as_str()));
}

#[tokio::test]
async fn a_dropped_connection_reads_as_transient_with_no_status() {
    let env = env().await;
    env.emu
        .admin()
        .add_fault(fault("start", FaultKind::Drop, Phase::Before, 1))
        .unwrap();
    let error = env.start(1000).await.unwrap_err();
    assert!(matches!(error, YouTubeError::Network(_)), "{error:?}");
    assert_eq!(error.classify(0), YouTubeFailure::Transient);
    assert!(
        env.emu.admin().records().uploads.is_empty(),
        "no session before the drop"
    );
    env.start(1000).await.expect("the next start works");
}

#[tokio::test]
async fn a_failure_before_the_chunk_was_stored_sends_it_again_after_asking() {
    let env = env().await;
    env.emu
        .admin()
        .add_fault(fault(
            "chunk",
            FaultKind::Fail { status: 500 },
            Phase::Before,
            1,
        ))
        .unwrap();
    let data = video(2 * CHUNK_MULTIPLE as usize + 10);
    let session = env.start(data.len() as u64).await.unwrap();
    let done = env.upload(&session, &data, CHUNK_MULTIPLE).await.unwrap();
    assert_eq!(done.bytes_sent, data.len() as u64 + CHUNK_MULTIPLE);
    let upload = &env.emu.admin().records().uploads[0];
    assert_eq!(upload.sha256.as_deref(), Some(sha256(&data).as_str()));
}

#[tokio::test]
async fn an_expired_session_says_so_and_a_new_one_starts_over() {
    let env = env().await;
    let data = video(2 * CHUNK_MULTIPLE as usize);
    let total = data.len() as u64;
    let first = env.start(total).await.unwrap();
    let answer = env
        .client
        .send_chunk(
            &first,
            0,
            Bytes::copy_from_slice(&data[..CHUNK_MULTIPLE as usize]),
            total,
        )
        .await
        .unwrap();
    assert_eq!(
        answer,
        SessionState::Holding {
            bytes_held: CHUNK_MULTIPLE
        }
    );
    env.emu
        .admin()
        .add_fault(fault(
            "status_query",
            FaultKind::ExpireSession,
            Phase::Before,
            1,
        ))
        .unwrap();
    let gone = env.client.query(&first, total).await.unwrap_err();
    assert_eq!(gone, YouTubeError::SessionGone { status: 404 });
    assert_eq!(gone.classify(0), YouTubeFailure::SessionGone);

    let second = env.start(total).await.unwrap();
    assert_ne!(first, second);
    env.upload(&second, &data, CHUNK_MULTIPLE).await.unwrap();
    let records = env.emu.admin().records();
    let complete: Vec<_> = records
        .uploads
        .iter()
        .filter(|u| u.video_id.is_some())
        .collect();
    assert_eq!(complete.len(), 1, "exactly one video");
    assert_eq!(complete[0].sha256.as_deref(), Some(sha256(&data).as_str()));
}

#[tokio::test]
async fn quota_exceeded_waits_until_midnight_pacific_time() {
    let env = env().await;
    env.emu
        .admin()
        .add_fault(fault("start", FaultKind::QuotaExceeded, Phase::Before, 1))
        .unwrap();
    let error = env.start(1000).await.unwrap_err();
    assert!(
        matches!(&error, YouTubeError::Api { status: 403, reason: Some(r), .. } if r == "quotaExceeded"),
        "{error:?}"
    );
    // 2026-12-03 07:41 UTC: the reset is 08:00 UTC (midnight PST).
    let now_ms = 1_796_283_660_000;
    assert_eq!(
        error.classify(now_ms),
        YouTubeFailure::QuotaExceeded {
            retry_at_ms: next_quota_reset_ms(now_ms)
        }
    );
    assert_eq!(next_quota_reset_ms(now_ms), 1_796_284_800_000);
    assert!(
        env.emu.admin().records().uploads.is_empty(),
        "no session was created"
    );
}

#[tokio::test]
async fn the_channels_upload_limit_waits_a_day_not_for_the_quota_reset() {
    let env = env().await;
    env.emu
        .admin()
        .add_fault(fault(
            "start",
            FaultKind::UploadLimitExceeded,
            Phase::Before,
            1,
        ))
        .unwrap();
    let error = env.start(1000).await.unwrap_err();
    assert!(
        matches!(&error, YouTubeError::Api { status: 400, reason: Some(r), .. } if r == "uploadLimitExceeded"),
        "{error:?}"
    );
    assert_eq!(
        error.classify(1_000),
        YouTubeFailure::UploadLimit {
            retry_at_ms: 1_000 + 24 * 3600 * 1000
        }
    );
    // The fault was spent; the next start works.
    env.start(1000).await.unwrap();
}

#[tokio::test]
async fn a_refused_token_and_bad_metadata_are_told_apart() {
    let env = env().await;
    env.emu.admin().revoke_token(env.token.expose());
    let error = env.start(1000).await.unwrap_err();
    assert_eq!(error.classify(0), YouTubeFailure::Unauthorized, "{error:?}");

    let env = self::env().await;
    let long_title = VideoMetadata {
        title: "x".repeat(101),
        ..metadata()
    };
    let error = env
        .client
        .start_session(&env.token, 1000, "video/mp4", &long_title)
        .await
        .unwrap_err();
    assert_eq!(
        error.classify(0),
        YouTubeFailure::Rejected {
            reason: "invalidTitle".into()
        },
        "the emulator refuses what the metadata rules would have caught: {error:?}"
    );
}

#[tokio::test]
async fn processing_rejected_and_failed_carry_youtubes_reasons() {
    for (outcome, expected) in [
        (
            ProcessingOutcome::Rejected {
                reason: "duplicate".into(),
            },
            UploadStatus::Rejected {
                reason: "duplicate".into(),
            },
        ),
        (
            ProcessingOutcome::Failed {
                reason: "codec".into(),
            },
            UploadStatus::Failed {
                reason: "codec".into(),
            },
        ),
    ] {
        let env = env_with(EmulatorConfig {
            processing_polls: 0,
            processing_outcome: outcome,
            ..Default::default()
        })
        .await;
        let data = video(1000);
        let session = env.start(1000).await.unwrap();
        let done = env.upload(&session, &data, CHUNK_MULTIPLE).await.unwrap();
        let state = env
            .client
            .video_state(&env.token, &done.video_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.upload_status, expected);
        let ProcessingVerdict::Failed { reason } = processing_verdict(Some(&state)) else {
            panic!("{state:?} should fail the target");
        };
        assert!(
            reason.contains("duplicate") || reason.contains("codec"),
            "{reason}"
        );
    }
}
