//! berth: an ECR-compatible container image registry.
//!
//! Faces (the ECR and ECR Public JSON APIs and the registry API) over one service core,
//! one metadata store and one blob store. `docs/ARCHITECTURE.md` has the module map,
//! the data model and the rules.

pub mod api;
pub mod auth;
pub mod blob;
pub mod config;
pub mod config_file;
pub mod domain;
pub mod metrics;
pub mod notary;
pub mod remote;
pub mod replication_remotes;
pub mod scan;
pub mod secrets;
pub mod service;
pub mod startup;
pub mod startup_code;
pub mod store;
pub mod telemetry;
