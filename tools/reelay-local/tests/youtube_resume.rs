//! The YouTube resume rule (`platforms::youtube::upload`) under crashes and faults, against the
//! YouTube emulator: an invocation that dies after any call and is run again from its last
//! checkpoint, and seeded runs of random kills, lost answers (a 5xx or a dropped connection
//! after the effect), 5xx, short `Range`s and expired sessions, all end with exactly one video holding the file byte for byte.
//!
//! The driver here does what the engine's YouTube steps do with `ResumableUpload`: make the next
//! call, record its answer, checkpoint. A "crash" is an invocation that returns before its
//! checkpoint; the next one starts from what was saved.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reelay_shared::http_client::build_http_client;
use reelay_shared::platforms::youtube::upload::{NextCall, ResumableUpload, UploadProgress};
use reelay_shared::platforms::youtube::{
    Privacy, VideoMetadata, YouTubeClient, YouTubeFailure, YouTubeOptions, CHUNK_MULTIPLE,
};
use reelay_shared::secret::Secret;
use sha2::{Digest, Sha256};
use std::time::Duration;
use url::Url;
use youtube_emulator::{Emulator, FaultKind, FaultSpec, Phase};

const CHUNK: u64 = CHUNK_MULTIPLE;

struct Env {
    emu: Emulator,
    client: YouTubeClient,
    token: Secret,
    metadata: VideoMetadata,
}

async fn env() -> Env {
    let emu = Emulator::spawn(Default::default()).await.unwrap();
    let token = Secret::new(emu.admin().issue_token("UCresumeTests00000000001"));
    let http = build_http_client(Duration::from_secs(10)).unwrap();
    let client = YouTubeClient::new(http, Url::parse(emu.base_url()).unwrap());
    let metadata = VideoMetadata::for_post(
        "Resume test",
        &YouTubeOptions {
            privacy: Privacy::Private,
            ..Default::default()
        },
    )
    .unwrap();
    Env {
        emu,
        client,
        token,
        metadata,
    }
}

fn video(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen()).collect()
}

/// How an invocation ended.
enum End {
    Uploaded(String),
    /// Killed after a call, before its checkpoint.
    Crashed,
    /// A failure the engine hands back to its own rules (quota, token, refusal).
    Stopped(YouTubeFailure),
}

impl Env {
    /// One invocation: calls until done, a crash, or a failure that is not the session's.
    /// `crash_after(n)` is asked after the n-th call of the whole upload (counting from 0).
    async fn invocation(
        &self,
        saved: &mut UploadProgress,
        data: &[u8],
        calls: &mut u32,
        crash_after: &mut dyn FnMut(u32) -> bool,
    ) -> End {
        let total = data.len() as u64;
        let mut upload = ResumableUpload::resume(saved.clone());
        loop {
            let result = match upload.next_call(total, CHUNK) {
                NextCall::Uploaded { video_id } => return End::Uploaded(video_id),
                NextCall::StartSession => self
                    .client
                    .start_session(&self.token, total, "video/mp4", &self.metadata)
                    .await
                    .map(|session| upload.started(&session)),
                NextCall::AskSession { session } => self
                    .client
                    .query(&session, total)
                    .await
                    .map(|state| upload.answered(state)),
                NextCall::SendChunk {
                    session,
                    start,
                    len,
                } => {
                    let chunk =
                        Bytes::copy_from_slice(&data[start as usize..(start + len) as usize]);
                    self.client
                        .send_chunk(&session, start, chunk, total)
                        .await
                        .map(|state| upload.answered(state))
                }
            };
            let n = *calls;
            *calls += 1;
            if crash_after(n) {
                return End::Crashed;
            }
            if let Err(error) = result {
                let failure = error.classify(0);
                upload.failed(failure == YouTubeFailure::SessionGone);
                if !matches!(
                    failure,
                    YouTubeFailure::Transient | YouTubeFailure::SessionGone
                ) {
                    *saved = upload.progress().clone();
                    return End::Stopped(failure);
                }
            }
            *saved = upload.progress().clone();
        }
    }

    /// Runs invocations until the upload is done (at most 200), returning the video id.
    async fn upload(&self, data: &[u8], crash_after: &mut dyn FnMut(u32) -> bool) -> String {
        let mut saved = UploadProgress::default();
        let mut calls = 0;
        for _ in 0..200 {
            match self
                .invocation(&mut saved, data, &mut calls, crash_after)
                .await
            {
                End::Uploaded(video_id) => return video_id,
                End::Crashed => continue,
                End::Stopped(failure) => panic!("stopped: {failure:?}"),
            }
        }
        panic!("not uploaded after 200 invocations");
    }

    /// The one complete upload: exactly one video, byte for byte.
    fn assert_one_video(&self, data: &[u8], video_id: &str, context: &str) {
        let records = self.emu.admin().records();
        let complete: Vec<_> = records
            .uploads
            .iter()
            .filter(|u| u.video_id.is_some())
            .collect();
        assert_eq!(complete.len(), 1, "{context}: videos made");
        assert_eq!(complete[0].video_id.as_deref(), Some(video_id), "{context}");
        let expected = hex::encode(Sha256::digest(data));
        assert_eq!(
            complete[0].sha256.as_deref(),
            Some(expected.as_str()),
            "{context}"
        );
    }
}

#[tokio::test]
async fn a_crash_after_any_call_resumes_to_exactly_one_video() {
    // Four full chunks and a short one: a clean run makes six calls (start + five chunks).
    let data = video(4 * CHUNK as usize + 5000, 7);
    let clean_calls = {
        let env = env().await;
        let mut calls = 0;
        let video_id = env
            .upload(&data, &mut |_| {
                calls += 1;
                false
            })
            .await;
        env.assert_one_video(&data, &video_id, "clean run");
        calls
    };
    assert_eq!(clean_calls, 6);
    for crash_at in 0..clean_calls {
        let env = env().await;
        let video_id = env.upload(&data, &mut |n| n == crash_at).await;
        let context = format!("crash after call {crash_at}");
        env.assert_one_video(&data, &video_id, &context);
        let records = env.emu.admin().records();
        // A crash after the start, before its checkpoint, leaves one session unused.
        let sessions = if crash_at == 0 { 2 } else { 1 };
        assert_eq!(records.uploads.len(), sessions, "{context}: sessions");
        // The resumed invocation asked first, and nothing was sent twice.
        let stored: u64 = records
            .uploads
            .iter()
            .map(|u| u.chunks.iter().map(|c| c.stored).sum::<u64>())
            .sum();
        assert_eq!(stored, data.len() as u64, "{context}: bytes stored");
        if crash_at > 0 {
            assert_eq!(records.uploads[0].status_queries, 1, "{context}: queries");
        }
    }
}

#[tokio::test]
async fn seeded_kills_and_faults_end_with_one_video_every_time() {
    const SEED: u64 = 1_796_283_660;
    const RUNS: u64 = 40;
    let mut rng = StdRng::seed_from_u64(SEED);
    let (mut kills, mut faults_fired, mut restarts) = (0u32, 0usize, 0usize);
    for run in 0..RUNS {
        let env = env().await;
        let data = video(
            rng.gen_range(1..=6) * CHUNK as usize + rng.gen_range(0..CHUNK as usize),
            run,
        );
        let faults_added = rng.gen_range(1..=4);
        for _ in 0..faults_added {
            let (endpoint, kind, phase) = match rng.gen_range(0..8) {
                6 => ("chunk", FaultKind::Drop, Phase::After),
                7 => ("status_query", FaultKind::Drop, Phase::Before),
                0 => ("chunk", FaultKind::Fail { status: 503 }, Phase::Before),
                1 => ("chunk", FaultKind::Fail { status: 500 }, Phase::After),
                2 => ("chunk", FaultKind::ShortRange, Phase::Before),
                3 => (
                    "status_query",
                    FaultKind::Fail { status: 503 },
                    Phase::Before,
                ),
                4 => ("start", FaultKind::Fail { status: 503 }, Phase::After),
                _ => ("chunk", FaultKind::ExpireSession, Phase::Before),
            };
            env.emu
                .admin()
                .add_fault(FaultSpec {
                    endpoint: endpoint.into(),
                    kind,
                    count: Some(1),
                    phase,
                })
                .unwrap();
        }
        let kill_rate = 0.2;
        let mut kill_rng = StdRng::seed_from_u64(SEED ^ run);
        let mut killed = 0;
        let video_id = env
            .upload(&data, &mut |_| {
                let kill = kill_rng.gen_bool(kill_rate);
                killed += u32::from(kill);
                kill
            })
            .await;
        kills += killed;
        env.assert_one_video(&data, &video_id, &format!("seed {SEED} run {run}"));
        faults_fired += faults_added - env.emu.admin().faults().len();
        restarts += env.emu.admin().records().uploads.len() - 1;
    }
    println!(
        "youtube resume chaos: seed {SEED}, {RUNS} runs, {kills} kills, {faults_fired} faults fired, {restarts} extra sessions, one video each"
    );
    assert!(
        kills > 0 && faults_fired > 0 && restarts > 0,
        "the run exercised kills, faults and new sessions"
    );
}
