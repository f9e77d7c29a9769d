// Models side by side (#/compare/id1,id2,...): their scores, images from the same seed, and their training curves.
"use strict";

async function comparePage(list) {
  const ids = (list || "").split(",").filter(Boolean);
  const [cards, known, words] = await Promise.all([Promise.all(ids.map((id) => getJson(`/v1/models/${id}`))), kinds(), glossary()]);
  const seed = h("input", { id: "compare-seed", type: "number", min: 0, value: 7 });
  const count = h("input", { id: "compare-count", type: "number", min: 1, max: 64, value: 16 });
  const columns = h("div", { class: "compare-columns" });
  const head = (card) => h("div", { class: "compare-head" }, h("a", { href: `#/models/${card.id}` }, card.id), h("br"),
    h("span", { class: "hint" }, `${card.arch} · ${card.kind} · ${card.dataset?.id || "?"}`));
  const fill = () => columns.replaceChildren(...cards.map((card) => h("div", { class: "card", "data-model": card.id },
    head(card), sameSeed(card, known, Number(seed.value), Number(count.value)), curves(card))));
  [seed, count].forEach((input) => input.addEventListener("change", fill));
  show(`Comparing ${cards.length} models`,
    ...(cards.length < 2 ? [h("p", { class: "error" }, "Choose two or more models on the Models page.")] : []),
    scoreTable(cards, words),
    h("h2", {}, "The same seed"), h("div", { class: "row" }, h("label", {}, "Seed", seed), h("label", {}, "Images", count)),
    h("p", { class: "hint" }, "Samplers draw their images from the same seed (conditional models: the classes in turn); " +
      "models that take images show their job's last picture instead. Below each: its training curves."),
    columns);
  fill();
}

// A row per score any of them has; the best value of a row (by its glossary's direction) in bold.
function scoreTable(cards, words) {
  const names = [...new Set(cards.flatMap((card) => finite(card).map(([name]) => name)))];
  const value = (card, name) => card.metrics?.scores?.[name];
  const best = (name) => {
    const values = cards.map((card) => value(card, name)).filter(Number.isFinite);
    const direction = words[name]?.better;
    return values.length > 1 && direction ? (direction === "higher" ? Math.max : Math.min)(...values) : null;
  };
  return h("table", { id: "compare-scores" },
    h("thead", {}, h("tr", {}, h("th", {}, "Score"), h("th", {}, "Better"), cards.map((card) => h("th", {}, card.id)), h("th", {}, "Real data / baseline"))),
    h("tbody", {}, names.map((name) => {
      const top = best(name);
      return h("tr", { "data-score": name, title: words[name]?.measures || null }, h("td", {}, h("code", {}, name)), h("td", {}, better(words[name])),
        cards.map((card) => {
          const v = value(card, name);
          return h("td", { class: v === top ? "best" : null }, Number.isFinite(v) ? v.toPrecision(3) : "–");
        }),
        h("td", { class: "hint" }, words[name]?.real || ""));
    })));
}

function sameSeed(card, known, seed, n) {
  const image = h("img", { class: "pic same-seed", alt: `${card.id}: ${n} images from seed ${seed}`, hidden: true });
  const kind = known.find((k) => k.name === card.kind);
  const shown = async () => {
    if (kind?.dashboard.playground === "latents") return postBlob(`/v1/models/${card.id}/generate`, { n, seed, format: "grid" });
    const samples = (await jobEvents(card.job_id)).filter((e) => e.event === "samples");
    if (!samples.length) throw new ApiError(404, `${card.id}: its job left no pictures`);
    image.alt = `${card.id}: its job's pictures of epoch ${samples.at(-1).data.epoch}`;
    return (await api(`/v1/jobs/${card.job_id}/samples/${samples.at(-1).data.epoch}`)).blob();
  };
  shown().then((blob) => showBlob(image, blob)).catch(failure);
  return image;
}

const jobEvents = async (jobId) => (jobId ? (await getJson(`/v1/jobs/${jobId}/events?limit=1000`)).events : []);

function curves(card) {
  const canvas = h("canvas", { class: "curves", width: 480, height: 300, "aria-label": `${card.id}: training curves` });
  jobEvents(card.job_id).then((events) => {
    const points = events.filter((e) => e.event === "progress").map((e) => e.data);
    if (points.length) drawCurves(canvas, points); else canvas.replaceWith(h("p", { class: "hint" }, "No training curves (no job, or it is gone)."));
  }).catch(failure);
  return canvas;
}
