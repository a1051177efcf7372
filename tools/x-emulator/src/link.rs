//! The link model (issue 16): what the network between a client and X costs.
//!
//! On loopback an APPEND to the emulator takes a few milliseconds, so a
//! benchmark of the upload measures nothing about a real network. A
//! [`LinkModel`] puts two costs back:
//!
//! - `latency`: every API request (not the `/__admin` routes) waits this long
//!   once before it is handled. It models one round trip per request on a
//!   kept-alive connection; it does not model TCP or TLS handshakes, which a
//!   client with a connection pool pays once per connection.
//! - `per_connection_bytes_per_sec` and `total_bytes_per_sec`: what the
//!   emulator reads from each accepted TCP connection is metered by a token
//!   bucket of its own and by one bucket shared by all connections, so request
//!   bodies arrive no faster than the link would carry them. Responses are not
//!   metered (X's answers to the upload are small JSON).
//!
//! It does not model packet loss, TCP slow start, jitter or a congestion
//! window shared between connections: a connection runs at its cap from its
//! first byte.
//!
//! The model is read live: [`LinkState`] is consulted on every read and every
//! request, so a change through the admin API (`PUT /__admin/link`,
//! `AdminHandle::set_link`) also applies to connections accepted earlier.
//!
//! The token buckets are written here rather than taken from a crate such as
//! `governor`: governor's quota is fixed when the limiter is built (changing
//! the rate live would mean swapping limiters and losing their state), its
//! clock is not tokio's, and a `poll_read` needs a deadline to sleep until
//! rather than a future; adding it would also change the workspace's shared
//! lock file for ~60 lines of arithmetic.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Per-request latency and bandwidth caps of the emulated network.
///
/// `None` (or `Some(0)`) in a cap means unlimited. The default is
/// [`LinkModel::LOOPBACK`]: no latency and no caps.
///
/// As JSON (config field `link`, `GET`/`PUT /__admin/link`):
/// `{"profile":"lambda-to-x","latency_ms":60,"per_connection_bytes_per_sec":10000000,
/// "total_bytes_per_sec":100000000}`. When read, `profile` (optional) gives the
/// starting values and any field present overrides it; an absent field keeps
/// the profile's value (loopback's without a profile); `null` or `0` in a cap
/// means unlimited. When written, `profile` names the profile the values
/// equal, or is `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkModel {
    /// Waited once by every API request before it is handled: one round trip
    /// on a kept-alive connection. Millisecond resolution in JSON.
    pub latency: Duration,
    /// Bytes per second the emulator reads from one connection.
    pub per_connection_bytes_per_sec: Option<u64>,
    /// Bytes per second the emulator reads from all connections together.
    pub total_bytes_per_sec: Option<u64>,
}

/// Latency above this is refused as a mistake (a minute per request).
pub const MAX_LATENCY: Duration = Duration::from_secs(60);

impl LinkModel {
    /// The emulator as it always was: no latency, no caps.
    pub const LOOPBACK: LinkModel = LinkModel {
        latency: Duration::ZERO,
        per_connection_bytes_per_sec: None,
        total_bytes_per_sec: None,
    };

    /// An AWS Lambda function uploading to X across the internet.
    ///
    /// ASSUMPTIONS, not measurements: we found no published figure we trust
    /// for either a Lambda function's throughput to X or X's round trip from
    /// an AWS region (AWS documents that a function's CPU scales with its
    /// memory setting, and publishes no network number for Lambda). The
    /// numbers are chosen to be plausible for a cross-internet link:
    /// - 60 ms per request: a round trip between an AWS region and X's
    ///   front end across the internet, e.g. across the US or the Atlantic
    ///   (tens of milliseconds), plus X's own time to answer.
    /// - 10 MB/s (10,000,000 B/s, 80 Mbit/s) per connection: one TCP stream
    ///   over a 60 ms path carries at most its window per round trip, and
    ///   10 MB/s needs ~600 KB in flight, which a tuned sender reaches but a
    ///   single stream across the internet rarely exceeds.
    /// - 100 MB/s (800 Mbit/s) in total: an assumed ceiling for one
    ///   function's network interface (AWS publishes none), so ten streams
    ///   in parallel reach it.
    ///
    /// Replace them with measurements when there are some.
    pub const LAMBDA_TO_X: LinkModel = LinkModel {
        latency: Duration::from_millis(60),
        per_connection_bytes_per_sec: Some(10_000_000),
        total_bytes_per_sec: Some(100_000_000),
    };

    /// Every named profile, as `--link-profile` and `{"profile":..}` take them.
    pub const PROFILES: &'static [(&'static str, LinkModel)] = &[
        ("loopback", LinkModel::LOOPBACK),
        ("lambda-to-x", LinkModel::LAMBDA_TO_X),
    ];

    pub const fn loopback() -> LinkModel {
        LinkModel::LOOPBACK
    }

    pub const fn lambda_to_x() -> LinkModel {
        LinkModel::LAMBDA_TO_X
    }

    /// The profile called `name`, e.g. `"lambda-to-x"`.
    pub fn profile(name: &str) -> Result<LinkModel, String> {
        LinkModel::PROFILES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                let names: Vec<&str> = LinkModel::PROFILES.iter().map(|(n, _)| *n).collect();
                format!("unknown link profile {name:?}; known: {}", names.join(", "))
            })
    }

    /// The name of the profile these values equal, if any.
    pub fn profile_name(&self) -> Option<&'static str> {
        let me = self.normalized();
        LinkModel::PROFILES
            .iter()
            .find(|(_, m)| *m == me)
            .map(|(n, _)| *n)
    }

    /// This model with the latency replaced.
    pub fn with_latency(mut self, latency: Duration) -> LinkModel {
        self.latency = latency;
        self
    }

    /// This model with the per-connection cap replaced (`None` or 0: none).
    pub fn with_per_connection_bytes_per_sec(mut self, cap: Option<u64>) -> LinkModel {
        self.per_connection_bytes_per_sec = cap;
        self
    }

    /// This model with the total cap replaced (`None` or 0: none).
    pub fn with_total_bytes_per_sec(mut self, cap: Option<u64>) -> LinkModel {
        self.total_bytes_per_sec = cap;
        self
    }

    /// `Some(0)` caps become `None` (both mean unlimited).
    pub fn normalized(self) -> LinkModel {
        LinkModel {
            latency: self.latency,
            per_connection_bytes_per_sec: self.per_connection_bytes_per_sec.filter(|&r| r > 0),
            total_bytes_per_sec: self.total_bytes_per_sec.filter(|&r| r > 0),
        }
    }

    /// Refuses a latency above [`MAX_LATENCY`].
    pub fn validate(&self) -> Result<(), String> {
        if self.latency > MAX_LATENCY {
            return Err(format!(
                "link latency {} ms is above the maximum of {} ms",
                self.latency.as_millis(),
                MAX_LATENCY.as_millis()
            ));
        }
        Ok(())
    }

    /// Neither cap is set: reads are not metered.
    pub fn is_unmetered(&self) -> bool {
        let n = self.normalized();
        n.per_connection_bytes_per_sec.is_none() && n.total_bytes_per_sec.is_none()
    }
}

impl Default for LinkModel {
    fn default() -> Self {
        LinkModel::LOOPBACK
    }
}

impl std::str::FromStr for LinkModel {
    type Err = String;

    /// A profile name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LinkModel::profile(s)
    }
}

impl fmt::Display for LinkModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.normalized();
        let cap = |c: Option<u64>| match c {
            Some(r) => format!("{r} B/s"),
            None => "unlimited".to_string(),
        };
        write!(
            f,
            "{}{} ms per request, {} per connection, {} in total",
            n.profile_name()
                .map(|p| format!("{p}: "))
                .unwrap_or_default(),
            n.latency.as_millis(),
            cap(n.per_connection_bytes_per_sec),
            cap(n.total_bytes_per_sec)
        )
    }
}

/// The JSON form written.
#[derive(Serialize)]
struct LinkOut {
    profile: Option<&'static str>,
    latency_ms: u64,
    per_connection_bytes_per_sec: Option<u64>,
    total_bytes_per_sec: Option<u64>,
}

/// The JSON form read: a profile and overrides.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkIn {
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    latency_ms: Option<u64>,
    /// Absent: the profile's; `null`: unlimited.
    #[serde(default, deserialize_with = "present")]
    per_connection_bytes_per_sec: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    total_bytes_per_sec: Option<Option<u64>>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

impl Serialize for LinkModel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.normalized();
        LinkOut {
            profile: n.profile_name(),
            latency_ms: u64::try_from(n.latency.as_millis()).unwrap_or(u64::MAX),
            per_connection_bytes_per_sec: n.per_connection_bytes_per_sec,
            total_bytes_per_sec: n.total_bytes_per_sec,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LinkModel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Through a map, so that only a JSON object is taken (serde would
        // also read the struct from an array).
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let input = LinkIn::deserialize(serde_json::Value::Object(map))
            .map_err(serde::de::Error::custom)?;
        let mut model = match &input.profile {
            Some(name) => LinkModel::profile(name).map_err(serde::de::Error::custom)?,
            None => LinkModel::LOOPBACK,
        };
        if let Some(ms) = input.latency_ms {
            model.latency = Duration::from_millis(ms);
        }
        if let Some(cap) = input.per_connection_bytes_per_sec {
            model.per_connection_bytes_per_sec = cap;
        }
        if let Some(cap) = input.total_bytes_per_sec {
            model.total_bytes_per_sec = cap;
        }
        let model = model.normalized();
        model.validate().map_err(serde::de::Error::custom)?;
        Ok(model)
    }
}

// ---- the live model and the metering ----

/// A bucket holds this many seconds of its rate: the largest burst, and the
/// largest read granted at once.
const BURST_SECS: f64 = 0.02;
/// A read waits until a quarter of the burst is there, so a throttled
/// connection wakes about every 5 ms rather than for every byte.
const GRANT_FRACTION: f64 = 0.25;
/// A wait is cut at this, then the model is read again, so a change of the
/// model reaches a waiting connection soon.
const MAX_WAIT: Duration = Duration::from_millis(50);

/// A token bucket of bytes whose rate may change between calls.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    rate: u64,
    /// `None` until first used: the bucket then starts full.
    last: Option<Instant>,
}

impl Bucket {
    const fn new() -> Self {
        Bucket {
            tokens: 0.0,
            rate: 0,
            last: None,
        }
    }

    fn capacity(&self) -> f64 {
        (self.rate as f64 * BURST_SECS).max(1.0)
    }

    /// Brings the bucket to `now` at `rate` (bytes per second, > 0).
    fn refill(&mut self, now: Instant, rate: u64) {
        self.rate = rate;
        let cap = self.capacity();
        self.tokens = match self.last {
            None => cap,
            Some(last) => {
                let elapsed = now.saturating_duration_since(last).as_secs_f64();
                (self.tokens + elapsed * rate as f64).min(cap)
            }
        };
        self.last = Some(now);
    }

    /// How many bytes may be read now, wanting at most `want`; `Err` with the
    /// time to wait when too few tokens are there.
    fn grant(&self, want: usize) -> Result<usize, Duration> {
        let floor = (self.capacity() * GRANT_FRACTION).max(1.0).min(want as f64);
        if self.tokens >= floor {
            Ok((self.tokens as usize).min(want))
        } else {
            let secs = (floor - self.tokens) / self.rate as f64;
            Err(Duration::from_secs_f64(secs).max(Duration::from_millis(1)))
        }
    }

    fn take(&mut self, n: usize) {
        self.tokens -= n as f64;
    }

    fn give_back(&mut self, n: usize) {
        self.tokens = (self.tokens + n as f64).min(self.capacity());
    }
}

/// The model in force and the bucket all connections share.
#[derive(Debug)]
pub(crate) struct LinkState {
    model: RwLock<LinkModel>,
    total: Mutex<Bucket>,
}

impl LinkState {
    pub(crate) fn new(model: LinkModel) -> Arc<Self> {
        Arc::new(LinkState {
            model: RwLock::new(model.normalized()),
            total: Mutex::new(Bucket::new()),
        })
    }

    pub(crate) fn get(&self) -> LinkModel {
        *self.model.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set(&self, model: LinkModel) {
        *self.model.write().unwrap_or_else(|p| p.into_inner()) = model.normalized();
    }

    fn total(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.total.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An accepted connection whose reads are metered by the live link model.
/// Writes pass through.
pub(crate) struct Throttled<S> {
    inner: S,
    link: Arc<LinkState>,
    own: Bucket,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Reads land here first, at most the granted bytes, then are copied
    /// out (a copy at tens of MB/s costs nothing next to the metering).
    scratch: Vec<u8>,
}

impl<S> Throttled<S> {
    pub(crate) fn new(inner: S, link: Arc<LinkState>) -> Self {
        Throttled {
            inner,
            link,
            own: Bucket::new(),
            sleep: None,
            scratch: Vec::new(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Throttled<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let model = this.link.get();
            let per_conn = model.per_connection_bytes_per_sec.filter(|&r| r > 0);
            let total = model.total_bytes_per_sec.filter(|&r| r > 0);
            let want = buf.remaining();
            if (per_conn.is_none() && total.is_none()) || want == 0 {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let now = Instant::now();
            let mut grant = want;
            let mut wait = Duration::ZERO;
            if let Some(rate) = per_conn {
                this.own.refill(now, rate);
                match this.own.grant(want) {
                    Ok(n) => grant = grant.min(n),
                    Err(w) => wait = wait.max(w),
                }
            }
            if let Some(rate) = total {
                let mut shared = this.link.total();
                shared.refill(now, rate);
                match shared.grant(want) {
                    Ok(n) if wait.is_zero() => {
                        grant = grant.min(n);
                        // Reserved now, so other connections cannot spend
                        // it during this read; what is not read goes back.
                        shared.take(grant);
                    }
                    Ok(_) => {}
                    Err(w) => wait = wait.max(w),
                }
            }
            if !wait.is_zero() {
                let deadline = now + wait.min(MAX_WAIT);
                let sleep = match &mut this.sleep {
                    Some(s) => {
                        s.as_mut().reset(deadline);
                        s
                    }
                    None => this
                        .sleep
                        .insert(Box::pin(tokio::time::sleep_until(deadline))),
                };
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                continue;
            }
            if this.scratch.len() < grant {
                this.scratch.resize(grant, 0);
            }
            let mut limited = ReadBuf::new(&mut this.scratch[..grant]);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut limited);
            let n = match &polled {
                Poll::Ready(Ok(())) => limited.filled().len(),
                _ => 0,
            };
            buf.put_slice(&this.scratch[..n]);
            if per_conn.is_some() {
                this.own.take(n);
            }
            if total.is_some() {
                this.link.total().give_back(grant - n);
            }
            return polled;
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Throttled<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Middleware on the API routes: waits the live model's latency once, then
/// handles the request.
pub(crate) async fn latency(
    axum::extract::State(link): axum::extract::State<Arc<LinkState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let latency = link.get().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn profiles_round_trip_through_json_and_name_themselves() {
        for (name, model) in LinkModel::PROFILES {
            let v = serde_json::to_value(model).unwrap();
            assert_eq!(v["profile"], json!(name));
            assert_eq!(serde_json::from_value::<LinkModel>(v).unwrap(), *model);
            assert_eq!(name.parse::<LinkModel>().unwrap(), *model);
        }
        assert_eq!(
            serde_json::to_value(LinkModel::LAMBDA_TO_X).unwrap(),
            json!({"profile":"lambda-to-x","latency_ms":60,
                   "per_connection_bytes_per_sec":10_000_000,"total_bytes_per_sec":100_000_000})
        );
        assert_eq!(LinkModel::default(), LinkModel::LOOPBACK);
    }

    #[test]
    fn fields_override_the_profile_and_null_or_zero_is_unlimited() {
        let m: LinkModel =
            serde_json::from_value(json!({"profile":"lambda-to-x","latency_ms":5})).unwrap();
        assert_eq!(
            m,
            LinkModel::LAMBDA_TO_X.with_latency(Duration::from_millis(5))
        );
        assert_eq!(m.profile_name(), None);
        let m: LinkModel =
            serde_json::from_value(json!({"profile":"lambda-to-x","total_bytes_per_sec":null}))
                .unwrap();
        assert_eq!(m.total_bytes_per_sec, None);
        assert_eq!(m.per_connection_bytes_per_sec, Some(10_000_000));
        let m: LinkModel =
            serde_json::from_value(json!({"per_connection_bytes_per_sec":0})).unwrap();
        assert_eq!(m, LinkModel::LOOPBACK);
        let m: LinkModel =
            serde_json::from_value(json!({"per_connection_bytes_per_sec":7})).unwrap();
        assert_eq!(m.per_connection_bytes_per_sec, Some(7));
        assert_eq!(m.latency, Duration::ZERO);
    }

    #[test]
    fn bad_input_is_refused() {
        for bad in [
            json!({"profile":"dial-up"}),
            json!({"latency_ms":-1}),
            json!({"latency_ms":60_001}),
            json!({"per_connection_bytes_per_sec":"fast"}),
            json!({"bandwidth":1}),
            json!([]),
        ] {
            assert!(
                serde_json::from_value::<LinkModel>(bad.clone()).is_err(),
                "{bad} was accepted"
            );
        }
        assert!("dial-up".parse::<LinkModel>().is_err());
    }

    #[test]
    fn a_bucket_starts_full_refills_at_its_rate_and_never_exceeds_its_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new();
        b.refill(t0, 1_000_000);
        // 20 ms of 1 MB/s.
        assert_eq!(b.grant(usize::MAX), Ok(20_000));
        assert_eq!(b.grant(100), Ok(100));
        b.take(20_000);
        // Waits for a quarter of the burst: 5 ms.
        let wait = b.grant(1 << 20).unwrap_err();
        assert!(wait.abs_diff(Duration::from_millis(5)) < Duration::from_micros(10));
        b.refill(t0 + Duration::from_millis(10), 1_000_000);
        let n = b.grant(1 << 20).unwrap();
        assert!((9_999..=10_000).contains(&n), "{n}");
        b.refill(t0 + Duration::from_secs(10), 1_000_000);
        assert_eq!(b.grant(usize::MAX), Ok(20_000));
        // A lower rate shrinks the burst at once.
        b.refill(t0 + Duration::from_secs(10), 1000);
        assert_eq!(b.grant(usize::MAX), Ok(20));
    }
}
