//! The processes serving from this store and the settings each runs with.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{millis, Result, Store};

impl Store {
    /// Records this process (`id`) with its shared `settings`, alive at `now`.
    pub async fn register_instance(
        &self,
        id: &str,
        settings: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO instances (id, settings, seen_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, seen_at = excluded.seen_at",
        )
        .bind(id)
        .bind(settings)
        .bind(millis(now))
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// Says `id` is alive at `now`; `false` when its row is gone (it was taken for dead).
    pub async fn touch_instance(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query("UPDATE instances SET seen_at = $1 WHERE id = $2")
            .bind(millis(now))
            .bind(id)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn remove_instance(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// The other processes seen alive since `since` (those not seen since are
    /// forgotten), with their settings.
    pub async fn live_instances(
        &self,
        except: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>> {
        sqlx::query("DELETE FROM instances WHERE seen_at < $1")
            .bind(millis(since))
            .execute(&mut *self.writer().await?)
            .await?;
        let rows = sqlx::query("SELECT id, settings FROM instances WHERE id <> $1 ORDER BY id")
            .bind(except)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("settings")?)))
            .collect()
    }
}
