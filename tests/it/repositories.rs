use aws_sdk_ecr::types::ImageTagMutability;

use crate::both_stores;
use crate::helpers::{TestApp, ACCOUNT, REGION};

both_stores!(create_describe_delete);

async fn create_describe_delete(app: TestApp) {
    let created = app
        .ecr
        .create_repository()
        .repository_name("team/web")
        .send()
        .await
        .expect("create");
    let repo = created.repository().expect("repository");
    assert_eq!(repo.repository_name(), Some("team/web"));
    assert_eq!(repo.registry_id(), Some(ACCOUNT));
    assert_eq!(
        repo.repository_arn(),
        Some(format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team/web").as_str())
    );
    assert_eq!(
        repo.repository_uri(),
        Some(format!("127.0.0.1:{}/team/web", app.port).as_str())
    );
    assert_eq!(
        repo.image_tag_mutability(),
        Some(&ImageTagMutability::Mutable)
    );
    assert!(repo.created_at().is_some());

    let err = app
        .ecr
        .create_repository()
        .repository_name("team/web")
        .send()
        .await
        .expect_err("duplicate");
    assert!(err
        .into_service_error()
        .is_repository_already_exists_exception());

    let described = app
        .ecr
        .describe_repositories()
        .repository_names("team/web")
        .send()
        .await
        .expect("describe");
    assert_eq!(described.repositories().len(), 1);

    let deleted = app
        .ecr
        .delete_repository()
        .repository_name("team/web")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        deleted.repository().and_then(|r| r.repository_name()),
        Some("team/web")
    );
    let err = app
        .ecr
        .describe_repositories()
        .repository_names("team/web")
        .send()
        .await
        .expect_err("gone");
    assert!(err.into_service_error().is_repository_not_found_exception());
}
