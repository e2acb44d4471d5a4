//! The integration suite: the real server on port 0, real clients, both stores.

mod helpers;
mod hostile;
mod protocol;
mod repositories;
mod spec;
