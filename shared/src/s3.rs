//! The S3 adapter: ranged reads of uploaded videos, the signed POST form users upload them with,
//! and deletion of the ones Reelay refuses.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;
use thiserror::Error;

pub use crate::ports::ObjectHead;
use crate::ports::{BlobError, BlobErrorKind, BlobReader, ObjectRef, UploadedObjects};

/// The content types an upload form admits: those X's upload INIT takes (research/x-api.md §6),
/// and WebM and Matroska, which fit-video converts to MP4 first (issue 14). The form names
/// exactly one of them; S3 refuses any other.
pub const UPLOAD_CONTENT_TYPES: &[&str] = &[
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/x-matroska",
];

/// The largest upload a form admits: X's 512 MiB cap for `amplify_video`, the pre-flight check's
/// own limit (a test keeps the two equal). S3 refuses a bigger body before storing it.
pub const MAX_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Clone)]
pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    /// The credentials the client signs with, for the one signature the SDK does not make: the
    /// POST policy (`presign_post`). `None` where nothing is presigned.
    credentials: Option<SharedCredentialsProvider>,
}

/// An upload form: POST `fields` to `url` as `multipart/form-data`, with the file as the last
/// part (named `file`); S3 ignores any part after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadForm {
    pub url: String,
    pub fields: BTreeMap<String, String>,
}

/// What a POST form lets its holder upload: one exact key, one content type, 1 byte to
/// `max_bytes`, until `expires_in` from now.
#[derive(Debug, Clone, Copy)]
pub struct PostPolicy<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub content_type: &'a str,
    pub max_bytes: u64,
    pub expires_in: Duration,
}

#[derive(Debug, Error)]
pub enum PresignError {
    #[error("no AWS credentials are configured to sign the upload form")]
    NoCredentials,
    #[error("the AWS credentials could not be resolved")]
    Credentials(#[source] CredentialsError),
    #[error("no AWS region is configured to sign the upload form")]
    NoRegion,
    #[error("the bucket's endpoint could not be resolved: {0}")]
    Endpoint(String),
}

impl S3Blobs {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        Self {
            client,
            credentials: None,
        }
    }

    /// An adapter that can also sign upload forms with `credentials` (the SDK configuration's
    /// provider, the same the client signs its own requests with).
    pub fn with_credentials(
        client: aws_sdk_s3::Client,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Self {
        Self {
            client,
            credentials,
        }
    }

    /// A presigned POST form for `policy`, signed at `now`. S3 itself enforces every condition of
    /// the policy (key, content type, size range, expiry, signature), so an object that does not
    /// fit is never stored. moto enforces none of them (README "The local runner"); create-post
    /// checks size and type again for that reason.
    ///
    /// Hand-written because the AWS SDK for Rust has no presigned-POST helper (it presigns
    /// requests, not POST policies). The crypto is `aws-sigv4`'s: the same signing-key derivation
    /// and HMAC the SDK signs every request with.
    pub async fn presign_post(
        &self,
        policy: &PostPolicy<'_>,
        now: SystemTime,
    ) -> Result<UploadForm, PresignError> {
        let credentials = self
            .credentials
            .as_ref()
            .ok_or(PresignError::NoCredentials)?
            .provide_credentials()
            .await
            .map_err(PresignError::Credentials)?;
        let region = self
            .client
            .config()
            .region()
            .ok_or(PresignError::NoRegion)?
            .to_string();
        let url = self.bucket_url(policy.bucket).await?;
        Ok(sign_post_form(url, policy, &credentials, &region, now))
    }

    /// The bucket's URL as the SDK resolves it: virtual-hosted on AWS
    /// (`https://{bucket}.s3.{region}.amazonaws.com/`, the form's documented action), path-style
    /// under an endpoint override (`http://127.0.0.1:port/{bucket}`). The SDK's resolver is not
    /// callable on its own, so a bucket-level request is presigned (no network) and its query
    /// dropped.
    async fn bucket_url(&self, bucket: &str) -> Result<String, PresignError> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60))
            .map_err(|e| PresignError::Endpoint(e.to_string()))?;
        let request = self
            .client
            .list_object_versions()
            .bucket(bucket)
            .presigned(config)
            .await
            .map_err(|e| {
                PresignError::Endpoint(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
            })?;
        let mut url =
            url::Url::parse(request.uri()).map_err(|e| PresignError::Endpoint(e.to_string()))?;
        url.set_query(None);
        Ok(url.to_string())
    }

    /// Deletes an object Reelay refused. Deleting a missing key succeeds, so a retried event
    /// deletes again harmlessly.
    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| {
                let status = err.raw_response().map(|r| r.status().as_u16());
                tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&err), "DeleteObject failed");
                BlobError::unavailable(short_error(&err, status))
            })
    }

    /// Size, version and content type of an object.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectHead>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectHead {
                size_bytes: out.content_length().unwrap_or(0).max(0) as u64,
                etag: out.e_tag().map(str::to_owned),
                version_id: out.version_id().map(str::to_owned),
                content_type: out.content_type().map(str::to_owned),
            })),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(BlobError::unavailable(
                aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
            )),
        }
    }
}

#[async_trait]
impl UploadedObjects for S3Blobs {
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectHead>, BlobError> {
        S3Blobs::head(self, bucket, key).await
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), BlobError> {
        S3Blobs::delete(self, bucket, key).await
    }
}

#[async_trait]
impl BlobReader for S3Blobs {
    /// A ranged GET, with `If-Match` (and the version) when the object is pinned: S3 answers 412
    /// when the object changed since, and 404 when it is gone.
    #[tracing::instrument(skip(self, object), fields(key = object.key), level = "debug")]
    async fn read_range(
        &self,
        object: ObjectRef<'_>,
        start: u64,
        len: u64,
    ) -> Result<Bytes, BlobError> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        let range = format!("bytes={}-{}", start, start + len - 1);
        let out = self
            .client
            .get_object()
            .bucket(object.bucket)
            .key(object.key)
            .range(range)
            .set_if_match(object.etag.map(str::to_owned))
            .set_version_id(object.version_id.map(str::to_owned))
            .send()
            .await
            .map_err(get_failed)?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| BlobError::unavailable(e.to_string()))?;
        Ok(body.into_bytes())
    }
}

/// A failed GET as the engine and the fit step judge it: 412 (the object changed since it was
/// checked) and 404 are permanent, the rest transient.
fn get_failed(
    err: aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::get_object::GetObjectError>,
) -> BlobError {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let missing = err.as_service_error().is_some_and(|e| e.is_no_such_key());
    let kind = match status {
        Some(412) => BlobErrorKind::Changed,
        _ if missing => BlobErrorKind::Missing,
        Some(404) => BlobErrorKind::Missing,
        _ => BlobErrorKind::Unavailable,
    };
    // The full chain goes to the log; the job (and so the API) gets S3's short code and message
    // only: no request ids, no multi-kilobyte dumps in the job item.
    tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&err), "GET failed");
    BlobError {
        kind,
        detail: short_error(&err, status),
    }
}

/// S3's error code and message, or the HTTP status, for a job's history and the API.
fn short_error<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>, status: Option<u16>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    use aws_sdk_s3::error::SdkError;
    let text = match err {
        SdkError::ServiceError(e) => {
            let meta = e.err();
            match (meta.code(), meta.message()) {
                (Some(code), Some(message)) => format!("S3 {code}: {message}"),
                (Some(code), None) => format!("S3 {code}"),
                _ => format!("S3 answered {}", status.unwrap_or(0)),
            }
        }
        SdkError::TimeoutError(_) => "S3 did not answer in time".to_owned(),
        SdkError::DispatchFailure(_) => "S3 could not be reached".to_owned(),
        SdkError::ResponseError(_) => "S3's answer could not be read".to_owned(),
        _ => "the request to S3 failed".to_owned(),
    };
    text.chars().take(200).collect()
}

/// Adapts one S3 object to the pre-flight check's reader.
pub struct S3Object {
    pub blobs: S3Blobs,
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// The version the HEAD saw: the pre-flight reads exactly that version.
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

#[async_trait]
impl video_preflight::RangeReader for S3Object {
    fn size(&self) -> u64 {
        self.size
    }

    async fn read_range(&self, start: u64, len: u64) -> Result<Bytes, video_preflight::ReadError> {
        let len = len.min(self.size.saturating_sub(start));
        let object = ObjectRef {
            bucket: &self.bucket,
            key: &self.key,
            etag: self.etag.as_deref(),
            version_id: self.version_id.as_deref(),
        };
        BlobReader::read_range(&self.blobs, object, start, len)
            .await
            .map_err(|e| video_preflight::ReadError::Backend(Box::new(e)))
    }
}

// ---------------------------------------------------------------- the POST policy (SigV4)

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Signs `policy` as S3's browser-based POST upload with SigV4 wants it
/// (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html): a JSON policy
/// with its expiration and every condition, base64-encoded; that string is what is signed, with
/// the SigV4 signing key of the date, region and service `s3`. Every form field but the signature
/// and the file must appear in the conditions, so the form cannot carry extra metadata either.
pub fn sign_post_form(
    url: String,
    policy: &PostPolicy<'_>,
    credentials: &Credentials,
    region: &str,
    now: SystemTime,
) -> UploadForm {
    // Whole seconds: x-amz-date has no fraction, and the signing key's date must be the same day.
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let now = UNIX_EPOCH + Duration::from_secs(now_secs);
    let amz_date = compact_utc(now_secs);
    let credential = format!(
        "{}/{}/{region}/s3/aws4_request",
        credentials.access_key_id(),
        &amz_date[..8]
    );
    let expiration = iso8601(now_secs + policy.expires_in.as_secs());

    let mut fields = BTreeMap::from([
        ("key".to_owned(), policy.key.to_owned()),
        ("Content-Type".to_owned(), policy.content_type.to_owned()),
        ("x-amz-algorithm".to_owned(), ALGORITHM.to_owned()),
        ("x-amz-credential".to_owned(), credential.clone()),
        ("x-amz-date".to_owned(), amz_date.clone()),
    ]);
    let mut conditions = vec![
        serde_json::json!({ "bucket": policy.bucket }),
        // Exact matches, not `starts-with`: the form is good for this one key and type only.
        serde_json::json!({ "key": policy.key }),
        serde_json::json!({ "Content-Type": policy.content_type }),
        // From 1 byte: an empty upload is refused too.
        serde_json::json!(["content-length-range", 1, policy.max_bytes]),
        serde_json::json!({ "x-amz-algorithm": ALGORITHM }),
        serde_json::json!({ "x-amz-credential": credential }),
        serde_json::json!({ "x-amz-date": amz_date }),
    ];
    // Lambda's role credentials are temporary: S3 needs their session token, and as a form field
    // it must be in the policy like every other.
    if let Some(token) = credentials.session_token() {
        fields.insert("x-amz-security-token".to_owned(), token.to_owned());
        conditions.push(serde_json::json!({ "x-amz-security-token": token }));
    }
    let document = serde_json::json!({ "expiration": expiration, "conditions": conditions });
    let encoded = base64::engine::general_purpose::STANDARD.encode(document.to_string());
    let signature = policy_signature(&encoded, credentials.secret_access_key(), now, region);
    fields.insert("policy".to_owned(), encoded);
    fields.insert("x-amz-signature".to_owned(), signature);
    UploadForm { url, fields }
}

/// The SigV4 signature of a base64 POST policy: HMAC-SHA256 with the signing key derived from the
/// secret, the date, the region and `s3`.
fn policy_signature(encoded_policy: &str, secret: &str, at: SystemTime, region: &str) -> String {
    use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
    let key = generate_signing_key(secret, at, region, "s3");
    calculate_signature(key, encoded_policy.as_bytes())
}

/// `20261202T033000Z`, SigV4's `x-amz-date`.
fn compact_utc(secs: u64) -> String {
    iso8601(secs).replace(['-', ':'], "")
}

/// `2026-12-02T03:30:00Z`, the policy's `expiration`.
fn iso8601(secs: u64) -> String {
    crate::clock::rfc3339(i64::try_from(secs).unwrap_or(i64::MAX))
}

#[async_trait]
impl crate::fitter::VideoFiles for S3Blobs {
    /// One GET streamed to the file, pinned like every read (`If-Match`, the version).
    #[tracing::instrument(skip(self, object, to), fields(key = object.key))]
    async fn download(
        &self,
        object: ObjectRef<'_>,
        to: &std::path::Path,
    ) -> Result<u64, BlobError> {
        use tokio::io::AsyncWriteExt;
        let out = self
            .client
            .get_object()
            .bucket(object.bucket)
            .key(object.key)
            .set_if_match(object.etag.map(str::to_owned))
            .set_version_id(object.version_id.map(str::to_owned))
            .send()
            .await
            .map_err(get_failed)?;
        let local = |e: std::io::Error| {
            BlobError::unavailable(format!("writing the video to local storage: {e}"))
        };
        let mut file = tokio::fs::File::create(to).await.map_err(local)?;
        let mut body = out.body;
        let mut written = 0_u64;
        // Chunk by chunk: a video of hundreds of MiB never sits in memory whole.
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| BlobError::unavailable(e.to_string()))?
        {
            file.write_all(&chunk).await.map_err(local)?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(local)?;
        Ok(written)
    }

    /// One PutObject from the file (S3 takes up to 5 GB in one; a fitted video stays far below).
    #[tracing::instrument(skip(self, from), fields(key))]
    async fn upload(
        &self,
        bucket: &str,
        key: &str,
        from: &std::path::Path,
        content_type: &str,
    ) -> Result<crate::fitter::StoredFile, BlobError> {
        let size_bytes = tokio::fs::metadata(from)
            .await
            .map_err(|e| BlobError::unavailable(format!("reading the converted video: {e}")))?
            .len();
        let body = aws_sdk_s3::primitives::ByteStream::from_path(from)
            .await
            .map_err(|e| BlobError::unavailable(format!("reading the converted video: {e}")))?;
        let out = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|err| {
                let status = err.raw_response().map(|r| r.status().as_u16());
                tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&err), "PUT failed");
                BlobError::unavailable(short_error(&err, status))
            })?;
        Ok(crate::fitter::StoredFile {
            etag: out.e_tag().map(str::to_owned),
            version_id: out.version_id().map(str::to_owned),
            size_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's worked example for POST with SigV4 (docs.aws.amazon.com/AmazonS3/latest/API/
    /// sigv4-post-example.html): its base64 policy, signed with the documented example secret on
    /// 2015-12-29 in us-east-1, has exactly this signature.
    #[test]
    fn signature_matches_aws_worked_example() {
        let policy = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
        let at = UNIX_EPOCH + Duration::from_secs(1_451_347_200); // 2015-12-29T00:00:00Z
        assert_eq!(
            policy_signature(
                policy,
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                at,
                "us-east-1"
            ),
            "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
        );
    }

    fn form(session_token: Option<&str>) -> UploadForm {
        let credentials = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            session_token.map(str::to_owned),
            None,
            "test",
        );
        let policy = PostPolicy {
            bucket: "reelay-uploads",
            key: "uploads/ana/1764000000000-0123456789ab/clip.mp4",
            content_type: "video/mp4",
            max_bytes: MAX_UPLOAD_BYTES,
            expires_in: Duration::from_secs(900),
        };
        // 2025-11-24T16:00:00.750Z: the fraction is dropped.
        let at = UNIX_EPOCH + Duration::from_millis(1_764_000_000_750);
        sign_post_form(
            "https://reelay-uploads.s3.us-east-1.amazonaws.com/".into(),
            &policy,
            &credentials,
            "us-east-1",
            at,
        )
    }

    fn decoded_policy(form: &UploadForm) -> serde_json::Value {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&form.fields["policy"])
            .expect("base64");
        serde_json::from_slice(&raw).expect("JSON")
    }

    #[test]
    fn the_policy_pins_key_type_size_and_expiry_and_signs_every_field() {
        let form = form(None);
        let policy = decoded_policy(&form);
        assert_eq!(policy["expiration"], "2025-11-24T16:15:00Z");
        assert_eq!(
            policy["conditions"],
            serde_json::json!([
                { "bucket": "reelay-uploads" },
                { "key": "uploads/ana/1764000000000-0123456789ab/clip.mp4" },
                { "Content-Type": "video/mp4" },
                ["content-length-range", 1, 536_870_912],
                { "x-amz-algorithm": "AWS4-HMAC-SHA256" },
                { "x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20251124/us-east-1/s3/aws4_request" },
                { "x-amz-date": "20251124T160000Z" },
            ])
        );
        // S3 refuses a form with a field the policy does not name: every field but the signature
        // and the policy itself is a condition, with the same value.
        let conditions = policy["conditions"].as_array().unwrap();
        for (name, value) in &form.fields {
            if name == "policy" || name == "x-amz-signature" {
                continue;
            }
            assert!(
                conditions.iter().any(|c| c[name.as_str()] == *value),
                "{name} is not in the policy"
            );
        }
        assert_eq!(
            form.fields["x-amz-signature"],
            policy_signature(
                &form.fields["policy"],
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                UNIX_EPOCH + Duration::from_secs(1_764_000_000),
                "us-east-1"
            )
        );
        assert!(!form.fields.contains_key("x-amz-security-token"));
    }

    #[test]
    fn temporary_credentials_carry_their_session_token_in_form_and_policy() {
        let form = form(Some("session-token-from-lambda"));
        assert_eq!(
            form.fields["x-amz-security-token"],
            "session-token-from-lambda"
        );
        let policy = decoded_policy(&form);
        assert!(policy["conditions"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({ "x-amz-security-token": "session-token-from-lambda" })));
    }

    #[test]
    fn the_size_bound_is_the_preflight_check_s() {
        assert_eq!(
            MAX_UPLOAD_BYTES,
            video_preflight::Limits::default().max_bytes
        );
    }
}
