//! The whole local world in one value: moto resources, the X emulator, the runner and the four
//! functions, wired as AWS would wire them. The demo and the end-to-end tests both start one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use async_trait::async_trait;
use reelay_shared::aws::AwsClients;
use reelay_shared::clock::Clock;
use reelay_shared::engine::EngineSettings;
use reelay_shared::fitter::FitSettings;
use reelay_shared::ids::{PostId, UserId};
use reelay_shared::jobs::{segment_size_for, SourceObject, UploadJob};
use reelay_shared::messages::JobMessage;
use reelay_shared::ports::{CrashSwitch, NoCrashes, QueueError, WorkQueue};
use reelay_shared::posts::{new_post_id, Platform, Post, PostStatus};
use reelay_shared::reconcile::ReconcileSettings;
use reelay_shared::sqs::SqsQueue;
use reelay_shared::store::{DynamoStore, JobStore, PostStore};
use x_emulator::{Emulator, EmulatorConfig, OAuthClient};

use crate::authorizer::{console_url, sign_in_url, LocalAuthorizer, CONSOLE_CLIENT_ID};
use crate::moto::free_port;
use crate::runner::{
    stored_schedules, FiredSchedule, Functions, Kills, Runner, RunnerConfig, StoredSchedule,
    RECONCILE_PERIOD,
};
use crate::stack::{Stack, StackSpec};

pub const CLIENT_ID: &str = "reelay-local";
pub const CLIENT_SECRET: &str = "reelay-local-secret";
pub const CALLBACK_PATH: &str = "/api/auth/platforms/twitter/callback";
/// Reelay's Google OAuth client at the YouTube emulator, as the Google Cloud console holds it.
pub const GOOGLE_CLIENT_ID: &str = "reelay-local.apps.googleusercontent.com";
pub const GOOGLE_CLIENT_SECRET: &str = "reelay-local-google-secret";
pub const YOUTUBE_CALLBACK_PATH: &str = "/api/auth/platforms/youtube/callback";

pub struct WorldOptions {
    pub label: String,
    pub worker_deadline: Duration,
    pub worker_concurrency: usize,
    /// Overrides the template's visibility timeout (tests want failed messages back sooner).
    pub visibility_timeout_secs: Option<u32>,
    pub max_receive_count: Option<u32>,
    pub emulator: EmulatorConfig,
    /// The YouTube emulator's settings (its OAuth client is registered by `World::start`).
    pub youtube: youtube_emulator::EmulatorConfig,
    pub engine: EngineSettings,
    pub crashes: Arc<dyn CrashSwitch>,
    /// Sends every work message twice, as SQS's at-least-once delivery may.
    pub duplicate_sends: bool,
    pub segment_size: u64,
    /// More environment for the functions (e.g. `SEGMENT_SIZE_BYTES`).
    pub extra_env: Vec<(String, String)>,
    /// Process-upload invocations the runner kills early (chaos tests).
    pub kills: Option<Kills>,
    /// Wraps the work queue that process-upload and `start_upload` send through, e.g. to
    /// duplicate, delay or lose messages (chaos tests).
    pub wrap_queue: Option<QueueWrapper>,
    /// The clock process-upload reads (tests give it one that misjudges time).
    pub worker_clock: Option<Arc<dyn Clock>>,
    /// The clock the runner reads process-upload's Lambda deadlines from (tests that move time
    /// forward for the worker move it for "AWS" too).
    pub lambda_clock: Option<Arc<dyn Clock>>,
    /// The clock the reconciler reads (tests that move time forward move it for the sweep too,
    /// e.g. to find a scheduled post whose wake-up never fired).
    pub reconciler_clock: Option<Arc<dyn Clock>>,
    /// How often the reconciler's schedule fires; `None` leaves it off.
    pub reconcile_period: Option<Duration>,
    /// The reconciler's grace and bounds (tests shorten the grace).
    pub reconcile: ReconcileSettings,
    /// fit-video's Lambda deadline (the template's 900 s by default).
    pub fit_deadline: Option<Duration>,
    /// fit-video's settings (tests shorten the margin it keeps before its deadline).
    pub fit: Option<reelay_shared::fitter::FitSettings>,
    /// fit-video invocations the runner kills early (chaos tests).
    pub fit_kills: Option<Kills>,
    /// Overrides fit-video's queue visibility timeout (killed conversions come back sooner).
    pub fit_visibility_timeout_secs: Option<u32>,
    /// Whether the runner fires due wake-up schedules (scheduled posts), by `lambda_clock`.
    /// Off: a schedule that never fires, which the reconciler must make up for.
    pub fire_schedules: bool,
}

/// Builds a work queue around the real one.
pub type QueueWrapper = Arc<dyn Fn(Arc<dyn WorkQueue>) -> Arc<dyn WorkQueue> + Send + Sync>;

impl Default for WorldOptions {
    fn default() -> Self {
        Self {
            label: "world".into(),
            worker_deadline: Duration::from_secs(60),
            worker_concurrency: 2,
            visibility_timeout_secs: None,
            max_receive_count: None,
            emulator: EmulatorConfig::default(),
            youtube: youtube_emulator::EmulatorConfig::default(),
            engine: EngineSettings::default(),
            crashes: Arc::new(NoCrashes),
            duplicate_sends: false,
            segment_size: 4 * 1024 * 1024,
            extra_env: Vec::new(),
            kills: None,
            wrap_queue: None,
            worker_clock: None,
            lambda_clock: None,
            reconciler_clock: None,
            reconcile_period: Some(RECONCILE_PERIOD),
            reconcile: ReconcileSettings::default(),
            fit_deadline: None,
            fit: None,
            fit_kills: None,
            fit_visibility_timeout_secs: None,
            fire_schedules: true,
        }
    }
}

pub struct World {
    pub aws: AwsClients,
    pub stack: Stack,
    pub emulator: Emulator,
    /// The YouTube emulator, YouTube's only stand-in.
    pub youtube: youtube_emulator::Emulator,
    pub auth: LocalAuthorizer,
    pub runner: Runner,
    pub store: DynamoStore,
    pub env: HashMap<String, String>,
    /// Follows no redirects, so each hop of the OAuth dance can be checked.
    pub http: reqwest::Client,
    segment_size: u64,
    /// The queue process-upload sends through (wrapped as the options say); `start_upload` sends
    /// the first message through it too.
    queue: Arc<dyn WorkQueue>,
}

/// A work queue that sends every message twice.
struct TwiceQueue(SqsQueue);

#[async_trait]
impl WorkQueue for TwiceQueue {
    async fn send(&self, message: &JobMessage, delay_secs: u32) -> Result<(), QueueError> {
        self.0.send(message, delay_secs).await?;
        self.0.send(message, delay_secs).await
    }
}

impl World {
    /// A default world on the tests' moto with no reconciler schedule, so nothing re-drives jobs
    /// behind a test's back: what the tests of the API's routes want.
    pub async fn without_reconciler(label: &str) -> anyhow::Result<World> {
        let options = WorldOptions {
            label: label.into(),
            reconcile_period: None,
            ..WorldOptions::default()
        };
        World::start(&crate::harness::moto_endpoint(), options).await
    }

    pub async fn start(aws_endpoint: &str, options: WorldOptions) -> anyhow::Result<World> {
        let aws = crate::harness::aws_clients_for(aws_endpoint).await;
        // The runner's port is chosen first: X needs the exact callback URL registered, and the
        // bucket's CORS rule names the console's origin.
        let port = free_port()?;
        let gateway = format!("http://127.0.0.1:{port}");
        let mut spec = StackSpec::unique(&options.label)
            .with_x_client_secret(CLIENT_SECRET)
            .with_google_client_secret(GOOGLE_CLIENT_SECRET)
            .with_app_origins([gateway.clone()]);
        if let Some(v) = options.visibility_timeout_secs {
            spec.visibility_timeout_secs = v;
        }
        if let Some(n) = options.max_receive_count {
            spec.max_receive_count = n;
        }
        if let Some(v) = options.fit_visibility_timeout_secs {
            spec.fit_visibility_timeout_secs = v;
        }
        let stack = Stack::create(&aws, spec).await?;

        let callback = format!("{gateway}{CALLBACK_PATH}");
        let mut emulator_config = options.emulator;
        emulator_config.clients = vec![OAuthClient {
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            redirect_uris: vec![callback.clone()],
        }];
        let emulator = Emulator::start(emulator_config).await?;
        let base = emulator.base_url.clone();
        let youtube_callback = format!("{gateway}{YOUTUBE_CALLBACK_PATH}");
        let mut youtube_config = options.youtube;
        youtube_config.oauth_clients = vec![youtube_emulator::OAuthClient {
            client_id: GOOGLE_CLIENT_ID.into(),
            client_secret: GOOGLE_CLIENT_SECRET.into(),
            redirect_uris: vec![youtube_callback.clone()],
            publishing_status: Default::default(),
        }];
        let youtube = youtube_emulator::Emulator::spawn(youtube_config).await?;
        let google = youtube.base_url().to_owned();

        let mut env = stack.function_env();
        env.extend(
            [
                ("X_CLIENT_ID", CLIENT_ID.to_owned()),
                ("X_REDIRECT_URI", callback),
                ("X_AUTHORIZE_URL", emulator.authorize_url()),
                ("X_TOKEN_URL", emulator.token_url()),
                ("X_REVOKE_URL", format!("{base}/2/oauth2/revoke")),
                ("X_API_BASE_URL", base.clone()),
                ("X_REQUEST_TIMEOUT_SECS", "10".to_owned()),
                ("GOOGLE_CLIENT_ID", GOOGLE_CLIENT_ID.to_owned()),
                ("GOOGLE_REDIRECT_URI", youtube_callback),
                ("GOOGLE_AUTHORIZE_URL", format!("{google}/o/oauth2/v2/auth")),
                ("GOOGLE_TOKEN_URL", format!("{google}/token")),
                ("GOOGLE_REVOKE_URL", format!("{google}/revoke")),
                ("YOUTUBE_API_BASE_URL", google.clone()),
                ("YOUTUBE_REQUEST_TIMEOUT_SECS", "10".to_owned()),
                // The console's sign-in (the gateway's stand-in for Cognito's hosted UI), and
                // its pages as places the connect flow may return to, as the template sets them.
                ("CONSOLE_SIGN_IN_URL", sign_in_url(&gateway)),
                ("CONSOLE_CLIENT_ID", CONSOLE_CLIENT_ID.to_owned()),
                ("CONNECT_RETURN_URLS", console_url(&gateway)),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        env.extend(options.extra_env);
        let mut functions = Functions::from_env(&env, &aws).await?;
        let worker_config = reelay_process_upload::WorkerConfig::from_env(&env)?;
        let http = reelay_shared::http_client::build_http_client(Duration::from_secs(10))?;
        // The worker and reconciler are rebuilt here, with their own recorded clients as in
        // `Functions::from_env` (`iam_usage`).
        let worker_aws = crate::iam_usage::clients_for(&aws, "ProcessUploadFunction");
        let secrets = reelay_shared::secret_store::SecretsManagerSource::new(
            worker_aws.secretsmanager.clone(),
        );
        let mut worker =
            reelay_process_upload::App::cold_start(worker_config, &worker_aws, http, &secrets)
                .await?;
        worker.crashes = options.crashes;
        worker.settings = options.engine;
        if let Some(clock) = options.worker_clock {
            worker.clock = clock;
        }
        if options.duplicate_sends {
            worker.queue = Arc::new(TwiceQueue(SqsQueue::new(
                worker_aws.sqs.clone(),
                &stack.queue_url,
            )));
        }
        if let Some(wrap) = &options.wrap_queue {
            worker.queue = wrap(worker.queue.clone());
        }
        let queue = worker.queue.clone();
        // The reconciler re-sends through the same (possibly wrapped) queue as the worker.
        let reconciler_config = reelay_reconciler::ReconcilerConfig::from_env(&env)?;
        let mut reconciler = reelay_reconciler::App::new(
            &reconciler_config,
            &crate::iam_usage::clients_for(&aws, "ReconcilerFunction"),
        );
        // The reconciler sends with its own client, as in AWS; a queue wrapped for faults is
        // shared with the worker instead, so one seeded plan decides every send.
        if options.wrap_queue.is_some() || options.duplicate_sends {
            reconciler.queue = queue.clone();
        }
        reconciler.settings = options.reconcile;
        if let Some(clock) = options.reconciler_clock {
            reconciler.clock = clock;
        }
        reconciler.engine_settings = worker.settings.clone();
        functions.reconciler = Arc::new(reconciler);
        functions.process_upload = Arc::new(worker);
        if let Some(settings) = options.fit {
            let config = reelay_fit_video::FitVideoConfig::from_env(&env)?;
            let mut fit_video = reelay_fit_video::App::new(
                &config,
                &crate::iam_usage::clients_for(&aws, "FitVideoFunction"),
            );
            fit_video.settings = FitSettings {
                segment_size: fit_video.settings.segment_size,
                work_dir: fit_video.settings.work_dir.clone(),
                ..settings
            };
            functions.fit_video = Arc::new(fit_video);
        }

        let auth = LocalAuthorizer::random();
        let runner = Runner::start(
            functions,
            aws.clone(),
            &stack,
            auth.clone(),
            RunnerConfig {
                http_port: port,
                worker_deadline: options.worker_deadline,
                worker_concurrency: options.worker_concurrency,
                kills: options.kills,
                fit_deadline: options
                    .fit_deadline
                    .unwrap_or(RunnerConfig::default().fit_deadline),
                fit_kills: options.fit_kills,
                reconcile_period: options.reconcile_period,
                lambda_clock: crate::runner::LambdaClock(options.lambda_clock),
                fire_schedules: options.fire_schedules,
                ..RunnerConfig::default()
            },
        )
        .await?;
        Ok(World {
            store: DynamoStore::new(aws.dynamodb.clone(), &stack.table_name),
            aws,
            stack,
            emulator,
            youtube,
            auth,
            runner,
            env,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            segment_size: options.segment_size,
            queue,
        })
    }

    /// The wake-up schedules waiting in the stack's group (moto), with their due times and the
    /// messages they will send.
    pub async fn schedules(&self) -> anyhow::Result<Vec<StoredSchedule>> {
        stored_schedules(&self.aws, &self.stack.schedule_group_name)
            .await
            .map_err(|e| anyhow!("reading the wake-up schedules: {e}"))
    }

    /// The wake-up schedules the runner has fired so far, in order.
    pub fn fired_schedules(&self) -> Vec<FiredSchedule> {
        self.runner.fired_schedules()
    }

    /// The console's URL (`GET /` on the local gateway).
    pub fn console_url(&self) -> String {
        console_url(&self.runner.http_url)
    }

    /// The local sign-in's base URL (`CONSOLE_SIGN_IN_URL`): Cognito's hosted-UI endpoints
    /// `/oauth2/authorize`, `/oauth2/token` and `/logout` under it.
    pub fn sign_in_url(&self) -> String {
        sign_in_url(&self.runner.http_url)
    }

    /// Connects `user` to X through the real flow: connect → X's authorize (the emulator's test
    /// consent) → the callback through the runner.
    pub async fn connect(&self, user: &str) -> anyhow::Result<()> {
        connect_via_http(&self.http, &self.runner.http_url, &self.auth.mint(user)).await
    }

    /// Connects `user` to YouTube the same way, through Google's authorize at the YouTube
    /// emulator (which signs in its one Google user: `youtube.admin().set_user` to change it).
    pub async fn connect_youtube(&self, user: &str) -> anyhow::Result<()> {
        connect_platform_via_http(
            &self.http,
            &self.runner.http_url,
            &self.auth.mint(user),
            reelay_shared::posts::Platform::YouTube,
        )
        .await
    }

    /// Puts `video` in S3 and starts its upload job directly (bypassing the pre-flight check,
    /// which is create-post's business): a post, its X job and the first work message.
    pub async fn start_upload(
        &self,
        user: &str,
        video: Vec<u8>,
        text: &str,
    ) -> anyhow::Result<PostId> {
        self.start_upload_on(user, video, text, Platform::Twitter)
            .await
    }

    /// `start_upload` with one job for `platform`.
    pub async fn start_upload_on(
        &self,
        user: &str,
        video: Vec<u8>,
        text: &str,
        platform: Platform,
    ) -> anyhow::Result<PostId> {
        let job = self.create_upload_on(user, video, text, platform).await?;
        // As create-post would send it; with `duplicate_sends` it goes twice.
        self.queue.send(&job.message(), 0).await?;
        Ok(job.post_id)
    }

    /// `start_upload` without the work message, as if its send had been lost: the post and its
    /// queued X job, returned as stored.
    pub async fn create_upload(
        &self,
        user: &str,
        video: Vec<u8>,
        text: &str,
    ) -> anyhow::Result<UploadJob> {
        self.create_upload_on(user, video, text, Platform::Twitter)
            .await
    }

    /// `create_upload` with one job for `platform`.
    pub async fn create_upload_on(
        &self,
        user: &str,
        video: Vec<u8>,
        text: &str,
        platform: Platform,
    ) -> anyhow::Result<UploadJob> {
        let user_id = UserId::parse(user)?;
        let now = now_ms();
        let post_id = new_post_id(now);
        // Outside `uploads/`, so the S3 trigger (create-post) does not also act on it.
        let key = format!("direct/{user}/{post_id}/clip.mp4");
        let size = video.len() as u64;
        let put = self
            .aws
            .s3
            .put_object()
            .bucket(&self.stack.bucket_name)
            .key(&key)
            .content_type("video/mp4")
            .body(aws_sdk_s3::primitives::ByteStream::from(video))
            .send()
            .await
            .context("uploading the video to S3")?;
        let mut post = Post {
            object_key: Some(key.clone()),
            ..Post::draft(
                user_id.clone(),
                post_id.clone(),
                text.to_owned(),
                vec![platform],
                now,
            )
        };
        self.store.create_post(&post).await?;
        post.status = PostStatus::Processing;
        post.version = 2;
        let job = UploadJob::new(
            &post,
            platform,
            SourceObject {
                bucket: self.stack.bucket_name.clone(),
                key,
                size_bytes: size,
                media_type: "video/mp4".into(),
                media_category: "amplify_video".into(),
                // Pinned as create-post pins it after its pre-flight.
                etag: put.e_tag().map(str::to_owned),
                version_id: put.version_id().map(str::to_owned),
            },
            segment_size_for(size, self.segment_size),
            now,
        );
        self.store
            .start_jobs(&post, std::slice::from_ref(&job))
            .await?;
        Ok(job)
    }

    pub async fn job(&self, user: &str, post: &PostId) -> anyhow::Result<UploadJob> {
        self.job_on(user, post, Platform::Twitter).await
    }

    /// The post's job for `platform`.
    pub async fn job_on(
        &self,
        user: &str,
        post: &PostId,
        platform: Platform,
    ) -> anyhow::Result<UploadJob> {
        self.store
            .get_job(&UserId::parse(user)?, post, platform)
            .await?
            .ok_or_else(|| anyhow!("no {platform} job for post {post}"))
    }

    /// Waits (without sleeping: on the runner's invocations) until the job satisfies `done`, or
    /// `limit` passes; `on_change` sees every new state (for progress bars).
    pub async fn wait_for_job(
        &self,
        user: &str,
        post: &PostId,
        limit: Duration,
        done: impl Fn(&UploadJob) -> bool,
        on_change: impl FnMut(&UploadJob),
    ) -> anyhow::Result<UploadJob> {
        self.wait_for_job_on(user, post, Platform::Twitter, limit, done, on_change)
            .await
    }

    /// `wait_for_job` for the post's job on `platform`.
    pub async fn wait_for_job_on(
        &self,
        user: &str,
        post: &PostId,
        platform: Platform,
        limit: Duration,
        done: impl Fn(&UploadJob) -> bool,
        mut on_change: impl FnMut(&UploadJob),
    ) -> anyhow::Result<UploadJob> {
        let started = std::time::Instant::now();
        let mut last_version = 0;
        loop {
            let job = self.job_on(user, post, platform).await?;
            if job.version != last_version {
                last_version = job.version;
                on_change(&job);
            }
            if done(&job) {
                return Ok(job);
            }
            let left = limit.checked_sub(started.elapsed()).ok_or_else(|| {
                anyhow!(
                    "job of post {post} still {:?} after {limit:?}: {:?}",
                    job.phase,
                    job.error
                )
            })?;
            // Wake on the next invocation, or after a short bound for progress inside a long one.
            let seen = self.runner.log.snapshot().len();
            self.runner
                .log
                .wait_until(left.min(Duration::from_millis(250)), |log| log.len() > seen)
                .await;
        }
    }

    /// What a person does: `POST /api/posts` as `user` (a sub) with `text`, the content type the
    /// file's name implies and `options` merged in (e.g. `{"fit": false}`), then the file sent
    /// with the presigned form. The S3 trigger takes it from there.
    pub async fn post_file(
        &self,
        user: &str,
        file: &std::path::Path,
        text: &str,
        options: serde_json::Value,
    ) -> anyhow::Result<PostedFile> {
        let api = &self.runner.http_url;
        let token = self.auth.mint(user);
        let file_name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "video.mp4".to_owned());
        let mut body =
            serde_json::json!({ "text": text, "platforms": ["twitter"], "file_name": file_name });
        if let (Some(body), Some(options)) = (body.as_object_mut(), options.as_object()) {
            body.extend(options.clone());
        }
        let created = self
            .http
            .post(format!("{api}/api/posts"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        let status = created.status();
        let created: serde_json::Value = created.json().await?;
        if !status.is_success() {
            bail!("creating the post answered {status}: {created}");
        }
        let post_id = created["post_id"].as_str().unwrap_or_default().to_owned();
        let upload = &created["upload"];
        let fields = upload["fields"]
            .as_object()
            .with_context(|| format!("the answer carries no upload form: {created}"))?;
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            form = form.text(name.clone(), value.as_str().unwrap_or_default().to_owned());
        }
        // The file goes last: S3 reads the fields before it and ignores anything after it. A
        // known length lets reqwest send Content-Length, which S3 (and moto) require on a POST.
        let size = tokio::fs::metadata(file).await?.len();
        let reader = tokio::fs::File::open(file).await?;
        let part = reqwest::multipart::Part::stream_with_length(
            reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(reader)),
            size,
        )
        .file_name(file_name)
        .mime_str(upload["content_type"].as_str().unwrap_or("video/mp4"))?;
        let posted = self
            .http
            .post(upload["url"].as_str().unwrap_or_default())
            .multipart(form.part("file", part))
            .send()
            .await?;
        let upload_status = posted.status();
        if !upload_status.is_success() {
            let answer = posted.text().await.unwrap_or_default();
            bail!("the upload answered {upload_status}: {answer}");
        }
        Ok(PostedFile {
            post_id: PostId::parse(&post_id)?,
            created,
            upload_status: upload_status.as_u16(),
        })
    }

    /// `GET /api/posts/{id}` as `user` (a sub).
    pub async fn post_view(&self, user: &str, post: &PostId) -> anyhow::Result<serde_json::Value> {
        let answer = self
            .http
            .get(format!("{}/api/posts/{post}", self.runner.http_url))
            .bearer_auth(self.auth.mint(user))
            .send()
            .await?;
        let status = answer.status();
        let view: serde_json::Value = answer.json().await?;
        if !status.is_success() {
            bail!("GET /api/posts/{post} answered {status}: {view}");
        }
        Ok(view)
    }

    /// Waits (on the runner's invocations, not sleeps) until the post's status is final
    /// (`published`, `failed`, `rejected`, `unconfirmed`), then returns its view.
    pub async fn wait_for_post(
        &self,
        user: &str,
        post: &PostId,
        limit: Duration,
    ) -> anyhow::Result<serde_json::Value> {
        let started = std::time::Instant::now();
        loop {
            let view = self.post_view(user, post).await?;
            if matches!(
                view["status"].as_str(),
                Some(
                    "published"
                        | "partially_published"
                        | "failed"
                        | "rejected"
                        | "unconfirmed"
                        | "cancelled"
                )
            ) {
                return Ok(view);
            }
            let left = limit
                .checked_sub(started.elapsed())
                .ok_or_else(|| anyhow!("post {post} not final after {limit:?}: {view}"))?;
            let seen = self.runner.log.snapshot().len();
            self.runner
                .log
                .wait_until(left.min(Duration::from_millis(250)), |log| log.len() > seen)
                .await;
        }
    }

    pub async fn wait_until_final(
        &self,
        user: &str,
        post: &PostId,
        limit: Duration,
    ) -> anyhow::Result<UploadJob> {
        self.wait_for_job(user, post, limit, |j| j.phase.is_final(), |_| {})
            .await
    }

    /// `wait_until_final` for the post's job on `platform`.
    pub async fn wait_until_final_on(
        &self,
        user: &str,
        post: &PostId,
        platform: Platform,
        limit: Duration,
    ) -> anyhow::Result<UploadJob> {
        self.wait_for_job_on(user, post, platform, limit, |j| j.phase.is_final(), |_| {})
            .await
    }
}

/// A post created through the API with its video uploaded (`World::post_file`).
#[derive(Debug, Clone)]
pub struct PostedFile {
    pub post_id: PostId,
    /// The `POST /api/posts` answer.
    pub created: serde_json::Value,
    /// The upload form's HTTP status.
    pub upload_status: u16,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The OAuth dance a browser does, over HTTP: `GET /api/auth/platforms/twitter/connect` (as
/// JSON) on the API at `api_url` with `bearer`, X's authorize URL (the emulator consents and
/// redirects), then the callback it redirects to, sending back the binding cookie the connect
/// answer set (a browser would; `http` has no cookie store, and one would not send a `Secure`
/// cookie over the runner's plain http). `http` must not follow redirects.
pub async fn connect_via_http(
    http: &reqwest::Client,
    api_url: &str,
    bearer: &str,
) -> anyhow::Result<()> {
    connect_platform_via_http(http, api_url, bearer, Platform::Twitter).await
}

/// `connect_via_http` for any platform: its connect route, its provider's authorize (an
/// emulator), its callback.
pub async fn connect_platform_via_http(
    http: &reqwest::Client,
    api_url: &str,
    bearer: &str,
    platform: Platform,
) -> anyhow::Result<()> {
    let start = http
        .get(format!("{api_url}/api/auth/platforms/{platform}/connect"))
        .bearer_auth(bearer)
        .header("accept", "application/json")
        .send()
        .await?;
    if !start.status().is_success() {
        bail!(
            "connect answered {}: {}",
            start.status(),
            start.text().await.unwrap_or_default()
        );
    }
    // `name=value` of each cookie set; the attributes are the browser's business.
    let cookies: Vec<String> = start
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(|pair| pair.trim().to_owned())
        .collect();
    if cookies.is_empty() {
        bail!("connect set no cookie: the callback would refuse this browser");
    }
    let body: serde_json::Value = start.json().await?;
    let authorize = body["authorize_url"]
        .as_str()
        .ok_or_else(|| anyhow!("no authorize_url in {body}"))?;
    let consent = http.get(authorize).send().await?;
    let callback = consent
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| {
            anyhow!(
                "{}'s authorize answered {} without a redirect",
                platform.display_name(),
                consent.status()
            )
        })?
        .to_owned();
    let done = http
        .get(&callback)
        .header("cookie", cookies.join("; "))
        .send()
        .await?;
    if done.status().is_client_error() || done.status().is_server_error() {
        bail!(
            "the callback answered {}: {}",
            done.status(),
            done.text().await.unwrap_or_default()
        );
    }
    Ok(())
}
