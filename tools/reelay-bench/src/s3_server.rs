//! The benchmark's S3: `s3s-fs` (files on disk behind the `s3s` S3 protocol layer), run as its
//! own process by `reelay-bench s3-server`, so that its memory and CPU are not the worker's.
//!
//! Why not moto: moto (5.x) builds the whole object's bytes for every ranged GET and then slices
//! them, so one GET of a 4 MiB segment costs O(object size) and an upload O(size²) — a 512 MiB
//! upload spent 70 s of its 73 s in moto's GETs. S3 serves a range in time proportional to the
//! range, and so does s3s-fs: its `GetObject` opens the file, seeks to the range's first byte and
//! streams only the range. moto stays for DynamoDB, SQS, KMS, SNS and everything else; only the
//! S3 client of the bench's processes points here.
//!
//! One gap filled here: s3s-fs (0.14 to 0.17) parses `If-Match` on `GetObject` but never checks
//! it (it does for `PutObject` and `CompleteMultipartUpload`). The engine pins every read to the
//! ETag the intake saw and treats S3's 412 as "the object changed". [`Pinned`] answers 412
//! `PreconditionFailed` when the ETag differs, as S3 does, by comparing with the ETag s3s-fs
//! saved when the object was written (a small JSON read, not a hash of the file), and passes every
//! other call to s3s-fs unchanged. The check and the read are not atomic; the bench never
//! rewrites an object while it is read.
//!
//! Requests are signed and checked (SigV4, the SDK's test credentials), as S3 checks them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CreateBucketInput, CreateBucketOutput,
    CreateMultipartUploadInput, CreateMultipartUploadOutput, DeleteObjectInput, DeleteObjectOutput,
    ETagCondition, GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput,
    HeadObjectInput, HeadObjectOutput, PutObjectInput, PutObjectOutput, UploadPartInput,
    UploadPartOutput,
};
use s3s::service::S3ServiceBuilder;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};

#[derive(Debug, Clone, clap::Args)]
pub struct S3ServerArgs {
    /// Directory that holds the buckets (one sub-directory each).
    #[arg(long)]
    pub root: PathBuf,
    #[arg(long)]
    pub port: u16,
    #[arg(long)]
    pub access_key: String,
    #[arg(long)]
    pub secret_key: String,
}

/// Serves S3 on `127.0.0.1:port` until the process is stopped.
pub async fn serve(args: S3ServerArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.root)?;
    let fs = s3s_fs::FileSystem::new(&args.root)
        .map_err(|e| anyhow::anyhow!("s3s-fs on {}: {e:?}", args.root.display()))?;
    let service = {
        let mut builder = S3ServiceBuilder::new(Pinned(fs));
        builder.set_auth(SimpleAuth::from_single(
            args.access_key.as_str(),
            args.secret_key.as_str(),
        ));
        builder.build()
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port)))
        .await
        .with_context(|| format!("binding port {}", args.port))?;
    let http = ConnBuilder::new(TokioExecutor::new());
    loop {
        let (socket, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                eprintln!("s3-server: accept failed: {err}");
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let conn = http
            .serve_connection(TokioIo::new(socket), service.clone())
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

/// s3s-fs with `If-Match` checked on `GetObject` (see the module's documentation).
struct Pinned(s3s_fs::FileSystem);

#[async_trait::async_trait]
impl S3 for Pinned {
    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        if let Some(ETagCondition::ETag(expected)) = &req.input.if_match {
            let head = S3Request {
                input: HeadObjectInput::builder()
                    .bucket(req.input.bucket.clone())
                    .key(req.input.key.clone())
                    .build()
                    .map_err(|e| s3_error!(InternalError, "{e}"))?,
                method: req.method.clone(),
                uri: req.uri.clone(),
                headers: req.headers.clone(),
                extensions: Default::default(),
                credentials: req.credentials.clone(),
                region: req.region.clone(),
                service: req.service.clone(),
                trailing_headers: None,
            };
            let current = self.0.head_object(head).await?.output.e_tag;
            if !current.as_ref().is_some_and(|c| c.strong_cmp(expected)) {
                return Err(s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                ));
            }
        }
        self.0.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.0.head_object(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.0.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.0.head_bucket(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.0.put_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.0.delete_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.0.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.0.upload_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.0.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.0.abort_multipart_upload(req).await
    }
}

/// A running `reelay-bench s3-server` process. Dropping it stops the process.
pub struct S3ServerProcess {
    pub endpoint: String,
    child: Child,
}

impl S3ServerProcess {
    /// Starts this binary's `s3-server` on `port` over `root` and waits until it accepts
    /// connections.
    pub async fn start(
        root: &Path,
        port: u16,
        credentials: (&str, &str),
        log: &Path,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let command = [
            exe.to_string_lossy().into_owned(),
            "s3-server".into(),
            "--root".into(),
            root.to_string_lossy().into_owned(),
            "--port".into(),
            port.to_string(),
            "--access-key".into(),
            credentials.0.to_owned(),
            "--secret-key".into(),
            credentials.1.to_owned(),
        ];
        let child = crate::emulator::spawn_watched(&command, log).context("starting s3-server")?;
        let server = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(server);
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!(
                    "s3-server did not listen on {port} within 30 s (log: {})",
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for S3ServerProcess {
    fn drop(&mut self) {
        crate::emulator::stop_watched(&mut self.child);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelay_shared::ports::{BlobErrorKind, BlobReader, ObjectRef};
    use reelay_shared::s3::S3Blobs;

    /// The bench's S3 serves ranges of an object written by multipart upload, returns its ETag on
    /// HEAD, and answers a GET pinned to another ETag with 412, which the engine's reader takes
    /// for "the object changed".
    #[tokio::test]
    async fn ranged_gets_are_served_and_pinned_to_the_etag() {
        let root = std::env::temp_dir().join(format!("reelay-bench-s3-{}", std::process::id()));
        let port = reelay_local::moto::free_port().unwrap();
        let conf = reelay_local::harness::sdk_config_for(&format!("http://127.0.0.1:{port}")).await;
        let credentials = {
            use aws_sdk_s3::config::ProvideCredentials as _;
            conf.credentials_provider()
                .unwrap()
                .provide_credentials()
                .await
                .unwrap()
        };
        let server = tokio::spawn(serve(S3ServerArgs {
            root: root.clone(),
            port,
            access_key: credentials.access_key_id().to_owned(),
            secret_key: credentials.secret_access_key().to_owned(),
        }));
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let s3 = crate::counting::clients(
            "http://127.0.0.1:1",
            Some(&format!("http://127.0.0.1:{port}")),
            None,
        )
        .await
        .s3;
        s3.create_bucket()
            .bucket("bench-bucket")
            .send()
            .await
            .unwrap();
        // As the driver writes the videos: a multipart upload.
        let video = crate::video::upload(&s3, "bench-bucket", "v.mp4", 6)
            .await
            .unwrap();
        let blobs = S3Blobs::new(s3.clone());
        let head = blobs.head("bench-bucket", "v.mp4").await.unwrap().unwrap();
        assert_eq!(head.size_bytes, video.bytes);
        let etag = head.etag.clone().expect("an ETag");
        // S3's form of a multipart upload's ETag: `"<md5 of the parts' md5s>-<parts>"`.
        assert!(etag.starts_with('"') && etag.ends_with("-1\""), "{etag}");

        fn object<'a>(key: &'a str, etag: Option<&'a str>) -> ObjectRef<'a> {
            ObjectRef {
                bucket: "bench-bucket",
                key,
                etag,
                version_id: None,
            }
        }
        // Past the header, in the filler.
        let start = 5 * 1024 * 1024 - 10;
        let got = blobs
            .read_range(object("v.mp4", Some(&etag)), start, 20)
            .await
            .unwrap();
        let mut expected = Vec::new();
        crate::video::fill_range(&mut expected, video.bytes, start, 20).unwrap();
        assert_eq!(got.as_ref(), expected.as_slice());

        let err = blobs
            .read_range(
                object("v.mp4", Some("\"0123456789abcdef0123456789abcdef-1\"")),
                0,
                10,
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, BlobErrorKind::Changed, "{}", err.detail);
        let err = blobs
            .read_range(object("missing.mp4", None), 0, 10)
            .await
            .unwrap_err();
        assert_eq!(err.kind, BlobErrorKind::Missing, "{}", err.detail);

        server.abort();
        let _ = std::fs::remove_dir_all(&root);
    }
}
