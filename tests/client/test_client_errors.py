"""Error mapping and retries, against a scripted local HTTP stub (no TorchServe needed)."""
from __future__ import annotations

import time

import pytest
from stub_http import closed_port_url, sample_embedding, sample_verification

from client import (
    AuthenticationError,
    BadInputError,
    EmbeddingResult,
    FaceClient,
    FaceClientError,
    Health,
    RequestTimeoutError,
    ResponseFormatError,
    ServerError,
    ServerUnavailableError,
    VerificationResult,
)

PHOTO = b"\xff\xd8\xff\xe0 not really a jpeg, the stub does not care"


def make(stub, **kwargs) -> FaceClient:
    kwargs.setdefault("token", "secret")
    kwargs.setdefault("backoff", 0.01)
    return FaceClient(stub.url, **kwargs)


def test_verify_success_parses_the_contract(stub):
    stub.add(200, sample_verification(2))
    result = make(stub).verify(PHOTO, [PHOTO, PHOTO])
    assert isinstance(result, VerificationResult)
    assert [r.match for r in result.results] == [True, False]
    assert result.results[1].score is None and result.results[1].faces == 0
    (request,) = stub.requests
    assert request.method == "POST" and request.path == "/predictions/face-verify"
    assert request.headers["Authorization"] == "Bearer secret"


def test_401_is_an_authentication_error_and_not_retried(stub):
    stub.add(401, {"code": 401, "type": "Unauthorized", "message": "no"})
    with pytest.raises(AuthenticationError) as info:
        make(stub).verify(PHOTO, [PHOTO])
    assert info.value.status == 401
    assert len(stub.requests) == 1


def test_torchserve_invalid_key_400_is_an_authentication_error(stub):
    # TorchServe 0.12 answers a missing / wrong / expired token with 400 InvalidKeyException.
    stub.add(400, {"code": 400, "type": "InvalidKeyException",
                   "message": "Token Authorization failed. Token either incorrect, expired, or not provided correctly"})
    with pytest.raises(AuthenticationError, match="Token Authorization failed") as info:
        make(stub).health()
    assert not isinstance(info.value, BadInputError)
    assert len(stub.requests) == 1


def test_400_carries_the_servers_code_and_message(stub):
    stub.add(400, {"error": "no_face_in_reference", "message": "no face was found in the reference photo"})
    with pytest.raises(BadInputError) as info:
        make(stub).verify(PHOTO, [PHOTO])
    error = info.value
    assert (error.status, error.code) == (400, "no_face_in_reference")
    assert error.message == "no face was found in the reference photo"
    assert "no face was found" in str(error) and "no_face_in_reference" in str(error)
    assert isinstance(error, ValueError) and isinstance(error, FaceClientError)
    assert len(stub.requests) == 1  # 4xx: never retried


@pytest.mark.parametrize("status", [404, 413, 422])
def test_other_4xx_are_bad_input_even_without_our_json(stub, status):
    stub.add(status, "request entity too large")
    with pytest.raises(BadInputError) as info:
        make(stub).verify(PHOTO, [PHOTO])
    assert info.value.status == status and "too large" in info.value.message
    assert len(stub.requests) == 1


def test_500_is_a_server_error_and_not_retried(stub):
    stub.add(500, {"code": 500, "type": "InternalServerException", "message": "Internal Server Error"})
    with pytest.raises(ServerError):
        make(stub).verify(PHOTO, [PHOTO])
    assert len(stub.requests) == 1


@pytest.mark.parametrize("status", [500, 507])
def test_worker_died_is_retried_then_succeeds(stub, status):
    stub.add(status, {"code": status, "type": "InternalServerException", "message": "Worker died."})
    stub.add(200, sample_verification(1))
    assert make(stub, retries=2).verify(PHOTO, [PHOTO]).results[0].match
    assert len(stub.requests) == 2


def test_worker_died_past_the_retries_is_a_server_error(stub):
    for _ in range(3):
        stub.add(500, {"code": 500, "type": "InternalServerException", "message": "Worker died."})
    with pytest.raises(ServerError, match="Worker died"):
        make(stub, retries=2).verify(PHOTO, [PHOTO])
    assert len(stub.requests) == 3


def test_503_then_success_is_retried(stub):
    stub.add(503, {"code": 503, "type": "ServiceUnavailableException",
                   "message": 'Model "face-verify" has no worker to serve inference request.'})
    stub.add(200, sample_verification(1))
    result = make(stub, retries=2).verify(PHOTO, [PHOTO])
    assert result.results[0].match
    assert len(stub.requests) == 2
    assert stub.requests[0].body == stub.requests[1].body  # the same request, re-sent


@pytest.mark.parametrize("status", [502, 503, 504])
def test_busy_server_gives_up_after_the_retries(stub, status):
    for _ in range(3):
        stub.add(status, {"code": status, "type": "ServiceUnavailableException", "message": "no worker"})
    with pytest.raises(ServerUnavailableError, match="no worker") as info:
        make(stub, retries=2).verify(PHOTO, [PHOTO])
    assert info.value.status == status and isinstance(info.value, ConnectionError)
    assert len(stub.requests) == 3


def test_handler_crash_503_is_not_retried(stub):
    # What TorchServe answers when the handler raised: it would fail again.
    stub.add(503, {"code": 503, "type": "InternalServerException", "message": "Prediction failed"})
    stub.add(200, sample_verification(1))
    with pytest.raises(ServerError, match="Prediction failed"):
        make(stub).verify(PHOTO, [PHOTO])
    assert len(stub.requests) == 1


def test_connection_refused_is_quick_and_clear():
    client = FaceClient(closed_port_url(), token="t", retries=2, backoff=0.05)
    start = time.monotonic()
    with pytest.raises(ServerUnavailableError, match="cannot reach") as info:
        client.verify(PHOTO, [PHOTO])
    assert time.monotonic() - start < 3.0
    assert isinstance(info.value, ConnectionError) and info.value.status is None
    assert "make serve" in str(info.value)


def test_slow_server_times_out(stub):
    stub.add(200, sample_verification(1), delay=2.0)
    client = make(stub, timeout=0.3, retries=2)
    start = time.monotonic()
    with pytest.raises(RequestTimeoutError) as info:
        client.verify(PHOTO, [PHOTO])
    assert time.monotonic() - start < 1.5  # not retried: it would take as long again
    assert isinstance(info.value, TimeoutError)
    assert len(stub.requests) == 1


def test_non_json_200_is_a_format_error(stub):
    stub.add(200, "<html>hello</html>")
    with pytest.raises(ResponseFormatError, match="non-JSON"):
        make(stub).verify(PHOTO, [PHOTO])


def test_json_breaking_the_contract_is_a_format_error(stub):
    broken = sample_verification(1)
    del broken["results"][0]["match"]
    stub.add(200, broken)
    with pytest.raises(ResponseFormatError, match="results.0.match"):
        make(stub).verify(PHOTO, [PHOTO])


def test_result_count_must_match_the_photos_sent(stub):
    stub.add(200, sample_verification(1))
    with pytest.raises(ResponseFormatError, match="sent 2 test photos"):
        make(stub).verify(PHOTO, [PHOTO, PHOTO])


def test_embed_and_health(stub):
    stub.add(200, sample_embedding())
    stub.add(200, {"status": "Healthy"})
    stub.add(500, {"status": "Unhealthy"})
    client = make(stub)
    embedding = client.embed(PHOTO)
    assert isinstance(embedding, EmbeddingResult) and len(embedding.boxes) == 2
    assert stub.requests[0].path == "/predictions/face-embed"
    assert b'name="image"' in stub.requests[0].body
    health = client.health()
    assert isinstance(health, Health) and health.healthy
    assert (stub.requests[1].method, stub.requests[1].path) == ("GET", "/ping")
    assert stub.requests[1].headers["Authorization"] == "Bearer secret"  # TorchServe checks /ping too
    assert not client.health().healthy
