//! The platforms Reelay posts to, one folder each: the client for the platform's API, its error
//! classes, and its adapter to the engine's ports.
//!
//! - `x/`: X's API v2 client (`mod.rs`, `error.rs`) and X as the engine's `MediaPlatform`
//!   (`platform.rs`).
//! - `youtube/`: the YouTube Data API v3 client, its error classes and quota clock, a video's
//!   metadata rules, and the resumable upload as checkpointable steps (`upload.rs`). The engine
//!   does not drive it yet (issue 17).
//!
//! A new platform is a new folder here plus an emulator under `tools/`. Connecting an account
//! goes through `accounts::oauth` (one flow; each identity provider's differences in
//! `Provider`).

pub mod x;
pub mod youtube;
