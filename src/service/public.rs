//! What only ECR Public has: the public registry's description (alias, URI, display
//! name), repository catalog data with a logo, and tag details. Everything else a
//! public repository does runs through the same functions as a private one's.

use super::error::Invalid;
use super::{Caller, Error, Page, PageRequest, Result, Service};
use crate::domain::{
    CatalogData, Registry, RegistryAlias, RegistryId, Repository, RepositoryName, TagDetail,
};

const DISPLAY_NAME: &str = "public_registry_display_name";
const LOGO_MAX_BYTES: usize = 512_000;

/// The account's one public registry, as DescribeRegistries shows it.
#[derive(Debug, Clone)]
pub struct PublicRegistry {
    pub account: RegistryId,
    pub arn: String,
    pub uri: String,
    pub alias: RegistryAlias,
}

/// Catalog data as a client sets it: the text, and a logo image (PNG or JPEG).
#[derive(Debug, Clone, Default)]
pub struct CatalogInput {
    pub data: CatalogData,
    pub logo: Option<Vec<u8>>,
}

/// A repository's logo, ready to serve.
#[derive(Debug, Clone)]
pub struct Logo {
    pub bytes: Vec<u8>,
    pub media_type: &'static str,
}

fn logo_media_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else {
        None
    }
}

impl CatalogInput {
    /// An empty logo means none; any other must be a PNG or JPEG image.
    pub(super) fn checked(mut self) -> Result<Self> {
        self.logo = self.logo.filter(|l| !l.is_empty());
        match &self.logo {
            Some(logo) if logo.len() > LOGO_MAX_BYTES => Err(Invalid::LogoTooLarge {
                max: LOGO_MAX_BYTES,
            }
            .into()),
            Some(logo) if logo_media_type(logo).is_none() => Err(Invalid::LogoNotAnImage.into()),
            _ => Ok(self),
        }
    }
}

impl Service {
    /// The account a public `registryId` names, given as the account id or the alias.
    pub fn public_registry_id(&self, caller: &Caller, given: &str) -> Result<RegistryId> {
        let settings = self.settings();
        let own = &caller.registry.account;
        if given == own.as_str() || given == settings.public_alias.as_str() {
            Ok(own.clone())
        } else {
            Err(Error::RegistryNotFound(given.to_owned()))
        }
    }

    /// The public registries the caller owns: one, paged as the model asks.
    pub fn describe_registries(
        &self,
        caller: &Caller,
        page: PageRequest,
    ) -> Result<Page<PublicRegistry>> {
        let own = &caller.registry;
        let scope = format!("DescribeRegistries:{}", own.account);
        let after: Option<String> = self.resume(&scope, &page)?;
        let registry = PublicRegistry {
            account: own.account.clone(),
            arn: own.arn(),
            uri: self.public_registry_uri(),
            alias: self.settings().public_alias.clone(),
        };
        let items = match after {
            Some(last) if last.as_str() >= registry.account.as_str() => Vec::new(),
            _ => vec![registry],
        };
        Ok(self.paginate(&scope, items, page.limit(), |r| r.account.to_string()))
    }

    /// The display name; an empty one (how it is cleared) is none.
    pub async fn registry_display_name(&self) -> Result<Option<String>> {
        Ok(self
            .store()
            .setting(DISPLAY_NAME)
            .await?
            .filter(|n| !n.is_empty()))
    }

    /// Sets the display name (an empty one clears it); without one, changes nothing.
    pub async fn put_registry_display_name(&self, name: Option<String>) -> Result<Option<String>> {
        if let Some(name) = name {
            self.store().put_setting(DISPLAY_NAME, &name).await?;
        }
        self.registry_display_name().await
    }

    /// The repository, whose catalog data must have been set.
    pub async fn repository_catalog(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
    ) -> Result<Repository> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, "GetRepositoryCatalogData")
            .await?;
        if repo.catalog.is_none() {
            return Err(Error::RepositoryCatalogDataNotFound {
                registry,
                name: name.clone(),
            });
        }
        Ok(repo.record)
    }

    /// Replaces the catalog data (and the logo) as a whole.
    pub async fn put_repository_catalog(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        catalog: CatalogInput,
    ) -> Result<Repository> {
        let catalog = catalog.checked()?;
        let registry = self.registry(caller, registry);
        let mut repo = self
            .authorized_repository(caller, &registry, name, "PutRepositoryCatalogData")
            .await?;
        self.store()
            .set_catalog(repo.key, &catalog.data, catalog.logo.as_deref())
            .await?;
        repo.record.has_logo = catalog.logo.is_some();
        repo.record.catalog = Some(catalog.data);
        Ok(repo.record)
    }

    /// Where a public repository's logo is served, when it has one.
    pub fn logo_url(&self, repo: &Repository) -> Option<String> {
        repo.has_logo.then(|| {
            format!(
                "{}/_berth/logos/{}",
                self.registry_url(&self.home_registry()),
                repo.name
            )
        })
    }

    /// The logo of a public repository of the account, for anyone to fetch.
    pub async fn public_logo(&self, name: &RepositoryName) -> Result<Option<Logo>> {
        let registry = Registry::public(self.settings().account.clone());
        let Some(repo) = self.store().repository(&registry, name).await? else {
            return Ok(None);
        };
        Ok(self
            .store()
            .logo(repo.key)
            .await?
            .and_then(|bytes| logo_media_type(&bytes).map(|media_type| Logo { bytes, media_type })))
    }

    /// The repository's tags with their images, in tag order, a page at a time.
    pub async fn describe_image_tags(
        &self,
        caller: &Caller,
        registry: Option<&RegistryId>,
        name: &RepositoryName,
        page: PageRequest,
    ) -> Result<Page<TagDetail>> {
        let registry = self.registry(caller, registry);
        let repo = self
            .authorized_repository(caller, &registry, name, "DescribeImageTags")
            .await?;
        let scope = format!("DescribeImageTags:{}/{}", repo.registry, repo.name);
        let after: Option<String> = self.resume(&scope, &page)?;
        let limit = page.limit();
        let tags = self
            .store()
            .tag_details(repo.key, after.as_deref().unwrap_or(""), limit + 1)
            .await?;
        Ok(self.paginate(&scope, tags, limit, |t| t.tag.to_string()))
    }
}
