//! Tables of policies, requests and what the policy decides; and of documents refused
//! with their reasons.

use std::net::IpAddr;

use super::*;
use crate::domain::{Principal, RegistryId};
use Decision::{Allow, Deny, Silent};

const ACCOUNT: &str = "111122223333";
const OTHER: &str = "444455556666";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const ROOT: &str = "arn:aws:iam::111122223333:root";
const DEPLOYER: &str = "arn:aws:iam::111122223333:role/ci/deployer";
const REPO: &str = "arn:aws:ecr:eu-west-1:111122223333:repository/app";
const OTHER_REPO: &str = "arn:aws:ecr:eu-west-1:111122223333:repository/db";
const REGISTRY: &str = "arn:aws:ecr:eu-west-1:111122223333:registry/111122223333";

/// An owned request; each row changes what it needs from the default: alice of
/// ACCOUNT pulling from REPO over TLS from 10.1.2.3, the repository tagged team=web,
/// the request setting no tags.
struct Ask {
    account: &'static str,
    arn: &'static str,
    action: &'static str,
    resource: &'static str,
    source_ip: Option<IpAddr>,
    secure_transport: bool,
    resource_tags: Vec<(String, String)>,
    request_tags: Vec<(String, String)>,
}

impl Default for Ask {
    fn default() -> Self {
        Ask {
            account: ACCOUNT,
            arn: ALICE,
            action: "ecr:BatchGetImage",
            resource: REPO,
            source_ip: Some(ip("10.1.2.3")),
            secure_transport: true,
            resource_tags: tags(&[("team", "web")]),
            request_tags: Vec::new(),
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn decide(policy: &Policy, ask: &Ask) -> Decision {
    let principal = Principal {
        account: RegistryId::parse(ask.account).unwrap(),
        arn: ask.arn.to_owned(),
    };
    policy.decide(&Request {
        principal: &principal,
        action: ask.action,
        resource: ask.resource,
        source_ip: ask.source_ip,
        secure_transport: ask.secure_transport,
        resource_tags: &ask.resource_tags,
        request_tags: &ask.request_tags,
    })
}

type Row = (String, fn(&mut Ask), Decision);

/// Each row: the `Statement` element's JSON, a change to the default request, and the
/// decision expected.
fn check(rows: Vec<Row>) {
    for (i, (statements, change, expected)) in rows.into_iter().enumerate() {
        let text = format!(r#"{{"Version": "2012-10-17", "Statement": {statements}}}"#);
        let policy = Policy::parse(&text, PolicyKind::Repository)
            .unwrap_or_else(|e| panic!("row {i}: {statements}: {e}"));
        let mut ask = Ask::default();
        change(&mut ask);
        assert_eq!(decide(&policy, &ask), expected, "row {i}: {statements}");
    }
}

fn row(statements: impl Into<String>, change: fn(&mut Ask), expected: Decision) -> Row {
    (statements.into(), change, expected)
}

/// An Allow statement for anyone and any action, under `condition`.
fn when(condition: &str, change: fn(&mut Ask), expected: Decision) -> Row {
    (
        format!(
            r#"{{"Effect": "Allow", "Principal": "*", "Action": "*", "Condition": {condition}}}"#
        ),
        change,
        expected,
    )
}

fn same(_: &mut Ask) {}
fn as_bob(a: &mut Ask) {
    a.arn = BOB;
}
fn as_root(a: &mut Ask) {
    a.arn = ROOT;
}
fn as_deployer(a: &mut Ask) {
    a.arn = DEPLOYER;
}
fn as_other_account(a: &mut Ask) {
    a.account = OTHER;
    a.arn = "arn:aws:iam::444455556666:user/alice";
}
fn pushing(a: &mut Ask) {
    a.action = "ecr:PutImage";
}
fn on_other_repo(a: &mut Ask) {
    a.resource = OTHER_REPO;
}
fn insecure(a: &mut Ask) {
    a.secure_transport = false;
}
fn no_source_ip(a: &mut Ask) {
    a.source_ip = None;
}
fn untagged(a: &mut Ask) {
    a.resource_tags.clear();
}
fn tagging_env_team(a: &mut Ask) {
    a.request_tags = tags(&[("env", "prod"), ("team", "web")]);
}
fn tagging_env(a: &mut Ask) {
    a.request_tags = tags(&[("env", "prod")]);
}

#[test]
fn principals() {
    let allow = |principal: &str| {
        format!(r#"{{"Effect": "Allow", "Principal": {principal}, "Action": "ecr:*"}}"#)
    };
    let not = |principal: &str| {
        format!(r#"{{"Effect": "Allow", "NotPrincipal": {principal}, "Action": "ecr:*"}}"#)
    };
    check(vec![
        row(allow(r#""*""#), same, Allow),
        row(allow(r#""*""#), as_other_account, Allow),
        row(allow(r#"{"AWS": "*"}"#), as_other_account, Allow),
        // An account id: any principal of the account, root included.
        row(allow(r#"{"AWS": "111122223333"}"#), same, Allow),
        row(allow(r#"{"AWS": "111122223333"}"#), as_root, Allow),
        row(
            allow(r#"{"AWS": "111122223333"}"#),
            as_other_account,
            Silent,
        ),
        // The root ARN means the same as the account id.
        row(
            allow(r#"{"AWS": "arn:aws:iam::111122223333:root"}"#),
            same,
            Allow,
        ),
        row(
            allow(r#"{"AWS": "arn:aws:iam::111122223333:root"}"#),
            as_deployer,
            Allow,
        ),
        row(
            allow(r#"{"AWS": "arn:aws:iam::111122223333:root"}"#),
            as_other_account,
            Silent,
        ),
        // A user or role ARN: that principal only, not the account's others nor root.
        row(
            allow(r#"{"AWS": "arn:aws:iam::111122223333:user/alice"}"#),
            same,
            Allow,
        ),
        row(
            allow(r#"{"AWS": "arn:aws:iam::111122223333:user/alice"}"#),
            as_bob,
            Silent,
        ),
        row(
            allow(r#"{"AWS": "arn:aws:iam::111122223333:user/alice"}"#),
            as_root,
            Silent,
        ),
        row(
            allow(r#"{"AWS": "arn:aws:iam::111122223333:user/alice"}"#),
            as_other_account,
            Silent,
        ),
        row(
            allow(r#"{"AWS": "arn:aws:iam::111122223333:role/ci/deployer"}"#),
            as_deployer,
            Allow,
        ),
        row(
            allow(r#"{"AWS": "arn:aws:iam::111122223333:role/ci/deployer"}"#),
            same,
            Silent,
        ),
        // A list: any of them.
        row(
            allow(r#"{"AWS": ["444455556666", "arn:aws:iam::111122223333:user/alice"]}"#),
            same,
            Allow,
        ),
        row(
            allow(r#"{"AWS": ["444455556666", "arn:aws:iam::111122223333:user/alice"]}"#),
            as_other_account,
            Allow,
        ),
        row(
            allow(r#"{"AWS": ["444455556666", "arn:aws:iam::111122223333:user/alice"]}"#),
            as_bob,
            Silent,
        ),
        // Service and Federated principals are valid but are never a berth caller.
        row(allow(r#"{"Service": "ecr.amazonaws.com"}"#), same, Silent),
        row(
            allow(r#"{"Federated": ["cognito-identity.amazonaws.com"]}"#),
            same,
            Silent,
        ),
        row(
            allow(r#"{"Service": "ecr.amazonaws.com", "AWS": "111122223333"}"#),
            same,
            Allow,
        ),
        // NotPrincipal: everyone the list does not match.
        row(
            not(r#"{"AWS": "arn:aws:iam::111122223333:user/bob"}"#),
            same,
            Allow,
        ),
        row(
            not(r#"{"AWS": "arn:aws:iam::111122223333:user/bob"}"#),
            as_bob,
            Silent,
        ),
        row(not(r#"{"AWS": "111122223333"}"#), as_bob, Silent),
        row(not(r#"{"AWS": "111122223333"}"#), as_other_account, Allow),
        row(not(r#"{"Service": "ecr.amazonaws.com"}"#), same, Allow),
        row(not(r#""*""#), same, Silent),
    ]);
}

#[test]
fn actions() {
    let allow =
        |actions: &str| format!(r#"{{"Effect": "Allow", "Principal": "*", "Action": {actions}}}"#);
    let not = |actions: &str| {
        format!(r#"{{"Effect": "Allow", "Principal": "*", "NotAction": {actions}}}"#)
    };
    check(vec![
        row(allow(r#""ecr:BatchGetImage""#), same, Allow),
        row(allow(r#""ecr:BatchGetImage""#), pushing, Silent),
        // Case is ignored, in the service prefix too.
        row(allow(r#""ECR:batchgetimage""#), same, Allow),
        row(allow(r#""ecr:Batch*""#), same, Allow),
        row(allow(r#""ecr:Batch*""#), pushing, Silent),
        row(allow(r#""ecr:?utImage""#), pushing, Allow),
        row(allow(r#""ecr:?utImage""#), same, Silent),
        row(allow(r#""ecr:*""#), same, Allow),
        row(
            allow(r#""ecr:*""#),
            |a| a.action = "ecr-public:PutImage",
            Silent,
        ),
        row(
            allow(r#""ecr-public:*""#),
            |a| a.action = "ecr-public:PutImage",
            Allow,
        ),
        row(allow(r#""*""#), same, Allow),
        row(
            allow(r#"["ecr:PutImage", "ecr:BatchGetImage"]"#),
            same,
            Allow,
        ),
        row(allow(r#"["ecr:PutImage", "ecr:Describe*"]"#), same, Silent),
        row(not(r#""ecr:Put*""#), same, Allow),
        row(not(r#""ecr:Put*""#), pushing, Silent),
        row(not(r#""*""#), same, Silent),
    ]);
}

#[test]
fn resources() {
    let allow = |resources: &str| {
        format!(
            r#"{{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": {resources}}}"#
        )
    };
    let not = |resources: &str| {
        format!(
            r#"{{"Effect": "Allow", "Principal": "*", "Action": "*", "NotResource": {resources}}}"#
        )
    };
    check(vec![
        // No Resource element: the policy's own repository, whatever it is named.
        row(
            r#"{"Effect": "Allow", "Principal": "*", "Action": "*"}"#,
            on_other_repo,
            Allow,
        ),
        row(allow(&format!("{REPO:?}")), same, Allow),
        row(allow(&format!("{REPO:?}")), on_other_repo, Silent),
        row(allow(r#""*""#), on_other_repo, Allow),
        row(
            allow(r#""arn:aws:ecr:*:111122223333:repository/*""#),
            on_other_repo,
            Allow,
        ),
        row(
            allow(r#""arn:aws:ecr:*:111122223333:repository/*""#),
            |a| a.resource = REGISTRY,
            Silent,
        ),
        row(
            allow(r#""arn:aws:ecr:eu-west-1:111122223333:repository/ap?""#),
            same,
            Allow,
        ),
        row(
            allow(r#""arn:aws:ecr:eu-west-1:111122223333:repository/ap?""#),
            |a| a.resource = "arn:aws:ecr:eu-west-1:111122223333:repository/apps",
            Silent,
        ),
        // Resources are matched with case.
        row(
            allow(r#""arn:aws:ecr:eu-west-1:111122223333:repository/APP""#),
            same,
            Silent,
        ),
        row(allow(&format!("[{OTHER_REPO:?}, {REPO:?}]")), same, Allow),
        row(not(&format!("{REPO:?}")), same, Silent),
        row(not(&format!("{REPO:?}")), on_other_repo, Allow),
        row(
            not(r#""arn:aws:ecr:*:*:registry/*""#),
            |a| a.resource = REGISTRY,
            Silent,
        ),
    ]);
}

#[test]
fn deny_wins_over_allow() {
    const ALLOW_ALL: &str = r#"{"Effect": "Allow", "Principal": "*", "Action": "ecr:*"}"#;
    const DENY_PUSH: &str =
        r#"{"Effect": "Deny", "Principal": "*", "Action": ["ecr:PutImage", "ecr:Upload*"]}"#;
    const DENY_BOB: &str = r#"{"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:user/bob"}, "Action": "*"}"#;
    check(vec![
        row(format!("[{ALLOW_ALL}, {DENY_PUSH}]"), same, Allow),
        row(format!("[{ALLOW_ALL}, {DENY_PUSH}]"), pushing, Deny),
        row(format!("[{DENY_PUSH}, {ALLOW_ALL}]"), pushing, Deny),
        row(format!("[{ALLOW_ALL}, {DENY_BOB}]"), as_bob, Deny),
        row(format!("[{ALLOW_ALL}, {DENY_BOB}]"), same, Allow),
        row(DENY_PUSH, pushing, Deny),
        // A Deny that does not match says nothing.
        row(DENY_PUSH, same, Silent),
        row(format!("[{DENY_PUSH}, {DENY_BOB}]"), same, Silent),
        // A Deny under a condition: only when the condition holds.
        row(
            format!(
                r#"[{ALLOW_ALL}, {{"Effect": "Deny", "Principal": "*", "Action": "*", "Condition": {{"Bool": {{"aws:SecureTransport": "false"}}}}}}]"#
            ),
            insecure,
            Deny,
        ),
        row(
            format!(
                r#"[{ALLOW_ALL}, {{"Effect": "Deny", "Principal": "*", "Action": "*", "Condition": {{"Bool": {{"aws:SecureTransport": "false"}}}}}}]"#
            ),
            same,
            Allow,
        ),
    ]);
}

#[test]
fn string_operators() {
    check(vec![
        when(
            r#"{"StringEquals": {"aws:PrincipalAccount": "111122223333"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringEquals": {"aws:PrincipalAccount": "111122223333"}}"#,
            as_other_account,
            Silent,
        ),
        // A key's values are alternatives.
        when(
            r#"{"StringEquals": {"aws:PrincipalAccount": ["444455556666", "111122223333"]}}"#,
            same,
            Allow,
        ),
        // Numbers and booleans are taken as the strings they spell.
        when(
            r#"{"StringEquals": {"aws:PrincipalAccount": 111122223333}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringEquals": {"aws:SecureTransport": true}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringEquals": {"aws:ResourceTag/team": "WEB"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"StringNotEquals": {"aws:PrincipalAccount": "444455556666"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringNotEquals": {"aws:PrincipalAccount": "111122223333"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"StringNotEquals": {"aws:PrincipalAccount": ["444455556666", "111122223333"]}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"StringEqualsIgnoreCase": {"aws:ResourceTag/team": "WEB"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringEqualsIgnoreCase": {"aws:ResourceTag/team": "ops"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"StringNotEqualsIgnoreCase": {"aws:ResourceTag/team": "WEB"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"StringNotEqualsIgnoreCase": {"aws:ResourceTag/team": "ops"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/a*"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/a*"}}"#,
            as_bob,
            Silent,
        ),
        when(
            r#"{"StringLike": {"aws:PrincipalArn": "*:role/*"}}"#,
            as_deployer,
            Allow,
        ),
        when(
            r#"{"StringLike": {"aws:ResourceTag/team": "w?b"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringLike": {"aws:ResourceTag/team": "W*"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"StringNotLike": {"aws:PrincipalArn": "*:role/*"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringNotLike": {"aws:PrincipalArn": "*:role/*"}}"#,
            as_deployer,
            Silent,
        ),
        when(
            r#"{"StringLike": {"aws:RequestTag/env": "pr*"}}"#,
            tagging_env,
            Allow,
        ),
        when(
            r#"{"StringEquals": {"aws:RequestTag/env": "prod"}}"#,
            same,
            Silent,
        ),
    ]);
}

#[test]
fn arn_operators() {
    check(vec![
        when(
            r#"{"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/alice"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/alice"}}"#,
            as_bob,
            Silent,
        ),
        when(
            r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}"#,
            as_deployer,
            Allow,
        ),
        // Part by part: a star cannot stand for the account and the resource together.
        when(
            r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/bob"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/bob"}}"#,
            as_bob,
            Silent,
        ),
        when(
            r#"{"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:*"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:*"}}"#,
            as_other_account,
            Allow,
        ),
    ]);
}

#[test]
fn ip_address_operators() {
    check(vec![
        when(
            r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"IpAddress": {"aws:SourceIp": "192.168.0.0/16"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"IpAddress": {"aws:SourceIp": "10.1.2.3"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"IpAddress": {"aws:SourceIp": "10.1.2.4"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"IpAddress": {"aws:SourceIp": ["192.168.0.0/16", "10.1.0.0/16"]}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}"#,
            |a| a.source_ip = Some(ip("2001:db8::1")),
            Allow,
        ),
        when(
            r#"{"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}"#,
            |a| a.source_ip = Some(ip("2001:db9::1")),
            Silent,
        ),
        when(
            r#"{"IpAddress": {"aws:SourceIp": "2001:db8::1"}}"#,
            |a| a.source_ip = Some(ip("2001:db8::1")),
            Allow,
        ),
        when(
            r#"{"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}"#,
            |a| a.source_ip = Some(ip("2001:db8::1")),
            Silent,
        ),
        when(
            r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"NotIpAddress": {"aws:SourceIp": "192.168.0.0/16"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"NotIpAddress": {"aws:SourceIp": ["192.168.0.0/16", "10.0.0.0/8"]}}"#,
            same,
            Silent,
        ),
        // Not an address, so never in a range.
        when(
            r#"{"IpAddress": {"aws:PrincipalArn": "0.0.0.0/0"}}"#,
            same,
            Silent,
        ),
    ]);
}

#[test]
fn bool_and_null_operators() {
    check(vec![
        when(r#"{"Bool": {"aws:SecureTransport": "true"}}"#, same, Allow),
        when(
            r#"{"Bool": {"aws:SecureTransport": "true"}}"#,
            insecure,
            Silent,
        ),
        when(
            r#"{"Bool": {"aws:SecureTransport": false}}"#,
            insecure,
            Allow,
        ),
        when(
            r#"{"Bool": {"aws:SecureTransport": "FALSE"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"Bool": {"aws:ResourceTag/signed": "true"}}"#,
            |a| a.resource_tags = tags(&[("signed", "true")]),
            Allow,
        ),
        when(r#"{"Null": {"aws:SourceIp": "true"}}"#, no_source_ip, Allow),
        when(r#"{"Null": {"aws:SourceIp": "true"}}"#, same, Silent),
        when(r#"{"Null": {"aws:SourceIp": false}}"#, same, Allow),
        when(
            r#"{"Null": {"aws:ResourceTag/team": "false"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"Null": {"aws:ResourceTag/team": "false"}}"#,
            untagged,
            Silent,
        ),
        when(r#"{"Null": {"aws:TagKeys": "true"}}"#, same, Allow),
        when(r#"{"Null": {"aws:TagKeys": "true"}}"#, tagging_env, Silent),
    ]);
}

#[test]
fn missing_keys() {
    check(vec![
        // Positive operators fail on a missing key, negated ones hold.
        when(
            r#"{"StringEquals": {"aws:ResourceTag/owner": "me"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"StringNotEquals": {"aws:ResourceTag/owner": "me"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringLike": {"aws:ResourceTag/owner": "*"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"StringNotLike": {"aws:ResourceTag/owner": "*"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"ArnLike": {"aws:ResourceTag/owner": "*"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}"#,
            no_source_ip,
            Silent,
        ),
        when(
            r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
            no_source_ip,
            Allow,
        ),
        when(
            r#"{"Bool": {"aws:ResourceTag/signed": "true"}}"#,
            same,
            Silent,
        ),
        // ...IfExists holds on a missing key, and tests a present one as usual.
        when(
            r#"{"StringEqualsIfExists": {"aws:ResourceTag/owner": "me"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringEqualsIfExists": {"aws:ResourceTag/team": "ops"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"StringEqualsIfExists": {"aws:ResourceTag/team": "web"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringNotEqualsIfExists": {"aws:ResourceTag/team": "web"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"StringNotEqualsIfExists": {"aws:ResourceTag/owner": "me"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringLikeIfExists": {"aws:ResourceTag/owner": "x*"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"ArnLikeIfExists": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"IpAddressIfExists": {"aws:SourceIp": "192.168.0.0/16"}}"#,
            no_source_ip,
            Allow,
        ),
        when(
            r#"{"IpAddressIfExists": {"aws:SourceIp": "192.168.0.0/16"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"BoolIfExists": {"aws:ResourceTag/signed": "true"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"BoolIfExists": {"aws:ResourceTag/signed": "true"}}"#,
            |a| a.resource_tags = tags(&[("signed", "false")]),
            Silent,
        ),
        // Set qualifiers: ForAllValues holds on a missing key, ForAnyValue fails,
        // negated or not.
        when(
            r#"{"ForAllValues:StringEquals": {"aws:TagKeys": "env"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"ForAllValues:StringNotEquals": {"aws:TagKeys": "env"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"ForAnyValue:StringEquals": {"aws:TagKeys": "env"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"ForAnyValue:StringNotEquals": {"aws:TagKeys": "env"}}"#,
            same,
            Silent,
        ),
    ]);
}

#[test]
fn set_qualifiers() {
    check(vec![
        when(
            r#"{"ForAnyValue:StringEquals": {"aws:TagKeys": "team"}}"#,
            tagging_env_team,
            Allow,
        ),
        when(
            r#"{"ForAnyValue:StringEquals": {"aws:TagKeys": ["owner", "cost"]}}"#,
            tagging_env_team,
            Silent,
        ),
        when(
            r#"{"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team", "owner"]}}"#,
            tagging_env_team,
            Allow,
        ),
        when(
            r#"{"ForAllValues:StringEquals": {"aws:TagKeys": "env"}}"#,
            tagging_env_team,
            Silent,
        ),
        when(
            r#"{"ForAllValues:StringEquals": {"aws:TagKeys": "env"}}"#,
            tagging_env,
            Allow,
        ),
        when(
            r#"{"ForAllValues:StringLike": {"aws:TagKeys": ["e*", "t*"]}}"#,
            tagging_env_team,
            Allow,
        ),
        when(
            r#"{"ForAnyValue:StringEqualsIgnoreCase": {"aws:TagKeys": "TEAM"}}"#,
            tagging_env_team,
            Allow,
        ),
        when(
            r#"{"ForAllValues:StringEqualsIgnoreCase": {"aws:TagKeys": ["ENV"]}}"#,
            tagging_env_team,
            Silent,
        ),
        // Negated under a qualifier: the operator is applied to each request value.
        when(
            r#"{"ForAnyValue:StringNotEquals": {"aws:TagKeys": "env"}}"#,
            tagging_env_team,
            Allow,
        ),
        when(
            r#"{"ForAnyValue:StringNotEquals": {"aws:TagKeys": "env"}}"#,
            tagging_env,
            Silent,
        ),
        when(
            r#"{"ForAllValues:StringNotEquals": {"aws:TagKeys": "owner"}}"#,
            tagging_env_team,
            Allow,
        ),
        when(
            r#"{"ForAllValues:StringNotEquals": {"aws:TagKeys": "env"}}"#,
            tagging_env_team,
            Silent,
        ),
        when(
            r#"{"ForAllValues:StringNotLike": {"aws:TagKeys": "aws:*"}}"#,
            tagging_env_team,
            Allow,
        ),
        when(
            r#"{"ForAllValues:StringNotLike": {"aws:TagKeys": "aws:*"}}"#,
            |a| a.request_tags = tags(&[("env", "x"), ("aws:owner", "y")]),
            Silent,
        ),
        when(
            r#"{"ForAnyValue:StringNotEqualsIgnoreCase": {"aws:TagKeys": ["ENV", "TEAM"]}}"#,
            tagging_env_team,
            Silent,
        ),
        when(
            r#"{"ForAnyValue:ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"ForAllValues:ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/alice"}}"#,
            same,
            Silent,
        ),
        // Without a qualifier a multi-valued key matches when any value does.
        when(
            r#"{"StringEquals": {"aws:TagKeys": "team"}}"#,
            tagging_env_team,
            Allow,
        ),
        when(
            r#"{"StringNotEquals": {"aws:TagKeys": "team"}}"#,
            tagging_env_team,
            Silent,
        ),
        when(
            r#"{"StringNotEquals": {"aws:TagKeys": "owner"}}"#,
            tagging_env_team,
            Allow,
        ),
    ]);
}

#[test]
fn conditions_combine() {
    check(vec![
        // Operators AND.
        when(
            r#"{"StringEquals": {"aws:PrincipalAccount": "111122223333"}, "Bool": {"aws:SecureTransport": "true"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringEquals": {"aws:PrincipalAccount": "111122223333"}, "Bool": {"aws:SecureTransport": "true"}}"#,
            insecure,
            Silent,
        ),
        // Keys within an operator AND.
        when(
            r#"{"StringEquals": {"aws:PrincipalAccount": "111122223333", "aws:ResourceTag/team": "ops"}}"#,
            same,
            Silent,
        ),
        when(
            r#"{"StringEquals": {"aws:PrincipalAccount": "111122223333", "aws:ResourceTag/team": "web"}}"#,
            same,
            Allow,
        ),
        // An empty block has nothing to fail.
        when(r#"{}"#, same, Allow),
    ]);
}

#[test]
fn condition_keys() {
    check(vec![
        // Key names ignore case; tag keys after the slash do not.
        when(
            r#"{"StringEquals": {"AWS:principalaccount": "111122223333"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringEquals": {"aws:resourcetag/team": "web"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringEquals": {"aws:ResourceTag/Team": "web"}}"#,
            same,
            Silent,
        ),
        // ecr:ResourceTag is the same tag.
        when(
            r#"{"StringEquals": {"ecr:ResourceTag/team": "web"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringEquals": {"ECR:RESOURCETAG/team": "web"}}"#,
            same,
            Allow,
        ),
        when(
            r#"{"StringEquals": {"ecr:ResourceTag/team": "web"}}"#,
            untagged,
            Silent,
        ),
        when(
            r#"{"StringEquals": {"aws:RequestTag/env": "prod"}}"#,
            tagging_env,
            Allow,
        ),
        when(
            r#"{"StringEquals": {"aws:RequestTag/team": "web"}}"#,
            tagging_env,
            Silent,
        ),
        when(
            r#"{"StringEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:root"}}"#,
            as_root,
            Allow,
        ),
        when(
            r#"{"StringEquals": {"aws:SourceIp": "10.1.2.3"}}"#,
            same,
            Allow,
        ),
    ]);
}

const GOOD: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Sid": "pull", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:root"]},
                 "Action": ["ecr-public:BatchCheckLayerAvailability", "ecr-public:PutImage"]}]
}"#;

#[test]
fn a_valid_policy_is_kept_byte_for_byte() {
    assert_eq!(
        Policy::parse(GOOD, PolicyKind::Repository).map(|p| p.as_str().to_owned()),
        Ok(GOOD.to_owned())
    );
    let single = r#"{"Statement":{"Effect":"Deny","Principal":"*","NotAction":"ecr-public:*"}}"#;
    assert!(Policy::parse(single, PolicyKind::Repository).is_ok());
}

#[test]
fn actions_are_listed_as_written() {
    let policy = Policy::parse(
        r#"{"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": ["ecr:ReplicateImage", "ECR:create*"], "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "NotAction": "ecr:Describe*", "Resource": "*"},
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
        ]}"#,
        PolicyKind::Registry,
    )
    .unwrap();
    assert_eq!(
        policy.actions().collect::<Vec<_>>(),
        ["ecr:ReplicateImage", "ECR:create*", "*"]
    );
}

/// Each row: a document, and the start of the reason it is refused with.
fn refused(kind: PolicyKind, rows: &[(&str, &str)]) {
    for (text, reason) in rows {
        match Policy::parse(text, kind) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => assert!(
                e.reason().starts_with(reason),
                "{text}: refused with {:?}, not {reason:?}",
                e.reason()
            ),
        }
    }
}

/// A repository policy with one Allow statement having `extra` elements.
fn with(extra: &str) -> String {
    format!(r#"{{"Statement": {{"Effect": "Allow", {extra}}}}}"#)
}

#[test]
fn malformed_documents_are_refused() {
    refused(
        PolicyKind::Repository,
        &[
            ("", "the policy is not valid JSON"),
            ("not json", "the policy is not valid JSON"),
            ("[]", "the policy must be a JSON object"),
            (
                r#"{"Statement": []}"#,
                "'Statement' must be a statement or a non-empty list",
            ),
            (
                r#"{"Statement": ["x"]}"#,
                "each statement must be a JSON object",
            ),
            (
                r#"{"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:X"}}"#,
                "unsupported policy version \"2020-01-01\"",
            ),
            (
                r#"{"Statement": {"Effect": "Maybe", "Principal": "*", "Action": "ecr:X"}}"#,
                "each statement needs 'Effect' of 'Allow' or 'Deny'",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Action": "ecr:X"}}"#,
                "each statement needs exactly one of 'Principal' and 'NotPrincipal'",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "NotPrincipal": "*", "Action": "ecr:X"}}"#,
                "each statement needs exactly one of 'Principal' and 'NotPrincipal'",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*"}}"#,
                "each statement needs exactly one of 'Action' and 'NotAction'",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:X", "NotAction": "ecr:Y"}}"#,
                "each statement needs exactly one of 'Action' and 'NotAction'",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "someone", "Action": "ecr:X"}}"#,
                "a principal must be \"*\" or an object of principal lists",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": {}, "Action": "ecr:X"}}"#,
                "a principal must be \"*\" or an object of principal lists",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": []}, "Action": "ecr:X"}}"#,
                "a principal must be \"*\" or an object of principal lists",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": 3}}"#,
                "actions must be a string or a list of strings",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:X", "Colour": "red"}}"#,
                "unknown statement element 'Colour'",
            ),
            (
                r#"{"Extra": 1, "Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:X"}}"#,
                "unknown policy element 'Extra'",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:X", "Resource": "*", "NotResource": "*"}}"#,
                "a statement may have only one of 'Resource' and 'NotResource'",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:X", "Resource": 1}}"#,
                "'Resource' must be a string or a list of strings",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:X", "NotResource": []}}"#,
                "'NotResource' must be a string or a list of strings",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:X", "Condition": []}}"#,
                "'Condition' must be an object",
            ),
        ],
    );
}

#[test]
fn principals_actions_and_conditions_are_checked() {
    let rows = [
        (with(r#""Principal": {"AWS": "someone"}, "Action": "*""#), "invalid AWS principal 'someone'"),
        (with(r#""Principal": {"AWS": "12345"}, "Action": "*""#), "invalid AWS principal '12345'"),
        (with(r#""Principal": {"AWS": "arn:aws:iam::1234:root"}, "Action": "*""#), "invalid AWS principal 'arn:aws:iam::1234:root'"),
        (with(r#""Principal": {"AWS": "arn:aws:iam::111122223333:group/devs"}, "Action": "*""#), "invalid AWS principal 'arn:aws:iam::111122223333:group/devs'"),
        (with(r#""Principal": {"AWS": "arn:aws:iam::111122223333:user/*"}, "Action": "*""#), "invalid AWS principal 'arn:aws:iam::111122223333:user/*'"),
        (with(r#""Principal": {"AWS": "arn:aws:iam::111122223333:role/"}, "Action": "*""#), "invalid AWS principal 'arn:aws:iam::111122223333:role/'"),
        (with(r#""Principal": {"AWS": ["111122223333", "x"]}, "Action": "*""#), "invalid AWS principal 'x'"),
        (with(r#""Principal": {"CanonicalUser": "abc"}, "Action": "*""#), "unknown principal type 'CanonicalUser'"),
        (with(r#""Principal": "*", "Action": "BatchGetImage""#), "invalid action 'BatchGetImage'"),
        (with(r#""Principal": "*", "Action": ["ecr:*", "ecr:"]"#), "invalid action 'ecr:'"),
        (with(r#""Principal": "*", "NotAction": ":PutImage""#), "invalid action ':PutImage'"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"StringSortOf": {"aws:SourceIp": "x"}}"#), "unknown condition operator 'StringSortOf'"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"stringequals": {"aws:SourceIp": "x"}}"#), "unknown condition operator 'stringequals'"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"NullIfExists": {"aws:SourceIp": "true"}}"#), "unknown condition operator 'NullIfExists'"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"ForAnyValue:IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#), "unknown condition operator 'ForAnyValue:IpAddress'"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"ForAllValues:Bool": {"aws:SecureTransport": "true"}}"#), "unknown condition operator 'ForAllValues:Bool'"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"ForAnyValue:Null": {"aws:TagKeys": "true"}}"#), "unknown condition operator 'ForAnyValue:Null'"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"NumericEquals": {"aws:SourceIp": "1"}}"#), "unknown condition operator 'NumericEquals'"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"StringEquals": {"aws:Weather": "sunny"}}"#), "unknown condition key 'aws:Weather'"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"StringEquals": {"aws:ResourceTag/": "x"}}"#), "unknown condition key 'aws:ResourceTag/'"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"StringEquals": {"aws:RequestTag": "x"}}"#), "unknown condition key 'aws:RequestTag'"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"StringEquals": {"ecr:RequestTag/x": "x"}}"#), "unknown condition key 'ecr:RequestTag/x'"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"StringEquals": "aws:SourceIp"}"#), "condition operator 'StringEquals' must map condition keys to values"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"StringEquals": {"aws:PrincipalAccount": []}}"#), "condition key 'aws:PrincipalAccount' needs a value"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"StringEquals": {"aws:PrincipalAccount": null}}"#), "condition key 'aws:PrincipalAccount' needs a value"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"StringEquals": {"aws:PrincipalAccount": [{"a": 1}]}}"#), "condition key 'aws:PrincipalAccount' needs a value"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.300"}}"#), "'10.0.0.300' is not an IP address or CIDR block (IpAddress on 'aws:SourceIp')"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"NotIpAddressIfExists": {"aws:SourceIp": ["10.0.0.0/8", "10.0.0.0/33"]}}"#), "'10.0.0.0/33' is not an IP address or CIDR block (NotIpAddressIfExists on 'aws:SourceIp')"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"Bool": {"aws:SecureTransport": "yes"}}"#), "'yes' is not true or false (Bool on 'aws:SecureTransport')"),
        (with(r#""Principal": "*", "Action": "*", "Condition": {"Null": {"aws:SourceIp": 1}}"#), "'1' is not true or false (Null on 'aws:SourceIp')"),
    ];
    for (text, reason) in &rows {
        refused(PolicyKind::Repository, &[(text, reason)]);
    }
}

#[test]
fn registry_policies_need_a_resource() {
    let bare = with(r#""Principal": "*", "Action": "ecr:ReplicateImage""#);
    assert!(Policy::parse(&bare, PolicyKind::Repository).is_ok());
    refused(
        PolicyKind::Registry,
        &[(
            &bare,
            "each statement of a registry policy needs 'Resource' or 'NotResource'",
        )],
    );
    for resource in [
        r#""Resource": "*""#,
        r#""NotResource": ["arn:aws:ecr:*:*:repository/x"]"#,
    ] {
        let text = with(&format!(
            r#""Principal": "*", "Action": "ecr:ReplicateImage", {resource}"#
        ));
        assert!(Policy::parse(&text, PolicyKind::Registry).is_ok(), "{text}");
    }
}

#[test]
fn the_two_error_wordings() {
    let text = with(
        r#""Principal": "*", "Action": "*", "Condition": {"StringEquals": {"aws:Weather": "sunny"}}"#,
    );
    let repository = Policy::parse(&text, PolicyKind::Repository).unwrap_err();
    assert_eq!(
        repository.to_string(),
        "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided: unknown condition key 'aws:Weather''"
    );
    let registry = Policy::parse(&text, PolicyKind::Registry).unwrap_err();
    assert_eq!(
        registry.to_string(),
        "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided: each statement of a registry policy needs 'Resource' or 'NotResource''"
    );
    let registry = Policy::parse("[]", PolicyKind::Registry).unwrap_err();
    assert_eq!(
        registry.to_string(),
        "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided: the policy must be a JSON object'"
    );
}
