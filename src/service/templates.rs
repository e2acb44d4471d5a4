//! Repository creation templates (Create/Describe/Update/DeleteRepositoryCreationTemplate)
//! and their application: the repository an action creates on the registry's behalf
//! gets the settings of the template whose prefix matches its name best.

use super::error::Invalid;
use super::repositories::check_resource_tags;
use super::{now, Caller, Error, Page, PageRequest, Result, Service, Target};
use crate::domain::{
    choose_template, AppliedFor, Encryption, LifecyclePolicy, Policy, Registry, Repository,
    RepositoryName, RepositoryTemplate, TagMutability, TemplatePrefix, WildcardFilter,
};
use crate::store::{self, NewRepository, Stored, MAX_TEMPLATES};

/// The members a Create or Update request gives; `None` leaves a member as it is (on
/// create: its default). An empty description, role or policy text clears it.
#[derive(Debug, Clone, Default)]
pub struct TemplateSettings {
    pub description: Option<String>,
    pub encryption: Option<Encryption>,
    pub resource_tags: Option<Vec<(String, String)>>,
    pub mutability_mode: Option<String>,
    pub mutability_filters: Option<Vec<WildcardFilter>>,
    /// `Some(None)`: given empty.
    pub repository_policy: Option<Option<Policy>>,
    pub lifecycle_policy: Option<Option<LifecyclePolicy>>,
    pub applied_for: Option<Vec<AppliedFor>>,
    pub custom_role_arn: Option<String>,
}

/// `Some(text)` unless it is empty.
fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

impl TemplateSettings {
    /// `template` with these settings applied, checked as CreateRepository checks the
    /// same settings.
    fn apply(self, mut template: RepositoryTemplate) -> Result<RepositoryTemplate> {
        if let Some(description) = self.description {
            template.description = non_empty(description);
        }
        if let Some(encryption) = self.encryption {
            if encryption.key_without_kms() {
                return Err(Invalid::KmsKeyWithoutKms.into());
            }
            template.encryption = Some(encryption);
        }
        if let Some(tags) = self.resource_tags {
            check_resource_tags(&tags).map_err(|e| match e {
                Error::InvalidResourceTag { key, problem } => {
                    Error::from(Invalid::TemplateResourceTag { key, problem })
                }
                Error::TooManyResourceTags { max } => {
                    Error::from(Invalid::TemplateResourceTagCount { max })
                }
                other => other,
            })?;
            template.resource_tags = tags;
        }
        if self.mutability_mode.is_some() || self.mutability_filters.is_some() {
            // A mode given alone drops the old filters; filters given alone keep the mode.
            let current = &template.mutability;
            let filters = match (&self.mutability_mode, self.mutability_filters) {
                (_, Some(filters)) => Some(filters),
                (Some(_), None) => None,
                (None, None) => Some(current.filters().to_vec()),
            };
            let mode = self.mutability_mode.as_deref().unwrap_or(current.mode());
            template.mutability =
                TagMutability::parse(mode, filters).map_err(Invalid::Mutability)?;
        }
        if let Some(policy) = self.repository_policy {
            template.repository_policy = policy.map(|p| p.as_str().to_owned());
        }
        if let Some(policy) = self.lifecycle_policy {
            template.lifecycle_policy = policy.map(|p| p.as_str().to_owned());
        }
        if let Some(mut applied_for) = self.applied_for {
            applied_for.sort();
            applied_for.dedup();
            if applied_for.is_empty() {
                return Err(Invalid::NoAppliedFor.into());
            }
            template.applied_for = applied_for;
        }
        if let Some(role) = self.custom_role_arn {
            template.custom_role_arn = non_empty(role);
        }
        Ok(template)
    }
}

/// The prefixes a Describe of per-prefix records names, sorted and each once, and the
/// scope of its page tokens: the action, the registry and those prefixes.
pub(super) fn prefix_scope(
    action: &str,
    registry: &Registry,
    prefixes: Option<Vec<TemplatePrefix>>,
) -> (Option<Vec<TemplatePrefix>>, String) {
    let mut prefixes = prefixes;
    if let Some(p) = prefixes.as_mut() {
        p.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        p.dedup();
    }
    let only = prefixes.as_ref().map_or(String::new(), |p| {
        p.iter()
            .map(TemplatePrefix::as_str)
            .collect::<Vec<_>>()
            .join(",")
    });
    let scope = format!(
        "{action}:{registry}:{}:{}:{only}",
        registry.region,
        prefixes.is_some()
    );
    (prefixes, scope)
}

impl Service {
    pub async fn create_template(
        &self,
        caller: &Caller,
        prefix: TemplatePrefix,
        settings: TemplateSettings,
    ) -> Result<RepositoryTemplate> {
        let registry = caller.registry.clone();
        let target = Target::Registry(&registry);
        self.authorize(caller, "CreateRepositoryCreationTemplate", target, &[])
            .await?;
        if settings.applied_for.is_none() {
            return Err(Invalid::NoAppliedFor.into());
        }
        let at = now();
        let blank = RepositoryTemplate {
            registry: registry.clone(),
            prefix: prefix.clone(),
            description: None,
            encryption: None,
            resource_tags: Vec::new(),
            mutability: TagMutability::Mutable,
            repository_policy: None,
            lifecycle_policy: None,
            applied_for: Vec::new(),
            custom_role_arn: None,
            created_at: at,
            updated_at: at,
        };
        let template = settings.apply(blank)?;
        match self.store().create_template(&template).await {
            Ok(()) => Ok(template),
            Err(store::Error::AlreadyExists) => {
                Err(Error::TemplateAlreadyExists { registry, prefix })
            }
            Err(store::Error::LimitReached) => Err(Error::TooManyTemplates { max: MAX_TEMPLATES }),
            Err(e) => Err(e.into()),
        }
    }

    /// The registry's templates in prefix order, a page at a time; only those of
    /// `prefixes` when given (prefixes without a template are left out).
    pub async fn describe_templates(
        &self,
        caller: &Caller,
        prefixes: Option<Vec<TemplatePrefix>>,
        page: PageRequest,
    ) -> Result<Page<RepositoryTemplate>> {
        let registry = caller.registry.clone();
        let target = Target::Registry(&registry);
        self.authorize(caller, "DescribeRepositoryCreationTemplates", target, &[])
            .await?;
        let (prefixes, scope) =
            prefix_scope("DescribeRepositoryCreationTemplates", &registry, prefixes);
        let after: Option<String> = self.resume(&scope, &page)?;
        let limit = page.limit();
        let templates = self
            .store()
            .templates(&registry, prefixes.as_deref(), after.as_deref(), limit + 1)
            .await?;
        Ok(self.paginate(&scope, templates, limit, |t| t.prefix.as_str().to_owned()))
    }

    /// Changes the members `settings` gives, nothing else.
    pub async fn update_template(
        &self,
        caller: &Caller,
        prefix: TemplatePrefix,
        settings: TemplateSettings,
    ) -> Result<RepositoryTemplate> {
        let registry = caller.registry.clone();
        let target = Target::Registry(&registry);
        self.authorize(caller, "UpdateRepositoryCreationTemplate", target, &[])
            .await?;
        let at = now();
        let updated = self
            .store()
            .update_template(&registry, &prefix, |template| {
                let mut template = settings.apply(template)?;
                template.updated_at = at;
                Ok::<_, Error>(template)
            })
            .await?;
        match updated {
            Some(result) => result,
            None => Err(Error::TemplateNotFound { registry, prefix }),
        }
    }

    /// Removes the template, returning it.
    pub async fn delete_template(
        &self,
        caller: &Caller,
        prefix: TemplatePrefix,
    ) -> Result<RepositoryTemplate> {
        let registry = caller.registry.clone();
        let target = Target::Registry(&registry);
        self.authorize(caller, "DeleteRepositoryCreationTemplate", target, &[])
            .await?;
        match self.store().delete_template(&registry, &prefix).await? {
            Some(template) => Ok(template),
            None => Err(Error::TemplateNotFound { registry, prefix }),
        }
    }

    /// The template a repository `name` created in `registry` by `case` gets: the
    /// longest namespace prefix of its name among the templates applied for `case`,
    /// else ROOT if that is.
    pub async fn template_for(
        &self,
        registry: &Registry,
        name: &RepositoryName,
        case: AppliedFor,
    ) -> Result<Option<RepositoryTemplate>> {
        let templates = self
            .store()
            .templates(registry, None, None, MAX_TEMPLATES)
            .await?;
        Ok(choose_template(&templates, name, case).cloned())
    }

    /// Creates the repository `name` from the template for `case`, for `caller`:
    /// authorized as CreateRepository with the template's resource tags, and created
    /// with all its settings in one transaction. `None` when no template applies. A
    /// repository created meanwhile by someone else is answered as it is.
    pub async fn create_from_template(
        &self,
        caller: &Caller,
        registry: &Registry,
        name: &RepositoryName,
        case: AppliedFor,
    ) -> Result<Option<Stored<Repository>>> {
        let Some(template) = self.template_for(registry, name, case).await? else {
            return Ok(None);
        };
        let target = Target::Named { registry, name };
        self.authorize(caller, "CreateRepository", target, &template.resource_tags)
            .await?;
        let encryption = template.encryption.unwrap_or_default();
        let new = NewRepository {
            registry: registry.clone(),
            name: name.clone(),
            mutability: template.mutability,
            scan_on_push: false,
            kms_key: self.kms_key(registry, &encryption),
            encryption_type: encryption.encryption_type,
            tags: template.resource_tags,
            catalog: None,
            logo: None,
            policy: template.repository_policy,
            lifecycle_policy: template.lifecycle_policy,
        };
        match self.store().create_repository(&new, now()).await {
            Ok(repo) => Ok(Some(repo)),
            Err(store::Error::AlreadyExists) => Ok(self.store().repository(registry, name).await?),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the repository `name` for `caller` as replication and pull-through
    /// caching do: from the template for `case` when one applies, else with ECR's
    /// defaults (the caller must be allowed CreateRepository either way). A
    /// repository created meanwhile by someone else is answered as it is.
    pub(super) async fn create_for(
        &self,
        caller: &Caller,
        registry: &Registry,
        name: &RepositoryName,
        case: AppliedFor,
    ) -> Result<Stored<Repository>> {
        if let Some(repo) = self
            .create_from_template(caller, registry, name, case)
            .await?
        {
            return Ok(repo);
        }
        let target = Target::Named { registry, name };
        self.authorize(caller, "CreateRepository", target, &[])
            .await?;
        let encryption = Encryption::default();
        let new = NewRepository {
            registry: registry.clone(),
            name: name.clone(),
            mutability: TagMutability::Mutable,
            scan_on_push: false,
            kms_key: self.kms_key(registry, &encryption),
            encryption_type: encryption.encryption_type,
            tags: Vec::new(),
            catalog: None,
            logo: None,
            policy: None,
            lifecycle_policy: None,
        };
        match self.store().create_repository(&new, now()).await {
            Ok(repo) => Ok(repo),
            Err(store::Error::AlreadyExists) => self
                .store()
                .repository(registry, name)
                .await?
                .ok_or_else(|| Error::RepositoryNotFound {
                    registry: registry.clone(),
                    name: name.clone(),
                }),
            Err(e) => Err(e.into()),
        }
    }
}
