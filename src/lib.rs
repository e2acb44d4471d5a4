//! berth: an ECR-compatible container image registry.
//!
//! Three faces (the ECR JSON API, and later ECR Public and the registry API) over one
//! service core, one metadata store and one blob store. See ARCHITECTURE.md.

pub mod api;
pub mod auth;
pub mod blob;
pub mod config;
pub mod domain;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
