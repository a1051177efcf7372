//! The platforms Reelay posts to besides X, one folder each: the client for the platform's API,
//! its error classes and its rules for a post's metadata. X's client is still `crate::x` and
//! `crate::x_platform` (issue 17 moves it here when the engine's port becomes platform-neutral).
//!
//! A new platform is a new folder here plus an emulator under `tools/`.

pub mod youtube;
