//! Parallel APPENDs (issue 16) end to end: process-upload over moto, X played by the emulator.
//! Segments go out several at a time and land out of order; each is checkpointed as it lands, a
//! crash resends only what the job had not recorded, and X assembles exactly the file.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reelay_local::harness::moto_endpoint;
use reelay_local::world::{World, WorldOptions};
use reelay_shared::engine::EngineSettings;
use reelay_shared::jobs::{Phase, UploadJob};
use reelay_shared::ports::{CrashSwitch, StepPoint};
use x_emulator::{
    EmulatorConfig, FaultKind, FaultSpec, Phase as FaultPhase, ProcessingMode, SegmentRecord,
};

const USER: &str = "user-1";
const LIMIT: Duration = Duration::from_secs(180);
const SEGMENT: u64 = 64 * 1024;

fn engine(parallel_appends: u32) -> EngineSettings {
    EngineSettings {
        deadline_margin_ms: 700,
        initial_segment_estimate_ms: 500,
        backoff_base_secs: 1,
        backoff_cap_secs: 2,
        publish_settle_ms: 500,
        parallel_appends,
        ..EngineSettings::default()
    }
}

async fn world(label: &str, tweak: impl FnOnce(&mut WorldOptions)) -> World {
    let mut options = WorldOptions {
        label: label.into(),
        emulator: EmulatorConfig {
            processing: ProcessingMode::Polls { steps: 1 },
            check_after_secs: 1,
            ..EmulatorConfig::default()
        },
        segment_size: SEGMENT,
        ..WorldOptions::default()
    };
    tweak(&mut options);
    let world = World::start(&moto_endpoint(), options).await.unwrap();
    world.connect(USER).await.unwrap();
    world
}

fn append_fault(kind: FaultKind) -> FaultSpec {
    FaultSpec {
        endpoint: "media_append".into(),
        kind,
        count: None,
        phase: FaultPhase::Before,
    }
}

/// Every APPEND X received for the job's media, in arrival order.
fn appends_at_x(world: &World, job: &UploadJob) -> Vec<SegmentRecord> {
    let media_id = job.media_id.as_deref().expect("media id");
    world
        .emulator
        .admin()
        .records()
        .media
        .into_iter()
        .find(|m| m.id == media_id)
        .expect("X knows the media")
        .appends
}

/// Uploads `segments` segments with X taking `append_ms` per APPEND; returns the finished job
/// and how long the upload took from the first APPEND's start to the last one's.
async fn timed_upload(
    parallel_appends: u32,
    segments: u64,
    append_ms: u64,
) -> (UploadJob, Duration) {
    let world = world(&format!("par-{parallel_appends}"), |o| {
        o.engine = engine(parallel_appends)
    })
    .await;
    world
        .emulator
        .admin()
        .add_fault(append_fault(FaultKind::Latency { ms: append_ms }))
        .unwrap();
    let file = x_emulator::testing::tiny_mp4((segments * SEGMENT) as usize);
    // The sample's header adds a short last segment.
    let segments = (file.len() as u64).div_ceil(SEGMENT);
    let started = Instant::now();
    let post = world
        .start_upload(USER, file.clone(), &format!("parallel {parallel_appends}"))
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    let took = started.elapsed();
    reelay_local::checks::assert_published_once(&world, &job, &file);
    let appends = appends_at_x(&world, &job);
    assert_eq!(
        appends.len() as u64,
        segments,
        "each segment sent once: {appends:?}"
    );
    if parallel_appends == 1 {
        let order: Vec<u32> = appends.iter().map(|a| a.index).collect();
        let ascending: Vec<u32> = (0..segments as u32).collect();
        assert_eq!(
            order, ascending,
            "sequential mode sends the segments in order"
        );
    }
    (job, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_segments_in_flight_finish_far_sooner_than_one_at_a_time() {
    // X takes 250 ms per APPEND (a slow link): 16 segments one at a time need 4 s of APPENDs
    // alone; four at a time, about 1 s. The rest of the upload (INIT, FINALIZE, one STATUS
    // wait of 1 s, the post) is the same in both.
    const SEGMENTS: u64 = 16;
    const APPEND_MS: u64 = 250;
    let (sequential_job, sequential) = timed_upload(1, SEGMENTS, APPEND_MS).await;
    let (parallel_job, parallel) = timed_upload(4, SEGMENTS, APPEND_MS).await;
    assert_eq!(sequential_job.segments_ahead.len(), 0);
    assert_eq!(
        parallel_job.segments_sent_count(),
        parallel_job.total_segments()
    );
    assert!(
        sequential >= Duration::from_millis(SEGMENTS * APPEND_MS),
        "sequential took {sequential:?}"
    );
    // Parallel saves at least 3 s of the 4 s of APPENDs; allow half of it for a loaded machine.
    let saved = sequential.saturating_sub(parallel);
    assert!(
        saved >= Duration::from_millis(SEGMENTS * APPEND_MS / 2),
        "four in flight took {parallel:?}, one at a time {sequential:?}"
    );
}

/// Crashes the invocation at the `nth` segment landing (counting from 1), once.
struct CrashAtNthSegment {
    nth: u32,
    seen: AtomicU32,
}

impl CrashSwitch for CrashAtNthSegment {
    fn crash_at(&self, point: StepPoint) -> bool {
        point == StepPoint::AfterAppend && self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.nth
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_with_segments_in_flight_resends_only_what_the_job_had_not_recorded() {
    let crashes = Arc::new(CrashAtNthSegment {
        nth: 5,
        seen: AtomicU32::new(0),
    });
    let world = world("par-crash", |o| {
        o.engine = engine(4);
        o.worker_deadline = Duration::from_secs(4);
        o.visibility_timeout_secs = Some(5);
        o.crashes = crashes.clone();
    })
    .await;
    // X takes 2 s over the first APPEND (segment 0, sent first) and 100 ms over every other:
    // segments 1 to 4 land while 0 is still in flight, so the job records them past a gap, and
    // the invocation dies as the fifth lands.
    let admin = world.emulator.admin();
    admin
        .add_fault(FaultSpec {
            count: Some(1),
            ..append_fault(FaultKind::Latency { ms: 2_000 })
        })
        .unwrap();
    admin
        .add_fault(append_fault(FaultKind::Latency { ms: 100 }))
        .unwrap();
    let file = x_emulator::testing::tiny_mp4((12 * SEGMENT) as usize);
    let segments = (file.len() as u64).div_ceil(SEGMENT) as u32;
    let post = world
        .start_upload(USER, file.clone(), "crash mid-flight")
        .await
        .unwrap();

    // The job as the crashed invocation left it: what it had recorded when it died.
    let deadline = Instant::now() + LIMIT;
    while crashes.seen.load(Ordering::SeqCst) < 5 {
        assert!(Instant::now() < deadline, "the crash never happened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_crash = world.job(USER, &post).await.unwrap();
    assert_eq!(at_crash.phase, Phase::Appending);
    let recorded: Vec<u32> = (0..segments)
        .filter(|i| at_crash.segment_sent(*i))
        .collect();
    assert_eq!(
        (at_crash.next_segment, recorded.len()),
        (0, 4),
        "four segments past segment 0 landed and were checkpointed before the crash: {:?}",
        at_crash.segments_ahead
    );

    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    reelay_local::checks::assert_published_once(&world, &job, &file);
    assert_eq!(job.bytes_sent, file.len() as u64);
    let mut sends: BTreeMap<u32, u32> = BTreeMap::new();
    for append in appends_at_x(&world, &job) {
        *sends.entry(append.index).or_default() += 1;
    }
    assert_eq!(
        sends.len() as u32,
        segments,
        "every index reached X: {sends:?}"
    );
    for index in &recorded {
        assert_eq!(
            sends[index], 1,
            "segment {index} was recorded, yet sent again: {sends:?}"
        );
    }
    // Sent twice at most: the segment whose landing crashed, and those in flight with it.
    let resent = sends.values().filter(|n| **n > 1).count();
    assert!(resent <= 4, "{resent} segments resent: {sends:?}");
    assert!(sends.values().all(|n| *n <= 2), "{sends:?}");
}
