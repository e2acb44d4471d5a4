use sqlx::Row;

use super::{millis, Result, Store};

impl Store {
    /// Takes the lease `name` for `holder` until `until`, or renews it if `holder`
    /// has it already. False while another holder's lease has not expired; the
    /// database settles which of two racing holders gets it.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        let row = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= $4 RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(millis(until))
        .bind(millis(now))
        .fetch_optional(&mut *self.writer().await?)
        .await?;
        Ok(row
            .map(|r| r.try_get::<String, _>(0))
            .transpose()?
            .as_deref()
            == Some(holder))
    }

    /// Gives the lease up if `holder` has it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }
}
