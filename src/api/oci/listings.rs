//! Tag lists, the catalog and the referrers API.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse_digest, Code, Ctx, OciError};
use crate::service::{Listing, ReferrerFilter};

#[derive(Deserialize)]
pub struct PageQuery {
    n: Option<String>,
    last: Option<String>,
}

impl PageQuery {
    fn n(&self) -> Result<Option<i64>, OciError> {
        self.n
            .as_deref()
            .map(|n| n.parse::<i64>().ok().filter(|n| *n >= 0))
            .map(|n| {
                n.ok_or_else(|| {
                    OciError::new(
                        Code::PaginationNumberInvalid,
                        "n must be a non-negative integer",
                    )
                })
            })
            .transpose()
    }
}

/// A page of names with a `Link` to the next one when more follow.
fn page<T: ToString>(
    base: &str,
    key: &str,
    listing: Listing<T>,
    n: Option<i64>,
    extra: Value,
) -> HttpResponse {
    let names: Vec<String> = listing.items.iter().map(ToString::to_string).collect();
    let mut response = HttpResponse::Ok();
    if let (true, Some(last)) = (listing.more, names.last()) {
        let n = n.map_or(String::new(), |n| format!("n={n}&"));
        response.insert_header((
            header::LINK,
            format!("<{base}?{n}last={last}>; rel=\"next\""),
        ));
    }
    let mut body = extra;
    body[key] = json!(names);
    response.json(body)
}

pub async fn tags(
    ctx: Ctx,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, OciError> {
    let name = ctx.name(&path)?;
    let n = query.n()?;
    let listing = ctx
        .service
        .tag_listing(&ctx.caller, &name, query.last.as_deref(), n)
        .await?;
    Ok(page(
        &format!("/v2/{}/tags/list", ctx.path(&name)),
        "tags",
        listing,
        n,
        json!({"name": ctx.path(&name)}),
    ))
}

pub async fn catalog(ctx: Ctx, query: web::Query<PageQuery>) -> Result<HttpResponse, OciError> {
    let n = query.n()?;
    let last = query.last.as_deref().map(|l| ctx.unprefixed(l));
    let listing = ctx.service.catalog(&ctx.caller, last, n).await?;
    let listing = Listing {
        items: listing.items.iter().map(|name| ctx.path(name)).collect(),
        more: listing.more,
    };
    Ok(page("/v2/_catalog", "repositories", listing, n, json!({})))
}

#[derive(Deserialize)]
pub struct ReferrersQuery {
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
}

/// An image index of the manifests whose subject is the digest.
pub async fn referrers(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    query: web::Query<ReferrersQuery>,
) -> Result<HttpResponse, OciError> {
    let (name, subject) = (ctx.name(&path.0)?, parse_digest(&path.1)?);
    let filter = ReferrerFilter {
        artifact_types: query.artifact_type.iter().cloned().collect(),
        status: None,
    };
    let referrers = ctx
        .service
        .referrers(&ctx.caller, None, &name, &subject, &filter)
        .await?;
    let manifests: Vec<Value> = referrers
        .into_iter()
        .map(|r| {
            let mut d =
                json!({"mediaType": r.media_type, "digest": r.digest.as_str(), "size": r.size});
            if let Some(t) = r.artifact_type {
                d["artifactType"] = json!(t);
            }
            if let Some(a) = r.annotations {
                d["annotations"] = a;
            }
            d
        })
        .collect();
    let mut response = HttpResponse::Ok();
    if query.artifact_type.is_some() {
        response.insert_header(("OCI-Filters-Applied", "artifactType"));
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    Ok(response
        .content_type("application/vnd.oci.image.index.v1+json")
        .body(index.to_string()))
}
