// Panels for models whose kind takes images (translators, augmenters, plugins' kinds): the kind's hints say which
// route serves it, whether it has directions (CycleGAN's a2b and b2a) and whether it draws seeded variations.
"use strict";

// The data set's preview is a grid (core/datasets/preview.py, models/sampling.py's grid): 8 images a row, 2 px apart
// and from the edges; a two-domain set's alternates an A image and a B image (A shown at B's size). Its cells are
// real images from the model's own data set: the samples this page offers as inputs.
const PREVIEW = { perRow: 8, padding: 2 };

async function previewCells(datasetId, domain, count) {
  const manifest = await getJson(`/v1/datasets/${datasetId}`);
  const bitmap = await createImageBitmap(await (await api(manifest.preview)).blob());
  const [height, width] = manifest.shape.slice(-2);
  const rows = Math.floor((bitmap.height - PREVIEW.padding) / (height + PREVIEW.padding));
  const columns = Math.floor((bitmap.width - PREVIEW.padding) / (width + PREVIEW.padding));  // under 8: a tiny set
  const cells = [...Array(rows === 1 ? columns : rows * PREVIEW.perRow).keys()].filter((i) => (manifest.counts ? i % 2 === (domain === "b" ? 1 : 0) : true));
  // The last row may be part empty: keep to the full rows before it, and spread the picks over them.
  const usable = cells.filter((i) => i < (rows - 1) * PREVIEW.perRow || rows === 1);
  const picked = [...Array(Math.min(count, usable.length)).keys()].map((k) => usable[Math.floor(k * usable.length / count)]);
  return Promise.all(picked.map((i) => {
    const canvas = h("canvas", { width, height });
    canvas.getContext("2d").drawImage(bitmap, PREVIEW.padding + (i % PREVIEW.perRow) * (width + PREVIEW.padding),
      PREVIEW.padding + Math.floor(i / PREVIEW.perRow) * (height + PREVIEW.padding), width, height, 0, 0, width, height);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  }));
}

function imagesPanels(id, card, kind) {
  const { route, directions, seeded } = kind.dashboard;
  const names = Object.keys(card.inputs?.images || {});
  const file = h("input", { id: "image-file", type: "file", accept: "image/*", multiple: true });
  const direction = directions && names.length > 1 ? h("select", { id: "direction" }, names.map((d) => h("option", { value: d }, d))) : null;
  const count = seeded ? h("input", { id: "count", type: "number", min: 1, max: 16, value: 5 }) : null;
  const seed = seeded ? h("input", { id: "seed", type: "number", min: 0, value: 1 }) : null;
  const results = h("div", { id: "results" });
  const code = h("pre", { id: "reproduce" });
  let inputs = [];  // Blobs: the files chosen, or cells of the data set's preview
  let fromSamples = false;
  const options = () => ({ ...(direction ? { direction: direction.value } : {}), ...(seeded ? { n: Number(count.value), seed: Number(seed.value) } : {}) });
  const describe = () => {
    const fields = Object.entries(options()).map(([k, v]) => `-F ${k}=${v} `).join("");
    code.textContent = `curl -F file=@image.png ${fields}${location.origin}/v1/models/${id}${kind.route} -o out.png`;
  };
  const request = async (format) => api(`/v1/models/${id}/${route}`, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ images: await Promise.all(inputs.map(dataUrl)), ...options(), format }) });
  const zip = h("button", { type: "button", class: "secondary", id: "download-zip", onclick: async () => {
    try { saveBlob(await (await request("zip")).blob(), `${id}-${route}.zip`); } catch (error) { failure(error); } } }, "ZIP of the outputs");
  const send = async () => {
    describe();
    if (!inputs.length) return;
    try {
      const response = await request("json");
      if (!response.headers.get("content-type")?.includes("json")) {  // a kind (a plugin's) that answers one picture
        const picture = h("img", { class: "pic", id: "results-picture", alt: "the model's outputs" });
        showBlob(picture, await response.blob());
        return results.replaceChildren(picture);
      }
      const body = await response.json();
      // Translators answer {images: [one output per input]}, augmenters {variations: [n per input]}.
      const rows = body.variations || body.images.map((output) => [output]);
      results.replaceChildren(h("table", { class: "pairs-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Input"), h("th", { colspan: rows[0].length }, seeded ? "Variations" : `Output${direction ? ` (${direction.value})` : ""}`))),
        h("tbody", {}, rows.map((outputs, i) => h("tr", { class: "pair" },
          h("td", {}, h("img", { class: "pic thumb input", alt: `input ${i + 1}`, src: URL.createObjectURL(inputs[i]) })),
          outputs.map((png, j) => h("td", {}, h("a", { href: `data:image/png;base64,${png}`, download: `${id}-${i + 1}${seeded ? `-${j + 1}` : ""}.png`, title: "download" },
            h("img", { class: "pic thumb output", alt: `output ${i + 1}${seeded ? `.${j + 1}` : ""}`, src: `data:image/png;base64,${png}` })))))))),
        h("p", {}, "Download: ", zip, h("span", { class: "hint" }, " or click an output for its PNG.")));
    } catch (error) { failure(error); }
  };
  const domain = () => (direction?.value === "b2a" ? "b" : "a");  // a2b takes domain A's images, b2a domain B's
  const useSamples = async () => {
    try { inputs = await previewCells(card.dataset.id, domain(), 4); fromSamples = true; await send(); } catch (error) { failure(error); }
  };
  file.addEventListener("change", () => { inputs = [...file.files]; fromSamples = false; send(); });
  direction?.addEventListener("change", () => (fromSamples ? useSamples() : send()));
  [count, seed].filter(Boolean).forEach((input) => input.addEventListener("change", send));
  describe();
  return [h("div", { class: "card wide" }, h("h2", {}, seeded ? "Vary an image" : "Translate an image"),
    h("div", { class: "row" }, h("label", {}, "Image(s)", file),
      card.dataset ? h("button", { type: "button", class: "secondary", id: "use-samples", onclick: useSamples },
        `Use samples from ${card.dataset.id}`) : null,
      direction ? h("label", {}, "Direction", direction) : null,
      count ? h("label", {}, "Variations", count) : null, seed ? h("label", {}, "Seed", seed) : null),
    h("p", { class: "hint" }, "Inputs are cropped to squares and resized to the model's input size (",
      names.map((name) => `${name}: ${card.inputs.images[name].join("×")}`).join(", "), ")."),
    results, h("h2", {}, "Reproduce"), code)];
}
