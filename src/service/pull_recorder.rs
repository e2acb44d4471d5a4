//! Pull times on their way to the store. Recording a pull is a durable write, a
//! commit and a sync; a pull does not wait for it. It notes the images here and
//! answers; one task writes what was noted, gathered for up to `GATHER`: one commit for
//! the pulls of that while, not one each. ECR records pull times the same way, behind
//! the pull ("at least once every 24 hours"). What reads the times (DescribeImages,
//! lifecycle policies) first has the pulls this process noted before it written at once
//! and waits for them (`written`), so a client sees its own pull. Best effort: a kill
//! loses the pulls noted and not yet written, a failed write is logged and dropped, and
//! so are pulls past `MAX_PENDING` while the store cannot keep up.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};

use crate::domain::{Image, Registry};
use crate::store::{Key, Store};

/// Images noted and not yet written, at most; later pulls go unrecorded until the
/// writes catch up.
const MAX_PENDING: usize = 100_000;

/// How long the writer gathers pulls before it writes them, unless a reader of pull
/// times asks for them sooner.
const GATHER: Duration = Duration::from_secs(1);

pub(super) struct PullRecorder {
    pending: Mutex<Pending>,
    wake: Notify,
    /// A reader waits for pulls noted and not yet written.
    hurry: Notify,
    /// The last note written (or given up on).
    written: watch::Sender<u64>,
}

#[derive(Default)]
struct Pending {
    /// Notes taken so far: the latest one's number.
    noted: u64,
    /// Per registry and puller (an exclusion applies to a principal in a registry),
    /// each image's latest pull.
    pulls: HashMap<(Registry, String), HashMap<Key<Image>, DateTime<Utc>>>,
    images: usize,
    /// Whether pulls were dropped since the last warning.
    dropped: bool,
}

impl PullRecorder {
    /// The recorder, and its writer, a task on the current runtime.
    pub(super) fn start(store: Store) -> Arc<Self> {
        let recorder = Arc::new(Self {
            pending: Mutex::default(),
            wake: Notify::new(),
            hurry: Notify::new(),
            written: watch::Sender::new(0),
        });
        tokio::spawn(recorder.clone().write_all(store));
        recorder
    }

    /// Notes that `principal` pulled `images` from `registry` at `at`.
    pub(super) fn note(
        &self,
        registry: &Registry,
        principal: &str,
        images: &[Key<Image>],
        at: DateTime<Utc>,
    ) {
        if images.is_empty() {
            return;
        }
        let mut pending = self.pending();
        if pending.images + images.len() > MAX_PENDING {
            pending.dropped = true;
            return;
        }
        let Pending {
            noted,
            pulls,
            images: count,
            ..
        } = &mut *pending;
        let by_image = pulls
            .entry((registry.clone(), principal.to_owned()))
            .or_default();
        for image in images {
            match by_image.entry(*image) {
                Entry::Vacant(new) => {
                    new.insert(at);
                    *count += 1;
                }
                Entry::Occupied(mut last) => {
                    let latest = (*last.get()).max(at);
                    last.insert(latest);
                }
            }
        }
        *noted += 1;
        drop(pending);
        self.wake.notify_one();
    }

    /// Returns once every pull noted before the call is written (or given up on).
    pub(super) async fn written(&self) {
        let noted = self.pending().noted;
        let mut written = self.written.subscribe();
        if *written.borrow() < noted {
            self.hurry.notify_one();
        }
        // The sender lives as long as `self`.
        let _ = written.wait_for(|w| *w >= noted).await;
    }

    async fn write_all(self: Arc<Self>, store: Store) {
        loop {
            self.wake.notified().await;
            // Until the time is up or a reader hurries it.
            let _gathered = tokio::time::timeout(GATHER, self.hurry.notified()).await;
            let (noted, pulls, dropped) = {
                let mut pending = self.pending();
                let taken = std::mem::take(&mut *pending);
                pending.noted = taken.noted;
                (taken.noted, taken.pulls, taken.dropped)
            };
            if dropped {
                tracing::warn!(
                    "pull times were not recorded: the store fell {MAX_PENDING} images behind"
                );
            }
            if let Err(e) = write(&store, pulls).await {
                tracing::warn!(error = ?e, "could not record pull times");
            }
            self.written.send_replace(noted);
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Writes the pulls of every puller the registry does not exclude.
async fn write(
    store: &Store,
    pulls: HashMap<(Registry, String), HashMap<Key<Image>, DateTime<Utc>>>,
) -> crate::store::Result<()> {
    let mut latest: HashMap<Key<Image>, DateTime<Utc>> = HashMap::new();
    for ((registry, principal), images) in pulls {
        if store.pull_time_excluded(&registry, &principal).await? {
            continue;
        }
        for (image, at) in images {
            let last = latest.entry(image).or_insert(at);
            *last = (*last).max(at);
        }
    }
    let latest: Vec<_> = latest.into_iter().collect();
    if latest.is_empty() {
        return Ok(());
    }
    store.record_pulls(&latest).await?;
    crate::metrics::pull_times_written(latest.len());
    Ok(())
}
