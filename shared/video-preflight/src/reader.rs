//! The port the check reads through, and the adapters that are not S3.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

/// Ranged reads from an object of known size: S3 in production (one ranged
/// GET per call; the size comes from `Content-Range` or the S3 event), a file
/// or a buffer in tests.
#[async_trait::async_trait]
pub trait RangeReader: Send + Sync {
    /// Total size of the object in bytes.
    fn size(&self) -> u64;

    /// Reads `len` bytes starting at `start`. May return fewer bytes only
    /// when the range runs past the end of the object.
    async fn read_range(&self, start: u64, len: u64) -> Result<Bytes, ReadError>;
}

/// The object could not be read. Unlike a [`crate::Rejection`], this says
/// nothing about the video, so the caller should retry.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("I/O error while reading the video")]
    Io(#[from] std::io::Error),
    /// An adapter's own failure (an S3 SDK error, for example), source kept.
    #[error("storage error while reading the video")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    #[error(
        "read of {expected} bytes at offset {start} returned {got}; \
         the object may have changed while it was being read"
    )]
    ShortRead { start: u64, expected: u64, got: u64 },
}

/// An object held in memory.
#[derive(Debug, Clone)]
pub struct BytesReader(pub Bytes);

#[async_trait::async_trait]
impl RangeReader for BytesReader {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }

    async fn read_range(&self, start: u64, len: u64) -> Result<Bytes, ReadError> {
        let size = self.0.len() as u64;
        let start = start.min(size);
        let end = start.saturating_add(len).min(size);
        // Both bounds are <= len(), so they fit in usize.
        Ok(self.0.slice(start as usize..end as usize))
    }
}

/// A local file, read with blocking I/O. For tests and tools; production
/// reads S3 through its own adapter.
#[derive(Debug)]
pub struct FileReader {
    file: Mutex<std::fs::File>,
    size: u64,
}

impl FileReader {
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            file: Mutex::new(file),
            size,
        })
    }
}

#[async_trait::async_trait]
impl RangeReader for FileReader {
    fn size(&self) -> u64 {
        self.size
    }

    async fn read_range(&self, start: u64, len: u64) -> Result<Bytes, ReadError> {
        let len = len.min(self.size.saturating_sub(start));
        let mut buf = Vec::new();
        // A poisoned lock only means another read panicked; the file is fine.
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.seek(SeekFrom::Start(start))?;
        (&mut *file).take(len).read_to_end(&mut buf)?;
        Ok(Bytes::from(buf))
    }
}

/// Wraps a reader and counts the requests and bytes that pass through it, so
/// tests can assert how little of a big object the check reads.
#[derive(Debug)]
pub struct CountingReader<R> {
    inner: R,
    bytes: AtomicU64,
    requests: AtomicU64,
}

impl<R> CountingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
    }

    /// Bytes returned by the inner reader so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// `read_range` calls so far (ranged GETs, on S3).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

#[async_trait::async_trait]
impl<R: RangeReader> RangeReader for CountingReader<R> {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    async fn read_range(&self, start: u64, len: u64) -> Result<Bytes, ReadError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let bytes = self.inner.read_range(start, len).await?;
        self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }
}
