//! Background jobs run in one process at a time across every process sharing a store.

use crate::fixtures::StoreAt;
use crate::helpers::Backend;

async fn one_holder_at_a_time(backend: Backend) {
    let store = StoreAt::new(backend).await;
    let (first, second) = (store.service().await, store.service().await);

    let (started_tx, started) = tokio::sync::oneshot::channel();
    let (finish, finish_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        first
            .exclusively("job", async {
                started_tx.send(()).expect("signal");
                finish_rx.await.expect("finish");
                Ok(1)
            })
            .await
            .expect("first run")
    });
    started.await.expect("first started");

    // While the first holds the job, the second neither runs it nor waits for it;
    // another job is free.
    let refused = second
        .exclusively("job", async { Ok(2) })
        .await
        .expect("second run");
    assert_eq!(refused, None, "the job runs in one process at a time");
    let other = second
        .exclusively("other job", async { Ok(3) })
        .await
        .expect("other job");
    assert_eq!(other, Some(3));

    finish.send(()).expect("finish");
    assert_eq!(running.await.expect("first"), Some(1));
    // Released when done: the second may run it now.
    let after = second
        .exclusively("job", async { Ok(4) })
        .await
        .expect("after release");
    assert_eq!(after, Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_at_a_time_sqlite() {
    one_holder_at_a_time(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_at_a_time_postgres() {
    one_holder_at_a_time(Backend::Postgres).await
}
