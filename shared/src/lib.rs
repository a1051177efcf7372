//! Reelay's shared library: configuration, AWS and HTTP clients, and (as the issues land)
//! the domain, the upload state machine, the stores and the X client.
//!
//! Nothing here knows about Lambda event types; functions parse events into these types.

pub mod accounts;
pub mod api;
pub mod aws;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod engine;
pub mod ffmpeg;
pub mod fit;
pub mod fitter;
pub mod http_client;
pub mod ids;
pub mod intake;
pub mod jobs;
pub mod messages;
pub mod platforms;
pub mod ports;
pub mod posts;
pub mod problem;
pub mod quota;
pub mod reconcile;
pub mod resources;
pub mod resumable;
pub mod s3;
pub mod schedule;
pub mod scheduler;
pub mod secret;
pub mod secret_store;
pub mod sns;
pub mod sqs;
pub mod store;
// X's code lives under `platforms/x/`; these keep the paths the functions and tests use.
pub use platforms::x;
pub use platforms::x::platform as x_platform;

pub use x_text;
