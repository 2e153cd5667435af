"""The live server fixture itself: health over real HTTP."""


def test_live_server_answers(http) -> None:
    assert http.get("/api/health").json() == {"status": "ok"}
