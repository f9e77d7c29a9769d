// The GANForge dashboard: plain JavaScript against the same HTTP API as every other client, no build step. This file
// holds the shared helpers, the jobs, training and data set pages and the routing; the model pages are in models.js
// (with images.js, styles.js and report.js) and the comparison in compare.js, loaded before it (index.html).
// Live views follow Server-Sent Events (EventSource); with API keys configured, a session cookie from
// POST /v1/sessions stands for the key, since EventSource cannot send an Authorization header.
"use strict";

const view = document.getElementById("view");
let streams = [];  // EventSources of the current page, closed when the page changes

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) { signIn(); throw new ApiError(401, "sign in first"); }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not a problem document */ }
    throw new ApiError(response.status, detail);
  }
  return response.status === 204 ? null : response;
}
const getJson = async (path) => (await api(path)).json();
const postJson = async (path, body) => (await api(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })).json();
// The job states ({statuses, terminal}) as the server defines them (core/states.py): fetched once, so this page
// names none of its own. A failed fetch is not kept: the next page asks again.
let jobStates = null;
const states = () => (jobStates ??= getJson("/ui/states.json").catch((error) => { jobStates = null; throw error; }));

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// SVG elements: geometry as attributes (the CSP forbids inline styles), colours from classes in style.css.
function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) element.setAttribute(name, value);
  }
  element.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
  return element;
}

function follow(path, handlers) {
  const source = new EventSource(path);
  for (const [kind, handler] of Object.entries(handlers)) {
    source.addEventListener(kind, (message) => handler(JSON.parse(message.data), message.lastEventId, source));
  }
  streams.push(source);
  return source;
}

function show(title, ...content) {
  view.replaceChildren(h("h1", {}, title), ...content);
  document.title = `${title} · GANForge`;
}

function failure(error) {
  if (error.status !== 401) view.append(h("p", { class: "error", role: "alert" }, error.message));
}

// -- sign in (only when the server has API keys) --------------------------------------------------------

function signIn() {
  streams.forEach((s) => s.close());
  const key = h("input", { id: "api-key", type: "password", autocomplete: "off", required: true });
  const message = h("p", { class: "error", role: "alert" });
  show("Sign in", h("form", { class: "stack card", onsubmit: async (event) => {
    event.preventDefault();
    const response = await fetch("/v1/sessions", { method: "POST", headers: { Authorization: `Bearer ${key.value}` } });
    if (response.ok) route(); else message.textContent = (await response.json()).detail;
  } }, h("label", { for: "api-key" }, "API key"), key,
     h("p", { class: "hint" }, "Kept as an HttpOnly session cookie for 12 hours; this page never stores the key."),
     h("button", { type: "submit" }, "Sign in"), message));
  key.focus();
}

// -- jobs -----------------------------------------------------------------------------------------------

async function jobsPage() {
  const { jobs } = await getJson("/v1/jobs?limit=50");
  const rows = new Map();
  const body = h("tbody");
  const row = (job) => {
    const p = job.progress || {};
    const tr = h("tr", { "data-job": job.id },
      h("td", {}, h("a", { href: `#/jobs/${job.id}` }, job.id)),
      h("td", { class: `status status-${job.status}` }, job.status),
      h("td", {}, job.spec.kind === "evaluation" ? `evaluation of ${job.spec.model_id}` : `${job.spec.model?.arch} on ${job.spec.dataset}`),
      h("td", {}, p.total_steps ? `${p.step}/${p.total_steps}` : ""),
      h("td", {}, job.model_id ? h("a", { href: `#/models/${job.model_id}` }, job.model_id) : ""));
    rows.get(job.id)?.replaceWith(tr);
    rows.set(job.id, tr);
    return tr;
  };
  jobs.forEach((job) => body.append(row(job)));
  show("Jobs", h("p", {}, h("a", { href: "#/new" }, "Train a new model")),
    h("table", {}, h("thead", {}, h("tr", {}, ["Job", "Status", "What", "Steps", "Model"].map((t) => h("th", {}, t)))), body));
  follow("/v1/events?after=$", { status: async ({ job: id }) => {
    const job = await getJson(`/v1/jobs/${id}`);
    if (!rows.has(id)) body.prepend(row(job)); else row(job);
  } });
}

function drawCurves(canvas, points) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const panels = [[["loss_d", "D loss", "#c82828"], ["loss_g", "G loss", "#1e5ac8"]],
                  [["d_real", "D(x)", "#148c3c"], ["d_fake", "D(G(z))", "#dc8200"]]];
  const steps = points.map((p) => p.step);
  const [x0, x1] = [Math.min(...steps, 0), Math.max(...steps, 1)];
  context.font = "12px system-ui";
  panels.forEach((lines, i) => {
    const top = 20 + i * (height / 2), bottom = (i + 1) * (height / 2) - 16, left = 44, right = width - 8;
    const values = lines.flatMap(([f]) => points.map((p) => p[f]).filter(Number.isFinite));
    let [y0, y1] = i === 1 ? [0, 1] : [Math.min(0, ...values), Math.max(1, ...values)];
    context.strokeStyle = "#d9dee4"; context.strokeRect(left, top, right - left, bottom - top);
    context.fillStyle = "#1d232b";
    context.fillText(y1.toFixed(2), 2, top + 10); context.fillText(y0.toFixed(2), 2, bottom);
    lines.forEach(([field, label, colour], j) => {
      context.fillStyle = colour; context.fillText(label, left + 8 + j * 90, top - 6);
      context.strokeStyle = colour; context.lineWidth = 2; context.beginPath();
      points.filter((p) => Number.isFinite(p[field])).forEach((p, k) => {
        const x = left + (p.step - x0) / (x1 - x0 || 1) * (right - left);
        const y = bottom - (p[field] - y0) / (y1 - y0 || 1) * (bottom - top);
        k ? context.lineTo(x, y) : context.moveTo(x, y);
      });
      context.stroke();
    });
  });
}

// What a queued job waits for, in the words of the command line's --follow (service/cli/user_commands.py).
function waitingWords(waiting) {
  const what = waiting.for || "something";
  const words = what === "reference classifier"
    ? `waiting for the reference classifier of ${waiting.dataset || "its data set"}` : `waiting for ${what}`;
  const progress = [];
  if (waiting.epoch !== null && waiting.epoch !== undefined && waiting.epochs) progress.push(`epoch ${waiting.epoch}/${waiting.epochs}`);
  if (typeof waiting.eta_s === "number") progress.push(`about ${Math.round(waiting.eta_s)} s left`);
  return progress.length ? `${words}: ${progress.join(", ")}` : words;
}

async function jobPage(id) {
  const [job, { terminal }] = await Promise.all([getJson(`/v1/jobs/${id}`), states()]);
  const status = h("p", { id: "job-status", class: `status-${job.status}` }, job.status);
  const progress = h("p", { id: "job-progress", class: "hint" });
  const canvas = h("canvas", { class: "curves", width: 640, height: 360, "aria-label": "loss curves" });
  const grid = h("img", { class: "pic", id: "sample-grid", alt: "samples from the fixed latents" });
  const slider = h("input", { type: "range", id: "epoch-slider", min: 1, max: 1, value: 1, "aria-label": "epoch" });
  const epochLabel = h("span", { class: "hint" });
  const events = h("ol", { reversed: true });
  const cancel = h("button", { class: "secondary", onclick: async () => {
    try { await api(`/v1/jobs/${id}/cancel`, { method: "POST" }); } catch (error) { failure(error); } } }, "Cancel");
  const again = h("button", { class: "secondary", onclick: () => {
    sessionStorage.setItem("ganforge.again", JSON.stringify(job.spec)); location.hash = "#/new"; } },
    "Train again with changes");
  const points = [];
  const epochs = [];
  const showEpoch = (epoch) => { grid.src = `/v1/jobs/${id}/samples/${epoch}`; epochLabel.textContent = ` epoch ${epoch}`; };
  slider.addEventListener("input", () => showEpoch(epochs[slider.value - 1]));
  // The server keeps `waiting` only while the job is queued, and each status change ends what it said.
  let waitShown = Boolean(job.waiting);
  if (waitShown) progress.textContent = waitingWords(job.waiting);
  show(`Job ${id}`, status, progress, h("div", { class: "row" }, cancel, again),
    h("div", { class: "grid2" },
      h("div", { class: "card" }, h("h2", {}, "Training curves"), canvas),
      h("div", { class: "card" }, h("h2", {}, "Samples"), grid, h("div", {}, slider, epochLabel))),
    h("h2", {}, "Spec"), h("pre", {}, JSON.stringify(job.spec, null, 2)), h("h2", {}, "Events"), events);
  const note = (kind, data) => events.prepend(h("li", {}, `${kind}: ${JSON.stringify(data).slice(0, 160)}`));
  follow(`/v1/jobs/${id}/events`, {
    status: (data, _, source) => {
      status.textContent = data.status; status.className = `status-${data.status}`; note("status", data);
      if (waitShown) { progress.textContent = ""; waitShown = false; }
      if (data.model_id) status.append(" — ", h("a", { href: `#/models/${data.model_id}` }, "open the model"));
      if (terminal.includes(data.status)) { source.close(); cancel.disabled = true; }
    },
    progress: (data) => {
      waitShown = false; points.push(data); drawCurves(canvas, points);
      progress.textContent = `epoch ${data.epoch}/${data.epochs} · step ${data.step}/${data.total_steps} · ` +
        `${Math.round(data.images_per_s)} images/s · ETA ${Math.round(data.eta_s)} s`;
    },
    waiting: (data) => { progress.textContent = waitingWords(data); waitShown = true; },
    samples: (data) => { epochs.push(data.epoch); slider.max = epochs.length; slider.value = epochs.length; showEpoch(data.epoch); },
    evaluation: (data) => { if (data.phase === "done") note("evaluation", data.scores || data); },
    checkpoint: (data) => note("checkpoint", data),
  });
}

// -- a new job ------------------------------------------------------------------------------------------

async function newJobPage() {
  const [{ datasets }, openapi] = await Promise.all([getJson("/v1/datasets"), getJson("/openapi.json")]);
  const schemas = openapi.components.schemas;
  const again = JSON.parse(sessionStorage.getItem("ganforge.again") || "null");
  sessionStorage.removeItem("ganforge.again");
  const field = (id, label, attributes, hint) => [h("label", { for: id }, label), h("input", { id, ...attributes }),
    hint ? h("p", { class: "hint" }, hint) : null];
  const dataset = h("select", { id: "dataset" }, datasets.map((d) => h("option", { value: d.id }, `${d.name} — ${d.description || d.count + " items"}`)));
  const arch = h("select", { id: "arch" }, schemas.ModelSpec.properties.arch.enum.map((a) => h("option", { value: a }, a)));
  dataset.value = again?.dataset || "mnist";
  arch.value = again?.model?.arch || "cgan";
  const numbers = [["epochs", "train", "Epochs"], ["batch_size", "train", "Batch size"], ["lr_g", "train", "Learning rate (G)"],
                   ["lr_d", "train", "Learning rate (D)"], ["latent_dim", "model", "Latent size"], ["seed", "train", "Seed"]];
  const inputs = {};
  const fields = numbers.map(([name, part, label]) => {
    const schema = schemas[part === "train" ? "TrainSpec" : "ModelSpec"].properties[name];
    const preset = again?.[part]?.[name];
    inputs[name] = [part];
    return field(name, label, { type: "number", step: "any", value: preset ?? "",
      placeholder: schema.default ?? "the family's default" }, schema.description);
  });
  const message = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "stack card", onsubmit: async (event) => {
    event.preventDefault();
    const spec = { dataset: dataset.value, model: { ...(again?.model || {}), arch: arch.value }, train: { ...(again?.train || {}) } };
    for (const [name, [part]] of Object.entries(inputs)) {
      const value = document.getElementById(name).value;
      if (value !== "") spec[part][name] = Number(value); else delete spec[part][name];
    }
    for (const part of ["model", "train"]) for (const k of Object.keys(spec[part])) if (spec[part][k] === null) delete spec[part][k];
    try { const job = await postJson("/v1/jobs", spec); location.hash = `#/jobs/${job.id}`; }
    catch (error) { message.textContent = error.message; }
  } }, h("label", { for: "dataset" }, "Data set"), dataset, h("label", { for: "arch" }, "GAN family"), arch,
     h("p", { class: "hint" }, "Empty fields take the family's recipe for the data set (docs/models.md)."), fields,
     h("button", { type: "submit" }, "Train"), message);
  show(again ? "Train again" : "Train a model", form);
}

// -- data sets ------------------------------------------------------------------------------------------

async function datasetsPage(notice = "") {
  const { datasets } = await getJson("/v1/datasets");
  const file = h("input", { id: "upload-file", type: "file", accept: ".zip,.npz", required: true });
  const name = h("input", { id: "upload-name", placeholder: "a name (optional)" });
  const bar = h("progress", { max: 1, value: 0, hidden: true });
  const message = h("p", { role: "status" }, notice);
  const upload = (event) => {
    event.preventDefault();
    const data = new FormData();
    data.append("file", file.files[0]);
    if (name.value) data.append("name", name.value);
    const request = new XMLHttpRequest();  // fetch cannot report upload progress
    request.open("POST", "/v1/datasets");
    request.upload.onprogress = (e) => { bar.hidden = false; bar.value = e.loaded / (e.total || 1); };
    request.onload = () => {
      const body = JSON.parse(request.responseText || "{}");
      if (request.status === 201) datasetsPage(`uploaded ${body.id}: ${body.count} items`);
      else message.textContent = body.detail || request.statusText;
    };
    request.send(data);
  };
  const remove = async (id) => {
    try { await api(`/v1/datasets/${id}`, { method: "DELETE" }); datasetsPage(`deleted ${id}`); } catch (error) { failure(error); }
  };
  show("Data sets",
    h("table", {}, h("thead", {}, h("tr", {}, ["Data set", "Kind", "Items", "Classes", "Preview", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, datasets.map((d) => h("tr", { "data-dataset": d.id }, h("td", {}, d.name === d.id ? d.id : `${d.name} (${d.id})`), h("td", {}, d.kind),
        h("td", {}, d.count), h("td", {}, (d.classes || []).length || ""),
        h("td", {}, h("a", { href: d.preview, target: "_blank" }, "preview")),
        h("td", {}, d.builtin ? "" : h("button", { class: "secondary", onclick: () => remove(d.id) }, "Delete")))))),
    h("h2", {}, "Upload"),
    h("form", { class: "stack card", onsubmit: upload }, h("label", { for: "upload-file" }, "A ZIP of images (a folder per class) or an NPZ"),
      file, h("label", { for: "upload-name" }, "Name"), name, h("button", { type: "submit" }, "Upload"), bar, message));
}

// -- routing --------------------------------------------------------------------------------------------

async function route() {
  streams.forEach((s) => s.close());
  streams = [];
  const [, page, id] = (location.hash || "#/jobs").split("/");
  const pages = { jobs: () => (id ? jobPage(id) : jobsPage()), new: newJobPage, models: () => (id ? modelPage(id) : modelsPage()),
                  compare: () => comparePage(id), datasets: () => datasetsPage() };
  try { await (pages[page] || pages.jobs)(); } catch (error) { failure(error); }
  view.focus({ preventScroll: true });
}

window.addEventListener("hashchange", route);
route();
