// Panels for style-based models (a card with inputs.styles): a style-mix figure and projections of real images.
"use strict";

const seedList = (input) => input.value.split(/[\s,]+/).filter(Boolean).map((s) => ({ seed: Number(s) }));

function styleMixCard(id, styles, oneClass, psiValue) {
  const rows = h("input", { id: "mix-rows", value: "1 2 3" }), columns = h("input", { id: "mix-columns", value: "4 5 6" });
  // Only the groups this model has: a small model has no middle styles, and asking for them is a 422.
  const groups = Object.entries(styles.groups).filter(([, indices]) => indices.length);
  const from = h("select", { id: "mix-from" }, groups.map(([name, indices]) =>
    h("option", { value: name, selected: name === "fine" }, `${name} (w ${indices.join(", ")})`)));
  const figure = h("img", { class: "pic", id: "style-mix", alt: "style mix", hidden: true });
  const mix = async () => {
    const request = { rows: seedList(rows), columns: seedList(columns), from_columns: from.value, format: "grid" };
    if (oneClass() !== null) request.labels = oneClass();  // a conditional model's seeded sources need one
    if (psiValue() !== undefined) request.psi = psiValue();
    try {
      showBlob(figure, await postBlob(`/v1/models/${id}/style-mix`, request));
      figure.alt = `style mix: each row's source with the ${from.value} styles of each column's source` +
        (oneClass() === null ? "" : `, class ${oneClass()}`);
    } catch (error) { failure(error); }
  };
  return h("div", { class: "card" }, h("h2", {}, "Style mix"),
    h("div", { class: "row" }, h("label", {}, "Row seeds", rows), h("label", {}, "Column seeds", columns),
      h("label", {}, "Styles from the columns", from), h("button", { type: "button", id: "mix", onclick: mix }, "Mix")),
    h("p", { class: "hint" }, "Row sources down the left, column sources along the top; each cell is its row's image " +
      "with the chosen styles (layers) of its column's."), figure);
}

// A projection is a job on a worker: POST it, then poll the job until it is over.
function projectionCard(id, card) {
  const file = h("input", { id: "project-file", type: "file", accept: "image/*" });
  const index = h("input", { id: "project-index", type: "number", min: 0, max: (card.dataset?.count || 1) - 1, placeholder: "or one of its training images, by index" });
  const steps = h("input", { id: "project-steps", type: "number", min: 10, max: 5000, value: 100 });
  const space = h("select", { id: "project-space" }, h("option", { value: "w" }, "w (stays editable)"), h("option", { value: "w+" }, "w+ (closer)"));
  const status = h("p", { id: "projection-status", role: "status", class: "hint" });
  const result = h("div", { id: "projection-result" });
  const poll = async (url, here) => {
    const [job, { terminal }] = await Promise.all([getJson(url), states()]);
    status.textContent = `${job.id}: ${job.status}`;
    if (!terminal.includes(job.status)) {
      if (location.hash === here) setTimeout(() => poll(url, here).catch(failure), 1000);
    } else if (job.result) shown(job);
    else status.textContent += ` — ${job.error || "no result"}`;
  };
  const shown = ({ result: found }) => {
    const { pixel_mse: mse, mean_w_pixel_mse: start } = found.distance;
    const ws = new Blob([JSON.stringify({ ws: [found.ws] })], { type: "application/json" });
    result.replaceChildren(h("div", { class: "pairs" },
      h("figure", {}, h("img", { class: "pic", id: "projection-target", alt: "the target", src: `data:image/png;base64,${found.target_png}` }), h("figcaption", {}, "target")),
      h("figure", {}, h("img", { class: "pic", id: "projection-image", alt: "its projection", src: `data:image/png;base64,${found.reconstruction_png}` }),
        h("figcaption", {}, `projection in ${found.space}`))),
      h("p", { class: "hint" }, `Pixel MSE ${mse.toFixed(1)} (the mean w's image, where the search starts: ${start.toFixed(1)}). `,
        h("a", { href: URL.createObjectURL(ws), download: `${id}-ws.json` }, "Download the ws"),
        " to send to generate, interpolate or style-mix as ws."));
  };
  const project = async () => {
    const request = { steps: Number(steps.value), space: space.value };
    if (file.files.length) request.image = await dataUrl(file.files[0]);
    else if (index.value !== "") request.dataset_index = Number(index.value);
    else { status.textContent = "Choose an image, or a training image's index."; return; }
    result.replaceChildren();
    try {
      const job = await postJson(`/v1/models/${id}/projections`, request);
      await poll(`/v1/models/${id}/projections/${job.id}`, location.hash);
    } catch (error) { failure(error); }
  };
  return h("div", { class: "card" }, h("h2", {}, "Project a real image"),
    h("div", { class: "row" }, h("label", {}, "Image", file), h("label", {}, "Training image", index),
      h("label", {}, "Steps", steps), h("label", {}, "Into", space), h("button", { type: "button", id: "project", onclick: project }, "Project")),
    h("p", { class: "hint" }, "Finds the ws whose image is closest to it, on a worker; a few seconds per 100 steps on a CPU."),
    status, result);
}

const dataUrl = (blob) => new Promise((resolve, reject) => {
  const reader = new FileReader();
  reader.onload = () => resolve(reader.result);
  reader.onerror = () => reject(reader.error);
  reader.readAsDataURL(blob);
});
