"""The google_vision engine against a local stand-in of the Cloud Vision REST API."""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import KEY, Cloud, Vision
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from PIL import Image
from synthral_ocr_google_vision import API_KEY_SECRET, SERVICE_ACCOUNT_SECRET, GoogleVisionConfig, GoogleVisionEngine

from synthral_sdk import BlobStore, Context, OCRRequest
from synthral_sdk.errors import ConfigInvalid, EgressDenied, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import PluginConformance

sys.path.insert(0, str(Path(__file__).parents[3] / "tests" / "support"))
from pdfs import PdfPage, make_pdf

ENGINE = GoogleVisionEngine()
LOCAL = NetworkPolicy.local()  # the stand-ins answer on this machine


class TestConformance(PluginConformance):
    dist = "synthral-ocr-google-vision"


def png(size: tuple[int, int] = (800, 300)) -> bytes:
    out = io.BytesIO()
    Image.new("L", size, 255).save(out, format="PNG")
    return out.getvalue()


def config(vision: Vision, **more: object) -> GoogleVisionConfig:
    return GoogleVisionConfig.model_validate({"credential": "api_key", "endpoint": vision.url, **more})


def test_sends_each_page_to_images_annotate_and_maps_blocks_lines_and_words(vision: Vision, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(png(), media_type="image/png")
    context = Context(blobs=blobs, secrets={API_KEY_SECRET: KEY}, network=LOCAL)
    result = ENGINE.recognize(OCRRequest(document=ref, languages=["en"]), config(vision), context)
    [sent] = vision.requests
    request = sent["body"]["requests"][0]
    assert request["features"] == [{"type": "DOCUMENT_TEXT_DETECTION"}]
    assert request["imageContext"] == {"languageHints": ["en"]}
    assert Image.open(io.BytesIO(base64.b64decode(request["image"]["content"]))).size == (800, 300)
    [page] = result.pages
    [block] = page.blocks
    assert [line.text for line in block.lines] == ["Invoice 4721", "Total due"]
    assert block.words[1].bbox.x == 220 and block.words[1].confidence == pytest.approx(0.97)
    assert result.text == "Invoice 4721\nTotal due"


def test_a_text_layer_page_never_leaves_the_machine(vision: Vision, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(make_pdf([PdfPage(lines=[(72, 72, "Kept local text")])]), media_type="application/pdf")
    result = ENGINE.recognize(
        OCRRequest(document=ref), config(vision), Context(blobs=blobs, secrets={API_KEY_SECRET: KEY}, network=LOCAL)
    )
    assert vision.requests == []
    assert result.pages[0].source == "text_layer" and "Kept local text" in result.text


def test_credentials_are_required_and_refusals_name_the_secret(vision: Vision, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(png(), media_type="image/png")
    with pytest.raises(ConfigInvalid, match=f"not granted the secret {API_KEY_SECRET}"):
        ENGINE.recognize(OCRRequest(document=ref), config(vision), Context(blobs=blobs, network=LOCAL))
    with pytest.raises(ConfigInvalid, match="refused the credentials"):
        ENGINE.recognize(
            OCRRequest(document=ref),
            config(vision),
            Context(blobs=blobs, secrets={API_KEY_SECRET: "bad"}, network=LOCAL),
        )
    with pytest.raises(ValueError, match="credential"):
        GoogleVisionConfig.model_validate({})


def test_server_errors_are_retryable(vision: Vision, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(png(), media_type="image/png")
    vision.fail_with = 503
    with pytest.raises(RetryableError, match="503"):
        ENGINE.recognize(
            OCRRequest(document=ref), config(vision), Context(blobs=blobs, secrets={API_KEY_SECRET: KEY}, network=LOCAL)
        )


def service_account(token_uri: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "demo",
            "private_key_id": "1",
            "private_key": pem.decode(),
            "client_email": "ocr@demo.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
        }
    )


def test_a_pdf_goes_through_async_batch_annotate_and_cloud_storage_with_a_service_account(
    cloud: Cloud, tmp_path: Path
) -> None:
    blobs = BlobStore(tmp_path)
    scanned = io.BytesIO()
    pages = [Image.new("L", (850, 1100), 255) for _ in range(3)]
    pages[0].save(scanned, format="PDF", save_all=True, append_images=pages[1:], resolution=100.0)
    ref = blobs.put(scanned.getvalue(), media_type="application/pdf")
    config = GoogleVisionConfig.model_validate(
        {
            "credential": "service_account",
            "endpoint": f"{cloud.url}/v1",
            "storage_endpoint": cloud.url,
            "gcs_bucket": "acme-ocr",
            "poll_interval": 0.01,
            "dpi": 100,
        }
    )
    secrets = {SERVICE_ACCOUNT_SECRET: service_account(f"{cloud.url}/token")}
    result = ENGINE.recognize(
        OCRRequest(document=ref, pages=[3, 1]), config, Context(blobs=blobs, secrets=secrets, network=LOCAL)
    )
    assert [page.number for page in result.pages] == [3, 1]
    assert result.pages[0].text == "Invoice 4721\nTotal due" and result.pages[0].source == "ocr"
    invoice = result.pages[0].blocks[0].words[0]
    assert invoice.bbox.x == pytest.approx(40 * 100 / 72, abs=0.5)  # normalised vertices, scaled to the page
    assert cloud.token_requests == 1
    assert "POST /v1/files:asyncBatchAnnotate" in cloud.calls and cloud.bucket == {}  # everything removed


def test_the_calls_network_policy_refuses_this_machine_and_private_addresses(
    vision: Vision, cloud: Cloud, tmp_path: Path
) -> None:
    blobs = BlobStore(tmp_path)
    image = blobs.put(png(), media_type="image/png")
    for endpoint in (vision.url, "http://10.0.0.1/v1"):
        with pytest.raises(EgressDenied) as denied:  # a default Context(): a server's policy
            ENGINE.recognize(
                OCRRequest(document=image),
                config(vision, endpoint=endpoint),
                Context(blobs=blobs, secrets={API_KEY_SECRET: KEY}),
            )
        assert str(urlsplit(endpoint).hostname) in denied.value.message
        assert "SYNTHRAL_EGRESS_ALLOW" in denied.value.message
    assert vision.requests == []
    scanned = io.BytesIO()
    Image.new("L", (850, 1100), 255).save(scanned, format="PDF", resolution=100.0)
    pdf = blobs.put(scanned.getvalue(), media_type="application/pdf")
    batch = GoogleVisionConfig.model_validate(
        {
            "credential": "service_account",
            "endpoint": f"{cloud.url}/v1",
            "storage_endpoint": cloud.url,
            "gcs_bucket": "acme-ocr",
        }
    )
    secrets = {SERVICE_ACCOUNT_SECRET: service_account(f"{cloud.url}/token")}
    with pytest.raises(EgressDenied, match="loopback"):  # the service account's token exchange too
        ENGINE.recognize(OCRRequest(document=pdf), batch, Context(blobs=blobs, secrets=secrets))
    assert cloud.calls == []
    allowed = NetworkPolicy.server(["127.0.0.1"])  # the operator allowed the stand-in (the token endpoint)
    private = batch.model_copy(update={"storage_endpoint": "http://10.0.0.1"})
    with pytest.raises(EgressDenied, match=r"10\.0\.0\.1.*private"):  # Cloud Storage, once the token is in
        ENGINE.recognize(OCRRequest(document=pdf), private, Context(blobs=blobs, secrets=secrets, network=allowed))
    assert cloud.calls == ["POST /token"]


def test_async_batch_needs_a_service_account() -> None:
    config = GoogleVisionConfig.model_validate({"credential": "api_key", "gcs_bucket": "acme-ocr"})
    with pytest.raises(ConfigInvalid, match="'gcs_bucket' needs config field 'credential' set to 'service_account'"):
        ENGINE.read_pdf_pages(Path("x.pdf"), [1], config, None, Context(blobs=BlobStore(Path("/nonexistent"))))
