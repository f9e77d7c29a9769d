// The models list and a model's page. Which panels a page shows follows from what the API says of the model: its
// kind's dashboard hints (GET /v1/kinds) and its card's inputs (labels, codes, styles), never its architecture's name.
"use strict";

// What each score means ({name: {measures, better, real, baselines}}), from models/metrics/glossary.py.
let scoreWords = null;
const glossary = () => (scoreWords ??= getJson("/ui/scores.json").catch((error) => { scoreWords = null; throw error; }));
let kindList = null;
const kinds = () => (kindList ??= getJson("/v1/kinds").then(({ kinds }) => kinds).catch((error) => { kindList = null; throw error; }));

const finite = (card) => Object.entries(card.metrics?.scores || {}).filter(([, v]) => Number.isFinite(v));
// A figure with no better direction is a baseline, or one read only beside its baselines: the "real" words say which.
const better = (words) => ({ higher: "↑ higher", lower: "↓ lower" })[words?.better] || "—";

// An <img> showing a blob; the blob URL it showed before is let go.
function showBlob(image, blob) {
  const previous = image.src;
  image.src = URL.createObjectURL(blob);
  image.hidden = false;
  if (previous.startsWith("blob:")) URL.revokeObjectURL(previous);
}

const postBlob = async (path, body) => (await api(path, { method: "POST", headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body) })).blob();

function saveBlob(blob, name) {
  const link = h("a", { href: URL.createObjectURL(blob), download: name });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

async function modelsPage() {
  const [{ models }, words] = await Promise.all([getJson("/v1/models"), glossary()]);
  const shown = ["confidence", "fid_classifier"];
  const chosen = new Set();
  const compare = h("button", { type: "button", id: "compare", disabled: true,
    onclick: () => { location.hash = `#/compare/${[...chosen].join(",")}`; } }, "Compare the chosen models");
  const pick = (m) => h("input", { type: "checkbox", "aria-label": `compare ${m.id}`, "data-model": m.id, onchange: (event) => {
    if (event.target.checked) chosen.add(m.id); else chosen.delete(m.id);
    compare.disabled = chosen.size < 2;
  } });
  const score = (m, name) => { const v = m.metrics?.scores?.[name]; return Number.isFinite(v) ? v.toFixed(3) : ""; };
  show("Models", h("p", { class: "hint" }, "Tick two or more models to see them side by side."), compare,
    h("table", {}, h("thead", {}, h("tr", {}, ["", "Model", "Kind", "Family", "Data set", "Confidence", "FID (classifier)"].map((t, i) =>
      h("th", { title: i > 4 ? words[shown[i - 5]]?.measures : null }, t)))),
    h("tbody", {}, models.map((m) => h("tr", {}, h("td", {}, pick(m)), h("td", {}, h("a", { href: `#/models/${m.id}` }, m.id)),
      h("td", {}, m.kind), h("td", {}, m.arch), h("td", {}, m.dataset?.id || ""),
      shown.map((name) => h("td", {}, score(m, name))))))));
}

async function modelPage(id) {
  const [card, known, words] = await Promise.all([getJson(`/v1/models/${id}`), kinds(), glossary()]);
  const kind = known.find((k) => k.name === card.kind) || { name: card.kind, does: "", dashboard: {} };
  const panels = kind.dashboard.playground === "images" ? imagesPanels(id, card, kind) : samplerPanels(id, card);
  show(`Model ${id}`,
    h("p", {}, `${card.arch} on ${card.dataset?.id || "?"} · ${card.kind}: it ${kind.does} · `,
      card.job_id ? h("a", { href: `#/jobs/${card.job_id}` }, "its job") : ""),
    h("div", { class: "grid2" }, panels), scoresSection(card, words));
  const here = location.hash;
  if (card.metrics?.augmentation) {
    const section = await augmentationSection(id, card.metrics.augmentation);
    if (location.hash === here) view.append(section);  // unless another page has been opened meanwhile
  }
}

// -- scores, each with its meaning ------------------------------------------------------------------------

function scoresSection(card, words) {
  const scores = finite(card);
  const at = (path) => path.split(".").reduce((value, key) => value?.[key], card.metrics);
  const against = (entry) => [entry?.real || "", ...(entry?.baselines || []).filter((path) => Number.isFinite(at(path))).map((path) =>
    h("span", { class: "baseline" }, ` · ${path.replace(/^scores\./, "").replace(".", " ")} ${at(path).toPrecision(3)}`))];
  const reference = card.metrics?.reference;
  return h("section", { class: "card", id: "scores" }, h("h2", {}, "Scores"),
    scores.length ? h("table", {}, h("thead", {}, h("tr", {}, ["Score", "Value", "Better", "Real data / baseline", "What it measures"].map((t) => h("th", {}, t)))),
      h("tbody", {}, scores.map(([name, value]) => h("tr", { "data-score": name, class: words[name]?.better ? null : "baseline-row" },
        h("td", {}, h("code", {}, name)), h("td", {}, value.toPrecision(3)), h("td", {}, better(words[name])),
        h("td", {}, against(words[name])), h("td", {}, words[name]?.measures || "no description (a plugin's figure?)")))))
      : h("p", { class: "hint" }, "No scores on this model's card."),
    reference ? h("p", { class: reference.reliable ? "hint" : "hint weak", id: "reference" }, reference.reliable
      ? `Figures read by the data set's reference classifier, ${(100 * reference.accuracy).toFixed(1)} % right on ` +
        `${reference.held_out_images} held-out real images.`
      : (reference.why ? reference.why[0].toUpperCase() + reference.why.slice(1) : "The reference classifier is unreliable here") + ".") : null,
    reference?.confidence_caveat ? h("p", { class: "hint", id: "reference-caveat" },
      reference.confidence_caveat[0].toUpperCase() + reference.confidence_caveat.slice(1) + ".") : null,
    card.metrics?.scored_on ? h("p", { class: "hint" }, `Scored on ${card.metrics.scored_on}.`) : null);
}

// -- samplers: the latent playground, interpolation, and for style-based models psi, style mixes and projections --

function samplerPanels(id, card) {
  const styles = card.inputs?.styles;  // style-based models only
  const seed = h("input", { id: "seed", type: "number", min: 0, value: 7 });
  const count = h("input", { id: "count", type: "number", min: 1, max: 64, value: 16 });
  const truncation = h("input", { id: "truncation", type: "number", step: "0.1", min: 0.1, max: 10, placeholder: "off" });
  const psi = styles ? h("input", { id: "psi", type: "range", min: 0, max: 1.5, step: 0.05, value: 1, "aria-label": "psi" }) : null;
  const psiShown = h("output", { for: "psi" }, "1");
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
  const psiValue = () => (psi && Number(psi.value) !== 1 ? Number(psi.value) : undefined);
  const body = () => {
    const request = { n: Number(count.value), seed: Number(seed.value) };
    if (truncation.value) request.truncation = Number(truncation.value);
    if (psiValue() !== undefined) request.psi = psiValue();
    if (label?.value) request.labels = label.value;
    if (codes) {
      request.codes = {};
      if (category?.value) request.codes.categorical = Number(category.value);
      if (continuous.length) request.codes.continuous = continuous.map((input) => Number(input.value));
    }
    return request;
  };
  const generate = (format) => postBlob(`/v1/models/${id}/generate`, { ...body(), format });
  const download = async (format) => {
    try { saveBlob(await generate(format), `${id}.${format === "grid" ? "png" : format}`); } catch (error) { failure(error); }
  };
  const refresh = async () => {
    const request = body();
    const python = Object.entries(request).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
    code.textContent = `curl -X POST ${location.origin}/v1/models/${id}/generate -H 'content-type: application/json' ` +
      `-d '${JSON.stringify({ ...request, format: "grid" })}' -o grid.png\n\n` +
      `from ganforge_client import Client\nimages = Client("${location.origin}").generate("${id}", ${python})`;
    try { showBlob(image, await generate("grid")); } catch (error) { failure(error); }
  };
  [seed, count, truncation, psi, label, category, ...continuous].filter(Boolean).forEach((input) => input.addEventListener("change", refresh));
  psi?.addEventListener("input", () => { psiShown.textContent = psi.value; });
  // A conditional model's explorations draw the class chosen above; "classes in turn" has no one class for a path.
  const oneClass = () => (classes ? (label.value || classes[0]) : null);
  refresh();
  return [
    h("div", { class: "card" }, h("h2", {}, "Playground"),
      h("div", { class: "row" }, h("label", {}, "Seed", seed), h("label", {}, "Images", count), h("label", {}, "Truncation", truncation),
        psi ? h("label", {}, "Psi (truncation in w) ", psiShown, psi) : null,
        label ? h("label", {}, "Class", label) : null, category ? h("label", {}, "Category code", category) : null,
        continuous.map((input, i) => h("label", {}, `Continuous code ${i}`, input)),
        h("button", { type: "button", class: "secondary", onclick: () => { seed.value = Math.floor(Math.random() * 1e9); refresh(); } }, "Random seed")),
      image, h("p", {}, "Download: ", ["grid", "zip", "npz"].map((f) => h("button", { type: "button", class: "secondary", onclick: () => download(f) },
        f === "grid" ? "PNG" : f.toUpperCase()))),
      h("h2", {}, "Reproduce"), code),
    interpolationCard(id, styles, oneClass, psiValue),
    styles ? styleMixCard(id, styles, oneClass, psiValue) : null,
    styles ? projectionCard(id, card) : null,
  ];
}

function interpolationCard(id, styles, oneClass, psiValue) {
  const from = h("input", { id: "from-seed", type: "number", value: 1 }), to = h("input", { id: "to-seed", type: "number", value: 2 });
  const space = styles ? h("select", { id: "space" }, h("option", { value: "w" }, "w (style space)"), h("option", { value: "z" }, "z (latents)")) : null;
  const frames = h("img", { class: "pic", id: "interpolation", alt: "interpolation between two seeds", hidden: true });
  const interpolate = async () => {
    const shownClass = oneClass();
    const request = { start: { seed: Number(from.value) }, end: { seed: Number(to.value) }, steps: 8, format: "grid" };
    if (shownClass !== null) request.labels = shownClass;  // a conditional model's paths need one (422 otherwise)
    if (space) request.space = space.value;
    if (psiValue() !== undefined) request.psi = psiValue();
    try {
      showBlob(frames, await postBlob(`/v1/models/${id}/interpolate`, request));
      frames.alt = `interpolation between two seeds${space ? ` in ${space.value}` : ""}${shownClass === null ? "" : `, class ${shownClass}`}`;
      frames.title = frames.alt;
    } catch (error) { failure(error); }
  };
  return h("div", { class: "card" }, h("h2", {}, "Interpolate"),
    h("div", { class: "row" }, h("label", {}, "From seed", from), h("label", {}, "To seed", to), space ? h("label", {}, "In", space) : null,
      h("button", { type: "button", id: "interpolate", onclick: interpolate }, "Interpolate")), frames,
    styles ? h("p", { class: "hint" }, "In w, StyleGAN's mapped space, the path is more even than in z.") : null);
}
