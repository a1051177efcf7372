//! `reelay-bench api-latency` (issue 16): the API's latency on the local stack, as one client
//! sees it: `GET /api/posts/{id}` of a published post and `POST /api/posts` (a draft and its
//! presigned upload form; the upload itself is not part of it), one request at a time over one
//! keep-alive connection; writes BENCHMARKS.md's API-latency section.
//!
//! The stack is `reelay_local::world::World`: moto (DynamoDB, S3, SQS, KMS, Secrets Manager) on
//! loopback, the X emulator, and the runner's local gateway, which verifies the bearer token as
//! API Gateway's JWT authorizer would, builds the payload-2.0 event and calls the API function's
//! handler in this process (a warm Lambda: its cold start is `coldstart`'s business). Each user
//! is connected to X through the real OAuth flow first.
//!
//! `POST /api/posts` is limited per user (`quota`: 50 a day, 5 not yet final), so the creates
//! are spread over several users, and each draft is cancelled (`DELETE /api/posts/{id}`, not
//! timed) before the next create: every timed create finds its user with one earlier post on
//! its quota ledger, now final, as a person posting now and then would.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use reelay_local::harness::moto_endpoint_or_start;
use reelay_local::world::{World, WorldOptions};
use reelay_shared::ids::UserId;
use reelay_shared::jobs::Phase;
use reelay_shared::store::PostStore as _;
use serde_json::{json, Value};
use x_emulator::{ConsentAction, ConsentDecision, EmulatorConfig, TestUser};

use crate::coldstart::load_average;
use crate::percentiles::{ms, Samples};
use crate::report::{command_output, replace_section};

pub const BEGIN: &str = "<!-- bench:api-latency:begin (written by `make bench` and `reelay-bench api-latency`; edits here are lost) -->";
pub const END: &str = "<!-- bench:api-latency:end -->";
const HEADING: &str = "## API latency on the local stack (issue 16)\n\n";

const READER: &str = "bench-api-reader";
/// Creates per writing user: under the 50-a-day limit with room for the warm-up.
const CREATES_PER_USER: usize = 40;

#[derive(Debug, Clone, clap::Args)]
pub struct ApiLatencyArgs {
    /// Timed `GET /api/posts/{id}` requests.
    #[arg(long, default_value_t = 300)]
    pub gets: usize,
    /// Timed `POST /api/posts` requests.
    #[arg(long, default_value_t = 100)]
    pub posts: usize,
    /// Untimed requests of each kind first (connections, moto and the handler warm up).
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// Where to write the report (the section between the API-latency markers is replaced).
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
}

/// The timed requests of one kind.
struct Measured {
    label: &'static str,
    samples: Samples,
}

pub async fn run(args: &ApiLatencyArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let load = load_average();
    let (_moto, endpoint) = moto_endpoint_or_start()?;
    // X links one X account to one Reelay user: each writing user approves as its own X user.
    let users = (args.warmup + args.posts).div_ceil(CREATES_PER_USER);
    let x_users: Vec<TestUser> = (0..users)
        .map(|i| TestUser {
            id: (2_000_000_000_000_000_000u64 + i as u64).to_string(),
            username: format!("ReelayBench{i}"),
            name: format!("Reelay Bench {i}"),
        })
        .collect();
    let mut emulator = EmulatorConfig::default();
    emulator.users.extend(x_users.iter().cloned());
    let world = World::start(
        &endpoint,
        WorldOptions {
            label: "bench-api".into(),
            emulator,
            // Nothing in the background but the runner's queue pollers: no reconciler sweeps and
            // no schedule polling while requests are timed.
            reconcile_period: None,
            fire_schedules: false,
            ..WorldOptions::default()
        },
    )
    .await?;
    let api = world.runner.http_url.clone();
    // One client, one keep-alive connection, as a browser tab would hold.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .build()?;

    // The post to read: uploaded and published through the stack, so the view has its X target.
    world.connect(READER).await?;
    let video = x_emulator::testing::tiny_mp4(1024 * 1024);
    let post_id = world
        .start_upload(READER, video, "read by the API benchmark")
        .await?;
    let job = world
        .wait_until_final(READER, &post_id, Duration::from_secs(120))
        .await?;
    if job.phase != Phase::Published {
        bail!("the post to read ended {:?}: {:?}", job.phase, job.error);
    }
    let reader = world.auth.mint(READER);
    let get_url = format!("{api}/api/posts/{post_id}");

    // The users that create posts, each connected to X before anything is timed.
    let mut writers = Vec::with_capacity(users);
    for (i, x_user) in x_users.iter().enumerate() {
        let name = format!("bench-api-writer-{i}");
        world.emulator.admin().push_consent(ConsentDecision {
            action: ConsentAction::Approve,
            user_id: Some(x_user.id.clone()),
            scopes: None,
            count: 1,
        });
        world.connect(&name).await?;
        let token = world.auth.mint(&name);
        writers.push((name, token));
    }
    let writer = |n: usize| &writers[n / CREATES_PER_USER];

    for n in 0..args.warmup {
        get(&http, &get_url, &reader).await.context("warm-up GET")?;
        let (name, token) = writer(n);
        create(&http, &api, name, token, n)
            .await
            .context("warm-up POST")?;
    }

    let mut gets = Vec::with_capacity(args.gets);
    for _ in 0..args.gets {
        gets.push(get(&http, &get_url, &reader).await?);
    }

    // moto's share of a GET: the handler's one DynamoDB query (the post and its jobs), called
    // directly with the same SDK, without HTTP, the gateway or the handler around it.
    let reader_id = UserId::parse(READER)?;
    let mut queries = Vec::with_capacity(args.gets);
    for _ in 0..args.gets {
        let t = Instant::now();
        let found = world.store.post_with_jobs(&reader_id, &post_id).await?;
        queries.push(t.elapsed());
        if found.is_none() {
            bail!("the post to read is gone");
        }
    }

    let mut posts = Vec::with_capacity(args.posts);
    for n in args.warmup..args.warmup + args.posts {
        let (name, token) = writer(n);
        posts.push(create(&http, &api, name, token, n).await?);
    }

    let measured = [
        Measured {
            label: "`GET /api/posts/{id}` (a published post with its X target)",
            samples: Samples::new(gets),
        },
        Measured {
            label: "`POST /api/posts` (a draft and its presigned upload form)",
            samples: Samples::new(posts),
        },
        Measured {
            label: "for comparison: the GET's one DynamoDB `Query` alone, called directly (moto)",
            samples: Samples::new(queries),
        },
    ];
    for m in &measured {
        eprintln!(
            "{}: p50 {} ms, p99 {} ms, max {} ms over {}",
            m.label,
            ms(m.samples.percentile(50.0)),
            ms(m.samples.percentile(99.0)),
            ms(m.samples.max()),
            m.samples.len()
        );
    }
    replace_section(
        &args.out,
        BEGIN,
        END,
        &section(&measured, args, users, &load, started.elapsed()),
        HEADING,
    )
}

/// One timed `GET /api/posts/{id}`: the time to the whole answer, which must be 200.
async fn get(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let answer = http.get(url).bearer_auth(token).send().await?;
    let status = answer.status();
    let body = answer.bytes().await?;
    let took = t.elapsed();
    if status != 200 {
        bail!(
            "GET {url} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(took)
}

/// One timed `POST /api/posts` as `user` (the time to the whole answer, which must be 201 with
/// an upload form), then, not timed, the draft cancelled to free the user's in-flight slot.
async fn create(
    http: &reqwest::Client,
    api: &str,
    user: &str,
    token: &str,
    n: usize,
) -> anyhow::Result<Duration> {
    let body = json!({
        "text": format!("API benchmark draft {n}"),
        "platforms": ["twitter"],
        "file_name": "clip.mp4",
    });
    let t = Instant::now();
    let answer = http
        .post(format!("{api}/api/posts"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = answer.status();
    let created = answer.bytes().await?;
    let took = t.elapsed();
    if status != 201 {
        bail!(
            "POST /api/posts as {user} answered {status}: {}",
            String::from_utf8_lossy(&created)
        );
    }
    let created: Value = serde_json::from_slice(&created)?;
    let id = created["post_id"]
        .as_str()
        .ok_or_else(|| anyhow!("no post_id in {created}"))?;
    if created["upload"]["url"].as_str().is_none() {
        bail!("no upload form in {created}");
    }
    let cancelled = http
        .delete(format!("{api}/api/posts/{id}"))
        .bearer_auth(token)
        .send()
        .await?;
    if !cancelled.status().is_success() {
        bail!(
            "DELETE /api/posts/{id} answered {}: {}",
            cancelled.status(),
            cancelled.text().await.unwrap_or_default()
        );
    }
    Ok(took)
}

fn section(
    measured: &[Measured],
    args: &ApiLatencyArgs,
    users: usize,
    load: &str,
    total: Duration,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "{BEGIN}");
    let _ = writeln!(
        s,
        "Run of {} UTC: `reelay-bench api-latency`, {:.0} s in all, on {} cores ({}; load average \
         {load} at the start), shared with other work; release build. One client, one request \
         at a time over one keep-alive connection, after {} untimed requests of each kind.\n",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M"]),
        total.as_secs_f64(),
        command_output("nproc", &[]),
        command_output("uname", &["-sr"]),
        args.warmup,
    );
    let _ = writeln!(
        s,
        "| request | n | p50 ms | p90 ms | p99 ms | max ms | mean ms | requests/s |"
    );
    let _ = writeln!(
        s,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for m in measured {
        // One client sending the next request as soon as it has the answer.
        let per_sec = m
            .samples
            .mean()
            .filter(|d| !d.is_zero())
            .map(|d| 1.0 / d.as_secs_f64())
            .unwrap_or(0.0);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} |",
            m.label,
            m.samples.len(),
            ms(m.samples.percentile(50.0)),
            ms(m.samples.percentile(90.0)),
            ms(m.samples.percentile(99.0)),
            ms(m.samples.max()),
            ms(m.samples.mean()),
            per_sec,
        );
    }
    let _ = writeln!(
        s,
        "\nLatency = the client's time from sending the request to having read the whole answer \
         (nearest-rank percentiles; p99 of 100 samples is the 99th smallest, p99 of 300 the \
         297th). It includes the local gateway (the JWT check, the payload-2.0 event) and the \
         API handler, warm, with its calls to moto; the comparison row is one of those calls \
         alone. requests/s = what one client sending each request as soon as it has the \
         previous answer gets: requests ÷ the sum of their latencies. The creates were spread \
         over {users} user{} connected to X beforehand (the per-user limits), and each draft was \
         cancelled (`DELETE /api/posts/{{id}}`, not timed) before the next create. moto on \
         loopback stands in for DynamoDB (the upload form is signed locally, without a call): \
         its latency differs from DynamoDB's in both directions (no network, but a Python \
         server). API Gateway's own hop, Lambda's invoke path and the internet are not in these \
         numbers.",
        if users == 1 { "" } else { "s" },
    );
    let _ = writeln!(s, "{END}");
    s
}
