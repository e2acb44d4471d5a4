//! Who is calling and what they may do, for every face: SigV4 for the JSON faces,
//! the registry's own passwords and bearer tokens for `/v2/`, and the rules that admit
//! a `/v2/` request (anonymous public pulls and open mode among them). What is sealed
//! is sealed with the registry's secret (`seal`).

mod credentials;
mod registry;
mod seal;
pub mod sigv4;
mod tokens;

pub use credentials::{AccessKey, Binding, Credentials};
pub use registry::{Access, Admitted, Presented, Refusal, TOKEN_USER};
pub use seal::Sealer;
pub use sigv4::{HeaderCheck, SigV4Error, Verified};
pub use tokens::{Action, BearerToken, Grant, Holder, TokenCheck, PASSWORD_TTL};

use crate::domain::Region;

/// The configured credentials and the registry's secret: everything authentication
/// and authorization decide with.
pub struct Authority {
    credentials: Credentials,
    /// The configured region: where requests that name none are served.
    region: Region,
    sealer: Sealer,
}

impl Authority {
    pub fn new(credentials: Credentials, region: Region, sealer: Sealer) -> Self {
        Self {
            credentials,
            region,
            sealer,
        }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// For what else the service seals: page tokens, download URLs.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }
}
