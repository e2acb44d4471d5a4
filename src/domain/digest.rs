use std::fmt;

use sha2_11::digest::common::hazmat::SerializableState;
use sha2_11::Digest as _;

/// The digest algorithms berth accepts everywhere a digest appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest must have the form <algorithm>:<hex>")]
    Malformed,
    #[error("unsupported digest algorithm '{0}' (sha256 and sha512 are supported)")]
    UnsupportedAlgorithm(String),
    #[error("digest hex part must be {0} lower-case hexadecimal characters")]
    BadHex(usize),
    #[error("not a stored sha256 state")]
    BadState,
}

/// A content digest `<algorithm>:<lower-case hex>`, validated; safe to use in paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let (algorithm, hex) = s.split_once(':').ok_or(DigestError::Malformed)?;
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            "" => return Err(DigestError::Malformed),
            other => return Err(DigestError::UnsupportedAlgorithm(other.to_owned())),
        };
        let len = algorithm.hex_len();
        if hex.len() != len || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::BadHex(len));
        }
        Ok(Self(s.to_owned()))
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(bytes);
        h.finish()
    }

    pub fn algorithm(&self) -> Algorithm {
        if self.0.starts_with("sha512:") {
            Algorithm::Sha512
        } else {
            Algorithm::Sha256
        }
    }

    /// The hex part after the colon.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `a, b, c`, for messages that name several digests.
    pub fn list(digests: &[Digest]) -> String {
        digests
            .iter()
            .map(Digest::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A streaming hasher for one algorithm.
pub enum Hasher {
    Sha256(sha2_11::Sha256),
    Sha512(sha2_11::Sha512),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Self::Sha256(sha2_11::Sha256::new()),
            Algorithm::Sha512 => Self::Sha512(sha2_11::Sha512::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(bytes),
            Self::Sha512(h) => h.update(bytes),
        }
    }

    pub fn finish(self) -> Digest {
        let (name, hex) = match self {
            Self::Sha256(h) => ("sha256", hex::encode(h.finalize())),
            Self::Sha512(h) => ("sha512", hex::encode(h.finalize())),
        };
        Digest(format!("{name}:{hex}"))
    }
}

/// The sha256 of an upload's bytes so far, as a state that can be stored with the
/// upload and continued by its next part: each byte is hashed once, as it arrives.
#[derive(Clone)]
pub struct RunningSha256(sha2_11::Sha256);

impl RunningSha256 {
    /// Nothing hashed yet.
    pub fn new() -> Self {
        Self(sha2_11::Sha256::new())
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything hashed so far.
    pub fn digest(&self) -> Digest {
        Digest(format!("sha256:{}", hex::encode(self.0.clone().finalize())))
    }

    /// The state as hex, to be stored.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.serialize())
    }

    /// A state `to_hex` wrote.
    pub fn parse(hex: &str) -> Result<Self, DigestError> {
        let malformed = || DigestError::BadState;
        let bytes = hex::decode(hex).map_err(|_| malformed())?;
        let state = bytes.as_slice().try_into().map_err(|_| malformed())?;
        sha2_11::Sha256::deserialize(state)
            .map(Self)
            .map_err(|_| malformed())
    }
}

impl Default for RunningSha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RunningSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RunningSha256")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_hashes() {
        let d = Digest::sha256_of(b"");
        assert_eq!(
            d.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(d.as_str()), Ok(d.clone()));
        assert_eq!(d.hex().len(), 64);
        let mut h = Hasher::new(Algorithm::Sha512);
        h.update(b"abc");
        let d512 = h.finish();
        assert_eq!(d512.algorithm(), Algorithm::Sha512);
        assert_eq!(Digest::parse(d512.as_str()), Ok(d512));
        assert_eq!(Digest::parse("sha256"), Err(DigestError::Malformed));
        assert_eq!(
            Digest::parse("md5:abc"),
            Err(DigestError::UnsupportedAlgorithm("md5".into()))
        );
        assert_eq!(Digest::parse("sha256:ABC"), Err(DigestError::BadHex(64)));
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(Digest::parse(&format!("sha256:../{}", "a".repeat(61))).is_err());
    }

    #[test]
    fn a_running_sha256_continues_from_its_stored_state() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = Digest::sha256_of(&bytes);
        // Splits inside a block, on a block's edge, and at the ends.
        for split in [0, 1, 63, 64, 65, 500, 1000] {
            let mut first = RunningSha256::new();
            first.update(&bytes[..split]);
            assert_eq!(first.digest(), Digest::sha256_of(&bytes[..split]));
            let mut resumed = RunningSha256::parse(&first.to_hex()).expect("a stored state");
            resumed.update(&bytes[split..]);
            assert_eq!(resumed.digest(), whole, "split at {split}");
        }
        let stored = RunningSha256::new().to_hex();
        for bad in ["", "zz", &stored[2..], &format!("{stored}00")] {
            assert!(RunningSha256::parse(bad).is_err(), "{bad}");
        }
    }
}
