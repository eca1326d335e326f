"""The two images, built by tests/images, run the way a locked-down pod runs them: read-only
root, uid 10001, no capabilities, only /tmp writable. No cluster needed."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path

import images
import openpyxl
import pytest
from devstack.s3 import S3Server
from pypdf import PdfReader

ROOT = Path(__file__).resolve().parents[2]
LOCKED_DOWN = ("run", "--rm", "--pull=never", "--read-only", "--user", "10001", "--cap-drop", "ALL",
               "--tmpfs", "/tmp")

pytestmark = pytest.mark.skipif(images.podman_missing() is not None,
                                reason=images.podman_missing() or "")


@pytest.fixture(scope="module")
def built() -> dict[str, images.Image]:
    return images.build()


def test_runner_renders_every_format_in_a_locked_down_container(
    built: dict[str, images.Image], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # written by uid 10001
    proc = images.podman(
        *LOCKED_DOWN, "--network", "none", "-v", f"{ROOT / 'examples'}:/examples:ro",
        "-v", f"{out}:/out", built["runner"].name, "bulletin", "preview",
        "-f", "/examples/weekly-usage.yaml", "--sample", "/examples/weekly-usage.sample.yaml",
        "--at", "2026-01-12T09:00:00+01:00", "-o", "/out", "--formats", "csv,xlsx,pdf,html",
        check=False)
    assert proc.returncode == 0, proc.stderr
    assert (out / "usage.csv").read_text().count("\n") == 36  # header + 35 rows
    sheet = openpyxl.load_workbook(out / "weekly-usage.xlsx")["usage"]
    assert sheet.max_row == 36
    assert len(PdfReader(out / "weekly-usage.pdf").pages) == 2
    assert (out / "chart-1.png").read_bytes().startswith(b"\x89PNG")  # matplotlib in the image


def test_runner_without_its_environment_says_so_in_one_line(
    built: dict[str, images.Image]
) -> None:
    proc = images.podman(*LOCKED_DOWN, "--network", "none", built["runner"].name, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "bulletin-runner: missing environment: BULLETIN_NAMESPACE, BULLETIN_SCHEDULE"
        " (the operator's CronJob sets them)"]


UPLOAD = """
import os, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["S3"], region_name=os.environ["REGION"],
                  aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"],
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
s3.put_object(Bucket=os.environ["BUCKET"], Key="from-image.txt", Body=b"hello from the image")
print(s3.generate_presigned_url("get_object", Params={"Bucket": os.environ["BUCKET"],
                                "Key": "from-image.txt"}, ExpiresIn=60))
"""


def test_runner_reaches_s3_with_its_trimmed_botocore(
    built: dict[str, images.Image], s3: S3Server
) -> None:
    bucket = s3.create_bucket(f"img-{uuid.uuid4().hex[:8]}")
    env = {"S3": s3.endpoint, "REGION": s3.region, "AK": s3.access_key, "SK": s3.secret_key,
           "BUCKET": bucket}
    flags = [f"--env={k}={v}" for k, v in env.items()]
    proc = images.podman(*LOCKED_DOWN, "--network", "host", *flags, built["runner"].name,
                         "python", "-c", UPLOAD, check=False)  # host network: loopback only
    assert proc.returncode == 0, proc.stderr
    assert "X-Amz-Signature=" in proc.stdout
    body = s3.client().get_object(Bucket=bucket, Key="from-image.txt")["Body"].read()
    assert body == b"hello from the image"


def test_operator_image_imports_its_handlers_and_nothing_it_does_not_need(
    built: dict[str, images.Image]
) -> None:
    # SQLAlchemy is the operator's since it writes the run archive (chart values archive.*).
    probe = ("import importlib.util as u, shutil, bulletin_operator.handlers, kopf; "
             "print([m for m in ('boto3', 'weasyprint', 'matplotlib', 'openpyxl', 'pip')"
             " if u.find_spec(m)] + [s for s in ('bulletin-runner', '/opt/bulletin/bin/pip')"
             " if shutil.which(s)])")
    proc = images.podman(*LOCKED_DOWN, "--network", "none", built["operator"].name,
                         "python", "-c", probe, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    help_ = images.podman(*LOCKED_DOWN, "--network", "none", built["operator"].name,
                          "kopf", "run", "--help", check=False)
    assert help_.returncode == 0 and "--all-namespaces" in help_.stdout, help_.stderr


@pytest.mark.parametrize("kind", images.NAMES)
def test_image_config_and_archive(built: dict[str, images.Image], kind: str) -> None:
    image = built[kind]
    config = json.loads(images.podman("image", "inspect", image.name).stdout)[0]["Config"]
    assert config["User"] == "10001"
    assert config.get("Entrypoint") or config.get("Cmd")  # exec form: no shell needed
    assert images.podman("image", "inspect", "--format", "{{.Id}}", image.dev).stdout == \
        images.podman("image", "inspect", "--format", "{{.Id}}", image.name).stdout
    with tarfile.open(image.archive) as archive:  # what `ctr images import` reads
        manifest = archive.extractfile("manifest.json")
        assert manifest is not None
        tags = json.load(io.TextIOWrapper(manifest))[0]["RepoTags"]
    assert tags == [image.name]
