//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`).

mod gathered;

use std::fmt;
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // A second init (several apps in one test binary) is harmless.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(NotHttpIsDebug)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(gathered::Stderr::get())
                // Colour codes only for a person at a terminal, not in a log file.
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .try_init();
}

/// Writes out the log lines still waiting to be written (the access log's): call it
/// before the process exits.
pub fn flush() {
    gathered::flush();
}

/// actix logs a connection whose bytes do not parse as an HTTP request at ERROR, but
/// it is the client's mistake (answered 400), and a routine one: docker and podman
/// probe HTTPS first, sending a TLS ClientHello to the plain-HTTP port, before every
/// login. This layer drops that event and logs it again at DEBUG.
struct NotHttpIsDebug;

const ACTIX_DISPATCHER: &str = "actix_http::h1::dispatcher";
const PARSE_ERROR: &str = "stream error: request parse error";

impl<S: Subscriber> Layer<S> for NotHttpIsDebug {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() != Level::ERROR || meta.target() != ACTIX_DISPATCHER {
            return true;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        if !message.0.starts_with(PARSE_ERROR) {
            return true;
        }
        tracing::debug!(
            "refused a request that is not HTTP/1 (a TLS handshake sent to the plain-HTTP \
             port, say): {}",
            message.0
        );
        false
    }
}

/// An event's `message` field.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}
