// The augmentation report on a model page (metrics.augmentation on a card): a bar chart, its words and notes.
"use strict";

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
