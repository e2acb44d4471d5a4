//! The `WWW-Authenticate` challenges of the registry protocol: `Basic realm="…"` and
//! `Bearer realm="…",service="…",scope="…"` (RFC 7235's auth-params, quoted or not).

/// What a 401 asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    /// A token from `realm`, for `service`.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl Challenge {
    /// The first challenge of a scheme berth answers, if any.
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = auth_params(params);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
        })
    }
}

/// `name=value` pairs separated by commas, values quoted (with `\` escapes) or bare.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
        }
        out.push((name.trim().to_owned(), value.trim().to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let cases = [
            ("Basic realm=\"Registry Realm\"", Some(Challenge::Basic)),
            ("basic", Some(Challenge::Basic)),
            (
                "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/alpine:pull\"",
                Some(Challenge::Bearer {
                    realm: "https://auth.docker.io/token".into(),
                    service: Some("registry.docker.io".into()),
                }),
            ),
            (
                "Bearer service=ghcr.io, realm=https://ghcr.io/token",
                Some(Challenge::Bearer {
                    realm: "https://ghcr.io/token".into(),
                    service: Some("ghcr.io".into()),
                }),
            ),
            (
                "Bearer realm=\"a\\\"b\"",
                Some(Challenge::Bearer {
                    realm: "a\"b".into(),
                    service: None,
                }),
            ),
            ("Bearer service=\"x\"", None),
            ("Negotiate abc", None),
        ];
        for (header, want) in cases {
            assert_eq!(Challenge::parse(header), want, "{header}");
        }
    }
}
