//! Image scanning: PutRegistryScanningConfiguration, GetRegistryScanningConfiguration,
//! BatchGetRepositoryScanningConfiguration, StartImageScan and
//! DescribeImageScanFindings; and the scan summary DescribeImages carries.
//!
//! A BASIC scan's findings are ECR's `findings` (name, severity, attributes); an
//! ENHANCED scan's are `enhancedFindings` in Amazon Inspector's shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::shapes::{epoch, ImageIdentifier};
use super::{invalid, registry_id, repository_name};
use crate::api::awsjson::{ApiError, Ctx};
use crate::domain::{
    ImageSelector, Registry, RegistryId, RepositoryName, ScanFrequency, ScanType,
    ScanningConfiguration, ScanningRule,
};
use crate::scan::{Ecosystem, Severity};
use crate::service::{
    Error, ImageScanFindings, Invalid, ObservedFinding, PageRequest, ScanSummary,
};

/// The one filter type the model has.
const WILDCARD: &str = "WILDCARD";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterShape {
    filter: String,
    filter_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleShape {
    scan_frequency: String,
    repository_filters: Vec<FilterShape>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationShape {
    scan_type: &'static str,
    rules: Vec<RuleShape>,
}

fn filters(filters: &[String]) -> Vec<FilterShape> {
    filters
        .iter()
        .map(|f| FilterShape {
            filter: f.clone(),
            filter_type: WILDCARD.into(),
        })
        .collect()
}

impl ConfigurationShape {
    fn of(config: &ScanningConfiguration) -> Self {
        Self {
            scan_type: config.scan_type.as_str(),
            rules: config
                .rules
                .iter()
                .map(|r| RuleShape {
                    scan_frequency: r.frequency.as_str().into(),
                    repository_filters: filters(&r.filters),
                })
                .collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutRegistryScanningConfigurationRequest {
    scan_type: Option<String>,
    rules: Option<Vec<RuleShape>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutRegistryScanningConfigurationResponse {
    registry_scanning_configuration: ConfigurationShape,
}

pub async fn put_registry_scanning_configuration(
    ctx: Ctx,
    req: PutRegistryScanningConfigurationRequest,
) -> Result<PutRegistryScanningConfigurationResponse, ApiError> {
    // The model has checked the enums, the filters' pattern and the counts.
    let scan_type = match req.scan_type.as_deref() {
        None => ScanType::Basic,
        Some(s) => ScanType::parse(s).ok_or_else(|| invalid("scanType", s))?,
    };
    let rules = req
        .rules
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            Ok(ScanningRule {
                frequency: ScanFrequency::parse(&r.scan_frequency)
                    .ok_or_else(|| invalid("rules.scanFrequency", &r.scan_frequency))?,
                filters: r.repository_filters.into_iter().map(|f| f.filter).collect(),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let config = ScanningConfiguration::new(scan_type, rules)
        .map_err(|p| ApiError::from(Error::Invalid(Invalid::Scanning(p))))?;
    let (_, config) = ctx
        .service
        .put_registry_scanning_configuration(&ctx.caller, config)
        .await?;
    Ok(PutRegistryScanningConfigurationResponse {
        registry_scanning_configuration: ConfigurationShape::of(&config),
    })
}

#[derive(Deserialize)]
pub struct GetRegistryScanningConfigurationRequest {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetRegistryScanningConfigurationResponse {
    registry_id: String,
    scanning_configuration: ConfigurationShape,
}

pub async fn get_registry_scanning_configuration(
    ctx: Ctx,
    _req: GetRegistryScanningConfigurationRequest,
) -> Result<GetRegistryScanningConfigurationResponse, ApiError> {
    let (registry, config) = ctx
        .service
        .registry_scanning_configuration(&ctx.caller)
        .await?;
    Ok(GetRegistryScanningConfigurationResponse {
        registry_id: registry.account.to_string(),
        scanning_configuration: ConfigurationShape::of(&config),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchGetRepositoryScanningConfigurationRequest {
    repository_names: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchGetRepositoryScanningConfigurationResponse {
    scanning_configurations: Vec<RepositoryConfigurationShape>,
    failures: Vec<FailureShape>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RepositoryConfigurationShape {
    repository_arn: String,
    repository_name: String,
    scan_on_push: bool,
    scan_frequency: &'static str,
    applied_scan_filters: Vec<FilterShape>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FailureShape {
    repository_name: String,
    failure_code: &'static str,
    failure_reason: String,
}

pub async fn batch_get_repository_scanning_configuration(
    ctx: Ctx,
    req: BatchGetRepositoryScanningConfigurationRequest,
) -> Result<BatchGetRepositoryScanningConfigurationResponse, ApiError> {
    let names = req
        .repository_names
        .iter()
        .map(|n| repository_name(n))
        .collect::<Result<Vec<_>, _>>()?;
    let found = ctx
        .service
        .repository_scanning_configurations(&ctx.caller, names)
        .await?;
    let mut out = BatchGetRepositoryScanningConfigurationResponse {
        scanning_configurations: Vec::new(),
        failures: Vec::new(),
    };
    for entry in found {
        match entry {
            Ok(scanning) => out
                .scanning_configurations
                .push(RepositoryConfigurationShape {
                    repository_arn: scanning.repository.record.arn(),
                    repository_name: scanning.repository.record.name.to_string(),
                    scan_on_push: scanning.repository.record.scan_on_push,
                    scan_frequency: scanning.applied.frequency.as_str(),
                    applied_scan_filters: filters(&scanning.applied.filters),
                }),
            Err(name) => out.failures.push(FailureShape {
                failure_reason: format!(
                    "The repository with name '{name}' does not exist in the registry with id '{}'",
                    ctx.caller.registry.account
                ),
                repository_name: name.to_string(),
                failure_code: "REPOSITORY_NOT_FOUND",
            }),
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRequest {
    registry_id: Option<String>,
    repository_name: String,
    image_id: ImageIdentifier,
    next_token: Option<String>,
    max_results: Option<i64>,
}

impl ImageRequest {
    /// The repository, registry and image the request names.
    fn image(&self) -> Result<(RepositoryName, Option<RegistryId>, ImageSelector), ApiError> {
        let selector = self
            .image_id
            .selector()
            .map_err(|f| ApiError::from(Error::Invalid(Invalid::ImageId(f))))?;
        Ok((
            repository_name(&self.repository_name)?,
            registry_id(self.registry_id.as_deref())?,
            selector,
        ))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanStatusShape {
    status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartImageScanResponse {
    registry_id: String,
    repository_name: String,
    image_id: ImageIdentifier,
    image_scan_status: ScanStatusShape,
}

pub async fn start_image_scan(
    ctx: Ctx,
    req: ImageRequest,
) -> Result<StartImageScanResponse, ApiError> {
    let (name, registry, selector) = req.image()?;
    let tag = selector.tag().map(ToString::to_string);
    let (registry, digest, status) = ctx
        .service
        .start_image_scan(&ctx.caller, registry.as_ref(), name.clone(), selector)
        .await?;
    Ok(StartImageScanResponse {
        registry_id: registry.account.to_string(),
        repository_name: name.to_string(),
        image_id: ImageIdentifier {
            image_digest: Some(digest.to_string()),
            image_tag: tag,
        },
        image_scan_status: ScanStatusShape {
            status: status.as_str(),
            description: String::new(),
        },
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeImageScanFindingsResponse {
    registry_id: String,
    repository_name: String,
    image_id: ImageIdentifier,
    image_scan_status: ScanStatusShape,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_scan_findings: Option<FindingsShape>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FindingsShape {
    #[serde(skip_serializing_if = "Option::is_none")]
    image_scan_completed_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vulnerability_source_updated_at: Option<f64>,
    finding_severity_counts: BTreeMap<&'static str, i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    findings: Option<Vec<BasicFinding>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enhanced_findings: Option<Vec<EnhancedFinding>>,
}

pub async fn describe_image_scan_findings(
    ctx: Ctx,
    req: ImageRequest,
) -> Result<DescribeImageScanFindingsResponse, ApiError> {
    let (name, registry, selector) = req.image()?;
    let page = PageRequest {
        next_token: req.next_token,
        max_results: req.max_results,
    };
    let found = ctx
        .service
        .image_scan_findings(&ctx.caller, registry.as_ref(), name, selector, page)
        .await?;
    let scan = &found.scan;
    // Findings are shown once a scan has finished; a rescan keeps the last ones.
    let image_scan_findings = scan.completed_at.map(|completed_at| {
        let (findings, enhanced_findings) = match scan.scan_type {
            ScanType::Basic => (Some(found.findings.items.iter().map(basic).collect()), None),
            ScanType::Enhanced => (
                None,
                Some(
                    found
                        .findings
                        .items
                        .iter()
                        .map(|f| enhanced(&found, f))
                        .collect(),
                ),
            ),
        };
        FindingsShape {
            image_scan_completed_at: Some(epoch(completed_at)),
            vulnerability_source_updated_at: scan.database_updated_at.map(epoch),
            finding_severity_counts: severity_counts(&scan.severity_counts),
            findings,
            enhanced_findings,
        }
    });
    Ok(DescribeImageScanFindingsResponse {
        registry_id: found.registry.account.to_string(),
        repository_name: found.name.to_string(),
        image_id: ImageIdentifier {
            image_digest: Some(found.image.digest.to_string()),
            image_tag: found.tag.as_ref().map(ToString::to_string),
        },
        image_scan_status: ScanStatusShape {
            status: scan.status.as_str(),
            description: scan.description.clone(),
        },
        image_scan_findings,
        next_token: found.findings.next_token.clone(),
    })
}

/// DescribeImages' `imageScanStatus` and `imageScanFindingsSummary`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryShape {
    #[serde(skip_serializing_if = "Option::is_none")]
    image_scan_completed_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vulnerability_source_updated_at: Option<f64>,
    finding_severity_counts: BTreeMap<&'static str, i64>,
}

pub fn summary(scan: &ScanSummary) -> (ScanStatusShape, Option<SummaryShape>) {
    (
        ScanStatusShape {
            status: scan.status.as_str(),
            description: scan.description.clone(),
        },
        scan.completed_at.map(|completed_at| SummaryShape {
            image_scan_completed_at: Some(epoch(completed_at)),
            vulnerability_source_updated_at: scan.database_updated_at.map(epoch),
            finding_severity_counts: severity_counts(&scan.severity_counts),
        }),
    )
}

fn severity_counts(counts: &BTreeMap<Severity, i64>) -> BTreeMap<&'static str, i64> {
    counts.iter().map(|(s, n)| (s.as_str(), *n)).collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BasicFinding {
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
    severity: &'static str,
    attributes: Vec<Attribute>,
}

#[derive(Serialize)]
struct Attribute {
    key: &'static str,
    value: String,
}

/// A BASIC finding: the package, its versions and the CVSS score as attributes.
fn basic(observed: &ObservedFinding) -> BasicFinding {
    let f = &observed.finding;
    let mut attributes = vec![
        Attribute {
            key: "package_name",
            value: f.package.name.clone(),
        },
        Attribute {
            key: "package_version",
            value: f.package.version.clone(),
        },
        Attribute {
            key: "package_manager",
            value: package_manager(&f.package.ecosystem, &f.package.path).into(),
        },
        Attribute {
            key: "fix_available",
            value: fix_available(f.fixed_version.is_some()).into(),
        },
    ];
    if let Some(fixed) = &f.fixed_version {
        attributes.push(Attribute {
            key: "fixed_in_version",
            value: fixed.clone(),
        });
    }
    if let Some(score) = f.cvss_score {
        let v2 = f
            .cvss_vector
            .as_deref()
            .is_some_and(|v| !v.starts_with("CVSS:3"));
        let (score_key, vector_key) = if v2 {
            ("CVSS2_SCORE", "CVSS2_VECTOR")
        } else {
            ("CVSS3_SCORE", "CVSS3_VECTOR")
        };
        attributes.push(Attribute {
            key: score_key,
            value: score.to_string(),
        });
        if let Some(vector) = &f.cvss_vector {
            attributes.push(Attribute {
                key: vector_key,
                value: vector.clone(),
            });
        }
    }
    BasicFinding {
        name: f.id.clone(),
        description: f.description.clone(),
        uri: f.uri.clone(),
        severity: f.severity.as_str(),
        attributes,
    }
}

fn fix_available(fixed: bool) -> &'static str {
    if fixed {
        "YES"
    } else {
        "NO"
    }
}

/// Amazon Inspector's name for where a package was found.
fn package_manager(ecosystem: &Ecosystem, path: &str) -> &'static str {
    match ecosystem {
        Ecosystem::Debian | Ecosystem::Ubuntu | Ecosystem::Alpine | Ecosystem::Rpm(_) => "OS",
        Ecosystem::PyPI => "PYTHONPKG",
        Ecosystem::Npm if path.ends_with("package.json") => "NODEPKG",
        Ecosystem::Npm => "NPM",
        Ecosystem::CratesIo => "CARGO",
        Ecosystem::Go => "GOBINARY",
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnhancedFinding {
    aws_account_id: String,
    description: String,
    finding_arn: String,
    first_observed_at: f64,
    last_observed_at: f64,
    package_vulnerability_details: PackageVulnerabilityDetails,
    remediation: Remediation,
    resources: Vec<Resource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score_details: Option<ScoreDetails>,
    severity: &'static str,
    status: &'static str,
    title: String,
    #[serde(rename = "type")]
    kind: &'static str,
    updated_at: f64,
    fix_available: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PackageVulnerabilityDetails {
    cvss: Vec<Cvss>,
    reference_urls: Vec<String>,
    related_vulnerabilities: Vec<String>,
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_url: Option<String>,
    vendor_severity: &'static str,
    vulnerability_id: String,
    vulnerable_packages: Vec<VulnerablePackage>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Cvss {
    base_score: f64,
    scoring_vector: String,
    source: &'static str,
    version: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VulnerablePackage {
    name: String,
    version: String,
    file_path: String,
    package_manager: &'static str,
    fixed_in_version: String,
}

#[derive(Serialize)]
struct Remediation {
    recommendation: Recommendation,
}

#[derive(Serialize)]
struct Recommendation {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    details: ResourceDetails,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceDetails {
    aws_ecr_container_image: ContainerImage,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContainerImage {
    image_hash: String,
    image_tags: Vec<String>,
    pushed_at: f64,
    registry: String,
    repository_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScoreDetails {
    cvss: CvssScoreDetails,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CvssScoreDetails {
    adjustments: Vec<()>,
    score: f64,
    score_source: &'static str,
    scoring_vector: String,
    version: String,
}

/// Where berth's findings come from: the operator's OSV database.
const SOURCE: &str = "OSV";

/// An ENHANCED finding, in Amazon Inspector's shape.
fn enhanced(found: &ImageScanFindings, observed: &ObservedFinding) -> EnhancedFinding {
    let f = &observed.finding;
    let registry: &Registry = &found.registry;
    let digest = found.image.digest.to_string();
    let updated = found.scan.completed_at.map_or(0.0, epoch);
    // One finding per advisory, package and place in this image.
    let mut id = Sha256::new();
    for part in [&digest, &f.id, &f.package.name, &f.package.path] {
        id.update(part.as_bytes());
        id.update([0]);
    }
    let finding_arn = format!(
        "arn:aws:inspector2:{}:{}:finding/{}",
        registry.region,
        registry.account,
        &hex::encode(id.finalize())[..32]
    );
    let cvss_version = |vector: &str| {
        vector
            .strip_prefix("CVSS:")
            .and_then(|v| v.split('/').next())
            .unwrap_or("2.0")
            .to_owned()
    };
    let cvss: Vec<Cvss> = match (f.cvss_score, &f.cvss_vector) {
        (Some(base_score), Some(vector)) => vec![Cvss {
            base_score,
            scoring_vector: vector.clone(),
            source: SOURCE,
            version: cvss_version(vector),
        }],
        _ => Vec::new(),
    };
    let score_details = match (f.cvss_score, &f.cvss_vector) {
        (Some(score), Some(vector)) => Some(ScoreDetails {
            cvss: CvssScoreDetails {
                adjustments: Vec::new(),
                score,
                score_source: SOURCE,
                scoring_vector: vector.clone(),
                version: cvss_version(vector),
            },
        }),
        _ => None,
    };
    let manager = package_manager(&f.package.ecosystem, &f.package.path);
    EnhancedFinding {
        aws_account_id: registry.account.to_string(),
        description: f.description.clone(),
        finding_arn,
        first_observed_at: epoch(observed.first_observed_at),
        last_observed_at: updated,
        package_vulnerability_details: PackageVulnerabilityDetails {
            cvss,
            reference_urls: f.uri.iter().cloned().collect(),
            related_vulnerabilities: Vec::new(),
            source: SOURCE,
            source_url: f.uri.clone(),
            vendor_severity: f.severity.as_str(),
            vulnerability_id: f.id.clone(),
            vulnerable_packages: vec![VulnerablePackage {
                name: f.package.name.clone(),
                version: f.package.version.clone(),
                file_path: f.package.path.clone(),
                package_manager: manager,
                fixed_in_version: f
                    .fixed_version
                    .clone()
                    .unwrap_or_else(|| "NotAvailable".into()),
            }],
        },
        remediation: Remediation {
            recommendation: Recommendation {
                text: match &f.fixed_version {
                    Some(fixed) => format!("Upgrade {} to {fixed} or later", f.package.name),
                    None => "None Provided".into(),
                },
            },
        },
        resources: vec![Resource {
            id: registry.resource_arn(&format!("repository/{}/{digest}", found.name)),
            kind: "AWS_ECR_CONTAINER_IMAGE",
            details: ResourceDetails {
                aws_ecr_container_image: ContainerImage {
                    image_hash: digest.clone(),
                    image_tags: found.tags.iter().map(ToString::to_string).collect(),
                    pushed_at: epoch(found.image.pushed_at),
                    registry: registry.account.to_string(),
                    repository_name: found.name.to_string(),
                },
            },
        }],
        score: f.cvss_score,
        score_details,
        severity: f.severity.as_str(),
        status: "ACTIVE",
        title: format!("{} - {}", f.id, f.package.name),
        kind: "PACKAGE_VULNERABILITY",
        updated_at: updated,
        fix_available: fix_available(f.fixed_version.is_some()),
    }
}
