//! The processes serving one store (replicas). Each registers the settings replicas
//! must share, and start-up refuses a process whose settings differ from a live
//! one's, so replicas never disagree on whom they serve, where, or how long an upload
//! lives. Each says it is alive every `HEARTBEAT`; one not heard from for three is
//! forgotten, and a clean stop leaves at once.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::{now, Result, Service};

/// How often a process says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// A setting this process holds differently from a live replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    pub setting: String,
    /// The values, here and there; `None` for a secret (only its fingerprint is kept).
    pub here: Option<String>,
    pub there: Option<String>,
}

/// Settings whose values are fingerprints of secrets, never shown.
const SECRET: [&str; 2] = ["credentials", "replication_remotes"];

impl Service {
    /// The settings replicas must agree on, by their configuration names; the blob
    /// store by its identity, as processes may reach one store by different paths.
    async fn shared_settings(&self) -> Result<BTreeMap<String, String>> {
        let blob_store = self.blobs().identity().await?;
        let s = self.settings();
        let fingerprint = |text: String| hex::encode(Sha256::digest(text.as_bytes()));
        let settings = [
            ("account_id", s.account.to_string()),
            ("blob_store", format!("store {blob_store}")),
            ("region", s.region.to_string()),
            ("public_alias", s.public_alias.to_string()),
            (
                "gc_grace",
                humantime::format_duration(s.gc_grace).to_string(),
            ),
            (
                "pull_through_ttl",
                humantime::format_duration(s.pull_through_ttl).to_string(),
            ),
            ("credentials", self.authority().credentials().digest()),
            (
                "replication_remotes",
                fingerprint(format!("{:?}", s.replication_remotes)),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Ok(settings)
    }

    /// Joins the processes serving the store; the settings that differ from a live
    /// process's, if any (this process is then not registered). Two processes that
    /// start at once with different settings each see the other: neither runs
    /// beside a disagreeing one.
    pub async fn join_replicas(&self) -> Result<Vec<Disagreement>> {
        let mine = self.shared_settings().await?;
        let text = serde_json::to_string(&mine).map_err(anyhow::Error::from)?;
        let store = self.store();
        store
            .register_instance(self.instance(), &text, now())
            .await?;
        let since = now() - chrono::Duration::from_std(HEARTBEAT * 3).unwrap_or_default();
        let mut differ: Vec<Disagreement> = Vec::new();
        for (_, theirs) in store.live_instances(self.instance(), since).await? {
            let theirs: BTreeMap<String, String> =
                serde_json::from_str(&theirs).unwrap_or_default();
            for (setting, value) in &mine {
                // A setting the other process does not register is one an older berth
                // does not compare: not a disagreement, so a rolling upgrade can join.
                let Some(there) = theirs.get(setting) else {
                    continue;
                };
                if there == value || differ.iter().any(|d| &d.setting == setting) {
                    continue;
                }
                let shown = |v: &String| (!SECRET.contains(&setting.as_str())).then(|| v.clone());
                differ.push(Disagreement {
                    setting: setting.clone(),
                    here: shown(value),
                    there: shown(there),
                });
            }
        }
        if !differ.is_empty() {
            store.remove_instance(self.instance()).await?;
        }
        Ok(differ)
    }

    /// Says this process is alive (registering it again if it was taken for dead),
    /// unless it left.
    pub async fn heartbeat(&self) -> Result<()> {
        if self.inner.left.load(Ordering::SeqCst) {
            return Ok(());
        }
        if !self.store().touch_instance(self.instance(), now()).await? {
            let text = serde_json::to_string(&self.shared_settings().await?)
                .map_err(anyhow::Error::from)?;
            self.store()
                .register_instance(self.instance(), &text, now())
                .await?;
        }
        Ok(())
    }

    /// Leaves the processes serving the store (a clean stop).
    pub async fn leave_replicas(&self) -> Result<()> {
        self.inner.left.store(true, Ordering::SeqCst);
        Ok(self.store().remove_instance(self.instance()).await?)
    }
}
