// The GANForge dashboard: plain JavaScript against the same HTTP API as every other client, no build step.
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
  show(`Job ${id}`, status, progress, h("div", { class: "row" }, cancel, again),
    h("div", { class: "grid2" },
      h("div", { class: "card" }, h("h2", {}, "Training curves"), canvas),
      h("div", { class: "card" }, h("h2", {}, "Samples"), grid, h("div", {}, slider, epochLabel))),
    h("h2", {}, "Spec"), h("pre", {}, JSON.stringify(job.spec, null, 2)), h("h2", {}, "Events"), events);
  const note = (kind, data) => events.prepend(h("li", {}, `${kind}: ${JSON.stringify(data).slice(0, 160)}`));
  follow(`/v1/jobs/${id}/events`, {
    status: (data, _, source) => {
      status.textContent = data.status; status.className = `status-${data.status}`; note("status", data);
      if (data.model_id) status.append(" — ", h("a", { href: `#/models/${data.model_id}` }, "open the model"));
      if (terminal.includes(data.status)) { source.close(); cancel.disabled = true; }
    },
    progress: (data) => {
      points.push(data); drawCurves(canvas, points);
      progress.textContent = `epoch ${data.epoch}/${data.epochs} · step ${data.step}/${data.total_steps} · ` +
        `${Math.round(data.images_per_s)} images/s · ETA ${Math.round(data.eta_s)} s`;
    },
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

// -- models and their playground ------------------------------------------------------------------------

async function modelsPage() {
  const { models } = await getJson("/v1/models");
  const score = (m, name) => { const v = m.metrics?.scores?.[name]; return Number.isFinite(v) ? v.toFixed(3) : ""; };
  show("Models", h("table", {}, h("thead", {}, h("tr", {}, ["Model", "Family", "Data set", "Confidence", "FID (classifier)"].map((t) => h("th", {}, t)))),
    h("tbody", {}, models.map((m) => h("tr", {}, h("td", {}, h("a", { href: `#/models/${m.id}` }, m.id)), h("td", {}, m.arch),
      h("td", {}, m.dataset?.id || ""), h("td", {}, score(m, "confidence")), h("td", {}, score(m, "fid_classifier")))))));
}

// A model whose kind takes images (translators, augmenters, plugins' kinds): the kind's hints (GET /v1/kinds) say
// which route serves it; the page sends an image there and shows what comes back.
function imagesPage(id, card, kind) {
  const { route, directions, seeded } = kind.dashboard;
  const file = h("input", { id: "image-file", type: "file", accept: "image/*" });
  const direction = directions ? h("select", { id: "direction" }, Object.keys(card.inputs?.images || {}).map((d) => h("option", { value: d }, d))) : null;
  const count = seeded ? h("input", { id: "count", type: "number", min: 1, max: 16, value: 5 }) : null;
  const seed = seeded ? h("input", { id: "seed", type: "number", min: 0, value: 1 }) : null;
  const image = h("img", { class: "pic", id: "playground-image", alt: `the model's output`, hidden: true });
  const send = async () => {
    if (!file.files.length) return;
    const form = new FormData();
    form.append("file", file.files[0]);
    if (direction) form.append("direction", direction.value);
    if (count) { form.append("n", count.value); form.append("seed", seed.value); }
    try {
      image.src = URL.createObjectURL(await (await api(`/v1/models/${id}/${route}`, { method: "POST", body: form })).blob());
      image.hidden = false;
    } catch (error) { failure(error); }
  };
  [file, direction, count, seed].filter(Boolean).forEach((input) => input.addEventListener("change", send));
  const scores = Object.entries(card.metrics?.scores || {}).filter(([, v]) => Number.isFinite(v));
  show(`Model ${id}`,
    h("p", {}, `${card.arch} on ${card.dataset?.id || "?"} · ${card.kind}: it ${kind.does} · `, card.job_id ? h("a", { href: `#/jobs/${card.job_id}` }, "its job") : ""),
    h("div", { class: "grid2" },
      h("div", { class: "card" }, h("h2", {}, "Try it"),
        h("div", { class: "row" }, h("label", {}, "Image", file), direction ? h("label", {}, "Direction", direction) : null,
          count ? h("label", {}, "Variations", count) : null, seed ? h("label", {}, "Seed", seed) : null), image,
        h("pre", { id: "reproduce" }, `curl -F file=@image.png ${location.origin}/v1/models/${id}/${route} -o out.png`)),
      h("div", { class: "card" }, h("h2", {}, "Scores"),
        h("table", {}, h("tbody", {}, scores.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, v.toPrecision(3)))))))));
}

async function modelPage(id) {
  const [card, { kinds }] = await Promise.all([getJson(`/v1/models/${id}`), getJson("/v1/kinds")]);
  const kind = kinds.find((k) => k.name === card.kind);
  if (kind && kind.dashboard.playground === "images") return imagesPage(id, card, kind);
  const seed = h("input", { id: "seed", type: "number", min: 0, value: 7 });
  const count = h("input", { id: "count", type: "number", min: 1, max: 64, value: 16 });
  const truncation = h("input", { id: "truncation", type: "number", step: "0.1", min: 0.1, max: 10, placeholder: "off" });
  const classes = card.inputs?.labels;  // conditional models only
  const label = classes ? h("select", { id: "label" }, h("option", { value: "" }, "classes in turn"),
    classes.map((c) => h("option", { value: c }, c))) : null;
  const codes = card.inputs?.codes;  // InfoGAN models only
  const category = codes?.categorical ? h("select", { id: "category" }, h("option", { value: "" }, "in turn"),
    [...Array(codes.categorical).keys()].map((k) => h("option", { value: k }, k))) : null;
  const continuous = [...Array(codes?.continuous || 0).keys()].map((i) =>
    h("input", { id: `continuous-${i}`, type: "range", min: -2, max: 2, step: 0.1, value: 0, "aria-label": `continuous code ${i}` }));
  const image = h("img", { class: "pic", id: "playground-image", alt: "generated images" });
  const code = h("pre", { id: "reproduce" });
  const body = () => {
    const request = { n: Number(count.value), seed: Number(seed.value) };
    if (truncation.value) request.truncation = Number(truncation.value);
    if (label?.value) request.labels = label.value;
    if (codes) {
      request.codes = {};
      if (category?.value) request.codes.categorical = Number(category.value);
      if (continuous.length) request.codes.continuous = continuous.map((input) => Number(input.value));
    }
    return request;
  };
  const generate = async (format) => (await api(`/v1/models/${id}/generate`, { method: "POST",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ...body(), format }) })).blob();
  const download = async (format) => {
    try {
      const link = h("a", { href: URL.createObjectURL(await generate(format)), download: `${id}.${format === "grid" ? "png" : format}` });
      link.click();
      URL.revokeObjectURL(link.href);
    } catch (error) { failure(error); }
  };
  const refresh = async () => {
    const request = body();
    const python = Object.entries(request).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
    code.textContent = `curl -X POST ${location.origin}/v1/models/${id}/generate -H 'content-type: application/json' ` +
      `-d '${JSON.stringify({ ...request, format: "grid" })}' -o grid.png\n\n` +
      `from ganforge_client import Client\nimages = Client("${location.origin}").generate("${id}", ${python})`;
    try {
      const previous = image.src;
      image.src = URL.createObjectURL(await generate("grid"));
      if (previous) URL.revokeObjectURL(previous);
    } catch (error) { failure(error); }
  };
  [seed, count, truncation, label, category, ...continuous].filter(Boolean).forEach((input) => input.addEventListener("change", refresh));
  const from = h("input", { id: "from-seed", type: "number", value: 1 }), to = h("input", { id: "to-seed", type: "number", value: 2 });
  const frames = h("img", { class: "pic", id: "interpolation", alt: "interpolation between two seeds", hidden: true });
  const interpolate = async () => {
    // A conditional model draws the class chosen above; "classes in turn" has no one class for a path: the first.
    const shownClass = classes ? (label.value || classes[0]) : null;
    const request = { start: { seed: Number(from.value) }, end: { seed: Number(to.value) }, steps: 8, format: "grid" };
    if (shownClass !== null) request.labels = shownClass;
    try {
      const response = await api(`/v1/models/${id}/interpolate`, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request) });
      frames.alt = shownClass === null ? "interpolation between two seeds" : `interpolation between two seeds, class ${shownClass}`;
      frames.title = frames.alt;
      frames.src = URL.createObjectURL(await response.blob());
      frames.hidden = false;
    } catch (error) { failure(error); }
  };
  const scores = Object.entries(card.metrics?.scores || {}).filter(([, v]) => Number.isFinite(v));
  const report = card.metrics?.augmentation;
  show(`Model ${id}`,
    h("p", {}, `${card.arch} on ${card.dataset?.id || "?"} · latent ${card.inputs?.latent_dim} · `, card.job_id ? h("a", { href: `#/jobs/${card.job_id}` }, "its job") : ""),
    h("div", { class: "grid2" },
      h("div", { class: "card" }, h("h2", {}, "Playground"),
        h("div", { class: "row" }, h("label", {}, "Seed", seed), h("label", {}, "Images", count), h("label", {}, "Truncation", truncation),
          label ? h("label", {}, "Class", label) : null, category ? h("label", {}, "Category code", category) : null,
          continuous.map((input, i) => h("label", {}, `Continuous code ${i}`, input)),
          h("button", { type: "button", class: "secondary", onclick: () => { seed.value = Math.floor(Math.random() * 1e9); refresh(); } }, "Random seed")),
        image, h("p", {}, "Download: ", ["grid", "zip", "npz"].map((f) => h("button", { type: "button", class: "secondary", onclick: () => download(f) },
          f === "grid" ? "PNG" : f.toUpperCase()))),
        h("h2", {}, "Reproduce"), code),
      h("div", { class: "card" }, h("h2", {}, "Interpolate"),
        h("div", { class: "row" }, h("label", {}, "From seed", from), h("label", {}, "To seed", to),
          h("button", { type: "button", onclick: interpolate }, "Interpolate")), frames,
        h("h2", {}, "Scores"), h("table", {}, h("tbody", {}, scores.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, v.toPrecision(3)))))))));
  refresh();
  const here = location.hash;
  if (report) {
    const section = await augmentationSection(id, report);
    if (location.hash === here) view.append(section);  // unless another page has been opened meanwhile
  }
}

// -- the augmentation report (metrics.augmentation on a card) -------------------------------------------

const percent = (s) => `${(100 * s.mean).toFixed(1)} ± ${(100 * s.std).toFixed(1)} %`;
const signed = (value) => `${value >= 0 ? "+" : "−"}${Math.abs(100 * value).toFixed(1)}`;
const points = (s) => `${signed(s.mean)} ± ${(100 * s.std).toFixed(1)}`;

// One horizontal bar per row: mean balanced accuracy over the seeds, an error bar of ± one standard deviation;
// the recommended row highlighted, real and the best classic row marked, with a dashed line at each one's mean.
function augmentationChart(report) {
  const rows = report.rows;
  const width = 700, band = 26, top = 30, left = 200, right = width - 200, bottom = top + rows.length * band;
  const ends = rows.flatMap((r) => [r.balanced_accuracy.mean - r.balanced_accuracy.std, r.balanced_accuracy.mean + r.balanced_accuracy.std]);
  const low = Math.max(0, Math.floor((Math.min(...ends) - 0.02) * 20) / 20);
  const high = Math.min(1, Math.ceil((Math.max(...ends) + 0.02) * 20) / 20);
  const x = (value) => left + (value - low) / (high - low || 1) * (right - left);
  const ticks = [];
  for (let t = low; t <= high + 1e-9; t += (high - low) > 0.3 ? 0.1 : 0.05) ticks.push(t);
  const marker = (name, kind) => {
    const row = rows.find((r) => r.name === name);
    return row ? svg("line", { class: `marker ${kind}`, x1: x(row.balanced_accuracy.mean), x2: x(row.balanced_accuracy.mean), y1: top - 4, y2: bottom }) : null;
  };
  const bars = rows.map((row, i) => {
    const { mean, std } = row.balanced_accuracy;
    const y = top + i * band, middle = y + band / 2;
    const kinds = [row.name === report.recommended.row ? "recommended" : null, row.name === "real" ? "real" : null,
                   row.name === report.best_classic ? "best-classic" : null].filter(Boolean);
    const label = row.name + (kinds.includes("recommended") ? " ★" : "");
    return svg("g", { class: ["bar-row", ...kinds].join(" "), "data-row": row.name },
      svg("title", {}, `${row.name}: balanced accuracy ${percent(row.balanced_accuracy)} over the seeds, ${points(row.vs_real)} points vs real`),
      svg("text", { class: "label", x: left - 8, y: middle + 4, "text-anchor": "end" }, label),
      svg("rect", { class: ["bar", ...kinds].join(" "), "data-row": row.name, x: left, y: y + 4,
                    width: Math.max(0, x(mean) - left), height: band - 8 }),
      svg("line", { class: "error-bar", x1: x(Math.max(low, mean - std)), x2: x(Math.min(high, mean + std)), y1: middle, y2: middle }),
      [mean - std, mean + std].map((end) => svg("line", { class: "error-bar", x1: x(Math.min(high, Math.max(low, end))),
        x2: x(Math.min(high, Math.max(low, end))), y1: middle - 5, y2: middle + 5 })),
      svg("text", { class: "value", x: right + 8, y: middle + 4 }, percent(row.balanced_accuracy)),
      row.name === "real" ? null : svg("text", { class: "value", x: width - 8, y: middle + 4, "text-anchor": "end" }, points(row.vs_real)));
  });
  return svg("svg", { id: "augmentation-chart", class: "bars", viewBox: `0 0 ${width} ${bottom + 24}`, role: "img",
                      "aria-label": `balanced accuracy of each row of augmentation report ${report.evaluation_id}, mean ± std over the seeds` },
    ticks.map((t) => [svg("line", { class: "tick", x1: x(t), x2: x(t), y1: top - 4, y2: bottom }),
                      svg("text", { class: "axis", x: x(t), y: bottom + 16, "text-anchor": "middle" }, `${Math.round(100 * t)} %`)]),
    svg("text", { class: "axis", x: left, y: top - 12 }, "balanced accuracy (mean ± std over seeds)"),
    svg("text", { class: "axis", x: width - 8, y: top - 12, "text-anchor": "end" }, "vs real (points)"),
    bars, marker("real", "real"), marker(report.best_classic, "best-classic"));
}

// The report's notes are on its evaluation job; the card keeps the flags they come from, should the job be gone.
async function augmentationNotes(id, report) {
  try {
    const job = await getJson(`/v1/models/${id}/evaluations/${report.evaluation_id}`);
    return job.result?.notes || [];
  } catch (error) {
    if (error.status === 401) throw error;
    return [report.held_out_from_gan ? null : "the GAN saw the test images while it trained: synthetic rows may read better than they are",
            report.reliable ? null : "the data set's reference classifier is below 95 % on the test images: a hard set, or too few images to read the rows on"].filter(Boolean);
  }
}

async function augmentationSection(id, report) {
  const notes = await augmentationNotes(id, report);
  const verdict = report.synthetic_verdict;
  return h("section", { class: "card", id: "augmentation" }, h("h2", {}, "Augmentation report"),
    h("p", { id: "augmentation-words" }, h("strong", {}, "Recommended: "), report.recommended.words),
    augmentationChart(report),
    h("p", { class: "hint legend" }, h("span", { class: "swatch recommended" }), " recommended ",
      h("span", { class: "swatch real" }), " real only ", h("span", { class: "swatch best-classic" }), ` best classic (${report.best_classic})`),
    verdict ? h("p", { class: "error" }, `Plain synthetic data lowered balanced accuracy here (best plain row ${verdict.row}: ${signed(verdict.change)} points).`) : null,
    notes.length ? h("ul", { id: "augmentation-notes" }, notes.map((note) => h("li", {}, note))) : null,
    h("p", { class: "hint" }, `Measured on ${report.dataset}, evaluation `, h("a", { href: `#/jobs/${report.evaluation_id}` }, report.evaluation_id),
      report.recommended.row === "real" ? "." : ["; the recommended mix: ", h("code", {}, `ganforge augment ${id} --mix recommended`), "."]));
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
                  datasets: () => datasetsPage() };
  try { await (pages[page] || pages.jobs)(); } catch (error) { failure(error); }
  view.focus({ preventScroll: true });
}

window.addEventListener("hashchange", route);
route();
