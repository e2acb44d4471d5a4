//! Managed signing: the configuration (Put/Get/DeleteSigningConfiguration), the
//! signatures a push queues (in `put_image`'s transaction), the job that makes them,
//! and their status per profile (DescribeImageSigningStatus).
//!
//! A signature is a Notary Project JWS envelope over the image's descriptor, signed
//! with the profile's key from the signing directory (`crate::notary`), stored as a
//! blob of the image's repository and referenced by a signature manifest whose
//! `subject` is the image, put through the store's one put: the registry API's
//! referrers list it like any other referrer.

use super::access::Target;
use super::images::new_image;
use super::jobs::{backoff, MAX_ATTEMPTS};
use super::{now, Caller, Error, Result, Service};
use crate::domain::{
    Digest, Hasher, ImageSelector, ImageTag, Registry, RegistryId, RepositoryName,
    SigningConfiguration, SigningFailure,
};
use crate::notary::{self, signature_manifest, EMPTY_CONFIG};
use crate::store::{self, ProfileStatus, Queued, SigningOutcome, SigningTask};

/// Signatures read from the queue at a time.
const BATCH: i64 = 100;
/// What the envelopes name as their signing agent.
const AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));

/// Where the signatures of one image stand.
#[derive(Debug, Clone)]
pub struct ImageSigning {
    pub registry: Registry,
    pub name: RepositoryName,
    pub digest: Digest,
    pub tag: Option<ImageTag>,
    pub statuses: Vec<ProfileStatus>,
}

/// What one run of the signing job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigningRun {
    pub signed: usize,
    pub failed: usize,
    /// Signatures that met a fault and wait to be tried again.
    pub retrying: usize,
}

impl Service {
    /// Replaces the caller's registry's configuration.
    pub async fn put_signing_configuration(
        &self,
        caller: &Caller,
        config: SigningConfiguration,
    ) -> Result<SigningConfiguration> {
        let registry = caller.registry.clone();
        self.authorize(
            caller,
            "PutSigningConfiguration",
            Target::Registry(&registry),
            &[],
        )
        .await?;
        self.store()
            .put_signing_configuration(&registry, &config)
            .await?;
        Ok(config)
    }

    /// The caller's registry and its configuration.
    pub async fn signing_configuration(
        &self,
        caller: &Caller,
    ) -> Result<(Registry, SigningConfiguration)> {
        self.existing_configuration(caller, "GetSigningConfiguration", false)
            .await
    }

    /// Removes the caller's registry's configuration; queued signatures are still made.
    pub async fn delete_signing_configuration(
        &self,
        caller: &Caller,
    ) -> Result<(Registry, SigningConfiguration)> {
        self.existing_configuration(caller, "DeleteSigningConfiguration", true)
            .await
    }

    /// The caller's registry's configuration, authorized for `action`, and with
    /// `remove` removed; SigningConfigurationNotFound when there is none.
    async fn existing_configuration(
        &self,
        caller: &Caller,
        action: &'static str,
        remove: bool,
    ) -> Result<(Registry, SigningConfiguration)> {
        let registry = caller.registry.clone();
        self.authorize(caller, action, Target::Registry(&registry), &[])
            .await?;
        let store = self.store();
        let found = if remove {
            store.delete_signing_configuration(&registry).await?
        } else {
            store.signing_configuration(&registry).await?
        };
        match found {
            Some(config) => Ok((registry, config)),
            None => Err(Error::SigningConfigurationNotFound(registry)),
        }
    }

    /// DescribeImageSigningStatus: one entry per profile the image was queued for,
    /// its latest signing there.
    pub async fn image_signing_status(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: RepositoryName,
        selector: ImageSelector,
    ) -> Result<ImageSigning> {
        let (registry, repo, image) = self
            .selected_image(
                caller,
                registry,
                name,
                &selector,
                "DescribeImageSigningStatus",
            )
            .await?;
        let statuses = self
            .store()
            .signing_statuses(repo.key, &image.record.digest)
            .await?;
        Ok(ImageSigning {
            registry,
            name: repo.record.name,
            digest: image.record.digest,
            tag: selector.tag().cloned(),
            statuses,
        })
    }

    /// Makes the due signatures, in one process at a time; `None` when another
    /// process is making them. The schedule calls it; tests call it to run it now.
    pub async fn run_signing_job(&self) -> Result<Option<SigningRun>> {
        self.exclusively("signing", self.sign_due()).await
    }

    async fn sign_due(&self) -> Result<SigningRun> {
        let mut run = SigningRun::default();
        loop {
            let due = self.store().due_signatures(now(), BATCH).await?;
            for task in &due {
                let outcome = match self.sign(&task.record).await {
                    Ok(Ok(())) => {
                        run.signed += 1;
                        SigningOutcome::Signed
                    }
                    Ok(Err((failure, reason))) => {
                        run.failed += 1;
                        SigningOutcome::Failed { failure, reason }
                    }
                    Err(e) => {
                        tracing::warn!(error = ?e, digest = %task.record.digest, "a signing attempt failed");
                        let attempts = task.record.attempts + 1;
                        if attempts < MAX_ATTEMPTS {
                            run.retrying += 1;
                            SigningOutcome::Retry {
                                at: now() + backoff(attempts),
                            }
                        } else {
                            run.failed += 1;
                            SigningOutcome::Failed {
                                failure: SigningFailure::Internal,
                                reason: format!("signing failed {attempts} times"),
                            }
                        }
                    }
                };
                self.store()
                    .finish_signing(task.key, &outcome, now())
                    .await?;
            }
            // A full batch may leave more due; retried signatures are due only later.
            if (due.len() as i64) < BATCH {
                return Ok(run);
            }
        }
    }

    /// One signature: `Ok(Err(_))` when it fails for good (the key material is
    /// missing or unusable, the image is gone), `Err` on a fault worth retrying.
    async fn sign(&self, task: &SigningTask) -> Result<Result<(), (SigningFailure, String)>> {
        let gone = || {
            Ok(Err((
                SigningFailure::ImageNotFound,
                format!("the image {} is no longer in the repository", task.digest),
            )))
        };
        let Some(repo) = self.store().repository(&task.registry, &task.name).await? else {
            return gone();
        };
        let selector = ImageSelector::Digest(task.digest.clone());
        let Some((image, body)) = self.store().manifest(repo.key, &selector).await? else {
            return gone();
        };
        let signer = match self.settings().signing_dir.signer(&task.profile).await {
            Ok(signer) => signer,
            Err(e) => return Ok(Err((e.failure(), e.to_string()))),
        };
        let subject = notary::Target {
            media_type: image.record.media_type.clone(),
            digest: task.digest.to_string(),
            size: body.len() as u64,
        };
        let at = now();
        let envelope = signer.sign(&subject, at, AGENT);
        let envelope_digest = self.put_bytes(&repo, envelope.bytes.clone()).await?;
        let empty_digest = self.put_bytes(&repo, EMPTY_CONFIG.to_vec()).await?;
        let manifest = signature_manifest(
            &subject,
            &envelope,
            envelope_digest.as_str(),
            empty_digest.as_str(),
            at,
        );
        let mut hasher = Hasher::new(crate::domain::Algorithm::Sha256);
        hasher.update(&manifest);
        let new = new_image(hasher.finish(), manifest, None)?;
        // The signature is not itself signed, copied or tagged.
        match self
            .store()
            .put_image(repo.key, &new, None, Queued::default(), now())
            .await
        {
            Ok(_) | Err(store::Error::ImageAlreadyExists) => Ok(Ok(())),
            Err(e) => Err(e.into()),
        }
    }
}
