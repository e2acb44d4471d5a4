//! The integration suite: the real server on port 0, real clients, both stores.

mod cli;
mod helpers;
mod registry;
mod repositories;
mod sweeper;
