//! The HTTP API's domain, independent of Lambda and of any web framework: what each route does
//! (`posts`), the bodies it answers with (`views`), and every problem it can answer with
//! (`problems`). The `reelay-api` function maps HTTP onto these and nothing more.
//!
//! The response and request types derive `utoipa::ToSchema`, so the API's OpenAPI document
//! (`docs/openapi.json`) is derived from the very types the routes serialize.

pub mod config;
pub mod contract;
pub mod posts;
pub mod problems;
pub mod views;
