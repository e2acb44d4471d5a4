//! berth: an ECR-compatible container image registry.
//!
//! Faces (the ECR JSON API and the registry API, with ECR Public to come) over one
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
