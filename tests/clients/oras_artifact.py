"""Drives berth's registry face with oras-py (PyPI `oras`), the OCI artifact client.

usage: oras_artifact.py HOST REPO PASSWORD SUBJECT_DIGEST WORKDIR

Pushes an artifact whose `subject` is SUBJECT_DIGEST (monolithic upload), pushes a
second one in small chunks, pulls the first back, and prints a JSON report.
"""
import json
import os
import sys

import oras.client
import oras.oci
import requests

host, repo, password, subject_digest, workdir = sys.argv[1:6]
os.chdir(workdir)
client = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="basic")
# Basic credentials as `docker login -u AWS` stores them; no token service needed.
client.auth.set_basic_auth("AWS", password)

auth = ("AWS", password)
subject = requests.get(
    f"http://{host}/v2/{repo}/manifests/{subject_digest}",
    auth=auth,
    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
)
subject.raise_for_status()

with open("signature.txt", "w") as f:
    f.write("signed by berth tests\n")
with open("sbom.json", "w") as f:
    f.write(json.dumps({"packages": list(range(500))}))

pushed = client.push(
    target=f"{host}/{repo}:sig",
    files=["signature.txt"],
    subject=oras.oci.Subject(
        mediaType=subject.headers["Content-Type"], digest=subject_digest, size=len(subject.content)
    ),
    disable_path_validation=True,
)
chunked = client.push(
    target=f"{host}/{repo}:sbom",
    files=["sbom.json"],
    do_chunked=True,
    chunk_size=256,
    disable_path_validation=True,
)
os.makedirs("pulled", exist_ok=True)
files = client.pull(target=f"{host}/{repo}:sig", outdir="pulled")
print(
    json.dumps(
        {
            "push_status": pushed.status_code,
            "push_digest": pushed.headers.get("Docker-Content-Digest"),
            "oci_subject": pushed.headers.get("OCI-Subject"),
            "chunked_status": chunked.status_code,
            "chunked_digest": chunked.headers.get("Docker-Content-Digest"),
            "pulled": [open(p).read() for p in files],
            "tags": client.get_tags(f"{host}/{repo}"),
        }
    )
)
