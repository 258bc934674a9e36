"""`zoo serve`: a local page for drawing samples from runs interactively.

One form per run, built from what the family declares (`Family.conditions`) plus seed and n; a
submission is a plain GET (`/sample?run=0&seed=3&label=7`), so every result has a link that draws it
again. A run whose model chats (`capabilities.Chats`, with a chat template) also gets a chat box: the page
keeps the conversation and posts it whole to `/chat`, which answers through `zoo.chat.Session` (the same
context-window trimming as `zoo chat`). A run that translates images takes an uploaded image (`/translate`); one that
predicts frames (`zoo.video.Predicts`) takes an uploaded GIF or MP4 clip whose first k frames it continues (`/predict`,
`zoo sample --mode predict --context` underneath). Sampling goes through `zoo.api.sample`, so the page checks exactly
what `zoo sample` checks and picks up a run's newest checkpoint. Errors show as the CLI's one-line message, never a traceback.

No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at runtime.
"""

import dataclasses
import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from zoo.capabilities import LABEL, Chats, Condition, Translates, num_classes
from zoo.errors import UsageError, ZooError
from zoo.report.html import esc, note, page, samples_html, shown_width

MAX_N = {"image": 64, "audio": 16, "text": 16}  # per request; `zoo sample` is the tool for more
MAX_INT = 4096  # an integer condition above this (max_new_tokens, sampler steps) would hold the page for minutes
FORM_TYPES = (bool, int, float, str)  # condition types a form field can carry (not callables)
LOG = logging.getLogger("zoo.serve")


@dataclass
class Served:
    """One run on the page: what its form offers."""

    path: Path
    preset: str
    family: str
    modality: str
    step: int
    conditions: tuple[Condition, ...]
    source_shape: tuple[int, int, int] | None = None  # C×H×W of an uploaded source, for runs that translate
    data: str = ""  # what it trained on: the dataset's name or the path of your own data
    trained: int | None = None  # steps trained
    chats: bool = False  # the model converses: the page shows a chat box
    context_shape: tuple[int, int, int, int] | None = None  # k×C×H×W of an uploaded context clip, for runs that predict frames

    def heading(self) -> str:
        """The line under the run's name: what it is, what it learned from, for how long."""
        kind = f"{self.family} family" + ("" if self.family == self.modality else f", {self.modality}")
        steps = f"{self.trained} steps trained" if self.trained is not None else "steps not recorded"
        return f"{kind} · data {self.data} · {steps} · checkpoint step {self.step} · {self.path.resolve()}"

    @property
    def max_n(self) -> int:
        return MAX_N.get(self.modality, 16)

    def default_n(self) -> int:
        return min(16 if self.modality == "image" else 4, self.max_n)


def describe(run_dir: str | os.PathLike[str]) -> Served:
    """Load a run once to read its modality and declared conditions (a run without a checkpoint is an error)."""
    from zoo.api import load
    from zoo.run import Run
    from zoo.video import Predicts

    run = Run.open(run_dir)
    model = load(run_dir)
    classes = num_classes(model)
    predicts = isinstance(model, Predicts)
    offered = []
    for condition in model.conditions:
        if condition.type not in FORM_TYPES or (condition.name == LABEL.name and not classes):
            continue  # callables (a text stream) have no field; an unconditional instance takes no label
        if predicts and condition.name in ("mode", "context"):
            continue  # a context is uploaded (the clip form), never a path on the server
        if condition.name == LABEL.name:  # class names (your own data's folders) where the run has them, else indices
            names = tuple(model.info.get("classes") or ())
            condition = dataclasses.replace(condition, type=str, choices=names) if names else dataclasses.replace(condition, choices=tuple(range(classes)))
        offered.append(condition)
    shape = tuple(model.source_shape) if isinstance(model, Translates) else None
    context = (model.context_frames, model.info["channels"], model.info["image_size"], model.info["image_size"]) if predicts else None
    return Served(Path(run_dir), run.config.preset, run.config.family, model.modality, model.checkpoint_step, tuple(offered), shape,  # type: ignore[arg-type]
                  data=run.config.data_source, trained=run.summary().get("step"), chats=converses(model), context_shape=context)


def converses(model: Any) -> bool:
    """Whether `model` chats: it is `Chats` and renders a conversation (it has a chat template)."""
    if not isinstance(model, Chats):
        return False
    try:
        model.chat_prompt([{"role": "user", "content": "hello"}])
    except UsageError:
        return False
    return True


def parse_request(served: Served, params: Mapping[str, str]) -> tuple[int, int, dict[str, Any]]:
    """(n, seed, conditions) from a form submission; unknown fields and absurd values are usage errors."""
    known = {"run", "n", "seed", *(c.name for c in served.conditions)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise UsageError(f"unknown field {unknown[0]!r} for {served.path.name}; it takes: {', '.join(sorted(known - {'run'}))}")
    n = _convert("n", params.get("n") or str(served.default_n()), int)
    if not 1 <= n <= served.max_n:
        raise UsageError(f"n must be between 1 and {served.max_n} on this page, got {n}; use `zoo sample -n {n}` for more")
    seed = _convert("seed", params.get("seed") or "0", int)
    conditions = {}
    for condition in served.conditions:
        raw = params.get(condition.name, "")
        if raw != "":  # an empty field keeps the family's default
            conditions[condition.name] = value = _convert(condition.name, raw, condition.type)
            if condition.type is int and value > MAX_INT:
                raise UsageError(f"{condition.name} must be at most {MAX_INT} on this page, got {value}; use `zoo sample --set {condition.name}={value}`")
    return n, seed, conditions


def _convert(name: str, raw: str, kind: type) -> Any:
    if kind is str:
        return raw
    if kind is bool:
        if raw.lower() not in ("true", "false", "1", "0", "on", "off"):
            raise UsageError(f"{name} must be true or false, got {raw!r}")
        return raw.lower() in ("true", "1", "on")
    try:
        return kind(raw)
    except ValueError:
        raise UsageError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None


def create_app(run_dirs: list[str | os.PathLike[str]], device: str = "cpu") -> Any:
    """The FastAPI application serving `run_dirs` (each must have a checkpoint)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse

    from zoo.api import sample

    served = [describe(d) for d in run_dirs]
    lock = threading.Lock()  # one sampling at a time: the CPU is shared, and so is torch's RNG
    chat_models: dict[int, Any] = {}  # loaded once per chatting run
    app = FastAPI(title="zoo serve", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(render(served))

    @app.get("/sample", response_class=HTMLResponse)
    def draw(request: Request) -> HTMLResponse:
        params = dict(request.query_params)
        chosen, result, status = 0, "", 200
        try:
            index = _convert("run", params.pop("run", "0"), int)
            if not 0 <= index < len(served):
                raise UsageError(f"run must be between 0 and {len(served) - 1}, got {index}")
            chosen = index
            n, seed, conditions = parse_request(served[chosen], params)
            with lock:
                samples = sample(served[chosen].path, n, seed=seed, device=device, **conditions)
            shown = ", ".join(f"{k}={v}" for k, v in samples.meta.get("conditions", {}).items())
            caption = f"{len(samples)} samples · seed {seed}{' · ' + shown if shown else ''} · checkpoint step {samples.meta.get('checkpoint_step')}"
            result = f'<p class="small muted caption">{esc(caption)}</p>' + samples_html(samples)
        except ZooError as err:
            result, status = note(f"Error: {err}", "error"), 400
        except Exception as err:  # a family's bug: one line on the page, the traceback in the server's log
            LOG.exception("sampling failed")
            result, status = note(f"Error: sampling failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}", "error"), 500
        return HTMLResponse(render(served, chosen, params, result), status_code=status)

    async def answer_upload(request: Request, what: str, work: Callable[[dict[str, Any], int], str]) -> HTMLResponse:
        """An upload (a data URL in JSON, so no multipart parser is needed) through `work(body, seed)`, one at a time."""
        try:
            body = await request.json()
            seed = _convert("seed", str(body.get("seed") or "0"), int)
            with lock:
                return HTMLResponse(work(body, seed))
        except ZooError as err:
            return HTMLResponse(note(f"Error: {err}", "error"), status_code=400)
        except Exception as err:  # a family's bug: one line on the page, the traceback in the server's log
            LOG.exception("%s failed", what)
            return HTMLResponse(note(f"Error: {what} failed: {type(err).__name__}", "error"), status_code=500)

    def chosen_run(body: dict[str, Any], able: Callable[[Served], bool], refusal: str) -> Served:
        index = _convert("run", str(body.get("run", "0")), int)
        if not 0 <= index < len(served) or not able(served[index]):
            raise UsageError(f"run {index} {refusal}")
        return served[index]

    @app.post("/translate", response_class=HTMLResponse)
    async def upload(request: Request) -> HTMLResponse:
        """An uploaded image through a translating run."""
        def work(body: dict[str, Any], seed: int) -> str:
            run = chosen_run(body, lambda r: r.source_shape is not None, "does not translate images; upload to a run of a translating preset")
            return translate_upload(run, str(body.get("image", "")), seed, device)

        return await answer_upload(request, "translation", work)

    @app.post("/predict", response_class=HTMLResponse)
    async def continue_clip(request: Request) -> HTMLResponse:
        """n continuations of an uploaded clip's first k frames by a predicting run."""
        def work(body: dict[str, Any], seed: int) -> str:
            run = chosen_run(body, lambda r: r.context_shape is not None,
                             "does not predict frames; upload a clip to a run of a predicting preset (predict-mmnist, convlstm-mmnist)")
            n = _convert("n", str(body.get("n") or "1"), int)
            if not 1 <= n <= run.max_n:
                raise UsageError(f"n must be between 1 and {run.max_n} on this page, got {n}; use `zoo sample -n {n}` for more")
            return predict_upload(run, str(body.get("clip", "")), n, seed, device)

        return await answer_upload(request, "prediction", work)

    @app.post("/chat")
    async def converse(request: Request) -> Any:
        """The assistant's reply to a conversation the page posts whole: {run, messages, seed}; the last message is the user's."""
        from fastapi.responses import JSONResponse

        from zoo.api import load
        from zoo.chat import Session

        try:
            body = await request.json()
            index = _convert("run", str(body.get("run", "0")), int)
            if not 0 <= index < len(served) or not served[index].chats:
                raise UsageError(f"run {index} does not chat; pick a run whose model has a chat template")
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict) or messages[-1].get("role") != "user":
                raise UsageError("post the conversation as messages ending with the user's")
            with lock:
                if index not in chat_models:
                    chat_models[index] = load(served[index].path, device)
                session = Session(chat_models[index], seed=_convert("seed", str(body.get("seed") or "0"), int), messages=messages[:-1])
                answer = session.ask(str(messages[-1].get("content", "")))
            return JSONResponse({"reply": answer.text, "dropped": answer.dropped})
        except ZooError as err:
            return JSONResponse({"error": f"Error: {err}"}, status_code=400)
        except Exception as err:  # a family's bug: one line on the page, the traceback in the server's log
            LOG.exception("chat failed")
            return JSONResponse({"error": f"Error: chat failed: {type(err).__name__}"}, status_code=500)

    return app


def translate_upload(run: Served, data_url: str, seed: int, device: str) -> str:
    """The HTML showing an uploaded image beside its translation; a size that does not fit is resized (and said)."""
    import base64
    import binascii
    import io
    import tempfile

    from PIL import Image, UnidentifiedImageError

    from zoo.api import translate
    from zoo.report.html import img
    from zoo.samples import ImageSamples

    _, _, encoded = data_url.partition(",")
    try:
        with Image.open(io.BytesIO(base64.b64decode(encoded, validate=True))) as image:
            image.load()
            original = image.size
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "upload.png"
                image.save(path)
                out = translate(run.path, [path], seed=seed, device=device, resize=True)
    except (binascii.Error, UnidentifiedImageError, OSError):
        raise UsageError("the upload is not an image PIL can read (PNG, JPEG, WebP, ...)") from None
    channels, height, width = run.source_shape  # type: ignore[misc]
    said = "" if original == (width, height) else f" · resized from {original[0]}×{original[1]} to {width}×{height} (bicubic)"
    grid = ImageSamples(out)._repr_png_()
    return f'<p class="small muted caption">translation · seed {seed}{esc(said)}</p>' + img(grid, "translation", cls="samples", width=shown_width(grid))


CLIP_MAGIC = ((b"GIF8", 0, ".gif"), (b"ftyp", 4, ".mp4"), (b"\x1a\x45\xdf\xa3", 0, ".webm"))  # what an upload is, by its first bytes


def predict_upload(run: Served, data_url: str, n: int, seed: int, device: str) -> str:
    """The HTML showing n continuations (context, then prediction) of an uploaded clip's first k frames."""
    import base64
    import binascii
    import tempfile

    from zoo.api import sample

    try:
        raw = base64.b64decode(data_url.partition(",")[2], validate=True)
    except binascii.Error:
        raw = b""
    suffix = next((ext for magic, at, ext in CLIP_MAGIC if raw[at : at + len(magic)] == magic), None)
    if suffix is None:
        raise UsageError("the upload is not a GIF, MP4 or WebM clip")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(raw)
        try:
            samples = sample(run.path, n, seed=seed, device=device, mode="predict", context=str(path))
        except UsageError as err:  # read_context names the file as a --context flag: here it is the upload
            raise UsageError(str(err).replace(f"--context {path}", "the uploaded clip")) from None
    k = run.context_shape[0]  # type: ignore[index]
    caption = (f"{n} continuation{'s' if n > 1 else ''} of the uploaded clip's first {k} frames · seed {seed}"
               f" · checkpoint step {samples.meta.get('checkpoint_step')}")
    return f'<p class="small muted caption">{esc(caption)}</p>' + samples_html(samples)


def render(served: list[Served], chosen: int | None = None, params: Mapping[str, str] | None = None, result: str = "") -> str:
    """The page: one form per run, the result under the form that asked for it."""
    sections = [
        '<h1>zoo serve</h1><p class="muted">Draw samples from trained runs. The same seed gives the same samples; '
        "the address of a result draws it again.</p>"
    ]
    for i, run in enumerate(served):
        values = dict(params or {}) if i == chosen else {}
        sections.append(
            f'<h2 id="run-{i}">{esc(run.path.name)} <span class="muted">· {esc(run.preset)}</span></h2>'
            f'<p class="small muted">{esc(run.heading())}</p>'
            + form(i, run, values)
            + (f'<div class="result" id="result-{i}">{result}</div>' if i == chosen else "")
        )
    if any(run.source_shape or run.context_shape for run in served):
        sections.append(UPLOAD_SCRIPT)
    if any(run.chats for run in served):
        sections.append(CHAT_SCRIPT)
    return page("zoo serve", "\n".join(sections))


def form(index: int, run: Served, values: Mapping[str, str]) -> str:
    fields = [
        field_html("n", "number", values.get("n", str(run.default_n())), f"how many (1 to {run.max_n})", f'min="1" max="{run.max_n}" step="1"'),
        field_html("seed", "number", values.get("seed", "0"), "same seed, same samples", 'step="1"'),
    ]
    for condition in run.conditions:
        value = values.get(condition.name, "")
        default = "" if condition.default is None else str(condition.default)
        if condition.choices or condition.type is bool:
            choices = condition.choices or (True, False)
            options = [f'<option value=""{" selected" if value == "" else ""}>default{f" ({esc(default)})" if default else ""}</option>']
            options += [f'<option value="{esc(c)}"{" selected" if value == str(c) else ""}>{esc(c)}</option>' for c in choices]
            fields.append(f'<label title="{esc(condition.help)}">{esc(condition.name)} <select name="{esc(condition.name)}">{"".join(options)}</select></label>')
        elif condition.type in (int, float):
            step = "1" if condition.type is int else "any"
            fields.append(field_html(condition.name, "number", value, condition.help, f'step="{step}" placeholder="{esc(default or "default")}"'))
        else:
            fields.append(field_html(condition.name, "text", value, condition.help, f'placeholder="{esc(default or "default")}"'))
    sample_form = (
        f'<form class="sample" method="get" action="/sample#run-{index}"><input type="hidden" name="run" value="{index}">'
        + "".join(fields)
        + '<button type="submit">Sample</button></form>'
    )
    return (sample_form + (upload_form(index, run.source_shape) if run.source_shape else "")
            + (clip_form(index, run) if run.context_shape else "") + (chat_form(index) if run.chats else ""))


def chat_form(index: int) -> str:
    """A conversation box: the page holds the messages and posts them to /chat with each new one."""
    return (
        f'<div class="result" id="chat-{index}"></div>'
        f'<form class="chat" onsubmit="return zooChat(this, {index})"><label>message <input type="text" name="message" size="60" required></label>'
        '<button type="submit">Send</button> <button type="button" onclick="zooReset(' + str(index) + ')">Reset</button></form>'
    )


def upload_form(index: int, shape: tuple[int, int, int]) -> str:
    """A file field whose image is posted (as a data URL) to /translate; the answer shows below it."""
    channels, height, width = shape
    return (
        f'<form class="translate" id="translate-{index}" onsubmit="return zooUpload(this, {index}, \'/translate\', \'image\', \'translated-{index}\')">'
        f'<label title="any image; it is converted to {channels} channel(s) and resized to {width}×{height} when it differs">'
        f'image to translate ({width}×{height}) <input type="file" name="upload" accept="image/*" required></label>'
        '<label>seed <input type="number" name="seed" value="0" step="1"></label><button type="submit">Translate</button></form>'
        f'<div class="result" id="translated-{index}"></div>'
    )


def clip_form(index: int, run: Served) -> str:
    """A file field whose clip is posted (as a data URL) to /predict with n and seed; the continuations show below it."""
    frames, _, height, width = run.context_shape  # type: ignore[misc]
    return (
        f'<form class="predict" id="predict-{index}" onsubmit="return zooUpload(this, {index}, \'/predict\', \'clip\', \'predicted-{index}\')">'
        f'<label title="a GIF or MP4 of {width}×{height} frames; its first {frames} are given and the rest predicted">'
        f'clip to continue ({width}×{height}, at least {frames} frames) <input type="file" name="upload" accept="image/gif,video/*" required></label>'
        + field_html("n", "number", "1", f"how many futures (1 to {run.max_n})", f'min="1" max="{run.max_n}" step="1"')
        + '<label>seed <input type="number" name="seed" value="0" step="1"></label><button type="submit">Predict</button></form>'
        f'<div class="result" id="predicted-{index}"></div>'
    )


UPLOAD_SCRIPT = (  # posts the chosen file as a data URL under `key` (with seed, and n where the form has it) and shows the answer
    "<script>function zooUpload(form, run, url, key, target) {"
    "const file = form.upload.files[0]; if (!file) return false; const reader = new FileReader();"
    "reader.onload = () => { const body = {run: run, seed: form.seed.value}; body[key] = reader.result; if (form.n) body.n = form.n.value;"
    "fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)})"
    ".then(r => r.text()).then(html => { document.getElementById(target).innerHTML = html; }); };"
    "reader.readAsDataURL(file); return false; }</script>"
)


CHAT_SCRIPT = (  # keeps each run's conversation in the page; a reply (or a one-line error) is appended under it
    "<script>const zooTalks = {};"
    "function zooShow(run, who, text) { const p = document.createElement('p'); p.className = 'small';"
    "p.textContent = who + ': ' + text; document.getElementById('chat-' + run).appendChild(p); }"
    "function zooReset(run) { zooTalks[run] = []; document.getElementById('chat-' + run).innerHTML = ''; }"
    "function zooChat(form, run) { const talk = zooTalks[run] = zooTalks[run] || []; const text = form.message.value;"
    "talk.push({role: 'user', content: text}); zooShow(run, 'you', text); form.message.value = '';"
    "fetch('/chat', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({run: run, messages: talk})})"
    ".then(r => r.json()).then(a => { if (a.error) { talk.pop(); zooShow(run, 'error', a.error); return; }"
    "talk.push({role: 'assistant', content: a.reply}); zooShow(run, 'model', a.reply);"
    "if (a.dropped) zooShow(run, 'note', 'the oldest ' + a.dropped + ' messages no longer fit the context window'); });"
    "return false; }</script>"
)


def field_html(name: str, kind: str, value: str, help: str, extra: str = "") -> str:
    return f'<label title="{esc(help)}">{esc(name)} <input type="{kind}" name="{esc(name)}" value="{esc(value)}" {extra}></label>'


def check_port_free(host: str, port: int) -> None:
    """A usage error naming the port when something already listens there (before any model loads)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as err:
            raise UsageError(f"port {port} on {host} is in use ({err.strerror}); pass --port with another one") from None


def serve(run_dirs: list[str | os.PathLike[str]], host: str = "127.0.0.1", port: int = 8000, device: str = "cpu", ready: Any = None) -> None:
    """Serve the page until Ctrl-C. `ready(url)` is called once the runs are loaded, before serving."""
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise UsageError("zoo serve needs fastapi and uvicorn; pip install 'genzoo[serve]'") from None
    check_port_free(host, port)
    app = create_app(run_dirs, device)
    if ready is not None:
        ready(f"http://{host}:{port}/")
    uvicorn.run(app, host=host, port=port, log_level="warning")
