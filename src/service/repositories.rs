use super::error::{Invalid, ResourceTagProblem};
use super::{now, Caller, CatalogInput, Error, Page, PageRequest, Result, Service, Target};
use crate::domain::{
    Encryption, Namespace, Registry, RegistryId, Repository, RepositoryName, TagMutability,
};
use crate::store::{self, NewRepository, Stored, MAX_RESOURCE_TAGS};

#[derive(Debug, Clone)]
pub struct CreateRepository {
    pub registry: Option<RegistryId>,
    pub name: RepositoryName,
    pub mutability: TagMutability,
    pub scan_on_push: bool,
    pub encryption: Encryption,
    pub tags: Vec<(String, String)>,
    /// ECR Public's catalog data, if given.
    pub catalog: Option<CatalogInput>,
}

/// Resource tags: keys 1 to 128 characters, values up to 256, `aws:` reserved.
pub(super) fn check_resource_tags(tags: &[(String, String)]) -> Result<()> {
    if i64::try_from(tags.len()).unwrap_or(i64::MAX) > MAX_RESOURCE_TAGS {
        return Err(Error::TooManyResourceTags {
            max: MAX_RESOURCE_TAGS,
        });
    }
    for (key, value) in tags {
        let key_len = key.chars().count();
        let problem = if !(1..=128).contains(&key_len) || value.chars().count() > 256 {
            ResourceTagProblem::Length
        } else if key.to_ascii_lowercase().starts_with("aws:") {
            ResourceTagProblem::ReservedPrefix
        } else {
            continue;
        };
        return Err(Error::InvalidResourceTag {
            key: key.clone(),
            problem,
        });
    }
    Ok(())
}

impl Service {
    /// The ARN of the registry's AWS-managed KMS key (`aws/ecr`): one per account and
    /// region, the same every time it is asked for.
    /// The key a repository encrypted as `encryption` says is used: the one given, or
    /// as ECR does for KMS encryption without one, the registry's AWS-managed key.
    pub(super) fn kms_key(&self, registry: &Registry, encryption: &Encryption) -> Option<String> {
        match &encryption.kms_key {
            None if encryption.encryption_type.starts_with("KMS") => {
                Some(self.managed_kms_key(registry))
            }
            given => given.clone(),
        }
    }

    fn managed_kms_key(&self, registry: &Registry) -> String {
        let (account, region) = (&registry.account, &registry.region);
        let input = format!("aws/ecr:{account}:{region}");
        let bytes = self.sealer().derive("kms-key", input.as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&bytes[..16]);
        let key = uuid::Builder::from_random_bytes(id).into_uuid();
        format!("arn:aws:kms:{region}:{account}:key/{key}")
    }

    pub async fn create_repository(
        &self,
        caller: &Caller,
        req: CreateRepository,
    ) -> Result<Repository> {
        let registry = self.registry(caller, req.registry.as_ref());
        check_resource_tags(&req.tags)?;
        let target = Target::Named {
            registry: &registry,
            name: &req.name,
        };
        self.authorize(caller, "CreateRepository", target, &req.tags)
            .await?;
        if req.encryption.key_without_kms() {
            return Err(Invalid::KmsKeyWithoutKms.into());
        }
        let kms_key = self.kms_key(&registry, &req.encryption);
        let catalog = req.catalog.map(CatalogInput::checked).transpose()?;
        let (catalog, logo) = catalog.map_or((None, None), |c| (Some(c.data), c.logo));
        let new = NewRepository {
            registry: registry.clone(),
            name: req.name.clone(),
            mutability: req.mutability,
            scan_on_push: req.scan_on_push,
            encryption_type: req.encryption.encryption_type,
            kms_key,
            tags: req.tags,
            catalog,
            logo,
            policy: None,
            lifecycle_policy: None,
        };
        match self.store().create_repository(&new, now()).await {
            Err(store::Error::AlreadyExists) => Err(Error::RepositoryAlreadyExists {
                registry,
                name: req.name,
            }),
            other => Ok(other?.record),
        }
    }

    /// Named repositories (all must exist), or every repository a page at a time.
    pub async fn describe_repositories(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        names: Option<Vec<RepositoryName>>,
        page: PageRequest,
    ) -> Result<Page<Repository>> {
        let registry = self.registry(caller, registry);
        if let Some(names) = names {
            if page.next_token.is_some() || page.max_results.is_some() {
                return Err(Invalid::PagingWithRepositoryNames.into());
            }
            let found = self.store().repositories_named(&registry, &names).await?;
            for repo in &found {
                self.authorize(
                    caller,
                    "DescribeRepositories",
                    Target::Repository(repo),
                    &[],
                )
                .await?;
            }
            if let Some(absent) = names.iter().find(|n| !found.iter().any(|r| &r.name == *n)) {
                let target = Target::Named {
                    registry: &registry,
                    name: absent,
                };
                self.authorize(caller, "DescribeRepositories", target, &[])
                    .await?;
                return Err(Error::RepositoryNotFound {
                    registry,
                    name: absent.clone(),
                });
            }
            return Ok(Page {
                items: found.into_iter().map(|r| r.record).collect(),
                next_token: None,
            });
        }
        self.authorize(
            caller,
            "DescribeRepositories",
            Target::Registry(&registry),
            &[],
        )
        .await?;
        let scope = format!(
            "DescribeRepositories:{}:{registry}:{}",
            registry.namespace.as_str(),
            registry.region
        );
        let after: Option<String> = self.resume(&scope, &page)?;
        let limit = page.limit();
        let repos = self
            .store()
            .repositories(&registry, after.as_deref(), limit + 1)
            .await?
            .into_iter()
            .map(|r| r.record)
            .collect();
        Ok(self.paginate(&scope, repos, limit, |r| r.name.to_string()))
    }

    pub async fn delete_repository(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        force: bool,
    ) -> Result<Repository> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, "DeleteRepository")
            .await?;
        match self.store().delete_repository(repo.key, force).await {
            Err(store::Error::NotEmpty) => Err(Error::RepositoryNotEmpty {
                registry,
                name: name.clone(),
            }),
            other => Ok(other.map(|()| repo.record)?),
        }
    }

    pub async fn put_tag_mutability(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        mutability: TagMutability,
    ) -> Result<Repository> {
        let registry = self.registry(caller, registry);
        let mut repo = self
            .authorized_repository(caller, &registry, name, "PutImageTagMutability")
            .await?;
        self.store()
            .set_tag_mutability(repo.key, &mutability)
            .await?;
        repo.record.mutability = mutability;
        Ok(repo.record)
    }

    pub async fn put_scan_on_push(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        scan_on_push: bool,
    ) -> Result<Repository> {
        let registry = self.registry(caller, registry);
        let mut repo = self
            .authorized_repository(caller, &registry, name, "PutImageScanningConfiguration")
            .await?;
        self.store()
            .set_scan_on_push(repo.key, scan_on_push)
            .await?;
        repo.record.scan_on_push = scan_on_push;
        Ok(repo.record)
    }

    /// The repository an ARN names: of the kind of registry the caller's face serves,
    /// in the region the request is made in.
    async fn repository_by_arn(
        &self,
        caller: &Caller,
        arn: &str,
        action: &'static str,
        request_tags: &[(String, String)],
    ) -> Result<Stored<Repository>> {
        let invalid = || Error::from(Invalid::NotARepositoryArn(arn.to_owned()));
        // ECR's ARNs name a region; ECR Public's have none.
        let (service, regional) = match caller.registry.namespace {
            Namespace::Private => ("ecr", true),
            Namespace::Public => ("ecr-public", false),
        };
        let rest = arn
            .strip_prefix("arn:aws:")
            .and_then(|r| r.strip_prefix(service))
            .and_then(|r| r.strip_prefix(':'))
            .ok_or_else(invalid)?;
        let mut parts = rest.splitn(3, ':');
        let (account, resource) = match (parts.next(), parts.next(), parts.next()) {
            (Some(""), Some(a), Some(res)) if !regional => (a, res),
            (Some(region), Some(a), Some(res))
                if regional && region == caller.registry.region.as_str() =>
            {
                (a, res)
            }
            _ => return Err(invalid()),
        };
        let account = RegistryId::parse(account).map_err(|_| invalid())?;
        let name = resource.strip_prefix("repository/").ok_or_else(invalid)?;
        let name = RepositoryName::parse(name).map_err(|_| invalid())?;
        let registry = self.registry(caller, Some(&account));
        let found = self.store().repository_governed(&registry, &name).await?;
        self.authorize_found(caller, &registry, &name, action, request_tags, found)
            .await
    }

    pub async fn tag_resource(
        &self,
        caller: &Caller,
        arn: &str,
        tags: Vec<(String, String)>,
    ) -> Result<()> {
        check_resource_tags(&tags)?;
        let repo = self
            .repository_by_arn(caller, arn, "TagResource", &tags)
            .await?;
        match self.store().put_resource_tags(repo.key, &tags).await {
            Err(store::Error::TooManyTags) => Err(Error::TooManyResourceTags {
                max: MAX_RESOURCE_TAGS,
            }),
            other => Ok(other?),
        }
    }

    pub async fn untag_resource(
        &self,
        caller: &Caller,
        arn: &str,
        keys: Vec<String>,
    ) -> Result<()> {
        if let Some(key) = keys
            .iter()
            .find(|k| !(1..=128).contains(&k.chars().count()))
        {
            return Err(Error::InvalidResourceTag {
                key: key.clone(),
                problem: ResourceTagProblem::Length,
            });
        }
        // Policies see the keys being removed as `aws:TagKeys`.
        let removed: Vec<_> = keys.iter().map(|k| (k.clone(), String::new())).collect();
        let repo = self
            .repository_by_arn(caller, arn, "UntagResource", &removed)
            .await?;
        Ok(self.store().remove_resource_tags(repo.key, &keys).await?)
    }

    pub async fn list_tags_for_resource(
        &self,
        caller: &Caller,
        arn: &str,
    ) -> Result<Vec<(String, String)>> {
        let repo = self
            .repository_by_arn(caller, arn, "ListTagsForResource", &[])
            .await?;
        Ok(self.store().resource_tags(repo.key).await?)
    }
}
