"""Drives berth's public registry with oras-py's default token auth: a push with ECR
Public's password through the Bearer token flow, an anonymous pull, and an anonymous
push that must be refused.

usage: oras_public.py HOST REPO PASSWORD WORKDIR
"""
import json
import os
import sys

import oras.client

host, repo, password, workdir = sys.argv[1:5]
os.chdir(workdir)
with open("notes.txt", "w") as f:
    f.write("public notes\n")

holder = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="token")
holder.auth.set_basic_auth("AWS", password)
pushed = holder.push(
    target=f"{host}/{repo}:notes", files=["notes.txt"], disable_path_validation=True
)

anonymous = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="token")
os.makedirs("pulled", exist_ok=True)
files = anonymous.pull(target=f"{host}/{repo}:notes", outdir="pulled")
try:
    anonymous.push(
        target=f"{host}/{repo}:anonymous", files=["notes.txt"], disable_path_validation=True
    )
    anonymous_push = "accepted"
except ValueError as e:
    anonymous_push = str(e)

print(
    json.dumps(
        {
            "push_status": pushed.status_code,
            "push_digest": pushed.headers.get("Docker-Content-Digest"),
            "pulled": [open(p).read() for p in files],
            "anonymous_push": anonymous_push,
        }
    )
)
