//! Misbehaviour on demand: errors, 429 bursts, latency (before or after the
//! work), slow bodies, dropped connections. Random faults draw from the emulator's seeded RNG so a run
//! repeats.
//!
//! Dropping a connection is done at the socket: every connection is
//! wrapped in a `KillableStream` whose flag the request can set; once set,
//! every read and write fails, hyper drops the connection and the client
//! sees it closed with no (or a partial) response.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use bytes::Bytes;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::config::ENDPOINTS;
use crate::link::{LinkState, Throttled};
use crate::state::Inner;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The fault replaces the request: the handler never runs.
    #[default]
    Before,
    /// The handler runs (the upload is stored, the tweet is created), then
    /// the answer is replaced, lost or delayed. This is the case that tests
    /// idempotency: the client cannot know the request took effect.
    After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropWhen {
    /// Close the connection without sending anything.
    BeforeResponse,
    /// Send the status line, headers and part of the body, then close.
    MidResponse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with `status` (a 5xx problem body for 5xx, else a generic
    /// problem with that status).
    Fail {
        status: u16,
    },
    /// Answer with `status` with probability `rate` (0..=1), seeded RNG.
    ErrorRate {
        status: u16,
        rate: f64,
    },
    /// 429 with `x-rate-limit-reset` `reset_in_secs` ahead.
    RateLimit {
        reset_in_secs: u64,
    },
    /// Delay. With `phase: before` (the default) X is slow before it does
    /// the work; with `phase: after` the work is done at once and only the
    /// answer is late, so a client whose deadline is shorter than `ms` gives
    /// up on a request that took effect.
    Latency {
        ms: u64,
    },
    /// Like `latency`, with a delay drawn uniformly from `min_ms..=max_ms`
    /// by the emulator's seeded RNG, so a run repeats.
    LatencyRange {
        min_ms: u64,
        max_ms: u64,
    },
    Drop {
        when: DropWhen,
    },
    /// The work is done and the status line, headers and first half of the
    /// body go out at once; the rest of the body follows `ms` later. A
    /// client whose deadline covers reading the body sees the status (e.g.
    /// 201) and then times out. Always runs after the work, whatever
    /// `phase` says.
    SlowBody {
        ms: u64,
    },
}

/// One fault rule, as posted to `POST /__admin/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    /// An endpoint name from `ENDPOINTS`, or `"*"` for all.
    pub endpoint: String,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many requests it hits; `None` = until cleared. For `error_rate`
    /// it counts injected errors, not requests seen.
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub phase: Phase,
}

impl FaultSpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.endpoint != "*" && !ENDPOINTS.contains(&self.endpoint.as_str()) {
            return Err(format!(
                "unknown endpoint {:?}; expected one of {:?} or \"*\"",
                self.endpoint, ENDPOINTS
            ));
        }
        match self.kind {
            FaultKind::Fail { status } | FaultKind::ErrorRate { status, .. }
                if !(400..=599).contains(&status) =>
            {
                Err(format!(
                    "status {status} is not an error status (400..=599)"
                ))
            }
            FaultKind::ErrorRate { rate, .. } if !(0.0..=1.0).contains(&rate) => {
                Err(format!("rate {rate} is not within 0..=1"))
            }
            FaultKind::LatencyRange { min_ms, max_ms } if min_ms > max_ms => {
                Err(format!("min_ms {min_ms} is greater than max_ms {max_ms}"))
            }
            _ => Ok(()),
        }
    }

    fn matches(&self, endpoint: &str) -> bool {
        self.endpoint == "*" || self.endpoint == endpoint
    }
}

/// What to do to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Fail(u16),
    RateLimit(u64),
    Drop(DropWhen),
    SlowBody(u64),
}

#[derive(Debug, Default)]
pub struct Plan {
    /// Delay before the handler runs.
    pub latency_before_ms: u64,
    /// Delay after the handler ran, before the answer is sent.
    pub latency_after_ms: u64,
    pub action: Option<(Action, Phase)>,
}

impl Plan {
    fn add_latency(&mut self, phase: Phase, ms: u64) {
        let slot = match phase {
            Phase::Before => &mut self.latency_before_ms,
            Phase::After => &mut self.latency_after_ms,
        };
        *slot = slot.saturating_add(ms);
    }
}

/// Decides the faults for one request and uses up their counts.
pub fn plan(inner: &mut Inner, endpoint: &str) -> Plan {
    let mut plan = Plan::default();
    let Inner { faults, rng, .. } = inner;
    for fault in faults.iter_mut().filter(|f| f.matches(endpoint)) {
        if fault.count == Some(0) {
            continue;
        }
        let hit = match fault.kind {
            FaultKind::Latency { ms } => {
                plan.add_latency(fault.phase, ms);
                true
            }
            FaultKind::LatencyRange { min_ms, max_ms } => {
                plan.add_latency(fault.phase, rng.gen_range(min_ms..=max_ms));
                true
            }
            _ if plan.action.is_some() => false,
            FaultKind::Fail { status } => {
                plan.action = Some((Action::Fail(status), fault.phase));
                true
            }
            FaultKind::ErrorRate { status, rate } => {
                if rng.gen_bool(rate) {
                    plan.action = Some((Action::Fail(status), fault.phase));
                    true
                } else {
                    false
                }
            }
            FaultKind::RateLimit { reset_in_secs } => {
                // A 429 is decided before the work, as X does.
                plan.action = Some((Action::RateLimit(reset_in_secs), Phase::Before));
                true
            }
            FaultKind::Drop { when } => {
                plan.action = Some((Action::Drop(when), fault.phase));
                true
            }
            FaultKind::SlowBody { ms } => {
                // Only a real answer can be slow: the handler always runs.
                plan.action = Some((Action::SlowBody(ms), Phase::After));
                true
            }
        };
        if hit {
            if let Some(c) = fault.count.as_mut() {
                *c -= 1;
            }
        }
    }
    faults.retain(|f| f.count != Some(0));
    plan
}

/// Accepts TCP connections wrapped so a request can kill its connection,
/// with their reads metered by the live link model (src/link.rs).
pub struct KillListener {
    pub listener: TcpListener,
    /// Every accepted connection's reads are metered by this link model.
    pub(crate) link: Arc<LinkState>,
}

impl Listener for KillListener {
    type Io = KillableStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    // Small JSON answers should not wait on Nagle.
                    let _ = stream.set_nodelay(true);
                    return (
                        KillableStream {
                            inner: Throttled::new(stream, self.link.clone()),
                            kill: KillSwitch::default(),
                        },
                        addr,
                    );
                }
                // Like axum's own listener: back off on accept errors
                // (e.g. too many open files) instead of spinning.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// Shared flag that kills one connection; reaches handlers as connect info.
#[derive(Debug, Clone, Default)]
pub struct KillSwitch(Arc<AtomicBool>);

impl KillSwitch {
    pub fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn killed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Connected<IncomingStream<'_, KillListener>> for KillSwitch {
    fn connect_info(stream: IncomingStream<'_, KillListener>) -> Self {
        stream.io().kill.clone()
    }
}

pub struct KillableStream {
    inner: Throttled<TcpStream>,
    kill: KillSwitch,
}

fn killed_err() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by fault",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.killed() {
            return Poll::Ready(Err(killed_err()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.killed() {
            return Poll::Ready(Err(killed_err()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.killed() {
            return Poll::Ready(Err(killed_err()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A body that yields `head`, lets hyper flush it to the socket (one
/// `Pending` with an immediate wake), then kills the connection and fails,
/// so the client has received headers and part of the body when the
/// connection dies.
pub struct TruncatedBody {
    head: Option<Bytes>,
    yielded_pending: bool,
    kill: Option<KillSwitch>,
}

impl TruncatedBody {
    pub fn new(head: Bytes, kill: Option<KillSwitch>) -> Self {
        TruncatedBody {
            head: Some(head),
            yielded_pending: false,
            kill,
        }
    }
}

impl futures::Stream for TruncatedBody {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(head)));
        }
        if !self.yielded_pending {
            self.yielded_pending = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(kill) = &self.kill {
            kill.kill();
        }
        Poll::Ready(Some(Err(killed_err())))
    }
}
