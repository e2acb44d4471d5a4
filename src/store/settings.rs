use sqlx::Row;

use super::{Result, Store};

impl Store {
    /// The value stored under `key`, storing `candidate` first if there is none. Every
    /// process sharing the database converges on the first value written.
    pub async fn setting_or_init(&self, key: &str, candidate: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(candidate)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&mut *self.writer().await?)
            .await?
            .try_get(0)?)
    }

    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *self.reader().await?)
            .await?
            .map(|row| row.try_get(0))
            .transpose()?)
    }

    pub async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }
}
