//! Replication to a remote registry: a destination the `--replication-remotes` file
//! maps to another registry (another berth, any OCI registry) gets its copies pushed
//! over the registry protocol, into the repository of the source's name there.
//!
//! The remote decides what it accepts (berth's registry policies are not asked): its
//! refusals end the copy with the failure they mean, while a remote that cannot be
//! reached, or fails on its side, is a fault the queue retries.

use bytes::Bytes;

use super::{Error, Result, Service};
use crate::domain::{Digest, ReplicationFailure, Repository};
use crate::remote::{Remote, RemoteError};
use crate::store::{Key, ReplicationTask};

/// What a refusal is about: the message of an immutable tag is the manifest's only.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Blob,
    Manifest,
}

impl Service {
    /// One copy to `remote`: the image, tagged as it was pushed (by its digest when it
    /// was pushed without a tag). `Ok(Err(_))` when it fails for good, `Err` on a fault
    /// worth retrying.
    pub(super) async fn replicate_remote(
        &self,
        remote: &Remote,
        task: &ReplicationTask,
    ) -> Result<Result<(), ReplicationFailure>> {
        let reference = match &task.tag {
            Some(tag) => tag.to_string(),
            None => task.digest.to_string(),
        };
        let name = task.name.as_str();
        self.push_remote(remote, task.repository, name, &task.digest, &reference)
            .await
    }

    /// Pushes the image `digest` of the source repository `from` to `repository` of
    /// the remote: an index's children first (by digest), then each blob the remote
    /// lacks, streamed from the blob store, then the manifest under `reference`.
    async fn push_remote(
        &self,
        remote: &Remote,
        from: Key<Repository>,
        repository: &str,
        digest: &Digest,
        reference: &str,
    ) -> Result<Result<(), ReplicationFailure>> {
        let new = match self.source_image(from, digest).await? {
            Ok(new) => new,
            Err(failure) => return Ok(Err(failure)),
        };
        for child in &new.children {
            let pushed =
                Box::pin(self.push_remote(remote, from, repository, child, child.as_str())).await?;
            if pushed.is_err() {
                return Ok(pushed);
            }
        }
        for blob in &new.blobs {
            match remote.has_blob(repository, &blob.digest).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => return refused(remote, e, Step::Blob),
            }
            let reader = match self.blobs().read(&blob.digest).await {
                Ok(reader) => reader,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(Err(ReplicationFailure::SourceImageGone))
                }
                Err(e) => return Err(e.into()),
            };
            let (size, stream) = (reader.len(), reader.into_stream());
            if let Err(e) = remote
                .push_blob(repository, &blob.digest, size, stream)
                .await
            {
                return refused(remote, e, Step::Blob);
            }
        }
        let body = Bytes::from(new.body);
        match remote
            .put_manifest(repository, reference, &new.media_type, body)
            .await
        {
            Ok(()) => Ok(Ok(())),
            Err(e) => refused(remote, e, Step::Manifest),
        }
    }
}

/// The outcome a remote's error means for the copy.
fn refused(remote: &Remote, e: RemoteError, step: Step) -> Result<Result<(), ReplicationFailure>> {
    let failure = match &e {
        RemoteError::Unauthorized(_) | RemoteError::Denied(_) => ReplicationFailure::AccessDenied,
        // ECR's (and berth's) wording of an immutable tag; other registries have none.
        RemoteError::Rejected { message, .. }
            if step == Step::Manifest && message.starts_with("TAG_INVALID") =>
        {
            ReplicationFailure::TagImmutable
        }
        RemoteError::Rejected { .. } | RemoteError::NotFound(_) => {
            ReplicationFailure::ImageRejected
        }
        RemoteError::Unreachable(_) | RemoteError::Invalid(_) => {
            let context = format!("replicating to {}", remote.url());
            return Err(Error::Internal(anyhow::Error::new(e).context(context)));
        }
    };
    tracing::info!(remote = remote.url(), error = %e, "a remote registry refused a copy");
    Ok(Err(failure))
}
