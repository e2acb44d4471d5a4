//! The integration suite: the real server on port 0, real clients, both stores.

mod durability;
mod helpers;
mod process;
mod repositories;
