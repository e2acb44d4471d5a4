//! Every request gets an id in a response header and one access-log line naming it,
//! with its face, action or route, and status.

use std::time::Duration;

use crate::process::{Launch, ServerProcess, ServerState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_logged_with_its_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = ServerState::in_dir(dir.path());
    let server = ServerProcess::start(&state).await;
    let http = reqwest::Client::new();
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{name} on {}", r.url()))
    };
    // An unsigned JSON call (refused), a registry call without credentials (refused)
    // and a health check: each answered with its own id.
    let json = http
        .post(format!("{}/", server.url))
        .header(
            "x-amz-target",
            "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
        )
        .body("{}")
        .send()
        .await
        .expect("json call");
    let registry = http
        .get(format!("{}/v2/some/repo/tags/list", server.url))
        .send()
        .await
        .expect("registry call");
    let health = http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("health");
    let expected = [
        (
            header(&json, "x-amzn-requestid"),
            "face=\"ecr\" route=\"DescribeRepositories\" status=400",
        ),
        (
            header(&registry, "docker-request-id"),
            "face=\"registry\" route=\"GET /v2/{name:.+}/tags/list\" status=401",
        ),
        (
            header(&health, "docker-request-id"),
            "face=\"berth\" route=\"GET /healthz\" status=200",
        ),
    ];
    // Access-log lines are gathered and written within 100 ms, while the server runs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(&state.log).unwrap_or_default();
        let missing: Vec<_> = expected
            .iter()
            .filter(|(id, fields)| {
                !log.lines()
                    .any(|l| l.contains(id.as_str()) && l.contains(fields) && l.contains("served"))
            })
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no access-log line for {missing:?} in:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids: std::collections::BTreeSet<_> = expected.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), expected.len(), "ids repeat");
    for id in ids {
        let parsed = uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(parsed.get_version_num(), 4, "{id}");
    }
}

/// A server stopped right after answering still writes that request's access-log line:
/// what is gathered is written out before the process exits. Only the access log is
/// on, so no other line writes it out first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_requests_are_logged_before_exit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = ServerState::in_dir(dir.path());
    let launch = Launch {
        log_filter: Some("error,berth::api::access=info"),
        ..Launch::default()
    };
    let mut server = ServerProcess::launch(&state, launch).await;
    let answered = reqwest::Client::new()
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("health");
    let id = answered
        .headers()
        .get("docker-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request id")
        .to_owned();
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");
    let log = std::fs::read_to_string(&state.log).expect("log");
    assert!(
        log.lines().any(|l| l.contains(&id) && l.contains("served")),
        "no access-log line for {id} in:\n{log}"
    );
}
