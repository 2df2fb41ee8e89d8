// The playground's client: plain JavaScript, no libraries. It calls the server that served this page
// (the same origin), so the browser needs no CORS permission.
"use strict";

// Each call goes to an address relative to this page's own, so it works wherever the server appears: next to
// 127.0.0.1:8000/playground, "predict/text" is 127.0.0.1:8000/predict/text; behind a JupyterHub's proxy, next to
// <hub>/user/ada/proxy/8000/playground, it is <hub>/user/ada/proxy/8000/predict/text.
const endpoint = (path) => new URL(path, document.baseURI).href;
const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------------------ showing an answer
function prettyJson(value) {
  // Two-space indents, but each array of plain numbers on one line (the 8x8 pixels stay readable).
  return JSON.stringify(value, null, 2).replace(/\[\s+([-0-9.eE+,\s]+?)\s+\]/g, (_, inner) =>
    "[" + inner.split(/,\s*/).join(", ") + "]");
}

function shellQuote(text) {
  // Single quotes keep the shell from touching the text; a ' inside is written as '\''.
  return "'" + text.replace(/'/g, "'\\''") + "'";
}

function errorMessage(body) {
  // Every error of the course server is RFC 9457 problem details: "detail" is a sentence that says what to
  // fix, and a 422 adds "errors", one entry per offending field.
  if (body && typeof body.detail === "string") return body.detail;
  if (body && typeof body.title === "string") return body.title;
  return "The server answered with an error and no explanation.";
}

function showPixels(pixels) {
  const canvas = $("seen-canvas");
  const context = canvas.getContext("2d");
  const cell = canvas.width / 8;
  pixels.forEach((row, y) => row.forEach((ink, x) => {
    const grey = Math.round(255 - (ink / 16) * 255); // 0 = paper (white), 16 = full ink (black)
    context.fillStyle = `rgb(${grey}, ${grey}, ${grey})`;
    context.fillRect(x * cell, y * cell, cell, cell);
  }));
  $("seen").hidden = false;
}

async function send(path, options, curl, describe) {
  $("curl").textContent = curl;
  $("status").textContent = "sending…";
  $("prediction").textContent = "…";
  $("prediction").className = "";
  $("json").textContent = "";
  $("seen").hidden = true;
  let response;
  try {
    response = await fetch(endpoint(path), options);
  } catch (error) {
    $("status").textContent = "no answer";
    $("prediction").textContent = `Could not reach the server (${error.message}). Is it still running?`;
    $("prediction").className = "error";
    return;
  }
  $("status").textContent = `${response.status} ${response.statusText}`.trim();
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
    $("json").textContent = prettyJson(body);
  } catch {
    $("json").textContent = text; // not JSON: show it as it came
  }
  if (response.ok && body !== undefined) {
    $("prediction").textContent = describe(body);
    if (Array.isArray(body.pixels)) showPixels(body.pixels);
  } else {
    $("prediction").textContent = errorMessage(body);
    $("prediction").className = "error";
  }
}

const percent = (score) => `${(score * 100).toFixed(1)}%`;

// ------------------------------------------------------------------------------ text → sentiment
$("text-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = JSON.stringify({ text: $("text-input").value });
  send(
    "predict/text",
    { method: "POST", headers: { "Content-Type": "application/json" }, body },
    `curl -s -H "Content-Type: application/json" -d ${shellQuote(body)} ${endpoint("predict/text")}`,
    (answer) => `${answer.label} (${percent(answer.score)})`,
  );
});

// ------------------------------------------------------------------------------ image → digit
function sendImage(file, name) {
  // A FormData with the file in the field "file": fetch writes the multipart body and its Content-Type.
  const form = new FormData();
  form.append("file", file, name);
  send(
    "predict/image",
    { method: "POST", body: form },
    `curl -s -F ${shellQuote("file=@" + name)} ${endpoint("predict/image")}`,
    (answer) => `digit ${answer.digit} (${percent(answer.score)})`,
  );
}

function sendFile(file) {
  if (!file) return;
  const preview = $("image-preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.alt = `the image you chose: ${file.name}`;
  preview.hidden = false;
  sendImage(file, file.name || "image.png");
}

$("image-file").addEventListener("change", (event) => sendFile(event.target.files[0]));

const dropZone = $("drop-zone");
dropZone.addEventListener("click", () => $("image-file").click());
dropZone.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    $("image-file").click();
  }
});
dropZone.addEventListener("dragover", (event) => {
  event.preventDefault(); // without this, the browser would open the dropped file itself
  dropZone.classList.add("over");
});
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropZone.classList.remove("over");
  sendFile(event.dataTransfer.files[0]);
});

// ------------------------------------------------------------------------------ drawing a digit
const canvas = $("draw-canvas");
const pen = canvas.getContext("2d");

function clearCanvas() {
  pen.fillStyle = "white";
  pen.fillRect(0, 0, canvas.width, canvas.height);
}
clearCanvas();
pen.lineWidth = 14;
pen.lineCap = "round";
pen.lineJoin = "round";
pen.strokeStyle = "black";

let drawing = false;
function point(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * (canvas.width / box.width), (event.clientY - box.top) * (canvas.height / box.height)];
}
canvas.addEventListener("pointerdown", (event) => {
  drawing = true;
  canvas.setPointerCapture(event.pointerId);
  pen.beginPath();
  pen.moveTo(...point(event));
  pen.lineTo(...point(event));
  pen.stroke();
});
canvas.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  pen.lineTo(...point(event));
  pen.stroke();
});
canvas.addEventListener("pointerup", () => { drawing = false; });
$("draw-clear").addEventListener("click", clearCanvas);
$("draw-send").addEventListener("click", () => {
  canvas.toBlob((blob) => sendImage(blob, "drawing.png"), "image/png");
});
