//! The S3 adapter: ranged reads of uploaded videos, and presigned PUTs for uploading them.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::ports::{BlobError, BlobErrorKind, BlobReader, ObjectRef};

#[derive(Clone)]
pub struct S3Blobs {
    client: aws_sdk_s3::Client,
}

impl S3Blobs {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        Self { client }
    }

    /// A presigned PUT for `key`, valid for `expires_in`. Note: moto does not enforce the
    /// signature or the expiry (research/local-aws.md); AWS does.
    pub async fn presign_put(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<String, BlobError> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(expires_in)
            .map_err(|e| BlobError::unavailable(e.to_string()))?;
        let request = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(|e| {
                BlobError::unavailable(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
            })?;
        Ok(request.uri().to_owned())
    }

    /// Size, version and user metadata of an object (`x-amz-meta-*`, names lowercased).
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
                metadata: out.metadata().cloned().unwrap_or_default(),
            })),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(BlobError::unavailable(
                aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ObjectHead {
    pub size_bytes: u64,
    /// The version the pre-flight checks; reads of it are pinned to it.
    pub etag: Option<String>,
    /// Only on a versioned bucket.
    pub version_id: Option<String>,
    pub metadata: std::collections::HashMap<String, String>,
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
            .map_err(|err| {
                let status = err.raw_response().map(|r| r.status().as_u16());
                let missing = err.as_service_error().is_some_and(|e| e.is_no_such_key());
                let kind = match status {
                    Some(412) => BlobErrorKind::Changed,
                    _ if missing => BlobErrorKind::Missing,
                    Some(404) => BlobErrorKind::Missing,
                    _ => BlobErrorKind::Unavailable,
                };
                // The full chain goes to the log; the job (and so the API) gets S3's short code
                // and message only: no request ids, no multi-kilobyte dumps in the job item.
                tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&err), "ranged GET failed");
                BlobError {
                    kind,
                    detail: short_error(&err, status),
                }
            })?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| BlobError::unavailable(e.to_string()))?;
        Ok(body.into_bytes())
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
