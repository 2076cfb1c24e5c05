// The task view: an overview (tasks, domains, agents) and one task's subtasks and live log, both fed by
// server-sent events from the silo's HTTP API. Plain JavaScript, no build step, nothing loaded from elsewhere.
// It only reads, with the session cookie the ?token= link left; it never posts (a state change needs the header).
"use strict";

const $ = (id) => document.getElementById(id);
const esc = (text) => String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const badge = (status) => `<span class="status ${esc(status)}">${esc(String(status).replace("_", " "))}</span>`;
const age = (iso) => {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return seconds < 60 ? `${Math.round(seconds)} s` : seconds < 3600 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds / 3600)} h`;
};

let overviewStream = null;
let taskStream = null;
let deliveryPoll = null;

function showOverview(data) {
  $("tasks").innerHTML = data.tasks.length === 0
    ? `<tr><td colspan="5" class="meta">No tasks yet.</td></tr>`
    : data.tasks.map((t) => `
      <tr class="link" data-task="${esc(t.task_id)}">
        <td><strong>${esc(t.description)}</strong><br><span class="meta">${esc(t.task_id)}</span></td>
        <td>${badge(t.status)}</td>
        <td>${t.domains.map((d) => `${esc(d.domain)} ${badge(d.status)}`).join("<br>")}</td>
        <td>${age(t.created_at)}</td>
        <td>${t.duration_seconds} s</td>
      </tr>`).join("");
  $("domains").innerHTML = data.domains.map((p) => `
      <tr>
        <td>${esc(p.domain_type)}</td>
        <td>${p.domains.length === 0 ? `<span class="meta">none</span>` : p.domains.map((d) => `${esc(d.domain_id)} ${badge(d.healthy ? "healthy" : d.status)}`).join("<br>")}</td>
        <td>${p.in_flight} / ${p.capacity}</td>
        <td>${p.queued.high} / ${p.queued.normal} / ${p.queued.low}</td>
      </tr>`).join("");
  $("agents").innerHTML = data.agents.map((a) => `
      <tr><td>${esc(a.agent_id)}</td><td>${esc(a.role)}</td><td>${esc(a.domain_type ?? "")}</td><td>${esc(a.status)}</td><td>${badge(a.healthy ? "healthy" : "unhealthy")}</td></tr>`).join("");
  for (const row of document.querySelectorAll("tr[data-task]")) {
    row.onclick = () => { location.hash = `task/${row.dataset.task}`; };
  }
}

// Tokens and cost as the workers reported them; the cost is the agent's own figure or the worker's estimate.
function usage(u) {
  if (!u) return "";
  return `${u.total_tokens.toLocaleString("en")} tokens${u.cost_usd == null ? "" : ` · $${u.cost_usd.toFixed(4)}`}`;
}

function showTask(result) {
  $("task-title").innerHTML = `${esc(result.description)} ${badge(result.status)}`;
  $("task-meta").textContent = `${result.task_id} · priority ${result.priority} · created ${age(result.created_at)} ago`
    + (result.usage ? ` · ${usage(result.usage)}` : "");
  loadDiff(result);
  $("subtasks").innerHTML = result.subtasks.map((s) => {
    const files = s.output ? [...(s.output.files_created ?? []).map((f) => `+ ${f}`), ...(s.output.files_modified ?? []).map((f) => `~ ${f}`), ...(s.output.files_deleted ?? []).map((f) => `- ${f}`)] : [];
    // Conflicting files were not merged: both versions are kept, this domain's on its branch.
    const conflicts = (s.conflicts ?? []).length === 0 ? ""
      : `<br><strong>conflict:</strong> ${s.conflicts.map(esc).join(", ")} (on branch ${esc(s.output?.branch ?? "")}, not merged into ${esc(s.output?.merged_into ?? "")})`;
    const merge = s.output?.merge && s.output.merge !== "conflict" ? `<br><em>${esc(s.output.merge.replace("_", " "))}</em>` : "";
    return `<tr>
      <td>${esc(s.domain)}</td><td>${badge(s.status)}${(s.waiting_for ?? []).length > 0 ? ` <span class="meta">waiting for ${esc(s.waiting_for.join(", "))}</span>` : ""}</td><td>${s.attempts}</td><td>${esc(s.agent_id ?? "")}</td><td>${esc(usage(s.usage))}</td>
      <td>${esc((s.workers ?? []).join(", "))}</td><td>${files.map(esc).join("<br>")}${merge}${conflicts}</td><td>${esc(s.error ?? "")}</td>
    </tr>`;
  }).join("");
  if (result.webhooks) showWebhooks(result.webhooks);
}

// Deliveries go on after the task is final, so the view asks again while one is pending.
function showWebhooks(webhooks) {
  $("webhooks").hidden = false;
  $("webhook-url").textContent = webhooks.length === 0 ? "Sent when the task is final." : webhooks[webhooks.length - 1].url;
  $("deliveries").innerHTML = webhooks.map((d) => `
    <tr><td>${esc(d.delivery_id)}</td><td>${badge(d.status)}</td><td>${d.attempts}</td>
      <td>${esc(d.last_error ?? d.last_status_code ?? "")}</td><td>${d.next_attempt_at ? esc(new Date(d.next_attempt_at).toLocaleTimeString()) : ""}</td></tr>`).join("");
}

function refreshTask(id) {
  clearTimeout(deliveryPoll);
  fetch(`api/tasks/${encodeURIComponent(id)}`).then((r) => r.json()).then((r) => {
    if (!r.subtasks) return;
    showTask(r);
    const pending = r.webhooks && (r.webhooks.length === 0 || r.webhooks.some((d) => d.status === "pending"));
    if (pending && location.hash === `#task/${id}`) deliveryPoll = setTimeout(() => refreshTask(id), 2000);
  });
}

// Each domain's diff, read apart from the task (GET api/tasks/{id}/diff) whenever another part has finished. The
// text comes from an agent: it only ever reaches the page as textContent.
let diffTask = null;
let diffFinished = -1;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function showDiff(data) {
  const root = $("diff");
  root.replaceChildren();
  if (data.domains.length === 0) {
    root.append(element("p", "meta", "No change reported yet."));
    return;
  }
  for (const d of data.domains) {
    const section = element("section", "domain-diff");
    section.dataset.domain = d.domain;
    const commits = d.base_commit ? ` · ${d.base_commit.slice(0, 8)}..${(d.commit ?? "").slice(0, 8)}` : "";
    section.append(element("h4", "", `${d.domain} · attempt ${d.attempt} · ${(d.merge ?? "not isolated").replace("_", " ")}${commits}`));
    if (d.files.length === 0) section.append(element("p", "meta", "No changes."));
    for (const f of d.files) {
      const file = element("details", f.conflict ? "file conflict" : "file");
      file.open = true;
      const summary = element("summary", "", `${f.path} (${f.status})`);
      if (f.conflict) summary.append(element("span", "status failed", `conflict: not merged, this version is on ${d.branch ?? "its branch"}`));
      file.append(summary);
      if (f.binary || f.patch === null) {
        file.append(element("p", "meta", f.binary ? "Binary file, not shown." : "Left out: past the size limit."));
      } else {
        const pre = element("pre", "patch");
        for (const line of f.patch.replace(/\n$/, "").split("\n")) {
          const kind = /^(diff --git |\+\+\+|---)/.test(line) ? "head" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
          pre.append(element("span", kind, `${line}\n`));
        }
        file.append(pre);
      }
      section.append(file);
    }
    if (d.truncated) section.append(element("p", "meta", "… diff truncated: it passed the limit of 256 KiB per domain; see the branch or commit for all of it."));
    root.append(section);
  }
}

function loadDiff(result) {
  const finished = result.subtasks.filter((s) => !["pending", "dispatched", "in_progress"].includes(s.status)).length;
  if (diffTask === result.task_id && finished === diffFinished) return;
  diffTask = result.task_id;
  diffFinished = finished;
  fetch(`api/tasks/${encodeURIComponent(result.task_id)}/diff`).then((r) => r.json()).then((d) => d.domains && diffTask === d.task_id && showDiff(d));
}

function openTask(id) {
  $("overview").hidden = true;
  $("task").hidden = false;
  $("log").textContent = "";
  $("diff").replaceChildren(element("p", "meta", "No change reported yet."));
  diffTask = null;
  $("webhooks").hidden = true;
  clearTimeout(deliveryPoll);
  taskStream?.close();
  taskStream = new EventSource(`api/tasks/${encodeURIComponent(id)}/events`);
  taskStream.addEventListener("status", (e) => showTask(JSON.parse(e.data)));
  taskStream.addEventListener("log", (e) => {
    const log = $("log");
    log.textContent += `${JSON.parse(e.data).line}\n`;
    log.scrollTop = log.scrollHeight;
  });
  taskStream.addEventListener("end", (e) => { showTask(JSON.parse(e.data)); taskStream.close(); refreshTask(id); });
  refreshTask(id);
}

function openOverview() {
  taskStream?.close();
  clearTimeout(deliveryPoll);
  $("task").hidden = true;
  $("overview").hidden = false;
}

function route() {
  const match = location.hash.match(/^#task\/(.+)$/);
  if (match) openTask(decodeURIComponent(match[1])); else openOverview();
}

function connect() {
  overviewStream = new EventSource("api/events");
  overviewStream.addEventListener("overview", (e) => showOverview(JSON.parse(e.data)));
  overviewStream.onopen = () => { $("connection").textContent = "live"; };
  overviewStream.onerror = () => { $("connection").textContent = "reconnecting…"; };
}

window.addEventListener("hashchange", route);
connect();
route();
