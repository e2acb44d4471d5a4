//! The integration suite: the real server on port 0, real clients, both stores.

mod bearer;
mod cli;
mod durability;
mod engines;
mod helpers;
mod hostile;
mod images;
mod ingress;
mod integrity;
mod layers;
mod migrations;
mod oci_client;
mod process;
mod protocol;
mod public;
mod registry;
mod registry_clients;
mod repositories;
mod spec;
mod sweeper;
