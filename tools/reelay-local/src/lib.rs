//! `reelay-local`: runs Reelay on one machine the way AWS would.
//!
//! Nothing here runs Lambda triggers (moto's Lambda needs Docker, research/local-aws.md), so this
//! crate plays the parts AWS plays around the functions:
//! - [`moto`] starts a moto server on a free loopback port (S3, DynamoDB, SQS, KMS);
//! - [`stack`] creates the table, bucket, queues and key that `template.yaml` declares;
//! - [`authorizer`] plays API Gateway's JWT authorizer with a local signing key;
//! - [`runner`] serves the template's HTTP routes, delivers S3 events to create-post and polls
//!   the work queue for process-upload, calling the same handler functions the Lambda binaries call.

pub mod authorizer;
pub mod checks;
pub mod crashes;
pub mod env_json;
pub mod harness;
pub mod iam_usage;
pub mod moto;
pub mod runner;
pub mod runtime_api;
pub mod stack;
pub mod world;
pub mod youtube;
