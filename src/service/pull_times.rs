//! Principals whose pulls leave `lastRecordedPullTime` alone (a scanner, a cache
//! warmer): RegisterPullTimeUpdateExclusion, DeregisterPullTimeUpdateExclusion,
//! ListPullTimeUpdateExclusions. Kept per registry.

use chrono::{DateTime, Utc};

use super::{now, Caller, Error, Page, PageRequest, Result, Service, Target};
use crate::store::{self, MAX_PULL_TIME_EXCLUSIONS};

impl Service {
    /// Excludes the principal; returns when.
    pub async fn register_pull_time_exclusion(
        &self,
        caller: &Caller,
        principal_arn: &str,
    ) -> Result<DateTime<Utc>> {
        let registry = &caller.registry;
        let target = Target::Registry(registry);
        self.authorize(caller, "RegisterPullTimeUpdateExclusion", target, &[])
            .await?;
        let at = now();
        match self
            .store()
            .register_pull_time_exclusion(registry, principal_arn, at)
            .await
        {
            Ok(()) => Ok(at),
            Err(store::Error::AlreadyExists) => {
                Err(Error::ExclusionAlreadyExists(principal_arn.to_owned()))
            }
            Err(store::Error::LimitReached) => Err(Error::TooManyExclusions {
                max: MAX_PULL_TIME_EXCLUSIONS,
            }),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn deregister_pull_time_exclusion(
        &self,
        caller: &Caller,
        principal_arn: &str,
    ) -> Result<()> {
        let registry = &caller.registry;
        let target = Target::Registry(registry);
        self.authorize(caller, "DeregisterPullTimeUpdateExclusion", target, &[])
            .await?;
        if self
            .store()
            .deregister_pull_time_exclusion(registry, principal_arn)
            .await?
        {
            Ok(())
        } else {
            Err(Error::ExclusionNotFound(principal_arn.to_owned()))
        }
    }

    /// The excluded principals' ARNs, a page at a time.
    pub async fn pull_time_exclusions(
        &self,
        caller: &Caller,
        page: PageRequest,
    ) -> Result<Page<String>> {
        let registry = &caller.registry;
        let target = Target::Registry(registry);
        self.authorize(caller, "ListPullTimeUpdateExclusions", target, &[])
            .await?;
        let scope = format!(
            "ListPullTimeUpdateExclusions:{registry}:{}",
            registry.region
        );
        let after: Option<String> = self.resume(&scope, &page)?;
        let limit = page.limit();
        let arns = self
            .store()
            .pull_time_exclusions(registry, after.as_deref(), limit + 1)
            .await?;
        Ok(self.paginate(&scope, arns, limit, String::clone))
    }
}
