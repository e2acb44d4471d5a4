#!/usr/bin/env python3
"""Generate berth's compact API spec (api-spec/<service>.json) from botocore's model.

Usage: python3 api-spec/generate.py [ecr|ecr-public]   (default: ecr)

The output keeps only what the server needs to route and validate requests:
every operation (with an "implemented" flag) and the shapes reachable from the
inputs of implemented operations, reduced to their validation constraints.
"""
import gzip
import json
import os
import sys

import botocore

# Operations berth serves; every other modelled operation answers
# UnsupportedOperationException. Keep sorted.
IMPLEMENTED = {
    "ecr": [
        "BatchCheckLayerAvailability",
        "BatchDeleteImage",
        "BatchGetImage",
        "BatchGetRepositoryScanningConfiguration",
        "CompleteLayerUpload",
        "CreatePullThroughCacheRule",
        "CreateRepository",
        "CreateRepositoryCreationTemplate",
        "DeleteLifecyclePolicy",
        "DeletePullThroughCacheRule",
        "DeleteRegistryPolicy",
        "DeleteRepository",
        "DeleteRepositoryCreationTemplate",
        "DeleteRepositoryPolicy",
        "DeleteSigningConfiguration",
        "DeregisterPullTimeUpdateExclusion",
        "DescribeImageReplicationStatus",
        "DescribeImageScanFindings",
        "DescribeImageSigningStatus",
        "DescribeImages",
        "DescribePullThroughCacheRules",
        "DescribeRegistry",
        "DescribeRepositories",
        "DescribeRepositoryCreationTemplates",
        "GetAccountSetting",
        "GetAuthorizationToken",
        "GetDownloadUrlForLayer",
        "GetLifecyclePolicy",
        "GetLifecyclePolicyPreview",
        "GetRegistryPolicy",
        "GetRegistryScanningConfiguration",
        "GetRepositoryPolicy",
        "GetSigningConfiguration",
        "InitiateLayerUpload",
        "ListImageReferrers",
        "ListImages",
        "ListPullTimeUpdateExclusions",
        "ListTagsForResource",
        "PutAccountSetting",
        "PutImage",
        "PutImageScanningConfiguration",
        "PutImageTagMutability",
        "PutLifecyclePolicy",
        "PutRegistryPolicy",
        "PutRegistryScanningConfiguration",
        "PutReplicationConfiguration",
        "PutSigningConfiguration",
        "RegisterPullTimeUpdateExclusion",
        "SetRepositoryPolicy",
        "StartImageScan",
        "StartLifecyclePolicyPreview",
        "TagResource",
        "UntagResource",
        "UpdateImageStorageClass",
        "UpdatePullThroughCacheRule",
        "UpdateRepositoryCreationTemplate",
        "UploadLayerPart",
        "ValidatePullThroughCacheRule",
    ],
    # All 23 of ECR Public's operations.
    "ecr-public": [
        "BatchCheckLayerAvailability",
        "BatchDeleteImage",
        "CompleteLayerUpload",
        "CreateRepository",
        "DeleteRepository",
        "DeleteRepositoryPolicy",
        "DescribeImageTags",
        "DescribeImages",
        "DescribeRegistries",
        "DescribeRepositories",
        "GetAuthorizationToken",
        "GetRegistryCatalogData",
        "GetRepositoryCatalogData",
        "GetRepositoryPolicy",
        "InitiateLayerUpload",
        "ListTagsForResource",
        "PutImage",
        "PutRegistryCatalogData",
        "PutRepositoryCatalogData",
        "SetRepositoryPolicy",
        "TagResource",
        "UntagResource",
        "UploadLayerPart",
    ],
}

MODEL_VERSIONS = {"ecr": "2015-09-21", "ecr-public": "2020-10-30"}

# Shape attributes that matter for validation; documentation etc. is dropped.
SHAPE_KEYS = ("type", "required", "min", "max", "pattern", "enum")
REF_KEYS = ("member", "key", "value")


def load_model(service):
    root = os.path.dirname(botocore.__file__)
    path = os.path.join(root, "data", service, MODEL_VERSIONS[service], "service-2.json.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def reduce_shape(shape):
    out = {k: shape[k] for k in SHAPE_KEYS if k in shape}
    for k in REF_KEYS:
        if k in shape:
            out[k] = {"shape": shape[k]["shape"]}
    if "members" in shape:
        out["members"] = {n: {"shape": m["shape"]} for n, m in shape["members"].items()}
    return out


def referenced(shape):
    for k in REF_KEYS:
        if k in shape:
            yield shape[k]["shape"]
    for m in shape.get("members", {}).values():
        yield m["shape"]


def generate(service):
    model = load_model(service)
    implemented = IMPLEMENTED[service]
    ops = model["operations"]
    missing = sorted(set(implemented) - set(ops))
    if missing:
        sys.exit(f"implemented operations not in the {service} model: {missing}")

    operations = {}
    for name, op in ops.items():
        entry = {
            "implemented": name in implemented,
            "errors": sorted(e["shape"] for e in op.get("errors", [])),
        }
        for k in ("input", "output"):
            if k in op:
                entry[k] = op[k]["shape"]
        operations[name] = entry

    # Walk from the inputs of implemented operations only: that is all we validate.
    shapes, todo = {}, [ops[n]["input"]["shape"] for n in implemented if "input" in ops[n]]
    while todo:
        name = todo.pop()
        if name in shapes:
            continue
        shape = model["shapes"][name]
        shapes[name] = reduce_shape(shape)
        todo.extend(referenced(shape))

    meta = model["metadata"]
    return {
        "service": service,
        "targetPrefix": meta["targetPrefix"],
        "signingName": meta.get("signingName", meta["endpointPrefix"]),
        "apiVersion": meta["apiVersion"],
        "operations": operations,
        "shapes": shapes,
    }


def main():
    service = sys.argv[1] if len(sys.argv) > 1 else "ecr"
    if service not in IMPLEMENTED:
        sys.exit(f"usage: {sys.argv[0]} [{'|'.join(IMPLEMENTED)}]")
    spec = generate(service)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{service}.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(spec, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")
    n_impl = sum(op["implemented"] for op in spec["operations"].values())
    print(f"wrote {out}: {len(spec['operations'])} operations ({n_impl} implemented), {len(spec['shapes'])} shapes")


if __name__ == "__main__":
    main()
