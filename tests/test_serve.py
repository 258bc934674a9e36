"""`zoo serve`: the demo page's forms come from declared conditions, bad requests are one-line errors,
and a form submission in headless Chromium draws new samples."""
from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from tiny_runs import Page, chromium, screenshot_path, train_audio, train_gan
from zoo.cli import cli


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    return {"gan": train_gan(root / "gan", steps=2), "audio": train_audio(root / "audio")}


@pytest.fixture(scope="module")
def server(runs):
    """The app on a free loopback port, in a thread of this process."""
    import uvicorn

    from zoo.serve import create_app

    app = create_app([runs["gan"], runs["audio"]])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_forms_offer_seed_n_and_the_declared_conditions(server):
    status, page = get(server + "/")
    assert status == 200
    gan, audio = page.split('id="run-1"')
    assert 'name="n"' in gan and 'name="seed"' in gan and 'name="label"' not in gan  # unconditional: no label
    assert '<select name="label">' in audio and '<option value="9">9</option>' in audio and '<option value="10">' not in audio


@pytest.mark.parametrize("query, message, code", [
    ("run=0&n=100000", "Error: n must be between 1 and 64 on this page, got 100000", 400),
    ("run=1&n=17", "Error: n must be between 1 and 16 on this page, got 17", 400),
    ("run=0&bogus=1", "Error: unknown field &#x27;bogus&#x27; for gan; it takes: n, seed", 400),
    ("run=1&label=12", "Error: label must be an integer in 0..9, got 12", 400),
    ("run=1&label=three", "Error: label must be an integer, got &#x27;three&#x27;", 400),
    ("run=9", "Error: run must be between 0 and 1, got 9", 400),
])
def test_bad_requests_are_one_line_errors_on_the_page(server, query, message, code):
    status, page = get(f"{server}/sample?{query}")
    assert status == code and message in page
    assert "Traceback" not in page and 'name="seed"' in page  # the forms stay usable


def test_huge_integer_conditions_are_refused():
    from zoo.capabilities import Condition
    from zoo.errors import UsageError
    from zoo.serve import Served, parse_request

    text = Served(Path("run"), "gpt", "text", "text", 10, (Condition("max_new_tokens", int, None), Condition("prompt", str, "")))
    assert parse_request(text, {"n": "2", "max_new_tokens": "4096", "prompt": "ROMEO:"}) == (2, 0, {"max_new_tokens": 4096, "prompt": "ROMEO:"})
    with pytest.raises(UsageError, match="max_new_tokens must be at most 4096 on this page, got 10000000"):
        parse_request(text, {"max_new_tokens": "10000000"})


def test_same_seed_same_samples_and_a_link_draws_them_again(server):
    first = get(f"{server}/sample?run=1&n=2&seed=4&label=3")[1]
    again = get(f"{server}/sample?run=1&n=2&seed=4&label=3")[1]
    other = get(f"{server}/sample?run=1&n=2&seed=5&label=3")[1]
    clips = lambda page: [part.split('"')[0] for part in page.split('src="data:audio/wav;base64,')[1:]]  # noqa: E731
    assert len(clips(first)) == 2 and clips(first) == clips(again) != clips(other)
    assert "label=3" in first


def test_port_in_use_is_one_line(runs):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", str(runs["gan"]), "--port", str(port)])
    assert result.exit_code == 2
    assert result.output.strip().startswith(f"Error: port {port} on 127.0.0.1 is in use") and "\n" not in result.output.strip()


def test_run_without_checkpoint_is_refused(tmp_path, runs):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(runs["gan"], bare)
    shutil.rmtree(bare / "checkpoints")
    result = CliRunner().invoke(cli, ["serve", str(bare), "--port", "0"])
    assert result.exit_code == 1 and "has no checkpoint yet" in result.output


def test_form_submission_in_chromium_returns_new_samples(server, tmp_path):
    manager, browser = chromium()
    try:
        view = Page(browser, (1200, 800))
        page = view.page
        page.goto(server + "/")
        audio_form = page.locator("form").nth(1)
        audio_form.locator('select[name="label"]').select_option("7")
        audio_form.locator('input[name="n"]').fill("3")
        audio_form.locator('input[name="seed"]').fill("1")
        with page.expect_navigation():
            audio_form.locator("button").click()
        media = view.media_check()
        assert len(media["audio"]) == 3 and all(d > 0 for d in media["audio"]), media
        assert media["img"] and all(w > 0 for w in media["img"])
        assert "label=7" in page.locator("#result-1").inner_text()
        before = page.locator("audio").first.get_attribute("src")
        page.locator("form").nth(1).locator('input[name="seed"]').fill("2")
        with page.expect_navigation():
            page.locator("form").nth(1).locator("button").click()
        view.media_check()
        assert page.locator("audio").first.get_attribute("src") != before  # a new sample
        gan_form = page.locator("form").first
        gan_form.locator('input[name="n"]').fill("16")
        with page.expect_navigation():
            gan_form.locator("button").click()
        media = view.media_check()
        assert len(media["img"]) == 1 and media["img"][0] > 0
        assert view.errors == [] and view.outside == []
        page.goto(f"{server}/sample?run=1&n=4&seed=3&label=5#run-1")
        view.media_check()
        page.screenshot(path=str(screenshot_path("serve.png", tmp_path)))
        view.close()
    finally:
        browser.close()
        manager.stop()
