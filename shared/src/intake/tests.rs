//! Intake's rules against in-memory ports. The whole path, a real video included, runs against
//! moto in `tools/reelay-local/tests/posts.rs` and `upload.rs`.

use std::collections::HashMap;
use std::sync::Mutex;

use super::*;
use crate::clock::ManualClock;
use crate::ids::UserId;
use crate::messages::JobMessage;
use crate::ports::BlobReader;
use crate::posts::{new_post_id, FitRequest, Platform};
use crate::store::PostPage;

const NOW: i64 = 1_800_000_000_000;
const BUCKET: &str = "uploads-bucket";

fn head(content_type: Option<&str>) -> ObjectHead {
    ObjectHead {
        size_bytes: 1000,
        etag: None,
        version_id: None,
        content_type: content_type.map(str::to_owned),
    }
}

/// What S3 refuses from the form's policy and moto stores anyway.
#[test]
fn content_types_outside_the_form_are_named() {
    assert_eq!(
        content_type_outside_the_form(&head(Some("video/mp4"))),
        None
    );
    assert_eq!(
        content_type_outside_the_form(&head(Some("video/quicktime"))),
        None
    );
    for (object, expected) in [
        (
            head(Some("text/html")),
            "the upload's Content-Type is \"text/html\"; the upload form admits only video/mp4, video/quicktime",
        ),
        (head(None), "Content-Type is \"none\""),
    ] {
        let why = content_type_outside_the_form(&object).expect("refused");
        assert!(why.contains(expected), "{why} should contain {expected}");
    }
    // The size bound the form states is the one the pre-flight check applies.
    assert_eq!(Limits::default().max_bytes, crate::s3::MAX_UPLOAD_BYTES);
}

#[test]
fn only_records_the_uploads_trigger_can_send_are_handled() {
    let ok = "uploads/u1/1764000000000-abcdef123456/clip.mp4";
    assert_eq!(outside_the_trigger("b", "b", ok), None);
    assert_eq!(
        outside_the_trigger("b", "other", ok),
        Some("not the uploads bucket")
    );
    for key in ["", "uploads", "direct/u1/p/clip.mp4", "UPLOADS/u1/p/c.mp4"] {
        assert_eq!(
            outside_the_trigger("b", "b", key),
            Some("not a key under uploads/"),
            "{key:?}"
        );
    }
    let long = format!("uploads/u1/p/{}", "a".repeat(MAX_KEY_BYTES));
    assert_eq!(
        outside_the_trigger("b", "b", &long),
        Some("longer than any S3 key")
    );
}

// ---------------------------------------------------------------- in-memory ports

#[derive(Default)]
struct Posts(Mutex<HashMap<String, (Post, Vec<UploadJob>)>>);

impl Posts {
    fn get(&self, post: &PostId) -> Option<(Post, Vec<UploadJob>)> {
        self.0.lock().unwrap().get(post.as_str()).cloned()
    }
}

#[async_trait]
impl PostStore for Posts {
    async fn create_post(&self, post: &Post) -> Result<(), StoreError> {
        let mut posts = self.0.lock().unwrap();
        posts.insert(post.post_id.to_string(), (post.clone(), vec![]));
        Ok(())
    }
    async fn get_post(&self, _: &UserId, post: &PostId) -> Result<Option<Post>, StoreError> {
        Ok(self.get(post).map(|(p, _)| p))
    }
    async fn save_post(&self, post: &Post) -> Result<(), StoreError> {
        let mut posts = self.0.lock().unwrap();
        match posts.get_mut(post.post_id.as_str()) {
            Some((stored, _)) if stored.version + 1 == post.version => {
                *stored = post.clone();
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }
    async fn list_posts(
        &self,
        _: &UserId,
        _: u32,
        _: Option<&str>,
    ) -> Result<PostPage, StoreError> {
        unreachable!("intake never lists posts")
    }
    async fn post_with_jobs(
        &self,
        user: &UserId,
        post: &PostId,
    ) -> Result<Option<(Post, Vec<UploadJob>)>, StoreError> {
        Ok(self.get(post).filter(|(p, _)| &p.user_id == user))
    }
    async fn start_jobs(&self, post: &Post, jobs: &[UploadJob]) -> Result<(), StoreError> {
        let mut posts = self.0.lock().unwrap();
        match posts.get_mut(post.post_id.as_str()) {
            Some((stored, existing))
                if stored.version + 1 == post.version && existing.is_empty() =>
            {
                *stored = post.clone();
                *existing = jobs.to_vec();
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }
}

#[derive(Default)]
struct Objects {
    objects: Mutex<HashMap<String, (ObjectHead, Vec<u8>)>>,
    /// The ETag each ranged read was pinned to.
    pinned_reads: Mutex<Vec<Option<String>>>,
}

impl Objects {
    fn put(&self, key: &str, content_type: &str, bytes: &[u8]) {
        let head = ObjectHead {
            size_bytes: bytes.len() as u64,
            etag: Some("\"etag-1\"".into()),
            version_id: None,
            content_type: Some(content_type.into()),
        };
        let mut objects = self.objects.lock().unwrap();
        objects.insert(format!("{BUCKET}/{key}"), (head, bytes.to_vec()));
    }
    fn exists(&self, key: &str) -> bool {
        let objects = self.objects.lock().unwrap();
        objects.contains_key(&format!("{BUCKET}/{key}"))
    }
}

#[async_trait]
impl BlobReader for Objects {
    async fn read_range(
        &self,
        object: ObjectRef<'_>,
        start: u64,
        len: u64,
    ) -> Result<Bytes, BlobError> {
        let objects = self.objects.lock().unwrap();
        let (_, bytes) = objects
            .get(&format!("{}/{}", object.bucket, object.key))
            .ok_or_else(|| BlobError::unavailable("gone"))?;
        self.pinned_reads
            .lock()
            .unwrap()
            .push(object.etag.map(str::to_owned));
        let start = (start as usize).min(bytes.len());
        let end = (start + len as usize).min(bytes.len());
        Ok(Bytes::copy_from_slice(&bytes[start..end]))
    }
}

#[async_trait]
impl UploadedObjects for Objects {
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectHead>, BlobError> {
        let objects = self.objects.lock().unwrap();
        Ok(objects
            .get(&format!("{bucket}/{key}"))
            .map(|(h, _)| h.clone()))
    }
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), BlobError> {
        self.objects
            .lock()
            .unwrap()
            .remove(&format!("{bucket}/{key}"));
        Ok(())
    }
}

#[derive(Default)]
struct Sent(Mutex<Vec<JobMessage>>);

#[async_trait]
impl WorkQueue for Sent {
    async fn send(&self, message: &JobMessage, _: u32) -> Result<(), QueueError> {
        self.0.lock().unwrap().push(message.clone());
        Ok(())
    }
}

struct Fixture {
    posts: Posts,
    objects: Objects,
    sent: Sent,
    /// fit-video's queue.
    fit_sent: Sent,
    clock: ManualClock,
}

impl Fixture {
    fn new() -> Self {
        Self {
            posts: Posts::default(),
            objects: Objects::default(),
            sent: Sent::default(),
            fit_sent: Sent::default(),
            clock: ManualClock::new(NOW),
        }
    }

    fn intake(&self) -> Intake<'_> {
        Intake {
            bucket: BUCKET,
            posts: &self.posts,
            queue: &self.sent,
            fit_queue: &self.fit_sent,
            objects: &self.objects,
            clock: &self.clock,
            segment_size: DEFAULT_SEGMENT_SIZE,
        }
    }

    /// A draft as `POST /api/posts` leaves it, and the key its form uploads to.
    async fn draft(&self) -> (Post, String) {
        self.draft_with(FitRequest::default()).await
    }

    /// A draft that asked for `fit`.
    async fn draft_with(&self, fit: FitRequest) -> (Post, String) {
        let mut post = Post::draft(
            UserId::parse("u1").unwrap(),
            new_post_id(NOW),
            "hello".into(),
            vec![Platform::Twitter],
            NOW,
        );
        post.fit = fit;
        self.posts.create_post(&post).await.unwrap();
        let key = format!("uploads/u1/{}/clip.mp4", post.post_id);
        (post, key)
    }

    async fn receive(&self, key: &str) -> ObjectOutcome {
        let object = CreatedObject {
            bucket: BUCKET.into(),
            raw_key: key.into(),
            size: 26,
        };
        self.intake().receive(object).await.expect("no port fails")
    }
}

#[tokio::test]
async fn an_object_without_a_draft_is_deleted_and_writes_no_post() {
    let f = Fixture::new();
    let unknown = format!("uploads/u1/{}/clip.mp4", new_post_id(NOW));
    let not_minted = "uploads/u1/my-own-id/clip.mp4";
    let wrong_shape = "uploads/u1/clip.mp4";
    for key in [unknown.as_str(), not_minted, wrong_shape] {
        f.objects.put(key, "video/mp4", b"anything");
        let outcome = f.receive(key).await;
        assert_eq!(outcome.post_id, None, "{outcome:?}");
        assert!(
            outcome.result.contains("rejected and deleted: "),
            "{outcome:?}"
        );
        assert!(!f.objects.exists(key), "{key} should be deleted");
    }
    assert!(f.posts.0.lock().unwrap().is_empty());
    assert!(f.sent.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn objects_outside_the_trigger_are_left_alone() {
    let f = Fixture::new();
    let (_, key) = f.draft().await;
    f.objects.put(&key, "video/mp4", b"anything");
    let other_bucket = CreatedObject {
        bucket: "someone-elses".into(),
        raw_key: key.clone(),
        size: 8,
    };
    let outcome = f.intake().receive(other_bucket).await.unwrap();
    assert_eq!(outcome.result, "ignored: not the uploads bucket");
    assert!(f.objects.exists(&key), "nothing is deleted for it");
    let undecodable = f.receive("uploads/u1/%FF/clip.mp4").await;
    assert!(
        undecodable.result.starts_with("rejected: "),
        "{undecodable:?}"
    );
}

#[tokio::test]
async fn a_refused_upload_is_recorded_on_its_draft_and_deleted() {
    let f = Fixture::new();
    // The form's content type, checked before any read.
    let (post, key) = f.draft().await;
    f.objects.put(&key, "text/html", b"<html></html>");
    let outcome = f.receive(&key).await;
    assert_eq!(outcome.post_id.as_deref(), Some(post.post_id.as_str()));
    let (stored, jobs) = f.posts.get(&post.post_id).unwrap();
    assert_eq!(stored.status, PostStatus::Rejected);
    assert!(stored.rejection.unwrap().contains("\"text/html\""));
    assert_eq!((stored.version, jobs.len()), (2, 0));
    assert!(!f.objects.exists(&key));
    assert!(f.objects.pinned_reads.lock().unwrap().is_empty());

    // Bytes that are no video, from a post that asked not to fit its video: the pre-flight
    // check refuses them, reading the HEAD's version.
    let no_fitting = FitRequest {
        enabled: false,
        ..FitRequest::default()
    };
    let (post, key) = f.draft_with(no_fitting).await;
    f.objects
        .put(&key, "video/mp4", b"this is not a video at all");
    let outcome = f.receive(&key).await;
    let (stored, _) = f.posts.get(&post.post_id).unwrap();
    assert_eq!(stored.status, PostStatus::Rejected);
    let reason = stored.rejection.expect("a reason");
    assert!(outcome.result.contains(&reason), "{outcome:?}");
    let reads = f.objects.pinned_reads.lock().unwrap().clone();
    assert!(!reads.is_empty());
    assert!(reads.iter().all(|e| e.as_deref() == Some("\"etag-1\"")));
    assert!(!f.objects.exists(&key));

    // A duplicate event of the refused object: deleted again, the post left as it is.
    f.objects
        .put(&key, "video/mp4", b"this is not a video at all");
    let again = f.receive(&key).await;
    assert!(again.result.contains("already rejected"), "{again:?}");
    assert!(!f.objects.exists(&key));
    assert!(f.sent.0.lock().unwrap().is_empty());
    assert!(f.fit_sent.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_video_arriving_for_a_cancelled_draft_is_deleted_and_starts_nothing() {
    let f = Fixture::new();
    let (mut post, key) = f.draft().await;
    // DELETE /api/posts/{id} before the upload arrived.
    post.cancelled_at_ms = Some(NOW);
    post.status = PostStatus::Cancelled;
    post.version += 1;
    f.posts.save_post(&post).await.unwrap();
    f.objects
        .put(&key, "video/mp4", b"a video nobody will post");
    let outcome = f.receive(&key).await;
    assert!(outcome.result.contains("cancelled"), "{outcome:?}");
    assert!(!f.objects.exists(&key), "the video is deleted");
    let (stored, jobs) = f.posts.get(&post.post_id).unwrap();
    assert_eq!((stored.status, jobs.len()), (PostStatus::Cancelled, 0));
    assert!(f.sent.0.lock().unwrap().is_empty());
    assert!(f.fit_sent.0.lock().unwrap().is_empty());
}

/// What the pre-flight refuses but a conversion may save goes to fit-video's queue (never the
/// work queue), as a job that starts `Fitting` and keeps the original and the reason; what no
/// conversion saves is rejected at once.
#[tokio::test]
async fn a_video_to_fit_starts_its_jobs_on_fit_videos_queue() {
    let f = Fixture::new();
    let (post, key) = f.draft().await;
    f.objects
        .put(&key, "video/mp4", b"this is not an mp4, maybe a webm");
    let outcome = f.receive(&key).await;
    assert!(outcome.result.contains("being fitted"), "{outcome:?}");
    let (stored, jobs) = f.posts.get(&post.post_id).unwrap();
    assert_eq!(stored.status, PostStatus::Processing);
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.phase, Phase::Fitting);
    let fit = job.fit.as_ref().expect("fit state");
    assert_eq!(fit.original.key, key);
    assert_eq!(fit.original.etag.as_deref(), Some("\"etag-1\""));
    assert!(fit.reason.contains("not an MP4"), "{}", fit.reason);
    assert!(f.objects.exists(&key), "the original is kept for fit-video");
    assert_eq!(f.fit_sent.0.lock().unwrap().clone(), vec![job.message()]);
    assert!(f.sent.0.lock().unwrap().is_empty());

    // A duplicate event sends nothing new while the job is young.
    let again = f.receive(&key).await;
    assert!(again.result.contains("already has its jobs"), "{again:?}");
    assert_eq!(f.fit_sent.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_vanished_object_changes_nothing() {
    let f = Fixture::new();
    let (post, key) = f.draft().await;
    let outcome = f.receive(&key).await;
    assert!(outcome.result.contains("no longer exists"), "{outcome:?}");
    assert_eq!(f.posts.get(&post.post_id).unwrap().0, post);
}

#[tokio::test]
async fn a_duplicate_event_resends_only_jobs_untouched_for_long_enough() {
    let f = Fixture::new();
    let (mut post, key) = f.draft().await;
    let source = SourceObject {
        bucket: BUCKET.into(),
        key: key.clone(),
        size_bytes: 26,
        media_type: "video/mp4".into(),
        media_category: "amplify_video".into(),
        etag: None,
        version_id: None,
    };
    post.status = PostStatus::Processing;
    post.version += 1;
    let job = UploadJob::new(&post, Platform::Twitter, source, DEFAULT_SEGMENT_SIZE, NOW);
    f.posts
        .start_jobs(&post, std::slice::from_ref(&job))
        .await
        .unwrap();

    // Soon after the first delivery, which may still be sending: nothing goes out.
    f.clock.advance_ms(RESEND_AFTER_MS - 1);
    assert!(f
        .receive(&key)
        .await
        .result
        .contains("0 message(s) re-sent"));
    assert!(f.sent.0.lock().unwrap().is_empty());

    // Long enough for a crash between the transaction and the send: the message goes again.
    f.clock.advance_ms(1);
    assert!(f
        .receive(&key)
        .await
        .result
        .contains("1 message(s) re-sent"));
    assert_eq!(*f.sent.0.lock().unwrap(), vec![job.message()]);
}
