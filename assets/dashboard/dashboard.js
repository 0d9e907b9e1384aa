// The console's usage view: a month of the usage log, drawn with uPlot.
"use strict";

import { $, Refused, all, api, text, view } from "./core.js";

const DAYS = 30;
const DAY = 86400;
const COLORS = {
  routed: "#2e7d32", agent_error: "#c62828", duplicate: "#90a4ae", opted_out: "#6a1b9a",
  opted_in: "#ab47bc", help: "#0277bd", rate_limited: "#ef6c00", unknown_user: "#8d6e63",
  inactive_user: "#bcaaa4", processing: "#fdd835", interrupted: "#ff7043", proactive: "#00838f",
  verified: "#26a69a",
};
const charts = [];

function percent(fraction) {
  return fraction === null || fraction === undefined ? "–" : (fraction * 100).toFixed(1) + " %";
}

function dayStart(seconds) {
  return Math.floor(seconds / DAY) * DAY;
}

function chart(id, series, data, options) {
  const element = $(id);
  const plot = new uPlot(
    Object.assign(
      {
        width: Math.max(element.clientWidth, 280),
        height: 220,
        series: [{}].concat(series),
        axes: [{}, { size: 50 }],
        legend: { live: false },
        // Half a day either side, so that the first and last days show whole.
        scales: { x: { time: true, range: (u, min, max) => [min - DAY / 2, max + DAY / 2] } },
      },
      options || {}
    ),
    data,
    element
  );
  charts.push([plot, element]);
  return plot;
}

function drawOutcomes(days, byDay) {
  const outcomes = Object.keys(COLORS).filter((outcome) =>
    days.some((day) => (byDay.get(day)?.by_outcome?.[outcome] || 0) > 0)
  );
  if (outcomes.length === 0) outcomes.push("routed");
  // Stacked: each series holds the sum of itself and those before it, and
  // the tallest is drawn first so that each shows above the next.
  const raw = outcomes.map((outcome) => days.map((day) => byDay.get(day)?.by_outcome?.[outcome] || 0));
  const stacked = raw.map((_, i) => days.map((_, d) => raw.slice(0, i + 1).reduce((sum, r) => sum + r[d], 0)));
  const order = outcomes.map((_, i) => i).reverse();
  const bars = uPlot.paths.bars({ size: [0.7, 40] });
  chart(
    "chart-outcomes",
    order.map((i) => ({
      label: outcomes[i],
      fill: COLORS[outcomes[i]],
      stroke: COLORS[outcomes[i]],
      paths: bars,
      points: { show: false },
      value: (u, v, si, idx) => (idx === null ? "" : raw[i][idx]),
    })),
    [days].concat(order.map((i) => stacked[i]))
  );
}

function drawLatency(days, byDay) {
  chart(
    "chart-latency",
    [
      { label: "p50", stroke: "#1565c0", width: 2, spanGaps: true, points: { size: 5 } },
      { label: "p95", stroke: "#ef6c00", width: 2, spanGaps: true, points: { size: 5 } },
    ],
    [
      days,
      days.map((day) => byDay.get(day)?.processing_ms_p50 ?? null),
      days.map((day) => byDay.get(day)?.processing_ms_p95 ?? null),
    ]
  );
}

function drawErrors(days, byDay) {
  chart(
    "chart-errors",
    [{ label: "errors %", stroke: "#c62828", width: 2, fill: "#c6282822", spanGaps: true, points: { size: 5 } }],
    [
      days,
      days.map((day) => {
        const rate = byDay.get(day)?.success_rate;
        return rate === null || rate === undefined ? null : Math.round((1 - rate) * 1000) / 10;
      }),
    ]
  );
}

async function countOptOuts() {
  return (await all("/opt-outs")).length;
}

async function fillBusiest(since) {
  const summary = await api("/usage/summary?group_by=user&since=" + encodeURIComponent(since));
  const busiest = summary.groups.slice().sort((a, b) => b.inbound - a.inbound).slice(0, 10);
  const body = $("busiest").tBodies[0];
  body.replaceChildren();
  for (const group of busiest) {
    let name = "(no user)";
    if (group.key !== "none") {
      try {
        const user = await api("/users/" + encodeURIComponent(group.key));
        name = user.full_name + " (#" + user.id + ")";
      } catch (e) {
        if (e instanceof Refused) throw e;
        name = "#" + group.key + " (deleted)";
      }
    }
    const row = body.insertRow();
    text(row, "td", name);
    text(row, "td", group.inbound);
    text(row, "td", group.outbound);
    text(row, "td", percent(group.success_rate));
  }
}

async function fillFailures() {
  const page = await api("/usage-logs?success=false&limit=20");
  const body = $("failures").tBodies[0];
  body.replaceChildren();
  for (const row of page.items) {
    const tr = body.insertRow();
    text(tr, "td", row.created_at.replace("T", " ").replace(/\.\d+Z$/, ""));
    text(tr, "td", row.direction);
    text(tr, "td", row.outcome);
    text(tr, "td", row.phone_number);
    text(tr, "td", row.error_message ?? (row.error_code ? "Twilio error " + row.error_code : ""));
  }
}

async function show() {
  const now = Date.now() / 1000;
  const first = dayStart(now) - (DAYS - 1) * DAY;
  const since = new Date(first * 1000).toISOString();
  const summary = await api("/usage/summary?group_by=day&since=" + encodeURIComponent(since));
  const days = [];
  for (let day = first; day <= dayStart(now); day += DAY) days.push(day);
  const byDay = new Map(summary.groups.map((g) => [Date.parse(g.key + "T00:00:00Z") / 1000, g]));

  $("period").textContent = "last " + DAYS + " days, from " + since.slice(0, 10);
  $("total-inbound").textContent = summary.totals.inbound;
  $("total-outbound").textContent = summary.totals.outbound;
  $("error-rate").textContent =
    summary.totals.success_rate === null ? "–" : percent(1 - summary.totals.success_rate);

  for (const [plot] of charts.splice(0)) plot.destroy();
  drawOutcomes(days, byDay);
  drawLatency(days, byDay);
  drawErrors(days, byDay);
  $("opted-out").textContent = await countOptOuts();
  await fillBusiest(since);
  await fillFailures();
  document.body.dataset.drawn = "yes";
}

view("usage", show);

window.addEventListener("resize", () => {
  for (const [plot, element] of charts) plot.setSize({ width: Math.max(element.clientWidth, 280), height: 220 });
});
