//! The integration suite: the real server on port 0, real clients, both stores.

mod access_log;
mod bearer;
mod cli;
mod durability;
mod engines;
mod fixtures;
mod helpers;
mod hostile;
mod images;
mod ingress;
mod integrity;
mod layers;
mod migrations;
mod oci_client;
mod postgres_server;
mod process;
mod protocol;
mod public;
mod registry;
mod registry_clients;
mod repositories;
mod schema;
mod small_disk;
mod spec;
mod store_faults;
mod sweeper;
