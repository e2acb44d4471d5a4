//! AWS Signature Version 4 verification (Authorization-header form only).
//!
//! The canonicalisation mirrors what the official AWS SDK signer (`aws-sigv4`)
//! does by default for non-S3 services, because that is what real clients send:
//! the URI path is normalised and encoded once more ("double encoding"), query
//! parameters are form-decoded then re-encoded and sorted, header values are
//! space-trimmed and repeated headers joined with ','.
//!
//! Nothing here may panic on request data: every lookup on input is fallible.

use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, Mutex, PoisonError};

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// Same tolerance AWS applies: enough for ordinary clock drift, short enough
/// to bound replay of a captured request.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// One HTTP request's head as received: what the signature covers besides the body.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// Raw path as received, e.g. "/".
    pub path: &'a str,
    /// Raw query string without '?', possibly empty.
    pub query: &'a str,
    /// Every header as received: names in any case, values raw; a name may repeat.
    pub headers: &'a [(String, String)],
}

/// Who signed, once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigV4Error {
    /// No Authorization header at all.
    Missing,
    /// Header present but malformed (bad algorithm, missing component, bad
    /// scope shape, host, x-amz-date or another x-amz-* header not signed,
    /// missing/unparseable X-Amz-Date, a signed header absent from the request).
    Incomplete(String),
    /// Access key not known (only in strict mode).
    UnknownKey(String),
    /// Wrong signature, wrong service in the scope, scope date != X-Amz-Date
    /// date, or X-Amz-Date more than 15 minutes from `now`.
    Invalid(String),
}

impl fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigV4Error::Missing => f.write_str("missing Authorization header"),
            SigV4Error::Incomplete(m) => write!(f, "incomplete SigV4 authorization: {m}"),
            SigV4Error::UnknownKey(k) => write!(f, "unknown access key id: {k}"),
            SigV4Error::Invalid(m) => write!(f, "invalid SigV4 signature: {m}"),
        }
    }
}

impl std::error::Error for SigV4Error {}

fn incomplete(msg: impl Into<String>) -> SigV4Error {
    SigV4Error::Incomplete(msg.into())
}

fn invalid(msg: impl Into<String>) -> SigV4Error {
    SigV4Error::Invalid(msg.into())
}

/// Looks up the secret of an access key; `None` for an unknown key.
pub type SecretLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What a request's head established: who signed it, and what its body must be for
/// the signature to hold. The body is read only after this, so a request without a
/// known key, a current date or a well-formed signature costs no more than its head.
#[derive(Debug)]
pub struct HeaderCheck {
    verified: Verified,
    body: BodyCheck,
}

#[derive(Debug)]
enum BodyCheck {
    /// Open mode: no signature is checked, whatever the body.
    Unchecked,
    /// The signature covered the announced `x-amz-content-sha256` and matched: the
    /// caller is known, and the body must hash to that value.
    Announced(String),
    /// The signature covers the body's hash, so it can only be checked after the
    /// body: everything it signs but that hash, and the key.
    Pending(Box<Pending>),
}

#[derive(Debug)]
struct Pending {
    key: [u8; 32],
    /// The canonical request up to and including the newline before the payload hash.
    canonical_head: String,
    amz_date: String,
    scope: String,
    signature: String,
}

impl HeaderCheck {
    /// Whether the caller is already known to hold the key's secret (or open mode
    /// asks nothing): then the body is the caller's, not a stranger's.
    pub fn is_authenticated(&self) -> bool {
        !matches!(self.body, BodyCheck::Pending(_))
    }

    /// The body stage: checks the signature (or the announced hash) against the
    /// SHA-256 of the body as received.
    pub fn finish(self, body_sha256: &[u8]) -> Result<Verified, SigV4Error> {
        let body_hash = hex::encode(body_sha256);
        match self.body {
            BodyCheck::Unchecked => {}
            BodyCheck::Announced(announced) if announced == body_hash => {}
            // The signature covers the announced value, so a body that differs could
            // otherwise be swapped in under a valid signature.
            BodyCheck::Announced(_) => {
                return Err(invalid("x-amz-content-sha256 does not match the body"))
            }
            BodyCheck::Pending(p) => p.check(&body_hash)?,
        }
        Ok(self.verified)
    }
}

impl Pending {
    fn check(&self, payload_hash: &str) -> Result<(), SigV4Error> {
        let canonical_request = format!("{}{payload_hash}", self.canonical_head);
        let string_to_sign = format!(
            "{ALGORITHM}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let expected = hex::encode(hmac(&self.key, string_to_sign.as_bytes())?);
        // Constant time so the comparison leaks nothing about how much matched.
        if bool::from(expected.as_bytes().ct_eq(self.signature.as_bytes())) {
            Ok(())
        } else {
            Err(invalid("signature does not match"))
        }
    }
}

/// The header stage: everything that can be checked before the body arrives.
///
/// `secret_for` is None in open mode: then the header must still be well
/// formed and the scope's service must equal `expected_service`, but the
/// signature, key and clock skew are not checked.
pub fn check_headers(
    req: &SignedRequest<'_>,
    expected_service: &str,
    now: DateTime<Utc>,
    secret_for: Option<SecretLookup<'_>>,
) -> Result<HeaderCheck, SigV4Error> {
    let auth_value = single_header(req.headers, "authorization")?.ok_or(SigV4Error::Missing)?;
    let auth = parse_authorization(auth_value)?;

    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(incomplete("host is not among SignedHeaders"));
    }
    // As AWS requires: every x-amz-* header sent is signed (x-amz-date among them),
    // or an unsigned X-Amz-Target would let a captured request run another action.
    let mut amz_headers: Vec<String> = req
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .filter(|n| n.starts_with("x-amz-"))
        .chain(["x-amz-date".to_owned()])
        .collect();
    amz_headers.sort();
    amz_headers.dedup();
    if let Some(unsigned) = amz_headers
        .iter()
        .find(|h| auth.signed_headers.binary_search(h).is_err())
    {
        return Err(incomplete(format!(
            "'{unsigned}' must be a 'SignedHeader' in the AWS Authorization"
        )));
    }
    let amz_date = single_header(req.headers, "x-amz-date")?
        .ok_or_else(|| incomplete("missing X-Amz-Date header"))?
        .trim();
    let signed_at = NaiveDateTime::parse_from_str(amz_date, DATE_FORMAT)
        .map_err(|_| incomplete("unparseable X-Amz-Date"))?
        .and_utc();

    // Built before any cryptographic check so that open mode still rejects a
    // header naming a header the request does not carry.
    let canonical_headers = canonical_headers(req.headers, &auth.signed_headers)?;

    if auth.service != expected_service {
        return Err(invalid(format!(
            "credential scope is for service '{}', expected '{expected_service}'",
            auth.service
        )));
    }
    // The scope date must be the day the request claims to be signed on,
    // otherwise the derived key would not match what the string to sign says.
    if amz_date.get(..8) != Some(auth.date.as_str()) {
        return Err(invalid("credential scope date differs from X-Amz-Date"));
    }

    let verified = Verified {
        access_key_id: auth.access_key_id.clone(),
        region: auth.region.clone(),
        service: auth.service.clone(),
    };
    let Some(secret_for) = secret_for else {
        return Ok(HeaderCheck {
            verified,
            body: BodyCheck::Unchecked,
        });
    };

    let secret = secret_for(&auth.access_key_id)
        .ok_or_else(|| SigV4Error::UnknownKey(auth.access_key_id.clone()))?;

    let skew = (now - signed_at).num_seconds().abs();
    if skew > MAX_SKEW_SECONDS {
        return Err(invalid(format!(
            "X-Amz-Date is {skew}s away from server time (max {MAX_SKEW_SECONDS}s)"
        )));
    }

    // A client may announce the payload hash; the signature then covers that value
    // and can be checked now. Only a real SHA-256 can match a body: unsigned
    // payloads are not accepted.
    let announced = single_header(req.headers, "x-amz-content-sha256")?.map(str::trim);
    if announced.is_some_and(|a| a.len() != 64 || !a.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(invalid(
            "x-amz-content-sha256 is not the SHA-256 of the body",
        ));
    }

    let pending = Pending {
        key: signing_key(&secret, &auth)?,
        canonical_head: format!(
            "{}\n{}\n{}\n{}\n{}\n",
            req.method,
            canonical_uri(req.path),
            canonical_query(req.query),
            canonical_headers,
            auth.signed_headers.join(";"),
        ),
        amz_date: amz_date.to_owned(),
        scope: format!(
            "{}/{}/{}/aws4_request",
            auth.date, auth.region, auth.service
        ),
        signature: auth.signature,
    };
    let body = match announced {
        Some(announced) => {
            pending.check(announced)?;
            BodyCheck::Announced(announced.to_ascii_lowercase())
        }
        None => BodyCheck::Pending(Box::new(pending)),
    };
    Ok(HeaderCheck { verified, body })
}

/// Signing keys already derived, by secret and scope. A key only changes with the
/// date, so a client's requests reuse one instead of four HMACs each. Bounded: the
/// whole cache is dropped when it fills (stale dates, many keys).
static SIGNING_KEYS: LazyLock<Mutex<HashMap<String, [u8; 32]>>> = LazyLock::new(Default::default);
const SIGNING_KEYS_MAX: usize = 1024;

/// The HMAC chain over date, region, service and "aws4_request", cached.
fn signing_key(secret: &str, auth: &Authorization) -> Result<[u8; 32], SigV4Error> {
    let id = format!("{secret}\n{}\n{}\n{}", auth.date, auth.region, auth.service);
    // A poisoned lock only means another thread panicked mid-insert: the map of
    // derived keys is still valid, so carry on with it.
    if let Some(key) = SIGNING_KEYS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&id)
    {
        return Ok(*key);
    }
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes())?;
    for part in [&auth.region, &auth.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes())?;
    }
    let mut keys = SIGNING_KEYS.lock().unwrap_or_else(PoisonError::into_inner);
    if keys.len() >= SIGNING_KEYS_MAX {
        keys.clear();
    }
    keys.insert(id, key);
    Ok(key)
}

fn hmac(key: &[u8], data: &[u8]) -> Result<[u8; 32], SigV4Error> {
    // HMAC accepts keys of any length, so this error path is unreachable in
    // practice; it is mapped rather than unwrapped to keep the no-panic rule.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|_| invalid("internal HMAC key error"))?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().into())
}

/// The value of header `name` (lower-case), None if absent. Repeats are an
/// error because picking one would let the two sides disagree.
fn single_header<'h>(
    headers: &'h [(String, String)],
    name: &str,
) -> Result<Option<&'h str>, SigV4Error> {
    let mut found = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str());
    let first = found.next();
    if found.next().is_some() {
        return Err(incomplete(format!("header {name} given more than once")));
    }
    Ok(first)
}

struct Authorization {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    /// Lower-case, sorted, deduplicated.
    signed_headers: Vec<String>,
    /// Lower-case hex.
    signature: String,
}

fn parse_authorization(value: &str) -> Result<Authorization, SigV4Error> {
    let value = value.trim();
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with([' ', '\t']))
        .ok_or_else(|| incomplete("authorization algorithm is not AWS4-HMAC-SHA256"))?;

    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let (name, val) = component
            .split_once('=')
            .ok_or_else(|| incomplete(format!("malformed component '{component}'")))?;
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            // Unknown components are tolerated, as AWS does.
            _ => continue,
        };
        if slot.replace(val.trim()).is_some() {
            return Err(incomplete(format!("{} given more than once", name.trim())));
        }
    }
    let credential = credential.ok_or_else(|| incomplete("missing Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| incomplete("missing SignedHeaders"))?;
    let signature = signature.ok_or_else(|| incomplete("missing Signature"))?;

    let parts: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminator] = parts.as_slice() else {
        return Err(incomplete(
            "Credential is not <key>/<date>/<region>/<service>/aws4_request",
        ));
    };
    if key.is_empty() || region.is_empty() || service.is_empty() {
        return Err(incomplete("empty field in Credential scope"));
    }
    if *terminator != "aws4_request" {
        return Err(incomplete("credential scope does not end in aws4_request"));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete("credential scope date is not yyyymmdd"));
    }

    let mut names: Vec<String> = signed_headers
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if names.iter().any(String::is_empty) {
        return Err(incomplete("empty name in SignedHeaders"));
    }
    names.sort();
    names.dedup();

    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete("Signature is not 64 hex digits"));
    }

    Ok(Authorization {
        access_key_id: (*key).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers: names,
        signature: signature.to_ascii_lowercase(),
    })
}

/// `name:value\n` for each signed header, in sorted order.
fn canonical_headers(
    headers: &[(String, String)],
    signed: &[String],
) -> Result<String, SigV4Error> {
    let mut out = String::new();
    for name in signed {
        let values: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| trim_all(v))
            .collect();
        if values.is_empty() {
            return Err(incomplete(format!(
                "signed header '{name}' is absent from the request"
            )));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    Ok(out)
}

/// Trim and collapse spaces only (not other whitespace), as the SDK signer does.
fn trim_all(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, word) in value.split(' ').filter(|w| !w.is_empty()).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Percent-encode every byte except the unreserved set (and '/' if asked).
fn uri_encode(input: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for &b in input {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Path as the SDK signs it for non-S3 services: dot segments and empty
/// segments removed (RFC 3986 5.2.4), then the already-encoded path encoded
/// once more, so "%20" becomes "%2520".
fn canonical_uri(path: &str) -> String {
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let normalized = if path.contains('.') || path.contains("//") {
        let mut segments: Vec<&str> = Vec::new();
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                s => segments.push(s),
            }
        }
        let mut result = format!("/{}", segments.join("/"));
        let trailing = ["/", "/.", "/./", "/..", "/../"]
            .iter()
            .any(|s| path.ends_with(s));
        if trailing && !result.ends_with('/') {
            result.push('/');
        }
        result
    } else {
        path
    };
    uri_encode(normalized.as_bytes(), true)
}

/// Query as the SDK signs it: form-decoded ('+' is a space), re-encoded with
/// only unreserved characters kept, then sorted by encoded name and value.
fn canonical_query(query: &str) -> String {
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(form_decode(name).as_bytes(), false),
                uri_encode(form_decode(value).as_bytes(), false),
            )
        })
        .collect();
    params.sort();
    params
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// application/x-www-form-urlencoded decoding; malformed escapes stay literal
/// and invalid UTF-8 becomes U+FFFD, matching the `form_urlencoded` crate.
fn form_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|c| char::from(*c).to_digit(16));
                let lo = bytes.get(i + 2).and_then(|c| char::from(*c).to_digit(16));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    // Both digits are < 16, so this fits in a byte.
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4::SigningParams;
    use aws_smithy_runtime_api::client::identity::Identity;
    use chrono::{Duration, TimeZone};
    use std::time::UNIX_EPOCH;

    const KEY: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const HOST: &str = "api.ecr.us-west-2.amazonaws.com";
    const BODY: &[u8] = br#"{"registryIds":["123456789012"]}"#;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    /// Headers a client sends before signing.
    fn base_headers() -> Vec<(String, String)> {
        vec![
            ("Host".into(), HOST.into()),
            ("Content-Type".into(), "application/x-amz-json-1.1".into()),
            (
                "X-Amz-Target".into(),
                "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken".into(),
            ),
        ]
    }

    /// Sign with the official SDK signer and return the headers to send.
    fn sign_with(
        secret: &str,
        service: &str,
        path_and_query: &str,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Vec<(String, String)> {
        let identity: Identity = Credentials::new(KEY, secret, None, None, "test").into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region("us-west-2")
            .name(service)
            .time(UNIX_EPOCH + std::time::Duration::from_secs(t0().timestamp() as u64))
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            format!("https://{HOST}{path_and_query}"),
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut out = headers.clone();
        for (n, v) in instructions.headers() {
            out.push((n.to_owned(), v.to_owned()));
        }
        out
    }

    fn signed(service: &str) -> Vec<(String, String)> {
        sign_with(SECRET, service, "/", base_headers(), BODY)
    }

    fn lookup(key: &str) -> Option<String> {
        (key == KEY).then(|| SECRET.to_owned())
    }

    fn check(
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &[u8],
        now: DateTime<Utc>,
        strict: bool,
    ) -> Result<Verified, SigV4Error> {
        let req = SignedRequest {
            method: "POST",
            path,
            query,
            headers,
        };
        let f: &dyn Fn(&str) -> Option<String> = &lookup;
        check_headers(&req, "ecr", now, strict.then_some(f))?.finish(&Sha256::digest(body))
    }

    fn strict(headers: &[(String, String)]) -> Result<Verified, SigV4Error> {
        check("/", "", headers, BODY, t0(), true)
    }

    fn open(headers: &[(String, String)]) -> Result<Verified, SigV4Error> {
        check("/", "", headers, BODY, t0(), false)
    }

    fn set(headers: &mut [(String, String)], name: &str, value: &str) {
        for (n, v) in headers.iter_mut() {
            if n.eq_ignore_ascii_case(name) {
                *v = value.to_owned();
            }
        }
    }

    fn auth_of(headers: &[(String, String)]) -> String {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    fn is_invalid<T>(r: Result<T, SigV4Error>) -> bool {
        matches!(r, Err(SigV4Error::Invalid(_)))
    }

    fn is_incomplete<T>(r: Result<T, SigV4Error>) -> bool {
        matches!(r, Err(SigV4Error::Incomplete(_)))
    }

    #[test]
    fn valid_request_verifies() {
        let h = signed("ecr");
        assert_eq!(
            strict(&h),
            Ok(Verified {
                access_key_id: KEY.into(),
                region: "us-west-2".into(),
                service: "ecr".into(),
            })
        );
        // Within the skew window either way.
        assert!(check("/", "", &h, BODY, t0() + Duration::minutes(14), true).is_ok());
        assert!(check("/", "", &h, BODY, t0() - Duration::minutes(14), true).is_ok());
    }

    #[test]
    fn header_name_case_and_spacing_do_not_matter() {
        let mut h: Vec<(String, String)> = signed("ecr")
            .into_iter()
            .map(|(n, v)| (n.to_ascii_uppercase(), v))
            .collect();
        // Extra surrounding and inner spaces are canonicalised away.
        set(&mut h, "content-type", "  application/x-amz-json-1.1  ");
        let auth = auth_of(&h).replace(", ", " ,  ");
        set(&mut h, "authorization", &auth);
        assert!(strict(&h).is_ok());
    }

    #[test]
    fn components_in_any_order() {
        let mut h = signed("ecr");
        let auth = auth_of(&h);
        let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").unwrap();
        let mut parts: Vec<&str> = rest.split(", ").collect();
        parts.reverse();
        set(
            &mut h,
            "authorization",
            &format!("AWS4-HMAC-SHA256 {}", parts.join(",")),
        );
        assert!(strict(&h).is_ok());
    }

    #[test]
    fn tampered_body_is_invalid() {
        let h = signed("ecr");
        let r = check(
            "/",
            "",
            &h,
            br#"{"registryIds":["999999999999"]}"#,
            t0(),
            true,
        );
        assert!(is_invalid(r));
    }

    #[test]
    fn tampered_header_is_invalid() {
        let mut h = signed("ecr");
        set(
            &mut h,
            "x-amz-target",
            "AmazonEC2ContainerRegistry_V20150921.DeleteRepository",
        );
        assert!(is_invalid(strict(&h)));
    }

    #[test]
    fn wrong_secret_is_invalid() {
        let h = sign_with("not-the-secret", "ecr", "/", base_headers(), BODY);
        assert!(is_invalid(strict(&h)));
    }

    #[test]
    fn wrong_service_is_invalid_in_both_modes() {
        let h = signed("s3");
        assert!(is_invalid(strict(&h)));
        assert!(is_invalid(open(&h)));
    }

    #[test]
    fn clock_skew_over_15_minutes_is_invalid() {
        let h = signed("ecr");
        let late = check("/", "", &h, BODY, t0() + Duration::minutes(16), true);
        let early = check("/", "", &h, BODY, t0() - Duration::minutes(16), true);
        assert!(is_invalid(late));
        assert!(is_invalid(early));
        // Open mode ignores the clock.
        assert!(check("/", "", &h, BODY, t0() + Duration::days(3), false).is_ok());
    }

    #[test]
    fn scope_date_must_match_x_amz_date() {
        let mut h = signed("ecr");
        set(&mut h, "x-amz-date", "20240502T120000Z");
        assert!(is_invalid(strict(&h)));
        assert!(is_invalid(open(&h)));
    }

    #[test]
    fn unknown_key() {
        let mut h = signed("ecr");
        let auth = auth_of(&h).replace(KEY, "AKIDUNKNOWN");
        set(&mut h, "authorization", &auth);
        assert_eq!(
            strict(&h),
            Err(SigV4Error::UnknownKey("AKIDUNKNOWN".into()))
        );
        // Open mode does not consult keys.
        assert_eq!(open(&h).unwrap().access_key_id, "AKIDUNKNOWN");
    }

    #[test]
    fn missing_authorization() {
        let h: Vec<_> = signed("ecr")
            .into_iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("authorization"))
            .collect();
        assert_eq!(strict(&h), Err(SigV4Error::Missing));
        assert_eq!(open(&h), Err(SigV4Error::Missing));
    }

    #[test]
    fn garbage_authorization_is_incomplete() {
        let good = auth_of(&signed("ecr"));
        let cases = [
            String::new(),
            "garbage".into(),
            "Bearer abc".into(),
            "AWS4-HMAC-SHA256".into(),
            "AWS4-HMAC-SHA256 Credential=AKID/20240501/us-west-2/ecr/aws4_request".into(),
            good.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
            good.replace("/aws4_request", "/aws5_request"),
            good.replace("/20240501/", "/2024-05-01/"),
            good.replace("/us-west-2/", "/"),
            good.replace("Signature=", "Signature=zz"),
            good.replace("SignedHeaders=", "SignedHeaders=;"),
            format!("{good}, Signature={}", "0".repeat(64)),
            "AWS4-HMAC-SHA256 Credential=\u{1F600}/\u{0}/é/ß/aws4_request, ,,=,".into(),
        ];
        for case in cases {
            let mut h = signed("ecr");
            set(&mut h, "authorization", &case);
            assert!(is_incomplete(strict(&h)), "strict accepted {case:?}");
            assert!(is_incomplete(open(&h)), "open accepted {case:?}");
        }
    }

    #[test]
    fn bad_or_missing_x_amz_date_is_incomplete() {
        let mut h = signed("ecr");
        set(&mut h, "x-amz-date", "yesterday");
        assert!(is_incomplete(strict(&h)));
        assert!(is_incomplete(open(&h)));
        let h: Vec<_> = signed("ecr")
            .into_iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("x-amz-date"))
            .collect();
        assert!(is_incomplete(strict(&h)));
    }

    #[test]
    fn host_not_signed_is_incomplete() {
        let mut h = signed("ecr");
        let auth = auth_of(&h).replace("host;", "");
        assert!(!auth.contains("host"));
        set(&mut h, "authorization", &auth);
        assert!(is_incomplete(strict(&h)));
        assert!(is_incomplete(open(&h)));
    }

    #[test]
    fn every_x_amz_header_must_be_signed() {
        // Signed without X-Amz-Target, then sent with one: the target could be anything.
        let mut headers = base_headers();
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("x-amz-target"));
        let mut h = sign_with(SECRET, "ecr", "/", headers, BODY);
        h.push((
            "X-Amz-Target".into(),
            "AmazonEC2ContainerRegistry_V20150921.BatchDeleteImage".into(),
        ));
        assert!(is_incomplete(strict(&h)));
        assert!(is_incomplete(open(&h)));
        // Any other x-amz-* header sent unsigned is refused too...
        let mut h = signed("ecr");
        h.push(("x-amz-anything".into(), "1".into()));
        assert!(is_incomplete(strict(&h)));
        // ...but not the headers the SDK signers leave out on purpose.
        let mut h = signed("ecr");
        h.push(("x-amzn-trace-id".into(), "Root=1-abc".into()));
        h.push(("user-agent".into(), "aws-cli/2".into()));
        assert!(strict(&h).is_ok());
    }

    #[test]
    fn the_header_stage_needs_no_body() {
        let req = |h| SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: h,
        };
        let f: &dyn Fn(&str) -> Option<String> = &lookup;
        // A valid head is pending until its body is hashed.
        let h = signed("ecr");
        let stage = check_headers(&req(&h), "ecr", t0(), Some(f)).unwrap();
        assert!(!stage.is_authenticated());
        assert!(stage.finish(&Sha256::digest(b"other")).is_err());
        // An unknown key is refused on the head alone.
        let mut h = signed("ecr");
        let auth = auth_of(&h).replace(KEY, "AKIDUNKNOWN");
        set(&mut h, "authorization", &auth);
        assert!(matches!(
            check_headers(&req(&h), "ecr", t0(), Some(f)),
            Err(SigV4Error::UnknownKey(_))
        ));
        // An announced payload hash lets the signature be checked on the head: a
        // wrong one fails there, a right one authenticates before the body.
        let mut headers = base_headers();
        headers.push((
            "x-amz-content-sha256".into(),
            hex::encode(Sha256::digest(BODY)),
        ));
        let good = sign_with(SECRET, "ecr", "/", headers.clone(), BODY);
        let stage = check_headers(&req(&good), "ecr", t0(), Some(f)).unwrap();
        assert!(stage.is_authenticated());
        assert!(stage.finish(&Sha256::digest(BODY)).is_ok());
        let bad = sign_with("not-the-secret", "ecr", "/", headers, BODY);
        assert!(is_invalid(
            check_headers(&req(&bad), "ecr", t0(), Some(f)).map(|_| ())
        ));
    }

    #[test]
    fn signed_header_absent_is_incomplete() {
        let h: Vec<_> = signed("ecr")
            .into_iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("x-amz-target"))
            .collect();
        assert!(is_incomplete(strict(&h)));
        assert!(is_incomplete(open(&h)));
    }

    #[test]
    fn open_mode_accepts_wrong_signature() {
        let mut h = signed("ecr");
        let auth = auth_of(&h);
        let (prefix, _) = auth.split_once("Signature=").unwrap();
        set(
            &mut h,
            "authorization",
            &format!("{prefix}Signature={}", "ab".repeat(32)),
        );
        assert!(is_invalid(strict(&h)));
        assert_eq!(open(&h).unwrap().service, "ecr");
    }

    #[test]
    fn encoded_path_and_query_verify() {
        let path = "/v2/my%20repo/a%2Fb/caf%C3%A9:tag!";
        let query = "z=last&a=2&a=1&empty=&flag&sp=a+b&pct=%7Ex%2B";
        let h = sign_with(
            SECRET,
            "ecr",
            &format!("{path}?{query}"),
            base_headers(),
            BODY,
        );
        assert!(check(path, query, &h, BODY, t0(), true).is_ok());
        // Parameter order on the wire does not matter...
        let shuffled = "flag&pct=%7Ex%2B&a=1&empty=&sp=a+b&a=2&z=last";
        assert!(check(path, shuffled, &h, BODY, t0(), true).is_ok());
        // ...but their values and the path do.
        assert!(is_invalid(check(path, "z=last&a=2", &h, BODY, t0(), true)));
        assert!(is_invalid(check(
            "/v2/my%20repo",
            query,
            &h,
            BODY,
            t0(),
            true
        )));
    }

    #[test]
    fn repeated_and_extra_headers() {
        let mut headers = base_headers();
        headers.push(("X-Custom".into(), "one".into()));
        headers.push(("x-custom".into(), "two  words".into()));
        let mut h = sign_with(SECRET, "ecr", "/", headers, BODY);
        assert!(auth_of(&h).contains("x-custom"));
        assert!(strict(&h).is_ok());
        // Unsigned headers added in transit are ignored.
        h.push(("User-Agent".into(), "proxy".into()));
        assert!(strict(&h).is_ok());
    }

    #[test]
    fn content_sha256_header_must_match_body() {
        let mut settings_headers = base_headers();
        let hash = hex::encode(Sha256::digest(BODY));
        settings_headers.push(("x-amz-content-sha256".into(), hash));
        let h = sign_with(SECRET, "ecr", "/", settings_headers, BODY);
        assert!(strict(&h).is_ok());
        assert!(is_invalid(check("/", "", &h, b"other", t0(), true)));
        let mut unsigned = h.clone();
        set(&mut unsigned, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
        assert!(is_invalid(strict(&unsigned)));
    }

    #[test]
    fn never_panics_on_mangled_input() {
        let good = signed("ecr");
        let auth = auth_of(&good);
        // Every prefix of the header (at char boundaries), plus odd paths and
        // queries, in both modes: only the outcome may differ, never a panic.
        let mut auths: Vec<String> = (0..=auth.len())
            .filter_map(|i| auth.get(..i).map(str::to_owned))
            .collect();
        auths.push(auth.replace(',', "\u{0}é,"));
        let paths = [
            "",
            "/",
            "//",
            "/..",
            "/../../a/./b/",
            "%",
            "%zz",
            "/%ff",
            "é",
        ];
        let queries = [
            "",
            "&",
            "=",
            "==&&=",
            "%",
            "%4",
            "a=%ZZ",
            "é=ü&+=+",
            "a=%ff",
        ];
        for a in &auths {
            let mut h = good.clone();
            set(&mut h, "authorization", a);
            for (p, q) in paths.iter().zip(queries.iter()) {
                let _ = check(p, q, &h, BODY, t0(), true);
                let _ = check(p, q, &h, b"", t0(), false);
            }
        }
        // Paths that normalise to "/" are the request that was signed.
        for p in ["", "//", "/.", "/.."] {
            assert!(check(p, "", &good, BODY, t0(), true).is_ok(), "{p:?}");
        }
        assert!(is_invalid(check("/%ff", "", &good, BODY, t0(), true)));
    }

    #[test]
    fn error_display() {
        assert_eq!(
            SigV4Error::Missing.to_string(),
            "missing Authorization header"
        );
        assert!(SigV4Error::UnknownKey("K".into()).to_string().contains('K'));
    }
}
