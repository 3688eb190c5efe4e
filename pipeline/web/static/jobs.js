// The jobs page: a snapshot of the jobs, then each change as it happens (server-sent events from
// GET /jobs/events). Everything a job says is put in the page as text, never as HTML.
"use strict";

const jobs = new Map();     // id -> the job as the worker last sent it
const rates = new Map();    // id -> {rows, at, perSecond}: rows/s from the last two reports
let clockSkew = 0;          // the worker's clock minus this browser's, in ms
let selected = null;

function workerNow() { return Date.now() + clockSkew; }

function fmtTime(ms) {
  if (ms == null) return "";
  const d = new Date(ms);
  return d.toLocaleDateString(undefined, { month: "short", day: "numeric" }) + " " +
         d.toLocaleTimeString(undefined, { hour12: false });
}

function fmtDuration(ms) {
  if (ms == null || ms < 0) return "";
  if (ms < 1000) return ms + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + " s";
  const m = Math.floor(s / 60);
  return m + " min " + Math.round(s - m * 60) + " s";
}

function fmtRate(perSecond) {
  if (perSecond == null || !isFinite(perSecond)) return "";
  return Math.round(perSecond).toLocaleString();
}

function messageText(message) {
  if (message == null) return "";
  return typeof message === "string" ? message : JSON.stringify(message);
}

function elapsed(job) {
  if (job.start_datetime == null) return null;
  return (job.end_datetime != null ? job.end_datetime : workerNow()) - job.start_datetime;
}

function rateOf(job) {
  const rows = job.progress.rows_written;
  const ms = elapsed(job);
  if (job.status !== "IN_PROGRESS") return ms > 0 && rows > 0 ? rows * 1000 / ms : null;
  const seen = rates.get(job.id);
  return seen && seen.perSecond != null ? seen.perSecond : (ms > 0 ? rows * 1000 / ms : null);
}

function noteRate(job) {
  const rows = job.progress.rows_written, at = job.now || workerNow();
  const before = rates.get(job.id);
  let perSecond = before ? before.perSecond : null;
  if (before && at > before.at && rows >= before.rows) perSecond = (rows - before.rows) * 1000 / (at - before.at);
  rates.set(job.id, { rows, at, perSecond });
}

function cell(row, className, text) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (text != null) td.textContent = text;
  row.appendChild(td);
  return td;
}

function showProgress(td, job) {
  const fraction = job.progress.fraction;
  if (job.status === "ERROR") {  // ended without a fraction: nothing moves any more
    td.textContent = "failed after " + job.progress.rows_written.toLocaleString() + " rows";
    return;
  }
  const bar = document.createElement("progress");
  bar.max = 100;
  if (fraction != null) bar.value = Math.round(fraction * 1000) / 10;  // else: indeterminate, still splitting
  bar.setAttribute("aria-label", "progress of job " + job.id);
  const pct = document.createElement("span");
  pct.className = "pct";
  pct.textContent = fraction != null ? (Math.round(fraction * 1000) / 10) + "%"
    : job.progress.rows_written.toLocaleString() + " rows";
  td.append(bar, pct);
}

function render(job) {
  const row = document.createElement("tr");
  row.dataset.jobId = job.id;
  row.className = job.status + (job.id === selected ? " selected" : "");
  const badge = document.createElement("span");
  badge.className = "status " + job.status;
  badge.textContent = job.status;
  cell(row, "status-cell").appendChild(badge);
  cell(row, "type", job.type);
  const code = document.createElement("code");
  code.textContent = job.id.slice(0, 8);
  code.title = job.id;
  cell(row, "id").appendChild(code);
  cell(row, "user", job.user || "");
  cell(row, "num", fmtTime(job.start_datetime));
  cell(row, "num duration", fmtDuration(elapsed(job)));
  showProgress(cell(row, "progress-cell"), job);
  cell(row, "num rate", fmtRate(rateOf(job)));
  const message = messageText(job.message);
  cell(row, "message", message).title = message;
  row.addEventListener("click", () => select(job.id));
  return row;
}

const rows = new Map();     // id -> its <tr>: a change redraws that row only

function byNewest(a, b) { return (b.created_datetime || 0) - (a.created_datetime || 0); }

function update(job) {
  const row = render(job);
  const old = rows.get(job.id);
  rows.set(job.id, row);
  if (old) {
    old.replaceWith(row);
  } else {
    const body = document.querySelector("#jobs tbody");
    const next = [...jobs.values()].filter((j) => j.id !== job.id && byNewest(job, j) <= 0 && rows.has(j.id))
      .sort(byNewest)[0];
    body.insertBefore(row, next ? rows.get(next.id) : null);
  }
  document.getElementById("empty").hidden = true;
  if (job.id === selected) showDetail(job);
}

function redraw() {
  const ordered = [...jobs.values()].sort(byNewest);
  rows.clear();
  for (const job of ordered) rows.set(job.id, render(job));
  document.querySelector("#jobs tbody").replaceChildren(...ordered.map((job) => rows.get(job.id)));
  document.getElementById("empty").hidden = ordered.length > 0;
  showDetail(selected ? jobs.get(selected) : null);
}

function select(id) {
  const before = selected;
  selected = id;
  for (const changed of [before, id]) if (changed && jobs.has(changed)) update(jobs.get(changed));
  showDetail(jobs.get(id));
}

function field(list, name, value, className) {
  if (value == null || value === "") return;
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  if (className) dd.className = className;
  list.append(dt, dd);
}

function showDetail(job) {
  const section = document.getElementById("detail");
  if (!job) { section.hidden = true; return; }
  section.hidden = false;
  document.getElementById("detail-id").textContent = job.id;
  const list = document.getElementById("detail-fields");
  list.replaceChildren();
  field(list, "status", job.status);
  field(list, "type", job.type);
  field(list, "user", job.user);
  field(list, "created", fmtTime(job.created_datetime));
  field(list, "started", fmtTime(job.start_datetime));
  field(list, "ended", fmtTime(job.end_datetime));
  field(list, "duration", fmtDuration(elapsed(job)));
  field(list, "rows written", job.progress.rows_written.toLocaleString());
  field(list, "records parsed", job.progress.rows_parsed.toLocaleString());
  field(list, job.status === "ERROR" ? "error" : "message", messageText(job.message),
        job.status === "ERROR" ? "error" : "");
  field(list, "result", job.result);
}

function setLive(state, text) {
  const live = document.getElementById("live");
  live.dataset.state = state;
  live.textContent = text;
}

function connect() {
  const events = new EventSource("/jobs/events");
  events.addEventListener("snapshot", (e) => {
    const data = JSON.parse(e.data);
    clockSkew = data.now - Date.now();
    jobs.clear();
    for (const job of data.jobs) { jobs.set(job.id, job); noteRate(job); }
    setLive("live", "live");
    redraw();
  });
  events.addEventListener("job", (e) => {
    const job = JSON.parse(e.data);
    clockSkew = job.now - Date.now();
    noteRate(job);
    jobs.set(job.id, job);
    update(job);
  });
  events.onerror = () => setLive("lost", "reconnecting…");  // EventSource reconnects by itself
}

document.getElementById("detail-close").addEventListener("click", () => select(null));
// running jobs' durations and rates move on between reports
setInterval(() => { for (const job of jobs.values()) if (job.status === "IN_PROGRESS") update(job); }, 1000);
connect();
