//! The integration suite: the real server on port 0, real clients, both stores.

mod cli;
mod durability;
mod helpers;
mod hostile;
mod images;
mod layers;
mod migrations;
mod postgres_server;
mod process;
mod protocol;
mod public;
mod registry;
mod registry_clients;
mod repositories;
mod small_disk;
mod spec;
mod store_faults;
mod sweeper;
