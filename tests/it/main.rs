//! The integration suite: the real server on port 0, real clients, both stores.

mod cli;
mod helpers;
mod images;
mod layers;
mod repositories;
mod sweeper;
